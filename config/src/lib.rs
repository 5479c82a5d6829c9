//! botcoder's settings, in layers where later wins: built-in defaults < `config.toml` (and
//! a `.env` beside it) < the daemon's environment < the project's own settings
//! (`.botcoder/config.toml`, `.env` at the project root) < the creating client's environment
//! and flags. Every layer is a typed partial [`Settings`] whose fields remember where their
//! value came from, for `botcoder config show`; layers merge field by field. The daemon and
//! the clients read settings through this crate, so they agree; the per-session merge (with
//! the key-redirect protection of I11) is in [`session`].

mod file;
pub mod mcp;
pub mod paths;
mod secret;
pub mod session;
pub mod settings;

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

pub use file::{FileConfig, Parsed, ProviderEntry, Vars, parse};
pub use secret::Secret;
pub use settings::{Field, KEYS, Problem, ProviderKind, Settings};

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
    /// The variable a `key_env` names, read from the layer `from`.
    Via {
        /// The variable that held the value (`MY_KEY`).
        var: String,
        /// Where that variable was set.
        from: Box<Source>,
    },
}

impl Source {
    /// Whether the value came from the user rather than from a project's files: only such
    /// sources may point a user's key somewhere (I11).
    pub fn is_user(&self) -> bool {
        match self {
            Source::Project(_) => false,
            Source::Via { from, .. } => from.is_user(),
            _ => true,
        }
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
            Source::Via { var, from } => write!(f, "{var} in {from}"),
        }
    }
}

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
    let known = KEYS.iter().any(|k| k.name == name);
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

/// Settings from the user's layers: config.toml, the `.env` beside it, the environment.
#[derive(Debug, Clone, Default)]
pub struct Layers {
    /// The layers merged, field by field.
    pub settings: Settings,
    /// The variables of the `.env` and the environment as they are (the environment wins),
    /// for `key_env` and for the secrets to redact.
    raw: BTreeMap<String, (String, Source)>,
    /// The config file, when it exists.
    pub file: Option<PathBuf>,
    /// What is wrong with the config file (`path:line: message`, one per problem joined by
    /// "; "); the valid sections still apply.
    pub file_error: Option<String>,
    /// The problems of the file that are not a value's (it or a section does not parse):
    /// the values' own problems are in [`Settings::problems`].
    pub parse_errors: Vec<String>,
    /// The `[approvals]` rules could not be read (see [`Parsed::approvals_lost`]).
    pub approvals_lost: bool,
    /// The valid part of the config file (for `--provider NAME` and trusted projects).
    pub file_config: FileConfig,
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
            layers.parse_errors.push(e.clone());
            layers.file_error = Some(e);
        }
        layers
    }

    /// The layers from given contents (tests and `load`).
    pub fn from_parts(file: Option<(&Path, &str)>, dotenv: (&Path, Vars), env: Vars) -> Layers {
        let mut layers = Layers::default();
        let dotenv_source = Source::DotEnv(dotenv.0.to_owned());
        for (k, v) in &dotenv.1 {
            layers
                .raw
                .insert(k.clone(), (v.clone(), dotenv_source.clone()));
        }
        for (k, v) in &env {
            layers
                .raw
                .insert(k.clone(), (v.clone(), Source::Environment));
        }
        if let Some((path, text)) = file {
            layers.file = Some(path.to_owned());
            let parsed = file::parse(path, text);
            let lookup = |name: &str| layers.lookup(name);
            let settings = parsed
                .config
                .settings(&Source::File(path.to_owned()), &lookup);
            let mut errors = parsed.errors.clone();
            errors.extend(settings.problems.iter().map(|p| p.message.clone()));
            layers.file_error = (!errors.is_empty()).then(|| errors.join("; "));
            layers.parse_errors = parsed.errors;
            layers.approvals_lost = parsed.approvals_lost;
            layers.file_config = parsed.config;
            layers.settings = settings;
        }
        let from_dotenv = Settings::from_vars(pairs(&dotenv.1), &dotenv_source);
        layers.settings.over(&from_dotenv);
        let from_env = Settings::from_vars(pairs(&env), &Source::Environment);
        layers.settings.over(&from_env);
        layers
    }

    /// A variable of the `.env` or the environment, non-empty, with where it was set.
    pub fn lookup(&self, name: &str) -> Option<(String, Source)> {
        self.raw
            .get(name)
            .filter(|(v, _)| !v.trim().is_empty())
            .map(|(v, s)| (v.trim().to_owned(), s.clone()))
    }

    /// The variables of the `.env` and the environment, as they are (for the redactor).
    pub fn vars(&self) -> impl Iterator<Item = (&str, &str)> {
        self.raw.iter().map(|(k, (v, _))| (k.as_str(), v.as_str()))
    }

    /// Every secret these layers hold: the secret variables of the `.env` and the
    /// environment, and the keys `key_env` read (the redactor keeps them out of output).
    pub fn secret_values(&self) -> Vec<String> {
        let mut out: Vec<String> = self
            .raw
            .iter()
            .filter(|(k, (v, _))| is_secret_var(k) && !v.trim().is_empty())
            .map(|(_, (v, _))| v.trim().to_owned())
            .collect();
        out.extend(
            self.settings
                .secrets()
                .into_iter()
                .map(|s| s.expose().to_owned()),
        );
        out
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

/// Borrowed (name, value) pairs.
fn pairs(v: &Vars) -> impl Iterator<Item = (&str, &str)> {
    v.iter().map(|(k, v)| (k.as_str(), v.as_str()))
}
