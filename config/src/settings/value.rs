//! The types of setting values, and how each reads from an environment string (the only
//! place a setting is parsed from text: `config.toml` values arrive typed) and shows in
//! `botcoder config show`.

use std::collections::BTreeMap;
use std::hash::{Hash, Hasher};

use botcoder_protocol::ApprovalPolicy;

use crate::Secret;
use crate::file::PriceEntry;

/// A setting's value: read from an environment string, shown in `config show`, and hashed
/// into a session's fingerprint (secrets included, so a new key builds a new provider).
pub trait Value: Clone + PartialEq + std::fmt::Debug {
    /// Reads an environment value (already trimmed, never empty); the error says what
    /// would be right, without the variable's name (the caller adds it).
    fn from_env(raw: &str) -> Result<Self, String>;
    /// How `config show` prints it (a secret is masked).
    fn show(&self) -> String;
    /// Feeds the value to a hasher.
    fn hash_into(&self, h: &mut dyn Hasher);
    /// The value as text, a secret included (for the redactor, which must know it).
    fn exposed(&self) -> String {
        self.show()
    }
}

fn hash_str(s: &str, mut h: &mut dyn Hasher) {
    s.hash(&mut h);
}

impl Value for String {
    fn from_env(raw: &str) -> Result<Self, String> {
        Ok(raw.to_owned())
    }
    fn show(&self) -> String {
        self.clone()
    }
    fn hash_into(&self, h: &mut dyn Hasher) {
        hash_str(self, h);
    }
}

impl Value for Secret {
    fn from_env(raw: &str) -> Result<Self, String> {
        Ok(Secret::new(raw))
    }
    fn show(&self) -> String {
        "(set, redacted)".to_owned()
    }
    fn exposed(&self) -> String {
        self.expose().to_owned()
    }
    fn hash_into(&self, h: &mut dyn Hasher) {
        hash_str(self.expose(), h);
    }
}

macro_rules! number {
    ($($t:ty),*) => {$(
        impl Value for $t {
            fn from_env(raw: &str) -> Result<Self, String> {
                raw.parse().map_err(|_| "is not a valid number".to_owned())
            }
            fn show(&self) -> String {
                self.to_string()
            }
            fn hash_into(&self, h: &mut dyn Hasher) {
                hash_str(&self.to_string(), h);
            }
        }
    )*};
}
number!(u32, u64, f64);

impl Value for bool {
    fn from_env(raw: &str) -> Result<Self, String> {
        match raw.to_ascii_lowercase().as_str() {
            "1" | "true" | "yes" | "on" => Ok(true),
            "0" | "false" | "no" | "off" => Ok(false),
            _ => Err("must be true or false".to_owned()),
        }
    }
    fn show(&self) -> String {
        self.to_string()
    }
    fn hash_into(&self, h: &mut dyn Hasher) {
        hash_str(if *self { "1" } else { "0" }, h);
    }
}

/// An enum of fixed names: parse from one of its names, show its first.
macro_rules! named {
    ($t:ty, $err:literal, $( $v:expr => [$($name:literal),+] ),+ $(,)?) => {
        impl Value for $t {
            fn from_env(raw: &str) -> Result<Self, String> {
                match raw.to_ascii_lowercase().as_str() {
                    $( $($name)|+ => Ok($v), )+
                    _ => Err($err.to_owned()),
                }
            }
            fn show(&self) -> String {
                $( if *self == $v { return [$($name),+][0].to_owned(); } )+
                String::new()
            }
            fn hash_into(&self, h: &mut dyn Hasher) {
                hash_str(&self.show(), h);
            }
        }
    };
}

/// A provider kind: how to reach it and which variables describe it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum ProviderKind {
    /// OpenAI, or any OpenAI-compatible server (`OPENAI_*`).
    OpenAi,
    /// Azure OpenAI (`AZURE_OPENAI_*`).
    Azure,
    /// Anthropic Messages (`ANTHROPIC_*`).
    Anthropic,
    /// A local OpenAI-compatible server: Ollama, llama.cpp (`LOCAL_LLM_*`).
    Local,
}

