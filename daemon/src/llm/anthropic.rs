//! Anthropic Messages, streaming: `tool_use` blocks with `input_json_delta` pieces, `ping`,
//! mid-stream `error` events, cumulative usage; unknown event types are ignored.
//!
//! Extended thinking (when a budget is configured) streams as `thinking` blocks whose
//! `signature` makes them replayable: each becomes a [`ProviderEvent::Reasoning`] carrying the
//! whole block, sent back verbatim before the text and `tool_use` of its assistant message,
//! as the API requires while a tool loop runs. Prompt caching: `cache_control` breakpoints on
//! the last tool, the system prompt and the last two messages (four, the API's maximum).

use std::time::Duration;

use botcoder_protocol::ErrorKind;
use botcoder_protocol::methods::ProviderCapabilities;
use futures::future::BoxFuture;
use serde::Deserialize;
use serde_json::{Value, json};

use super::limits::{self, ProviderLimits};
use super::stream::{ChunkDecoder, sse_event_stream};
use super::{
    ChatMessage, ChatRequest, EventStream, LlmProvider, ProviderError, ProviderEvent, StopReason,
};
use botcoder_config::Secret;

/// The API version header every request carries.
pub const ANTHROPIC_VERSION: &str = "2023-06-01";

/// Settings of the Anthropic provider.
#[derive(Debug, Clone)]
pub struct AnthropicConfig {
    /// Base URL without `/v1` (no trailing slash).
    pub base_url: String,
    /// Model.
    pub model: String,
    /// `x-api-key`.
    pub api_key: Secret,
    /// Reply budget (Anthropic requires one).
    pub max_tokens: u32,
    /// Context window.
    pub context_window: Option<u64>,
    /// A stream silent for this long fails.
    pub idle_timeout: Duration,
    /// Extended thinking budget in tokens (`ANTHROPIC_THINKING_BUDGET`); `None`: off.
    pub thinking_budget: Option<u32>,
    /// The variable that held the key, for "set X to a valid key".
    pub key_var: String,
}

/// The breakpoint that asks Anthropic to cache the prefix up to its block.
fn ephemeral() -> Value {
    json!({"type": "ephemeral"})
}

/// Whether a journaled reasoning item is an Anthropic thinking block (an item of another
/// wire, after a provider switch, is not sent).
fn thinking_block(v: &Value) -> Option<Value> {
    match v.get("type").and_then(Value::as_str) {
        Some("thinking") if v.get("signature").and_then(Value::as_str).is_some() => Some(v.clone()),
        Some("redacted_thinking") => Some(v.clone()),
        _ => None,
    }
}

/// The Anthropic Messages provider.
#[derive(Debug)]
pub struct AnthropicProvider {
    cfg: AnthropicConfig,
    http: reqwest::Client,
    url: String,
    /// The base URL without userinfo, for everything that shows or logs it.
    display_url: String,
    observer: Option<super::HeaderObserver>,
    limits: ProviderLimits,
}

impl AnthropicProvider {
    /// A provider for `cfg`.
    pub fn new(cfg: AnthropicConfig, http: reqwest::Client) -> Self {
        let url = format!("{}/v1/messages", cfg.base_url.trim_end_matches('/'));
        AnthropicProvider {
            display_url: crate::redact::scrub_userinfo(&cfg.base_url).into_owned(),
            cfg,
            http,
            url,
            observer: None,
            limits: ProviderLimits::default(),
        }
    }

    /// Caps what one answer may make the daemon hold.
    pub fn with_limits(mut self, limits: ProviderLimits) -> Self {
        self.limits = limits;
        self
    }

    /// Reports every response's rate-limit headers to `observer`.
    pub fn with_observer(mut self, observer: super::HeaderObserver) -> Self {
        self.observer = Some(observer);
        self
    }

