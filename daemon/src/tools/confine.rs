//! Keeping file tools inside the project root (invariant I6): no absolute paths, no `..`
//! that leaves the root, no symlink (planted or dangling) that resolves outside it.
//!
//! Checking a path and then using it by name is a race: a hostile project (or a command the
//! model started) can swap a directory for a symlink in between. So [`Root`] holds the root
//! open as a directory fd and does every open relative to it with `openat2(RESOLVE_BENEATH |
//! RESOLVE_NO_MAGICLINKS)`: the kernel refuses any resolution that leaves the root, at the
//! moment of use. Writes go to a temp file created with `openat` in the final parent
//! directory's fd and `renameat`-ed into place, so the name that is replaced is the one in
//! the directory that was checked. Where `openat2` is missing (old kernels, some seccomp
//! filters) a component-by-component walk with `O_NOFOLLOW` takes its place, refusing every
//! symlink.
//!
//! [`resolve`] remains the path-based check for messages and for walks that only list names.

use std::ffi::OsStr;
use std::fs::File;
use std::io::Write;
use std::os::fd::OwnedFd;
use std::path::{Component, Path, PathBuf};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};

use rustix::fs::{AtFlags, FileType, Mode, OFlags, ResolveFlags};
use rustix::io::Errno;

/// Why a confined open or write failed, worded for the model.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ConfineError {
    /// The path breaks I6; the message says how.
    #[error("{0}")]
    Refused(String),
    /// Nothing is there.
    #[error("{0} does not exist")]
    NotFound(String),
    /// A directory where a file was wanted.
    #[error("{0} is a directory")]
    IsDir(String),
    /// A FIFO, socket or device: reading one can block forever or never end.
    #[error("{0} is a {1}, not a regular file; only regular files can be read or written")]
    NotRegular(String, &'static str),
    /// Any other failure of the system call.
    #[error("cannot {0} {1}: {2}")]
    Io(&'static str, String, String),
}

/// The project root, held open. Every file tool call opens one (cheap: one `open`).
#[derive(Debug)]
pub struct Root {
    dir: OwnedFd,
    path: PathBuf,
}

/// An opened regular file and what `fstat` said of it.
#[derive(Debug)]
pub struct Opened {
    /// The file, opened read-only.
    pub file: File,
    /// Its size in bytes at open time.
    pub size: u64,
}

/// What a write did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Written {
    /// Whether the file is new.
    pub created: bool,
}

/// Whether `openat2` works here; cleared the first time it answers ENOSYS.
static HAVE_OPENAT2: AtomicBool = AtomicBool::new(true);
/// Makes temp names unique within the process.
static TEMP_SEQ: AtomicU64 = AtomicU64::new(0);

fn kind_name(t: FileType) -> &'static str {
    match t {
        FileType::Fifo => "FIFO (named pipe)",
        FileType::Socket => "socket",
        FileType::CharacterDevice => "character device",
        FileType::BlockDevice => "block device",
        FileType::Symlink => "symlink",
        FileType::Directory => "directory",
        FileType::RegularFile => "regular file",
        _ => "special file",
    }
}

/// Normalizes `user_path` to plain names relative to the root, or refuses it.
pub fn lexical(user_path: &str) -> Result<PathBuf, ConfineError> {
    let refuse = |why: &str| ConfineError::Refused(format!("refused path {user_path:?}: {why}"));
    let p = Path::new(user_path.trim());
    if p.is_absolute() {
        return Err(refuse(
            "absolute paths are not allowed; use a path relative to the project root",
        ));
    }
    let mut out = PathBuf::new();
    for c in p.components() {
        match c {
            Component::Normal(n) => out.push(n),
            Component::CurDir => {}
            Component::ParentDir => {
                if !out.pop() {
                    return Err(refuse("it leaves the project root"));
                }
            }
            Component::RootDir | Component::Prefix(_) => {
                return Err(refuse("absolute paths are not allowed"));
            }
        }
    }
    Ok(out)
}

/// Resolves `user_path` (relative to `root`) to a path inside `root`, or says why not.
/// `root` must be canonical. The deepest existing ancestor is canonicalized, so symlinks
/// anywhere on the way are followed before the check; the rest must be plain names.
/// Only a snapshot: use [`Root`] to open or write.
pub fn resolve(root: &Path, user_path: &str) -> Result<PathBuf, String> {
    let lexical = lexical(user_path).map_err(|e| e.to_string())?;
    resolve_lexical(root, &lexical, user_path)
}

