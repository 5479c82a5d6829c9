//! The OpenAI Responses API (`POST {base}/responses`), streaming: the wire reasoning models
//! need to keep their reasoning between tool calls. Spoken by [`super::openai::OpenAiProvider`]
//! when its [`Wire`] is `Responses`; llama.cpp and other local servers serving
//! `/v1/responses` work with it too.
//!
//! Requests are stateless (`store: false`): the whole conversation goes in `input` every
//! time, reasoning items included as they came back (with `encrypted_content`, which
//! `include: ["reasoning.encrypted_content"]` asks for), so the model resumes its own
//! reasoning. `prompt_cache_key` is the session id, and nothing in the body varies from one
//! request to the next but what the conversation added, so the prompt cache hits.

use botcoder_protocol::ErrorKind;
use serde_json::{Map, Value, json};

use super::limits::{self, ProviderLimits};
use super::stream::ChunkDecoder;
use super::{ChatMessage, ChatRequest, ProviderError, ProviderEvent, StopReason};

/// Which OpenAI wire format a provider speaks.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Wire {
    /// Chat Completions (`/chat/completions`): every OpenAI-compatible server.
    #[default]
    Chat,
    /// The Responses API (`/responses`).
    Responses,
}

impl Wire {
    /// `chat` or `responses` (case-insensitive); `None` for anything else.
    pub fn parse(s: &str) -> Option<Wire> {
        match s.trim().to_ascii_lowercase().as_str() {
            "chat" | "chat_completions" | "completions" => Some(Wire::Chat),
            "responses" => Some(Wire::Responses),
            _ => None,
        }
    }

    /// The default for a provider kind and URL: Responses for the official OpenAI endpoint
    /// and Azure's `v1` surface (both serve it for every current model), Chat for every
    /// other base URL (proxies and local servers, which may not).
    pub fn default_for(kind: &str, url: &str) -> Wire {
        let host = reqwest::Url::parse(url)
            .ok()
            .and_then(|u| u.host_str().map(str::to_ascii_lowercase));
        match kind {
            "openai" if host.as_deref() == Some("api.openai.com") => Wire::Responses,
            "azure" if url.contains("/openai/v1/") => Wire::Responses,
            _ => Wire::Chat,
        }
    }
}

/// The Responses URL next to a chat-completions URL (`…/v1/chat/completions` ->
/// `…/v1/responses`; Azure's deployment surface keeps its `api-version`).
pub fn responses_url(chat_url: &str) -> String {
    let (path, query) = match chat_url.split_once('?') {
        Some((p, q)) => (p, Some(q)),
        None => (chat_url, None),
    };
    let base = path.trim_end_matches("/chat/completions");
    // Azure's deployment surface serves Responses at /openai/responses, not per deployment.
    let base = match base.split_once("/openai/deployments/") {
        Some((endpoint, _)) => format!("{endpoint}/openai"),
        None => base.to_owned(),
    };
    match query {
        Some(q) => format!("{base}/responses?{q}"),
        None => format!("{base}/responses"),
    }
}

/// Whether a model reasons (and so takes `reasoning` and returns encrypted reasoning):
/// the o-series, GPT-5 and Codex models.
pub fn is_reasoning_model(model: &str) -> bool {
    let m = model.to_ascii_lowercase();
    let m = m.rsplit('/').next().unwrap_or(&m);
    m.starts_with("gpt-5")
        || m.contains("codex")
        || ["o1", "o3", "o4"]
            .iter()
            .any(|p| m == *p || m.starts_with(&format!("{p}-")))
}

