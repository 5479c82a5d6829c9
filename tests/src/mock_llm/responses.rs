//! OpenAI Responses API streams (`POST /v1/responses`), built from the public spec: every
//! event named by `event:` and carrying its `type` and a `sequence_number`; output items
//! announced by `response.output_item.added`, streamed (`response.output_text.delta`,
//! `response.function_call_arguments.delta`, `response.reasoning_summary_text.delta`) and
//! closed by `response.output_item.done` with the whole item; then `response.completed` with
//! usage (`input_tokens_details.cached_tokens`, `output_tokens_details.reasoning_tokens`).
//! Failures: `response.failed` (with `response.error`) and the bare `error` event.
//!
//! The mock records every request (see [`super::MockLlm::requests`]), so a test checks that
//! a reasoning item streamed here comes back verbatim in the next request's `input`.

use serde_json::{Value, json};

use super::bodies::{MODEL, PROMPT_TOKENS, split_chars, split_words};
use super::script::{MockResponse, SseEvent};

/// One output item of a scripted response.
#[derive(Clone, Debug)]
enum Item {
    Reasoning {
        id: String,
        summary: String,
        encrypted: Option<String>,
    },
    Message(String),
    Call {
        call_id: String,
        name: String,
        arguments: String,
        split: usize,
    },
}

/// A Responses stream, item by item: `ResponsesStream::new().reasoning(..).call(..).build()`.
#[derive(Clone, Debug, Default)]
pub struct ResponsesStream {
    items: Vec<Item>,
    cached_tokens: u64,
    reasoning_tokens: u64,
}

impl ResponsesStream {
    /// No output yet.
    pub fn new() -> Self {
        Self::default()
    }

    /// A reasoning item `id` whose summary streams as words, with `encrypted_content` when
    /// given (what `include: ["reasoning.encrypted_content"]` returns).
    pub fn reasoning(mut self, id: &str, summary: &str, encrypted: Option<&str>) -> Self {
        self.items.push(Item::Reasoning {
            id: id.to_owned(),
            summary: summary.to_owned(),
            encrypted: encrypted.map(str::to_owned),
        });
        self
    }

    /// An assistant message streamed as words.
    pub fn text(mut self, text: &str) -> Self {
        self.items.push(Item::Message(text.to_owned()));
        self
    }

    /// A function call whose arguments stream in pieces of at most `split` bytes (0: whole).
    pub fn call(mut self, call_id: &str, name: &str, arguments: &str, split: usize) -> Self {
        self.items.push(Item::Call {
            call_id: call_id.to_owned(),
            name: name.to_owned(),
            arguments: arguments.to_owned(),
            split,
        });
        self
    }

    /// Usage details reported by `response.completed`.
    pub fn usage_details(mut self, cached_tokens: u64, reasoning_tokens: u64) -> Self {
        self.cached_tokens = cached_tokens;
        self.reasoning_tokens = reasoning_tokens;
        self
    }

    /// The whole reasoning item as `response.output_item.done` carries it (what must come
    /// back in the next request).
    pub fn reasoning_item(id: &str, summary: &str, encrypted: Option<&str>) -> Value {
        let mut item = json!({"id": id, "type": "reasoning",
            "summary": [{"type": "summary_text", "text": summary}]});
        if let Some(e) = encrypted {
            item["encrypted_content"] = json!(e);
        }
        item
    }

