//! What the TUI knows, updated only by session events and key presses (pure functions), so
//! it can be tested without a terminal. Rendering lives in `view/`.

mod input;

use std::time::{Duration, Instant};

use botcoder_protocol::{ApprovalDecision, Event, EventBody, Mode, TurnStatus};

pub use input::Input;

/// One entry of the transcript.
#[derive(Debug, Clone, PartialEq)]
pub enum Item {
    /// A user message and the client that sent it.
    User {
        /// Sender.
        client: String,
        /// Text.
        text: String,
    },
    /// A (possibly still streaming) assistant reply.
    Assistant {
        /// Text.
        text: String,
    },
    /// A tool call with its live output and result.
    Tool {
        /// Call id.
        call_id: String,
        /// Tool name.
        name: String,
        /// Arguments, compact.
        args: String,
        /// Live output, then the result's output.
        output: String,
        /// `None` while running.
        ok: Option<bool>,
        /// Exit code.
        exit_code: Option<i32>,
    },
    /// A file change.
    Diff {
        /// Path.
        path: String,
        /// Unified diff.
        diff: String,
    },
    /// Botserver pipeline progress (one line per step).
    Progress {
        /// Step.
        step: String,
        /// Message.
        message: String,
        /// 0..100.
        progress: f64,
    },
    /// A notice; `error` ones are drawn so nobody misses them.
    Notice {
        /// Text.
        text: String,
        /// Whether it is an error.
        error: bool,
    },
}

/// A pending approval shown as a modal.
#[derive(Debug, Clone, PartialEq)]
pub struct PendingApproval {
    /// The call.
    pub call_id: String,
    /// Tool.
    pub tool: String,
    /// Summary.
    pub summary: String,
    /// Diff, for edits.
    pub diff: Option<String>,
    /// What "allow for this session" covers.
    pub scope: Option<String>,
}

/// What the user asked for.
#[derive(Debug, Clone, PartialEq)]
pub enum Action {
    /// Send a message.
    Send(String),
    /// Cancel the running turn.
    Cancel,
    /// Answer an approval.
    Approve(String, ApprovalDecision),
    /// Detach, leaving the session running.
    Quit,
}

/// Everything the TUI shows.
#[derive(Debug, Default)]
pub struct State {
    /// Session id.
    pub session_id: String,
    /// Session title.
    pub title: Option<String>,
    /// Transcript.
    pub items: Vec<Item>,
    /// Bytes of the streaming reply known (offset dedupe, I2).
    streaming: Option<usize>,
    /// The input box.
    pub input: Input,
    /// A turn runs.
    pub running: bool,
    /// Messages sent while a turn runs, waiting.
    pub queued: usize,
    /// Current mode; `fallback` when the botserver was lost and work went local.
    pub mode: Option<Mode>,
    /// Whether the last mode change was a fallback.
    pub fallback: bool,
    /// Provider and model of the last turn.
    pub provider: Option<String>,
    /// Tokens used in the session.
    pub tokens: u64,
    /// A rate-limit wait or retry ends at this instant.
    pub waiting_until: Option<(Instant, String)>,
    /// The approval modal.
    pub approval: Option<PendingApproval>,
    /// Last durable seq seen (resume point after a reconnect).
    pub last_seq: u64,
    /// Lines scrolled up from the bottom; 0 follows new output.
    pub scroll: usize,
    /// Ctrl-C pressed once.
    pub ctrl_c_once: bool,
    /// Tool blocks show their output (Ctrl-O toggles).
    pub tools_expanded: bool,
    /// Status line message.
    pub status: String,
}

