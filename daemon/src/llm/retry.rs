//! When and how long to retry a provider request, shared by every wire format.
//!
//! Retried before any output: 408, 409, 429, 5xx, 529 and transport errors. The wait is
//! the server's `retry-after-ms` (or Azure's `x-ms-retry-after-ms`), then `retry-after`
//! (seconds, fractional, or an HTTP date), obeyed up to 60 s; otherwise exponential backoff
//! with jitter from 0.5 s to 8 s. `x-should-retry` overrides the status. Once output has
//! begun, a failure is final: retrying would duplicate text.

use std::sync::Arc;
use std::time::{Duration, SystemTime};

use botcoder_protocol::ErrorKind;
use futures::StreamExt;
use rand::Rng;
use reqwest::header::HeaderMap;

use super::{ChatRequest, EventStream, LlmProvider, ProviderError, ProviderEvent};

/// Retry settings.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct RetryPolicy {
    /// Attempts in all, the first included.
    pub max_attempts: u32,
    /// First backoff.
    pub base: Duration,
    /// Largest backoff.
    pub max_backoff: Duration,
    /// Largest server-requested wait that is obeyed.
    pub max_retry_after: Duration,
}

impl Default for RetryPolicy {
    fn default() -> Self {
        RetryPolicy {
            max_attempts: 4,
            base: Duration::from_millis(500),
            max_backoff: Duration::from_secs(8),
            max_retry_after: Duration::from_secs(60),
        }
    }
}

impl RetryPolicy {
    /// Wait before attempt `failed + 1`, given the failure.
    pub fn wait(&self, failed_attempt: u32, err: &ProviderError) -> Duration {
        if let Some(after) = err.retry_after.filter(|d| *d <= self.max_retry_after) {
            return after;
        }
        let exp = self
            .base
            .saturating_mul(1u32 << failed_attempt.saturating_sub(1).min(16));
        let capped = exp.min(self.max_backoff);
        // Up to 25% jitter downwards, so many sessions do not retry in lockstep.
        let jitter = 1.0 - 0.25 * rand::rng().random::<f64>();
        capped.mul_f64(jitter)
    }
}

/// Server-requested wait from response headers.
pub fn retry_after(headers: &HeaderMap, now: SystemTime) -> Option<Duration> {
    let get = |name: &str| {
        headers
            .get(name)
            .and_then(|v| v.to_str().ok())
            .map(str::trim)
    };
    for name in ["retry-after-ms", "x-ms-retry-after-ms"] {
        if let Some(ms) = get(name).and_then(|v| v.parse::<f64>().ok())
            && ms.is_finite()
            && ms >= 0.0
        {
            return Some(Duration::from_secs_f64(ms / 1000.0));
        }
    }
    let v = get("retry-after")?;
    if let Ok(secs) = v.parse::<f64>() {
        return (secs.is_finite() && secs >= 0.0).then(|| Duration::from_secs_f64(secs));
    }
    let at = httpdate::parse_http_date(v).ok()?;
    Some(at.duration_since(now).unwrap_or(Duration::ZERO))
}

/// Turns a non-success HTTP answer into a [`ProviderError`] with a message a person can act on.
pub fn classify_status(
    provider: &str,
    status: u16,
    headers: &HeaderMap,
    body: &str,
    key_var: &str,
) -> ProviderError {
    let server_says = server_message(body);
    let (kind, retryable, hint) = match status {
        401 | 403 => (
            ErrorKind::ProviderAuth,
            false,
            format!("the API key was rejected; set {key_var} to a valid key"),
        ),
        408 | 409 => (ErrorKind::ProviderUnavailable, true, String::new()),
        429 => (ErrorKind::RateLimited, true, "rate limited".to_owned()),
        529 => (
            ErrorKind::ProviderUnavailable,
            true,
            "overloaded".to_owned(),
        ),
        500..=599 => (ErrorKind::ProviderUnavailable, true, String::new()),
        _ => (ErrorKind::ProviderError, false, String::new()),
    };
    let retryable = match headers.get("x-should-retry").and_then(|v| v.to_str().ok()) {
        Some("true") => true,
        Some("false") => false,
        _ => retryable,
    };
    let mut message = format!("{provider} answered HTTP {status}");
    for part in [hint, server_says] {
        if !part.is_empty() {
            message.push_str(": ");
            message.push_str(&part);
        }
    }
    ProviderError {
        kind,
        status: Some(status),
        message,
        retryable,
        retry_after: retry_after(headers, SystemTime::now()),
    }
}

/// The `error.message` of a JSON error body (OpenAI and Anthropic shapes), else the body.
fn server_message(body: &str) -> String {
    let parsed: Option<serde_json::Value> = serde_json::from_str(body).ok();
    let msg = parsed.as_ref().and_then(|v| {
        v.pointer("/error/message")
            .or_else(|| v.get("message"))
            .or_else(|| v.get("error"))
            .and_then(|m| m.as_str())
            .map(str::to_owned)
    });
    let text = msg.unwrap_or_else(|| body.trim().to_owned());
    match text.char_indices().nth(300) {
        Some((i, _)) => format!("{}…", &text[..i]),
        None => text,
    }
}

enum Phase {
    Open {
        attempt: u32,
    },
    Wait {
        attempt: u32,
        wait: Duration,
    },
    Stream {
        attempt: u32,
        inner: EventStream,
        output: bool,
    },
    Done,
}

struct State {
    provider: Arc<dyn LlmProvider>,
    request: ChatRequest,
    policy: RetryPolicy,
    phase: Phase,
}

