//! The method handlers, registered per connection so each knows its client's name.
//!
//! Every method but `daemon.hello` needs a hello first (so every connection has said who
//! it is and what it can do before it acts); `approval.respond` needs the `approvals`
//! capability; a connection from a process started for a tool gets nothing at all
//! (invariant I9: nothing a tool starts can answer an approval or drive the daemon).

use std::future::Future;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};

use botcoder_protocol::client_fs::CAPABILITY_FS;
use botcoder_protocol::methods::{
    self as m, ApprovalRespond, DaemonHello, DaemonShutdown, DaemonStatus, Empty, HelloResult,
    Method, ProviderCheck, ProviderCheckResult, ProviderList, SessionCompact, SessionCreate,
    SessionDelete, SessionGet, SessionHistory, SessionHistoryResult, SessionList,
    SessionListResult, SessionRename, SessionSend, SubscribeParams, TurnCancel, TurnCancelResult,
};
use botcoder_protocol::methods::{SessionDiff, SessionRevert, SessionUnrevert};
use botcoder_protocol::{CAPABILITY_APPROVALS, ErrorKind, PROTOCOL_VERSION};
use jsonrpsee::RpcModule;
use jsonrpsee::types::Params;
use serde::de::DeserializeOwned;

use super::error::to_rpc_error;
use super::gate::Slot;
use super::limits;
use crate::error::DaemonError;
use crate::session::subscription;
use crate::state::Daemon;

mod client_fs;

/// Largest page `session.history` returns.
const HISTORY_MAX: u64 = 10_000;

/// Who is on the other end of a connection, as far as the socket can tell.
#[derive(Debug, Default)]
pub struct Peer {
    /// The peer's pid (SO_PEERCRED), when known.
    pub pid: Option<u32>,
    /// The peer is (or descends from) a process the daemon started for a tool.
    pub from_tool: bool,
    /// The connection's place in the connection budget.
    pub slot: Option<Slot>,
    /// Cancelled when the connection's method table is dropped, i.e. the connection ended.
    pub ended: tokio_util::sync::CancellationToken,
}

/// One connection's view: the daemon plus who is calling.
#[derive(Debug)]
pub struct Conn {
    daemon: Arc<Daemon>,
    client: Mutex<String>,
    approver: AtomicBool,
    /// `daemon.hello` succeeded on this connection.
    greeted: Arc<AtomicBool>,
    /// Its part in serving sessions' files (`client.fs.serve`).
    fs: crate::client_fs::ConnFs,
    peer: Peer,
}

impl Drop for Conn {
    fn drop(&mut self) {
        // The method table lives exactly as long as its connection.
        self.daemon.connections.fetch_sub(1, Ordering::Relaxed);
        self.peer.ended.cancel();
    }
}

impl Conn {
    fn client(&self) -> String {
        self.client.lock().map(|c| c.clone()).unwrap_or_default()
    }

    /// Whether this connection may call `method` at all.
    fn admit(&self, method: &str) -> Result<(), DaemonError> {
        if self.peer.from_tool {
            return Err(DaemonError::new(
                ErrorKind::PermissionDenied,
                format!(
                    "refused: this connection comes from a process botcoderd started for a tool (pid {}); commands the agent runs cannot drive the daemon",
                    self.peer.pid.unwrap_or_default()
                ),
            ));
        }
        if method != DaemonHello::NAME && !self.greeted.load(Ordering::Acquire) {
            return Err(DaemonError::new(
                ErrorKind::PermissionDenied,
                format!(
                    "{method} refused: call daemon.hello {{client, protocol_version, capabilities}} first on this connection"
                ),
            ));
        }
        Ok(())
    }
}

fn parse<T: DeserializeOwned>(params: &Params<'_>) -> Result<T, DaemonError> {
    let raw = params.as_str().unwrap_or("{}");
    if raw.trim_start().starts_with('[') {
        return Err(DaemonError::invalid_params(
            "params must be an object with named fields, not an array",
        ));
    }
    serde_json::from_str(raw)
        .map_err(|e| DaemonError::invalid_params(format!("invalid params: {e}")))
}

fn register<M, F, Fut>(module: &mut RpcModule<Conn>, handler: F)
where
    M: Method,
    F: Fn(M::Params, Arc<Conn>) -> Fut + Clone + Send + Sync + 'static,
    Fut: Future<Output = Result<M::Result, DaemonError>> + Send + 'static,
    M::Result: Clone,
{
    let registered = module.register_async_method(M::NAME, move |params, conn, _| {
        let handler = handler.clone();
        async move {
            conn.admit(M::NAME).map_err(to_rpc_error)?;
            let p = parse::<M::Params>(&params).map_err(to_rpc_error)?;
            handler(p, conn).await.map_err(to_rpc_error)
        }
    });
    if let Err(e) = registered {
        tracing::error!(method = M::NAME, error = %e, "method registered twice");
    }
}