/// The request body. `effort` is `reasoning.effort` when configured.
pub fn body(model: &str, effort: Option<&str>, req: &ChatRequest) -> Value {
    let mut input: Vec<Value> = Vec::with_capacity(req.messages.len());
    for (i, m) in req.messages.iter().enumerate() {
        match m {
            ChatMessage::User(t) => input.push(json!({"role": "user", "content": t})),
            ChatMessage::Reasoning { replay, .. } => {
                if let Some(item) = replay.as_ref().and_then(replay_item)
                    && super::reasoning_answered(&req.messages, i)
                {
                    input.push(item);
                }
            }
            ChatMessage::Assistant { text, tool_calls } => {
                if !text.is_empty() {
                    input.push(json!({"type": "message", "role": "assistant",
                        "content": [{"type": "output_text", "text": text}]}));
                }
                for c in tool_calls {
                    input.push(json!({"type": "function_call", "call_id": c.id,
                        "name": c.name, "arguments": c.arguments}));
                }
            }
            ChatMessage::ToolResult {
                call_id, output, ..
            } => input.push(json!({"type": "function_call_output", "call_id": call_id,
                "output": output})),
        }
    }
    let mut body = json!({
        "model": model,
        "input": input,
        "stream": true,
        "store": false,
    });
    if let Some(system) = &req.system {
        body["instructions"] = json!(system);
    }
    if !req.tools.is_empty() {
        let tools: Vec<Value> = req
            .tools
            .iter()
            .map(|t| {
                json!({"type": "function", "name": t.name, "description": t.description,
                       "parameters": t.parameters})
            })
            .collect();
        body["tools"] = json!(tools);
    }
    // Only reasoning models take `reasoning` and return encrypted reasoning; others
    // refuse the include.
    if effort.is_some() || is_reasoning_model(model) {
        let mut reasoning = json!({"summary": "auto"});
        if let Some(e) = effort {
            reasoning["effort"] = json!(e);
        }
        body["reasoning"] = reasoning;
        body["include"] = json!(["reasoning.encrypted_content"]);
    }
    if let Some(key) = &req.cache_key {
        body["prompt_cache_key"] = json!(key);
    }
    if let Some(max) = req.max_tokens {
        body["max_output_tokens"] = json!(max);
    }
    body
}

/// A journaled reasoning item as it goes back in `input`: verbatim, except its `id`. With
/// `store: false` the server keeps nothing, and an item carrying an id is looked up there
/// and refused ("Item with id 'rs_…' not found"); `encrypted_content` carries it instead.
/// Items of another wire (an Anthropic thinking block after a provider switch) and items
/// without encrypted content (nothing to resume from) are not sent.
fn replay_item(v: &Value) -> Option<Value> {
    let obj = v.as_object()?;
    if obj.get("type").and_then(Value::as_str) != Some("reasoning") {
        return None;
    }
    obj.get("encrypted_content")
        .and_then(Value::as_str)
        .filter(|e| !e.is_empty())?;
    let item: Map<String, Value> = obj
        .iter()
        .filter(|(k, _)| k.as_str() != "id")
        .map(|(k, v)| (k.clone(), v.clone()))
        .collect();
    Some(Value::Object(item))
}

/// A function call of the reply, by its item.
#[derive(Debug)]
struct Call {
    item_id: String,
    output_index: Option<u64>,
    index: usize,
    streamed_args: bool,
}

/// Turns Responses stream events into provider events.
#[derive(Debug)]
pub struct ResponsesDecoder {
    name: String,
    limits: ProviderLimits,
    calls: Vec<Call>,
    /// Reasoning text streamed for the current reasoning item.
    reasoning: String,
    saw_text: bool,
    saw_anything: bool,
    stop: Option<StopReason>,
    done: bool,
}

impl Default for ResponsesDecoder {
    fn default() -> Self {
        Self::new("openai", ProviderLimits::default())
    }
}

fn str_at<'a>(v: &'a Value, ptr: &str) -> &'a str {
    v.pointer(ptr).and_then(Value::as_str).unwrap_or_default()
}

impl ResponsesDecoder {
    /// A decoder for provider `name` within `limits`.
    pub fn new(name: &str, limits: ProviderLimits) -> Self {
        ResponsesDecoder {
            name: name.to_owned(),
            limits,
            calls: Vec::new(),
            reasoning: String::new(),
            saw_text: false,
            saw_anything: false,
            stop: None,
            done: false,
        }
    }

    fn find_call(&self, v: &Value) -> Option<usize> {
        let item_id = str_at(v, "/item_id");
        let output_index = v.get("output_index").and_then(Value::as_u64);
        self.calls.iter().position(|c| {
            (!item_id.is_empty() && c.item_id == item_id)
                || (item_id.is_empty() && output_index.is_some() && c.output_index == output_index)
        })
    }

    fn start_call(
        &mut self,
        item: &Value,
        output_index: Option<u64>,
        out: &mut Vec<ProviderEvent>,
    ) -> Result<usize, ProviderError> {
        if self.calls.len() >= self.limits.tool_calls {
            return Err(limits::too_many_calls(&self.name, self.limits.tool_calls));
        }
        let index = self.calls.len();
        let call_id = match str_at(item, "/call_id") {
            "" => match str_at(item, "/id") {
                "" => format!("call_{index}"),
                id => id.to_owned(),
            },
            id => id.to_owned(),
        };
        self.calls.push(Call {
            item_id: str_at(item, "/id").to_owned(),
            output_index,
            index,
            streamed_args: false,
        });
        out.push(ProviderEvent::ToolCallStart {
            index,
            id: call_id,
            name: str_at(item, "/name").to_owned(),
        });
        Ok(index)
    }

