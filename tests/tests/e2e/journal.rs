//! Journals you can trust (issue 12 items 6 and 7): a turn whose events could not be saved
//! never says `completed`; a sessions directory removed under the daemon is noticed and
//! reported; journals of newer daemons, repeated seqs and lost metadata never make a
//! session unloadable or invisible; no event is too large for a client; and data strings
//! never reach the terminal as raw control sequences.

// Test code: a failed expectation is a failed test.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::path::Path;
use std::process::Stdio;
use std::time::Duration;

use botcoder_protocol::methods::{SessionCreate, SessionCreateParams};
use botcoder_protocol::{ApprovalPolicy, MAX_MESSAGE_BYTES};
use botcoder_tests::harness::{DaemonProcess, TestEnv, bin, env_with_mock};
use botcoder_tests::mock_llm::MockResponse;
use pretty_assertions::assert_eq;
use serde_json::Value;
use tokio::io::{AsyncBufReadExt, BufReader};

fn journal_lines(env: &TestEnv, id: &str) -> Vec<Value> {
    let text = std::fs::read_to_string(env.sessions_dir().join(id).join("events.jsonl")).unwrap();
    text.lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect()
}

fn last_completed(events: &[Value]) -> Value {
    events
        .iter()
        .rev()
        .find(|e| e["type"] == "turn.completed")
        .cloned()
        .unwrap_or_else(|| panic!("no turn.completed in {events:?}"))
}

fn check<'a>(doctor: &'a [Value], name: &str) -> &'a Value {
    doctor
        .iter()
        .find(|c| c["name"] == name)
        .unwrap_or_else(|| panic!("no {name} check in {doctor:?}"))
}

