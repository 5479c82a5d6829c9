//! botcoder's settings, in layers where later wins: built-in defaults < `config.toml` <
//! `.env` in the working directory < the environment (< per-request options, applied by the
//! daemon). Every value remembers where it came from, for `botcoder config show`. Both the
//! daemon and the CLI read settings through this crate, so they agree.

mod file;
pub mod paths;
pub mod mcp;

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

pub use file::FileConfig;

/// Where a value came from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Source {
    /// `config.toml`.
    File(PathBuf),
    /// `.env`.
    DotEnv(PathBuf),
    /// The process environment.
    Environment,
}

impl std::fmt::Display for Source {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Source::File(p) => write!(f, "{}", p.display()),
            Source::DotEnv(p) => write!(f, "{}", p.display()),
            Source::Environment => f.write_str("environment"),
        }
    }
}

/// Settings from every layer.
#[derive(Debug, Clone, Default)]
pub struct Layers {
    vars: BTreeMap<String, (String, Source)>,
    /// The config file, when it exists.
    pub file: Option<PathBuf>,
    /// What is wrong with the config file, naming its path and line.
    pub file_error: Option<String>,
}

/// `$XDG_CONFIG_HOME/botcoder/config.toml` (else `~/.config/botcoder/config.toml`).
pub fn config_path() -> PathBuf {
    paths::config_file()
}

/// Whether a variable holds a secret: shown redacted, never given to child processes.
pub fn is_secret_var(name: &str) -> bool {
    let upper = name.to_ascii_uppercase();
    upper.ends_with("_KEY")
        || upper.contains("TOKEN")
        || upper.contains("SECRET")
        || upper.contains("PASSWORD")
}

/// Every variable botcoder reads, with what it does (for `config show`).
pub const KNOWN: [(&str, &str); 47] = [
    (
        "LLM_PROVIDER",
        "openai | azure | anthropic | local | botserver",
    ),
    ("OPENAI_API_KEY", "OpenAI key"),
    ("OPENAI_BASE_URL", "OpenAI base URL"),
    ("OPENAI_MODEL", "OpenAI model"),
    (
        "OPENAI_WIRE",
        "responses | chat (default: responses for api.openai.com and Azure v1)",
    ),
    (
        "OPENAI_REASONING_EFFORT",
        "reasoning effort of reasoning models (minimal | low | medium | high)",
    ),
    ("AZURE_OPENAI_ENDPOINT", "Azure resource endpoint"),
    ("AZURE_OPENAI_API_KEY", "Azure key"),
    ("AZURE_OPENAI_DEPLOYMENT", "Azure deployment"),
    (
        "AZURE_OPENAI_API_VERSION",
        "Azure API version (v1: the /openai/v1 surface)",
    ),
    ("ANTHROPIC_API_KEY", "Anthropic key"),
    ("ANTHROPIC_BASE_URL", "Anthropic base URL"),
    ("ANTHROPIC_MODEL", "Anthropic model"),
    ("ANTHROPIC_MAX_TOKENS", "Anthropic reply budget"),
    (
        "ANTHROPIC_THINKING_BUDGET",
        "Anthropic extended thinking budget (tokens; unset: off)",
    ),
    ("LOCAL_LLM_URL", "local server base URL"),
    ("LOCAL_LLM_MODEL", "local model"),
    ("LOCAL_LLM_API_KEY", "local server key"),
    ("LOCAL_LLM_CONTEXT", "local context window (tokens)"),
    ("LOCAL_LLM_WIRE", "chat | responses for the local server"),
    (
        "LOCAL_LLM_REASONING_EFFORT",
        "reasoning effort for the local server",
    ),
    ("LLM_MAX_RETRIES", "retries after the first attempt"),
    (
        "LLM_IDLE_TIMEOUT_S",
        "seconds of stream silence before failing",
    ),
    ("LLM_TPM", "tokens per minute budget"),
    ("LLM_RPM", "requests per minute budget"),
    ("BOTCODER_APPROVAL", "auto | ask | read-only"),
    ("BOTCODER_TOOL_MODE", "native | text | auto"),
    ("BOTCODER_MAX_ITERATIONS", "model requests per turn"),
    (
        "BOTCODER_APPROVALS_ALLOW",
        "commands that run without asking (argv prefixes)",
    ),
    (
        "BOTCODER_APPROVALS_DENY",
        "commands that never run (argv prefixes)",
    ),
    (
        "BOTCODER_MAX_SSE_EVENT_BYTES",
        "cap on one server-sent event",
    ),
    (
        "BOTCODER_MAX_REPLY_BYTES",
        "cap on one reply (text and tool-call arguments)",
    ),
    (
        "BOTCODER_MAX_TOOL_ARGS_BYTES",
        "cap on one tool call's arguments",
    ),
    ("BOTCODER_MAX_TOOL_CALLS", "cap on tool calls in one reply"),
    (
        "BOTCODER_COMPACT_AT",
        "share of the context window past which older context is summarised",
    ),
    (
        "BOTCODER_CONTEXT_WINDOW",
        "context window in tokens (any provider)",
    ),
    (
        "BOTCODER_PRICING",
        "prices per model (JSON; [pricing] in config.toml)",
    ),
    ("BOTCODER_LOG", "log filter"),
    ("BOTCODER_SOCKET", "daemon socket"),
    (
        "BOTCODER_SANDBOX",
        "command sandbox: auto | bwrap | landlock | off",
    ),
    (
        "BOTCODER_SANDBOX_NETWORK",
        "let sandboxed commands use the network",
    ),
    ("BOTSERVER_URL", "botserver address"),
    ("BOTSERVER_API_KEY", "botserver key"),
    ("ENABLE_BOTSERVER_FACADE", "facade turns on"),
    (
        "FALLBACK_TO_LOCAL",
        "work locally when the botserver is down",
    ),
    ("BOTSERVER_CA_FILE", "extra CA for the botserver"),
    ("BOTSERVER_PROBE_INTERVAL_MS", "health probe interval"),
];

