//! execute_command (invariant I7): run in the project root, with a timeout, an
//! output cap, their own process group, an environment without the daemon's secrets, and
//! inside the daemon's OS sandbox (`tools::sandbox`), which also sees to it that no
//! descendant outlives the command, `setsid` ones included.

use std::ffi::OsString;
use std::path::Path;
use std::process::Stdio;
use std::time::Duration;

use serde_json::Value;
use tokio::io::AsyncReadExt;

use super::args::{opt_u64, req_str};
use crate::tools::sandbox::{self, Mechanism, Policy};
use crate::tools::{OutputChunk, ToolContext, ToolOutcome};

/// Default command timeout.
pub const DEFAULT_TIMEOUT: Duration = Duration::from_secs(120);
/// Captured output kept for the model: this much of the head and of the tail.
const KEEP_HEAD: usize = 32 * 1024;
const KEEP_TAIL: usize = 32 * 1024;
/// After the command exits (or is killed), how long to keep reading pipes that a detached
/// grandchild may hold open.
const DRAIN_GRACE: Duration = Duration::from_millis(300);

/// Prefixes of variables that configure providers, the botserver or botcoder itself: a
/// command has no business with them (and some name endpoints a key goes to). None is kept:
/// nothing a command runs needs `BOTCODER_*`, and `BOTCODER_SOCKET` would point at the
/// daemon.
const DAEMON_PREFIXES: [&str; 8] = [
    "OPENAI_",
    "AZURE_OPENAI_",
    "ANTHROPIC_",
    "LOCAL_LLM_",
    "LLM_",
    "BOTSERVER_",
    "BOTCODER_",
    "LISTEN_",
];

/// Single variables that only mean something to the daemon, or that hand out access a
/// command must not have: systemd's notify socket, the seed's settings, the session bus
/// (`systemd-run --user` would start a process outside the sandbox) and the SSH and GPG
/// agents (they sign with the user's keys).
const DAEMON_ONLY: [&str; 8] = [
    "NOTIFY_SOCKET",
    "PROJECT_PATH",
    "ENABLE_BOTSERVER_FACADE",
    "FALLBACK_TO_LOCAL",
    "DBUS_SESSION_BUS_ADDRESS",
    "SSH_AUTH_SOCK",
    "SSH_AGENT_PID",
    "GPG_AGENT_INFO",
];

/// Whether a child process may see variable `name` (I8): no name containing KEY, SECRET,
/// TOKEN or PASSWORD in any case, no provider, botserver or botcoder setting, nothing only
/// the daemon uses.
pub fn child_may_see(name: &str) -> bool {
    let upper = name.to_ascii_uppercase();
    !(["KEY", "SECRET", "TOKEN", "PASSWORD", "PASSWD", "CREDENTIAL"]
        .iter()
        .any(|w| upper.contains(w))
        || botcoder_config::is_secret_var(name)
        || DAEMON_PREFIXES.iter().any(|p| upper.starts_with(p))
        || DAEMON_ONLY.contains(&upper.as_str()))
}

/// The environment for child processes: the daemon's, minus what [`child_may_see`] refuses.
pub fn child_env(vars: impl Iterator<Item = (String, String)>) -> Vec<(String, String)> {
    vars.filter(|(k, _)| child_may_see(k)).collect()
}

/// Output kept for the model: head and tail of everything, in arrival order.
#[derive(Debug, Default)]
struct Capture {
    head: String,
    tail: String,
    dropped: usize,
}

impl Capture {
    fn push(&mut self, s: &str) {
        if self.head.len() < KEEP_HEAD {
            let room = KEEP_HEAD - self.head.len();
            let cut = floor_boundary(s, room.min(s.len()));
            self.head.push_str(&s[..cut]);
            self.push_tail(&s[cut..]);
        } else {
            self.push_tail(s);
        }
    }

    fn push_tail(&mut self, s: &str) {
        self.tail.push_str(s);
        if self.tail.len() > 2 * KEEP_TAIL {
            let cut = ceil_boundary(&self.tail, self.tail.len() - KEEP_TAIL);
            self.dropped += cut;
            self.tail.drain(..cut);
        }
    }

