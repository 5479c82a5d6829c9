//! No event is larger than a client accepts. An event is journaled as one line, sent as one
//! notification and returned inside `session.history` pages, and every one of those must
//! stay under [`MAX_MESSAGE_BYTES`]; so before an event is journaled or sent, its longest
//! strings are cut (head and tail kept, with a marker saying how much went) until its JSON
//! fits [`MAX_EVENT_BYTES`]. A cut `tool.result` says so in `truncated`.
//!
//! Cutting, not splitting: the text that no longer fits one event (a reply of 20 MB) has
//! already streamed live as deltas, and no model could read it back from the context anyway;
//! splitting it across events would make every client and the conversation fold stitch
//! replies back together for no reader's benefit.

use std::io;

use botcoder_protocol::{EventBody, MAX_MESSAGE_BYTES};
use serde_json::Value;

use super::conversation::cap;

/// Largest JSON of one event. A quarter of the message cap leaves room for the JSON-RPC
/// envelope and for a history page to hold at least one event besides others.
pub const MAX_EVENT_BYTES: usize = MAX_MESSAGE_BYTES as usize / 4;

/// Largest sum of event JSON in one `session.history` page (one bigger event always fits).
pub const MAX_PAGE_BYTES: usize = MAX_MESSAGE_BYTES as usize / 2;

/// Room for what the event adds around its body (`seq`, `session_id`, `time`).
const ENVELOPE: usize = 1024;

/// Counts bytes instead of keeping them, to measure JSON without building it.
struct Counter(usize);

impl io::Write for Counter {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        self.0 += buf.len();
        Ok(buf.len())
    }
    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}

/// Length of `value`'s JSON.
pub fn json_len(value: &impl serde::Serialize) -> usize {
    let mut c = Counter(0);
    match serde_json::to_writer(&mut c, value) {
        Ok(()) => c.0,
        Err(_) => usize::MAX,
    }
}

/// Whether `body` could not possibly exceed `max` (the hot path: small streamed pieces).
fn surely_small(body: &EventBody, max: usize) -> bool {
    // JSON escaping makes a string at most six times longer (`\u0000`).
    match body {
        EventBody::AssistantDelta { text, .. } | EventBody::ToolOutput { text, .. } => {
            text.len().saturating_mul(6) + ENVELOPE < max
        }
        EventBody::TurnStarted { .. }
        | EventBody::Usage { .. }
        | EventBody::Lagged { .. }
        | EventBody::Unknown => true,
        _ => false,
    }
}

/// Cuts the longest strings of `body` until its JSON (with the event envelope) fits `max`.
/// Returns the number of bytes cut; 0 when it already fitted. Gives up (returning what it
/// cut) only when no string is left to cut, e.g. a huge array of tiny values.
pub fn fit(body: &mut EventBody, max: usize) -> usize {
    if surely_small(body, max) {
        return 0;
    }
    let budget = max.saturating_sub(ENVELOPE);
    let mut len = json_len(body);
    if len <= budget {
        return 0;
    }
    let Ok(mut value) = serde_json::to_value(&*body) else {
        return 0;
    };
    let mut cut = 0usize;
    for _ in 0..16 {
        let over = len.saturating_sub(budget);
        if over == 0 {
            break;
        }
        let Some(s) = longest_string(&mut value) else {
            break;
        };
        if s.len() < 64 {
            break;
        }
        // Escaping may make the string's JSON longer than its bytes: cut in proportion,
        // plus room for the marker.
        let escaped = json_len(&*s).max(1);
        let keep_ratio = 1.0 - (over as f64 + 64.0) / escaped as f64;
        let keep = ((s.len() as f64) * keep_ratio.max(0.0)) as usize;
        let before = s.len();
        *s = cap(s, keep);
        cut += before.saturating_sub(s.len());
        len = json_len(&value);
    }
    if let Value::Object(map) = &mut value
        && map.get("type").and_then(Value::as_str) == Some("tool.result")
    {
        map.insert("truncated".into(), Value::Bool(true));
    }
    match serde_json::from_value(value) {
        Ok(b) => *body = b,
        Err(e) => tracing::error!(error = %e, "a cut event no longer reads back; kept whole"),
    }
    cut
}

