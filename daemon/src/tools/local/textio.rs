//! Bounded, cancellable reading for the file tools: what a call may read is decided from
//! `fstat` on the opened fd before reading, lines are read one at a time with a cap on what
//! is kept, and long loops ask the turn's cancel token as they go.

use std::io::{BufRead, Read};

use tokio_util::sync::CancellationToken;

use crate::tools::confine::{ConfineError, Root};

/// What a blocking file tool runs with: the project root held open, and the turn's token.
#[derive(Debug)]
pub struct Job {
    /// The project root (every open is confined to it).
    pub root: Root,
    /// Cancelled with the turn; checked between lines, files and blocks.
    pub cancel: CancellationToken,
    /// The editor serving the session's files, if one does (see `editor_io`).
    pub editor: Option<crate::client_fs::Editor>,
}

impl Job {
    /// Whether the turn was cancelled.
    pub fn cancelled(&self) -> bool {
        self.cancel.is_cancelled()
    }
}

/// Files edit_file and apply_delta load whole (and write_file diffs against).
pub const EDIT_CAP: u64 = 10 * 1024 * 1024;
/// Bytes looked at to tell binary from text.
pub const SNIFF: usize = 8192;
/// Bytes read between two looks at the cancel token.
const CHECK_BYTES: usize = 1 << 20;

/// The message of a tool that stopped because its turn was cancelled.
pub const CANCELLED: &str = "cancelled: the turn was cancelled before the tool finished";

/// Whether `head` (the start of a file) looks binary: a NUL in the first [`SNIFF`] bytes.
pub fn looks_binary(head: &[u8]) -> bool {
    head.iter().take(SNIFF).any(|&b| b == 0)
}

/// Whether `head` is UTF-8 apart from a character cut at its end.
pub fn looks_utf8(head: &[u8]) -> bool {
    match std::str::from_utf8(&head[..head.len().min(SNIFF)]) {
        Ok(_) => true,
        Err(e) => e.error_len().is_none(),
    }
}

/// Reads one line (through its `\n`, or to the end) from `r`, appending at most `cap` bytes
/// of it to `buf`; returns the bytes consumed, 0 at the end. A line of any length costs
/// memory `cap`, and the cancel token is asked every megabyte of it.
pub fn read_line_capped<R: BufRead>(
    r: &mut R,
    buf: &mut Vec<u8>,
    cap: usize,
    cancelled: &dyn Fn() -> bool,
) -> std::io::Result<usize> {
    let mut consumed = 0usize;
    let mut since_check = 0usize;
    loop {
        let chunk = match r.fill_buf() {
            Ok(c) => c,
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => continue,
            Err(e) => return Err(e),
        };
        if chunk.is_empty() {
            return Ok(consumed);
        }
        let (take, done) = match memchr::memchr(b'\n', chunk) {
            Some(i) => (i + 1, true),
            None => (chunk.len(), false),
        };
        let room = cap.saturating_sub(buf.len());
        buf.extend_from_slice(&chunk[..take.min(room)]);
        r.consume(take);
        consumed += take;
        if done {
            return Ok(consumed);
        }
        since_check += take;
        if since_check >= CHECK_BYTES {
            since_check = 0;
            if cancelled() {
                return Err(std::io::Error::other(CANCELLED));
            }
        }
    }
}

/// Counts the lines left in `r` (as `str::lines` would), reading in bounded chunks.
pub fn count_lines<R: BufRead>(r: &mut R, cancelled: &dyn Fn() -> bool) -> std::io::Result<u64> {
    let mut lines = 0u64;
    let mut last = b'\n';
    let mut since_check = 0usize;
    loop {
        let chunk = match r.fill_buf() {
            Ok(c) => c,
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => continue,
            Err(e) => return Err(e),
        };
        let Some(&end) = chunk.last() else {
            return Ok(lines + u64::from(last != b'\n'));
        };
        lines += memchr::memchr_iter(b'\n', chunk).count() as u64;
        last = end;
        let n = chunk.len();
        r.consume(n);
        since_check += n;
        if since_check >= CHECK_BYTES {
            since_check = 0;
            if cancelled() {
                return Err(std::io::Error::other(CANCELLED));
            }
        }
    }
}

