//! Choosing the sandbox at daemon start: a cheap probe of each mechanism, once.

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use super::{Mechanism, Policy, Requested, Settings};

/// How long a probe may take before it counts as failed.
const PROBE_TIMEOUT: Duration = Duration::from_secs(5);

/// What Landlock leaves open, for `daemon.status` and the log.
const LANDLOCK_GAPS: &str = "landlock confines writes to the project and a private temp dir and \
     (unless allowed) TCP, and hides the daemon's process; reads are not confined, and the \
     daemon's socket path stays reachable (the daemon refuses connections from commands)";

/// The policy for `settings`. Blocking: it runs the probes.
pub fn detect(
    settings: Settings,
    helper: Option<PathBuf>,
    hidden_dirs: Vec<PathBuf>,
    hidden_files: Vec<PathBuf>,
) -> Policy {
    let mut policy = Policy {
        mechanism: Mechanism::Off,
        network: settings.network,
        hidden_dirs,
        hidden_files,
        helper,
        note: None,
    };
    let landlock = |p: &Policy| probe_landlock(p.helper.as_deref(), p.network);
    let (mechanism, note) = match settings.mode {
        Requested::Off => (
            Mechanism::Off,
            Some("turned off by configuration (BOTCODER_SANDBOX=off or [sandbox] mode = \"off\"): commands run unconfined".to_owned()),
        ),
        Requested::Bwrap => match probe_bwrap(settings.network) {
            Ok(path) => (Mechanism::Bwrap(path), None),
            Err(why) => (
                Mechanism::Unavailable(format!(
                    "BOTCODER_SANDBOX=bwrap, but {why}; install bubblewrap or choose auto, landlock or off"
                )),
                None,
            ),
        },
        Requested::Landlock => match landlock(&policy) {
            Ok(()) => (
                Mechanism::Landlock,
                Some(format!("landlock chosen by configuration; {LANDLOCK_GAPS}")),
            ),
            Err(why) => (
                Mechanism::Unavailable(format!(
                    "BOTCODER_SANDBOX=landlock, but {why}; choose auto, bwrap or off"
                )),
                None,
            ),
        },
        Requested::Auto => match probe_bwrap(settings.network) {
            Ok(path) => (Mechanism::Bwrap(path), None),
            Err(bwrap_why) => match landlock(&policy) {
                Ok(()) => (
                    Mechanism::Landlock,
                    Some(format!("{bwrap_why}; {LANDLOCK_GAPS}")),
                ),
                Err(landlock_why) => (
                    Mechanism::Unavailable(format!(
                        "no sandbox for commands: {bwrap_why}, and {landlock_why}. Install \
                         bubblewrap (`apt-get install bubblewrap`), or set BOTCODER_SANDBOX=off \
                         to run commands unconfined"
                    )),
                    None,
                ),
            },
        },
    };
    policy.mechanism = mechanism;
    policy.note = note;
    policy
}

/// `bwrap` on `PATH`.
fn find_bwrap() -> Option<PathBuf> {
    let path = std::env::var_os("PATH")?;
    std::env::split_paths(&path)
        .map(|d| d.join("bwrap"))
        .find(|p| p.is_file())
}

/// Runs `cmd` to completion within [`PROBE_TIMEOUT`]; `Err` carries its stderr.
fn probe(mut cmd: Command) -> Result<(), String> {
    cmd.stdin(Stdio::piped())
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .env_clear()
        .envs(std::env::var_os("PATH").map(|p| ("PATH", p)));
    let mut child = cmd.spawn().map_err(|e| format!("cannot run it: {e}"))?;
    // Holding stdin open: the reaper treats its end of file as "stop".
    let _control = child.stdin.take();
    let started = Instant::now();
    let status = loop {
        match child.try_wait() {
            Ok(Some(s)) => break s,
            Ok(None) if started.elapsed() < PROBE_TIMEOUT => {
                std::thread::sleep(Duration::from_millis(10));
            }
            _ => {
                let _ = child.kill();
                let _ = child.wait();
                return Err(format!(
                    "it did not finish in {} s",
                    PROBE_TIMEOUT.as_secs()
                ));
            }
        }
    };
    if status.success() {
        return Ok(());
    }
    let mut err = String::new();
    if let Some(mut e) = child.stderr.take() {
        let _ = std::io::Read::read_to_string(&mut e, &mut err);
    }
    let err: String = err.trim().chars().take(300).collect();
    Err(if err.is_empty() {
        format!("it failed ({status})")
    } else {
        err
    })
}

fn probe_bwrap(network: bool) -> Result<PathBuf, String> {
    let path = find_bwrap().ok_or("bubblewrap (bwrap) is not installed")?;
    let mut cmd = Command::new(&path);
    cmd.args(["--die-with-parent", "--unshare-pid", "--unshare-ipc"]);
    if !network {
        cmd.arg("--unshare-net");
    }
    cmd.args([
        "--ro-bind",
        "/",
        "/",
        "--dev",
        "/dev",
        "--proc",
        "/proc",
        "--",
        "sh",
        "-c",
        ":",
    ]);
    probe(cmd)
        .map(|()| path)
        .map_err(|e| format!("bwrap cannot create its namespaces here ({e})"))
}

fn probe_landlock(helper: Option<&Path>, network: bool) -> Result<(), String> {
    let helper = helper.ok_or("the sandbox helper binary is unknown")?;
    let tmp = tempfile::Builder::new()
        .prefix("botcoder-probe-")
        .tempdir()
        .map_err(|e| format!("cannot make a temp dir for the landlock probe: {e}"))?;
    let mut cmd = Command::new(helper);
    cmd.args([super::helper::EXEC_FLAG, "--landlock"]);
    if !network {
        cmd.arg("--no-net");
    }
    cmd.arg("--rw")
        .arg(tmp.path())
        .args(["--", "sh", "-c", ":"]);
    probe(cmd).map_err(|e| format!("landlock is unavailable ({e})"))
}