fn resolve_lexical(root: &Path, lexical: &Path, user_path: &str) -> Result<PathBuf, String> {
    let refuse = |why: &str| Err(format!("refused path {user_path:?}: {why}"));
    let full = root.join(lexical);
    // Canonicalize the longest existing prefix (following symlinks), keep the rest.
    let mut existing = full.clone();
    let mut rest = Vec::new();
    loop {
        match std::fs::symlink_metadata(&existing) {
            Ok(meta) if meta.file_type().is_symlink() => {
                // A symlink: it must resolve (a dangling link could be created outside).
                match std::fs::canonicalize(&existing) {
                    Ok(_) => break,
                    Err(_) => return refuse("it is a symlink whose target does not exist"),
                }
            }
            Ok(_) => break,
            Err(_) => match (
                existing.file_name().map(|n| n.to_os_string()),
                existing.parent(),
            ) {
                (Some(name), Some(parent)) => {
                    rest.push(name);
                    existing = parent.to_path_buf();
                }
                _ => return refuse("it cannot be resolved"),
            },
        }
    }
    let mut resolved =
        std::fs::canonicalize(&existing).map_err(|e| format!("refused path {user_path:?}: {e}"))?;
    for name in rest.into_iter().rev() {
        resolved.push(name);
    }
    if !resolved.starts_with(root) {
        return refuse("it resolves outside the project root (through a symlink)");
    }
    Ok(resolved)
}

/// `path` relative to `root`, for messages and events.
pub fn relative(root: &Path, path: &Path) -> String {
    path.strip_prefix(root)
        .unwrap_or(path)
        .display()
        .to_string()
}

/// Removes a temp file by name in its directory fd unless the write succeeded.
struct TempGuard<'a> {
    dir: &'a OwnedFd,
    name: Option<String>,
}

impl Drop for TempGuard<'_> {
    fn drop(&mut self) {
        if let Some(name) = self.name.take() {
            let _ = rustix::fs::unlinkat(self.dir, name.as_str(), AtFlags::empty());
        }
    }
}

/// Writes `content` to `name` in `dir` through a temp file and an atomic `renameat`; the temp
/// file is removed on every failure. A new file gets 0666 & ~umask (the kernel applies the
/// umask at `openat`); an existing one keeps `keep_mode`.
pub fn replace_in_dir(
    dir: &OwnedFd,
    name: &OsStr,
    content: &[u8],
    keep_mode: Option<Mode>,
) -> std::io::Result<()> {
    let seq = TEMP_SEQ.fetch_add(1, Ordering::Relaxed);
    let tmp = format!(".botcoder-{}-{seq}.tmp", std::process::id());
    let flags = OFlags::WRONLY | OFlags::CREATE | OFlags::EXCL | OFlags::NOFOLLOW | OFlags::CLOEXEC;
    let fd = rustix::fs::openat(dir, tmp.as_str(), flags, Mode::from_raw_mode(0o666))?;
    let mut guard = TempGuard {
        dir,
        name: Some(tmp.clone()),
    };
    if let Some(mode) = keep_mode {
        rustix::fs::fchmod(&fd, mode)?;
    }
    let mut file = File::from(fd);
    file.write_all(content)?;
    drop(file);
    rustix::fs::renameat(dir, tmp.as_str(), dir, name)?;
    guard.name = None;
    Ok(())
}

impl Root {
    /// Opens the (canonical, absolute) project root.
    pub fn open(path: &Path) -> Result<Root, ConfineError> {
        let flags = OFlags::RDONLY | OFlags::DIRECTORY | OFlags::CLOEXEC;
        let dir = rustix::fs::open(path, flags, Mode::empty()).map_err(|e| {
            ConfineError::Io(
                "open the project root",
                path.display().to_string(),
                e.to_string(),
            )
        })?;
        Ok(Root {
            dir,
            path: path.to_path_buf(),
        })
    }

    /// The root's path.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// One open of `rel` beneath the root, the kernel enforcing confinement.
    fn beneath(&self, rel: &Path, flags: OFlags) -> Result<OwnedFd, Errno> {
        let p = if rel.as_os_str().is_empty() {
            Path::new(".")
        } else {
            rel
        };
        let flags = flags | OFlags::CLOEXEC;
        if HAVE_OPENAT2.load(Ordering::Relaxed) {
            let how = ResolveFlags::BENEATH | ResolveFlags::NO_MAGICLINKS;
            // EAGAIN: the kernel saw a concurrent rename during resolution; try again.
            for _ in 0..16 {
                match rustix::fs::openat2(&self.dir, p, flags, Mode::empty(), how) {
                    Err(Errno::AGAIN | Errno::INTR) => continue,
                    Err(Errno::NOSYS) => {
                        HAVE_OPENAT2.store(false, Ordering::Relaxed);
                        return self.walk_nofollow(rel, flags);
                    }
                    r => return r,
                }
            }
            return Err(Errno::AGAIN);
        }
        self.walk_nofollow(rel, flags)
    }

