//! The command line, declared once; `--help` is generated from these doc comments.

use std::path::PathBuf;

use clap::{Args, Parser, Subcommand};

/// botcoder: a coding agent that lives in a daemon.
///
/// `botcoder ask "fix the failing test"` streams the answer to stdout. The daemon
/// (botcoderd) is started on first use and keeps every session, so several terminals can
/// follow one session (`botcoder watch ID`) and scripts can pick it up later (`--session`).
///
/// Exit codes: 0 completed, 1 turn failed, 2 usage error, 3 daemon unreachable,
/// 4 session not found, 75 rate-limited or provider unavailable after retries,
/// 77 the provider rejected the key, 78 no provider configured, 130 interrupted.
#[derive(Debug, Parser)]
#[command(
    name = "botcoder",
    version = concat!(env!("CARGO_PKG_VERSION"), " (", env!("BOTCODER_GIT_REV"), ")"),
    propagate_version = true,
    max_term_width = 100
)]
pub struct Cli {
    /// What to do.
    #[command(subcommand)]
    pub command: Option<Command>,
}

/// Subcommands.
#[derive(Debug, Subcommand)]
pub enum Command {
    /// Send one request and stream the answer to stdout.
    ///
    /// The prompt is the arguments joined by spaces; piped stdin is appended to it (`-`
    /// alone: the prompt is stdin). Without --session or --continue a new session is
    /// started for the project. The provider settings of this shell (OPENAI_API_KEY,
    /// LLM_PROVIDER, ...) are sent along and win over the daemon's. Status lines (session
    /// id, retries, denied tool calls) go to stderr.
    ///
    /// Examples:
    ///   botcoder ask "explain src/main.rs"
    ///   git diff | botcoder ask "review this diff"
    ///   botcoder ask --model gpt-4o --continue "and now add a test"
    Ask(AskArgs),
    /// Follow a session live: its history, then new events as they happen (Ctrl-C stops).
    Watch(WatchArgs),
    /// Open the terminal UI on an existing session (any number of terminals may attach).
    Attach {
        /// The session.
        #[arg(value_name = "SESSION")]
        session: String,
    },
    /// List, show and remove sessions.
    #[command(subcommand)]
    Sessions(SessionsCommand),
    /// Take back the file changes of a turn (default: the latest that changed files) in
    /// the latest session of this directory's project (or --session). Stops, naming the
    /// files, when one changed since the turn (--force overwrites).
    Undo(crate::commands::undo::UndoArgs),
    /// Put back the changes of an undone turn (default: the most recently undone).
    Redo(crate::commands::undo::UndoArgs),
    /// Print a unified diff of what the session (or --turn) changed.
    Diff(crate::commands::undo::DiffArgs),
    /// Show the daemon's state: version, provider, sessions, running turns.
    Status(JsonFlag),
    /// Serve the Agent Client Protocol on stdin/stdout, for editors (Zed, JetBrains IDEs,
    /// Neovim): each editor session is a daemon session (see docs/ACP.md).
    Acp,
    /// Start, stop or check the daemon.
    #[command(subcommand)]
    Daemon(DaemonCommand),
    /// Show, create or locate the configuration (works without a daemon).
    #[command(subcommand)]
    Config(ConfigCommand),
    /// Check the setup: daemon, socket, provider and credentials, botserver, journal
    /// directory, clock. Prints a fix for each failure; exits 1 when something configured
    /// is broken.
    Doctor(JsonFlag),
    /// MCP servers: list them (state, tools, last error), add or remove one in config.toml.
    ///
    /// Examples:
    ///   botcoder mcp add everything -- npx -y @modelcontextprotocol/server-everything
    ///   botcoder mcp add docs --url https://example.com/mcp --bearer-token-env-var DOCS_TOKEN
    ///   botcoder mcp list --json
    #[command(subcommand)]
    Mcp(McpCommand),
    /// Print a shell completion script: `botcoder completions bash > /etc/bash_completion.d/botcoder`.
    Completions {
        /// The shell.
        #[arg(value_enum)]
        shell: clap_complete::Shell,
    },
    /// The TUI (what `botcoder` alone opens on a terminal).
    #[command(hide = true)]
    Tui {
        /// The session (default: a picker).
        #[arg(value_name = "SESSION")]
        session: Option<String>,
    },
    /// Write man pages generated from this command line (botcoder.1 and one per subcommand).
    Man {
        /// Directory to write them to.
        #[arg(long, value_name = "DIR", default_value = ".")]
        out: PathBuf,
    },
}

