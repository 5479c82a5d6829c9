//! `botcoderd --sandbox-exec`: the per-command reaper (and, with `--landlock`, the Landlock
//! confinement) for when there is no PID namespace to do it.
//!
//! ```text
//! botcoderd --sandbox-exec [--landlock] [--no-net] [--rw DIR]... -- PROGRAM [ARG]...
//! ```
//!
//! The reaper makes itself a child subreaper, so every orphaned descendant (`setsid`,
//! double forks) is re-parented to it instead of to init, and runs the program (with
//! `--landlock` through a second exec of itself, `--sandbox-landlock`, which restricts itself
//! and then execs the program: the reaper stays outside the Landlock domain so the command
//! can neither signal nor ptrace it). When the program exits, or when the daemon closes the
//! reaper's stdin (the control pipe: cancel, timeout, or the daemon dying), it kills and
//! reaps every descendant and exits with the program's status (128 + signal when killed).

use std::ffi::OsString;
use std::io::Read;
use std::os::unix::process::CommandExt;
use std::path::PathBuf;
use std::process::{Command, ExitCode, Stdio};
use std::time::Duration;

use rustix::process::{Pid, Signal, WaitOptions};

/// The reaper's own flag.
pub const EXEC_FLAG: &str = "--sandbox-exec";
/// The second stage that applies Landlock and execs the program.
pub const LANDLOCK_FLAG: &str = "--sandbox-landlock";
/// Exit code for the helper's own failures (as `env`, `nice` and friends use).
const HELPER_FAILED: u8 = 125;

/// Runs the helper when `botcoderd` was started as one; `None` for a normal start. Call first
/// thing in `main`, while the process has a single thread.
pub fn dispatch() -> Option<ExitCode> {
    let mut args = std::env::args_os().skip(1);
    let first = args.next()?;
    let rest: Vec<OsString> = args.collect();
    if first == EXEC_FLAG {
        Some(reaper(&rest))
    } else if first == LANDLOCK_FLAG {
        Some(confine_and_exec(&rest))
    } else {
        None
    }
}

#[derive(Debug, Default, PartialEq)]
struct Spec {
    landlock: bool,
    network: bool,
    writable: Vec<PathBuf>,
    program: Vec<OsString>,
}

fn parse(args: &[OsString]) -> Result<Spec, String> {
    let mut spec = Spec {
        network: true,
        ..Spec::default()
    };
    let mut it = args.iter();
    while let Some(a) = it.next() {
        match a.to_str() {
            Some("--landlock") => spec.landlock = true,
            Some("--no-net") => spec.network = false,
            Some("--rw") => match it.next() {
                Some(d) => spec.writable.push(PathBuf::from(d)),
                None => return Err("--rw needs a directory".into()),
            },
            Some("--") => {
                spec.program = it.cloned().collect();
                break;
            }
            _ => return Err(format!("unknown argument {a:?}")),
        }
    }
    if spec.program.is_empty() {
        return Err("no program after `--`".into());
    }
    Ok(spec)
}

fn fail(msg: impl std::fmt::Display) -> ExitCode {
    eprintln!("botcoder sandbox: {msg}");
    ExitCode::from(HELPER_FAILED)
}

fn reaper(args: &[OsString]) -> ExitCode {
    let spec = match parse(args) {
        Ok(s) => s,
        Err(e) => return fail(e),
    };
    if let Err(e) = rustix::process::set_child_subreaper(Some(rustix::process::getpid())) {
        return fail(format!("cannot become a child subreaper: {e}"));
    }
    let mut cmd = if spec.landlock {
        let mut c = Command::new("/proc/self/exe");
        c.arg(LANDLOCK_FLAG).args(args);
        c
    } else {
        let mut c = Command::new(&spec.program[0]);
        c.args(&spec.program[1..]);
        c
    };
    let child = match cmd.stdin(Stdio::null()).spawn() {
        Ok(c) => c,
        Err(e) => return fail(format!("cannot start {:?}: {e}", spec.program[0])),
    };
    let main_pid = child.id();
    // The control pipe: end of file means stop now.
    std::thread::spawn(|| {
        let mut stdin = std::io::stdin();
        let mut buf = [0u8; 64];
        loop {
            match stdin.read(&mut buf) {
                Ok(0) => break,
                Ok(_) => {}
                Err(e) if e.kind() == std::io::ErrorKind::Interrupted => {}
                Err(_) => break,
            }
        }
        kill_descendants();
        std::process::exit(128 + 9);
    });
    let mut code = HELPER_FAILED;
    loop {
        match rustix::process::wait(WaitOptions::empty()) {
            Ok(Some((pid, status))) if pid.as_raw_nonzero().get() as u32 == main_pid => {
                code = match (status.exit_status(), status.terminating_signal()) {
                    (Some(c), _) => (c & 0xff) as u8,
                    (None, Some(s)) => (128 + s).clamp(0, 255) as u8,
                    (None, None) => HELPER_FAILED,
                };
                break;
            }
            Ok(_) => {} // an orphan we adopted, reaped
            Err(rustix::io::Errno::INTR) => {}
            Err(_) => break,
        }
    }
    kill_descendants();
    ExitCode::from(code)
}

