//! The file tools against a hostile model and project (issue 11 item 7, issue 12 items 2-3):
//! a FIFO and a 4 GB sparse file in the project must give prompt tool errors without the
//! daemon's memory growing, and `turn.cancel` during a long search must end the turn at once
//! and stop the work, next to the honest reads and searches still working.

// Test code: a failed expectation is a failed test.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::time::{Duration, Instant};

use botcoder_protocol::client::DaemonClient;
use botcoder_protocol::methods::{TurnCancel, TurnCancelParams};
use botcoder_protocol::{ApprovalPolicy, Event, EventBody, SessionId, TurnStatus};
use botcoder_tests::events::{collect_until, until_turns_completed};
use botcoder_tests::harness::{DaemonProcess, TestEnv};
use botcoder_tests::mock_llm::{MockLlm, MockResponse};
use botcoder_tests::session;

const T: Duration = Duration::from_secs(30);

async fn setup() -> (TestEnv, MockLlm, DaemonProcess) {
    let (env, mock) = botcoder_tests::harness::env_with_mock(&[]).await;
    std::fs::write(env.project.join("a.txt"), "alpha\nbeta\ngamma\n").expect("fixture");
    let daemon = env.start_daemon();
    (env, mock, daemon)
}

async fn session(c: &DaemonClient, env: &TestEnv) -> SessionId {
    botcoder_tests::session::create(c, &env.project, ApprovalPolicy::Auto).await
}

fn last_status(events: &[Event]) -> TurnStatus {
    match &events.last().expect("events").body {
        EventBody::TurnCompleted { status, .. } => *status,
        other => panic!("last event is not turn.completed: {other:?}"),
    }
}

/// A line of /proc/<pid>/status, in kB.
fn proc_kb(pid: u32, key: &str) -> u64 {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).expect("status");
    status
        .lines()
        .find_map(|l| l.strip_prefix(key))
        .and_then(|v| v.split_whitespace().next()?.parse().ok())
        .unwrap_or(0)
}

/// User + system CPU time of a process, in clock ticks.
fn cpu_ticks(pid: u32) -> u64 {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).expect("stat");
    let after = stat.rsplit_once(')').map(|(_, r)| r).unwrap_or_default();
    let fields: Vec<&str> = after.split_whitespace().collect();
    fields[11].parse::<u64>().unwrap_or(0) + fields[12].parse::<u64>().unwrap_or(0)
}

