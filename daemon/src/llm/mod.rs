//! LLM providers: one trait, one module per wire format, and the retry loop they share.
//!
//! A provider's [`LlmProvider::open`] makes one HTTP attempt and returns a stream of
//! [`ProviderEvent`]s; [`stream_with_retries`] wraps it with the retry policy so every wire
//! format retries the same way and reports waits as [`ProviderEvent::Retry`].

pub mod anthropic;
pub mod limits;
pub mod openai;
pub mod pricing;
pub mod responses;
pub mod retry;
pub mod sse;
pub mod stable;

use std::pin::Pin;
use std::sync::Arc;
use std::time::Duration;

use botcoder_protocol::ErrorKind;
use botcoder_protocol::methods::ProviderCapabilities;
use futures::Stream;
use futures::future::BoxFuture;

pub use limits::ProviderLimits;
pub use retry::{RetryPolicy, stream_with_retries};

/// One message of the conversation sent to a model.
#[derive(Debug, Clone, PartialEq)]
pub enum ChatMessage {
    /// From the user.
    User(String),
    /// From the model: text and the tool calls it asked for.
    Assistant {
        /// Reply text (may be empty when the reply is only tool calls).
        text: String,
        /// Native tool calls, in order.
        tool_calls: Vec<ToolCallRequest>,
    },
    /// The model's reasoning before the reply that follows it. Only the wire format that
    /// produced `replay` sends it back (verbatim); the others skip it.
    Reasoning {
        /// Readable reasoning text (summary or thinking), possibly empty.
        text: String,
        /// The provider's own item (a Responses `reasoning` item, an Anthropic `thinking`
        /// block with its signature), exactly as received.
        replay: Option<serde_json::Value>,
    },
    /// The result of one tool call, sent back to the model.
    ToolResult {
        /// The call it answers.
        call_id: String,
        /// The tool's name (some wire formats want it).
        name: String,
        /// Output text.
        output: String,
        /// Whether the tool failed.
        is_error: bool,
    },
}

impl ChatMessage {
    /// A plain assistant text reply.
    pub fn assistant(text: impl Into<String>) -> Self {
        ChatMessage::Assistant {
            text: text.into(),
            tool_calls: Vec::new(),
        }
    }
}

/// Whether the reasoning at `messages[i]` is followed by the reply it led to (an assistant
/// message before the next user message or result). Providers refuse a reasoning item sent
/// without its following item, which a cut or compacted history can leave.
pub(crate) fn reasoning_answered(messages: &[ChatMessage], i: usize) -> bool {
    messages
        .get(i + 1..)
        .unwrap_or_default()
        .iter()
        .find(|m| !matches!(m, ChatMessage::Reasoning { .. }))
        .is_some_and(|m| matches!(m, ChatMessage::Assistant { .. }))
}

/// A tool call the model made, as sent back in the conversation.
#[derive(Debug, Clone, PartialEq)]
pub struct ToolCallRequest {
    /// Provider's call id.
    pub id: String,
    /// Tool name.
    pub name: String,
    /// Arguments as JSON text, exactly as the model produced them.
    pub arguments: String,
}

/// A tool offered to the model.
#[derive(Debug, Clone, PartialEq)]
pub struct ToolSpec {
    /// Name.
    pub name: String,
    /// What it does, for the model.
    pub description: String,
    /// JSON Schema of its arguments.
    pub parameters: serde_json::Value,
}

/// A request for one model reply.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct ChatRequest {
    /// System prompt.
    pub system: Option<String>,
    /// Conversation so far, oldest first.
    pub messages: Vec<ChatMessage>,
    /// Tools the model may call natively (empty: none).
    pub tools: Vec<ToolSpec>,
    /// Reply budget in tokens, when limited.
    pub max_tokens: Option<u32>,
    /// Routes requests of one conversation to the same prompt cache (OpenAI's
    /// `prompt_cache_key`): the session id.
    pub cache_key: Option<String>,
}

/// Why the model stopped.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum StopReason {
    /// Finished its answer.
    EndTurn,
    /// Wants tools run.
    ToolUse,
    /// Hit the reply budget.
    MaxTokens,
    /// Anything else the server said (or nothing).
    Other(String),
}

