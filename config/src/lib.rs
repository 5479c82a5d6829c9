//! botcoder's settings, in layers where later wins: built-in defaults < `config.toml` (and
//! a `.env` beside it) < the daemon's environment < the project's own settings
//! (`.botcoder/config.toml`, `.env` at the project root) < the creating client's environment
//! and flags. Every value remembers where it came from, for `botcoder config show`. The
//! daemon and the clients read settings through this crate, so they agree; the per-session
//! merge (with the key-redirect protection of I11) is in [`session`].

mod file;
pub mod mcp;
pub mod paths;
mod secret;
pub mod session;

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

pub use file::{FileConfig, Parsed, ProviderEntry, Vars, names, parse};
pub use secret::Secret;

/// Where a value came from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Source {
    /// The built-in default.
    Default,
    /// The user's `config.toml`.
    File(PathBuf),
    /// The user's `.env` beside `config.toml`.
    DotEnv(PathBuf),
    /// The process environment (the daemon's, or this shell's for `config show`).
    Environment,
    /// A project file: `.botcoder/config.toml` or `.env` at the project root.
    Project(PathBuf),
    /// The environment of the client that created the session.
    Client,
    /// A flag or method parameter (`--model`, `session.configure`).
    Flag,
}

impl Source {
    /// Whether the value came from the user rather than from a project's files: only such
    /// sources may point a user's key somewhere (I11).
    pub fn is_user(&self) -> bool {
        !matches!(self, Source::Project(_))
    }
}

impl std::fmt::Display for Source {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Source::Default => f.write_str("default"),
            Source::File(p) | Source::DotEnv(p) | Source::Project(p) => {
                write!(f, "{}", p.display())
            }
            Source::Environment => f.write_str("environment"),
            Source::Client => f.write_str("client environment"),
            Source::Flag => f.write_str("flag"),
        }
    }
}

/// One variable botcoder reads.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Known {
    /// Its name.
    pub name: &'static str,
    /// What it does.
    pub what: &'static str,
    /// The built-in default, when there is one.
    pub default: Option<&'static str>,
}

