//! systemd socket activation and readiness notification.
//!
//! Under `botcoderd.socket`, systemd opens the listening socket and passes it as fd 3 with
//! `LISTEN_FDS`/`LISTEN_PID`. [`inherited_listener`] must run before the async runtime (and
//! any other thread) starts, so the fd is taken over exactly once. `listenfd` does the fd
//! handling (it checks the fd is a Unix stream socket, marks it close-on-exec and removes
//! the variables, so no child inherits them); we add the check that `LISTEN_PID` names us,
//! which `listenfd` treats as optional.

use std::os::unix::net::UnixListener;

/// Whether the environment says this process was socket-activated.
fn activated_here(listen_pid: Option<&str>, listen_fds: Option<&str>, pid: u32) -> bool {
    let for_us = listen_pid.and_then(|p| p.trim().parse::<u32>().ok()) == Some(pid);
    let count = listen_fds
        .and_then(|n| n.trim().parse::<u32>().ok())
        .unwrap_or(0);
    for_us && count >= 1
}

/// The listening socket passed by systemd, if this process was socket-activated.
pub fn inherited_listener() -> Option<UnixListener> {
    let pid = std::env::var("LISTEN_PID").ok();
    let fds = std::env::var("LISTEN_FDS").ok();
    if !activated_here(pid.as_deref(), fds.as_deref(), std::process::id()) {
        return None;
    }
    match listenfd::ListenFd::from_env().take_unix_listener(0) {
        Ok(Some(listener)) => Some(listener),
        Ok(None) => None,
        Err(e) => {
            // Refuse anything that is not a listening Unix socket rather than wrapping an
            // unrelated fd.
            tracing::warn!(error = %e, "LISTEN_FDS is set but fd 3 is not a Unix stream socket; ignoring socket activation");
            None
        }
    }
}

/// Tells systemd the daemon serves (`READY=1`); a no-op outside systemd.
pub fn notify_ready() {
    if let Err(e) = sd_notify::notify(&[sd_notify::NotifyState::Ready]) {
        tracing::warn!(error = %e, "sd_notify READY failed");
    }
}

/// Tells systemd the daemon is stopping (`STOPPING=1`); a no-op outside systemd.
pub fn notify_stopping() {
    let _ = sd_notify::notify(&[sd_notify::NotifyState::Stopping]);
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn activation_needs_our_pid_and_at_least_one_fd() {
        assert!(activated_here(Some("42"), Some("1"), 42));
        assert!(!activated_here(Some("41"), Some("1"), 42));
        assert!(!activated_here(Some("42"), Some("0"), 42));
        assert!(!activated_here(None, Some("1"), 42));
        assert!(!activated_here(Some("x"), Some("1"), 42));
    }
}
