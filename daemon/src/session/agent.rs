//! The agent loop of one turn: model -> tool calls -> results -> model, until a reply asks
//! for nothing more or the iteration limit is reached.
//!
//! Tool calls come three ways: native calls of the wire format, `CHANGE:` blocks in the
//! reply text (this product's edit format, applied in every tool mode), and call-style text
//! such as `read_file("src/main.rs")` (run in text mode, and in native mode only when the
//! reply made no native call and the call stands alone on its line).

use std::sync::Arc;
use std::time::{Duration, Instant};

use botcoder_protocol::{ApprovalPolicy, ErrorKind, EventBody, ToolOrigin, TurnError, TurnId};
use futures::StreamExt;
use serde_json::json;

use super::compact;
use super::context::{self, estimate_tokens};
use super::core::SessionCore;
use super::store::PartialReply;
use super::turn_types::{Outcome, TurnControl, TurnDeps};
use crate::config::ToolMode;
use crate::llm::{ChatRequest, LlmProvider, ProviderEvent, ToolCallRequest, stream_with_retries};
use crate::tools::{ToolCall, ToolContext, ToolOutcome, delta, text_calls};

/// How often the running reply's text is saved for crash recovery (I4).
const PARTIAL_SAVE_EVERY: Duration = Duration::from_secs(1);

/// Positional parameter order of each tool, for calls written as text.
fn positional_params(tool: &str) -> &'static [&'static str] {
    match tool {
        "read_file" => &["path", "offset", "limit"],
        "write_file" => &["path", "content"],
        "edit_file" => &["path", "old", "new", "replace_all"],
        "apply_delta" => &["text"],
        "list_files" => &["path", "glob"],
        "search" => &["pattern", "path", "glob"],
        "execute_command" => &["command", "timeout_s"],
        "git" => &["op", "args"],
        _ => &[],
    }
}

/// One model reply.
struct Reply {
    text: String,
    calls: Vec<ToolCallRequest>,
    /// Set when the reply asked for more tool calls than the cap: the stream was stopped
    /// there, the first `cap` calls run and the model is told that the rest did not.
    over_call_cap: Option<usize>,
}

