//! What a turn is given and how it ends: [`TurnDeps`], [`TurnControl`], [`Outcome`]. A leaf
//! of the turn: `turn` (which runs one), `agent` (the local loop), `facade` (the botserver's
//! loop), `compact`, `approval` and `settings` all use these types, and this module uses none
//! of them, so the dependency between the turn and its loops goes one way (issue 19).

use std::sync::{Arc, Mutex};

use botcoder_protocol::{TurnError, TurnStatus};
use tokio_util::sync::CancellationToken;

use crate::config::AgentSettings;
use crate::llm::{LlmProvider, RetryPolicy};
use crate::rules::Rules;
use crate::tools::ToolExecutor;

/// What every turn needs from the daemon.
#[derive(Debug, Clone)]
pub struct TurnDeps {
    /// The provider, or why there is none.
    pub provider: Result<Arc<dyn LlmProvider>, String>,
    /// Retry settings.
    pub retry: RetryPolicy,
    /// Agent loop settings.
    pub agent: AgentSettings,
    /// The tools.
    pub tools: Arc<dyn ToolExecutor>,
    /// The daemon-wide rate limiter.
    pub limiter: Arc<crate::ratelimit::RateLimiter>,
    /// The botserver, when one is configured.
    pub botserver: Option<Arc<crate::botserver::Botserver>>,
    /// What the last provider request showed.
    pub health: Arc<crate::llm::ProviderHealth>,
    /// Providers to continue on when the active one is unavailable (`LLM_FALLBACK`).
    pub fallbacks: Vec<Arc<dyn LlmProvider>>,
    /// The `[approvals]` allow and deny rules.
    pub approvals: Rules,
    /// Tool calls one reply may ask for (`BOTCODER_MAX_TOOL_CALLS`).
    pub max_tool_calls: usize,
    /// When and how the context is summarised (`[context]`).
    pub compact: crate::config::compact::CompactSettings,
    /// Prices per model, for the cost of each `usage` (`[pricing]`).
    pub pricing: Arc<crate::llm::pricing::PriceTable>,
    /// The user's settings now (reloaded when config.toml changes) and the environments
    /// clients sent for their sessions; each turn resolves its session's own settings
    /// against them (`session::settings::for_turn`).
    pub live: Arc<crate::config::live::LiveConfig>,
    /// Where turns' snapshots go (undo).
    pub snapshots: Arc<crate::snapshot::Snapshots>,
}

/// Lets the session actor stop a running turn and say why.
#[derive(Debug, Default)]
pub struct TurnControl {
    token: CancellationToken,
    why: Mutex<Option<TurnStatus>>,
    /// The turn's snapshots (undo), set when the turn starts.
    pub snapshot: std::sync::OnceLock<Arc<crate::snapshot::TurnSnapshot>>,
}

impl TurnControl {
    /// Stops the turn; it closes with `status` (`Cancelled` or `Interrupted`).
    pub fn stop(&self, status: TurnStatus) {
        let mut why = self.why.lock().unwrap_or_else(|p| p.into_inner());
        why.get_or_insert(status);
        self.token.cancel();
    }

    /// Resolves once the turn is stopped.
    pub async fn cancelled(&self) {
        self.token.cancelled().await;
    }

    /// Whether the turn was stopped.
    pub fn is_stopped(&self) -> bool {
        self.token.is_cancelled()
    }

    /// A token cancelled with the turn (for tools).
    pub fn child_token(&self) -> CancellationToken {
        self.token.child_token()
    }

    /// How the turn was stopped (`Cancelled` when it was not).
    pub fn stopped_with(&self) -> TurnStatus {
        self.why
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .unwrap_or(TurnStatus::Cancelled)
    }
}

/// How the agent loop ended.
#[derive(Debug)]
pub enum Outcome {
    /// The model finished.
    Completed,
    /// Cancelled or interrupted (see [`TurnControl`]).
    Stopped,
    /// Failed.
    Failed(TurnError),
}