    /// The request body: system on top, strictly alternating roles, tool results as
    /// `tool_result` blocks in a user message.
    pub fn body(&self, req: &ChatRequest) -> Value {
        let mut messages: Vec<(&'static str, Vec<Value>)> = Vec::new();
        let mut push = |role: &'static str, block: Value| match messages.last_mut() {
            Some((r, blocks)) if *r == role => blocks.push(block),
            _ => messages.push((role, vec![block])),
        };
        for (i, m) in req.messages.iter().enumerate() {
            match m {
                ChatMessage::User(t) => push("user", json!({"type": "text", "text": t})),
                ChatMessage::Reasoning { replay, .. } => {
                    if let Some(block) = replay.as_ref().and_then(thinking_block)
                        && super::reasoning_answered(&req.messages, i)
                    {
                        push("assistant", block);
                    }
                }
                ChatMessage::Assistant { text, tool_calls } => {
                    if !text.is_empty() {
                        push("assistant", json!({"type": "text", "text": text}));
                    }
                    for c in tool_calls {
                        let input: Value =
                            serde_json::from_str(&c.arguments).unwrap_or_else(|_| json!({}));
                        push(
                            "assistant",
                            json!({"type": "tool_use", "id": c.id, "name": c.name, "input": input}),
                        );
                    }
                }
                ChatMessage::ToolResult {
                    call_id,
                    output,
                    is_error,
                    ..
                } => push(
                    "user",
                    json!({"type": "tool_result", "tool_use_id": call_id, "content": output, "is_error": is_error}),
                ),
            }
        }
        // Breakpoints on the last two messages: the newest caches this request's prefix, the
        // one before it is where the previous request's cache is read back. Thinking blocks
        // cannot carry one, so it goes on the message's last other block.
        let count = messages.len();
        for (_, blocks) in messages.iter_mut().skip(count.saturating_sub(2)) {
            if let Some(block) = blocks.iter_mut().rev().find(|b| {
                !matches!(
                    b.get("type").and_then(Value::as_str),
                    Some("thinking" | "redacted_thinking")
                )
            }) {
                block["cache_control"] = ephemeral();
            }
        }
        let messages: Vec<Value> = messages
            .into_iter()
            .map(|(role, content)| json!({"role": role, "content": content}))
            .collect();
        let mut max_tokens = req.max_tokens.unwrap_or(self.cfg.max_tokens);
        let mut body = json!({
            "model": self.cfg.model,
            "stream": true,
            "messages": messages,
        });
        if let Some(budget) = self.cfg.thinking_budget {
            // The reply budget includes the thinking budget and must exceed it.
            max_tokens = max_tokens.max(budget.saturating_add(1024));
            body["thinking"] = json!({"type": "enabled", "budget_tokens": budget});
        }
        body["max_tokens"] = json!(max_tokens);
        if let Some(system) = &req.system {
            body["system"] =
                json!([{"type": "text", "text": system, "cache_control": ephemeral()}]);
        }
        if !req.tools.is_empty() {
            let mut tools: Vec<Value> = req
                .tools
                .iter()
                .map(|t| json!({"name": t.name, "description": t.description, "input_schema": t.parameters}))
                .collect();
            if let Some(last) = tools.last_mut() {
                last["cache_control"] = ephemeral();
            }
            body["tools"] = json!(tools);
        }
        body
    }
}

impl LlmProvider for AnthropicProvider {
    fn name(&self) -> &str {
        "anthropic"
    }

    fn model(&self) -> &str {
        &self.cfg.model
    }

    fn base_url(&self) -> &str {
        &self.display_url
    }

    fn capabilities(&self) -> ProviderCapabilities {
        ProviderCapabilities {
            streaming: true,
            native_tools: true,
            context_window: self.cfg.context_window,
        }
    }

    fn check(&self) -> BoxFuture<'_, Result<(), String>> {
        Box::pin(async move {
            let rb = self
                .http
                .get(format!(
                    "{}/v1/models",
                    self.cfg.base_url.trim_end_matches('/')
                ))
                .header("x-api-key", self.cfg.api_key.expose())
                .header("anthropic-version", ANTHROPIC_VERSION);
            super::check_get("anthropic", rb, &self.cfg.key_var).await
        })
    }

    fn open<'a>(
        &'a self,
        request: &'a ChatRequest,
    ) -> BoxFuture<'a, Result<EventStream, ProviderError>> {
        Box::pin(async move {
            let rb = self
                .http
                .post(&self.url)
                .header("x-api-key", self.cfg.api_key.expose())
                .header("anthropic-version", ANTHROPIC_VERSION)
                .header(reqwest::header::CONTENT_TYPE, "application/json")
                .body(super::stable::to_vec(&self.body(request)));
            let endpoint = super::Endpoint {
                name: "anthropic",
                base_url: &self.display_url,
                url_var: "ANTHROPIC_BASE_URL",
                key_var: &self.cfg.key_var,
                observer: self.observer.as_ref(),
                idle: self.cfg.idle_timeout,
            };
            let resp = super::send_streaming(&endpoint, rb)
                .await
                .map_err(|(e, _)| e)?;
            Ok(sse_event_stream(
                "anthropic".to_owned(),
                resp,
                self.cfg.idle_timeout,
                AnthropicDecoder::new(self.limits),
                self.limits,
            ))
        })
    }
}

