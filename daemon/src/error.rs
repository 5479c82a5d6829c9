//! The daemon's error as clients see it: a stable kind plus a message a person can act on.
//! `rpc::error::to_rpc_error` is the one place that turns it into a JSON-RPC error. This
//! module depends on nothing else in the daemon: each module converts its own errors.

use botcoder_protocol::ErrorKind;

/// An error that reaches a client, either as a JSON-RPC error or inside `turn.completed`.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
#[error("{message}")]
pub struct DaemonError {
    /// Stable kind.
    pub kind: ErrorKind,
    /// What failed, why, and what to do.
    pub message: String,
}

impl DaemonError {
    /// An error of `kind` with `message`.
    pub fn new(kind: ErrorKind, message: impl Into<String>) -> Self {
        DaemonError {
            kind,
            message: message.into(),
        }
    }

    /// Unknown (or malformed) session id.
    pub fn session_not_found(id: &str) -> Self {
        DaemonError::new(
            ErrorKind::SessionNotFound,
            format!("no session with id {id:?}; `botcoder sessions list` shows the sessions"),
        )
    }

    /// Bad params.
    pub fn invalid_params(message: impl Into<String>) -> Self {
        DaemonError::new(ErrorKind::InvalidParams, message)
    }

    /// Something unexpected.
    pub fn internal(message: impl Into<String>) -> Self {
        DaemonError::new(ErrorKind::Internal, message)
    }
}
