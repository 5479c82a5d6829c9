//! The daemon's socket: a private directory, a lock that makes one daemon win, stale-socket
//! cleanup, and a socket file that is 0600 from the moment it has its public name.

use std::fs::{self, File, OpenOptions};
use std::io;
use std::os::unix::fs::{DirBuilderExt, MetadataExt, OpenOptionsExt, PermissionsExt};
use std::path::{Path, PathBuf};

/// Why the socket could not be served.
#[derive(Debug, thiserror::Error)]
pub enum ListenError {
    /// Another daemon serves (or is starting on) this socket.
    #[error("botcoderd is already running on {0} (stop it with `botcoder daemon stop`)")]
    AlreadyRunning(PathBuf),
    /// A directory or file could not be prepared.
    #[error("cannot prepare the socket at {path}: {source}")]
    Io {
        /// What was being prepared.
        path: PathBuf,
        /// OS error.
        source: io::Error,
    },
    /// The socket directory belongs to someone else.
    #[error(
        "refusing to use {path}: it is owned by uid {owner}, not by you (uid {me}); set BOTCODER_SOCKET to a path in a directory you own"
    )]
    NotOwner {
        /// The directory.
        path: PathBuf,
        /// Its owner.
        owner: u32,
        /// Our uid.
        me: u32,
    },
}

fn io_err(path: &Path) -> impl FnOnce(io::Error) -> ListenError + '_ {
    move |source| ListenError::Io {
        path: path.to_owned(),
        source,
    }
}

/// A bound listening socket plus the lock that says this daemon owns it.
#[derive(Debug)]
pub struct BoundSocket {
    /// The listener (std, non-blocking; converted on the runtime).
    pub listener: std::os::unix::net::UnixListener,
    /// Where it is.
    pub path: PathBuf,
    _lock: File,
}

/// Prepares the directory, takes the lock, replaces a stale socket and binds.
pub fn bind(path: &Path) -> Result<BoundSocket, ListenError> {
    let dir = path
        .parent()
        .filter(|p| !p.as_os_str().is_empty())
        .unwrap_or(Path::new("."));
    ensure_private_dir(dir)?;
    let lock_path = lock_path(path);
    let lock = OpenOptions::new()
        .create(true)
        .truncate(false)
        .write(true)
        .mode(0o600)
        .open(&lock_path)
        .map_err(io_err(&lock_path))?;
    match lock.try_lock() {
        Ok(()) => {}
        Err(fs::TryLockError::WouldBlock) => {
            return Err(ListenError::AlreadyRunning(path.to_owned()));
        }
        Err(fs::TryLockError::Error(e)) => return Err(io_err(&lock_path)(e)),
    }
    // We hold the lock: whatever socket file is there belongs to a dead daemon, unless a
    // daemon that predates the lock file still answers.
    if fs::symlink_metadata(path).is_ok() {
        if std::os::unix::net::UnixStream::connect(path).is_ok() {
            return Err(ListenError::AlreadyRunning(path.to_owned()));
        }
        fs::remove_file(path).map_err(io_err(path))?;
        tracing::info!(path = %path.display(), "replaced a stale socket");
    }
    // Bind under a temporary name, restrict it, then give it its public name: the socket
    // is never reachable at `path` with looser permissions, and no umask change is needed.
    let tmp = dir.join(format!(".botcoderd.{}.sock.tmp", std::process::id()));
    let _ = fs::remove_file(&tmp);
    let listener = std::os::unix::net::UnixListener::bind(&tmp).map_err(io_err(&tmp))?;
    fs::set_permissions(&tmp, fs::Permissions::from_mode(0o600)).map_err(io_err(&tmp))?;
    fs::rename(&tmp, path).map_err(io_err(path))?;
    listener.set_nonblocking(true).map_err(io_err(path))?;
    Ok(BoundSocket {
        listener,
        path: path.to_owned(),
        _lock: lock,
    })
}

/// The lock file beside a socket.
pub fn lock_path(socket: &Path) -> PathBuf {
    let mut name = socket
        .file_name()
        .map(|n| n.to_os_string())
        .unwrap_or_default();
    name.push(".lock");
    socket.with_file_name(name)
}

/// Creates `dir` (and missing parents) with mode 0700. An existing directory must be ours;
/// if it is, and only we can use it already or it is our default location, it is made 0700.
fn ensure_private_dir(dir: &Path) -> Result<(), ListenError> {
    match fs::metadata(dir) {
        Err(e) if e.kind() == io::ErrorKind::NotFound => fs::DirBuilder::new()
            .recursive(true)
            .mode(0o700)
            .create(dir)
            .map_err(io_err(dir)),
        Err(e) => Err(io_err(dir)(e)),
        Ok(meta) => {
            let me = rustix::process::getuid().as_raw();
            if meta.uid() != me {
                // A shared directory such as /tmp is fine for an explicit BOTCODER_SOCKET: the
                // socket itself is 0600 and peers are checked by uid.
                if meta.mode() & 0o1000 != 0 {
                    return Ok(());
                }
                return Err(ListenError::NotOwner {
                    path: dir.to_owned(),
                    owner: meta.uid(),
                    me,
                });
            }
            Ok(())
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn creates_private_dirs_and_a_0600_socket() {
        let tmp = tempfile::tempdir().unwrap();
        let path = tmp.path().join("a/b/botcoderd.sock");
        let bound = bind(&path).unwrap();
        let dir_mode = fs::metadata(tmp.path().join("a/b")).unwrap().mode() & 0o777;
        let parent_mode = fs::metadata(tmp.path().join("a")).unwrap().mode() & 0o777;
        let sock_mode = fs::symlink_metadata(&path).unwrap().mode() & 0o777;
        assert_eq!((dir_mode, parent_mode, sock_mode), (0o700, 0o700, 0o600));
        drop(bound);
    }

    #[test]
    fn second_bind_is_refused_while_the_first_holds_the_lock() {
        let tmp = tempfile::tempdir().unwrap();
        let path = tmp.path().join("d.sock");
        let first = bind(&path).unwrap();
        assert!(matches!(bind(&path), Err(ListenError::AlreadyRunning(_))));
        drop(first);
    }

    #[test]
    fn stale_socket_is_replaced() {
        let tmp = tempfile::tempdir().unwrap();
        let path = tmp.path().join("d.sock");
        // A socket file with nobody listening, as left by a killed daemon.
        drop(std::os::unix::net::UnixListener::bind(&path).unwrap());
        assert!(path.exists());
        let bound = bind(&path).unwrap();
        assert!(std::os::unix::net::UnixStream::connect(&bound.path).is_ok());
    }
}