    /// The SSE answer.
    pub fn build(self) -> MockResponse {
        let mut ev = Events::default();
        ev.push(json!({"type": "response.created", "response": response("in_progress", &[])}));
        ev.push(json!({"type": "response.in_progress", "response": response("in_progress", &[])}));
        let mut done_items = Vec::new();
        let mut output_tokens = 0u64;
        for (index, item) in self.items.iter().enumerate() {
            let done = match item {
                Item::Reasoning {
                    id,
                    summary,
                    encrypted,
                } => {
                    ev.push(
                        json!({"type": "response.output_item.added", "output_index": index,
                        "item": {"id": id, "type": "reasoning", "summary": []}}),
                    );
                    let part = json!({"type": "summary_text", "text": ""});
                    ev.push(
                        json!({"type": "response.reasoning_summary_part.added", "item_id": id,
                        "output_index": index, "summary_index": 0, "part": part}),
                    );
                    for piece in split_words(summary) {
                        output_tokens += 1;
                        ev.push(
                            json!({"type": "response.reasoning_summary_text.delta", "item_id": id,
                            "output_index": index, "summary_index": 0, "delta": piece}),
                        );
                    }
                    ev.push(
                        json!({"type": "response.reasoning_summary_text.done", "item_id": id,
                        "output_index": index, "summary_index": 0, "text": summary}),
                    );
                    ev.push(
                        json!({"type": "response.reasoning_summary_part.done", "item_id": id,
                        "output_index": index, "summary_index": 0,
                        "part": {"type": "summary_text", "text": summary}}),
                    );
                    Self::reasoning_item(id, summary, encrypted.as_deref())
                }
                Item::Message(text) => {
                    let id = format!("msg_{index}");
                    ev.push(json!({"type": "response.output_item.added", "output_index": index,
                        "item": {"id": id, "type": "message", "role": "assistant", "status": "in_progress", "content": []}}));
                    ev.push(json!({"type": "response.content_part.added", "item_id": id, "output_index": index,
                        "content_index": 0, "part": {"type": "output_text", "text": "", "annotations": []}}));
                    for piece in split_words(text) {
                        output_tokens += 1;
                        ev.push(json!({"type": "response.output_text.delta", "item_id": id,
                            "output_index": index, "content_index": 0, "delta": piece}));
                    }
                    let part = json!({"type": "output_text", "text": text, "annotations": []});
                    ev.push(json!({"type": "response.output_text.done", "item_id": id,
                        "output_index": index, "content_index": 0, "text": text}));
                    ev.push(json!({"type": "response.content_part.done", "item_id": id,
                        "output_index": index, "content_index": 0, "part": part}));
                    json!({"id": id, "type": "message", "role": "assistant", "status": "completed", "content": [part]})
                }
                Item::Call {
                    call_id,
                    name,
                    arguments,
                    split,
                } => {
                    let id = format!("fc_{index}");
                    ev.push(
                        json!({"type": "response.output_item.added", "output_index": index,
                        "item": {"id": id, "type": "function_call", "status": "in_progress",
                                 "call_id": call_id, "name": name, "arguments": ""}}),
                    );
                    for piece in split_chars(arguments, *split) {
                        output_tokens += 1;
                        ev.push(
                            json!({"type": "response.function_call_arguments.delta", "item_id": id,
                            "output_index": index, "delta": piece}),
                        );
                    }
                    ev.push(
                        json!({"type": "response.function_call_arguments.done", "item_id": id,
                        "output_index": index, "arguments": arguments}),
                    );
                    json!({"id": id, "type": "function_call", "status": "completed",
                           "call_id": call_id, "name": name, "arguments": arguments})
                }
            };
            ev.push(
                json!({"type": "response.output_item.done", "output_index": index, "item": done}),
            );
            done_items.push(done);
        }
        let mut completed = response("completed", &done_items);
        let input = PROMPT_TOKENS as u64;
        completed["usage"] = json!({
            "input_tokens": input,
            "input_tokens_details": {"cached_tokens": self.cached_tokens},
            "output_tokens": output_tokens,
            "output_tokens_details": {"reasoning_tokens": self.reasoning_tokens},
            "total_tokens": input + output_tokens,
        });
        ev.push(json!({"type": "response.completed", "response": completed}));
        MockResponse::sse(ev.0)
    }
}

/// Events with their running `sequence_number`, each named by its type.
#[derive(Default)]
struct Events(Vec<SseEvent>);

