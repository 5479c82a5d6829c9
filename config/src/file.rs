//! `config.toml`: its shape, and its translation into the variables the rest of botcoder
//! reads, so that one set of names means the same thing in every layer.

use std::collections::BTreeMap;

use serde::Deserialize;

/// The whole file. Unknown keys are errors (a typo should not be silently ignored).
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FileConfig {
    /// Default provider: a name under `[providers]` or a kind (`LLM_PROVIDER`).
    pub provider: Option<String>,
    /// Providers to continue on when the active one is unavailable (`LLM_FALLBACK`).
    pub fallback: Option<Vec<String>>,
    /// `auto`, `ask` or `read-only` (`BOTCODER_APPROVAL`).
    pub approval: Option<String>,
    /// `native`, `text` or `auto` (`BOTCODER_TOOL_MODE`).
    pub tool_mode: Option<String>,
    /// Model requests per turn (`BOTCODER_MAX_ITERATIONS`).
    pub max_iterations: Option<u32>,
    /// Retries after the first attempt (`LLM_MAX_RETRIES`).
    pub max_retries: Option<u32>,
    /// Seconds of silence before a stream fails (`LLM_IDLE_TIMEOUT_S`).
    pub idle_timeout_s: Option<u64>,
    /// Log filter (`BOTCODER_LOG`).
    pub log: Option<String>,
    /// Named providers.
    #[serde(default)]
    pub providers: BTreeMap<String, ProviderEntry>,
    /// The botserver.
    pub botserver: Option<BotserverEntry>,
    /// Persistent approval rules.
    pub approvals: Option<ApprovalsEntry>,
    /// Caps on what one provider answer may make the daemon hold.
    pub limits: Option<LimitsEntry>,
    /// The OS sandbox commands run in.
    pub sandbox: Option<SandboxEntry>,
    /// MCP servers (read by the daemon through [`crate::mcp`]).
    #[serde(default)]
    pub mcp_servers: BTreeMap<String, crate::mcp::McpServerEntry>,
    /// When the conversation is summarised.
    pub context: Option<ContextEntry>,
    /// Prices per model, dollars per million tokens (over the built-in table).
    #[serde(default)]
    pub pricing: BTreeMap<String, PriceEntry>,
}

/// `[context]`: compaction by summary.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ContextEntry {
    /// Share of the context window past which the oldest part is summarised
    /// (`BOTCODER_COMPACT_AT`, default 0.85).
    pub compact_at: Option<f64>,
    /// The model's context window in tokens, for any provider (`BOTCODER_CONTEXT_WINDOW`).
    pub window: Option<u64>,
}

/// `[pricing."model"]`: dollars per million tokens (`BOTCODER_PRICING`, as JSON).
#[derive(Debug, Default, Deserialize, serde::Serialize)]
#[serde(deny_unknown_fields)]
pub struct PriceEntry {
    /// Input tokens not served from the cache.
    pub input: f64,
    /// Output tokens.
    pub output: f64,
    /// Input tokens served from the prompt cache; absent: priced as input.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cached_input: Option<f64>,
}

/// `[approvals]`: argv prefixes (`"cargo test"`, `"git push"`), matched against a call's
/// parsed arguments, never as substrings.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ApprovalsEntry {
    /// Run without asking under `ask` (`BOTCODER_APPROVALS_ALLOW`).
    #[serde(default)]
    pub allow: Vec<String>,
    /// Never run, under every policy (`BOTCODER_APPROVALS_DENY`).
    #[serde(default)]
    pub deny: Vec<String>,
}

/// The `[limits]` section: caps on provider answers (each a `BOTCODER_MAX_*` variable).
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct LimitsEntry {
    /// `BOTCODER_MAX_SSE_EVENT_BYTES`: one server-sent event.
    pub sse_event_bytes: Option<u64>,
    /// `BOTCODER_MAX_REPLY_BYTES`: one reply's text and tool-call arguments together.
    pub reply_bytes: Option<u64>,
    /// `BOTCODER_MAX_TOOL_ARGS_BYTES`: one tool call's arguments.
    pub tool_args_bytes: Option<u64>,
    /// `BOTCODER_MAX_TOOL_CALLS`: tool calls in one reply.
    pub tool_calls: Option<u64>,
}

/// The sandbox section.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SandboxEntry {
    /// `auto`, `bwrap`, `landlock` or `off` (`BOTCODER_SANDBOX`).
    pub mode: Option<String>,
    /// Whether commands may use the network (`BOTCODER_SANDBOX_NETWORK`).
    pub network: Option<bool>,
}

