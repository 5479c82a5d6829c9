//! `botcoder ask`: one request, the answer streamed to stdout, an exit code for scripts.

use std::io::{IsTerminal, Read, Write};
use std::path::PathBuf;
use std::time::Duration;

use std::collections::HashMap;

use botcoder_protocol::client::DaemonClient;
use botcoder_protocol::methods::{
    SessionConfigure, SessionConfigureParams, SessionCreate, SessionCreateParams, SessionDelete,
    SessionInfo, SessionList, SessionListParams, SessionRef, SessionSend, SessionSendParams,
    SubscribeParams, TurnCancel, TurnCancelParams,
};
use botcoder_protocol::{ApprovalDecision, EventBody, SessionId, TurnId, TurnStatus};

use super::{connect, get_session};
use crate::cli::AskArgs;
use crate::exit::{self, Failure};
use crate::output::{Out, PipeClosed, Spinner, status};
use crate::render::Transcript;

/// How long to wait for the daemon to close a turn after Ctrl-C.
const CANCEL_GRACE: Duration = Duration::from_secs(2);

/// The prompt: the arguments, with piped stdin appended (as `claude -p` does); `-` alone
/// means stdin only. Read before the runtime starts (blocking).
pub fn read_prompt(args: &AskArgs) -> Result<String, Failure> {
    let only_stdin = args.prompt == ["-"];
    let mut prompt = if only_stdin {
        String::new()
    } else {
        args.prompt.join(" ")
    };
    if only_stdin || !std::io::stdin().is_terminal() {
        let mut s = String::new();
        std::io::stdin().read_to_string(&mut s).map_err(|e| {
            Failure::new(
                exit::USAGE,
                format!("cannot read the prompt from stdin: {e}"),
            )
        })?;
        if !s.trim().is_empty() {
            if !prompt.trim().is_empty() {
                prompt.push_str("\n\n");
            }
            prompt.push_str(&s);
        }
    }
    if prompt.trim().is_empty() {
        return Err(Failure::new(
            exit::USAGE,
            "no prompt: pass it as arguments (`botcoder ask \"…\"`) or on stdin (`… | botcoder ask`)",
        ));
    }
    Ok(prompt)
}

/// The session to use: `--session`, the latest of the project (`--continue`), or a new one
/// (then `true`: this run created it). The shell's provider settings go along either way.
async fn open_session(
    client: &DaemonClient,
    args: &AskArgs,
    project: PathBuf,
) -> Result<(SessionInfo, bool), Failure> {
    let env = botcoder_config::client_env();
    let existing = match &args.session {
        Some(id) => Some(get_session(client, id).await?),
        None if args.continue_latest => {
            let list = client
                .call::<SessionList>(&SessionListParams {
                    project_path: Some(absolute(project.clone())?.display().to_string()),
                })
                .await?;
            match list.sessions.into_iter().next() {
                Some(s) => Some(s),
                None => {
                    status("no earlier session in this project; starting one");
                    None
                }
            }
        }
        None => None,
    };
    if let Some(session) = existing {
        // The key of this shell reaches the session also after a daemon restart.
        let params = SessionConfigureParams {
            session_id: session.session_id.clone(),
            provider: args.provider.clone(),
            model: args.model.clone(),
            approval: None,
            env,
        };
        let info = client.call::<SessionConfigure>(&params).await?;
        return Ok((info, false));
    }
    let project = absolute(project)?;
    let params = SessionCreateParams {
        project_path: project.display().to_string(),
        title: None,
        approval: args.approval.map(Into::into),
        provider: args.provider.clone(),
        model: args.model.clone(),
        env,
        // No provider: refused before a session directory exists (exit 78).
        require_provider: true,
        sandbox: args.sandbox.map(|m| m.as_str().to_owned()),
    };
    Ok((client.call::<SessionCreate>(&params).await?, true))
}

