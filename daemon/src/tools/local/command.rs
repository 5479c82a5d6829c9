//! execute_command (invariant I7): run in the project root, with a timeout, an
//! output cap, their own process group (cancel or timeout kills the whole group), and an
//! environment without the daemon's secrets.

use std::path::Path;
use std::process::Stdio;
use std::time::Duration;

use serde_json::Value;
use tokio::io::AsyncReadExt;

use super::args::{opt_u64, req_str};
use crate::tools::{OutputChunk, ToolContext, ToolOutcome};

/// Default command timeout.
pub const DEFAULT_TIMEOUT: Duration = Duration::from_secs(120);
/// Captured output kept for the model: this much of the head and of the tail.
const KEEP_HEAD: usize = 32 * 1024;
const KEEP_TAIL: usize = 32 * 1024;
/// After the command exits (or is killed), how long to keep reading pipes that a detached
/// grandchild may hold open.
const DRAIN_GRACE: Duration = Duration::from_millis(300);

/// The environment for child processes: the daemon's, minus secrets and the variables that
/// only mean something to the daemon itself (systemd's socket activation and notify socket).
pub fn child_env(vars: impl Iterator<Item = (String, String)>) -> Vec<(String, String)> {
    const DAEMON_ONLY: [&str; 4] = [
        "LISTEN_FDS",
        "LISTEN_PID",
        "LISTEN_FDNAMES",
        "NOTIFY_SOCKET",
    ];
    vars.filter(|(k, _)| !crate::config::is_secret_var(k) && !DAEMON_ONLY.contains(&k.as_str()))
        .collect()
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

/// Runs a prepared command to completion under the tool rules.
pub(crate) async fn run(
    mut cmd: tokio::process::Command,
    root: &Path,
    ctx: &ToolContext,
    timeout: Duration,
    extra_env: &[(&str, &str)],
) -> ToolOutcome {
    cmd.current_dir(root)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .process_group(0)
        .env_clear()
        .envs(child_env(std::env::vars()))
        .envs(extra_env.iter().copied())
        .kill_on_drop(true);
    let mut child = match cmd.spawn() {
        Ok(c) => c,
        Err(e) => return ToolOutcome::error(format!("cannot start the command: {e}")),
    };
    let pid = child.id();
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
    let emit = |stream: &'static str, text: String, capture: &mut Capture| {
        if text.is_empty() {
            return;
        }
        capture.push(&text);
        if let Some(tx) = &ctx.output {
            let _ = tx.send(OutputChunk { stream, text });
        }
    };
    while out_open || err_open || status.is_none() {
        let drain_deadline = drain_until.unwrap_or(deadline + Duration::from_secs(3600));
        tokio::select! {
            n = out.read(&mut buf_out), if out_open => match n {
                Ok(0) | Err(_) => out_open = false,
                Ok(n) => { let t = dec_out.push(&buf_out[..n]); emit("stdout", t, &mut capture); }
            },
            n = err.read(&mut buf_err), if err_open => match n {
                Ok(0) | Err(_) => err_open = false,
                Ok(n) => { let t = dec_err.push(&buf_err[..n]); emit("stderr", t, &mut capture); }
            },
            s = child.wait(), if status.is_none() => {
                status = Some(s.ok());
                // The command is done; its group too, so nothing it left behind lingers.
                kill_group(pid);
                drain_until = Some(tokio::time::Instant::now() + DRAIN_GRACE);
            }
            () = tokio::time::sleep_until(deadline), if stopped.is_none() && status.is_none() => {
                stopped = Some("timed out");
                kill_group(pid);
            }
            () = ctx.cancel.cancelled(), if stopped.is_none() && status.is_none() => {
                stopped = Some("cancelled");
                kill_group(pid);
            }
            () = tokio::time::sleep_until(drain_deadline), if drain_until.is_some() => break,
        }
    }
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
    run(cmd, root, ctx, timeout, &[]).await
}

#[cfg(test)]
#[path = "command_tests.rs"]
mod tests;
