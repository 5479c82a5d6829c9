//! Hostile input on the socket: the daemon answers with JSON-RPC errors or drops the
//! offender, and keeps serving everyone else. Also: another user is refused, nothing
//! happens before `daemon.hello`, client strings have caps, and a pile of half-open
//! connections neither locks honest clients out nor floods the log.

// Test code: a failed expectation is a failed test.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::time::Duration;

use botcoder_protocol::methods::{
    DaemonStatus, Empty, SessionCreate, SessionCreateParams, SessionList, SessionListParams,
    SessionRename, SessionRenameParams, SessionSend, SessionSendParams,
};
use botcoder_protocol::{ErrorKind, PROTOCOL_VERSION};
use botcoder_tests::harness::{TestEnv, bin};
use botcoder_tests::raw_ws::RawWs;
use pretty_assertions::assert_eq;
use serde_json::json;

/// A raw connection that has said hello (and read the answer).
async fn greeted(env: &TestEnv) -> RawWs {
    let mut ws = RawWs::connect(&env.socket).await.unwrap();
    let hello = json!({"jsonrpc": "2.0", "id": 0, "method": "daemon.hello",
        "params": {"client": "raw", "protocol_version": PROTOCOL_VERSION}});
    ws.send(&hello.to_string()).await.unwrap();
    let answer = tokio::time::timeout(Duration::from_secs(5), ws.recv_json())
        .await
        .unwrap()
        .unwrap();
    assert!(answer.get("result").is_some(), "{answer}");
    ws
}

async fn call_raw(
    ws: &mut RawWs,
    id: u64,
    method: &str,
    params: serde_json::Value,
) -> serde_json::Value {
    let req = json!({"jsonrpc": "2.0", "id": id, "method": method, "params": params});
    ws.send(&req.to_string()).await.unwrap();
    tokio::time::timeout(Duration::from_secs(5), ws.recv_json())
        .await
        .unwrap()
        .expect("an answer")
}