/// What a provider stream yields, the same for every wire format.
#[derive(Debug, Clone, PartialEq)]
pub enum ProviderEvent {
    /// Assistant text.
    TextDelta(String),
    /// A tool call begins; `index` tells parallel calls apart.
    ToolCallStart {
        /// Position among this reply's calls.
        index: usize,
        /// Provider's call id.
        id: String,
        /// Tool name.
        name: String,
    },
    /// More of a tool call's JSON arguments.
    ToolCallArgsDelta {
        /// The call.
        index: usize,
        /// A piece of the arguments.
        text: String,
    },
    /// A piece of the model's reasoning text (summary or thinking) as it streams.
    ReasoningDelta(String),
    /// One whole reasoning item of the reply: its readable text and what must be sent back
    /// verbatim in later requests. Comes before the text and calls it preceded.
    Reasoning {
        /// The full readable text (the deltas joined, or the item's own text).
        text: String,
        /// The provider's item, to replay.
        replay: Option<serde_json::Value>,
    },
    /// Token counts for this request.
    Usage {
        /// Prompt tokens (cached ones included).
        input_tokens: u64,
        /// Completion tokens (reasoning ones included).
        output_tokens: u64,
        /// Of `input_tokens`, served from the provider's prompt cache.
        cached_input_tokens: Option<u64>,
        /// Of `output_tokens`, spent on reasoning.
        reasoning_tokens: Option<u64>,
    },
    /// The daemon waits before trying again (from the retry loop, not the wire).
    Retry {
        /// The attempt that failed (1 = first).
        attempt: u32,
        /// Wait before the next.
        wait: Duration,
        /// HTTP status, when there was one.
        status: Option<u16>,
        /// What went wrong.
        reason: String,
    },
    /// The reply is complete.
    Done {
        /// Why it ended.
        stop_reason: StopReason,
    },
}

/// A failed provider request.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
#[error("{message}")]
pub struct ProviderError {
    /// How clients should classify it.
    pub kind: ErrorKind,
    /// HTTP status, when there was one.
    pub status: Option<u16>,
    /// What failed and what to do.
    pub message: String,
    /// Whether trying again may help (only before any output was produced).
    pub retryable: bool,
    /// How long the server asked us to wait.
    pub retry_after: Option<Duration>,
}

impl ProviderError {
    /// A transport failure (connect, reset, timeout): retryable.
    pub fn transport(provider: &str, err: impl std::fmt::Display) -> Self {
        ProviderError {
            kind: ErrorKind::ProviderUnavailable,
            status: None,
            message: format!("{provider}: {err}"),
            retryable: true,
            retry_after: None,
        }
    }

    /// The stream broke in a way retrying will not fix.
    pub fn fatal(kind: ErrorKind, message: impl Into<String>) -> Self {
        ProviderError {
            kind,
            status: None,
            message: message.into(),
            retryable: false,
            retry_after: None,
        }
    }
}

/// A stream of provider events.
pub type EventStream = Pin<Box<dyn Stream<Item = Result<ProviderEvent, ProviderError>> + Send>>;

/// A model endpoint speaking one wire format.
pub trait LlmProvider: Send + Sync + std::fmt::Debug {
    /// Short name: `openai`, `local`, `azure`, `anthropic`.
    fn name(&self) -> &str;
    /// Model or deployment.
    fn model(&self) -> &str;
    /// Base URL, without credentials.
    fn base_url(&self) -> &str;
    /// What it supports.
    fn capabilities(&self) -> ProviderCapabilities;
    /// A cheap request (list the models) to check reachability and credentials.
    fn check(&self) -> BoxFuture<'_, Result<(), String>>;
    /// One attempt: sends the request and, on a successful status, returns the parsed stream.
    fn open<'a>(
        &'a self,
        request: &'a ChatRequest,
    ) -> BoxFuture<'a, Result<EventStream, ProviderError>>;
}

pub mod stream;

/// The rate limiter and the endpoint key a provider reports its response headers under.
#[derive(Debug, Clone)]
pub struct HeaderObserver {
    /// The daemon-wide limiter.
    pub limiter: Arc<crate::ratelimit::RateLimiter>,
    /// The endpoint key.
    pub key: String,
}

impl HeaderObserver {
    /// Adopts a response's rate-limit headers.
    pub fn observe(&self, headers: &reqwest::header::HeaderMap) {
        self.limiter.observe_headers(&self.key, headers);
    }
}

/// What the last request to the provider showed, for `provider.list` and `status`.
#[derive(Debug, Default)]
pub struct ProviderHealth {
    last: std::sync::Mutex<Option<Result<(), String>>>,
}

