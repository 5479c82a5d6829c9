//! What the mock answers: the response script types, their constructors and modifiers.
//!
//! The constructors produce the chunk JSON of OpenAI chat completions and of Anthropic Messages
//! in the shapes real servers send (built in `bodies.rs`), so a client that passes against the
//! mock parses the real thing. Server quirks (llama.cpp repeating tool
//! ids, streams without `[DONE]`, ...) are built from [`MockResponse::sse`] with hand-written
//! events, or with the `without_*` modifiers.

use std::time::Duration;

use serde_json::{Value, json};

use super::bodies::{
    anthropic_event, anthropic_stream, is_openai_usage, openai_chunk, openai_text, openai_usage,
    split_chars, split_words,
};

/// One server-sent event: `event: X` (if any), one `data:` line per line of `data`, blank line.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SseEvent {
    pub event: Option<String>,
    pub data: String,
}

impl SseEvent {
    /// An unnamed event, as OpenAI-compatible servers send.
    pub fn data(data: impl Into<String>) -> Self {
        Self {
            event: None,
            data: data.into(),
        }
    }

    /// A named event, as Anthropic sends (`event: content_block_delta`).
    pub fn named(event: impl Into<String>, data: impl Into<String>) -> Self {
        Self {
            event: Some(event.into()),
            data: data.into(),
        }
    }

    /// The event as it goes on the wire. Multi-line data becomes several `data:` lines, which
    /// an SSE client joins back with `\n`.
    pub fn encode(&self) -> String {
        let mut out = String::new();
        if let Some(event) = &self.event {
            out.push_str(&format!("event: {event}\n"));
        }
        for line in self.data.split('\n') {
            out.push_str(&format!("data: {line}\n"));
        }
        out.push('\n');
        out
    }
}

/// How a streamed response ends after its last event.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum StreamEnd {
    /// Finish normally: write the terminating chunk (and keep the connection if the client
    /// asked for keep-alive).
    Close,
    /// Abort the TCP connection with RST (`SO_LINGER` 0, then close) without the terminating
    /// chunk: the client sees a reset or a truncated body, as when a proxy dies mid-stream.
    Reset,
    /// Keep the connection open and send nothing more, until the client gives up and closes.
    Stall,
}

/// The scripted answer to one request.
#[derive(Clone, Debug)]
pub enum MockResponse {
    /// SSE stream: status 200 (or given), headers, each chunk written and flushed separately
    /// with `delay` before each chunk. `content-type: text/event-stream` and
    /// `cache-control: no-cache` are added unless `headers` name them.
    Sse {
        status: u16,
        headers: Vec<(String, String)>,
        events: Vec<SseEvent>,
        delay: Duration,
        then: StreamEnd,
    },
    /// Plain response with a body (e.g. 429 with retry-after headers, 500, JSON errors),
    /// framed with `Content-Length`.
    Status {
        status: u16,
        headers: Vec<(String, String)>,
        body: String,
    },
    /// Accept the request, read it, and never answer (until the client goes away).
    Hang,
    /// A body without end, for the daemon's input caps: `prefix`, then `repeat` over and over
    /// until `total` bytes went out or the client hung up (what a capped client does). With
    /// `sse` it is a chunked `text/event-stream`; otherwise it declares `Content-Length: total`
    /// (a multi-gigabyte error body). Nothing of the size is ever held in memory.
    Endless {
        status: u16,
        headers: Vec<(String, String)>,
        prefix: String,
        repeat: String,
        total: u64,
        sse: bool,
    },
}

impl MockResponse {
    /// A 200 SSE stream of arbitrary events, ending normally, no delay.
    pub fn sse(events: Vec<SseEvent>) -> Self {
        Self::Sse {
            status: 200,
            headers: Vec::new(),
            events,
            delay: Duration::ZERO,
            then: StreamEnd::Close,
        }
    }

    /// OpenAI stream of `text`, split into word-ish pieces (see [`split_words`]).
    pub fn text(text: &str) -> Self {
        openai_text(&split_words(text))
    }

    /// OpenAI stream with exactly these content pieces.
    pub fn text_chunks(pieces: &[&str]) -> Self {
        openai_text(pieces)
    }

