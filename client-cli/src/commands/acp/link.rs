//! One editor session tied to one daemon session: a task follows the daemon session's
//! events (whoever caused them: this editor, a terminal, another editor) and shows them in
//! the editor; `session/prompt` waits here for its turn to end.

use std::collections::{HashMap, HashSet, VecDeque};
use std::path::PathBuf;
use std::sync::{Arc, Mutex, MutexGuard};

use agent_client_protocol::v1::ConnectionTo;
use agent_client_protocol::v1::schema::{
    ConfigOptionUpdate, CurrentModeUpdate, SessionId as AcpSessionId, SessionNotification,
    SessionUpdate, StopReason,
};
use agent_client_protocol::{Client, RequestCancellationHandle};
use botcoder_protocol::methods::SubscribeParams;
use botcoder_protocol::{ApprovalPolicy, Event, EventBody, SessionId, TurnId};
use tokio::sync::oneshot;

use super::bridge::{Bridge, mode_id};
use super::permission::{self, Asked};
use super::translate::{Translator, stop_reason};

/// Turn outcomes kept for a `session/prompt` that registers after its turn already ended.
const FINISHED_KEPT: usize = 64;
/// Prompt texts this bridge sent whose `user.message` has not come back yet.
const OWN_TEXTS_KEPT: usize = 64;

/// What a `session/prompt` gets when its turn ends.
pub type Outcome = Result<StopReason, String>;

/// The shared state of one linked session.
#[derive(Debug)]
pub struct Link {
    /// The daemon session (its id is the ACP session id too).
    pub id: SessionId,
    /// The project root, for absolute paths.
    pub root: PathBuf,
    state: Mutex<LinkState>,
}

#[derive(Debug, Default)]
struct LinkState {
    waiters: HashMap<TurnId, oneshot::Sender<Outcome>>,
    finished: VecDeque<(TurnId, Outcome)>,
    own_texts: VecDeque<String>,
    /// Open `session/request_permission`s by call id, to withdraw when another client
    /// decides first.
    open: HashMap<String, RequestCancellationHandle>,
    /// Scopes the person rejected for the rest of the session (`reject_always`).
    rejected: HashSet<String>,
    /// The mode chosen in the editor when the daemon cannot change a session's policy
    /// (no `session.configure`): sent with every prompt instead.
    mode_override: Option<ApprovalPolicy>,
    pump: Option<tokio::task::AbortHandle>,
    /// Serving the session's files from the editor (`files`).
    files: Option<tokio::task::AbortHandle>,
}

impl Link {
    /// A link for session `id` in `root`.
    pub fn new(id: SessionId, root: PathBuf) -> Self {
        Link {
            id,
            root,
            state: Mutex::new(LinkState::default()),
        }
    }

    fn state(&self) -> MutexGuard<'_, LinkState> {
        // A panic while holding this lock leaves plain data behind; keep going.
        self.state.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// The ACP id of the session.
    pub fn acp_id(&self) -> AcpSessionId {
        AcpSessionId::new(self.id.0.as_str())
    }

    /// Notes a prompt about to be sent, so its `user.message` is not echoed to the editor.
    pub fn expect_own(&self, text: &str) {
        let mut s = self.state();
        if s.own_texts.len() >= OWN_TEXTS_KEPT {
            s.own_texts.pop_front();
        }
        s.own_texts.push_back(text.to_owned());
    }

    /// Forgets a prompt that was not sent after all.
    pub fn forget_own(&self, text: &str) {
        let mut s = self.state();
        if let Some(i) = s.own_texts.iter().position(|t| t == text) {
            s.own_texts.remove(i);
        }
    }

    fn take_own(&self, text: &str) -> bool {
        let mut s = self.state();
        match s.own_texts.iter().position(|t| t == text) {
            Some(i) => {
                s.own_texts.remove(i);
                true
            }
            None => false,
        }
    }

    /// A receiver for the end of `turn` (at once when it already ended).
    pub fn wait_turn(&self, turn: &TurnId) -> oneshot::Receiver<Outcome> {
        let (tx, rx) = oneshot::channel();
        let mut s = self.state();
        if let Some(i) = s.finished.iter().position(|(t, _)| t == turn) {
            if let Some((_, outcome)) = s.finished.remove(i) {
                let _ = tx.send(outcome);
            }
        } else {
            s.waiters.insert(turn.clone(), tx);
        }
        rx
    }

    fn finish(&self, turn: &TurnId, outcome: Outcome) {
        let mut s = self.state();
        match s.waiters.remove(turn) {
            Some(tx) => {
                let _ = tx.send(outcome);
            }
            None => {
                if s.finished.len() >= FINISHED_KEPT {
                    s.finished.pop_front();
                }
                s.finished.push_back((turn.clone(), outcome));
            }
        }
    }

    /// Fails every waiting prompt (the daemon connection is gone).
    fn fail_all(&self, why: &str) {
        let waiters: Vec<_> = self.state().waiters.drain().collect();
        for (_, tx) in waiters {
            let _ = tx.send(Err(why.to_owned()));
        }
    }

    /// Records an open permission request.
    pub fn open_permission(&self, call_id: &str, handle: RequestCancellationHandle) {
        self.state().open.insert(call_id.to_owned(), handle);
    }

    /// Closes a permission request; false when it was withdrawn meanwhile (another client
    /// decided first), so its answer must not be sent.
    pub fn close_permission(&self, call_id: &str) -> bool {
        self.state().open.remove(call_id).is_some()
    }

