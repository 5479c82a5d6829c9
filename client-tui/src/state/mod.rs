//! What the TUI knows, updated only by session events and key presses (pure functions), so
//! it can be tested without a terminal. Rendering lives in `view/`.
//!
//! Order: a `user.message` whose turn has not started waits in [`State::queued`] (drawn under
//! the input) and enters the transcript at its `turn.started`, so a message sent while a reply
//! streams never cuts that reply in two, and a live terminal, another terminal and a later
//! attach replaying the journal all show question, whole reply, next question.

pub mod input;
mod item;
mod keys;
pub mod mention;
pub mod slash;

use std::time::{Duration, Instant};

use botcoder_protocol::methods::{DaemonStatusResult, SessionInfo};
use botcoder_protocol::{ApprovalDecision, ApprovalPolicy, Event, EventBody, Mode, TurnStatus};

pub use input::Input;
pub use item::{Item, Overlay, PendingApproval, Queued};
pub use keys::Action;

/// Everything the TUI shows.
#[derive(Debug, Default)]
pub struct State {
    /// Session id.
    pub session_id: String,
    /// This terminal's client name (to say "this terminal" when it decided).
    pub me: String,
    /// Session title.
    pub title: Option<String>,
    /// Transcript.
    pub items: Vec<Item>,
    /// Messages whose turn has not started.
    pub queued: Vec<Queued>,
    /// Index of the streaming reply and its bytes known (offset dedupe, I2).
    streaming: Option<(usize, usize)>,
    /// Index of the streaming reasoning and its bytes known.
    reasoning: Option<(usize, usize)>,
    /// The input box.
    pub input: Input,
    /// The running turn.
    pub running: Option<String>,
    /// Current mode, when known.
    pub mode: Option<Mode>,
    /// Whether the last mode change was a fallback.
    pub fallback: bool,
    /// Provider and model.
    pub provider: Option<String>,
    /// Model.
    pub model: Option<String>,
    /// Approval policy.
    pub approval_policy: Option<ApprovalPolicy>,
    /// Sandbox, in words.
    pub sandbox: Option<String>,
    /// The model's context window, when the daemon knows it.
    pub context_window: Option<u64>,
    /// Input tokens of the last request (what the context holds).
    pub context_used: u64,
    /// Tokens used in the session.
    pub tokens: u64,
    /// Cost in USD, when any usage carried one.
    pub cost_usd: Option<f64>,
    /// A rate-limit wait or retry ends at this instant.
    pub waiting_until: Option<(Instant, String)>,
    /// The approval modal.
    pub approval: Option<PendingApproval>,
    /// Ring the bell (an approval arrived); the app takes it.
    pub bell: bool,
    /// An overlay.
    pub overlay: Option<Overlay>,
    /// Last durable seq seen (resume point after a reconnect).
    pub last_seq: u64,
    /// Lines scrolled up from the bottom; 0 follows new output.
    pub scroll: usize,
    /// When Ctrl-C was pressed on an empty idle prompt (a second press soon detaches).
    pub ctrl_c_at: Option<Instant>,
    /// Tool and reasoning blocks show their output (Ctrl-O toggles).
    pub expanded: bool,
    /// Blocks toggled against `expanded` (by transcript index).
    pub toggled: std::collections::BTreeSet<usize>,
    /// The block Alt-O toggles, picked with Alt-Up/Alt-Down (`None`: the last one). The view
    /// marks it and keeps it on screen.
    pub selected: Option<usize>,
    /// Status hint and when it expires.
    pub status: Option<(String, Instant)>,
    /// Project files for `@` completion.
    pub files: Vec<String>,
    /// Selected row of the completion popup.
    pub popup: usize,
    /// Mouse capture on (off by default so text can be selected).
    pub mouse: bool,
    /// Messages sent by this terminal (for the detach summary).
    pub sent: usize,
}

/// How long a status hint stays.
pub const HINT: Duration = Duration::from_secs(3);

impl State {
    /// A state for `session_id`.
    pub fn new(session_id: &str) -> State {
        State {
            session_id: session_id.to_owned(),
            me: "botcoder-tui".into(),
            ..State::default()
        }
    }

    /// Shows a hint on the status line for a few seconds.
    pub fn hint(&mut self, text: impl Into<String>) {
        self.status = Some((text.into(), Instant::now() + HINT));
    }

    /// A notice in the transcript, verbatim.
    pub fn notice(&mut self, text: impl Into<String>, error: bool) {
        self.items.push(Item::Notice {
            text: text.into(),
            error,
        });
        self.scroll = 0;
    }