async fn still_serving(env: &TestEnv) {
    let c = env.client("after").await;
    tokio::time::timeout(Duration::from_secs(5), c.call::<DaemonStatus>(&Empty {}))
        .await
        .unwrap()
        .unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn malformed_requests_get_errors_and_the_daemon_keeps_serving() {
    let env = TestEnv::new();
    let _d = env.start_daemon();
    let mut ws = greeted(&env).await;
    let cases = [
        ("not json".to_owned(), -32700),
        (json!({"jsonrpc": "2.0", "id": 1, "method": "no.such"}).to_string(), -32601),
        (json!({"jsonrpc": "2.0", "id": 2, "method": "session.get", "params": [1, 2]}).to_string(), -32602),
        (json!({"jsonrpc": "2.0", "id": 3, "method": "session.get", "params": {"session_id": 5}}).to_string(), -32602),
        (json!({"jsonrpc": "2.0", "id": 4, "method": "session.send", "params": {"session_id": "../x", "text": "t"}}).to_string(), -32001),
        // Deeply nested JSON is read as a batch of one invalid request.
        (format!("{}{}", "[".repeat(10_000), "]".repeat(10_000)), -32600),
        (format!("{}1{}", "{\"a\":".repeat(10_000), "}".repeat(10_000)), -32700),
    ];
    for (req, code) in cases {
        ws.send(&req).await.unwrap();
        let answer = tokio::time::timeout(Duration::from_secs(5), ws.recv_json())
            .await
            .unwrap()
            .expect("an answer");
        let error = if answer.is_array() {
            &answer[0]["error"]
        } else {
            &answer["error"]
        };
        assert_eq!(
            error["code"],
            code,
            "{}: {answer}",
            &req[..req.len().min(60)]
        );
    }
    still_serving(&env).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn oversized_frames_drop_that_client_only() {
    let env = TestEnv::new();
    let _d = env.start_daemon();
    let mut ws = RawWs::connect(&env.socket).await.unwrap();
    let huge = json!({"jsonrpc": "2.0", "id": 1, "method": "session.list", "params": {"project_path": "x".repeat(20 << 20)}}).to_string();
    let _ = ws.send(&huge).await;
    let answer = tokio::time::timeout(Duration::from_secs(10), ws.recv_json())
        .await
        .unwrap();
    if let Some(a) = answer {
        assert!(a.get("error").is_some(), "{a}");
    }
    still_serving(&env).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_thousand_connections_opened_and_dropped() {
    let env = TestEnv::new();
    let _d = env.start_daemon();
    for _ in 0..1000 {
        drop(tokio::net::UnixStream::connect(&env.socket).await.unwrap());
    }
    for _ in 0..50 {
        drop(RawWs::connect(&env.socket).await.unwrap());
    }
    still_serving(&env).await;
}

/// When the tests run as root, a child switched to `nobody` connects to a socket it can
/// reach (permissions opened up for the test) and is refused by the uid check.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn another_user_is_refused() {
    use botcoder_tests::harness::{can_become_nobody, require};
    // The uid check itself is also unit-tested in rpc::auth.
    require("root and setpriv", can_become_nobody());
    let env = TestEnv::new();
    let _d = env.start_daemon();
    use std::os::unix::fs::PermissionsExt;
    for dir in [env.root(), env.socket.parent().unwrap()] {
        std::fs::set_permissions(dir, std::fs::Permissions::from_mode(0o755)).unwrap();
    }
    std::fs::set_permissions(&env.socket, std::fs::Permissions::from_mode(0o777)).unwrap();
    let out = env
        .command(std::path::Path::new("/usr/bin/setpriv"))
        .args(["--reuid=nobody", "--regid=nogroup", "--clear-groups"])
        .arg(bin("botcoder"))
        .args(["daemon", "status"])
        .output()
        .unwrap();
    assert_eq!(
        out.status.code(),
        Some(3),
        "stderr: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    // The log is written by a background thread: give it a moment under load.
    let deadline = std::time::Instant::now() + Duration::from_secs(5);
    let mut log = String::new();
    while std::time::Instant::now() < deadline {
        log = std::fs::read_to_string(env.log_file()).unwrap_or_default();
        if log.contains("refused a connection from uid") {
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert!(log.contains("refused a connection from uid"), "{log}");
    still_serving(&env).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn nothing_happens_before_hello() {
    let env = TestEnv::new();
    let _d = env.start_daemon();
    let mut ws = RawWs::connect(&env.socket).await.unwrap();
    for (i, method) in [
        "session.list",
        "daemon.shutdown",
        "approval.respond",
        "session.subscribe",
    ]
    .iter()
    .enumerate()
    {
        let answer = call_raw(&mut ws, i as u64 + 1, method, json!({})).await;
        assert_eq!(
            answer["error"]["data"]["kind"], "permission_denied",
            "{answer}"
        );
        let message = answer["error"]["message"].as_str().unwrap_or_default();
        assert!(message.contains("call daemon.hello"), "{message}");
    }
    // A hello with a hostile name is refused too, and is no hello.
    let bad = call_raw(
        &mut ws,
        10,
        "daemon.hello",
        json!({"client": "evil\u{1b}[2J\nname", "protocol_version": PROTOCOL_VERSION}),
    )
    .await;
    assert_eq!(bad["error"]["data"]["kind"], "invalid_params", "{bad}");
    let long = call_raw(
        &mut ws,
        11,
        "daemon.hello",
        json!({"client": "n".repeat(65), "protocol_version": PROTOCOL_VERSION}),
    )
    .await;
    assert_eq!(long["error"]["data"]["kind"], "limit_exceeded", "{long}");
    let still = call_raw(&mut ws, 12, "session.list", json!({})).await;
    assert_eq!(
        still["error"]["data"]["kind"], "permission_denied",
        "{still}"
    );
    // After a proper hello the same connection is served.
    let hello = call_raw(
        &mut ws,
        13,
        "daemon.hello",
        json!({"client": "raw", "protocol_version": PROTOCOL_VERSION}),
    )
    .await;
    assert!(hello.get("result").is_some(), "{hello}");
    let list = call_raw(&mut ws, 14, "session.list", json!({})).await;
    assert!(list["result"]["sessions"].is_array(), "{list}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_connection_that_never_says_hello_is_closed() {
    let env = TestEnv::new();
    let _d = env.start_daemon();
    let mut ws = RawWs::connect(&env.socket).await.unwrap();
    let start = std::time::Instant::now();
    let end = tokio::time::timeout(Duration::from_secs(20), ws.recv_json()).await;
    assert!(matches!(end, Ok(None)), "closed, not answered: {end:?}");
    let waited = start.elapsed();
    assert!(
        waited >= Duration::from_secs(8),
        "closed too early: {waited:?}"
    );
    still_serving(&env).await;
}

/// A 9 MiB title used to break `session.list` for everyone. Now over-long strings are
/// refused with the cap in the message, and the listing stays small and working.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn oversized_client_strings_are_refused_with_the_cap() {
    let env = TestEnv::new();
    let _d = env.start_daemon();
    let c = env.client("caps").await;
    let project = env.project.display().to_string();
    let huge = "t".repeat(9 << 20);
    let create = |title: Option<String>| SessionCreateParams {
        project_path: project.clone(),
        title,
        approval: None,
        ..Default::default()
    };
    let err = c
        .call::<SessionCreate>(&create(Some(huge.clone())))
        .await
        .unwrap_err();
    assert_eq!(err.kind(), Some(ErrorKind::LimitExceeded), "{err}");
    assert!(err.to_string().contains("limit is 200 characters"), "{err}");
    let ok = c
        .call::<SessionCreate>(&create(Some("fix\nthe build\u{7}".into())))
        .await
        .unwrap();
    assert_eq!(
        ok.title.as_deref(),
        Some("fix the build"),
        "control characters cleaned"
    );
    let rename = SessionRenameParams {
        session_id: ok.session_id.clone(),
        title: huge.clone(),
    };
    let err = c.call::<SessionRename>(&rename).await.unwrap_err();
    assert_eq!(err.kind(), Some(ErrorKind::LimitExceeded), "{err}");
    let send = SessionSendParams {
        session_id: ok.session_id.clone(),
        text: "m".repeat(2 << 20),
        approval: None,
        env: Default::default(),
    };
    let err = c.call::<SessionSend>(&send).await.unwrap_err();
    assert_eq!(err.kind(), Some(ErrorKind::LimitExceeded), "{err}");
    assert!(err.to_string().contains("1048576 bytes"), "{err}");
    let long_path = SessionCreateParams {
        project_path: format!("/{}", "p/".repeat(3000)),
        title: None,
        approval: None,
        ..Default::default()
    };
    let err = c.call::<SessionCreate>(&long_path).await.unwrap_err();
    assert_eq!(err.kind(), Some(ErrorKind::LimitExceeded), "{err}");
    // Everyone can still list, and the one session is there with its clean title.
    let other = env.client("someone-else").await;
    let list = other
        .call::<SessionList>(&SessionListParams { project_path: None })
        .await
        .unwrap();
    let titles: Vec<Option<String>> = list.sessions.iter().map(|s| s.title.clone()).collect();
    assert_eq!(titles, [Some("fix the build".to_owned())]);
}

/// 1,100 half-open connections (no WebSocket upgrade) used to exhaust the descriptors: every
/// client failed and the log took ~20 "accept failed" lines a second.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn half_open_connections_neither_lock_clients_out_nor_flood_the_log() {
    // Our own descriptor limit must allow the flood.
    let nofile = rustix::process::getrlimit(rustix::process::Resource::Nofile);
    let _ = rustix::process::setrlimit(
        rustix::process::Resource::Nofile,
        rustix::process::Rlimit {
            current: nofile.maximum,
            maximum: nofile.maximum,
        },
    );
    let env = TestEnv::new();
    let d = env.start_daemon();
    still_serving(&env).await;
    let fds = |pid: u32| {
        std::fs::read_dir(format!("/proc/{pid}/fd"))
            .map(|d| d.count())
            .ok()
    };
    let before = fds(d.pid());
    let socket = env.socket.clone();
    let held = tokio::task::spawn_blocking(move || {
        (0..1100)
            .filter_map(|_| std::os::unix::net::UnixStream::connect(&socket).ok())
            .collect::<Vec<_>>()
    });
    let held = tokio::time::timeout(Duration::from_secs(60), held)
        .await
        .unwrap()
        .unwrap();
    assert!(held.len() >= 1000, "opened {}", held.len());
    // An honest client gets in at once and is answered.
    let start = std::time::Instant::now();
    still_serving(&env).await;
    assert!(
        start.elapsed() < Duration::from_secs(3),
        "{:?}",
        start.elapsed()
    );
    // After the handshake timeout (5 s) the daemon holds none of them any more.
    let c = env.client("watcher").await;
    let deadline = std::time::Instant::now() + Duration::from_secs(20);
    loop {
        let open = c.call::<DaemonStatus>(&Empty {}).await.unwrap().connections;
        let now = fds(d.pid());
        let settled = open <= 2 && before.zip(now).is_none_or(|(b, n)| n <= b + 5);
        if settled {
            break;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "still {open} connections, fds {now:?} (before {before:?})"
        );
        tokio::time::sleep(Duration::from_millis(250)).await;
    }
    drop(held);
    let log = std::fs::read_to_string(env.log_file()).unwrap_or_default();
    let about_it = log
        .lines()
        .filter(|l| l.contains("WARN"))
        .collect::<Vec<_>>();
    assert!(
        about_it.len() <= 6,
        "{} warnings:\n{}",
        about_it.len(),
        about_it.join("\n")
    );
    assert!(!log.contains("accept failed"), "{log}");
}
