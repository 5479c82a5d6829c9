//! A session's own sandbox policy, when its settings ask for something other than the
//! daemon's (`BOTCODER_SANDBOX=off` from the user's shell, `mode = "bwrap"` from a project).
//! Each distinct setting is probed once (the probes spawn processes, so off the runtime)
//! and shared by every session that asks for it; there are at most eight.

use std::collections::HashMap;
use std::sync::{Arc, Mutex, OnceLock};

use super::{Policy, Settings, current, detect};

static DAEMON: OnceLock<Settings> = OnceLock::new();
static BY_SETTINGS: OnceLock<Mutex<HashMap<Settings, Arc<Policy>>>> = OnceLock::new();

/// Remembers what the daemon-wide policy was made from.
pub(super) fn started(settings: Settings) {
    let _ = DAEMON.set(settings);
}

/// The policy for a session with `settings`: the daemon's when they are the daemon's (or
/// the daemon never set up a sandbox, as in unit tests), else one probed for them.
pub async fn for_session(settings: Settings) -> Arc<Policy> {
    let cache = BY_SETTINGS.get_or_init(Mutex::default);
    let daemon = current();
    if DAEMON.get().is_none_or(|d| *d == settings) {
        return Arc::new(daemon.clone());
    }
    // Plain map operations under the lock, never a probe.
    let hit = cache
        .lock()
        .unwrap_or_else(|p| p.into_inner())
        .get(&settings)
        .cloned();
    if let Some(p) = hit {
        return p;
    }
    let (helper, dirs, files) = (
        daemon.helper.clone(),
        daemon.hidden_dirs.clone(),
        daemon.hidden_files.clone(),
    );
    let policy = tokio::task::spawn_blocking(move || detect(settings, helper, dirs, files))
        .await
        .unwrap_or_else(|e| Policy {
            mechanism: super::Mechanism::Unavailable(format!("the sandbox probe crashed: {e}")),
            ..daemon.clone()
        });
    let policy = Arc::new(policy);
    cache
        .lock()
        .unwrap_or_else(|p| p.into_inner())
        .insert(settings, policy.clone());
    policy
}

/// How a policy is named to people and in the journal: the mechanism, `+network` when
/// commands may use it.
pub fn label(policy: &Policy) -> String {
    let mode = match &policy.mechanism {
        super::Mechanism::Bwrap(_) => "bwrap",
        super::Mechanism::Landlock => "landlock",
        super::Mechanism::Off => "off",
        super::Mechanism::Unavailable(_) => "unavailable",
    };
    if policy.network {
        format!("{mode}+network")
    } else {
        mode.to_owned()
    }
}
