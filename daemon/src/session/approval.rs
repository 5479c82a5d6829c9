//! Whether one tool call may run: the session's policy, the `[approvals]` rules of the
//! config, what the person allowed for this session, and else a prompt answered by an
//! attached client (`approval.respond`). Calls are judged by what they do (their parsed
//! arguments, see [`rules`]), never by the tool's name alone (I9).

pub use crate::rules;

use std::time::Duration;

use botcoder_protocol::{ApprovalDecision, ApprovalPolicy, EventBody, TurnId};

use self::rules::{Action, Scope};
pub use super::core::Answer;
use super::core::SessionCore;
use super::turn_types::{TurnControl, TurnDeps};
use crate::tools::local::command;
use crate::tools::{Risk, ToolCall, ToolContext};

pub use self::rules::{Grants, Rule, Rules};

/// How often a pending approval checks that someone can still answer it.
const APPROVER_CHECK: Duration = Duration::from_millis(500);
/// Longest denial message passed on to the model (bytes); longer ones are cut.
pub const MAX_DENIAL_MESSAGE: usize = 4096;

/// The call as approval sees it: what it does, at what risk, and what a session grant of it
/// would cover.
struct Judged {
    action: Action,
    risk: Risk,
    scope: Scope,
}

/// Applies the policy and rules. `None` means the call may run; `Some(message)` is the
/// denial the model will see as the tool result.
pub async fn approve(
    core: &SessionCore,
    deps: &TurnDeps,
    policy: ApprovalPolicy,
    turn_id: &TurnId,
    ctl: &TurnControl,
    call: &ToolCall,
    ctx: &ToolContext,
) -> Option<String> {
    let action = rules::action(call);
    let judged = Judged {
        scope: rules::scope_of(&action),
        risk: deps.tools.risk(call),
        action,
    };
    let request = Request {
        core,
        turn_id,
        call,
        judged: &judged,
    };
    // Deny rules hold under every policy, also `auto`, and for reads.
    if let Some(rule) = deps.approvals.denying(&judged.action) {
        let by = format!("rule:{}", rule.text);
        request
            .decided_automatically(deps, ctx, ApprovalDecision::Deny, &by)
            .await;
        return Some(format!(
            "denied by the rule {:?} in the deny list of [approvals] in the user's config; \
             do not try another way to run it — tell the user what you wanted to do",
            rule.text
        ));
    }
    // Network access for one command is granted only by a person, call by call: no policy,
    // session grant or allow rule covers it (I7).
    let network = call.name == "execute_command" && command::wants_network(&call.args);
    match policy {
        ApprovalPolicy::Auto | ApprovalPolicy::Ask if network => {
            return request.ask(deps, ctl, ctx).await;
        }
        ApprovalPolicy::Auto => return None,
        ApprovalPolicy::ReadOnly if judged.risk == Risk::Read => return None,
        ApprovalPolicy::ReadOnly => {
            return Some(format!(
                "denied: this session is read-only, so {} cannot run; tell the user what you would change instead",
                call.name
            ));
        }
        ApprovalPolicy::Ask if judged.risk == Risk::Read => return None,
        ApprovalPolicy::Ask if core.allowed_for_session(&judged.action, judged.risk) => {
            return None;
        }
        ApprovalPolicy::Ask => {}
    }
    if let Some(rule) = deps.approvals.allowing(&judged.action) {
        let by = format!("rule:{}", rule.text);
        request
            .decided_automatically(deps, ctx, ApprovalDecision::Allow, &by)
            .await;
        return None;
    }
    request.ask(deps, ctl, ctx).await
}

/// One approval request of one call.
struct Request<'a> {
    core: &'a SessionCore,
    turn_id: &'a TurnId,
    call: &'a ToolCall,
    judged: &'a Judged,
}

