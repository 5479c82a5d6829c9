//! Compaction by summary: when the next request's prompt would pass a share of the model's
//! context window (`BOTCODER_COMPACT_AT`, 85% by default), the oldest part of the
//! conversation is replaced by a handoff summary the model writes in a separate request —
//! through the same provider, rate limiter and retry policy as a turn's requests. The cut
//! may fall inside one long turn of many tool calls, but never between a call and its
//! result (see `context::summary_cut`). The user's own words from the summarised part are
//! kept verbatim next to the summary (as many of the latest as fit).
//!
//! The replacement text is journaled in `context.compacted {method: "summarized", summary,
//! summarized_messages}`, and the conversation fold applies it, so a reload rebuilds exactly
//! the compacted context. When the summary request fails the turn goes on with the older
//! method (`context::fit`), labelled `..._summary_failed`, and does not ask again that turn.
//!
//! Token estimates (four bytes a token) are corrected by the ratio of the provider's
//! reported `input_tokens` to the estimate of the same request ([`Ledger::calibrate`]).

use std::sync::Arc;

use botcoder_protocol::methods::SessionCompactResult;
use botcoder_protocol::{ErrorKind, EventBody, TurnId};
use futures::StreamExt;

use super::context::{self, estimate_tokens, messages_tokens};
use super::conversation::{TEXT_RESULTS_HEADER, cap};
use super::core::SessionCore;
pub use super::ledger::Ledger;
use super::turn_types::{TurnControl, TurnDeps};
pub use crate::config::compact::CompactSettings;
use crate::error::DaemonError;
use crate::llm::{ChatMessage, ChatRequest, LlmProvider, ProviderEvent, stream_with_retries};

/// First line of the message that stands in for the summarised part.
pub const SUMMARY_HEADER: &str = "[botcoder: the earlier part of this conversation was summarised \
to fit the context window. The summary below was written as a handoff for you; continue the \
work from it.]";

/// The instructions of the summary request.
pub const HANDOFF_PROMPT: &str = "You are writing a handoff summary of a coding session: \
another assistant will continue the work from your summary alone, without the messages it \
replaces. Write a concise, factual summary in plain text with these parts: Goal (what the \
user asked for, and the constraints and preferences they stated); Progress (what was done: \
files read, created or changed, with their paths and the gist of each change; commands run \
and the results that matter); Decisions (choices made and why); Open (errors not yet solved, \
questions pending); Next steps (the concrete next actions). Quote exact paths, names, error \
messages and values. Do not invent anything and do not call tools. At most 400 words.";

/// Held while a summary is being made, so two never race on one session.
struct Busy<'a>(&'a SessionCore);

impl<'a> Busy<'a> {
    fn take(core: &'a SessionCore) -> Option<Busy<'a>> {
        core.with_ledger(|l| l.start_compacting())
            .then_some(Busy(core))
    }
}

impl Drop for Busy<'_> {
    fn drop(&mut self) {
        self.0.with_ledger(|l| l.end_compacting());
    }
}

/// The token budget of one turn's requests.
#[derive(Debug, Clone, Copy)]
pub struct Budget {
    /// The model's context window.
    pub window: u64,
    /// Tokens left for the prompt once the reply budget is kept free.
    pub available: u64,
    /// Estimated tokens of what every request carries besides the messages: the system
    /// prompt and the tool definitions.
    pub fixed: u64,
    /// Share of the window past which a summary is made.
    pub compact_at: f64,
}

/// Reply budget kept free in the context window.
const REPLY_BUDGET: u64 = 4096;

impl Budget {
    /// The budget of requests to `provider` that carry `fixed` tokens besides messages.
    pub fn new(provider: &dyn LlmProvider, settings: &CompactSettings, fixed: u64) -> Budget {
        let window = settings
            .context_window
            .or(provider.capabilities().context_window)
            .unwrap_or(if provider.name() == "local" {
                8192
            } else {
                128_000
            });
        Budget {
            window,
            available: window.saturating_sub(REPLY_BUDGET.min(window / 4)),
            fixed,
            compact_at: settings.compact_at,
        }
    }

    /// Prompt tokens (in estimate units) the hard fit may use: the available tokens,
    /// lowered when the provider counts more tokens than estimated; after a failed summary
    /// the threshold, so the fallback brings the prompt where the summary would have.
    pub fn fit_available(&self, ratio: f64, summary_failed: bool) -> u64 {
        let available = (self.available as f64 / ratio.max(1.0)) as u64;
        if summary_failed {
            available.min((self.threshold() / ratio) as u64)
        } else {
            available
        }
    }

