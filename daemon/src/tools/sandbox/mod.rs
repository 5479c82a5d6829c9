//! The OS sandbox around every command a tool runs (`execute_command`, git): invariant I7.
//!
//! # Mechanisms, strongest first
//! - **bubblewrap** (`bwrap.rs`): the root file system read-only, the project read-write, a
//!   private host directory as `/tmp` (and `TMPDIR`), a fresh `/dev`, a new PID namespace with
//!   its own `/proc` (the daemon and every other process are invisible, so `/proc/<pid>/environ`,
//!   `/mem` and `/cwd` of the daemon cannot even be named), no network unless allowed, and
//!   the daemon's own directories (runtime/socket, config, data, state) and the user's
//!   credential stores hidden under empty tmpfs mounts. When the command ends the namespace's
//!   init exits and the kernel kills everything left inside, `setsid` and double-forked
//!   processes included.
//! - **Landlock** (`landlock.rs`), where user namespaces are unavailable: writes only to the
//!   project and the private temp dir, TCP connect/bind denied unless the network is allowed,
//!   signals and abstract Unix sockets scoped to the sandbox, and — inherent to every Landlock
//!   domain — no ptrace-class access to processes outside it, so `/proc/<daemon>/environ`,
//!   `/mem`, `/cwd` and `/fd` are refused. Weaker: reads are not confined (the daemon's
//!   directories are readable), the daemon's socket path can still be connected to (the
//!   control socket refuses tool descendants through [`crate::procs`]; kernels with Landlock
//!   ABI 9 also deny the connect), and UDP is not filtered.
//! - **off**: only when asked for explicitly (`[sandbox] mode = "off"`, `BOTCODER_SANDBOX=off`).
//!
//! `auto` (the default) takes bwrap when its probe works, else Landlock when its probe works,
//! else *refuses to run commands* with an error that says how to get a sandbox or to turn it
//! off: silently running unconfined would make the default a lie.
//!
//! Without bwrap's PID namespace (landlock and off) the command runs under a small reaper,
//! `botcoderd --sandbox-exec` (`helper.rs`): a child subreaper that kills and reaps every
//! remaining descendant when the command ends, or when the daemon closes its control pipe
//! (cancel, timeout, or the daemon dying). A re-exec of our own binary instead of a
//! `pre_exec` hook because the Landlock ruleset has to be built (allocations, several
//! syscalls) between fork and exec in a multi-threaded daemon, which is not
//! async-signal-safe; in a fresh single-threaded process it is plain safe Rust.
//!
//! # Hidden credential stores
//! Under bwrap `~/.ssh`, `~/.gnupg`, `~/.aws`, `~/.azure`, `~/.config/gcloud`, `~/.kube`,
//! `~/.docker`, `~/.config/gh`, `~/.netrc`, `~/.git-credentials`, `~/.npmrc`, `~/.pypirc` and
//! `~/.cargo/credentials*` are hidden too: none of the offered tools needs them (the git
//! tool has no push or fetch), and a model that is talked into reading them by a hostile
//! file would leak keys that outlive the session. `~/.gitconfig` stays (commits need a name).
//! The whole `$XDG_RUNTIME_DIR` is hidden, not only the daemon's socket dir: it holds the
//! session bus (`systemd-run --user` would start a process outside the sandbox), agents'
//! sockets and the display server.
//!
//! The daemon-wide policy: [`init`] once at daemon start, [`current`] read by the command
//! runner. Never initialised (unit tests of other modules) means off without a reaper.
//! A session whose settings ask for another mode gets its own policy from [`for_session`]
//! (`session.rs`); the settings merge sees to it that a project's files can only make the
//! sandbox stricter, never turn it off.

mod bwrap;
mod detect;
pub mod helper;
mod landlock;
mod session;

use std::path::{Path, PathBuf};
use std::sync::OnceLock;

use botcoder_protocol::methods::{SandboxInfo, SandboxMode};

pub use bwrap::args as bwrap_args;
pub use detect::detect;
pub use session::{for_session, label};

/// What the configuration asks for (`[sandbox] mode`, `BOTCODER_SANDBOX`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub enum Requested {
    /// bwrap, else Landlock, else refuse commands.
    #[default]
    Auto,
    /// bwrap or refuse.
    Bwrap,
    /// Landlock (with the reaper) or refuse.
    Landlock,
    /// No sandbox (the reaper still kills descendants).
    Off,
}

