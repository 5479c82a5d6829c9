//! One project's shadow repository: taking a snapshot of the work tree (a tree object),
//! naming snapshots with refs, comparing two snapshots, and restoring files from one.
//!
//! A snapshot is `git add -A` into the shadow's own index followed by `git write-tree`: the
//! index's stat cache means only files whose size or mtime changed are read again, so
//! later snapshots of a large project cost about one directory walk.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use botcoder_protocol::{FileChange, FileChangeStatus};

use super::SnapshotError;
use super::git::{Git, split_z};

/// Files larger than this are left out of snapshots (and so out of undo).
pub const MAX_FILE_BYTES: u64 = 10 * 1024 * 1024;

/// From this many new files on, a snapshot writes packs instead of loose objects
/// (see [`add_settings`]).
pub const BULK_FILES: usize = 500;

/// Left out of every snapshot besides what the project's ignore files say: build output
/// and dependency caches, large and regenerated.
const BUILTIN_EXCLUDES: &str = "\
# botcoder: never snapshotted
.git/
target/
node_modules/
__pycache__/
.venv/
venv/
.tox/
.mypy_cache/
.pytest_cache/
.gradle/
.next/
.cache/
dist/
build/
";

/// Overrides every `.gitattributes` of the project: no end-of-line conversion, filter,
/// ident expansion or re-encoding, so a restore gives back exactly the bytes recorded.
const ATTRIBUTES: &str = "* -text -eol -filter -ident -working-tree-encoding\n";

/// The file naming the project a shadow belongs to.
const PROJECT_FILE: &str = "botcoder-project";

/// A shadow repository and its project.
#[derive(Debug, Clone)]
pub struct Shadow {
    git: Git,
}

impl Shadow {
    /// The shadow at `dir` for `project` (not created until the first snapshot).
    pub fn new(dir: PathBuf, project: PathBuf) -> Shadow {
        Shadow {
            git: Git::new(dir, project),
        }
    }

    /// The shadow git dir.
    pub fn dir(&self) -> &Path {
        &self.git.dir
    }

    /// The project.
    pub fn project(&self) -> &Path {
        &self.git.work_tree
    }

    /// Creates the shadow repository when it does not exist yet.
    async fn ensure(&self) -> Result<(), SnapshotError> {
        let dir = self.git.dir.clone();
        let project = self.git.work_tree.clone();
        if tokio::fs::metadata(dir.join("HEAD")).await.is_ok() {
            return check_owner(&dir, &project).await;
        }
        tokio::fs::create_dir_all(&dir).await?;
        self.git.init().await?;
        let write = move || -> std::io::Result<()> {
            std::fs::create_dir_all(dir.join("info"))?;
            std::fs::write(dir.join("info/exclude"), BUILTIN_EXCLUDES)?;
            std::fs::write(dir.join("info/attributes"), ATTRIBUTES)?;
            std::fs::write(dir.join(PROJECT_FILE), project.display().to_string())
        };
        tokio::task::spawn_blocking(write)
            .await
            .map_err(|e| SnapshotError::Io(std::io::Error::other(e)))?
            .map_err(SnapshotError::Io)
    }

    /// Records the project's work tree now; returns the tree's object id.
    pub async fn snapshot(&self) -> Result<String, SnapshotError> {
        self.ensure().await?;
        let untracked = self
            .git
            .ok(&["ls-files", "-z", "--others", "--exclude-standard"], None)
            .await?;
        let untracked = split_z(&untracked);
        let settings = add_settings(untracked.len());
        let root = self.git.work_tree.clone();
        let large = tokio::task::spawn_blocking(move || too_large(&root, &untracked))
            .await
            .map_err(|e| SnapshotError::Io(std::io::Error::other(e)))?;
        let added = if large.is_empty() {
            self.git
                .run_with(settings, &["add", "-A", "--ignore-errors"], None)
                .await?
        } else {
            let args = [
                "add",
                "-A",
                "--ignore-errors",
                "--pathspec-from-file=-",
                "--pathspec-file-nul",
            ];
            self.git
                .run_with(settings, &args, Some(exclude_specs(&large)))
                .await?
        };
        // Exit 1 with --ignore-errors: some file could not be read; the rest is recorded.
        match added.code {
            Some(0) => {}
            Some(1) => {
                tracing::warn!(project = %self.git.work_tree.display(), "snapshot skipped unreadable files: {}", added.stderr)
            }
            code => {
                return Err(SnapshotError::Git {
                    op: "add".to_owned(),
                    message: format!("exit {code:?}: {}", added.stderr),
                });
            }
        }
        self.git.line(&["write-tree"], None).await
    }

