//! An in-repo botserver that follows shared/reference/botserver-api.md: health, classify,
//! create, task status, cancel, agent routes, and the task-progress WebSocket on the same
//! port. Scriptable per test through [`BotScript`]; [`MockBotserver::kill`] drops everything
//! (the server "dies"), [`MockBotserver::revive`] brings it back on the same port.

use std::net::SocketAddr;
use std::pin::Pin;
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll};
use std::time::{Duration, Instant};

use futures::SinkExt;
use serde_json::{Value, json};
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt, ReadBuf};
use tokio::net::{TcpListener, TcpStream};
use tokio::task::JoinHandle;
use tokio_tungstenite::tungstenite::Message;

/// What the mock does.
#[derive(Debug, Clone)]
pub struct BotScript {
    /// `/api/health` status: 200 healthy, 503 degraded.
    pub health: u16,
    /// `intent_type` classify returns.
    pub intent: String,
    /// A clarification question, if classify should ask one.
    pub clarification: Option<String>,
    /// Status of `create`: 202, or 401 to refuse.
    pub create_status: u16,
    /// Frames sent on the progress socket after `connected`, `frame_delay` apart.
    pub frames: Vec<Value>,
    /// Delay between frames.
    pub frame_delay: Duration,
    /// Close the socket after this many frames.
    pub drop_ws_after: Option<usize>,
    /// The task reports this final status once `complete_after` has passed since create.
    pub final_status: String,
    /// Time until the task is final.
    pub complete_after: Duration,
    /// Status answered by `/api/botcoder/{agent}/query`, per agent (404 when absent).
    pub agents: Vec<(String, u16)>,
}

impl Default for BotScript {
    fn default() -> Self {
        BotScript {
            health: 200,
            intent: "APP_CREATE".into(),
            clarification: None,
            create_status: 202,
            frames: Vec::new(),
            frame_delay: Duration::from_millis(20),
            drop_ws_after: None,
            final_status: "completed".into(),
            complete_after: Duration::from_millis(300),
            agents: Vec::new(),
        }
    }
}

/// Requests seen, as `METHOD /path`.
#[derive(Debug, Default)]
struct Shared {
    script: BotScript,
    created_at: Option<Instant>,
    log: Vec<String>,
    auth: Vec<Option<String>>,
}

/// The running mock.
#[derive(Debug)]
pub struct MockBotserver {
    addr: SocketAddr,
    shared: Arc<Mutex<Shared>>,
    server: Mutex<Option<JoinHandle<()>>>,
}

/// The pipeline frames of a typical run, with `llm_stream` text.
pub fn pipeline_frames(text_pieces: &[&str]) -> Vec<Value> {
    let mut frames = vec![
        json!({"type": "task_started", "task_id": "task-1", "step": "plan", "message": "Planning", "progress": 5, "total_steps": 3, "current_step": 1}),
        json!({"type": "agent_thought", "task_id": "task-1", "step": "build", "message": "Designing tables", "progress": 30, "total_steps": 3, "current_step": 2, "details": "mantis_2"}),
    ];
    for p in text_pieces {
        frames.push(json!({"type": "llm_stream", "task_id": "task-1", "text": p}));
    }
    frames.push(json!({"type": "step_progress", "task_id": "task-1", "step": "deploy", "message": "Deploying", "progress": 90, "total_steps": 3, "current_step": 3}));
    frames.push(json!({"type": "task_completed", "task_id": "task-1", "step": "done", "message": "Done", "progress": 100, "details": "app_url:http://apps.local/todo"}));
    frames
}

fn lock(s: &Mutex<Shared>) -> std::sync::MutexGuard<'_, Shared> {
    s.lock().unwrap_or_else(|p| p.into_inner())
}

impl MockBotserver {
    /// Starts on a free loopback port.
    pub async fn start(script: BotScript) -> std::io::Result<MockBotserver> {
        let listener = TcpListener::bind("127.0.0.1:0").await?;
        let addr = listener.local_addr()?;
        let shared = Arc::new(Mutex::new(Shared {
            script,
            ..Shared::default()
        }));
        let server = tokio::spawn(serve(listener, shared.clone()));
        Ok(MockBotserver {
            addr,
            shared,
            server: Mutex::new(Some(server)),
        })
    }

