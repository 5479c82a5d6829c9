//! One configured server over its lifetime: a supervisor task connects it in the background,
//! keeps its tool list fresh (`notifications/tools/list_changed`), restarts it with backoff
//! when it dies, and stops it (its whole process group) when asked.
//!
//! What the rest of the daemon reads — state, tools, the connection for calls — sits in a
//! snapshot behind a plain mutex that is never held across an await.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use botcoder_config::mcp::McpServerEntry;
use botcoder_protocol::methods::McpServerInfo;
use rmcp::ClientHandler;
use rmcp::model::{
    ClientCapabilities, ClientConfig, Implementation, ProgressNotificationParam, ProgressToken,
};
use rmcp::service::{NotificationContext, Peer, RoleClient};
use tokio::sync::{Notify, mpsc};
use tokio_util::sync::CancellationToken;

use super::adapt;
use super::connect::{self, StderrTail};
use crate::tools::OutputChunk;

/// First wait before a restart; doubled after each failure up to [`MAX_BACKOFF`].
const FIRST_BACKOFF: Duration = Duration::from_secs(1);
/// Longest wait between restarts.
const MAX_BACKOFF: Duration = Duration::from_secs(60);
/// A server that stayed up this long starts its backoff afresh when it dies.
const STABLE_AFTER: Duration = Duration::from_secs(30);
/// Most tools one server may offer (the rest are left out, with a note in its error).
const MAX_TOOLS: usize = 256;

/// A tool of a server as offered to the model.
#[derive(Debug, Clone, PartialEq)]
pub struct McpTool {
    /// Offered name (`mcp__<server>__<tool>`).
    pub name: String,
    /// The server's own name for it.
    pub tool: String,
    /// Description for the model.
    pub description: String,
    /// Adapted input schema.
    pub schema: serde_json::Value,
    /// The server annotated it `readOnlyHint`.
    pub read_only_hint: bool,
}

/// Where a server is in its life.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum State {
    /// Connecting for the first time.
    Starting,
    /// Connected; its tools are offered.
    Ready,
    /// Could not connect; will retry.
    Failed,
    /// Died or failed, retrying after backoff.
    Restarting,
    /// `enabled = false`.
    Disabled,
    /// Stopped (daemon shutdown or removed from the config).
    Stopped,
}

impl State {
    /// As `mcp.list` spells it.
    pub fn as_str(self) -> &'static str {
        match self {
            State::Starting => "starting",
            State::Ready => "ready",
            State::Failed => "failed",
            State::Restarting => "restarting",
            State::Disabled => "disabled",
            State::Stopped => "stopped",
        }
    }
}

/// What is known of a server right now.
#[derive(Debug)]
struct Snapshot {
    state: State,
    protocol_version: Option<String>,
    tools: Vec<McpTool>,
    last_error: Option<String>,
    peer: Option<Peer<RoleClient>>,
}

/// Live output of running calls, by progress token.
type ProgressRoutes = Arc<Mutex<HashMap<ProgressToken, mpsc::UnboundedSender<OutputChunk>>>>;

/// One configured server.
#[derive(Debug)]
pub struct Server {
    /// Its name.
    pub name: String,
    /// Its configuration.
    pub entry: McpServerEntry,
    snapshot: Mutex<Snapshot>,
    /// Set when its state changes to one a waiting turn cares about.
    settled: Notify,
    pub(super) progress: ProgressRoutes,
    stop: CancellationToken,
    done: Mutex<Option<tokio::task::JoinHandle<()>>>,
    /// Process group of the running stdio server, killed on stop whatever else happens.
    pgid: Mutex<Option<u32>>,
}

impl Server {
    /// Starts `entry`'s supervisor in the background (or records it disabled).
    pub fn start(name: String, entry: McpServerEntry) -> Arc<Server> {
        let enabled = entry.is_enabled();
        let server = Arc::new(Server {
            name,
            entry,
            snapshot: Mutex::new(Snapshot {
                state: if enabled {
                    State::Starting
                } else {
                    State::Disabled
                },
                protocol_version: None,
                tools: Vec::new(),
                last_error: None,
                peer: None,
            }),
            settled: Notify::new(),
            progress: ProgressRoutes::default(),
            stop: CancellationToken::new(),
            done: Mutex::new(None),
            pgid: Mutex::new(None),
        });
        if enabled {
            let handle = tokio::spawn(supervise(server.clone()));
            if let Ok(mut d) = server.done.lock() {
                *d = Some(handle);
            }
        }
        server
    }