    /// Withdraws the open permission request for `call_id`, if any.
    fn withdraw(&self, call_id: &str) {
        let handle = self.state().open.remove(call_id);
        if let Some(h) = handle {
            // The editor answers a withdrawn request as cancelled (or not at all).
            let _ = h.cancel();
        }
    }

    /// Withdraws every open permission request (the turn is being cancelled).
    pub fn withdraw_all(&self) {
        let handles: Vec<_> = self.state().open.drain().map(|(_, h)| h).collect();
        for h in handles {
            let _ = h.cancel();
        }
    }

    /// Remembers a `reject_always`.
    pub fn reject_always(&self, scope: &str) {
        self.state().rejected.insert(scope.to_owned());
    }

    /// Whether the person rejected `scope` for the session.
    pub fn is_rejected(&self, scope: &str) -> bool {
        self.state().rejected.contains(scope)
    }

    /// The per-prompt mode, when the daemon cannot store one on the session.
    pub fn mode_override(&self) -> Option<ApprovalPolicy> {
        self.state().mode_override
    }

    /// Sets the per-prompt mode.
    pub fn set_mode_override(&self, mode: ApprovalPolicy) {
        self.state().mode_override = Some(mode);
    }

    /// Records the task serving the session's files, to stop with the link.
    pub fn set_files_task(&self, task: tokio::task::AbortHandle) {
        if let Some(old) = self.state().files.replace(task) {
            old.abort();
        }
    }

    /// Stops following the daemon session (and serving its files).
    pub fn stop(&self) {
        let mut s = self.state();
        if let Some(p) = s.pump.take() {
            p.abort();
        }
        if let Some(f) = s.files.take() {
            f.abort();
        }
    }
}

/// Starts following `link`'s daemon session from `after_seq`; `pending` are approval
/// requests still open at that point (found while replaying).
pub fn follow(
    bridge: Arc<Bridge>,
    link: Arc<Link>,
    cx: ConnectionTo<Client>,
    translator: Translator,
    after_seq: u64,
    pending: Vec<Asked>,
) {
    let l = link.clone();
    let task = tokio::spawn(async move {
        pump(bridge, l, cx, translator, after_seq, pending).await;
    });
    link.state().pump = Some(task.abort_handle());
}

async fn pump(
    bridge: Arc<Bridge>,
    link: Arc<Link>,
    cx: ConnectionTo<Client>,
    mut tr: Translator,
    mut after_seq: u64,
    pending: Vec<Asked>,
) {
    let Some(daemon) = bridge.daemon_opt() else {
        return;
    };
    let params = SubscribeParams {
        session_id: link.id.clone(),
        after_seq: Some(after_seq),
    };
    let mut sub = match daemon.subscribe(&params).await {
        Ok(s) => s,
        Err(e) => {
            eprintln!("botcoder acp: cannot follow session {}: {e}", link.id);
            link.fail_all(&format!("cannot follow the session: {e}"));
            return;
        }
    };
    for p in pending {
        permission::ask(bridge.clone(), link.clone(), cx.clone(), p);
    }
    while let Some(next) = sub.next().await {
        let event: Event = match next {
            Ok(e) => e,
            Err(e) => {
                eprintln!("botcoder acp: unreadable event from botcoderd: {e}");
                continue;
            }
        };
        if let Some(seq) = event.seq {
            if seq <= after_seq {
                continue;
            }
            after_seq = seq;
        }
        let mut extra: Vec<SessionUpdate> = Vec::new();
        match &event.body {
            EventBody::UserMessage { client, text, .. }
                if *client == bridge.client_name() && link.take_own(text) =>
            {
                continue; // the editor shows its own prompt already
            }
            EventBody::ApprovalRequested {
                call_id,
                tool,
                summary,
                diff,
                scope,
                ..
            } => {
                let asked = Asked {
                    call_id: call_id.clone(),
                    tool: tool.clone(),
                    summary: summary.clone(),
                    diff: diff.clone(),
                    scope: scope.clone(),
                };
                permission::ask(bridge.clone(), link.clone(), cx.clone(), asked);
            }
            EventBody::ApprovalResolved { call_id, .. } => link.withdraw(call_id),
            EventBody::SessionConfigured {
                approval,
                provider,
                model,
                ..
            } => {
                if let Some(a) = approval {
                    extra.push(SessionUpdate::CurrentModeUpdate(CurrentModeUpdate::new(
                        mode_id(*a),
                    )));
                }
                if provider.is_some() || model.is_some() {
                    let options = bridge.config_options(&link.id).await;
                    if !options.is_empty() {
                        extra.push(SessionUpdate::ConfigOptionUpdate(ConfigOptionUpdate::new(
                            options,
                        )));
                    }
                }
            }
            _ => {}
        }
        let mut updates = tr.updates(&event.body);
        updates.extend(extra);
        for u in updates {
            if cx
                .send_notification(SessionNotification::new(link.acp_id(), u))
                .is_err()
            {
                return; // the editor is gone
            }
        }
        if let EventBody::TurnCompleted {
            turn_id,
            status,
            error,
        } = &event.body
        {
            link.finish(turn_id, stop_reason(*status, error.as_ref()));
        }
    }
    eprintln!("botcoder acp: lost the connection to botcoderd");
    link.fail_all("lost the connection to botcoderd; restart the agent");
}
