//! The conversation a model sees, folded from the session's durable events. The same fold
//! runs when a journal is loaded and as each event is appended, so the two never disagree.
//!
//! Native tool calls become the assistant message's `tool_calls` and their results
//! `ToolResult` messages; calls written as text (and `CHANGE:` blocks) get their results back
//! as a user message, since the model never made a native call to answer. Tool output is
//! capped here, for the model; the journal keeps it whole.

use std::collections::HashMap;

use botcoder_protocol::{Event, EventBody, ToolOrigin, TurnId};

use crate::llm::{ChatMessage, ToolCallRequest};

/// Tool output longer than this is cut (head and tail kept) in the model's context.
pub const CONTEXT_TOOL_OUTPUT_CAP: usize = 16 * 1024;

#[derive(Debug, Clone)]
struct PendingCall {
    name: String,
    args: String,
    origin: ToolOrigin,
}

/// Messages for the next model request.
#[derive(Debug, Default, Clone)]
pub struct Conversation {
    messages: Vec<ChatMessage>,
    /// User messages whose turns have not started yet (queued).
    pending: HashMap<TurnId, String>,
    /// Tool calls whose results have not arrived, by call id.
    calls: HashMap<String, PendingCall>,
    /// Whether the last assistant message may still take native tool calls (no result yet).
    reply_open: bool,
    /// The turn of each message (parallel to `messages`), so that a reverted turn leaves
    /// the context (`turn.reverted`) and comes back in its place (`turn.unreverted`).
    turn_of: Vec<Option<TurnId>>,
    /// Messages of reverted turns, by turn.
    reverted: HashMap<TurnId, Vec<ChatMessage>>,
}

impl Conversation {
    /// Folds one durable event in.
    pub fn apply(&mut self, event: &Event) {
        match &event.body {
            EventBody::TurnReverted { turn_id, .. } => return self.hide(turn_id),
            EventBody::TurnUnreverted { turn_id, .. } => return self.unhide(turn_id),
            _ => {}
        }
        self.fold(event);
        let turn = event.body.turn_id().cloned();
        self.turn_of.resize(self.messages.len(), turn);
    }

    fn hide(&mut self, turn: &TurnId) {
        let tagged = std::mem::take(&mut self.messages)
            .into_iter()
            .zip(std::mem::take(&mut self.turn_of));
        let (gone, kept): (Vec<_>, Vec<_>) = tagged.partition(|(_, t)| t.as_ref() == Some(turn));
        (self.messages, self.turn_of) = kept.into_iter().unzip();
        self.reverted
            .entry(turn.clone())
            .or_default()
            .extend(gone.into_iter().map(|(m, _)| m));
    }

    /// Turn ids are time-ordered: the messages go back before the first later turn's.
    fn unhide(&mut self, turn: &TurnId) {
        let Some(back) = self.reverted.remove(turn) else {
            return;
        };
        let at = (self.turn_of.iter())
            .position(|t| t.as_ref().is_some_and(|t| t > turn))
            .unwrap_or(self.messages.len());
        let n = back.len();
        self.messages.splice(at..at, back);
        (self.turn_of).splice(at..at, std::iter::repeat_n(Some(turn.clone()), n));
    }