/// Every method and the subscription, for one connection. `greeted` is set once
/// `daemon.hello` succeeds (the listener closes connections that never get there).
pub fn module(daemon: Arc<Daemon>, peer: Peer, greeted: Arc<AtomicBool>) -> RpcModule<Conn> {
    daemon.connections.fetch_add(1, Ordering::Relaxed);
    let conn = Conn {
        daemon,
        client: Mutex::new("unknown".to_owned()),
        approver: AtomicBool::new(false),
        greeted,
        fs: crate::client_fs::ConnFs::new(peer.ended.clone()),
        peer,
    };
    let mut module = RpcModule::new(conn);

    register::<DaemonHello, _, _>(&mut module, |p, conn| async move {
        limits::client_name(&p.client)?;
        limits::hello_extras(&p.protocol_version, &p.capabilities)?;
        let major = |v: &str| v.split('.').next().unwrap_or_default().to_owned();
        if major(&p.protocol_version) != major(PROTOCOL_VERSION) {
            return Err(DaemonError::new(
                ErrorKind::ProtocolMismatch,
                format!(
                    "{} speaks protocol {} but this botcoderd speaks {}; install matching versions and restart the daemon (`botcoder daemon stop`)",
                    p.client, p.protocol_version, PROTOCOL_VERSION
                ),
            ));
        }
        if let Ok(mut c) = conn.client.lock() {
            *c = p.client.clone();
        }
        let approver = p.capabilities.iter().any(|c| c == CAPABILITY_APPROVALS);
        conn.approver.store(approver, Ordering::Relaxed);
        (conn.fs).declare(p.capabilities.iter().any(|c| c == CAPABILITY_FS));
        conn.greeted.store(true, Ordering::Release);
        if let Some(slot) = &conn.peer.slot {
            slot.established();
        }
        Ok(HelloResult {
            protocol_version: PROTOCOL_VERSION.to_owned(),
            daemon_version: env!("CARGO_PKG_VERSION").to_owned(),
            capabilities: vec![
                CAPABILITY_APPROVALS.to_owned(),
                "tools".to_owned(),
                CAPABILITY_FS.to_owned(),
            ],
        })
    });
    register::<DaemonStatus, _, _>(&mut module, |_: Empty, conn| async move {
        Ok(conn.daemon.status().await)
    });
    register::<DaemonShutdown, _, _>(&mut module, |_: Empty, conn| async move {
        tracing::info!(client = %conn.client(), "shutdown requested");
        conn.daemon.request_shutdown();
        Ok(Empty {})
    });
    register::<m::McpList, _, _>(&mut module, |_: Empty, conn| async move {
        Ok(conn.daemon.mcp.list())
    });
    register::<m::SessionUseMcp, _, _>(&mut module, |p, conn| async move {
        let session = conn.daemon.sessions.get(&p.session_id).await?;
        let project = session.core.project_path();
        let ended = conn.peer.ended.clone();
        let mcp = (session.core.mcp).replace(&conn.daemon.mcp, &project, p.servers, ended)?;
        // Answer once they are up (or failed): each waits at most its startup timeout.
        if let Some(mcp) = &mcp {
            mcp.settle().await;
        }
        Ok(mcp.map(|m| m.list()).unwrap_or_default())
    });
    register::<ProviderList, _, _>(&mut module, |_: Empty, conn| async move {
        super::settings::providers(&conn.daemon).await
    });
    register::<m::DaemonReload, _, _>(&mut module, |_: Empty, conn| async move {
        super::settings::reload(&conn.daemon).await
    });
    register::<m::SessionConfigure, _, _>(&mut module, |p, conn| async move {
        super::settings::configure(&conn.daemon, conn.client(), p).await
    });
    register::<ProviderCheck, _, _>(&mut module, |_: Empty, conn| async move {
        Ok(match conn.daemon.provider() {
            Err(msg) => ProviderCheckResult {
                ok: false,
                message: msg,
            },
            Ok(p) => match p.check().await {
                Ok(()) => ProviderCheckResult {
                    ok: true,
                    message: format!("{} answered and accepted the credentials", p.name()),
                },
                Err(message) => ProviderCheckResult { ok: false, message },
            },
        })
    });
    register::<SessionCreate, _, _>(&mut module, |p, conn| async move {
        let info = super::settings::create(&conn.daemon, conn.client(), p).await?;
        client_fs::created(&conn, &info.session_id).await;
        Ok(info)
    });
    register::<SessionList, _, _>(&mut module, |p, conn| async move {
        if let Some(path) = &p.project_path {
            limits::project_path(path)?;
        }
        let mut sessions = conn.daemon.sessions.list(p.project_path.as_deref()).await?;
        for s in &mut sessions {
            s.title = limits::shown_title(s.title.take());
        }
        Ok(SessionListResult { sessions })
    });
    register::<SessionGet, _, _>(&mut module, |p, conn| async move {
        let mut info = conn.daemon.sessions.get(&p.session_id).await?.core.info();
        info.title = limits::shown_title(info.title.take());
        Ok(info)
    });
    register::<SessionDelete, _, _>(&mut module, |p, conn| async move {
        conn.daemon.sessions.delete(&p.session_id).await?;
        conn.daemon.deps.live.forget(&p.session_id);
        Ok(Empty {})
    });
    register::<SessionRename, _, _>(&mut module, |p, conn| async move {
        let Some(title) = limits::title(&p.title)? else {
            return Err(DaemonError::invalid_params("title must not be empty"));
        };
        let session = conn.daemon.sessions.get(&p.session_id).await?;
        session.core.rename(title).await?;
        Ok(session.core.info())
    });
    register::<SessionHistory, _, _>(&mut module, |p, conn| async move {
        let session = conn.daemon.sessions.get(&p.session_id).await?;
        let limit = p.limit.unwrap_or(HISTORY_MAX).clamp(1, HISTORY_MAX) as usize;
        let last_seq = session.core.hub.last_seq();
        let after = p.after_seq;
        let events = (session.core)
            .history(after, limit, crate::session::limits::MAX_PAGE_BYTES)
            .await?;
        let returned_last = events
            .last()
            .and_then(|e: &botcoder_protocol::Event| e.seq)
            .unwrap_or(after);
        Ok(SessionHistoryResult {
            has_more: returned_last < last_seq,
            events,
            last_seq,
        })
    });
    register::<SessionCompact, _, _>(&mut module, |p, conn| async move {
        let session = conn.daemon.sessions.get(&p.session_id).await?;
        crate::session::compact::on_demand(&session.core, &conn.daemon.sessions.deps()).await
    });
    register::<SessionSend, _, _>(&mut module, |p, conn| async move {
        limits::message_text(&p.text)?;
        let env = super::settings::client_env(p.env)?;
        let session = conn.daemon.sessions.get(&p.session_id).await?;
        if !env.is_empty() {
            // Before the turn is queued, so the turn resolves its provider with it.
            conn.daemon.deps.live.set_client_env(&p.session_id, env);
        }
        session.send(p.text, conn.client(), p.approval).await
    });
    register::<ApprovalRespond, _, _>(&mut module, |p, conn| async move {
        if !conn.approver.load(Ordering::Relaxed) {
            return Err(DaemonError::new(
                ErrorKind::PermissionDenied,
                format!(
                    "approval.respond refused: only a client that declared the \"{CAPABILITY_APPROVALS}\" capability in daemon.hello may answer approvals (the TUI does)"
                ),
            ));
        }
        limits::id("call_id", &p.call_id)?;
        let session = conn.daemon.sessions.get(&p.session_id).await?;
        session
            .core
            .resolve_approval(&p.call_id, p.decision, conn.client(), p.message)?;
        Ok(Empty {})
    });
    register::<TurnCancel, _, _>(&mut module, |p, conn| async move {
        if let Some(t) = &p.turn_id {
            limits::id("turn_id", &t.0)?;
        }
        let session = conn.daemon.sessions.get(&p.session_id).await?;
        let cancelled = session.cancel(p.turn_id).await?;
        Ok(TurnCancelResult { cancelled })
    });
    register::<SessionRevert, _, _>(&mut module, |p, conn| async move {
        super::undo::revert(&conn.daemon, p, conn.client(), true).await
    });
    register::<SessionUnrevert, _, _>(&mut module, |p, conn| async move {
        super::undo::revert(&conn.daemon, p, conn.client(), false).await
    });
    register::<SessionDiff, _, _>(&mut module, |p, conn| async move {
        super::undo::diff(&conn.daemon, p).await
    });

    let subscribed = module.register_subscription(
        m::SESSION_SUBSCRIBE,
        m::SESSION_EVENT_NOTIFICATION,
        m::SESSION_UNSUBSCRIBE,
        |params, pending, conn, _| async move {
            let parsed = conn
                .admit(m::SESSION_SUBSCRIBE)
                .and_then(|()| parse::<SubscribeParams>(&params));
            let session = match parsed {
                Ok(p) => conn
                    .daemon
                    .sessions
                    .get(&p.session_id)
                    .await
                    .map(|s| (s, p.after_seq)),
                Err(e) => Err(e),
            };
            match session {
                Err(e) => pending.reject(to_rpc_error(e)).await,
                Ok((session, after_seq)) => {
                    if let Ok(sink) = pending.accept().await {
                        let approver = conn.approver.load(Ordering::Relaxed);
                        subscription::serve(session.core.clone(), sink, after_seq, approver).await;
                    }
                }
            }
        },
    );
    if let Err(e) = subscribed {
        tracing::error!(error = %e, "subscription registered twice");
    }
    client_fs::register(&mut module);
    module
}
