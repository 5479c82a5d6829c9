//! The settings methods: `session.create` (with the client's environment and choices),
//! `session.configure`, `daemon.reload` and `provider.list` with each provider's models.
//! The environment a client sends (keys included) goes to daemon memory only
//! ([`crate::config::live::LiveConfig`]): never into a journal, a log line or an event.

use std::collections::BTreeMap;
use std::sync::Arc;

use botcoder_protocol::methods::{
    DaemonReloadResult, ProviderListResult, SessionConfigureParams, SessionCreateParams,
    SessionInfo,
};
use botcoder_protocol::{ErrorKind, EventBody};

use super::limits;
use crate::error::DaemonError;
use crate::session::settings::{Choices, Label, resolve};
use crate::state::Daemon;
use crate::tools::sandbox;

/// Most variables a client may send.
const MAX_ENV_VARS: usize = 64;
/// Longest value of one (a key, a URL).
const MAX_ENV_VALUE_BYTES: usize = 16 * 1024;
/// Longest provider or model name.
const MAX_NAME_BYTES: usize = 256;

/// The variables of a client's environment a session may use; the rest are dropped.
pub(super) fn client_env(
    env: BTreeMap<String, String>,
) -> Result<BTreeMap<String, String>, DaemonError> {
    if env.len() > MAX_ENV_VARS * 4 {
        return Err(DaemonError::new(
            ErrorKind::LimitExceeded,
            format!(
                "env has {} variables; at most {MAX_ENV_VARS} are used",
                env.len()
            ),
        ));
    }
    let kept: BTreeMap<String, String> = env
        .into_iter()
        .filter(|(k, _)| botcoder_config::is_client_var(k))
        .collect();
    if kept.len() > MAX_ENV_VARS {
        return Err(DaemonError::new(
            ErrorKind::LimitExceeded,
            format!(
                "env has {} provider variables; at most {MAX_ENV_VARS}",
                kept.len()
            ),
        ));
    }
    if let Some((k, v)) = kept.iter().find(|(_, v)| v.len() > MAX_ENV_VALUE_BYTES) {
        return Err(DaemonError::new(
            ErrorKind::LimitExceeded,
            format!(
                "env {k} is {} bytes long; at most {MAX_ENV_VALUE_BYTES}",
                v.len()
            ),
        ));
    }
    Ok(kept)
}

fn name(what: &str, v: &Option<String>) -> Result<(), DaemonError> {
    match v {
        Some(s) if s.trim().is_empty() => Err(DaemonError::invalid_params(format!(
            "{what} must not be empty"
        ))),
        Some(s) if s.len() > MAX_NAME_BYTES || s.chars().any(char::is_control) => {
            Err(DaemonError::invalid_params(format!(
                "{what} must be at most {MAX_NAME_BYTES} bytes without control characters"
            )))
        }
        _ => Ok(()),
    }
}

fn configured(
    label: Option<&Label>,
    approval: Option<botcoder_protocol::ApprovalPolicy>,
    sandbox: Option<String>,
    by: String,
) -> EventBody {
    EventBody::SessionConfigured {
        provider: label.map(|l| l.provider.clone()),
        model: label.map(|l| l.model.clone()),
        base_url: label.map(|l| l.base_url.clone()),
        approval,
        sandbox,
        by,
    }
}

/// A sandbox mode a client asked for, checked.
fn sandbox_mode(v: &Option<String>) -> Result<(), DaemonError> {
    match v {
        Some(m) if botcoder_config::settings::SandboxMode::parse(m).is_none() => {
            Err(DaemonError::invalid_params(format!(
                "sandbox {m:?} must be auto, bwrap, landlock or off"
            )))
        }
        _ => Ok(()),
    }
}