/// Every variable botcoder reads, with what it does and its default (for `config show`).
pub const KNOWN: &[Known] = &[
    Known {
        name: "LLM_PROVIDER",
        what: "openai | azure | anthropic | local | botserver",
        default: Some("first with credentials: azure, anthropic, openai, local"),
    },
    Known {
        name: "OPENAI_API_KEY",
        what: "OpenAI key",
        default: None,
    },
    Known {
        name: "OPENAI_BASE_URL",
        what: "OpenAI base URL",
        default: Some("https://api.openai.com/v1"),
    },
    Known {
        name: "OPENAI_MODEL",
        what: "OpenAI model",
        default: Some("gpt-4o-mini"),
    },
    Known {
        name: "AZURE_OPENAI_ENDPOINT",
        what: "Azure resource endpoint",
        default: None,
    },
    Known {
        name: "AZURE_OPENAI_API_KEY",
        what: "Azure key",
        default: None,
    },
    Known {
        name: "AZURE_OPENAI_DEPLOYMENT",
        what: "Azure deployment",
        default: None,
    },
    Known {
        name: "AZURE_OPENAI_API_VERSION",
        what: "Azure API version (v1: the /openai/v1 surface)",
        default: Some("2024-10-21"),
    },
    Known {
        name: "ANTHROPIC_API_KEY",
        what: "Anthropic key",
        default: None,
    },
    Known {
        name: "ANTHROPIC_BASE_URL",
        what: "Anthropic base URL",
        default: Some("https://api.anthropic.com"),
    },
    Known {
        name: "ANTHROPIC_MODEL",
        what: "Anthropic model",
        default: Some("claude-sonnet-4-5"),
    },
    Known {
        name: "ANTHROPIC_MAX_TOKENS",
        what: "Anthropic reply budget",
        default: Some("8192"),
    },
    Known {
        name: "LOCAL_LLM_URL",
        what: "local server base URL",
        default: Some("http://127.0.0.1:11434/v1"),
    },
    Known {
        name: "LOCAL_LLM_MODEL",
        what: "local model",
        default: Some("default"),
    },
    Known {
        name: "LOCAL_LLM_API_KEY",
        what: "local server key",
        default: None,
    },
    Known {
        name: "LOCAL_LLM_CONTEXT",
        what: "local context window (tokens)",
        default: None,
    },
    Known {
        name: "LLM_MAX_RETRIES",
        what: "retries after the first attempt",
        default: Some("3"),
    },
    Known {
        name: "LLM_IDLE_TIMEOUT_S",
        what: "seconds of stream silence before failing",
        default: Some("60"),
    },
    Known {
        name: "LLM_TPM",
        what: "tokens per minute budget",
        default: None,
    },
    Known {
        name: "LLM_RPM",
        what: "requests per minute budget",
        default: None,
    },
    Known {
        name: "LLM_FALLBACK",
        what: "providers to continue on, comma-separated",
        default: None,
    },
    Known {
        name: "BOTCODER_APPROVAL",
        what: "auto | ask | read-only",
        default: Some("ask"),
    },
    Known {
        name: "BOTCODER_TOOL_MODE",
        what: "native | text | auto",
        default: Some("auto"),
    },
    Known {
        name: "BOTCODER_MAX_ITERATIONS",
        what: "model requests per turn",
        default: Some("25"),
    },
    Known {
        name: "BOTCODER_APPROVALS_ALLOW",
        what: "commands that run without asking (argv prefixes)",
        default: None,
    },
    Known {
        name: "BOTCODER_APPROVALS_DENY",
        what: "commands that never run (argv prefixes)",
        default: None,
    },
    Known {
        name: "BOTCODER_MAX_SSE_EVENT_BYTES",
        what: "cap on one server-sent event",
        default: Some("8388608"),
    },
    Known {
        name: "BOTCODER_MAX_REPLY_BYTES",
        what: "cap on one reply (text and tool-call arguments)",
        default: Some("8388608"),
    },
    Known {
        name: "BOTCODER_MAX_TOOL_ARGS_BYTES",
        what: "cap on one tool call's arguments",
        default: Some("4194304"),
    },
    Known {
        name: "BOTCODER_MAX_TOOL_CALLS",
        what: "cap on tool calls in one reply",
        default: Some("128"),
    },
    Known {
        name: "BOTCODER_LOG",
        what: "log filter",
        default: Some("info"),
    },
    Known {
        name: "BOTCODER_SOCKET",
        what: "daemon socket",
        default: None,
    },
    Known {
        name: "BOTCODER_SANDBOX",
        what: "command sandbox: auto | bwrap | landlock | off",
        default: Some("auto"),
    },
    Known {
        name: "BOTCODER_SANDBOX_NETWORK",
        what: "let sandboxed commands use the network",
        default: Some("false"),
    },
    Known {
        name: "BOTSERVER_URL",
        what: "botserver address",
        default: None,
    },
    Known {
        name: "BOTSERVER_API_KEY",
        what: "botserver key",
        default: None,
    },
    Known {
        name: "ENABLE_BOTSERVER_FACADE",
        what: "facade turns on",
        default: Some("false"),
    },
    Known {
        name: "FALLBACK_TO_LOCAL",
        what: "work locally when the botserver is down",
        default: Some("true"),
    },
    Known {
        name: "BOTSERVER_CA_FILE",
        what: "extra CA for the botserver",
        default: None,
    },
    Known {
        name: "BOTSERVER_PROBE_INTERVAL_MS",
        what: "health probe interval",
        default: Some("15000"),
    },
    Known {
        name: "OPENAI_WIRE",
        what: "responses | chat (default: responses for api.openai.com and Azure v1)",
        default: None,
    },
    Known {
        name: "OPENAI_REASONING_EFFORT",
        what: "reasoning effort of reasoning models (minimal | low | medium | high)",
        default: None,
    },
    Known {
        name: "ANTHROPIC_THINKING_BUDGET",
        what: "Anthropic extended thinking budget (tokens; unset: off)",
        default: None,
    },
    Known {
        name: "LOCAL_LLM_WIRE",
        what: "chat | responses for the local server",
        default: Some("chat"),
    },
    Known {
        name: "LOCAL_LLM_REASONING_EFFORT",
        what: "reasoning effort for the local server",
        default: None,
    },
    Known {
        name: "BOTCODER_COMPACT_AT",
        what: "share of the context window past which older context is summarised",
        default: Some("0.85"),
    },
    Known {
        name: "BOTCODER_CONTEXT_WINDOW",
        what: "the model's context window in tokens (overrides what the provider says)",
        default: None,
    },
    Known {
        name: "BOTCODER_PRICING",
        what: "per-model prices, JSON ({\"model\": {input, output, cached_input}} per million tokens)",
        default: None,
    },
];

