//! An in-process mock LLM provider for end-to-end tests and benchmarks.
//!
//! [`MockLlm::start`] binds `127.0.0.1:0` and answers every request with the next scripted
//! [`MockResponse`] from a FIFO queue (or the default when the queue is empty), recording each
//! request so tests can assert on what the daemon sent. The path is not routed: whatever the
//! client calls (`/v1/chat/completions`, `/v1/messages`, Azure deployment paths) gets the next
//! script, so one mock serves every wire format.
//!
//! The HTTP/1.1 server is hand-rolled on tokio (see `http.rs`) rather than built on a
//! framework, because the tests need control a framework hides: each SSE event is its own
//! flushed chunk with a scripted delay before it, a stream can stop without its terminating
//! chunk and end in a TCP reset, or stall forever. Keep-alive works as clients expect
//! (several requests on one connection, `Connection: close` honoured).
//!
//! Dropping the [`MockLlm`] aborts the accept loop, which owns (and so aborts) every
//! connection task: nothing outlives the test.

mod bodies;
pub mod checks;
mod http;
mod responses;
mod script;
#[cfg(test)]
mod script_tests;
#[cfg(test)]
mod tests;

use std::collections::VecDeque;
use std::io;
use std::net::{Ipv4Addr, SocketAddr};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::time::Duration;

use tokio::io::{AsyncReadExt, BufReader};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::watch;
use tokio::task::{JoinHandle, JoinSet};

pub use bodies::{MODEL, PROMPT_TOKENS, split_chars, split_words};
pub use responses::ResponsesStream;
pub use script::{MockResponse, SseEvent, StreamEnd};

/// One request as the mock received it.
#[derive(Clone, Debug)]
pub struct RecordedRequest {
    pub method: String,
    /// Request target as sent, including any query string.
    pub path: String,
    /// Header names lowercased, values trimmed, in the order received.
    pub headers: Vec<(String, String)>,
    /// The body parsed as JSON, `Null` if it is not JSON (or empty).
    pub body: serde_json::Value,
    /// The body exactly as sent (byte-level checks: prompt-cache prefix stability).
    pub raw_body: Vec<u8>,
}

impl RecordedRequest {
    /// First header with this name (case-insensitive).
    pub fn header(&self, name: &str) -> Option<&str> {
        http::header(&self.headers, name)
    }
}

#[derive(Debug)]
struct Inner {
    queue: VecDeque<MockResponse>,
    default: MockResponse,
    requests: Vec<RecordedRequest>,
    checks: Vec<checks::RequestCheck>,
    violations: Vec<String>,
    /// When set, `GET …/models` gets this answer and leaves the script alone (see
    /// [`MockLlm::serve_models`]).
    models: Option<MockResponse>,
}

/// State shared by the handle and the connection tasks.
#[derive(Debug)]
struct Shared {
    inner: Mutex<Inner>,
    /// Number of requests recorded so far; `wait_for_requests` watches it.
    seen: watch::Sender<usize>,
    /// Body bytes written by `Endless` answers: how much a capped client let through.
    endless_sent: AtomicU64,
}

impl Shared {
    fn lock(&self) -> MutexGuard<'_, Inner> {
        // A panic while holding the lock cannot leave `Inner` half-updated in a way that
        // matters to a test double, so poisoning is ignored.
        self.inner.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Records a request and takes the script that answers it, atomically, so the order of
    /// `requests()` matches the order in which scripts were handed out.
    fn record(&self, request: RecordedRequest) -> MockResponse {
        let mut inner = self.lock();
        let refused = inner.checks.iter().find_map(|c| (c.0)(&request).err());
        let line = format!("{} {}", request.method, request.path);
        let listing = request.method == "GET" && request.path.ends_with("/models");
        inner.requests.push(request);
        let seen = inner.requests.len();
        if let (true, Some(models)) = (listing, inner.models.clone()) {
            drop(inner);
            self.seen.send_replace(seen);
            return models;
        }
        // A malformed request still takes its script, so later ones stay in step.
        let scripted = inner.queue.pop_front();
        let response = match refused {
            Some(why) => {
                let body =
                    serde_json::json!({"error": {"message": why, "type": "invalid_request_error"}});
                inner.violations.push(format!("{line}: {why}"));
                MockResponse::status(400, &body.to_string())
            }
            None => scripted.unwrap_or_else(|| inner.default.clone()),
        };
        drop(inner);
        self.seen.send_replace(seen);
        response
    }
}

/// A running mock server; dropping it stops the server.
#[derive(Debug)]
pub struct MockLlm {
    addr: SocketAddr,
    shared: Arc<Shared>,
    task: JoinHandle<()>,
}