impl Events {
    fn push(&mut self, mut data: Value) {
        data["sequence_number"] = json!(self.0.len());
        let name = data["type"].as_str().unwrap_or_default().to_owned();
        self.0.push(SseEvent::named(name, data.to_string()));
    }
}

fn response(status: &str, output: &[Value]) -> Value {
    json!({"id": "resp_mock", "object": "response", "created_at": 1_700_000_000, "status": status,
           "model": MODEL, "output": output, "store": false})
}

impl MockResponse {
    /// A Responses stream of one message `text` (word pieces).
    pub fn responses_text(text: &str) -> Self {
        ResponsesStream::new().text(text).build()
    }

    /// A Responses stream of function calls `(call_id, name, arguments JSON)`, arguments in
    /// pieces of at most `split` bytes.
    pub fn responses_calls(calls: &[(&str, &str, &str)], split: usize) -> Self {
        calls
            .iter()
            .fold(ResponsesStream::new(), |s, (id, name, args)| {
                s.call(id, name, args, split)
            })
            .build()
    }

    /// `response.created`, then `response.failed` with `error {code, message}`.
    pub fn responses_failed(code: &str, message: &str) -> Self {
        let mut ev = Events::default();
        ev.push(json!({"type": "response.created", "response": response("in_progress", &[])}));
        let mut failed = response("failed", &[]);
        failed["error"] = json!({"code": code, "message": message});
        ev.push(json!({"type": "response.failed", "response": failed}));
        MockResponse::sse(ev.0)
    }

    /// A bare `error` event `{code, message, param}`, as the API sends for a bad request
    /// detected mid-stream.
    pub fn responses_error(code: &str, message: &str) -> Self {
        let mut ev = Events::default();
        ev.push(json!({"type": "error", "code": code, "message": message, "param": null}));
        MockResponse::sse(ev.0)
    }

    /// Anthropic stream: one `thinking` block (its text as `thinking_delta`s, then a
    /// `signature_delta`), then one `tool_use` block, `stop_reason: "tool_use"`.
    pub fn anthropic_thinking_tool_use(
        thinking: &str,
        signature: &str,
        call: (&str, &str, &str),
    ) -> Self {
        let ev = |data: Value| {
            SseEvent::named(data["type"].as_str().unwrap_or_default(), data.to_string())
        };
        let mut events = vec![
            ev(
                json!({"type": "message_start", "message": {"id": "msg_mock", "type": "message",
                "role": "assistant", "content": [], "model": MODEL,
                "usage": {"input_tokens": PROMPT_TOKENS, "output_tokens": 1}}}),
            ),
            ev(json!({"type": "content_block_start", "index": 0,
                "content_block": {"type": "thinking", "thinking": ""}})),
        ];
        for piece in split_words(thinking) {
            events.push(ev(json!({"type": "content_block_delta", "index": 0,
                "delta": {"type": "thinking_delta", "thinking": piece}})));
        }
        events.push(ev(json!({"type": "content_block_delta", "index": 0,
            "delta": {"type": "signature_delta", "signature": signature}})));
        events.push(ev(json!({"type": "content_block_stop", "index": 0})));
        let (id, name, input) = call;
        events.push(ev(json!({"type": "content_block_start", "index": 1,
            "content_block": {"type": "tool_use", "id": id, "name": name, "input": {}}})));
        events.push(ev(json!({"type": "content_block_delta", "index": 1,
            "delta": {"type": "input_json_delta", "partial_json": input}})));
        events.push(ev(json!({"type": "content_block_stop", "index": 1})));
        events.push(ev(json!({"type": "message_delta",
            "delta": {"stop_reason": "tool_use", "stop_sequence": null}, "usage": {"output_tokens": 5}})));
        events.push(ev(json!({"type": "message_stop"})));
        MockResponse::sse(events)
    }
}
