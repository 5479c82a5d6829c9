//! One connection's life after accept: who the peer is, the handshake deadlines, and the
//! close when the daemon stops, the gate evicts it, or it never says hello.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use jsonrpsee::server::{ServerHandle, StopHandle, stop_channel};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::UnixStream;
use tokio_util::sync::CancellationToken;

use super::gate::{Full, Slot};
use super::methods::Peer;
use super::warn_throttled;
use crate::logging::Throttle;
use crate::procs::{self, Lineage};

/// The WebSocket upgrade must be complete this long after accept.
pub const HANDSHAKE_TIMEOUT: Duration = Duration::from_secs(5);
/// `daemon.hello` must have succeeded this long after accept.
pub const HELLO_TIMEOUT: Duration = Duration::from_secs(10);
/// Refusals ("503, too many connections") being written at once; beyond it a refused
/// connection is just closed, so refusing never costs more than a few descriptors.
pub const MAX_REFUSALS: usize = 16;

static REFUSED_TOOL: Throttle = Throttle::new(super::WARN_EVERY);
static PEER_GONE: Throttle = Throttle::new(super::WARN_EVERY);
static NO_HANDSHAKE: Throttle = Throttle::new(super::WARN_EVERY);
static NO_HELLO: Throttle = Throttle::new(super::WARN_EVERY);

/// Whether the peer came from a tool (`Some(true)`), or not (`Some(false)`); `None` when the
/// connection must be dropped unserved. Walks `/proc` off the async workers.
pub async fn classify(pid: Option<u32>) -> Option<bool> {
    let Some(pid) = pid else {
        // The kernel could not name the peer in our PID namespace: it lives in an ancestor
        // or unrelated one, so it is no descendant of ours.
        return Some(false);
    };
    let lineage = tokio::task::spawn_blocking(move || procs::lineage(pid))
        .await
        .unwrap_or(Lineage::Gone);
    match lineage {
        Lineage::Outside => Some(false),
        Lineage::Tool => {
            warn_throttled!(
                REFUSED_TOOL,
                pid,
                "refused a connection from a process started for a tool: every method answers permission_denied"
            );
            Some(true)
        }
        Lineage::Gone => {
            warn_throttled!(
                PEER_GONE,
                pid,
                "dropped a connection whose process exited before it could be checked"
            );
            None
        }
    }
}

/// The per-connection controls the serving code needs besides the method table.
#[derive(Debug)]
pub struct Controls {
    /// Set by `daemon.hello`.
    pub greeted: Arc<AtomicBool>,
    /// The stop handle the connection's WebSocket task watches.
    pub conn_stop: StopHandle,
    conn_handle: ServerHandle,
    ended: CancellationToken,
    evicted: CancellationToken,
    accepted: tokio::time::Instant,
}

/// The peer description for the method table, and the controls that go with it.
pub fn prepare(pid: Option<u32>, from_tool: bool, slot: Slot) -> (Peer, Controls) {
    let ended = CancellationToken::new();
    let evicted = slot.evicted();
    let (conn_stop, conn_handle) = stop_channel();
    let peer = Peer {
        pid,
        from_tool,
        slot: Some(slot),
        ended: ended.clone(),
    };
    let controls = Controls {
        greeted: Arc::new(AtomicBool::new(false)),
        conn_stop,
        conn_handle,
        ended,
        evicted,
        accepted: tokio::time::Instant::now(),
    };
    (peer, controls)
}

impl Controls {
    /// Resolves when the HTTP phase of the connection should wind down: the daemon stops,
    /// or the gate evicted the connection.
    pub fn closing(&self, daemon_stop: &StopHandle) -> impl Future<Output = ()> + use<> {
        let stopped = daemon_stop.clone().shutdown();
        let evicted = self.evicted.clone();
        async move {
            tokio::select! {
                () = stopped => {}
                () = evicted.cancelled() => {}
            }
        }
    }

    /// After the HTTP phase (`upgrade` is its outcome, `Err` when it ran out of time): keeps
    /// watching the connection until it ends, and stops it when the daemon stops, the gate
    /// evicts it, or no hello came in time.
    pub async fn watch<E: std::fmt::Display>(
        self,
        upgrade: Result<Result<(), E>, tokio::time::error::Elapsed>,
        daemon_stop: StopHandle,
    ) {
        match upgrade {
            Err(_) => {
                // Dropping the HTTP phase closed the socket.
                warn_throttled!(
                    NO_HANDSHAKE,
                    "closed a connection that did not complete the WebSocket handshake within {} s",
                    HANDSHAKE_TIMEOUT.as_secs()
                );
                return;
            }
            Ok(Err(e)) => tracing::debug!(error = %e, "connection ended with an error"),
            Ok(Ok(())) => {}
        }
        let hello_deadline = tokio::time::sleep_until(self.accepted + HELLO_TIMEOUT);
        tokio::pin!(hello_deadline);
        let mut deadline_passed = false;
        let stopped = daemon_stop.shutdown();
        tokio::pin!(stopped);
        loop {
            tokio::select! {
                () = self.ended.cancelled() => return,
                () = &mut stopped => break,
                () = self.evicted.cancelled() => break,
                () = &mut hello_deadline, if !deadline_passed => {
                    deadline_passed = true;
                    if !self.greeted.load(Ordering::Acquire) {
                        warn_throttled!(
                            NO_HELLO,
                            "closed a connection that did not call daemon.hello within {} s",
                            HELLO_TIMEOUT.as_secs()
                        );
                        break;
                    }
                }
            }
        }
        let _ = self.conn_handle.stop();
    }
}

/// Answers a connection the gate refused with `503` and the reason, when few refusals are
/// in flight; otherwise just closes it.
pub fn refuse_busy(stream: UnixStream, refusals: &Arc<tokio::sync::Semaphore>, full: Full) {
    let Ok(permit) = refusals.clone().try_acquire_owned() else {
        return;
    };
    tokio::spawn(async move {
        let _permit = permit;
        let mut stream = stream;
        // Read the request head first: closing with unread input would reset the answer
        // away before the client reads it.
        let mut head = Vec::new();
        let mut buf = [0u8; 1024];
        let _ = tokio::time::timeout(Duration::from_secs(1), async {
            while head.len() < 16 * 1024 {
                match stream.read(&mut buf).await {
                    Ok(0) | Err(_) => break,
                    Ok(n) => head.extend_from_slice(&buf[..n]),
                }
                if head.windows(4).any(|w| w == b"\r\n\r\n") {
                    break;
                }
            }
        })
        .await;
        let body = format!("{full}\n");
        let answer = format!(
            "HTTP/1.1 503 Service Unavailable\r\nContent-Type: text/plain; charset=utf-8\r\nContent-Length: {}\r\nRetry-After: 1\r\nConnection: close\r\n\r\n{body}",
            body.len()
        );
        let _ = tokio::time::timeout(Duration::from_secs(1), async {
            let _ = stream.write_all(answer.as_bytes()).await;
            let _ = stream.shutdown().await;
        })
        .await;
    });
}
