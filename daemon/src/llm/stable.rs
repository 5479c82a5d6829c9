//! Request bodies serialized so that one conversation's requests share a byte-identical
//! prefix, for prompt caches.
//!
//! Caches match a request's prefix: OpenAI routes by a hash of its start and reuses the
//! longest cached prefix, Anthropic caches up to its `cache_control` breakpoints. A
//! `serde_json::Value` keeps its keys in insertion order (the workspace enables
//! `preserve_order`, which the ACP crate needs), so the order would depend on how each body
//! was built, and `messages` could come before `system` and `tools` with the part that grows
//! every turn in the middle. Here the fixed parts come first, the conversation last, and a
//! moving `cache_control` marker last within its block; every other key is sorted by name,
//! so the same value always serializes to the same bytes however it was built.

use serde::ser::{Serialize, SerializeMap, SerializeSeq, Serializer};
use serde_json::Value;

/// Top-level keys that go first, in this order: what stays the same for the whole
/// conversation.
const FIRST: &[&str] = &[
    "model",
    "instructions",
    "system",
    "tools",
    "tool_choice",
    "parallel_tool_calls",
    "reasoning",
    "reasoning_effort",
    "include",
    "thinking",
    "max_tokens",
    "max_output_tokens",
    "prompt_cache_key",
    "store",
    "stream",
    "stream_options",
];

/// Keys that go last at any level: the conversation, and the cache marker that moves.
const LAST: &[&str] = &["cache_control", "input", "messages"];

/// The body's bytes in cache-friendly key order.
pub fn to_vec(body: &Value) -> Vec<u8> {
    // Serializing a `Value` into a Vec cannot fail (no non-string keys, no I/O).
    serde_json::to_vec(&Ordered { v: body, top: true }).unwrap_or_default()
}

struct Ordered<'a> {
    v: &'a Value,
    top: bool,
}

fn rank(key: &str, top: bool) -> (u8, usize) {
    if top && let Some(i) = FIRST.iter().position(|k| *k == key) {
        return (0, i);
    }
    match LAST.iter().position(|k| *k == key) {
        Some(i) => (2, i),
        None => (1, 0),
    }
}

impl Serialize for Ordered<'_> {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        match self.v {
            Value::Object(map) => {
                let mut keys: Vec<&String> = map.keys().collect();
                // Keys of equal rank by name: the same bytes whatever the insertion order.
                keys.sort_by(|a, b| rank(a, self.top).cmp(&rank(b, self.top)).then(a.cmp(b)));
                let mut m = s.serialize_map(Some(keys.len()))?;
                for k in keys {
                    m.serialize_entry(
                        k,
                        &Ordered {
                            v: &map[k.as_str()],
                            top: false,
                        },
                    )?;
                }
                m.end()
            }
            Value::Array(items) => {
                let mut seq = s.serialize_seq(Some(items.len()))?;
                for v in items {
                    seq.serialize_element(&Ordered { v, top: false })?;
                }
                seq.end()
            }
            other => other.serialize(s),
        }
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used)]
    use super::*;
    use pretty_assertions::assert_eq;
    use serde_json::json;

    #[test]
    fn fixed_parts_first_conversation_and_markers_last() {
        let body = json!({
            "messages": [{"role": "user", "content": [{"type": "text", "text": "hi",
                "cache_control": {"type": "ephemeral"}}]}],
            "stream": true,
            "zeta": 1,
            "system": "S",
            "tools": [{"name": "t"}],
            "model": "m",
        });
        let text = String::from_utf8(to_vec(&body)).unwrap();
        assert_eq!(
            text,
            r#"{"model":"m","system":"S","tools":[{"name":"t"}],"stream":true,"zeta":1,"messages":[{"content":[{"text":"hi","type":"text","cache_control":{"type":"ephemeral"}}],"role":"user"}]}"#
        );
        // Same value, same bytes; and it is still the same JSON.
        assert_eq!(to_vec(&body), to_vec(&body.clone()));
        let back: Value = serde_json::from_str(&text).unwrap();
        assert_eq!(back, body);
    }
}