/// A commented template for `botcoder config init`.
pub const TEMPLATE: &str = include_str!("template.toml");

fn line_of(text: &str, offset: usize) -> usize {
    text[..offset.min(text.len())].matches('\n').count() + 1
}

impl Layers {
    /// Reads the config file, `<cwd>/.env` and the environment. Never fails: a bad file is
    /// reported in `file_error` and its values are not used.
    pub fn load(cwd: &Path) -> Layers {
        let path = config_path();
        let text = std::fs::read_to_string(&path).ok();
        let dotenv_path = cwd.join(".env");
        let dotenv: Vec<(String, String)> = dotenvy::from_path_iter(&dotenv_path)
            .map(|it| it.flatten().collect())
            .unwrap_or_default();
        let env: Vec<(String, String)> = std::env::vars().collect();
        Layers::from_parts(
            text.as_deref().map(|t| (path.as_path(), t)),
            (&dotenv_path, dotenv),
            env,
        )
    }

    /// The layers from given contents (tests and `load`).
    pub fn from_parts(
        file: Option<(&Path, &str)>,
        dotenv: (&Path, Vec<(String, String)>),
        env: Vec<(String, String)>,
    ) -> Layers {
        let mut layers = Layers::default();
        let lookup_env: BTreeMap<String, String> = dotenv
            .1
            .iter()
            .cloned()
            .chain(env.iter().cloned())
            .collect();
        if let Some((path, text)) = file {
            layers.file = Some(path.to_owned());
            let parsed = toml::from_str::<FileConfig>(text).map_err(|e| {
                let line = e.span().map_or(0, |s| line_of(text, s.start));
                let source_line = text
                    .lines()
                    .nth(line.saturating_sub(1))
                    .unwrap_or_default()
                    .trim();
                format!(
                    "{}:{line}: {} (in `{source_line}`)",
                    path.display(),
                    e.message().trim()
                )
            });
            let vars = parsed.and_then(|cfg| {
                cfg.to_vars(&|name| lookup_env.get(name).cloned())
                    .map_err(|e| format!("{}: {e}", path.display()))
            });
            match vars {
                Ok(vars) => {
                    for (k, v) in vars {
                        layers.vars.insert(k, (v, Source::File(path.to_owned())));
                    }
                }
                Err(e) => layers.file_error = Some(e),
            }
        }
        for (k, v) in dotenv.1 {
            layers
                .vars
                .insert(k, (v, Source::DotEnv(dotenv.0.to_owned())));
        }
        for (k, v) in env {
            layers.vars.insert(k, (v, Source::Environment));
        }
        layers
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
}

#[cfg(test)]
mod tests;
