//! What the transcript, the queue and the modals hold.

use botcoder_protocol::FileChange;

/// One entry of the transcript.
#[derive(Debug, Clone, PartialEq)]
pub enum Item {
    /// A user message and the client that sent it.
    User {
        /// Sender.
        client: String,
        /// Text (attached files included; the view shows them as chips).
        text: String,
    },
    /// A (possibly still streaming) assistant reply.
    Assistant {
        /// Text.
        text: String,
    },
    /// The model's reasoning (dimmed, collapsed unless expanded).
    Reasoning {
        /// Text.
        text: String,
    },
    /// A tool call with its live output and result.
    Tool {
        /// Call id.
        call_id: String,
        /// Tool name.
        name: String,
        /// Arguments.
        args: serde_json::Value,
        /// Live output, then the result's output.
        output: String,
        /// `None` while running.
        ok: Option<bool>,
        /// Exit code.
        exit_code: Option<i32>,
        /// The diff of the file it changed.
        diff: Option<String>,
    },
    /// A file change not tied to a tool block.
    Diff {
        /// Path.
        path: String,
        /// Unified diff.
        diff: String,
    },
    /// A turn's file changes, or their revert / re-apply.
    Changes {
        /// `changed`, `reverted by X`, `re-applied by X`.
        what: String,
        /// Files.
        files: Vec<FileChange>,
    },
    /// Botserver pipeline progress (one line per step).
    Progress {
        /// Step.
        step: String,
        /// Message.
        message: String,
        /// 0..100.
        progress: f64,
    },
    /// A notice; `error` ones are drawn so nobody misses them.
    Notice {
        /// Text, verbatim.
        text: String,
        /// Whether it is an error.
        error: bool,
    },
}

/// A message waiting for its turn.
#[derive(Debug, Clone, PartialEq)]
pub struct Queued {
    /// Its turn.
    pub turn_id: String,
    /// Sender.
    pub client: String,
    /// Text.
    pub text: String,
}

/// A pending approval shown as a modal.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct PendingApproval {
    /// The call.
    pub call_id: String,
    /// Tool.
    pub tool: String,
    /// Summary.
    pub summary: String,
    /// Diff, for edits.
    pub diff: Option<String>,
    /// What "allow for this session" covers.
    pub scope: Option<String>,
    /// Lines scrolled down in the diff.
    pub scroll: usize,
    /// A deny message being typed (`m`), `None` otherwise.
    pub message: Option<String>,
}

/// An overlay over the transcript (`/diff`, `/help`).
#[derive(Debug, Clone, PartialEq)]
pub struct Overlay {
    /// Title.
    pub title: String,
    /// Text (a diff is coloured as one).
    pub text: String,
    /// Lines scrolled down.
    pub scroll: usize,
}
