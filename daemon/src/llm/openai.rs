//! OpenAI chat completions, streaming: OpenAI itself, Azure OpenAI (deployment URL and
//! `api-key` header), and every OpenAI-compatible local server (Ollama, llama.cpp, vLLM,
//! LM Studio), whose quirks are tolerated here. The same provider speaks the Responses API
//! (`responses.rs`) when its [`Wire`] says so.

use std::time::Duration;

use botcoder_protocol::methods::ProviderCapabilities;
use futures::future::BoxFuture;
use serde::Deserialize;
use serde_json::{Value, json};

use super::limits::{self, ProviderLimits};
pub use super::responses::Wire;
use super::responses::{self, ResponsesDecoder};
use super::stream::{ChunkDecoder, sse_event_stream};
use super::{
    ChatMessage, ChatRequest, EventStream, LlmProvider, ProviderError, ProviderEvent, StopReason,
};
use botcoder_config::Secret;

/// How a request authenticates.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum OpenAiAuth {
    /// `Authorization: Bearer <key>` (OpenAI, most local servers).
    Bearer(Secret),
    /// `api-key: <key>` (Azure OpenAI).
    ApiKeyHeader(Secret),
    /// No credentials (local servers).
    None,
}

/// Settings of one OpenAI-compatible endpoint.
#[derive(Debug, Clone)]
pub struct OpenAiConfig {
    /// `openai`, `azure` or `local`.
    pub name: String,
    /// Base URL for display (no credentials, no query).
    pub base_url: String,
    /// The full chat-completions URL.
    pub url: String,
    /// Model name (the deployment, for Azure).
    pub model: String,
    /// Credentials.
    pub auth: OpenAiAuth,
    /// The variable holding the key, for error messages ("set X to a valid key"): the one
    /// that actually held it (`key_env`, a project's `.env`), not only the kind's default.
    pub key_var: String,
    /// The variable holding the model, for error messages.
    pub model_var: &'static str,
    /// Context window, when known.
    pub context_window: Option<u64>,
    /// A stream silent for this long fails.
    pub idle_timeout: Duration,
    /// Chat Completions or the Responses API.
    pub wire: Wire,
    /// `reasoning.effort` (Responses) / `reasoning_effort` (chat), when configured.
    pub reasoning_effort: Option<String>,
}

/// A provider speaking the chat completions or the Responses wire format.
#[derive(Debug)]
pub struct OpenAiProvider {
    cfg: OpenAiConfig,
    http: reqwest::Client,
    url: String,
    /// The base URL without userinfo, for everything that shows or logs it.
    display_url: String,
    observer: Option<super::HeaderObserver>,
    limits: ProviderLimits,
}

