//! Running git on a shadow repository: `GIT_DIR` is the shadow, `GIT_WORK_TREE` the
//! project, and the environment is the git tool's hardened one (no hooks, fsmonitor,
//! pager, external diff, askpass or transport) with neither system nor global config, so
//! nothing the user or the project configured (filters such as git-lfs, `autocrlf`, a
//! `core.excludesFile`) changes the bytes a snapshot records or restores.

use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::time::Duration;

use tokio::io::{AsyncReadExt, AsyncWriteExt};

use super::SnapshotError;

/// Most of git's stdout kept (a listing of every path of a large project fits).
const STDOUT_CAP: usize = 64 * 1024 * 1024;
/// Most of git's stderr kept, for error messages.
const STDERR_CAP: usize = 16 * 1024;
/// Longest one git call may take (hashing a large project for the first time included).
const TIMEOUT: Duration = Duration::from_secs(300);

/// glibc malloc settings for git: see [`Git::new`].
const GLIBC_TUNABLES: &str =
    "glibc.malloc.trim_threshold=67108864:glibc.malloc.mmap_threshold=67108864";

/// The settings of every shadow-repository call, above every config file.
fn settings(user_exclude: Option<&Path>) -> Vec<(String, String)> {
    let exclude = user_exclude.map_or_else(|| "/dev/null".to_owned(), |p| p.display().to_string());
    [
        // Byte-for-byte: no end-of-line conversion, no filters, links stored as links.
        ("core.autocrlf", "false"),
        ("core.safecrlf", "false"),
        ("core.symlinks", "true"),
        ("core.attributesFile", "/dev/null"),
        ("core.bare", "false"),
        ("core.quotePath", "false"),
        // git's untracked cache and index v4 are what make later snapshots fast.
        ("core.untrackedCache", "true"),
        ("feature.manyFiles", "true"),
        ("diff.renames", "false"),
        ("advice.addEmbeddedRepo", "false"),
        ("advice.addIgnoredFile", "false"),
        // The daemon owns the shadow; the project may belong to someone else (CI as root).
        ("safe.directory", "*"),
    ]
    .into_iter()
    .map(|(k, v)| (k.to_owned(), v.to_owned()))
    .chain(std::iter::once(("core.excludesFile".to_owned(), exclude)))
    .collect()
}

/// One shadow repository paired with its project.
#[derive(Debug, Clone)]
pub struct Git {
    /// The shadow git dir.
    pub dir: PathBuf,
    /// The project (work tree).
    pub work_tree: PathBuf,
    env: Vec<(String, String)>,
}

/// What one git call printed.
#[derive(Debug)]
pub struct Output {
    /// Exit code (`None`: killed by a signal).
    pub code: Option<i32>,
    /// Stdout.
    pub stdout: Vec<u8>,
    /// Stderr, trimmed.
    pub stderr: String,
}

impl Git {
    /// Git for shadow `dir` over `work_tree`. The project's own `.git/info/exclude` (when it
    /// has one) is honoured as the excludes file; its `.gitignore`s are read by git itself.
    pub fn new(dir: PathBuf, work_tree: PathBuf) -> Git {
        let user_exclude = work_tree.join(".git/info/exclude");
        let user_exclude = user_exclude.is_file().then_some(user_exclude);
        let mut env =
            crate::tools::local::git::harden::fixed_env(&settings(user_exclude.as_deref()));
        for (k, v) in [
            ("GIT_CONFIG_GLOBAL", "/dev/null".to_owned()),
            ("GIT_DIR", dir.display().to_string()),
            ("GIT_WORK_TREE", work_tree.display().to_string()),
            ("GIT_INDEX_FILE", dir.join("index").display().to_string()),
            ("GIT_AUTHOR_NAME", "botcoder".to_owned()),
            ("GIT_AUTHOR_EMAIL", "botcoder@localhost".to_owned()),
            ("GIT_COMMITTER_NAME", "botcoder".to_owned()),
            ("GIT_COMMITTER_EMAIL", "botcoder@localhost".to_owned()),
            // zlib allocates about 256 KB per object it compresses; glibc's default hands
            // that back to the kernel after each file and faults it in again for the next:
            // about half the system time of hashing 20,000 files. Keeping up to 64 MB of
            // freed heap in these short-lived processes avoids it (other libcs ignore this).
            ("GLIBC_TUNABLES", GLIBC_TUNABLES.to_owned()),
        ] {
            env.push((k.to_owned(), v));
        }
        Git {
            dir,
            work_tree,
            env,
        }
    }

