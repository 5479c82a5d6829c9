//! The one event type: what the daemon journals is what it sends to every client is what
//! `botcoder ask --json` prints.

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use crate::ErrorKind;
use crate::ids::{SessionId, TurnId};

/// One thing that happened in a session.
///
/// Durable events carry a `seq` (1, 2, 3, ... per session) and are written to the session
/// journal before anyone sees them; ephemeral events (`assistant.delta`,
/// `assistant.reasoning_delta`, `tool.output`, `lagged`) have no `seq` and are only
/// delivered live.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct Event {
    /// Position in the session journal; absent on ephemeral events.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub seq: Option<u64>,
    /// The session this event belongs to.
    pub session_id: SessionId,
    /// When the daemon recorded the event, RFC 3339 UTC with milliseconds.
    pub time: String,
    /// What happened; serialized inline, discriminated by `type`.
    #[serde(flatten)]
    pub body: EventBody,
}

impl Event {
    /// The `type` string of this event, as it appears on the wire.
    pub fn kind(&self) -> &'static str {
        self.body.kind()
    }
}

/// The payload of an [`Event`], tagged by `type`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(tag = "type")]
pub enum EventBody {
    /// The first event of every session.
    #[serde(rename = "session.created")]
    SessionCreated {
        /// Absolute project root the session's tools work in.
        project_path: String,
        /// Human title, if one was given.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        title: Option<String>,
    },
    /// The session got a new title.
    #[serde(rename = "session.renamed")]
    SessionRenamed {
        /// The new title.
        title: String,
    },
    /// A user message, journaled before `session.send` answers (invariant I3).
    #[serde(rename = "user.message")]
    UserMessage {
        /// The turn this message starts (possibly after queued turns).
        turn_id: TurnId,
        /// The message text.
        text: String,
        /// Name of the client that sent it, from `daemon.hello` (e.g. `botcoder-cli`).
        client: String,
    },
    /// A queued turn began running.
    #[serde(rename = "turn.started")]
    TurnStarted {
        /// The turn.
        turn_id: TurnId,
        /// Provider serving the turn, when one is configured.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        provider: Option<String>,
        /// Model serving the turn, when known.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        model: Option<String>,
    },
    /// A piece of assistant text as it streams (ephemeral). `offset` is the UTF-8 byte length
    /// of the current reply's text before this piece, so a client that already has text up to
    /// some offset can drop what it has seen (invariant I2). Offsets restart at 0 after each
    /// `assistant.message`.
    #[serde(rename = "assistant.delta")]
    AssistantDelta {
        /// The running turn.
        turn_id: TurnId,
        /// Byte offset of `text` within the current reply.
        offset: u64,
        /// The new text.
        text: String,
    },
    /// The complete text of one model reply.
    #[serde(rename = "assistant.message")]
    AssistantMessage {
        /// The turn.
        turn_id: TurnId,
        /// Full reply text.
        text: String,
        /// True when the reply was cut short (cancel, failure, daemon crash) and this is what
        /// had streamed so far.
        #[serde(default, skip_serializing_if = "is_false")]
        partial: bool,
    },
    /// Token usage reported by the provider for one model request.
    #[serde(rename = "usage")]
    Usage {
        /// The turn.
        turn_id: TurnId,
        /// Prompt tokens.
        input_tokens: u64,
        /// Completion tokens.
        output_tokens: u64,
        /// Of `input_tokens`, how many the provider served from its prompt cache.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        cached_input_tokens: Option<u64>,
        /// Of `output_tokens`, how many were reasoning (hidden thinking) tokens.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        reasoning_tokens: Option<u64>,
        /// What this request cost in US dollars, from the price table; absent when the
        /// model's price is unknown.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        cost_usd: Option<f64>,
    },
    /// The provider failed in a retryable way and the daemon waits before trying again.
    #[serde(rename = "provider.retry")]
    ProviderRetry {
        /// The turn being served, when the retry belongs to one.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        turn_id: Option<TurnId>,
        /// Provider name.
        provider: String,
        /// The attempt that failed (1 = first).
        attempt: u32,
        /// How long the daemon waits before the next attempt.
        wait_ms: u64,
        /// HTTP status of the failure, absent for transport errors.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        status: Option<u16>,
        /// What went wrong, for people.
        reason: String,
    },
    /// The daemon-wide rate-limit budget makes this request wait.
    #[serde(rename = "ratelimit.wait")]
    RateLimitWait {
        /// Provider name.
        provider: String,
        /// Expected wait.
        wait_ms: u64,
        /// Which budget is exhausted (e.g. `tokens per minute`).
        reason: String,
    },
    /// The daemon switched between local and multi-agent mode (announced to every session).
    /// Durable, so a client attaching later learns the mode its session is in.
    #[serde(rename = "mode.changed")]
    ModeChanged {
        /// The new mode.
        mode: Mode,
        /// Why it changed.
        reason: String,
    },
    /// The daemon continued on a fallback provider.
    #[serde(rename = "provider.switched")]
    ProviderSwitched {
        /// Provider given up on.
        from: String,
        /// Provider now used.
        to: String,
        /// Why.
        reason: String,
    },
    /// The model asked for a tool to run.
    #[serde(rename = "tool.call")]
    ToolCall {
        /// The turn.
        turn_id: TurnId,
        /// Id that ties the call to its result.
        call_id: String,
        /// Tool name.
        name: String,
        /// Arguments as given by the model.
        args: serde_json::Value,
        /// Where it runs: `local` or a botserver agent name.
        executor: String,
        /// How the model asked for it.
        #[serde(default)]
        origin: ToolOrigin,
    },
    /// Live output of a running tool (ephemeral).
    #[serde(rename = "tool.output")]
    ToolOutput {
        /// The turn.
        turn_id: TurnId,
        /// The call producing the output.
        call_id: String,
        /// Which of the tool's output streams.
        stream: OutputStream,
        /// The output piece.
        text: String,
    },
    /// A tool finished.
    #[serde(rename = "tool.result")]
    ToolResult {
        /// The turn.
        turn_id: TurnId,
        /// The call.
        call_id: String,
        /// Whether the tool succeeded.
        ok: bool,
        /// Output as kept in the journal (whole, up to the journal cap).
        output: String,
        /// Exit code, for commands.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        exit_code: Option<i32>,
        /// Whether output was cut.
        #[serde(default, skip_serializing_if = "is_false")]
        truncated: bool,
    },
    /// A file in the project changed during the turn.
    #[serde(rename = "file.changed")]
    FileChanged {
        /// The turn.
        turn_id: TurnId,
        /// Path relative to the project root.
        path: String,
        /// Unified diff of the change.
        diff: String,
    },
    /// A tool call waits for a person to allow or deny it.
    #[serde(rename = "approval.requested")]
    ApprovalRequested {
        /// The turn.
        turn_id: TurnId,
        /// The call waiting.
        call_id: String,
        /// Tool name.
        tool: String,
        /// One line saying what would happen.
        summary: String,
        /// The change, for file edits.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        diff: Option<String>,
        /// What "allow for this session" would cover, as the person should read it: a
        /// command prefix (`cargo test`), a file (`src/lib.rs`), or the exact command marked
        /// `(exactly)`. Absent in journals written before scopes existed.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        scope: Option<String>,
    },
    /// Somebody (or the policy) decided an approval.
    #[serde(rename = "approval.resolved")]
    ApprovalResolved {
        /// The turn.
        turn_id: TurnId,
        /// The call.
        call_id: String,
        /// The decision.
        decision: ApprovalDecision,
        /// Who decided: the deciding client's label (its `daemon.hello` name), `policy`, or
        /// `rule:<rule>` when a config rule decided.
        decided_by: String,
    },
    /// A piece of the model's reasoning as it streams (ephemeral); `offset` works as in
    /// `assistant.delta` and restarts at 0 after each `assistant.reasoning`.
    #[serde(rename = "assistant.reasoning_delta")]
    AssistantReasoningDelta {
        /// The running turn.
        turn_id: TurnId,
        /// Byte offset of `text` within the current reasoning text.
        offset: u64,
        /// The new text.
        text: String,
    },
    /// The whole reasoning (summary or thinking text) of one model reply, journaled before
    /// the reply's `assistant.message`.
    #[serde(rename = "assistant.reasoning")]
    AssistantReasoning {
        /// The turn.
        turn_id: TurnId,
        /// Reasoning text for people (may be empty when the provider only returns an
        /// encrypted form).
        text: String,
        /// Provider-specific data that must be sent back verbatim in later requests
        /// (Responses API reasoning items with `encrypted_content`, Anthropic thinking
        /// blocks with their `signature`). Opaque to clients.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        replay: Option<serde_json::Value>,
    },
    /// The session's settings changed (`session.configure`, or the daemon applied a
    /// reloaded config). Applies from the next turn on.
    #[serde(rename = "session.configured")]
    SessionConfigured {
        /// Provider name now used.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        provider: Option<String>,
        /// Model now used.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        model: Option<String>,
        /// Base URL of the provider (never a key).
        #[serde(default, skip_serializing_if = "Option::is_none")]
        base_url: Option<String>,
        /// Approval policy now in force.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        approval: Option<ApprovalPolicy>,
        /// The command sandbox now in force, by mode name (`bwrap`, `landlock+network`,
        /// `off`), when it changed.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        sandbox: Option<String>,
        /// Who changed it: a client's label, or `config` for a reload.
        by: String,
    },
    /// The files one turn changed (by tools and by commands), from the snapshots taken
    /// before its first change and after it ended. Journaled before `turn.completed`.
    #[serde(rename = "turn.changes")]
    TurnChanges {
        /// The turn.
        turn_id: TurnId,
        /// Changed files, sorted by path.
        files: Vec<FileChange>,
    },
    /// A turn's file changes were taken back (`session.revert`); the turn also leaves the
    /// model's context.
    #[serde(rename = "turn.reverted")]
    TurnReverted {
        /// The reverted turn.
        turn_id: TurnId,
        /// The files restored or removed.
        files: Vec<FileChange>,
        /// Label of the client that asked.
        by: String,
    },
    /// A revert was undone (`session.unrevert`): the turn's changes are back in place and
    /// the turn is back in the model's context.
    #[serde(rename = "turn.unreverted")]
    TurnUnreverted {
        /// The turn.
        turn_id: TurnId,
        /// The files put back.
        files: Vec<FileChange>,
        /// Label of the client that asked.
        by: String,
    },
    /// Older context was shortened to fit the model's window.
    #[serde(rename = "context.compacted")]
    ContextCompacted {
        /// The turn.
        turn_id: TurnId,
        /// Estimated tokens before.
        before_tokens: u64,
        /// Estimated tokens after.
        after_tokens: u64,
        /// How: `summarized` (a summary the model wrote replaced the oldest messages),
        /// `tool_outputs_shortened`, `dropped`; `..._summary_failed` when a summary was
        /// asked for and the request failed, so the older method was used instead.
        method: String,
        /// With `summarized`: the text that stands in for the replaced messages in the
        /// model's context from here on (the handoff summary and the user's own earlier
        /// words), kept so a reload rebuilds the same context.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        summary: Option<String>,
        /// With `summarized`: how many of the oldest messages of the model's context the
        /// summary replaces.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        summarized_messages: Option<u64>,
    },
    /// Progress of a botserver pipeline task.
    #[serde(rename = "pipeline.progress")]
    PipelineProgress {
        /// The turn.
        turn_id: TurnId,
        /// Botserver task id.
        task_id: String,
        /// Step name.
        step: String,
        /// Message for people.
        message: String,
        /// 0..100.
        progress: f64,
        /// Current step number.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        current_step: Option<u32>,
        /// Total steps.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        total_steps: Option<u32>,
        /// Agent doing the work, when known.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        agent: Option<String>,
    },
    /// The turn ended. Every `turn.started` is closed by exactly one of these.
    #[serde(rename = "turn.completed")]
    TurnCompleted {
        /// The turn.
        turn_id: TurnId,
        /// How it ended.
        status: TurnStatus,
        /// Why, unless it completed.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        error: Option<TurnError>,
    },
    /// This subscriber fell behind and its queue overflowed (ephemeral). Live ephemeral
    /// events were dropped; durable events resume after `resume_after_seq` without a gap.
    #[serde(rename = "lagged")]
    Lagged {
        /// Last durable seq delivered before the overflow.
        resume_after_seq: u64,
    },
    /// An event of a type this build does not know (written by a newer daemon). Reading it
    /// never fails, so an old client or journal reader skips it instead of breaking; its
    /// fields are not kept. The daemon never sends one.
    #[serde(rename = "unknown", other)]
    Unknown,
}

