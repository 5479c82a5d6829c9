//! Daemon settings: the user's layers (`botcoder-config`: defaults < config.toml < the `.env`
//! beside it < the daemon's environment), turned into typed settings. The daemon never reads
//! a `.env` from its own working directory; per-session layers (the project's files, the
//! client's environment) are merged in `session::settings`, and `live` re-reads the file
//! when it changes. Secrets are wrapped so they never reach logs or events (I8).

mod botserver;
pub mod compact;
pub mod live;
pub mod models;
mod provider;

use std::collections::HashMap;
use std::time::Duration;

pub use botcoder_config::Secret;
pub(crate) use provider::build_provider;
pub use provider::{ProviderSpec, fallback_providers, provider_by_name, select_provider};

use botcoder_protocol::ApprovalPolicy;

use crate::llm::RetryPolicy;

/// Variables from every layer, merged (see `botcoder-config`).
#[derive(Debug, Clone, Default)]
pub struct Env {
    vars: HashMap<String, String>,
    /// What is wrong with the config file, if anything (reported; the valid sections apply).
    pub file_error: Option<String>,
    /// The `[approvals]` rules could not be read: turns are refused rather than run without
    /// the deny rules the person wrote.
    pub approvals_lost: bool,
    /// For each provider key variable, the variable (and file) that held the key, when
    /// that is not the key variable itself (see [`Env::key_hint`]).
    key_hints: HashMap<String, String>,
}

/// The key variables of every provider kind.
const KEY_VARS: [&str; 4] = [
    "OPENAI_API_KEY",
    "AZURE_OPENAI_API_KEY",
    "ANTHROPIC_API_KEY",
    "LOCAL_LLM_API_KEY",
];

fn hints(hint: impl Fn(&str) -> String) -> HashMap<String, String> {
    KEY_VARS
        .iter()
        .map(|v| (v.to_string(), hint(v)))
        .filter(|(v, h)| v != h)
        .collect()
}

impl Env {
    /// The user's layers: config.toml, the `.env` beside it, the environment.
    pub fn load() -> Env {
        Env::from_layers(&botcoder_config::Layers::load())
    }

    /// The variables of given layers.
    pub fn from_layers(layers: &botcoder_config::Layers) -> Env {
        Env {
            vars: layers
                .iter()
                .map(|(k, v)| (k.to_owned(), v.to_owned()))
                .collect(),
            file_error: layers.file_error.clone(),
            approvals_lost: layers.approvals_lost,
            key_hints: hints(|v| layers.key_hint(v)),
        }
    }

    /// One session's merged variables, with the problems of the user's config file.
    pub fn from_merged(
        merged: &botcoder_config::session::Merged,
        user: &botcoder_config::Layers,
    ) -> Env {
        Env {
            vars: merged
                .pairs()
                .map(|(k, v)| (k.to_owned(), v.to_owned()))
                .collect(),
            file_error: user.file_error.clone(),
            approvals_lost: user.approvals_lost,
            key_hints: hints(|v| merged.key_hint(v)),
        }
    }

    /// An environment made of exactly these pairs (tests).
    pub fn from_pairs<'a>(pairs: impl IntoIterator<Item = (&'a str, &'a str)>) -> Env {
        Env {
            vars: pairs
                .into_iter()
                .map(|(k, v)| (k.to_owned(), v.to_owned()))
                .collect(),
            file_error: None,
            approvals_lost: false,
            key_hints: HashMap::new(),
        }
    }

    /// The variable to name when the key in `key_var` is rejected: the one that held it
    /// (`MY_KEY` through `key_env`, `OPENAI_API_KEY in /p/.env`), else `key_var`.
    pub fn key_hint(&self, key_var: &str) -> String {
        self.key_hints
            .get(key_var)
            .cloned()
            .unwrap_or_else(|| key_var.to_owned())
    }

    /// A non-empty value.
    pub fn get(&self, name: &str) -> Option<&str> {
        self.vars
            .get(name)
            .map(|s| s.trim())
            .filter(|s| !s.is_empty())
    }

    /// Every non-empty variable, for finding the secrets to redact.
    pub fn iter(&self) -> impl Iterator<Item = (&str, &str)> {
        self.vars
            .iter()
            .map(|(k, v)| (k.as_str(), v.trim()))
            .filter(|(_, v)| !v.is_empty())
    }

    /// A number, or an error naming the variable.
    pub fn parse<T: std::str::FromStr>(&self, name: &str) -> Result<Option<T>, String> {
        match self.get(name) {
            None => Ok(None),
            Some(v) => v
                .parse()
                .map(Some)
                .map_err(|_| format!("{name}={v:?} is not a valid number")),
        }
    }
}

