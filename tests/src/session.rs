//! Driving one session from a test: create it, send a message and read back exactly that
//! turn's events.

use std::time::Duration;

use botcoder_protocol::client::{DaemonClient, Subscription};
use botcoder_protocol::methods::{
    SessionCreate, SessionCreateParams, SessionGet, SessionHistory, SessionHistoryParams,
    SessionHistoryResult, SessionRef, SessionSend, SessionSendParams, SessionSendResult,
    SubscribeParams,
};
use botcoder_protocol::{ApprovalDecision, ApprovalPolicy, Event, EventBody, SessionId};

use crate::events::until_turns_completed;

/// A new session on `project` with `approval`.
pub async fn create(
    c: &DaemonClient,
    project: &std::path::Path,
    approval: ApprovalPolicy,
) -> SessionId {
    let p = SessionCreateParams {
        project_path: project.display().to_string(),
        title: None,
        approval: Some(approval),
        ..Default::default()
    };
    c.call::<SessionCreate>(&p)
        .await
        .unwrap_or_else(|e| panic!("session.create: {e}"))
        .session_id
}

/// A new session on `project` with the daemon's default approval policy.
pub async fn create_default(c: &DaemonClient, project: &std::path::Path) -> SessionId {
    let p = SessionCreateParams {
        project_path: project.display().to_string(),
        title: None,
        approval: None,
        ..Default::default()
    };
    c.call::<SessionCreate>(&p)
        .await
        .unwrap_or_else(|e| panic!("session.create: {e}"))
        .session_id
}

/// Subscribes to `id` after `after_seq` (`None`: live events only, after the partial reply).
pub async fn subscribe(
    c: &DaemonClient,
    id: &SessionId,
    after_seq: Option<u64>,
) -> Subscription<Event> {
    c.subscribe(&SubscribeParams {
        session_id: id.clone(),
        after_seq,
    })
    .await
    .unwrap_or_else(|e| panic!("session.subscribe: {e}"))
}

/// Sends `text` to `id` under the session's own approval policy.
pub async fn send(c: &DaemonClient, id: &SessionId, text: &str) -> SessionSendResult {
    let p = SessionSendParams {
        session_id: id.clone(),
        text: text.into(),
        approval: None,
        env: Default::default(),
    };
    c.call::<SessionSend>(&p)
        .await
        .unwrap_or_else(|e| panic!("session.send: {e}"))
}

/// Subscribes to `id` (live) and sends `text`: the subscription sees the whole turn.
pub async fn start_turn(c: &DaemonClient, id: &SessionId, text: &str) -> Subscription<Event> {
    let sub = subscribe(c, id, None).await;
    send(c, id, text).await;
    sub
}

/// Sends `text` and returns the events of that turn only (subscribed after the session's
/// last seq, so an earlier turn's `turn.completed` is never mistaken for this one's).
pub async fn turn(c: &DaemonClient, id: &SessionId, text: &str, timeout: Duration) -> Vec<Event> {
    let after = c
        .call::<SessionGet>(&SessionRef {
            session_id: id.clone(),
        })
        .await
        .unwrap_or_else(|e| panic!("session.get: {e}"))
        .last_seq;
    let mut sub = subscribe(c, id, Some(after)).await;
    send(c, id, text).await;
    until_turns_completed(&mut sub, 1, timeout).await
}

/// `session.history` of `id` from its first event (one page, the daemon's default size).
pub async fn history(c: &DaemonClient, id: &SessionId) -> SessionHistoryResult {
    c.call::<SessionHistory>(&SessionHistoryParams {
        session_id: id.clone(),
        after_seq: 0,
        limit: None,
    })
    .await
    .unwrap_or_else(|e| panic!("session.history: {e}"))
}

/// `(ok, output)` of every tool result among `events`.
pub fn tool_results(events: &[Event]) -> Vec<(bool, String)> {
    events
        .iter()
        .filter_map(|e| match &e.body {
            EventBody::ToolResult { ok, output, .. } => Some((*ok, output.clone())),
            _ => None,
        })
        .collect()
}

/// `(decision, who decided)` of every approval resolved among `events`.
pub fn decided_by(events: &[Event]) -> Vec<(ApprovalDecision, String)> {
    events
        .iter()
        .filter_map(|e| match &e.body {
            EventBody::ApprovalResolved {
                decision,
                decided_by,
                ..
            } => Some((*decision, decided_by.clone())),
            _ => None,
        })
        .collect()
}