    /// What `session.get` says, right after attach.
    pub fn set_session_info(&mut self, info: &SessionInfo) {
        self.title = info.title.clone().or(self.title.take());
        self.provider = info.provider.clone().or(self.provider.take());
        self.model = info.model.clone().or(self.model.take());
        self.approval_policy = Some(info.approval);
        if info.cost_usd.is_some() {
            self.cost_usd = info.cost_usd;
        }
    }

    /// What `daemon.status` says, right after attach: mode, sandbox, context window.
    pub fn set_daemon_status(&mut self, st: &DaemonStatusResult) {
        self.mode = Some(st.mode);
        if let Some(p) = &st.provider {
            self.provider.get_or_insert_with(|| p.name.clone());
            self.model.get_or_insert_with(|| p.model.clone());
            self.context_window = p.capabilities.context_window;
        }
        if let Some(s) = &st.sandbox {
            let net = if s.network { "" } else { ", no network" };
            self.sandbox = Some(format!("{:?}{net}", s.mode).to_lowercase());
        }
    }

    /// Whether a turn runs.
    pub fn is_running(&self) -> bool {
        self.running.is_some()
    }

    /// Folds one event in. Durable events already seen (after a resync) are skipped.
    pub fn apply(&mut self, ev: &Event) {
        if let Some(seq) = ev.seq {
            if seq <= self.last_seq {
                return;
            }
            self.last_seq = seq;
        }
        match &ev.body {
            EventBody::SessionCreated { title, .. } => self.title = title.clone(),
            EventBody::SessionRenamed { title } => self.title = Some(title.clone()),
            EventBody::UserMessage {
                turn_id,
                client,
                text,
            } => {
                self.input.remember(mention::split(text).0);
                self.queued.push(Queued {
                    turn_id: turn_id.to_string(),
                    client: client.clone(),
                    text: text.clone(),
                });
            }
            EventBody::TurnStarted {
                turn_id,
                provider,
                model,
            } => {
                self.start(turn_id.as_str());
                if provider.is_some() {
                    self.provider = provider.clone();
                }
                if model.is_some() {
                    self.model = model.clone();
                }
            }
            EventBody::AssistantDelta { offset, text, .. } => {
                self.streaming = stream(&mut self.items, self.streaming, *offset, text, false);
            }
            EventBody::AssistantMessage { text, .. } => {
                match self.streaming.take() {
                    Some((i, _)) => self.items[i] = Item::Assistant { text: text.clone() },
                    None => self.items.push(Item::Assistant { text: text.clone() }),
                }
                self.reasoning = None;
            }
            EventBody::AssistantReasoningDelta { offset, text, .. } => {
                self.reasoning = stream(&mut self.items, self.reasoning, *offset, text, true);
            }
            EventBody::AssistantReasoning { text, .. } => match self.reasoning.take() {
                Some((i, _)) => self.items[i] = Item::Reasoning { text: text.clone() },
                None => self.items.push(Item::Reasoning { text: text.clone() }),
            },
            EventBody::Usage {
                input_tokens,
                output_tokens,
                cost_usd,
                ..
            } => {
                self.tokens += input_tokens + output_tokens;
                self.context_used = *input_tokens + output_tokens;
                if let Some(c) = cost_usd {
                    *self.cost_usd.get_or_insert(0.0) += c;
                }
            }
            EventBody::ProviderRetry {
                wait_ms, reason, ..
            } => self.wait(*wait_ms, format!("retry: {reason}")),
            EventBody::RateLimitWait {
                wait_ms, reason, ..
            } => self.wait(*wait_ms, format!("rate limit: {reason}")),
            EventBody::ModeChanged { mode, reason } => {
                self.fallback = *mode == Mode::Local && self.mode == Some(Mode::MultiAgent)
                    || reason.contains("continuing with the local provider");
                self.mode = Some(*mode);
                let error = self.fallback;
                self.notice(reason.clone(), error);
            }
            EventBody::ProviderSwitched { from, to, reason } => {
                self.provider = Some(to.clone());
                self.notice(format!("provider {from} → {to}: {reason}"), false);
            }
            EventBody::SessionConfigured {
                provider,
                model,
                approval,
                by,
                ..
            } => {
                let mut what = Vec::new();
                if let Some(p) = provider {
                    self.provider = Some(p.clone());
                    what.push(format!("provider {p}"));
                }
                if let Some(m) = model {
                    self.model = Some(m.clone());
                    what.push(format!("model {m}"));
                }
                if let Some(a) = approval {
                    self.approval_policy = Some(*a);
                    what.push(format!("approval {}", policy_name(*a)));
                }
                self.notice(format!("{by} set {}", what.join(", ")), false);
            }
            EventBody::ContextCompacted {
                before_tokens,
                after_tokens,
                method,
                ..
            } => {
                self.context_used = *after_tokens;
                self.notice(
                    format!(
                        "context compacted ({method}): {before_tokens} → {after_tokens} tokens"
                    ),
                    false,
                );
            }
            EventBody::ToolCall {
                call_id,
                name,
                args,
                ..
            } => {
                self.streaming = None;
                self.reasoning = None;
                self.items.push(Item::Tool {
                    call_id: call_id.clone(),
                    name: name.clone(),
                    args: args.clone(),
                    output: String::new(),
                    ok: None,
                    exit_code: None,
                    diff: None,
                });
            }
            EventBody::ToolOutput { call_id, text, .. } => {
                if let Some(Item::Tool { output, .. }) = self.tool_mut(call_id) {
                    // Live output is only a preview; bounded so a chatty command cannot grow it.
                    if output.len() < 256 * 1024 {
                        output.push_str(text);
                    }
                }
            }
            EventBody::ToolResult {
                call_id,
                ok,
                output,
                exit_code,
                ..
            } => {
                if let Some(Item::Tool {
                    output: o,
                    ok: k,
                    exit_code: e,
                    ..
                }) = self.tool_mut(call_id)
                {
                    *o = output.clone();
                    *k = Some(*ok);
                    *e = *exit_code;
                }
            }
            EventBody::FileChanged { path, diff, .. } => self.file_changed(path, diff),
            EventBody::ApprovalRequested {
                call_id,
                tool,
                summary,
                diff,
                scope,
                ..
            } => {
                self.bell = true;
                self.approval = Some(PendingApproval {
                    call_id: call_id.clone(),
                    tool: tool.clone(),
                    summary: summary.clone(),
                    diff: diff.clone(),
                    scope: scope.clone(),
                    ..PendingApproval::default()
                });
            }
            EventBody::ApprovalResolved {
                call_id,
                decision,
                decided_by,
                ..
            } => {
                let scope = self
                    .approval
                    .as_ref()
                    .filter(|a| &a.call_id == call_id)
                    .and_then(|a| a.scope.clone());
                if self
                    .approval
                    .as_ref()
                    .is_some_and(|a| &a.call_id == call_id)
                {
                    self.approval = None;
                }
                let text = self.decision_words(*decision, decided_by, scope.as_deref());
                self.notice(text, false);
            }
            EventBody::PipelineProgress {
                step,
                message,
                progress,
                ..
            } => self.progress(step, message, *progress),
            EventBody::TurnChanges { files, .. } => self.items.push(Item::Changes {
                what: "changed".into(),
                files: files.clone(),
            }),
            EventBody::TurnReverted { files, by, .. } => self.items.push(Item::Changes {
                what: format!("reverted by {by}"),
                files: files.clone(),
            }),
            EventBody::TurnUnreverted { files, by, .. } => self.items.push(Item::Changes {
                what: format!("re-applied by {by}"),
                files: files.clone(),
            }),
            EventBody::TurnCompleted {
                turn_id,
                status,
                error,
            } => {
                // A turn that ends without having started (cancelled while queued): its
                // message still belongs in the transcript, here.
                self.start(turn_id.as_str());
                self.running = None;
                self.streaming = None;
                self.reasoning = None;
                self.waiting_until = None;
                if *status != TurnStatus::Completed {
                    let word = match status {
                        TurnStatus::Cancelled => "cancelled",
                        TurnStatus::Failed => "failed",
                        TurnStatus::Interrupted => "interrupted",
                        TurnStatus::Completed => "completed",
                    };
                    let text = match error {
                        Some(e) => format!("turn {word}: {}", e.message),
                        None => format!("turn {word}"),
                    };
                    self.notice(text, *status == TurnStatus::Failed);
                }
            }
            EventBody::Lagged { .. } => self.hint("fell behind; resynced"),
            // An event of a newer daemon: nothing this build can show.
            EventBody::Unknown => {}
        }
    }