/// Runs `ask`. Returns the exit code.
pub async fn run(args: AskArgs, prompt: String) -> Result<u8, Failure> {
    let project = match &args.project {
        Some(p) => p.clone(),
        None => std::env::current_dir()
            .map_err(|e| Failure::new(exit::USAGE, format!("no current directory: {e}")))?,
    };
    let client = connect(true).await?;
    let (session, created) = open_session(&client, &args, project).await?;
    let session_id = session.session_id.clone();
    // A new session is named once its turn got going: one that fails for want of a
    // provider is removed again and never mentioned (its error stays at most three lines).
    let mut announced = !created;
    if announced {
        status(&format!("session {session_id}"));
    }

    // Subscribe before sending so nothing of the turn can be missed.
    let sub_params = SubscribeParams {
        session_id: session_id.clone(),
        after_seq: Some(session.last_seq),
    };
    let mut sub = client.subscribe(&sub_params).await?;
    let sent = client
        .call::<SessionSend>(&SessionSendParams {
            session_id: session_id.clone(),
            text: prompt,
            approval: args.approval.map(Into::into),
            env: botcoder_config::client_env(),
        })
        .await?;
    if sent.queued_behind > 0 {
        status(&format!("queued behind {} turn(s)", sent.queued_behind));
    }
    let turn = sent.turn_id;
    let mut out = Out;
    let mut transcript = Transcript::default();
    let mut reasoning = args.show_reasoning.then(Transcript::default);
    let mut ours = false;
    // The turn's cost: the sum of its `usage` costs, added to the `turn.completed` line.
    let mut turn_cost: Option<f64> = None;
    let mut cancel_deadline: Option<tokio::time::Instant> = None;
    let mut asked: HashMap<String, String> = HashMap::new();
    let mut spinner = if args.json { None } else { Spinner::start() };
    let ctrl_c = tokio::signal::ctrl_c();
    tokio::pin!(ctrl_c);
    loop {
        let next = tokio::select! {
            ev = sub.next() => ev,
            _ = &mut ctrl_c, if cancel_deadline.is_none() => {
                status("interrupted; cancelling the turn");
                cancel(&client, &session_id, &turn).await;
                cancel_deadline = Some(tokio::time::Instant::now() + CANCEL_GRACE);
                continue;
            }
            () = sleep_until(cancel_deadline) => return Ok(exit::INTERRUPTED),
        };
        let event = match next {
            None => {
                return Err(Failure::new(
                    exit::UNREACHABLE,
                    "lost the connection to botcoderd before the turn ended",
                ));
            }
            Some(Err(e)) => {
                return Err(Failure::new(
                    exit::FAILED,
                    format!("unreadable event from botcoderd: {e}"),
                ));
            }
            Some(Ok(ev)) => ev,
        };
        // From our user.message on: our turn's events and session-wide ones.
        if let EventBody::UserMessage { turn_id, .. } = &event.body {
            ours |= *turn_id == turn;
        }
        let mine = match event.body.turn_id() {
            Some(t) => *t == turn,
            None => true,
        };
        if !ours || !mine {
            continue;
        }
        let failed_for_config = matches!(
            &event.body,
            EventBody::TurnCompleted { error: Some(e), .. }
                if exit::for_turn_error(e.kind) == exit::CONFIG
        );
        if !announced
            && !failed_for_config
            && !matches!(
                event.body,
                EventBody::UserMessage { .. } | EventBody::TurnStarted { .. }
            )
        {
            announced = true;
            status(&format!("session {session_id}"));
        }
        let visible = matches!(
            event.body,
            EventBody::AssistantDelta { .. }
                | EventBody::AssistantMessage { .. }
                | EventBody::AssistantReasoningDelta { .. }
                | EventBody::ToolCall { .. }
                | EventBody::TurnCompleted { .. }
        );
        if visible && let Some(s) = spinner.take() {
            s.stop();
        }

        if let EventBody::Usage {
            cost_usd: Some(c), ..
        } = &event.body
        {
            turn_cost = Some(turn_cost.unwrap_or(0.0) + c);
        }
        report_denial(&event.body, &mut asked, &session_id);
        let written = if args.json {
            json_line(&mut out, &event, turn_cost)
        } else {
            if let Some(r) = reasoning.as_mut() {
                show_reasoning(r, &event);
            }
            print_human(&mut out, &mut transcript, &event)
        };
        if written.is_err() {
            return Ok(exit::OK); // stdout closed: end quietly
        }
        if let EventBody::TurnCompleted {
            status: st, error, ..
        } = &event.body
        {
            let code = match st {
                TurnStatus::Completed => exit::OK,
                TurnStatus::Cancelled if cancel_deadline.is_some() => exit::INTERRUPTED,
                _ => error
                    .as_ref()
                    .map_or(exit::FAILED, |e| exit::for_turn_error(e.kind)),
            };
            // Also with --json: stderr is for people, stdout for the script.
            if code == exit::CONFIG {
                // Nothing happened in it: no empty session is left behind.
                if created {
                    let _ = client
                        .call::<SessionDelete>(&SessionRef {
                            session_id: session_id.clone(),
                        })
                        .await;
                }
                if let Some(e) = error {
                    return Err(Failure::new(code, e.message.clone()));
                }
            } else if let Some(e) = error {
                status(&format!("turn {}: {}", word(*st), e.message));
            }
            return Ok(code);
        }
    }
}

