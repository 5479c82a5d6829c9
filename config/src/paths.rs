//! Where botcoder keeps things, in one place for the daemon and every client: the XDG base
//! directories as the `directories` crate reads them, and the daemon's socket.
//!
//! An XDG variable counts only when it holds an absolute path (the XDG spec says relative
//! ones are invalid); otherwise the home-relative default applies. The runtime dir has no
//! default (as in atuin): without an absolute `XDG_RUNTIME_DIR` the socket goes to a
//! per-uid directory under the system temp dir, which the daemon creates with mode 0700.
//!
//! The socket rule lives here and not in `botcoder-protocol`: the protocol crate holds
//! wire types only and cannot depend on this crate (this crate's settings use protocol
//! types), so the protocol client takes the socket path from its caller.

use std::path::PathBuf;

use directories::BaseDirs;

/// Name of the daemon's log file inside [`state_dir`].
pub const LOG_FILE: &str = "botcoderd.log";

/// The user's base directories, or `None` when no home directory can be found.
fn base() -> Option<BaseDirs> {
    BaseDirs::new()
}

/// Where everything goes when there is no home directory: `<tmp>/botcoder-<uid>`.
fn homeless(kind: &str) -> PathBuf {
    let uid = rustix::process::getuid().as_raw();
    std::env::temp_dir()
        .join(format!("botcoder-{uid}"))
        .join(kind)
}

/// `$XDG_CONFIG_HOME` (else `~/.config`): the base, for other programs' files such as the
/// systemd user units.
pub fn config_home() -> PathBuf {
    base().map_or_else(|| homeless("config"), |b| b.config_dir().to_owned())
}

/// `$XDG_CONFIG_HOME/botcoder`: `config.toml`.
pub fn config_dir() -> PathBuf {
    config_home().join("botcoder")
}

/// `$XDG_CONFIG_HOME/botcoder/config.toml`.
pub fn config_file() -> PathBuf {
    config_dir().join("config.toml")
}

/// `$XDG_DATA_HOME/botcoder` (else `~/.local/share/botcoder`): session journals and
/// snapshots.
pub fn data_dir() -> PathBuf {
    base()
        .map_or_else(|| homeless("data"), |b| b.data_dir().to_owned())
        .join("botcoder")
}

/// `$XDG_DATA_HOME/botcoder/sessions`: one directory per session.
pub fn sessions_dir() -> PathBuf {
    data_dir().join("sessions")
}

/// `$XDG_STATE_HOME/botcoder` (else `~/.local/state/botcoder`): the log.
pub fn state_dir() -> PathBuf {
    let state = base().and_then(|b| b.state_dir().map(ToOwned::to_owned));
    state.unwrap_or_else(|| homeless("state")).join("botcoder")
}

/// `$XDG_STATE_HOME/botcoder/botcoderd.log`: the daemon's log, as the daemon writes it and
/// `botcoder daemon logs` reads it.
pub fn log_file() -> PathBuf {
    state_dir().join(LOG_FILE)
}

/// `$XDG_RUNTIME_DIR`, only when it is set to an absolute path.
pub fn runtime_dir() -> Option<PathBuf> {
    base().and_then(|b| b.runtime_dir().map(ToOwned::to_owned))
}

/// The daemon's socket: `$BOTCODER_SOCKET`, else `$XDG_RUNTIME_DIR/botcoderd/botcoderd.sock`,
/// else `<tmp>/botcoderd-<uid>/botcoderd.sock`. The daemon creates missing parents with mode
/// 0700.
pub fn socket_path() -> PathBuf {
    if let Some(p) = std::env::var_os("BOTCODER_SOCKET").filter(|v| !v.is_empty()) {
        return PathBuf::from(p);
    }
    if let Some(dir) = runtime_dir() {
        return dir.join("botcoderd").join("botcoderd.sock");
    }
    let uid = rustix::process::getuid().as_raw();
    std::env::temp_dir()
        .join(format!("botcoderd-{uid}"))
        .join("botcoderd.sock")
}
