//! Turning events into a readable transcript. Keeps the text of the reply being streamed so
//! that replayed deltas and a later `assistant.message` are never printed twice (I2).
//! Pieces hold the data as it is (offsets count its bytes); they are made safe for the
//! terminal where they are written ([`crate::output::Out::human`]).

use botcoder_protocol::{ApprovalDecision, Event, EventBody, TurnStatus};

/// What to print for each event.
#[derive(Debug, Default)]
pub struct Transcript {
    /// Text of the current reply printed so far (bytes of the reply).
    printed: usize,
    /// Whether anything of the current reply was printed.
    in_reply: bool,
}

/// Where a piece of output goes.
#[derive(Debug, PartialEq, Eq)]
pub enum Piece {
    /// The answer text itself (stdout).
    Answer(String),
    /// Everything else (stdout for `watch`, stderr for `ask`).
    Note(String),
}

impl Transcript {
    /// The new part of an assistant delta, given the reply's text offset.
    pub fn delta(&mut self, offset: u64, text: &str) -> Option<String> {
        let offset = offset as usize;
        let end = offset + text.len();
        if end <= self.printed || offset > self.printed {
            // Already shown, or a gap (only after `lagged`; the final message fills it).
            return None;
        }
        let skip = self.printed - offset;
        let new = text.get(skip..)?;
        self.printed = end;
        self.in_reply = true;
        Some(new.to_owned())
    }

    /// The part of a complete reply not yet printed, and the reply is closed.
    pub fn complete(&mut self, text: &str) -> String {
        let rest = text.get(self.printed..).unwrap_or_default().to_owned();
        let had = self.in_reply || !rest.is_empty();
        self.printed = 0;
        self.in_reply = false;
        if had && !text.ends_with('\n') {
            format!("{rest}\n")
        } else {
            rest
        }
    }

    /// Forgets a reply cut short without a final message.
    pub fn reset(&mut self) -> Option<String> {
        let was = self.in_reply;
        self.printed = 0;
        self.in_reply = false;
        was.then(|| "\n".to_owned())
    }

    /// Everything printable about `event` for a human following the session.
    pub fn render(&mut self, event: &Event) -> Vec<Piece> {
        let mut out = Vec::new();
        match &event.body {
            EventBody::SessionCreated {
                project_path,
                title,
            } => out.push(Piece::Note(format!(
                "# session {} in {project_path}{}\n",
                event.session_id,
                title
                    .as_deref()
                    .map(|t| format!(" — {t}"))
                    .unwrap_or_default()
            ))),
            EventBody::SessionRenamed { title } => {
                out.push(Piece::Note(format!("# renamed: {title}\n")))
            }
            EventBody::UserMessage { text, client, .. } => {
                out.push(Piece::Note(format!(
                    "\n> {} [{client}]\n",
                    text.replace('\n', "\n> ")
                )));
            }
            EventBody::AssistantDelta { offset, text, .. } => {
                out.extend(self.delta(*offset, text).map(Piece::Answer));
            }
            EventBody::AssistantMessage { text, partial, .. } => {
                let rest = self.complete(text);
                if !rest.is_empty() {
                    out.push(Piece::Answer(rest));
                }
                if *partial {
                    out.push(Piece::Note("[reply cut short]\n".to_owned()));
                }
            }
            EventBody::ProviderRetry {
                provider,
                attempt,
                wait_ms,
                status,
                reason,
                ..
            } => {
                let status = status.map(|s| format!(" (HTTP {s})")).unwrap_or_default();
                out.push(Piece::Note(format!(
                    "[{provider} failed{status}, retrying in {:.1} s (attempt {}): {reason}]\n",
                    *wait_ms as f64 / 1000.0,
                    attempt + 1
                )));
            }
            EventBody::RateLimitWait {
                provider,
                wait_ms,
                reason,
            } => out.push(Piece::Note(format!(
                "[waiting {:.1} s for the {provider} budget: {reason}]\n",
                *wait_ms as f64 / 1000.0
            ))),
            EventBody::ModeChanged { mode, reason } => {
                out.push(Piece::Note(format!("[mode: {mode:?} — {reason}]\n")));
            }
            EventBody::TurnCompleted { status, error, .. } => {
                out.extend(self.reset().map(Piece::Answer));
                match (status, error) {
                    (TurnStatus::Completed, _) => {}
                    (s, Some(e)) => out.push(Piece::Note(format!(
                        "[turn {}: {}]\n",
                        status_word(*s),
                        e.message
                    ))),
                    (s, None) => out.push(Piece::Note(format!("[turn {}]\n", status_word(*s)))),
                }
            }
            EventBody::Lagged { resume_after_seq } => out.push(Piece::Note(format!(
                "[fell behind; resuming after event {resume_after_seq}]\n"
            ))),
            EventBody::ToolCall { name, args, .. } => {
                out.push(Piece::Note(format!("[tool {name} {args}]\n")))
            }
            EventBody::ToolResult { ok, exit_code, .. } => out.push(Piece::Note(format!(
                "[tool {}{}]\n",
                if *ok { "ok" } else { "failed" },
                exit_code.map(|c| format!(", exit {c}")).unwrap_or_default()
            ))),
            EventBody::FileChanged { path, .. } => {
                out.push(Piece::Note(format!("[changed {path}]\n")))
            }
            EventBody::ApprovalRequested { summary, scope, .. } => {
                let scope = scope
                    .as_deref()
                    .map(|s| format!("; allow for this session would cover: {s}"))
                    .unwrap_or_default();
                out.push(Piece::Note(format!(
                    "[approval needed: {summary}{scope}]\n"
                )))
            }
            EventBody::ApprovalResolved {
                decision,
                decided_by,
                ..
            } => {
                let decision = match decision {
                    ApprovalDecision::Allow => "allowed",
                    ApprovalDecision::AllowSession => "allowed for this session",
                    ApprovalDecision::Deny => "denied",
                };
                out.push(Piece::Note(format!("[{decision} by {decided_by}]\n")))
            }
            // An event of a newer daemon: nothing this build can show.
            EventBody::Unknown => {}
            other => out.push(Piece::Note(format!("[{}]\n", other.kind()))),
        }
        out
    }
}

