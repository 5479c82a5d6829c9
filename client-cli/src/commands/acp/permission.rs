//! Approvals answered in the editor: `approval.requested` becomes
//! `session/request_permission`. The editor is one approver among the attached clients:
//! whichever answers first wins (the daemon decides races), and a request another client
//! answered first is withdrawn here (`$/cancel_request`) and its late answer dropped.

use std::sync::Arc;

use agent_client_protocol::Client;
use agent_client_protocol::v1::ConnectionTo;
use agent_client_protocol::v1::schema::{
    PermissionOption, PermissionOptionKind, RequestPermissionOutcome, RequestPermissionRequest,
    ToolCallId, ToolCallStatus, ToolCallUpdate, ToolCallUpdateFields,
};
use botcoder_protocol::ApprovalDecision;
use botcoder_protocol::methods::{ApprovalRespond, ApprovalRespondParams};

use super::bridge::Bridge;
use super::link::Link;
use super::translate::{approval_content, tool_kind};

const ALLOW_ONCE: &str = "allow_once";
const ALLOW_ALWAYS: &str = "allow_always";
const REJECT_ONCE: &str = "reject_once";
const REJECT_ALWAYS: &str = "reject_always";

/// An approval request as the daemon sent it.
#[derive(Debug, Clone)]
pub struct Asked {
    /// The call waiting.
    pub call_id: String,
    /// Tool name.
    pub tool: String,
    /// One line saying what would happen.
    pub summary: String,
    /// The change, for edits.
    pub diff: Option<String>,
    /// What "allow for this session" covers.
    pub scope: Option<String>,
}

impl Asked {
    /// What a `reject_always` remembers: the scope the person saw, else the tool.
    fn reject_key(&self) -> String {
        match &self.scope {
            Some(s) => format!("{}:{s}", self.tool),
            None => self.tool.clone(),
        }
    }
}

/// Asks the editor about `asked` in a task of its own and sends the answer to the daemon.
pub fn ask(bridge: Arc<Bridge>, link: Arc<Link>, cx: ConnectionTo<Client>, asked: Asked) {
    tokio::spawn(async move {
        if let Some(decision) = decide(&link, &cx, &asked).await {
            respond(&bridge, &link, &asked, decision).await;
        }
    });
}

async fn decide(link: &Link, cx: &ConnectionTo<Client>, asked: &Asked) -> Option<ApprovalDecision> {
    if link.is_rejected(&asked.reject_key()) {
        return Some(ApprovalDecision::Deny);
    }
    let always = match &asked.scope {
        Some(s) => format!("Allow for this session: {s}"),
        None => "Allow for this session".to_owned(),
    };
    let options = vec![
        PermissionOption::new(ALLOW_ONCE, "Allow", PermissionOptionKind::AllowOnce),
        PermissionOption::new(ALLOW_ALWAYS, always, PermissionOptionKind::AllowAlways),
        PermissionOption::new(REJECT_ONCE, "Reject", PermissionOptionKind::RejectOnce),
        PermissionOption::new(
            REJECT_ALWAYS,
            "Reject for this session",
            PermissionOptionKind::RejectAlways,
        ),
    ];
    let fields = ToolCallUpdateFields::new()
        .title(asked.summary.clone())
        .kind(tool_kind(&asked.tool))
        .status(ToolCallStatus::Pending)
        .content(approval_content(&link.root, asked.diff.as_deref()));
    let call = ToolCallUpdate::new(ToolCallId::new(asked.call_id.as_str()), fields);
    let sent = cx.send_request(RequestPermissionRequest::new(link.acp_id(), call, options));
    link.open_permission(&asked.call_id, sent.cancellation_handle());
    let answer = sent.block_task().await;
    if !link.close_permission(&asked.call_id) {
        return None; // withdrawn: another client decided first
    }
    let outcome = match answer {
        Ok(r) => r.outcome,
        Err(e) => {
            eprintln!("botcoder acp: the editor did not answer a permission request: {e}");
            return None; // other attached clients may still answer
        }
    };
    let RequestPermissionOutcome::Selected(selected) = outcome else {
        // Dismissed (the editor cancels its requests when the turn is cancelled).
        return None;
    };
    match &*selected.option_id.0 {
        ALLOW_ONCE => Some(ApprovalDecision::Allow),
        ALLOW_ALWAYS => Some(ApprovalDecision::AllowSession),
        REJECT_ONCE => Some(ApprovalDecision::Deny),
        REJECT_ALWAYS => {
            link.reject_always(&asked.reject_key());
            Some(ApprovalDecision::Deny)
        }
        other => {
            // Fail closed: an answer that is not one of the offered options is no consent.
            eprintln!(
                "botcoder acp: the editor chose {other:?}, which was not offered; denying the call"
            );
            Some(ApprovalDecision::Deny)
        }
    }
}

async fn respond(bridge: &Bridge, link: &Link, asked: &Asked, decision: ApprovalDecision) {
    let Some(daemon) = bridge.daemon_opt() else {
        return;
    };
    let params = ApprovalRespondParams {
        session_id: link.id.clone(),
        call_id: asked.call_id.clone(),
        decision,
        message: None,
    };
    // Refused when another client decided in the meantime: the daemon's answer stands and
    // `approval.resolved` tells the editor who decided.
    if let Err(e) = daemon.call::<ApprovalRespond>(&params).await {
        eprintln!(
            "botcoder acp: approval for {} not taken: {e}",
            asked.call_id
        );
    }
}
