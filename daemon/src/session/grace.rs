//! A cancelled turn is really over: tools get a grace period to honour the turn's
//! cancellation, then the turn stops waiting for them.
//!
//! Every tool gets a cancellation token, but a tool blocked in a system call (a `read_file`
//! on a FIFO blocks in `open(2)` until a writer appears) cannot notice it. Without this
//! wrapper such a tool kept its turn running after `turn.cancel` said "cancelled", and the
//! session could not be stopped or deleted. With it, [`TOOL_GRACE`] after the cancel the
//! call ends with an error result, the agent loop sees the cancellation and the turn closes
//! as cancelled. What the tool was doing is abandoned, not undone: a blocked system call
//! keeps its blocking thread until it returns, and its result is dropped.

use std::sync::Arc;
use std::time::Duration;

use futures::future::BoxFuture;
use tokio::sync::mpsc;

use crate::llm::ToolSpec;
use crate::tools::{Preview, Risk, ToolCall, ToolContext, ToolExecutor, ToolOutcome};

/// How long a tool may take to honour its turn's cancellation.
pub const TOOL_GRACE: Duration = Duration::from_secs(2);

/// Wraps an executor so that no call outlives its turn's cancellation by more than a grace.
#[derive(Debug)]
pub struct Graceful {
    inner: Arc<dyn ToolExecutor>,
    grace: Duration,
    /// Debug builds only, with `BOTCODER_TEST_WEDGE_TOOL=1`: a tool that blocks ignoring
    /// cancellation, so the tests can wedge a turn however the real tools are fixed.
    test_wedge: bool,
}

/// Name of the test-only tool that ignores cancellation.
const WEDGE_TOOL: &str = "test_wedge";

impl Graceful {
    /// `inner` with the grace period enforced.
    pub fn wrap(inner: Arc<dyn ToolExecutor>) -> Arc<dyn ToolExecutor> {
        let test_wedge = cfg!(debug_assertions)
            && std::env::var("BOTCODER_TEST_WEDGE_TOOL").is_ok_and(|v| v == "1");
        Arc::new(Graceful {
            inner,
            grace: TOOL_GRACE,
            test_wedge,
        })
    }

    fn is_wedge(&self, name: &str) -> bool {
        self.test_wedge && name == WEDGE_TOOL
    }
}

/// Blocks a thread for `args.seconds` (at most 60) without looking at the cancellation.
async fn wedge(call: &ToolCall) -> ToolOutcome {
    let secs = call.args["seconds"].as_u64().unwrap_or(30).min(60);
    let slept = tokio::task::spawn_blocking(move || {
        std::thread::sleep(Duration::from_secs(secs));
    })
    .await;
    match slept {
        Ok(()) => ToolOutcome::ok(format!("slept {secs}s")),
        Err(e) => ToolOutcome::error(e.to_string()),
    }
}

impl ToolExecutor for Graceful {
    fn specs(&self, read_only: bool) -> Vec<ToolSpec> {
        let mut specs = self.inner.specs(read_only);
        if self.test_wedge {
            specs.push(ToolSpec {
                name: WEDGE_TOOL.to_owned(),
                description: "Test only: blocks, ignoring cancellation.".to_owned(),
                parameters: serde_json::json!({"type": "object", "properties": {"seconds": {"type": "integer"}}}),
            });
        }
        specs
    }

    fn supports(&self, name: &str) -> bool {
        self.is_wedge(name) || self.inner.supports(name)
    }

