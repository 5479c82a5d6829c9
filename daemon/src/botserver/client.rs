//! The botserver's HTTP API as the real server speaks it (shared/reference/botserver-api.md).
//! Parsing is lenient: every field has a default and unknown fields are ignored.
//!
//! Like a provider, the botserver is an input with caps: a body is read up to
//! [`MAX_BODY`] (an error body up to 64 KiB) and then the connection is dropped; its
//! redirects are followed only within its origin (the client is built with
//! [`crate::llm::redirect_policy`]); and every error text is redacted, since a transport
//! error names the URL and a server may echo the key.

use std::time::Duration;

use serde::Deserialize;
use serde_json::{Value, json};

use botcoder_config::Secret;

/// Why a botserver request failed.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum BotError {
    /// Not reachable, or a 5xx: the server is (for now) down.
    #[error("botserver unreachable: {0}")]
    Down(String),
    /// 401/403: credentials are wrong; retrying will not help.
    #[error("botserver refused the credentials (HTTP {0}); set BOTSERVER_API_KEY to a valid key")]
    Auth(u16),
    /// 404/405: the route (an agent) does not exist on this server.
    #[error("not available on this botserver (HTTP {0})")]
    NotAvailable(u16),
    /// Any other answer.
    #[error("botserver answered HTTP {0}: {1}")]
    Other(u16, String),
}

/// Most bytes of a successful answer read (an agent's query result is the largest).
pub const MAX_BODY: usize = 8 * 1024 * 1024;

fn down(e: impl std::fmt::Display) -> BotError {
    BotError::Down(crate::redact::scrub(&e.to_string()))
}

/// Reads at most `max` bytes of a body, then stops (dropping the response closes the
/// connection); the flag says whether there was more.
async fn read_capped(mut resp: reqwest::Response, max: usize) -> Result<(Vec<u8>, bool), BotError> {
    let mut body = Vec::new();
    while let Some(chunk) = resp.chunk().await.map_err(down)? {
        let room = max - body.len();
        if chunk.len() > room {
            body.extend_from_slice(&chunk[..room]);
            return Ok((body, true));
        }
        body.extend_from_slice(&chunk);
    }
    Ok((body, false))
}

/// `POST /api/autotask/classify`.
#[derive(Debug, Clone, Default, PartialEq, Deserialize)]
#[serde(default)]
pub struct Classification {
    /// Whether it worked.
    pub success: bool,
    /// APP_CREATE, TODO, MONITOR, ACTION, SCHEDULE, GOAL, TOOL or UNKNOWN.
    pub intent_type: String,
    /// 0..1.
    pub confidence: f64,
    /// The server needs more information.
    pub requires_clarification: bool,
    /// What to ask the user.
    pub clarification_question: Option<String>,
    /// Error text.
    pub error: Option<String>,
}

/// `POST /api/autotask/create`.
#[derive(Debug, Clone, Default, PartialEq, Deserialize)]
#[serde(default)]
pub struct Created {
    /// Whether it worked.
    pub success: bool,
    /// The task.
    pub task_id: Option<String>,
    /// Status.
    pub status: Option<String>,
    /// Message.
    pub message: Option<String>,
    /// App URL, when already known.
    pub app_url: Option<String>,
    /// Created resources.
    pub created_resources: Vec<Value>,
    /// Error text.
    pub error: Option<String>,
}

/// `GET /api/autotask/tasks/{id}`.
#[derive(Debug, Clone, Default, PartialEq, Deserialize)]
#[serde(default)]
pub struct TaskStatus {
    /// Id.
    pub id: String,
    /// Name.
    pub name: Option<String>,
    /// running, completed, failed, paused, cancelled, draft.
    pub status: String,
    /// 0..100.
    pub progress: f64,
    /// Current step.
    pub current_step: Option<u32>,
    /// Steps in all.
    pub total_steps: Option<u32>,
    /// Error text.
    pub error: Option<String>,
}

impl TaskStatus {
    /// Whether the task reached an end.
    pub fn is_final(&self) -> bool {
        matches!(self.status.as_str(), "completed" | "failed" | "cancelled")
    }
}

/// The HTTP client.
#[derive(Debug, Clone)]
pub struct BotClient {
    http: reqwest::Client,
    base: String,
    key: Option<Secret>,
}

impl BotClient {
    /// A client for `base` (e.g. `http://127.0.0.1:8080`).
    pub fn new(http: reqwest::Client, base: &str, key: Option<Secret>) -> Self {
        BotClient {
            http,
            base: base.trim_end_matches('/').to_owned(),
            key,
        }
    }

    /// The base URL.
    pub fn base(&self) -> &str {
        &self.base
    }

    /// The task-progress WebSocket URL of a task, for `ws://` servers.
    pub fn progress_url(&self, task_id: &str) -> Option<String> {
        let rest = self.base.strip_prefix("http://")?;
        Some(format!("ws://{rest}/ws/task-progress/{task_id}"))
    }

