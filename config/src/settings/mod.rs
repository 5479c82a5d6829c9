//! The typed settings: one struct with a field per key, each holding its value and its
//! [`Source`]. Every layer (config.toml, a `.env`, an environment, a project's files, a
//! client's environment, a flag) is a partial [`Settings`] — only the fields it sets — and
//! layers merge field by field, later wins ([`Settings::over`]). An environment string is
//! parsed once, here, into its field ([`Settings::set_var`]); a bad value becomes a
//! [`Problem`] naming the variable and leaves that field unset, so every other field (and
//! the provider) still works. `config.toml` values arrive typed (`crate::file`).
//!
//! The user-facing name of each key is its environment variable (`OPENAI_MODEL`): what
//! people export, what `botcoder config show` prints. To add a key: a line in the
//! `settings!` table below (field, type, variable, default, what it does), and a field in
//! `crate::file` if config.toml sets it.

mod from_file;
mod value;

use std::hash::Hasher;

pub use value::{
    Fallback, Prices, ProviderChoice, ProviderKind, RuleList, SandboxMode, ToolMode, Value,
    WireFormat,
};

use crate::{Secret, Source};
use botcoder_protocol::ApprovalPolicy;

/// A value and where it came from.
#[derive(Debug, Clone, PartialEq)]
pub struct Field<T> {
    /// The value.
    pub value: T,
    /// The layer that set it.
    pub source: Source,
}

/// A setting that is wrong and not in force; the rest applies.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Problem {
    /// The variable it concerns (`BOTCODER_MAX_ITERATIONS`).
    pub var: &'static str,
    /// What is wrong and what would be right, naming the variable (or `path:`).
    pub message: String,
}

impl std::fmt::Display for Problem {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.message)
    }
}

/// One key botcoder reads (for `config show` and the docs).
#[derive(Debug, Clone, Copy)]
pub struct Key {
    /// Its variable.
    pub name: &'static str,
    /// What it does.
    pub what: &'static str,
    /// Its built-in default, shown.
    pub default: fn() -> Option<String>,
}

/// One line of `config show`: a key, its value (shown: a secret is masked) and source.
#[derive(Debug, Clone, PartialEq)]
pub struct Row {
    /// The variable.
    pub name: &'static str,
    /// What it does.
    pub what: &'static str,
    /// The value in force and the layer that set it; `None`: the default (or unset).
    pub set: Option<(String, Source)>,
    /// The built-in default, when there is one.
    pub default: Option<String>,
}

/// A default as `config show` prints it.
fn shown<T: Value>(default: Option<T>) -> Option<String> {
    default.map(|d| d.show())
}

/// A getter: the value in force, or the built-in default when the key has one.
macro_rules! getter {
    ($field:ident, $ty:ty, $var:literal, ) => {
        #[doc = concat!("`", $var, "`, when set.")]
        pub fn $field(&self) -> Option<$ty> {
            self.$field.as_ref().map(|f| f.value.clone())
        }
    };
    ($field:ident, $ty:ty, $var:literal, $default:expr) => {
        #[doc = concat!("`", $var, "`, else its default.")]
        pub fn $field(&self) -> $ty {
            self.$field
                .as_ref()
                .map_or_else(|| $default, |f| f.value.clone())
        }
    };
}