    /// Prompt tokens (as the provider counts them) past which a summary is made: the
    /// configured share of the window, but never above what the reply budget leaves (a
    /// small window keeps a quarter for the reply), so the summary comes before the hard
    /// fit would drop anything.
    fn threshold(&self) -> f64 {
        (self.compact_at * self.window as f64).min(self.available as f64)
    }

    /// The reply budget of a summary request.
    fn summary_reply(&self) -> u64 {
        2048.min(self.window / 4)
    }
}

/// The running request's surroundings.
pub struct Scope<'a> {
    /// The session.
    pub core: &'a SessionCore,
    /// The daemon's dependencies.
    pub deps: &'a TurnDeps,
    /// The provider that writes the summary.
    pub provider: &'a Arc<dyn LlmProvider>,
    /// The turn the events belong to.
    pub turn_id: &'a TurnId,
    /// Stops the summary request with the turn.
    pub ctl: &'a TurnControl,
}

/// Before each request of a turn: summarises the oldest part when the prompt would pass
/// the threshold. Sets `failed` when the summary request failed (the caller then labels its
/// fallback and this turn does not ask again).
pub async fn before_request(scope: &Scope<'_>, budget: &Budget, failed: &mut bool) {
    if *failed {
        return;
    }
    let ratio = scope.core.with_ledger(|l| l.ratio());
    let messages = scope.core.conversation();
    let raw = budget.fixed + messages_tokens(&messages);
    let threshold = budget.threshold();
    if (raw as f64) * ratio <= threshold {
        return;
    }
    // Room for the messages below the threshold, in estimate units: the kept tail gets
    // two fifths of it, the user's verbatim words one fifth, the summary its reply budget.
    let room = ((threshold / ratio) as u64).saturating_sub(budget.fixed);
    let Some(cut) = context::summary_cut(&messages, room * 2 / 5) else {
        return;
    };
    // Summarising less than the summary itself would take gains nothing.
    if messages_tokens(&messages[..cut]) <= budget.summary_reply() + 64 {
        return;
    }
    match summarise(scope, budget, &messages, cut, room / 5).await {
        Ok(_) | Err(Failure::Busy) => {}
        Err(Failure::Request(why)) => {
            tracing::warn!(session = %scope.core.id, reason = %why, "summary request failed; older context is shortened or dropped instead");
            *failed = true;
        }
    }
}

/// The method label of a fallback fit made after the summary request failed.
pub fn fallback_method(method: &str, summary_failed: bool) -> String {
    if summary_failed {
        format!("{method}_summary_failed")
    } else {
        method.to_owned()
    }
}

/// `session.compact`: summarises the older part now (everything but about the last
/// quarter of the conversation). Refused while a turn runs: the turn compacts by itself
/// when it needs to.
pub async fn on_demand(
    core: &SessionCore,
    deps: &TurnDeps,
) -> Result<SessionCompactResult, DaemonError> {
    let provider = deps
        .provider
        .clone()
        .map_err(|m| DaemonError::new(ErrorKind::ProviderNotConfigured, m))?;
    if core.is_running() {
        return Err(DaemonError::invalid_params(
            "a turn is running in this session; compact it when the turn has ended (a turn near the context limit compacts by itself)",
        ));
    }
    let native = match deps.agent.tool_mode {
        crate::config::ToolMode::Native => true,
        crate::config::ToolMode::Text => false,
        crate::config::ToolMode::Auto => provider.capabilities().native_tools,
    };
    let specs = deps
        .tools
        .specs(core.approval_policy() == botcoder_protocol::ApprovalPolicy::ReadOnly);
    let project = core.project_path();
    let agents_md = tokio::fs::read_to_string(std::path::Path::new(&project).join("AGENTS.md"))
        .await
        .ok()
        .map(|t| cap(&t, 32 * 1024));
    let system = super::prompt::system_prompt(&project, agents_md.as_deref(), native, &specs);
    let tools = if native {
        context::tools_tokens(&specs)
    } else {
        0
    };
    let budget = Budget::new(&*provider, &deps.compact, estimate_tokens(&system) + tools);
    let messages = core.conversation();
    let total = messages_tokens(&messages);
    let Some(cut) = context::summary_cut(&messages, total / 4) else {
        return Err(DaemonError::invalid_params(
            "there is nothing to compact yet: the conversation is only its latest exchange",
        ));
    };
    let turn_id = crate::clock::new_turn_id();
    let ctl = TurnControl::default();
    let scope = Scope {
        core,
        deps,
        provider: &provider,
        turn_id: &turn_id,
        ctl: &ctl,
    };
    let room = budget.available.saturating_sub(budget.fixed);
    match summarise(&scope, &budget, &messages, cut, room / 5).await {
        Ok(r) => Ok(r),
        Err(Failure::Busy) => Err(DaemonError::invalid_params(
            "this session is being compacted already; try again when that has finished",
        )),
        Err(Failure::Request(why)) => Err(DaemonError::new(
            ErrorKind::ProviderUnavailable,
            format!("the summary request failed, so nothing was compacted: {why}"),
        )),
    }
}