    /// Stops it: the connection is closed and its process group killed.
    pub async fn stop(&self) {
        self.stop.cancel();
        let handle = self.done.lock().ok().and_then(|mut d| d.take());
        if let Some(h) = handle {
            let _ = tokio::time::timeout(Duration::from_secs(1), h).await;
        }
        connect::kill_group(self.pgid.lock().ok().and_then(|mut p| p.take()));
        self.update(|s| {
            s.state = State::Stopped;
            s.peer = None;
            s.tools.clear();
        });
    }

    fn update(&self, f: impl FnOnce(&mut Snapshot)) {
        if let Ok(mut s) = self.snapshot.lock() {
            f(&mut s);
        }
        self.settled.notify_waiters();
    }

    /// Its state.
    pub fn state(&self) -> State {
        self.snapshot.lock().map_or(State::Failed, |s| s.state)
    }

    /// Its tools, while it is ready.
    pub fn tools(&self) -> Vec<McpTool> {
        self.snapshot
            .lock()
            .map(|s| {
                if s.state == State::Ready {
                    s.tools.clone()
                } else {
                    Vec::new()
                }
            })
            .unwrap_or_default()
    }

    /// The connection for a call, while it is ready.
    pub fn peer(&self) -> Option<Peer<RoleClient>> {
        self.snapshot.lock().ok().and_then(|s| s.peer.clone())
    }

    /// What `mcp.list` shows.
    pub fn info(&self) -> McpServerInfo {
        let transport = if self.entry.url.is_some() {
            "http"
        } else {
            "stdio"
        };
        let s = self.snapshot.lock();
        McpServerInfo {
            name: self.name.clone(),
            transport: transport.to_owned(),
            state: s.as_ref().map_or("failed", |s| s.state.as_str()).to_owned(),
            protocol_version: s.as_ref().ok().and_then(|s| s.protocol_version.clone()),
            tools: s
                .as_ref()
                .map(|s| s.tools.iter().map(|t| t.name.clone()).collect())
                .unwrap_or_default(),
            last_error: s
                .as_ref()
                .ok()
                .and_then(|s| s.last_error.as_deref().map(crate::redact::scrub)),
        }
    }

    /// Waits, at most until `deadline`, for a server still starting to be ready or to fail:
    /// a turn's first request then sees its tools, and a slow server costs at most its
    /// startup timeout, once.
    pub async fn settle(&self, deadline: Instant) {
        loop {
            // Registered before the state is read, so a change in between is not missed.
            let notified = self.settled.notified();
            tokio::pin!(notified);
            notified.as_mut().enable();
            if self.state() != State::Starting {
                return;
            }
            let left = deadline.saturating_duration_since(Instant::now());
            if left.is_zero() || tokio::time::timeout(left, notified).await.is_err() {
                return;
            }
        }
    }
}

/// The client side of one connection: refreshes on `list_changed`, routes progress.
#[derive(Debug, Clone)]
struct Handler {
    refresh: Arc<Notify>,
    progress: ProgressRoutes,
}

impl ClientHandler for Handler {
    async fn on_tool_list_changed(&self, _context: NotificationContext<RoleClient>) {
        self.refresh.notify_one();
    }

    async fn on_progress(
        &self,
        params: ProgressNotificationParam,
        _context: NotificationContext<RoleClient>,
    ) {
        let tx = self
            .progress
            .lock()
            .ok()
            .and_then(|r| r.get(&params.progress_token).cloned());
        if let Some(tx) = tx {
            let total = params.total.map(|t| format!("/{t}")).unwrap_or_default();
            let message = params.message.map(|m| format!(" {m}")).unwrap_or_default();
            let _ = tx.send(OutputChunk {
                // Progress is a status line, not the tool's output proper.
                stream: botcoder_protocol::OutputStream::Stderr,
                text: format!("progress {}{total}{message}\n", params.progress),
            });
        }
    }

    fn get_info(&self) -> ClientConfig {
        let mut info = ClientConfig::default();
        info.capabilities = ClientCapabilities::default();
        info.client_info = Implementation::new("botcoder", env!("CARGO_PKG_VERSION"));
        info
    }
}

