//! A session's settings, resolved when it is created and again at the start of every turn
//! (so a changed config.toml, project `.env` or `session.configure` applies to the next
//! turn): the user's layers ([`LiveConfig`]), the project's own files, the creating client's
//! environment, then the session's own choices (provider, model, sandbox), each a typed
//! layer merged field by field. The merge and its key-redirect protection (I11) live in
//! `botcoder_config::session`; this module turns the result into the providers and loop
//! settings one turn uses.
//!
//! The command sandbox is resolved the same way (a project's files can only make it
//! stricter, see `botcoder_config::session`): the session's tools run under the policy of
//! its settings ([`crate::tools::sandbox::for_session`]).
//!
//! A provider is built again only when the merged settings changed (a fingerprint of their
//! values),
//! and a change of provider, model, base URL or sandbox between two turns is journaled as
//! `session.configured {by: "config"}` so every attached client sees it (the sandbox by its
//! mode name).

use std::collections::BTreeMap;
use std::hash::{Hash, Hasher};
use std::path::{Path, PathBuf};
use std::sync::Arc;

use botcoder_config::session::{ProjectLayer, merge, read_project};
use botcoder_config::settings::{ProviderKind, SandboxMode};
use botcoder_config::{Field, Source};
use botcoder_protocol::EventBody;

use super::core::SessionCore;
pub use super::resolved::{Label, SessionSettings};
use super::turn_types::TurnDeps;
use crate::config::Config;
use crate::config::live::{self, LiveConfig};
use crate::tools::sandbox;

/// What a session chose for itself (`meta.json`), over every layer of settings.
#[derive(Debug, Clone, Copy, Default)]
pub struct Choices<'a> {
    /// `--provider`, `session.configure {provider}`.
    pub provider: Option<&'a str>,
    /// `--model`, `session.configure {model}`.
    pub model: Option<&'a str>,
    /// `session.create {sandbox}`.
    pub sandbox: Option<&'a str>,
}

/// A session's settings, resolved.
#[derive(Debug)]
pub struct Resolution {
    /// The typed settings (the provider is `Err` with what to do when there is none).
    pub config: Config,
    /// Changes exactly when the merged settings do.
    pub fingerprint: u64,
    /// The merged settings are the user's alone (no project file, client or choice changed
    /// anything): the daemon's own built provider can be used.
    pub uses_base: bool,
    /// Why something was not used (a withheld key, a project setting only the user makes).
    pub notes: Vec<String>,
}

impl Resolution {
    /// What the session's turns use, when a provider is configured.
    pub fn label(&self) -> Option<Label> {
        self.config.provider.as_ref().ok().map(Label::of)
    }
}

/// Resolves the settings of a session of `project` (see the module doc).
pub async fn resolve(
    live: &LiveConfig,
    project: &str,
    client: Option<&BTreeMap<String, String>>,
    choices: Choices<'_>,
) -> Resolution {
    let Choices {
        provider,
        model,
        sandbox,
    } = choices;
    let base = live.current();
    let dir = PathBuf::from(project);
    let layer = tokio::task::spawn_blocking(move || read_project(&dir))
        .await
        .unwrap_or_else(|e| ProjectLayer {
            errors: vec![format!("reading the project's settings failed: {e}")],
            ..ProjectLayer::default()
        });
    let empty = BTreeMap::new();
    let client = client.unwrap_or(&empty);
    let mut merged = merge(&base.layers, Path::new(project), &layer, client, provider);
    if let Some(mode) = sandbox.and_then(SandboxMode::parse) {
        merged.settings.sandbox = Some(Field {
            value: mode,
            source: Source::Flag,
        });
    }
    if let Some(model) = model {
        // The model of whichever provider the settings select.
        let kind = merged.settings.kind().unwrap_or(ProviderKind::OpenAi);
        *merged.settings.model_of_mut(kind) = Some(Field {
            value: model.to_owned(),
            source: Source::Flag,
        });
    }
    let uses_base = merged.settings.changed(&base.layers.settings).is_empty()
        && merged.settings.problems == base.layers.settings.problems
        && merged.withheld.is_empty();
    let mut config = if uses_base {
        base.config.clone()
    } else {
        Config::new(&merged.settings, &base.layers)
    };
    let mut notes: Vec<String> = merged.withheld.clone();
    notes.extend(merged.ignored.iter().cloned());
    notes.extend(layer.ignored.iter().cloned());
    notes.extend(layer.errors.iter().cloned());
    if !merged.problems.is_empty() {
        config.provider = Err(merged.problems.join("; "));
    }
    if let Err(e) = &mut config.provider
        && !merged.withheld.is_empty()
    {
        e.push('\n');
        e.push_str(&merged.withheld.join("\n"));
    }
    let mut h = std::collections::hash_map::DefaultHasher::new();
    merged.settings.hash_values(&mut h);
    merged.settings.problems.hash(&mut h);
    merged.problems.hash(&mut h);
    Resolution {
        config,
        fingerprint: h.finish(),
        uses_base,
        notes,
    }
}

