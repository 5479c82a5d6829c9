//! The shared heart of one session: its journal writer, hub, metadata and conversation.
//! Every event goes through [`SessionCore::emit`]: cut to fit a client's message size,
//! journal first (durable ones), then fan-out.
//!
//! A turn whose events could not all be journaled (disk full, file-size limit, the
//! directory removed) never ends `completed`: the first failed append is remembered for its
//! turn, later events of that turn are refused (so the journal holds a clean prefix of it),
//! and its `turn.completed` becomes `failed` / `storage_failed` with what failed and what to
//! do. When even that cannot be journaled, it is still sent live (without a seq) so no
//! client waits forever; a restart then closes the turn as `interrupted` from the journal.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};

use botcoder_protocol::methods::SessionInfo;
use botcoder_protocol::{
    ApprovalDecision, ApprovalPolicy, ErrorKind, Event, EventBody, Mode, SessionId, TurnError,
    TurnId, TurnStatus,
};
use serde::{Deserialize, Serialize};
use serde_json::value::RawValue;
use tokio::sync::oneshot;

use super::conversation::Conversation;
use super::hub::Hub;
use super::limits::{self, MAX_EVENT_BYTES};
use super::store::{self, Journal, PartialReply, StoreError};
use crate::clock::now_rfc3339;
use crate::error::DaemonError;
use crate::rules::Grants;
use crate::rules::{Action, Scope};
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
    /// Provider chosen for this session (`--provider`, `session.configure`); absent: the
    /// one the settings name at each turn.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub provider: Option<String>,
    /// Model chosen for this session; absent: the provider's configured model.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub model: Option<String>,
    /// Sandbox mode chosen for this session (`session.create {sandbox}`); absent: the
    /// settings'.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sandbox: Option<String>,
}

const META_FILE: &str = "meta.json";

impl Meta {
    /// Reads `<dir>/meta.json`.
    pub fn read(dir: &Path) -> Option<Meta> {
        serde_json::from_slice(&std::fs::read(dir.join(META_FILE)).ok()?).ok()
    }

    /// Metadata rebuilt from journal events when `meta.json` is missing or unreadable: the
    /// project and creation time from `session.created`, the title from the last rename,
    /// else the first line of the first user message. `None` when the events do not say
    /// which project the session belongs to. The approval policy falls back to the
    /// default (`ask`), the cautious choice when the recorded one is lost.
    pub fn rebuild(dir: &Path, events: &[Event]) -> Option<Meta> {
        let id = dir.file_name()?.to_str()?;
        let mut project = None;
        let mut created_at = None;
        let mut title = None;
        let mut first_user = None;
        for e in events {
            match &e.body {
                EventBody::SessionCreated {
                    project_path,
                    title: t,
                } if project.is_none() => {
                    project = Some(project_path.clone());
                    created_at = Some(e.time.clone());
                    title = t.clone();
                }
                EventBody::SessionRenamed { title: t } => title = Some(t.clone()),
                EventBody::UserMessage { text, .. } if first_user.is_none() => {
                    let line = text.lines().find(|l| !l.trim().is_empty()).unwrap_or("");
                    first_user = Some(line.trim().chars().take(60).collect::<String>());
                }
                _ => {}
            }
        }
        Some(Meta {
            session_id: SessionId::from(id),
            project_path: project?,
            title: title.or(first_user.filter(|t| !t.is_empty())),
            created_at: created_at.or_else(|| events.first().map(|e| e.time.clone()))?,
            approval: ApprovalPolicy::default(),
            provider: None,
            model: None,
            sandbox: None,
        })
    }

