//! Writing to stdout for scripts: every write is flushed at once (streaming), and a closed
//! pipe (`botcoder ask … | head -1`) is reported so the command can end quietly.

use std::io::{self, Write};

use botcoder_protocol::Event;

/// Stdout was closed by the reader.
#[derive(Debug)]
pub struct PipeClosed;

/// Flushing stdout writer.
#[derive(Debug, Default)]
pub struct Out;

impl Out {
    /// Writes text and flushes.
    pub fn text(&mut self, s: &str) -> Result<(), PipeClosed> {
        let mut stdout = io::stdout().lock();
        stdout
            .write_all(s.as_bytes())
            .and_then(|()| stdout.flush())
            .map_err(|_| PipeClosed)
    }

    /// Writes one event as a JSON line and flushes.
    pub fn json_line(&mut self, event: &Event) -> Result<(), PipeClosed> {
        let mut line = serde_json::to_string(event).map_err(|_| PipeClosed)?;
        line.push('\n');
        self.text(&line)
    }

    /// Writes any serializable value as a JSON line.
    pub fn json_value(&mut self, value: &impl serde::Serialize) -> Result<(), PipeClosed> {
        let mut line = serde_json::to_string(value).map_err(|_| PipeClosed)?;
        line.push('\n');
        self.text(&line)
    }
}

/// A status line on stderr (never fails: stderr problems are not worth dying for).
pub fn status(msg: &str) {
    let _ = writeln!(io::stderr(), "botcoder: {msg}");
}