    fn finish(mut self) -> (String, bool) {
        if self.tail.len() > KEEP_TAIL {
            let cut = ceil_boundary(&self.tail, self.tail.len() - KEEP_TAIL);
            self.dropped += cut;
            self.tail.drain(..cut);
        }
        if self.dropped == 0 {
            return (self.head + &self.tail, false);
        }
        (
            format!(
                "{}\n[... {} bytes of output cut ...]\n{}",
                self.head, self.dropped, self.tail
            ),
            true,
        )
    }
}

fn floor_boundary(s: &str, mut i: usize) -> usize {
    while i > 0 && !s.is_char_boundary(i) {
        i -= 1;
    }
    i
}

fn ceil_boundary(s: &str, mut i: usize) -> usize {
    while i < s.len() && !s.is_char_boundary(i) {
        i += 1;
    }
    i
}

/// Decodes a byte stream to UTF-8 across chunk boundaries.
#[derive(Debug, Default)]
struct Utf8Stream {
    pending: Vec<u8>,
}

impl Utf8Stream {
    fn push(&mut self, bytes: &[u8]) -> String {
        self.pending.extend_from_slice(bytes);
        let valid = match std::str::from_utf8(&self.pending) {
            Ok(_) => self.pending.len(),
            Err(e) if e.error_len().is_none() => e.valid_up_to(), // incomplete char at the end
            Err(_) => {
                return String::from_utf8_lossy(&std::mem::take(&mut self.pending)).into_owned();
            }
        };
        let rest = self.pending.split_off(valid);
        String::from_utf8_lossy(&std::mem::replace(&mut self.pending, rest)).into_owned()
    }
}

fn kill_group(pid: Option<u32>) {
    if let Some(pid) = pid.and_then(|p| rustix::process::Pid::from_raw(p as i32)) {
        let _ = rustix::process::kill_process_group(pid, rustix::process::Signal::KILL);
    }
}

/// How a running command is stopped.
enum Stop {
    /// Kill the process group: a direct child, or bwrap (whose PID namespace dies with it).
    Group,
    /// Close the reaper's control pipe; it kills every descendant and exits.
    Reaper(Option<tokio::process::ChildStdin>),
}

/// How long the reaper gets to clean up after its pipe closes before its group is killed.
const REAPER_GRACE: Duration = Duration::from_secs(2);

/// The command as it is spawned under `policy`, and how to stop it.
fn confine(
    policy: &Policy,
    cmd: &tokio::process::Command,
    root: &Path,
    tmp: &Path,
) -> Result<(tokio::process::Command, bool), String> {
    let std_cmd = cmd.as_std();
    let program: Vec<OsString> = std::iter::once(std_cmd.get_program().to_os_string())
        .chain(std_cmd.get_args().map(OsString::from))
        .collect();
    let reaper = |landlock: bool, helper: &Path| {
        let mut c = tokio::process::Command::new(helper);
        c.arg(sandbox::helper::EXEC_FLAG);
        if landlock {
            c.arg("--landlock");
            if !policy.network {
                c.arg("--no-net");
            }
            c.arg("--rw").arg(root).arg("--rw").arg(tmp);
        }
        c.arg("--").args(&program);
        (c, true)
    };
    Ok(match (&policy.mechanism, &policy.helper) {
        (Mechanism::Unavailable(why), _) => return Err(why.clone()),
        (Mechanism::Bwrap(bwrap), _) => {
            let mut c = tokio::process::Command::new(bwrap);
            c.args(sandbox::bwrap_args(policy, root, tmp, &program));
            (c, false)
        }
        (Mechanism::Landlock, Some(helper)) => reaper(true, helper),
        (Mechanism::Landlock, None) => {
            return Err("the landlock sandbox needs the botcoderd helper, which is unknown".into());
        }
        (Mechanism::Off, Some(helper)) => reaper(false, helper),
        (Mechanism::Off, None) => {
            let mut c = tokio::process::Command::new(&program[0]);
            c.args(&program[1..]);
            (c, false)
        }
    })
}

