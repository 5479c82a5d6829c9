//! What the daemon owns, shared by every connection: sessions, the rate limiter, the
//! botserver, the providers, and the answers to `daemon.status` and `provider.list`. The
//! RPC handlers read it; `server` builds it and runs the daemon. Kept apart from `server`
//! so that `rpc` depends on this module and `server` on `rpc`, and not both ways.

use std::path::PathBuf;
use std::sync::Arc;
use std::sync::atomic::AtomicU64;
use std::time::Instant;

use botcoder_protocol::methods::{BotserverInfo, BudgetInfo, DaemonStatusResult, ProviderInfo};
use botcoder_protocol::{Mode, PROTOCOL_VERSION};
use tokio_util::sync::CancellationToken;

use crate::llm::LlmProvider;
use crate::session::Sessions;
use crate::session::turn_types::TurnDeps;

/// Everything the daemon owns, shared by every connection.
#[derive(Debug)]
pub struct Daemon {
    /// All sessions.
    pub sessions: Sessions,
    /// What every turn needs (provider, limiter, botserver, tools, snapshots, live settings):
    /// the daemon's one set, which each session's turns derive theirs from
    /// (`session::settings::for_turn`). `sessions` holds the same `Arc`.
    pub deps: Arc<TurnDeps>,
    /// Open connections.
    pub connections: AtomicU64,
    /// The MCP servers.
    pub mcp: Arc<crate::mcp::Mcp>,
    pub(crate) started: Instant,
    pub(crate) socket_path: PathBuf,
    pub(crate) log_file: PathBuf,
    pub(crate) shutdown: CancellationToken,
    /// What the sessions directory was at start, to notice it being removed or replaced.
    pub(crate) sessions_dir_id: Option<crate::session::store::FileId>,
}

impl Daemon {
    /// Whether the sessions directory is still the one the daemon started with. Journals of
    /// live sessions would otherwise be written into unlinked files and lost on restart.
    fn storage_error(&self) -> Option<String> {
        let root = self.sessions.root();
        let changed = match &self.sessions_dir_id {
            Some(id) => id.changed(root)?,
            None => format!("{} could not be examined at start", root.display()),
        };
        Some(format!(
            "the sessions directory was removed or replaced while botcoderd ran ({changed}); \
             new events of open sessions cannot be saved. Restore it, or restart botcoderd \
             (`botcoder daemon restart`) to continue from what is on disk"
        ))
    }

    /// Answers `daemon.status`.
    pub async fn status(&self) -> DaemonStatusResult {
        DaemonStatusResult {
            pid: std::process::id(),
            daemon_version: env!("CARGO_PKG_VERSION").to_owned(),
            protocol_version: PROTOCOL_VERSION.to_owned(),
            uptime_ms: self.started.elapsed().as_millis() as u64,
            socket_path: self.socket_path.display().to_string(),
            data_dir: self.sessions.root().display().to_string(),
            log_file: self.log_file.display().to_string(),
            sessions: self.sessions.count().await,
            loaded_sessions: self.sessions.loaded(),
            running_turns: self.sessions.running_turns().await,
            connections: self.connections.load(std::sync::atomic::Ordering::Relaxed),
            mode: self
                .deps
                .botserver
                .as_ref()
                .map_or(Mode::Local, |b| b.mode()),
            botserver: self.deps.botserver.as_ref().map(|b| {
                let snap = b.monitor.snapshot();
                BotserverInfo {
                    url: crate::redact::scrub(&b.settings.url),
                    state: snap.state,
                    facade: b.settings.facade,
                    fallback_to_local: b.settings.fallback_to_local,
                    last_probe: snap.last_probe,
                    last_error: snap.last_error.map(|e| crate::redact::scrub(&e)),
                }
            }),
            provider: self.provider_info(),
            provider_error: self
                .deps
                .live
                .current()
                .provider
                .as_ref()
                .err()
                .map(|e| crate::redact::scrub(e)),
            config_error: self.deps.live.error().map(|e| crate::redact::scrub(&e)),
            budgets: self
                .deps
                .limiter
                .snapshot()
                .into_iter()
                .map(|b| BudgetInfo {
                    endpoint: crate::redact::scrub(&b.key),
                    tpm: b.limits.tpm,
                    rpm: b.limits.rpm,
                    tokens_used: b.tokens_used,
                    requests_used: b.requests_used,
                })
                .collect(),
            storage_error: self.storage_error(),
            sandbox: Some(crate::tools::sandbox::current().info()),
            cost_usd: self.sessions.cost_usd(),
            mcp: Some(self.mcp.list().servers).filter(|s| !s.is_empty()),
        }
    }

    /// The active provider as clients may see it (no secrets: the base URL without
    /// userinfo, the last error redacted).
    pub fn provider_info(&self) -> Option<ProviderInfo> {
        let base = self.deps.live.current();
        let p = base.provider.as_ref().ok()?;
        let (health, last_error) = self.deps.health.snapshot();
        Some(ProviderInfo {
            name: p.name().to_owned(),
            model: p.model().to_owned(),
            base_url: crate::redact::scrub(p.base_url()),
            capabilities: p.capabilities(),
            health,
            last_error: last_error.map(|e| crate::redact::scrub(&e)),
            models: Vec::new(),
        })
    }

    /// Every configured provider, the active one first (then the `LLM_FALLBACK` chain).
    pub fn providers_info(&self) -> Vec<ProviderInfo> {
        let base = self.deps.live.current();
        let rest = base.fallbacks.iter().map(|p| ProviderInfo {
            name: p.name().to_owned(),
            model: p.model().to_owned(),
            base_url: crate::redact::scrub(p.base_url()),
            capabilities: p.capabilities(),
            health: botcoder_protocol::ProviderHealth::Unknown,
            last_error: None,
            models: Vec::new(),
        });
        self.provider_info().into_iter().chain(rest).collect()
    }

    /// The active provider, or why there is none.
    pub fn provider(&self) -> Result<Arc<dyn LlmProvider>, String> {
        self.deps.live.current().provider.clone()
    }

    /// Starts a graceful stop (as SIGTERM does).
    pub fn request_shutdown(&self) {
        self.shutdown.cancel();
    }
}