/// Names of variables that hold secrets: removed from every child process environment.
pub use botcoder_config::is_secret_var;

/// How tools reach the model.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ToolMode {
    /// Native tool definitions and calls of the wire format.
    Native,
    /// The text protocol: call-style calls and `CHANGE:` blocks in the reply text.
    Text,
    /// Native when the provider supports it, else text.
    Auto,
}

/// How the agent loop behaves.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct AgentSettings {
    /// Default approval policy of new sessions (`BOTCODER_APPROVAL`).
    pub approval: ApprovalPolicy,
    /// `BOTCODER_TOOL_MODE`.
    pub tool_mode: ToolMode,
    /// Model requests per turn before it fails with `iteration_limit` (`BOTCODER_MAX_ITERATIONS`).
    pub max_iterations: u32,
}

impl Default for AgentSettings {
    fn default() -> Self {
        AgentSettings {
            approval: ApprovalPolicy::Ask,
            tool_mode: ToolMode::Auto,
            max_iterations: 25,
        }
    }
}

/// Everything the daemon reads from its environment at start.
#[derive(Debug, Clone)]
pub struct Config {
    /// The provider to use, or why there is none (a message naming what to set).
    pub provider: Result<ProviderSpec, String>,
    /// Retry settings.
    pub retry: RetryPolicy,
    /// Agent loop settings.
    pub agent: AgentSettings,
    /// Local rate-limit budgets for the provider (`LLM_TPM`, `LLM_RPM`).
    pub limits: crate::ratelimit::Limits,
    /// The botserver, when `BOTSERVER_URL` is set.
    pub botserver: Option<crate::botserver::BotserverSettings>,
    /// Providers to continue on (`LLM_FALLBACK`).
    pub fallback: Vec<ProviderSpec>,
    /// `[approvals]` rules (`BOTCODER_APPROVALS_ALLOW`, `BOTCODER_APPROVALS_DENY`).
    pub approvals: crate::rules::Rules,
    /// Caps on what one provider answer may make the daemon hold (`BOTCODER_MAX_*`).
    pub provider_limits: crate::llm::ProviderLimits,
    /// The secrets to keep out of every message, event and log line.
    pub redactor: crate::redact::Redactor,
    /// Settings that were wrong and are not in force (each names its variable or
    /// `path:line`); the rest applies. Reported by `daemon.status` and `doctor`.
    pub problems: Vec<String>,
    /// The command sandbox (`BOTCODER_SANDBOX`, `BOTCODER_SANDBOX_NETWORK`).
    pub sandbox: crate::tools::sandbox::Settings,
    /// Compaction (`BOTCODER_COMPACT_AT`, `BOTCODER_CONTEXT_WINDOW`).
    pub compact: compact::CompactSettings,
    /// Prices per model (`BOTCODER_PRICING` over the built-in table).
    pub pricing: crate::llm::pricing::PriceTable,
}

/// A rule list: a JSON array of strings (what `config.toml` becomes), or one rule a line.
fn rule_list(env: &Env, name: &str) -> Result<Vec<String>, String> {
    let Some(v) = env.get(name) else {
        return Ok(Vec::new());
    };
    if v.starts_with('[') {
        return serde_json::from_str(v)
            .map_err(|e| format!("{name} is not a JSON array of strings: {e}"));
    }
    Ok(v.lines()
        .map(str::trim)
        .filter(|l| !l.is_empty())
        .map(str::to_owned)
        .collect())
}

/// The `[approvals]` rules; a bad one is a config problem (the daemon reports it on every
/// request rather than run without the deny rules the person wrote).
fn approval_rules(env: &Env, problems: &mut Vec<String>) -> crate::rules::Rules {
    let lists = rule_list(env, "BOTCODER_APPROVALS_ALLOW")
        .and_then(|allow| rule_list(env, "BOTCODER_APPROVALS_DENY").map(|deny| (allow, deny)));
    match lists.and_then(|(allow, deny)| crate::rules::Rules::new(&allow, &deny)) {
        Ok(rules) => rules,
        Err(e) => {
            problems.push(format!("[approvals]: {e}"));
            crate::rules::Rules::default()
        }
    }
}

/// The `BOTCODER_MAX_*` caps on provider answers; each must be at least 1.
fn provider_limits(env: &Env, problems: &mut Vec<String>) -> crate::llm::ProviderLimits {
    let mut l = crate::llm::ProviderLimits::default();
    for (var, field) in [
        ("BOTCODER_MAX_SSE_EVENT_BYTES", &mut l.sse_event_bytes),
        ("BOTCODER_MAX_REPLY_BYTES", &mut l.reply_bytes),
        ("BOTCODER_MAX_TOOL_ARGS_BYTES", &mut l.tool_args_bytes),
        ("BOTCODER_MAX_TOOL_CALLS", &mut l.tool_calls),
    ] {
        match env.parse::<usize>(var) {
            Ok(Some(n)) if n > 0 => *field = n,
            Ok(Some(_)) => problems.push(format!("{var} must be at least 1")),
            Ok(None) => {}
            Err(e) => problems.push(e),
        }
    }
    l
}