/// Runs a prepared command to completion under the tool rules, in the daemon's sandbox.
pub(crate) async fn run(
    cmd: tokio::process::Command,
    root: &Path,
    ctx: &ToolContext,
    timeout: Duration,
    extra_env: &[(&str, &str)],
) -> ToolOutcome {
    let policy = ctx.sandbox.as_deref().unwrap_or(sandbox::current());
    run_in(policy, cmd, root, ctx, timeout, extra_env).await
}

/// [`run`] under an explicit policy.
pub(crate) async fn run_in(
    policy: &Policy,
    cmd: tokio::process::Command,
    root: &Path,
    ctx: &ToolContext,
    timeout: Duration,
    extra_env: &[(&str, &str)],
) -> ToolOutcome {
    let tmp = match tokio::task::spawn_blocking(|| {
        tempfile::Builder::new().prefix("botcoder-cmd-").tempdir()
    })
    .await
    {
        Ok(Ok(t)) => t,
        Ok(Err(e)) => {
            return ToolOutcome::error(format!("cannot make the command's temp dir: {e}"));
        }
        Err(e) => return ToolOutcome::error(format!("cannot make the command's temp dir: {e}")),
    };
    let (mut cmd, reaped) = match confine(policy, &cmd, root, tmp.path()) {
        Ok(c) => c,
        Err(why) => return ToolOutcome::error(format!("commands are not run: {why}")),
    };
    cmd.current_dir(root)
        .stdin(if reaped {
            Stdio::piped()
        } else {
            Stdio::null()
        })
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .process_group(0)
        .env_clear()
        .envs(child_env(std::env::vars()))
        .envs(extra_env.iter().copied())
        .env(
            "TMPDIR",
            match policy.mechanism {
                Mechanism::Bwrap(_) => Path::new("/tmp"),
                _ => tmp.path(),
            },
        )
        // The reaper must not be SIGKILLed on drop: it would leave the descendants to init.
        // Dropping its control pipe stops it instead.
        .kill_on_drop(!reaped);
    let outcome = supervise(policy, cmd, reaped, ctx, timeout).await;
    // A command may leave many files in its temp dir: remove them off the async workers.
    tokio::task::spawn_blocking(move || drop(tmp));
    outcome
}

