//! A provider stand-in for latency benchmarks: an OpenAI-style SSE server whose every
//! chunk carries the time it was written (ns since a shared `base`), so a receiving client
//! can compute provider-to-client delivery latency.

use std::time::{Duration, Instant};

use tokio::io::{AsyncReadExt, AsyncWriteExt};

/// Parses the timestamps out of delta text written by this server.
pub fn stamps(text: &str) -> impl Iterator<Item = f64> + '_ {
    text.split_whitespace()
        .filter_map(|t| t.parse::<f64>().ok())
}

/// An SSE server whose every chunk carries the time it was written (ns since `base`), so
/// the receiving client can compute provider-to-client latency.
pub async fn start(base: Instant, chunks: usize, gap: Duration) -> String {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .unwrap_or_else(|e| panic!("bind: {e}"));
    let addr = listener
        .local_addr()
        .unwrap_or_else(|e| panic!("addr: {e}"));
    tokio::spawn(async move {
        loop {
            let Ok((mut s, _)) = listener.accept().await else {
                return;
            };
            s.set_nodelay(true).ok();
            tokio::spawn(async move {
                // Read the request head and body (Content-Length) and ignore it.
                let mut buf = vec![0u8; 1 << 16];
                let mut got = Vec::new();
                loop {
                    let n = s.read(&mut buf).await.unwrap_or(0);
                    if n == 0 {
                        return;
                    }
                    got.extend_from_slice(&buf[..n]);
                    if let Some(h) = got.windows(4).position(|w| w == b"\r\n\r\n") {
                        let head = String::from_utf8_lossy(&got[..h]).to_ascii_lowercase();
                        let len = head
                            .lines()
                            .find_map(|l| l.strip_prefix("content-length:"))
                            .and_then(|v| v.trim().parse::<usize>().ok())
                            .unwrap_or(0);
                        if got.len() >= h + 4 + len {
                            break;
                        }
                    }
                }
                let head = "HTTP/1.1 200 OK\r\ncontent-type: text/event-stream\r\ntransfer-encoding: chunked\r\n\r\n";
                if s.write_all(head.as_bytes()).await.is_err() {
                    return;
                }
                let mut next = tokio::time::Instant::now();
                for _ in 0..chunks {
                    if !gap.is_zero() {
                        next += gap;
                        tokio::time::sleep_until(next).await;
                    }
                    let ns = base.elapsed().as_nanos();
                    let data = format!(
                        "data: {{\"choices\":[{{\"index\":0,\"delta\":{{\"content\":\"{ns} \"}},\"finish_reason\":null}}]}}\n\n"
                    );
                    let chunk = format!("{:x}\r\n{data}\r\n", data.len());
                    if s.write_all(chunk.as_bytes()).await.is_err() {
                        return;
                    }
                }
                let end = "data: {\"choices\":[{\"index\":0,\"delta\":{},\"finish_reason\":\"stop\"}]}\n\ndata: [DONE]\n\n";
                let _ = s
                    .write_all(format!("{:x}\r\n{end}\r\n0\r\n\r\n", end.len()).as_bytes())
                    .await;
            });
        }
    });
    format!("http://{addr}/v1")
}