    /// OpenAI stream of `n` pieces `"tok0 "`, `"tok1 "`, ... (benchmarks).
    pub fn tokens(n: usize) -> Self {
        let pieces: Vec<String> = (0..n).map(|i| format!("tok{i} ")).collect();
        openai_text(&pieces)
    }

    /// OpenAI stream of tool calls `(id, name, arguments JSON)`: one role chunk, then per call
    /// a chunk with `index`, `id`, `type` and `function.name` (empty arguments) followed by the
    /// arguments in pieces of at most `split` bytes (on char boundaries; 0 = whole), then an
    /// empty delta with `finish_reason: "tool_calls"`, the usage chunk and `[DONE]`.
    pub fn openai_tool_calls(calls: &[(&str, &str, &str)], split: usize) -> Self {
        let mut events = vec![openai_chunk(
            json!({"role": "assistant", "content": null}),
            None,
        )];
        for (index, (id, name, arguments)) in calls.iter().enumerate() {
            events.push(openai_chunk(
                json!({"tool_calls": [{
                    "index": index,
                    "id": id,
                    "type": "function",
                    "function": {"name": name, "arguments": ""},
                }]}),
                None,
            ));
            for piece in split_chars(arguments, split) {
                events.push(openai_chunk(
                    json!({"tool_calls": [{"index": index, "function": {"arguments": piece}}]}),
                    None,
                ));
            }
        }
        // Every chunk after the role chunk counts as one completion token.
        let completion_tokens = events.len() - 1;
        events.push(openai_chunk(json!({}), Some("tool_calls")));
        events.push(openai_usage(completion_tokens));
        events.push(SseEvent::data("[DONE]"));
        Self::sse(events)
    }

    /// Anthropic Messages stream of `text` (word-ish `text_delta` pieces), `end_turn`.
    pub fn anthropic_text(text: &str) -> Self {
        let deltas = split_words(text)
            .into_iter()
            .map(|piece| json!({"type": "text_delta", "text": piece}))
            .collect();
        anthropic_stream(json!({"type": "text", "text": ""}), deltas, "end_turn")
    }

    /// Anthropic Messages stream of one `tool_use` block whose input arrives as these
    /// `input_json_delta` pieces, `stop_reason: "tool_use"`.
    pub fn anthropic_tool_use(id: &str, name: &str, partial_json_pieces: &[&str]) -> Self {
        let deltas = partial_json_pieces
            .iter()
            .map(|piece| json!({"type": "input_json_delta", "partial_json": piece}))
            .collect();
        let block = json!({"type": "tool_use", "id": id, "name": name, "input": {}});
        anthropic_stream(block, deltas, "tool_use")
    }

    /// Anthropic Messages stream of several `tool_use` blocks `(id, name, input JSON)`, each
    /// input in one `input_json_delta`, `stop_reason: "tool_use"`.
    pub fn anthropic_tool_uses(calls: &[(&str, &str, &str)]) -> Self {
        let start = json!({"type": "message_start", "message": {"id": "msg_mock", "type": "message",
            "role": "assistant", "content": [], "model": super::MODEL,
            "usage": {"input_tokens": super::PROMPT_TOKENS, "output_tokens": 1}}});
        let mut events = vec![anthropic_event(start)];
        for (i, (id, name, input)) in calls.iter().enumerate() {
            let block = json!({"type": "tool_use", "id": id, "name": name, "input": {}});
            events.push(anthropic_event(
                json!({"type": "content_block_start", "index": i, "content_block": block}),
            ));
            events.push(anthropic_event(
                json!({"type": "content_block_delta", "index": i,
                "delta": {"type": "input_json_delta", "partial_json": input}}),
            ));
            events.push(anthropic_event(
                json!({"type": "content_block_stop", "index": i}),
            ));
        }
        events.push(anthropic_event(json!({"type": "message_delta",
            "delta": {"stop_reason": "tool_use", "stop_sequence": null},
            "usage": {"output_tokens": calls.len()}})));
        events.push(anthropic_event(json!({"type": "message_stop"})));
        Self::sse(events)
    }

