#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::path::Path;
use std::process::Command;

use botcoder_protocol::{FileChange, FileChangeStatus};
use pretty_assertions::assert_eq;

use super::Shadow;

fn change(path: &str, status: FileChangeStatus, added: u64, removed: u64) -> FileChange {
    FileChange {
        path: path.to_owned(),
        status,
        added,
        removed,
    }
}

fn git(dir: &Path, args: &[&str]) -> String {
    let out = Command::new("git")
        .args(args)
        .current_dir(dir)
        .env("GIT_CONFIG_GLOBAL", "/dev/null")
        // `status` must not refresh the index: the test compares its bytes.
        .env("GIT_OPTIONAL_LOCKS", "0")
        .env("GIT_AUTHOR_NAME", "t")
        .env("GIT_AUTHOR_EMAIL", "t@t")
        .env("GIT_COMMITTER_NAME", "t")
        .env("GIT_COMMITTER_EMAIL", "t@t")
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}

/// What a user's repository looks like from the outside.
fn user_repo_state(p: &Path) -> (String, String, String, Vec<u8>) {
    (
        git(p, &["rev-parse", "--all"]),
        git(p, &["status", "--porcelain"]),
        git(p, &["stash", "list"]),
        std::fs::read(p.join(".git/index")).unwrap(),
    )
}

#[tokio::test]
async fn undo_restores_bytes_removes_created_files_and_leaves_the_users_git_alone() {
    let tmp = tempfile::tempdir().unwrap();
    let project = tmp.path().join("p").canonicalize().unwrap_or_else(|_| {
        std::fs::create_dir(tmp.path().join("p")).unwrap();
        tmp.path().join("p").canonicalize().unwrap()
    });
    std::fs::write(project.join("a.txt"), "one\ntwo\r\n").unwrap();
    std::fs::write(project.join("gone.txt"), "bye\n").unwrap();
    std::fs::write(project.join(".gitignore"), "ignored.log\n").unwrap();
    std::fs::write(project.join(".gitattributes"), "* text=auto eol=crlf\n").unwrap();
    std::fs::create_dir(project.join("target")).unwrap();
    std::fs::write(project.join("target/out"), "build").unwrap();
    git(&project, &["init", "-q"]);
    git(&project, &["add", "a.txt", "gone.txt"]);
    git(&project, &["commit", "-q", "-m", "init"]);
    std::fs::write(project.join("a.txt"), "one\ntwo\r\nuser edit\n").unwrap();
    let user_before = user_repo_state(&project);

    let shadow = Shadow::new(tmp.path().join("shadow"), project.clone());
    let before = shadow.snapshot().await.unwrap();
    std::fs::write(project.join("a.txt"), "changed\n").unwrap();
    std::fs::remove_file(project.join("gone.txt")).unwrap();
    std::fs::create_dir_all(project.join("new/dir")).unwrap();
    std::fs::write(project.join("new/dir/file.rs"), "fn main() {}\n").unwrap();
    std::fs::write(project.join("ignored.log"), "noise").unwrap();
    std::fs::write(project.join("target/out"), "rebuilt").unwrap();
    let after = shadow.snapshot().await.unwrap();
    let files = shadow.changes(&before, &after).await.unwrap();
    assert_eq!(
        files,
        vec![
            change("a.txt", FileChangeStatus::Modified, 1, 3),
            change("gone.txt", FileChangeStatus::Deleted, 0, 1),
            change("new/dir/file.rs", FileChangeStatus::Added, 1, 0),
        ]
    );
    let patch = shadow.patch(&before, &after, None).await.unwrap();
    assert!(patch.contains("+changed"), "{patch}");

    shadow
        .restore(&before, &["a.txt".to_owned(), "gone.txt".to_owned()])
        .await
        .unwrap();
    shadow
        .remove(&["new/dir/file.rs".to_owned()])
        .await
        .unwrap();
    assert_eq!(
        std::fs::read(project.join("a.txt")).unwrap(),
        b"one\ntwo\r\nuser edit\n"
    );
    assert_eq!(std::fs::read(project.join("gone.txt")).unwrap(), b"bye\n");
    assert!(!project.join("new").exists());
    assert_eq!(user_repo_state(&project).0, user_before.0);
    assert_eq!(user_repo_state(&project), user_before);
}

