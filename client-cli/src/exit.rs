//! Exit codes scripts can rely on, and the error that carries one.

use std::fmt;

use botcoder_protocol::ErrorKind;
use botcoder_protocol::client::ClientError;

/// The turn completed.
pub const OK: u8 = 0;
/// The turn failed.
pub const FAILED: u8 = 1;
/// Bad command line.
pub const USAGE: u8 = 2;
/// The daemon could not be reached or started.
pub const UNREACHABLE: u8 = 3;
/// No such session.
pub const NO_SESSION: u8 = 4;
/// Rate-limited, or the provider unavailable, after retries (EX_TEMPFAIL).
pub const TEMPFAIL: u8 = 75;
/// The provider rejected the key (EX_NOPERM).
pub const NOPERM: u8 = 77;
/// No provider configured, or the settings are invalid (EX_CONFIG).
pub const CONFIG: u8 = 78;
/// Interrupted (Ctrl-C).
pub const INTERRUPTED: u8 = 130;

/// An error with the exit code it maps to.
#[derive(Debug)]
pub struct Failure {
    /// Exit code.
    pub code: u8,
    /// Message for stderr; empty for none.
    pub message: String,
}

impl Failure {
    /// A failure with `code` and `message`.
    pub fn new(code: u8, message: impl Into<String>) -> Self {
        Failure {
            code,
            message: message.into(),
        }
    }
}

impl fmt::Display for Failure {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.message)
    }
}

/// The exit code for a failed turn's error kind.
pub fn for_turn_error(kind: ErrorKind) -> u8 {
    match kind {
        ErrorKind::RateLimited | ErrorKind::ProviderUnavailable => TEMPFAIL,
        ErrorKind::ProviderAuth => NOPERM,
        ErrorKind::ProviderNotConfigured => CONFIG,
        _ => FAILED,
    }
}

impl From<ClientError> for Failure {
    fn from(e: ClientError) -> Self {
        let code = match e.kind() {
            _ if e.is_unreachable() => UNREACHABLE,
            Some(ErrorKind::SessionNotFound) => NO_SESSION,
            Some(ErrorKind::InvalidParams | ErrorKind::InvalidProject) => USAGE,
            Some(ErrorKind::RateLimited | ErrorKind::ProviderUnavailable) => TEMPFAIL,
            Some(ErrorKind::ProviderAuth) => NOPERM,
            Some(ErrorKind::ProviderNotConfigured) => CONFIG,
            _ => FAILED,
        };
        Failure::new(code, e.to_string())
    }
}
