//! Checkpoints and undo (issue 15, invariant I12): a turn edits with tools and changes
//! files with commands (`sed -i`, `echo >`, `rm`); `turn.changes` lists all of it;
//! `botcoder undo` gives the exact bytes back and removes what the turn created, every
//! attached client sees `turn.reverted`, the turn leaves the model's context; `redo` puts
//! it back; a file the person changed since stops the undo (until `--force`). The user's
//! own `.git` is never written, even when the project's git config names programs (the
//! hostile project: an fsmonitor, a clean filter and a hook that would leave a marker).

// Test code: a failed expectation is a failed test.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::path::Path;
use std::process::Command;
use std::time::Duration;

use botcoder_protocol::client::DaemonClient;
use botcoder_protocol::methods::{SessionGet, SessionRef, SubscribeParams};
use botcoder_protocol::{ApprovalPolicy, Event, EventBody, FileChangeStatus, SessionId};
use botcoder_tests::events::collect_until;
use botcoder_tests::harness::{DaemonProcess, TestEnv};
use botcoder_tests::mock_llm::{MockLlm, MockResponse};
use botcoder_tests::session;
use pretty_assertions::assert_eq;

const T: Duration = Duration::from_secs(60);

struct World {
    env: TestEnv,
    mock: MockLlm,
    _daemon: DaemonProcess,
}

async fn start() -> World {
    let mock = MockLlm::start().await.expect("mock");
    mock.set_default(MockResponse::text("done"));
    let mut env = TestEnv::new();
    env.use_mock(&mock).set("BOTCODER_SANDBOX", "off");
    let daemon = env.start_daemon();
    World {
        env,
        mock,
        _daemon: daemon,
    }
}