    /// Names `tree` with `refname` (through a commit, whose date pruning reads).
    pub async fn keep(&self, refname: &str, tree: &str) -> Result<(), SnapshotError> {
        let commit = self
            .git
            .line(&["commit-tree", tree, "-m", refname], None)
            .await?;
        self.git.ok(&["update-ref", refname, &commit], None).await?;
        Ok(())
    }

    /// The tree `refname` names, or `None` when there is no such ref (pruned).
    pub async fn tree_of(&self, refname: &str) -> Result<Option<String>, SnapshotError> {
        let spec = format!("{refname}^{{tree}}");
        let out = self
            .git
            .run(&["rev-parse", "-q", "--verify", &spec], None)
            .await?;
        Ok((out.code == Some(0))
            .then(|| String::from_utf8_lossy(&out.stdout).trim().to_owned())
            .filter(|s| !s.is_empty()))
    }

    /// What changed from tree `from` to tree `to`, sorted by path.
    pub async fn changes(&self, from: &str, to: &str) -> Result<Vec<FileChange>, SnapshotError> {
        let base = ["diff-tree", "-r", "-z", "--no-renames"];
        let status = self
            .git
            .ok(&[&base[..], &["--name-status", from, to]].concat(), None)
            .await?;
        let numstat = self
            .git
            .ok(&[&base[..], &["--numstat", from, to]].concat(), None)
            .await?;
        Ok(merge_stats(&split_z(&status), &numstat))
    }

    /// The unified diff from tree `from` to tree `to`, limited to `paths` when given.
    pub async fn patch(
        &self,
        from: &str,
        to: &str,
        paths: Option<&[String]>,
    ) -> Result<String, SnapshotError> {
        let base = [
            "diff-tree",
            "-p",
            "-r",
            "--no-renames",
            "--no-color",
            "--binary",
        ];
        let Some(paths) = paths else {
            let out = self
                .git
                .ok(&[&base[..], &[from, to]].concat(), None)
                .await?;
            return Ok(String::from_utf8_lossy(&out).into_owned());
        };
        let mut text = String::new();
        // A few hundred paths per call keeps every command line short.
        for chunk in paths.chunks(200) {
            let mut args: Vec<&str> = base.to_vec();
            args.extend([from, to, "--"]);
            let literal: Vec<String> = chunk.iter().map(|p| format!(":(literal){p}")).collect();
            args.extend(literal.iter().map(String::as_str));
            let out = self.git.ok(&args, None).await?;
            text.push_str(&String::from_utf8_lossy(&out));
        }
        Ok(text)
    }

    /// Puts `paths` back as they are in tree `tree` (content and mode, byte for byte).
    pub async fn restore(&self, tree: &str, paths: &[String]) -> Result<(), SnapshotError> {
        if paths.is_empty() {
            return Ok(());
        }
        let mut specs = Vec::new();
        for p in paths {
            specs.extend_from_slice(format!(":(literal){p}\0").as_bytes());
        }
        let args = [
            "checkout",
            "--no-overlay",
            tree,
            "--pathspec-from-file=-",
            "--pathspec-file-nul",
        ];
        self.git.ok(&args, Some(specs)).await?;
        Ok(())
    }

    /// Removes `paths` from the project (files a turn created), and directories left empty.
    pub async fn remove(&self, paths: &[String]) -> Result<(), SnapshotError> {
        let root = self.git.work_tree.clone();
        let paths = paths.to_vec();
        tokio::task::spawn_blocking(move || remove_files(&root, &paths))
            .await
            .map_err(|e| SnapshotError::Io(std::io::Error::other(e)))?
    }

    /// Runs a maintenance command (pruning).
    pub async fn maintain(&self, args: &[&str]) -> Result<Vec<u8>, SnapshotError> {
        self.git.ok(args, None).await
    }

    /// The git runner.
    pub fn git(&self) -> &Git {
        &self.git
    }
}

/// A shadow named by a hash must belong to this project (a hash collision, or a copied
/// data dir, must never restore one project's files into another).
async fn check_owner(dir: &Path, project: &Path) -> Result<(), SnapshotError> {
    match tokio::fs::read_to_string(dir.join(PROJECT_FILE)).await {
        Ok(p) if Path::new(p.trim()) == project => Ok(()),
        Ok(p) => Err(SnapshotError::Foreign {
            dir: dir.to_path_buf(),
            owner: p.trim().to_owned(),
        }),
        Err(e) => Err(SnapshotError::Io(e)),
    }
}

