//! The session actor: one task per live session that owns its queue of turns. User
//! messages are journaled the moment they arrive (from any client) and their turns run one
//! at a time, in order.

use std::collections::VecDeque;
use std::sync::Arc;

use botcoder_protocol::methods::SessionSendResult;
use botcoder_protocol::{ApprovalPolicy, ErrorKind, EventBody, TurnError, TurnId, TurnStatus};
use tokio::sync::{mpsc, oneshot};
use tokio::task::JoinHandle;

use super::core::SessionCore;
use super::turn::{TurnControl, TurnDeps, run_turn};
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

struct Running {
    turn_id: TurnId,
    ctl: Arc<TurnControl>,
    task: JoinHandle<()>,
}

/// Runs the actor until `Stop` or until every sender is gone.
pub async fn run(core: Arc<SessionCore>, deps: Arc<TurnDeps>, mut rx: mpsc::Receiver<Command>) {
    let mut queue: VecDeque<Queued> = VecDeque::new();
    let mut running: Option<Running> = None;
    loop {
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
                        let queued_behind = queue.len() as u64 + u64::from(running.is_some());
                        let policy = approval.unwrap_or_else(|| core.approval_policy());
                        queue.push_back(Queued {
                            turn_id: turn_id.clone(),
                            text,
                            policy,
                        });
                        let _ = reply.send(Ok(SessionSendResult {
                            turn_id,
                            seq: event.seq.unwrap_or(0),
                            queued_behind,
                        }));
                        if running.is_none() {
                            start_next(&core, &deps, &mut queue, &mut running);
                        } else {
                            core.set_run_state(
                                running.as_ref().map(|r| r.turn_id.clone()),
                                queue.len() as u64,
                            );
                        }
                    }
                    Err(e) => {
                        let _ = reply.send(Err(e));
                    }
                }
            }
            Some(Command::Cancel { turn_id, reply }) => {
                let done = cancel(&core, &mut queue, running.as_ref(), turn_id.as_ref()).await;
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
        *running = Some(Running { turn_id, ctl, task });
    }
    core.set_run_state(
        running.as_ref().map(|r| r.turn_id.clone()),
        queue.len() as u64,
    );
}

async fn cancel(
    core: &SessionCore,
    queue: &mut VecDeque<Queued>,
    running: Option<&Running>,
    turn_id: Option<&TurnId>,
) -> bool {
    match (running, turn_id) {
        (Some(r), None) => {
            r.ctl.stop(TurnStatus::Cancelled);
            true
        }
        (Some(r), Some(t)) if &r.turn_id == t => {
            r.ctl.stop(TurnStatus::Cancelled);
            true
        }
        (_, Some(t)) => {
            let Some(pos) = queue.iter().position(|q| &q.turn_id == t) else {
                return false;
            };
            queue.remove(pos);
            close_queued(core, t.clone(), TurnStatus::Cancelled).await;
            core.set_run_state(running.map(|r| r.turn_id.clone()), queue.len() as u64);
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
        kind: kind.as_str().to_owned(),
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
    if let Some(r) = running {
        r.ctl.stop(TurnStatus::Interrupted);
        let _ = r.task.await;
    }
    while let Some(q) = queue.pop_front() {
        close_queued(core, q.turn_id, TurnStatus::Interrupted).await;
    }
    core.set_run_state(None, 0);
    core.sync().await;
}