fn mkfifo(path: &std::path::Path) {
    rustix::fs::mknodat(
        rustix::fs::CWD,
        path,
        rustix::fs::FileType::Fifo,
        rustix::fs::Mode::from_raw_mode(0o644),
        0,
    )
    .expect("mkfifo");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_hostile_model_reading_a_fifo_and_a_4gb_sparse_file_gets_prompt_errors() {
    let (env, mock, daemon) = setup().await;
    mkfifo(&env.project.join("pipe"));
    let f = std::fs::File::create(env.project.join("disk.img")).expect("sparse");
    f.set_len(4 << 30).expect("sparse");
    // 12 KB of text first, then a 4 GB hole: not binary by its first 8 KB, too large to load.
    let mut log = std::fs::File::create(env.project.join("huge.log")).expect("log");
    let head = format!("needle at the start\n{}", "filler line\n".repeat(1000));
    std::io::Write::write_all(&mut log, head.as_bytes()).expect("log");
    log.set_len(4 << 30).expect("log");
    mock.push(MockResponse::openai_tool_calls(
        &[
            ("c1", "read_file", r#"{"path":"pipe"}"#),
            ("c2", "read_file", r#"{"path":"disk.img"}"#),
            ("c3", "read_file", r#"{"path":"huge.log","limit":1}"#),
            ("c4", "search", r#"{"pattern":"needle"}"#),
            (
                "c5",
                "edit_file",
                r#"{"path":"huge.log","old":"needle","new":"pin"}"#,
            ),
            ("c6", "read_file", r#"{"path":"a.txt"}"#),
        ],
        3,
    ));
    mock.push(MockResponse::text("checked"));
    let c = env.client("t").await;
    let id = session(&c, &env).await;
    let mut sub = session::subscribe(&c, &id, None).await;
    let started = Instant::now();
    session::send(&c, &id, "read everything").await;
    let events = until_turns_completed(&mut sub, 1, T).await;
    let took = started.elapsed();
    assert_eq!(last_status(&events), TurnStatus::Completed);
    eprintln!(
        "hostile turn: {took:?}, daemon peak RSS {} kB",
        proc_kb(daemon.pid(), "VmHWM:")
    );
    assert!(took < Duration::from_secs(5), "the turn took {took:?}");
    let res = session::tool_results(&events);
    assert_eq!(res.len(), 6, "{res:?}");
    assert!(!res[0].0 && res[0].1.contains("FIFO"), "{:?}", res[0]);
    assert!(!res[1].0 && res[1].1.contains("binary"), "{:?}", res[1]);
    assert_eq!(
        res[2],
        (
            true,
            "     1\tneedle at the start\n[4294967296 bytes in all; read more with offset 2]\n"
                .to_owned()
        )
    );
    // Both 4 GB files are skipped by their size; the FIFO is not a file to the walk.
    assert_eq!(
        res[3],
        (
            true,
            "no matches for \"needle\"\n[2 files over 10 MB not searched]".to_owned()
        )
    );
    assert!(
        !res[4].0 && res[4].1.contains("up to 10.0 MB"),
        "{:?}",
        res[4]
    );
    // The honest read in the same turn still works.
    assert!(
        res[5].0 && res[5].1.contains("     2\tbeta"),
        "{:?}",
        res[5]
    );
    let peak_kb = proc_kb(daemon.pid(), "VmHWM:");
    assert!(peak_kb < 256 * 1024, "daemon peak RSS {peak_kb} kB");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn turn_cancel_during_a_long_search_ends_the_turn_and_the_work_promptly() {
    let (env, mock, daemon) = setup().await;
    // A big tree at little disk cost: 2,000 sparse 9 MB files (each under the 10 MB search
    // cap, text in its first 8 KB so it is not skipped as binary), 18 GB to scan in all.
    let text = "some text\n".repeat(900);
    let tree = env.project.join("tree");
    for d in 0..20 {
        let dir = tree.join(format!("d{d:02}"));
        std::fs::create_dir_all(&dir).expect("dir");
        for i in 0..100 {
            let path = dir.join(format!("f{i:03}.txt"));
            let mut f = std::fs::File::create(&path).expect("file");
            std::io::Write::write_all(&mut f, text.as_bytes()).expect("file");
            f.set_len(9 << 20).expect("file");
        }
    }
    mock.push(MockResponse::openai_tool_calls(
        &[("c1", "search", r#"{"pattern":"never-there"}"#)],
        0,
    ));
    let c = env.client("t").await;
    let id = session(&c, &env).await;
    let mut sub = session::subscribe(&c, &id, None).await;
    session::send(&c, &id, "search").await;
    collect_until(&mut sub, T, |e| {
        matches!(e.body, EventBody::ToolCall { .. })
    })
    .await;
    // Let the search get going (and show that it is busy).
    tokio::time::sleep(Duration::from_millis(500)).await;
    let started = Instant::now();
    c.call::<TurnCancel>(&TurnCancelParams {
        session_id: id.clone(),
        turn_id: None,
    })
    .await
    .expect("cancel");
    let events = until_turns_completed(&mut sub, 1, T).await;
    let took = started.elapsed();
    assert_eq!(last_status(&events), TurnStatus::Cancelled);
    eprintln!("turn.cancel to turn.completed: {took:?}");
    assert!(took < Duration::from_millis(700), "cancel took {took:?}");
    let res = session::tool_results(&events);
    assert!(
        res.iter().all(|(ok, out)| !ok && out.contains("cancelled")),
        "{res:?}"
    );
    // The work itself stopped: the daemon goes idle (a few ticks of 10 ms at most).
    tokio::time::sleep(Duration::from_millis(200)).await;
    let before = cpu_ticks(daemon.pid());
    tokio::time::sleep(Duration::from_millis(1000)).await;
    let burnt = cpu_ticks(daemon.pid()) - before;
    assert!(
        burnt < 20,
        "the daemon kept working after cancel: {burnt} ticks in 1 s"
    );

    // The honest path: a search that finds something, in a new turn of the same session.
    std::fs::write(env.project.join("tree/found.txt"), "the needle\n").expect("fixture");
    std::fs::remove_dir_all(env.project.join("tree/d00")).expect("shrink");
    mock.push(MockResponse::openai_tool_calls(
        &[(
            "c2",
            "search",
            r#"{"pattern":"needle","path":"tree","glob":"found.txt"}"#,
        )],
        0,
    ));
    mock.push(MockResponse::text("found"));
    session::send(&c, &id, "search again").await;
    let events = until_turns_completed(&mut sub, 1, T).await;
    assert_eq!(last_status(&events), TurnStatus::Completed);
    let res = session::tool_results(&events);
    assert_eq!(
        res.last().cloned(),
        Some((true, "tree/found.txt:1: the needle\n[1 matches]".to_owned()))
    );
}
