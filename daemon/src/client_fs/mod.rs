//! Files served by a client: when an editor bridge (`botcoder acp`) serves a session's
//! files, the file tools read the editor's buffers (unsaved changes included) and write
//! through the editor instead of the disk.
//!
//! The wire side is a subscription turned around ([`botcoder_protocol::client_fs`]): the
//! bridge subscribes `client.fs.serve` for a session, file requests go out as its
//! notifications, and it answers each with `client.fs.respond`. This module is the daemon's
//! side of that: one [`FsSlot`] per session naming the connection that serves it, the open
//! requests by id (bounded, each with a deadline), and [`Editor`], the handle the blocking
//! file tools use.
//!
//! Who may serve a session's files decides what the model believes files contain and where
//! its writes go, so it is guarded like approvals are (invariant I9): only a connection that
//! declared the `fs` capability (connections from processes started for tools get nothing
//! at all), one server per session at a time, and a session created on a connection that is
//! still open can be served only by that connection. An answer is taken only from the
//! serving connection and only for a request still open. The path checks of the file tools
//! (I6) run before anything reaches the editor; approvals run before any write is asked for.

mod editor;

use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;

use botcoder_protocol::client_fs::{
    CLIENT_FS_MAX_TIMEOUT_MS, ClientFsOp, ClientFsRequest, ClientFsRespondParams,
    ClientFsServeParams,
};
use botcoder_protocol::{ErrorKind, SessionId};
use tokio::sync::{mpsc, oneshot};
use tokio_util::sync::CancellationToken;

pub use editor::{Editor, EditorError};

use crate::error::DaemonError;

/// File requests open at once per session; more fail at once ("busy") instead of queueing.
pub const MAX_OPEN: usize = 16;
/// The shortest answer time a client may ask for (so a typo cannot fail every read).
const MIN_TIMEOUT: Duration = Duration::from_millis(100);
/// Largest text taken from the editor: the cap of the disk tools for whole-file loads
/// (`tools::local::textio::EDIT_CAP`, which a test there keeps equal; the tools use this
/// module, so it cannot name theirs).
pub const MAX_TEXT: usize = 10 * 1024 * 1024;

static NEXT_CONN: AtomicU64 = AtomicU64::new(1);
static NEXT_REQUEST: AtomicU64 = AtomicU64::new(1);

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    // Each critical section is a plain insert, remove or assignment.
    m.lock().unwrap_or_else(|p| p.into_inner())
}

/// One connection's part in serving files: its identity, whether it declared `fs`, and
/// whether it is still open.
#[derive(Debug)]
pub struct ConnFs {
    id: u64,
    declared: AtomicBool,
    ended: CancellationToken,
}

impl ConnFs {
    /// The part of a connection that ends when `ended` is cancelled.
    pub fn new(ended: CancellationToken) -> Self {
        ConnFs {
            id: NEXT_CONN.fetch_add(1, Ordering::Relaxed),
            declared: AtomicBool::new(false),
            ended,
        }
    }

    /// Records whether `daemon.hello` declared the `fs` capability.
    pub fn declare(&self, fs: bool) {
        self.declared.store(fs, Ordering::Relaxed);
    }
}

/// Which connection serves a session's files, if any (one per session).
#[derive(Debug, Default)]
pub struct FsSlot {
    state: Mutex<SlotState>,
}

#[derive(Debug, Default)]
struct SlotState {
    server: Option<Arc<Server>>,
    /// The connection that created the session, while it is open: only it may serve.
    creator: Option<(u64, CancellationToken)>,
}

/// A connection serving one session's files.
#[derive(Debug)]
pub struct Server {
    conn: u64,
    session: SessionId,
    read: bool,
    write: bool,
    timeout: Duration,
    requests: mpsc::Sender<ClientFsRequest>,
    open: Mutex<HashMap<u64, oneshot::Sender<Reply>>>,
    /// Cancelled when the subscription ends (the bridge left or unsubscribed).
    gone: CancellationToken,
}

/// A client's answer: a read's text (none for writes), or the editor's error.
type Reply = Result<Option<String>, String>;

/// Why a request did not get an answer.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Unanswered {
    /// Nothing was sent: the server was gone already (the disk is used instead).
    NotSent,
    /// Sent, but the server went away before answering.
    Lost,
    /// Failed with this message (busy, timed out, the editor's error).
    Failed(String),
    /// The turn was cancelled while waiting.
    Cancelled,
}

impl FsSlot {
    /// Reserves serving for the connection that created the session.
    pub fn note_creator(&self, conn: &ConnFs) {
        let mut s = lock(&self.state);
        if s.creator.is_none() {
            s.creator = Some((conn.id, conn.ended.clone()));
        }
    }