/// The dependencies of the session's next turn: `deps` with the provider, fallbacks and
/// loop settings its settings resolve to now.
pub async fn for_turn(core: &SessionCore, deps: &Arc<TurnDeps>) -> Arc<TurnDeps> {
    let live = deps.live.clone();
    let meta = core.meta();
    let client = live.client_env(&core.id);
    let r = resolve(
        &live,
        &meta.project_path,
        client.as_ref().map(|(_, e)| e.as_ref()),
        Choices {
            provider: meta.provider.as_deref(),
            model: meta.model.as_deref(),
            sandbox: meta.sandbox.as_deref(),
        },
    )
    .await;
    let key = {
        let mut h = std::collections::hash_map::DefaultHasher::new();
        (r.fingerprint, live.generation()).hash(&mut h);
        h.finish()
    };
    let cached = core
        .settings
        .lock()
        .cached
        .as_ref()
        .filter(|(k, _)| *k == key)
        .map(|(_, d)| d.clone());
    let turn_deps = match cached {
        Some(d) => d,
        None => {
            for note in &r.notes {
                tracing::info!(session = %core.id, "{note}");
            }
            let (provider, fallbacks) = if r.uses_base {
                let base = live.current();
                (base.provider.clone(), base.fallbacks.clone())
            } else {
                live::build(&r.config, live.limiter())
            };
            let d = Arc::new(TurnDeps {
                snapshots: deps.snapshots.clone(),
                provider,
                retry: r.config.retry,
                agent: r.config.agent,
                tools: deps.tools.clone(),
                limiter: deps.limiter.clone(),
                botserver: deps.botserver.clone(),
                health: deps.health.clone(),
                fallbacks,
                approvals: r.config.approvals.clone(),
                max_tool_calls: r.config.provider_limits.tool_calls,
                compact: r.config.compact,
                pricing: Arc::new(r.config.pricing.clone()),
                live: live.clone(),
            });
            core.settings.lock().cached = Some((key, d.clone()));
            d
        }
    };
    let label = r.label();
    let before = core.settings.set_label(label.clone());
    let policy = sandbox::for_session(r.config.sandbox).await;
    let shown = sandbox::label(&policy);
    let sandbox_before = core.settings.set_sandbox(policy);
    let sandbox_changed = sandbox_before.is_some_and(|b| b != shown);
    let label_changed = before.is_some_and(|b| Some(&b) != label.as_ref());
    if label_changed || sandbox_changed {
        let body = EventBody::SessionConfigured {
            provider: label.as_ref().map(|l| l.provider.clone()),
            model: label.as_ref().map(|l| l.model.clone()),
            base_url: label.as_ref().map(|l| l.base_url.clone()),
            approval: None,
            sandbox: sandbox_changed.then_some(shown),
            by: "config".to_owned(),
        };
        if let Err(e) = core.emit(body).await {
            tracing::error!(session = %core.id, error = %e, "could not journal session.configured");
        }
    }
    // The session's own MCP servers (an editor's), offered next to the daemon's.
    match core.mcp.get() {
        Some(mcp) => Arc::new(TurnDeps {
            tools: crate::mcp::McpTools::wrap(turn_deps.tools.clone(), mcp),
            ..(*turn_deps).clone()
        }),
        None => turn_deps,
    }
}