macro_rules! settings {
    ($( $field:ident: $ty:ty = $var:literal $(, default $default:expr)?; $what:literal; )*) => {
        /// Every setting (see the module doc); a field is `None` where no layer set it.
        #[derive(Debug, Clone, Default, PartialEq)]
        pub struct Settings {
            $(
                #[doc = concat!("`", $var, "`: ", $what)]
                pub $field: Option<Field<$ty>>,
            )*
            /// Values that could not be read, each naming its variable.
            pub problems: Vec<Problem>,
        }

        /// Every key, in the order `config show` lists them.
        pub const KEYS: &[Key] = &[$(
            Key {
                name: $var,
                what: $what,
                default: {
                    fn default() -> Option<String> {
                        shown::<$ty>(None $( .or(Some($default)) )?)
                    }
                    default
                },
            },
        )*];

        impl Settings {
            $( getter!($field, $ty, $var, $($default)?); )*

            /// Reads `raw` (an environment value) into the field of variable `var`; a bad
            /// value is a problem and leaves the field as it was. `false`: not a key.
            pub fn set_var(&mut self, var: &str, raw: &str, source: &Source) -> bool {
                let raw = raw.trim();
                match var {
                    $( $var => {
                        if raw.is_empty() {
                            return true;
                        }
                        match <$ty as Value>::from_env(raw) {
                            Ok(value) => {
                                self.problems.retain(|p| p.var != $var);
                                self.$field = Some(Field { value, source: source.clone() });
                            }
                            Err(e) => self.problems.push(Problem {
                                var: $var,
                                message: format!("{}={:?} {e}", $var, raw),
                            }),
                        }
                        true
                    } )*
                    _ => false,
                }
            }

            /// Lays `later` over these settings, field by field: what it sets wins, with
            /// its source; the rest stays. A problem of a variable `later` sets goes.
            pub fn over(&mut self, later: &Settings) {
                $(
                    if let Some(f) = &later.$field {
                        self.$field = Some(f.clone());
                        self.problems.retain(|p| p.var != $var);
                    }
                )*
                self.problems.extend(later.problems.iter().cloned());
            }

            /// Whether a layer set variable `var`.
            pub fn is_set(&self, var: &str) -> bool {
                self.source_of(var).is_some()
            }

            /// Where the value of `var` came from, when a layer set it.
            pub fn source_of(&self, var: &str) -> Option<&Source> {
                match var {
                    $( $var => self.$field.as_ref().map(|f| &f.source), )*
                    _ => None,
                }
            }

            /// Unsets variable `var` (and forgets its problems).
            pub fn clear(&mut self, var: &str) {
                self.problems.retain(|p| p.var != var);
                match var {
                    $( $var => self.$field = None, )*
                    _ => {}
                }
            }

            /// Every value set, as text with secrets exposed: only for the redactor.
            pub fn exposed_pairs(&self) -> Vec<(&'static str, String)> {
                let mut out = Vec::new();
                $( if let Some(f) = &self.$field { out.push(($var, f.value.exposed())); } )*
                out
            }

            /// The variables this layer sets.
            pub fn set_vars(&self) -> Vec<&'static str> {
                let mut out = Vec::new();
                $( if self.$field.is_some() { out.push($var); } )*
                out
            }

            /// Every key with its value, source and default.
            pub fn rows(&self) -> Vec<Row> {
                let mut rows = Vec::with_capacity(KEYS.len());
                $(
                    rows.push(Row {
                        name: $var,
                        what: $what,
                        set: self.$field.as_ref().map(|f| (f.value.show(), f.source.clone())),
                        default: shown::<$ty>(None $( .or(Some($default)) )?),
                    });
                )*
                rows
            }

            /// Feeds every value (not its source) to `h`: equal values, equal hashes.
            pub fn hash_values(&self, h: &mut dyn Hasher) {
                $(
                    if let Some(f) = &self.$field {
                        h.write(concat!($var, "=").as_bytes());
                        f.value.hash_into(h);
                    }
                )*
            }

            /// The variables whose values differ between the two, wherever they came from.
            pub fn changed(&self, other: &Settings) -> Vec<&'static str> {
                let mut out = Vec::new();
                $(
                    if self.$field.as_ref().map(|f| &f.value)
                        != other.$field.as_ref().map(|f| &f.value)
                    {
                        out.push($var);
                    }
                )*
                out
            }
        }
    };
}

