//! MCP servers of one session: what an editor names in ACP's `mcpServers` (`session.use_mcp`).
//!
//! They are the same kind of server as the configured ones ([`Mcp`]: sandboxed stdio or
//! Streamable HTTP, restarted with backoff, their calls under the same approvals; their own
//! `readOnlyHint` is never believed, so every call of theirs is asked for under `ask`), but
//! they belong to the connection that named them: the next `session.use_mcp` replaces them,
//! and they stop when that connection ends, or with the daemon. A stdio server runs in the
//! session's project. Their tools are offered to that session only, after the configured
//! servers' (a configured server's name wins).

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex, MutexGuard};

use botcoder_config::mcp::{McpServerEntry, valid_server_name};
use botcoder_protocol::methods::SessionMcpServer;
use tokio_util::sync::CancellationToken;

use super::Mcp;
use crate::error::DaemonError;

/// Most servers one session may name.
pub const MAX_SERVERS: usize = 16;
/// Longest value of any string an entry carries (command, argument, variable, header, URL).
const MAX_STRING: usize = 8 * 1024;
/// Most arguments, variables or headers of one entry.
const MAX_ITEMS: usize = 256;

/// A session's own servers, with the connection they belong to.
#[derive(Debug, Default)]
pub struct SessionMcp {
    current: Mutex<Option<Owned>>,
}

#[derive(Debug)]
struct Owned {
    mcp: Arc<Mcp>,
    /// Cancelled when they are replaced or stopped (ends the watch on the connection).
    done: CancellationToken,
}

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|p| p.into_inner())
}

impl SessionMcp {
    /// The session's servers, if it has any.
    pub fn get(&self) -> Option<Arc<Mcp>> {
        lock(&self.current).as_ref().map(|o| o.mcp.clone())
    }

    /// Starts `servers` for the session in `project` (replacing the ones it had) and ties
    /// them to `conn_ended`; `daemon` stops them on shutdown too. An empty map only stops
    /// the old ones.
    pub fn replace(
        self: &Arc<Self>,
        daemon: &Arc<Mcp>,
        project: &str,
        servers: BTreeMap<String, SessionMcpServer>,
        conn_ended: CancellationToken,
    ) -> Result<Option<Arc<Mcp>>, DaemonError> {
        let entries = entries(project, servers)?;
        let old = lock(&self.current).take();
        if let Some(old) = old {
            old.done.cancel();
            tokio::spawn(async move { old.mcp.shutdown().await });
        }
        if entries.is_empty() {
            return Ok(None);
        }
        let mcp = Mcp::start(Ok(entries));
        daemon.adopt(&mcp);
        let done = CancellationToken::new();
        *lock(&self.current) = Some(Owned {
            mcp: mcp.clone(),
            done: done.clone(),
        });
        let (slot, watched) = (Arc::downgrade(self), mcp.clone());
        tokio::spawn(async move {
            tokio::select! {
                () = conn_ended.cancelled() => {}
                () = done.cancelled() => return,
            }
            if let Some(slot) = slot.upgrade() {
                let mut current = lock(&slot.current);
                if current
                    .as_ref()
                    .is_some_and(|o| Arc::ptr_eq(&o.mcp, &watched))
                {
                    *current = None;
                }
            }
            watched.shutdown().await;
        });
        Ok(Some(mcp))
    }
}

/// The config entries of `servers`, checked and bounded like a hostile client's input.
fn entries(
    project: &str,
    servers: BTreeMap<String, SessionMcpServer>,
) -> Result<BTreeMap<String, McpServerEntry>, DaemonError> {
    if servers.len() > MAX_SERVERS {
        return Err(DaemonError::invalid_params(format!(
            "session.use_mcp names {} servers; at most {MAX_SERVERS} are allowed per session",
            servers.len()
        )));
    }
    let mut out = BTreeMap::new();
    for (name, s) in servers {
        if !valid_server_name(&name) {
            return Err(DaemonError::invalid_params(format!(
                "MCP server name {name:?}: use letters, digits, '-' and '_' only"
            )));
        }
        let too_long = {
            let mut strings = (s.command.iter())
                .chain(s.url.iter())
                .chain(s.args.iter())
                .chain(s.env.iter().flat_map(|(k, v)| [k, v]))
                .chain(s.headers.iter().flat_map(|(k, v)| [k, v]));
            strings.any(|v| v.len() > MAX_STRING)
        };
        if too_long || s.args.len().max(s.env.len()).max(s.headers.len()) > MAX_ITEMS {
            return Err(DaemonError::invalid_params(format!(
                "MCP server {name}: at most {MAX_ITEMS} arguments, variables or headers of at most {MAX_STRING} bytes each"
            )));
        }
        let entry = McpServerEntry {
            command: s.command,
            args: s.args,
            env: s.env,
            cwd: Some(project.to_owned()),
            url: s.url,
            http_headers: s.headers,
            ..McpServerEntry::default()
        };
        entry.transport(&name).map_err(|e| {
            DaemonError::invalid_params(e.replace("[mcp_servers.", "[session server "))
        })?;
        out.insert(name, entry);
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used)]
    use super::*;

    fn stdio(cmd: &str) -> SessionMcpServer {
        SessionMcpServer {
            command: Some(cmd.to_owned()),
            ..SessionMcpServer::default()
        }
    }

    #[test]
    fn entries_run_in_the_project_and_are_never_trusted_or_unsandboxed() {
        let e = entries("/p", BTreeMap::from([("fs".to_owned(), stdio("server"))])).unwrap();
        let fs = &e["fs"];
        assert_eq!(fs.cwd.as_deref(), Some("/p"));
        assert!(!fs.is_trusted());
        assert!(fs.is_sandboxed());
    }

    #[test]
    fn hostile_entries_are_refused() {
        let many: BTreeMap<_, _> = (0..=MAX_SERVERS)
            .map(|i| (format!("s{i}"), stdio("x")))
            .collect();
        assert!(entries("/p", many).is_err());
        assert!(entries("/p", BTreeMap::from([("../x".to_owned(), stdio("x"))])).is_err());
        let huge = SessionMcpServer {
            args: vec!["a".repeat(MAX_STRING + 1)],
            ..stdio("x")
        };
        assert!(entries("/p", BTreeMap::from([("s".to_owned(), huge)])).is_err());
        let neither = SessionMcpServer::default();
        assert!(entries("/p", BTreeMap::from([("s".to_owned(), neither)])).is_err());
        let bad_url = SessionMcpServer {
            url: Some("file:///etc/passwd".to_owned()),
            ..SessionMcpServer::default()
        };
        assert!(entries("/p", BTreeMap::from([("s".to_owned(), bad_url)])).is_err());
    }
}