    /// Moves `turn_id`'s queued message into the transcript; the turn now runs.
    fn start(&mut self, turn_id: &str) {
        if let Some(i) = self.queued.iter().position(|q| q.turn_id == turn_id) {
            let q = self.queued.remove(i);
            self.items.push(Item::User {
                client: q.client,
                text: q.text,
            });
        }
        self.running = Some(turn_id.to_owned());
    }

    fn wait(&mut self, ms: u64, why: String) {
        self.waiting_until = Some((Instant::now() + Duration::from_millis(ms), why));
    }

    fn decision_words(&self, d: ApprovalDecision, by: &str, scope: Option<&str>) -> String {
        let what = match (d, scope) {
            (ApprovalDecision::Allow, _) => "allowed once".to_owned(),
            (ApprovalDecision::AllowSession, Some(s)) => format!("allowed {s} for this session"),
            (ApprovalDecision::AllowSession, None) => "allowed for this session".to_owned(),
            (ApprovalDecision::Deny, _) => "denied".to_owned(),
        };
        let who = if by == "policy" {
            "by the session's approval policy".to_owned()
        } else if by == self.me {
            format!("by {by} (this terminal)")
        } else {
            format!("by {by}")
        };
        format!("{what} {who}")
    }

    fn file_changed(&mut self, path: &str, diff: &str) {
        // The diff belongs to the edit that made it: the newest write tool without one.
        let owner = self.items.iter_mut().rev().take(8).find_map(|i| match i {
            Item::Tool { name, diff: d, .. } if d.is_none() && is_write(name) => Some(d),
            _ => None,
        });
        match owner {
            Some(d) => *d = Some(diff.to_owned()),
            None => self.items.push(Item::Diff {
                path: path.to_owned(),
                diff: diff.to_owned(),
            }),
        }
    }