    fn ready(&self) -> BoxFuture<'_, ()> {
        self.inner.ready()
    }

    fn risk(&self, call: &ToolCall) -> Risk {
        if self.is_wedge(&call.name) {
            return Risk::Read;
        }
        self.inner.risk(call)
    }

    fn executor(&self, name: &str) -> String {
        self.inner.executor(name)
    }

    fn preview<'a>(&'a self, call: &'a ToolCall, ctx: &'a ToolContext) -> BoxFuture<'a, Preview> {
        self.inner.preview(call, ctx)
    }

    fn execute<'a>(
        &'a self,
        call: &'a ToolCall,
        ctx: &'a ToolContext,
    ) -> BoxFuture<'a, ToolOutcome> {
        Box::pin(async move {
            // The tool gets its own output channel, relayed here, so that a tool abandoned
            // with a copy of its sender cannot keep the caller's output stream open.
            let (tx, mut rx) = mpsc::unbounded_channel();
            let own = ToolContext {
                project_root: ctx.project_root.clone(),
                cancel: ctx.cancel.clone(),
                output: ctx.output.as_ref().map(|_| tx),
                editor: ctx.editor.clone(),
                sandbox: ctx.sandbox.clone(),
            };
            let mut run: BoxFuture<'_, ToolOutcome> = if self.is_wedge(&call.name) {
                Box::pin(wedge(call))
            } else {
                self.inner.execute(call, &own)
            };
            let abandon = async {
                ctx.cancel.cancelled().await;
                tokio::time::sleep(self.grace).await;
            };
            tokio::pin!(abandon);
            let relay = |chunk| {
                if let Some(out) = &ctx.output {
                    let _ = out.send(chunk);
                }
            };
            loop {
                tokio::select! {
                    out = &mut run => {
                        while let Ok(chunk) = rx.try_recv() {
                            relay(chunk);
                        }
                        return out;
                    }
                    Some(chunk) = rx.recv() => relay(chunk),
                    () = &mut abandon => {
                        tracing::warn!(tool = %call.name, "tool ignored the cancellation; abandoned");
                        return ToolOutcome::error(format!(
                            "{} did not stop within {}s of the cancellation; botcoderd stopped waiting for it",
                            call.name,
                            self.grace.as_secs()
                        ));
                    }
                }
            }
        })
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used)]
    use super::*;
    use tokio_util::sync::CancellationToken;

    /// A tool that never finishes and never looks at its token.
    #[derive(Debug)]
    struct Stuck;

    impl ToolExecutor for Stuck {
        fn specs(&self, _: bool) -> Vec<ToolSpec> {
            Vec::new()
        }
        fn supports(&self, _: &str) -> bool {
            true
        }
        fn risk(&self, _: &ToolCall) -> Risk {
            Risk::Read
        }
        fn preview<'a>(&'a self, _: &'a ToolCall, _: &'a ToolContext) -> BoxFuture<'a, Preview> {
            Box::pin(async {
                Preview {
                    summary: String::new(),
                    diff: None,
                }
            })
        }
        fn execute<'a>(
            &'a self,
            _: &'a ToolCall,
            ctx: &'a ToolContext,
        ) -> BoxFuture<'a, ToolOutcome> {
            let out = ctx.output.clone();
            Box::pin(async move {
                // Keeps a sender alive forever, as a tool stuck with it would.
                let _held = out;
                std::future::pending().await
            })
        }
    }

    fn call() -> ToolCall {
        ToolCall {
            id: "c".into(),
            name: "read_file".into(),
            args: serde_json::json!({}),
        }
    }

    #[tokio::test(start_paused = true)]
    async fn a_tool_ignoring_cancellation_is_abandoned_after_the_grace() {
        let tools = Graceful {
            inner: Arc::new(Stuck),
            grace: Duration::from_secs(2),
            test_wedge: false,
        };
        let (tx, mut rx) = mpsc::unbounded_channel();
        let cancel = CancellationToken::new();
        let ctx = ToolContext {
            project_root: "/".into(),
            cancel: cancel.clone(),
            output: Some(tx),
            editor: None,
            sandbox: None,
        };
        let c = call();
        {
            let run = tools.execute(&c, &ctx);
            tokio::pin!(run);
            // Not cancelled: the tool is waited for.
            assert!(
                tokio::time::timeout(Duration::from_secs(60), &mut run)
                    .await
                    .is_err()
            );
            cancel.cancel();
            let started = tokio::time::Instant::now();
            let out = run.await;
            assert!(!out.ok);
            assert!(out.output.contains("did not stop"), "{}", out.output);
            assert_eq!(started.elapsed(), Duration::from_secs(2));
        }
        drop(ctx);
        // The caller's output stream ends although the stuck tool holds its own sender.
        assert!(rx.recv().await.is_none());
    }
}
