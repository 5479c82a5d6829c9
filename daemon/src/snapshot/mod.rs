//! Checkpoints (invariant I12): every change a turn makes, by tools and by commands alike,
//! can be taken back.
//!
//! Each project gets a shadow git repository under the daemon's data dir
//! (`<data>/snapshots/<hash of the project path>/`), driven as `git --git-dir <shadow>
//! --work-tree <project>` with the git tool's hardening. Before a turn's first changing tool
//! call the work tree is recorded ("before"), and again when the turn ends ("after"); the
//! two trees give `turn.changes`, and restoring files from them is undo and redo. The
//! user's own `.git` is never written: git only ever sees the shadow as its repository
//! (the project's `.gitignore`s and `.git/info/exclude` are read, nothing else).
//!
//! All work on one shadow is serialised by an async lock: git's index is one file, and two
//! sessions of the same project may finish turns at once.

pub mod apply;
pub mod git;
pub mod prune;
pub mod shadow;
pub mod turn;

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};

use botcoder_protocol::{ErrorKind, SessionId, TurnId};

use crate::error::DaemonError;

pub use self::shadow::Shadow;
pub use self::turn::TurnSnapshot;

/// Why a snapshot operation failed.
#[derive(Debug, thiserror::Error)]
pub enum SnapshotError {
    /// A git call failed.
    #[error("git {op} failed in the snapshot repository: {message}")]
    Git {
        /// The subcommand.
        op: String,
        /// What git said.
        message: String,
    },
    /// Reading or writing a file failed.
    #[error("snapshot file operation failed: {0}")]
    Io(#[from] std::io::Error),
    /// The shadow directory belongs to another project.
    #[error("the snapshot repository {dir} belongs to {owner}, not this project; remove it")]
    Foreign {
        /// The shadow.
        dir: PathBuf,
        /// The project it names.
        owner: String,
    },
}

impl From<SnapshotError> for DaemonError {
    fn from(e: SnapshotError) -> Self {
        DaemonError::new(ErrorKind::Internal, e.to_string())
    }
}

/// Every shadow repository of this daemon.
#[derive(Debug)]
pub struct Snapshots {
    root: PathBuf,
    locks: Mutex<HashMap<PathBuf, Arc<tokio::sync::Mutex<()>>>>,
}

impl Snapshots {
    /// Shadows kept under `root` (`<data>/snapshots`).
    pub fn new(root: PathBuf) -> Snapshots {
        Snapshots {
            root,
            locks: Mutex::default(),
        }
    }

    /// Where the shadows live.
    pub fn root(&self) -> &Path {
        &self.root
    }

    /// The shadow of `project` (an absolute, canonical path) and the lock that serialises
    /// work on it.
    pub fn shadow(&self, project: &Path) -> (Shadow, Arc<tokio::sync::Mutex<()>>) {
        let dir = self.root.join(project_key(project));
        let lock = self
            .locks
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .entry(dir.clone())
            .or_default()
            .clone();
        (Shadow::new(dir, project.to_path_buf()), lock)
    }

    /// A snapshot handle for one turn of `session` in `project`.
    pub fn turn(
        self: &Arc<Self>,
        project: &Path,
        session: &SessionId,
        turn: &TurnId,
    ) -> TurnSnapshot {
        TurnSnapshot::new(self.clone(), project, session, turn)
    }
}

/// The ref naming one of a turn's snapshots (`which`: `before` or `after`). Ids come from
/// the daemon or were checked by [`valid_id`].
pub fn refname(session: &SessionId, turn: &TurnId, which: &str) -> String {
    format!(
        "refs/botcoder/{}/{}/{which}",
        session.as_str(),
        turn.as_str()
    )
}

/// Whether `id` may appear in a ref name: what the daemon generates, `[0-9a-z-]`.
pub fn valid_id(id: &str) -> bool {
    (1..=64).contains(&id.len())
        && id
            .bytes()
            .all(|b| b.is_ascii_digit() || b.is_ascii_lowercase() || b == b'-')
}

/// A stable name for a project's shadow: FNV-1a of its path (std's hasher is not stable
/// across releases, and a directory name must be).
fn project_key(project: &Path) -> String {
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    for b in project.as_os_str().as_encoded_bytes() {
        h ^= u64::from(*b);
        h = h.wrapping_mul(0x0100_0000_01b3);
    }
    format!("{h:016x}")
}

#[cfg(test)]
mod tests;

#[cfg(test)]
mod key_tests {
    use super::*;

    #[test]
    fn keys_are_stable_and_ids_checked() {
        assert_eq!(project_key(Path::new("/a")), project_key(Path::new("/a")));
        assert_ne!(project_key(Path::new("/a")), project_key(Path::new("/b")));
        assert!(valid_id("t0196f3a2b1c4a1b2"));
        for bad in ["", "../x", "a/b", "A", "x y", "a..b.lock"] {
            assert!(!valid_id(bad), "{bad}");
        }
    }
}
