//! Who may talk to the daemon: only processes of the same user (SO_PEERCRED). Whether the
//! peer was started by a tool is decided later, off the accept loop ([`crate::procs`]).

/// Whether a peer with `peer_uid` may connect to a daemon running as `our_uid`.
pub fn peer_allowed(peer_uid: u32, our_uid: u32) -> bool {
    peer_uid == our_uid
}

/// Checks an accepted connection and returns the peer's pid (`None` when the kernel could
/// not name it in our PID namespace). Errors reading the credentials refuse the peer.
pub fn check(stream: &tokio::net::UnixStream) -> Result<Option<u32>, String> {
    let ours = rustix::process::getuid().as_raw();
    match stream.peer_cred() {
        Ok(cred) if peer_allowed(cred.uid(), ours) => Ok(cred
            .pid()
            .and_then(|p| u32::try_from(p).ok())
            .filter(|&p| p != 0)),
        Ok(cred) => Err(format!(
            "refused a connection from uid {} (daemon runs as uid {ours})",
            cred.uid()
        )),
        Err(e) => Err(format!(
            "refused a connection whose credentials could not be read: {e}"
        )),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_the_same_uid_is_allowed() {
        assert!(peer_allowed(1000, 1000));
        assert!(!peer_allowed(0, 1000));
        assert!(!peer_allowed(1001, 1000));
    }

    #[tokio::test]
    async fn a_same_user_connection_passes_with_its_pid() {
        let (a, _b) = tokio::net::UnixStream::pair().unwrap();
        assert_eq!(check(&a), Ok(Some(std::process::id())));
    }
}
