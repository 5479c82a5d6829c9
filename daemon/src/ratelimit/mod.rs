//! The daemon-wide rate limiter: per provider endpoint, tokens-per-minute and
//! requests-per-minute sliding windows shared by every session.
//!
//! Requests for one endpoint are admitted in FIFO order: a waiter holds the endpoint's fair
//! async gate while it sleeps, so a small request never overtakes a big one that waits, and
//! dropping a waiting request (a cancelled turn) simply leaves the queue. Estimates are
//! replaced by the usage the provider reports ([`Permit::reconcile`]), and the provider's
//! own remaining/reset headers are adopted ([`RateLimiter::observe_headers`]). Time is
//! tokio's, so tests run on paused time.

pub mod headers;
pub mod window;

use std::collections::HashMap;
use std::future::Future;
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::SystemTime;

use reqwest::header::HeaderMap;
use tokio::time::Instant;

use window::Window;
pub use window::{Limits, Wait};

#[derive(Debug, Default)]
struct Endpoint {
    /// Fair (FIFO) gate: held by the request being admitted, across its wait.
    gate: tokio::sync::Mutex<()>,
    window: Mutex<Window>,
}

fn lock(w: &Mutex<Window>) -> MutexGuard<'_, Window> {
    // Window updates are single assignments and pushes: safe to use after a panic.
    w.lock().unwrap_or_else(|p| p.into_inner())
}

/// A budget as `botcoder status` shows it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BudgetStatus {
    /// Endpoint key.
    pub key: String,
    /// Configured limits.
    pub limits: Limits,
    /// Tokens admitted in the last minute.
    pub tokens_used: u64,
    /// Requests admitted in the last minute.
    pub requests_used: u64,
}

/// All endpoints' budgets.
#[derive(Debug, Default)]
pub struct RateLimiter {
    endpoints: Mutex<HashMap<String, Arc<Endpoint>>>,
}

/// An admitted request; report its real usage with [`Permit::reconcile`].
#[derive(Debug)]
pub struct Permit {
    endpoint: Arc<Endpoint>,
    id: u64,
}

impl Permit {
    /// Replaces the estimate with the tokens the provider reported.
    pub fn reconcile(&self, actual_tokens: u64) {
        lock(&self.endpoint.window).reconcile(self.id, actual_tokens);
    }
}

impl RateLimiter {
    /// A limiter with no budgets.
    pub fn new() -> Self {
        Self::default()
    }

    fn endpoint(&self, key: &str) -> Arc<Endpoint> {
        let mut map = self.endpoints.lock().unwrap_or_else(|p| p.into_inner());
        map.entry(key.to_owned()).or_default().clone()
    }

    /// Sets the budgets of `key`.
    pub fn configure(&self, key: &str, limits: Limits) {
        lock(&self.endpoint(key).window).limits = limits;
    }

    /// Waits until `estimated_tokens` fit the budgets of `key`, in FIFO order, calling
    /// `on_wait` before each wait; then admits the request.
    pub async fn acquire<F, Fut>(&self, key: &str, estimated_tokens: u64, mut on_wait: F) -> Permit
    where
        F: FnMut(Wait) -> Fut,
        Fut: Future<Output = ()>,
    {
        let endpoint = self.endpoint(key);
        let _turn = endpoint.gate.lock().await;
        loop {
            let wait = lock(&endpoint.window).wait_for(Instant::now(), estimated_tokens);
            match wait {
                None => break,
                Some(w) => {
                    let d = w.wait;
                    on_wait(w).await;
                    tokio::time::sleep(d).await;
                }
            }
        }
        let id = lock(&endpoint.window).admit(Instant::now(), estimated_tokens);
        Permit {
            endpoint: endpoint.clone(),
            id,
        }
    }

    /// Adopts what a response's rate-limit headers say about `key`.
    pub fn observe_headers(&self, key: &str, headers: &HeaderMap) {
        let r = headers::reported(headers, SystemTime::now());
        if r == headers::Reported::default() {
            return;
        }
        let now = Instant::now();
        let endpoint = self.endpoint(key);
        let mut w = lock(&endpoint.window);
        if let Some((left, reset)) = r.requests {
            w.provider.requests_remaining = Some((left, now + reset));
        }
        if let Some((left, reset)) = r.tokens {
            w.provider.tokens_remaining = Some((left, now + reset));
        }
    }

    /// Every endpoint's budget and use in the last minute.
    pub fn snapshot(&self) -> Vec<BudgetStatus> {
        let map = self.endpoints.lock().unwrap_or_else(|p| p.into_inner());
        let now = Instant::now();
        let mut out: Vec<BudgetStatus> = map
            .iter()
            .map(|(key, e)| {
                let mut w = lock(&e.window);
                let (tokens_used, requests_used) = w.used(now);
                BudgetStatus {
                    key: key.clone(),
                    limits: w.limits,
                    tokens_used,
                    requests_used,
                }
            })
            .collect();
        out.sort_by(|a, b| a.key.cmp(&b.key));
        out
    }
}

#[cfg(test)]
#[path = "tests.rs"]
mod tests;