    /// Creates the shadow repository (bare: it has no work tree of its own; each call names
    /// the project as one).
    pub async fn init(&self) -> Result<(), SnapshotError> {
        let mut bare = self.clone();
        bare.env.retain(|(k, _)| k != "GIT_WORK_TREE");
        // No templates: no sample hooks, nothing but what git needs.
        bare.ok(&["init", "-q", "--bare", "--template="], None)
            .await?;
        Ok(())
    }

    /// Runs `git args` in the project with `stdin`; any exit code is returned.
    pub async fn run(
        &self,
        args: &[&str],
        stdin: Option<Vec<u8>>,
    ) -> Result<Output, SnapshotError> {
        self.run_with(&[], args, stdin).await
    }

    /// [`Git::run`] with `settings` (`key=value`, as `git -c`) for this one call on top of
    /// the shadow's own.
    pub async fn run_with(
        &self,
        settings: &[&str],
        args: &[&str],
        stdin: Option<Vec<u8>>,
    ) -> Result<Output, SnapshotError> {
        let mut cmd = tokio::process::Command::new("git");
        for s in settings {
            cmd.args(["-c", s]);
        }
        cmd.args(args)
            .current_dir(&self.work_tree)
            .env_clear()
            .envs(self.env.iter().map(|(k, v)| (k.as_str(), v.as_str())))
            .stdin(if stdin.is_some() {
                Stdio::piped()
            } else {
                Stdio::null()
            })
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .kill_on_drop(true);
        let what = args.first().copied().unwrap_or("git");
        let mut child = cmd.spawn().map_err(|e| SnapshotError::Git {
            op: what.to_owned(),
            message: format!("cannot start git: {e} (is git installed and on PATH?)"),
        })?;
        let (Some(out), Some(err)) = (child.stdout.take(), child.stderr.take()) else {
            return Err(git_err(what, "cannot capture git's output"));
        };
        let input = child.stdin.take();
        let work = async {
            let feed = async {
                if let (Some(mut pipe), Some(bytes)) = (input, stdin) {
                    // git stops reading only when it fails; its exit code says why.
                    let _ = pipe.write_all(&bytes).await;
                }
            };
            let (mut o, mut e) = (Vec::new(), Vec::new());
            let (mut out, mut err) = (out.take(STDOUT_CAP as u64 + 1), err.take(STDERR_CAP as u64));
            let ((), ro, re) = tokio::join!(feed, out.read_to_end(&mut o), err.read_to_end(&mut e));
            ro.and(re)
                .map_err(|e| git_err(what, &format!("reading git's output: {e}")))?;
            if o.len() > STDOUT_CAP {
                return Err(git_err(
                    what,
                    &format!("git printed more than {STDOUT_CAP} bytes"),
                ));
            }
            let status = child
                .wait()
                .await
                .map_err(|e| git_err(what, &format!("waiting for git: {e}")))?;
            Ok(Output {
                code: status.code(),
                stdout: o,
                stderr: String::from_utf8_lossy(&e).trim().to_owned(),
            })
        };
        tokio::time::timeout(TIMEOUT, work).await.map_err(|_| {
            git_err(
                what,
                &format!("git did not finish within {} s", TIMEOUT.as_secs()),
            )
        })?
    }

    /// Runs `git args` and requires exit 0; returns stdout.
    pub async fn ok(
        &self,
        args: &[&str],
        stdin: Option<Vec<u8>>,
    ) -> Result<Vec<u8>, SnapshotError> {
        let out = self.run(args, stdin).await?;
        if out.code != Some(0) {
            return Err(git_err(
                args.first().copied().unwrap_or("git"),
                &format!("exit {:?}: {}", out.code, out.stderr),
            ));
        }
        Ok(out.stdout)
    }

    /// Runs `git args` and returns its stdout's first line (an object id).
    pub async fn line(
        &self,
        args: &[&str],
        stdin: Option<Vec<u8>>,
    ) -> Result<String, SnapshotError> {
        let out = self.ok(args, stdin).await?;
        Ok(String::from_utf8_lossy(&out)
            .lines()
            .next()
            .unwrap_or_default()
            .trim()
            .to_owned())
    }
}

fn git_err(op: &str, message: &str) -> SnapshotError {
    SnapshotError::Git {
        op: op.to_owned(),
        message: message.to_owned(),
    }
}

/// Splits NUL-separated git output into strings.
pub fn split_z(out: &[u8]) -> Vec<String> {
    out.split(|b| *b == 0)
        .filter(|s| !s.is_empty())
        .map(|s| String::from_utf8_lossy(s).into_owned())
        .collect()
}