fn sandbox_settings(env: &Env, problems: &mut Vec<String>) -> crate::tools::sandbox::Settings {
    use crate::tools::sandbox::{Requested, Settings};
    let mut s = Settings::default();
    if let Some(v) = env.get("BOTCODER_SANDBOX") {
        match Requested::parse(v) {
            Some(m) => s.mode = m,
            None => problems.push(format!(
                "BOTCODER_SANDBOX={v:?} must be auto, bwrap, landlock or off"
            )),
        }
    }
    if let Some(v) = env.get("BOTCODER_SANDBOX_NETWORK") {
        match v.to_ascii_lowercase().as_str() {
            "1" | "true" | "yes" | "on" => s.network = true,
            "0" | "false" | "no" | "off" => s.network = false,
            _ => problems.push(format!(
                "BOTCODER_SANDBOX_NETWORK={v:?} must be true or false"
            )),
        }
    }
    s
}

fn agent_settings(env: &Env, problems: &mut Vec<String>) -> AgentSettings {
    let mut a = AgentSettings::default();
    match env
        .get("BOTCODER_APPROVAL")
        .map(str::to_ascii_lowercase)
        .as_deref()
    {
        None => {}
        Some("auto") => a.approval = ApprovalPolicy::Auto,
        Some("ask") => a.approval = ApprovalPolicy::Ask,
        Some("read-only" | "readonly" | "read_only") => a.approval = ApprovalPolicy::ReadOnly,
        Some(other) => problems.push(format!(
            "BOTCODER_APPROVAL={other:?} must be auto, ask or read-only"
        )),
    }
    match env
        .get("BOTCODER_TOOL_MODE")
        .map(str::to_ascii_lowercase)
        .as_deref()
    {
        None | Some("auto") => {}
        Some("native") => a.tool_mode = ToolMode::Native,
        Some("text") => a.tool_mode = ToolMode::Text,
        Some(other) => problems.push(format!(
            "BOTCODER_TOOL_MODE={other:?} must be native, text or auto"
        )),
    }
    match env.parse::<u32>("BOTCODER_MAX_ITERATIONS") {
        Ok(Some(n)) if n > 0 => a.max_iterations = n,
        Ok(Some(_)) => problems.push("BOTCODER_MAX_ITERATIONS must be at least 1".to_owned()),
        Ok(None) => {}
        Err(e) => problems.push(e),
    }
    a
}