impl ProviderKind {
    /// Every kind, in the order credentials pick one when `LLM_PROVIDER` is unset.
    pub const DETECT_ORDER: [ProviderKind; 4] = [
        ProviderKind::Azure,
        ProviderKind::Anthropic,
        ProviderKind::OpenAi,
        ProviderKind::Local,
    ];

    /// The kind's name (`openai`, `azure`, `anthropic`, `local`).
    pub fn name(self) -> &'static str {
        match self {
            ProviderKind::OpenAi => "openai",
            ProviderKind::Azure => "azure",
            ProviderKind::Anthropic => "anthropic",
            ProviderKind::Local => "local",
        }
    }

    /// A kind by name; `None` for anything else.
    pub fn parse(name: &str) -> Option<ProviderKind> {
        <ProviderKind as Value>::from_env(name.trim()).ok()
    }

    /// Its variables: (url, model, key).
    pub fn vars(self) -> (&'static str, &'static str, &'static str) {
        match self {
            ProviderKind::OpenAi => ("OPENAI_BASE_URL", "OPENAI_MODEL", "OPENAI_API_KEY"),
            ProviderKind::Azure => (
                "AZURE_OPENAI_ENDPOINT",
                "AZURE_OPENAI_DEPLOYMENT",
                "AZURE_OPENAI_API_KEY",
            ),
            ProviderKind::Anthropic => {
                ("ANTHROPIC_BASE_URL", "ANTHROPIC_MODEL", "ANTHROPIC_API_KEY")
            }
            ProviderKind::Local => ("LOCAL_LLM_URL", "LOCAL_LLM_MODEL", "LOCAL_LLM_API_KEY"),
        }
    }

    /// The prefix of its variables (`OPENAI_`): a problem with one of them is the kind's.
    pub fn prefix(self) -> &'static str {
        match self {
            ProviderKind::OpenAi => "OPENAI_",
            ProviderKind::Azure => "AZURE_OPENAI_",
            ProviderKind::Anthropic => "ANTHROPIC_",
            ProviderKind::Local => "LOCAL_LLM_",
        }
    }
}

named!(ProviderKind, "is not a provider; use one of openai, azure, anthropic, local",
    ProviderKind::OpenAi => ["openai"],
    ProviderKind::Azure => ["azure"],
    ProviderKind::Anthropic => ["anthropic"],
    ProviderKind::Local => ["local"],
);

/// `LLM_PROVIDER`: a kind, or the botserver facade (whose local provider is then chosen as
/// if `LLM_PROVIDER` were unset).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ProviderChoice {
    /// This kind.
    Kind(ProviderKind),
    /// The botserver facade.
    Botserver,
}

impl Value for ProviderChoice {
    fn from_env(raw: &str) -> Result<Self, String> {
        if raw.eq_ignore_ascii_case("botserver") {
            return Ok(ProviderChoice::Botserver);
        }
        ProviderKind::from_env(raw)
            .map(ProviderChoice::Kind)
            .map_err(|_| {
                "is not a provider; use one of openai, azure, anthropic, local, botserver"
                    .to_owned()
            })
    }
    fn show(&self) -> String {
        match self {
            ProviderChoice::Kind(k) => k.name().to_owned(),
            ProviderChoice::Botserver => "botserver".to_owned(),
        }
    }
    fn hash_into(&self, h: &mut dyn Hasher) {
        hash_str(&self.show(), h);
    }
}

named!(ApprovalPolicy, "must be auto, ask or read-only",
    ApprovalPolicy::Auto => ["auto"],
    ApprovalPolicy::Ask => ["ask"],
    ApprovalPolicy::ReadOnly => ["read-only", "readonly", "read_only"],
);

/// How tools reach the model (`BOTCODER_TOOL_MODE`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum ToolMode {
    /// Native tool definitions and calls of the wire format.
    Native,
    /// The text protocol: call-style calls and `CHANGE:` blocks in the reply text.
    Text,
    /// Native when the provider supports it, else text.
    #[default]
    Auto,
}

