//! The session actor: one task per live session that owns its queue of turns. User
//! messages are journaled the moment they arrive (from any client) and their turns run one
//! at a time, in order.
//!
//! A stopped turn is over within a bound: tools get [`TOOL_GRACE`] to honour the
//! cancellation (see `grace`), and a turn task still running [`STOP_WAIT`] after its stop is
//! aborted and closed here, so neither `turn.cancel` nor a delete or shutdown waits forever.

use std::collections::VecDeque;
use std::sync::Arc;
use std::time::Duration;

use botcoder_protocol::methods::SessionSendResult;
use botcoder_protocol::{ApprovalPolicy, ErrorKind, EventBody, TurnError, TurnId, TurnStatus};
use tokio::sync::{mpsc, oneshot};
use tokio::task::JoinHandle;

use super::core::SessionCore;
use super::grace::TOOL_GRACE;
use super::turn::run_turn;
use super::turn_types::{TurnControl, TurnDeps};
use crate::clock::new_turn_id;
use crate::error::DaemonError;

/// A request to the actor.
#[derive(Debug)]
pub enum Command {
    /// Journal a user message and queue its turn.
    Send {
        /// The text.
        text: String,
        /// Sending client's name.
        client: String,
        /// Approval policy for this turn; `None`: the session's.
        approval: Option<ApprovalPolicy>,
        /// Answered once the message is journaled.
        reply: oneshot::Sender<Result<SessionSendResult, DaemonError>>,
    },
    /// Cancel the running turn (`None`) or a given one.
    Cancel {
        /// The turn.
        turn_id: Option<TurnId>,
        /// Whether something was cancelled.
        reply: oneshot::Sender<bool>,
    },
    /// Stop everything and end the actor: the daemon stops or the session is deleted.
    Stop {
        /// Answered when every turn is closed and the journal flushed.
        reply: oneshot::Sender<()>,
    },
}

struct Queued {
    turn_id: TurnId,
    text: String,
    policy: ApprovalPolicy,
}

/// How long after its stop a turn task may run before the actor aborts it: the tool grace
/// plus time for the turn to journal its end.
pub const STOP_WAIT: Duration = TOOL_GRACE.saturating_add(Duration::from_secs(3));

struct Running {
    turn_id: TurnId,
    ctl: Arc<TurnControl>,
    task: JoinHandle<()>,
    /// Set when the turn was stopped: past it, the task is aborted.
    deadline: Option<tokio::time::Instant>,
}

/// Runs the actor until `Stop` or until every sender is gone.
pub async fn run(core: Arc<SessionCore>, deps: Arc<TurnDeps>, mut rx: mpsc::Receiver<Command>) {
    let mut queue: VecDeque<Queued> = VecDeque::new();
    let mut running: Option<Running> = None;
    loop {
        let deadline = running.as_ref().and_then(|r| r.deadline);
        let cmd = tokio::select! {
            cmd = rx.recv() => cmd,
            res = wait_running(&mut running), if running.is_some() => {
                if let Err(e) = res {
                    tracing::error!(session = %core.id, error = %e, "turn task panicked");
                }
                running = None;
                start_next(&core, &deps, &mut queue, &mut running);
                continue;
            }
            () = sleep_until(deadline), if deadline.is_some() => {
                if let Some(r) = running.take() {
                    abandon(&core, r).await;
                }
                start_next(&core, &deps, &mut queue, &mut running);
                continue;
            }
        };
        match cmd {
            None => break,
            Some(Command::Send {
                text,
                client,
                approval,
                reply,
            }) => {
                let turn_id = new_turn_id();
                let body = EventBody::UserMessage {
                    turn_id: turn_id.clone(),
                    text: text.clone(),
                    client,
                };
                match core.emit(body).await {
                    Ok(event) => {
                        title_from_first_prompt(&core, &text);
                        let queued_behind = queue.len() as u64 + u64::from(running.is_some());
                        let policy = approval.unwrap_or_else(|| core.approval_policy());
                        queue.push_back(Queued {
                            turn_id: turn_id.clone(),
                            text,
                            policy,
                        });
                        // The run state is set before the answer, so the sender never
                        // sees (and the idle sweeper never finds) a session with a
                        // journaled message and no turn.
                        if running.is_none() {
                            start_next(&core, &deps, &mut queue, &mut running);
                        } else {
                            core.set_run_state(
                                running.as_ref().map(|r| r.turn_id.clone()),
                                queue.len() as u64,
                            );
                        }
                        let _ = reply.send(Ok(SessionSendResult {
                            turn_id,
                            seq: event.seq.unwrap_or(0),
                            queued_behind,
                        }));
                    }
                    Err(e) => {
                        let _ = reply.send(Err(e));
                    }
                }
            }
            Some(Command::Cancel { turn_id, reply }) => {
                let done = cancel(&core, &mut queue, running.as_mut(), turn_id.as_ref()).await;
                let _ = reply.send(done);
            }
            Some(Command::Stop { reply }) => {
                stop_all(&core, &mut queue, running.take()).await;
                let _ = reply.send(());
                return;
            }
        }
    }
    stop_all(&core, &mut queue, running.take()).await;
}

async fn sleep_until(deadline: Option<tokio::time::Instant>) {
    match deadline {
        Some(d) => tokio::time::sleep_until(d).await,
        None => std::future::pending().await,
    }
}

/// Longest title taken from a first prompt, in characters.
const PROMPT_TITLE_CHARS: usize = 60;