enum Failure {
    /// Another summary of this session is being made.
    Busy,
    /// The summary request failed: why.
    Request(String),
}

/// Asks for a summary of `messages[..cut]` and journals the compaction.
async fn summarise(
    scope: &Scope<'_>,
    budget: &Budget,
    messages: &[ChatMessage],
    cut: usize,
    verbatim_tokens: u64,
) -> Result<SessionCompactResult, Failure> {
    let Some(_busy) = Busy::take(scope.core) else {
        return Err(Failure::Busy);
    };
    let ratio = scope.core.with_ledger(|l| l.ratio());
    let reply = budget.summary_reply();
    // The transcript must fit the window next to the instructions and the reply.
    let room = budget
        .window
        .saturating_sub(reply + estimate_tokens(HANDOFF_PROMPT) + 64);
    let max_bytes = ((room as f64 * 4.0 / ratio.max(1.0)) as usize).min(1024 * 1024);
    let request = ChatRequest {
        system: Some(HANDOFF_PROMPT.to_owned()),
        messages: vec![ChatMessage::User(format!(
            "Here is the part of the conversation to summarise, oldest first:\n\n{}\n\nWrite the handoff summary now.",
            transcript(&messages[..cut], max_bytes)
        ))],
        tools: Vec::new(),
        max_tokens: u32::try_from(reply).ok(),
        // The summary is a one-off request with its own prefix: nothing to cache.
        cache_key: None,
    };
    let summary = request_summary(scope, request).await?;
    let replacement = replacement(&summary, &messages[..cut], verbatim_tokens as usize * 4);
    let before = budget.fixed + messages_tokens(messages);
    let after = budget.fixed + estimate_tokens(&replacement) + messages_tokens(&messages[cut..]);
    let corrected = |t: u64| (t as f64 * ratio) as u64;
    let result = SessionCompactResult {
        before_tokens: corrected(before),
        after_tokens: corrected(after),
    };
    let body = EventBody::ContextCompacted {
        turn_id: scope.turn_id.clone(),
        before_tokens: result.before_tokens,
        after_tokens: result.after_tokens,
        method: "summarized".to_owned(),
        summary: Some(replacement),
        summarized_messages: Some(cut as u64),
    };
    scope.core.emit(body).await.map_err(|e| {
        Failure::Request(format!("the compaction could not be saved: {}", e.message))
    })?;
    Ok(result)
}

/// Largest summary kept: a model that ignores its reply budget cannot flood the context.
const MAX_SUMMARY_BYTES: usize = 32 * 1024;
/// A tool output or call's arguments in the transcript.
const TRANSCRIPT_ITEM_BYTES: usize = 2000;

