//! MCP tools next to the local (and agent) tools: an executor that offers both and sends
//! each call to the one that owns it.
//!
//! The risk of an MCP call is what approvals key on: a read only when the server is trusted
//! and annotates the tool `readOnlyHint` (a server's own hint is not believed otherwise), a
//! command — it may do anything — for every other one. Read-only sessions are offered only
//! the reads.

use std::sync::Arc;

use futures::future::BoxFuture;

use super::{Mcp, adapt};
use crate::llm::ToolSpec;
use crate::tools::{Preview, Risk, ToolCall, ToolContext, ToolExecutor, ToolOutcome};

/// `inner`'s tools plus every ready MCP server's.
#[derive(Debug)]
pub struct McpTools {
    inner: Arc<dyn ToolExecutor>,
    mcp: Arc<Mcp>,
}

impl McpTools {
    /// `inner` with the MCP tools of `mcp` added.
    pub fn wrap(inner: Arc<dyn ToolExecutor>, mcp: Arc<Mcp>) -> Arc<dyn ToolExecutor> {
        Arc::new(McpTools { inner, mcp })
    }

    /// Whether a call of `name` goes to these servers: an MCP name that `inner` does not
    /// serve (a session's servers wrap the daemon's, whose tools stay theirs).
    fn owns(&self, name: &str) -> bool {
        name.starts_with(adapt::PREFIX) && !self.inner.supports(name)
    }
}

impl ToolExecutor for McpTools {
    fn specs(&self, read_only: bool) -> Vec<ToolSpec> {
        let mut specs = self.inner.specs(read_only);
        let local: Vec<String> = specs.iter().map(|s| s.name.clone()).collect();
        for (tool, read) in self.mcp.tools() {
            if (read_only && !read) || local.contains(&tool.name) {
                continue;
            }
            specs.push(ToolSpec {
                name: tool.name,
                description: tool.description,
                parameters: tool.schema,
            });
        }
        specs
    }

    fn ready(&self) -> BoxFuture<'_, ()> {
        Box::pin(async move {
            self.inner.ready().await;
            self.mcp.settle().await;
        })
    }

    fn supports(&self, name: &str) -> bool {
        if self.owns(name) {
            self.mcp.tools().iter().any(|(t, _)| t.name == name)
        } else {
            self.inner.supports(name)
        }
    }

    fn risk(&self, call: &ToolCall) -> Risk {
        match self.owns(&call.name) {
            true if self.mcp.is_read(&call.name) => Risk::Read,
            true => Risk::Command,
            false => self.inner.risk(call),
        }
    }

    fn executor(&self, name: &str) -> String {
        match adapt::server_of(name) {
            Some(server) => format!("mcp:{server}"),
            None => self.inner.executor(name),
        }
    }

    fn preview<'a>(&'a self, call: &'a ToolCall, ctx: &'a ToolContext) -> BoxFuture<'a, Preview> {
        if !self.owns(&call.name) {
            return self.inner.preview(call, ctx);
        }
        let server = adapt::server_of(&call.name).unwrap_or("?");
        let mut args = call.args.to_string();
        if args.len() > 512 {
            let mut end = 512;
            while !args.is_char_boundary(end) {
                end -= 1;
            }
            args.truncate(end);
            args.push('…');
        }
        let summary = format!("MCP server {server}: {} {args}", call.name);
        Box::pin(async move {
            Preview {
                summary,
                diff: None,
            }
        })
    }

    fn execute<'a>(
        &'a self,
        call: &'a ToolCall,
        ctx: &'a ToolContext,
    ) -> BoxFuture<'a, ToolOutcome> {
        if !self.owns(&call.name) {
            return self.inner.execute(call, ctx);
        }
        Box::pin(self.mcp.call(&call.name, &call.args, ctx))
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used)]
    use serde_json::json;

    use crate::session::approval::rules::{self, Rules};
    use crate::tools::ToolCall;

    fn call(name: &str) -> ToolCall {
        ToolCall {
            id: "c1".into(),
            name: name.into(),
            args: json!({"message": "cargo test; rm -rf /"}),
        }
    }

    /// A rule names one MCP tool whole: not another tool of the server, and never by what
    /// the arguments say (a hostile model cannot phrase its way into an allow rule).
    #[test]
    fn rules_name_mcp_tools_whole() {
        let r = Rules::new(
            &["mcp__everything__echo".into(), "cargo test".into()],
            &["mcp__everything__get-env".into()],
        )
        .unwrap();
        assert!(
            r.allowing(&rules::action(&call("mcp__everything__echo")))
                .is_some()
        );
        assert!(
            r.allowing(&rules::action(&call("mcp__everything__echo2")))
                .is_none()
        );
        assert!(
            r.allowing(&rules::action(&call("mcp__other__echo")))
                .is_none()
        );
        assert!(
            r.denying(&rules::action(&call("mcp__everything__get-env")))
                .is_some()
        );
    }
}
