//! The handlers of `session.revert`, `session.unrevert` and `session.diff`.

use botcoder_protocol::methods::{
    SessionDiffParams, SessionDiffResult, SessionRevertParams, SessionRevertResult,
};

use crate::error::DaemonError;
use crate::state::Daemon;

/// `session.revert` (`undo`) or `session.unrevert`, asked by the client labelled `by`.
pub async fn revert(
    daemon: &Daemon,
    params: SessionRevertParams,
    by: String,
    undo: bool,
) -> Result<SessionRevertResult, DaemonError> {
    let session = daemon.sessions.get(&params.session_id).await?;
    crate::session::revert::revert(&daemon.deps.snapshots, &session.core, params, by, undo).await
}

/// `session.diff`.
pub async fn diff(
    daemon: &Daemon,
    params: SessionDiffParams,
) -> Result<SessionDiffResult, DaemonError> {
    let session = daemon.sessions.get(&params.session_id).await?;
    crate::session::revert::diff(&daemon.deps.snapshots, &session.core, params).await
}
