//! `config.toml` (and a project's `.botcoder/config.toml`): its shape, read one section at a
//! time so that a mistake in one section is reported as `path:line: message` and the other
//! sections still apply. `crate::settings` maps its typed values into the settings' fields.
//!
//! To add a key: a field on the section's struct (`deny_unknown_fields` keeps typos
//! errors), its line in the `settings!` table and its mapping in
//! `FileConfig::settings` (`settings/from_file.rs`). A new section: one more arm in
//! [`parse`].

use std::collections::BTreeMap;
use std::path::Path;

use serde::Deserialize;
use serde::de::{DeserializeOwned, IntoDeserializer};
use toml::Spanned;
use toml::de::{DeTable, DeValue};

/// The whole file, as far as it is valid.
#[derive(Debug, Clone, Default, PartialEq)]
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
    /// Project directories whose own base URLs may receive the user's keys (I11).
    pub trusted_projects: Vec<String>,
    /// Named providers.
    pub providers: BTreeMap<String, ProviderEntry>,
    /// The botserver.
    pub botserver: Option<BotserverEntry>,
    /// Persistent approval rules.
    pub approvals: Option<ApprovalsEntry>,
    /// Caps on what one provider answer may make the daemon hold.
    pub limits: Option<LimitsEntry>,
    /// The OS sandbox commands run in.
    pub sandbox: Option<SandboxEntry>,
    /// When the conversation is summarised.
    pub context: Option<ContextEntry>,
    /// Prices per model, dollars per million tokens (over the built-in table).
    pub pricing: BTreeMap<String, PriceEntry>,
}

/// `[context]`: compaction by summary.
#[derive(Debug, Clone, Default, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ContextEntry {
    /// Share of the context window past which the oldest part is summarised
    /// (`BOTCODER_COMPACT_AT`, default 0.85).
    pub compact_at: Option<f64>,
    /// The model's context window in tokens, for any provider (`BOTCODER_CONTEXT_WINDOW`).
    pub window: Option<u64>,
}

/// `[pricing."model"]`: dollars per million tokens (`BOTCODER_PRICING`, as JSON).
#[derive(Debug, Clone, Default, PartialEq, Deserialize, serde::Serialize)]
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
#[derive(Debug, Clone, Default, PartialEq, Deserialize)]
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
#[derive(Debug, Clone, Default, PartialEq, Deserialize)]
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
#[derive(Debug, Clone, Default, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SandboxEntry {
    /// `auto`, `bwrap`, `landlock` or `off` (`BOTCODER_SANDBOX`).
    pub mode: Option<String>,
    /// Whether commands may use the network (`BOTCODER_SANDBOX_NETWORK`).
    pub network: Option<bool>,
}

/// One named provider.
#[derive(Debug, Clone, Default, PartialEq, Deserialize)]
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
#[derive(Debug, Clone, Default, PartialEq, Deserialize)]
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

/// What reading a file found: the valid part, and one `path:line: message` per problem.
#[derive(Debug, Clone, Default)]
pub struct Parsed {
    /// Every section that parsed.
    pub config: FileConfig,
    /// Problems, each naming the file, the line and the section.
    pub errors: Vec<String>,
    /// The `[approvals]` section (or the whole file) could not be read: running without
    /// the deny rules the person wrote would be unsafe, so the daemon refuses turns.
    pub approvals_lost: bool,
}

fn line_of(text: &str, offset: usize) -> usize {
    text[..offset.min(text.len())].matches('\n').count() + 1
}

fn located(path: &Path, text: &str, span: Option<std::ops::Range<usize>>, msg: &str) -> String {
    let line = span.map_or(1, |s| line_of(text, s.start));
    let source_line = text
        .lines()
        .nth(line.saturating_sub(1))
        .unwrap_or_default()
        .trim();
    format!(
        "{}:{line}: {} (in `{source_line}`)",
        path.display(),
        msg.trim()
    )
}