    /// Makes `conn` the server of `session`'s files; the receiver yields the requests to
    /// send it. Refused (permission denied) for a connection without the `fs` capability,
    /// while another open connection serves the session, and while the connection that
    /// created the session is open and is not `conn`.
    pub fn claim(
        &self,
        conn: &ConnFs,
        p: &ClientFsServeParams,
    ) -> Result<(Arc<Server>, mpsc::Receiver<ClientFsRequest>), DaemonError> {
        let refuse = |why: String| {
            Err(DaemonError::new(
                ErrorKind::PermissionDenied,
                format!(
                    "client.fs.serve refused for session {}: {why}",
                    p.session_id
                ),
            ))
        };
        if !conn.declared.load(Ordering::Relaxed) {
            return refuse(
                "this connection did not declare the \"fs\" capability in daemon.hello".into(),
            );
        }
        if !p.read && !p.write {
            return Err(DaemonError::invalid_params(
                "client.fs.serve needs read or write (or both) set to true",
            ));
        }
        let mut s = lock(&self.state);
        if let Some((creator, ended)) = &s.creator
            && *creator != conn.id
            && !ended.is_cancelled()
        {
            return refuse(
                "it was created on another connection, which is still open and alone may serve its files"
                    .into(),
            );
        }
        if let Some(current) = &s.server {
            if current.conn != conn.id && !current.gone.is_cancelled() {
                return refuse("another connection serves its files already".into());
            }
            // The same connection again (or a dead server): the new subscription replaces it.
            current.close();
        }
        let ms = p.timeout_ms.unwrap_or(CLIENT_FS_MAX_TIMEOUT_MS);
        let timeout = Duration::from_millis(ms.min(CLIENT_FS_MAX_TIMEOUT_MS)).max(MIN_TIMEOUT);
        let (tx, rx) = mpsc::channel(MAX_OPEN);
        let server = Arc::new(Server {
            conn: conn.id,
            session: p.session_id.clone(),
            read: p.read,
            write: p.write,
            timeout,
            requests: tx,
            open: Mutex::default(),
            gone: CancellationToken::new(),
        });
        s.server = Some(server.clone());
        Ok((server, rx))
    }

    /// Ends `server`'s serving (its subscription ended); open requests fail as lost.
    pub fn release(&self, server: &Arc<Server>) {
        let mut s = lock(&self.state);
        if s.server.as_ref().is_some_and(|c| Arc::ptr_eq(c, server)) {
            s.server = None;
        }
        drop(s);
        server.close();
    }

    /// Takes an answer from `conn`. Refused when `conn` does not serve this session's files
    /// or no such request is open (answered already, timed out, or never sent).
    pub fn answer(&self, conn: &ConnFs, p: ClientFsRespondParams) -> Result<(), DaemonError> {
        let server = lock(&self.state).server.clone();
        let Some(server) = server.filter(|s| s.conn == conn.id) else {
            return Err(DaemonError::new(
                ErrorKind::PermissionDenied,
                format!(
                    "client.fs.respond refused: this connection does not serve the files of session {}",
                    p.session_id
                ),
            ));
        };
        let Some(waiter) = lock(&server.open).remove(&p.request_id) else {
            return Err(DaemonError::invalid_params(format!(
                "client.fs.respond: no open file request {} (it was answered, timed out or never sent)",
                p.request_id
            )));
        };
        let answer = match (p.error, p.content) {
            (Some(e), _) => Err(e),
            (None, content) => Ok(content),
        };
        let _ = waiter.send(answer);
        Ok(())
    }

    /// The handle for this session's file tools while a connection serves its files.
    pub fn editor(&self) -> Option<Editor> {
        let server = lock(&self.state).server.clone()?;
        if server.gone.is_cancelled() {
            return None;
        }
        Editor::new(server)
    }
}

impl Server {
    /// Cancelled when this server stopped serving.
    pub fn gone(&self) -> &CancellationToken {
        &self.gone
    }

    fn close(&self) {
        self.gone.cancel();
        // Dropping the waiters tells each open request it is lost.
        lock(&self.open).clear();
    }

    /// Sends `op` and waits for its answer, at most the server's timeout.
    async fn request(&self, op: ClientFsOp) -> Result<Option<String>, Unanswered> {
        if self.gone.is_cancelled() {
            return Err(Unanswered::NotSent);
        }
        let id = NEXT_REQUEST.fetch_add(1, Ordering::Relaxed);
        let (tx, rx) = oneshot::channel();
        {
            let mut open = lock(&self.open);
            if open.len() >= MAX_OPEN {
                return Err(Unanswered::Failed(format!(
                    "the editor has {MAX_OPEN} file requests open and answers none of them; try again later"
                )));
            }
            open.insert(id, tx);
        }
        let request = ClientFsRequest {
            request_id: id,
            session_id: self.session.clone(),
            op,
        };
        let forget = || {
            lock(&self.open).remove(&id);
        };
        match self.requests.try_send(request) {
            Ok(()) => {}
            Err(mpsc::error::TrySendError::Full(_)) => {
                forget();
                return Err(Unanswered::Failed(
                    "the editor is not taking file requests (too many queued); try again later"
                        .to_owned(),
                ));
            }
            Err(mpsc::error::TrySendError::Closed(_)) => {
                forget();
                return Err(Unanswered::NotSent);
            }
        }
        match tokio::time::timeout(self.timeout, rx).await {
            Ok(Ok(Ok(content))) => Ok(content),
            Ok(Ok(Err(editor))) => Err(Unanswered::Failed(editor)),
            Ok(Err(_)) => Err(Unanswered::Lost),
            Err(_) => {
                forget();
                Err(Unanswered::Failed(format!(
                    "the editor did not answer within {:.1} s",
                    self.timeout.as_secs_f64()
                )))
            }
        }
    }
}

#[cfg(test)]
#[path = "tests.rs"]
mod tests;