impl AnthropicDecoder {
    /// A decoder within `limits`.
    pub fn new(limits: ProviderLimits) -> Self {
        AnthropicDecoder {
            limits,
            ..AnthropicDecoder::default()
        }
    }
}

/// Turns Anthropic stream events into provider events.
#[derive(Debug, Default)]
pub struct AnthropicDecoder {
    limits: ProviderLimits,
    /// Content block index -> tool call index, for `tool_use` blocks.
    tool_blocks: Vec<(u64, usize)>,
    tools: usize,
    /// The thinking block being streamed: its index and the block so far.
    thinking: Option<(u64, Value)>,
    input_tokens: u64,
    cache_read: Option<u64>,
    output_tokens: u64,
    stop_reason: Option<String>,
    saw_anything: bool,
    done: bool,
}

#[derive(Deserialize)]
struct Frame {
    #[serde(rename = "type", default)]
    kind: String,
    #[serde(default)]
    index: Option<u64>,
    #[serde(default)]
    message: Option<Value>,
    #[serde(default)]
    content_block: Option<Value>,
    #[serde(default)]
    delta: Option<Value>,
    #[serde(default)]
    usage: Option<Value>,
    #[serde(default)]
    error: Option<Value>,
}

fn str_of<'a>(v: &'a Value, key: &str) -> &'a str {
    v.get(key).and_then(Value::as_str).unwrap_or_default()
}

fn u64_at(v: &Value, ptr: &str) -> Option<u64> {
    v.pointer(ptr).and_then(Value::as_u64)
}