    /// `meta.json`, or metadata rebuilt from the journal's first events when it is missing
    /// or corrupt (for listing: reads at most the first 1 MiB of the journal).
    pub fn read_or_rebuild(dir: &Path) -> Option<Meta> {
        Meta::read(dir).or_else(|| {
            let meta = Meta::rebuild(dir, &store::head(dir, 1024 * 1024))?;
            tracing::warn!(dir = %dir.display(), "meta.json is missing or corrupt; rebuilt from the journal");
            Some(meta)
        })
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
    /// Turns with an event that could not be journaled, and why (see the module doc).
    storage_failed: Mutex<HashMap<TurnId, String>>,
    /// The mode the journal last announced (`local` until a `mode.changed` says otherwise).
    mode: Mutex<Mode>,
    /// Cost so far and the token-estimate correction (see `compact`).
    ledger: Mutex<super::ledger::Ledger>,
    /// The provider and model resolved for the session's turns.
    pub settings: super::resolved::SessionSettings,
    /// The editor connection serving this session's files, if any.
    pub client_fs: crate::client_fs::FsSlot,
    /// The session's own MCP servers (an editor's `mcpServers`), if any.
    pub mcp: Arc<crate::mcp::scoped::SessionMcp>,
}

/// A client's answer to one approval request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Answer {
    /// The decision.
    pub decision: ApprovalDecision,
    /// The deciding client's label (its `daemon.hello` name).
    pub client: String,
    /// What the person wants the model to know, with a denial.
    pub message: Option<String>,
}

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    // Every critical section here is a plain assignment or push: a panic cannot leave the
    // data half-updated, so a poisoned lock is safe to keep using.
    m.lock().unwrap_or_else(|p| p.into_inner())
}