impl EventBody {
    /// The `type` string on the wire.
    pub fn kind(&self) -> &'static str {
        match self {
            EventBody::SessionCreated { .. } => "session.created",
            EventBody::SessionRenamed { .. } => "session.renamed",
            EventBody::UserMessage { .. } => "user.message",
            EventBody::TurnStarted { .. } => "turn.started",
            EventBody::AssistantDelta { .. } => "assistant.delta",
            EventBody::AssistantMessage { .. } => "assistant.message",
            EventBody::Usage { .. } => "usage",
            EventBody::ProviderRetry { .. } => "provider.retry",
            EventBody::RateLimitWait { .. } => "ratelimit.wait",
            EventBody::ModeChanged { .. } => "mode.changed",
            EventBody::ProviderSwitched { .. } => "provider.switched",
            EventBody::ToolCall { .. } => "tool.call",
            EventBody::ToolOutput { .. } => "tool.output",
            EventBody::ToolResult { .. } => "tool.result",
            EventBody::FileChanged { .. } => "file.changed",
            EventBody::ApprovalRequested { .. } => "approval.requested",
            EventBody::ApprovalResolved { .. } => "approval.resolved",
            EventBody::ContextCompacted { .. } => "context.compacted",
            EventBody::PipelineProgress { .. } => "pipeline.progress",
            EventBody::TurnCompleted { .. } => "turn.completed",
            EventBody::Lagged { .. } => "lagged",
            EventBody::AssistantReasoningDelta { .. } => "assistant.reasoning_delta",
            EventBody::AssistantReasoning { .. } => "assistant.reasoning",
            EventBody::SessionConfigured { .. } => "session.configured",
            EventBody::TurnChanges { .. } => "turn.changes",
            EventBody::TurnReverted { .. } => "turn.reverted",
            EventBody::TurnUnreverted { .. } => "turn.unreverted",
            EventBody::Unknown => "unknown",
        }
    }

    /// Whether events of this kind are journaled (and get a `seq`). Part of the protocol
    /// contract, so it lives beside the type.
    pub fn is_durable(&self) -> bool {
        !matches!(
            self,
            EventBody::AssistantDelta { .. }
                | EventBody::AssistantReasoningDelta { .. }
                | EventBody::ToolOutput { .. }
                | EventBody::Lagged { .. }
                | EventBody::Unknown
        )
    }

    /// The turn this event belongs to, if any.
    pub fn turn_id(&self) -> Option<&TurnId> {
        match self {
            EventBody::UserMessage { turn_id, .. }
            | EventBody::TurnStarted { turn_id, .. }
            | EventBody::AssistantDelta { turn_id, .. }
            | EventBody::AssistantMessage { turn_id, .. }
            | EventBody::Usage { turn_id, .. }
            | EventBody::ToolCall { turn_id, .. }
            | EventBody::ToolOutput { turn_id, .. }
            | EventBody::ToolResult { turn_id, .. }
            | EventBody::FileChanged { turn_id, .. }
            | EventBody::ApprovalRequested { turn_id, .. }
            | EventBody::ApprovalResolved { turn_id, .. }
            | EventBody::ContextCompacted { turn_id, .. }
            | EventBody::PipelineProgress { turn_id, .. }
            | EventBody::TurnCompleted { turn_id, .. }
            | EventBody::AssistantReasoningDelta { turn_id, .. }
            | EventBody::AssistantReasoning { turn_id, .. }
            | EventBody::TurnChanges { turn_id, .. }
            | EventBody::TurnReverted { turn_id, .. }
            | EventBody::TurnUnreverted { turn_id, .. } => Some(turn_id),
            EventBody::ProviderRetry { turn_id, .. } => turn_id.as_ref(),
            EventBody::SessionCreated { .. }
            | EventBody::SessionRenamed { .. }
            | EventBody::RateLimitWait { .. }
            | EventBody::ModeChanged { .. }
            | EventBody::ProviderSwitched { .. }
            | EventBody::SessionConfigured { .. }
            | EventBody::Lagged { .. }
            | EventBody::Unknown => None,
        }
    }
}

