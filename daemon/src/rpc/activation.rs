//! systemd socket activation and readiness notification.
//!
//! Under `botcoderd.socket`, systemd opens the listening socket and passes it as fd 3 with
//! `LISTEN_FDS`/`LISTEN_PID`. [`inherited_listener`] must run before the async runtime (and
//! any other thread) starts, so the fd is taken over exactly once.

use std::os::fd::{FromRawFd, RawFd};
use std::os::unix::net::UnixListener;

/// The first fd systemd passes (`SD_LISTEN_FDS_START`).
const LISTEN_FDS_START: RawFd = 3;

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
    // Refuse anything that is not a socket rather than wrapping an unrelated fd.
    let is_socket = {
        // SAFETY: fd 3 is only borrowed for the duration of fstat.
        #[allow(unsafe_code)]
        let fd = unsafe { std::os::fd::BorrowedFd::borrow_raw(LISTEN_FDS_START) };
        rustix::fs::fstat(fd).map(|st| {
            rustix::fs::FileType::from_raw_mode(st.st_mode) == rustix::fs::FileType::Socket
        })
    };
    if !matches!(is_socket, Ok(true)) {
        tracing::warn!("LISTEN_FDS is set but fd 3 is not a socket; ignoring socket activation");
        return None;
    }
    // SAFETY: systemd passed fd 3 to this process (LISTEN_PID is our pid) and nothing else in
    // the process owns it: this runs once, before any other thread starts.
    #[allow(unsafe_code)]
    let listener = unsafe { UnixListener::from_raw_fd(LISTEN_FDS_START) };
    Some(listener)
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
