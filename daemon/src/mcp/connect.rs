//! Connecting to one server: a child process over stdio (inside the command sandbox unless
//! the server says `sandbox = false`) or Streamable HTTP, then the MCP handshake, in which
//! rmcp negotiates the revision the server speaks (`server/discover` for 2026-07-28
//! servers, else `initialize` with whatever older revision the server answers).
//!
//! A sandboxed server gets what a sandboxed command gets (the root file system read-only,
//! the daemon's directories and the user's credential stores hidden, a private `/tmp`), with
//! two differences: the network is allowed (most servers need it, and a server is configured
//! by the person, not chosen by the model), and what it may write is its `cwd` and its
//! private temp dir instead of a project (a server is shared by every session, so it has no
//! project of its own).

use std::collections::HashMap;
use std::ffi::OsString;
use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::sync::{Arc, Mutex};

use botcoder_config::mcp::{McpServerEntry, Transport};
use rmcp::service::{RoleClient, RunningService};
use rmcp::transport::streamable_http_client::StreamableHttpClientTransportConfig;
use rmcp::transport::{StreamableHttpClientTransport, TokioChildProcess};
use rmcp::{ClientHandler, ServiceExt};
use tokio::io::AsyncBufReadExt;

use crate::tools::local::command::child_env;
use crate::tools::sandbox::{self, Mechanism};

/// How much of a server's stderr is kept for its last error.
const STDERR_TAIL: usize = 2048;

/// A connected server, and what must live as long as the connection.
pub struct Connected<H: ClientHandler> {
    /// The running MCP client.
    pub service: RunningService<RoleClient, H>,
    /// Process group of a stdio server (its pid), killed when it stops.
    pub pgid: Option<u32>,
    /// Its private temp dir, removed when it stops.
    pub _tmp: Option<tempfile::TempDir>,
}

/// The last lines a stdio server wrote to stderr, for its error message.
#[derive(Debug, Default, Clone)]
pub struct StderrTail(Arc<Mutex<String>>);

impl StderrTail {
    fn push(&self, line: &str) {
        if let Ok(mut t) = self.0.lock() {
            t.push_str(line);
            t.push('\n');
            if t.len() > STDERR_TAIL {
                let mut cut = t.len() - STDERR_TAIL;
                while !t.is_char_boundary(cut) {
                    cut += 1;
                }
                t.drain(..cut);
            }
        }
    }

    /// The kept text, trimmed.
    pub fn text(&self) -> String {
        self.0
            .lock()
            .map(|t| t.trim().to_owned())
            .unwrap_or_default()
    }
}

/// Connects to `name` as `entry` describes and runs the handshake with `handler`. The
/// process group of a stdio server goes into `pgid` as soon as it exists, so that a caller
/// that gives up (startup timeout) can still kill it.
pub async fn connect<H: ClientHandler>(
    name: &str,
    entry: &McpServerEntry,
    handler: H,
    stderr: &StderrTail,
    pgid: &Mutex<Option<u32>>,
) -> Result<Connected<H>, String> {
    match entry.transport(name)? {
        Transport::Stdio { command, args } => {
            stdio(name, entry, (&command, &args), handler, stderr, pgid).await
        }
        Transport::Http { url } => http(name, entry, &url, handler).await,
    }
}

async fn http<H: ClientHandler>(
    name: &str,
    entry: &McpServerEntry,
    url: &str,
    handler: H,
) -> Result<Connected<H>, String> {
    let mut config = StreamableHttpClientTransportConfig::with_uri(url.to_owned());
    if let Some(var) = &entry.bearer_token_env_var {
        let token = std::env::var(var).map_err(|_| {
            format!(
                "[mcp_servers.{name}] bearer_token_env_var names {var}, which is not set in botcoderd's environment; \
                 set it where the daemon starts (or in its systemd unit) and restart it"
            )
        })?;
        config = config.auth_header(token);
    }
    let mut headers = HashMap::new();
    let from_env = entry
        .env_http_headers
        .iter()
        .filter_map(|(h, var)| std::env::var(var).ok().map(|v| (h.clone(), v)));
    for (h, v) in entry.http_headers.clone().into_iter().chain(from_env) {
        let header = reqwest::header::HeaderName::try_from(h.as_str())
            .map_err(|e| format!("[mcp_servers.{name}] http header {h:?}: {e}"))?;
        let value = reqwest::header::HeaderValue::try_from(v.as_str())
            .map_err(|e| format!("[mcp_servers.{name}] value of http header {h:?}: {e}"))?;
        headers.insert(header, value);
    }
    let config = config.custom_headers(headers);
    let client = crate::llm::http_client()?;
    let transport = StreamableHttpClientTransport::with_client(client, config);
    let service = handler.serve(transport).await.map_err(|e| {
        format!(
            "the MCP handshake with {} failed: {e}",
            crate::redact::scrub(url)
        )
    })?;
    Ok(Connected {
        service,
        pgid: None,
        _tmp: None,
    })
}