    /// `http://127.0.0.1:PORT`.
    pub fn url(&self) -> String {
        format!("http://{}", self.addr)
    }

    /// Changes the script.
    pub fn script(&self, f: impl FnOnce(&mut BotScript)) {
        f(&mut lock(&self.shared).script);
    }

    /// Requests seen so far (`METHOD /path`).
    pub fn log(&self) -> Vec<String> {
        lock(&self.shared).log.clone()
    }

    /// Authorization headers seen.
    pub fn auth_headers(&self) -> Vec<Option<String>> {
        lock(&self.shared).auth.clone()
    }

    /// The server dies: every connection is dropped and the port refuses new ones.
    pub fn kill(&self) {
        if let Some(h) = self.server.lock().unwrap_or_else(|p| p.into_inner()).take() {
            h.abort();
        }
    }

    /// Comes back on the same port.
    pub async fn revive(&self) -> std::io::Result<()> {
        let listener = TcpListener::bind(self.addr).await?;
        *self.server.lock().unwrap_or_else(|p| p.into_inner()) =
            Some(tokio::spawn(serve(listener, self.shared.clone())));
        Ok(())
    }
}

impl Drop for MockBotserver {
    fn drop(&mut self) {
        self.kill();
    }
}

async fn serve(listener: TcpListener, shared: Arc<Mutex<Shared>>) {
    // Connection tasks live in a JoinSet owned by this task, so aborting it kills them all.
    let mut conns = tokio::task::JoinSet::new();
    loop {
        tokio::select! {
            accepted = listener.accept() => {
                let Ok((stream, _)) = accepted else { return };
                conns.spawn(connection(stream, shared.clone()));
            }
            Some(_) = conns.join_next(), if !conns.is_empty() => {}
        }
    }
}

/// Replays bytes already read before handing the stream to the WebSocket handshake.
struct Prefixed {
    prefix: Vec<u8>,
    stream: TcpStream,
}

impl AsyncRead for Prefixed {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<std::io::Result<()>> {
        if !self.prefix.is_empty() {
            let n = self.prefix.len().min(buf.remaining());
            let head: Vec<u8> = self.prefix.drain(..n).collect();
            buf.put_slice(&head);
            return Poll::Ready(Ok(()));
        }
        Pin::new(&mut self.stream).poll_read(cx, buf)
    }
}

impl AsyncWrite for Prefixed {
    fn poll_write(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<std::io::Result<usize>> {
        Pin::new(&mut self.stream).poll_write(cx, buf)
    }
    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        Pin::new(&mut self.stream).poll_flush(cx)
    }
    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        Pin::new(&mut self.stream).poll_shutdown(cx)
    }
}

async fn connection(mut stream: TcpStream, shared: Arc<Mutex<Shared>>) {
    let mut buf = Vec::new();
    let mut chunk = [0u8; 4096];
    let head_end = loop {
        let Ok(n) = stream.read(&mut chunk).await else {
            return;
        };
        if n == 0 {
            return;
        }
        buf.extend_from_slice(&chunk[..n]);
        if let Some(i) = buf.windows(4).position(|w| w == b"\r\n\r\n") {
            break i + 4;
        }
    };
    let head = String::from_utf8_lossy(&buf[..head_end]).to_string();
    let mut lines = head.lines();
    let request_line = lines.next().unwrap_or_default().to_owned();
    let mut parts = request_line.split_whitespace();
    let (method, path) = (
        parts.next().unwrap_or_default().to_owned(),
        parts.next().unwrap_or_default().to_owned(),
    );
    let header = |name: &str| {
        head.lines().skip(1).find_map(|l| {
            let (k, v) = l.split_once(':')?;
            k.trim()
                .eq_ignore_ascii_case(name)
                .then(|| v.trim().to_owned())
        })
    };
    {
        let mut s = lock(&shared);
        s.log.push(format!("{method} {path}"));
        s.auth.push(header("authorization"));
    }
    if path.starts_with("/ws/task-progress/") {
        let ws = Prefixed {
            prefix: buf,
            stream,
        };
        return progress_socket(ws, shared).await;
    }
    let len: usize = header("content-length")
        .and_then(|v| v.parse().ok())
        .unwrap_or(0);
    while buf.len() < head_end + len {
        let Ok(n) = stream.read(&mut chunk).await else {
            return;
        };
        if n == 0 {
            break;
        }
        buf.extend_from_slice(&chunk[..n]);
    }
    let (status, body) = respond(&method, &path, &shared);
    let text = body.to_string();
    let reason = match status {
        200 => "OK",
        202 => "Accepted",
        401 => "Unauthorized",
        404 => "Not Found",
        503 => "Service Unavailable",
        _ => "Status",
    };
    let resp = format!(
        "HTTP/1.1 {status} {reason}\r\ncontent-type: application/json\r\ncontent-length: {}\r\nconnection: close\r\n\r\n{text}",
        text.len()
    );
    let _ = stream.write_all(resp.as_bytes()).await;
    let _ = stream.shutdown().await;
}

