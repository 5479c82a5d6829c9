//! Tools the model can call: the executor trait, path confinement (I6), diffs, and the
//! local implementations. The agent loop (`session::agent`) decides approval and emits the
//! events; tools only do the work and say what happened.

pub mod agent;
pub mod confine;
pub mod delta;
pub mod diff;
pub mod local;
pub mod sandbox;
pub mod text_calls;

use std::path::PathBuf;

use futures::future::BoxFuture;
use tokio_util::sync::CancellationToken;

pub use local::LocalToolExecutor;

use crate::llm::ToolSpec;

/// One call, with its arguments already parsed.
#[derive(Debug, Clone, PartialEq)]
pub struct ToolCall {
    /// Call id (the provider's, or generated for text calls).
    pub id: String,
    /// Tool name.
    pub name: String,
    /// Arguments object.
    pub args: serde_json::Value,
}

/// What a tool runs with.
#[derive(Debug)]
pub struct ToolContext {
    /// Canonical absolute project root; every path is confined to it.
    pub project_root: PathBuf,
    /// Cancelled with the turn.
    pub cancel: CancellationToken,
    /// Live output of commands, as it arrives.
    pub output: Option<tokio::sync::mpsc::UnboundedSender<OutputChunk>>,
    /// The editor serving the session's files, if one does (`crate::client_fs`).
    pub editor: Option<crate::client_fs::Editor>,
    /// The session's own sandbox policy; `None`: the daemon's ([`sandbox::current`]).
    pub sandbox: Option<std::sync::Arc<sandbox::Policy>>,
}

/// A piece of live command output.
#[derive(Debug, Clone, PartialEq)]
pub struct OutputChunk {
    /// Which stream it came from.
    pub stream: botcoder_protocol::OutputStream,
    /// The text.
    pub text: String,
}

/// A file the tool changed.
#[derive(Debug, Clone, PartialEq)]
pub struct FileChange {
    /// Path relative to the project root.
    pub path: String,
    /// Unified diff.
    pub diff: String,
}

/// What a tool did.
#[derive(Debug, Clone, PartialEq)]
pub struct ToolOutcome {
    /// Whether it succeeded.
    pub ok: bool,
    /// Output for the model (and the journal).
    pub output: String,
    /// Exit code, for commands.
    pub exit_code: Option<i32>,
    /// Whether output was cut.
    pub truncated: bool,
    /// Files changed.
    pub changes: Vec<FileChange>,
}

impl ToolOutcome {
    /// A success with `output`.
    pub fn ok(output: impl Into<String>) -> Self {
        ToolOutcome {
            ok: true,
            output: output.into(),
            exit_code: None,
            truncated: false,
            changes: Vec::new(),
        }
    }

    /// A failure the model can act on.
    pub fn error(output: impl Into<String>) -> Self {
        ToolOutcome {
            ok: false,
            output: output.into(),
            exit_code: None,
            truncated: false,
            changes: Vec::new(),
        }
    }
}

/// What approval policy keys on.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Risk {
    /// Reads only.
    Read,
    /// Changes files.
    Write,
    /// Runs a command.
    Command,
    /// A git operation that can discard work.
    GitDiscard,
}

/// What an approval request shows.
#[derive(Debug, Clone, PartialEq)]
pub struct Preview {
    /// One line.
    pub summary: String,
    /// The change, for file edits.
    pub diff: Option<String>,
}

/// Something that runs tools.
pub trait ToolExecutor: Send + Sync + std::fmt::Debug {
    /// Tool definitions offered to the model; `read_only` offers only the read tools.
    fn specs(&self, read_only: bool) -> Vec<ToolSpec>;
    /// Waits (bounded) until tools that are still being prepared can be offered: MCP
    /// servers still starting, at most their startup timeout.
    fn ready(&self) -> BoxFuture<'_, ()> {
        Box::pin(async {})
    }
    /// Whether `name` is one of its tools.
    fn supports(&self, name: &str) -> bool;
    /// How risky `call` is.
    fn risk(&self, call: &ToolCall) -> Risk;
    /// Where `name` runs, for `tool.call.executor`: `local` or `agent:<name>`.
    fn executor(&self, _name: &str) -> String {
        "local".to_owned()
    }
    /// What `call` would do, without doing it.
    fn preview<'a>(&'a self, call: &'a ToolCall, ctx: &'a ToolContext) -> BoxFuture<'a, Preview>;
    /// Runs `call`. Never panics; every failure is an `ok: false` outcome.
    fn execute<'a>(
        &'a self,
        call: &'a ToolCall,
        ctx: &'a ToolContext,
    ) -> BoxFuture<'a, ToolOutcome>;
}
