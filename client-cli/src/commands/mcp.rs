//! `botcoder mcp`: the MCP servers the daemon runs. `list` asks the daemon (state, tools,
//! last error); `add` and `remove` edit `[mcp_servers.NAME]` in config.toml, keeping the
//! rest of the file as it is (comments and order too), then ask a running daemon to reload.

use std::path::Path;

use botcoder_config::mcp::valid_server_name;
use botcoder_protocol::client::ClientError;
use botcoder_protocol::methods::{DaemonReload, Empty, McpList, McpListResult, McpServerInfo};
use toml_edit::{Array, DocumentMut, InlineTable, Item, Table, value};

use super::connect;
use crate::cli::McpCommand;
use crate::exit::{self, Failure};
use crate::output::Out;

/// Runs an `mcp` subcommand.
pub async fn run(cmd: McpCommand) -> Result<u8, Failure> {
    match cmd {
        McpCommand::List(flag) => list(flag.json).await,
        McpCommand::Add {
            name,
            url,
            bearer_token_env_var,
            env,
            command,
        } => {
            let path = botcoder_config::config_path();
            add(&path, &name, url, bearer_token_env_var, &env, &command)?;
            println!("added [mcp_servers.{name}] to {}", path.display());
            reload().await;
            Ok(exit::OK)
        }
        McpCommand::Remove { name } => {
            let path = botcoder_config::config_path();
            remove(&path, &name)?;
            println!("removed [mcp_servers.{name}] from {}", path.display());
            reload().await;
            Ok(exit::OK)
        }
    }
}

async fn list(json: bool) -> Result<u8, Failure> {
    let client = connect(false).await.map_err(|f| {
        Failure::new(
            f.code,
            format!(
                "{}\n(`botcoder daemon start` starts it; the servers run in the daemon)",
                f.message
            ),
        )
    })?;
    let result = client.call::<McpList>(&Empty {}).await?;
    let mut out = Out;
    if json {
        let _ = out.json_value(&result);
    } else {
        let _ = out.text(&render(&result));
    }
    Ok(exit::OK)
}

/// The text form of `mcp list`.
pub fn render(result: &McpListResult) -> String {
    if result.servers.is_empty() {
        return "no MCP servers configured (add one with `botcoder mcp add NAME -- COMMAND [ARGS...]`)\n"
            .to_owned();
    }
    result.servers.iter().map(line).collect()
}

/// One server in a few lines: name, transport, state, tools, last error.
pub fn line(s: &McpServerInfo) -> String {
    let version = s
        .protocol_version
        .as_deref()
        .map(|v| format!(", protocol {v}"))
        .unwrap_or_default();
    let mut text = format!(
        "{} ({}) {}{version}, {} tool(s)\n",
        s.name,
        s.transport,
        s.state,
        s.tools.len()
    );
    if !s.tools.is_empty() {
        text.push_str(&format!("  tools: {}\n", s.tools.join(", ")));
    }
    if let Some(e) = &s.last_error {
        text.push_str(&format!("  last error: {e}\n"));
    }
    text
}

/// Asks a running daemon to apply the file; says what to do when it cannot.
async fn reload() {
    let Ok(client) = connect(false).await else {
        println!("botcoderd is not running; the change applies when it starts");
        return;
    };
    match client.call::<DaemonReload>(&Empty {}).await {
        Ok(r) if r.ok => println!("botcoderd reloaded its configuration"),
        Ok(r) => eprintln!("botcoderd did not apply the file: {}", r.message),
        Err(ClientError::Rpc {
            kind: None,
            message,
        }) if message.to_ascii_lowercase().contains("method not found") => {
            println!(
                "this botcoderd cannot reload its configuration; `botcoder daemon restart` applies the change"
            );
        }
        Err(e) => eprintln!(
            "could not ask botcoderd to reload ({e}); `botcoder daemon restart` applies the change"
        ),
    }
}

fn read(path: &Path) -> Result<DocumentMut, Failure> {
    let text = match std::fs::read_to_string(path) {
        Ok(t) => t,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => String::new(),
        Err(e) => {
            return Err(Failure::new(
                exit::FAILED,
                format!("cannot read {}: {e}", path.display()),
            ));
        }
    };
    text.parse::<DocumentMut>().map_err(|e| {
        Failure::new(
            exit::FAILED,
            format!(
                "{} is not valid TOML, so it was left alone: {e}",
                path.display()
            ),
        )
    })
}

/// Writes through a temp file and a rename, so a crash never leaves half a config.
fn write(path: &Path, doc: &DocumentMut) -> Result<(), Failure> {
    let fail = |e: std::io::Error| {
        Failure::new(
            exit::FAILED,
            format!("cannot write {}: {e}", path.display()),
        )
    };
    if let Some(dir) = path.parent() {
        std::fs::create_dir_all(dir).map_err(fail)?;
    }
    let tmp = path.with_extension("toml.tmp");
    std::fs::write(&tmp, doc.to_string()).map_err(fail)?;
    if let Ok(meta) = std::fs::metadata(path) {
        let _ = std::fs::set_permissions(&tmp, meta.permissions());
    }
    std::fs::rename(&tmp, path).map_err(fail)
}

