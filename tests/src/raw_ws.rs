//! A raw WebSocket connection to the daemon socket, for tests that must misbehave: send
//! invalid JSON, or subscribe and then never read.

use std::path::Path;

use futures::{SinkExt, StreamExt};
use tokio::net::UnixStream;
use tokio_tungstenite::WebSocketStream;
use tokio_tungstenite::tungstenite::Message;

/// A WebSocket over the daemon's Unix socket.
#[derive(Debug)]
pub struct RawWs {
    ws: WebSocketStream<UnixStream>,
}

impl RawWs {
    /// Connects and completes the WebSocket handshake.
    pub async fn connect(socket: &Path) -> std::io::Result<RawWs> {
        let stream = UnixStream::connect(socket).await?;
        let (ws, _) = tokio_tungstenite::client_async("ws://botcoderd.local/", stream)
            .await
            .map_err(std::io::Error::other)?;
        Ok(RawWs { ws })
    }

    /// Sends a text frame.
    pub async fn send(&mut self, text: &str) -> std::io::Result<()> {
        self.ws
            .send(Message::text(text))
            .await
            .map_err(std::io::Error::other)
    }

    /// The next text frame, parsed as JSON.
    pub async fn recv_json(&mut self) -> Option<serde_json::Value> {
        while let Some(msg) = self.ws.next().await {
            match msg.ok()? {
                Message::Text(t) => return serde_json::from_str(t.as_str()).ok(),
                Message::Close(_) => return None,
                _ => continue,
            }
        }
        None
    }
}