settings! {
    provider: ProviderChoice = "LLM_PROVIDER";
        "openai | azure | anthropic | local | botserver (unset: the first with credentials: azure, anthropic, openai, local)";
    openai_key: Secret = "OPENAI_API_KEY"; "OpenAI key";
    openai_url: String = "OPENAI_BASE_URL", default "https://api.openai.com/v1".to_owned();
        "OpenAI base URL";
    openai_model: String = "OPENAI_MODEL", default "gpt-4o-mini".to_owned(); "OpenAI model";
    openai_wire: WireFormat = "OPENAI_WIRE";
        "responses | chat (unset: responses for api.openai.com and Azure v1, else chat)";
    openai_reasoning_effort: String = "OPENAI_REASONING_EFFORT";
        "reasoning effort of reasoning models (minimal | low | medium | high)";
    azure_endpoint: String = "AZURE_OPENAI_ENDPOINT"; "Azure resource endpoint";
    azure_key: Secret = "AZURE_OPENAI_API_KEY"; "Azure key";
    azure_deployment: String = "AZURE_OPENAI_DEPLOYMENT"; "Azure deployment";
    azure_api_version: String = "AZURE_OPENAI_API_VERSION", default "2024-10-21".to_owned();
        "Azure API version (v1: the /openai/v1 surface)";
    anthropic_key: Secret = "ANTHROPIC_API_KEY"; "Anthropic key";
    anthropic_url: String = "ANTHROPIC_BASE_URL", default "https://api.anthropic.com".to_owned();
        "Anthropic base URL";
    anthropic_model: String = "ANTHROPIC_MODEL", default "claude-sonnet-4-5".to_owned();
        "Anthropic model";
    anthropic_max_tokens: u32 = "ANTHROPIC_MAX_TOKENS", default 8192; "Anthropic reply budget";
    anthropic_thinking_budget: u32 = "ANTHROPIC_THINKING_BUDGET";
        "Anthropic extended thinking budget (tokens; unset: off)";
    local_url: String = "LOCAL_LLM_URL", default "http://127.0.0.1:11434/v1".to_owned();
        "local server base URL";
    local_model: String = "LOCAL_LLM_MODEL", default "default".to_owned(); "local model";
    local_key: Secret = "LOCAL_LLM_API_KEY"; "local server key";
    local_context: u64 = "LOCAL_LLM_CONTEXT"; "local context window (tokens)";
    local_wire: WireFormat = "LOCAL_LLM_WIRE"; "chat | responses for the local server (unset: chat)";
    local_reasoning_effort: String = "LOCAL_LLM_REASONING_EFFORT";
        "reasoning effort for the local server";
    max_retries: u32 = "LLM_MAX_RETRIES", default 3; "retries after the first attempt";
    idle_timeout_s: u64 = "LLM_IDLE_TIMEOUT_S", default 60;
        "seconds of stream silence before failing";
    tpm: u64 = "LLM_TPM"; "tokens per minute budget";
    rpm: u64 = "LLM_RPM"; "requests per minute budget";
    fallback: Fallback = "LLM_FALLBACK"; "providers to continue on, comma-separated";
    approval: ApprovalPolicy = "BOTCODER_APPROVAL", default ApprovalPolicy::Ask;
        "auto | ask | read-only";
    tool_mode: ToolMode = "BOTCODER_TOOL_MODE", default ToolMode::Auto; "native | text | auto";
    max_iterations: u32 = "BOTCODER_MAX_ITERATIONS", default 25; "model requests per turn";
    approvals_allow: RuleList = "BOTCODER_APPROVALS_ALLOW";
        "commands that run without asking (argv prefixes)";
    approvals_deny: RuleList = "BOTCODER_APPROVALS_DENY"; "commands that never run (argv prefixes)";
    max_sse_event_bytes: u64 = "BOTCODER_MAX_SSE_EVENT_BYTES", default 8 * 1024 * 1024;
        "cap on one server-sent event";
    max_reply_bytes: u64 = "BOTCODER_MAX_REPLY_BYTES", default 8 * 1024 * 1024;
        "cap on one reply (text and tool-call arguments)";
    max_tool_args_bytes: u64 = "BOTCODER_MAX_TOOL_ARGS_BYTES", default 4 * 1024 * 1024;
        "cap on one tool call's arguments";
    max_tool_calls: u64 = "BOTCODER_MAX_TOOL_CALLS", default 128; "cap on tool calls in one reply";
    log: String = "BOTCODER_LOG", default "info".to_owned(); "log filter";
    socket: String = "BOTCODER_SOCKET"; "daemon socket (read by every program at start)";
    sandbox: SandboxMode = "BOTCODER_SANDBOX", default SandboxMode::Auto;
        "command sandbox: auto | bwrap | landlock | off";
    sandbox_network: bool = "BOTCODER_SANDBOX_NETWORK", default false;
        "let sandboxed commands use the network";
    botserver_url: String = "BOTSERVER_URL"; "botserver address";
    botserver_key: Secret = "BOTSERVER_API_KEY"; "botserver key";
    botserver_facade: bool = "ENABLE_BOTSERVER_FACADE", default false; "facade turns on";
    fallback_to_local: bool = "FALLBACK_TO_LOCAL", default true;
        "work locally when the botserver is down";
    botserver_ca_file: String = "BOTSERVER_CA_FILE"; "extra CA for the botserver";
    botserver_probe_interval_ms: u64 = "BOTSERVER_PROBE_INTERVAL_MS", default 15_000;
        "health probe interval";
    compact_at: f64 = "BOTCODER_COMPACT_AT", default 0.85;
        "share of the context window past which older context is summarised";
    context_window: u64 = "BOTCODER_CONTEXT_WINDOW";
        "the model's context window in tokens (overrides what the provider says)";
    pricing: Prices = "BOTCODER_PRICING";
        "per-model prices, JSON ({\"model\": {input, output, cached_input}} per million tokens)";
}

