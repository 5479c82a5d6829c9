//! The daemon as a whole: what it owns, how it starts, and how it stops.

use std::path::PathBuf;
use std::sync::Arc;
use std::sync::atomic::AtomicU64;
use std::time::{Duration, Instant};

use botcoder_protocol::EventBody;
use botcoder_protocol::methods::{BotserverInfo, BudgetInfo, DaemonStatusResult, ProviderInfo};
use botcoder_protocol::{Mode, PROTOCOL_VERSION};
use tokio_util::sync::CancellationToken;

use crate::botserver::Botserver;
use crate::config::{AgentSettings, Config, ProviderSpec};
use crate::llm::openai::OpenAiProvider;
use crate::llm::{HeaderObserver, LlmProvider, endpoint_key};
use crate::ratelimit::RateLimiter;
use crate::rpc;
use crate::session::Sessions;
use crate::session::turn::TurnDeps;

/// How long a graceful stop may take before the daemon exits anyway.
const STOP_BUDGET: Duration = Duration::from_millis(1500);

/// Everything the daemon owns, shared by every connection.
#[derive(Debug)]
pub struct Daemon {
    /// All sessions.
    pub sessions: Sessions,
    /// Open connections.
    pub connections: AtomicU64,
    /// Agent loop settings (defaults for new sessions).
    pub agent: AgentSettings,
    /// The daemon-wide rate limiter.
    pub limiter: Arc<RateLimiter>,
    /// The botserver, when configured.
    pub botserver: Option<Arc<Botserver>>,
    /// The shadow repositories of undo (`crate::snapshot`).
    pub snapshots: Arc<crate::snapshot::Snapshots>,
    health: Arc<crate::llm::ProviderHealth>,
    fallbacks: Vec<Arc<dyn LlmProvider>>,
    provider: Result<Arc<dyn LlmProvider>, String>,
    started: Instant,
    socket_path: PathBuf,
    log_file: PathBuf,
    shutdown: CancellationToken,
    /// What the sessions directory was at start, to notice it being removed or replaced.
    sessions_dir_id: Option<crate::session::store::FileId>,
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
            mode: match &self.botserver {
                Some(b) if b.settings.facade && b.monitor.is_healthy() => Mode::MultiAgent,
                _ => Mode::Local,
            },
            botserver: self.botserver.as_ref().map(|b| {
                let snap = b.monitor.snapshot();
                BotserverInfo {
                    url: crate::redact::scrub(&b.settings.url),
                    state: snap.state.as_str().to_owned(),
                    facade: b.settings.facade,
                    fallback_to_local: b.settings.fallback_to_local,
                    last_probe: snap.last_probe,
                    last_error: snap.last_error.map(|e| crate::redact::scrub(&e)),
                }
            }),
            provider: self.provider_info(),
            provider_error: self
                .provider
                .as_ref()
                .err()
                .map(|e| crate::redact::scrub(e)),
            budgets: self
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
        }
    }

    /// The active provider as clients may see it (no secrets: the base URL without
    /// userinfo, the last error redacted).
    pub fn provider_info(&self) -> Option<ProviderInfo> {
        let p = self.provider.as_ref().ok()?;
        let (health, last_error) = self.health.snapshot();
        Some(ProviderInfo {
            name: p.name().to_owned(),
            model: p.model().to_owned(),
            base_url: crate::redact::scrub(p.base_url()),
            capabilities: p.capabilities(),
            health: health.to_owned(),
            last_error: last_error.map(|e| crate::redact::scrub(&e)),
        })
    }

    /// Every configured provider, the active one first (then the `LLM_FALLBACK` chain).
    pub fn providers_info(&self) -> Vec<ProviderInfo> {
        let rest = self.fallbacks.iter().map(|p| ProviderInfo {
            name: p.name().to_owned(),
            model: p.model().to_owned(),
            base_url: crate::redact::scrub(p.base_url()),
            capabilities: p.capabilities(),
            health: "unknown".to_owned(),
            last_error: None,
        });
        self.provider_info().into_iter().chain(rest).collect()
    }

    /// The active provider, or why there is none.
    pub fn provider(&self) -> Result<Arc<dyn LlmProvider>, String> {
        self.provider.clone()
    }

    /// Starts a graceful stop (as SIGTERM does).
    pub fn request_shutdown(&self) {
        self.shutdown.cancel();
    }
}