impl Requested {
    /// Parses a `BOTCODER_SANDBOX` value.
    pub fn parse(s: &str) -> Option<Requested> {
        match s.trim().to_ascii_lowercase().as_str() {
            "auto" | "on" => Some(Requested::Auto),
            "bwrap" | "bubblewrap" => Some(Requested::Bwrap),
            "landlock" => Some(Requested::Landlock),
            "off" | "none" => Some(Requested::Off),
            _ => None,
        }
    }
}

/// Sandbox settings: the daemon's, read at start, or one session's.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub struct Settings {
    /// The mechanism asked for.
    pub mode: Requested,
    /// Whether commands may use the network (`BOTCODER_SANDBOX_NETWORK`).
    pub network: bool,
}

/// The mechanism in force.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Mechanism {
    /// `bwrap` at this path.
    Bwrap(PathBuf),
    /// Landlock, applied by the helper.
    Landlock,
    /// No confinement.
    Off,
    /// None could be had and `off` was not asked for: commands are refused with this message.
    Unavailable(String),
}

/// Everything the runner needs to confine a command.
#[derive(Debug, Clone)]
pub struct Policy {
    /// How commands are confined.
    pub mechanism: Mechanism,
    /// Whether the network is allowed.
    pub network: bool,
    /// Directories hidden from commands (bwrap: empty tmpfs over each that exists).
    pub hidden_dirs: Vec<PathBuf>,
    /// Files hidden from commands (bwrap: `/dev/null` over each that exists).
    pub hidden_files: Vec<PathBuf>,
    /// The binary whose `--sandbox-exec` mode is the reaper; `None` runs commands directly
    /// (unit tests, where the current executable is a test binary).
    pub helper: Option<PathBuf>,
    /// Why the sandbox is weaker than bwrap, for `daemon.status`.
    pub note: Option<String>,
}

impl Policy {
    /// No sandbox and no reaper: what an uninitialised daemon (unit tests) uses.
    pub fn off() -> Policy {
        Policy {
            mechanism: Mechanism::Off,
            network: true,
            hidden_dirs: Vec::new(),
            hidden_files: Vec::new(),
            helper: None,
            note: None,
        }
    }

    /// The status shown by `daemon.status`.
    pub fn info(&self) -> SandboxInfo {
        let mode = match &self.mechanism {
            Mechanism::Bwrap(_) => SandboxMode::Bwrap,
            Mechanism::Landlock => SandboxMode::Landlock,
            Mechanism::Off => SandboxMode::Off,
            Mechanism::Unavailable(_) => SandboxMode::Unavailable,
        };
        let note = match &self.mechanism {
            Mechanism::Unavailable(why) => Some(why.clone()),
            _ => self.note.clone(),
        };
        SandboxInfo {
            mode,
            network: self.network,
            note,
        }
    }
}

static POLICY: OnceLock<Policy> = OnceLock::new();

/// Sets the daemon-wide policy (once, at start; later calls are ignored).
pub fn init(policy: Policy) {
    match &policy.mechanism {
        Mechanism::Unavailable(why) => tracing::warn!("commands will be refused: {why}"),
        m => {
            tracing::info!(mechanism = ?m, network = policy.network, note = ?policy.note, "sandbox")
        }
    }
    let _ = POLICY.set(policy);
}

/// The daemon-wide policy; off when [`init`] was never called.
pub fn current() -> &'static Policy {
    static OFF: OnceLock<Policy> = OnceLock::new();
    POLICY.get().unwrap_or_else(|| OFF.get_or_init(Policy::off))
}

