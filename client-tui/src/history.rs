//! The input history of a project, kept across attaches and sessions: every message sent
//! from this project's TUIs, one JSON string a line under `$XDG_STATE_HOME/botcoder/
//! tui-history/` (a file per project, named by a hash of its path). Messages other clients
//! sent reach the history from the session's own events as they are replayed.

use std::io::Write;
use std::path::{Path, PathBuf};

use crate::state::input::HISTORY_CAP;

/// The history file of `project`, when a state directory is known.
pub fn path(project: &Path) -> Option<PathBuf> {
    let base = match std::env::var_os("XDG_STATE_HOME").filter(|v| !v.is_empty()) {
        Some(d) => PathBuf::from(d),
        None => PathBuf::from(std::env::var_os("HOME")?).join(".local/state"),
    };
    // FNV-1a: stable across Rust releases (unlike the std hasher).
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    for b in project.as_os_str().as_encoded_bytes() {
        h = (h ^ u64::from(*b)).wrapping_mul(0x0100_0000_01b3);
    }
    Some(
        base.join("botcoder")
            .join("tui-history")
            .join(format!("{h:016x}.jsonl")),
    )
}

/// The last [`HISTORY_CAP`] entries (blocking: call it off the runtime). A missing or
/// damaged file is an empty history.
pub fn load(file: &Path) -> Vec<String> {
    let Ok(text) = std::fs::read_to_string(file) else {
        return Vec::new();
    };
    let all: Vec<String> = text
        .lines()
        .filter_map(|l| serde_json::from_str::<String>(l).ok())
        .collect();
    let skip = all.len().saturating_sub(HISTORY_CAP);
    all.into_iter().skip(skip).collect()
}

/// Appends one entry (blocking), rewriting the file at twice the cap so it stays bounded.
pub fn append(file: &Path, entry: &str) -> std::io::Result<()> {
    if let Some(dir) = file.parent() {
        std::fs::create_dir_all(dir)?;
    }
    let line = serde_json::to_string(entry).map_err(std::io::Error::other)?;
    let mut f = std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(file)?;
    writeln!(f, "{line}")?;
    if f.metadata()?.len() > 4 * 1024 * 1024 || load_count(file) > 2 * HISTORY_CAP {
        let keep = load(file);
        let body: String = keep
            .iter()
            .filter_map(|e| serde_json::to_string(e).ok())
            .map(|l| l + "\n")
            .collect();
        std::fs::write(file, body)?;
    }
    Ok(())
}

fn load_count(file: &Path) -> usize {
    std::fs::read_to_string(file).map_or(0, |t| t.lines().count())
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used)]
    use super::*;

    #[test]
    fn history_round_trips_multi_line_entries() {
        let dir = std::env::temp_dir().join(format!("botcoder-tui-hist-{}", std::process::id()));
        let f = dir.join("h.jsonl");
        append(&f, "one").unwrap();
        append(&f, "two\nlines").unwrap();
        assert_eq!(load(&f), ["one", "two\nlines"]);
        let _ = std::fs::remove_dir_all(dir);
    }
}
