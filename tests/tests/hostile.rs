//! Hostile input on the socket: the daemon answers with JSON-RPC errors or drops the
//! offender, and keeps serving everyone else. Also: another user is refused.

// Test code: a failed expectation is a failed test.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::time::Duration;

use botcoder_protocol::methods::{DaemonStatus, Empty};
use botcoder_tests::harness::{TestEnv, bin};
use botcoder_tests::raw_ws::RawWs;
use serde_json::json;

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
    let mut ws = RawWs::connect(&env.socket).await.unwrap();
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
    if !rustix::process::getuid().is_root() || !std::path::Path::new("/usr/bin/setpriv").exists() {
        eprintln!("skipped: needs root and setpriv (the uid check is unit-tested in rpc::auth)");
        return;
    }
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
    let log = std::fs::read_to_string(env.log_file()).unwrap_or_default();
    assert!(log.contains("refused a connection from uid"), "{log}");
    still_serving(&env).await;
}