impl State {
    /// A state for `session_id`.
    pub fn new(session_id: &str) -> State {
        State {
            session_id: session_id.to_owned(),
            ..State::default()
        }
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
            EventBody::UserMessage { client, text, .. } => {
                if self.running {
                    self.queued += 1;
                }
                self.items.push(Item::User {
                    client: client.clone(),
                    text: text.clone(),
                });
            }
            EventBody::TurnStarted {
                provider, model, ..
            } => {
                self.running = true;
                self.queued = self.queued.saturating_sub(1);
                if let (Some(p), Some(m)) = (provider, model) {
                    self.provider = Some(format!("{p} · {m}"));
                }
            }
            EventBody::AssistantDelta { offset, text, .. } => self.delta(*offset as usize, text),
            EventBody::AssistantMessage { text, .. } => {
                match (self.streaming.take(), self.items.last_mut()) {
                    (Some(_), Some(Item::Assistant { text: t })) => *t = text.clone(),
                    _ => self.items.push(Item::Assistant { text: text.clone() }),
                }
            }
            EventBody::Usage {
                input_tokens,
                output_tokens,
                ..
            } => self.tokens += input_tokens + output_tokens,
            EventBody::ProviderRetry {
                wait_ms, reason, ..
            } => {
                self.waiting_until = Some((
                    Instant::now() + Duration::from_millis(*wait_ms),
                    format!("retry: {reason}"),
                ));
            }
            EventBody::RateLimitWait {
                wait_ms, reason, ..
            } => {
                self.waiting_until = Some((
                    Instant::now() + Duration::from_millis(*wait_ms),
                    format!("rate limit: {reason}"),
                ));
            }
            EventBody::ModeChanged { mode, reason } => {
                self.fallback = *mode == Mode::Local && self.mode == Some(Mode::MultiAgent)
                    || reason.contains("continuing with the local provider");
                self.mode = Some(*mode);
                self.items.push(Item::Notice {
                    text: reason.clone(),
                    error: self.fallback,
                });
            }
            EventBody::ToolCall {
                call_id,
                name,
                args,
                ..
            } => {
                self.streaming = None;
                self.items.push(Item::Tool {
                    call_id: call_id.clone(),
                    name: name.clone(),
                    args: args.to_string(),
                    output: String::new(),
                    ok: None,
                    exit_code: None,
                });
            }
            EventBody::ToolOutput { call_id, text, .. } => {
                if let Some(Item::Tool { output, .. }) = self.tool_mut(call_id) {
                    output.push_str(text);
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
            EventBody::FileChanged { path, diff, .. } => self.items.push(Item::Diff {
                path: path.clone(),
                diff: diff.clone(),
            }),
            EventBody::ApprovalRequested {
                call_id,
                tool,
                summary,
                diff,
                scope,
                ..
            } => {
                self.approval = Some(PendingApproval {
                    call_id: call_id.clone(),
                    tool: tool.clone(),
                    summary: summary.clone(),
                    diff: diff.clone(),
                    scope: scope.clone(),
                });
            }
            EventBody::ApprovalResolved {
                call_id,
                decision,
                decided_by,
                ..
            } => {
                if self
                    .approval
                    .as_ref()
                    .is_some_and(|a| &a.call_id == call_id)
                {
                    self.approval = None;
                }
                self.items.push(Item::Notice {
                    text: format!("{decided_by} decided: {decision:?}"),
                    error: false,
                });
            }
            EventBody::PipelineProgress {
                step,
                message,
                progress,
                ..
            } => {
                match self
                    .items
                    .iter_mut()
                    .rev()
                    .find(|i| matches!(i, Item::Progress { step: s, .. } if s == step))
                {
                    Some(Item::Progress {
                        message: m,
                        progress: p,
                        ..
                    }) => {
                        *m = message.clone();
                        *p = *progress;
                    }
                    _ => self.items.push(Item::Progress {
                        step: step.clone(),
                        message: message.clone(),
                        progress: *progress,
                    }),
                }
            }
            EventBody::TurnCompleted { status, error, .. } => {
                self.running = false;
                self.streaming = None;
                self.waiting_until = None;
                if *status != TurnStatus::Completed {
                    let why = error
                        .as_ref()
                        .map(|e| e.message.clone())
                        .unwrap_or_default();
                    self.items.push(Item::Notice {
                        text: format!("turn {status:?}: {why}").to_lowercase(),
                        error: *status == TurnStatus::Failed,
                    });
                }
            }
            EventBody::Lagged { .. } => self.status = "fell behind; resynced".into(),
            // Unknown: an event of a newer daemon, nothing this build can show.
            EventBody::ContextCompacted { .. }
            | EventBody::ProviderSwitched { .. }
            | EventBody::AssistantReasoningDelta { .. }
            | EventBody::AssistantReasoning { .. }
            | EventBody::SessionConfigured { .. }
            | EventBody::TurnChanges { .. }
            | EventBody::TurnReverted { .. }
            | EventBody::TurnUnreverted { .. }
            | EventBody::Unknown => {}
        }
    }

    fn tool_mut(&mut self, id: &str) -> Option<&mut Item> {
        self.items
            .iter_mut()
            .rev()
            .find(|i| matches!(i, Item::Tool { call_id, .. } if call_id == id))
    }

    fn delta(&mut self, offset: usize, text: &str) {
        let known = match self.streaming {
            Some(k) => k,
            None => {
                self.items.push(Item::Assistant {
                    text: String::new(),
                });
                0
            }
        };
        let end = offset + text.len();
        if end <= known || offset > known {
            return;
        }
        if let (Some(Item::Assistant { text: t }), Some(new)) =
            (self.items.last_mut(), text.get(known - offset..))
        {
            t.push_str(new);
            self.streaming = Some(end);
        }
    }

    /// A key press; returns what the user asked for.
    pub fn key(&mut self, key: crossterm::event::KeyEvent) -> Option<Action> {
        use crossterm::event::{KeyCode, KeyModifiers};
        if key.kind == crossterm::event::KeyEventKind::Release {
            return None;
        }
        let ctrl = key.modifiers.contains(KeyModifiers::CONTROL);
        if ctrl && key.code == KeyCode::Char('c') {
            if self.ctrl_c_once {
                return Some(Action::Quit);
            }
            self.ctrl_c_once = true;
            self.status = "press Ctrl-C again to detach (the session keeps running)".into();
            return None;
        }
        self.ctrl_c_once = false;
        if ctrl && key.code == KeyCode::Char('o') {
            self.tools_expanded = !self.tools_expanded;
            return None;
        }
        if let Some(a) = &self.approval {
            let id = a.call_id.clone();
            return match key.code {
                KeyCode::Char('y' | 'a') => Some(Action::Approve(id, ApprovalDecision::Allow)),
                KeyCode::Char('s') => Some(Action::Approve(id, ApprovalDecision::AllowSession)),
                KeyCode::Char('n' | 'd') | KeyCode::Esc => {
                    Some(Action::Approve(id, ApprovalDecision::Deny))
                }
                _ => None,
            };
        }
        match key.code {
            KeyCode::Esc if self.running => Some(Action::Cancel),
            KeyCode::PageUp => {
                self.scroll += 10;
                None
            }
            KeyCode::PageDown => {
                self.scroll = self.scroll.saturating_sub(10);
                None
            }
            // Home/End scroll the transcript when there is nothing to edit (or with Ctrl).
            KeyCode::Home if ctrl || self.input.text.is_empty() => {
                self.scroll = usize::MAX / 2;
                None
            }
            KeyCode::End if ctrl || self.input.text.is_empty() => {
                self.scroll = 0;
                None
            }
            KeyCode::Enter
                if key
                    .modifiers
                    .intersects(KeyModifiers::ALT | KeyModifiers::SHIFT) =>
            {
                self.input.insert('\n');
                None
            }
            KeyCode::Enter => {
                let text = self.input.take();
                match text.trim() {
                    "" => None,
                    "/quit" => Some(Action::Quit),
                    _ => Some(Action::Send(text)),
                }
            }
            _ => {
                self.input.key(key);
                None
            }
        }
    }
}

#[cfg(test)]
#[path = "tests.rs"]
mod tests;
