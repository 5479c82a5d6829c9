//! Sessions: event-sourced journals on disk, one actor per live session, and the registry
//! that creates, finds, lists and deletes them.
//!
//! The registry map is a plain `std::sync::Mutex` held only for map operations: loading a
//! journal, listing, deleting files and stopping actors all happen outside it, so one
//! session stuck on its disk or in its turn cannot stall any other session or RPC. A slot
//! that is being loaded, unloaded or deleted says so, and callers wait on that one slot.
//! A session nobody uses is unloaded after an idle time (see [`idle`]) and loaded again on
//! demand, so memory stays flat however many sessions the daemon has touched (I10).

pub mod actor;
pub mod agent;
pub mod approval;
pub mod compact;
pub mod context;
pub mod conversation;
pub mod core;
pub mod facade;
pub mod grace;
pub mod hub;
pub mod idle;
pub mod index;
pub mod ledger;
pub mod limits;
pub mod prompt;
pub mod reasoning;
pub mod resolved;
pub mod revert;
pub mod settings;
pub mod store;
pub mod subscription;
pub mod turn;
pub mod turn_types;
pub mod usage;

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, Instant};

use botcoder_protocol::methods::{SessionInfo, SessionSendResult};
use botcoder_protocol::{
    ApprovalPolicy, ErrorKind, EventBody, SessionId, TurnError, TurnId, TurnStatus,
};
use tokio::sync::{mpsc, oneshot, watch};

use self::actor::Command;
use self::core::{Meta, SessionCore};
use self::store::Journal;
use self::turn_types::TurnDeps;
use crate::clock::{is_valid_session_id, new_session_id, now_rfc3339};
use crate::error::DaemonError;

/// How long `session.delete` waits for a session's turn to stop before it answers; the
/// deletion then finishes in the background (the session is already invisible).
const DELETE_WAIT: Duration = Duration::from_secs(1);

/// How long a request waits for its session to finish loading or unloading.
const SETTLE_WAIT: Duration = Duration::from_secs(10);

/// A live session: its shared state and its actor's mailbox.
#[derive(Debug, Clone)]
pub struct SessionHandle {
    /// Shared state.
    pub core: Arc<SessionCore>,
    tx: mpsc::Sender<Command>,
    /// One count per handle in use: a session whose only handle is the registry's is not in
    /// use by any request or subscription, which is what lets [`idle`] unload it.
    lease: Arc<()>,
}

fn gone() -> DaemonError {
    DaemonError::new(
        ErrorKind::ShuttingDown,
        "the session is closing (daemon stopping or session deleted)",
    )
}

impl SessionHandle {
    /// Journals a user message and queues its turn.
    pub async fn send(
        &self,
        text: String,
        client: String,
        approval: Option<ApprovalPolicy>,
    ) -> Result<SessionSendResult, DaemonError> {
        let (reply, rx) = oneshot::channel();
        self.tx
            .send(Command::Send {
                text,
                client,
                approval,
                reply,
            })
            .await
            .map_err(|_| gone())?;
        rx.await.map_err(|_| gone())?
    }

    /// Cancels the running turn, or the given (running or queued) one.
    pub async fn cancel(&self, turn_id: Option<TurnId>) -> Result<bool, DaemonError> {
        let (reply, rx) = oneshot::channel();
        self.tx
            .send(Command::Cancel { turn_id, reply })
            .await
            .map_err(|_| gone())?;
        rx.await.map_err(|_| gone())
    }

    async fn stop(&self) {
        let (reply, rx) = oneshot::channel();
        if self.tx.send(Command::Stop { reply }).await.is_ok() {
            let _ = rx.await;
        }
        self.core.close();
    }

    /// Whether anything still needs this session in memory: a request or subscription
    /// holding a handle, a subscriber, or a running or queued turn (pending approvals
    /// belong to a running turn).
    fn in_use(&self) -> bool {
        Arc::strong_count(&self.lease) > 1
            || self.core.is_running()
            || self.core.hub.live_subscriber_count() > 0
    }
}

