//! Tracing to stderr and to a file in the state directory. `BOTCODER_LOG` sets the filter
//! (default `info`). Nothing logged may contain a secret (I8): secrets are wrapped in
//! [`crate::config::Secret`], whose `Debug` is redacted.

use std::path::{Path, PathBuf};

use tracing_appender::non_blocking::WorkerGuard;
use tracing_subscriber::EnvFilter;
use tracing_subscriber::layer::SubscriberExt;
use tracing_subscriber::util::SubscriberInitExt;

/// Name of the log file in the state directory.
pub const LOG_FILE: &str = "botcoderd.log";

/// Installs the global subscriber. Keep the guard alive: dropping it flushes the file.
pub fn init(state_dir: &Path) -> (Option<WorkerGuard>, PathBuf) {
    let filter = EnvFilter::try_from_env("BOTCODER_LOG").unwrap_or_else(|_| EnvFilter::new("info"));
    let path = state_dir.join(LOG_FILE);
    let file = std::fs::create_dir_all(state_dir)
        .and_then(|()| std::fs::OpenOptions::new().create(true).append(true).open(&path));
    let stderr = tracing_subscriber::fmt::layer().with_writer(std::io::stderr).with_target(false);
    match file {
        Ok(f) => {
            let (writer, guard) = tracing_appender::non_blocking(f);
            let file_layer = tracing_subscriber::fmt::layer().with_writer(writer).with_ansi(false).with_target(false);
            let _ = tracing_subscriber::registry().with(filter).with(stderr).with(file_layer).try_init();
            (Some(guard), path)
        }
        Err(e) => {
            let _ = tracing_subscriber::registry().with(filter).with(stderr).try_init();
            tracing::warn!(path = %path.display(), error = %e, "cannot open the log file; logging to stderr only");
            (None, path)
        }
    }
}