/// Reads a file one section at a time (see the module doc).
pub fn parse(path: &Path, text: &str) -> Parsed {
    let mut out = Parsed::default();
    let root = match DeTable::parse(text) {
        Ok(t) => t,
        Err(e) => {
            out.errors.push(located(path, text, e.span(), e.message()));
            // Whether the person wrote approval rules that are now lost: then no turn may
            // run without them; otherwise the defaults and environment still serve.
            out.approvals_lost = text.contains("approvals");
            return out;
        }
    };
    let cfg = &mut out.config;
    let errors = &mut out.errors;
    for (key, value) in root.get_ref().iter() {
        let at = |section: &str, e: toml::de::Error| {
            let msg = format!("{section}: {}", e.message().trim());
            located(path, text, e.span().or(Some(value.span())), &msg)
        };
        let name = key.get_ref().as_ref();
        let r: Result<(), String> = match name {
            "provider" => typed(value)
                .map(|v| cfg.provider = v)
                .map_err(|e| at(name, e)),
            "fallback" => typed(value)
                .map(|v| cfg.fallback = v)
                .map_err(|e| at(name, e)),
            "approval" => typed(value)
                .map(|v| cfg.approval = v)
                .map_err(|e| at(name, e)),
            "tool_mode" => typed(value)
                .map(|v| cfg.tool_mode = v)
                .map_err(|e| at(name, e)),
            "max_iterations" => typed(value)
                .map(|v| cfg.max_iterations = v)
                .map_err(|e| at(name, e)),
            "max_retries" => typed(value)
                .map(|v| cfg.max_retries = v)
                .map_err(|e| at(name, e)),
            "idle_timeout_s" => typed(value)
                .map(|v| cfg.idle_timeout_s = v)
                .map_err(|e| at(name, e)),
            "log" => typed(value).map(|v| cfg.log = v).map_err(|e| at(name, e)),
            "trusted_projects" => typed(value)
                .map(|v: Option<Vec<String>>| cfg.trusted_projects = v.unwrap_or_default())
                .map_err(|e| at(name, e)),
            "botserver" => typed(value)
                .map(|v| cfg.botserver = v)
                .map_err(|e| at("[botserver]", e)),
            "limits" => typed(value)
                .map(|v| cfg.limits = v)
                .map_err(|e| at("[limits]", e)),
            "sandbox" => typed(value)
                .map(|v| cfg.sandbox = v)
                .map_err(|e| at("[sandbox]", e)),
            "approvals" => typed(value).map(|v| cfg.approvals = v).map_err(|e| {
                out.approvals_lost = true;
                at("[approvals]", e)
            }),
            "providers" => {
                providers(path, text, value, &mut cfg.providers, errors);
                Ok(())
            }
            // Read by the MCP module (`crate::mcp`).
            "mcp_servers" => Ok(()),
            "context" => typed(value)
                .map(|v| cfg.context = v)
                .map_err(|e| at("[context]", e)),
            "pricing" => typed(value)
                .map(|v: Option<BTreeMap<String, PriceEntry>>| cfg.pricing = v.unwrap_or_default())
                .map_err(|e| at("[pricing]", e)),
            other => Err(located(
                path,
                text,
                Some(key.span()),
                &format!(
                    "unknown key `{other}`; the keys are provider, fallback, approval, tool_mode, \
                     max_iterations, max_retries, idle_timeout_s, log, trusted_projects and the \
                     sections [providers.NAME], [botserver], [approvals], [limits], [sandbox], \
                     [mcp_servers.NAME], [context], [pricing.MODEL]"
                ),
            )),
        };
        if let Err(e) = r {
            errors.push(e);
        }
    }
    out
}

fn typed<T: DeserializeOwned>(value: &Spanned<DeValue<'_>>) -> Result<Option<T>, toml::de::Error> {
    T::deserialize(value.clone().into_deserializer()).map(Some)
}

/// `[providers.NAME]`, one entry at a time: a bad entry is reported and left out alone.
fn providers(
    path: &Path,
    text: &str,
    value: &Spanned<DeValue<'_>>,
    into: &mut BTreeMap<String, ProviderEntry>,
    errors: &mut Vec<String>,
) {
    let DeValue::Table(table) = value.get_ref() else {
        errors.push(located(
            path,
            text,
            Some(value.span()),
            "providers must be a table of [providers.NAME] sections",
        ));
        return;
    };
    for (name, entry) in table.iter() {
        let name = name.get_ref().to_string();
        match typed::<ProviderEntry>(entry) {
            Ok(Some(e)) => {
                let kind = e.kind.clone().unwrap_or_else(|| name.clone());
                if crate::ProviderKind::parse(&kind).is_none() {
                    errors.push(located(
                        path,
                        text,
                        Some(entry.span()),
                        &format!(
                            "[providers.{name}]: kind {kind:?} is not one of openai, azure, anthropic, local"
                        ),
                    ));
                    continue;
                }
                into.insert(name, e);
            }
            Ok(None) => {}
            Err(e) => errors.push(located(
                path,
                text,
                e.span().or(Some(entry.span())),
                &format!("[providers.{name}]: {}", e.message().trim()),
            )),
        }
    }
}

/// Variables as (name, value) pairs.
pub type Vars = Vec<(String, String)>;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_limits_section_sets_the_cap_variables_and_typos_are_errors() {
        let p = parse(
            Path::new("c.toml"),
            "[limits]\nreply_bytes = 1000\ntool_calls = 4\n",
        );
        assert!(p.errors.is_empty(), "{:?}", p.errors);
        let s = p
            .config
            .settings(&crate::Source::File("c.toml".into()), &|_| None);
        assert!(s.problems.is_empty());
        assert_eq!(
            s.set_vars(),
            vec!["BOTCODER_MAX_REPLY_BYTES", "BOTCODER_MAX_TOOL_CALLS"]
        );
        assert_eq!((s.max_reply_bytes(), s.max_tool_calls()), (1000, 4));
        let p = parse(Path::new("c.toml"), "[limits]\nreply_byte = 1\n");
        assert_eq!(p.errors.len(), 1);
        assert!(p.errors[0].starts_with("c.toml:2:"), "{:?}", p.errors);
    }

    #[test]
    fn one_bad_section_leaves_the_others_in_force() {
        let p = parse(
            Path::new("c.toml"),
            "approval = \"auto\"\n[sandbox]\nmode = 3\n[providers.openai]\nmodel = \"m\"\n\
             [providers.b]\nmodle = \"x\"\n[mcp_servers.fs]\ncommand = \"x\"\n",
        );
        assert_eq!(p.config.approval.as_deref(), Some("auto"));
        assert_eq!(p.config.sandbox, None);
        assert!(p.config.providers.contains_key("openai"));
        assert!(!p.config.providers.contains_key("b"));
        assert_eq!(p.errors.len(), 2, "{:?}", p.errors);
        assert!(p.errors[0].contains("[sandbox]") || p.errors[1].contains("[sandbox]"));
        assert!(!p.approvals_lost);
    }
}
