use super::*;
use crate::tools::OutputChunk;
use pretty_assertions::assert_eq;
use serde_json::json;
use tokio_util::sync::CancellationToken;

fn ctx(
    root: &Path,
) -> (
    ToolContext,
    tokio::sync::mpsc::UnboundedReceiver<OutputChunk>,
) {
    let (tx, rx) = tokio::sync::mpsc::unbounded_channel();
    (
        ToolContext {
            project_root: root.to_path_buf(),
            cancel: CancellationToken::new(),
            output: Some(tx),
            editor: None,
            sandbox: None,
        },
        rx,
    )
}

fn root() -> (tempfile::TempDir, std::path::PathBuf) {
    let d = tempfile::tempdir().unwrap();
    let r = std::fs::canonicalize(d.path()).unwrap();
    (d, r)
}

fn sh(dir: &Path, cmd: &str) -> String {
    let out = std::process::Command::new("sh")
        .arg("-c")
        .arg(cmd)
        .current_dir(dir)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{cmd}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}

/// A repository with one commit of `f`.
fn repo() -> (tempfile::TempDir, std::path::PathBuf) {
    let (d, r) = root();
    sh(
        &r,
        "git init -q && git config user.email t@e.st && git config user.name T && echo a > f && git add f && git commit -qm first",
    );
    (d, r)
}

#[tokio::test]
async fn git_operations_and_their_risk() {
    let (_d, r) = repo();
    let (c, _rx) = ctx(&r);
    let status = git(&r, &json!({"op": "status", "args": ["--short"]}), &c).await;
    assert!(status.ok, "{}", status.output);
    std::fs::write(r.join("f"), "b\n").unwrap();
    let diff = git(&r, &json!({"op": "diff"}), &c).await;
    assert!(diff.output.contains("-a\n+b"), "{}", diff.output);
    let log = git(&r, &json!({"op": "log", "args": ["--oneline", "-1"]}), &c).await;
    assert!(log.output.contains("first"), "{}", log.output);
    let bad = git(&r, &json!({"op": "push"}), &c).await;
    assert!(!bad.ok && bad.output.contains("not offered"));
    // A string is split with shell-word rules: the quoted message stays one argument.
    let add = git(&r, &json!({"op": "add", "args": "f"}), &c).await;
    assert!(add.ok, "{}", add.output);
    let commit = git(
        &r,
        &json!({"op": "commit", "args": "-q -m 'two words'"}),
        &c,
    )
    .await;
    assert!(commit.ok, "{}", commit.output);
    assert_eq!(sh(&r, "git log -1 --format=%s"), "two words\n");
    let show = git(
        &r,
        &json!({"op": "show", "args": ["--stat", "HEAD~1..HEAD"]}),
        &c,
    )
    .await;
    assert!(
        show.ok && show.output.contains("two words"),
        "{}",
        show.output
    );
    let new = git(&r, &json!({"op": "checkout", "args": ["-b", "topic"]}), &c).await;
    assert!(new.ok, "{}", new.output);
    let branches = git(&r, &json!({"op": "branch", "args": ["-vv"]}), &c).await;
    assert!(
        branches.ok && branches.output.contains("* topic"),
        "{}",
        branches.output
    );
    let stashes = git(&r, &json!({"op": "stash", "args": ["list"]}), &c).await;
    assert!(stashes.ok, "{}", stashes.output);
}

