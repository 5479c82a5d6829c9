//! Undo and redo of one turn's changes, and the diff of a turn or a whole session: session
//! operations (they read the journal and emit events) over the snapshots of `crate::snapshot`.
//!
//! Which turns changed files, and which are reverted now, is read from the session's
//! journal (`turn.changes`, `turn.reverted`, `turn.unreverted`); what to restore is read
//! from the turn's two snapshots, so a long file list cut in the event loses nothing. A
//! revert refuses, naming the files, when any file it would touch differs from what the
//! turn left (the person edited it since), unless forced.

use std::collections::BTreeSet;

use botcoder_protocol::methods::{
    SessionDiffParams, SessionDiffResult, SessionRevertParams, SessionRevertResult,
};
use botcoder_protocol::{ErrorKind, EventBody, FileChange, TurnId};

use super::core::SessionCore;
use super::limits::MAX_PAGE_BYTES;
use crate::error::DaemonError;
use crate::snapshot::apply::{apply, conflict};
use crate::snapshot::shadow::Shadow;
use crate::snapshot::turn::MAX_LISTED;
use crate::snapshot::{Snapshots, refname, valid_id};

/// One turn that changed files, as the journal tells it.
#[derive(Debug, Clone)]
struct ChangedTurn {
    turn_id: TurnId,
    files: Vec<FileChange>,
    /// Seq of the `turn.reverted` in force, when the turn is reverted now.
    reverted_at: Option<u64>,
}

/// The turns of the session that changed files, oldest first.
async fn changed_turns(core: &SessionCore) -> Result<Vec<ChangedTurn>, DaemonError> {
    let mut turns: Vec<ChangedTurn> = Vec::new();
    let mut after = 0;
    loop {
        let page = core.history(after, 10_000, MAX_PAGE_BYTES).await?;
        let Some(last) = page.last().and_then(|e| e.seq) else {
            break;
        };
        after = last;
        for e in page {
            let seq = e.seq.unwrap_or_default();
            match e.body {
                EventBody::TurnChanges { turn_id, files } if !files.is_empty() => {
                    turns.push(ChangedTurn {
                        turn_id,
                        files,
                        reverted_at: None,
                    });
                }
                EventBody::TurnReverted { turn_id, .. } => {
                    if let Some(t) = turns.iter_mut().find(|t| t.turn_id == turn_id) {
                        t.reverted_at = Some(seq);
                    }
                }
                EventBody::TurnUnreverted { turn_id, .. } => {
                    if let Some(t) = turns.iter_mut().find(|t| t.turn_id == turn_id) {
                        t.reverted_at = None;
                    }
                }
                _ => {}
            }
        }
    }
    Ok(turns)
}

/// Picks the turn to revert (`undo`) or restore: the one named, else the latest that
/// changed files and is not reverted (undo) or the most recently reverted (redo).
fn pick(
    turns: &[ChangedTurn],
    wanted: Option<&TurnId>,
    undo: bool,
    session: &str,
) -> Result<ChangedTurn, DaemonError> {
    let verb = if undo { "undo" } else { "redo" };
    let Some(id) = wanted else {
        let found = if undo {
            turns.iter().rev().find(|t| t.reverted_at.is_none())
        } else {
            turns
                .iter()
                .filter(|t| t.reverted_at.is_some())
                .max_by_key(|t| t.reverted_at)
        };
        return found.cloned().ok_or_else(|| {
            let what = if undo {
                "no turn of this session changed files that are not already reverted"
            } else {
                "no turn of this session is reverted"
            };
            DaemonError::new(
                ErrorKind::TurnNotFound,
                format!("nothing to {verb}: {what} (session {session})"),
            )
        });
    };
    if !valid_id(id.as_str()) {
        return Err(DaemonError::invalid_params(format!(
            "{id:?} is not a turn id"
        )));
    }
    let turn = turns.iter().find(|t| &t.turn_id == id).ok_or_else(|| {
        DaemonError::new(
            ErrorKind::TurnNotFound,
            format!("turn {id} of session {session} changed no files (or does not exist); `botcoder diff` shows what the session changed"),
        )
    })?;
    match (undo, turn.reverted_at.is_some()) {
        (true, true) => Err(conflict(format!(
            "turn {id} is already reverted; `botcoder redo --turn {id}` puts its changes back"
        ))),
        (false, false) => Err(conflict(format!(
            "turn {id} is not reverted, so there is nothing to redo"
        ))),
        _ => Ok(turn.clone()),
    }
}

