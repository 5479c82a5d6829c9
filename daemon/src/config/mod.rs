//! Daemon settings: the typed settings of `botcoder-config` (the user's layers: defaults <
//! config.toml < the `.env` beside it < the daemon's environment; or one session's, merged
//! over them) turned into what the daemon runs with ([`Config`]): providers built from their
//! kind's fields, the loop, limits, sandbox, compaction, pricing and botserver. Nothing here
//! parses a setting from a string again: each was read once, in its layer. The daemon never reads
//! a `.env` from its own working directory; per-session layers (the project's files, the
//! client's environment) are merged in `session::settings`, and `live` re-reads the file
//! when it changes. Secrets are wrapped so they never reach logs or events (I8).

mod botserver;
pub mod compact;
pub mod live;
pub mod models;
mod provider;

use std::time::Duration;

pub use botcoder_config::Secret;
pub use botcoder_config::settings::ToolMode;
pub(crate) use provider::build_provider;
pub use provider::{ProviderSpec, fallback_providers, provider_by_name, select_provider};

use botcoder_config::{Layers, Settings};
use botcoder_protocol::ApprovalPolicy;

use crate::llm::RetryPolicy;

/// Names of variables that hold secrets: removed from every child process environment.
pub use botcoder_config::is_secret_var;

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

/// The `[approvals]` rules; a bad one is a config problem (the daemon reports it on every
/// request rather than run without the deny rules the person wrote).
fn approval_rules(s: &Settings, problems: &mut Vec<String>) -> crate::rules::Rules {
    let list = |f: Option<botcoder_config::settings::RuleList>| f.map(|l| l.0).unwrap_or_default();
    let unread: Vec<&str> = s
        .problems
        .iter()
        .filter(|p| p.var.starts_with("BOTCODER_APPROVALS_"))
        .map(|p| p.message.as_str())
        .collect();
    if !unread.is_empty() {
        problems.push(format!("[approvals]: {}", unread.join("; ")));
        return crate::rules::Rules::default();
    }
    match crate::rules::Rules::new(&list(s.approvals_allow()), &list(s.approvals_deny())) {
        Ok(rules) => rules,
        Err(e) => {
            problems.push(format!("[approvals]: {e}"));
            crate::rules::Rules::default()
        }
    }
}

/// A cap as a `usize`, at least 1.
fn cap(var: &str, n: u64, problems: &mut Vec<String>) -> Option<usize> {
    match usize::try_from(n) {
        Ok(0) => {
            problems.push(format!("{var} must be at least 1"));
            None
        }
        Ok(n) => Some(n),
        Err(_) => Some(usize::MAX),
    }
}

/// The `BOTCODER_MAX_*` caps on provider answers; each must be at least 1.
fn provider_limits(s: &Settings, problems: &mut Vec<String>) -> crate::llm::ProviderLimits {
    let mut l = crate::llm::ProviderLimits::default();
    for (var, value, field) in [
        (
            "BOTCODER_MAX_SSE_EVENT_BYTES",
            s.max_sse_event_bytes(),
            &mut l.sse_event_bytes,
        ),
        (
            "BOTCODER_MAX_REPLY_BYTES",
            s.max_reply_bytes(),
            &mut l.reply_bytes,
        ),
        (
            "BOTCODER_MAX_TOOL_ARGS_BYTES",
            s.max_tool_args_bytes(),
            &mut l.tool_args_bytes,
        ),
        (
            "BOTCODER_MAX_TOOL_CALLS",
            s.max_tool_calls(),
            &mut l.tool_calls,
        ),
    ] {
        if let Some(n) = cap(var, value, problems) {
            *field = n;
        }
    }
    l
}

fn sandbox_settings(s: &Settings) -> crate::tools::sandbox::Settings {
    use crate::tools::sandbox::Requested;
    use botcoder_config::settings::SandboxMode;
    crate::tools::sandbox::Settings {
        mode: match s.sandbox() {
            SandboxMode::Off => Requested::Off,
            SandboxMode::Landlock => Requested::Landlock,
            SandboxMode::Auto => Requested::Auto,
            SandboxMode::Bwrap => Requested::Bwrap,
        },
        network: s.sandbox_network(),
    }
}