/// Starts the daemon with every file it writes limited to `bytes` (RLIMIT_FSIZE), the way
/// a nearly full disk or a quota looks to it.
fn start_daemon_with_fsize(env: &TestEnv, bytes: u64) -> DaemonProcess {
    let prlimit = Path::new("/usr/bin/prlimit");
    botcoder_tests::harness::require("prlimit (util-linux)", prlimit.is_file());
    let child = env
        .command(prlimit)
        .arg(format!("--fsize={bytes}"))
        .arg(bin("botcoderd"))
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let daemon = env.adopt(child);
    env.wait_for_socket(Duration::from_secs(10));
    daemon
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_reply_that_cannot_be_journaled_fails_the_turn_instead_of_completing_it() {
    let (env, mock) = env_with_mock(&[]).await;
    let _daemon = start_daemon_with_fsize(&env, 64 * 1024);
    // Honest path: a short reply fits and completes.
    mock.push(MockResponse::text("short and fine"));
    let ok = env.run_cli(&["ask", "hello"], None).await;
    assert_eq!(ok.code, 0, "{}", ok.stderr);
    let id = ok.session_id();

    // A reply larger than the file may grow: its assistant.message cannot be appended.
    let big = "word ".repeat(30_000);
    let pieces: Vec<&str> = big
        .as_bytes()
        .chunks(4096)
        .map(|c| std::str::from_utf8(c).unwrap())
        .collect();
    mock.push(MockResponse::text_chunks(&pieces));
    let out = env
        .run_cli(&["ask", "--session", &id, "--json", "say a lot"], None)
        .await;
    assert_eq!(out.code, 1, "{}\n{}", out.stdout, out.stderr);
    let lines = out.json_lines();
    let done = last_completed(&lines);
    assert_eq!(done["status"], "failed", "{done}");
    assert_eq!(done["error"]["kind"], "storage_failed", "{done}");
    let message = done["error"]["message"].as_str().unwrap();
    assert!(
        message.contains("events.jsonl") && message.contains("file-size limit"),
        "{message}"
    );
    assert!(out.stderr.contains("turn failed"), "{}", out.stderr);

    // The journal agrees: the turn is failed there too, with no trace of the lost reply.
    let journal = journal_lines(&env, &id);
    let done = last_completed(&journal);
    assert_eq!(
        (done["status"].clone(), done["error"]["kind"].clone()),
        ("failed".into(), "storage_failed".into())
    );
    let seqs: Vec<u64> = journal.iter().map(|e| e["seq"].as_u64().unwrap()).collect();
    assert!(seqs.windows(2).all(|w| w[1] == w[0] + 1), "{seqs:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_sessions_directory_removed_while_running_is_refused_and_doctor_says_so() {
    let (env, mock) = env_with_mock(&[]).await;
    let _daemon = env.start_daemon();
    mock.set_default(MockResponse::status(200, "{\"data\":[]}"));
    mock.push(MockResponse::text("first answer"));
    let ok = env.run_cli(&["ask", "hello"], None).await;
    assert_eq!(ok.code, 0, "{}", ok.stderr);
    let id = ok.session_id();
    let healthy = env.run_cli(&["doctor", "--json"], None).await.json_lines();
    assert_eq!(check(&healthy, "journal directory")["result"], "ok");

    // Someone removes the sessions directory (and a tool recreates an empty one).
    std::fs::remove_dir_all(env.sessions_dir()).unwrap();
    std::fs::create_dir_all(env.sessions_dir()).unwrap();

    let out = env
        .run_cli(&["ask", "--session", &id, "are you still there"], None)
        .await;
    assert_ne!(out.code, 0, "{}", out.stderr);
    assert!(
        out.stderr.contains("removed or replaced") && out.stderr.contains("daemon restart"),
        "{}",
        out.stderr
    );
    let doctor = env.run_cli(&["doctor", "--json"], None).await;
    assert_eq!(doctor.code, 1, "{}", doctor.stdout);
    let lines = doctor.json_lines();
    let journal = check(&lines, "journal directory");
    assert_eq!(journal["result"], "fail", "{journal}");
    assert!(
        journal["detail"]
            .as_str()
            .unwrap()
            .contains("removed or replaced"),
        "{journal}"
    );
    assert!(
        journal["fix"].as_str().unwrap().contains("restart"),
        "{journal}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_journal_with_an_unknown_event_type_and_a_repeated_seq_still_loads_and_continues() {
    let (env, _mock) = env_with_mock(&[]).await;
    let mut daemon = env.start_daemon();
    let ok = env.run_cli(&["ask", "hello"], None).await;
    assert_eq!(ok.code, 0, "{}", ok.stderr);
    let id = ok.session_id();
    daemon.kill9();

    // A newer daemon wrote an event type this build does not know; a bad copy repeated a line.
    let path = env.sessions_dir().join(&id).join("events.jsonl");
    let text = std::fs::read_to_string(&path).unwrap();
    let last = text.lines().count() as u64;
    let second = text.lines().nth(1).unwrap().to_owned();
    let future = format!(
        r#"{{"seq":{},"session_id":"{id}","time":"2030-01-01T00:00:00.000Z","type":"session.forked","into":"x"}}"#,
        last + 1
    );
    std::fs::write(&path, format!("{text}{future}\n{second}\n")).unwrap();

    let _daemon = env.start_daemon();
    let list = env.run_cli(&["sessions", "list", "--json"], None).await;
    assert_eq!(list.code, 0, "{}", list.stderr);
    assert!(
        list.json_lines()
            .iter()
            .any(|s| s["session_id"] == id.as_str())
    );
    let again = env.run_cli(&["ask", "--session", &id, "more"], None).await;
    assert_eq!(again.code, 0, "{}", again.stderr);

    let show = env
        .run_cli(&["sessions", "show", &id, "--json"], None)
        .await;
    assert_eq!(show.code, 0, "{}", show.stderr);
    let seqs: Vec<u64> = show.json_lines()[1..]
        .iter()
        .map(|e| e["seq"].as_u64().unwrap())
        .collect();
    // Each seq once, in order; the unknown one skipped; new events after it, never reusing it.
    assert!(seqs.windows(2).all(|w| w[1] > w[0]), "{seqs:?}");
    assert!(!seqs.contains(&(last + 1)), "{seqs:?}");
    assert_eq!(seqs.iter().filter(|&&s| s > last).min(), Some(&(last + 2)));
    // The unknown line stays in the file for the daemon that understands it.
    assert!(
        std::fs::read_to_string(&path)
            .unwrap()
            .contains("session.forked")
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sessions_whose_meta_json_is_missing_or_corrupt_stay_listed_with_their_project() {
    let (env, _mock) = env_with_mock(&[]).await;
    let mut daemon = env.start_daemon();
    let a = env.run_cli(&["ask", "fix the parser\nplease"], None).await;
    let b = env.run_cli(&["ask", "write docs"], None).await;
    assert_eq!((a.code, b.code), (0, 0), "{}{}", a.stderr, b.stderr);
    let (a, b) = (a.session_id(), b.session_id());
    daemon.kill9();
    std::fs::remove_file(env.sessions_dir().join(&a).join("meta.json")).unwrap();
    std::fs::write(
        env.sessions_dir().join(&b).join("meta.json"),
        "{\"session_id\":",
    )
    .unwrap();

    let _daemon = env.start_daemon();
    let list = env.run_cli(&["sessions", "list", "--json"], None).await;
    assert_eq!(list.code, 0, "{}", list.stderr);
    // `ask` without --project works in its current directory.
    let project = std::fs::canonicalize(env.root().join("cwd"))
        .unwrap()
        .display()
        .to_string();
    let mut found: Vec<(String, String, String)> = list
        .json_lines()
        .iter()
        .map(|s| {
            (
                s["session_id"].as_str().unwrap().to_owned(),
                s["project_path"].as_str().unwrap().to_owned(),
                s["title"].as_str().unwrap_or("").to_owned(),
            )
        })
        .collect();
    found.sort();
    let mut want = vec![
        (a.clone(), project.clone(), "fix the parser".to_owned()),
        (b.clone(), project.clone(), "write docs".to_owned()),
    ];
    want.sort();
    assert_eq!(found, want);

    // Opening the session writes the rebuilt metadata back.
    let show = env.run_cli(&["sessions", "show", &a], None).await;
    assert_eq!(show.code, 0, "{}", show.stderr);
    assert!(show.stdout.contains("fix the parser"), "{}", show.stdout);
    let meta: Value = serde_json::from_slice(
        &std::fs::read(env.sessions_dir().join(&a).join("meta.json")).unwrap(),
    )
    .unwrap();
    assert_eq!(meta["project_path"], project.as_str());
}

/// Reads `botcoder watch --json` until a `turn.completed` arrives; returns those lines.
async fn watch_until_completed(env: &TestEnv, id: &str) -> Vec<Value> {
    let mut cmd = tokio::process::Command::from(env.cli(&["watch", id, "--json"]));
    cmd.stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .kill_on_drop(true);
    let mut child = cmd.spawn().unwrap();
    let mut lines = BufReader::new(child.stdout.take().unwrap()).lines();
    let mut out = Vec::new();
    tokio::time::timeout(Duration::from_secs(60), async {
        while let Some(line) = lines.next_line().await.unwrap() {
            let v: Value = serde_json::from_str(&line).unwrap();
            let done = v["type"] == "turn.completed";
            out.push(v);
            if done {
                return;
            }
        }
        panic!("watch ended before turn.completed: {:?}", out.last());
    })
    .await
    .expect("watch did not show the turn within 60 s");
    let _ = child.kill().await;
    out
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_six_megabyte_reply_is_cut_to_fit_so_show_and_watch_keep_working() {
    let (env, mock) = env_with_mock(&[]).await;
    let _daemon = env.start_daemon();
    let chunk = format!("{}\n", "x".repeat(64 * 1024 - 1));
    // 6.5 MB: past what one event may hold (4 MiB), within the reply cap (8 MiB).
    let pieces: Vec<&str> = std::iter::repeat_n(chunk.as_str(), 100).collect();
    mock.push(MockResponse::text_chunks(&pieces));
    let out = env
        .run_cli_timeout(&["ask", "flood me"], None, Duration::from_secs(120))
        .await;
    assert_eq!(out.code, 0, "{}", out.stderr);
    // The live answer was whole: every streamed piece arrived.
    assert!(out.stdout.len() >= 100 * 64 * 1024, "{}", out.stdout.len());
    let id = out.session_id();

    let show = env
        .run_cli_timeout(
            &["sessions", "show", &id, "--json"],
            None,
            Duration::from_secs(60),
        )
        .await;
    assert_eq!(show.code, 0, "{}", show.stderr);
    let events = show.json_lines();
    let reply = events
        .iter()
        .find(|e| e["type"] == "assistant.message")
        .expect("assistant.message");
    let text = reply["text"].as_str().unwrap();
    assert!(text.contains("bytes cut"), "{}", &text[..100]);
    assert!(
        serde_json::to_string(reply).unwrap().len() < MAX_MESSAGE_BYTES as usize / 2,
        "the journaled event must leave room in a message"
    );
    assert_eq!(last_completed(&events)["status"], "completed");
    let human = env
        .run_cli_timeout(&["sessions", "show", &id], None, Duration::from_secs(60))
        .await;
    assert_eq!(human.code, 0, "{}", human.stderr);

    let watched = watch_until_completed(&env, &id).await;
    assert!(watched.iter().any(|e| e["type"] == "assistant.message"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn escape_sequences_from_titles_and_replies_are_printed_escaped() {
    let (env, mock) = env_with_mock(&[]).await;
    let _daemon = env.start_daemon();
    // The hostile model: retitle the window, clear the screen, reverse the text.
    let hostile = "ok \x1b]0;pwned\x07 then \x1b[2J gone\rOVER \u{202e}gnp.exe \u{9b}31m";
    mock.push(MockResponse::text_chunks(&[hostile]));
    let out = env.run_cli(&["ask", "hi"], None).await;
    assert_eq!(out.code, 0, "{}", out.stderr);
    for raw in ['\x1b', '\x07', '\r', '\u{202e}', '\u{9b}'] {
        assert!(!out.stdout.contains(raw), "{raw:?} in {:?}", out.stdout);
    }
    assert!(
        out.stdout
            .contains("ok \\e]0;pwned\\x07 then \\e[2J gone\\rOVER \\u{202e}gnp.exe"),
        "{:?}",
        out.stdout
    );
    let id = out.session_id();

    // A hostile client (or project tool) sets a title with an OSC 52 clipboard write.
    let c = env.client("hostile").await;
    let evil_title = "notes\x1b]52;c;cm0gLXJmIH4=\x07\nsecond line";
    let created = c
        .call::<SessionCreate>(&SessionCreateParams {
            project_path: env.project.display().to_string(),
            title: Some(evil_title.into()),
            approval: Some(ApprovalPolicy::Ask),
            ..Default::default()
        })
        .await
        .unwrap();
    let evil = created.session_id.to_string();
    let list = env.run_cli(&["sessions", "list"], None).await;
    assert_eq!(list.code, 0, "{}", list.stderr);
    assert!(!list.stdout.contains('\x1b'), "{:?}", list.stdout);
    // The daemon already turned the title's control characters into spaces when it was
    // created; either way nothing raw reaches the terminal.
    assert!(!list.stdout.contains('\x07'), "{:?}", list.stdout);
    assert!(
        list.stdout
            .lines()
            .any(|l| l.contains("notes") && l.contains("second line")),
        "{:?}",
        list.stdout
    );
    // One line per session: the title's newline did not make a row of its own.
    assert_eq!(list.stdout.lines().count(), 3, "{}", list.stdout);
    for args in [
        vec!["sessions", "show", evil.as_str()],
        vec!["sessions", "show", id.as_str()],
    ] {
        let show = env.run_cli(&args, None).await;
        assert_eq!(show.code, 0, "{}", show.stderr);
        assert!(!show.stdout.contains('\x1b') && !show.stdout.contains('\u{202e}'));
    }

    // Honest path: --json keeps the data exact (JSON-escaped), and plain text prints as is.
    mock.push(MockResponse::text_chunks(&[hostile]));
    let json = env
        .run_cli(&["ask", "--session", &id, "--json", "again"], None)
        .await;
    assert!(!json.stdout.contains('\x1b'));
    let reply = json
        .json_lines()
        .into_iter()
        .find(|e| e["type"] == "assistant.message")
        .unwrap();
    assert_eq!(reply["text"], hostile);
    mock.push(MockResponse::text("plain\n\ttabbed – ünïcode ✓"));
    let plain = env.run_cli(&["ask", "--session", &id, "nice"], None).await;
    assert_eq!(plain.stdout, "plain\n\ttabbed – ünïcode ✓\n");
}
