//! The handle the blocking file tools use to read and write through the editor. The tools
//! run on the blocking pool, so each request blocks that thread (never an async worker) on
//! the runtime until the answer, the deadline or the turn's cancellation.

use std::path::Path;
use std::sync::Arc;

use botcoder_protocol::client_fs::ClientFsOp;
use tokio_util::sync::CancellationToken;

use super::{MAX_TEXT, Server, Unanswered};

/// A session's file server, for one tool call.
#[derive(Debug, Clone)]
pub struct Editor {
    server: Arc<Server>,
    runtime: tokio::runtime::Handle,
}

/// Why the editor did not do what was asked.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum EditorError {
    /// The editor does not serve files (any more) and nothing was asked of it: the disk
    /// stands in for it.
    #[error("the editor does not serve files")]
    Unavailable,
    /// Asked, and it failed; the message is for the model.
    #[error("{0}")]
    Failed(String),
    /// The turn was cancelled while the editor had not answered.
    #[error("cancelled")]
    Cancelled,
}

impl Editor {
    /// A handle on `server`; `None` outside a tokio runtime.
    pub(super) fn new(server: Arc<Server>) -> Option<Self> {
        let runtime = tokio::runtime::Handle::try_current().ok()?;
        Some(Editor { server, runtime })
    }

    /// Whether reads go through the editor.
    pub fn reads(&self) -> bool {
        self.server.read && !self.server.gone.is_cancelled()
    }

    /// Whether writes go through the editor.
    pub fn writes(&self) -> bool {
        self.server.write && !self.server.gone.is_cancelled()
    }

    /// Blocks this (blocking-pool) thread on one request.
    fn block(
        &self,
        op: ClientFsOp,
        cancel: &CancellationToken,
    ) -> Result<Option<String>, Unanswered> {
        self.runtime.block_on(async {
            tokio::select! {
                r = self.server.request(op) => r,
                () = cancel.cancelled() => Err(Unanswered::Cancelled),
            }
        })
    }

    /// The editor's text of `path` (absolute, checked to be inside the project). A server
    /// that went away before answering leaves the read to the disk.
    pub fn read(
        &self,
        path: &Path,
        shown: &str,
        cancel: &CancellationToken,
    ) -> Result<String, EditorError> {
        if !self.reads() {
            return Err(EditorError::Unavailable);
        }
        let op = ClientFsOp::Read {
            path: path.display().to_string(),
        };
        match self.block(op, cancel) {
            Ok(Some(text)) if text.len() > MAX_TEXT => Err(EditorError::Failed(format!(
                "the editor's text of {shown} is {} bytes; files are read through the editor up to {MAX_TEXT} bytes",
                text.len()
            ))),
            Ok(Some(text)) => Ok(text),
            Ok(None) => Err(EditorError::Failed(format!(
                "the editor answered the read of {shown} without any text"
            ))),
            Err(Unanswered::NotSent | Unanswered::Lost) => Err(EditorError::Unavailable),
            Err(Unanswered::Cancelled) => Err(EditorError::Cancelled),
            Err(Unanswered::Failed(why)) => Err(EditorError::Failed(format!(
                "cannot read {shown} through the editor: {why}"
            ))),
        }
    }

    /// Has the editor replace `path`'s text with `content`. A server that went away after
    /// the request was sent fails the write: the editor may or may not have applied it.
    pub fn write(
        &self,
        path: &Path,
        shown: &str,
        content: &str,
        cancel: &CancellationToken,
    ) -> Result<(), EditorError> {
        if !self.writes() {
            return Err(EditorError::Unavailable);
        }
        let op = ClientFsOp::Write {
            path: path.display().to_string(),
            content: content.to_owned(),
        };
        match self.block(op, cancel) {
            Ok(_) => Ok(()),
            Err(Unanswered::NotSent) => Err(EditorError::Unavailable),
            Err(Unanswered::Lost) => Err(EditorError::Failed(format!(
                "the editor disconnected before confirming the write of {shown}; it may or may not have been written: read it again before changing it"
            ))),
            Err(Unanswered::Cancelled) => Err(EditorError::Cancelled),
            Err(Unanswered::Failed(why)) => Err(EditorError::Failed(format!(
                "the editor did not write {shown}: {why}"
            ))),
        }
    }
}