named!(ToolMode, "must be native, text or auto",
    ToolMode::Native => ["native"],
    ToolMode::Text => ["text"],
    ToolMode::Auto => ["auto"],
);

/// The command sandbox asked for (`BOTCODER_SANDBOX`), ordered from the weakest to the
/// strictest so "a project may only make it stricter" is a comparison. `auto` sits below
/// `bwrap` (it may end up with Landlock) and above `landlock`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Default)]
pub enum SandboxMode {
    /// No sandbox (the reaper still kills descendants).
    Off,
    /// Landlock (with the reaper) or refuse.
    Landlock,
    /// bwrap, else Landlock, else refuse commands.
    #[default]
    Auto,
    /// bwrap or refuse.
    Bwrap,
}

impl SandboxMode {
    /// A mode by name (`session.create {sandbox}`); `None` for anything else.
    pub fn parse(name: &str) -> Option<SandboxMode> {
        <SandboxMode as Value>::from_env(name.trim()).ok()
    }
}

named!(SandboxMode, "must be auto, bwrap, landlock or off",
    SandboxMode::Off => ["off", "none", "false"],
    SandboxMode::Landlock => ["landlock"],
    SandboxMode::Auto => ["auto", "on"],
    SandboxMode::Bwrap => ["bwrap", "bubblewrap"],
);

/// An OpenAI wire format (`OPENAI_WIRE`, `LOCAL_LLM_WIRE`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum WireFormat {
    /// The Responses API.
    Responses,
    /// Chat Completions.
    Chat,
}

named!(WireFormat,
    "is not a wire format; use responses (the Responses API) or chat (Chat Completions)",
    WireFormat::Responses => ["responses"],
    WireFormat::Chat => ["chat", "chat_completions", "completions"],
);

/// `LLM_FALLBACK`: provider kinds, comma-separated in the environment.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Fallback(pub Vec<ProviderKind>);

impl Value for Fallback {
    fn from_env(raw: &str) -> Result<Self, String> {
        raw.split(',')
            .map(str::trim)
            .filter(|n| !n.is_empty())
            .map(|n| {
                ProviderKind::parse(n).ok_or(format!(
                    "names {n:?}, which is not a provider; use openai, azure, anthropic or local"
                ))
            })
            .collect::<Result<_, _>>()
            .map(Fallback)
    }
    fn show(&self) -> String {
        let names: Vec<&str> = self.0.iter().map(|k| k.name()).collect();
        names.join(",")
    }
    fn hash_into(&self, h: &mut dyn Hasher) {
        hash_str(&self.show(), h);
    }
}

/// An `[approvals]` list: argv prefixes. In the environment a JSON array of strings, or
/// one rule a line (commas may be part of a rule).
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct RuleList(pub Vec<String>);

impl Value for RuleList {
    fn from_env(raw: &str) -> Result<Self, String> {
        if raw.starts_with('[') {
            return serde_json::from_str(raw)
                .map(RuleList)
                .map_err(|e| format!("is not a JSON array of strings: {e}"));
        }
        Ok(RuleList(
            raw.lines()
                .map(str::trim)
                .filter(|l| !l.is_empty())
                .map(str::to_owned)
                .collect(),
        ))
    }
    fn show(&self) -> String {
        serde_json::to_string(&self.0).unwrap_or_default()
    }
    fn hash_into(&self, h: &mut dyn Hasher) {
        hash_str(&self.show(), h);
    }
}

/// Prices per model (`[pricing."model"]`; in the environment `BOTCODER_PRICING` as JSON).
#[derive(Debug, Clone, PartialEq, Default)]
pub struct Prices(pub BTreeMap<String, PriceEntry>);

impl Value for Prices {
    fn from_env(raw: &str) -> Result<Self, String> {
        serde_json::from_str(raw).map(Prices).map_err(|e| {
            format!("is not JSON of the form {{\"model\": {{\"input\": 3, \"output\": 15}}}}: {e}")
        })
    }
    fn show(&self) -> String {
        serde_json::to_string(&self.0).unwrap_or_default()
    }
    fn hash_into(&self, h: &mut dyn Hasher) {
        hash_str(&self.show(), h);
    }
}