fn agent_settings(s: &Settings, problems: &mut Vec<String>) -> AgentSettings {
    let mut a = AgentSettings {
        approval: s.approval(),
        tool_mode: s.tool_mode(),
        ..AgentSettings::default()
    };
    match s.max_iterations() {
        0 => problems.push("BOTCODER_MAX_ITERATIONS must be at least 1".to_owned()),
        n => a.max_iterations = n,
    }
    a
}

impl Config {
    /// The configuration of settings `s` (the user's layers, or one session's merged over
    /// them: `user` says what was wrong with the user's file and holds the environment's
    /// secrets). Never fails: a bad provider setting is kept as the error every request
    /// will report, so the daemon still starts; any other bad setting is left at its
    /// default and listed in `problems`, so one typo does not disable a provider.
    /// Unreadable approval rules are the exception: without the person's deny rules no turn
    /// runs.
    pub fn new(s: &Settings, user: &Layers) -> Config {
        let mut problems: Vec<String> = user.parse_errors.clone();
        problems.extend(s.problems.iter().map(|p| p.message.clone()));
        let mut fatal: Vec<String> = Vec::new();
        if user.approvals_lost {
            fatal.push(
                "the [approvals] rules in config.toml could not be read (see above); no turn runs \
                 without the deny rules you wrote: fix the file, then `botcoder daemon reload`"
                    .to_owned(),
            );
        }
        let retry = RetryPolicy {
            max_attempts: s.max_retries().saturating_add(1).max(1),
            ..RetryPolicy::default()
        };
        let idle = Duration::from_secs(s.idle_timeout_s().max(1));
        let agent = agent_settings(s, &mut problems);
        let approvals = approval_rules(s, &mut fatal);
        let provider_limits = provider_limits(s, &mut problems);
        let compact = compact::CompactSettings::from_settings(s, &mut problems);
        let prices = s.pricing().map(|p| p.0).unwrap_or_default();
        let pricing = crate::llm::pricing::PriceTable::new(
            prices
                .into_iter()
                .map(|(model, p)| {
                    let price = crate::llm::pricing::Price {
                        input: p.input,
                        output: p.output,
                        cached_input: p.cached_input,
                    };
                    (model, price)
                })
                .collect(),
        )
        .unwrap_or_else(|e| {
            problems.push(e.to_string());
            Default::default()
        });
        let limits = crate::ratelimit::Limits {
            tpm: s.tpm().filter(|n| *n > 0),
            rpm: s.rpm().filter(|n| *n > 0),
        };
        let botserver = botserver::botserver_settings(s).unwrap_or_else(|e| {
            problems.push(e);
            None
        });
        let fallback = fallback_providers(s, idle).unwrap_or_else(|e| {
            problems.push(e);
            Vec::new()
        });
        let provider = if fatal.is_empty() {
            select_provider(s, idle)
        } else {
            Err(fatal.join("; "))
        };
        let mut seen = std::collections::HashSet::new();
        problems.retain(|p| seen.insert(p.clone()));
        let exposed = s.exposed_pairs();
        let redactor = crate::redact::Redactor::from_vars(
            user.vars()
                .chain(exposed.iter().map(|(k, v)| (*k, v.as_str()))),
        );
        Config {
            provider,
            retry,
            agent,
            limits,
            botserver,
            fallback,
            approvals,
            provider_limits,
            redactor,
            sandbox: sandbox_settings(s),
            compact,
            pricing,
            problems,
        }
    }

