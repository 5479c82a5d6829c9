//! Health states the daemon reports for what it depends on: the LLM provider and the
//! botserver. Fixed sets of values, so enums (the schema and every client know them).

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

/// What the last request to a provider showed, in `provider.list` and `daemon.status`.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum ProviderHealth {
    /// The last request succeeded.
    Ok,
    /// The last request failed; `last_error` says why.
    Failing,
    /// No request was made yet. A state from a newer daemon also reads as this, so an old
    /// client never fails on it.
    #[default]
    #[serde(other)]
    Unknown,
}

impl ProviderHealth {
    /// The wire string, e.g. `failing`.
    pub const fn as_str(self) -> &'static str {
        match self {
            ProviderHealth::Ok => "ok",
            ProviderHealth::Failing => "failing",
            ProviderHealth::Unknown => "unknown",
        }
    }
}

/// What the botserver health monitor found, in `daemon.status`.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum BotserverState {
    /// `/api/health` answered 200: facade work goes there.
    Healthy,
    /// It answered 503: counts as down for routing.
    Degraded,
    /// Unreachable or failing; probes back off.
    Down,
    /// Not probed yet. A state from a newer daemon also reads as this.
    #[default]
    #[serde(other)]
    Unknown,
}

impl BotserverState {
    /// The wire string, e.g. `degraded`.
    pub const fn as_str(self) -> &'static str {
        match self {
            BotserverState::Healthy => "healthy",
            BotserverState::Degraded => "degraded",
            BotserverState::Down => "down",
            BotserverState::Unknown => "unknown",
        }
    }
}

impl std::fmt::Display for ProviderHealth {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

impl std::fmt::Display for BotserverState {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}