/// Runs the loop for `turn_id`. `text` receives the text of the reply being streamed so the
/// caller can keep it when the turn stops mid-reply.
pub async fn run(
    core: &SessionCore,
    deps: &TurnDeps,
    mut provider: Arc<dyn LlmProvider>,
    policy: ApprovalPolicy,
    turn_id: &TurnId,
    ctl: &TurnControl,
    text: &mut String,
) -> Outcome {
    let mut next_fallback = 0usize;
    let caps = provider.capabilities();
    let native = match deps.agent.tool_mode {
        ToolMode::Native => true,
        ToolMode::Text => false,
        ToolMode::Auto => caps.native_tools,
    };
    // Tools still being prepared (MCP servers starting) get their startup timeout, once.
    tokio::select! {
        () = ctl.cancelled() => return Outcome::Stopped,
        () = deps.tools.ready() => {}
    }
    let read_only = policy == ApprovalPolicy::ReadOnly;
    let mut specs = deps.tools.specs(read_only);
    let project = core.project_path();
    let agents_md = read_agents_md(&project).await;
    let mut system = super::prompt::system_prompt(&project, agents_md.as_deref(), native, &specs);
    let fixed = |system: &str, specs: &[crate::llm::ToolSpec]| {
        estimate_tokens(system)
            + if native {
                context::tools_tokens(specs)
            } else {
                0
            }
    };
    let mut budget = compact::Budget::new(&*provider, &deps.compact, fixed(&system, &specs));
    let mut summary_failed = false;

    for _iteration in 0..deps.agent.max_iterations {
        // A tool list that changed (an MCP server's list_changed) shows in the next request.
        let now = deps.tools.specs(read_only);
        if now != specs {
            system = super::prompt::system_prompt(&project, agents_md.as_deref(), native, &now);
            specs = now;
            budget = compact::Budget::new(&*provider, &deps.compact, fixed(&system, &specs));
        }
        let tool_names: Vec<&str> = specs.iter().map(|s| s.name.as_str()).collect();
        let scope = compact::Scope {
            core,
            deps,
            provider: &provider,
            turn_id,
            ctl,
        };
        compact::before_request(&scope, &budget, &mut summary_failed).await;
        let mut messages = core.conversation();
        let available = budget.fit_available(core.with_ledger(|l| l.ratio()), summary_failed);
        match context::fit(&mut messages, budget.fixed, available) {
            Ok(None) => {}
            Ok(Some(c)) => {
                let body = EventBody::ContextCompacted {
                    turn_id: turn_id.clone(),
                    before_tokens: c.before,
                    after_tokens: c.after,
                    method: compact::fallback_method(c.method, summary_failed),
                    summary: None,
                    summarized_messages: None,
                };
                emit(core, body).await;
            }
            Err(o) => {
                return Outcome::Failed(TurnError {
                    kind: ErrorKind::InvalidParams,
                    message: format!(
                        "the request needs about {} tokens but the model's context window leaves {} for the prompt; \
                         shorten the request or raise the window (LOCAL_LLM_CONTEXT for local servers)",
                        o.needed, o.available
                    ),
                });
            }
        }
        let request = ChatRequest {
            system: Some(system.clone()),
            messages,
            tools: if native { specs.clone() } else { Vec::new() },
            max_tokens: None,
            cache_key: Some(core.id.to_string()),
        };
        text.clear();
        let reply = loop {
            match stream_reply(
                core,
                deps,
                provider.clone(),
                request.clone(),
                turn_id,
                ctl,
                text,
            )
            .await
            {
                Ok(r) => break r,
                // Unavailable after retries, before any output: continue on the next fallback.
                Err(Outcome::Failed(e))
                    if text.is_empty()
                        && (e.kind == ErrorKind::ProviderUnavailable
                            || e.kind == ErrorKind::RateLimited)
                        && next_fallback < deps.fallbacks.len() =>
                {
                    let next = deps.fallbacks[next_fallback].clone();
                    next_fallback += 1;
                    let switched = EventBody::ProviderSwitched {
                        from: provider.name().to_owned(),
                        to: next.name().to_owned(),
                        reason: e.message,
                    };
                    emit(core, switched).await;
                    provider = next;
                }
                Err(outcome) => return outcome,
            }
        };
        if !reply.text.is_empty() {
            let msg = EventBody::AssistantMessage {
                turn_id: turn_id.clone(),
                text: reply.text.clone(),
                partial: false,
            };
            emit(core, msg).await;
        }
        text.clear();

        let mut calls: Vec<(ToolCall, ToolOrigin)> = Vec::new();
        for c in &reply.calls {
            // A call without arguments (Anthropic sends none for an empty input) means {}.
            let args = if c.arguments.trim().is_empty() {
                json!({})
            } else {
                serde_json::from_str(&c.arguments)
                    .unwrap_or_else(|_| json!({ "_unparsed": c.arguments }))
            };
            calls.push((
                ToolCall {
                    id: c.id.clone(),
                    name: c.name.clone(),
                    args,
                },
                ToolOrigin::Native,
            ));
        }
        // Parsing a long reply is CPU work: off the async workers (I10).
        let want_text_calls = !native || reply.calls.is_empty();
        let (has_delta, text_calls) = {
            let text = reply.text.clone();
            let names: Vec<String> = tool_names.iter().map(|s| (*s).to_owned()).collect();
            tokio::task::spawn_blocking(move || {
                let names: Vec<&str> = names.iter().map(String::as_str).collect();
                let calls = if want_text_calls {
                    text_calls::parse_calls(&text, &names)
                } else {
                    Vec::new()
                };
                (!delta::parse_blocks(&text).is_empty(), calls)
            })
            .await
            .unwrap_or_default()
        };
        if has_delta {
            let call = ToolCall {
                id: call_id("delta"),
                name: "apply_delta".into(),
                args: json!({ "text": reply.text }),
            };
            calls.push((call, ToolOrigin::Delta));
        }
        // Only calls standing as lines of their own come back (see text_calls).
        for tc in text_calls {
            if tc.name == "apply_delta" {
                continue;
            }
            let args = tc.to_json_args(positional_params(&tc.name));
            calls.push((
                ToolCall {
                    id: call_id("text"),
                    name: tc.name.clone(),
                    args,
                },
                ToolOrigin::Text,
            ));
        }
        if calls.is_empty() {
            return Outcome::Completed;
        }
        let only_deltas = calls.iter().all(|(_, o)| *o == ToolOrigin::Delta);
        // Every call of the reply is announced before any runs: the journal then reads as
        // "the model asked for these", and the conversation fold keeps them in one message.
        for (call, origin) in &calls {
            let tool_call = EventBody::ToolCall {
                turn_id: turn_id.clone(),
                call_id: call.id.clone(),
                name: call.name.clone(),
                args: call.args.clone(),
                executor: deps.tools.executor(&call.name),
                origin: *origin,
            };
            emit(core, tool_call).await;
        }
        // Tools whose calls are not in the journal would change files unseen: stop instead.
        if let Some(e) = core.storage_failure(turn_id) {
            return Outcome::Failed(e);
        }
        let mut all_ok = true;
        let last = calls.len().saturating_sub(1);
        let over_cap = reply.over_call_cap.map(|cap| {
            format!(
                "\n[botcoder: the reply asked for more than {cap} tool calls; only the first {cap} ran, \
                 the rest were not run. Ask for at most {cap} tool calls per reply (BOTCODER_MAX_TOOL_CALLS).]"
            )
        });
        for (i, (call, _)) in calls.into_iter().enumerate() {
            let note = over_cap.as_deref().filter(|_| i == last);
            let run = CallRun {
                offered: &tool_names,
                note,
            };
            let outcome = run_tool(core, deps, policy, turn_id, ctl, &call, run).await;
            all_ok &= outcome.ok;
            if ctl.is_stopped() {
                return Outcome::Stopped;
            }
        }
        // Edits that applied cleanly end the turn: the reply that made them was final.
        if only_deltas && all_ok {
            return Outcome::Completed;
        }
    }
    Outcome::Failed(TurnError {
        kind: ErrorKind::IterationLimit,
        message: format!(
            "the agent made {} model requests without finishing (BOTCODER_MAX_ITERATIONS raises the limit)",
            deps.agent.max_iterations
        ),
    })
}