    /// The configuration of the user's layers alone (the daemon's own).
    pub fn of_layers(user: &Layers) -> Config {
        Config::new(&user.settings, user)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use botcoder_config::Source;

    fn config_of<'a>(pairs: impl IntoIterator<Item = (&'a str, &'a str)>) -> Config {
        Config::new(
            &Settings::from_vars(pairs, &Source::Environment),
            &Layers::default(),
        )
    }

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
        let cfg = config_of([
            ("BOTCODER_APPROVAL", "read-only"),
            ("BOTCODER_TOOL_MODE", "text"),
            ("BOTCODER_MAX_ITERATIONS", "3"),
        ]);
        assert_eq!(
            cfg.agent,
            AgentSettings {
                approval: ApprovalPolicy::ReadOnly,
                tool_mode: ToolMode::Text,
                max_iterations: 3
            }
        );
        let cfg = config_of([("BOTCODER_APPROVAL", "yolo"), ("OPENAI_API_KEY", "k")]);
        assert!(cfg.problems[0].contains("BOTCODER_APPROVAL"));
        assert!(
            cfg.provider.is_ok(),
            "one typo does not disable the provider"
        );
    }

    #[test]
    fn approval_rules_read_json_or_lines_and_a_bad_rule_is_a_problem() {
        use crate::rules::Rules;
        let cfg = config_of([
            (
                "BOTCODER_APPROVALS_ALLOW",
                r#"["cargo test", "git status"]"#,
            ),
            ("BOTCODER_APPROVALS_DENY", "rm\ngit push\n"),
            ("OPENAI_API_KEY", "k"),
        ]);
        let want = Rules::new(
            &["cargo test".into(), "git status".into()],
            &["rm".into(), "git push".into()],
        )
        .unwrap();
        assert_eq!(cfg.approvals, want);
        assert!(cfg.provider.is_ok());
        let cfg = config_of([
            ("BOTCODER_APPROVALS_DENY", "rm; ls"),
            ("OPENAI_API_KEY", "k"),
        ]);
        let err = cfg.provider.unwrap_err();
        assert!(
            err.contains("[approvals]") && err.contains("rm; ls"),
            "{err}"
        );
    }

    #[test]
    fn provider_limits_parse_and_zero_is_refused() {
        let cfg = config_of([
            ("OPENAI_API_KEY", "k"),
            ("BOTCODER_MAX_TOOL_CALLS", "4"),
            ("BOTCODER_MAX_REPLY_BYTES", "1000"),
        ]);
        assert_eq!(
            (
                cfg.provider_limits.tool_calls,
                cfg.provider_limits.reply_bytes
            ),
            (4, 1000)
        );
        let cfg = config_of([
            ("OPENAI_API_KEY", "k"),
            ("BOTCODER_MAX_SSE_EVENT_BYTES", "0"),
        ]);
        assert!(cfg.problems[0].contains("BOTCODER_MAX_SSE_EVENT_BYTES"));
    }

    #[test]
    fn the_config_file_arrives_typed_and_one_bad_value_disables_only_itself() {
        let file = "provider = \"work\"\nmax_iterations = 3\ntool_mode = \"txt\"\n\
                    [providers.work]\nkind = \"anthropic\"\nmodel = \"c-1\"\nkey_env = \"WORK_KEY\"\n\
                    [sandbox]\nmode = \"bwrap\"\n[pricing.\"c-1\"]\ninput = 1.0\noutput = 2.0\n";
        let layers = Layers::from_parts(
            Some((std::path::Path::new("/cfg/config.toml"), file)),
            (std::path::Path::new("/cfg/.env"), Vec::new()),
            vec![("WORK_KEY".into(), "sk-work-1234".into())],
        );
        let cfg = Config::of_layers(&layers);
        assert_eq!(
            (cfg.agent.max_iterations, cfg.agent.tool_mode),
            (3, ToolMode::Auto)
        );
        assert_eq!(cfg.problems.len(), 1, "{:?}", cfg.problems);
        assert!(
            cfg.problems[0].starts_with("/cfg/config.toml: tool_mode = \"txt\""),
            "{:?}",
            cfg.problems
        );
        match cfg.provider.unwrap() {
            ProviderSpec::Anthropic(a) => {
                assert_eq!((a.model.as_str(), a.key_var.as_str()), ("c-1", "WORK_KEY"));
                assert_eq!(a.api_key, Secret::new("sk-work-1234"));
            }
            other => panic!("not anthropic: {other:?}"),
        }
        assert_eq!(cfg.sandbox.mode, crate::tools::sandbox::Requested::Bwrap);
        assert_eq!(cfg.pricing.price("c-1").map(|p| p.output), Some(2.0));
        assert_eq!(cfg.redactor.redact("key sk-work-1234"), "key ***");
    }

    #[test]
    fn bad_numbers_name_the_variable() {
        let cfg = config_of([("LLM_MAX_RETRIES", "many"), ("OPENAI_API_KEY", "k")]);
        assert!(
            cfg.problems[0].contains("LLM_MAX_RETRIES"),
            "{:?}",
            cfg.problems
        );
        assert!(cfg.provider.is_ok());
    }
}