/// An event as a JSON line; `turn.completed` also carries the turn's `cost_usd` (absent
/// when no price is known), so a script reads the cost from the last line.
fn json_line(
    out: &mut Out,
    event: &botcoder_protocol::Event,
    cost: Option<f64>,
) -> Result<(), PipeClosed> {
    let EventBody::TurnCompleted { .. } = &event.body else {
        return out.json_line(event);
    };
    let mut value = serde_json::to_value(event).map_err(|_| PipeClosed)?;
    if let (Some(c), Some(map)) = (cost, value.as_object_mut()) {
        map.insert("cost_usd".to_owned(), serde_json::json!(c));
    }
    out.json_value(&value)
}

fn print_human(
    out: &mut Out,
    transcript: &mut Transcript,
    event: &botcoder_protocol::Event,
) -> Result<(), PipeClosed> {
    match &event.body {
        EventBody::AssistantDelta { offset, text, .. } => match transcript.delta(*offset, text) {
            Some(new) => out.human(&new),
            None => Ok(()),
        },
        EventBody::AssistantMessage { text, .. } => out.human(&transcript.complete(text)),
        EventBody::TurnCompleted { .. } => match transcript.reset() {
            Some(nl) => out.text(&nl),
            None => Ok(()),
        },
        EventBody::ProviderRetry {
            provider,
            attempt,
            wait_ms,
            status: st,
            reason,
            ..
        } => {
            let code = st.map(|s| format!(" (HTTP {s})")).unwrap_or_default();
            status(&format!(
                "{provider} failed{code}: {reason}; retry {} in {:.1} s",
                attempt + 1,
                *wait_ms as f64 / 1000.0
            ));
            Ok(())
        }
        EventBody::RateLimitWait {
            provider,
            wait_ms,
            reason,
        } => {
            status(&format!(
                "waiting {:.1} s for the {provider} budget ({reason})",
                *wait_ms as f64 / 1000.0
            ));
            Ok(())
        }
        EventBody::ModeChanged { reason, .. } => {
            status(reason);
            Ok(())
        }
        _ => Ok(()),
    }
}

/// `--show-reasoning`: the model's reasoning on stderr (stdout stays the answer), dimmed on
/// a terminal; offsets restart after each whole reasoning item.
fn show_reasoning(transcript: &mut Transcript, event: &botcoder_protocol::Event) {
    let piece = match &event.body {
        EventBody::AssistantReasoningDelta { offset, text, .. } => transcript.delta(*offset, text),
        EventBody::AssistantReasoning { text, .. } => Some(transcript.complete(text)),
        _ => None,
    };
    let Some(piece) = piece.filter(|p| !p.is_empty()) else {
        return;
    };
    let mut err = std::io::stderr().lock();
    let _ = if err.is_terminal() {
        write!(err, "\x1b[2m{piece}\x1b[0m")
    } else {
        write!(err, "{piece}")
    };
    let _ = err.flush();
}

/// A tool call denied because nobody could approve it (or by a rule) is said on stderr with
/// the way out, so a script sees why its request did less than asked.
fn report_denial(body: &EventBody, asked: &mut HashMap<String, String>, session: &SessionId) {
    match body {
        EventBody::ApprovalRequested {
            call_id, summary, ..
        } if asked.len() < 1024 => {
            asked.insert(call_id.clone(), crate::output::one_line(summary));
        }
        EventBody::ApprovalResolved {
            call_id,
            decision: ApprovalDecision::Deny,
            decided_by,
            ..
        } => {
            let what = asked.remove(call_id).unwrap_or_else(|| call_id.clone());
            if decided_by == "policy" {
                status(&format!(
                    "denied: {what}\n  nobody could approve it; rerun with --approval auto, or attach \
                     a terminal (`botcoder attach {session}`) to approve calls as they come"
                ));
            } else {
                status(&format!("denied by {decided_by}: {what}"));
            }
        }
        _ => {}
    }
}

fn word(s: TurnStatus) -> &'static str {
    match s {
        TurnStatus::Completed => "completed",
        TurnStatus::Cancelled => "cancelled",
        TurnStatus::Failed => "failed",
        TurnStatus::Interrupted => "interrupted",
    }
}

async fn cancel(client: &DaemonClient, session_id: &SessionId, turn: &TurnId) {
    let params = TurnCancelParams {
        session_id: session_id.clone(),
        turn_id: Some(turn.clone()),
    };
    if let Err(e) = client.call::<TurnCancel>(&params).await {
        status(&format!("could not cancel the turn: {e}"));
    }
}

async fn sleep_until(deadline: Option<tokio::time::Instant>) {
    match deadline {
        Some(d) => tokio::time::sleep_until(d).await,
        None => std::future::pending().await,
    }
}

fn absolute(p: PathBuf) -> Result<PathBuf, Failure> {
    std::fs::canonicalize(&p)
        .ok()
        .filter(|c| c.is_dir())
        .ok_or_else(|| {
            Failure::new(
                exit::USAGE,
                format!("project directory {} does not exist", p.display()),
            )
        })
}