/// One id's place in the registry.
#[derive(Debug)]
enum Slot {
    /// In memory, with when it was last asked for or seen in use.
    Live {
        handle: SessionHandle,
        touched: Instant,
    },
    /// Being read from disk; the sender is dropped when the slot settles.
    Loading(watch::Receiver<()>),
    /// Its actor is stopping after it went idle; then the slot is removed.
    Unloading(watch::Receiver<()>),
    /// Being deleted: already invisible, the files go when its turn stops.
    Deleting,
}

/// What a registry lookup decided, acted on after the lock is released.
enum Next {
    Ready(SessionHandle),
    Wait(watch::Receiver<()>),
    Load(watch::Sender<()>),
}

/// The state shared with background work (loads, unloads, deletions, the idle sweeper).
#[derive(Debug)]
struct Inner {
    root: PathBuf,
    deps: Arc<TurnDeps>,
    slots: Mutex<HashMap<SessionId, Slot>>,
    stopping: AtomicBool,
}

impl Inner {
    fn slots(&self) -> MutexGuard<'_, HashMap<SessionId, Slot>> {
        // Every critical section is a single map operation: a panic cannot leave the map
        // half-updated, so a poisoned lock is safe to keep using.
        self.slots.lock().unwrap_or_else(|p| p.into_inner())
    }

    fn spawn(&self, core: Arc<SessionCore>) -> SessionHandle {
        let (tx, rx) = mpsc::channel(64);
        tokio::spawn(actor::run(core.clone(), self.deps.clone(), rx));
        SessionHandle {
            core,
            tx,
            lease: Arc::new(()),
        }
    }

    /// Puts a freshly loaded or created session in its slot, unless the daemon is stopping.
    fn install(&self, id: SessionId, core: SessionCore) -> Result<SessionHandle, DaemonError> {
        let mut slots = self.slots();
        if self.stopping.load(Ordering::SeqCst) {
            slots.remove(&id);
            return Err(stopping());
        }
        let handle = self.spawn(Arc::new(core));
        let touched = Instant::now();
        slots.insert(
            id,
            Slot::Live {
                handle: handle.clone(),
                touched,
            },
        );
        Ok(handle)
    }

    /// Journals the daemon's mode in a session just created or loaded when its journal says
    /// otherwise, so an attach shows the mode the session's turns will run in.
    async fn sync_mode(&self, core: &SessionCore) {
        let (mode, reason) = match &self.deps.botserver {
            Some(b) if b.mode() == botcoder_protocol::Mode::MultiAgent => (
                botcoder_protocol::Mode::MultiAgent,
                "the botserver is healthy: pipeline work and agent tools go to it",
            ),
            _ => (
                botcoder_protocol::Mode::Local,
                "botcoderd works locally: no healthy botserver takes facade work",
            ),
        };
        core.announce_mode(mode, reason.to_owned()).await;
    }

    /// Removes `id`'s slot if it is still in the state `is` says.
    fn settle(&self, id: &SessionId, is: fn(&Slot) -> bool) {
        let mut slots = self.slots();
        if slots.get(id).is_some_and(is) {
            slots.remove(id);
        }
    }
}

fn stopping() -> DaemonError {
    DaemonError::new(ErrorKind::ShuttingDown, "botcoderd is shutting down")
}

fn joined<T>(r: Result<T, tokio::task::JoinError>) -> Result<T, DaemonError> {
    r.map_err(|e| DaemonError::internal(format!("a session task failed: {e}")))
}

/// Waits until a slot in transition settles (its sender is dropped), bounded.
async fn settled(mut rx: watch::Receiver<()>, id: &SessionId) -> Result<(), DaemonError> {
    match tokio::time::timeout(SETTLE_WAIT, rx.changed()).await {
        Ok(_) => Ok(()),
        Err(_) => Err(DaemonError::new(
            ErrorKind::StorageFailed,
            format!(
                "session {id} is still being loaded or unloaded after {}s (its disk may be stuck); try again",
                SETTLE_WAIT.as_secs()
            ),
        )),
    }
}

/// Every session of this daemon.
#[derive(Debug)]
pub struct Sessions {
    inner: Arc<Inner>,
    /// Stops the idle sweeper when the daemon stops.
    sweeper: tokio_util::sync::CancellationToken,
}