impl SessionCore {
    /// A live session over an open journal whose events are `events` and whose highest seq
    /// is `last_seq` (higher than the last event's when lines were skipped: never reused).
    pub fn new(
        dir: PathBuf,
        meta: Meta,
        journal: Journal,
        events: &[Event],
        last_seq: u64,
    ) -> SessionCore {
        let mut conversation = Conversation::default();
        let mut ledger = super::ledger::Ledger::default();
        for e in events {
            conversation.apply(e);
            ledger.apply(&e.body);
        }
        let last_seq = events.iter().filter_map(|e| e.seq).fold(last_seq, u64::max);
        let mode = events
            .iter()
            .rev()
            .find_map(|e| match e.body {
                EventBody::ModeChanged { mode, .. } => Some(mode),
                _ => None,
            })
            .unwrap_or(Mode::Local);
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
            storage_failed: Mutex::default(),
            mode: Mutex::new(mode),
            ledger: Mutex::new(ledger),
            settings: super::resolved::SessionSettings::default(),
            client_fs: crate::client_fs::FsSlot::default(),
            mcp: Arc::default(),
        }
    }

    /// Journals a `mode.changed` when `mode` is not the mode the session last announced,
    /// so that a client attaching later (or replaying the journal) shows the right mode.
    pub async fn announce_mode(&self, mode: Mode, reason: String) {
        if *lock(&self.mode) == mode {
            return;
        }
        if let Err(e) = self.emit(EventBody::ModeChanged { mode, reason }).await {
            tracing::warn!(session = %self.id, error = %e.message, "could not record the mode change");
        }
    }

    /// Records and publishes an event. Durable events are appended to the journal first
    /// (user messages also fsynced, I3); if that fails, nobody sees the event and its turn
    /// will end `failed` (see the module doc). Every event is cut to fit a client first.
    pub async fn emit(&self, mut body: EventBody) -> Result<Event, DaemonError> {
        let cut = limits::fit(&mut body, MAX_EVENT_BYTES);
        if cut > 0 {
            if let EventBody::UserMessage { .. } = body {
                // Cutting what a person sent would change their request: refuse it.
                return Err(DaemonError::new(
                    ErrorKind::LimitExceeded,
                    format!(
                        "the message is too long to keep in the session ({cut} bytes over the \
                         {MAX_EVENT_BYTES}-byte event limit); send a shorter one or attach the \
                         text as a file in the project"
                    ),
                ));
            }
            tracing::warn!(session = %self.id, kind = body.kind(), cut, "event too large for clients; cut");
        }
        if !body.is_durable() {
            let event = self.event(None, body);
            self.hub.publish(event.clone());
            return Ok(event);
        }
        let mut next_seq = self.next_seq.lock().await;
        let turn = body.turn_id().cloned();
        let failed_before = turn
            .as_ref()
            .and_then(|t| lock(&self.storage_failed).get(t).cloned());
        if let EventBody::TurnCompleted { status, error, .. } = &mut body {
            if let Some(message) = &failed_before {
                *status = TurnStatus::Failed;
                *error = Some(TurnError {
                    kind: ErrorKind::StorageFailed,
                    message: message.clone(),
                });
            }
        } else if let Some(message) = failed_before {
            return Err(DaemonError::new(ErrorKind::StorageFailed, message));
        }
        let sync = matches!(body, EventBody::UserMessage { .. });
        let event = self.event(Some(*next_seq), body);
        let line = serde_json::to_string(&event)
            .map_err(|e| DaemonError::internal(format!("event does not serialize: {e}")))?;
        if line.len() > MAX_EVENT_BYTES {
            // Nothing left to cut (e.g. a huge array of tiny values): never journal a line
            // that a client could not read back.
            let e = DaemonError::new(
                ErrorKind::LimitExceeded,
                format!(
                    "a {} event of {} bytes exceeds the {MAX_EVENT_BYTES}-byte event limit",
                    event.kind(),
                    line.len()
                ),
            );
            return Err(self.note_failure(turn.as_ref(), e, event));
        }
        let journal = self.journal.clone();
        let appended =
            tokio::task::spawn_blocking(move || lock(&journal).append(&line, sync).map(|()| line))
                .await;
        let line = match appended {
            Ok(Ok(line)) => line,
            Ok(Err(e)) => return Err(self.note_failure(turn.as_ref(), storage_error(&e), event)),
            Err(e) => {
                let e = DaemonError::new(
                    ErrorKind::StorageFailed,
                    format!("the journal writer of session {} failed: {e}", self.id),
                );
                return Err(self.note_failure(turn.as_ref(), e, event));
            }
        };
        *next_seq += 1;
        if let EventBody::TurnCompleted { turn_id, .. } = &event.body {
            lock(&self.storage_failed).remove(turn_id);
        }
        lock(&self.conversation).apply(&event);
        if let EventBody::ModeChanged { mode, .. } = &event.body {
            *lock(&self.mode) = *mode;
        }
        lock(&self.ledger).apply(&event.body);
        *lock(&self.updated_at) = event.time.clone();
        match RawValue::from_string(line) {
            Ok(json) => self.hub.publish_serialized(event.clone(), json),
            Err(_) => self.hub.publish(event.clone()),
        }
        Ok(event)
    }

    /// Remembers that `turn` lost an event, and when the lost event is the turn's end,
    /// still tells the live clients how it ended (without a seq: it is not in the journal).
    fn note_failure(&self, turn: Option<&TurnId>, e: DaemonError, event: Event) -> DaemonError {
        tracing::error!(session = %self.id, kind = event.kind(), error = %e.message, "event not journaled");
        let Some(turn) = turn.filter(|_| !matches!(event.body, EventBody::UserMessage { .. }))
        else {
            // A lost user message fails its `session.send`; its turn never starts.
            if let EventBody::UserMessage { .. } = event.body {
                return DaemonError::new(
                    e.kind,
                    format!(
                        "the message was not saved, so nothing was accepted: {}",
                        e.message
                    ),
                );
            }
            return e;
        };
        let first = lock(&self.storage_failed)
            .entry(turn.clone())
            .or_insert_with(|| e.message.clone())
            .clone();
        if let EventBody::TurnCompleted { .. } = &event.body {
            lock(&self.storage_failed).remove(turn);
            let body = EventBody::TurnCompleted {
                turn_id: turn.clone(),
                status: TurnStatus::Failed,
                error: Some(TurnError {
                    kind: ErrorKind::StorageFailed,
                    message: first,
                }),
            };
            self.hub.publish(self.event(None, body));
        }
        e
    }

    /// Why `turn` could not be journaled completely, if it could not. The agent loop stops
    /// a turn once this is set, rather than running tools nobody can see in the journal.
    pub fn storage_failure(&self, turn: &TurnId) -> Option<TurnError> {
        lock(&self.storage_failed)
            .get(turn)
            .map(|message| TurnError {
                kind: ErrorKind::StorageFailed,
                message: message.clone(),
            })
    }

    /// One page of history after `after_seq`: at most `limit` events and about `max_bytes`
    /// of JSON (always at least one event when there is one), so a page always fits a
    /// client's message cap.
    pub async fn history(
        &self,
        after_seq: u64,
        limit: usize,
        max_bytes: usize,
    ) -> Result<Vec<Event>, DaemonError> {
        let (dir, journal) = (self.dir.clone(), self.journal.clone());
        tokio::task::spawn_blocking(move || {
            // Inside the blocking task: the journal lock may wait behind an fsync.
            let start = lock(&journal).replay_start(after_seq);
            store::history(&dir, start, after_seq, limit, max_bytes)
        })
        .await
        .map_err(|e| DaemonError::internal(e.to_string()))?
        .map_err(|e| storage_error(&e))
    }

    /// Raw journal lines with `after < seq <= upto`, at most `limit`, read from where the
    /// seq index says they start (or from `offset`, where the previous batch ended).
    /// Returns the lines and the offset the next batch starts at.
    pub async fn replay_batch(
        &self,
        after: u64,
        upto: u64,
        offset: Option<u64>,
        limit: usize,
    ) -> Result<(Vec<(u64, String)>, u64), DaemonError> {
        let (dir, journal) = (self.dir.clone(), self.journal.clone());
        tokio::task::spawn_blocking(move || {
            let start = offset.unwrap_or_else(|| lock(&journal).replay_start(after));
            let mut lines = Vec::new();
            let next = store::replay_lines(&dir, start, after, limit, |seq, line| {
                if seq <= upto {
                    lines.push((seq, line.to_owned()));
                }
            })?;
            Ok((lines, next))
        })
        .await
        .map_err(|e| DaemonError::internal(e.to_string()))?
        .map_err(|e: StoreError| storage_error(&e))
    }

    /// Publishes an ephemeral event (never journaled), cut to fit a client.
    pub fn emit_ephemeral(&self, mut body: EventBody) {
        debug_assert!(!body.is_durable());
        limits::fit(&mut body, MAX_EVENT_BYTES);
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

    /// Saves the running reply's text so a crash keeps it (I4). Only as much as one event
    /// can hold is kept: recovery turns it into an `assistant.message`.
    pub async fn save_partial(&self, mut partial: PartialReply) {
        if partial.text.len() > MAX_EVENT_BYTES / 2 {
            partial.text = super::conversation::cap(&partial.text, MAX_EVENT_BYTES / 2);
        }
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

    /// Runs `f` on the session's cost and estimate correction (never across an await).
    pub fn with_ledger<R>(&self, f: impl FnOnce(&mut super::ledger::Ledger) -> R) -> R {
        f(&mut lock(&self.ledger))
    }

    /// Project root.
    pub fn project_path(&self) -> String {
        lock(&self.meta).project_path.clone()
    }

    /// Sets the title (metadata file first, then the event).
    pub async fn rename(&self, title: String) -> Result<(), DaemonError> {
        let t = title.clone();
        self.update_meta(move |m| m.title = Some(t)).await?;
        self.emit(EventBody::SessionRenamed { title })
            .await
            .map(|_| ())
    }

    /// The session's metadata now.
    pub fn meta(&self) -> Meta {
        lock(&self.meta).clone()
    }

    /// Changes the metadata and writes `meta.json` (not journaled: the caller emits the
    /// event that says what changed).
    pub async fn update_meta(&self, change: impl FnOnce(&mut Meta)) -> Result<Meta, DaemonError> {
        let mut meta = lock(&self.meta).clone();
        change(&mut meta);
        let dir = self.dir.clone();
        let m = meta.clone();
        tokio::task::spawn_blocking(move || m.write(&dir))
            .await
            .map_err(|e| DaemonError::internal(e.to_string()))?
            .map_err(|e| {
                DaemonError::new(
                    ErrorKind::StorageFailed,
                    format!(
                        "could not write {}/meta.json: {e}; check disk space and that the \
                         directory still exists",
                        self.dir.display()
                    ),
                )
            })?;
        *lock(&self.meta) = meta.clone();
        Ok(meta)
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
            provider: self.settings.shown_provider().or(meta.provider),
            model: self.settings.shown_model().or(meta.model),
            sandbox: self.settings.shown_sandbox(),
            cost_usd: lock(&self.ledger).cost_usd(),
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

/// A journal error as clients see it: what failed, where, and what to do.
pub fn storage_error(e: &StoreError) -> DaemonError {
    let message = match e {
        StoreError::Io { source, .. } if is_full(source) => format!(
            "{e}: the disk is full or a file-size limit was reached, so the session could not \
             be saved; free disk space (or raise the limit), then send the message again"
        ),
        StoreError::Io { .. } => format!(
            "{e}: the session could not be saved; check that the directory exists and is \
             writable, then send the message again"
        ),
        StoreError::Vanished { .. } | StoreError::Corrupt { .. } => e.to_string(),
    };
    DaemonError::new(ErrorKind::StorageFailed, message)
}

fn is_full(e: &std::io::Error) -> bool {
    matches!(
        e.kind(),
        std::io::ErrorKind::StorageFull
            | std::io::ErrorKind::FileTooLarge
            | std::io::ErrorKind::QuotaExceeded
    )
}