/// `ask` options.
#[derive(Debug, Args)]
pub struct AskArgs {
    /// Continue this session instead of starting a new one.
    #[arg(
        long,
        short = 's',
        value_name = "ID",
        conflicts_with = "continue_latest"
    )]
    pub session: Option<String>,
    /// Continue the latest session of this project (a new one when there is none).
    #[arg(long = "continue", short = 'c')]
    pub continue_latest: bool,
    /// Model for this session (kept for its later turns) [default: the provider's].
    #[arg(long, short = 'm', value_name = "MODEL")]
    pub model: Option<String>,
    /// Provider for this session: a `[providers.NAME]` of config.toml or a kind (openai,
    /// azure, anthropic, local) [default: from the settings].
    #[arg(long, value_name = "NAME")]
    pub provider: Option<String>,
    /// Project directory for a new session [default: the current directory].
    #[arg(long, short = 'p', value_name = "DIR")]
    pub project: Option<PathBuf>,
    /// Print every event as one JSON object per line instead of the answer text.
    #[arg(long)]
    pub json: bool,
    /// Show the model's reasoning (summaries, thinking) on stderr, dimmed on a terminal.
    #[arg(long)]
    pub show_reasoning: bool,
    /// Which tool calls may run: `auto` runs everything; `ask` lets writes and commands run
    /// only when an attached TUI approves them (with none attached they are denied, so a
    /// script never hangs); `read-only` offers only the read tools [default: the session's].
    #[arg(long, value_enum, value_name = "POLICY")]
    pub approval: Option<Approval>,
    /// Command sandbox of a new session: `bwrap` (namespaces), `landlock`, `auto` (bwrap
    /// when it works, else Landlock) or `off` [default: `BOTCODER_SANDBOX`, else auto]. A
    /// project's own settings can only make it stricter.
    #[arg(long, value_enum, value_name = "MODE", conflicts_with_all = ["session", "continue_latest"])]
    pub sandbox: Option<SandboxMode>,
    /// The request; `-` reads it from stdin.
    #[arg(value_name = "PROMPT", trailing_var_arg = true)]
    pub prompt: Vec<String>,
}

/// Approval policy values.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum Approval {
    /// Run every tool call.
    Auto,
    /// Ask an attached client; deny when none can answer.
    Ask,
    /// Read tools only.
    ReadOnly,
}

impl From<Approval> for botcoder_protocol::ApprovalPolicy {
    fn from(a: Approval) -> Self {
        match a {
            Approval::Auto => Self::Auto,
            Approval::Ask => Self::Ask,
            Approval::ReadOnly => Self::ReadOnly,
        }
    }
}

/// Sandbox modes, as `session.create {sandbox}` names them.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum SandboxMode {
    /// bubblewrap when it works here, else Landlock.
    Auto,
    /// bubblewrap: a private mount namespace with the project writable.
    Bwrap,
    /// Landlock: writes limited to the project and temp dirs.
    Landlock,
    /// No sandbox (commands can write anywhere you can).
    Off,
}

impl SandboxMode {
    /// The name `session.create` takes.
    pub fn as_str(self) -> &'static str {
        match self {
            SandboxMode::Auto => "auto",
            SandboxMode::Bwrap => "bwrap",
            SandboxMode::Landlock => "landlock",
            SandboxMode::Off => "off",
        }
    }
}

/// `watch` options.
#[derive(Debug, Args)]
pub struct WatchArgs {
    /// The session to follow.
    #[arg(value_name = "SESSION")]
    pub session: String,
    /// Replay only events after this seq (0 = the whole history).
    #[arg(long, value_name = "N", default_value_t = 0)]
    pub after_seq: u64,
    /// Print events as JSON lines.
    #[arg(long)]
    pub json: bool,
}

/// `--json` alone.
#[derive(Debug, Args)]
pub struct JsonFlag {
    /// Print JSON instead of text.
    #[arg(long)]
    pub json: bool,
}

