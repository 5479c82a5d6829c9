//! The editor's `mcpServers` (in `session/new` and `session/load`): handed to the daemon
//! with `session.use_mcp`, which runs them for that session only, for as long as this bridge
//! is connected (see `botcoderd`'s `mcp::scoped`). stdio and Streamable HTTP servers are
//! taken; SSE servers are not (the capability is not advertised, so an editor should not
//! send them) and are skipped with a note.

use std::collections::BTreeMap;

use agent_client_protocol::v1::schema::McpServer;
use botcoder_protocol::SessionId;
use botcoder_protocol::client::DaemonClient;
use botcoder_protocol::methods::{SessionMcpServer, SessionUseMcp, SessionUseMcpParams};

/// The daemon's form of `list`, and a note for each server it cannot take.
pub fn convert(list: &[McpServer]) -> (BTreeMap<String, SessionMcpServer>, Vec<String>) {
    let mut servers = BTreeMap::new();
    let mut skipped = Vec::new();
    for s in list {
        match s {
            McpServer::Stdio(s) => {
                servers.insert(
                    s.name.clone(),
                    SessionMcpServer {
                        command: Some(s.command.display().to_string()),
                        args: s.args.clone(),
                        env: s
                            .env
                            .iter()
                            .map(|v| (v.name.clone(), v.value.clone()))
                            .collect(),
                        ..SessionMcpServer::default()
                    },
                );
            }
            McpServer::Http(s) => {
                servers.insert(
                    s.name.clone(),
                    SessionMcpServer {
                        url: Some(s.url.clone()),
                        headers: s
                            .headers
                            .iter()
                            .map(|h| (h.name.clone(), h.value.clone()))
                            .collect(),
                        ..SessionMcpServer::default()
                    },
                );
            }
            McpServer::Sse(s) => skipped.push(format!(
                "MCP server {}: SSE servers are not supported (use stdio or Streamable HTTP)",
                s.name
            )),
            _ => skipped.push("an MCP server of an unknown transport was skipped".to_owned()),
        }
    }
    (servers, skipped)
}

/// Starts the editor's servers for `session`. A failure is reported to the editor's log
/// (stderr) and does not fail the session: its other tools work without them.
pub async fn use_servers(daemon: &DaemonClient, session: &SessionId, list: &[McpServer]) {
    if list.is_empty() {
        return;
    }
    let (servers, skipped) = convert(list);
    for note in skipped {
        eprintln!("botcoder acp: {note}");
    }
    let params = SessionUseMcpParams {
        session_id: session.clone(),
        servers,
    };
    match daemon.call::<SessionUseMcp>(&params).await {
        Ok(r) => {
            for s in r.servers.iter().filter(|s| s.state != "ready") {
                let why = s.last_error.as_deref().unwrap_or("no error recorded");
                eprintln!("botcoder acp: MCP server {} is {}: {why}", s.name, s.state);
            }
        }
        Err(e) => eprintln!("botcoder acp: the editor's MCP servers were not started: {e}"),
    }
}