fn call_id(prefix: &str) -> String {
    format!(
        "{prefix}-{}",
        crate::clock::new_turn_id().as_str().trim_start_matches('t')
    )
}

async fn emit(core: &SessionCore, body: EventBody) {
    let kind = body.kind();
    if let Err(e) = core.emit(body).await {
        tracing::error!(session = %core.id, error = %e, "could not journal {kind}");
    }
}

async fn read_agents_md(project: &str) -> Option<String> {
    let path = std::path::Path::new(project).join("AGENTS.md");
    let text = tokio::fs::read_to_string(path).await.ok()?;
    Some(super::conversation::cap(&text, 32 * 1024))
}

/// Tokens a request will use: its prompt plus a typical reply, reconciled with the reported
/// usage afterwards.
fn estimate_request(request: &ChatRequest) -> u64 {
    let prompt: u64 = request.system.as_deref().map_or(0, estimate_tokens)
        + request
            .messages
            .iter()
            .map(|m| match m {
                crate::llm::ChatMessage::User(t) => estimate_tokens(t),
                crate::llm::ChatMessage::Assistant { text, tool_calls } => {
                    estimate_tokens(text)
                        + tool_calls
                            .iter()
                            .map(|c| estimate_tokens(&c.arguments))
                            .sum::<u64>()
                }
                crate::llm::ChatMessage::ToolResult { output, .. } => estimate_tokens(output),
                crate::llm::ChatMessage::Reasoning { text, replay } => {
                    context::reasoning_tokens(text, replay.as_ref())
                }
            })
            .sum::<u64>();
    prompt + u64::from(request.max_tokens.unwrap_or(512))
}