impl Drop for Sessions {
    fn drop(&mut self) {
        self.sweeper.cancel();
    }
}

impl Sessions {
    /// Sessions stored under `root` (created if missing). Idle sessions are unloaded after
    /// [`idle::idle_time`] when a tokio runtime is running.
    pub fn new(root: PathBuf, deps: Arc<TurnDeps>) -> Result<Sessions, DaemonError> {
        std::fs::create_dir_all(&root).map_err(|e| {
            DaemonError::new(
                ErrorKind::StorageFailed,
                format!(
                    "cannot create the session directory {}: {e}",
                    root.display()
                ),
            )
        })?;
        let inner = Arc::new(Inner {
            root,
            deps,
            slots: Mutex::default(),
            stopping: AtomicBool::new(false),
        });
        let sweeper = tokio_util::sync::CancellationToken::new();
        if tokio::runtime::Handle::try_current().is_ok() {
            tokio::spawn(idle::sweep(
                Arc::downgrade(&inner),
                idle::idle_time(),
                sweeper.clone(),
            ));
        }
        Ok(Sessions { inner, sweeper })
    }

    /// Where journals live.
    pub fn root(&self) -> &Path {
        &self.inner.root
    }

    fn check_open(&self) -> Result<(), DaemonError> {
        if self.inner.stopping.load(Ordering::SeqCst) {
            return Err(stopping());
        }
        Ok(())
    }

    /// Creates a session for an existing project directory.
    pub async fn create(
        &self,
        project_path: &str,
        title: Option<String>,
        approval: ApprovalPolicy,
    ) -> Result<SessionInfo, DaemonError> {
        self.check_open()?;
        let project = Path::new(project_path);
        if !project.is_absolute() {
            return Err(DaemonError::new(
                ErrorKind::InvalidProject,
                format!("project_path {project_path:?} must be an absolute path"),
            ));
        }
        let project = tokio::fs::canonicalize(project)
            .await
            .ok()
            .filter(|p| p.is_dir())
            .ok_or_else(|| {
                DaemonError::new(
                    ErrorKind::InvalidProject,
                    format!("project_path {project_path:?} is not an existing directory"),
                )
            })?;
        let id = new_session_id();
        let dir = self.inner.root.join(id.as_str());
        let meta = Meta {
            session_id: id.clone(),
            project_path: project.to_string_lossy().into_owned(),
            title: title.clone(),
            created_at: now_rfc3339(),
            approval,
            provider: None,
            model: None,
            sandbox: None,
        };
        let (d, m) = (dir.clone(), meta.clone());
        let journal = tokio::task::spawn_blocking(move || {
            let journal = Journal::create(&d)?;
            m.write(&d).map_err(|source| store::StoreError::Io {
                path: d.join("meta.json"),
                source,
            })?;
            Ok::<_, store::StoreError>(journal)
        })
        .await
        .map_err(|e| DaemonError::internal(e.to_string()))??;
        let core = SessionCore::new(dir, meta.clone(), journal, &[], 0);
        core.emit(EventBody::SessionCreated {
            project_path: meta.project_path,
            title,
        })
        .await?;
        self.inner.sync_mode(&core).await;
        Ok(self.inner.install(id, core)?.core.info())
    }

