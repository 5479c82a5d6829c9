//! The session registry under stress: a turn wedged in something that ignores cancellation
//! stalls nothing else (its cancel really ends it, its delete answers promptly), and
//! sessions nobody uses are unloaded and come back on demand, invisibly (issue 12, items 4
//! and 8).

// Test code: a failed expectation is a failed test.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::path::Path;
use std::time::{Duration, Instant};

use botcoder_protocol::client::DaemonClient;
use botcoder_protocol::methods::{
    DaemonStatus, DaemonStatusResult, Empty, SessionDelete, SessionGet, SessionHistory,
    SessionHistoryParams, SessionList, SessionListParams, SessionRef, SessionSend,
    SessionSendParams, TurnCancel, TurnCancelParams,
};
use botcoder_protocol::{ApprovalPolicy, ErrorKind, Event, EventBody, SessionId, TurnStatus};
use botcoder_tests::events::{collect_until, until_turns_completed};
use botcoder_tests::harness::{DaemonProcess, TestEnv};
use botcoder_tests::mock_llm::{MockLlm, MockResponse};
use botcoder_tests::session;
use pretty_assertions::assert_eq;

const T: Duration = Duration::from_secs(30);
/// What "keeps answering" means while a turn is wedged.
const PROMPT: Duration = Duration::from_secs(1);

async fn setup(vars: &[(&str, &str)]) -> (TestEnv, MockLlm, DaemonProcess) {
    botcoder_tests::harness::daemon_with_mock(vars).await
}

async fn create(c: &DaemonClient, env: &TestEnv) -> SessionId {
    botcoder_tests::session::create(c, &env.project, ApprovalPolicy::Auto).await
}

async fn send(c: &DaemonClient, id: &SessionId, text: &str) -> u64 {
    let p = SessionSendParams {
        session_id: id.clone(),
        text: text.into(),
        approval: None,
        env: Default::default(),
    };
    c.call::<SessionSend>(&p).await.expect("send").seq
}

async fn status(c: &DaemonClient) -> DaemonStatusResult {
    c.call::<DaemonStatus>(&Empty {}).await.expect("status")
}

fn sref(id: &SessionId) -> SessionRef {
    SessionRef {
        session_id: id.clone(),
    }
}

/// Runs `f` and fails the test unless it answers within [`PROMPT`].
async fn within<F: std::future::Future>(what: &str, f: F) -> F::Output {
    let started = Instant::now();
    let out = tokio::time::timeout(PROMPT, f)
        .await
        .unwrap_or_else(|_| panic!("{what} did not answer within {PROMPT:?}"));
    assert!(
        started.elapsed() < PROMPT,
        "{what} took {:?}",
        started.elapsed()
    );
    out
}

/// Every RPC that used to queue behind the registry lock answers promptly, for the wedged
/// session and for another one.
async fn everything_answers(
    c: &DaemonClient,
    env: &TestEnv,
    wedged: &SessionId,
    other: &SessionId,
) {
    within("session.get (wedged)", c.call::<SessionGet>(&sref(wedged)))
        .await
        .expect("get wedged");
    others_answer(c, env, other).await;
}

/// [`everything_answers`] but for the wedged session itself (which may be being deleted).
async fn others_answer(c: &DaemonClient, env: &TestEnv, other: &SessionId) {
    within("daemon.status", c.call::<DaemonStatus>(&Empty {}))
        .await
        .expect("status");
    within(
        "session.list",
        c.call::<SessionList>(&SessionListParams { project_path: None }),
    )
    .await
    .expect("list");
    within("session.get (other)", c.call::<SessionGet>(&sref(other)))
        .await
        .expect("get other");
    within("session.create", create(c, env)).await;
}

