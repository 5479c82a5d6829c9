//! Every JSON-RPC method, declared once with its name, params and result.
//!
//! Params are always named (a JSON object). Unknown fields are ignored so that newer clients
//! can talk to older daemons within one protocol major version.

use schemars::JsonSchema;
use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};

use std::collections::BTreeMap;

use crate::event::{ApprovalDecision, ApprovalPolicy, Event, FileChange, Mode};
use crate::ids::{SessionId, TurnId};

/// A JSON-RPC method: its wire name and the types of its params and result.
pub trait Method {
    /// Dot-separated wire name, e.g. `session.create`.
    const NAME: &'static str;
    /// Named params.
    type Params: Serialize + DeserializeOwned + JsonSchema + Send + Sync + 'static;
    /// Result.
    type Result: Serialize + DeserializeOwned + JsonSchema + Send + Sync + 'static;
}

macro_rules! method {
    ($(#[$doc:meta])* $ty:ident, $name:literal, $params:ty, $result:ty) => {
        $(#[$doc])*
        #[derive(Debug, Clone, Copy)]
        pub struct $ty;
        impl Method for $ty {
            const NAME: &'static str = $name;
            type Params = $params;
            type Result = $result;
        }
    };
}

method!(
    /// Handshake: checks protocol compatibility and tells the daemon who is calling.
    DaemonHello, "daemon.hello", HelloParams, HelloResult
);
method!(
    /// Daemon health, versions, paths and provider state.
    DaemonStatus, "daemon.status", Empty, DaemonStatusResult
);
method!(
    /// Asks the daemon to stop: running turns are cancelled and journals flushed.
    DaemonShutdown, "daemon.shutdown", Empty, Empty
);
method!(
    /// Starts a new session for a project.
    SessionCreate, "session.create", SessionCreateParams, SessionInfo
);
method!(
    /// Lists sessions, newest first.
    SessionList, "session.list", SessionListParams, SessionListResult
);
method!(
    /// Metadata of one session.
    SessionGet, "session.get", SessionRef, SessionInfo
);
method!(
    /// Deletes a session and its journal; running turns are cancelled first.
    SessionDelete, "session.delete", SessionRef, Empty
);
method!(
    /// Gives a session a new title.
    SessionRename, "session.rename", SessionRenameParams, SessionInfo
);
method!(
    /// Durable events of a session, in `seq` order.
    SessionHistory, "session.history", SessionHistoryParams, SessionHistoryResult
);
method!(
    /// Sends a user message. Answers once the message is journaled, with the turn id; the turn
    /// runs when the turns queued before it are done.
    SessionSend, "session.send", SessionSendParams, SessionSendResult
);
method!(
    /// Cancels the running turn (or a queued one, by id).
    TurnCancel, "turn.cancel", TurnCancelParams, TurnCancelResult
);
method!(
    /// Answers an `approval.requested` event.
    ApprovalRespond, "approval.respond", ApprovalRespondParams, Empty
);
method!(
    /// Configured providers, their models, capabilities and health.
    ProviderList, "provider.list", Empty, ProviderListResult
);
method!(
    /// Makes a cheap request to the active provider (listing its models) to check that it
    /// is reachable and accepts the credentials. Used by `botcoder doctor`.
    ProviderCheck, "provider.check", Empty, ProviderCheckResult
);
method!(
    /// Re-reads config.toml now (as SIGHUP and a file change do); the next turn of every
    /// session uses the result. An invalid file keeps the last good settings.
    DaemonReload, "daemon.reload", Empty, DaemonReloadResult
);
method!(
    /// Changes a session's provider, model or approval policy from its next turn on;
    /// journals `session.configured`.
    SessionConfigure, "session.configure", SessionConfigureParams, SessionInfo
);
method!(
    /// Takes back the file changes of one turn (default: the latest turn that changed files
    /// and is not reverted yet); journals `turn.reverted`.
    SessionRevert, "session.revert", SessionRevertParams, SessionRevertResult
);
method!(
    /// Puts a reverted turn's changes back (default: the latest reverted turn); journals
    /// `turn.unreverted`.
    SessionUnrevert, "session.unrevert", SessionRevertParams, SessionRevertResult
);
method!(
    /// A unified diff of what the session, or one turn, changed in the project.
    SessionDiff, "session.diff", SessionDiffParams, SessionDiffResult
);
method!(
    /// Summarises the older part of the conversation now (as the daemon does by itself
    /// near the context limit); journals `context.compacted`.
    SessionCompact, "session.compact", SessionRef, SessionCompactResult
);
method!(
    /// Configured MCP servers: state, tools, last error.
    McpList, "mcp.list", Empty, McpListResult
);
method!(
    /// MCP servers for one session only (an editor's `mcpServers`): started for it next to
    /// the configured ones, replaced by the next call, stopped when the calling connection
    /// ends. Returns those servers as `mcp.list` shows them.
    SessionUseMcp, "session.use_mcp", SessionUseMcpParams, McpListResult
);

/// The subscription method: replay of durable events after `after_seq`, then live events.
pub const SESSION_SUBSCRIBE: &str = "session.subscribe";
/// Name of the notifications that carry [`Event`]s of a subscription.
pub const SESSION_EVENT_NOTIFICATION: &str = "session.event";
/// Ends a subscription.
pub const SESSION_UNSUBSCRIBE: &str = "session.unsubscribe";

/// Longest client name `daemon.hello` accepts, in characters (printable ones only): names are
/// shown to every attached client and written to journals as who decided an approval.
pub const MAX_CLIENT_NAME_CHARS: usize = 64;

/// Most capabilities one `daemon.hello` may declare.
pub const MAX_CAPABILITIES: usize = 32;

/// Longest session title, in characters. Control characters (newlines included) are turned
/// into spaces; a longer title is refused with `limit_exceeded` rather than cut.
pub const MAX_TITLE_CHARS: usize = 200;

/// Longest project path, in bytes (Linux `PATH_MAX`).
pub const MAX_PROJECT_PATH_BYTES: usize = 4096;

/// Longest user message `session.send` accepts, in bytes (1 MiB): far more than anyone types,
/// small enough that a pasted log cannot crowd every other message out of the context.
pub const MAX_MESSAGE_TEXT_BYTES: usize = 1024 * 1024;

/// Longest identifier (call id, turn id) a client may send, in bytes.
pub const MAX_ID_BYTES: usize = 256;

/// Params and result of methods that take or return nothing.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct Empty {}

/// `daemon.hello` params.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct HelloParams {
    /// Client name shown to other clients, e.g. `botcoder-cli` or `botcoder-tui`.
    pub client: String,
    /// The client's [`crate::PROTOCOL_VERSION`].
    pub protocol_version: String,
    /// What the client can do, e.g. `approvals` (it will answer approval requests).
    #[serde(default)]
    pub capabilities: Vec<String>,
}

/// `daemon.hello` result.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct HelloResult {
    /// The daemon's protocol version.
    pub protocol_version: String,
    /// The daemon's build version.
    pub daemon_version: String,
    /// Optional features this daemon has.
    pub capabilities: Vec<String>,
}

