//! JSON-RPC 2.0 over WebSocket framing over the Unix socket: accepting connections,
//! checking the peer's uid, and serving each connection with its own method table.

pub mod activation;
pub mod auth;
pub mod error;
pub mod listener;
pub mod methods;

use std::sync::Arc;

use botcoder_protocol::MAX_MESSAGE_BYTES;
use jsonrpsee::server::{Server, ServerConfig, StopHandle, serve_with_graceful_shutdown};
use tokio::net::UnixListener;

use crate::server::Daemon;

/// Messages queued per connection before the daemon stops reading from that client
/// (backpressure for a client that does not read its notifications).
const MESSAGE_BUFFER: u32 = 4096;

/// Accepts connections until `stop` fires.
pub async fn serve(listener: UnixListener, daemon: Arc<Daemon>, stop: StopHandle) {
    let config = ServerConfig::builder()
        .ws_only()
        .max_request_body_size(MAX_MESSAGE_BYTES)
        .max_response_body_size(MAX_MESSAGE_BYTES)
        .max_connections(10_000)
        .max_subscriptions_per_connection(1024)
        .set_message_buffer_capacity(MESSAGE_BUFFER)
        .build();
    let builder = Server::builder().set_config(config).to_service_builder();
    let stopped = stop.clone().shutdown();
    tokio::pin!(stopped);
    loop {
        let stream = tokio::select! {
            () = &mut stopped => return,
            accepted = listener.accept() => match accepted {
                Ok((stream, _)) => stream,
                Err(e) => {
                    // EMFILE and friends: back off briefly instead of spinning.
                    tracing::warn!(error = %e, "accept failed");
                    tokio::time::sleep(std::time::Duration::from_millis(50)).await;
                    continue;
                }
            },
        };
        if let Err(why) = auth::check(&stream) {
            tracing::warn!("{why}");
            continue;
        }
        let service = builder
            .clone()
            .build(methods::module(daemon.clone()), stop.clone());
        let stop = stop.clone();
        tokio::spawn(async move {
            if let Err(e) = serve_with_graceful_shutdown(stream, service, stop.shutdown()).await {
                tracing::debug!(error = %e, "connection ended with an error");
            }
        });
    }
}