impl ProviderHealth {
    /// Records the outcome of a request.
    pub fn record(&self, outcome: Result<(), String>) {
        // Redacted on the way in: this is shown by `status` and `provider.list`.
        let outcome = outcome.map_err(|e| crate::redact::scrub(&e));
        *self.last.lock().unwrap_or_else(|p| p.into_inner()) = Some(outcome);
    }

    /// `unknown` / `ok` / `failing`, and the last error.
    pub fn snapshot(&self) -> (botcoder_protocol::ProviderHealth, Option<String>) {
        use botcoder_protocol::ProviderHealth as H;
        match &*self.last.lock().unwrap_or_else(|p| p.into_inner()) {
            None => (H::Unknown, None),
            Some(Ok(())) => (H::Ok, None),
            Some(Err(e)) => (H::Failing, Some(e.clone())),
        }
    }
}

/// The limiter key of a provider endpoint.
pub fn endpoint_key(name: &str, base_url: &str) -> String {
    format!("{name} {base_url}")
}

/// Where a provider's request goes and how its failures are explained.
pub(crate) struct Endpoint<'a> {
    /// Provider name.
    pub name: &'a str,
    /// Base URL without userinfo, for messages.
    pub base_url: &'a str,
    /// The variable that sets the base URL, for messages.
    pub url_var: &'a str,
    /// The variable holding the key, for messages.
    pub key_var: &'a str,
    /// Rate-limit header observer.
    pub observer: Option<&'a HeaderObserver>,
    /// How long to wait for the response to start (a server that accepts and never
    /// answers must not hang the turn).
    pub idle: Duration,
}

/// Sends a streaming request: transport errors and non-2xx answers become classified
/// [`ProviderError`]s; every response's rate-limit headers go to the observer. Shared by
/// every wire format so they fail and retry the same way.
pub(crate) async fn send_streaming(
    ep: &Endpoint<'_>,
    rb: reqwest::RequestBuilder,
) -> Result<reqwest::Response, (ProviderError, String)> {
    let resp = match tokio::time::timeout(ep.idle, rb.send()).await {
        Err(_) => {
            let msg = format!(
                "{} did not answer within {} s (LLM_IDLE_TIMEOUT_S raises the limit)",
                ep.base_url,
                ep.idle.as_secs()
            );
            return Err((ProviderError::transport(ep.name, msg), String::new()));
        }
        Ok(sent) => sent.map_err(|e| {
            (
                ProviderError::transport(ep.name, describe_send_error(&e, ep.base_url)),
                String::new(),
            )
        })?,
    };
    if let Some(o) = ep.observer {
        o.observe(resp.headers());
    }
    let status = resp.status().as_u16();
    if (300..400).contains(&status) {
        // Only a redirect the policy refused (to another origin, or too many) gets here.
        let err = ProviderError::fatal(
            ErrorKind::ProviderError,
            redirected(ep.name, ep.base_url, &resp, ep.url_var),
        );
        return Err((
            ProviderError {
                status: Some(status),
                ..err
            },
            String::new(),
        ));
    }
    if !(200..300).contains(&status) {
        let headers = resp.headers().clone();
        let body = read_error_body(resp).await;
        return Err((
            retry::classify_status(ep.name, status, &headers, &body, ep.key_var),
            body,
        ));
    }
    Ok(resp)
}

/// Sends a cheap GET and turns the answer into a doctor verdict.
pub(crate) async fn check_get(
    name: &str,
    rb: reqwest::RequestBuilder,
    key_var: &str,
) -> Result<(), String> {
    let resp = rb
        .timeout(Duration::from_secs(10))
        .send()
        .await
        .map_err(|e| {
            crate::redact::scrub(&format!(
                "{name}: {e}; check the URL and that the server runs"
            ))
        })?;
    let status = resp.status().as_u16();
    match status {
        200..=299 => Ok(()),
        300..=399 => Err(redirected(name, "the server", &resp, url_var(name))),
        401 | 403 => Err(format!(
            "{name} rejected the credentials (HTTP {status}); set {key_var} to a valid key"
        )),
        _ => Err(format!("{name} answered HTTP {status} to a model listing")),
    }
}

/// The variable that sets a provider's base URL, for messages.
pub(crate) fn url_var(name: &str) -> &'static str {
    match name {
        "azure" => "AZURE_OPENAI_ENDPOINT",
        "anthropic" => "ANTHROPIC_BASE_URL",
        "local" => "LOCAL_LLM_URL",
        "botserver" => "BOTSERVER_URL",
        _ => "OPENAI_BASE_URL",
    }
}