fn confine_and_exec(args: &[OsString]) -> ExitCode {
    let spec = match parse(args) {
        Ok(s) => s,
        Err(e) => return fail(e),
    };
    if let Err(e) = super::landlock::restrict_self(&spec.writable, spec.network) {
        return fail(e);
    }
    if let Err(e) = drop_capabilities() {
        return fail(format!("cannot drop capabilities: {e}"));
    }
    let e = Command::new(&spec.program[0])
        .args(&spec.program[1..])
        .exec();
    eprintln!("botcoder sandbox: cannot run {:?}: {e}", spec.program[0]);
    ExitCode::from(127)
}

/// Empties the capability bounding set (root gets no capabilities back at exec) and the
/// current sets. Without this a command run by root could still read the (non-dumpable)
/// daemon's `/proc/<pid>/environ` with CAP_SYS_PTRACE: Landlock refuses ptrace and
/// `/proc/<pid>/mem` to processes outside its domain, but not every `/proc` file.
fn drop_capabilities() -> std::io::Result<()> {
    use rustix::thread::{CapabilitySet, CapabilitySets};
    if !rustix::process::geteuid().is_root()
        && rustix::thread::capabilities(None)?.permitted.is_empty()
    {
        return Ok(());
    }
    for cap in CapabilitySet::all().iter() {
        match rustix::thread::remove_capability_from_bounding_set(cap) {
            Ok(()) | Err(rustix::io::Errno::INVAL) => {} // unknown to this kernel
            Err(e) => return Err(e.into()),
        }
    }
    let _ = rustix::thread::clear_ambient_capability_set();
    rustix::thread::set_capabilities(
        None,
        CapabilitySets {
            effective: CapabilitySet::empty(),
            permitted: CapabilitySet::empty(),
            inheritable: CapabilitySet::empty(),
        },
    )?;
    Ok(())
}

/// Kills every descendant of this process and reaps them. Orphans re-parent to us (we are
/// a subreaper), so rounds of kill-then-reap converge even against a fork loop: each round
/// kills everything that exists, and what was forked meanwhile is found in the next.
fn kill_descendants() {
    let me = std::process::id();
    for _ in 0..2000 {
        let pids = descendants(me);
        for p in &pids {
            if let Some(pid) = Pid::from_raw(*p as i32) {
                let _ = rustix::process::kill_process(pid, Signal::KILL);
            }
        }
        // `wait`, not `waitpid(None)`: that is pid 0, only our own process group.
        while let Ok(Some(_)) = rustix::process::wait(WaitOptions::NOHANG) {}
        if pids.is_empty() {
            return;
        }
        std::thread::sleep(Duration::from_millis(2));
    }
}

/// Live and zombie descendants of `root`, from `/proc`.
fn descendants(root: u32) -> Vec<u32> {
    let Ok(entries) = std::fs::read_dir("/proc") else {
        return Vec::new();
    };
    let mut parent: Vec<(u32, u32)> = Vec::new();
    for e in entries.flatten() {
        let Some(pid) = e.file_name().to_str().and_then(|s| s.parse::<u32>().ok()) else {
            continue;
        };
        if let Some(ppid) = parent_of(pid) {
            parent.push((pid, ppid));
        }
    }
    let mut found = vec![root];
    let mut i = 0;
    while i < found.len() {
        let p = found[i];
        found.extend(parent.iter().filter(|(_, pp)| *pp == p).map(|(c, _)| *c));
        i += 1;
    }
    found.remove(0);
    found
}

fn parent_of(pid: u32) -> Option<u32> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    let rest = &stat[stat.rfind(')')? + 1..];
    rest.split_whitespace().nth(1)?.parse().ok()
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    fn os(v: &[&str]) -> Vec<OsString> {
        v.iter().map(OsString::from).collect()
    }

    #[test]
    fn arguments_parse_and_mistakes_are_named() {
        let s = parse(&os(&[
            "--landlock",
            "--no-net",
            "--rw",
            "/p",
            "--",
            "sh",
            "-c",
            "x",
        ]))
        .unwrap();
        assert_eq!(
            s,
            Spec {
                landlock: true,
                network: false,
                writable: vec![PathBuf::from("/p")],
                program: os(&["sh", "-c", "x"]),
            }
        );
        assert!(parse(&os(&["--rw"])).unwrap_err().contains("--rw"));
        assert!(
            parse(&os(&["--bogus", "--", "x"]))
                .unwrap_err()
                .contains("bogus")
        );
        assert!(parse(&os(&["--"])).unwrap_err().contains("no program"));
    }
}