    /// The live session `id`, loading (and recovering) it from disk when needed.
    pub async fn get(&self, id: &SessionId) -> Result<SessionHandle, DaemonError> {
        self.check_open()?;
        if !is_valid_session_id(id.as_str()) {
            return Err(DaemonError::session_not_found(id.as_str()));
        }
        loop {
            let next = {
                let mut slots = self.inner.slots();
                match slots.get_mut(id) {
                    Some(Slot::Live { handle, touched }) => {
                        *touched = Instant::now();
                        Next::Ready(handle.clone())
                    }
                    Some(Slot::Loading(rx) | Slot::Unloading(rx)) => Next::Wait(rx.clone()),
                    Some(Slot::Deleting) => {
                        return Err(DaemonError::session_not_found(id.as_str()));
                    }
                    None => {
                        let (tx, rx) = watch::channel(());
                        slots.insert(id.clone(), Slot::Loading(rx));
                        Next::Load(tx)
                    }
                }
            };
            match next {
                Next::Ready(handle) => return Ok(handle),
                Next::Wait(rx) => settled(rx, id).await?,
                Next::Load(tx) => {
                    // In its own task: a caller that goes away mid-load (its connection
                    // closed) must not leave the slot loading forever.
                    let (inner, id) = (self.inner.clone(), id.clone());
                    let task = tokio::spawn(async move {
                        let dir = inner.root.join(id.as_str());
                        let loaded = match load(dir, &id).await {
                            Ok(core) => {
                                inner.sync_mode(&core).await;
                                inner.install(id, core)
                            }
                            Err(e) => {
                                inner.settle(&id, |s| matches!(s, Slot::Loading(_)));
                                Err(e)
                            }
                        };
                        drop(tx);
                        loaded
                    });
                    return joined(task.await)?;
                }
            }
        }
    }

    /// What the sessions in memory have cost, where prices are known (`daemon.status`).
    pub fn cost_usd(&self) -> Option<f64> {
        let costs: Vec<f64> = self
            .live_cores()
            .iter()
            .filter_map(|c| c.with_ledger(|l| l.cost_usd()))
            .collect();
        (!costs.is_empty()).then(|| costs.iter().sum())
    }

    /// The dependencies every turn of every session shares (`session.compact` uses them).
    pub fn deps(&self) -> Arc<TurnDeps> {
        self.inner.deps.clone()
    }

    /// Every session, most recently updated first, optionally only one project's.
    pub async fn list(&self, project: Option<&str>) -> Result<Vec<SessionInfo>, DaemonError> {
        let (live, deleting): (Vec<Arc<SessionCore>>, Vec<SessionId>) = {
            let slots = self.inner.slots();
            let live = slots
                .values()
                .filter_map(|s| match s {
                    Slot::Live { handle, .. } => Some(handle.core.clone()),
                    _ => None,
                })
                .collect();
            let deleting = slots
                .iter()
                .filter(|(_, s)| matches!(s, Slot::Deleting))
                .map(|(id, _)| id.clone())
                .collect();
            (live, deleting)
        };
        let live: HashMap<SessionId, SessionInfo> =
            live.iter().map(|c| (c.id.clone(), c.info())).collect();
        let root = self.inner.root.clone();
        let mut infos = tokio::task::spawn_blocking(move || list_on_disk(&root, live))
            .await
            .map_err(|e| DaemonError::internal(e.to_string()))?;
        infos.retain(|i| !deleting.contains(&i.session_id));
        if let Some(p) = project {
            let canonical = tokio::fs::canonicalize(p)
                .await
                .map(|c| c.to_string_lossy().into_owned());
            infos.retain(|i| {
                i.project_path == p || canonical.as_deref().ok() == Some(i.project_path.as_str())
            });
        }
        infos.sort_by(|a, b| b.updated_at.cmp(&a.updated_at));
        Ok(infos)
    }

    /// Deletes a session: its turns are stopped, subscribers dropped, files removed. The
    /// session is invisible at once; when its turn does not stop within [`DELETE_WAIT`]
    /// the answer comes anyway and the files go when the turn has stopped.
    pub async fn delete(&self, id: &SessionId) -> Result<(), DaemonError> {
        self.check_open()?;
        if !is_valid_session_id(id.as_str()) {
            return Err(DaemonError::session_not_found(id.as_str()));
        }
        // Claim the slot first: from here on the session is invisible and cannot load.
        let handle = loop {
            let wait = {
                let mut slots = self.inner.slots();
                match slots.insert(id.clone(), Slot::Deleting) {
                    Some(Slot::Live { handle, .. }) => break Some(handle),
                    None => break None,
                    Some(Slot::Deleting) => {
                        return Err(DaemonError::session_not_found(id.as_str()));
                    }
                    Some(Slot::Loading(rx)) => {
                        let wait = rx.clone();
                        slots.insert(id.clone(), Slot::Loading(rx));
                        wait
                    }
                    Some(Slot::Unloading(rx)) => {
                        let wait = rx.clone();
                        slots.insert(id.clone(), Slot::Unloading(rx));
                        wait
                    }
                }
            };
            settled(wait, id).await?;
        };
        let (inner, sid) = (self.inner.clone(), id.clone());
        let task = tokio::spawn(async move {
            let result = remove(&inner, &sid, handle).await;
            inner.settle(&sid, |s| matches!(s, Slot::Deleting));
            result
        });
        match tokio::time::timeout(DELETE_WAIT, task).await {
            Ok(r) => joined(r)?,
            Err(_) => {
                tracing::warn!(session = %id, "the session's turn is slow to stop; its deletion finishes in the background");
                Ok(())
            }
        }
    }

