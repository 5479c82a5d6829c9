//! Starting `botcoderd` when nothing answers on the socket.
//!
//! The daemon is spawned detached (`--detach`: it calls `setsid`) with stdio on /dev/null; it
//! logs to its own file. Two clients racing here end with one daemon: the daemon holds an
//! exclusive lock beside the socket and a second one exits at once, while both clients keep
//! polling the socket until the winner answers.

use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::time::{Duration, Instant};

/// How long a client waits for an autostarted daemon.
const START_TIMEOUT: Duration = Duration::from_secs(5);

/// Why the daemon could not be started.
#[derive(Debug, thiserror::Error)]
pub enum AutostartError {
    /// The executable could not be run.
    #[error("could not start {exe}: {source} (install botcoderd next to botcoder or on PATH)")]
    Spawn {
        /// The executable tried.
        exe: PathBuf,
        /// OS error.
        source: std::io::Error,
    },
    /// It ran but never answered.
    #[error(
        "started {exe} but nothing answered on {socket} within {secs} s{exit}; \
         run `botcoderd` in a terminal to see why",
        secs = START_TIMEOUT.as_secs()
    )]
    NoAnswer {
        /// The executable.
        exe: PathBuf,
        /// The socket waited on.
        socket: PathBuf,
        /// How the process ended, if it did.
        exit: String,
    },
}

/// The daemon executable: `botcoderd` beside the running executable, else from PATH.
pub fn daemon_executable() -> PathBuf {
    std::env::current_exe()
        .ok()
        .and_then(|exe| exe.parent().map(|dir| dir.join("botcoderd")))
        .filter(|p| p.is_file())
        .unwrap_or_else(|| PathBuf::from("botcoderd"))
}

/// Spawns the daemon for `socket` and waits until the socket accepts connections.
pub(super) async fn start_daemon(socket: &Path) -> Result<(), AutostartError> {
    let exe = daemon_executable();
    let mut child = tokio::process::Command::new(&exe)
        .arg("--detach")
        .env("BOTCODER_SOCKET", socket)
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .kill_on_drop(false)
        .spawn()
        .map_err(|source| AutostartError::Spawn {
            exe: exe.clone(),
            source,
        })?;
    let deadline = Instant::now() + START_TIMEOUT;
    let mut exit = String::new();
    while Instant::now() < deadline {
        if tokio::net::UnixStream::connect(socket).await.is_ok() {
            return Ok(());
        }
        // A daemon that lost the start race exits 0 while the winner comes up: keep polling.
        if exit.is_empty()
            && let Ok(Some(status)) = child.try_wait()
            && !status.success()
        {
            exit = format!(" (it exited with {status})");
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    Err(AutostartError::NoAnswer {
        exe,
        socket: socket.to_owned(),
        exit,
    })
}