/// `daemon.status` result.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct DaemonStatusResult {
    /// Daemon process id.
    pub pid: u32,
    /// Build version.
    pub daemon_version: String,
    /// Protocol version.
    pub protocol_version: String,
    /// Milliseconds since start.
    pub uptime_ms: u64,
    /// Socket the daemon serves.
    pub socket_path: String,
    /// Where journals live.
    pub data_dir: String,
    /// Log file.
    pub log_file: String,
    /// Sessions on disk.
    pub sessions: u64,
    /// Sessions held in memory now; the others were unloaded after sitting idle and load
    /// again on demand, invisibly. Lets an operator see that memory stays bounded.
    #[serde(default)]
    pub loaded_sessions: u64,
    /// Turns running right now.
    pub running_turns: u64,
    /// Open client connections.
    pub connections: u64,
    /// Current mode.
    pub mode: Mode,
    /// The active provider; absent when none is configured.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub provider: Option<ProviderInfo>,
    /// Set when no provider is configured: what to do about it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub provider_error: Option<String>,
    /// What is wrong with the settings files (`path:line: message`); the valid sections,
    /// or after a failed reload the last good settings, stay in force.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub config_error: Option<String>,
    /// The daemon-wide rate-limit budgets and their use in the last minute.
    #[serde(default)]
    pub budgets: Vec<BudgetInfo>,
    /// The botserver, when one is configured.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub botserver: Option<BotserverInfo>,
    /// Set when journals cannot be written where `data_dir` says, e.g. the directory was
    /// removed or replaced while the daemon ran: what is wrong and what to do. `botcoder
    /// doctor` reports it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub storage_error: Option<String>,
    /// The OS sandbox commands run in; absent from daemons that predate it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sandbox: Option<SandboxInfo>,
    /// What the sessions held in memory now have cost in US dollars, where prices are
    /// known; absent when none has a known cost.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cost_usd: Option<f64>,
    /// The configured MCP servers (as `mcp.list` shows them); absent when none are
    /// configured, and from daemons that predate MCP.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub mcp: Option<Vec<McpServerInfo>>,
}

