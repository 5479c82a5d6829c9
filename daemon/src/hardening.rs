//! Process hardening at start (invariants I7 and I8: the daemon's secrets and process stay out
//! of reach of the commands it runs for the model, which run as the same user).
//!
//! - Not dumpable (`PR_SET_DUMPABLE 0`): `/proc/<daemon>/environ`, `mem`, `maps`, `cwd`,
//!   `root` and `fd/*` become root-owned and `ptrace` is refused to anyone without
//!   `CAP_SYS_PTRACE`, so a same-uid process cannot read the API key out of the daemon's
//!   environment or memory. Children get a dumpable process back at `execve`, so tools
//!   and debuggers of the user's own programs are unaffected.
//! - No core dumps (`RLIMIT_CORE` 0): a crash never writes the daemon's memory to disk.
//! - `RLIMIT_NOFILE` raised to its hard limit: connections, journals and child pipes all need
//!   descriptors; the connection cap is derived from the result ([`connection_cap`]).
//! - Working directory `/` once the configuration is read: nothing can reach a `.env`
//!   beside where the daemon was started through `/proc/<daemon>/cwd`, and no relative path
//!   means anything by accident.

use std::path::{Path, PathBuf};

use rustix::process::{DumpableBehavior, Resource, Rlimit};

/// What hardening could not do. None of it is fatal: the daemon still serves, and the
/// warning says what is weaker than it should be.
#[derive(Debug, thiserror::Error)]
pub enum HardeningError {
    /// `prctl(PR_SET_DUMPABLE, 0)` failed.
    #[error("cannot make botcoderd non-dumpable ({0}); same-user processes may read its memory")]
    Dumpable(rustix::io::Errno),
    /// A resource limit could not be set.
    #[error("cannot set {what} ({source})")]
    Limit {
        /// Which limit.
        what: &'static str,
        /// OS error.
        source: rustix::io::Errno,
    },
    /// `chdir("/")` failed.
    #[error("cannot change the working directory to / ({0})")]
    Chdir(std::io::Error),
}

/// The descriptor limits the daemon ended up with.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct FdLimits {
    /// Soft `RLIMIT_NOFILE` before hardening (what children of the daemon would expect).
    pub original: u64,
    /// Soft `RLIMIT_NOFILE` now.
    pub current: u64,
}

static FD_LIMITS: std::sync::OnceLock<FdLimits> = std::sync::OnceLock::new();

/// The descriptor limits recorded by [`harden_process`], if it ran. Tool runners can put the
/// original soft limit back for children (some programs still assume 1024 for `select`).
pub fn fd_limits() -> Option<FdLimits> {
    FD_LIMITS.get().copied()
}

/// Soft `RLIMIT_NOFILE` when none can be read: the common default.
const NOFILE_FALLBACK: u64 = 1024;

/// Makes the process non-dumpable, disables core dumps and raises the descriptor limit.
/// Call first thing in `main`, before any secret is read. Returns the descriptor limits and
/// every step that failed (to be logged once logging is up).
pub fn harden_process() -> (FdLimits, Vec<HardeningError>) {
    let mut failed = Vec::new();
    if let Err(e) = rustix::process::set_dumpable_behavior(DumpableBehavior::NotDumpable) {
        failed.push(HardeningError::Dumpable(e));
    }
    let no_core = Rlimit {
        current: Some(0),
        maximum: Some(0),
    };
    if let Err(source) = rustix::process::setrlimit(Resource::Core, no_core) {
        failed.push(HardeningError::Limit {
            what: "RLIMIT_CORE to 0",
            source,
        });
    }
    let nofile = rustix::process::getrlimit(Resource::Nofile);
    let original = nofile.current.unwrap_or(u64::MAX);
    // RLIM_INFINITY is not a valid NOFILE value on Linux (it is capped by fs.nr_open).
    let target = nofile.maximum.unwrap_or(original);
    let mut current = original;
    if target > original {
        let raised = Rlimit {
            current: Some(target),
            maximum: nofile.maximum,
        };
        match rustix::process::setrlimit(Resource::Nofile, raised) {
            Ok(()) => current = target,
            Err(source) => failed.push(HardeningError::Limit {
                what: "RLIMIT_NOFILE to its hard limit",
                source,
            }),
        }
    }
    let limits = FdLimits {
        original: if original == u64::MAX {
            NOFILE_FALLBACK
        } else {
            original
        },
        current: if current == u64::MAX {
            NOFILE_FALLBACK
        } else {
            current
        },
    };
    let _ = FD_LIMITS.set(limits);
    (limits, failed)
}

/// Most connections served at once: half the descriptor limit (journals, provider sockets and
/// child pipes need the rest), and never more than 1024.
pub fn connection_cap(limits: FdLimits) -> usize {
    (limits.current / 2).clamp(16, 1024) as usize
}

/// `path` made absolute against `cwd`, so it keeps its meaning after [`leave_cwd`].
pub fn absolute(cwd: &Path, path: PathBuf) -> PathBuf {
    if path.is_absolute() {
        path
    } else {
        cwd.join(path)
    }
}

/// Changes the working directory to `/`. Call after the configuration (which reads `.env`
/// from the start directory) and every path relative to it have been resolved.
pub fn leave_cwd() -> Result<(), HardeningError> {
    std::env::set_current_dir("/").map_err(HardeningError::Chdir)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_connection_cap_stays_below_the_fd_limit() {
        let cap = |current| {
            connection_cap(FdLimits {
                original: 1024,
                current,
            })
        };
        assert_eq!((cap(1024), cap(20_000), cap(64)), (512, 1024, 32));
        assert_eq!(cap(10), 16);
    }

    #[test]
    fn relative_paths_are_anchored_to_the_start_directory() {
        let cwd = Path::new("/home/u/project");
        assert_eq!(
            absolute(cwd, PathBuf::from("run/d.sock")),
            PathBuf::from("/home/u/project/run/d.sock")
        );
        assert_eq!(absolute(cwd, PathBuf::from("/x")), PathBuf::from("/x"));
    }
}