impl Request<'_> {
    async fn requested(&self, deps: &TurnDeps, ctx: &ToolContext) -> EventBody {
        let preview = deps.tools.preview(self.call, ctx).await;
        EventBody::ApprovalRequested {
            turn_id: self.turn_id.clone(),
            call_id: self.call.id.clone(),
            tool: self.call.name.clone(),
            summary: preview.summary,
            diff: preview.diff,
            scope: Some(self.judged.scope.describe()),
        }
    }

    fn resolved(&self, decision: ApprovalDecision, decided_by: &str) -> EventBody {
        EventBody::ApprovalResolved {
            turn_id: self.turn_id.clone(),
            call_id: self.call.id.clone(),
            decision,
            decided_by: decided_by.to_owned(),
        }
    }

    /// A decision nobody was asked for (a rule, or no approver): both events are journaled
    /// so every client sees what ran or was refused, and why.
    async fn decided_automatically(
        &self,
        deps: &TurnDeps,
        ctx: &ToolContext,
        decision: ApprovalDecision,
        by: &str,
    ) {
        let requested = self.requested(deps, ctx).await;
        emit(self.core, requested).await;
        emit(self.core, self.resolved(decision, by)).await;
    }

    /// Asks the attached approvers and waits for the first answer.
    async fn ask(&self, deps: &TurnDeps, ctl: &TurnControl, ctx: &ToolContext) -> Option<String> {
        let (core, call) = (self.core, self.call);
        if core.hub.approver_count() == 0 {
            self.decided_automatically(deps, ctx, ApprovalDecision::Deny, "policy")
                .await;
            if call.name == "execute_command" && command::wants_network(&call.args) {
                return Some(
                    "denied: network access for a command needs a person's approval and no client that can approve \
                     is attached; run it without `network` if it can work offline, or tell the user it needs the \
                     network (they can allow it in the TUI, or set `[sandbox] network = true`)"
                        .to_owned(),
                );
            }
            return Some(format!(
                "denied: {} needs approval and no client that can approve is attached (this request runs headless); \
                 do not retry it — tell the user what you would do, or ask them to rerun with --approval auto",
                call.name
            ));
        }
        let mut answer = core.await_approval(&call.id);
        let requested = self.requested(deps, ctx).await;
        emit(core, requested).await;
        let decided = loop {
            tokio::select! {
                a = &mut answer => break a.ok(),
                () = ctl.cancelled() => {
                    core.drop_approval(&call.id);
                    return Some("cancelled while waiting for approval".to_owned());
                }
                () = tokio::time::sleep(APPROVER_CHECK) => {
                    if core.hub.approver_count() == 0 {
                        core.drop_approval(&call.id);
                        break None;
                    }
                }
            }
        };
        let Some(answer) = decided else {
            emit(core, self.resolved(ApprovalDecision::Deny, "policy")).await;
            return Some(format!(
                "denied: every client that could approve {} went away",
                call.name
            ));
        };
        emit(core, self.resolved(answer.decision, &answer.client)).await;
        match answer.decision {
            ApprovalDecision::Allow => None,
            // Network access is never granted for the session (see `approve`).
            ApprovalDecision::AllowSession if command::wants_network(&call.args) => None,
            ApprovalDecision::AllowSession => {
                let j = self.judged;
                if !core.allow_for_session(j.scope.clone(), j.risk) {
                    tracing::warn!(session = %core.id, "session grant limit reached; later calls will ask");
                }
                None
            }
            ApprovalDecision::Deny => Some(denial(&call.name, &answer)),
        }
    }
}

/// What the model reads when a person denied a call, with their message when they wrote one.
fn denial(tool: &str, answer: &Answer) -> String {
    let message = answer
        .message
        .as_deref()
        .map(str::trim)
        .filter(|m| !m.is_empty());
    match message {
        Some(m) => format!(
            "denied: the user ({}) did not allow {tool} and says: {}",
            answer.client,
            cap(m)
        ),
        None => format!("denied: the user ({}) did not allow {tool}", answer.client),
    }
}

fn cap(message: &str) -> &str {
    if message.len() <= MAX_DENIAL_MESSAGE {
        return message;
    }
    let mut end = MAX_DENIAL_MESSAGE;
    while !message.is_char_boundary(end) {
        end -= 1;
    }
    &message[..end]
}

async fn emit(core: &SessionCore, body: EventBody) {
    let kind = body.kind();
    if let Err(e) = core.emit(body).await {
        tracing::error!(session = %core.id, error = %e, "could not journal {kind}");
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use pretty_assertions::assert_eq;

    #[test]
    fn a_denial_carries_the_message_capped() {
        let answer = |message: Option<&str>| Answer {
            decision: ApprovalDecision::Deny,
            client: "botcoder-tui".into(),
            message: message.map(str::to_owned),
        };
        assert_eq!(
            denial("execute_command", &answer(Some(" use make check instead "))),
            "denied: the user (botcoder-tui) did not allow execute_command and says: use make check instead"
        );
        assert_eq!(
            denial("write_file", &answer(Some("  "))),
            "denied: the user (botcoder-tui) did not allow write_file"
        );
        let long = "é".repeat(MAX_DENIAL_MESSAGE);
        assert!(denial("git", &answer(Some(&long))).len() < MAX_DENIAL_MESSAGE + 100);
    }
}