/// The trees of a turn's two snapshots.
async fn trees(
    shadow: &Shadow,
    core: &SessionCore,
    turn: &TurnId,
) -> Result<(String, String), DaemonError> {
    let b = shadow.tree_of(&refname(&core.id, turn, "before")).await?;
    let a = shadow.tree_of(&refname(&core.id, turn, "after")).await?;
    match (b, a) {
        (Some(b), Some(a)) => Ok((b, a)),
        _ => Err(DaemonError::new(
            ErrorKind::TurnNotFound,
            format!(
                "the snapshots of turn {turn} are gone (pruned after their age limit, or the \
                 snapshot directory {} was removed), so it cannot be undone or diffed",
                shadow.dir().display()
            ),
        )),
    }
}

/// `session.revert` (`undo`) and `session.unrevert`.
pub async fn revert(
    store: &Snapshots,
    core: &SessionCore,
    params: SessionRevertParams,
    by: String,
    undo: bool,
) -> Result<SessionRevertResult, DaemonError> {
    if core.is_running() {
        return Err(conflict(
            "a turn is running in this session; wait for it to end or cancel it (`turn.cancel`), then try again".to_owned(),
        ));
    }
    let project = std::path::PathBuf::from(core.project_path());
    let (shadow, lock) = store.shadow(&project);
    // Held to the end: a second revert of the same turn sees this one's event.
    let _held = lock.lock().await;
    let turns = changed_turns(core).await?;
    let turn = pick(&turns, params.turn_id.as_ref(), undo, core.id.as_str())?;
    let (before, after) = trees(&shadow, core, &turn.turn_id).await?;
    let files = shadow.changes(&before, &after).await?;
    let (expected, target) = if undo {
        (&after, &before)
    } else {
        (&before, &after)
    };
    let verb = if undo { "undo" } else { "redo" };
    let what = format!("{verb} of turn {}", turn.turn_id);
    // What to move: the changes from `target` to `expected` (the turn's, or their reverse).
    let moves = if undo {
        files.clone()
    } else {
        shadow.changes(target, expected).await?
    };
    apply(&shadow, &moves, expected, target, params.force, &what).await?;
    let mut listed = files.clone();
    listed.truncate(MAX_LISTED);
    let body = if undo {
        EventBody::TurnReverted {
            turn_id: turn.turn_id.clone(),
            files: listed,
            by,
        }
    } else {
        EventBody::TurnUnreverted {
            turn_id: turn.turn_id.clone(),
            files: listed,
            by,
        }
    };
    core.emit(body).await?;
    Ok(SessionRevertResult {
        turn_id: turn.turn_id,
        files,
    })
}

/// `session.diff`: one turn's changes (its two snapshots), or the session's: from before
/// its first change to the project now, limited to the files its turns that are not
/// reverted changed.
pub async fn diff(
    store: &Snapshots,
    core: &SessionCore,
    params: SessionDiffParams,
) -> Result<SessionDiffResult, DaemonError> {
    let project = std::path::PathBuf::from(core.project_path());
    let (shadow, lock) = store.shadow(&project);
    let _held = lock.lock().await;
    let turns = changed_turns(core).await?;
    let (diff, files) = if let Some(id) = &params.turn_id {
        if !valid_id(id.as_str()) {
            return Err(DaemonError::invalid_params(format!(
                "{id:?} is not a turn id"
            )));
        }
        let (before, after) = trees(&shadow, core, id).await?;
        let files = shadow.changes(&before, &after).await?;
        (shadow.patch(&before, &after, None).await?, files)
    } else {
        let live: Vec<&ChangedTurn> = turns.iter().filter(|t| t.reverted_at.is_none()).collect();
        let Some(first) = live.first() else {
            return Ok(SessionDiffResult {
                diff: String::new(),
                files: Vec::new(),
            });
        };
        let paths: BTreeSet<String> = live
            .iter()
            .flat_map(|t| t.files.iter().map(|f| f.path.clone()))
            .collect();
        let (before, _) = trees(&shadow, core, &first.turn_id).await?;
        let now = shadow.snapshot().await?;
        let files: Vec<FileChange> = shadow
            .changes(&before, &now)
            .await?
            .into_iter()
            .filter(|f| paths.contains(&f.path))
            .collect();
        let paths: Vec<String> = files.iter().map(|f| f.path.clone()).collect();
        let diff = if paths.is_empty() {
            String::new()
        } else {
            shadow.patch(&before, &now, Some(&paths)).await?
        };
        (diff, files)
    };
    Ok(SessionDiffResult {
        diff: cap_diff(diff),
        files,
    })
}

/// A diff too long for one answer is cut at a line, and says so.
fn cap_diff(mut diff: String) -> String {
    let max = MAX_PAGE_BYTES;
    if diff.len() <= max {
        return diff;
    }
    let mut end = max;
    while !diff.is_char_boundary(end) {
        end -= 1;
    }
    let end = diff[..end].rfind('\n').map_or(end, |i| i + 1);
    let cut = diff.len() - end;
    diff.truncate(end);
    diff.push_str(&format!(
        "[botcoder: diff cut here, {cut} more bytes; ask for one turn with --turn]\n"
    ));
    diff
}