/// Streams one model reply, forwarding text as deltas. Provider error text is redacted here,
/// where it becomes events, health and log lines: a provider may echo the key (I8). The
/// reply's size is bounded by the provider's caps (`llm::limits`), which end the stream with
/// `limit_exceeded`.
async fn stream_reply(
    core: &SessionCore,
    deps: &TurnDeps,
    provider: Arc<dyn LlmProvider>,
    request: ChatRequest,
    turn_id: &TurnId,
    ctl: &TurnControl,
    text: &mut String,
) -> Result<Reply, Outcome> {
    let name = provider.name().to_owned();
    // The daemon-wide budget first: waiting is visible to every client and cancellable.
    let key = crate::llm::endpoint_key(provider.name(), provider.base_url());
    let estimate = estimate_request(&request);
    let (model, prompt_estimate) = (
        provider.model().to_owned(),
        context::request_tokens(&request),
    );
    let acquire = deps.limiter.acquire(&key, estimate, |w| {
        let body = EventBody::RateLimitWait {
            provider: name.clone(),
            wait_ms: w.wait.as_millis() as u64,
            reason: w.reason,
        };
        async move { emit(core, body).await }
    });
    let permit = tokio::select! {
        biased;
        () = ctl.cancelled() => return Err(Outcome::Stopped),
        p = acquire => p,
    };
    let mut stream = stream_with_retries(provider, request, deps.retry);
    let mut calls: Vec<ToolCallRequest> = Vec::new();
    let mut reasoning = super::reasoning::Stream::new(turn_id);
    let mut last_save = Instant::now();
    let mut saved_len = 0;
    loop {
        let item = tokio::select! {
            biased;
            () = ctl.cancelled() => return Err(Outcome::Stopped),
            item = stream.next() => item,
        };
        match item {
            None | Some(Ok(ProviderEvent::Done { .. })) => {
                reasoning.finish(core).await;
                calls.retain(|c| !c.name.is_empty());
                deps.health.record(Ok(()));
                return Ok(Reply {
                    text: text.clone(),
                    calls,
                    over_call_cap: None,
                });
            }
            Some(Ok(ProviderEvent::TextDelta(piece))) => {
                let offset = text.len() as u64;
                text.push_str(&piece);
                core.emit_ephemeral(EventBody::AssistantDelta {
                    turn_id: turn_id.clone(),
                    offset,
                    text: piece,
                });
                if last_save.elapsed() >= PARTIAL_SAVE_EVERY && text.len() > saved_len {
                    core.save_partial(PartialReply {
                        turn_id: turn_id.clone(),
                        text: text.clone(),
                    })
                    .await;
                    last_save = Instant::now();
                    saved_len = text.len();
                }
            }
            Some(Ok(ProviderEvent::ToolCallStart { index, id, name })) => {
                if calls.len() <= index {
                    calls.resize_with(index + 1, || ToolCallRequest {
                        id: String::new(),
                        name: String::new(),
                        arguments: String::new(),
                    });
                }
                calls[index].id = id;
                calls[index].name = name;
            }
            Some(Ok(ProviderEvent::ToolCallArgsDelta { index, text: piece })) => {
                if let Some(c) = calls.get_mut(index) {
                    c.arguments.push_str(&piece);
                }
            }
            Some(Ok(ProviderEvent::ReasoningDelta(piece))) => reasoning.delta(core, piece),
            Some(Ok(ProviderEvent::Reasoning { text, replay })) => {
                reasoning.complete(core, text, replay).await
            }
            Some(Ok(usage @ ProviderEvent::Usage { .. })) => {
                let req = super::usage::Request {
                    turn_id,
                    model: &model,
                    estimate: prompt_estimate,
                    permit: &permit,
                };
                super::usage::record(core, &deps.pricing, &req, &usage).await;
            }
            Some(Ok(ProviderEvent::Retry {
                attempt,
                wait,
                status,
                reason,
            })) => {
                let reason = crate::redact::scrub(&reason);
                tracing::info!(session = %core.id, provider = %name, attempt, ?wait, %reason, "provider retry");
                let retry = EventBody::ProviderRetry {
                    turn_id: Some(turn_id.clone()),
                    provider: name.clone(),
                    attempt,
                    wait_ms: wait.as_millis() as u64,
                    status,
                    reason,
                };
                emit(core, retry).await;
            }
            // Too many tool calls: the calls up to the cap run, and the model hears of the
            // rest (never silently dropped).
            Some(Err(e)) if crate::llm::limits::is_too_many_calls(&e) => {
                let cap = deps.max_tool_calls;
                calls.retain(|c| !c.name.is_empty());
                calls.truncate(cap);
                reasoning.finish(core).await;
                deps.health.record(Ok(()));
                tracing::warn!(session = %core.id, provider = %name, cap, "reply asked for too many tool calls");
                return Ok(Reply {
                    text: text.clone(),
                    calls,
                    over_call_cap: Some(cap),
                });
            }
            Some(Err(e)) => {
                let message = crate::redact::scrub(&e.message);
                deps.health.record(Err(message.clone()));
                tracing::warn!(session = %core.id, provider = %name, error = %message, "turn failed");
                return Err(Outcome::Failed(TurnError {
                    kind: e.kind,
                    message,
                }));
            }
        }
    }
}