/// A commented template for `botcoder config init`.
pub const TEMPLATE: &str = include_str!("template.toml");

/// Largest settings file read (config.toml, a project's files): settings are small.
pub const MAX_FILE_BYTES: u64 = 256 * 1024;

/// `$XDG_CONFIG_HOME/botcoder` (else `~/.config/botcoder`).
pub fn config_dir() -> PathBuf {
    paths::config_dir()
}

/// `$XDG_CONFIG_HOME/botcoder/config.toml` (else `~/.config/botcoder/config.toml`).
pub fn config_path() -> PathBuf {
    paths::config_file()
}

/// The user-level `.env` beside `config.toml` (the daemon never reads one from its own
/// working directory: that would leak one project's settings into every session).
pub fn user_dotenv_path() -> PathBuf {
    config_dir().join(".env")
}

/// Whether a variable holds a secret: shown redacted, never given to child processes.
pub fn is_secret_var(name: &str) -> bool {
    let upper = name.to_ascii_uppercase();
    upper.ends_with("_KEY")
        || upper.contains("TOKEN")
        || upper.contains("SECRET")
        || upper.contains("PASSWORD")
}

/// Whether a variable says how to reach a provider (its kind, URL, model, key and wire
/// details): what a project's files may set and what clients send with `session.create`.
pub fn is_provider_var(name: &str) -> bool {
    let provider_prefix = ["OPENAI_", "AZURE_OPENAI_", "ANTHROPIC_", "LOCAL_LLM_"]
        .iter()
        .any(|p| name.starts_with(p));
    let known = KNOWN.iter().any(|k| k.name == name);
    (provider_prefix && known) || matches!(name, "LLM_PROVIDER" | "LLM_FALLBACK")
}

/// Whether a client may set a variable for its sessions: the provider variables plus the
/// agent-loop choices that are the user's own (approval policy, tool mode, iterations).
pub fn is_client_var(name: &str) -> bool {
    is_provider_var(name)
        || matches!(
            name,
            "BOTCODER_APPROVAL"
                | "BOTCODER_TOOL_MODE"
                | "BOTCODER_MAX_ITERATIONS"
                | "BOTCODER_SANDBOX"
                | "BOTCODER_SANDBOX_NETWORK"
        )
}

/// Whether a variable sets the command sandbox: a project's files may set it only to
/// something stricter than the user's settings (see [`session`]).
pub fn is_sandbox_var(name: &str) -> bool {
    matches!(name, "BOTCODER_SANDBOX" | "BOTCODER_SANDBOX_NETWORK")
}

