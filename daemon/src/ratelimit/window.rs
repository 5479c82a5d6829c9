//! The sliding 60-second window of one endpoint: what was admitted when, and how long the
//! next request must wait.

use std::collections::VecDeque;
use std::time::Duration;

use tokio::time::Instant;

/// The window length.
pub const WINDOW: Duration = Duration::from_secs(60);

/// Configured budgets; `None` means no local limit.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Limits {
    /// Tokens per minute.
    pub tpm: Option<u64>,
    /// Requests per minute.
    pub rpm: Option<u64>,
}

/// What the provider's own headers said.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct ProviderState {
    /// Requests left until `requests_reset`.
    pub requests_remaining: Option<(u64, Instant)>,
    /// Tokens left until `tokens_reset`.
    pub tokens_remaining: Option<(u64, Instant)>,
}

/// One admitted request.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Entry {
    id: u64,
    at: Instant,
    tokens: u64,
}

/// Admissions within the last minute plus the provider's reported state.
#[derive(Debug, Default)]
pub struct Window {
    /// Budgets.
    pub limits: Limits,
    /// From headers.
    pub provider: ProviderState,
    entries: VecDeque<Entry>,
    next_id: u64,
}

/// Why and how long a request must wait.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Wait {
    /// How long.
    pub wait: Duration,
    /// Which budget, for people.
    pub reason: String,
}

impl Window {
    fn expire(&mut self, now: Instant) {
        while self
            .entries
            .front()
            .is_some_and(|e| now.duration_since(e.at) >= WINDOW)
        {
            self.entries.pop_front();
        }
    }

    /// Tokens and requests admitted in the window ending `now`.
    pub fn used(&mut self, now: Instant) -> (u64, u64) {
        self.expire(now);
        (
            self.entries.iter().map(|e| e.tokens).sum(),
            self.entries.len() as u64,
        )
    }

    /// How long a request of `tokens` must wait from `now`, or `None` to go now.
    pub fn wait_for(&mut self, now: Instant, tokens: u64) -> Option<Wait> {
        self.expire(now);
        let mut until = now;
        let mut reason = String::new();
        let mut later = |at: Instant, why: String| {
            if at > until {
                until = at;
                reason = why;
            }
        };
        if let Some(rpm) = self.limits.rpm.filter(|r| *r > 0)
            && self.entries.len() as u64 >= rpm
        {
            let idx = self.entries.len() - rpm as usize;
            later(
                self.entries[idx].at + WINDOW,
                format!("requests per minute ({rpm})"),
            );
        }
        if let Some(tpm) = self.limits.tpm {
            let used: u64 = self.entries.iter().map(|e| e.tokens).sum();
            // A request bigger than the whole budget is admitted into an empty window rather
            // than waiting forever.
            let need = tokens.min(tpm);
            if used + need > tpm {
                let mut freed = 0;
                for e in &self.entries {
                    freed += e.tokens;
                    if used - freed + need <= tpm {
                        later(e.at + WINDOW, format!("tokens per minute ({tpm})"));
                        break;
                    }
                }
            }
        }
        if let Some((0, reset)) = self.provider.requests_remaining {
            later(reset, "the provider's request limit".to_owned());
        }
        if let Some((left, reset)) = self.provider.tokens_remaining
            && left < tokens
        {
            later(reset, "the provider's token limit".to_owned());
        }
        (until > now).then(|| Wait {
            wait: until - now,
            reason,
        })
    }

    /// Records an admission; returns its id for [`Window::reconcile`].
    pub fn admit(&mut self, now: Instant, tokens: u64) -> u64 {
        self.next_id += 1;
        self.entries.push_back(Entry {
            id: self.next_id,
            at: now,
            tokens,
        });
        // Spend the provider-reported budgets too, until fresh headers arrive.
        if let Some((left, reset)) = self.provider.requests_remaining {
            self.provider.requests_remaining = Some((left.saturating_sub(1), reset));
        }
        if let Some((left, reset)) = self.provider.tokens_remaining {
            self.provider.tokens_remaining = Some((left.saturating_sub(tokens), reset));
        }
        self.next_id
    }

    /// Replaces an admission's estimate with the tokens actually used.
    pub fn reconcile(&mut self, id: u64, actual: u64) {
        if let Some(e) = self.entries.iter_mut().find(|e| e.id == id) {
            e.tokens = actual;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test(start_paused = true)]
    async fn tpm_waits_until_enough_expires() {
        let mut w = Window {
            limits: Limits {
                tpm: Some(100),
                rpm: None,
            },
            ..Window::default()
        };
        let t0 = Instant::now();
        w.admit(t0, 60);
        w.admit(t0 + Duration::from_secs(10), 30);
        assert_eq!(w.wait_for(t0 + Duration::from_secs(20), 10), None);
        let wait = w.wait_for(t0 + Duration::from_secs(20), 20).unwrap();
        assert_eq!(wait.wait, Duration::from_secs(40)); // the first entry expires at 60 s
        assert!(wait.reason.contains("tokens per minute"));
        // Bigger than the budget: waits only for an empty window.
        assert_eq!(
            w.wait_for(t0 + Duration::from_secs(20), 500).unwrap().wait,
            Duration::from_secs(50)
        );
    }

    #[tokio::test(start_paused = true)]
    async fn rpm_and_provider_state() {
        let mut w = Window {
            limits: Limits {
                tpm: None,
                rpm: Some(2),
            },
            ..Window::default()
        };
        let t0 = Instant::now();
        w.admit(t0, 1);
        w.admit(t0 + Duration::from_secs(5), 1);
        assert_eq!(
            w.wait_for(t0 + Duration::from_secs(6), 1).unwrap().wait,
            Duration::from_secs(54)
        );
        let mut p = Window::default();
        p.provider.requests_remaining = Some((0, t0 + Duration::from_secs(3)));
        assert_eq!(p.wait_for(t0, 1).unwrap().wait, Duration::from_secs(3));
        p.provider = ProviderState {
            requests_remaining: None,
            tokens_remaining: Some((50, t0 + Duration::from_secs(7))),
        };
        assert_eq!(p.wait_for(t0, 10), None);
        assert_eq!(p.wait_for(t0, 80).unwrap().wait, Duration::from_secs(7));
    }

    #[tokio::test(start_paused = true)]
    async fn reconcile_replaces_the_estimate() {
        let mut w = Window {
            limits: Limits {
                tpm: Some(100),
                rpm: None,
            },
            ..Window::default()
        };
        let t0 = Instant::now();
        let id = w.admit(t0, 90);
        assert!(w.wait_for(t0, 50).is_some());
        w.reconcile(id, 10);
        assert_eq!(w.wait_for(t0, 50), None);
        assert_eq!(w.used(t0), (10, 1));
    }
}
