//! The conversation a model sees, folded from the session's durable events. The same fold
//! runs when a journal is loaded and as each event is appended, so the two never disagree.

use std::collections::HashMap;

use botcoder_protocol::{Event, EventBody, TurnId};

use crate::llm::ChatMessage;

/// Messages for the next model request.
#[derive(Debug, Default, Clone)]
pub struct Conversation {
    messages: Vec<ChatMessage>,
    /// User messages whose turns have not started yet (queued).
    pending: HashMap<TurnId, String>,
}

impl Conversation {
    /// Folds one durable event in.
    pub fn apply(&mut self, event: &Event) {
        match &event.body {
            EventBody::UserMessage { turn_id, text, .. } => {
                self.pending.insert(turn_id.clone(), text.clone());
            }
            EventBody::TurnStarted { turn_id, .. } => {
                if let Some(text) = self.pending.remove(turn_id) {
                    self.messages.push(ChatMessage::User(text));
                }
            }
            EventBody::AssistantMessage { text, .. } if !text.is_empty() => {
                self.messages.push(ChatMessage::assistant(text.clone()));
            }
            EventBody::TurnCompleted { turn_id, .. } => {
                // A queued turn cancelled before it started never reaches the model.
                self.pending.remove(turn_id);
            }
            _ => {}
        }
    }

    /// The messages so far, oldest first.
    pub fn messages(&self) -> &[ChatMessage] {
        &self.messages
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use botcoder_protocol::TurnStatus;
    use pretty_assertions::assert_eq;

    fn ev(body: EventBody) -> Event {
        Event { seq: Some(1), session_id: "s".into(), time: String::new(), body }
    }

    #[test]
    fn queued_messages_join_when_their_turn_starts_and_cancelled_ones_never() {
        let mut c = Conversation::default();
        let user = |t: &str, text: &str| EventBody::UserMessage { turn_id: t.into(), text: text.into(), client: "c".into() };
        c.apply(&ev(user("t1", "first")));
        c.apply(&ev(user("t2", "second")));
        c.apply(&ev(user("t3", "third")));
        c.apply(&ev(EventBody::TurnStarted { turn_id: "t1".into(), provider: None, model: None }));
        c.apply(&ev(EventBody::AssistantMessage { turn_id: "t1".into(), text: "one".into(), partial: false }));
        c.apply(&ev(EventBody::TurnCompleted { turn_id: "t2".into(), status: TurnStatus::Cancelled, error: None }));
        c.apply(&ev(EventBody::TurnStarted { turn_id: "t3".into(), provider: None, model: None }));
        assert_eq!(
            c.messages(),
            &[
                ChatMessage::User("first".into()),
                ChatMessage::assistant("one"),
                ChatMessage::User("third".into()),
            ]
        );
    }
}