impl Drop for MockLlm {
    fn drop(&mut self) {
        self.task.abort();
        // Every test checks what the daemon sent: a request a real provider would refuse
        // fails the test that caused it, even where the 400 it got went unnoticed. (Not
        // while a test is already failing: a second panic would abort the process.)
        let violations = self.violations();
        if !violations.is_empty() && !std::thread::panicking() {
            panic!("the mock provider refused requests the daemon sent: {violations:#?}");
        }
    }
}

impl MockLlm {
    /// Starts a server on an ephemeral port of 127.0.0.1.
    pub async fn start() -> io::Result<MockLlm> {
        Self::start_on(SocketAddr::from((Ipv4Addr::LOCALHOST, 0))).await
    }

    /// Starts a server on a given address (the `mock-llm` binary's `--port`).
    pub async fn start_on(addr: SocketAddr) -> io::Result<MockLlm> {
        let listener = TcpListener::bind(addr).await?;
        let addr = listener.local_addr()?;
        let shared = Arc::new(Shared {
            inner: Mutex::new(Inner {
                queue: VecDeque::new(),
                default: MockResponse::text("ok"),
                requests: Vec::new(),
                checks: vec![checks::RequestCheck(std::sync::Arc::new(
                    checks::openai_chat,
                ))],
                violations: Vec::new(),
                models: None,
            }),
            seen: watch::Sender::new(0),
            endless_sent: AtomicU64::new(0),
        });
        let task = tokio::spawn(accept_loop(listener, shared.clone()));
        Ok(MockLlm { addr, shared, task })
    }

    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// `http://127.0.0.1:PORT/v1`, the base URL an OpenAI-compatible client is configured with.
    pub fn base_url(&self) -> String {
        format!("http://{}/v1", self.addr)
    }

    /// Queues the answer to a future request (FIFO, one per request).
    pub fn push(&self, r: MockResponse) {
        self.shared.lock().queue.push_back(r);
    }

    /// The answer when the queue is empty (initially `MockResponse::text("ok")`).
    pub fn set_default(&self, r: MockResponse) {
        self.shared.lock().default = r;
    }

    /// Answers `GET …/models` (what `provider.list` and `provider.check` ask) with `ids`,
    /// outside the script: for clients that list models in the middle of a scripted
    /// conversation (the ACP bridge offers them as choices).
    pub fn serve_models(&self, ids: &[&str]) {
        let data: Vec<serde_json::Value> =
            ids.iter().map(|id| serde_json::json!({"id": id})).collect();
        let body = serde_json::json!({"object": "list", "data": data}).to_string();
        self.shared.lock().models = Some(MockResponse::status(200, &body));
    }

    /// Body bytes the `Endless` answers have written so far (the client stops them by
    /// closing the connection).
    pub fn endless_bytes_sent(&self) -> u64 {
        self.shared.endless_sent.load(Ordering::Relaxed)
    }

    /// Adds a check every later request must pass (the OpenAI chat-completions shape is
    /// checked from the start): one that fails is answered 400 and kept in
    /// [`MockLlm::violations`].
    pub fn check_requests(
        &self,
        check: impl Fn(&RecordedRequest) -> Result<(), String> + Send + Sync + 'static,
    ) {
        self.shared
            .lock()
            .checks
            .push(checks::RequestCheck(Arc::new(check)));
    }

    /// The requests that failed a check, as `METHOD /path: why`.
    pub fn violations(&self) -> Vec<String> {
        self.shared.lock().violations.clone()
    }

    /// Every request received so far, in order.
    pub fn requests(&self) -> Vec<RecordedRequest> {
        self.shared.lock().requests.clone()
    }

    /// Waits until at least `n` requests have been received; false on timeout.
    pub async fn wait_for_requests(&self, n: usize, timeout: Duration) -> bool {
        let mut seen = self.shared.seen.subscribe();
        // The sender lives in `self.shared`, so `wait_for` cannot fail while we wait on it.
        matches!(
            tokio::time::timeout(timeout, seen.wait_for(|&count| count >= n)).await,
            Ok(Ok(_))
        )
    }
}

async fn accept_loop(listener: TcpListener, shared: Arc<Shared>) {
    // Owning the connection tasks here means aborting this task aborts all of them.
    let mut connections = JoinSet::new();
    loop {
        tokio::select! {
            accepted = listener.accept() => match accepted {
                Ok((stream, _)) => {
                    connections.spawn(serve_connection(stream, shared.clone()));
                }
                // Typically EMFILE under a benchmark's load: back off instead of spinning.
                Err(_) => tokio::time::sleep(Duration::from_millis(10)).await,
            },
            Some(_) = connections.join_next(), if !connections.is_empty() => {}
        }
    }
}