/// The pathspecs of `git add` for the whole work tree except `large`.
fn exclude_specs(large: &[String]) -> Vec<u8> {
    let mut specs = b".\0".to_vec();
    for path in large {
        specs.extend_from_slice(format!(":(exclude,literal){path}\0").as_bytes());
    }
    specs
}

/// The settings of a `git add` that records `new_files` files the shadow has not seen.
///
/// Written one by one, each new file is a loose object: a file created in `objects/`,
/// which costs more than reading and hashing it (a first snapshot of 20,000 files took
/// 2.5 s on an idle machine, 6 to 17 s on a busy one). Many new files instead go into
/// packs through git's bulk check-in, which streams every blob above
/// `core.bigFileThreshold` into one open pack file. Packs of at most 1 MB, because the
/// check-in compares each blob with every one already in its pack; zlib level 1, as
/// source text compresses about as well with a fifth less CPU. Few new files stay loose: a
/// pack per snapshot would pile up between the daily `gc` that pruning runs, and every
/// object lookup walks every pack.
fn add_settings(new_files: usize) -> &'static [&'static str] {
    if new_files >= BULK_FILES {
        &[
            "core.bigFileThreshold=1",
            "core.compression=1",
            "pack.packSizeLimit=1m",
        ]
    } else {
        &[]
    }
}

/// Of `paths` (relative to `root`), those larger than [`MAX_FILE_BYTES`].
fn too_large(root: &Path, paths: &[String]) -> Vec<String> {
    paths
        .iter()
        .filter(|p| std::fs::symlink_metadata(root.join(p)).is_ok_and(|m| m.len() > MAX_FILE_BYTES))
        .cloned()
        .collect()
}

/// Joins `--name-status -z` and `--numstat -z` output into one change per path.
fn merge_stats(status: &[String], numstat: &[u8]) -> Vec<FileChange> {
    let mut counts: BTreeMap<String, (u64, u64)> = BTreeMap::new();
    for rec in split_z(numstat) {
        let mut f = rec.splitn(3, '\t');
        if let (Some(a), Some(r), Some(path)) = (f.next(), f.next(), f.next()) {
            // Binary files count "-".
            let n = |s: &str| s.parse().unwrap_or(0);
            counts.insert(path.to_owned(), (n(a), n(r)));
        }
    }
    let mut out = Vec::new();
    for pair in status.chunks(2) {
        let [code, path] = pair else { continue };
        let status = match code.chars().next() {
            Some('A') => FileChangeStatus::Added,
            Some('D') => FileChangeStatus::Deleted,
            _ => FileChangeStatus::Modified,
        };
        let (added, removed) = counts.get(path).copied().unwrap_or_default();
        out.push(FileChange {
            path: path.clone(),
            status,
            added,
            removed,
        });
    }
    out.sort_by(|a, b| a.path.cmp(&b.path));
    out
}

fn remove_files(root: &Path, paths: &[String]) -> Result<(), SnapshotError> {
    let Ok(root) = root.canonicalize() else {
        return Err(SnapshotError::Io(std::io::Error::other(format!(
            "the project {} is gone",
            root.display()
        ))));
    };
    for p in paths {
        let path = root.join(p);
        let Some(parent) = path.parent() else {
            continue;
        };
        // Through a symlinked directory the path would be outside the project: leave it.
        let Ok(real_parent) = parent.canonicalize() else {
            continue;
        };
        if !real_parent.starts_with(&root) {
            tracing::warn!(path = %p, "not removed: its directory resolves outside the project");
            continue;
        }
        let target = real_parent.join(path.file_name().unwrap_or_default());
        match std::fs::remove_file(&target) {
            Ok(()) => {}
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
            Err(e) => return Err(SnapshotError::Io(e)),
        }
        // Directories the turn created for the file go too, once empty.
        let mut dir = real_parent;
        while dir != root && std::fs::remove_dir(&dir).is_ok() {
            if !dir.pop() {
                break;
            }
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use pretty_assertions::assert_eq;

    #[test]
    fn stats_merge_by_path_and_binary_counts_zero() {
        let status: Vec<String> = ["M", "a.txt", "A", "bin", "D", "gone"]
            .iter()
            .map(|s| (*s).to_owned())
            .collect();
        let numstat = b"1\t2\ta.txt\0-\t-\tbin\0\x30\t3\tgone\0";
        let change = |path: &str, status, added, removed| FileChange {
            path: path.to_owned(),
            status,
            added,
            removed,
        };
        assert_eq!(
            merge_stats(&status, numstat),
            vec![
                change("a.txt", FileChangeStatus::Modified, 1, 2),
                change("bin", FileChangeStatus::Added, 0, 0),
                change("gone", FileChangeStatus::Deleted, 0, 3),
            ]
        );
    }
}
