//! Writing to stdout for scripts: every write is flushed at once (streaming), and a closed
//! pipe (`botcoder ask … | head -1`) is reported so the command can end quietly.

use std::io::{self, Write};

use botcoder_protocol::Event;
pub use botcoder_tui::view::sanitize::{one_line, terminal_safe};

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

    /// Writes text meant for people: control characters that came with the data (ESC,
    /// OSC, a lone `\r`, bidi overrides) are shown escaped, never sent to the terminal.
    pub fn human(&mut self, s: &str) -> Result<(), PipeClosed> {
        self.text(&terminal_safe(s))
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
    let _ = writeln!(io::stderr(), "botcoder: {}", terminal_safe(msg));
}

/// A spinner on stderr while nothing has streamed yet; only when stderr is a terminal and
/// `NO_COLOR`/pipes are not in the way (never in pipes).
#[derive(Debug)]
pub struct Spinner {
    stop: std::sync::Arc<std::sync::atomic::AtomicBool>,
    task: tokio::task::JoinHandle<()>,
}

impl Spinner {
    /// Starts spinning, unless stderr is not a terminal.
    pub fn start() -> Option<Spinner> {
        use std::io::IsTerminal;
        if !io::stderr().is_terminal() {
            return None;
        }
        let stop = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
        let flag = stop.clone();
        let task = tokio::spawn(async move {
            const FRAMES: [&str; 8] = ["⠋", "⠙", "⠹", "⠸", "⠼", "⠴", "⠦", "⠧"];
            let mut i = 0;
            while !flag.load(std::sync::atomic::Ordering::Relaxed) {
                let _ = write!(io::stderr(), "\r{} working…", FRAMES[i % FRAMES.len()]);
                i += 1;
                tokio::time::sleep(std::time::Duration::from_millis(100)).await;
            }
        });
        Some(Spinner { stop, task })
    }

    /// Stops and clears the line.
    pub fn stop(self) {
        self.stop.store(true, std::sync::atomic::Ordering::Relaxed);
        self.task.abort();
        let _ = write!(io::stderr(), "\r\x1b[K");
    }
}