/// Subscribes to `id` live and starts a turn whose model asks for `tool(args)`; returns the
/// subscription once the tool call is announced.
async fn start_wedged_turn(
    c: &DaemonClient,
    mock: &MockLlm,
    id: &SessionId,
    tool: &str,
    args: &str,
) -> botcoder_protocol::client::Subscription<Event> {
    mock.push(MockResponse::openai_tool_calls(
        &[("call_1", tool, args)],
        3,
    ));
    let mut sub = session::subscribe(c, id, None).await;
    send(c, id, "go").await;
    collect_until(&mut sub, T, |e| {
        matches!(e.body, EventBody::ToolCall { .. })
    })
    .await;
    sub
}

fn mkfifo(path: &Path) {
    let ok = std::process::Command::new("mkfifo")
        .arg(path)
        .status()
        .expect("mkfifo")
        .success();
    assert!(ok, "mkfifo {}", path.display());
}

/// The reproduction from issue 12: `read_file` on a FIFO blocked in `open(2)`; `turn.cancel`
/// said "cancelled" but the turn ran on, and every RPC hung behind the session lock. Now the
/// FIFO is refused at once, every RPC answers meanwhile, and the session stays usable (a tool
/// that really ignores its cancel is the next test).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_fifo_in_the_project_stalls_no_rpc_and_the_turn_ends() {
    let (env, mock, _d) = setup(&[]).await;
    mkfifo(&env.project.join("pipe"));
    let c = env.client("t").await;
    let other = create(&c, &env).await;
    let id = create(&c, &env).await;
    let started = Instant::now();
    let mut sub = start_wedged_turn(&c, &mock, &id, "read_file", r#"{"path":"pipe"}"#).await;
    everything_answers(&c, &env, &id, &other).await;
    let rest = until_turns_completed(&mut sub, 1, Duration::from_secs(6)).await;
    assert!(
        started.elapsed() < Duration::from_secs(5),
        "{:?}",
        started.elapsed()
    );
    let refused = rest.iter().any(|e| {
        matches!(&e.body, EventBody::ToolResult { ok: false, output, .. } if output.contains("FIFO") || output.contains("not a regular file"))
    });
    assert!(refused, "{rest:?}");
    // The session is usable again.
    send(&c, &id, "again").await;
    until_turns_completed(&mut sub, 1, T).await;
    everything_answers(&c, &env, &id, &other).await;
}