/// Streams the summary request; its `usage` is journaled (with its cost) like a turn's.
async fn request_summary(scope: &Scope<'_>, request: ChatRequest) -> Result<String, Failure> {
    let Scope {
        core,
        deps,
        provider,
        turn_id,
        ctl,
    } = scope;
    let name = provider.name().to_owned();
    let model = provider.model().to_owned();
    let key = crate::llm::endpoint_key(provider.name(), provider.base_url());
    let estimate = context::request_tokens(&request);
    let reply = u64::from(request.max_tokens.unwrap_or(512));
    let acquire = deps.limiter.acquire(&key, estimate + reply, |w| {
        let body = EventBody::RateLimitWait {
            provider: name.clone(),
            wait_ms: w.wait.as_millis() as u64,
            reason: w.reason,
        };
        async move {
            if let Err(e) = core.emit(body).await {
                tracing::warn!(session = %core.id, error = %e, "could not journal ratelimit.wait");
            }
        }
    });
    let stopped = || Failure::Request("the turn was stopped".to_owned());
    let permit = tokio::select! {
        biased;
        () = ctl.cancelled() => return Err(stopped()),
        p = acquire => p,
    };
    let mut stream = stream_with_retries((*provider).clone(), request, deps.retry);
    let mut text = String::new();
    loop {
        let item = tokio::select! {
            biased;
            () = ctl.cancelled() => return Err(stopped()),
            item = stream.next() => item,
        };
        match item {
            None | Some(Ok(ProviderEvent::Done { .. })) => break,
            Some(Ok(ProviderEvent::TextDelta(piece))) => {
                if text.len() < MAX_SUMMARY_BYTES {
                    text.push_str(&piece);
                }
            }
            Some(Ok(usage @ ProviderEvent::Usage { .. })) => {
                let req = super::usage::Request {
                    turn_id,
                    model: &model,
                    estimate,
                    permit: &permit,
                };
                super::usage::record(core, &deps.pricing, &req, &usage).await;
            }
            Some(Ok(_)) => {}
            Some(Err(e)) => {
                let message = crate::redact::scrub(&e.message);
                deps.health.record(Err(message.clone()));
                return Err(Failure::Request(message));
            }
        }
    }
    deps.health.record(Ok(()));
    let summary = cap(text.trim(), MAX_SUMMARY_BYTES);
    if summary.is_empty() {
        return Err(Failure::Request(
            "the model answered the summary request with no text".to_owned(),
        ));
    }
    Ok(summary)
}

/// The summarised messages as text for the summary request, cut (head and tail kept) to
/// about `max_bytes`.
fn transcript(messages: &[ChatMessage], max_bytes: usize) -> String {
    let mut out = String::new();
    for m in messages {
        match m {
            // Reasoning is the model's own scratch work: the summary is of what was said and done.
            ChatMessage::Reasoning { .. } => continue,
            ChatMessage::User(t) => {
                out.push_str("## user\n");
                out.push_str(t);
            }
            ChatMessage::Assistant { text, tool_calls } => {
                out.push_str("## assistant\n");
                out.push_str(text);
                for c in tool_calls {
                    out.push_str(&format!(
                        "\n-> {}({})",
                        c.name,
                        cap(&c.arguments, TRANSCRIPT_ITEM_BYTES)
                    ));
                }
            }
            ChatMessage::ToolResult {
                name,
                output,
                is_error,
                ..
            } => {
                let failed = if *is_error { " (failed)" } else { "" };
                out.push_str(&format!("## result of {name}{failed}\n"));
                out.push_str(&cap(output, TRANSCRIPT_ITEM_BYTES));
            }
        }
        out.push_str("\n\n");
    }
    cap(out.trim_end(), max_bytes)
}

/// The message that stands in for the summarised part: the summary, then the latest of
/// the user's own messages from that part verbatim (oldest first), within `max_bytes`.
fn replacement(summary: &str, summarised: &[ChatMessage], max_bytes: usize) -> String {
    let mut picked: Vec<String> = Vec::new();
    let mut left = max_bytes;
    let own_words = summarised.iter().rev().filter_map(|m| match m {
        ChatMessage::User(t)
            if !t.starts_with(TEXT_RESULTS_HEADER) && !t.starts_with(SUMMARY_HEADER) =>
        {
            Some(t)
        }
        _ => None,
    });
    for t in own_words {
        if t.len() <= left {
            left -= t.len();
            picked.push(t.clone());
        } else {
            // The latest one is kept even when long (cut); older ones only whole.
            if picked.is_empty() && left > 200 {
                picked.push(cap(t, left));
            }
            break;
        }
    }
    let mut out = format!("{SUMMARY_HEADER}\n\n{summary}");
    if !picked.is_empty() {
        out.push_str("\n\n[The user's own messages from that part, verbatim, oldest first:]");
        for t in picked.iter().rev() {
            out.push_str("\n---\n");
            out.push_str(t);
        }
    }
    out
}

#[cfg(test)]
#[path = "compact_tests.rs"]
mod tests;