/// `sessions` subcommands.
#[derive(Debug, Subcommand)]
pub enum SessionsCommand {
    /// List sessions, most recently active first.
    #[command(alias = "ls")]
    List {
        /// Only sessions of this project directory.
        #[arg(long, short = 'p', value_name = "DIR")]
        project: Option<PathBuf>,
        /// One JSON object per session and line.
        #[arg(long)]
        json: bool,
    },
    /// Show a session's metadata and whole history.
    Show {
        /// The session.
        #[arg(value_name = "ID")]
        id: String,
        /// Metadata, then one event per line, as JSON.
        #[arg(long)]
        json: bool,
    },
    /// Change a session's model, provider or approval policy from its next turn on (every
    /// attached client is told).
    Set {
        /// The session.
        #[arg(value_name = "ID")]
        id: String,
        /// Model.
        #[arg(long, short = 'm', value_name = "MODEL")]
        model: Option<String>,
        /// Provider: a `[providers.NAME]` of config.toml or a kind.
        #[arg(long, value_name = "NAME")]
        provider: Option<String>,
        /// Approval policy.
        #[arg(long, value_enum, value_name = "POLICY")]
        approval: Option<Approval>,
        /// Print the session as JSON.
        #[arg(long)]
        json: bool,
    },
    /// Delete a session and its history.
    #[command(alias = "delete")]
    Rm {
        /// The session.
        #[arg(value_name = "ID")]
        id: String,
        /// Print the result as JSON.
        #[arg(long)]
        json: bool,
    },
}

/// `mcp` subcommands.
#[derive(Debug, Subcommand)]
pub enum McpCommand {
    /// The configured servers as the daemon sees them: state, tools, last error.
    #[command(alias = "ls")]
    List(JsonFlag),
    /// Add `[mcp_servers.NAME]` to config.toml: `NAME -- COMMAND [ARGS...]` for a local
    /// stdio server, `NAME --url URL` for Streamable HTTP.
    Add {
        /// The server's name (tools reach the model as `mcp__NAME__TOOL`).
        #[arg(value_name = "NAME")]
        name: String,
        /// Endpoint of a Streamable HTTP server.
        #[arg(long, value_name = "URL")]
        url: Option<String>,
        /// Variable holding the bearer token for --url (the token never goes in the file).
        #[arg(long, value_name = "VAR")]
        bearer_token_env_var: Option<String>,
        /// A variable for a stdio server (repeatable).
        #[arg(long = "env", value_name = "KEY=VALUE")]
        env: Vec<String>,
        /// The command of a stdio server and its arguments, after `--`.
        #[arg(last = true, value_name = "COMMAND")]
        command: Vec<String>,
    },
    /// Remove `[mcp_servers.NAME]` from config.toml.
    #[command(alias = "rm")]
    Remove {
        /// The server's name.
        #[arg(value_name = "NAME")]
        name: String,
    },
}

/// `config` subcommands.
#[derive(Debug, Subcommand)]
pub enum ConfigCommand {
    /// Every setting with its value and where it came from, defaults included (secrets
    /// redacted); with a daemon running, also what it uses and where that differs.
    Show(JsonFlag),
    /// Write a commented template to the config file (refuses to overwrite).
    Init,
    /// The paths in use: config file, the user .env beside it, socket, data, log.
    Path,
}

/// `daemon` subcommands.
#[derive(Debug, Subcommand)]
pub enum DaemonCommand {
    /// Start the daemon in the background (exits 0 when one already answers).
    Start,
    /// Stop the daemon: running turns are closed as interrupted, journals flushed.
    Stop,
    /// Stop the daemon and start it again (sessions are kept; watchers reconnect).
    Restart,
    /// Say whether the daemon answers, without starting it.
    Status(JsonFlag),
    /// Make the daemon read config.toml again now (it also does when the file changes, and
    /// on SIGHUP); the next turn of every session uses it.
    Reload,
    /// Print the daemon's log (`-f` follows it).
    Logs {
        /// Keep printing new lines as they are written.
        #[arg(long, short = 'f')]
        follow: bool,
        /// Lines of the end of the log to print first.
        #[arg(long, short = 'n', default_value_t = 50)]
        lines: usize,
    },
    /// Install systemd user units (socket activation) and print how to enable them.
    InstallSystemd {
        /// Directory for the units [default: $XDG_CONFIG_HOME/systemd/user].
        #[arg(long, value_name = "DIR")]
        dir: Option<PathBuf>,
    },
}