/// The sandbox in force for commands, so a person can see how confined tools are.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct SandboxInfo {
    /// The mechanism.
    pub mode: SandboxMode,
    /// Whether commands may use the network.
    pub network: bool,
    /// Why the sandbox is weaker than bwrap (or absent), and what to do about it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub note: Option<String>,
}

/// How commands are confined.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum SandboxMode {
    /// bubblewrap: namespaces, read-only root, hidden daemon, no network unless allowed.
    Bwrap,
    /// Landlock only: writes and TCP confined; reads not.
    Landlock,
    /// Turned off explicitly: commands run unconfined.
    Off,
    /// No mechanism works and off was not chosen: commands are refused.
    Unavailable,
}

/// The botserver as `botcoder status` shows it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct BotserverInfo {
    /// Its URL.
    pub url: String,
    /// What the health monitor found.
    pub state: crate::BotserverState,
    /// Whether facade turns are on.
    pub facade: bool,
    /// Whether work falls back to local when it is down.
    pub fallback_to_local: bool,
    /// RFC 3339 time of the last probe.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub last_probe: Option<String>,
    /// The last error.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub last_error: Option<String>,
}

/// One endpoint's rate-limit budget.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct BudgetInfo {
    /// Provider endpoint (name and base URL).
    pub endpoint: String,
    /// Tokens per minute, when limited.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tpm: Option<u64>,
    /// Requests per minute, when limited.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub rpm: Option<u64>,
    /// Tokens admitted in the last 60 s.
    pub tokens_used: u64,
    /// Requests admitted in the last 60 s.
    pub requests_used: u64,
}

/// A provider as clients may see it: never any secret.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct ProviderInfo {
    /// Provider name: `openai`, `azure`, `anthropic`, `local`, ...
    pub name: String,
    /// Model or deployment.
    pub model: String,
    /// Base URL (no credentials).
    pub base_url: String,
    /// What it can do.
    pub capabilities: ProviderCapabilities,
    /// `unknown` until a request was made, then `ok` or `failing`.
    pub health: crate::ProviderHealth,
    /// Last error, if the last request failed.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub last_error: Option<String>,
    /// Models the provider offers (its `GET /models`), where it has such a listing and
    /// answered in time; empty otherwise.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub models: Vec<String>,
}

/// What a provider supports.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct ProviderCapabilities {
    /// Streams replies.
    pub streaming: bool,
    /// Native tool calls.
    pub native_tools: bool,
    /// Context window in tokens, when known.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub context_window: Option<u64>,
}

/// `provider.list` result.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct ProviderListResult {
    /// Every configured provider, the active one first.
    pub providers: Vec<ProviderInfo>,
}

/// `provider.check` result.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct ProviderCheckResult {
    /// Whether the provider answered and accepted the credentials.
    pub ok: bool,
    /// What happened, and what to do when it failed.
    pub message: String,
}