    fn fold(&mut self, event: &Event) {
        match &event.body {
            EventBody::UserMessage { turn_id, text, .. } => {
                self.pending.insert(turn_id.clone(), text.clone());
            }
            EventBody::TurnStarted { turn_id, .. } => {
                if let Some(text) = self.pending.remove(turn_id) {
                    self.messages.push(ChatMessage::User(text));
                }
                self.reply_open = false;
            }
            // Reasoning precedes the reply it led to; calls after it start a new message.
            EventBody::AssistantReasoning { text, replay, .. } => {
                self.messages.push(ChatMessage::Reasoning {
                    text: text.clone(),
                    replay: replay.clone(),
                });
                self.reply_open = false;
            }
            EventBody::AssistantMessage { text, .. } if !text.is_empty() => {
                self.messages.push(ChatMessage::assistant(text.clone()));
                self.reply_open = true;
            }
            EventBody::ToolCall {
                call_id,
                name,
                args,
                origin,
                ..
            } => {
                let args = args.to_string();
                if *origin == ToolOrigin::Native {
                    let req = ToolCallRequest {
                        id: call_id.clone(),
                        name: name.clone(),
                        arguments: args.clone(),
                    };
                    match self.messages.last_mut() {
                        Some(ChatMessage::Assistant { tool_calls, .. }) if self.reply_open => {
                            tool_calls.push(req)
                        }
                        _ => {
                            self.messages.push(ChatMessage::Assistant {
                                text: String::new(),
                                tool_calls: vec![req],
                            });
                            self.reply_open = true;
                        }
                    }
                }
                self.calls.insert(
                    call_id.clone(),
                    PendingCall {
                        name: name.clone(),
                        args,
                        origin: *origin,
                    },
                );
            }
            EventBody::ToolResult {
                call_id,
                ok,
                output,
                ..
            } => {
                self.reply_open = false;
                let Some(call) = self.calls.remove(call_id) else {
                    return;
                };
                let output = cap(output, CONTEXT_TOOL_OUTPUT_CAP);
                match call.origin {
                    ToolOrigin::Native => self.messages.push(ChatMessage::ToolResult {
                        call_id: call_id.clone(),
                        name: call.name,
                        output,
                        is_error: !ok,
                    }),
                    ToolOrigin::Text | ToolOrigin::Delta => {
                        let status = if *ok { "ok" } else { "FAILED" };
                        let block =
                            format!("### {}({}) -> {status}\n{output}\n", call.name, call.args);
                        match self.messages.last_mut() {
                            Some(ChatMessage::User(text))
                                if text.starts_with(TEXT_RESULTS_HEADER) =>
                            {
                                text.push_str(&block);
                            }
                            _ => self
                                .messages
                                .push(ChatMessage::User(format!("{TEXT_RESULTS_HEADER}{block}"))),
                        }
                    }
                }
            }
            // A summary replaces the oldest messages (see `compact`); the same count on
            // reload, since this fold is a function of the journal.
            EventBody::ContextCompacted {
                summary: Some(summary),
                summarized_messages: Some(n),
                ..
            } => {
                let n = usize::try_from(*n)
                    .unwrap_or(usize::MAX)
                    .min(self.messages.len());
                self.messages
                    .splice(..n, [ChatMessage::User(summary.clone())]);
            }
            EventBody::TurnCompleted { turn_id, .. } => {
                // A queued turn cancelled before it started never reaches the model.
                self.pending.remove(turn_id);
                self.reply_open = false;
                // Calls that never got a result (crash, cancel) must not leave a native call
                // unanswered: every wire format rejects that.
                for (call_id, call) in std::mem::take(&mut self.calls) {
                    if call.origin == ToolOrigin::Native {
                        self.messages.push(ChatMessage::ToolResult {
                            call_id,
                            name: call.name,
                            output: "the turn ended before this tool ran".to_owned(),
                            is_error: true,
                        });
                    }
                }
            }
            _ => {}
        }
    }

    /// The messages so far, oldest first.
    pub fn messages(&self) -> &[ChatMessage] {
        &self.messages
    }
}

/// First line of the user message that carries results of text-written calls.
pub const TEXT_RESULTS_HEADER: &str =
    "[results of the tool calls and changes in your last reply]\n";

