//! Tools from Model Context Protocol servers, on the official Rust SDK (`rmcp`).
//!
//! The daemon owns the servers: configured in `[mcp_servers.NAME]` (Codex's shape, see
//! `botcoder_config::mcp`), started in the background when the daemon starts, shared by every
//! session and client, restarted with backoff when they die, and stopped — their whole
//! process group — on shutdown. Their tools reach the model as `mcp__<server>__<tool>` next
//! to the local tools ([`executor`]); calls go through the same approvals as every other
//! tool (see `session::approval`): under `ask` an MCP call waits for a person unless an
//! allow rule names the tool, or the server is trusted (`trust = true`) and the tool is
//! annotated `readOnlyHint`; read-only sessions are offered only those trusted read-only
//! tools.
//!
//! - [`server`]: one server's lifecycle (connect, list, refresh, restart, stop).
//! - [`connect`]: transports (stdio inside the sandbox, Streamable HTTP) and the handshake.
//! - [`adapt`]: names, schemas and results between MCP and the model.

pub mod adapt;
pub mod connect;
pub mod executor;
pub mod scoped;
pub mod server;

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};
use std::time::Instant;

use botcoder_config::mcp::McpServerEntry;
use botcoder_protocol::methods::{McpListResult, McpServerInfo};
use rmcp::model::{
    CallToolRequest, CallToolRequestParams, CancelledNotification, CancelledNotificationParam,
    ClientRequest, ServerResult,
};
use rmcp::service::PeerRequestOptions;
use serde_json::Value;

use self::server::{McpTool, Server, State};
use crate::tools::{ToolContext, ToolOutcome};

pub use self::executor::McpTools;

/// Every configured MCP server.
#[derive(Debug, Default)]
pub struct Mcp {
    servers: Mutex<BTreeMap<String, Arc<Server>>>,
    /// Why the `[mcp_servers]` section could not be read, when it could not.
    config_error: Mutex<Option<String>>,
    /// Sessions' own servers ([`scoped`]), stopped with these on shutdown.
    adopted: Mutex<Vec<std::sync::Weak<Mcp>>>,
}

impl Mcp {
    /// Starts every enabled server of `config` in the background; returns at once.
    pub fn start(config: Result<BTreeMap<String, McpServerEntry>, String>) -> Arc<Mcp> {
        let mcp = Arc::new(Mcp::default());
        mcp.apply(config);
        mcp
    }

    /// Applies a new `[mcp_servers]` section (`daemon.reload`): servers whose entry changed
    /// are restarted, removed ones stopped, new ones started; the rest keep running.
    pub fn apply(&self, config: Result<BTreeMap<String, McpServerEntry>, String>) {
        let config = match config {
            Ok(c) => {
                self.set_config_error(None);
                c
            }
            Err(e) => {
                tracing::warn!("mcp servers not (re)loaded: {e}");
                self.set_config_error(Some(e));
                return;
            }
        };
        let mut stopping = Vec::new();
        if let Ok(mut servers) = self.servers.lock() {
            servers.retain(|name, s| {
                let keep = config.get(name) == Some(&s.entry);
                if !keep {
                    stopping.push(s.clone());
                }
                keep
            });
            for (name, entry) in config {
                if !servers.contains_key(&name) {
                    servers.insert(name.clone(), Server::start(name, entry));
                }
            }
        }
        for s in stopping {
            tokio::spawn(async move { s.stop().await });
        }
    }

    /// Reads `[mcp_servers]` from the config file again and applies it (for `daemon.reload`).
    pub fn reload(&self) {
        self.apply(botcoder_config::mcp::load(&botcoder_config::config_path()));
    }

    fn set_config_error(&self, e: Option<String>) {
        if let Ok(mut c) = self.config_error.lock() {
            *c = e;
        }
    }

    fn all(&self) -> Vec<Arc<Server>> {
        self.servers
            .lock()
            .map(|s| s.values().cloned().collect())
            .unwrap_or_default()
    }

    fn server(&self, name: &str) -> Option<Arc<Server>> {
        self.servers.lock().ok().and_then(|s| s.get(name).cloned())
    }

    /// Waits for servers still starting, each at most until its own startup deadline
    /// counted from now, so a turn's first request offers the tools of servers that come
    /// up in time and never waits longer than the slowest startup timeout.
    pub async fn settle(&self) {
        let now = Instant::now();
        let waits = self
            .all()
            .into_iter()
            .filter(|s| s.state() == State::Starting)
            .map(|s| async move { s.settle(now + s.entry.startup_timeout()).await });
        futures::future::join_all(waits).await;
    }

    /// The tools of every ready server, with whether each counts as a read (trusted server
    /// and `readOnlyHint`).
    pub fn tools(&self) -> Vec<(McpTool, bool)> {
        self.all()
            .into_iter()
            .flat_map(|s| {
                let trusted = s.entry.is_trusted();
                s.tools()
                    .into_iter()
                    .map(move |t| {
                        let read = trusted && t.read_only_hint;
                        (t, read)
                    })
                    .collect::<Vec<_>>()
            })
            .collect()
    }