    fn progress(&mut self, step: &str, message: &str, progress: f64) {
        let found = self
            .items
            .iter_mut()
            .rev()
            .find(|i| matches!(i, Item::Progress { step: s, .. } if s == step));
        match found {
            Some(Item::Progress {
                message: m,
                progress: p,
                ..
            }) => {
                *m = message.to_owned();
                *p = progress;
            }
            _ => self.items.push(Item::Progress {
                step: step.to_owned(),
                message: message.to_owned(),
                progress,
            }),
        }
    }

    fn tool_mut(&mut self, id: &str) -> Option<&mut Item> {
        self.items
            .iter_mut()
            .rev()
            .find(|i| matches!(i, Item::Tool { call_id, .. } if call_id == id))
    }

    /// Whether block `i` shows its body (tool output, reasoning).
    pub fn is_expanded(&self, i: usize) -> bool {
        let failed = matches!(
            self.items.get(i),
            Some(Item::Tool {
                ok: Some(false),
                ..
            })
        );
        // Failures are open by default: their output is what you need to see.
        (self.expanded || failed) != self.toggled.contains(&i)
    }

    /// Messages in the transcript that a person wrote.
    pub fn user_messages(&self) -> usize {
        self.items
            .iter()
            .filter(|i| matches!(i, Item::User { .. }))
            .count()
    }
}

/// Whether `tool` writes files (its diff is shown with it).
pub fn is_write(tool: &str) -> bool {
    matches!(tool, "write_file" | "edit_file" | "apply_delta")
}

/// A policy as the command line spells it.
pub fn policy_name(p: ApprovalPolicy) -> &'static str {
    match p {
        ApprovalPolicy::Auto => "auto",
        ApprovalPolicy::Ask => "ask",
        ApprovalPolicy::ReadOnly => "read-only",
    }
}

/// Applies a delta at `offset` to the streaming item (a reply, or reasoning), creating it;
/// what is already known is skipped (a late attach gets a partial, then live deltas).
fn stream(
    items: &mut Vec<Item>,
    cur: Option<(usize, usize)>,
    offset: u64,
    text: &str,
    reasoning: bool,
) -> Option<(usize, usize)> {
    let (i, known) = match cur {
        Some(c) => c,
        None => {
            items.push(if reasoning {
                Item::Reasoning {
                    text: String::new(),
                }
            } else {
                Item::Assistant {
                    text: String::new(),
                }
            });
            (items.len() - 1, 0)
        }
    };
    let offset = offset as usize;
    let end = offset + text.len();
    if end <= known || offset > known {
        return Some((i, known));
    }
    match (items.get_mut(i), text.get(known - offset..)) {
        (Some(Item::Assistant { text: t } | Item::Reasoning { text: t }), Some(new)) => {
            t.push_str(new);
            Some((i, end))
        }
        _ => Some((i, known)),
    }
}

#[cfg(test)]
#[path = "tests.rs"]
mod tests;