    /// Number of sessions on disk.
    pub async fn count(&self) -> u64 {
        let root = self.inner.root.clone();
        tokio::task::spawn_blocking(move || {
            std::fs::read_dir(root)
                .map(|rd| rd.flatten().filter(|e| e.path().is_dir()).count() as u64)
                .unwrap_or(0)
        })
        .await
        .unwrap_or(0)
    }

    /// Number of sessions in memory now (the rest are unloaded and load on demand).
    pub fn loaded(&self) -> u64 {
        self.inner
            .slots()
            .values()
            .filter(|s| matches!(s, Slot::Live { .. }))
            .count() as u64
    }

    fn live_cores(&self) -> Vec<Arc<SessionCore>> {
        self.inner
            .slots()
            .values()
            .filter_map(|s| match s {
                Slot::Live { handle, .. } => Some(handle.core.clone()),
                _ => None,
            })
            .collect()
    }

    /// Journals a switch between local and multi-agent mode in every live session. A
    /// session loaded later catches up when it loads (see [`Inner::sync_mode`]).
    pub async fn announce_mode(&self, mode: botcoder_protocol::Mode, reason: String) {
        for core in self.live_cores() {
            core.announce_mode(mode, reason.clone()).await;
        }
    }

    /// Turns running now.
    pub async fn running_turns(&self) -> u64 {
        self.live_cores().iter().filter(|c| c.is_running()).count() as u64
    }

    /// Stops every session: running and queued turns close as interrupted, journals are
    /// flushed, subscriptions end. New requests are refused from here on.
    pub async fn shutdown(&self) {
        self.sweeper.cancel();
        let handles: Vec<SessionHandle> = {
            let mut slots = self.inner.slots();
            self.inner.stopping.store(true, Ordering::SeqCst);
            slots
                .drain()
                .filter_map(|(_, s)| match s {
                    Slot::Live { handle, .. } => Some(handle),
                    _ => None,
                })
                .collect()
        };
        futures::future::join_all(handles.iter().map(SessionHandle::stop)).await;
    }
}

/// Stops a session being deleted (when it is loaded) and removes its files.
async fn remove(
    inner: &Inner,
    id: &SessionId,
    handle: Option<SessionHandle>,
) -> Result<(), DaemonError> {
    let dir = inner.root.join(id.as_str());
    if let Some(handle) = handle {
        // Subscribers go first: a turn slow to stop must not keep them attached.
        handle.core.close();
        handle.stop().await;
    } else {
        let d = dir.clone();
        let exists = tokio::task::spawn_blocking(move || d.join("meta.json").is_file())
            .await
            .unwrap_or(false);
        if !exists {
            return Err(DaemonError::session_not_found(id.as_str()));
        }
    }
    tokio::task::spawn_blocking(move || std::fs::remove_dir_all(dir))
        .await
        .map_err(|e| DaemonError::internal(e.to_string()))?
        .map_err(|e| {
            DaemonError::new(
                ErrorKind::StorageFailed,
                format!("could not delete the session files: {e}"),
            )
        })
}