#[tokio::test]
async fn a_project_that_is_not_a_repository_and_large_files_are_skipped() {
    let tmp = tempfile::tempdir().unwrap();
    std::fs::create_dir(tmp.path().join("p")).unwrap();
    let project = tmp.path().join("p").canonicalize().unwrap();
    std::fs::write(project.join("small"), "x").unwrap();
    let big = std::fs::File::create(project.join("big.bin")).unwrap();
    big.set_len(super::shadow::MAX_FILE_BYTES + 1).unwrap();
    let shadow = Shadow::new(tmp.path().join("shadow"), project.clone());
    let t1 = shadow.snapshot().await.unwrap();
    std::fs::write(project.join("small"), "y").unwrap();
    let t2 = shadow.snapshot().await.unwrap();
    assert_eq!(
        shadow.changes(&t1, &t2).await.unwrap(),
        vec![change("small", FileChangeStatus::Modified, 1, 1)]
    );
    assert!(!project.join(".git").exists());
}

/// A project with `filler` small files beside one of each kind that is never recorded: a
/// file over 10 MB, build and dependency dirs, a file the project's `.gitignore` ignores
/// and one its `.git/info/exclude` ignores.
fn project_with_skipped_files(root: &Path, filler: usize) -> Vec<String> {
    git(root, &["init", "-q"]);
    std::fs::write(root.join(".gitignore"), "*.log\n").unwrap();
    std::fs::write(root.join(".git/info/exclude"), "secret.txt\n").unwrap();
    let mut kept = vec![".gitignore".to_owned()];
    for i in 0..filler {
        let dir = format!("src/d{}", i / 100);
        std::fs::create_dir_all(root.join(&dir)).unwrap();
        std::fs::write(
            root.join(format!("{dir}/f{i}.rs")),
            format!("fn f{i}() {{}}\n"),
        )
        .unwrap();
        kept.push(format!("{dir}/f{i}.rs"));
    }
    let big = std::fs::File::create(root.join("src/big.bin")).unwrap();
    big.set_len(super::shadow::MAX_FILE_BYTES + 1).unwrap();
    for dir in ["target/debug", "node_modules/x", "sub/build"] {
        std::fs::create_dir_all(root.join(dir)).unwrap();
        std::fs::write(root.join(dir).join("out.o"), "built").unwrap();
    }
    std::fs::write(root.join("run.log"), "noise").unwrap();
    std::fs::write(root.join("secret.txt"), "local").unwrap();
    kept.sort();
    kept
}

async fn recorded(shadow: &Shadow, tree: &str) -> Vec<String> {
    let out = shadow
        .git()
        .ok(&["ls-tree", "-r", "-z", "--name-only", tree], None)
        .await
        .unwrap();
    super::git::split_z(&out)
}

fn packs(shadow: &Shadow) -> usize {
    std::fs::read_dir(shadow.dir().join("objects/pack"))
        .map(|d| {
            d.flatten()
                .filter(|e| e.path().extension().is_some_and(|x| x == "pack"))
                .count()
        })
        .unwrap_or(0)
}

/// Few new files are written as loose objects and many into packs: both ways record the
/// same files and skip the same ones, and what went into a pack diffs as text.
#[tokio::test]
async fn loose_and_packed_snapshots_skip_large_files_build_dirs_and_ignored_files() {
    for filler in [3, super::shadow::BULK_FILES] {
        let tmp = tempfile::tempdir().unwrap();
        std::fs::create_dir(tmp.path().join("p")).unwrap();
        let project = tmp.path().join("p").canonicalize().unwrap();
        let kept = project_with_skipped_files(&project, filler);
        git(&project, &["add", ".gitignore"]);
        git(&project, &["commit", "-q", "-m", "init"]);
        let user_before = user_repo_state(&project);
        let shadow = Shadow::new(tmp.path().join("shadow"), project.clone());
        let first = shadow.snapshot().await.unwrap();
        assert_eq!(recorded(&shadow, &first).await, kept, "{filler} files");
        let packed = filler >= super::shadow::BULK_FILES;
        assert_eq!(packs(&shadow) > 0, packed, "{filler} files");
        assert_eq!(user_repo_state(&project), user_before, "{filler} files");

        std::fs::write(project.join("src/d0/f0.rs"), "fn f0() {}\nfn g() {}\n").unwrap();
        let before_packs = packs(&shadow);
        let second = shadow.snapshot().await.unwrap();
        assert_eq!(packs(&shadow), before_packs, "one changed file stays loose");
        assert_eq!(
            shadow.changes(&first, &second).await.unwrap(),
            vec![change("src/d0/f0.rs", FileChangeStatus::Modified, 1, 0)]
        );
        shadow
            .restore(&first, &["src/d0/f0.rs".to_owned()])
            .await
            .unwrap();
        assert_eq!(
            std::fs::read(project.join("src/d0/f0.rs")).unwrap(),
            b"fn f0() {}\n"
        );
    }
}