    /// Without openat2: one component at a time, never following a symlink (ELOOP or
    /// ENOTDIR on one). `rel` holds only plain names, so nothing climbs out.
    fn walk_nofollow(&self, rel: &Path, flags: OFlags) -> Result<OwnedFd, Errno> {
        let names: Vec<&OsStr> = rel.iter().collect();
        let dir_flags = OFlags::PATH | OFlags::DIRECTORY | OFlags::NOFOLLOW | OFlags::CLOEXEC;
        let Some((last, parents)) = names.split_last() else {
            return rustix::fs::openat(&self.dir, ".", flags, Mode::empty());
        };
        let mut cur: Option<OwnedFd> = None;
        for name in parents {
            let next = match &cur {
                Some(fd) => rustix::fs::openat(fd, *name, dir_flags, Mode::empty())?,
                None => rustix::fs::openat(&self.dir, *name, dir_flags, Mode::empty())?,
            };
            cur = Some(next);
        }
        let flags = flags | OFlags::NOFOLLOW;
        match &cur {
            Some(fd) => rustix::fs::openat(fd, *last, flags, Mode::empty()),
            None => rustix::fs::openat(&self.dir, *last, flags, Mode::empty()),
        }
    }

    /// Opens `rel` beneath the root. A symlink that climbs (absolute, or `..`) is followed
    /// by path once and, if it stays inside, the place it names is opened, still beneath
    /// the root: a swap in between can only make that open fail.
    fn open_confined(
        &self,
        rel: &Path,
        flags: OFlags,
        shown: &str,
    ) -> Result<OwnedFd, ConfineError> {
        let first = self.beneath(rel, flags);
        let result = match first {
            Err(Errno::XDEV) => {
                let canon =
                    resolve_lexical(&self.path, rel, shown).map_err(ConfineError::Refused)?;
                let inside = canon
                    .strip_prefix(&self.path)
                    .unwrap_or(&canon)
                    .to_path_buf();
                self.beneath(&inside, flags)
            }
            other => other,
        };
        result.map_err(|e| self.explain(e, shown))
    }

    fn explain(&self, e: Errno, shown: &str) -> ConfineError {
        match e {
            Errno::NOENT => ConfineError::NotFound(shown.to_owned()),
            Errno::XDEV => ConfineError::Refused(format!(
                "refused path {shown:?}: it resolves outside the project root (through a symlink)"
            )),
            Errno::LOOP => ConfineError::Refused(format!(
                "refused path {shown:?}: it goes through a symlink that cannot be followed safely (a loop, a /proc link, or no openat2 on this system)"
            )),
            Errno::NOTDIR => ConfineError::Refused(format!(
                "refused path {shown:?}: a part of it is not a directory"
            )),
            Errno::ISDIR => ConfineError::IsDir(shown.to_owned()),
            // What open(2) answers for a Unix socket (or a device with no driver behind it).
            Errno::NXIO => ConfineError::NotRegular(shown.to_owned(), "socket"),
            other => ConfineError::Io("open", shown.to_owned(), other.to_string()),
        }
    }

    /// Opens an existing regular file for reading. `O_NONBLOCK` so that a FIFO cannot block
    /// the open; the type of what was opened is checked on the fd, and anything but a
    /// regular file is refused (directories as [`ConfineError::IsDir`]).
    pub fn open_file(&self, user_path: &str) -> Result<Opened, ConfineError> {
        let rel = lexical(user_path)?;
        let flags = OFlags::RDONLY | OFlags::NONBLOCK | OFlags::NOCTTY;
        let fd = self.open_confined(&rel, flags, user_path)?;
        let st = rustix::fs::fstat(&fd)
            .map_err(|e| ConfineError::Io("stat", user_path.to_owned(), e.to_string()))?;
        match FileType::from_raw_mode(st.st_mode) {
            FileType::RegularFile => Ok(Opened {
                file: File::from(fd),
                size: u64::try_from(st.st_size).unwrap_or(0),
            }),
            FileType::Directory => Err(ConfineError::IsDir(user_path.to_owned())),
            other => Err(ConfineError::NotRegular(
                user_path.to_owned(),
                kind_name(other),
            )),
        }
    }