/// The paths a command must not see: the daemon's own directories and its socket's, the
/// runtime dir, and the user's credential stores.
pub fn hidden_paths(socket: &Path, data_dir: &Path) -> (Vec<PathBuf>, Vec<PathBuf>) {
    let mut dirs: Vec<PathBuf> = vec![
        data_dir.to_path_buf(),
        botcoder_config::paths::data_dir(),
        botcoder_config::paths::state_dir(),
    ];
    if let Some(d) = botcoder_config::config_path().parent() {
        dirs.push(d.to_path_buf());
    }
    if let Some(d) = socket.parent() {
        dirs.push(d.to_path_buf());
    }
    if let Some(run) = botcoder_config::paths::runtime_dir() {
        dirs.push(run);
    }
    let mut files = Vec::new();
    if let Some(home) = std::env::var_os("HOME").filter(|v| !v.is_empty()) {
        let home = PathBuf::from(home);
        for d in [
            ".ssh",
            ".gnupg",
            ".aws",
            ".azure",
            ".config/gcloud",
            ".kube",
            ".docker",
            ".config/gh",
        ] {
            dirs.push(home.join(d));
        }
        for f in [
            ".netrc",
            ".git-credentials",
            ".npmrc",
            ".pypirc",
            ".cargo/credentials",
            ".cargo/credentials.toml",
        ] {
            files.push(home.join(f));
        }
    }
    // The daemon reads a `.env` from its working directory at start; it may hold keys.
    if let Ok(cwd) = std::env::current_dir() {
        files.push(cwd.join(".env"));
    }
    // Canonical forms too: a bind over a symlink would hide the link, not the target.
    let canon = |v: Vec<PathBuf>| {
        let mut out: Vec<PathBuf> = Vec::new();
        for p in v {
            for q in [Some(p.clone()), std::fs::canonicalize(&p).ok()]
                .into_iter()
                .flatten()
            {
                if q.is_absolute() && !out.contains(&q) {
                    out.push(q);
                }
            }
        }
        out
    };
    (canon(dirs), canon(files))
}

/// Detects the sandbox for `settings` (probing bwrap and Landlock, which spawns processes:
/// run off the async workers) and installs it.
pub async fn start(settings: Settings, socket: &Path, data_dir: &Path) {
    // Not dumpable (as ssh-agent does): `/proc/<daemon>/environ`, `mem`, `cwd` and `fd`
    // then need CAP_SYS_PTRACE, so a same-user process — a command outside bwrap's PID
    // namespace among them — cannot read the keys the daemon holds. Children are not
    // affected (exec resets it).
    if let Err(e) =
        rustix::process::set_dumpable_behavior(rustix::process::DumpableBehavior::NotDumpable)
    {
        tracing::warn!("cannot make the daemon non-dumpable: {e}");
    }
    let (hidden_dirs, hidden_files) = hidden_paths(socket, data_dir);
    let helper = std::env::current_exe().ok();
    let policy =
        tokio::task::spawn_blocking(move || detect(settings, helper, hidden_dirs, hidden_files))
            .await
            .unwrap_or_else(|e| Policy {
                mechanism: Mechanism::Unavailable(format!("the sandbox probe crashed: {e}")),
                ..Policy::off()
            });
    session::started(settings);
    init(policy);
}

/// A note for the model when a failed command's output looks like the sandbox stopped it,
/// so it can ask for what it needs instead of retrying blindly.
pub fn failure_note(policy: &Policy, output: &str) -> Option<String> {
    let name = match policy.mechanism {
        Mechanism::Bwrap(_) => "bwrap",
        Mechanism::Landlock => "landlock",
        Mechanism::Off | Mechanism::Unavailable(_) => return None,
    };
    let fs = ["Read-only file system", "Permission denied"]
        .iter()
        .any(|p| output.contains(p));
    let net = !policy.network
        && [
            "Could not resolve host",
            "Network is unreachable",
            "Temporary failure in name resolution",
            "Name or service not known",
            "Connection refused",
            "Failed to connect",
        ]
        .iter()
        .any(|p| output.contains(p));
    if !fs && !net {
        return None;
    }
    let mut why = Vec::new();
    if fs {
        why.push("it may write only inside the project and $TMPDIR");
    }
    if net {
        why.push("it has no network access");
    }
    let mut allow = vec!["BOTCODER_SANDBOX=off turns the sandbox off"];
    if net {
        allow.insert(
            0,
            "`[sandbox] network = true` or BOTCODER_SANDBOX_NETWORK=1 allows the network",
        );
    }
    Some(format!(
        "[sandbox: this command ran in botcoder's {name} sandbox: {}. If the task needs more, \
         ask the user to change the daemon's settings ({}) — do not try to work around it.]",
        why.join(", and "),
        allow.join("; ")
    ))
}

#[cfg(test)]
#[path = "tests.rs"]
mod tests;
