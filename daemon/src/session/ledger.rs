//! What a session has spent and how its token estimates compare with the provider's counts.
//! A leaf: `SessionCore` holds one, `compact` and the usage accounting (`usage`) read and
//! update it, and it depends on neither.

use botcoder_protocol::EventBody;

/// What a session has spent and how its token estimates compare with the provider's
/// counts; kept in memory, rebuilt from `usage` events when the journal is loaded.
#[derive(Debug, Default)]
pub struct Ledger {
    cost_usd: Option<f64>,
    ratio: Option<f64>,
    compacting: bool,
}

/// Bounds of the estimate correction: a server that reports nonsense (a mock, a proxy that
/// counts nothing) cannot make the daemon overfill or starve the window.
pub(super) const RATIO_MIN: f64 = 0.5;
pub(super) const RATIO_MAX: f64 = 4.0;

impl Ledger {
    /// Folds one durable event in (the `usage` costs).
    pub fn apply(&mut self, body: &EventBody) {
        if let EventBody::Usage {
            cost_usd: Some(c), ..
        } = body
            && c.is_finite()
        {
            self.cost_usd = Some(self.cost_usd.unwrap_or(0.0) + c);
        }
    }

    /// What the session has cost so far, where prices are known.
    pub fn cost_usd(&self) -> Option<f64> {
        self.cost_usd
    }

    /// Reported prompt tokens per estimated token (1 until a provider reported usage).
    pub fn ratio(&self) -> f64 {
        self.ratio.unwrap_or(1.0)
    }

    /// Learns from a request estimated at `estimated` prompt tokens that the provider
    /// counted `reported`.
    pub fn calibrate(&mut self, estimated: u64, reported: u64) {
        if estimated > 0 && reported > 0 {
            let r = (reported as f64 / estimated as f64).clamp(RATIO_MIN, RATIO_MAX);
            self.ratio = Some(r);
        }
    }

    /// Marks a summary as being made; false when one already is (two never race).
    pub fn start_compacting(&mut self) -> bool {
        !std::mem::replace(&mut self.compacting, true)
    }

    /// The summary is done (or given up).
    pub fn end_compacting(&mut self) {
        self.compacting = false;
    }
}