/// An untitled session is named after its first prompt (its first line, no model call), in
/// `meta.json` only: `session.list` and the pickers show it; no event is journaled, so the
/// conversation stays exactly what was said. Written after the sender has its answer.
fn title_from_first_prompt(core: &Arc<SessionCore>, text: &str) {
    if core.meta().title.is_some() {
        return;
    }
    let line = text
        .lines()
        .map(str::trim)
        .find(|l| !l.is_empty())
        .unwrap_or("");
    let title: String = line
        .chars()
        .map(|c| if c.is_control() { ' ' } else { c })
        .take(PROMPT_TITLE_CHARS)
        .collect();
    if title.is_empty() {
        return;
    }
    let core = core.clone();
    tokio::spawn(async move {
        let set = core
            .update_meta(move |m| {
                m.title.get_or_insert(title);
            })
            .await;
        if let Err(e) = set {
            tracing::warn!(session = %core.id, error = %e.message, "could not title the session");
        }
    });
}

/// Stops waiting for a turn that outlived its stop by [`STOP_WAIT`]: the task is aborted and
/// the turn closed with the status it was stopped with. Only reached when something under
/// the turn ignores cancellation and is not a tool (those end after the grace).
async fn abandon(core: &SessionCore, r: Running) {
    r.task.abort();
    match r.task.await {
        // It finished on its own just now, turn.completed included.
        Ok(()) => return,
        Err(e) if e.is_panic() => {
            tracing::error!(session = %core.id, error = %e, "turn task panicked");
        }
        Err(_) => {
            tracing::warn!(session = %core.id, turn = %r.turn_id, "turn ignored its stop; abandoned");
        }
    }
    let status = r.ctl.stopped_with();
    let kind = match status {
        TurnStatus::Interrupted => ErrorKind::Interrupted,
        _ => ErrorKind::Cancelled,
    };
    let error = Some(TurnError {
        kind,
        message: format!(
            "the turn did not stop within {}s; botcoderd stopped waiting for it",
            STOP_WAIT.as_secs()
        ),
    });
    let done = EventBody::TurnCompleted {
        turn_id: r.turn_id,
        status,
        error,
    };
    if let Err(e) = core.emit(done).await {
        tracing::error!(session = %core.id, error = %e, "could not journal turn.completed");
    }
    core.clear_partial().await;
}

fn stop_turn(r: &mut Running, status: TurnStatus) {
    r.ctl.stop(status);
    r.deadline
        .get_or_insert_with(|| tokio::time::Instant::now() + STOP_WAIT);
}

async fn wait_running(running: &mut Option<Running>) -> Result<(), tokio::task::JoinError> {
    match running {
        Some(r) => (&mut r.task).await,
        None => std::future::pending().await,
    }
}

fn start_next(
    core: &Arc<SessionCore>,
    deps: &Arc<TurnDeps>,
    queue: &mut VecDeque<Queued>,
    running: &mut Option<Running>,
) {
    if let Some(Queued {
        turn_id,
        text,
        policy,
    }) = queue.pop_front()
    {
        let ctl = Arc::new(TurnControl::default());
        let task = tokio::spawn(run_turn(
            core.clone(),
            deps.clone(),
            turn_id.clone(),
            text,
            policy,
            ctl.clone(),
        ));
        *running = Some(Running {
            turn_id,
            ctl,
            task,
            deadline: None,
        });
    }
    core.set_run_state(
        running.as_ref().map(|r| r.turn_id.clone()),
        queue.len() as u64,
    );
}

async fn cancel(
    core: &SessionCore,
    queue: &mut VecDeque<Queued>,
    running: Option<&mut Running>,
    turn_id: Option<&TurnId>,
) -> bool {
    let running_id = running.as_ref().map(|r| r.turn_id.clone());
    match (running, turn_id) {
        (Some(r), None) => {
            stop_turn(r, TurnStatus::Cancelled);
            true
        }
        (Some(r), Some(t)) if &r.turn_id == t => {
            stop_turn(r, TurnStatus::Cancelled);
            true
        }
        (_, Some(t)) => {
            let Some(pos) = queue.iter().position(|q| &q.turn_id == t) else {
                return false;
            };
            queue.remove(pos);
            close_queued(core, t.clone(), TurnStatus::Cancelled).await;
            core.set_run_state(running_id, queue.len() as u64);
            true
        }
        (None, None) => false,
    }
}

/// Closes a turn that never started.
async fn close_queued(core: &SessionCore, turn_id: TurnId, status: TurnStatus) {
    let (kind, message) = match status {
        TurnStatus::Interrupted => (
            ErrorKind::Interrupted,
            "botcoderd stopped before this turn ran; send the message again to run it",
        ),
        _ => (
            ErrorKind::Cancelled,
            "the turn was cancelled before it started",
        ),
    };
    let error = Some(TurnError {
        kind,
        message: message.to_owned(),
    });
    if let Err(e) = core
        .emit(EventBody::TurnCompleted {
            turn_id,
            status,
            error,
        })
        .await
    {
        tracing::error!(session = %core.id, error = %e, "could not journal turn.completed");
    }
}

async fn stop_all(core: &SessionCore, queue: &mut VecDeque<Queued>, running: Option<Running>) {
    if let Some(mut r) = running {
        stop_turn(&mut r, TurnStatus::Interrupted);
        let deadline = r.deadline.unwrap_or_else(tokio::time::Instant::now);
        if tokio::time::timeout_at(deadline, &mut r.task)
            .await
            .is_err()
        {
            abandon(core, r).await;
        }
    }
    while let Some(q) = queue.pop_front() {
        close_queued(core, q.turn_id, TurnStatus::Interrupted).await;
    }
    core.set_run_state(None, 0);
    core.sync().await;
}