    /// The tool offered as `name`, and its server.
    fn find(&self, name: &str) -> Option<(Arc<Server>, McpTool)> {
        let server = self.server(adapt::server_of(name)?)?;
        let tool = server.tools().into_iter().find(|t| t.name == name)?;
        Some((server, tool))
    }

    /// Whether `name` is a read (see [`Mcp::tools`]).
    pub fn is_read(&self, name: &str) -> bool {
        self.find(name)
            .is_some_and(|(s, t)| s.entry.is_trusted() && t.read_only_hint)
    }

    /// `mcp.list`.
    pub fn list(&self) -> McpListResult {
        let mut servers: Vec<McpServerInfo> = self.all().iter().map(|s| s.info()).collect();
        if let Some(e) = self.config_error.lock().ok().and_then(|c| c.clone()) {
            servers.push(McpServerInfo {
                name: "(config)".to_owned(),
                transport: "-".to_owned(),
                state: "failed".to_owned(),
                protocol_version: None,
                tools: Vec::new(),
                last_error: Some(e),
            });
        }
        McpListResult { servers }
    }

    /// Stops every server (daemon shutdown), the adopted sessions' servers too.
    pub async fn shutdown(&self) {
        let mut all = self.all();
        let adopted = self
            .adopted
            .lock()
            .map(|mut a| std::mem::take(&mut *a))
            .unwrap_or_default();
        for mcp in adopted.iter().filter_map(std::sync::Weak::upgrade) {
            all.extend(mcp.all());
        }
        futures::future::join_all(all.iter().map(|s| s.stop())).await;
    }

    /// Makes `other` (a session's servers) stop with these.
    pub fn adopt(&self, other: &Arc<Mcp>) {
        if let Ok(mut a) = self.adopted.lock() {
            a.retain(|w| w.strong_count() > 0);
            a.push(Arc::downgrade(other));
        }
    }

    /// Runs the MCP tool offered as `name`. Progress notifications become `tool.output`,
    /// cancelling the turn sends `notifications/cancelled`, `tool_timeout_sec` bounds it.
    pub async fn call(&self, name: &str, args: &Value, ctx: &ToolContext) -> ToolOutcome {
        let Some((server, tool)) = self.find(name) else {
            return ToolOutcome::error(format!(
                "the MCP tool {name} is no longer offered (its server went away or changed its tools)"
            ));
        };
        let Some(peer) = server.peer() else {
            let info = server.info();
            return ToolOutcome::error(format!(
                "the MCP server {} is {} ({}); tell the user",
                server.name,
                info.state,
                info.last_error
                    .unwrap_or_else(|| "no error recorded".into())
            ));
        };
        let arguments = match args {
            Value::Object(o) => o.clone(),
            Value::Null => serde_json::Map::new(),
            _ => return ToolOutcome::error("the arguments of an MCP tool must be a JSON object"),
        };
        let params = CallToolRequestParams::new(tool.tool.clone()).with_arguments(arguments);
        let request = ClientRequest::CallToolRequest(CallToolRequest::new(params));
        let timeout = server.entry.tool_timeout();
        let handle = match peer
            .send_cancellable_request(request, PeerRequestOptions::with_timeout(timeout))
            .await
        {
            Ok(h) => h,
            Err(e) => {
                return ToolOutcome::error(format!(
                    "cannot send the call to the MCP server {}: {e}",
                    server.name
                ));
            }
        };
        let (id, token) = (handle.id.clone(), handle.progress_token.clone());
        if let (Some(tx), Ok(mut routes)) = (ctx.output.clone(), server.progress.lock()) {
            routes.insert(token.clone(), tx);
        }
        let answer = tokio::select! {
            r = handle.await_response() => Some(r),
            () = ctx.cancel.cancelled() => None,
        };
        if let Ok(mut routes) = server.progress.lock() {
            routes.remove(&token);
        }
        let Some(answer) = answer else {
            let note = CancelledNotification::new(CancelledNotificationParam::new(
                Some(id),
                Some("the user cancelled the turn".to_owned()),
            ));
            let _ = peer.send_notification(note.into()).await;
            return ToolOutcome::error("cancelled");
        };
        match answer {
            Ok(ServerResult::CallToolResult(result)) => {
                let value = serde_json::to_value(&result).unwrap_or_default();
                let (ok, output, truncated) = adapt::result(&value);
                ToolOutcome {
                    ok,
                    output,
                    exit_code: None,
                    truncated,
                    changes: Vec::new(),
                }
            }
            Ok(other) => ToolOutcome::error(format!(
                "the MCP server {} answered the call with something other than a tool result ({})",
                server.name,
                short_kind(&other)
            )),
            Err(rmcp::ServiceError::Timeout { timeout }) => ToolOutcome::error(format!(
                "the MCP tool {name} did not finish within {}s (tool_timeout_sec of [mcp_servers.{}]); it was cancelled",
                timeout.as_secs_f64(),
                server.name
            )),
            Err(e) => ToolOutcome::error(format!(
                "the MCP server {} failed the call: {e}",
                server.name
            )),
        }
    }
}

fn short_kind(r: &ServerResult) -> String {
    let text = format!("{r:?}");
    text.split(['(', ' ', '{']).next().unwrap_or("").to_owned()
}