impl Settings {
    /// A layer made of environment strings (a `.env`, an environment), each read once into
    /// its field; variables that are not keys are left out.
    pub fn from_vars<'a>(
        vars: impl IntoIterator<Item = (&'a str, &'a str)>,
        source: &Source,
    ) -> Settings {
        let mut s = Settings::default();
        for (k, v) in vars {
            s.set_var(k, v, source);
        }
        s
    }

    /// The provider kind these settings select: `LLM_PROVIDER`, else the first kind whose
    /// credentials are set (azure, anthropic, openai, local). `LLM_PROVIDER=botserver`
    /// selects as if it were unset.
    pub fn kind(&self) -> Option<ProviderKind> {
        if let Some(ProviderChoice::Kind(k)) = self.provider() {
            return Some(k);
        }
        ProviderKind::DETECT_ORDER.into_iter().find(|k| match k {
            ProviderKind::Local => self.local_url.is_some() || self.local_model.is_some(),
            k => self.key_of(*k).is_some(),
        })
    }

    /// The key field of a kind.
    pub fn key_of(&self, kind: ProviderKind) -> &Option<Field<Secret>> {
        match kind {
            ProviderKind::OpenAi => &self.openai_key,
            ProviderKind::Azure => &self.azure_key,
            ProviderKind::Anthropic => &self.anthropic_key,
            ProviderKind::Local => &self.local_key,
        }
    }

    /// The key field of a kind, to change.
    pub fn key_of_mut(&mut self, kind: ProviderKind) -> &mut Option<Field<Secret>> {
        match kind {
            ProviderKind::OpenAi => &mut self.openai_key,
            ProviderKind::Azure => &mut self.azure_key,
            ProviderKind::Anthropic => &mut self.anthropic_key,
            ProviderKind::Local => &mut self.local_key,
        }
    }

    /// The base URL field of a kind (Azure: the endpoint).
    pub fn url_of(&self, kind: ProviderKind) -> &Option<Field<String>> {
        match kind {
            ProviderKind::OpenAi => &self.openai_url,
            ProviderKind::Azure => &self.azure_endpoint,
            ProviderKind::Anthropic => &self.anthropic_url,
            ProviderKind::Local => &self.local_url,
        }
    }

    /// The model field of a kind (Azure: the deployment), to change.
    pub fn model_of_mut(&mut self, kind: ProviderKind) -> &mut Option<Field<String>> {
        match kind {
            ProviderKind::OpenAi => &mut self.openai_model,
            ProviderKind::Azure => &mut self.azure_deployment,
            ProviderKind::Anthropic => &mut self.anthropic_model,
            ProviderKind::Local => &mut self.local_model,
        }
    }

    /// The variable to name when the key of `kind` is rejected: the one that held it
    /// (`MY_KEY` through `key_env`, `OPENAI_API_KEY in /p/.env`), else the key variable.
    pub fn key_hint(&self, kind: ProviderKind) -> String {
        let (_, _, key_var) = kind.vars();
        match self.key_of(kind).as_ref().map(|f| &f.source) {
            Some(Source::Via { var, from }) => match from.as_ref() {
                Source::DotEnv(p) | Source::Project(p) => format!("{var} in {}", p.display()),
                _ => var.clone(),
            },
            Some(Source::DotEnv(p) | Source::Project(p)) => {
                format!("{key_var} in {}", p.display())
            }
            _ => key_var.to_owned(),
        }
    }

    /// The problems of variables of `kind` (and of `LLM_PROVIDER`): they make that
    /// provider fail with their message rather than run on something else.
    pub fn problems_of(&self, kind: ProviderKind) -> Vec<&Problem> {
        self.problems
            .iter()
            .filter(|p| p.var.starts_with(kind.prefix()) || p.var == "LLM_PROVIDER")
            .collect()
    }

    /// Every secret value set, for the redactor.
    pub fn secrets(&self) -> Vec<&Secret> {
        [
            &self.openai_key,
            &self.azure_key,
            &self.anthropic_key,
            &self.local_key,
            &self.botserver_key,
        ]
        .into_iter()
        .filter_map(|f| f.as_ref().map(|f| &f.value))
        .collect()
    }
}
