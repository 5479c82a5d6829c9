//! The user's settings as they are now: read at start, read again when config.toml changes
//! (a poll of its modification time and length every second, SIGHUP, or `daemon.reload`).
//! A file that does not read keeps the last good settings in force and its problem,
//! `path:line: message`, is what `daemon.status` and `botcoder doctor` report. Sessions
//! resolve their settings against [`LiveConfig::current`] at the start of every turn, so a
//! change applies to the next turn without a restart.
//!
//! The environment a client sent with `session.create` (keys included) lives here too, in
//! memory only: never in a journal, a log line or an event (I8).

use std::collections::{BTreeMap, HashMap};
use std::path::PathBuf;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, RwLock};
use std::time::{Duration, SystemTime};

use botcoder_config::Layers;
use botcoder_protocol::SessionId;
use botcoder_protocol::methods::DaemonReloadResult;

use super::Config;
use super::build_provider;
use crate::llm::{LlmProvider, endpoint_key};
use crate::ratelimit::RateLimiter;

/// How often the watcher looks at the config file.
pub const POLL: Duration = Duration::from_secs(1);

/// Most client environments kept (one per session that sent one); past it the oldest is
/// forgotten, and that session falls back to the daemon's own settings.
const MAX_CLIENT_ENVS: usize = 4096;

/// One generation of the user's settings.
#[derive(Debug)]
pub struct Base {
    /// The layers, with where each value came from.
    pub layers: Layers,
    /// The same as typed settings.
    pub config: Config,
    /// The provider they name, built, or why there is none.
    pub provider: Result<Arc<dyn LlmProvider>, String>,
    /// The `LLM_FALLBACK` chain, built.
    pub fallbacks: Vec<Arc<dyn LlmProvider>>,
}

impl Base {
    /// Builds the providers `config` names (their budgets go to `limiter`).
    pub fn new(layers: Layers, config: Config, limiter: &Arc<RateLimiter>) -> Base {
        let (provider, fallbacks) = build(&config, limiter);
        Base {
            layers,
            config,
            provider,
            fallbacks,
        }
    }
}

/// A built provider (or why there is none) and its fallback chain.
pub type Built = (
    Result<Arc<dyn LlmProvider>, String>,
    Vec<Arc<dyn LlmProvider>>,
);

/// The provider and fallbacks a configuration names, built (their budgets configured).
pub fn build(config: &Config, limiter: &Arc<RateLimiter>) -> Built {
    let provider = config
        .provider
        .as_ref()
        .map_err(Clone::clone)
        .and_then(|s| build_provider(s, limiter, config.provider_limits));
    if let Ok(p) = &provider {
        limiter.configure(&endpoint_key(p.name(), p.base_url()), config.limits);
    }
    let fallbacks = config
        .fallback
        .iter()
        .filter_map(|s| build_provider(s, limiter, config.provider_limits).ok())
        .collect();
    (provider, fallbacks)
}

/// A client environment and a number that changes whenever it is replaced.
pub type ClientEnv = (u64, Arc<BTreeMap<String, String>>);

/// The settings now in force, and what the last reload found.
#[derive(Debug)]
pub struct LiveConfig {
    current: RwLock<Arc<Base>>,
    generation: AtomicU64,
    reload_error: Mutex<Option<String>>,
    stamp: Mutex<Option<(SystemTime, u64)>>,
    path: PathBuf,
    client_envs: Mutex<ClientEnvs>,
    limiter: Arc<RateLimiter>,
}

#[derive(Debug, Default)]
struct ClientEnvs {
    by_session: HashMap<SessionId, ClientEnv>,
    next: u64,
}

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    // Every critical section is a plain assignment or map operation.
    m.lock().unwrap_or_else(|p| p.into_inner())
}

fn stamp_of(path: &std::path::Path) -> Option<(SystemTime, u64)> {
    let meta = std::fs::metadata(path).ok()?;
    Some((meta.modified().ok()?, meta.len()))
}

impl LiveConfig {
    /// Settings as read at start (`config` is what the daemon was started with).
    pub fn new(layers: Layers, config: Config, limiter: Arc<RateLimiter>) -> LiveConfig {
        let path = botcoder_config::config_path();
        LiveConfig {
            stamp: Mutex::new(stamp_of(&path)),
            current: RwLock::new(Arc::new(Base::new(layers, config, &limiter))),
            limiter,
            generation: AtomicU64::new(1),
            reload_error: Mutex::new(None),
            path,
            client_envs: Mutex::default(),
        }
    }

    /// The settings in force.
    pub fn current(&self) -> Arc<Base> {
        self.current
            .read()
            .unwrap_or_else(|p| p.into_inner())
            .clone()
    }

    /// Changes whenever the settings in force change.
    pub fn generation(&self) -> u64 {
        self.generation.load(Ordering::Acquire)
    }

    /// What is wrong with the settings files now, if anything.
    pub fn error(&self) -> Option<String> {
        let reload = lock(&self.reload_error).clone();
        let base = self.current();
        let mut all: Vec<String> = reload.into_iter().collect();
        all.extend(base.config.problems.iter().cloned());
        (!all.is_empty()).then(|| all.join("; "))
    }