/// The last at most `max` bytes of a reply streamed so far, with their byte offset in it:
/// what a subscriber joining mid-reply is sent as one `assistant.delta` (offsets let the
/// client see the gap; the final `assistant.message` fills it).
pub fn streamed_tail(text: String, max: usize) -> (u64, String) {
    if text.len() <= max {
        return (0, text);
    }
    let mut start = text.len() - max;
    while !text.is_char_boundary(start) {
        start += 1;
    }
    (start as u64, text[start..].to_owned())
}

/// The longest string anywhere in `v` (object values, array items; keys stay).
fn longest_string(v: &mut Value) -> Option<&mut String> {
    match v {
        Value::String(s) => Some(s),
        Value::Array(items) => items
            .iter_mut()
            .filter_map(longest_string)
            .max_by_key(|s| s.len()),
        Value::Object(map) => map
            .iter_mut()
            .filter(|(k, _)| k.as_str() != "type")
            .filter_map(|(_, v)| longest_string(v))
            .max_by_key(|s| s.len()),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use pretty_assertions::assert_eq;

    #[test]
    fn small_events_are_untouched() {
        let mut b = EventBody::AssistantMessage {
            turn_id: "t".into(),
            text: "hello".into(),
            partial: false,
        };
        let before = b.clone();
        assert_eq!(fit(&mut b, MAX_EVENT_BYTES), 0);
        assert_eq!(b, before);
    }

    #[test]
    fn a_long_reply_is_cut_to_fit_keeping_head_and_tail() {
        let text = format!("HEAD{}TAIL", "x".repeat(100_000));
        let mut b = EventBody::AssistantMessage {
            turn_id: "t".into(),
            text,
            partial: false,
        };
        assert!(fit(&mut b, 10_000) > 90_000);
        assert!(json_len(&b) + ENVELOPE <= 10_000, "{}", json_len(&b));
        let EventBody::AssistantMessage { text, .. } = &b else {
            panic!("{b:?}")
        };
        assert!(text.starts_with("HEAD") && text.ends_with("TAIL") && text.contains("bytes cut"));
    }

    #[test]
    fn escaped_control_characters_are_counted_as_escaped() {
        // Each \u{1} becomes six bytes of JSON.
        let mut b = EventBody::ToolResult {
            turn_id: "t".into(),
            call_id: "c".into(),
            ok: true,
            output: "\u{1}".repeat(50_000),
            exit_code: Some(0),
            truncated: false,
        };
        assert!(fit(&mut b, 20_000) > 0);
        assert!(json_len(&b) + ENVELOPE <= 20_000, "{}", json_len(&b));
        assert!(matches!(
            b,
            EventBody::ToolResult {
                truncated: true,
                ..
            }
        ));
    }

    #[test]
    fn a_long_streamed_reply_is_sent_as_its_tail_with_its_offset() {
        assert_eq!(streamed_tail("short".into(), 10), (0, "short".into()));
        let (offset, tail) = streamed_tail("aé€z".repeat(10), 5);
        assert_eq!((offset, tail.as_str()), (66, "€z"));
    }

    #[test]
    fn strings_inside_tool_arguments_are_cut_too() {
        let mut b = EventBody::ToolCall {
            turn_id: "t".into(),
            call_id: "c".into(),
            name: "write_file".into(),
            args: serde_json::json!({"path": "a", "content": "y".repeat(50_000)}),
            executor: "local".into(),
            origin: Default::default(),
        };
        fit(&mut b, 10_000);
        assert!(json_len(&b) + ENVELOPE <= 10_000);
        let EventBody::ToolCall { args, .. } = &b else {
            panic!()
        };
        assert_eq!(args["path"], "a");
    }
}