    /// Whether `user_path` names a directory beneath the root (false for anything else).
    pub fn is_dir(&self, user_path: &str) -> bool {
        lexical(user_path)
            .ok()
            .and_then(|rel| {
                self.open_confined(&rel, OFlags::PATH | OFlags::DIRECTORY, user_path)
                    .ok()
            })
            .is_some()
    }

    /// Opens the directory `rel`, creating missing directories one at a time with `mkdirat`
    /// in the fd of the one above (mode 0777 & ~umask).
    fn open_dir_creating(&self, rel: &Path, shown: &str) -> Result<OwnedFd, ConfineError> {
        let flags = OFlags::RDONLY | OFlags::DIRECTORY;
        match self.open_confined(rel, flags, shown) {
            Err(ConfineError::NotFound(_)) => {}
            other => return other,
        }
        let mut prefix = PathBuf::new();
        let mut cur = self
            .beneath(Path::new(""), flags)
            .map_err(|e| self.explain(e, shown))?;
        for name in rel.iter() {
            prefix.push(name);
            match self.open_confined(&prefix, flags, shown) {
                Ok(fd) => cur = fd,
                Err(ConfineError::NotFound(_)) => {
                    match rustix::fs::mkdirat(&cur, name, Mode::from_raw_mode(0o777)) {
                        Ok(()) | Err(Errno::EXIST) => {}
                        Err(e) => {
                            return Err(ConfineError::Io(
                                "create the directory",
                                prefix.display().to_string(),
                                e.to_string(),
                            ));
                        }
                    }
                    cur = self.open_confined(&prefix, flags, shown)?;
                }
                Err(e) => return Err(e),
            }
        }
        Ok(cur)
    }

    /// Writes `content` to `user_path` atomically, creating parent directories. An existing
    /// file keeps its mode; a symlink that stays inside the root is written through (its
    /// target is replaced), one that leaves it is refused. `cancelled` is asked last, before
    /// anything is created or replaced.
    pub fn write(
        &self,
        user_path: &str,
        content: &[u8],
        cancelled: &dyn Fn() -> bool,
    ) -> Result<Written, ConfineError> {
        self.write_rel(&lexical(user_path)?, user_path, content, cancelled, true)
    }

    fn write_rel(
        &self,
        rel: &Path,
        shown: &str,
        content: &[u8],
        cancelled: &dyn Fn() -> bool,
        may_follow: bool,
    ) -> Result<Written, ConfineError> {
        let (Some(name), parent) = (rel.file_name(), rel.parent().unwrap_or(Path::new(""))) else {
            return Err(ConfineError::IsDir(shown.to_owned()));
        };
        let existing = self.open_confined(parent, OFlags::PATH | OFlags::DIRECTORY, shown);
        let existing = match existing {
            Ok(dir) => match rustix::fs::statat(&dir, name, AtFlags::SYMLINK_NOFOLLOW) {
                Ok(st) => Some(st),
                Err(Errno::NOENT) => None,
                Err(e) => return Err(ConfineError::Io("stat", shown.to_owned(), e.to_string())),
            },
            Err(ConfineError::NotFound(_)) => None,
            Err(e) => return Err(e),
        };
        let keep_mode = match existing.map(|st| (FileType::from_raw_mode(st.st_mode), st)) {
            None => None,
            Some((FileType::RegularFile, st)) => Some(Mode::from_raw_mode(st.st_mode & 0o7777)),
            Some((FileType::Directory, _)) => return Err(ConfineError::IsDir(shown.to_owned())),
            Some((FileType::Symlink, _)) if may_follow => {
                let canon =
                    resolve_lexical(&self.path, rel, shown).map_err(ConfineError::Refused)?;
                let inside = canon
                    .strip_prefix(&self.path)
                    .unwrap_or(&canon)
                    .to_path_buf();
                return self.write_rel(&inside, shown, content, cancelled, false);
            }
            Some((other, _)) => {
                return Err(ConfineError::NotRegular(shown.to_owned(), kind_name(other)));
            }
        };
        if cancelled() {
            return Err(ConfineError::Refused(
                "cancelled: the turn was cancelled; nothing was written".to_owned(),
            ));
        }
        let dir = self.open_dir_creating(parent, shown)?;
        replace_in_dir(&dir, name, content, keep_mode)
            .map_err(|e| ConfineError::Io("write", shown.to_owned(), e.to_string()))?;
        Ok(Written {
            created: existing.is_none(),
        })
    }
}

#[cfg(test)]
#[path = "confine_tests.rs"]
mod tests;
