//! Running one turn: the model request, streaming its reply to clients, and closing the
//! turn with exactly one `turn.completed`.

use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use botcoder_protocol::{ErrorKind, EventBody, TurnError, TurnId, TurnStatus};
use futures::StreamExt;
use tokio_util::sync::CancellationToken;

use super::core::SessionCore;
use super::store::PartialReply;
use crate::llm::{ChatRequest, LlmProvider, ProviderEvent, RetryPolicy, stream_with_retries};

/// How often the running reply's text is saved for crash recovery (I4).
const PARTIAL_SAVE_EVERY: Duration = Duration::from_secs(1);

/// What every turn needs from the daemon.
#[derive(Debug)]
pub struct TurnDeps {
    /// The provider, or why there is none.
    pub provider: Result<Arc<dyn LlmProvider>, String>,
    /// Retry settings.
    pub retry: RetryPolicy,
}

/// Lets the session actor stop a running turn and say why.
#[derive(Debug, Default)]
pub struct TurnControl {
    token: CancellationToken,
    why: Mutex<Option<TurnStatus>>,
}

impl TurnControl {
    /// Stops the turn; it closes with `status` (`Cancelled` or `Interrupted`).
    pub fn stop(&self, status: TurnStatus) {
        let mut why = self.why.lock().unwrap_or_else(|p| p.into_inner());
        why.get_or_insert(status);
        self.token.cancel();
    }

    fn status(&self) -> TurnStatus {
        self.why.lock().unwrap_or_else(|p| p.into_inner()).unwrap_or(TurnStatus::Cancelled)
    }
}

enum Outcome {
    Completed,
    Stopped,
    Failed(TurnError),
}

fn system_prompt(project: &str) -> String {
    format!(
        "You are botcoder, a coding agent. You work in the project at {project}. \
         Answer concisely and precisely."
    )
}

/// Runs turn `turn_id` to its end. Never fails: every problem becomes the turn's status.
pub async fn run_turn(
    core: Arc<SessionCore>,
    deps: Arc<TurnDeps>,
    turn_id: TurnId,
    _policy: botcoder_protocol::ApprovalPolicy,
    ctl: Arc<TurnControl>,
) {
    let (provider_name, model) = match &deps.provider {
        Ok(p) => (Some(p.name().to_owned()), Some(p.model().to_owned())),
        Err(_) => (None, None),
    };
    let started = EventBody::TurnStarted { turn_id: turn_id.clone(), provider: provider_name, model };
    if let Err(e) = core.emit(started).await {
        tracing::error!(session = %core.id, error = %e, "could not journal turn.started");
    }
    let mut text = String::new();
    let outcome = match &deps.provider {
        Err(msg) => Outcome::Failed(TurnError {
            kind: ErrorKind::ProviderNotConfigured.as_str().to_owned(),
            message: msg.clone(),
        }),
        Ok(provider) => {
            let request = ChatRequest {
                system: Some(system_prompt(&core.project_path())),
                messages: core.conversation(),
                ..ChatRequest::default()
            };
            stream_reply(&core, provider.clone(), request, deps.retry, &turn_id, &ctl, &mut text).await
        }
    };
    let (status, error) = match outcome {
        Outcome::Completed => (TurnStatus::Completed, None),
        Outcome::Stopped => {
            let status = ctl.status();
            let error = match status {
                TurnStatus::Interrupted => TurnError {
                    kind: ErrorKind::Interrupted.as_str().to_owned(),
                    message: "botcoderd stopped while this turn ran; send the message again to retry"
                        .to_owned(),
                },
                _ => TurnError {
                    kind: ErrorKind::Cancelled.as_str().to_owned(),
                    message: "the turn was cancelled".to_owned(),
                },
            };
            (status, Some(error))
        }
        Outcome::Failed(err) => (TurnStatus::Failed, Some(err)),
    };
    if !text.is_empty() {
        let partial = status != TurnStatus::Completed;
        let msg = EventBody::AssistantMessage { turn_id: turn_id.clone(), text, partial };
        if let Err(e) = core.emit(msg).await {
            tracing::error!(session = %core.id, error = %e, "could not journal assistant.message");
        }
    }
    let done = EventBody::TurnCompleted { turn_id: turn_id.clone(), status, error };
    if let Err(e) = core.emit(done).await {
        tracing::error!(session = %core.id, error = %e, "could not journal turn.completed");
    }
    core.clear_partial().await;
}

async fn stream_reply(
    core: &SessionCore,
    provider: Arc<dyn LlmProvider>,
    request: ChatRequest,
    retry: RetryPolicy,
    turn_id: &TurnId,
    ctl: &TurnControl,
    text: &mut String,
) -> Outcome {
    let name = provider.name().to_owned();
    let mut stream = stream_with_retries(provider, request, retry);
    let mut last_save = Instant::now();
    let mut saved_len = 0;
    loop {
        let item = tokio::select! {
            biased;
            () = ctl.token.cancelled() => return Outcome::Stopped,
            item = stream.next() => item,
        };
        match item {
            None => return Outcome::Completed,
            Some(Ok(ProviderEvent::TextDelta(piece))) => {
                let offset = text.len() as u64;
                text.push_str(&piece);
                core.emit_ephemeral(EventBody::AssistantDelta { turn_id: turn_id.clone(), offset, text: piece });
                if last_save.elapsed() >= PARTIAL_SAVE_EVERY && text.len() > saved_len {
                    core.save_partial(PartialReply { turn_id: turn_id.clone(), text: text.clone() }).await;
                    last_save = Instant::now();
                    saved_len = text.len();
                }
            }
            Some(Ok(ProviderEvent::Usage { input_tokens, output_tokens })) => {
                let usage = EventBody::Usage { turn_id: turn_id.clone(), input_tokens, output_tokens };
                if let Err(e) = core.emit(usage).await {
                    tracing::warn!(session = %core.id, error = %e, "could not journal usage");
                }
            }
            Some(Ok(ProviderEvent::Retry { attempt, wait, status, reason })) => {
                tracing::info!(session = %core.id, provider = %name, attempt, ?wait, "provider retry");
                let retry = EventBody::ProviderRetry {
                    turn_id: Some(turn_id.clone()),
                    provider: name.clone(),
                    attempt,
                    wait_ms: wait.as_millis() as u64,
                    status,
                    reason,
                };
                if let Err(e) = core.emit(retry).await {
                    tracing::warn!(session = %core.id, error = %e, "could not journal provider.retry");
                }
            }
            Some(Ok(ProviderEvent::Done { .. })) => return Outcome::Completed,
            // Tool calls are executed by the agent loop; plain chat turns ignore them.
            Some(Ok(ProviderEvent::ToolCallStart { .. } | ProviderEvent::ToolCallArgsDelta { .. })) => {}
            Some(Err(e)) => {
                tracing::warn!(session = %core.id, provider = %name, error = %e.message, "turn failed");
                return Outcome::Failed(TurnError { kind: e.kind.as_str().to_owned(), message: e.message });
            }
        }
    }
}
