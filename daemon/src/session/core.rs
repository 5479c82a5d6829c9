//! The shared heart of one session: its journal writer, hub, metadata and conversation.
//! Every event goes through [`SessionCore::emit`]: journal first (durable ones), then fan-out.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};

use botcoder_protocol::methods::SessionInfo;
use botcoder_protocol::{
    ApprovalDecision, ApprovalPolicy, ErrorKind, Event, EventBody, SessionId, TurnId,
};
use serde::{Deserialize, Serialize};
use serde_json::value::RawValue;
use tokio::sync::oneshot;

use super::approval::rules::{Action, Scope};
use super::approval::{Answer, Grants};
use super::conversation::Conversation;
use super::hub::Hub;
use super::store::{Journal, PartialReply};
use crate::clock::now_rfc3339;
use crate::error::DaemonError;
use crate::tools::Risk;

/// Session facts that change rarely, kept in `meta.json` so listing never reads journals.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Meta {
    /// Id.
    pub session_id: SessionId,
    /// Project root.
    pub project_path: String,
    /// Title.
    #[serde(default)]
    pub title: Option<String>,
    /// Creation time.
    pub created_at: String,
    /// Approval policy for tool calls.
    #[serde(default)]
    pub approval: ApprovalPolicy,
}

const META_FILE: &str = "meta.json";

impl Meta {
    /// Reads `<dir>/meta.json`.
    pub fn read(dir: &Path) -> Option<Meta> {
        serde_json::from_slice(&std::fs::read(dir.join(META_FILE)).ok()?).ok()
    }

    /// Writes `<dir>/meta.json` atomically.
    pub fn write(&self, dir: &Path) -> std::io::Result<()> {
        let tmp = dir.join(".meta.json.tmp");
        std::fs::write(
            &tmp,
            serde_json::to_vec_pretty(self).map_err(std::io::Error::other)?,
        )?;
        std::fs::rename(tmp, dir.join(META_FILE))
    }
}

/// Which turn runs and how many wait, for `SessionInfo`.
#[derive(Debug, Default)]
pub struct RunState {
    /// The running turn.
    pub running: Option<TurnId>,
    /// Queued turns.
    pub queued: u64,
}

/// One live session.
#[derive(Debug)]
pub struct SessionCore {
    /// Id.
    pub id: SessionId,
    /// Its directory.
    pub dir: PathBuf,
    /// Fan-out to subscribers.
    pub hub: Hub,
    /// Serializes durable appends so seq order is journal order is publish order.
    next_seq: tokio::sync::Mutex<u64>,
    journal: Arc<Mutex<Journal>>,
    meta: Mutex<Meta>,
    updated_at: Mutex<String>,
    conversation: Mutex<Conversation>,
    run: Mutex<RunState>,
    closed: AtomicBool,
    approvals: Mutex<HashMap<String, oneshot::Sender<Answer>>>,
    /// What the person allowed for the rest of this session ("allow for this session").
    grants: Mutex<Grants>,
}

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    // Every critical section here is a plain assignment or push: a panic cannot leave the
    // data half-updated, so a poisoned lock is safe to keep using.
    m.lock().unwrap_or_else(|p| p.into_inner())
}

impl SessionCore {
    /// A live session over an open journal whose events are `events`.
    pub fn new(dir: PathBuf, meta: Meta, journal: Journal, events: &[Event]) -> SessionCore {
        let mut conversation = Conversation::default();
        for e in events {
            conversation.apply(e);
        }
        let last_seq = events.last().and_then(|e| e.seq).unwrap_or(0);
        let updated_at = events
            .last()
            .map(|e| e.time.clone())
            .unwrap_or_else(|| meta.created_at.clone());
        SessionCore {
            id: meta.session_id.clone(),
            dir,
            hub: Hub::new(meta.session_id.clone(), last_seq),
            next_seq: tokio::sync::Mutex::new(last_seq + 1),
            journal: Arc::new(Mutex::new(journal)),
            meta: Mutex::new(meta),
            updated_at: Mutex::new(updated_at),
            conversation: Mutex::new(conversation),
            run: Mutex::new(RunState::default()),
            closed: AtomicBool::new(false),
            approvals: Mutex::default(),
            grants: Mutex::default(),
        }
    }

    /// Records and publishes an event. Durable events are appended to the journal first
    /// (user messages also fsynced, I3); if that fails, nobody sees the event.
    pub async fn emit(&self, body: EventBody) -> Result<Event, DaemonError> {
        if !body.is_durable() {
            let event = self.event(None, body);
            self.hub.publish(event.clone());
            return Ok(event);
        }
        let mut next_seq = self.next_seq.lock().await;
        let sync = matches!(body, EventBody::UserMessage { .. });
        let event = self.event(Some(*next_seq), body);
        let line = serde_json::to_string(&event)
            .map_err(|e| DaemonError::internal(format!("event does not serialize: {e}")))?;
        let journal = self.journal.clone();
        let line =
            tokio::task::spawn_blocking(move || lock(&journal).append(&line, sync).map(|()| line))
                .await
                .map_err(|e| {
                    DaemonError::new(
                        ErrorKind::StorageFailed,
                        format!("journal writer failed: {e}"),
                    )
                })??;
        *next_seq += 1;
        lock(&self.conversation).apply(&event);
        *lock(&self.updated_at) = event.time.clone();
        match RawValue::from_string(line) {
            Ok(json) => self.hub.publish_serialized(event.clone(), json),
            Err(_) => self.hub.publish(event.clone()),
        }
        Ok(event)
    }