    fn item_done(&mut self, v: &Value, out: &mut Vec<ProviderEvent>) -> Result<(), ProviderError> {
        let item = v.get("item").cloned().unwrap_or_default();
        match str_at(&item, "/type") {
            "reasoning" => {
                let mut text = std::mem::take(&mut self.reasoning);
                if text.is_empty() {
                    // Nothing streamed: the item's own summary (or raw reasoning) text.
                    text = reasoning_text(&item);
                }
                let replay = item
                    .get("encrypted_content")
                    .and_then(Value::as_str)
                    .is_some_and(|e| !e.is_empty())
                    .then_some(item);
                out.push(ProviderEvent::Reasoning { text, replay });
            }
            "function_call" => {
                let output_index = v.get("output_index").and_then(Value::as_u64);
                let probe = json!({"item_id": str_at(&item, "/id"), "output_index": output_index});
                let at = match self.find_call(&probe) {
                    Some(at) => at,
                    // A server that announces the call only when it is done.
                    None => {
                        self.start_call(&item, output_index, out)?;
                        self.calls.len() - 1
                    }
                };
                let call = &mut self.calls[at];
                let args = str_at(&item, "/arguments");
                if !call.streamed_args && !args.is_empty() {
                    call.streamed_args = true;
                    out.push(ProviderEvent::ToolCallArgsDelta {
                        index: call.index,
                        text: args.to_owned(),
                    });
                }
            }
            "message" if !self.saw_text => {
                // A server that sends the message whole, without deltas.
                let text: String = item
                    .get("content")
                    .and_then(Value::as_array)
                    .into_iter()
                    .flatten()
                    .filter(|p| str_at(p, "/type") == "output_text")
                    .map(|p| str_at(p, "/text"))
                    .collect();
                if !text.is_empty() {
                    self.saw_text = true;
                    out.push(ProviderEvent::TextDelta(text));
                }
            }
            _ => {}
        }
        Ok(())
    }

    fn completed(&mut self, v: &Value, out: &mut Vec<ProviderEvent>) {
        let resp = v.get("response").cloned().unwrap_or_default();
        if let Some(u) = resp.get("usage").filter(|u| u.is_object()) {
            let n = |ptr: &str| u.pointer(ptr).and_then(Value::as_u64);
            out.push(ProviderEvent::Usage {
                input_tokens: n("/input_tokens").unwrap_or(0),
                output_tokens: n("/output_tokens").unwrap_or(0),
                cached_input_tokens: n("/input_tokens_details/cached_tokens"),
                reasoning_tokens: n("/output_tokens_details/reasoning_tokens"),
            });
        }
        let incomplete = str_at(&resp, "/status") == "incomplete";
        self.stop = Some(if incomplete {
            match str_at(&resp, "/incomplete_details/reason") {
                "max_output_tokens" => StopReason::MaxTokens,
                other => StopReason::Other(other.to_owned()),
            }
        } else if self.calls.is_empty() {
            StopReason::EndTurn
        } else {
            StopReason::ToolUse
        });
        self.done = true;
    }
}

/// The readable text of a reasoning item: its summaries, else its raw reasoning content.
fn reasoning_text(item: &Value) -> String {
    let parts = |key: &str| -> Vec<String> {
        item.get(key)
            .and_then(Value::as_array)
            .into_iter()
            .flatten()
            .map(|p| str_at(p, "/text").to_owned())
            .filter(|t| !t.is_empty())
            .collect()
    };
    let summary = parts("summary");
    if summary.is_empty() {
        parts("content").join("\n\n")
    } else {
        summary.join("\n\n")
    }
}

/// A `response.failed` or `error` event as an error a person can act on.
fn stream_error(name: &str, err: &Value) -> ProviderError {
    let code = match str_at(err, "/code") {
        "" => str_at(err, "/type"),
        c => c,
    };
    let message = match str_at(err, "/message") {
        "" => "no details given",
        m => m,
    };
    let (kind, retryable) = match code {
        "rate_limit_exceeded" => (ErrorKind::RateLimited, true),
        "server_error" | "server_is_overloaded" | "slow_down" => {
            (ErrorKind::ProviderUnavailable, true)
        }
        _ => (ErrorKind::ProviderError, false),
    };
    let code = if code.is_empty() { "error" } else { code };
    ProviderError {
        retryable,
        ..ProviderError::fatal(
            kind,
            format!("{name}: the response failed ({code}): {message}"),
        )
    }
}