/// `session.create`: the session's settings are resolved first (its approval policy
/// defaults to theirs); a provider, model or sandbox chosen here is kept in `meta.json` and
/// journaled as `session.configured`, as is a sandbox other than the daemon's. With
/// `require_provider`, settings that name no provider refuse the call before anything is
/// written: no empty session directory is left behind.
pub async fn create(
    daemon: &Arc<Daemon>,
    client: String,
    p: SessionCreateParams,
) -> Result<SessionInfo, DaemonError> {
    limits::project_path(&p.project_path)?;
    let title = match &p.title {
        Some(t) => limits::title(t)?,
        None => None,
    };
    name("provider", &p.provider)?;
    name("model", &p.model)?;
    sandbox_mode(&p.sandbox)?;
    let env = client_env(p.env)?;
    let project = tokio::fs::canonicalize(&p.project_path)
        .await
        .map(|c| c.to_string_lossy().into_owned())
        .unwrap_or_else(|_| p.project_path.clone());
    let r = resolve(
        &daemon.deps.live,
        &project,
        Some(&env),
        Choices {
            provider: p.provider.as_deref(),
            model: p.model.as_deref(),
            sandbox: p.sandbox.as_deref(),
        },
    )
    .await;
    // An explicit choice that does not work is the caller's mistake, and a client about to
    // send a prompt gains nothing from a session that cannot answer: say so now. (Facade
    // turns of a botserver need no local provider.)
    let facade = r.config.botserver.as_ref().is_some_and(|b| b.facade);
    if (p.provider.is_some() || p.model.is_some() || (p.require_provider && !facade))
        && let Err(e) = &r.config.provider
    {
        return Err(DaemonError::new(
            ErrorKind::ProviderNotConfigured,
            e.clone(),
        ));
    }
    let policy = sandbox::for_session(r.config.sandbox).await;
    let shown_sandbox = sandbox::label(&policy);
    let own_sandbox = shown_sandbox != sandbox::label(sandbox::current());
    let approval = p.approval.unwrap_or(r.config.agent.approval);
    let info = daemon
        .sessions
        .create(&p.project_path, title, approval)
        .await?;
    if !env.is_empty() {
        daemon.deps.live.set_client_env(&info.session_id, env);
    }
    let session = daemon.sessions.get(&info.session_id).await?;
    let label = r.label();
    session.core.settings.set_label(label.clone());
    session.core.settings.set_sandbox(policy);
    if p.provider.is_some() || p.model.is_some() || p.sandbox.is_some() {
        let (provider, model, mode) = (p.provider.clone(), p.model.clone(), p.sandbox.clone());
        session
            .core
            .update_meta(|m| {
                m.provider = provider;
                m.model = model;
                m.sandbox = mode;
            })
            .await?;
    }
    if p.provider.is_some() || p.model.is_some() || own_sandbox {
        let shown = own_sandbox.then_some(shown_sandbox);
        session
            .core
            .emit(configured(label.as_ref(), None, shown, client))
            .await?;
    }
    Ok(session.core.info())
}

/// `session.configure`: checks that the new choice resolves to a provider, keeps it in
/// `meta.json` and journals `session.configured` for every attached client.
pub async fn configure(
    daemon: &Arc<Daemon>,
    client: String,
    p: SessionConfigureParams,
) -> Result<SessionInfo, DaemonError> {
    name("provider", &p.provider)?;
    name("model", &p.model)?;
    let env = client_env(p.env)?;
    let session = daemon.sessions.get(&p.session_id).await?;
    if !env.is_empty() {
        daemon.deps.live.set_client_env(&p.session_id, env);
    }
    if p.provider.is_none() && p.model.is_none() && p.approval.is_none() {
        return Ok(session.core.info());
    }
    let meta = session.core.meta();
    // A new provider starts from its own configured model unless one is named too.
    let model = match (&p.provider, &p.model) {
        (_, Some(m)) => Some(m.clone()),
        (Some(new), None) if meta.provider.as_ref() != Some(new) => None,
        _ => meta.model.clone(),
    };
    let provider = p.provider.clone().or(meta.provider.clone());
    let client_env = daemon.deps.live.client_env(&p.session_id);
    let r = resolve(
        &daemon.deps.live,
        &meta.project_path,
        client_env.as_ref().map(|(_, e)| e.as_ref()),
        Choices {
            provider: provider.as_deref(),
            model: model.as_deref(),
            sandbox: meta.sandbox.as_deref(),
        },
    )
    .await;
    if (p.provider.is_some() || p.model.is_some())
        && let Err(e) = &r.config.provider
    {
        return Err(DaemonError::new(
            ErrorKind::ProviderNotConfigured,
            e.clone(),
        ));
    }
    let approval = p.approval;
    session
        .core
        .update_meta(|m| {
            m.provider = provider;
            m.model = model;
            if let Some(a) = approval {
                m.approval = a;
            }
        })
        .await?;
    let label = r.label();
    session.core.settings.set_label(label.clone());
    session
        .core
        .emit(configured(label.as_ref(), approval, None, client))
        .await?;
    Ok(session.core.info())
}

/// `daemon.reload`.
pub async fn reload(daemon: &Arc<Daemon>) -> Result<DaemonReloadResult, DaemonError> {
    let live = daemon.deps.live.clone();
    tokio::task::spawn_blocking(move || live.reload())
        .await
        .map_err(|e| DaemonError::internal(format!("reload failed: {e}")))
}

/// `provider.list`, each with the models its server lists (asked in parallel, bounded).
pub async fn providers(daemon: &Arc<Daemon>) -> Result<ProviderListResult, DaemonError> {
    let mut providers = daemon.providers_info();
    let base = daemon.deps.live.current();
    let specs: Vec<_> = base
        .config
        .provider
        .iter()
        .chain(base.config.fallback.iter())
        .cloned()
        .collect();
    let lists = futures::future::join_all(specs.iter().map(crate::config::models::list)).await;
    for (info, models) in providers.iter_mut().zip(lists) {
        match models {
            Ok(m) => info.models = m,
            Err(e) => tracing::debug!(provider = %info.name, "no model listing: {e}"),
        }
    }
    Ok(ProviderListResult { providers })
}