/// One named provider.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ProviderEntry {
    /// `openai`, `azure`, `anthropic` or `local`; defaults to the entry's name.
    pub kind: Option<String>,
    /// Base URL (Azure: the resource endpoint).
    pub url: Option<String>,
    /// Model (Azure: use `deployment`).
    pub model: Option<String>,
    /// Azure deployment.
    pub deployment: Option<String>,
    /// Azure API version.
    pub api_version: Option<String>,
    /// Name of the environment variable that holds the key (keys never go in this file).
    pub key_env: Option<String>,
    /// Context window (local servers).
    pub context: Option<u64>,
    /// Tokens per minute.
    pub tpm: Option<u64>,
    /// Requests per minute.
    pub rpm: Option<u64>,
    /// OpenAI wire format: `responses` or `chat` (`OPENAI_WIRE`, `LOCAL_LLM_WIRE`).
    pub wire: Option<String>,
    /// Reasoning effort for reasoning models (`OPENAI_REASONING_EFFORT`,
    /// `LOCAL_LLM_REASONING_EFFORT`).
    pub reasoning_effort: Option<String>,
    /// Anthropic extended thinking budget in tokens (`ANTHROPIC_THINKING_BUDGET`).
    pub thinking_budget: Option<u64>,
}

/// The botserver section.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct BotserverEntry {
    /// `BOTSERVER_URL`.
    pub url: Option<String>,
    /// `ENABLE_BOTSERVER_FACADE`.
    pub facade: Option<bool>,
    /// `FALLBACK_TO_LOCAL`.
    pub fallback_to_local: Option<bool>,
    /// `BOTSERVER_CA_FILE`.
    pub ca_file: Option<String>,
    /// Name of the variable that holds the API key.
    pub key_env: Option<String>,
}

/// Variable names of each provider kind: (url, model, key, extra).
fn names(kind: &str) -> Option<(&'static str, &'static str, &'static str)> {
    match kind {
        "openai" => Some(("OPENAI_BASE_URL", "OPENAI_MODEL", "OPENAI_API_KEY")),
        "azure" => Some((
            "AZURE_OPENAI_ENDPOINT",
            "AZURE_OPENAI_DEPLOYMENT",
            "AZURE_OPENAI_API_KEY",
        )),
        "anthropic" => Some(("ANTHROPIC_BASE_URL", "ANTHROPIC_MODEL", "ANTHROPIC_API_KEY")),
        "local" => Some(("LOCAL_LLM_URL", "LOCAL_LLM_MODEL", "LOCAL_LLM_API_KEY")),
        _ => None,
    }
}

