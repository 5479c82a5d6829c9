//! `botcoder daemon logs [-f]`: the end of the daemon's log file, optionally followed.

use std::io::{Read, Seek, SeekFrom};
use std::path::PathBuf;
use std::time::Duration;

use crate::exit::{self, Failure};
use crate::output::Out;

/// The log file, by the rule the daemon uses (`botcoder_config::paths`).
fn log_path() -> PathBuf {
    botcoder_config::paths::log_file()
}

/// The last `n` lines of `text`.
fn tail(text: &str, n: usize) -> &str {
    let body = text.strip_suffix('\n').unwrap_or(text);
    match body.rmatch_indices('\n').nth(n.saturating_sub(1)) {
        Some((i, _)) if n > 0 => &text[i + 1..],
        _ => text,
    }
}

/// Prints the log; with `follow`, keeps printing until interrupted (exit 130).
pub async fn run(follow: bool, lines: usize) -> Result<u8, Failure> {
    let path = log_path();
    let mut file = std::fs::File::open(&path).map_err(|e| {
        Failure::new(
            exit::FAILED,
            format!(
                "no daemon log at {} ({e}); has botcoderd run yet?",
                path.display()
            ),
        )
    })?;
    let mut text = String::new();
    file.read_to_string(&mut text)
        .map_err(|e| Failure::new(exit::FAILED, format!("{}: {e}", path.display())))?;
    let mut out = Out;
    if out.text(tail(&text, lines)).is_err() || !follow {
        return Ok(exit::OK);
    }
    let mut pos = text.len() as u64;
    let ctrl_c = tokio::signal::ctrl_c();
    tokio::pin!(ctrl_c);
    loop {
        tokio::select! {
            _ = &mut ctrl_c => return Ok(exit::INTERRUPTED),
            () = tokio::time::sleep(Duration::from_millis(250)) => {}
        }
        let len = std::fs::metadata(&path).map(|m| m.len()).unwrap_or(0);
        if len < pos {
            // Rotated: start over on the new file.
            file = std::fs::File::open(&path)
                .map_err(|e| Failure::new(exit::FAILED, e.to_string()))?;
            pos = 0;
        }
        if len > pos {
            let mut chunk = String::new();
            let _ = file.seek(SeekFrom::Start(pos));
            let _ = file.read_to_string(&mut chunk);
            pos += chunk.len() as u64;
            if out.text(&chunk).is_err() {
                return Ok(exit::OK);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tail_returns_the_last_lines() {
        assert_eq!(tail("a\nb\nc\n", 2), "b\nc\n");
        assert_eq!(tail("a\nb\nc\n", 10), "a\nb\nc\n");
        assert_eq!(tail("", 3), "");
    }
}