/// How strict a sandbox setting is, higher is stricter; `None` for a value that is not one.
/// `auto` ranks below `bwrap` (it may end up with Landlock) and above `landlock`.
pub fn sandbox_strictness(name: &str, value: &str) -> Option<u8> {
    let v = value.trim().to_ascii_lowercase();
    match (name, v.as_str()) {
        ("BOTCODER_SANDBOX", "off" | "none" | "false") => Some(0),
        ("BOTCODER_SANDBOX", "landlock") => Some(1),
        ("BOTCODER_SANDBOX", "auto" | "on") => Some(2),
        ("BOTCODER_SANDBOX", "bwrap" | "bubblewrap") => Some(3),
        ("BOTCODER_SANDBOX_NETWORK", "1" | "true" | "yes" | "on") => Some(0),
        ("BOTCODER_SANDBOX_NETWORK", "0" | "false" | "no" | "off") => Some(1),
        _ => None,
    }
}

/// The default of a sandbox variable, for comparing a project's value against.
pub(crate) fn sandbox_default(name: &str) -> &'static str {
    if name == "BOTCODER_SANDBOX" {
        "auto"
    } else {
        "false"
    }
}

/// The variables of this process's environment a client sends with `session.create` and
/// `session.send` (keys included: they stay in daemon memory, never in a journal), so a
/// session uses the settings of the shell that asked, whatever daemon is running.
pub fn client_env() -> BTreeMap<String, String> {
    std::env::vars()
        .filter(|(k, v)| is_client_var(k) && !v.trim().is_empty())
        .collect()
}

/// Reads a settings file, at most [`MAX_FILE_BYTES`]; `None` when absent.
pub fn read_small(path: &Path) -> Result<Option<String>, String> {
    use std::io::Read;
    let f = match std::fs::File::open(path) {
        Ok(f) => f,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
        Err(e) => return Err(format!("{}: {e}", path.display())),
    };
    let mut text = String::new();
    f.take(MAX_FILE_BYTES + 1)
        .read_to_string(&mut text)
        .map_err(|e| format!("{}: {e}", path.display()))?;
    if text.len() as u64 > MAX_FILE_BYTES {
        return Err(format!(
            "{}: larger than {MAX_FILE_BYTES} bytes; settings files are small, is this the right file?",
            path.display()
        ));
    }
    Ok(Some(text))
}

/// A `.env` file's pairs (absent: none). Bad lines are skipped.
pub fn read_dotenv(path: &Path) -> Result<Vars, String> {
    match read_small(path)? {
        None => Ok(Vec::new()),
        Some(text) => Ok(dotenvy::from_read_iter(text.as_bytes()).flatten().collect()),
    }
}

/// See [`Layers::key_hint`].
pub(crate) fn key_hint(
    key_from: &BTreeMap<String, String>,
    vars: &BTreeMap<String, (String, Source)>,
    key_var: &str,
) -> String {
    if let Some(held_in) = key_from.get(key_var) {
        return held_in.clone();
    }
    match vars.get(key_var) {
        Some((_, Source::Project(p) | Source::DotEnv(p))) => {
            format!("{key_var} in {}", p.display())
        }
        _ => key_var.to_owned(),
    }
}

/// Settings from the user's layers (defaults, config file, user `.env`, environment).
#[derive(Debug, Clone, Default)]
pub struct Layers {
    vars: BTreeMap<String, (String, Source)>,
    /// The config file, when it exists.
    pub file: Option<PathBuf>,
    /// What is wrong with the config file (`path:line: message`, one per problem joined by
    /// "; "); the valid sections still apply.
    pub file_error: Option<String>,
    /// The `[approvals]` rules could not be read (see [`Parsed::approvals_lost`]).
    pub approvals_lost: bool,
    /// The valid part of the config file (for `--provider NAME` and trusted projects).
    pub file_config: FileConfig,
    /// Key variables filled through `key_env` (`OPENAI_API_KEY` → `MY_KEY`): the variable
    /// a rejected key is reported under is the one that held it.
    pub key_from: BTreeMap<String, String>,
}