/// What happens to the connection once a response has been written.
enum After {
    /// Ready for the next request (keep-alive).
    Next,
    /// Close normally (FIN).
    Close,
    /// Abort with RST.
    Reset,
    /// Send nothing more; wait for the client to close.
    Hold,
}

async fn serve_connection(stream: TcpStream, shared: Arc<Shared>) {
    // Each SSE chunk is a small write; Nagle would batch them and distort the timing.
    let _ = stream.set_nodelay(true);
    let mut conn = BufReader::new(stream);
    loop {
        let request = match http::read_request(&mut conn).await {
            Ok(Some(request)) => request,
            Ok(None) => return,
            Err(e) => {
                if e.kind() == io::ErrorKind::InvalidData {
                    let body = format!("bad request: {e}");
                    let _ = http::write_full(&mut conn, 400, &[], body.as_bytes(), false).await;
                }
                return;
            }
        };
        let keep_alive = request.keep_alive;
        let recorded = RecordedRequest {
            body: serde_json::from_slice(&request.body).unwrap_or(serde_json::Value::Null),
            raw_body: request.body,
            method: request.method,
            path: request.target,
            headers: request.headers,
        };
        let response = shared.record(recorded);
        match respond(&mut conn, response, keep_alive, &shared).await {
            Ok(After::Next) => {}
            Ok(After::Close) | Err(_) => return,
            Ok(After::Reset) => {
                // Give the last chunks a moment to reach the peer: RST discards whatever is
                // still in our send buffer, and the test wants "data, then reset".
                tokio::time::sleep(Duration::from_millis(10)).await;
                let _ = conn.get_ref().set_zero_linger();
                return;
            }
            Ok(After::Hold) => {
                // Discard anything the client sends until it closes or the server is dropped.
                let mut buf = [0u8; 1024];
                while let Ok(1..) = conn.read(&mut buf).await {}
                return;
            }
        }
    }
}

/// Writes `prefix` then `repeat` until `total` bytes, in large writes so a test can stream a
/// gigabyte in seconds; a write error (the client hung up) ends it.
async fn endless_body(
    conn: &mut BufReader<TcpStream>,
    prefix: &[u8],
    repeat: &[u8],
    total: u64,
    sse: bool,
    shared: &Shared,
) -> io::Result<()> {
    use tokio::io::AsyncWriteExt;
    let mut block = Vec::with_capacity(256 * 1024);
    while !repeat.is_empty() && block.len() < 256 * 1024 {
        block.extend_from_slice(repeat);
    }
    let mut sent = 0u64;
    let mut first = true;
    while sent < total {
        let piece: &[u8] = if first { prefix } else { &block };
        first = false;
        let n = piece.len().min((total - sent) as usize);
        if n == 0 {
            if repeat.is_empty() {
                break;
            }
            continue;
        }
        if sse {
            http::write_chunk(conn, &piece[..n]).await?;
        } else {
            conn.write_all(&piece[..n]).await?;
        }
        sent += n as u64;
        shared.endless_sent.fetch_add(n as u64, Ordering::Relaxed);
    }
    conn.flush().await
}

async fn respond(
    conn: &mut BufReader<TcpStream>,
    response: MockResponse,
    keep_alive: bool,
    shared: &Shared,
) -> io::Result<After> {
    let finished = if keep_alive {
        After::Next
    } else {
        After::Close
    };
    match response {
        MockResponse::Hang => Ok(After::Hold),
        MockResponse::Endless {
            status,
            headers,
            prefix,
            repeat,
            total,
            sse,
        } => {
            if sse {
                http::write_stream_head(conn, status, &headers, keep_alive).await?;
            } else {
                http::write_sized_head(conn, status, &headers, total, keep_alive).await?;
            }
            endless_body(
                conn,
                prefix.as_bytes(),
                repeat.as_bytes(),
                total,
                sse,
                shared,
            )
            .await?;
            if sse {
                http::write_last_chunk(conn).await?;
            }
            Ok(finished)
        }
        MockResponse::Status {
            status,
            headers,
            body,
        } => {
            http::write_full(conn, status, &headers, body.as_bytes(), keep_alive).await?;
            Ok(finished)
        }
        MockResponse::Sse {
            status,
            headers,
            events,
            delay,
            then,
        } => {
            http::write_stream_head(conn, status, &headers, keep_alive).await?;
            for event in &events {
                if !delay.is_zero() {
                    tokio::time::sleep(delay).await;
                }
                http::write_chunk(conn, event.encode().as_bytes()).await?;
            }
            match then {
                StreamEnd::Close => {
                    http::write_last_chunk(conn).await?;
                    Ok(finished)
                }
                StreamEnd::Reset => Ok(After::Reset),
                StreamEnd::Stall => Ok(After::Hold),
            }
        }
    }
}
