//! Builders for the SSE bodies real providers send: OpenAI chat-completions chunks and the
//! Anthropic Messages event sequence, in the shapes documented in
//! `shared/reference/llm-wire-formats.md`, so a client that passes against the mock parses the
//! real thing. Kept apart from `script.rs` (the response types) to keep both files small.

use serde_json::{Value, json};

use super::script::{MockResponse, SseEvent};

/// Model name in every generated chunk.
pub const MODEL: &str = "mock-model";
/// `usage.prompt_tokens` / `input_tokens` in generated streams (the mock does not tokenize).
pub const PROMPT_TOKENS: usize = 10;
const CHUNK_ID: &str = "chatcmpl-mock";
const MESSAGE_ID: &str = "msg_mock";
/// A fixed `created` keeps generated bodies deterministic.
const CREATED: u64 = 1_700_000_000;

/// `data:` of an OpenAI chat-completions chunk with one choice.
pub(crate) fn openai_chunk(delta: Value, finish_reason: Option<&str>) -> SseEvent {
    SseEvent::data(
        json!({
            "id": CHUNK_ID,
            "object": "chat.completion.chunk",
            "created": CREATED,
            "model": MODEL,
            "system_fingerprint": "fp_mock",
            "choices": [{
                "index": 0,
                "delta": delta,
                "logprobs": null,
                "finish_reason": finish_reason,
            }],
            "usage": null,
        })
        .to_string(),
    )
}

/// The `stream_options.include_usage` chunk: no choices, only usage.
pub(crate) fn openai_usage(completion_tokens: usize) -> SseEvent {
    SseEvent::data(
        json!({
            "id": CHUNK_ID,
            "object": "chat.completion.chunk",
            "created": CREATED,
            "model": MODEL,
            "system_fingerprint": "fp_mock",
            "choices": [],
            "usage": {
                "prompt_tokens": PROMPT_TOKENS,
                "completion_tokens": completion_tokens,
                "total_tokens": PROMPT_TOKENS + completion_tokens,
            },
        })
        .to_string(),
    )
}

pub(crate) fn is_openai_usage(event: &SseEvent) -> bool {
    serde_json::from_str::<Value>(&event.data).is_ok_and(|v| {
        v["object"] == "chat.completion.chunk"
            && v["choices"].as_array().is_some_and(Vec::is_empty)
            && v["usage"].is_object()
    })
}

/// Role chunk (as OpenAI sends it: role plus empty content), one chunk per piece with
/// `finish_reason: "stop"` on the last, usage chunk, `[DONE]`.
pub(crate) fn openai_text<S: AsRef<str>>(pieces: &[S]) -> MockResponse {
    let mut events = vec![openai_chunk(
        json!({"role": "assistant", "content": ""}),
        None,
    )];
    for (i, piece) in pieces.iter().enumerate() {
        let finish = (i + 1 == pieces.len()).then_some("stop");
        events.push(openai_chunk(json!({"content": piece.as_ref()}), finish));
    }
    if pieces.is_empty() {
        events.push(openai_chunk(json!({}), Some("stop")));
    }
    events.push(openai_usage(pieces.len()));
    events.push(SseEvent::data("[DONE]"));
    MockResponse::sse(events)
}

/// Splits text into word-ish pieces, each word keeping the whitespace that follows it
/// (`"Hello, big world"` -> `["Hello, ", "big ", "world"]`), so pieces concatenate back to the
/// input exactly. Leading whitespace stays with the first word.
pub fn split_words(text: &str) -> Vec<&str> {
    let mut pieces = Vec::new();
    let mut start = 0;
    let mut seen_word = false;
    let mut prev_ws = false;
    for (i, c) in text.char_indices() {
        let ws = c.is_whitespace();
        if !ws && prev_ws && seen_word {
            pieces.push(&text[start..i]);
            start = i;
        }
        seen_word |= !ws;
        prev_ws = ws;
    }
    if start < text.len() {
        pieces.push(&text[start..]);
    }
    pieces
}

/// Splits `s` into pieces of at most `max` bytes on char boundaries (a char wider than `max`
/// is a piece of its own). `max == 0` means no splitting. An empty `s` gives no pieces.
pub fn split_chars(s: &str, max: usize) -> Vec<&str> {
    if max == 0 || s.len() <= max {
        return if s.is_empty() { Vec::new() } else { vec![s] };
    }
    let mut pieces = Vec::new();
    let mut start = 0;
    while start < s.len() {
        let mut end = (start + max).min(s.len());
        while end > start && !s.is_char_boundary(end) {
            end -= 1;
        }
        if end == start {
            end = start + 1;
            while !s.is_char_boundary(end) {
                end += 1;
            }
        }
        pieces.push(&s[start..end]);
        start = end;
    }
    pieces
}

pub(crate) fn anthropic_event(data: Value) -> SseEvent {
    let kind = data["type"].as_str().unwrap_or("unknown").to_owned();
    SseEvent::named(kind, data.to_string())
}

/// Anthropic stream around one content block: message_start, content_block_start, ping,
/// `deltas` as content_block_delta, content_block_stop, message_delta, message_stop.
pub(crate) fn anthropic_stream(
    block: Value,
    deltas: Vec<Value>,
    stop_reason: &str,
) -> MockResponse {
    let output_tokens = deltas.len();
    let mut events = vec![
        anthropic_event(json!({
            "type": "message_start",
            "message": {
                "id": MESSAGE_ID,
                "type": "message",
                "role": "assistant",
                "content": [],
                "model": MODEL,
                "stop_reason": null,
                "stop_sequence": null,
                "usage": {"input_tokens": PROMPT_TOKENS, "output_tokens": 1},
            },
        })),
        anthropic_event(json!({"type": "content_block_start", "index": 0, "content_block": block})),
        anthropic_event(json!({"type": "ping"})),
    ];
    events.extend(deltas.into_iter().map(|delta| {
        anthropic_event(json!({"type": "content_block_delta", "index": 0, "delta": delta}))
    }));
    events.push(anthropic_event(
        json!({"type": "content_block_stop", "index": 0}),
    ));
    events.push(anthropic_event(json!({
        "type": "message_delta",
        "delta": {"stop_reason": stop_reason, "stop_sequence": null},
        "usage": {"output_tokens": output_tokens},
    })));
    events.push(anthropic_event(json!({"type": "message_stop"})));
    MockResponse::sse(events)
}