/// `session.create` params.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct SessionCreateParams {
    /// Project root; must be an existing directory. Relative paths are refused.
    pub project_path: String,
    /// Optional title.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub title: Option<String>,
    /// Approval policy for the session's tool calls; absent: the daemon's default (`ask`
    /// unless `BOTCODER_APPROVAL` says otherwise).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub approval: Option<ApprovalPolicy>,
    /// Provider to use (a name from `provider.list`); absent: resolved from the settings.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub provider: Option<String>,
    /// Model to use; absent: the provider's configured model.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub model: Option<String>,
    /// Provider-related variables of the creating client's environment (keys included),
    /// which take precedence over every other source for this session. Kept in daemon
    /// memory only, never journaled or logged.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub env: BTreeMap<String, String>,
    /// Refuse with `provider_not_configured` (and create nothing) when the session's
    /// settings name no provider: what a client about to send a prompt wants, so no empty
    /// session is left behind. Absent: the session is created and its turns say what to set.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub require_provider: bool,
    /// Command sandbox for this session: `auto`, `bwrap`, `landlock` or `off`; absent: the
    /// settings' (`BOTCODER_SANDBOX`). A project's files can only make it stricter.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sandbox: Option<String>,
}

/// `session.list` params.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct SessionListParams {
    /// Only sessions of this project root.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub project_path: Option<String>,
}

/// `session.list` result.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct SessionListResult {
    /// Sessions, most recently updated first.
    pub sessions: Vec<SessionInfo>,
}

/// Names one session.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct SessionRef {
    /// The session.
    pub session_id: SessionId,
}

/// `session.rename` params.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct SessionRenameParams {
    /// The session.
    pub session_id: SessionId,
    /// New title.
    pub title: String,
}

/// Session metadata.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct SessionInfo {
    /// Id.
    pub session_id: SessionId,
    /// Title, if any.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub title: Option<String>,
    /// Project root.
    pub project_path: String,
    /// RFC 3339 creation time.
    pub created_at: String,
    /// RFC 3339 time of the last durable event.
    pub updated_at: String,
    /// Seq of the last durable event.
    pub last_seq: u64,
    /// The turn running now, if any.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub running_turn: Option<TurnId>,
    /// Turns waiting behind it.
    pub queued_turns: u64,
    /// The session's approval policy.
    pub approval: ApprovalPolicy,
    /// Provider the session's next turn uses, when one is configured.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub provider: Option<String>,
    /// Model the session's next turn uses, when known.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub model: Option<String>,
    /// The command sandbox the session's tools run in (`bwrap`, `landlock`, `off`, or
    /// `auto` before the first command), with `+network` when commands may use the network.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sandbox: Option<String>,
    /// What the session has cost so far in US dollars, where prices are known.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cost_usd: Option<f64>,
}

/// `session.history` params.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct SessionHistoryParams {
    /// The session.
    pub session_id: SessionId,
    /// Only events with a greater seq (default 0: from the start).
    #[serde(default)]
    pub after_seq: u64,
    /// At most this many events (default and maximum 10 000).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub limit: Option<u64>,
}

/// `session.history` result.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct SessionHistoryResult {
    /// Durable events in seq order.
    pub events: Vec<Event>,
    /// Seq of the session's last durable event.
    pub last_seq: u64,
    /// More events follow; ask again with `after_seq` = the last seq returned.
    pub has_more: bool,
}

/// `session.send` params.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct SessionSendParams {
    /// The session.
    pub session_id: SessionId,
    /// The user message.
    pub text: String,
    /// Approval policy for this turn only; absent: the session's.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub approval: Option<ApprovalPolicy>,
    /// Provider-related variables of the sending client's environment, as in
    /// `session.create`; when present they replace the ones the session had, from this turn
    /// on (so a terminal's key reaches a session also after a daemon restart). Kept in daemon
    /// memory only, never journaled or logged.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub env: BTreeMap<String, String>,
}

/// `session.send` result.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct SessionSendResult {
    /// The turn this message starts.
    pub turn_id: TurnId,
    /// Seq of the journaled `user.message`; subscribe with `after_seq` = this minus one to
    /// see the turn from its start.
    pub seq: u64,
    /// Turns ahead of it in the queue (0 = it starts now).
    pub queued_behind: u64,
}

/// `turn.cancel` params.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct TurnCancelParams {
    /// The session.
    pub session_id: SessionId,
    /// The turn; absent means the running one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub turn_id: Option<TurnId>,
}

/// `turn.cancel` result.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct TurnCancelResult {
    /// False when nothing matched (the turn had already ended).
    pub cancelled: bool,
}