impl OpenAiProvider {
    /// A provider for `cfg`, sharing the daemon's HTTP client.
    pub fn new(cfg: OpenAiConfig, http: reqwest::Client) -> Self {
        let url = match cfg.wire {
            Wire::Chat => cfg.url.clone(),
            Wire::Responses => responses::responses_url(&cfg.url),
        };
        OpenAiProvider {
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

    fn authorize(&self, rb: reqwest::RequestBuilder) -> reqwest::RequestBuilder {
        match &self.cfg.auth {
            OpenAiAuth::Bearer(key) => rb.bearer_auth(key.expose()),
            OpenAiAuth::ApiKeyHeader(key) => rb.header("api-key", key.expose()),
            OpenAiAuth::None => rb,
        }
    }

    /// The chat-completions URL for a `/v1`-style base.
    pub fn chat_url(base_url: &str) -> String {
        format!("{}/chat/completions", base_url.trim_end_matches('/'))
    }

    /// The request body of the configured wire.
    pub fn body(&self, req: &ChatRequest) -> Value {
        match self.cfg.wire {
            Wire::Chat => self.chat_body(req),
            Wire::Responses => {
                responses::body(&self.cfg.model, self.cfg.reasoning_effort.as_deref(), req)
            }
        }
    }

    fn chat_body(&self, req: &ChatRequest) -> Value {
        let mut messages = Vec::with_capacity(req.messages.len() + 1);
        if let Some(system) = &req.system {
            messages.push(json!({"role": "system", "content": system}));
        }
        for m in &req.messages {
            messages.push(match m {
                ChatMessage::User(t) => json!({"role": "user", "content": t}),
                // Chat Completions has no way to send reasoning back.
                ChatMessage::Reasoning { .. } => continue,
                ChatMessage::Assistant { text, tool_calls } if tool_calls.is_empty() => {
                    json!({"role": "assistant", "content": text})
                }
                ChatMessage::Assistant { text, tool_calls } => {
                    let calls: Vec<Value> = tool_calls
                        .iter()
                        .map(|c| {
                            json!({"id": c.id, "type": "function",
                                   "function": {"name": c.name, "arguments": c.arguments}})
                        })
                        .collect();
                    let content = if text.is_empty() {
                        Value::Null
                    } else {
                        json!(text)
                    };
                    json!({"role": "assistant", "content": content, "tool_calls": calls})
                }
                ChatMessage::ToolResult {
                    call_id, output, ..
                } => {
                    json!({"role": "tool", "tool_call_id": call_id, "content": output})
                }
            });
        }
        let mut body = json!({
            "model": self.cfg.model,
            "messages": messages,
            "stream": true,
            "stream_options": {"include_usage": true},
        });
        if !req.tools.is_empty() {
            let tools: Vec<Value> = req
                .tools
                .iter()
                .map(|t| {
                    json!({"type": "function", "function": {
                        "name": t.name, "description": t.description, "parameters": t.parameters}})
                })
                .collect();
            body["tools"] = json!(tools);
        }
        if let Some(max) = req.max_tokens {
            body["max_tokens"] = json!(max);
        }
        if let Some(effort) = &self.cfg.reasoning_effort {
            body["reasoning_effort"] = json!(effort);
        }
        // OpenAI and Azure route by it; a local server need not know the field.
        if let Some(key) = req.cache_key.as_ref().filter(|_| self.cfg.name != "local") {
            body["prompt_cache_key"] = json!(key);
        }
        body
    }
}

impl LlmProvider for OpenAiProvider {
    fn name(&self) -> &str {
        &self.cfg.name
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
            // Azure's deployment URL carries the api-version; its model listing wants one too.
            let url = match self.cfg.url.split_once("/deployments/") {
                Some((base, rest)) => {
                    let version = rest.split("api-version=").nth(1).unwrap_or("2024-10-21");
                    format!("{base}/models?api-version={version}")
                }
                None => format!(
                    "{}/models",
                    self.cfg
                        .url
                        .split('?')
                        .next()
                        .unwrap_or_default()
                        .trim_end_matches("/chat/completions")
                ),
            };
            let rb = self.authorize(self.http.get(url));
            super::check_get(&self.cfg.name, rb, &self.cfg.key_var).await
        })
    }

    fn open<'a>(
        &'a self,
        request: &'a ChatRequest,
    ) -> BoxFuture<'a, Result<EventStream, ProviderError>> {
        Box::pin(async move {
            let name = &self.cfg.name;
            let body = super::stable::to_vec(&self.body(request));
            let rb = self.authorize(
                self.http
                    .post(&self.url)
                    .header(reqwest::header::CONTENT_TYPE, "application/json")
                    .body(body),
            );
            let endpoint = super::Endpoint {
                name,
                base_url: &self.display_url,
                url_var: super::url_var(name),
                key_var: &self.cfg.key_var,
                observer: self.observer.as_ref(),
                idle: self.cfg.idle_timeout,
            };
            let resp = super::send_streaming(&endpoint, rb)
                .await
                .map_err(|(mut err, body)| {
                    if err.status == Some(404) && body.contains("model") {
                        err.message.push_str(&format!(
                            " (is {} = {:?} a model this server has?)",
                            self.cfg.model_var, self.cfg.model
                        ));
                    }
                    err
                })?;
            let idle = self.cfg.idle_timeout;
            Ok(match self.cfg.wire {
                Wire::Chat => sse_event_stream(
                    name.clone(),
                    resp,
                    idle,
                    OpenAiDecoder::new(name, self.limits),
                    self.limits,
                ),
                Wire::Responses => sse_event_stream(
                    name.clone(),
                    resp,
                    idle,
                    ResponsesDecoder::new(name, self.limits),
                    self.limits,
                ),
            })
        })
    }
}

