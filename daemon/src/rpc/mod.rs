//! JSON-RPC 2.0 over WebSocket framing over the Unix socket: accepting connections,
//! checking the peer's uid, and serving each connection with its own method table.
//!
//! Connections are bounded (invariant I10): a slot budget below the descriptor limit
//! ([`gate`]), a WebSocket handshake within [`connection::HANDSHAKE_TIMEOUT`], a
//! `daemon.hello` within [`connection::HELLO_TIMEOUT`], and warnings about any of it
//! rate-limited so a flood cannot flood the log too.

pub mod activation;
pub mod auth;
mod connection;
pub mod error;
pub mod gate;
pub mod limits;
pub mod listener;
pub mod methods;
pub mod settings;
mod undo;

use std::sync::Arc;
use std::time::Duration;

use botcoder_protocol::MAX_MESSAGE_BYTES;
use jsonrpsee::server::{Server, ServerConfig, StopHandle, serve_with_graceful_shutdown};
use tokio::net::UnixListener;

use crate::hardening::{FdLimits, connection_cap};
use crate::logging::Throttle;
use crate::state::Daemon;

/// Messages queued per connection before the daemon stops reading from that client
/// (backpressure for a client that does not read its notifications).
const MESSAGE_BUFFER: u32 = 4096;

/// How often each kind of connection warning may reach the log.
const WARN_EVERY: Duration = Duration::from_secs(5);

static ACCEPT_FAILED: Throttle = Throttle::new(WARN_EVERY);
static REFUSED_PEER: Throttle = Throttle::new(WARN_EVERY);
static REFUSED_FULL: Throttle = Throttle::new(WARN_EVERY);
static EVICTED: Throttle = Throttle::new(WARN_EVERY);

/// A warning that reaches the log at most once per [`WARN_EVERY`], with the number of
/// identical ones held back since the last.
macro_rules! warn_throttled {
    ($throttle:expr, $($arg:tt)+) => {
        if let Some(suppressed) = $throttle.check() {
            if suppressed == 0 {
                tracing::warn!($($arg)+);
            } else {
                tracing::warn!(suppressed, $($arg)+);
            }
        }
    };
}
pub(crate) use warn_throttled;

/// Accepts connections until `stop` fires.
pub async fn serve(listener: UnixListener, daemon: Arc<Daemon>, stop: StopHandle) {
    let config = ServerConfig::builder()
        .ws_only()
        .max_request_body_size(MAX_MESSAGE_BYTES)
        .max_response_body_size(MAX_MESSAGE_BYTES)
        // The gate below is the real limit; this one only has to stay out of its way.
        .max_connections(u32::MAX)
        .max_subscriptions_per_connection(1024)
        .set_message_buffer_capacity(MESSAGE_BUFFER)
        .build();
    let builder = Server::builder().set_config(config).to_service_builder();
    let nofile = rustix::process::getrlimit(rustix::process::Resource::Nofile)
        .current
        .unwrap_or(u64::MAX);
    let cap = connection_cap(FdLimits {
        original: nofile,
        current: nofile,
    });
    tracing::debug!(max_connections = cap, "connection limit");
    let gate = gate::Gate::new(cap, gate::MAX_PENDING);
    let refusals = Arc::new(tokio::sync::Semaphore::new(connection::MAX_REFUSALS));
    let stopped = stop.clone().shutdown();
    tokio::pin!(stopped);
    loop {
        let stream = tokio::select! {
            () = &mut stopped => return,
            accepted = listener.accept() => match accepted {
                Ok((stream, _)) => stream,
                Err(e) => {
                    // EMFILE and friends: back off briefly instead of spinning.
                    warn_throttled!(ACCEPT_FAILED, error = %e, "accept failed");
                    tokio::time::sleep(Duration::from_millis(50)).await;
                    continue;
                }
            },
        };
        let pid = match auth::check(&stream) {
            Ok(pid) => pid,
            Err(why) => {
                warn_throttled!(REFUSED_PEER, "{why}");
                continue;
            }
        };
        let admitted = match gate.admit() {
            Ok(a) => a,
            Err(full) => {
                warn_throttled!(REFUSED_FULL, "refused a connection: {full}");
                connection::refuse_busy(stream, &refusals, full);
                continue;
            }
        };
        if admitted.evicted {
            warn_throttled!(
                EVICTED,
                pending = gate::MAX_PENDING,
                "too many connections that have not said daemon.hello; closed the oldest"
            );
        }
        let (builder, daemon, stop) = (builder.clone(), daemon.clone(), stop.clone());
        tokio::spawn(async move {
            let Some(from_tool) = connection::classify(pid).await else {
                return;
            };
            let (peer, controls) = connection::prepare(pid, from_tool, admitted.slot);
            let module = methods::module(daemon, peer, controls.greeted.clone());
            let service = builder.build(module, controls.conn_stop.clone());
            // The HTTP phase ends as soon as the connection is upgraded to a WebSocket
            // (which then runs in its own task) or closed; a peer that never finishes the
            // upgrade is cut off here.
            let http = serve_with_graceful_shutdown(stream, service, controls.closing(&stop));
            let upgrade = tokio::time::timeout(connection::HANDSHAKE_TIMEOUT, http).await;
            controls.watch(upgrade, stop).await;
        });
    }
}