/// `approval.respond` params.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct ApprovalRespondParams {
    /// The session.
    pub session_id: SessionId,
    /// The call from `approval.requested`.
    pub call_id: String,
    /// The answer.
    pub decision: ApprovalDecision,
    /// With `deny`: what the person wants the model to know instead (the model receives it
    /// as the tool result). Ignored for the allow decisions. Capped by the daemon.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub message: Option<String>,
}

/// `session.subscribe` params.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct SubscribeParams {
    /// The session.
    pub session_id: SessionId,
    /// Replay durable events with a greater seq first (0 = everything). Absent: live only.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub after_seq: Option<u64>,
}

/// `daemon.reload` result.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct DaemonReloadResult {
    /// Whether the file was valid and is now in force.
    pub ok: bool,
    /// What changed, or `path:line: message` when the file is invalid (the last good
    /// settings stay in force).
    pub message: String,
}

/// `session.configure` params. Absent fields stay as they are.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct SessionConfigureParams {
    /// The session.
    pub session_id: SessionId,
    /// Provider name from `provider.list`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub provider: Option<String>,
    /// Model name.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub model: Option<String>,
    /// Approval policy.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub approval: Option<ApprovalPolicy>,
    /// Provider-related variables of the client's environment, as in `session.create`; when
    /// present they replace the ones the session had (a client continuing a session sends
    /// them again, so its key reaches the session after a daemon restart). Kept in daemon
    /// memory only, never journaled or logged.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub env: BTreeMap<String, String>,
}

/// `session.revert` and `session.unrevert` params.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct SessionRevertParams {
    /// The session.
    pub session_id: SessionId,
    /// The turn; absent: the latest one that applies.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub turn_id: Option<TurnId>,
    /// Go ahead even when a file changed since the turn (that change is lost).
    #[serde(default)]
    pub force: bool,
}

/// `session.revert` and `session.unrevert` result.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct SessionRevertResult {
    /// The turn reverted or restored.
    pub turn_id: TurnId,
    /// The files restored or removed.
    pub files: Vec<FileChange>,
}

/// `session.diff` params.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct SessionDiffParams {
    /// The session.
    pub session_id: SessionId,
    /// One turn; absent: everything the session changed.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub turn_id: Option<TurnId>,
}

/// `session.diff` result.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct SessionDiffResult {
    /// Unified diff (`git diff` format, paths relative to the project); empty when nothing
    /// changed.
    pub diff: String,
    /// The changed files.
    pub files: Vec<FileChange>,
}

/// `session.compact` result.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct SessionCompactResult {
    /// Estimated prompt tokens before.
    pub before_tokens: u64,
    /// Estimated prompt tokens after.
    pub after_tokens: u64,
}

/// `mcp.list` result.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct McpListResult {
    /// Configured servers, by name.
    pub servers: Vec<McpServerInfo>,
}

/// `session.use_mcp` params.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct SessionUseMcpParams {
    /// The session.
    pub session_id: SessionId,
    /// Servers by name (an empty map stops the session's servers).
    #[serde(default)]
    pub servers: BTreeMap<String, SessionMcpServer>,
}

/// One MCP server of a session: a stdio `command` or a Streamable HTTP `url`.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct SessionMcpServer {
    /// Program of a stdio server (run in the session's project, inside the sandbox).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub command: Option<String>,
    /// Its arguments.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub args: Vec<String>,
    /// Variables set for it.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub env: BTreeMap<String, String>,
    /// Endpoint of a Streamable HTTP server.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub url: Option<String>,
    /// HTTP headers sent to `url`.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub headers: BTreeMap<String, String>,
}

/// One MCP server as the daemon sees it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct McpServerInfo {
    /// Name from `[mcp_servers.NAME]`.
    pub name: String,
    /// `stdio` or `http`.
    pub transport: String,
    /// `starting`, `ready`, `failed`, `restarting`, `disabled` or `stopped`.
    pub state: String,
    /// Protocol revision the server negotiated, once ready.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub protocol_version: Option<String>,
    /// Tool names as offered to the model (`mcp__<server>__<tool>`).
    pub tools: Vec<String>,
    /// The last error, with what to do.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub last_error: Option<String>,
}
