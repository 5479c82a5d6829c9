//! The task-progress WebSocket (`ws://host/ws/task-progress/{task_id}`): frames are read in
//! their own task and handed over on a channel that closes when the socket does. Unknown
//! frame types and fields are kept or ignored, never fatal.

use futures::StreamExt;
use serde::Deserialize;
use serde_json::Value;
use tokio::sync::mpsc;
use tokio_tungstenite::tungstenite::Message;

/// One progress frame.
#[derive(Debug, Clone, Default, PartialEq, Deserialize)]
#[serde(default)]
pub struct Frame {
    /// task_progress, step_progress, llm_stream, task_completed, task_error, ...
    #[serde(rename = "type")]
    pub kind: String,
    /// Step name.
    pub step: Option<String>,
    /// Message.
    pub message: Option<String>,
    /// 0..100.
    pub progress: Option<f64>,
    /// Steps in all.
    pub total_steps: Option<u32>,
    /// Current step.
    pub current_step: Option<u32>,
    /// Extra detail (`app_url:<url>` on completion, `mantis_N` for agents, stdout|stderr).
    pub details: Option<Value>,
    /// Error text.
    pub error: Option<String>,
    /// Streamed text (llm_stream, terminal_output).
    pub text: Option<String>,
}

/// Largest progress message accepted; a larger one ends the progress stream.
const MAX_FRAME: usize = 1024 * 1024;

/// Connects and streams frames; `None` if the connection cannot be opened.
pub async fn connect(url: &str) -> Option<mpsc::Receiver<Frame>> {
    let parsed = reqwest::Url::parse(url).ok()?;
    let host = parsed.host_str()?.to_owned();
    let port = parsed.port_or_known_default()?;
    let stream = tokio::time::timeout(
        std::time::Duration::from_secs(5),
        tokio::net::TcpStream::connect((host.as_str(), port)),
    )
    .await
    .ok()?
    .ok()?;
    // Progress frames are small; the library's 64 MiB default would let one frame cost that.
    let config = tokio_tungstenite::tungstenite::protocol::WebSocketConfig::default()
        .max_message_size(Some(MAX_FRAME))
        .max_frame_size(Some(MAX_FRAME));
    let (ws, _) = tokio_tungstenite::client_async_with_config(url, stream, Some(config))
        .await
        .ok()?;
    let (tx, rx) = mpsc::channel(256);
    tokio::spawn(async move {
        let (_, mut read) = ws.split();
        while let Some(Ok(msg)) = read.next().await {
            let text = match msg {
                Message::Text(t) => t.to_string(),
                Message::Close(_) => break,
                _ => continue,
            };
            if let Ok(frame) = serde_json::from_str::<Frame>(&text)
                && tx.send(frame).await.is_err()
            {
                break;
            }
        }
    });
    Some(rx)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn frames_parse_leniently() {
        let f: Frame = serde_json::from_str(
            r#"{"type":"llm_stream","task_id":"t","text":"hi","activity":{"phase":"x"}}"#,
        )
        .unwrap();
        assert_eq!(
            (f.kind.as_str(), f.text.as_deref()),
            ("llm_stream", Some("hi"))
        );
        let f: Frame = serde_json::from_str(
            r#"{"type":"task_completed","details":"app_url:http://x/app","progress":100}"#,
        )
        .unwrap();
        assert_eq!(
            f.details,
            Some(Value::String("app_url:http://x/app".into()))
        );
    }
}