fn status_word(s: TurnStatus) -> &'static str {
    match s {
        TurnStatus::Completed => "completed",
        TurnStatus::Cancelled => "cancelled",
        TurnStatus::Failed => "failed",
        TurnStatus::Interrupted => "interrupted",
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use pretty_assertions::assert_eq;

    #[test]
    fn replayed_and_overlapping_deltas_print_once() {
        let mut t = Transcript::default();
        assert_eq!(t.delta(0, "Hello"), Some("Hello".into()));
        // A mid-turn attach sends the text so far as one delta from offset 0.
        assert_eq!(t.delta(0, "Hello wo"), Some(" wo".into()));
        assert_eq!(t.delta(5, " wo"), None);
        assert_eq!(t.delta(8, "rld"), Some("rld".into()));
        assert_eq!(t.complete("Hello world"), "\n");
    }

    #[test]
    fn final_message_fills_a_gap() {
        let mut t = Transcript::default();
        assert_eq!(t.delta(0, "ab"), Some("ab".into()));
        assert_eq!(t.delta(4, "ef"), None);
        assert_eq!(t.complete("abcdef"), "cdef\n");
        // With no deltas at all (history replay) the whole message prints.
        assert_eq!(t.complete("whole"), "whole\n");
    }

    #[test]
    fn an_approval_request_shows_what_allow_for_session_covers() {
        let ev = |body| Event {
            seq: Some(1),
            session_id: "s".into(),
            time: String::new(),
            body,
        };
        let mut t = Transcript::default();
        let requested = ev(EventBody::ApprovalRequested {
            turn_id: "t".into(),
            call_id: "c".into(),
            tool: "execute_command".into(),
            summary: "run `cargo test --release`".into(),
            diff: None,
            scope: Some("cargo test".into()),
        });
        assert_eq!(
            t.render(&requested),
            [Piece::Note(
                "[approval needed: run `cargo test --release`; allow for this session would cover: cargo test]\n"
                    .into()
            )]
        );
        let resolved = ev(EventBody::ApprovalResolved {
            turn_id: "t".into(),
            call_id: "c".into(),
            decision: ApprovalDecision::Deny,
            decided_by: "rule:rm".into(),
        });
        assert_eq!(
            t.render(&resolved),
            [Piece::Note("[denied by rule:rm]\n".into())]
        );
    }
}