/// Cuts `s` to about `max` bytes, keeping its head and tail.
pub fn cap(s: &str, max: usize) -> String {
    if s.len() <= max {
        return s.to_owned();
    }
    let half = max / 2;
    let mut head_end = half;
    while !s.is_char_boundary(head_end) {
        head_end -= 1;
    }
    let mut tail_start = s.len() - half;
    while !s.is_char_boundary(tail_start) {
        tail_start += 1;
    }
    format!(
        "{}\n[... {} bytes cut ...]\n{}",
        &s[..head_end],
        tail_start - head_end,
        &s[tail_start..]
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use botcoder_protocol::TurnStatus;
    use pretty_assertions::assert_eq;

    fn ev(body: EventBody) -> Event {
        Event {
            seq: Some(1),
            session_id: "s".into(),
            time: String::new(),
            body,
        }
    }

    fn user(t: &str, text: &str) -> EventBody {
        EventBody::UserMessage {
            turn_id: t.into(),
            text: text.into(),
            client: "c".into(),
        }
    }

    fn started(t: &str) -> EventBody {
        EventBody::TurnStarted {
            turn_id: t.into(),
            provider: None,
            model: None,
        }
    }

    fn call(id: &str, origin: ToolOrigin) -> EventBody {
        EventBody::ToolCall {
            turn_id: "t1".into(),
            call_id: id.into(),
            name: "read_file".into(),
            args: serde_json::json!({"path": "a"}),
            executor: "local".into(),
            origin,
        }
    }

    fn result(id: &str, output: &str) -> EventBody {
        EventBody::ToolResult {
            turn_id: "t1".into(),
            call_id: id.into(),
            ok: true,
            output: output.into(),
            exit_code: None,
            truncated: false,
        }
    }

    #[test]
    fn queued_messages_join_when_their_turn_starts_and_cancelled_ones_never() {
        let mut c = Conversation::default();
        c.apply(&ev(user("t1", "first")));
        c.apply(&ev(user("t2", "second")));
        c.apply(&ev(user("t3", "third")));
        c.apply(&ev(started("t1")));
        c.apply(&ev(EventBody::AssistantMessage {
            turn_id: "t1".into(),
            text: "one".into(),
            partial: false,
        }));
        c.apply(&ev(EventBody::TurnCompleted {
            turn_id: "t2".into(),
            status: TurnStatus::Cancelled,
            error: None,
        }));
        c.apply(&ev(started("t3")));
        assert_eq!(
            c.messages(),
            &[
                ChatMessage::User("first".into()),
                ChatMessage::assistant("one"),
                ChatMessage::User("third".into())
            ]
        );
    }

    #[test]
    fn native_calls_attach_to_the_reply_and_text_results_become_a_user_message() {
        let mut c = Conversation::default();
        c.apply(&ev(user("t1", "go")));
        c.apply(&ev(started("t1")));
        c.apply(&ev(call("n1", ToolOrigin::Native)));
        c.apply(&ev(call("n2", ToolOrigin::Native)));
        c.apply(&ev(result("n1", "A")));
        c.apply(&ev(result("n2", "B")));
        c.apply(&ev(EventBody::AssistantMessage {
            turn_id: "t1".into(),
            text: "read_file(\"a\")".into(),
            partial: false,
        }));
        c.apply(&ev(call("x1", ToolOrigin::Text)));
        c.apply(&ev(result("x1", "C")));
        let req = |id: &str| ToolCallRequest {
            id: id.into(),
            name: "read_file".into(),
            arguments: r#"{"path":"a"}"#.into(),
        };
        let tr = |id: &str, o: &str| ChatMessage::ToolResult {
            call_id: id.into(),
            name: "read_file".into(),
            output: o.into(),
            is_error: false,
        };
        assert_eq!(
            c.messages(),
            &[
                ChatMessage::User("go".into()),
                ChatMessage::Assistant {
                    text: String::new(),
                    tool_calls: vec![req("n1"), req("n2")]
                },
                tr("n1", "A"),
                tr("n2", "B"),
                ChatMessage::assistant("read_file(\"a\")"),
                ChatMessage::User(format!(
                    "{TEXT_RESULTS_HEADER}### read_file({{\"path\":\"a\"}}) -> ok\nC\n"
                )),
            ]
        );
    }

    #[test]
    fn reasoning_comes_back_before_the_reply_it_led_to() {
        let mut c = Conversation::default();
        let replay = serde_json::json!({"type": "reasoning", "encrypted_content": "e"});
        c.apply(&ev(user("t1", "go")));
        c.apply(&ev(started("t1")));
        c.apply(&ev(EventBody::AssistantReasoning {
            turn_id: "t1".into(),
            text: "plan".into(),
            replay: Some(replay.clone()),
        }));
        c.apply(&ev(call("n1", ToolOrigin::Native)));
        c.apply(&ev(result("n1", "A")));
        c.apply(&ev(EventBody::AssistantReasoning {
            turn_id: "t1".into(),
            text: "next".into(),
            replay: None,
        }));
        c.apply(&ev(EventBody::AssistantMessage {
            turn_id: "t1".into(),
            text: "done".into(),
            partial: false,
        }));
        assert_eq!(
            c.messages(),
            &[
                ChatMessage::User("go".into()),
                ChatMessage::Reasoning {
                    text: "plan".into(),
                    replay: Some(replay)
                },
                ChatMessage::Assistant {
                    text: String::new(),
                    tool_calls: vec![ToolCallRequest {
                        id: "n1".into(),
                        name: "read_file".into(),
                        arguments: r#"{"path":"a"}"#.into(),
                    }]
                },
                ChatMessage::ToolResult {
                    call_id: "n1".into(),
                    name: "read_file".into(),
                    output: "A".into(),
                    is_error: false,
                },
                ChatMessage::Reasoning {
                    text: "next".into(),
                    replay: None
                },
                ChatMessage::assistant("done"),
            ]
        );
    }

    #[test]
    fn unanswered_native_calls_are_closed_when_the_turn_ends() {
        let mut c = Conversation::default();
        c.apply(&ev(user("t1", "go")));
        c.apply(&ev(started("t1")));
        c.apply(&ev(call("n1", ToolOrigin::Native)));
        c.apply(&ev(EventBody::TurnCompleted {
            turn_id: "t1".into(),
            status: TurnStatus::Interrupted,
            error: None,
        }));
        assert!(matches!(
            c.messages().last(),
            Some(ChatMessage::ToolResult { is_error: true, .. })
        ));
    }

    #[test]
    fn a_reverted_turn_leaves_the_context_and_comes_back_in_its_place() {
        let mut c = Conversation::default();
        for (t, text) in [("t1", "one"), ("t2", "two"), ("t3", "three")] {
            c.apply(&ev(user(t, text)));
            c.apply(&ev(started(t)));
            c.apply(&ev(EventBody::TurnCompleted {
                turn_id: t.into(),
                status: TurnStatus::Completed,
                error: None,
            }));
        }
        let all = c.messages().to_vec();
        let reverted = |t: &str| EventBody::TurnReverted {
            turn_id: t.into(),
            files: Vec::new(),
            by: "c".into(),
        };
        c.apply(&ev(reverted("t2")));
        assert_eq!(
            c.messages(),
            &[
                ChatMessage::User("one".into()),
                ChatMessage::User("three".into())
            ]
        );
        c.apply(&ev(EventBody::TurnUnreverted {
            turn_id: "t2".into(),
            files: Vec::new(),
            by: "c".into(),
        }));
        assert_eq!(c.messages(), all.as_slice());
    }

    #[test]
    fn cap_keeps_head_and_tail_on_char_boundaries() {
        let s = "é".repeat(100);
        let c = cap(&s, 51);
        assert!(
            c.starts_with('é') && c.ends_with('é') && c.contains("bytes cut"),
            "{c}"
        );
        assert_eq!(cap("short", 10), "short");
    }
}