/// Streams one model reply, retrying per `policy` until output begins. Each wait is
/// announced as a [`ProviderEvent::Retry`] before it starts.
pub fn stream_with_retries(
    provider: Arc<dyn LlmProvider>,
    request: ChatRequest,
    policy: RetryPolicy,
) -> EventStream {
    let state = State {
        provider,
        request,
        policy,
        phase: Phase::Open { attempt: 1 },
    };
    Box::pin(futures::stream::unfold(state, |mut st| async move {
        loop {
            match std::mem::replace(&mut st.phase, Phase::Done) {
                Phase::Done => return None,
                Phase::Wait { attempt, wait } => {
                    tokio::time::sleep(wait).await;
                    st.phase = Phase::Open { attempt };
                }
                Phase::Open { attempt } => match st.provider.open(&st.request).await {
                    Ok(inner) => {
                        st.phase = Phase::Stream {
                            attempt,
                            inner,
                            output: false,
                        }
                    }
                    Err(e) => return Some(st.failed(attempt, e)),
                },
                Phase::Stream {
                    attempt,
                    mut inner,
                    output,
                } => match inner.next().await {
                    None => return None,
                    Some(Err(e)) if !output => return Some(st.failed(attempt, e)),
                    Some(item) => {
                        let output = output
                            || matches!(
                                item,
                                Ok(ProviderEvent::TextDelta(_)
                                    | ProviderEvent::ReasoningDelta(_)
                                    | ProviderEvent::Reasoning { .. }
                                    | ProviderEvent::ToolCallStart { .. }
                                    | ProviderEvent::ToolCallArgsDelta { .. })
                            );
                        st.phase = Phase::Stream {
                            attempt,
                            inner,
                            output,
                        };
                        return Some((item, st));
                    }
                },
            }
        }
    }))
}

impl State {
    /// Attempt `attempt` failed before any output: either a Retry event (and a wait next),
    /// or the final error.
    fn failed(
        mut self,
        attempt: u32,
        mut err: ProviderError,
    ) -> (Result<ProviderEvent, ProviderError>, State) {
        if err.retryable && attempt < self.policy.max_attempts {
            let wait = self.policy.wait(attempt, &err);
            self.phase = Phase::Wait {
                attempt: attempt + 1,
                wait,
            };
            let retry = ProviderEvent::Retry {
                attempt,
                wait,
                status: err.status,
                reason: err.message,
            };
            return (Ok(retry), self);
        }
        if attempt > 1 {
            err.message
                .push_str(&format!(" (gave up after {attempt} attempts)"));
        }
        self.phase = Phase::Done;
        (Err(err), self)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use reqwest::header::HeaderValue;

    fn headers(pairs: &[(&'static str, &str)]) -> HeaderMap {
        let mut h = HeaderMap::new();
        for (k, v) in pairs {
            h.insert(*k, HeaderValue::from_str(v).unwrap());
        }
        h
    }

    #[test]
    fn retry_after_forms() {
        let now = SystemTime::UNIX_EPOCH + Duration::from_secs(1_700_000_000);
        let ms = headers(&[("retry-after-ms", "250"), ("retry-after", "9")]);
        assert_eq!(retry_after(&ms, now), Some(Duration::from_millis(250)));
        let azure = headers(&[("x-ms-retry-after-ms", "1500")]);
        assert_eq!(retry_after(&azure, now), Some(Duration::from_millis(1500)));
        let frac = headers(&[("retry-after", "1.5")]);
        assert_eq!(retry_after(&frac, now), Some(Duration::from_millis(1500)));
        let date = httpdate::fmt_http_date(now + Duration::from_secs(3));
        assert_eq!(
            retry_after(&headers(&[("retry-after", &date)]), now),
            Some(Duration::from_secs(3))
        );
        assert_eq!(retry_after(&headers(&[("retry-after", "soon")]), now), None);
        assert_eq!(retry_after(&HeaderMap::new(), now), None);
    }

    #[test]
    fn statuses_are_classified() {
        let h = HeaderMap::new();
        let e = classify_status(
            "openai",
            429,
            &h,
            r#"{"error":{"message":"slow down"}}"#,
            "OPENAI_API_KEY",
        );
        assert_eq!((e.kind, e.retryable), (ErrorKind::RateLimited, true));
        assert!(e.message.contains("slow down"), "{}", e.message);
        let e = classify_status("openai", 401, &h, "", "OPENAI_API_KEY");
        assert_eq!((e.kind, e.retryable), (ErrorKind::ProviderAuth, false));
        assert!(e.message.contains("OPENAI_API_KEY"), "{}", e.message);
        for s in [408, 409, 500, 503, 529] {
            assert!(classify_status("p", s, &h, "", "K").retryable, "{s}");
        }
        assert!(!classify_status("p", 400, &h, "", "K").retryable);
        let no = headers(&[("x-should-retry", "false")]);
        assert!(!classify_status("p", 503, &no, "", "K").retryable);
        let yes = headers(&[("x-should-retry", "true")]);
        assert!(classify_status("p", 400, &yes, "", "K").retryable);
    }

    #[test]
    fn backoff_grows_to_the_cap_and_obeys_retry_after() {
        let p = RetryPolicy::default();
        let plain = ProviderError::transport("p", "reset");
        for (attempt, max_ms) in [(1, 500), (2, 1000), (3, 2000), (5, 8000), (12, 8000)] {
            let w = p.wait(attempt, &plain).as_millis() as u64;
            assert!(
                w <= max_ms && w >= max_ms * 3 / 4,
                "attempt {attempt}: {w} ms"
            );
        }
        let asked = ProviderError {
            retry_after: Some(Duration::from_secs(2)),
            ..plain.clone()
        };
        assert_eq!(p.wait(1, &asked), Duration::from_secs(2));
        let too_long = ProviderError {
            retry_after: Some(Duration::from_secs(600)),
            ..plain
        };
        assert!(p.wait(1, &too_long) <= Duration::from_millis(500));
    }
}