/// Opens a session from disk, closing turns a crash left open (I4). A missing or corrupt
/// `meta.json` is rebuilt from the journal (and written back) rather than losing the session.
async fn load(dir: PathBuf, id: &SessionId) -> Result<SessionCore, DaemonError> {
    let d = dir.clone();
    let opened = tokio::task::spawn_blocking(move || {
        if !store::exists(&d) {
            return Ok(None);
        }
        let (journal, loaded) = Journal::open(&d)?;
        let meta = match Meta::read(&d) {
            Some(meta) => Some(meta),
            None => {
                let meta = Meta::rebuild(&d, &loaded.events);
                if let Some(m) = &meta {
                    tracing::warn!(dir = %d.display(), "meta.json is missing or corrupt; rebuilt from the journal");
                    if let Err(e) = m.write(&d) {
                        tracing::warn!(dir = %d.display(), error = %e, "could not write the rebuilt meta.json");
                    }
                }
                meta
            }
        };
        Ok::<_, store::StoreError>(Some((meta, journal, loaded)))
    })
    .await
    .map_err(|e| DaemonError::internal(e.to_string()))?
    .map_err(|e| self::core::storage_error(&e))?;
    let Some((meta, journal, loaded)) = opened else {
        return Err(DaemonError::session_not_found(id.as_str()));
    };
    let meta = meta.ok_or_else(|| {
        DaemonError::new(
            ErrorKind::StorageFailed,
            format!(
                "{}/meta.json is missing or unreadable and the journal does not say which \
                 project the session belongs to; remove the directory to drop the session",
                dir.display()
            ),
        )
    })?;
    let open_turns = open_turns(&loaded.events);
    let core = SessionCore::new(dir, meta, journal, &loaded.events, loaded.last_seq);
    if !open_turns.is_empty() {
        let partial = core.saved_partial();
        for (turn_id, started) in open_turns {
            if let Some(p) = partial
                .as_ref()
                .filter(|p| p.turn_id == turn_id && !p.text.is_empty())
            {
                let msg = EventBody::AssistantMessage {
                    turn_id: turn_id.clone(),
                    text: p.text.clone(),
                    partial: true,
                };
                core.emit(msg).await?;
            }
            let message = if started {
                "botcoderd stopped while this turn ran; send the message again to retry"
            } else {
                "botcoderd stopped before this turn ran; send the message again to run it"
            };
            let error = Some(TurnError {
                kind: ErrorKind::Interrupted,
                message: message.to_owned(),
            });
            core.emit(EventBody::TurnCompleted {
                turn_id,
                status: TurnStatus::Interrupted,
                error,
            })
            .await?;
        }
        tracing::info!(session = %id, "closed turns interrupted by a daemon stop");
    }
    core.clear_partial().await;
    Ok(core)
}

/// Turns with a `user.message` but no `turn.completed`, in order, and whether each started.
fn open_turns(events: &[botcoder_protocol::Event]) -> Vec<(TurnId, bool)> {
    let mut open: Vec<(TurnId, bool)> = Vec::new();
    for e in events {
        match &e.body {
            EventBody::UserMessage { turn_id, .. } => open.push((turn_id.clone(), false)),
            EventBody::TurnStarted { turn_id, .. } => {
                if let Some(t) = open.iter_mut().find(|(t, _)| t == turn_id) {
                    t.1 = true;
                }
            }
            EventBody::TurnCompleted { turn_id, .. } => open.retain(|(t, _)| t != turn_id),
            _ => {}
        }
    }
    open
}

fn list_on_disk(root: &Path, mut live: HashMap<SessionId, SessionInfo>) -> Vec<SessionInfo> {
    let Ok(entries) = std::fs::read_dir(root) else {
        return Vec::new();
    };
    let mut out = Vec::new();
    for entry in entries.flatten() {
        let dir = entry.path();
        let Some(meta) = Meta::read_or_rebuild(&dir) else {
            continue;
        };
        if let Some(info) = live.remove(&meta.session_id) {
            out.push(info);
            continue;
        }
        let (last_seq, updated_at) = store::tail(&dir).unwrap_or((0, meta.created_at.clone()));
        out.push(SessionInfo {
            session_id: meta.session_id,
            title: meta.title,
            project_path: meta.project_path,
            created_at: meta.created_at,
            updated_at,
            last_seq,
            running_turn: None,
            queued_turns: 0,
            approval: meta.approval,
            provider: meta.provider,
            model: meta.model,
            sandbox: meta.sandbox,
            cost_usd: None,
        });
    }
    out
}