impl Config {
    /// Reads the configuration. Never fails: a bad provider setting is kept as the error
    /// every request will report, so the daemon still starts; any other bad setting is left
    /// at its default and listed in `problems`, so one typo does not disable a provider.
    /// Unreadable approval rules are the exception: without the person's deny rules no turn
    /// runs.
    pub fn from_env(env: &Env) -> Config {
        let mut retry = RetryPolicy::default();
        let mut problems: Vec<String> = env.file_error.iter().cloned().collect();
        let mut fatal: Vec<String> = Vec::new();
        if env.approvals_lost {
            fatal.push(
                "the [approvals] rules in config.toml could not be read (see above); no turn runs \
                 without the deny rules you wrote: fix the file, then `botcoder daemon reload`"
                    .to_owned(),
            );
        }
        match env.parse::<u32>("LLM_MAX_RETRIES") {
            Ok(Some(n)) => retry.max_attempts = n.saturating_add(1).max(1),
            Ok(None) => {}
            Err(e) => problems.push(e),
        }
        let idle = match env.parse::<u64>("LLM_IDLE_TIMEOUT_S") {
            Ok(v) => Duration::from_secs(v.unwrap_or(60).max(1)),
            Err(e) => {
                problems.push(e);
                Duration::from_secs(60)
            }
        };
        let agent = agent_settings(env, &mut problems);
        let approvals = approval_rules(env, &mut fatal);
        let provider_limits = provider_limits(env, &mut problems);
        let sandbox = sandbox_settings(env, &mut problems);
        let compact = compact::CompactSettings::from_env(env, &mut problems);
        let pricing = crate::llm::pricing::PriceTable::from_json(env.get("BOTCODER_PRICING"))
            .unwrap_or_else(|e| {
                problems.push(e.to_string());
                Default::default()
            });
        let mut limit = |var: &str| match env.parse::<u64>(var) {
            Ok(v) => v.filter(|n| *n > 0),
            Err(e) => {
                problems.push(e);
                None
            }
        };
        let limits = crate::ratelimit::Limits {
            tpm: limit("LLM_TPM"),
            rpm: limit("LLM_RPM"),
        };
        let botserver = botserver::botserver_settings(env).unwrap_or_else(|e| {
            problems.push(e);
            None
        });
        let fallback = fallback_providers(env, idle).unwrap_or_else(|e| {
            problems.push(e);
            Vec::new()
        });
        let provider = if fatal.is_empty() {
            select_provider(env, idle)
        } else {
            Err(fatal.join("; "))
        };
        Config {
            provider,
            retry,
            agent,
            limits,
            botserver,
            fallback,
            approvals,
            provider_limits,
            redactor: crate::redact::Redactor::from_vars(env.iter()),
            sandbox,
            compact,
            pricing,
            problems,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn secret_vars_are_recognised() {
        for v in [
            "OPENAI_API_KEY",
            "ANTHROPIC_API_KEY",
            "GITHUB_TOKEN",
            "BOTSERVER_API_KEY",
            "AWS_SECRET_ACCESS_KEY",
        ] {
            assert!(is_secret_var(v), "{v}");
        }
        for v in ["PATH", "HOME", "OPENAI_MODEL", "LLM_PROVIDER"] {
            assert!(!is_secret_var(v), "{v}");
        }
    }

    #[test]
    fn agent_settings_parse_and_bad_values_name_the_variable() {
        let cfg = Config::from_env(&Env::from_pairs([
            ("BOTCODER_APPROVAL", "read-only"),
            ("BOTCODER_TOOL_MODE", "text"),
            ("BOTCODER_MAX_ITERATIONS", "3"),
        ]));
        assert_eq!(
            cfg.agent,
            AgentSettings {
                approval: ApprovalPolicy::ReadOnly,
                tool_mode: ToolMode::Text,
                max_iterations: 3
            }
        );
        let cfg = Config::from_env(&Env::from_pairs([
            ("BOTCODER_APPROVAL", "yolo"),
            ("OPENAI_API_KEY", "k"),
        ]));
        assert!(cfg.problems[0].contains("BOTCODER_APPROVAL"));
        assert!(
            cfg.provider.is_ok(),
            "one typo does not disable the provider"
        );
    }

    #[test]
    fn approval_rules_read_json_or_lines_and_a_bad_rule_is_a_problem() {
        use crate::rules::Rules;
        let cfg = Config::from_env(&Env::from_pairs([
            (
                "BOTCODER_APPROVALS_ALLOW",
                r#"["cargo test", "git status"]"#,
            ),
            ("BOTCODER_APPROVALS_DENY", "rm\ngit push\n"),
            ("OPENAI_API_KEY", "k"),
        ]));
        let want = Rules::new(
            &["cargo test".into(), "git status".into()],
            &["rm".into(), "git push".into()],
        )
        .unwrap();
        assert_eq!(cfg.approvals, want);
        assert!(cfg.provider.is_ok());
        let cfg = Config::from_env(&Env::from_pairs([
            ("BOTCODER_APPROVALS_DENY", "rm; ls"),
            ("OPENAI_API_KEY", "k"),
        ]));
        let err = cfg.provider.unwrap_err();
        assert!(
            err.contains("[approvals]") && err.contains("rm; ls"),
            "{err}"
        );
    }

    #[test]
    fn provider_limits_parse_and_zero_is_refused() {
        let cfg = Config::from_env(&Env::from_pairs([
            ("OPENAI_API_KEY", "k"),
            ("BOTCODER_MAX_TOOL_CALLS", "4"),
            ("BOTCODER_MAX_REPLY_BYTES", "1000"),
        ]));
        assert_eq!(
            (
                cfg.provider_limits.tool_calls,
                cfg.provider_limits.reply_bytes
            ),
            (4, 1000)
        );
        let cfg = Config::from_env(&Env::from_pairs([
            ("OPENAI_API_KEY", "k"),
            ("BOTCODER_MAX_SSE_EVENT_BYTES", "0"),
        ]));
        assert!(cfg.problems[0].contains("BOTCODER_MAX_SSE_EVENT_BYTES"));
    }

    #[test]
    fn bad_numbers_name_the_variable() {
        let cfg = Config::from_env(&Env::from_pairs([
            ("LLM_MAX_RETRIES", "many"),
            ("OPENAI_API_KEY", "k"),
        ]));
        assert!(
            cfg.problems[0].contains("LLM_MAX_RETRIES"),
            "{:?}",
            cfg.problems
        );
        assert!(cfg.provider.is_ok());
    }
}