/// A tool that ignores cancellation entirely (a test-only tool of debug builds): the
/// delete of its session answers within about a second, nothing else waits meanwhile, and
/// the files go once the turn has been abandoned.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn deleting_a_wedged_session_answers_promptly_and_blocks_nobody() {
    let (env, mock, _d) = setup(&[("BOTCODER_TEST_WEDGE_TOOL", "1")]).await;
    let c = env.client("t").await;
    let c2 = env.client("t2").await;
    let other = create(&c, &env).await;
    let id = create(&c, &env).await;
    let _sub = start_wedged_turn(&c, &mock, &id, "test_wedge", r#"{"seconds":30}"#).await;
    let deleting = async {
        let started = Instant::now();
        c.call::<SessionDelete>(&sref(&id)).await.expect("delete");
        started.elapsed()
    };
    let meanwhile = async {
        tokio::time::sleep(Duration::from_millis(100)).await;
        // The wedged session itself answers too: found or already gone, never stuck.
        let _ = within("session.get (deleting)", c2.call::<SessionGet>(&sref(&id))).await;
        others_answer(&c2, &env, &other).await;
    };
    let (took, ()) = tokio::join!(deleting, meanwhile);
    assert!(
        took < Duration::from_secs(3),
        "session.delete took {took:?}"
    );
    // Gone for everyone at once, though its turn is still being stopped.
    let err = c.call::<SessionGet>(&sref(&id)).await.expect_err("deleted");
    assert_eq!(err.kind(), Some(ErrorKind::SessionNotFound), "{err}");
    let listed = c
        .call::<SessionList>(&SessionListParams { project_path: None })
        .await
        .expect("list");
    assert!(listed.sessions.iter().all(|s| s.session_id != id));
    let dir = env.sessions_dir().join(id.as_str());
    let deadline = Instant::now() + Duration::from_secs(10);
    while dir.exists() && Instant::now() < deadline {
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert!(!dir.exists(), "{} still exists", dir.display());
    // The honest path: another session still runs turns.
    let mut sub = session::subscribe(&c, &other, None).await;
    send(&c, &other, "hello").await;
    let events = until_turns_completed(&mut sub, 1, T).await;
    assert!(matches!(
        events.last().map(|e| &e.body),
        Some(EventBody::TurnCompleted {
            status: TurnStatus::Completed,
            ..
        })
    ));
}

/// `turn.cancel` on a tool that ignores it: the call is abandoned after the grace with an
/// error result, the turn closes as cancelled, and the next turn runs.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_tool_ignoring_the_cancel_is_abandoned_and_the_turn_closes_cancelled() {
    let (env, mock, _d) = setup(&[("BOTCODER_TEST_WEDGE_TOOL", "1")]).await;
    let c = env.client("t").await;
    let id = create(&c, &env).await;
    let mut sub = start_wedged_turn(&c, &mock, &id, "test_wedge", r#"{"seconds":30}"#).await;
    let cancel = TurnCancelParams {
        session_id: id.clone(),
        turn_id: None,
    };
    assert!(
        c.call::<TurnCancel>(&cancel)
            .await
            .expect("cancel")
            .cancelled
    );
    let started = Instant::now();
    let events = until_turns_completed(&mut sub, 1, Duration::from_secs(6)).await;
    assert!(
        started.elapsed() < Duration::from_secs(5),
        "{:?}",
        started.elapsed()
    );
    let result = events.iter().find_map(|e| match &e.body {
        EventBody::ToolResult { ok, output, .. } => Some((*ok, output.clone())),
        _ => None,
    });
    let (ok, output) = result.expect("a tool.result");
    assert!(!ok && output.contains("did not stop"), "{output}");
    match &events.last().expect("events").body {
        EventBody::TurnCompleted { status, .. } => assert_eq!(*status, TurnStatus::Cancelled),
        other => panic!("{other:?}"),
    }
    send(&c, &id, "again").await;
    let next = until_turns_completed(&mut sub, 1, T).await;
    assert!(matches!(
        next.last().map(|e| &e.body),
        Some(EventBody::TurnCompleted {
            status: TurnStatus::Completed,
            ..
        })
    ));
}

fn rss_kib(pid: u32) -> u64 {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).expect("proc status");
    status
        .lines()
        .find_map(|l| l.strip_prefix("VmRSS:"))
        .and_then(|v| v.split_whitespace().next())
        .and_then(|v| v.parse().ok())
        .expect("VmRSS")
}