    async fn send(
        &self,
        rb: reqwest::RequestBuilder,
        timeout: Duration,
    ) -> Result<(u16, String), BotError> {
        let rb = match &self.key {
            Some(k) => rb.bearer_auth(k.expose()),
            None => rb,
        };
        let resp = rb.timeout(timeout).send().await.map_err(down)?;
        let status = resp.status().as_u16();
        if (300..400).contains(&status) {
            let to = resp
                .headers()
                .get(reqwest::header::LOCATION)
                .and_then(|v| v.to_str().ok())
                .and_then(|l| resp.url().join(l).ok())
                .and_then(|u| crate::redact::origin(&u))
                .unwrap_or_else(|| "an unusable Location".to_owned());
            return Err(BotError::Other(
                status,
                format!(
                    "a redirect to {to}, which botcoder does not follow because it would carry \
                     BOTSERVER_API_KEY there; set BOTSERVER_URL to the final address"
                ),
            ));
        }
        let max = if (200..300).contains(&status) {
            MAX_BODY
        } else {
            crate::llm::limits::MAX_ERROR_BODY
        };
        let (body, more) = read_capped(resp, max).await?;
        if more && (200..300).contains(&status) {
            return Err(BotError::Other(
                status,
                format!("the answer is larger than {MAX_BODY} bytes and was abandoned"),
            ));
        }
        let body = String::from_utf8_lossy(&body).into_owned();
        match status {
            200..=299 => Ok((status, body)),
            401 | 403 => Err(BotError::Auth(status)),
            404 | 405 => Err(BotError::NotAvailable(status)),
            500..=599 => Err(BotError::Down(format!("HTTP {status}"))),
            _ => Err(BotError::Other(
                status,
                crate::redact::scrub(&body.chars().take(300).collect::<String>()),
            )),
        }
    }

    fn parse<T: for<'de> Deserialize<'de> + Default>(body: &str) -> T {
        serde_json::from_str(body).unwrap_or_default()
    }

    /// `GET /api/health`: `Ok(true)` healthy, `Ok(false)` degraded (503).
    pub async fn health(&self) -> Result<bool, BotError> {
        let url = format!("{}/api/health", self.base);
        let resp = self
            .http
            .get(url)
            .timeout(Duration::from_secs(5))
            .send()
            .await
            .map_err(down)?;
        match resp.status().as_u16() {
            200..=299 => Ok(true),
            503 => Ok(false),
            s => Err(BotError::Down(format!("health answered HTTP {s}"))),
        }
    }

    /// Classifies a request without running the pipeline (`auto_process: false`).
    pub async fn classify(&self, intent: &str) -> Result<Classification, BotError> {
        let rb = self
            .http
            .post(format!("{}/api/autotask/classify", self.base))
            .json(&json!({"intent": intent, "auto_process": false}));
        let (_, body) = self.send(rb, Duration::from_secs(30)).await?;
        Ok(Self::parse(&body))
    }

    /// Starts a task.
    pub async fn create(&self, intent: &str) -> Result<Created, BotError> {
        let rb = self
            .http
            .post(format!("{}/api/autotask/create", self.base))
            .json(&json!({"intent": intent}));
        let (_, body) = self.send(rb, Duration::from_secs(30)).await?;
        Ok(Self::parse(&body))
    }

    /// A task's status.
    pub async fn task(&self, id: &str) -> Result<TaskStatus, BotError> {
        let rb = self
            .http
            .get(format!("{}/api/autotask/tasks/{id}", self.base));
        let (_, body) = self.send(rb, Duration::from_secs(10)).await?;
        Ok(Self::parse(&body))
    }

    /// Cancels a task (best effort).
    pub async fn cancel(&self, id: &str) -> Result<(), BotError> {
        let rb = self
            .http
            .post(format!("{}/api/autotask/{id}/cancel", self.base));
        self.send(rb, Duration::from_secs(5)).await.map(|_| ())
    }

    /// `POST /api/botcoder/{agent}/query`.
    pub async fn agent_query(
        &self,
        agent: &str,
        tool: &str,
        args: &Value,
    ) -> Result<String, BotError> {
        let rb = self
            .http
            .post(format!("{}/api/botcoder/{agent}/query", self.base))
            .json(&json!({"tool": tool, "args": args}));
        let (_, body) = self.send(rb, Duration::from_secs(120)).await?;
        Ok(body)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parsing_is_lenient() {
        let c: Classification =
            BotClient::parse(r#"{"intent_type":"APP_CREATE","confidence":0.9,"new_field":[1,2]}"#);
        assert_eq!(
            (c.intent_type.as_str(), c.requires_clarification),
            ("APP_CREATE", false)
        );
        let t: TaskStatus =
            BotClient::parse(r#"{"id":"t1","status":"completed","progress":100.0,"extra":{}}"#);
        assert!(t.is_final());
        let junk: Created = BotClient::parse("not json");
        assert_eq!(junk, Created::default());
    }

    #[test]
    fn progress_url_from_base() {
        let c = BotClient::new(
            crate::llm::http_client().unwrap(),
            "http://127.0.0.1:8080/",
            None,
        );
        assert_eq!(
            c.progress_url("t1").as_deref(),
            Some("ws://127.0.0.1:8080/ws/task-progress/t1")
        );
    }
}
