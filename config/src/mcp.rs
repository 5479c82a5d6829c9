//! `[mcp_servers.NAME]`: the Model Context Protocol servers whose tools the daemon offers,
//! in Codex's shape so an existing `~/.codex/config.toml` section carries over unchanged.
//!
//! ```toml
//! [mcp_servers.everything]            # a local server over stdio
//! command = "npx"
//! args = ["-y", "@modelcontextprotocol/server-everything"]
//! env = { LOG_LEVEL = "warn" }
//!
//! [mcp_servers.docs]                  # a remote one over Streamable HTTP
//! url = "https://example.com/mcp"
//! bearer_token_env_var = "DOCS_TOKEN"
//! ```
//!
//! Keys of our own next to Codex's: `trust` (read-only tools of a trusted server run without
//! asking) and `sandbox` (`false` runs a local server outside the command sandbox).

use std::collections::BTreeMap;
use std::path::Path;
use std::time::Duration;

use serde::{Deserialize, Serialize};

/// Startup timeout when none is configured (Codex's default).
pub const DEFAULT_STARTUP_TIMEOUT_SEC: f64 = 10.0;
/// Tool call timeout when none is configured (Codex's default).
pub const DEFAULT_TOOL_TIMEOUT_SEC: f64 = 60.0;

/// One `[mcp_servers.NAME]` table. Unknown keys are errors, as everywhere in config.toml.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct McpServerEntry {
    /// Program of a stdio server.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub command: Option<String>,
    /// Its arguments.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub args: Vec<String>,
    /// Variables set for it (on top of the daemon's environment without its secrets).
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub env: BTreeMap<String, String>,
    /// Names of daemon variables passed through although they look like secrets (Codex's
    /// `env_vars`).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub env_vars: Vec<String>,
    /// Its working directory (default: the daemon's data dir for MCP servers).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cwd: Option<String>,
    /// Endpoint of a Streamable HTTP server.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub url: Option<String>,
    /// Variable holding the bearer token sent to `url` (the token never goes in this file).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub bearer_token_env_var: Option<String>,
    /// Extra HTTP headers sent to `url`.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub http_headers: BTreeMap<String, String>,
    /// HTTP headers whose values are read from variables (header -> variable).
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub env_http_headers: BTreeMap<String, String>,
    /// `false` keeps the server configured but not started.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub enabled: Option<bool>,
    /// Seconds to wait for it to answer `initialize` and `tools/list` (default 10).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub startup_timeout_sec: Option<f64>,
    /// Seconds one tool call may take (default 60).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tool_timeout_sec: Option<f64>,
    /// Only these tools are offered (by the server's tool name).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub enabled_tools: Option<Vec<String>>,
    /// These tools are never offered.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub disabled_tools: Vec<String>,
    /// Tools this server annotates `readOnlyHint` run without asking under `ask`, and are
    /// offered to read-only sessions. Default `false`: a server's own hint is not trusted.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub trust: Option<bool>,
    /// `false` runs a stdio server outside the command sandbox (default: inside).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sandbox: Option<bool>,
}

/// How a server is reached.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Transport {
    /// A child process speaking newline-delimited JSON on stdin/stdout.
    Stdio {
        /// Program.
        command: String,
        /// Arguments.
        args: Vec<String>,
    },
    /// Streamable HTTP at this endpoint.
    Http {
        /// Endpoint URL.
        url: String,
    },
}

impl McpServerEntry {
    /// The transport, or what is wrong with the entry.
    pub fn transport(&self, name: &str) -> Result<Transport, String> {
        match (&self.command, &self.url) {
            (Some(c), None) if !c.trim().is_empty() => Ok(Transport::Stdio {
                command: c.clone(),
                args: self.args.clone(),
            }),
            (None, Some(u)) if u.starts_with("http://") || u.starts_with("https://") => {
                Ok(Transport::Http { url: u.clone() })
            }
            (None, Some(u)) => Err(format!(
                "[mcp_servers.{name}] url {u:?} is not an http:// or https:// URL"
            )),
            (Some(_), Some(_)) => Err(format!(
                "[mcp_servers.{name}] has both `command` and `url`; keep one (command for a local stdio server, url for Streamable HTTP)"
            )),
            _ => Err(format!(
                "[mcp_servers.{name}] needs `command` (a local stdio server) or `url` (Streamable HTTP)"
            )),
        }
    }

    /// Whether the server is to be started.
    pub fn is_enabled(&self) -> bool {
        self.enabled.unwrap_or(true)
    }

    /// The startup timeout.
    pub fn startup_timeout(&self) -> Duration {
        seconds(self.startup_timeout_sec, DEFAULT_STARTUP_TIMEOUT_SEC)
    }

    /// The tool call timeout.
    pub fn tool_timeout(&self) -> Duration {
        seconds(self.tool_timeout_sec, DEFAULT_TOOL_TIMEOUT_SEC)
    }

    /// Whether the server's `readOnlyHint` is believed.
    pub fn is_trusted(&self) -> bool {
        self.trust.unwrap_or(false)
    }

