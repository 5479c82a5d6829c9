//! Tracing to stderr and to a file in the state directory. `BOTCODER_LOG` sets the filter
//! (default `info`). Nothing logged may contain a secret (I8): secrets are wrapped in
//! [`crate::config::Secret`], whose `Debug` is redacted, and every line passes the process's
//! [`crate::redact::Redactor`] on its way out (a provider can echo a key in an error).

use std::path::{Path, PathBuf};

use tracing_appender::non_blocking::WorkerGuard;

use crate::redact::RedactingMakeWriter;
use tracing_subscriber::EnvFilter;
use tracing_subscriber::layer::SubscriberExt;
use tracing_subscriber::util::SubscriberInitExt;

/// Name of the log file in the state directory.
pub const LOG_FILE: &str = botcoder_config::paths::LOG_FILE;

/// Size at which the log is rotated (`botcoderd.log` -> `.1` -> `.2`, two kept).
pub const ROTATE_BYTES: u64 = 10 * 1024 * 1024;

/// An append-only log file that rotates itself by size. Written from the non-blocking
/// appender's worker thread only, never from the async runtime.
#[derive(Debug)]
pub struct RotatingFile {
    path: PathBuf,
    file: std::fs::File,
    written: u64,
    limit: u64,
}

impl RotatingFile {
    /// Opens (appending) `path`, rotating when it reaches `limit` bytes.
    pub fn open(path: PathBuf, limit: u64) -> std::io::Result<RotatingFile> {
        let file = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(&path)?;
        let written = file.metadata()?.len();
        Ok(RotatingFile {
            path,
            file,
            written,
            limit,
        })
    }

    fn rotate(&mut self) -> std::io::Result<()> {
        let backup = |n: u32| {
            let mut name = self.path.clone().into_os_string();
            name.push(format!(".{n}"));
            PathBuf::from(name)
        };
        let _ = std::fs::rename(backup(1), backup(2));
        std::fs::rename(&self.path, backup(1))?;
        self.file = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(&self.path)?;
        self.written = 0;
        Ok(())
    }
}

impl std::io::Write for RotatingFile {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        if self.written + buf.len() as u64 > self.limit && self.written > 0 {
            // If rotation fails (read-only dir), keep appending rather than lose lines.
            let _ = self.rotate();
        }
        let n = self.file.write(buf)?;
        self.written += n as u64;
        Ok(n)
    }

    fn flush(&mut self) -> std::io::Result<()> {
        self.file.flush()
    }
}

/// Lets one kind of repeated warning through at most once per period, and counts the ones it
/// held back, so a flood (a full fd table, a client hammering the socket) costs the log a
/// line every few seconds instead of thousands. Cheap: one uncontended lock per event.
#[derive(Debug)]
pub struct Throttle {
    period: std::time::Duration,
    state: std::sync::Mutex<(Option<std::time::Instant>, u64)>,
}

impl Throttle {
    /// A throttle letting one line through per `period`.
    pub const fn new(period: std::time::Duration) -> Throttle {
        Throttle {
            period,
            state: std::sync::Mutex::new((None, 0)),
        }
    }

    /// `Some(suppressed)` when a line may be written now (`suppressed` lines were held back
    /// since the last one), `None` when this one should be dropped.
    pub fn check(&self) -> Option<u64> {
        let now = std::time::Instant::now();
        let mut state = self.state.lock().unwrap_or_else(|p| p.into_inner());
        match state.0 {
            Some(last) if now.duration_since(last) < self.period => {
                state.1 += 1;
                None
            }
            _ => {
                let suppressed = state.1;
                *state = (Some(now), 0);
                Some(suppressed)
            }
        }
    }
}

/// Installs the global subscriber. Keep the guard alive: dropping it flushes the file.
pub fn init(state_dir: &Path, filter: Option<&str>) -> (Option<WorkerGuard>, PathBuf) {
    let filter = filter
        .and_then(|f| EnvFilter::try_new(f).ok())
        .unwrap_or_else(|| EnvFilter::new("info"));
    let path = state_dir.join(LOG_FILE);
    let file = std::fs::create_dir_all(state_dir)
        .and_then(|()| RotatingFile::open(path.clone(), ROTATE_BYTES));
    let stderr = tracing_subscriber::fmt::layer()
        .with_writer(RedactingMakeWriter::new(std::io::stderr))
        .with_target(false);
    match file {
        Ok(f) => {
            let (writer, guard) = tracing_appender::non_blocking(f);
            let file_layer = tracing_subscriber::fmt::layer()
                .with_writer(RedactingMakeWriter::new(writer))
                .with_ansi(false)
                .with_target(false);
            let _ = tracing_subscriber::registry()
                .with(filter)
                .with(stderr)
                .with(file_layer)
                .try_init();
            (Some(guard), path)
        }
        Err(e) => {
            let _ = tracing_subscriber::registry()
                .with(filter)
                .with(stderr)
                .try_init();
            tracing::warn!(path = %path.display(), error = %e, "cannot open the log file; logging to stderr only");
            (None, path)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Write;

    #[test]
    fn a_throttle_lets_one_line_through_per_period_and_counts_the_rest() {
        let t = Throttle::new(std::time::Duration::from_millis(200));
        assert_eq!(t.check(), Some(0));
        assert_eq!((t.check(), t.check()), (None, None));
        std::thread::sleep(std::time::Duration::from_millis(250));
        assert_eq!(t.check(), Some(2));
        assert_eq!(t.check(), None);
    }

    #[test]
    fn rotates_by_size_keeping_two_backups() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("d.log");
        let mut f = RotatingFile::open(path.clone(), 100).unwrap();
        for i in 0..30 {
            writeln!(f, "line {i:03} of the log").unwrap();
        }
        f.flush().unwrap();
        let size = |p: &std::path::Path| std::fs::metadata(p).map(|m| m.len()).unwrap_or(0);
        assert!(size(&path) <= 100, "current log too big");
        assert!(size(&dir.path().join("d.log.1")) > 0);
        assert!(size(&dir.path().join("d.log.2")) > 0);
        assert!(!dir.path().join("d.log.3").exists());
        let last = std::fs::read_to_string(&path).unwrap();
        assert!(last.ends_with("line 029 of the log\n"), "{last}");
    }
}