/// Connects, serves, and reconnects with backoff until stopped.
async fn supervise(server: Arc<Server>) {
    let mut backoff = FIRST_BACKOFF;
    let mut ever_ready = false;
    loop {
        let started = Instant::now();
        let result = tokio::select! {
            () = server.stop.cancelled() => return,
            r = run_once(&server) => r,
        };
        let error = match result {
            Ok(()) => return,
            Err(e) => e,
        };
        if started.elapsed() >= STABLE_AFTER {
            backoff = FIRST_BACKOFF;
        }
        tracing::warn!(server = %server.name, error = %crate::redact::scrub(&error), retry_in = ?backoff, "mcp server down");
        ever_ready |= server.state() == State::Ready;
        server.update(|s| {
            // `failed` until it has worked once; `restarting` for one that died.
            s.state = if ever_ready {
                State::Restarting
            } else {
                State::Failed
            };
            s.last_error = Some(format!("{error} (retrying in {}s)", backoff.as_secs()));
            s.peer = None;
            s.tools.clear();
        });
        tokio::select! {
            () = server.stop.cancelled() => return,
            () = tokio::time::sleep(backoff) => {}
        }
        backoff = (backoff * 2).min(MAX_BACKOFF);
    }
}

/// One connection: `Ok` when stopped on purpose, `Err` with why it ended otherwise.
async fn run_once(server: &Arc<Server>) -> Result<(), String> {
    let refresh = Arc::new(Notify::new());
    let handler = Handler {
        refresh: refresh.clone(),
        progress: server.progress.clone(),
    };
    let stderr = StderrTail::default();
    let timeout = server.entry.startup_timeout();
    let connecting = async {
        let c =
            connect::connect(&server.name, &server.entry, handler, &stderr, &server.pgid).await?;
        let tools = list_tools(server, c.service.peer()).await?;
        Ok::<_, String>((c, tools))
    };
    let (connected, tools) = match tokio::time::timeout(timeout, connecting).await {
        Ok(Ok(c)) => c,
        Ok(Err(e)) => {
            connect::kill_group(server.pgid.lock().ok().and_then(|mut p| p.take()));
            return Err(e);
        }
        Err(_) => {
            connect::kill_group(server.pgid.lock().ok().and_then(|mut p| p.take()));
            return Err(format!(
                "did not answer within its startup timeout of {}s (startup_timeout_sec)",
                timeout.as_secs_f64()
            ));
        }
    };
    let peer = connected.service.peer().clone();
    let version = peer.peer_info().map(|i| i.protocol_version.to_string());
    tracing::info!(server = %server.name, protocol = ?version, tools = tools.len(), "mcp server ready");
    server.update(|s| {
        s.state = State::Ready;
        s.protocol_version = version;
        s.tools = tools;
        s.last_error = None;
        s.peer = Some(peer.clone());
    });
    let pgid = connected.pgid;
    let ct = connected.service.cancellation_token();
    let mut waiting = Box::pin(connected.service.waiting());
    let ended = loop {
        tokio::select! {
            () = server.stop.cancelled() => {
                ct.cancel();
                let _ = tokio::time::timeout(Duration::from_millis(500), &mut waiting).await;
                connect::kill_group(pgid);
                return Ok(());
            }
            r = &mut waiting => break r,
            () = refresh.notified() => match list_tools(server, &peer).await {
                Ok(tools) => server.update(|s| s.tools = tools),
                Err(e) => tracing::warn!(server = %server.name, error = %e, "mcp tools/list after list_changed failed"),
            },
        }
    };
    connect::kill_group(pgid);
    let said = stderr.text();
    let said = if said.is_empty() {
        String::new()
    } else {
        format!("; it wrote: {said}")
    };
    Err(match ended {
        Ok(reason) => format!("the connection ended ({reason:?}){said}"),
        Err(e) => format!("the connection task failed: {e}{said}"),
    })
}

/// Every page of `tools/list`, filtered by the config and adapted for the model.
async fn list_tools(server: &Server, peer: &Peer<RoleClient>) -> Result<Vec<McpTool>, String> {
    let listed = peer
        .list_all_tools()
        .await
        .map_err(|e| format!("tools/list failed: {e}"))?;
    let mut out = Vec::new();
    for tool in listed {
        if !server.entry.offers(&tool.name) {
            continue;
        }
        let Some(name) = adapt::tool_name(&server.name, &tool.name) else {
            continue;
        };
        if out.iter().any(|t: &McpTool| t.name == name) || out.len() >= MAX_TOOLS {
            continue;
        }
        out.push(McpTool {
            name,
            tool: tool.name.to_string(),
            description: adapt::description(
                &server.name,
                tool.title.as_deref(),
                tool.description.as_deref(),
            ),
            schema: adapt::schema(&tool.input_schema),
            read_only_hint: tool
                .annotations
                .as_ref()
                .and_then(|a| a.read_only_hint)
                .unwrap_or(false),
        });
    }
    Ok(out)
}