fn respond(method: &str, path: &str, shared: &Mutex<Shared>) -> (u16, Value) {
    let mut s = lock(shared);
    let script = s.script.clone();
    match (method, path) {
        ("GET", "/api/health") if script.health == 200 => (
            200,
            json!({"status": "healthy", "service": "botserver", "version": "6.2.0", "database": true}),
        ),
        ("GET", "/api/health") => (503, json!({"status": "degraded"})),
        ("POST", "/api/autotask/classify") => (
            200,
            json!({
                "success": true, "intent_type": script.intent, "confidence": 0.93,
                "requires_clarification": script.clarification.is_some(),
                "clarification_question": script.clarification, "result": null, "error": null, "unknown_field": 1,
            }),
        ),
        ("POST", "/api/autotask/create") if script.create_status == 202 => {
            s.created_at = Some(Instant::now());
            (
                202,
                json!({"success": true, "task_id": "task-1", "status": "running", "message": "started",
                "app_url": null, "created_resources": [{"resource_type": "table", "name": "todos", "path": "db/todos"}],
                "pending_items": [], "error": null}),
            )
        }
        ("POST", "/api/autotask/create") => (script.create_status, json!({"error": "no session"})),
        ("GET", p) if p.starts_with("/api/autotask/tasks/") => {
            let done = s
                .created_at
                .is_some_and(|t| t.elapsed() >= script.complete_after);
            let status = if done {
                script.final_status.as_str()
            } else {
                "running"
            };
            (
                200,
                json!({"id": "task-1", "name": "todo-app", "description": "", "status": status,
                "progress": if done { 100.0 } else { 50.0 }, "current_step": 2, "total_steps": 3, "error": null}),
            )
        }
        ("POST", p) if p.starts_with("/api/autotask/") && p.ends_with("/cancel") => (
            200,
            json!({"success": true, "message": "cancelled", "error": null}),
        ),
        ("POST", p) if p.starts_with("/api/botcoder/") => {
            let agent = p
                .trim_start_matches("/api/botcoder/")
                .trim_end_matches("/query");
            match script.agents.iter().find(|(a, _)| a == agent) {
                Some((_, 200)) => (200, json!({"result": format!("{agent} agent did it")})),
                Some((_, code)) => (*code, json!({"error": "agent failed"})),
                None => (404, json!({"error": "Not Found"})),
            }
        }
        _ => (404, json!({"error": "Not Found"})),
    }
}

async fn progress_socket(stream: Prefixed, shared: Arc<Mutex<Shared>>) {
    let Ok(mut ws) = tokio_tungstenite::accept_async(stream).await else {
        return;
    };
    let script = lock(&shared).script.clone();
    let connected = json!({"type": "connected", "message": "subscribed", "filter": "task-1", "timestamp": "2026-01-01T00:00:00Z"});
    if ws.send(Message::text(connected.to_string())).await.is_err() {
        return;
    }
    for (i, frame) in script.frames.iter().enumerate() {
        if script.drop_ws_after == Some(i) {
            return; // dropped without a close frame
        }
        tokio::time::sleep(script.frame_delay).await;
        if ws.send(Message::text(frame.to_string())).await.is_err() {
            return;
        }
    }
    // The real server sends nothing more and no keepalive; hold the socket open.
    futures::future::pending::<()>().await;
}