    /// Reads config.toml again (blocking: call off the async workers). A file with
    /// problems keeps the last good settings in force.
    pub fn reload(&self) -> DaemonReloadResult {
        *lock(&self.stamp) = stamp_of(&self.path);
        let layers = Layers::load();
        let config = Config::of_layers(&layers);
        let next = Base::new(layers, config, &self.limiter);
        if let Some(e) = next.layers.file_error.clone() {
            tracing::warn!("config not reloaded: {e}");
            *lock(&self.reload_error) = Some(format!(
                "not reloaded, the last good settings stay in force: {e}"
            ));
            return DaemonReloadResult {
                ok: false,
                message: e,
            };
        }
        *lock(&self.reload_error) = None;
        crate::redact::add_secrets(next.layers.secret_values());
        let before = self.current();
        let changed = next.layers.settings.changed(&before.layers.settings);
        *self.current.write().unwrap_or_else(|p| p.into_inner()) = Arc::new(next);
        self.generation.fetch_add(1, Ordering::AcqRel);
        let message = if changed.is_empty() {
            format!("{} read again; nothing changed", self.path.display())
        } else {
            format!(
                "{} read again; changed: {}; sessions use it from their next turn",
                self.path.display(),
                changed.join(", ")
            )
        };
        tracing::info!("{message}");
        DaemonReloadResult { ok: true, message }
    }

    /// The daemon-wide rate limiter (for providers built per session).
    pub fn limiter(&self) -> &Arc<RateLimiter> {
        &self.limiter
    }

    /// Whether the file changed since it was last read.
    fn file_changed(&self) -> bool {
        stamp_of(&self.path) != *lock(&self.stamp)
    }

    /// Remembers the environment a client sent for `session` (replacing an earlier one).
    pub fn set_client_env(&self, session: &SessionId, env: BTreeMap<String, String>) {
        crate::redact::add_secrets(
            env.iter()
                .filter(|(k, _)| botcoder_config::is_secret_var(k))
                .map(|(_, v)| v.clone()),
        );
        let mut envs = lock(&self.client_envs);
        envs.next += 1;
        let version = envs.next;
        if envs.by_session.len() >= MAX_CLIENT_ENVS && !envs.by_session.contains_key(session) {
            let oldest = envs
                .by_session
                .iter()
                .min_by_key(|(_, (v, _))| *v)
                .map(|(k, _)| k.clone());
            if let Some(k) = oldest {
                envs.by_session.remove(&k);
            }
        }
        envs.by_session
            .insert(session.clone(), (version, Arc::new(env)));
    }

    /// The environment a client sent for `session`, if any.
    pub fn client_env(&self, session: &SessionId) -> Option<ClientEnv> {
        lock(&self.client_envs).by_session.get(session).cloned()
    }

    /// Forgets a deleted session's client environment.
    pub fn forget(&self, session: &SessionId) {
        lock(&self.client_envs).by_session.remove(session);
    }
}

/// Reloads when the file changes, until `stop` is cancelled.
pub async fn watch(live: Arc<LiveConfig>, stop: tokio_util::sync::CancellationToken) {
    let mut tick = tokio::time::interval(POLL);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tokio::select! {
            () = stop.cancelled() => return,
            _ = tick.tick() => {}
        }
        let l = live.clone();
        let reloaded = tokio::task::spawn_blocking(move || {
            if l.file_changed() {
                Some(l.reload())
            } else {
                None
            }
        })
        .await;
        if let Ok(Some(r)) = reloaded {
            tracing::info!(ok = r.ok, "config file changed: {}", r.message);
        }
    }
}

/// Starts reloading on every SIGHUP, until `stop` is cancelled. The handler is installed
/// before this returns, so a SIGHUP right after start reloads rather than kills.
pub fn on_sighup(live: Arc<LiveConfig>, stop: tokio_util::sync::CancellationToken) {
    use tokio::signal::unix::{SignalKind, signal};
    let Ok(hup) = signal(SignalKind::hangup()) else {
        tracing::warn!("cannot listen for SIGHUP; reload with `botcoder daemon reload`");
        return;
    };
    tokio::spawn(sighup_loop(live, stop, hup));
}

async fn sighup_loop(
    live: Arc<LiveConfig>,
    stop: tokio_util::sync::CancellationToken,
    mut hup: tokio::signal::unix::Signal,
) {
    loop {
        tokio::select! {
            () = stop.cancelled() => return,
            got = hup.recv() => if got.is_none() { return },
        }
        let l = live.clone();
        if let Ok(r) = tokio::task::spawn_blocking(move || l.reload()).await {
            tracing::info!(ok = r.ok, "SIGHUP: {}", r.message);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn client_envs_are_bounded_and_replaced() {
        let live = LiveConfig::new(
            Layers::default(),
            Config::of_layers(&Layers::default()),
            Arc::new(RateLimiter::new()),
        );
        let id = SessionId::from("a");
        live.set_client_env(&id, BTreeMap::from([("X".into(), "1".into())]));
        let (v1, _) = live.client_env(&id).unwrap();
        live.set_client_env(&id, BTreeMap::new());
        let (v2, env) = live.client_env(&id).unwrap();
        assert!(v2 > v1 && env.is_empty());
        for i in 0..(MAX_CLIENT_ENVS + 10) {
            live.set_client_env(&SessionId::from(format!("s{i}").as_str()), BTreeMap::new());
        }
        assert!(lock(&live.client_envs).by_session.len() <= MAX_CLIENT_ENVS);
        live.forget(&id);
        assert!(live.client_env(&id).is_none());
    }
}