/// A file's content for an edit.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Text {
    /// Nothing is there.
    Missing,
    /// The whole text.
    Text(String),
    /// There, but not loadable as text (binary, not UTF-8, or too large); says why.
    Opaque(String),
}

fn megabytes(n: u64) -> String {
    format!("{:.1} MB", n as f64 / (1024.0 * 1024.0))
}

/// Loads `shown` whole for an edit: refused beyond [`EDIT_CAP`] (judged from `fstat` before
/// reading, and by reading at most one byte more), and when it is binary or not UTF-8.
pub fn read_text(root: &Root, shown: &str) -> Result<Text, String> {
    let opened = match root.open_file(shown) {
        Ok(o) => o,
        Err(ConfineError::NotFound(_)) => return Ok(Text::Missing),
        Err(e) => return Err(e.to_string()),
    };
    let too_big = |size: u64| {
        Text::Opaque(format!(
            "{shown} is {}; edit_file and apply_delta work on files up to {} (use execute_command, e.g. sed, for bigger files)",
            megabytes(size),
            megabytes(EDIT_CAP)
        ))
    };
    if opened.size > EDIT_CAP {
        return Ok(too_big(opened.size));
    }
    let mut bytes = Vec::with_capacity(usize::try_from(opened.size).unwrap_or(0));
    opened
        .file
        .take(EDIT_CAP + 1)
        .read_to_end(&mut bytes)
        .map_err(|e| format!("cannot read {shown}: {e}"))?;
    if bytes.len() as u64 > EDIT_CAP {
        return Ok(too_big(bytes.len() as u64));
    }
    if looks_binary(&bytes) {
        return Ok(Text::Opaque(format!(
            "{shown} is a binary file; it cannot be read or edited as text"
        )));
    }
    Ok(match String::from_utf8(bytes) {
        Ok(s) => Text::Text(s),
        Err(_) => Text::Opaque(format!("{shown} is not valid UTF-8 text")),
    })
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used)]
    use super::*;

    /// The editor's file server caps texts like the disk tools do (it cannot name this cap).
    #[test]
    fn the_editor_caps_texts_like_the_disk() {
        assert_eq!(
            usize::try_from(EDIT_CAP).ok(),
            Some(crate::client_fs::MAX_TEXT)
        );
    }

    #[test]
    fn capped_lines_keep_at_most_cap_bytes_and_count_like_str_lines() {
        let never = || false;
        let data = format!("short\n{}\nlast", "x".repeat(100_000));
        let mut r = std::io::BufReader::with_capacity(4096, data.as_bytes());
        let mut buf = Vec::new();
        assert_eq!(read_line_capped(&mut r, &mut buf, 10, &never).unwrap(), 6);
        assert_eq!(buf, b"short\n");
        buf.clear();
        assert_eq!(
            read_line_capped(&mut r, &mut buf, 10, &never).unwrap(),
            100_001
        );
        assert_eq!(buf, b"xxxxxxxxxx");
        for text in ["", "a", "a\n", "a\nb", "a\n\nb\n", "\n"] {
            let mut r = std::io::BufReader::with_capacity(2, text.as_bytes());
            assert_eq!(
                count_lines(&mut r, &never).unwrap(),
                text.lines().count() as u64,
                "{text:?}"
            );
        }
        let mut r = std::io::BufReader::new(std::io::repeat(b'y').take(8 << 20));
        let err = read_line_capped(&mut r, &mut Vec::new(), 10, &|| true).unwrap_err();
        assert_eq!(err.to_string(), CANCELLED);
    }
}