    /// Whether a stdio server runs inside the command sandbox.
    pub fn is_sandboxed(&self) -> bool {
        self.sandbox.unwrap_or(true)
    }

    /// Whether the server's tool `tool` is offered, by `enabled_tools`/`disabled_tools`.
    pub fn offers(&self, tool: &str) -> bool {
        let enabled = self
            .enabled_tools
            .as_ref()
            .is_none_or(|list| list.iter().any(|t| t == tool));
        enabled && !self.disabled_tools.iter().any(|t| t == tool)
    }
}

fn seconds(v: Option<f64>, default: f64) -> Duration {
    let s = v.filter(|s| s.is_finite() && *s > 0.0).unwrap_or(default);
    Duration::from_secs_f64(s.min(24.0 * 3600.0))
}

/// Whether `name` can name a server: it becomes part of tool names (`mcp__<name>__<tool>`),
/// which providers restrict to `[A-Za-z0-9_-]`; `__` would make the name ambiguous.
pub fn valid_server_name(name: &str) -> bool {
    !name.is_empty()
        && name.len() <= 32
        && !name.contains("__")
        && name
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '-')
}

/// Only the `[mcp_servers]` table of a config file; everything else is ignored here (the
/// whole file is validated by [`crate::FileConfig`]).
#[derive(Debug, Default, Deserialize)]
struct OnlyMcp {
    #[serde(default)]
    mcp_servers: BTreeMap<String, McpServerEntry>,
}

/// The `[mcp_servers]` of `text`; an error names the file and says what is wrong.
pub fn parse(text: &str, path: &Path) -> Result<BTreeMap<String, McpServerEntry>, String> {
    let parsed: OnlyMcp =
        toml::from_str(text).map_err(|e| format!("{}: {}", path.display(), e.message()))?;
    if let Some(bad) = parsed.mcp_servers.keys().find(|n| !valid_server_name(n)) {
        return Err(format!(
            "{}: [mcp_servers.{bad}]: a server name is 1-32 letters, digits, `-` or `_`, without `__`",
            path.display()
        ));
    }
    Ok(parsed.mcp_servers)
}

/// The `[mcp_servers]` of the config file at `path`; none when the file does not exist.
pub fn load(path: &Path) -> Result<BTreeMap<String, McpServerEntry>, String> {
    match std::fs::read_to_string(path) {
        Ok(text) => parse(&text, path),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(BTreeMap::new()),
        Err(e) => Err(format!("cannot read {}: {e}", path.display())),
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used)]
    use super::*;
    use pretty_assertions::assert_eq;

    #[test]
    fn a_codex_section_parses_as_it_is() {
        let text = r#"
model = "ignored here"
[mcp_servers.everything]
command = "npx"
args = ["-y", "@modelcontextprotocol/server-everything"]
env = { A = "1" }
startup_timeout_sec = 20
tool_timeout_sec = 1.5
disabled_tools = ["get-env"]

[mcp_servers.docs]
url = "https://example.com/mcp"
bearer_token_env_var = "DOCS_TOKEN"
http_headers = { "X-Team" = "core" }
enabled = false
"#;
        let servers = parse(text, Path::new("config.toml")).unwrap();
        let e = &servers["everything"];
        assert_eq!(
            e.transport("everything").unwrap(),
            Transport::Stdio {
                command: "npx".into(),
                args: vec![
                    "-y".into(),
                    "@modelcontextprotocol/server-everything".into()
                ]
            }
        );
        assert_eq!(e.startup_timeout(), Duration::from_secs(20));
        assert_eq!(e.tool_timeout(), Duration::from_millis(1500));
        assert!(e.offers("echo") && !e.offers("get-env"));
        assert!(e.is_enabled() && e.is_sandboxed() && !e.is_trusted());
        let d = &servers["docs"];
        assert_eq!(
            d.transport("docs").unwrap(),
            Transport::Http {
                url: "https://example.com/mcp".into()
            }
        );
        assert!(!d.is_enabled());
        assert_eq!(d.startup_timeout(), Duration::from_secs(10));
        assert_eq!(d.tool_timeout(), Duration::from_secs(60));
    }

    #[test]
    fn bad_entries_say_what_to_fix() {
        let both = McpServerEntry {
            command: Some("x".into()),
            url: Some("http://h/mcp".into()),
            ..Default::default()
        };
        assert!(both.transport("a").unwrap_err().contains("keep one"));
        assert!(
            McpServerEntry::default()
                .transport("a")
                .unwrap_err()
                .contains("needs `command`")
        );
        let err = parse(
            "[mcp_servers.\"a__b\"]\ncommand = \"x\"\n",
            Path::new("c.toml"),
        );
        assert!(err.unwrap_err().contains("without `__`"));
        let err = parse("[mcp_servers.a]\ncomand = \"x\"\n", Path::new("c.toml"));
        assert!(err.unwrap_err().contains("comand"));
    }

    #[test]
    fn enabled_tools_is_an_allow_list() {
        let e = McpServerEntry {
            enabled_tools: Some(vec!["echo".into()]),
            ..Default::default()
        };
        assert!(e.offers("echo") && !e.offers("get-sum"));
    }
}
