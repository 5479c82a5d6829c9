//! A facade turn: the request is classified by the botserver; pipeline work is created
//! there, followed over the progress WebSocket (frames become `pipeline.progress`,
//! `llm_stream` text becomes assistant text) and confirmed by polling the task status — also
//! when the socket drops or goes quiet, since the server sends no guaranteed final frame.

use std::time::{Duration, Instant};

use botcoder_protocol::{ErrorKind, EventBody, TurnError, TurnId};
use serde_json::Value;

use super::core::SessionCore;
use super::turn_types::{Outcome, TurnControl};
use crate::botserver::Botserver;
use crate::botserver::client::{BotError, TaskStatus};
use crate::botserver::progress::{self, Frame};

/// Intents the botserver's pipeline takes; everything else stays local.
pub const PIPELINE_INTENTS: [&str; 7] = [
    "APP_CREATE",
    "TODO",
    "MONITOR",
    "ACTION",
    "SCHEDULE",
    "GOAL",
    "TOOL",
];

/// How often the task status is polled while the socket is up, and once it is gone.
const POLL_WITH_SOCKET: Duration = Duration::from_secs(2);
const POLL_WITHOUT_SOCKET: Duration = Duration::from_millis(700);
/// Unreachable this long (with the socket gone) means the botserver is lost.
const LOST_AFTER: Duration = Duration::from_secs(3);

/// How a facade turn ended.
#[derive(Debug)]
pub enum FacadeOutcome {
    /// Not pipeline work: the local agent takes the turn.
    Local,
    /// The botserver handled the turn.
    Done(Outcome),
    /// The botserver was lost; the turn may continue locally.
    Lost {
        /// Why, for the announcement.
        reason: String,
    },
}

fn failed(kind: ErrorKind, message: String) -> FacadeOutcome {
    FacadeOutcome::Done(Outcome::Failed(TurnError { kind, message }))
}

async fn emit(core: &SessionCore, body: EventBody) {
    if let Err(e) = core.emit(body).await {
        tracing::error!(session = %core.id, error = %e, "could not journal a facade event");
    }
}

/// Runs the turn for `text` on the botserver. `reply` collects the streamed text.
pub async fn run(
    core: &SessionCore,
    bot: &Botserver,
    text: &str,
    turn_id: &TurnId,
    ctl: &TurnControl,
    reply: &mut String,
) -> FacadeOutcome {
    let lost = |e: BotError| {
        let reason = e.to_string();
        bot.monitor.mark_down(reason.clone());
        FacadeOutcome::Lost { reason }
    };
    let class = match bot.client.classify(text).await {
        Ok(c) => c,
        Err(BotError::Auth(s)) => {
            return failed(ErrorKind::ProviderError, BotError::Auth(s).to_string());
        }
        Err(e) => return lost(e),
    };
    if class.requires_clarification {
        let question = class
            .clarification_question
            .unwrap_or_else(|| "Could you say more about what you want?".into());
        emit(
            core,
            EventBody::AssistantMessage {
                turn_id: turn_id.clone(),
                text: question,
                partial: false,
            },
        )
        .await;
        return FacadeOutcome::Done(Outcome::Completed);
    }
    if !PIPELINE_INTENTS.contains(&class.intent_type.to_ascii_uppercase().as_str()) {
        return FacadeOutcome::Local;
    }
    let created = match bot.client.create(text).await {
        Ok(c) => c,
        Err(BotError::Auth(s)) => {
            return failed(ErrorKind::ProviderError, BotError::Auth(s).to_string());
        }
        Err(e @ BotError::Down(_)) => return lost(e),
        Err(e) => return failed(ErrorKind::ProviderError, e.to_string()),
    };
    let Some(task_id) = created.task_id.clone().filter(|t| !t.is_empty()) else {
        let why = created
            .error
            .or(created.message)
            .unwrap_or_else(|| "no task id in the answer".into());
        return failed(
            ErrorKind::ProviderError,
            format!("the botserver did not start the task: {why}"),
        );
    };
    let mut follow = Follow {
        core,
        turn_id,
        task_id: task_id.clone(),
        app_url: created.app_url.clone(),
        resources: created.created_resources.clone(),
        last_progress: None,
    };
    // Connect at once: the server keeps no replay buffer.
    let mut frames = match bot.client.progress_url(&task_id) {
        Some(url) => progress::connect(&url).await,
        None => None,
    };
    let mut unreachable_since: Option<Instant> = None;
    let mut next_poll = tokio::time::Instant::now() + Duration::from_millis(500);
    loop {
        let poll_now = tokio::select! {
            () = ctl.cancelled() => {
                if let Err(e) = bot.client.cancel(&task_id).await {
                    tracing::warn!(task = %task_id, error = %e, "could not cancel the botserver task");
                }
                return FacadeOutcome::Done(Outcome::Stopped);
            }
            frame = recv(&mut frames) => match frame {
                Some(f) => follow.frame(f, reply).await,
                None => {
                    frames = None;
                    true
                }
            },
            () = tokio::time::sleep_until(next_poll) => true,
        };
        if !poll_now {
            continue;
        }
        next_poll = tokio::time::Instant::now()
            + if frames.is_some() {
                POLL_WITH_SOCKET
            } else {
                POLL_WITHOUT_SOCKET
            };
        match bot.client.task(&task_id).await {
            Ok(st) if st.is_final() => {
                follow.finish(&st, reply).await;
                return FacadeOutcome::Done(Outcome::Completed);
            }
            Ok(st) => {
                unreachable_since = None;
                if frames.is_none() {
                    follow.status_progress(&st).await;
                }
            }
            Err(BotError::Down(e)) => {
                let since = *unreachable_since.get_or_insert_with(Instant::now);
                if frames.is_none() && since.elapsed() >= LOST_AFTER {
                    return lost(BotError::Down(format!("lost during task {task_id}: {e}")));
                }
            }
            Err(e) => {
                return failed(
                    ErrorKind::ProviderError,
                    format!("botserver task {task_id}: {e}"),
                );
            }
        }
    }
}

