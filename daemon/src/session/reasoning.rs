//! The model's reasoning in a turn: `assistant.reasoning_delta` while it streams (ephemeral,
//! offsets restarting after each whole item), then `assistant.reasoning {text, replay}`
//! journaled as soon as the provider completes the item, so it always precedes the reply's
//! `assistant.message` and the conversation fold replays it in the right place.

use botcoder_protocol::{EventBody, TurnId};

use super::core::SessionCore;

/// Reasoning of the reply being streamed.
pub struct Stream {
    turn_id: TurnId,
    /// Text streamed since the last whole item.
    text: String,
}

impl Stream {
    /// Nothing streamed yet.
    pub fn new(turn_id: &TurnId) -> Self {
        Stream {
            turn_id: turn_id.clone(),
            text: String::new(),
        }
    }

    /// A piece of reasoning: shown live, never journaled on its own.
    pub fn delta(&mut self, core: &SessionCore, piece: String) {
        let offset = self.text.len() as u64;
        self.text.push_str(&piece);
        core.emit_ephemeral(EventBody::AssistantReasoningDelta {
            turn_id: self.turn_id.clone(),
            offset,
            text: piece,
        });
    }

    /// One whole reasoning item: journaled with what must go back to the provider.
    pub async fn complete(
        &mut self,
        core: &SessionCore,
        text: String,
        replay: Option<serde_json::Value>,
    ) {
        let streamed = std::mem::take(&mut self.text);
        let text = if text.is_empty() { streamed } else { text };
        // An event too large for the journal gets its longest strings cut, and a cut
        // encrypted item is worse than none (the provider would refuse the request): such a
        // replay is left out and the model goes on without its earlier reasoning.
        let replay = replay.filter(|r| {
            let fits = super::limits::json_len(r) + text.len() < super::limits::MAX_EVENT_BYTES / 2;
            if !fits {
                tracing::warn!(session = %core.id, "a reasoning item too large to journal is not replayed");
            }
            fits
        });
        if text.is_empty() && replay.is_none() {
            return;
        }
        let body = EventBody::AssistantReasoning {
            turn_id: self.turn_id.clone(),
            text,
            replay,
        };
        if let Err(e) = core.emit(body).await {
            tracing::error!(session = %core.id, error = %e, "could not journal assistant.reasoning");
        }
    }

    /// The reply ended: reasoning streamed without a whole item (chat `reasoning_content`)
    /// is journaled as text only.
    pub async fn finish(&mut self, core: &SessionCore) {
        if !self.text.is_empty() {
            self.complete(core, String::new(), None).await;
        }
    }
}
