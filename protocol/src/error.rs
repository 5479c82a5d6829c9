//! Error kinds every client can rely on. The daemon maps each internal error to exactly one
//! kind; the kind string and the JSON-RPC code never change meaning.

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

/// Stable error kinds, sent as `error.data.kind` on JSON-RPC errors and as `error.kind` in
/// `turn.completed`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum ErrorKind {
    /// Parameters missing, of the wrong type, or out of range.
    InvalidParams,
    /// No session with that id (also for ids that are not well-formed).
    SessionNotFound,
    /// No turn with that id in the session.
    TurnNotFound,
    /// The client's protocol major version differs from the daemon's.
    ProtocolMismatch,
    /// The project path does not exist or is not a directory.
    InvalidProject,
    /// No LLM provider is configured; the message names the variables to set.
    ProviderNotConfigured,
    /// The provider could not be reached or kept failing after retries.
    ProviderUnavailable,
    /// The provider answered with an error that retrying will not fix.
    ProviderError,
    /// The provider kept answering 429 after retries.
    RateLimited,
    /// The provider rejected the credentials (HTTP 401/403); the message names the
    /// variable that held the key. Clients exit 77 (EX_NOPERM) on it.
    ProviderAuth,
    /// The agent loop reached its iteration limit.
    IterationLimit,
    /// A journal write failed; nothing was accepted.
    StorageFailed,
    /// The daemon is shutting down.
    ShuttingDown,
    /// The turn was cancelled.
    Cancelled,
    /// The daemon stopped while the turn ran.
    Interrupted,
    /// The caller may not do this: no `daemon.hello` yet, no approvals capability, or a
    /// connection from a process the daemon started for a tool.
    PermissionDenied,
    /// An input went past a cap (a provider reply, a tool call, a string, a connection
    /// count); the message names the cap and the setting that raises it.
    LimitExceeded,
    /// The project or session is not in the state the request needs: a file a revert would
    /// overwrite changed since the turn, or a turn is running. The message names what.
    Conflict,
    /// A bug or an unexpected condition; the message says more.
    Internal,
    /// A kind this build does not know (sent by a newer daemon). Reading one never fails, so
    /// an old client still shows the message; the daemon never sends it.
    #[serde(other)]
    Unknown,
}

impl ErrorKind {
    /// The JSON-RPC error code for this kind. Standard codes where JSON-RPC has one,
    /// otherwise the server-error range -32000..-32099.
    pub const fn code(self) -> i32 {
        match self {
            ErrorKind::InvalidParams => -32602,
            ErrorKind::Internal => -32603,
            ErrorKind::SessionNotFound => -32001,
            ErrorKind::TurnNotFound => -32002,
            ErrorKind::ProtocolMismatch => -32003,
            ErrorKind::InvalidProject => -32004,
            ErrorKind::ProviderNotConfigured => -32010,
            ErrorKind::ProviderUnavailable => -32011,
            ErrorKind::ProviderError => -32012,
            ErrorKind::RateLimited => -32013,
            ErrorKind::ProviderAuth => -32015,
            ErrorKind::IterationLimit => -32014,
            ErrorKind::StorageFailed => -32020,
            ErrorKind::ShuttingDown => -32021,
            ErrorKind::Cancelled => -32030,
            ErrorKind::Interrupted => -32031,
            ErrorKind::PermissionDenied => -32040,
            ErrorKind::LimitExceeded => -32041,
            ErrorKind::Conflict => -32042,
            ErrorKind::Unknown => -32099,
        }
    }

    /// The wire string, e.g. `session_not_found`.
    pub const fn as_str(self) -> &'static str {
        match self {
            ErrorKind::InvalidParams => "invalid_params",
            ErrorKind::SessionNotFound => "session_not_found",
            ErrorKind::TurnNotFound => "turn_not_found",
            ErrorKind::ProtocolMismatch => "protocol_mismatch",
            ErrorKind::InvalidProject => "invalid_project",
            ErrorKind::ProviderNotConfigured => "provider_not_configured",
            ErrorKind::ProviderUnavailable => "provider_unavailable",
            ErrorKind::ProviderError => "provider_error",
            ErrorKind::RateLimited => "rate_limited",
            ErrorKind::ProviderAuth => "provider_auth",
            ErrorKind::IterationLimit => "iteration_limit",
            ErrorKind::StorageFailed => "storage_failed",
            ErrorKind::ShuttingDown => "shutting_down",
            ErrorKind::Cancelled => "cancelled",
            ErrorKind::Interrupted => "interrupted",
            ErrorKind::PermissionDenied => "permission_denied",
            ErrorKind::LimitExceeded => "limit_exceeded",
            ErrorKind::Conflict => "conflict",
            ErrorKind::Internal => "internal",
            ErrorKind::Unknown => "unknown",
        }
    }
}

impl std::fmt::Display for ErrorKind {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// The `data` member of every JSON-RPC error the daemon sends.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct ErrorData {
    /// Stable kind to branch on.
    pub kind: ErrorKind,
}