async fn recv(frames: &mut Option<tokio::sync::mpsc::Receiver<Frame>>) -> Option<Frame> {
    match frames {
        Some(rx) => rx.recv().await,
        None => std::future::pending().await,
    }
}

struct Follow<'a> {
    core: &'a SessionCore,
    turn_id: &'a TurnId,
    task_id: String,
    app_url: Option<String>,
    resources: Vec<Value>,
    last_progress: Option<(String, u64)>,
}

impl Follow<'_> {
    /// Handles a frame; returns true when the status should be polled now.
    async fn frame(&mut self, f: Frame, reply: &mut String) -> bool {
        match f.kind.as_str() {
            "llm_stream" => {
                if let Some(text) = f.text.filter(|t| !t.is_empty()) {
                    let offset = reply.len() as u64;
                    reply.push_str(&text);
                    self.core.emit_ephemeral(EventBody::AssistantDelta {
                        turn_id: self.turn_id.clone(),
                        offset,
                        text,
                    });
                }
                false
            }
            "connected" => false,
            "task_completed" | "task_error" | "pipeline_complete" => {
                if let Some(url) = f
                    .details
                    .as_ref()
                    .and_then(Value::as_str)
                    .and_then(|d| d.strip_prefix("app_url:"))
                {
                    self.app_url = Some(url.trim().to_owned());
                }
                true
            }
            _ => {
                let agent = f
                    .details
                    .as_ref()
                    .and_then(Value::as_str)
                    .filter(|d| d.starts_with("mantis"))
                    .map(str::to_owned);
                let step = f.step.clone().unwrap_or_else(|| f.kind.clone());
                let message = f.message.clone().or(f.error.clone()).unwrap_or_default();
                self.progress(
                    step,
                    message,
                    f.progress.unwrap_or(0.0),
                    f.current_step,
                    f.total_steps,
                    agent,
                )
                .await;
                false
            }
        }
    }

    async fn progress(
        &mut self,
        step: String,
        message: String,
        progress: f64,
        current: Option<u32>,
        total: Option<u32>,
        agent: Option<String>,
    ) {
        let key = (step.clone(), progress as u64);
        if self.last_progress.as_ref() == Some(&key) && message.is_empty() {
            return;
        }
        self.last_progress = Some(key);
        let body = EventBody::PipelineProgress {
            turn_id: self.turn_id.clone(),
            task_id: self.task_id.clone(),
            step,
            message,
            progress,
            current_step: current,
            total_steps: total,
            agent,
        };
        emit(self.core, body).await;
    }

    async fn status_progress(&mut self, st: &TaskStatus) {
        let step = st.name.clone().unwrap_or_else(|| "task".into());
        self.progress(
            step,
            st.status.clone(),
            st.progress,
            st.current_step,
            st.total_steps,
            None,
        )
        .await;
    }

    /// The closing message: streamed text, then the final status, app URL and resources.
    async fn finish(&mut self, st: &TaskStatus, reply: &mut String) {
        self.status_progress(st).await;
        let mut text = reply.clone();
        if !text.is_empty() && !text.ends_with('\n') {
            text.push_str("\n\n");
        }
        let name = st.name.clone().unwrap_or_else(|| self.task_id.clone());
        text.push_str(&format!("Botserver task {name} {}.", st.status));
        if let Some(url) = &self.app_url {
            text.push_str(&format!("\nApp: {url}"));
        }
        let names: Vec<String> = self
            .resources
            .iter()
            .map(|r| {
                r.get("name")
                    .and_then(Value::as_str)
                    .map_or_else(|| r.to_string(), str::to_owned)
            })
            .collect();
        if !names.is_empty() {
            text.push_str(&format!("\nCreated: {}", names.join(", ")));
        }
        if let Some(e) = &st.error {
            text.push_str(&format!("\nError: {e}"));
        }
        reply.clear();
        emit(
            self.core,
            EventBody::AssistantMessage {
                turn_id: self.turn_id.clone(),
                text,
                partial: false,
            },
        )
        .await;
    }
}
