//! `botcoder watch` (replay then live, resume across a daemon restart, 130 on Ctrl-C) and
//! Ctrl-C during `botcoder ask` (exit 130, the turn is cancelled in the daemon).

// Test code: a failed expectation is a failed test.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::process::Stdio;
use std::time::Duration;

use botcoder_tests::harness::TestEnv;
use botcoder_tests::mock_llm::{MockLlm, MockResponse};
use tokio::io::AsyncBufReadExt;

fn sigint(child: &tokio::process::Child) {
    let pid = rustix::process::Pid::from_raw(child.id().unwrap() as i32).unwrap();
    rustix::process::kill_process(pid, rustix::process::Signal::INT).unwrap();
}

/// Reads stdout lines until one satisfies `pred`.
async fn wait_line(
    lines: &mut tokio::io::Lines<tokio::io::BufReader<tokio::process::ChildStdout>>,
    mut pred: impl FnMut(&str) -> bool,
) -> Vec<String> {
    let mut seen = Vec::new();
    let found = tokio::time::timeout(Duration::from_secs(20), async {
        while let Ok(Some(l)) = lines.next_line().await {
            let hit = pred(&l);
            seen.push(l);
            if hit {
                return true;
            }
        }
        false
    })
    .await;
    assert!(
        matches!(found, Ok(true)),
        "never saw the expected line; got {seen:?}"
    );
    seen
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn watch_replays_tails_resumes_after_a_restart_and_exits_130() {
    let mock = MockLlm::start().await.unwrap();
    mock.set_default(MockResponse::text("reply"));
    let mut env = TestEnv::new();
    env.use_mock(&mock);
    let mut daemon = env.start_daemon();
    let first = env.ask(&[], "first").await;
    let id = first.session_id();

    let mut watch = tokio::process::Command::from(env.cli(&["watch", "--json", &id]))
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .kill_on_drop(true)
        .spawn()
        .unwrap();
    let mut lines = tokio::io::BufReader::new(watch.stdout.take().unwrap()).lines();
    // Replay: the first turn, from seq 1.
    let replay = wait_line(&mut lines, |l| l.contains("\"turn.completed\"")).await;
    assert!(
        replay[0].contains("\"seq\":1,") && replay[0].contains("session.created"),
        "{replay:?}"
    );
    // Live: a turn sent by another client.
    env.run_cli(&["ask", "--session", &id, "second"], None)
        .await;
    let live = wait_line(&mut lines, |l| l.contains("\"turn.completed\"")).await;
    assert!(
        live.iter().any(|l| l.contains("\"text\":\"second\"")),
        "{live:?}"
    );
    // The daemon restarts; the watcher reconnects and resumes without gaps or duplicates.
    daemon.kill9();
    let _daemon = env.start_daemon();
    env.run_cli(&["ask", "--session", &id, "third"], None).await;
    let resumed = wait_line(&mut lines, |l| l.contains("\"turn.completed\"")).await;
    let mut seqs: Vec<u64> = replay
        .iter()
        .chain(&live)
        .chain(&resumed)
        .filter_map(|l| serde_json::from_str::<serde_json::Value>(l).ok()?["seq"].as_u64())
        .collect();
    let n = seqs.len() as u64;
    seqs.dedup();
    assert_eq!(seqs, (1..=n).collect::<Vec<_>>(), "gap or duplicate");
    sigint(&watch);
    let status = tokio::time::timeout(Duration::from_secs(10), watch.wait())
        .await
        .unwrap()
        .unwrap();
    assert_eq!(status.code(), Some(130));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn ctrl_c_during_ask_exits_130_and_cancels_the_turn() {
    let mock = MockLlm::start().await.unwrap();
    mock.push(MockResponse::tokens(2000).with_delay(Duration::from_millis(10)));
    let mut env = TestEnv::new();
    env.use_mock(&mock);
    let _d = env.start_daemon();
    let mut ask = tokio::process::Command::from(env.cli(&[
        "ask",
        "--json",
        "--project",
        &env.project.display().to_string(),
        "long",
    ]))
    .stdout(Stdio::piped())
    .stderr(Stdio::piped())
    .kill_on_drop(true)
    .spawn()
    .unwrap();
    let mut lines = tokio::io::BufReader::new(ask.stdout.take().unwrap()).lines();
    let seen = wait_line(&mut lines, |l| l.contains("assistant.delta")).await;
    let session = serde_json::from_str::<serde_json::Value>(&seen[0]).unwrap()["session_id"]
        .as_str()
        .unwrap()
        .to_owned();
    sigint(&ask);
    let rest = wait_line(&mut lines, |l| l.contains("\"turn.completed\"")).await;
    assert!(
        rest.last().unwrap().contains("\"status\":\"cancelled\""),
        "{:?}",
        rest.last()
    );
    let status = tokio::time::timeout(Duration::from_secs(10), ask.wait())
        .await
        .unwrap()
        .unwrap();
    assert_eq!(status.code(), Some(130));
    let show = env
        .run_cli(&["sessions", "show", "--json", &session], None)
        .await;
    let last = show.json_lines().pop().unwrap();
    assert_eq!(
        (last["type"].as_str(), last["status"].as_str()),
        (Some("turn.completed"), Some("cancelled"))
    );
}
