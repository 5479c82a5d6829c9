//! Sessions: event-sourced journals on disk, one actor per live session, and the registry
//! that creates, finds, lists and deletes them.

pub mod actor;
pub mod agent;
pub mod context;
pub mod conversation;
pub mod core;
pub mod hub;
pub mod limits;
pub mod prompt;
pub mod store;
pub mod subscription;
pub mod turn;

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

use botcoder_protocol::methods::{SessionInfo, SessionSendResult};
use botcoder_protocol::{
    ApprovalPolicy, ErrorKind, EventBody, SessionId, TurnError, TurnId, TurnStatus,
};
use tokio::sync::{mpsc, oneshot};

use self::actor::Command;
use self::core::{Meta, SessionCore};
use self::store::Journal;
use self::turn::TurnDeps;
use crate::clock::{is_valid_session_id, new_session_id, now_rfc3339};
use crate::error::DaemonError;

/// A live session: its shared state and its actor's mailbox.
#[derive(Debug, Clone)]
pub struct SessionHandle {
    /// Shared state.
    pub core: Arc<SessionCore>,
    tx: mpsc::Sender<Command>,
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
}

/// Every session of this daemon.
#[derive(Debug)]
pub struct Sessions {
    root: PathBuf,
    deps: Arc<TurnDeps>,
    live: tokio::sync::Mutex<HashMap<SessionId, SessionHandle>>,
    stopping: AtomicBool,
}

impl Sessions {
    /// Sessions stored under `root` (created if missing).
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
        Ok(Sessions {
            root,
            deps,
            live: Default::default(),
            stopping: AtomicBool::new(false),
        })
    }

    /// Where journals live.
    pub fn root(&self) -> &Path {
        &self.root
    }

    fn check_open(&self) -> Result<(), DaemonError> {
        if self.stopping.load(Ordering::SeqCst) {
            return Err(DaemonError::new(
                ErrorKind::ShuttingDown,
                "botcoderd is shutting down",
            ));
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
        let dir = self.root.join(id.as_str());
        let meta = Meta {
            session_id: id.clone(),
            project_path: project.to_string_lossy().into_owned(),
            title: title.clone(),
            created_at: now_rfc3339(),
            approval,
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
        let core = Arc::new(SessionCore::new(dir, meta.clone(), journal, &[], 0));
        core.emit(EventBody::SessionCreated {
            project_path: meta.project_path,
            title,
        })
        .await?;
        let handle = self.spawn(core);
        let info = handle.core.info();
        self.live.lock().await.insert(id, handle);
        Ok(info)
    }

    /// The live session `id`, loading (and recovering) it from disk when needed.
    pub async fn get(&self, id: &SessionId) -> Result<SessionHandle, DaemonError> {
        self.check_open()?;
        if !is_valid_session_id(id.as_str()) {
            return Err(DaemonError::session_not_found(id.as_str()));
        }
        let mut live = self.live.lock().await;
        if let Some(h) = live.get(id) {
            return Ok(h.clone());
        }
        let dir = self.root.join(id.as_str());
        let core = load(dir, id).await?;
        let handle = self.spawn(Arc::new(core));
        live.insert(id.clone(), handle.clone());
        Ok(handle)
    }

    fn spawn(&self, core: Arc<SessionCore>) -> SessionHandle {
        let (tx, rx) = mpsc::channel(64);
        tokio::spawn(actor::run(core.clone(), self.deps.clone(), rx));
        SessionHandle { core, tx }
    }

    /// Every session, most recently updated first, optionally only one project's.
    pub async fn list(&self, project: Option<&str>) -> Result<Vec<SessionInfo>, DaemonError> {
        let live: HashMap<SessionId, SessionInfo> = self
            .live
            .lock()
            .await
            .iter()
            .map(|(id, h)| (id.clone(), h.core.info()))
            .collect();
        let root = self.root.clone();
        let mut infos = tokio::task::spawn_blocking(move || list_on_disk(&root, live))
            .await
            .map_err(|e| DaemonError::internal(e.to_string()))?;
        if let Some(p) = project {
            let canonical = std::fs::canonicalize(p).map(|c| c.to_string_lossy().into_owned());
            infos.retain(|i| {
                i.project_path == p || canonical.as_deref().ok() == Some(i.project_path.as_str())
            });
        }
        infos.sort_by(|a, b| b.updated_at.cmp(&a.updated_at));
        Ok(infos)
    }

    /// Deletes a session: its turns are stopped, subscribers dropped, files removed.
    pub async fn delete(&self, id: &SessionId) -> Result<(), DaemonError> {
        let handle = self.get(id).await?;
        let mut live = self.live.lock().await;
        handle.stop().await;
        live.remove(id);
        let dir = handle.core.dir.clone();
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

    /// Number of sessions on disk.
    pub async fn count(&self) -> u64 {
        let root = self.root.clone();
        tokio::task::spawn_blocking(move || {
            std::fs::read_dir(root)
                .map(|rd| rd.flatten().filter(|e| e.path().is_dir()).count() as u64)
                .unwrap_or(0)
        })
        .await
        .unwrap_or(0)
    }

    /// Publishes an ephemeral event to every live session (e.g. `mode.changed`).
    pub async fn broadcast(&self, body: EventBody) {
        for handle in self.live.lock().await.values() {
            handle.core.emit_ephemeral(body.clone());
        }
    }

    /// Turns running now.
    pub async fn running_turns(&self) -> u64 {
        self.live
            .lock()
            .await
            .values()
            .filter(|h| h.core.is_running())
            .count() as u64
    }

    /// Stops every session: running and queued turns close as interrupted, journals are
    /// flushed, subscriptions end. New requests are refused from here on.
    pub async fn shutdown(&self) {
        self.stopping.store(true, Ordering::SeqCst);
        let handles: Vec<SessionHandle> = self.live.lock().await.drain().map(|(_, h)| h).collect();
        futures::future::join_all(handles.iter().map(SessionHandle::stop)).await;
    }
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
                kind: ErrorKind::Interrupted.as_str().to_owned(),
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
        });
    }
    out
}