/// Settings for [`run`].
#[derive(Debug)]
pub struct RunOptions {
    /// Socket to serve.
    pub socket_path: PathBuf,
    /// Session journals.
    pub data_dir: PathBuf,
    /// Log file path (for `daemon.status`).
    pub log_file: PathBuf,
    /// Configuration read at start.
    pub config: Config,
    /// A listening socket inherited from systemd (socket activation).
    pub inherited: Option<std::os::unix::net::UnixListener>,
}

/// Why the daemon could not start.
#[derive(Debug, thiserror::Error)]
pub enum StartError {
    /// The socket could not be served.
    #[error(transparent)]
    Listen(#[from] rpc::listener::ListenError),
    /// Anything else.
    #[error("{0}")]
    Other(String),
}

/// Builds the provider a spec describes.
fn build_provider(
    spec: &ProviderSpec,
    limiter: &Arc<RateLimiter>,
    limits: crate::llm::ProviderLimits,
) -> Result<Arc<dyn LlmProvider>, String> {
    let http = crate::llm::http_client()?;
    let observer = |name: &str, base: &str| HeaderObserver {
        limiter: limiter.clone(),
        key: endpoint_key(name, base),
    };
    Ok(match spec {
        ProviderSpec::OpenAi(cfg) => {
            let o = observer(&cfg.name, &cfg.base_url);
            Arc::new(
                OpenAiProvider::new(cfg.clone(), http)
                    .with_observer(o)
                    .with_limits(limits),
            )
        }
        ProviderSpec::Anthropic(cfg) => {
            let o = observer("anthropic", &cfg.base_url);
            Arc::new(
                crate::llm::anthropic::AnthropicProvider::new(cfg.clone(), http)
                    .with_observer(o)
                    .with_limits(limits),
            )
        }
    })
}

/// Serves until SIGTERM, SIGINT or `daemon.shutdown`; then cancels turns, flushes journals,
/// removes the socket and returns.
pub async fn run(opts: RunOptions) -> Result<(), StartError> {
    // First: from here on every log line, event and status field is redacted (I8).
    crate::redact::install(opts.config.redactor.clone());
    // With a file-size limit (RLIMIT_FSIZE) a write past it raises SIGXFSZ, which would kill
    // the daemon; with a handler installed the write fails with EFBIG instead and the
    // request gets a clear error.
    let _xfsz = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::from_raw(
        rustix::process::Signal::XFSZ.as_raw(),
    ));
    // Under socket activation systemd owns the socket file: serve it, never delete it.
    let (std_listener, socket_path, bound) = match opts.inherited {
        Some(l) => {
            l.set_nonblocking(true)
                .map_err(|e| StartError::Other(format!("inherited socket: {e}")))?;
            tracing::info!("serving the socket passed by systemd");
            (l, opts.socket_path.clone(), None)
        }
        None => {
            let bound = rpc::listener::bind(&opts.socket_path)?;
            let listener = bound
                .listener
                .try_clone()
                .map_err(|e| StartError::Other(format!("socket: {e}")))?;
            (listener, bound.path.clone(), Some(bound))
        }
    };
    let owns_socket = bound.is_some();
    crate::tools::sandbox::start(opts.config.sandbox, &socket_path, &opts.data_dir).await;
    let listener = tokio::net::UnixListener::from_std(std_listener)
        .map_err(|e| StartError::Other(format!("cannot serve the socket: {e}")))?;
    let limiter = Arc::new(RateLimiter::new());
    let health = Arc::new(crate::llm::ProviderHealth::default());
    let fallbacks: Vec<Arc<dyn LlmProvider>> = opts
        .config
        .fallback
        .iter()
        .filter_map(|s| build_provider(s, &limiter, opts.config.provider_limits).ok())
        .collect();
    let botserver = match &opts.config.botserver {
        Some(settings) => match Botserver::start(settings.clone()) {
            Ok(b) => Some(Arc::new(b)),
            Err(e) => return Err(StartError::Other(e)),
        },
        None => None,
    };
    let provider = opts
        .config
        .provider
        .as_ref()
        .map_err(Clone::clone)
        .and_then(|s| build_provider(s, &limiter, opts.config.provider_limits));
    if let Ok(p) = &provider {
        limiter.configure(&endpoint_key(p.name(), p.base_url()), opts.config.limits);
    }
    match &provider {
        Ok(p) => tracing::info!(
            provider = p.name(),
            model = p.model(),
            base_url = p.base_url(),
            "provider ready"
        ),
        Err(e) => tracing::warn!("{e}"),
    }
    let snapshots = Arc::new(crate::snapshot::Snapshots::new(
        opts.data_dir.join("snapshots"),
    ));
    let deps = Arc::new(TurnDeps {
        snapshots: snapshots.clone(),
        provider: provider.clone(),
        retry: opts.config.retry,
        agent: opts.config.agent,
        tools: crate::session::grace::Graceful::wrap(Arc::new(
            crate::tools::agent::AgentToolExecutor::new(botserver.clone()),
        )),
        limiter: limiter.clone(),
        botserver: botserver.clone(),
        health: health.clone(),
        fallbacks: fallbacks.clone(),
        approvals: opts.config.approvals.clone(),
        max_tool_calls: opts.config.provider_limits.tool_calls,
    });
    let sessions = Sessions::new(opts.data_dir.join("sessions"), deps)
        .map_err(|e| StartError::Other(e.message))?;
    let sessions_dir_id = crate::session::store::FileId::of(sessions.root()).ok();
    let daemon = Arc::new(Daemon {
        sessions_dir_id,
        sessions,
        connections: AtomicU64::new(0),
        agent: opts.config.agent,
        limiter,
        botserver,
        snapshots,
        health,
        fallbacks,
        provider,
        started: Instant::now(),
        socket_path: socket_path.clone(),
        log_file: opts.log_file.clone(),
        shutdown: CancellationToken::new(),
    });

