//! One health monitor for the whole daemon: probes `/api/health` at start and periodically,
//! keeps healthy / degraded / down with a circuit breaker that backs off while down, and
//! announces every switch between local and multi-agent mode.

use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;

use botcoder_protocol::Mode;
use tokio::sync::watch;

use super::client::BotClient;
use crate::clock::now_rfc3339;

/// What the last probe (or request) found: the protocol's type, so `daemon.status` sends
/// it as it is.
pub use botcoder_protocol::BotserverState as HealthState;

#[derive(Debug)]
struct Inner {
    state: HealthState,
    last_probe: Option<String>,
    last_error: Option<String>,
    failures: u32,
}

/// A mode switch to announce to every client.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ModeChange {
    /// The new mode.
    pub mode: Mode,
    /// Why.
    pub reason: String,
}

/// The health monitor.
#[derive(Debug)]
pub struct Monitor {
    client: BotClient,
    inner: Mutex<Inner>,
    probed: watch::Sender<bool>,
    changes: watch::Sender<Option<ModeChange>>,
    interval: Duration,
}

/// Snapshot for `daemon.status`.
#[derive(Debug, Clone)]
pub struct HealthSnapshot {
    /// State.
    pub state: HealthState,
    /// RFC 3339 time of the last probe.
    pub last_probe: Option<String>,
    /// Last error.
    pub last_error: Option<String>,
}

impl Monitor {
    /// Starts probing every `interval` (backing off up to 8x while down).
    pub fn spawn(client: BotClient, interval: Duration) -> Arc<Monitor> {
        let monitor = Arc::new(Monitor {
            client,
            inner: Mutex::new(Inner {
                state: HealthState::Unknown,
                last_probe: None,
                last_error: None,
                failures: 0,
            }),
            probed: watch::channel(false).0,
            changes: watch::channel(None).0,
            interval,
        });
        let m = monitor.clone();
        tokio::spawn(async move {
            loop {
                m.probe().await;
                let failures = m.lock().failures.min(3);
                tokio::time::sleep(m.interval * (1 << failures)).await;
            }
        });
        monitor
    }

    fn lock(&self) -> MutexGuard<'_, Inner> {
        self.inner.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Mode switches, for the daemon to broadcast.
    pub fn subscribe(&self) -> watch::Receiver<Option<ModeChange>> {
        self.changes.subscribe()
    }

    /// Probes once now.
    pub async fn probe(&self) {
        let result = self.client.health().await;
        let (state, error) = match result {
            Ok(true) => (HealthState::Healthy, None),
            Ok(false) => (
                HealthState::Degraded,
                Some("the botserver reports itself degraded (503)".to_owned()),
            ),
            Err(e) => (HealthState::Down, Some(e.to_string())),
        };
        self.set(state, error);
        let _ = self.probed.send(true);
    }

    /// Records that a request just failed: the server is down from now on.
    pub fn mark_down(&self, error: String) {
        self.set(HealthState::Down, Some(error));
    }

    fn set(&self, state: HealthState, error: Option<String>) {
        let was_healthy;
        {
            let mut inner = self.lock();
            was_healthy = inner.state == HealthState::Healthy;
            inner.state = state;
            inner.last_probe = Some(now_rfc3339());
            if error.is_some() {
                inner.last_error = error.clone();
            }
            inner.failures = if state == HealthState::Healthy {
                0
            } else {
                inner.failures.saturating_add(1)
            };
        }
        let healthy = state == HealthState::Healthy;
        if healthy != was_healthy {
            let change = if healthy {
                ModeChange {
                    mode: Mode::MultiAgent,
                    reason: format!("botserver at {} is healthy", self.client.base()),
                }
            } else {
                ModeChange {
                    mode: Mode::Local,
                    reason: format!(
                        "botserver at {} is {}: {}; working locally",
                        self.client.base(),
                        state.as_str(),
                        error.unwrap_or_default()
                    ),
                }
            };
            tracing::info!(mode = ?change.mode, "{}", change.reason);
            let _ = self.changes.send(Some(change));
        }
    }

    /// Whether work may go to the botserver.
    pub fn is_healthy(&self) -> bool {
        self.lock().state == HealthState::Healthy
    }

    /// Waits (at most `max`) for the first probe to answer.
    pub async fn wait_first_probe(&self, max: Duration) {
        let mut rx = self.probed.subscribe();
        let _ = tokio::time::timeout(max, rx.wait_for(|p| *p)).await;
    }

    /// State for status output.
    pub fn snapshot(&self) -> HealthSnapshot {
        let inner = self.lock();
        HealthSnapshot {
            state: inner.state,
            last_probe: inner.last_probe.clone(),
            last_error: inner.last_error.clone(),
        }
    }
}