/// Adds `[mcp_servers.NAME]` to the file at `path`.
pub fn add(
    path: &Path,
    name: &str,
    url: Option<String>,
    bearer_token_env_var: Option<String>,
    env: &[String],
    command: &[String],
) -> Result<(), Failure> {
    let usage = |m: String| Failure::new(exit::USAGE, m);
    if !valid_server_name(name) {
        return Err(usage(format!(
            "{name:?} cannot name a server: use 1-32 letters, digits, `-` or `_`, without `__`"
        )));
    }
    let mut entry = Table::new();
    match (url, command.split_first()) {
        (Some(_), Some(_)) => {
            return Err(usage(
                "give either --url URL or `-- COMMAND [ARGS...]`, not both".to_owned(),
            ));
        }
        (None, None) => {
            return Err(usage(
                "say how to reach the server: `botcoder mcp add NAME -- COMMAND [ARGS...]` or `botcoder mcp add NAME --url URL`".to_owned(),
            ));
        }
        (Some(u), None) => {
            if !(u.starts_with("http://") || u.starts_with("https://")) {
                return Err(usage(format!("{u:?} is not an http:// or https:// URL")));
            }
            entry.insert("url", value(u));
            if let Some(v) = bearer_token_env_var {
                entry.insert("bearer_token_env_var", value(v));
            }
        }
        (None, Some((program, args))) => {
            if bearer_token_env_var.is_some() {
                return Err(usage(
                    "--bearer-token-env-var is for --url servers".to_owned(),
                ));
            }
            entry.insert("command", value(program.as_str()));
            if !args.is_empty() {
                entry.insert("args", value(args.iter().collect::<Array>()));
            }
        }
    }
    if !env.is_empty() {
        let mut vars = InlineTable::new();
        for kv in env {
            let Some((k, v)) = kv.split_once('=') else {
                return Err(usage(format!("--env {kv:?}: write it as KEY=VALUE")));
            };
            vars.insert(k, v.into());
        }
        entry.insert("env", value(vars));
    }
    let mut doc = read(path)?;
    let servers = doc
        .entry("mcp_servers")
        .or_insert_with(|| {
            let mut t = Table::new();
            t.set_implicit(true);
            Item::Table(t)
        })
        .as_table_mut()
        .ok_or_else(|| {
            Failure::new(
                exit::FAILED,
                format!("mcp_servers in {} is not a table", path.display()),
            )
        })?;
    if servers.contains_key(name) {
        return Err(Failure::new(
            exit::FAILED,
            format!(
                "[mcp_servers.{name}] is already in {}; `botcoder mcp remove {name}` first to replace it",
                path.display()
            ),
        ));
    }
    servers.insert(name, Item::Table(entry));
    write(path, &doc)
}

/// Removes `[mcp_servers.NAME]` from the file at `path`.
pub fn remove(path: &Path, name: &str) -> Result<(), Failure> {
    let mut doc = read(path)?;
    let removed = doc
        .get_mut("mcp_servers")
        .and_then(Item::as_table_like_mut)
        .and_then(|t| t.remove(name));
    if removed.is_none() {
        return Err(Failure::new(
            exit::FAILED,
            format!("there is no [mcp_servers.{name}] in {}", path.display()),
        ));
    }
    write(path, &doc)
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used)]
    use super::*;
    use pretty_assertions::assert_eq;

    #[test]
    fn add_and_remove_keep_the_rest_of_the_file() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("config.toml");
        let original =
            "# my settings\nprovider = \"openai\" # the default\n\n[sandbox]\nnetwork = false\n";
        std::fs::write(&path, original).unwrap();
        let cmd = ["npx".to_owned(), "-y".to_owned(), "server".to_owned()];
        add(&path, "everything", None, None, &["A=1".to_owned()], &cmd).unwrap();
        add(
            &path,
            "docs",
            Some("https://example.com/mcp".into()),
            Some("DOCS_TOKEN".into()),
            &[],
            &[],
        )
        .unwrap();
        let text = std::fs::read_to_string(&path).unwrap();
        assert!(text.starts_with(original), "{text}");
        let servers = botcoder_config::mcp::parse(&text, &path).unwrap();
        assert_eq!(servers["everything"].command.as_deref(), Some("npx"));
        assert_eq!(servers["everything"].args, vec!["-y", "server"]);
        assert_eq!(servers["everything"].env["A"], "1");
        assert_eq!(
            servers["docs"].bearer_token_env_var.as_deref(),
            Some("DOCS_TOKEN")
        );
        assert!(add(&path, "docs", Some("https://x/mcp".into()), None, &[], &[]).is_err());
        remove(&path, "everything").unwrap();
        remove(&path, "docs").unwrap();
        assert!(remove(&path, "docs").is_err());
        let text = std::fs::read_to_string(&path).unwrap();
        assert!(text.starts_with(original), "{text}");
        assert!(!text.contains("everything"), "{text}");
    }

    #[test]
    fn mistakes_are_usage_errors() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("config.toml");
        let e = add(&path, "a__b", None, None, &[], &["x".to_owned()]).unwrap_err();
        assert_eq!(e.code, exit::USAGE);
        let e = add(&path, "a", None, None, &[], &[]).unwrap_err();
        assert_eq!(e.code, exit::USAGE);
        let e = add(&path, "a", Some("ftp://x".into()), None, &[], &[]).unwrap_err();
        assert_eq!(e.code, exit::USAGE);
        assert!(!path.exists());
    }
}
