//! What a session resolved from its settings, kept in its core: the provider label clients
//! see, the sandbox policy its tools run under, and the turn deps built for the current
//! settings. A leaf, so the core can hold it while `settings` (which resolves) reads the core.

use std::sync::{Arc, Mutex, MutexGuard};

use super::turn_types::TurnDeps;
use crate::config::ProviderSpec;
use crate::tools::sandbox::{self, Policy};

/// What a session's next turn uses, as clients may see it (no key).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Label {
    /// Provider name.
    pub provider: String,
    /// Model or deployment.
    pub model: String,
    /// Base URL, credentials scrubbed.
    pub base_url: String,
}

impl Label {
    /// The label of a provider spec.
    pub fn of(spec: &ProviderSpec) -> Label {
        let (provider, model, base_url) = match spec {
            ProviderSpec::OpenAi(c) => (c.name.clone(), c.model.clone(), c.base_url.clone()),
            ProviderSpec::Anthropic(c) => {
                ("anthropic".to_owned(), c.model.clone(), c.base_url.clone())
            }
        };
        Label {
            provider,
            model,
            base_url: crate::redact::scrub(&base_url),
        }
    }
}

#[derive(Debug, Default)]
pub(super) struct State {
    label: Option<Label>,
    /// The turn deps built for the settings' fingerprint (see `settings::for_turn`).
    pub(super) cached: Option<(u64, Arc<TurnDeps>)>,
    sandbox: Option<Arc<Policy>>,
}

/// The per-session part kept in `SessionCore`.
#[derive(Debug, Default)]
pub struct SessionSettings {
    state: Mutex<State>,
}

impl SessionSettings {
    pub(super) fn lock(&self) -> MutexGuard<'_, State> {
        // Plain assignments only.
        self.state.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// The provider the session's turns use, once known.
    pub fn shown_provider(&self) -> Option<String> {
        self.lock().label.as_ref().map(|l| l.provider.clone())
    }

    /// The model the session's turns use, once known.
    pub fn shown_model(&self) -> Option<String> {
        self.lock().label.as_ref().map(|l| l.model.clone())
    }

    /// Records what the session uses; returns what it used before, when that was known.
    pub fn set_label(&self, label: Option<Label>) -> Option<Label> {
        std::mem::replace(&mut self.lock().label, label)
    }

    /// The sandbox policy the session's tools run under; `None`: the daemon's.
    pub fn sandbox(&self) -> Option<Arc<Policy>> {
        self.lock().sandbox.clone()
    }

    /// The session's sandbox by name (`bwrap`, `landlock+network`, `off`), once resolved.
    pub fn shown_sandbox(&self) -> Option<String> {
        self.lock().sandbox.as_deref().map(sandbox::label)
    }

    /// Records the session's sandbox policy; returns the name of the one before, if any.
    pub fn set_sandbox(&self, policy: Arc<Policy>) -> Option<String> {
        let before = self.lock().sandbox.replace(policy);
        before.as_deref().map(sandbox::label)
    }
}
