//! The snapshots of one turn: "before", taken lazily right before the turn's first tool
//! call that may change files, and "after", taken when the turn ends however it ends.
//! A turn that only read never costs a snapshot.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use botcoder_protocol::{FileChange, SessionId, TurnId};

use super::{Snapshots, refname};

/// Most files one `turn.changes` event lists (undo works from the snapshots, not the list).
pub const MAX_LISTED: usize = 10_000;

/// Tools that only read: no snapshot is needed before them. Every other tool (writes,
/// edits, deltas, commands, git, agent and MCP tools) may change files.
const READ_ONLY_TOOLS: &[&str] = &["read_file", "list_files", "search"];

/// Whether a call of `tool` may change the project's files.
pub fn may_change(tool: &str) -> bool {
    !READ_ONLY_TOOLS.contains(&tool)
}

#[derive(Debug)]
enum Before {
    NotYet,
    Taken(String),
    /// The snapshot could not be taken (logged once); the turn runs on without undo.
    Failed,
}

/// Per-turn snapshot handle (see the module doc).
#[derive(Debug)]
pub struct TurnSnapshot {
    store: Arc<Snapshots>,
    project: PathBuf,
    session: SessionId,
    turn: TurnId,
    before: tokio::sync::Mutex<Before>,
}

impl TurnSnapshot {
    /// A handle for `turn` of `session` in `project`; nothing is recorded yet.
    pub fn new(
        store: Arc<Snapshots>,
        project: &Path,
        session: &SessionId,
        turn: &TurnId,
    ) -> TurnSnapshot {
        TurnSnapshot {
            store,
            project: project.to_path_buf(),
            session: session.clone(),
            turn: turn.clone(),
            before: tokio::sync::Mutex::new(Before::NotYet),
        }
    }

    /// Records the project before the turn's first change; later calls do nothing.
    pub async fn before_change(&self) {
        let mut before = self.before.lock().await;
        if !matches!(*before, Before::NotYet) {
            return;
        }
        let (shadow, lock) = self.store.shadow(&self.project);
        let _held = lock.lock().await;
        let started = std::time::Instant::now();
        let taken = match shadow.snapshot().await {
            Ok(tree) => shadow
                .keep(&refname(&self.session, &self.turn, "before"), &tree)
                .await
                .map(|()| tree),
            Err(e) => Err(e),
        };
        *before = match taken {
            Ok(tree) => {
                tracing::debug!(session = %self.session, turn = %self.turn, elapsed = ?started.elapsed(), "before snapshot");
                Before::Taken(tree)
            }
            Err(e) => {
                tracing::warn!(session = %self.session, turn = %self.turn, error = %e, "no snapshot before this turn's changes; it cannot be undone");
                Before::Failed
            }
        };
    }

    /// Records the project after the turn and returns what changed since "before";
    /// `None` when no "before" was taken (the turn changed nothing, or snapshots failed).
    pub async fn finish(&self) -> Option<Vec<FileChange>> {
        let before = self.before.lock().await;
        let Before::Taken(from) = &*before else {
            return None;
        };
        let (shadow, lock) = self.store.shadow(&self.project);
        let _held = lock.lock().await;
        let result = async {
            let to = shadow.snapshot().await?;
            shadow
                .keep(&refname(&self.session, &self.turn, "after"), &to)
                .await?;
            shadow.changes(from, &to).await
        }
        .await;
        match result {
            Ok(mut files) => {
                if files.len() > MAX_LISTED {
                    tracing::warn!(session = %self.session, turn = %self.turn, files = files.len(), "turn.changes lists only the first {MAX_LISTED} files");
                    files.truncate(MAX_LISTED);
                }
                Some(files)
            }
            Err(e) => {
                tracing::warn!(session = %self.session, turn = %self.turn, error = %e, "no snapshot after this turn; it cannot be undone");
                None
            }
        }
    }
}

/// Called before a tool runs: takes the turn's "before" snapshot when `tool` may change
/// files and this is the first such call.
pub async fn before_tool(snapshot: Option<&Arc<TurnSnapshot>>, tool: &str) {
    if let Some(s) = snapshot.filter(|_| may_change(tool)) {
        s.before_change().await;
    }
}