fn is_false(b: &bool) -> bool {
    !*b
}

/// One file a turn changed.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub struct FileChange {
    /// Path relative to the project root, `/`-separated.
    pub path: String,
    /// What happened to it.
    pub status: FileChangeStatus,
    /// Lines added (0 for binary files).
    pub added: u64,
    /// Lines removed (0 for binary files).
    pub removed: u64,
}

/// What happened to a changed file.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum FileChangeStatus {
    /// The file did not exist before.
    Added,
    /// The file's content (or mode) changed.
    Modified,
    /// The file was removed.
    Deleted,
}

/// How a turn ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum TurnStatus {
    /// The model finished its answer.
    Completed,
    /// A client cancelled it.
    Cancelled,
    /// It failed; `error` says why.
    Failed,
    /// The daemon stopped (crash or restart) while it ran.
    Interrupted,
}

/// Why a turn did not complete.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct TurnError {
    /// Stable machine-readable kind, e.g. `rate_limited`.
    pub kind: ErrorKind,
    /// What failed and what to do, for people.
    pub message: String,
}

/// The daemon's execution mode.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum Mode {
    /// Bring-your-own-key: providers called directly, tools run on this machine.
    Local,
    /// A healthy botserver takes pipeline work and agent tools.
    MultiAgent,
}