    /// A 200 SSE stream: `prefix`, then `repeat` until `total` bytes (see [`MockResponse::Endless`]).
    pub fn endless_sse(prefix: &str, repeat: &str, total: u64) -> Self {
        Self::Endless {
            status: 200,
            headers: Vec::new(),
            prefix: prefix.to_owned(),
            repeat: repeat.to_owned(),
            total,
            sse: true,
        }
    }

    /// An OpenAI stream whose text never ends: the role chunk, then the same content chunk
    /// (`piece`) until `total` bytes, never a `finish_reason` or `[DONE]`.
    pub fn endless_text(piece: &str, total: u64) -> Self {
        let role = openai_chunk(json!({"role": "assistant", "content": ""}), None).encode();
        let chunk = openai_chunk(json!({"content": piece}), None).encode();
        Self::endless_sse(&role, &chunk, total)
    }

    /// A `status` answer with a `total`-byte body of `x`s, declared with `Content-Length`.
    pub fn huge_body(status: u16, total: u64) -> Self {
        Self::Endless {
            status,
            headers: vec![("content-type".to_owned(), "text/plain".to_owned())],
            prefix: String::new(),
            repeat: "x".repeat(64 * 1024),
            total,
            sse: false,
        }
    }

    /// A redirect (`301`, `302`, `307`, `308`) to `location`, empty body.
    pub fn redirect(code: u16, location: &str) -> Self {
        Self::Status {
            status: code,
            headers: vec![("location".to_owned(), location.to_owned())],
            body: String::new(),
        }
    }

    /// A plain response; `content-type` is JSON if `body` parses as JSON, else text.
    pub fn status(code: u16, body: &str) -> Self {
        let content_type = if serde_json::from_str::<Value>(body).is_ok() {
            "application/json"
        } else {
            "text/plain; charset=utf-8"
        };
        Self::Status {
            status: code,
            headers: vec![("content-type".to_owned(), content_type.to_owned())],
            body: body.to_owned(),
        }
    }

    /// OpenAI-style 429 with optional `retry-after` (seconds or HTTP date, sent verbatim) and
    /// `retry-after-ms` headers.
    pub fn rate_limited(retry_after: Option<&str>, retry_after_ms: Option<&str>) -> Self {
        let body = json!({"error": {
            "message": "Rate limit reached",
            "type": "requests",
            "code": "rate_limit_exceeded",
        }});
        let mut response = Self::status(429, &body.to_string());
        if let Some(v) = retry_after {
            response = response.with_header("retry-after", v);
        }
        if let Some(v) = retry_after_ms {
            response = response.with_header("retry-after-ms", v);
        }
        response
    }

    /// Waits `delay` before each event (SSE only).
    pub fn with_delay(mut self, delay: Duration) -> Self {
        if let Self::Sse { delay: d, .. } = &mut self {
            *d = delay;
        }
        self
    }

    /// How the stream ends after its events (SSE only).
    pub fn with_end(mut self, end: StreamEnd) -> Self {
        if let Self::Sse { then, .. } = &mut self {
            *then = end;
        }
        self
    }

    /// Drops the OpenAI usage chunk (llama.cpp ignores `include_usage`).
    pub fn without_usage(mut self) -> Self {
        if let Self::Sse { events, .. } = &mut self {
            events.retain(|e| !is_openai_usage(e));
        }
        self
    }

    /// Drops `data: [DONE]` (a stream cut off by the server).
    pub fn without_done(mut self) -> Self {
        if let Self::Sse { events, .. } = &mut self {
            events.retain(|e| e.data != "[DONE]");
        }
        self
    }

    /// Adds a response header (SSE, Status and Endless; names are sent as given).
    pub fn with_header(mut self, name: &str, value: &str) -> Self {
        if let Self::Sse { headers, .. }
        | Self::Status { headers, .. }
        | Self::Endless { headers, .. } = &mut self
        {
            headers.push((name.to_owned(), value.to_owned()));
        }
        self
    }

    /// Replaces the status code (SSE and Status).
    pub fn with_status(mut self, code: u16) -> Self {
        if let Self::Sse { status, .. } | Self::Status { status, .. } = &mut self {
            *status = code;
        }
        self
    }
}