/// Turns chat-completion chunks into provider events.
#[derive(Debug)]
pub struct OpenAiDecoder {
    /// Provider name, for messages.
    name: String,
    limits: ProviderLimits,
    /// Names of tool calls already started, by index.
    started: Vec<bool>,
    /// Argument text that arrived before the call's name, by index.
    early_args: Vec<String>,
    finish_reason: Option<String>,
    saw_anything: bool,
    done: bool,
}

impl Default for OpenAiDecoder {
    fn default() -> Self {
        Self::new("openai", ProviderLimits::default())
    }
}

impl OpenAiDecoder {
    /// A decoder for provider `name` within `limits`.
    pub fn new(name: &str, limits: ProviderLimits) -> Self {
        OpenAiDecoder {
            name: name.to_owned(),
            limits,
            started: Vec::new(),
            early_args: Vec::new(),
            finish_reason: None,
            saw_anything: false,
            done: false,
        }
    }
}

#[derive(Deserialize)]
struct Chunk {
    #[serde(default)]
    choices: Option<Vec<Choice>>,
    #[serde(default)]
    usage: Option<UsageChunk>,
    #[serde(default)]
    error: Option<Value>,
}

#[derive(Deserialize)]
struct Choice {
    #[serde(default)]
    delta: Option<Delta>,
    #[serde(default)]
    finish_reason: Option<String>,
}

#[derive(Deserialize)]
struct Delta {
    #[serde(default)]
    content: Option<String>,
    /// Reasoning text of local servers (llama.cpp, vLLM, DeepSeek-style).
    #[serde(default)]
    reasoning_content: Option<String>,
    /// The same under the name some servers (vLLM, OpenRouter) use.
    #[serde(default)]
    reasoning: Option<String>,
    #[serde(default)]
    tool_calls: Option<Vec<ToolCallDelta>>,
}

#[derive(Deserialize)]
struct ToolCallDelta {
    #[serde(default)]
    index: Option<usize>,
    #[serde(default)]
    id: Option<String>,
    #[serde(default)]
    function: Option<FunctionDelta>,
}

#[derive(Deserialize)]
struct FunctionDelta {
    #[serde(default)]
    name: Option<String>,
    #[serde(default)]
    arguments: Option<String>,
}

#[derive(Deserialize)]
struct UsageChunk {
    #[serde(default)]
    prompt_tokens: u64,
    #[serde(default)]
    completion_tokens: u64,
    #[serde(default)]
    prompt_tokens_details: Option<TokenDetails>,
    #[serde(default)]
    completion_tokens_details: Option<TokenDetails>,
}

#[derive(Deserialize)]
struct TokenDetails {
    #[serde(default)]
    cached_tokens: Option<u64>,
    #[serde(default)]
    reasoning_tokens: Option<u64>,
}

impl ChunkDecoder for OpenAiDecoder {
    fn event(
        &mut self,
        _event: &str,
        data: &str,
        out: &mut Vec<ProviderEvent>,
    ) -> Result<(), ProviderError> {
        let data = data.trim();
        if data == "[DONE]" {
            self.done = true;
            return Ok(());
        }
        if data.is_empty() {
            return Ok(());
        }
        let chunk: Chunk = serde_json::from_str(data).map_err(|e| {
            ProviderError::fatal(
                botcoder_protocol::ErrorKind::ProviderError,
                format!(
                    "the server sent a chunk that is not chat-completion JSON ({e}): {}",
                    clip(data)
                ),
            )
        })?;
        if let Some(err) = chunk.error {
            let message = err
                .get("message")
                .and_then(Value::as_str)
                .unwrap_or("unknown error");
            return Err(ProviderError::fatal(
                botcoder_protocol::ErrorKind::ProviderError,
                format!("the server reported an error mid-stream: {message}"),
            ));
        }
        self.saw_anything = true;
        for choice in chunk.choices.into_iter().flatten().take(1) {
            if let Some(delta) = choice.delta {
                if let Some(r) = delta
                    .reasoning_content
                    .or(delta.reasoning)
                    .filter(|t| !t.is_empty())
                {
                    out.push(ProviderEvent::ReasoningDelta(r));
                }
                if let Some(text) = delta.content.filter(|t| !t.is_empty()) {
                    out.push(ProviderEvent::TextDelta(text));
                }
                for (pos, call) in delta.tool_calls.into_iter().flatten().enumerate() {
                    self.tool_call(call.index.unwrap_or(pos), call, out)?;
                }
            }
            if let Some(reason) = choice.finish_reason {
                self.finish_reason = Some(reason);
            }
        }
        if let Some(u) = chunk.usage {
            out.push(ProviderEvent::Usage {
                input_tokens: u.prompt_tokens,
                output_tokens: u.completion_tokens,
                cached_input_tokens: u.prompt_tokens_details.and_then(|d| d.cached_tokens),
                reasoning_tokens: u.completion_tokens_details.and_then(|d| d.reasoning_tokens),
            });
        }
        Ok(())
    }