impl ChunkDecoder for AnthropicDecoder {
    fn event(
        &mut self,
        event: &str,
        data: &str,
        out: &mut Vec<ProviderEvent>,
    ) -> Result<(), ProviderError> {
        if data.trim().is_empty() {
            return Ok(());
        }
        let frame: Frame = serde_json::from_str(data).map_err(|e| {
            ProviderError::fatal(
                ErrorKind::ProviderError,
                format!("anthropic sent an event that is not JSON ({e})"),
            )
        })?;
        let kind = if frame.kind.is_empty() {
            event
        } else {
            frame.kind.as_str()
        };
        self.saw_anything = true;
        match kind {
            "message_start" => {
                if let Some(m) = &frame.message {
                    // input_tokens counts only what was neither read from nor written to
                    // the cache; the prompt is all three.
                    self.cache_read = u64_at(m, "/usage/cache_read_input_tokens");
                    self.input_tokens = u64_at(m, "/usage/input_tokens").unwrap_or(0)
                        + self.cache_read.unwrap_or(0)
                        + u64_at(m, "/usage/cache_creation_input_tokens").unwrap_or(0);
                    self.output_tokens = u64_at(m, "/usage/output_tokens").unwrap_or(0);
                }
            }
            "content_block_start" => {
                let block = frame.content_block.unwrap_or_default();
                match block.get("type").and_then(Value::as_str) {
                    Some("tool_use") => {
                        if self.tools >= self.limits.tool_calls {
                            return Err(limits::too_many_calls(
                                "anthropic",
                                self.limits.tool_calls,
                            ));
                        }
                        let index = self.tools;
                        self.tools += 1;
                        self.tool_blocks.push((frame.index.unwrap_or(0), index));
                        let s = |k: &str| {
                            block
                                .get(k)
                                .and_then(Value::as_str)
                                .unwrap_or_default()
                                .to_owned()
                        };
                        out.push(ProviderEvent::ToolCallStart {
                            index,
                            id: s("id"),
                            name: s("name"),
                        });
                    }
                    Some("thinking") | Some("redacted_thinking") => {
                        let mut block = block.clone();
                        if let Some(t) = block
                            .get("thinking")
                            .and_then(Value::as_str)
                            .filter(|t| !t.is_empty())
                        {
                            out.push(ProviderEvent::ReasoningDelta(t.to_owned()));
                        }
                        if block.get("type").and_then(Value::as_str) == Some("thinking") {
                            block["thinking"] = json!(str_of(&block, "thinking"));
                        }
                        self.thinking = Some((frame.index.unwrap_or(0), block));
                    }
                    Some("text") => {
                        if let Some(t) = block
                            .get("text")
                            .and_then(Value::as_str)
                            .filter(|t| !t.is_empty())
                        {
                            out.push(ProviderEvent::TextDelta(t.to_owned()));
                        }
                    }
                    _ => {}
                }
            }
            "content_block_delta" => {
                let delta = frame.delta.unwrap_or_default();
                match delta.get("type").and_then(Value::as_str) {
                    Some("text_delta") => {
                        if let Some(t) = delta
                            .get("text")
                            .and_then(Value::as_str)
                            .filter(|t| !t.is_empty())
                        {
                            out.push(ProviderEvent::TextDelta(t.to_owned()));
                        }
                    }
                    Some("thinking_delta") => {
                        let piece = str_of(&delta, "thinking");
                        if let Some((_, block)) = self.thinking.as_mut()
                            && !piece.is_empty()
                        {
                            let joined = format!("{}{piece}", str_of(block, "thinking"));
                            block["thinking"] = json!(joined);
                            out.push(ProviderEvent::ReasoningDelta(piece.to_owned()));
                        }
                    }
                    Some("signature_delta") => {
                        if let Some((_, block)) = self.thinking.as_mut() {
                            let joined = format!(
                                "{}{}",
                                str_of(block, "signature"),
                                str_of(&delta, "signature")
                            );
                            block["signature"] = json!(joined);
                        }
                    }
                    Some("input_json_delta") => {
                        let block = frame.index.unwrap_or(0);
                        let piece = delta
                            .get("partial_json")
                            .and_then(Value::as_str)
                            .unwrap_or_default();
                        if let Some((_, index)) = self.tool_blocks.iter().find(|(b, _)| *b == block)
                            && !piece.is_empty()
                        {
                            out.push(ProviderEvent::ToolCallArgsDelta {
                                index: *index,
                                text: piece.to_owned(),
                            });
                        }
                    }
                    _ => {}
                }
            }
            "content_block_stop" => {
                if let Some((index, block)) = self.thinking.take() {
                    if Some(index) == frame.index || frame.index.is_none() {
                        let text = str_of(&block, "thinking").to_owned();
                        out.push(ProviderEvent::Reasoning {
                            text,
                            replay: Some(block),
                        });
                    } else {
                        self.thinking = Some((index, block));
                    }
                }
            }
            "message_delta" => {
                if let Some(reason) = frame
                    .delta
                    .as_ref()
                    .and_then(|d| d.get("stop_reason"))
                    .and_then(Value::as_str)
                {
                    self.stop_reason = Some(reason.to_owned());
                }
                if let Some(n) = frame
                    .usage
                    .as_ref()
                    .and_then(|u| u64_at(u, "/output_tokens"))
                {
                    // Cumulative: the latest count is the total.
                    self.output_tokens = n;
                }
            }
            "message_stop" => {
                out.push(ProviderEvent::Usage {
                    input_tokens: self.input_tokens,
                    output_tokens: self.output_tokens,
                    cached_input_tokens: self.cache_read,
                    reasoning_tokens: None,
                });
                self.done = true;
            }
            "error" => {
                let err = frame.error.unwrap_or_default();
                let etype = err.get("type").and_then(Value::as_str).unwrap_or("error");
                let msg = err
                    .get("message")
                    .and_then(Value::as_str)
                    .unwrap_or("unknown error");
                let kind = match etype {
                    "rate_limit_error" => ErrorKind::RateLimited,
                    "overloaded_error" | "api_error" => ErrorKind::ProviderUnavailable,
                    _ => ErrorKind::ProviderError,
                };
                return Err(ProviderError {
                    retryable: kind != ErrorKind::ProviderError,
                    ..ProviderError::fatal(
                        kind,
                        format!("anthropic reported {etype} mid-stream: {msg}"),
                    )
                });
            }
            _ => {} // ping and anything new
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
                "anthropic closed the stream without sending a reply"
            } else {
                "the anthropic stream ended before message_stop"
            };
            return Err(ProviderError {
                retryable,
                ..ProviderError::fatal(ErrorKind::ProviderUnavailable, msg)
            });
        }
        let stop_reason = match self.stop_reason.as_deref() {
            Some("end_turn") | Some("stop_sequence") => StopReason::EndTurn,
            Some("tool_use") => StopReason::ToolUse,
            Some("max_tokens") => StopReason::MaxTokens,
            other => StopReason::Other(other.unwrap_or_default().to_owned()),
        };
        Ok(ProviderEvent::Done { stop_reason })
    }
}

#[cfg(test)]
#[path = "anthropic_tests.rs"]
mod tests;
