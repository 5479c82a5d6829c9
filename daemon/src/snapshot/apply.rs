//! Moving files back and forth between two snapshots of a turn: what undo and redo do to
//! the work tree once `session::revert` has picked the turn. Refuses, naming the files,
//! when any of them differs from what the turn left (the person edited it since), unless
//! forced.

use std::collections::BTreeSet;

use botcoder_protocol::{ErrorKind, FileChange, FileChangeStatus};

use super::shadow::Shadow;
use crate::error::DaemonError;

/// Conflicting files named in an error at most.
const NAMED_CONFLICTS: usize = 20;

/// An error of kind `conflict` (exit code 1 in the CLI) saying `message`.
pub fn conflict(message: String) -> DaemonError {
    DaemonError::new(ErrorKind::Conflict, message)
}

/// Moves the `files` that went from tree `target` to tree `expected` back to `target`:
/// restored byte for byte where they exist in `target`, removed where they do not. Stops
/// (naming them, touching nothing) when any of them now differs from `expected`, unless
/// `force`. `what` says what is being done, for the error.
pub async fn apply(
    shadow: &Shadow,
    files: &[FileChange],
    expected: &str,
    target: &str,
    force: bool,
    what: &str,
) -> Result<(), DaemonError> {
    let now = shadow.snapshot().await?;
    let touched: BTreeSet<&str> = files.iter().map(|f| f.path.as_str()).collect();
    let drifted: Vec<String> = shadow
        .changes(expected, &now)
        .await?
        .into_iter()
        .filter(|c| touched.contains(c.path.as_str()))
        .map(|c| c.path)
        .collect();
    if !drifted.is_empty() && !force {
        let named: Vec<&str> = drifted
            .iter()
            .take(NAMED_CONFLICTS)
            .map(String::as_str)
            .collect();
        let more = drifted.len().saturating_sub(NAMED_CONFLICTS);
        let more = if more > 0 {
            format!(" and {more} more")
        } else {
            String::new()
        };
        return Err(conflict(format!(
            "{what} stopped: these files changed since the turn ({}{more}); nothing was \
             touched. Save your changes elsewhere, or run it again with --force to overwrite them",
            named.join(", ")
        )));
    }
    // `files` are changes from `target` to `expected`: an added file is not in `target`.
    let (restore, remove): (Vec<&FileChange>, Vec<&FileChange>) = files
        .iter()
        .partition(|f| f.status != FileChangeStatus::Added);
    let paths = |v: Vec<&FileChange>| v.into_iter().map(|f| f.path.clone()).collect::<Vec<_>>();
    shadow.restore(target, &paths(restore)).await?;
    shadow.remove(&paths(remove)).await?;
    Ok(())
}