/// Most redirects followed within one origin.
const MAX_REDIRECTS: usize = 5;

/// Whether two URLs share scheme, host and port: the unit a key is configured for (I11).
pub fn same_origin(a: &reqwest::Url, b: &reqwest::Url) -> bool {
    a.scheme() == b.scheme()
        && a.host_str() == b.host_str()
        && a.port_or_known_default() == b.port_or_known_default()
}

/// Redirects are followed only within the origin the request was made to (I11). reqwest's
/// default follows up to 10 anywhere, stripping `Authorization` but not the custom headers
/// that carry Azure's and Anthropic's keys, and re-sending the prompt on 307/308. A refused
/// redirect comes back as the 3xx response itself, which the caller explains.
pub fn redirect_policy() -> reqwest::redirect::Policy {
    reqwest::redirect::Policy::custom(|attempt| {
        let same = attempt
            .previous()
            .first()
            .is_some_and(|first| same_origin(first, attempt.url()));
        if same && attempt.previous().len() <= MAX_REDIRECTS {
            attempt.follow()
        } else {
            attempt.stop()
        }
    })
}

/// Why a redirect answer was not followed, naming where it pointed (its origin only: the
/// path or query of a Location can carry tokens).
fn redirected(name: &str, from: &str, resp: &reqwest::Response, url_var: &str) -> String {
    let to = resp
        .headers()
        .get(reqwest::header::LOCATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|l| resp.url().join(l).ok());
    let status = resp.status().as_u16();
    match to.as_ref().and_then(crate::redact::origin) {
        Some(origin) if to.as_ref().is_some_and(|t| same_origin(t, resp.url())) => format!(
            "{name}: {from} redirected (HTTP {status}) more than {MAX_REDIRECTS} times within {origin}; \
             set {url_var} to the final address"
        ),
        Some(origin) => format!(
            "{name}: {from} redirected (HTTP {status}) to {origin}; botcoder does not follow \
             redirects to another origin, because they would carry your key and your prompt there; \
             set {url_var} to the final address"
        ),
        None => format!(
            "{name}: {from} answered HTTP {status} (a redirect without a usable Location); \
             set {url_var} to the final address"
        ),
    }
}

/// The daemon's HTTP client for providers (rustls with the ring provider, the one TLS stack),
/// following redirects only within one origin.
pub fn http_client() -> Result<reqwest::Client, String> {
    // Idempotent: the first call installs ring as the process-wide rustls provider.
    let _ = rustls::crypto::ring::default_provider().install_default();
    reqwest::Client::builder()
        .redirect(redirect_policy())
        .connect_timeout(Duration::from_secs(10))
        .pool_idle_timeout(Duration::from_secs(90))
        .tcp_nodelay(true)
        .build()
        .map_err(|e| format!("cannot build the HTTP client: {e}"))
}

/// A person-readable reason for a failed HTTP send, without the URL's query or secrets.
pub(crate) fn describe_send_error(e: &reqwest::Error, base_url: &str) -> String {
    let what = if e.is_connect() {
        "cannot connect"
    } else if e.is_timeout() {
        "timed out"
    } else {
        "request failed"
    };
    let mut source: Option<&dyn std::error::Error> = std::error::Error::source(e);
    let mut detail = String::new();
    while let Some(s) = source {
        detail = s.to_string();
        source = s.source();
    }
    if detail.is_empty() {
        format!("{what} to {base_url}")
    } else {
        format!("{what} to {base_url}: {detail}")
    }
}

/// At most [`limits::MAX_ERROR_BODY`] bytes of an error response body, read within 10 s.
/// The body is streamed and reading stops at the cap: dropping the response then closes the
/// connection, so a server answering with gigabytes costs us 64 KiB.
pub(crate) async fn read_error_body(mut resp: reqwest::Response) -> String {
    let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
    let mut body: Vec<u8> = Vec::new();
    while body.len() < limits::MAX_ERROR_BODY {
        match tokio::time::timeout_at(deadline, resp.chunk()).await {
            Ok(Ok(Some(chunk))) => {
                let room = limits::MAX_ERROR_BODY - body.len();
                body.extend_from_slice(&chunk[..chunk.len().min(room)]);
            }
            _ => break,
        }
    }
    String::from_utf8_lossy(&body).into_owned()
}