#[test]
fn risk_is_judged_from_every_argument() {
    for (args, risk) in [
        (json!({"op": "status"}), Risk::Read),
        (
            json!({"op": "log", "args": ["-5", "--format=%h %s", "main..topic"]}),
            Risk::Read,
        ),
        (
            json!({"op": "diff", "args": ["--cached", "--stat", "--", "src"]}),
            Risk::Read,
        ),
        (json!({"op": "commit", "args": ["-m", "x"]}), Risk::Write),
        (
            json!({"op": "commit", "args": ["--amend"]}),
            Risk::GitDiscard,
        ),
        (
            json!({"op": "commit", "args": ["-m", "--amend"]}),
            Risk::Write,
        ),
        (
            json!({"op": "checkout", "args": ["main"]}),
            Risk::GitDiscard,
        ),
        (
            json!({"op": "checkout", "args": ["--", "f"]}),
            Risk::GitDiscard,
        ),
        (
            json!({"op": "checkout", "args": ["-b", "new"]}),
            Risk::Write,
        ),
        (
            json!({"op": "checkout", "args": ["-b", "new", "main"]}),
            Risk::Write,
        ),
        (
            json!({"op": "checkout", "args": ["-fb", "new"]}),
            Risk::GitDiscard,
        ),
        (json!({"op": "stash"}), Risk::GitDiscard),
        (json!({"op": "stash", "args": ["list"]}), Risk::Read),
        (json!({"op": "stash", "args": ["show", "-p"]}), Risk::Read),
        (json!({"op": "stash", "args": ["drop"]}), Risk::GitDiscard),
        (json!({"op": "stash", "args": ["clear"]}), Risk::GitDiscard),
        (json!({"op": "stash", "args": ["pop"]}), Risk::GitDiscard),
        (json!({"op": "branch"}), Risk::Read),
        (json!({"op": "branch", "args": ["-a", "-v"]}), Risk::Read),
        (
            json!({"op": "branch", "args": ["--list", "feat*"]}),
            Risk::Read,
        ),
        (json!({"op": "branch", "args": ["new"]}), Risk::Write),
        // `-v` used to make any branch call a read.
        (json!({"op": "branch", "args": ["-v", "x"]}), Risk::Write),
        (
            json!({"op": "branch", "args": ["-D", "x"]}),
            Risk::GitDiscard,
        ),
        (
            json!({"op": "branch", "args": ["-v", "-D", "x"]}),
            Risk::GitDiscard,
        ),
        (
            json!({"op": "branch", "args": ["-vD", "x"]}),
            Risk::GitDiscard,
        ),
        (
            json!({"op": "branch", "args": "--list --delete x"}),
            Risk::GitDiscard,
        ),
        (
            json!({"op": "branch", "args": ["-m", "a", "b"]}),
            Risk::GitDiscard,
        ),
        (json!({"op": "add", "args": ["-f", "x"]}), Risk::GitDiscard),
        (json!({"op": "add", "args": ["."]}), Risk::Write),
    ] {
        assert_eq!(git_risk(&args), risk, "{args}");
    }
}

/// Every option that writes files, reads outside the project or runs programs is refused
/// with the option's name, for every op that might take it.
#[test]
fn dangerous_options_are_refused_by_name() {
    let cases: &[(&str, &[&str], &str)] = &[
        (
            "log",
            &["-1", "--format=tformat:x", "--output=/root/.bashrc"],
            "--output",
        ),
        ("log", &["--output", "x"], "--output"),
        ("log", &["--outp=x"], "--outp"),
        ("diff", &["-o", "x"], "-o"),
        ("diff", &["--no-index", "/dev/null", "f"], "--no-index"),
        ("diff", &["--ext-diff"], "--ext-diff"),
        ("show", &["--textconv"], "--textconv"),
        ("status", &["-c", "core.fsmonitor=touch x"], "-c"),
        ("log", &["-C", "/"], "-C"),
        ("diff", &["--git-dir=/tmp"], "--git-dir"),
        ("status", &["--work-tree=/"], "--work-tree"),
        ("log", &["--exec-path=/tmp"], "--exec-path"),
        ("log", &["--config-env=core.pager=X"], "--config-env"),
        ("commit", &["--template=/etc/passwd"], "--template"),
        (
            "add",
            &["--pathspec-from-file=/etc/passwd"],
            "--pathspec-from-file",
        ),
        ("commit", &["-F", "/etc/passwd"], "-F"),
        ("add", &["-p"], "-p"),
        ("checkout", &["--patch"], "--patch"),
        ("log", &["--show-signature"], "--show-signature"),
        ("diff", &["--submodule=diff"], "--submodule"),
        (
            "checkout",
            &["--recurse-submodules", "main"],
            "--recurse-submodules",
        ),
        ("status", &["-v"], "-v"),
        ("stash", &["show", "--ext-diff"], "--ext-diff"),
        ("stash", &["list", "--output=x"], "--output"),
        ("branch", &["--edit-description"], "--edit-description"),
    ];
    for (op, args, opt) in cases {
        let call = json!({"op": op, "args": args});
        let err = checked(&call).unwrap_err();
        assert!(err.contains(opt), "{call}: {err}");
    }
    let err = checked(&json!({"op": "log", "args": ["--output=x"]})).unwrap_err();
    assert_eq!(
        err,
        "git log: option --output is refused: it writes the output to a file of the caller's choosing"
    );
}