fn git(dir: &Path, args: &[&str]) -> String {
    // The test's own git must not run what the hostile config names either.
    let safe = [
        "-c",
        "core.fsmonitor=false",
        "-c",
        "core.hooksPath=/dev/null",
        "-c",
        "filter.evil.clean=",
        "-c",
        "filter.evil.smudge=",
    ];
    let out = Command::new("git")
        .args(safe)
        .args(args)
        .current_dir(dir)
        .env("GIT_CONFIG_GLOBAL", "/dev/null")
        .env("GIT_CONFIG_NOSYSTEM", "1")
        // `status` must not refresh the index: the test compares the index file's bytes.
        .env("GIT_OPTIONAL_LOCKS", "0")
        .env("GIT_AUTHOR_NAME", "t")
        .env("GIT_AUTHOR_EMAIL", "t@t")
        .env("GIT_COMMITTER_NAME", "t")
        .env("GIT_COMMITTER_EMAIL", "t@t")
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "git {args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}

/// The user's repository as the issue checks it: refs, status, stashes, the index's bytes.
fn user_git(p: &Path) -> (String, String, String, Vec<u8>) {
    (
        git(p, &["rev-parse", "--all"]),
        git(p, &["status", "--porcelain"]),
        git(p, &["stash", "list"]),
        std::fs::read(p.join(".git/index")).unwrap(),
    )
}

fn read(p: &Path) -> Vec<u8> {
    std::fs::read(p).unwrap_or_else(|e| panic!("{}: {e}", p.display()))
}

/// A git project with a commit, a stash, a staged change and an untracked file — and a
/// config that would run programs (leaving `pwned-*` markers) if anything ran git with it.
fn git_project(p: &Path) {
    std::fs::write(p.join("a.txt"), "alpha\nbeta\n").unwrap();
    std::fs::write(p.join("b.txt"), b"one\r\ntwo\r\n\xff\n").unwrap();
    std::fs::write(p.join("keep.txt"), "keep me\n").unwrap();
    std::fs::write(p.join(".gitignore"), "*.log\n").unwrap();
    std::fs::write(p.join(".gitattributes"), "* filter=evil text eol=crlf\n").unwrap();
    git(p, &["init", "-q"]);
    git(p, &["add", "."]);
    git(p, &["commit", "-q", "-m", "init"]);
    std::fs::write(p.join("keep.txt"), "stashed\n").unwrap();
    git(p, &["stash", "-q"]);
    std::fs::write(p.join("staged.txt"), "staged\n").unwrap();
    git(p, &["add", "staged.txt"]);
    std::fs::write(p.join("untracked.txt"), "mine\n").unwrap();
    let marker = |n: &str| p.join(format!("pwned-{n}")).display().to_string();
    let hostile = format!(
        "[core]\n\tfsmonitor = touch {}\n[filter \"evil\"]\n\tclean = touch {} ; cat\n\tsmudge = touch {} ; cat\n",
        marker("fsmonitor"),
        marker("clean"),
        marker("smudge"),
    );
    let mut config = std::fs::read_to_string(p.join(".git/config")).unwrap();
    config.push_str(&hostile);
    std::fs::write(p.join(".git/config"), config).unwrap();
    std::fs::create_dir_all(p.join(".git/hooks")).unwrap();
    let hook = p.join(".git/hooks/post-index-change");
    std::fs::write(&hook, format!("#!/bin/sh\ntouch {}\n", marker("hook"))).unwrap();
    let mode = std::os::unix::fs::PermissionsExt::from_mode(0o755);
    std::fs::set_permissions(&hook, mode).unwrap();
}

/// The turn's calls: an edit and a write by tools, `sed -i`, `echo >` and `rm` by command.
fn push_changing_turn(mock: &MockLlm) {
    let command = serde_json::json!({
        "command": "sed -i 's/one/uno/' b.txt && echo made > cmd.txt && rm keep.txt && echo noise > x.log"
    })
    .to_string();
    mock.push(MockResponse::openai_tool_calls(
        &[
            (
                "e1",
                "edit_file",
                r#"{"path":"a.txt","old":"alpha","new":"ALPHA"}"#,
            ),
            (
                "w1",
                "write_file",
                r#"{"path":"new/dir/tool.txt","content":"by tool\n"}"#,
            ),
            ("c1", "execute_command", &command),
        ],
        0,
    ));
}

async fn last_seq(c: &DaemonClient, id: &SessionId) -> u64 {
    c.call::<SessionGet>(&SessionRef {
        session_id: id.clone(),
    })
    .await
    .unwrap()
    .last_seq
}

fn changes(events: &[Event]) -> Vec<(String, FileChangeStatus)> {
    let mut completed = false;
    let mut out = Vec::new();
    for e in events {
        match &e.body {
            EventBody::TurnChanges { files, .. } => {
                assert!(!completed, "turn.changes comes before turn.completed");
                out = files.iter().map(|f| (f.path.clone(), f.status)).collect();
            }
            EventBody::TurnCompleted { .. } => completed = true,
            _ => {}
        }
    }
    out
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn undo_gives_back_tool_and_command_changes_byte_for_byte_and_redo_restores_them() {
    let w = start().await;
    let p = w.env.project.clone();
    git_project(&p);
    let user_before = user_git(&p);
    let before: Vec<(&str, Vec<u8>)> = ["a.txt", "b.txt", "keep.txt", "untracked.txt"]
        .iter()
        .map(|f| (*f, read(&p.join(f))))
        .collect();

    let c = w.env.client("t1").await;
    let id = session::create(&c, &p, ApprovalPolicy::Auto).await;
    push_changing_turn(&w.mock);
    let events = session::turn(&c, &id, "FIRST-REQUEST change things", T).await;
    let results = session::tool_results(&events);
    assert!(results.iter().all(|(ok, _)| *ok), "{results:?}");
    use FileChangeStatus::{Added, Deleted, Modified};
    assert_eq!(
        changes(&events),
        vec![
            ("a.txt".to_owned(), Modified),
            ("b.txt".to_owned(), Modified),
            ("cmd.txt".to_owned(), Added),
            ("keep.txt".to_owned(), Deleted),
            ("new/dir/tool.txt".to_owned(), Added),
        ]
    );
    let turn_id = events[0].body.turn_id().unwrap().clone();
    let after_a = read(&p.join("a.txt"));
    let after_b = read(&p.join("b.txt"));

    // A diff of the turn, from the CLI.
    let sid = id.as_str();
    let diff = w.env.run_cli(&["diff", "--session", sid], None).await;
    assert_eq!(diff.code, 0, "{}", diff.stderr);
    assert!(
        diff.stdout.contains("-alpha") && diff.stdout.contains("+ALPHA"),
        "{}",
        diff.stdout
    );
    assert!(diff.stdout.contains("new/dir/tool.txt"), "{}", diff.stdout);

    // Two terminals: both see the revert.
    let c2 = w.env.client("t2").await;
    let after = last_seq(&c, &id).await;
    let params = SubscribeParams {
        session_id: id.clone(),
        after_seq: Some(after),
    };
    let (mut s1, mut s2) = (
        c.subscribe(&params).await.unwrap(),
        c2.subscribe(&params).await.unwrap(),
    );
    let undo = w.env.run_cli(&["undo", "--session", sid], None).await;
    assert_eq!(undo.code, 0, "{}", undo.stderr);
    assert!(undo.stdout.contains("removed   cmd.txt"), "{}", undo.stdout);
    for s in [&mut s1, &mut s2] {
        let seen = collect_until(s, T, |e| matches!(e.body, EventBody::TurnReverted { .. })).await;
        match &seen.last().unwrap().body {
            EventBody::TurnReverted {
                turn_id: t,
                files,
                by,
            } => {
                assert_eq!((t, files.len(), by.as_str()), (&turn_id, 5, "botcoder-cli"));
            }
            other => panic!("{other:?}"),
        }
    }
    for (f, bytes) in &before {
        assert_eq!(&read(&p.join(f)), bytes, "{f} is back byte for byte");
    }
    for gone in ["cmd.txt", "new"] {
        assert!(!p.join(gone).exists(), "{gone} was created by the turn");
    }
    assert_eq!(user_git(&p), user_before, "the user's .git is untouched");

    // The reverted turn is out of the model's context.
    let n = w.mock.requests().len();
    session::turn(&c, &id, "SECOND-REQUEST", T).await;
    let next = serde_json::to_string(&w.mock.requests()[n].body).unwrap();
    assert!(
        next.contains("SECOND-REQUEST") && !next.contains("FIRST-REQUEST"),
        "{next}"
    );

    // Redo puts the turn's state back.
    let redo = w
        .env
        .run_cli(&["redo", "--session", sid, "--json"], None)
        .await;
    assert_eq!(redo.code, 0, "{}", redo.stderr);
    assert_eq!(
        (read(&p.join("a.txt")), read(&p.join("b.txt"))),
        (after_a.clone(), after_b)
    );
    assert_eq!(read(&p.join("new/dir/tool.txt")), b"by tool\n");
    assert!(!p.join("keep.txt").exists());

    // The person edits a file the turn changed: undo stops and names it, nothing touched.
    std::fs::write(p.join("a.txt"), "my own edit\n").unwrap();
    let refused = w.env.run_cli(&["undo", "--session", sid], None).await;
    assert_eq!(refused.code, 1, "{}", refused.stdout);
    assert!(
        refused.stderr.contains("a.txt") && refused.stderr.contains("--force"),
        "{}",
        refused.stderr
    );
    assert!(p.join("cmd.txt").exists(), "a refused undo changes nothing");
    assert_eq!(read(&p.join("a.txt")), b"my own edit\n");
    let forced = w
        .env
        .run_cli(&["undo", "--session", sid, "--force"], None)
        .await;
    assert_eq!(forced.code, 0, "{}", forced.stderr);
    assert_eq!(read(&p.join("a.txt")), before[0].1);

    // Nothing a hostile project configured ever ran.
    for m in ["fsmonitor", "clean", "smudge", "hook"] {
        assert!(!p.join(format!("pwned-{m}")).exists(), "{m} ran");
    }
    assert_eq!(user_git(&p), user_before, "the user's .git is untouched");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_project_that_is_not_a_git_repository_can_be_undone_and_reads_cost_no_snapshot() {
    let w = start().await;
    let p = w.env.project.clone();
    std::fs::write(p.join("a.txt"), "alpha\nbeta\n").unwrap();
    let c = w.env.client("t").await;
    let id = session::create(&c, &p, ApprovalPolicy::Auto).await;

    // Nothing changed yet: nothing to undo.
    let nothing = w
        .env
        .run_cli(&["undo", "--session", id.as_str()], None)
        .await;
    assert_eq!(nothing.code, 1);
    assert!(
        nothing.stderr.contains("nothing to undo"),
        "{}",
        nothing.stderr
    );
    w.mock.push(MockResponse::openai_tool_calls(
        &[("r1", "read_file", r#"{"path":"a.txt"}"#)],
        0,
    ));
    let events = session::turn(&c, &id, "read", T).await;
    assert_eq!(
        changes(&events),
        vec![],
        "a turn that only reads changes nothing"
    );

    push_changing_turn(&w.mock);
    std::fs::write(p.join("b.txt"), "one\n").unwrap();
    std::fs::write(p.join("keep.txt"), "keep\n").unwrap();
    let events = session::turn(&c, &id, "change", T).await;
    // No .gitignore here: the command's x.log counts too.
    assert_eq!(changes(&events).len(), 6, "{events:?}");
    // From the project's directory, the latest session is the default.
    let mut undo = w.env.cli(&["undo"]);
    undo.current_dir(&p);
    let out = tokio::task::spawn_blocking(move || undo.output().unwrap())
        .await
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert_eq!(read(&p.join("a.txt")), b"alpha\nbeta\n");
    assert_eq!(read(&p.join("b.txt")), b"one\n");
    assert_eq!(read(&p.join("keep.txt")), b"keep\n");
    for gone in ["cmd.txt", "new", "x.log"] {
        assert!(!p.join(gone).exists(), "{gone} was created by the turn");
    }
    assert!(
        !p.join(".git").exists(),
        "no repository appears in the project"
    );
    let empty = w
        .env
        .run_cli(&["diff", "--session", id.as_str()], None)
        .await;
    assert_eq!(empty.stdout, "no changes\n", "{}", empty.stderr);
}