    if let Some(bot) = &daemon.botserver {
        // Every switch between local and multi-agent mode is announced to every client.
        let mut changes = bot.monitor.subscribe();
        let d = daemon.clone();
        tokio::spawn(async move {
            while changes.changed().await.is_ok() {
                let change = changes.borrow_and_update().clone();
                if let Some(c) = change {
                    d.sessions
                        .broadcast(EventBody::ModeChanged {
                            mode: c.mode,
                            reason: c.reason,
                        })
                        .await;
                }
            }
        });
    }
    tokio::spawn(crate::snapshot::prune::run(
        daemon.snapshots.clone(),
        daemon.shutdown.clone(),
    ));
    let (stop_handle, server_handle) = jsonrpsee::server::stop_channel();
    let server = tokio::spawn(rpc::serve(listener, daemon.clone(), stop_handle));
    tracing::info!(socket = %socket_path.display(), pid = std::process::id(), "botcoderd ready");
    // Signal handlers exist before READY: a SIGTERM right after it must stop us gracefully,
    // not kill us with the default action.
    let stop = stop_signals();
    rpc::activation::notify_ready();

    wait_for_stop(stop, &daemon.shutdown).await;
    tracing::info!("stopping");
    rpc::activation::notify_stopping();
    let _ = server_handle.stop();
    let graceful = async {
        daemon.sessions.shutdown().await;
        let _ = server.await;
    };
    if tokio::time::timeout(STOP_BUDGET, graceful).await.is_err() {
        tracing::warn!("graceful stop took too long; exiting anyway");
    }
    if owns_socket && let Err(e) = std::fs::remove_file(&socket_path) {
        tracing::warn!(error = %e, "could not remove the socket");
    }
    tracing::info!("stopped");
    Ok(())
}

type StopSignals = Option<(tokio::signal::unix::Signal, tokio::signal::unix::Signal)>;

fn stop_signals() -> StopSignals {
    use tokio::signal::unix::{SignalKind, signal};
    Some((
        signal(SignalKind::terminate()).ok()?,
        signal(SignalKind::interrupt()).ok()?,
    ))
}

async fn wait_for_stop(signals: StopSignals, requested: &CancellationToken) {
    let Some((mut term, mut int)) = signals else {
        requested.cancelled().await;
        return;
    };
    tokio::select! {
        _ = term.recv() => tracing::info!("SIGTERM"),
        _ = int.recv() => tracing::info!("SIGINT"),
        () = requested.cancelled() => {}
    }
}