#[test]
fn paths_that_leave_the_project_are_refused() {
    for (op, args) in [
        ("diff", json!(["/dev/null", "/root/.ssh/id_rsa"])),
        ("diff", json!(["--", "../other"])),
        ("show", json!(["HEAD", "--", "a/../../x"])),
        ("add", json!(["~/.bashrc"])),
        ("log", json!(["--relative=../x"])),
        ("checkout", json!(["-b", "../../x"])),
    ] {
        let call = json!({"op": op, "args": args});
        let err = checked(&call).unwrap_err();
        assert!(
            err.contains("absolute") || err.contains("leaves the project"),
            "{call}: {err}"
        );
    }
}

#[test]
fn what_git_sees_is_the_canonical_form_of_what_was_checked() {
    let c =
        checked(&json!({"op": "log", "args": ["-n", "3", "--grep", "--output=x", "-U5"]})).unwrap();
    assert_eq!(
        c.argv,
        [
            "log",
            "--no-ext-diff",
            "--no-textconv",
            "-n",
            "3",
            "--grep=--output=x",
            "-U5"
        ]
    );
    let c = checked(&json!({"op": "commit", "args": ["-qam", "msg", "--", "f"]})).unwrap();
    assert_eq!(c.argv, ["commit", "-q", "-a", "-m", "msg", "--", "f"]);
    let c = checked(&json!({"op": "stash", "args": ["show", "-p", "stash@{0}"]})).unwrap();
    assert_eq!(
        c.argv,
        [
            "stash",
            "show",
            "--no-ext-diff",
            "--no-textconv",
            "-p",
            "stash@{0}"
        ]
    );
    assert!(
        checked(&json!({"op": "log", "args": [1]}))
            .unwrap_err()
            .contains("strings")
    );
    assert!(
        checked(&json!({"op": "log", "args": "-m 'x"}))
            .unwrap_err()
            .contains("unbalanced")
    );
}

