//! The daemon as a whole: how it starts (building [`Daemon`]), serves, and stops.

use std::path::PathBuf;
use std::sync::Arc;
use std::sync::atomic::AtomicU64;
use std::time::{Duration, Instant};

use tokio_util::sync::CancellationToken;

use crate::botserver::Botserver;
use crate::config::Config;
use crate::ratelimit::RateLimiter;
use crate::rpc;
use crate::session::Sessions;
use crate::session::turn_types::TurnDeps;
use crate::state::Daemon;

/// How often the MCP servers look for a reloaded configuration.
const MCP_RELOAD_POLL: Duration = Duration::from_millis(500);

/// Applies `[mcp_servers]` again after every reload of the settings (a changed file,
/// SIGHUP, `daemon.reload`): changed servers restart, removed ones stop, new ones start.
async fn reload_mcp(
    live: Arc<crate::config::live::LiveConfig>,
    mcp: Arc<crate::mcp::Mcp>,
    stop: CancellationToken,
) {
    let mut seen = live.generation();
    let mut tick = tokio::time::interval(MCP_RELOAD_POLL);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tokio::select! {
            () = stop.cancelled() => return,
            _ = tick.tick() => {}
        }
        let now = live.generation();
        if now == seen {
            continue;
        }
        seen = now;
        let path = botcoder_config::config_path();
        if let Ok(config) =
            tokio::task::spawn_blocking(move || botcoder_config::mcp::load(&path)).await
        {
            mcp.apply(config);
        }
    }
}

/// How long a graceful stop may take before the daemon exits anyway.
const STOP_BUDGET: Duration = Duration::from_millis(1500);

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
    /// The layers it was read from (kept for reloads and per-session settings).
    pub layers: botcoder_config::Layers,
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
    let botserver = match &opts.config.botserver {
        Some(settings) => match Botserver::start(settings.clone()) {
            Ok(b) => Some(Arc::new(b)),
            Err(e) => return Err(StartError::Other(e)),
        },
        None => None,
    };
    let live = Arc::new(crate::config::live::LiveConfig::new(
        opts.layers,
        opts.config.clone(),
        limiter.clone(),
    ));
    let base = live.current();
    let (provider, fallbacks) = (base.provider.clone(), base.fallbacks.clone());
    drop(base);
    match &provider {
        Ok(p) => tracing::info!(
            provider = p.name(),
            model = p.model(),
            base_url = p.base_url(),
            "provider ready"
        ),
        Err(e) => tracing::warn!("{e}"),
    }
    // MCP servers start in the background: the daemon is ready before they are.
    let mcp = crate::mcp::Mcp::start(botcoder_config::mcp::load(&botcoder_config::config_path()));
    let snapshots = Arc::new(crate::snapshot::Snapshots::new(
        opts.data_dir.join("snapshots"),
    ));
    let deps = Arc::new(TurnDeps {
        snapshots: snapshots.clone(),
        provider: provider.clone(),
        retry: opts.config.retry,
        agent: opts.config.agent,
        tools: crate::session::grace::Graceful::wrap(crate::mcp::McpTools::wrap(
            Arc::new(crate::tools::agent::AgentToolExecutor::new(
                botserver.clone(),
            )),
            mcp.clone(),
        )),
        limiter: limiter.clone(),
        botserver: botserver.clone(),
        health: health.clone(),
        fallbacks: fallbacks.clone(),
        approvals: opts.config.approvals.clone(),
        max_tool_calls: opts.config.provider_limits.tool_calls,
        live: live.clone(),
        compact: opts.config.compact,
        pricing: Arc::new(opts.config.pricing.clone()),
    });
    let sessions = Sessions::new(opts.data_dir.join("sessions"), deps.clone())
        .map_err(|e| StartError::Other(e.message))?;
    let sessions_dir_id = crate::session::store::FileId::of(sessions.root()).ok();
    let daemon = Arc::new(Daemon {
        sessions_dir_id,
        sessions,
        deps,
        connections: AtomicU64::new(0),
        mcp,
        started: Instant::now(),
        socket_path: socket_path.clone(),
        log_file: opts.log_file.clone(),
        shutdown: CancellationToken::new(),
    });

    if let Some(bot) = &daemon.deps.botserver {
        // Every switch between local and multi-agent mode is announced to every client.
        let mut changes = bot.monitor.subscribe();
        let d = daemon.clone();
        tokio::spawn(async move {
            while changes.changed().await.is_ok() {
                let change = changes.borrow_and_update().clone();
                if let Some(c) = change {
                    d.sessions.announce_mode(c.mode, c.reason).await;
                }
            }
        });
    }
    tokio::spawn(crate::snapshot::prune::run(
        daemon.deps.snapshots.clone(),
        daemon.shutdown.clone(),
    ));
    let (stop_handle, server_handle) = jsonrpsee::server::stop_channel();
    let server = tokio::spawn(rpc::serve(listener, daemon.clone(), stop_handle));
    tracing::info!(socket = %socket_path.display(), pid = std::process::id(), "botcoderd ready");
    // Signal handlers exist before READY: a SIGTERM right after it must stop us gracefully,
    // not kill us with the default action. SIGHUP (and a changed file) reloads config.toml.
    let stop = stop_signals();
    tokio::spawn(crate::config::live::watch(
        live.clone(),
        daemon.shutdown.clone(),
    ));
    crate::config::live::on_sighup(live.clone(), daemon.shutdown.clone());
    tokio::spawn(reload_mcp(
        live,
        daemon.mcp.clone(),
        daemon.shutdown.clone(),
    ));
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
    // Every MCP server's process group goes with the daemon (no orphans).
    daemon.mcp.shutdown().await;
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