async fn wait_loaded(c: &DaemonClient, at_most: u64, timeout: Duration) -> DaemonStatusResult {
    let deadline = Instant::now() + timeout;
    loop {
        let st = status(c).await;
        if st.loaded_sessions <= at_most || Instant::now() > deadline {
            return st;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

/// Durable events of `id`, checked to be seq 1..=n with no gap.
async fn history(c: &DaemonClient, id: &SessionId) -> Vec<Event> {
    let p = SessionHistoryParams {
        session_id: id.clone(),
        after_seq: 0,
        limit: None,
    };
    let events = c.call::<SessionHistory>(&p).await.expect("history").events;
    let seqs: Vec<u64> = events.iter().filter_map(|e| e.seq).collect();
    assert_eq!(seqs, (1..=events.len() as u64).collect::<Vec<_>>());
    events
}

/// With an idle time of one second, 200 sessions are unloaded, `daemon.status` says so, the
/// daemon's memory does not grow with them, and a session comes back intact: same history,
/// seq continues.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn idle_sessions_are_unloaded_and_come_back_intact() {
    let (env, mock, d) = setup(&[("BOTCODER_SESSION_IDLE_S", "1")]).await;
    let c = env.client("t").await;
    let first = create(&c, &env).await;
    let mut sub = session::subscribe(&c, &first, None).await;
    send(&c, &first, "hello").await;
    until_turns_completed(&mut sub, 1, T).await;
    let before = history(&c, &first).await;
    for _ in 0..199 {
        create(&c, &env).await;
    }
    let st = status(&c).await;
    assert_eq!(st.sessions, 200);
    assert!(st.loaded_sessions > 1, "{st:?}");
    // A subscriber keeps its session loaded past the idle time.
    let st = wait_loaded(&c, 1, Duration::from_secs(10)).await;
    assert_eq!((st.sessions, st.loaded_sessions), (200, 1));
    let info = c.call::<SessionGet>(&sref(&first)).await.expect("get");
    assert_eq!(info.last_seq, before.len() as u64);
    drop(sub);
    let st = wait_loaded(&c, 0, Duration::from_secs(10)).await;
    assert_eq!((st.sessions, st.loaded_sessions), (200, 0));
    let rss_unloaded = rss_kib(d.pid());
    // Back on demand: same history, and the next message continues the seq.
    let seq = send(&c, &first, "again").await;
    assert_eq!(seq, before.len() as u64 + 1);
    let mut sub = session::subscribe(&c, &first, Some(0)).await;
    let replayed = until_turns_completed(&mut sub, 2, T).await;
    let after = history(&c, &first).await;
    assert_eq!(after[..before.len()], before[..]);
    assert_eq!(
        replayed.iter().filter(|e| e.seq.is_some()).count(),
        after.len()
    );
    // The conversation was rebuilt on load: the model saw the first turn too.
    let last = mock.requests().last().expect("a request").body["messages"].clone();
    let texts: Vec<&str> = last
        .as_array()
        .expect("messages")
        .iter()
        .filter_map(|m| m["content"].as_str())
        .collect();
    assert!(
        texts.contains(&"hello") && texts.contains(&"again"),
        "{texts:?}"
    );
    // And memory: touching another 200 sessions and letting them go does not grow the daemon.
    drop(sub);
    for _ in 0..200 {
        let id = create(&c, &env).await;
        c.call::<SessionGet>(&sref(&id)).await.expect("get");
    }
    let st = wait_loaded(&c, 0, Duration::from_secs(10)).await;
    assert_eq!((st.sessions, st.loaded_sessions), (400, 0));
    let rss_after = rss_kib(d.pid());
    assert!(
        rss_after < rss_unloaded + 8 * 1024,
        "RSS grew from {rss_unloaded} KiB to {rss_after} KiB over 200 unloaded sessions"
    );
}

/// Sends racing the unloading of their session (idle time zero: it is unloaded the moment
/// nothing uses it) are never lost (I3): every acknowledged message has its turn, and the
/// journal has no gap.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sends_racing_an_unload_are_never_lost() {
    let (env, mock, _d) = setup(&[("BOTCODER_SESSION_IDLE_S", "0")]).await;
    let c = env.client("t").await;
    let id = create(&c, &env).await;
    const N: usize = 40;
    for i in 0..N {
        send(&c, &id, &format!("message {i}")).await;
        // Let the turn finish and the sweeper (every 50 ms) catch the session idle, or not.
        let pause = 20 + (i as u64 * 37) % 90;
        tokio::time::sleep(Duration::from_millis(pause)).await;
    }
    let deadline = Instant::now() + T;
    let events = loop {
        let events = history(&c, &id).await;
        let done = events
            .iter()
            .filter(|e| matches!(e.body, EventBody::TurnCompleted { .. }))
            .count();
        if done >= N || Instant::now() > deadline {
            break events;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    };
    let users: Vec<String> = events
        .iter()
        .filter_map(|e| match &e.body {
            EventBody::UserMessage { text, .. } => Some(text.clone()),
            _ => None,
        })
        .collect();
    assert_eq!(
        users,
        (0..N).map(|i| format!("message {i}")).collect::<Vec<_>>()
    );
    let statuses: Vec<TurnStatus> = events
        .iter()
        .filter_map(|e| match &e.body {
            EventBody::TurnCompleted { status, .. } => Some(*status),
            _ => None,
        })
        .collect();
    assert_eq!(statuses, vec![TurnStatus::Completed; N]);
    assert!(mock.requests().len() >= N);
}