async fn stdio<H: ClientHandler>(
    name: &str,
    entry: &McpServerEntry,
    (command, args): (&str, &[String]),
    handler: H,
    stderr: &StderrTail,
    pgid_slot: &Mutex<Option<u32>>,
) -> Result<Connected<H>, String> {
    let program = find_program(command.to_owned()).await.ok_or_else(|| {
        format!(
            "[mcp_servers.{name}] command {command:?} was not found (on botcoderd's PATH); \
             install it, or give its full path"
        )
    })?;
    let tmp =
        tokio::task::spawn_blocking(|| tempfile::Builder::new().prefix("botcoder-mcp-").tempdir())
            .await
            .map_err(|e| e.to_string())?
            .map_err(|e| format!("cannot make the server's temp dir: {e}"))?;
    let cwd = match &entry.cwd {
        Some(c) => PathBuf::from(c),
        None => tmp.path().to_path_buf(),
    };
    let argv: Vec<OsString> = std::iter::once(program.into_os_string())
        .chain(args.iter().map(OsString::from))
        .collect();
    let mut cmd = confined(name, entry, &argv, &cwd, tmp.path())?;
    let inside_bwrap = matches!(
        (entry.is_sandboxed(), &sandbox::current().mechanism),
        (true, Mechanism::Bwrap(_))
    );
    cmd.current_dir(&cwd)
        .process_group(0)
        .env_clear()
        .envs(child_env(std::env::vars()))
        .envs(
            entry
                .env_vars
                .iter()
                .filter_map(|k| std::env::var(k).ok().map(|v| (k.clone(), v))),
        )
        .envs(&entry.env)
        .env(
            "TMPDIR",
            if inside_bwrap {
                Path::new("/tmp")
            } else {
                tmp.path()
            },
        )
        .kill_on_drop(true);
    let (process, err) = TokioChildProcess::builder(cmd)
        .stderr(Stdio::piped())
        .spawn()
        .map_err(|e| format!("[mcp_servers.{name}] cannot start {command:?}: {e}"))?;
    let pgid = process.id();
    if let Ok(mut slot) = pgid_slot.lock() {
        *slot = pgid;
    }
    if let Some(err) = err {
        let (tail, server) = (stderr.clone(), name.to_owned());
        tokio::spawn(async move {
            let mut lines = tokio::io::BufReader::new(err).lines();
            while let Ok(Some(line)) = lines.next_line().await {
                tracing::debug!(server = %server, "mcp stderr: {line}");
                tail.push(&line);
            }
        });
    }
    let service = match handler.serve(process).await {
        Ok(s) => s,
        Err(e) => {
            kill_group(pgid);
            // Give the stderr reader a moment to catch the server's last words.
            tokio::time::sleep(std::time::Duration::from_millis(100)).await;
            let said = stderr.text();
            let said = if said.is_empty() {
                String::new()
            } else {
                format!("; it wrote: {said}")
            };
            return Err(format!(
                "the MCP handshake with {command:?} failed: {e}{said}"
            ));
        }
    };
    Ok(Connected {
        service,
        pgid,
        _tmp: Some(tmp),
    })
}

/// The server's command line inside the sandbox (or not, with `sandbox = false`).
fn confined(
    name: &str,
    entry: &McpServerEntry,
    argv: &[OsString],
    cwd: &Path,
    tmp: &Path,
) -> Result<tokio::process::Command, String> {
    let direct = || {
        let mut c = tokio::process::Command::new(&argv[0]);
        c.args(&argv[1..]);
        c
    };
    if !entry.is_sandboxed() {
        return Ok(direct());
    }
    let mut policy = sandbox::current().clone();
    policy.network = true;
    Ok(match (&policy.mechanism, &policy.helper) {
        (Mechanism::Bwrap(bwrap), _) => {
            let mut c = tokio::process::Command::new(bwrap);
            c.args(sandbox::bwrap_args(&policy, cwd, tmp, argv));
            c
        }
        (Mechanism::Landlock, Some(helper)) => {
            let mut c = tokio::process::Command::new(helper);
            c.arg(sandbox::helper::LANDLOCK_FLAG)
                .arg("--rw")
                .arg(cwd)
                .arg("--rw")
                .arg(tmp)
                .arg("--")
                .args(argv);
            c
        }
        (Mechanism::Off, _) => direct(),
        (Mechanism::Landlock, None) => {
            return Err("the landlock sandbox needs the botcoderd helper, which is unknown".into());
        }
        (Mechanism::Unavailable(why), _) => {
            return Err(format!(
                "not started: local MCP servers run inside the command sandbox, which is unavailable ({why}); \
                 set `sandbox = false` in [mcp_servers.{name}] to run it unconfined"
            ));
        }
    })
}

/// Kills the process group of a stdio server and everything it started in it.
pub fn kill_group(pgid: Option<u32>) {
    if let Some(pid) = pgid.and_then(|p| rustix::process::Pid::from_raw(p as i32)) {
        let _ = rustix::process::kill_process_group(pid, rustix::process::Signal::KILL);
    }
}

/// `command` as a path: itself when it names one, else the first match on `PATH`.
async fn find_program(command: String) -> Option<PathBuf> {
    tokio::task::spawn_blocking(move || {
        let is_exec = |p: &Path| {
            use std::os::unix::fs::PermissionsExt;
            p.metadata()
                .is_ok_and(|m| m.is_file() && m.permissions().mode() & 0o111 != 0)
        };
        if command.contains('/') {
            let p = PathBuf::from(&command);
            return is_exec(&p).then_some(p);
        }
        let path = std::env::var_os("PATH")?;
        std::env::split_paths(&path)
            .map(|d| d.join(&command))
            .find(|p| is_exec(p))
    })
    .await
    .ok()
    .flatten()
}