/// Which output stream of a tool's process a `tool.output` piece came from.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum OutputStream {
    /// Standard output.
    Stdout,
    /// Standard error.
    Stderr,
}

impl OutputStream {
    /// The wire string.
    pub const fn as_str(self) -> &'static str {
        match self {
            OutputStream::Stdout => "stdout",
            OutputStream::Stderr => "stderr",
        }
    }
}

/// How a tool call reached the daemon.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum ToolOrigin {
    /// A native tool call of the provider's wire format.
    #[default]
    Native,
    /// A call written as text, e.g. `read_file("src/main.rs")`.
    Text,
    /// A `CHANGE:` block in the reply text.
    Delta,
}

/// Which tool calls need a person's approval in a session.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "kebab-case")]
pub enum ApprovalPolicy {
    /// Everything runs without asking.
    Auto,
    /// Writes, edits, commands and risky git operations wait for an attached client that
    /// declared the `approvals` capability; with none attached they are denied at once.
    #[default]
    Ask,
    /// Only the read tools are offered; anything else is denied.
    ReadOnly,
}

/// An answer to `approval.requested`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum ApprovalDecision {
    /// Run this call.
    Allow,
    /// Run this call and, for the rest of the session, every later call within the
    /// `scope` the request showed (not every call of the same tool).
    AllowSession,
    /// Do not run it; the model is told.
    Deny,
}
