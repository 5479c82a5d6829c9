//! Agent tools routed to botserver agents (#5..#12) by a routing table, offered to the model
//! only while the botserver is healthy. An agent that is unavailable (404/405: the real
//! server does not have these routes yet) or fails falls back to a local equivalent when one
//! exists, else the model gets a clear tool error. Everything else goes to the local tools.

use std::sync::Arc;

use futures::future::BoxFuture;
use serde_json::{Value, json};

use super::{LocalToolExecutor, Preview, Risk, ToolCall, ToolContext, ToolExecutor, ToolOutcome};
use crate::botserver::Botserver;
use crate::botserver::client::BotError;
use crate::llm::ToolSpec;

/// Agent tools and the agent that serves each.
pub const ROUTES: [(&str, &str, &str); 9] = [
    (
        "database_query",
        "database",
        "Run a query through the botserver's database agent.",
    ),
    (
        "schema_visualize",
        "database",
        "Describe or draw the database schema (database agent).",
    ),
    (
        "optimize_query",
        "database",
        "Suggest optimisations for a query (database agent).",
    ),
    (
        "git_commit",
        "git",
        "Commit the staged changes with a message (git agent; local git if unavailable).",
    ),
    (
        "test_generate",
        "test",
        "Generate tests for a file or function (test agent).",
    ),
    (
        "browser_record",
        "browser",
        "Record a browser session against a URL (browser agent).",
    ),
    (
        "docs_generate",
        "docs",
        "Generate documentation for the project or a path (docs agent).",
    ),
    (
        "security_scan",
        "security",
        "Scan the project or a path for security issues (security agent).",
    ),
    (
        "code_refactor",
        "editor",
        "Refactor code as described (editor agent).",
    ),
];

fn route(name: &str) -> Option<&'static str> {
    ROUTES
        .iter()
        .find(|(t, ..)| *t == name)
        .map(|(_, agent, _)| *agent)
}

/// Local tools plus botserver agent tools.
#[derive(Debug)]
pub struct AgentToolExecutor {
    local: LocalToolExecutor,
    bot: Option<Arc<Botserver>>,
}

impl AgentToolExecutor {
    /// Local tools, and agent tools when a botserver is configured.
    pub fn new(bot: Option<Arc<Botserver>>) -> Self {
        AgentToolExecutor {
            local: LocalToolExecutor,
            bot,
        }
    }

    fn healthy(&self) -> bool {
        self.bot.as_ref().is_some_and(|b| b.monitor.is_healthy())
    }

    /// A local equivalent of an agent tool, if there is one.
    fn local_equivalent(call: &ToolCall) -> Option<ToolCall> {
        match call.name.as_str() {
            "git_commit" => {
                let message = call
                    .args
                    .get("message")
                    .and_then(Value::as_str)
                    .unwrap_or("botcoder commit");
                Some(ToolCall {
                    id: call.id.clone(),
                    name: "git".into(),
                    args: json!({"op": "commit", "args": ["-m", message]}),
                })
            }
            _ => None,
        }
    }
}

impl ToolExecutor for AgentToolExecutor {
    fn specs(&self, read_only: bool) -> Vec<ToolSpec> {
        let mut specs = self.local.specs(read_only);
        if self.healthy() && !read_only {
            for (name, _, description) in ROUTES {
                specs.push(ToolSpec {
                    name: name.to_owned(),
                    description: description.to_owned(),
                    parameters: json!({"type": "object", "additionalProperties": true,
                        "properties": {"request": {"type": "string", "description": "What to do."},
                                       "message": {"type": "string", "description": "Commit message (git_commit)."}}}),
                });
            }
        }
        specs
    }

    fn supports(&self, name: &str) -> bool {
        self.local.supports(name) || route(name).is_some()
    }

    fn executor(&self, name: &str) -> String {
        route(name).map_or_else(|| "local".to_owned(), |agent| format!("agent:{agent}"))
    }

    fn risk(&self, call: &ToolCall) -> Risk {
        match route(&call.name) {
            Some(_) => Risk::Command,
            None => self.local.risk(call),
        }
    }

    fn preview<'a>(&'a self, call: &'a ToolCall, ctx: &'a ToolContext) -> BoxFuture<'a, Preview> {
        if route(&call.name).is_some() {
            let summary = format!("{} via the botserver: {}", call.name, call.args);
            return Box::pin(async move {
                Preview {
                    summary,
                    diff: None,
                }
            });
        }
        self.local.preview(call, ctx)
    }

    fn execute<'a>(
        &'a self,
        call: &'a ToolCall,
        ctx: &'a ToolContext,
    ) -> BoxFuture<'a, ToolOutcome> {
        let Some(agent) = route(&call.name) else {
            return self.local.execute(call, ctx);
        };
        Box::pin(async move {
            let remote = match &self.bot {
                Some(bot) if bot.monitor.is_healthy() => {
                    Some(bot.client.agent_query(agent, &call.name, &call.args).await)
                }
                _ => None,
            };
            let why = match remote {
                Some(Ok(body)) => return ToolOutcome::ok(body),
                Some(Err(e)) => {
                    if let (BotError::Down(_), Some(bot)) = (&e, &self.bot) {
                        bot.monitor.mark_down(e.to_string());
                    }
                    format!("the botserver's {agent} agent is {e}")
                }
                None => "the botserver is not available".to_owned(),
            };
            match Self::local_equivalent(call) {
                Some(local) => {
                    let mut out = self.local.execute(&local, ctx).await;
                    out.output = format!("[{why}; ran the local equivalent]\n{}", out.output);
                    out
                }
                None => ToolOutcome::error(format!(
                    "{} cannot run: {why}, and there is no local equivalent",
                    call.name
                )),
            }
        })
    }
}