    fn is_done(&self) -> bool {
        self.done
    }

    fn finish(&mut self) -> Result<ProviderEvent, ProviderError> {
        if !self.saw_anything && !self.done {
            // llama.cpp answers some errors with 200 and an empty stream.
            return Err(ProviderError {
                retryable: true,
                ..ProviderError::fatal(
                    botcoder_protocol::ErrorKind::ProviderUnavailable,
                    "the server closed the stream without sending a reply (check its log)",
                )
            });
        }
        if !self.done && self.finish_reason.is_none() {
            return Err(ProviderError::fatal(
                botcoder_protocol::ErrorKind::ProviderUnavailable,
                "the stream ended before the reply was complete",
            ));
        }
        let stop_reason = match self.finish_reason.as_deref() {
            Some("stop") => StopReason::EndTurn,
            Some("tool_calls") | Some("function_call") => StopReason::ToolUse,
            Some("length") => StopReason::MaxTokens,
            other => StopReason::Other(other.unwrap_or_default().to_owned()),
        };
        Ok(ProviderEvent::Done { stop_reason })
    }
}

impl OpenAiDecoder {
    fn tool_call(
        &mut self,
        index: usize,
        call: ToolCallDelta,
        out: &mut Vec<ProviderEvent>,
    ) -> Result<(), ProviderError> {
        // A hostile or broken server must not make us allocate by its index, and a call past
        // the cap is reported, never dropped silently.
        if index >= self.limits.tool_calls {
            return Err(limits::too_many_calls(&self.name, self.limits.tool_calls));
        }
        if self.started.len() <= index {
            self.started.resize(index + 1, false);
            self.early_args.resize(index + 1, String::new());
        }
        let (name, args) = match call.function {
            Some(f) => (
                f.name.filter(|n| !n.is_empty()),
                f.arguments.unwrap_or_default(),
            ),
            None => (None, String::new()),
        };
        // llama.cpp repeats id and name on every delta: only the first one starts the call.
        if !self.started[index] {
            match name {
                Some(name) => {
                    self.started[index] = true;
                    let id = call
                        .id
                        .filter(|i| !i.is_empty())
                        .unwrap_or_else(|| format!("call_{index}"));
                    out.push(ProviderEvent::ToolCallStart { index, id, name });
                    let early = std::mem::take(&mut self.early_args[index]);
                    if !early.is_empty() {
                        out.push(ProviderEvent::ToolCallArgsDelta { index, text: early });
                    }
                }
                None => {
                    self.early_args[index].push_str(&args);
                    if self.early_args[index].len() > self.limits.tool_args_bytes {
                        return Err(limits::exceeded(
                            &self.name,
                            "one tool call's arguments",
                            self.limits.tool_args_bytes,
                            "BOTCODER_MAX_TOOL_ARGS_BYTES",
                        ));
                    }
                    return Ok(());
                }
            }
        }
        if !args.is_empty() {
            out.push(ProviderEvent::ToolCallArgsDelta { index, text: args });
        }
        Ok(())
    }
}

fn clip(s: &str) -> &str {
    match s.char_indices().nth(200) {
        Some((i, _)) => &s[..i],
        None => s,
    }
}

#[cfg(test)]
#[path = "openai_tests.rs"]
mod tests;