    /// Publishes an ephemeral event (never journaled).
    pub fn emit_ephemeral(&self, body: EventBody) {
        debug_assert!(!body.is_durable());
        self.hub.publish(self.event(None, body));
    }

    fn event(&self, seq: Option<u64>, body: EventBody) -> Event {
        Event {
            seq,
            session_id: self.id.clone(),
            time: now_rfc3339(),
            body,
        }
    }

    /// Saves the running reply's text so a crash keeps it (I4).
    pub async fn save_partial(&self, partial: PartialReply) {
        let journal = self.journal.clone();
        let res = tokio::task::spawn_blocking(move || lock(&journal).save_partial(&partial)).await;
        if let Ok(Err(e)) = res {
            tracing::warn!(session = %self.id, error = %e, "could not save partial reply");
        }
    }

    /// Forgets the saved running reply.
    pub async fn clear_partial(&self) {
        let journal = self.journal.clone();
        let res = tokio::task::spawn_blocking(move || lock(&journal).clear_partial()).await;
        if let Ok(Err(e)) = res {
            tracing::warn!(session = %self.id, error = %e, "could not clear partial reply");
        }
    }

    /// The partial reply saved before a crash, if any.
    pub fn saved_partial(&self) -> Option<PartialReply> {
        lock(&self.journal).load_partial()
    }

    /// Flushes the journal to stable storage.
    pub async fn sync(&self) {
        let journal = self.journal.clone();
        let _ = tokio::task::spawn_blocking(move || lock(&journal).sync()).await;
    }

    /// A snapshot of the conversation for the next model request.
    pub fn conversation(&self) -> Vec<crate::llm::ChatMessage> {
        lock(&self.conversation).messages().to_vec()
    }

    /// Project root.
    pub fn project_path(&self) -> String {
        lock(&self.meta).project_path.clone()
    }

    /// Sets the title (metadata file first, then the event).
    pub async fn rename(&self, title: String) -> Result<(), DaemonError> {
        let mut meta = lock(&self.meta).clone();
        meta.title = Some(title.clone());
        let dir = self.dir.clone();
        let m = meta.clone();
        tokio::task::spawn_blocking(move || m.write(&dir))
            .await
            .map_err(|e| DaemonError::internal(e.to_string()))?
            .map_err(|e| {
                DaemonError::new(
                    ErrorKind::StorageFailed,
                    format!("could not write session metadata: {e}"),
                )
            })?;
        *lock(&self.meta) = meta;
        self.emit(EventBody::SessionRenamed { title })
            .await
            .map(|_| ())
    }

    /// Waits for an answer to approval `call_id` (the caller publishes the request).
    pub fn await_approval(&self, call_id: &str) -> oneshot::Receiver<Answer> {
        let (tx, rx) = oneshot::channel();
        lock(&self.approvals).insert(call_id.to_owned(), tx);
        rx
    }

    /// Forgets a pending approval (the turn stopped waiting).
    pub fn drop_approval(&self, call_id: &str) {
        lock(&self.approvals).remove(call_id);
    }

    /// Delivers a client's answer; `client` is its label, `message` what a denial tells the
    /// model. The first answer wins; later ones are told it is decided.
    pub fn resolve_approval(
        &self,
        call_id: &str,
        decision: ApprovalDecision,
        client: String,
        message: Option<String>,
    ) -> Result<(), DaemonError> {
        let client = if client.trim().is_empty() {
            "a client that did not name itself".to_owned()
        } else {
            client
        };
        let answer = Answer {
            decision,
            client,
            message,
        };
        let waiter = lock(&self.approvals).remove(call_id);
        match waiter.map(|tx| tx.send(answer)) {
            Some(Ok(())) => Ok(()),
            _ => Err(DaemonError::invalid_params(format!(
                "no approval is pending for call {call_id:?} (it was already decided or the turn ended)"
            ))),
        }
    }

    /// Whether `action` at `risk` is within what was allowed for the rest of the session.
    pub fn allowed_for_session(&self, action: &Action, risk: Risk) -> bool {
        lock(&self.grants).covers(action, risk)
    }

    /// Allows `scope` at `risk` for the rest of the session; false when the session holds
    /// the most grants it keeps.
    pub fn allow_for_session(&self, scope: Scope, risk: Risk) -> bool {
        lock(&self.grants).grant(scope, risk)
    }

    /// The session's approval policy.
    pub fn approval_policy(&self) -> ApprovalPolicy {
        lock(&self.meta).approval
    }

    /// Updates the running/queued state.
    pub fn set_run_state(&self, running: Option<TurnId>, queued: u64) {
        *lock(&self.run) = RunState { running, queued };
    }

    /// Whether a turn runs now.
    pub fn is_running(&self) -> bool {
        lock(&self.run).running.is_some()
    }

    /// Metadata as clients see it.
    pub fn info(&self) -> SessionInfo {
        let meta = lock(&self.meta).clone();
        let run = lock(&self.run);
        SessionInfo {
            session_id: meta.session_id,
            title: meta.title,
            project_path: meta.project_path,
            created_at: meta.created_at,
            updated_at: lock(&self.updated_at).clone(),
            last_seq: self.hub.last_seq(),
            running_turn: run.running.clone(),
            queued_turns: run.queued,
            approval: meta.approval,
        }
    }

    /// Marks the session closed (deleted or daemon stopping) and ends every subscription.
    pub fn close(&self) {
        self.closed.store(true, Ordering::SeqCst);
        self.hub.close_all();
    }

    /// Whether [`SessionCore::close`] was called.
    pub fn is_closed(&self) -> bool {
        self.closed.load(Ordering::SeqCst)
    }
}
