//! One turn from start to end: `turn.started`, the agent loop, and exactly one
//! `turn.completed` whatever happens.

use std::sync::Arc;

use botcoder_protocol::{ApprovalPolicy, ErrorKind, EventBody, TurnError, TurnId, TurnStatus};

use super::agent;
use super::core::SessionCore;
use super::facade::{self, FacadeOutcome};
use super::turn_types::{Outcome, TurnControl, TurnDeps};

enum Route {
    Local,
    Done(Outcome),
}

/// Multi-agent mode: a healthy botserver takes pipeline work; when it is down or lost the
/// turn falls back to local (announced) if `FALLBACK_TO_LOCAL` allows, else fails clearly.
async fn route(
    core: &SessionCore,
    deps: &TurnDeps,
    user_text: &str,
    turn_id: &TurnId,
    ctl: &TurnControl,
    text: &mut String,
) -> Route {
    let Some(bot) = deps.botserver.as_ref().filter(|b| b.settings.facade) else {
        return Route::Local;
    };
    bot.monitor
        .wait_first_probe(std::time::Duration::from_secs(3))
        .await;
    let refuse = |why: String| {
        Route::Done(Outcome::Failed(TurnError {
            kind: ErrorKind::ProviderUnavailable,
            message: format!("{why}; FALLBACK_TO_LOCAL=false, so this request cannot run locally"),
        }))
    };
    // Journaled (durable), so a client attaching later sees why the turn ran locally.
    let fallback_notice = |reason: &str| {
        let body = EventBody::ModeChanged {
            mode: botcoder_protocol::Mode::Local,
            reason: format!("{reason}; continuing with the local provider"),
        };
        async move {
            if let Err(e) = core.emit(body).await {
                tracing::warn!(error = %e.message, "could not record the fallback to local");
            }
        }
    };
    if !bot.monitor.is_healthy() {
        let snap = bot.monitor.snapshot();
        let why = format!(
            "the botserver at {} is {} ({})",
            crate::redact::scrub_userinfo(&bot.settings.url),
            snap.state.as_str(),
            snap.last_error.unwrap_or_default()
        );
        if !bot.settings.fallback_to_local {
            return refuse(why);
        }
        fallback_notice(&why).await;
        return Route::Local;
    }
    match facade::run(core, bot, user_text, turn_id, ctl, text).await {
        FacadeOutcome::Done(o) => Route::Done(o),
        FacadeOutcome::Local => Route::Local,
        FacadeOutcome::Lost { reason } => {
            if !bot.settings.fallback_to_local {
                return refuse(reason);
            }
            // Keep what streamed so far, then continue locally with the conversation.
            if !text.is_empty() {
                let msg = EventBody::AssistantMessage {
                    turn_id: turn_id.clone(),
                    text: std::mem::take(text),
                    partial: true,
                };
                if let Err(e) = core.emit(msg).await {
                    tracing::error!(session = %core.id, error = %e, "could not journal assistant.message");
                }
            }
            fallback_notice(&reason).await;
            Route::Local
        }
    }
}

/// Runs turn `turn_id` to its end. Never fails: every problem becomes the turn's status.
pub async fn run_turn(
    core: Arc<SessionCore>,
    deps: Arc<TurnDeps>,
    turn_id: TurnId,
    user_text: String,
    policy: ApprovalPolicy,
    ctl: Arc<TurnControl>,
) {
    let deps = super::settings::for_turn(&core, &deps).await;
    let (provider_name, model) = match &deps.provider {
        Ok(p) => (Some(p.name().to_owned()), Some(p.model().to_owned())),
        Err(_) => (None, None),
    };
    let started = EventBody::TurnStarted {
        turn_id: turn_id.clone(),
        provider: provider_name,
        model,
    };
    if let Err(e) = core.emit(started).await {
        tracing::error!(session = %core.id, error = %e, "could not journal turn.started");
    }
    let project = std::path::PathBuf::from(core.project_path());
    let _ = (ctl.snapshot).set(Arc::new(deps.snapshots.turn(&project, &core.id, &turn_id)));
    let mut text = String::new();
    let outcome = match route(&core, &deps, &user_text, &turn_id, &ctl, &mut text).await {
        Route::Done(outcome) => outcome,
        Route::Local => match &deps.provider {
            Err(msg) => Outcome::Failed(TurnError {
                kind: ErrorKind::ProviderNotConfigured,
                message: msg.clone(),
            }),
            Ok(provider) => {
                agent::run(
                    &core,
                    &deps,
                    provider.clone(),
                    policy,
                    &turn_id,
                    &ctl,
                    &mut text,
                )
                .await
            }
        },
    };
    let (status, error) = match outcome {
        Outcome::Completed => (TurnStatus::Completed, None),
        Outcome::Stopped => {
            let status = ctl.stopped_with();
            let error = match status {
                TurnStatus::Interrupted => TurnError {
                    kind: ErrorKind::Interrupted,
                    message:
                        "botcoderd stopped while this turn ran; send the message again to retry"
                            .to_owned(),
                },
                _ => TurnError {
                    kind: ErrorKind::Cancelled,
                    message: "the turn was cancelled".to_owned(),
                },
            };
            (status, Some(error))
        }
        Outcome::Failed(err) => (TurnStatus::Failed, Some(err)),
    };
    // Text of a reply cut short (cancel, failure) is kept, marked partial.
    if !text.is_empty() {
        let msg = EventBody::AssistantMessage {
            turn_id: turn_id.clone(),
            text,
            partial: true,
        };
        if let Err(e) = core.emit(msg).await {
            tracing::error!(session = %core.id, error = %e, "could not journal assistant.message");
        }
    }
    if let Some(files) = futures::future::OptionFuture::from(ctl.snapshot.get().map(|s| s.finish()))
        .await
        .flatten()
        .filter(|f| !f.is_empty())
    {
        let changes = EventBody::TurnChanges {
            turn_id: turn_id.clone(),
            files,
        };
        if let Err(e) = core.emit(changes).await {
            tracing::error!(session = %core.id, error = %e, "could not journal turn.changes");
        }
    }
    let done = EventBody::TurnCompleted {
        turn_id: turn_id.clone(),
        status,
        error,
    };
    if let Err(e) = core.emit(done).await {
        tracing::error!(session = %core.id, error = %e, "could not journal turn.completed");
    }
    core.clear_partial().await;
}
