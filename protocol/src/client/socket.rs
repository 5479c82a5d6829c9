//! Where the daemon's socket lives.

use std::path::PathBuf;

/// Socket path: `$BOTCODER_SOCKET`, else `$XDG_RUNTIME_DIR/botcoderd/botcoderd.sock`, else
/// `<tmp>/botcoderd-<uid>/botcoderd.sock`. The daemon creates missing parents with mode 0700.
pub fn socket_path() -> PathBuf {
    if let Some(p) = non_empty_env("BOTCODER_SOCKET") {
        return PathBuf::from(p);
    }
    if let Some(dir) = non_empty_env("XDG_RUNTIME_DIR") {
        return PathBuf::from(dir).join("botcoderd").join("botcoderd.sock");
    }
    let uid = rustix::process::getuid().as_raw();
    std::env::temp_dir()
        .join(format!("botcoderd-{uid}"))
        .join("botcoderd.sock")
}

fn non_empty_env(name: &str) -> Option<String> {
    std::env::var(name).ok().filter(|v| !v.is_empty())
}