async fn supervise(
    policy: &Policy,
    mut cmd: tokio::process::Command,
    reaped: bool,
    ctx: &ToolContext,
    timeout: Duration,
) -> ToolOutcome {
    let mut child = match cmd.spawn() {
        Ok(c) => c,
        Err(e) => return ToolOutcome::error(format!("cannot start the command: {e}")),
    };
    let pid = child.id();
    // While it runs, the control socket knows this process tree is a tool's (I9).
    let _registered = pid.map(crate::procs::register);
    let mut stop = if reaped {
        Stop::Reaper(child.stdin.take())
    } else {
        Stop::Group
    };
    let (Some(mut out), Some(mut err)) = (child.stdout.take(), child.stderr.take()) else {
        kill_group(pid);
        return ToolOutcome::error("cannot capture the command's output");
    };
    let mut capture = Capture::default();
    let (mut dec_out, mut dec_err) = (Utf8Stream::default(), Utf8Stream::default());
    let (mut buf_out, mut buf_err) = (vec![0u8; 8192], vec![0u8; 8192]);
    let (mut out_open, mut err_open) = (true, true);
    let mut status = None;
    let mut stopped: Option<&str> = None;
    let deadline = tokio::time::Instant::now() + timeout;
    let mut drain_until: Option<tokio::time::Instant> = None;
    let mut hard_kill_at: Option<tokio::time::Instant> = None;
    let far = deadline + Duration::from_secs(3600);
    let emit = |stream: botcoder_protocol::OutputStream, text: String, capture: &mut Capture| {
        if text.is_empty() {
            return;
        }
        capture.push(&text);
        if let Some(tx) = &ctx.output {
            let _ = tx.send(OutputChunk { stream, text });
        }
    };
    let halt = |stop: &mut Stop, hard_kill_at: &mut Option<tokio::time::Instant>| match stop {
        Stop::Group => kill_group(pid),
        Stop::Reaper(control) => {
            drop(control.take());
            *hard_kill_at = Some(tokio::time::Instant::now() + REAPER_GRACE);
        }
    };
    while out_open || err_open || status.is_none() {
        tokio::select! {
            n = out.read(&mut buf_out), if out_open => match n {
                Ok(0) | Err(_) => out_open = false,
                Ok(n) => { let t = dec_out.push(&buf_out[..n]); emit(botcoder_protocol::OutputStream::Stdout, t, &mut capture); }
            },
            n = err.read(&mut buf_err), if err_open => match n {
                Ok(0) | Err(_) => err_open = false,
                Ok(n) => { let t = dec_err.push(&buf_err[..n]); emit(botcoder_protocol::OutputStream::Stderr, t, &mut capture); }
            },
            s = child.wait(), if status.is_none() => {
                status = Some(s.ok());
                // The command is done; whatever it left behind goes too (the reaper and the
                // PID namespace did that already; the group kill covers the direct case).
                kill_group(pid);
                drain_until = Some(tokio::time::Instant::now() + DRAIN_GRACE);
            }
            () = tokio::time::sleep_until(deadline), if stopped.is_none() && status.is_none() => {
                stopped = Some("timed out");
                halt(&mut stop, &mut hard_kill_at);
            }
            () = ctx.cancel.cancelled(), if stopped.is_none() && status.is_none() => {
                stopped = Some("cancelled");
                halt(&mut stop, &mut hard_kill_at);
            }
            () = tokio::time::sleep_until(hard_kill_at.unwrap_or(far)), if hard_kill_at.is_some() && status.is_none() => {
                hard_kill_at = None;
                kill_group(pid);
            }
            () = tokio::time::sleep_until(drain_until.unwrap_or(far)), if drain_until.is_some() => break,
        }
    }
    drop(stop);
    let (mut text, truncated) = capture.finish();
    let code = status.flatten().and_then(|s| s.code());
    let ok = stopped.is_none() && code == Some(0);
    if !text.is_empty() && !text.ends_with('\n') {
        text.push('\n');
    }
    match (stopped, code) {
        (Some("timed out"), _) => text.push_str(&format!(
            "[killed: timed out after {} s]",
            timeout.as_secs()
        )),
        (Some(_), _) => text.push_str("[killed: cancelled]"),
        (None, Some(c)) => text.push_str(&format!("[exit code {c}]")),
        (None, None) => text.push_str("[killed by a signal]"),
    }
    if !ok
        && stopped.is_none()
        && let Some(note) = sandbox::failure_note(policy, &text)
    {
        text.push('\n');
        text.push_str(&note);
    }
    ToolOutcome {
        ok,
        output: text,
        exit_code: code,
        truncated,
        changes: Vec::new(),
    }
}

/// `execute_command {command, timeout_s?}`: `sh -c` in the project root.
pub async fn execute_command(root: &Path, args: &Value, ctx: &ToolContext) -> ToolOutcome {
    let command = match req_str(args, "command") {
        Ok(c) => c,
        Err(e) => return ToolOutcome::error(e),
    };
    let timeout = match opt_u64(args, "timeout_s") {
        Ok(t) => t
            .map(|s| Duration::from_secs(s.clamp(1, 3600)))
            .unwrap_or(DEFAULT_TIMEOUT),
        Err(e) => return ToolOutcome::error(e),
    };
    let mut cmd = tokio::process::Command::new("sh");
    cmd.arg("-c").arg(command);
    if wants_network(args) {
        // Reached only after a person approved this very call (`session::approval` asks for
        // every call that wants the network, whatever the policy, grants or allow rules).
        let mut policy = ctx.sandbox.as_deref().unwrap_or(sandbox::current()).clone();
        policy.network = true;
        return run_in(&policy, cmd, root, ctx, timeout, &[]).await;
    }
    run(cmd, root, ctx, timeout, &[]).await
}

/// Whether an `execute_command` call asks for network access that the sandbox does not
/// already give every command.
pub fn wants_network(args: &Value) -> bool {
    args.get("network").and_then(Value::as_bool) == Some(true) && !sandbox::current().network
}

#[cfg(test)]
#[path = "command_tests.rs"]
mod tests;