impl Layers {
    /// Reads the config file, the `.env` beside it and the environment. Never fails: a bad
    /// file is reported in `file_error` and only its valid sections are used.
    pub fn load() -> Layers {
        let path = config_path();
        let (text, read_error) = match read_small(&path) {
            Ok(t) => (t, None),
            Err(e) => (None, Some(e)),
        };
        let dotenv_path = user_dotenv_path();
        let dotenv = read_dotenv(&dotenv_path).unwrap_or_default();
        let env: Vars = std::env::vars().collect();
        let mut layers = Layers::from_parts(
            text.as_deref().map(|t| (path.as_path(), t)),
            (&dotenv_path, dotenv),
            env,
        );
        if let Some(e) = read_error {
            layers.file_error = Some(e);
        }
        layers
    }

    /// The layers from given contents (tests and `load`).
    pub fn from_parts(file: Option<(&Path, &str)>, dotenv: (&Path, Vars), env: Vars) -> Layers {
        let mut layers = Layers::default();
        let lookup_env: BTreeMap<String, String> = dotenv
            .1
            .iter()
            .cloned()
            .chain(env.iter().cloned())
            .collect();
        if let Some((path, text)) = file {
            layers.file = Some(path.to_owned());
            let parsed = file::parse(path, text);
            let (vars, problems) = parsed.config.to_vars(&|name| lookup_env.get(name).cloned());
            let mut errors = parsed.errors;
            errors.extend(
                problems
                    .into_iter()
                    .map(|p| format!("{}: {p}", path.display())),
            );
            for (k, v) in vars {
                layers.vars.insert(k, (v, Source::File(path.to_owned())));
            }
            layers.file_error = (!errors.is_empty()).then(|| errors.join("; "));
            layers.approvals_lost = parsed.approvals_lost;
            if let Some((key_var, held_in)) = parsed
                .config
                .provider
                .as_deref()
                .and_then(|name| parsed.config.key_env_of(name))
            {
                let in_dotenv = dotenv.1.iter().any(|(k, _)| *k == held_in)
                    && !env.iter().any(|(k, _)| *k == held_in);
                let held_in = if in_dotenv {
                    format!("{held_in} in {}", dotenv.0.display())
                } else {
                    held_in
                };
                layers.key_from.insert(key_var.to_owned(), held_in);
            }
            layers.file_config = parsed.config;
        }
        for (k, v) in dotenv.1 {
            layers.key_from.remove(&k);
            layers
                .vars
                .insert(k, (v, Source::DotEnv(dotenv.0.to_owned())));
        }
        for (k, v) in env {
            layers.key_from.remove(&k);
            layers.vars.insert(k, (v, Source::Environment));
        }
        layers
    }

    /// Where the key in `key_var` came from, for "set X to a valid key": the variable
    /// `key_env` named, else `key_var` itself, with the file that set it when one did.
    pub fn key_hint(&self, key_var: &str) -> String {
        key_hint(&self.key_from, &self.vars, key_var)
    }

    /// A non-empty value.
    pub fn get(&self, name: &str) -> Option<&str> {
        self.vars
            .get(name)
            .map(|(v, _)| v.trim())
            .filter(|v| !v.is_empty())
    }

    /// Where a value came from.
    pub fn source(&self, name: &str) -> Option<&Source> {
        self.vars.get(name).map(|(_, s)| s)
    }

    /// Every variable and value (for building the daemon's view).
    pub fn iter(&self) -> impl Iterator<Item = (&str, &str)> {
        self.vars.iter().map(|(k, (v, _))| (k.as_str(), v.as_str()))
    }

    /// Every variable with its value and source.
    pub fn entries(&self) -> &BTreeMap<String, (String, Source)> {
        &self.vars
    }

    /// Looks a variable up in the user's layers (for `key_env`).
    pub fn lookup(&self, name: &str) -> Option<String> {
        self.get(name).map(str::to_owned)
    }

    /// Whether `project` is listed in `trusted_projects` (its own base URLs may then
    /// receive the user's keys).
    pub fn trusts(&self, project: &Path) -> bool {
        self.file_config.trusted_projects.iter().any(|t| {
            let t = Path::new(t);
            t == project || std::fs::canonicalize(t).is_ok_and(|c| c == project)
        })
    }
}

#[cfg(test)]
mod tests;