/// How one call of a reply runs: the tools offered this turn, and a note for the model to
/// append to its result (the reply asked for more calls than the cap).
struct CallRun<'a> {
    offered: &'a [&'a str],
    note: Option<&'a str>,
}

/// Runs one announced tool call with its events: approval, live `tool.output`,
/// `file.changed` for each change, `tool.result`. Only a tool among `offered` (the specs
/// offered this turn) can run: a read-only session offers only reads, and a model that calls
/// anything else gets a tool error before approval is even considered.
async fn run_tool(
    core: &SessionCore,
    deps: &TurnDeps,
    policy: ApprovalPolicy,
    turn_id: &TurnId,
    ctl: &TurnControl,
    call: &ToolCall,
    run: CallRun<'_>,
) -> ToolOutcome {
    let CallRun { offered, note } = run;
    let (tx, mut rx) = tokio::sync::mpsc::unbounded_channel();
    let ctx = ToolContext {
        project_root: core.project_path().into(),
        cancel: ctl.child_token(),
        output: Some(tx),
        editor: core.client_fs.editor(),
        sandbox: core.settings.sandbox(),
    };
    let outcome = if !offered.contains(&call.name.as_str()) || !deps.tools.supports(&call.name) {
        failed(not_offered(&call.name, policy, offered))
    } else if let Some(denied) =
        super::approval::approve(core, deps, policy, turn_id, ctl, call, &ctx).await
    {
        failed(denied)
    } else {
        let forward = async {
            while let Some(chunk) = rx.recv().await {
                core.emit_ephemeral(EventBody::ToolOutput {
                    turn_id: turn_id.clone(),
                    call_id: call.id.clone(),
                    stream: chunk.stream,
                    text: chunk.text,
                });
            }
        };
        crate::snapshot::turn::before_tool(ctl.snapshot.get(), &call.name).await;
        let exec = async {
            let out = deps.tools.execute(call, &ctx).await;
            drop(ctx);
            out
        };
        let (out, ()) = tokio::join!(exec, forward);
        out
    };
    for change in &outcome.changes {
        let body = EventBody::FileChanged {
            turn_id: turn_id.clone(),
            path: change.path.clone(),
            diff: change.diff.clone(),
        };
        emit(core, body).await;
    }
    let mut outcome = outcome;
    if let Some(note) = note {
        outcome.output.push_str(note);
    }
    let result = EventBody::ToolResult {
        turn_id: turn_id.clone(),
        call_id: call.id.clone(),
        ok: outcome.ok,
        output: outcome.output.clone(),
        exit_code: outcome.exit_code,
        truncated: outcome.truncated,
    };
    emit(core, result).await;
    outcome
}

/// The tool error for a call of a tool this turn did not offer.
fn not_offered(name: &str, policy: ApprovalPolicy, offered: &[&str]) -> String {
    let why = if policy == ApprovalPolicy::ReadOnly {
        " (this session is read-only: only reading tools are offered; tell the user what you would change instead)"
    } else {
        ""
    };
    format!(
        "there is no tool named {name:?} in this session{why}; the offered tools are {}",
        offered.join(", ")
    )
}

fn failed(output: String) -> ToolOutcome {
    ToolOutcome {
        ok: false,
        output,
        exit_code: None,
        truncated: false,
        changes: Vec::new(),
    }
}