impl FileConfig {
    /// The variables this file sets. `lookup` reads other variables (for `key_env`).
    pub fn to_vars(
        &self,
        lookup: &dyn Fn(&str) -> Option<String>,
    ) -> Result<Vec<(String, String)>, String> {
        let mut out: Vec<(String, String)> = Vec::new();
        let mut set = |k: &str, v: Option<String>| {
            if let Some(v) = v {
                out.push((k.to_owned(), v));
            }
        };
        set("BOTCODER_APPROVAL", self.approval.clone());
        set("BOTCODER_TOOL_MODE", self.tool_mode.clone());
        set(
            "BOTCODER_MAX_ITERATIONS",
            self.max_iterations.map(|v| v.to_string()),
        );
        set("LLM_MAX_RETRIES", self.max_retries.map(|v| v.to_string()));
        set(
            "LLM_IDLE_TIMEOUT_S",
            self.idle_timeout_s.map(|v| v.to_string()),
        );
        set("BOTCODER_LOG", self.log.clone());
        set("LLM_FALLBACK", self.fallback.as_ref().map(|f| f.join(",")));
        if let Some(a) = &self.approvals {
            // JSON keeps rules that contain commas or newlines intact.
            let list = |l: &Vec<String>| serde_json::to_string(l).ok();
            set("BOTCODER_APPROVALS_ALLOW", list(&a.allow));
            set("BOTCODER_APPROVALS_DENY", list(&a.deny));
        }
        if let Some(name) = &self.provider {
            let entry = self.providers.get(name);
            let kind = entry
                .and_then(|e| e.kind.clone())
                .unwrap_or_else(|| name.clone());
            let Some((url_var, model_var, key_var)) = names(&kind) else {
                return Err(format!(
                    "provider {name:?}: kind {kind:?} is not one of openai, azure, anthropic, local"
                ));
            };
            set("LLM_PROVIDER", Some(kind.clone()));
            if let Some(e) = entry {
                set(url_var, e.url.clone());
                set(
                    model_var,
                    if kind == "azure" {
                        e.deployment.clone().or(e.model.clone())
                    } else {
                        e.model.clone()
                    },
                );
                set("AZURE_OPENAI_API_VERSION", e.api_version.clone());
                set("LOCAL_LLM_CONTEXT", e.context.map(|v| v.to_string()));
                set("LLM_TPM", e.tpm.map(|v| v.to_string()));
                set("LLM_RPM", e.rpm.map(|v| v.to_string()));
                let (wire_var, effort_var) = if kind == "local" {
                    ("LOCAL_LLM_WIRE", "LOCAL_LLM_REASONING_EFFORT")
                } else {
                    ("OPENAI_WIRE", "OPENAI_REASONING_EFFORT")
                };
                set(wire_var, e.wire.clone());
                set(effort_var, e.reasoning_effort.clone());
                set(
                    "ANTHROPIC_THINKING_BUDGET",
                    e.thinking_budget.map(|v| v.to_string()),
                );
                if let Some(var) = &e.key_env {
                    match lookup(var) {
                        Some(key) => set(key_var, Some(key)),
                        None => {
                            return Err(format!(
                                "provider {name:?}: key_env names {var}, which is not set"
                            ));
                        }
                    }
                }
            }
        }
        for (name, e) in &self.providers {
            let kind = e.kind.clone().unwrap_or_else(|| name.clone());
            if names(&kind).is_none() {
                return Err(format!(
                    "[providers.{name}]: kind {kind:?} is not one of openai, azure, anthropic, local"
                ));
            }
        }
        if let Some(l) = &self.limits {
            let n = |v: Option<u64>| v.map(|v| v.to_string());
            set("BOTCODER_MAX_SSE_EVENT_BYTES", n(l.sse_event_bytes));
            set("BOTCODER_MAX_REPLY_BYTES", n(l.reply_bytes));
            set("BOTCODER_MAX_TOOL_ARGS_BYTES", n(l.tool_args_bytes));
            set("BOTCODER_MAX_TOOL_CALLS", n(l.tool_calls));
        }
        if let Some(s) = &self.sandbox {
            set("BOTCODER_SANDBOX", s.mode.clone());
            set("BOTCODER_SANDBOX_NETWORK", s.network.map(|v| v.to_string()));
        }
        if let Some(c) = &self.context {
            set("BOTCODER_COMPACT_AT", c.compact_at.map(|v| v.to_string()));
            set("BOTCODER_CONTEXT_WINDOW", c.window.map(|v| v.to_string()));
        }
        if !self.pricing.is_empty() {
            set(
                "BOTCODER_PRICING",
                serde_json::to_string(&self.pricing).ok(),
            );
        }
        if let Some(b) = &self.botserver {
            set("BOTSERVER_URL", b.url.clone());
            set("ENABLE_BOTSERVER_FACADE", b.facade.map(|v| v.to_string()));
            set(
                "FALLBACK_TO_LOCAL",
                b.fallback_to_local.map(|v| v.to_string()),
            );
            set("BOTSERVER_CA_FILE", b.ca_file.clone());
            if let Some(var) = &b.key_env {
                set("BOTSERVER_API_KEY", lookup(var));
            }
        }
        Ok(out)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_limits_section_sets_the_cap_variables_and_typos_are_errors() {
        let f: FileConfig = toml::from_str("[limits]\nreply_bytes = 1000\ntool_calls = 4\n")
            .unwrap_or_else(|e| panic!("{e}"));
        let vars = f.to_vars(&|_| None).unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(
            vars,
            vec![
                ("BOTCODER_MAX_REPLY_BYTES".to_owned(), "1000".to_owned()),
                ("BOTCODER_MAX_TOOL_CALLS".to_owned(), "4".to_owned()),
            ]
        );
        assert!(toml::from_str::<FileConfig>("[limits]\nreply_byte = 1\n").is_err());
    }

    #[test]
    fn context_and_pricing_sections_set_their_variables() {
        let f: FileConfig = toml::from_str(
            "[context]\ncompact_at = 0.7\nwindow = 9000\n[pricing.\"my-model\"]\ninput = 1.5\noutput = 6\n",
        )
        .unwrap_or_else(|e| panic!("{e}"));
        let vars = f.to_vars(&|_| None).unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(
            vars,
            vec![
                ("BOTCODER_COMPACT_AT".to_owned(), "0.7".to_owned()),
                ("BOTCODER_CONTEXT_WINDOW".to_owned(), "9000".to_owned()),
                (
                    "BOTCODER_PRICING".to_owned(),
                    r#"{"my-model":{"input":1.5,"output":6.0}}"#.to_owned()
                ),
            ]
        );
        assert!(
            toml::from_str::<FileConfig>("[pricing.m]\ninput = 1\noutput = 1\ncache = 1\n")
                .is_err()
        );
    }
}