/// A poisoned `.git/config` (and `.gitattributes`, and hooks) names programs for every
/// read and write the tool offers; none of them may run.
#[tokio::test]
async fn a_poisoned_repository_runs_no_program() {
    let (_d, r) = repo();
    let (c, _rx) = ctx(&r);
    let marker = r.join("..").join(format!(
        "pwned-{}",
        r.file_name().unwrap().to_string_lossy()
    ));
    let m = marker.display();
    let payload = format!("touch {m}; cat");
    sh(
        &r,
        "git checkout -q -b side && echo s > s && git add s && git commit -qm side && git checkout -q -",
    );
    sh(&r, "git stash list");
    std::fs::write(
        r.join(".gitattributes"),
        "* filter=evil diff=evil merge=evil\n",
    )
    .unwrap();
    std::fs::write(
        r.join("inc.cfg"),
        format!("[filter \"inc\"]\n\tprocess = touch {m}\n"),
    )
    .unwrap();
    let config = format!(
        "[core]\n\tfsmonitor = touch {m}; echo\n\tpager = touch {m}; cat\n\teditor = touch {m}\n\
         [diff]\n\texternal = touch {m}\n[diff \"evil\"]\n\ttextconv = {payload}\n\tcommand = touch {m}\n\
         [filter \"evil\"]\n\tclean = {payload}\n\tsmudge = {payload}\n\tprocess = touch {m}\n\trequired = true\n\
         [merge \"evil\"]\n\tdriver = touch {m}\n[include]\n\tpath = ../inc.cfg\n\
         [log]\n\tshowSignature = true\n[gpg]\n\tprogram = touch {m}\n[commit]\n\tgpgsign = true\n\
         [pager]\n\tlog = touch {m}\n[protocol \"ext\"]\n\tallow = always\n"
    );
    let cfg_path = r.join(".git/config");
    let mut cfg = std::fs::read_to_string(&cfg_path).unwrap();
    cfg.push_str(&config);
    std::fs::write(&cfg_path, cfg).unwrap();
    for hook in [
        "pre-commit",
        "post-commit",
        "commit-msg",
        "post-checkout",
        "reference-transaction",
    ] {
        let p = r.join(".git/hooks").join(hook);
        std::fs::write(&p, format!("#!/bin/sh\ntouch {m}\n")).unwrap();
        sh(&r, &format!("chmod +x {}", p.display()));
    }
    std::fs::write(r.join("f"), "changed\n").unwrap();
    for call in [
        json!({"op": "status"}),
        json!({"op": "diff"}),
        json!({"op": "diff", "args": ["--stat"]}),
        json!({"op": "log", "args": ["-p", "-1"]}),
        json!({"op": "show", "args": ["--format=%G? %s"]}),
        json!({"op": "add", "args": ["f", ".gitattributes"]}),
        json!({"op": "commit", "args": ["-m", "poisoned"]}),
        json!({"op": "stash", "args": ["list", "-p"]}),
        json!({"op": "checkout", "args": ["-b", "other"]}),
        json!({"op": "checkout", "args": ["-"]}),
    ] {
        let out = git(&r, &call, &c).await;
        assert!(!marker.exists(), "{call} ran a payload: {}", out.output);
        assert!(
            out.ok || call["op"] == "commit",
            "{call} should still work: {}",
            out.output
        );
    }
}

#[tokio::test]
async fn a_work_tree_or_git_dir_outside_the_project_is_refused() {
    // core.worktree pointing at the project's parent: git would read (and check out) there.
    let (_d, r) = repo();
    let (c, _rx) = ctx(&r);
    // Relative to the git dir: `../..` is the project's parent.
    sh(&r, "git config core.worktree ../..");
    let out = git(&r, &json!({"op": "status"}), &c).await;
    assert!(
        !out.ok && out.output.contains("top of a work tree"),
        "{}",
        out.output
    );

    // A `.git` file pointing at some other repository on the machine.
    let (_other_d, other) = repo();
    let (_p, project) = root();
    std::fs::write(
        project.join(".git"),
        format!("gitdir: {}/.git\n", other.display()),
    )
    .unwrap();
    let (c, _rx) = ctx(&project);
    let out = git(&project, &json!({"op": "log"}), &c).await;
    assert!(
        !out.ok && out.output.contains("outside the project"),
        "{}",
        out.output
    );

    // A project inside someone else's repository is not the top of a work tree either.
    let (_d, r) = repo();
    std::fs::create_dir(r.join("sub")).unwrap();
    let sub = r.join("sub");
    let (c, _rx) = ctx(&sub);
    let out = git(&sub, &json!({"op": "log"}), &c).await;
    assert!(
        !out.ok && out.output.contains("top of a work tree"),
        "{}",
        out.output
    );

    // An honest linked worktree still works.
    let (_d, r) = repo();
    let wt = r
        .join("..")
        .join(format!("{}-wt", r.file_name().unwrap().to_string_lossy()));
    sh(&r, &format!("git worktree add -q {} -b wt", wt.display()));
    let wt = std::fs::canonicalize(&wt).unwrap();
    let (c, _rx) = ctx(&wt);
    let out = git(&wt, &json!({"op": "log", "args": ["--oneline"]}), &c).await;
    let _ = std::fs::remove_dir_all(&wt);
    assert!(out.ok && out.output.contains("first"), "{}", out.output);
}
