//! The botserver's HTTP API as the real server speaks it (shared/reference/botserver-api.md).
//! Parsing is lenient: every field has a default and unknown fields are ignored.

use std::time::Duration;

use serde::Deserialize;
use serde_json::{Value, json};

use crate::config::Secret;

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
        let resp = rb
            .timeout(timeout)
            .send()
            .await
            .map_err(|e| BotError::Down(e.to_string()))?;
        let status = resp.status().as_u16();
        let body = resp
            .text()
            .await
            .map_err(|e| BotError::Down(e.to_string()))?;
        match status {
            200..=299 => Ok((status, body)),
            401 | 403 => Err(BotError::Auth(status)),
            404 | 405 => Err(BotError::NotAvailable(status)),
            500..=599 => Err(BotError::Down(format!("HTTP {status}"))),
            _ => Err(BotError::Other(status, body.chars().take(300).collect())),
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
            .map_err(|e| BotError::Down(e.to_string()))?;
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