impl ChunkDecoder for ResponsesDecoder {
    fn event(
        &mut self,
        event: &str,
        data: &str,
        out: &mut Vec<ProviderEvent>,
    ) -> Result<(), ProviderError> {
        let data = data.trim();
        if data.is_empty() || data == "[DONE]" {
            return Ok(());
        }
        let v: Value = serde_json::from_str(data).map_err(|e| {
            ProviderError::fatal(
                ErrorKind::ProviderError,
                format!(
                    "{}: the server sent an event that is not Responses JSON ({e})",
                    self.name
                ),
            )
        })?;
        let kind = match str_at(&v, "/type") {
            "" => event,
            k => k,
        };
        self.saw_anything = true;
        match kind {
            "response.output_text.delta" => {
                let d = str_at(&v, "/delta");
                if !d.is_empty() {
                    self.saw_text = true;
                    out.push(ProviderEvent::TextDelta(d.to_owned()));
                }
            }
            "response.reasoning_summary_text.delta" | "response.reasoning_text.delta" => {
                let d = str_at(&v, "/delta");
                if !d.is_empty() {
                    self.reasoning.push_str(d);
                    out.push(ProviderEvent::ReasoningDelta(d.to_owned()));
                }
            }
            // Summary parts read as paragraphs.
            "response.reasoning_summary_part.added"
                if v.get("summary_index").and_then(Value::as_u64).unwrap_or(0) > 0 =>
            {
                self.reasoning.push_str("\n\n");
                out.push(ProviderEvent::ReasoningDelta("\n\n".to_owned()));
            }
            "response.output_item.added" => {
                let item = v.get("item").cloned().unwrap_or_default();
                if str_at(&item, "/type") == "function_call" {
                    let output_index = v.get("output_index").and_then(Value::as_u64);
                    self.start_call(&item, output_index, out)?;
                }
            }
            "response.function_call_arguments.delta" => {
                let d = str_at(&v, "/delta");
                if let Some(at) = self.find_call(&v)
                    && !d.is_empty()
                {
                    self.calls[at].streamed_args = true;
                    out.push(ProviderEvent::ToolCallArgsDelta {
                        index: self.calls[at].index,
                        text: d.to_owned(),
                    });
                }
            }
            "response.function_call_arguments.done" => {
                let args = str_at(&v, "/arguments");
                if let Some(at) = self.find_call(&v)
                    && !self.calls[at].streamed_args
                    && !args.is_empty()
                {
                    self.calls[at].streamed_args = true;
                    out.push(ProviderEvent::ToolCallArgsDelta {
                        index: self.calls[at].index,
                        text: args.to_owned(),
                    });
                }
            }
            "response.output_item.done" => self.item_done(&v, out)?,
            "response.completed" | "response.incomplete" => self.completed(&v, out),
            "response.failed" => {
                let err = v.pointer("/response/error").cloned().unwrap_or_default();
                return Err(stream_error(&self.name, &err));
            }
            "error" => {
                // The spec puts code and message at the top; some servers nest them.
                let err = v.get("error").filter(|e| e.is_object()).unwrap_or(&v);
                return Err(stream_error(&self.name, err));
            }
            _ => {} // created, in_progress, content parts, done markers, anything new
        }
        Ok(())
    }

    fn is_done(&self) -> bool {
        self.done
    }

    fn finish(&mut self) -> Result<ProviderEvent, ProviderError> {
        if !self.done {
            let retryable = !self.saw_anything;
            let msg = if retryable {
                format!(
                    "{}: the server closed the stream without sending a reply",
                    self.name
                )
            } else {
                format!("{}: the stream ended before response.completed", self.name)
            };
            return Err(ProviderError {
                retryable,
                ..ProviderError::fatal(ErrorKind::ProviderUnavailable, msg)
            });
        }
        Ok(ProviderEvent::Done {
            stop_reason: self.stop.clone().unwrap_or(StopReason::EndTurn),
        })
    }
}

#[cfg(test)]
#[path = "responses_tests.rs"]
mod tests;
