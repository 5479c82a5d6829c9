//! MCP end to end: the real daemon against the real reference server
//! `@modelcontextprotocol/server-everything` (stdio and Streamable HTTP) and a small fixture
//! server on the same SDK, driven by a scripted mock provider.
//!
//! The server comes from `BOTCODER_TEST_MCP_EVERYTHING` (the path of its
//! `mcp-server-everything` bin, exported by `.ci/run`), else from `.ci/run`'s cache dir. When
//! neither has it the tests fail, saying how to install it.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use botcoder_protocol::client::DaemonClient;
use botcoder_protocol::methods::{McpList, McpListResult, TurnCancel, TurnCancelParams};
use botcoder_protocol::{ApprovalPolicy, Event, EventBody, TurnStatus};
use botcoder_tests::events::{collect_until, until_turns_completed};
use botcoder_tests::harness::{DaemonProcess, TestEnv};
use botcoder_tests::mock_llm::{MockLlm, MockResponse};
use botcoder_tests::session::{self, create, tool_results, turn};
use pretty_assertions::assert_eq;

const T: Duration = Duration::from_secs(60);

/// The server-everything bin (`.ci/run` installs it); the test fails without it.
pub(crate) fn everything() -> PathBuf {
    let from_env = std::env::var_os("BOTCODER_TEST_MCP_EVERYTHING").map(PathBuf::from);
    let cached = std::env::var_os("HOME").map(|h| {
        PathBuf::from(h).join(".cache/botcoder-ci/npm/node_modules/.bin/mcp-server-everything")
    });
    from_env
        .or(cached)
        .filter(|p| p.exists())
        .and_then(|p| p.canonicalize().ok())
        .unwrap_or_else(|| {
            botcoder_tests::harness::missing(
                "@modelcontextprotocol/server-everything (`npm install --prefix \
                 ~/.cache/botcoder-ci/npm @modelcontextprotocol/server-everything`, or \
                 BOTCODER_TEST_MCP_EVERYTHING set to its bin)",
            )
        })
}

/// The fixture MCP server `fx` (node, on the SDK next to server-everything) in a temp
/// working directory, and the config that runs it.
fn fixture_server() -> (tempfile::TempDir, String) {
    let bin = everything();
    let cwd = tempfile::tempdir().unwrap();
    let fixture = fixture_in(cwd.path());
    let config = format!(
        "[mcp_servers.fx]\ncommand = \"node\"\nargs = [{:?}]\ncwd = {:?}\nenv = {{ MCP_SDK_DIR = {:?} }}\n",
        fixture.display().to_string(),
        cwd.path().display().to_string(),
        sdk_dir(&bin).display().to_string()
    );
    (cwd, config)
}

/// The TypeScript SDK next to server-everything (for the fixture server).
fn sdk_dir(everything: &Path) -> PathBuf {
    // .../node_modules/@modelcontextprotocol/server-everything/dist/index.js
    everything
        .ancestors()
        .nth(3)
        .expect("node_modules/@modelcontextprotocol")
        .join("sdk")
}

/// A marker in a server's argv, so `pgrep -f` finds this test's servers only.
/// The fixture server, copied into the server's working directory: the sandbox shows a
/// server its cwd and the read-only system, but not a checkout under the private `/tmp`
/// (where CI may clone the repository).
fn fixture_in(dir: &Path) -> PathBuf {
    let src = Path::new(env!("CARGO_MANIFEST_DIR")).join("fixtures/mcp/list_changed.mjs");
    let dst = dir.join("list_changed.mjs");
    std::fs::copy(&src, &dst).unwrap();
    dst
}

pub(crate) fn marker() -> String {
    format!("--botcoder-test-{}-{}", std::process::id(), rand_suffix())
}

fn rand_suffix() -> u128 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_nanos())
        .unwrap_or_default()
}

fn stdio_server(name: &str, bin: &Path, marker: &str, extra: &str) -> String {
    format!(
        "[mcp_servers.{name}]\ncommand = {:?}\nargs = [\"stdio\", {marker:?}]\n{extra}\n",
        bin.display().to_string()
    )
}

async fn start(config: &str) -> (TestEnv, MockLlm, DaemonProcess) {
    let (env, mock) = botcoder_tests::harness::env_with_mock(&[]).await;
    env.write_config(config);
    let daemon = env.start_daemon();
    (env, mock, daemon)
}

async fn list(c: &DaemonClient) -> McpListResult {
    c.call::<McpList>(&botcoder_protocol::methods::Empty {})
        .await
        .expect("mcp.list")
}

/// Waits until `server` is in `state`; returns what `mcp.list` said then.
async fn wait_state(c: &DaemonClient, server: &str, state: &str) -> McpListResult {
    let deadline = Instant::now() + T;
    loop {
        let l = list(c).await;
        if l.servers
            .iter()
            .any(|s| s.name == server && s.state == state)
        {
            return l;
        }
        assert!(Instant::now() < deadline, "{server} never {state}: {l:?}");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

/// Tool names of the `n`th request the model received.
fn offered(mock: &MockLlm, n: usize) -> Vec<String> {
    let reqs = mock.requests();
    let tools = reqs[n].body["tools"]
        .as_array()
        .cloned()
        .unwrap_or_default();
    tools
        .iter()
        .filter_map(|t| t["function"]["name"].as_str().map(str::to_owned))
        .collect()
}

pub(crate) fn pgrep(marker: &str) -> Vec<String> {
    let out = std::process::Command::new("pgrep")
        .args(["-f", "--", marker])
        .output()
        .expect("pgrep");
    String::from_utf8_lossy(&out.stdout)
        .lines()
        .map(str::to_owned)
        .collect()
}

fn executors(events: &[Event]) -> Vec<(String, String)> {
    events
        .iter()
        .filter_map(|e| match &e.body {
            EventBody::ToolCall { name, executor, .. } => Some((name.clone(), executor.clone())),
            _ => None,
        })
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn stdio_tools_are_offered_called_and_their_results_fed_back() {
    let bin = everything();
    let m = marker();
    let (env, mock, _d) = start(&stdio_server("everything", &bin, &m, "")).await;
    let c = env.client("test").await;
    let l = wait_state(&c, "everything", "ready").await;
    let s = &l.servers[0];
    assert!(
        s.tools.contains(&"mcp__everything__echo".to_owned()),
        "{s:?}"
    );
    assert!(s.protocol_version.is_some(), "{s:?}");

    mock.push(MockResponse::openai_tool_calls(
        &[
            ("c1", "mcp__everything__echo", r#"{"message":"hello mcp"}"#),
            ("c2", "mcp__everything__get-sum", r#"{"a":2,"b":3}"#),
            ("c3", "mcp__everything__get-sum", r#"{"a":"two","b":3}"#),
        ],
        3,
    ));
    mock.push(MockResponse::text("all done"));
    let id = create(&c, &env.project, ApprovalPolicy::Auto).await;
    let events = turn(&c, &id, "use the tools", T).await;

    let names = offered(&mock, 0);
    for t in [
        "mcp__everything__echo",
        "mcp__everything__get-sum",
        "read_file",
    ] {
        assert!(names.contains(&t.to_owned()), "{t} not offered: {names:?}");
    }
    let tools = mock.requests()[0].body["tools"].clone();
    let sum = tools
        .as_array()
        .unwrap()
        .iter()
        .find(|t| t["function"]["name"] == "mcp__everything__get-sum")
        .unwrap();
    assert_eq!(sum["function"]["parameters"]["type"], "object");
    assert!(sum["function"]["parameters"]["properties"]["a"].is_object());
    assert!(sum["function"]["parameters"].get("$schema").is_none());

    assert_eq!(
        executors(&events)[0],
        (
            "mcp__everything__echo".to_owned(),
            "mcp:everything".to_owned()
        )
    );
    let results = tool_results(&events);
    assert_eq!(results[0], (true, "Echo: hello mcp".to_owned()));
    assert!(results[1].0 && results[1].1.contains('5'), "{results:?}");
    // A wrong argument type is the server's error, passed on as a tool error.
    assert!(!results[2].0, "{results:?}");
    // The results reached the model.
    let second = mock.requests()[1].body.to_string();
    assert!(second.contains("Echo: hello mcp"), "{second}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn streamable_http_server_works_too() {
    let bin = everything();
    let port = {
        let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        l.local_addr().unwrap().port()
    };
    let mut server = std::process::Command::new(&bin)
        .arg("streamableHttp")
        .env("PORT", port.to_string())
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .spawn()
        .expect("server-everything over HTTP");
    let deadline = Instant::now() + Duration::from_secs(20);
    while std::net::TcpStream::connect(("127.0.0.1", port)).is_err() {
        assert!(Instant::now() < deadline, "the HTTP server never listened");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let config = format!("[mcp_servers.web]\nurl = \"http://127.0.0.1:{port}/mcp\"\n");
    let (env, mock, _d) = start(&config).await;
    let c = env.client("test").await;
    let l = wait_state(&c, "web", "ready").await;
    assert_eq!(l.servers[0].transport, "http");
    mock.push(MockResponse::openai_tool_calls(
        &[("c1", "mcp__web__echo", r#"{"message":"over http"}"#)],
        1,
    ));
    let id = create(&c, &env.project, ApprovalPolicy::Auto).await;
    let events = turn(&c, &id, "echo", T).await;
    assert_eq!(
        tool_results(&events),
        vec![(true, "Echo: over http".to_owned())]
    );
    let _ = server.kill();
    let _ = server.wait();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_long_running_tool_reports_progress_and_is_cancelled_with_the_turn() {
    let bin = everything();
    let m = marker();
    let (env, mock, _d) = start(&stdio_server("everything", &bin, &m, "")).await;
    let c = env.client("test").await;
    wait_state(&c, "everything", "ready").await;
    mock.push(MockResponse::openai_tool_calls(
        &[(
            "c1",
            "mcp__everything__trigger-long-running-operation",
            r#"{"duration":30,"steps":30}"#,
        )],
        1,
    ));
    let id = create(&c, &env.project, ApprovalPolicy::Auto).await;
    let mut sub = session::subscribe(&c, &id, None).await;
    session::send(&c, &id, "run long").await;
    // Progress notifications arrive as tool.output.
    let seen = collect_until(
        &mut sub,
        T,
        |e| matches!(&e.body, EventBody::ToolOutput { text, .. } if text.starts_with("progress ")),
    )
    .await;
    let started = Instant::now();
    c.call::<TurnCancel>(&TurnCancelParams {
        session_id: id.clone(),
        turn_id: None,
    })
    .await
    .unwrap();
    let mut events = until_turns_completed(&mut sub, 1, T).await;
    events.splice(0..0, seen);
    assert!(
        started.elapsed() < Duration::from_secs(5),
        "{:?}",
        started.elapsed()
    );
    let status = events.iter().find_map(|e| match &e.body {
        EventBody::TurnCompleted { status, .. } => Some(*status),
        _ => None,
    });
    assert_eq!(status, Some(TurnStatus::Cancelled));
    // The server is still there and usable: the cancel went to it as a notification.
    mock.push(MockResponse::openai_tool_calls(
        &[("c2", "mcp__everything__echo", r#"{"message":"still here"}"#)],
        1,
    ));
    let events = turn(&c, &id, "again", T).await;
    assert_eq!(
        tool_results(&events),
        vec![(true, "Echo: still here".to_owned())]
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn list_changed_refreshes_the_tools_of_the_next_request() {
    let (_cwd, config) = fixture_server();
    let (env, mock, _d) = start(&config).await;
    let c = env.client("test").await;
    let l = wait_state(&c, "fx", "ready").await;
    assert_eq!(
        l.servers[0].tools,
        vec!["mcp__fx__add-tool".to_owned(), "mcp__fx__wait".to_owned()]
    );
    mock.push(MockResponse::openai_tool_calls(
        &[("c1", "mcp__fx__add-tool", "{}")],
        1,
    ));
    let id = create(&c, &env.project, ApprovalPolicy::Auto).await;
    let events = turn(&c, &id, "add a tool", T).await;
    assert!(tool_results(&events)[0].0, "{events:?}");
    let deadline = Instant::now() + T;
    while !list(&c).await.servers[0]
        .tools
        .contains(&"mcp__fx__added".to_owned())
    {
        assert!(
            Instant::now() < deadline,
            "list_changed never refreshed the tools"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    mock.push(MockResponse::openai_tool_calls(
        &[("c2", "mcp__fx__added", "{}")],
        1,
    ));
    let events = turn(&c, &id, "use it", T).await;
    let n = mock.requests().len();
    assert!(offered(&mock, n - 2).contains(&"mcp__fx__added".to_owned()));
    assert_eq!(tool_results(&events), vec![(true, "added ran".to_owned())]);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_server_that_cannot_start_is_reported_and_turns_go_on() {
    let config = "[mcp_servers.ghost]\ncommand = \"/nonexistent/botcoder-mcp-ghost\"\nstartup_timeout_sec = 2\n";
    let (env, mock, _d) = start(config).await;
    let c = env.client("test").await;
    mock.push(MockResponse::text("fine without it"));
    let id = create(&c, &env.project, ApprovalPolicy::Auto).await;
    let started = Instant::now();
    let events = turn(&c, &id, "hello", T).await;
    assert!(started.elapsed() < Duration::from_secs(5));
    assert!(
        events
            .iter()
            .any(|e| matches!(&e.body, EventBody::TurnCompleted { status, .. } if *status == TurnStatus::Completed))
    );
    assert!(!offered(&mock, 0).iter().any(|n| n.starts_with("mcp__")));
    let l = wait_state(&c, "ghost", "failed").await;
    let err = l.servers[0].last_error.clone().unwrap_or_default();
    assert!(err.contains("was not found"), "{err}");
    let status = env.run_cli(&["status"], None).await;
    assert!(status.stdout.contains("ghost"), "{}", status.stdout);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn no_server_process_is_left_after_daemon_stop() {
    let bin = everything();
    let m = marker();
    let (env, _mock, mut d) = start(&stdio_server("everything", &bin, &m, "")).await;
    let c = env.client("test").await;
    wait_state(&c, "everything", "ready").await;
    assert!(!pgrep(&m).is_empty(), "the server is not running");
    drop(c);
    let out = env.run_cli(&["daemon", "stop"], None).await;
    assert_eq!(out.code, 0, "{out:?}");
    d.wait_exit(Duration::from_secs(10)).expect("daemon exit");
    let deadline = Instant::now() + Duration::from_secs(5);
    while !pgrep(&m).is_empty() {
        assert!(
            Instant::now() < deadline,
            "server processes left: {:?}",
            pgrep(&m)
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

/// Approvals from the hostile model's side: an untrusted server's tools wait for a person
/// (headless: refused), a read-only session is not offered them at all; the honest paths —
/// a trusted server's read-only tools, an allow rule naming a tool — run without asking.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn approvals_hold_for_mcp_tools() {
    let bin = everything();
    let (m1, m2) = (marker(), marker());
    let config = format!(
        "[approvals]\nallow = [\"mcp__plain__get-sum\"]\n\n{}{}",
        stdio_server("plain", &bin, &m1, ""),
        stdio_server("trusted", &bin, &m2, "trust = true")
    );
    let (env, mock, _d) = start(&config).await;
    let c = env.client("test").await;
    wait_state(&c, "plain", "ready").await;
    wait_state(&c, "trusted", "ready").await;

    // Under ask, headless: the untrusted echo is refused, the allow-listed get-sum and the
    // trusted read-only echo run.
    mock.push(MockResponse::openai_tool_calls(
        &[
            ("c1", "mcp__plain__echo", r#"{"message":"x"}"#),
            ("c2", "mcp__plain__get-sum", r#"{"a":1,"b":1}"#),
            ("c3", "mcp__trusted__echo", r#"{"message":"y"}"#),
        ],
        3,
    ));
    let id = create(&c, &env.project, ApprovalPolicy::Ask).await;
    let results = tool_results(&turn(&c, &id, "go", T).await);
    assert!(
        !results[0].0 && results[0].1.contains("needs approval"),
        "{results:?}"
    );
    assert!(results[1].0, "{results:?}");
    assert_eq!(results[2], (true, "Echo: y".to_owned()));

    // Read-only: only trusted read-only tools are offered; calling another is refused.
    let before = mock.requests().len();
    mock.push(MockResponse::openai_tool_calls(
        &[("c4", "mcp__plain__echo", r#"{"message":"z"}"#)],
        1,
    ));
    let id = create(&c, &env.project, ApprovalPolicy::ReadOnly).await;
    let results = tool_results(&turn(&c, &id, "go", T).await);
    let names = offered(&mock, before);
    assert!(
        names.contains(&"mcp__trusted__echo".to_owned()),
        "{names:?}"
    );
    assert!(
        !names.iter().any(|n| n.starts_with("mcp__plain__")),
        "{names:?}"
    );
    assert!(!results[0].0, "{results:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_crashed_server_is_restarted_and_its_tools_come_back() {
    let bin = everything();
    let m = marker();
    let (env, mock, _d) = start(&stdio_server("everything", &bin, &m, "")).await;
    let c = env.client("test").await;
    wait_state(&c, "everything", "ready").await;
    let before = pgrep(&m);
    assert!(!before.is_empty());
    // The crash: every process of this server (the test's own grandchildren) killed by pid.
    for pid in &before {
        let _ = std::process::Command::new("kill")
            .args(["-9", pid])
            .status();
    }
    let deadline = Instant::now() + T;
    loop {
        let now = pgrep(&m);
        let l = list(&c).await;
        if l.servers[0].state == "ready"
            && !now.is_empty()
            && now.iter().all(|p| !before.contains(p))
        {
            break;
        }
        assert!(Instant::now() < deadline, "never restarted: {l:?}");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    mock.push(MockResponse::openai_tool_calls(
        &[("c1", "mcp__everything__echo", r#"{"message":"back"}"#)],
        1,
    ));
    let id = create(&c, &env.project, ApprovalPolicy::Auto).await;
    let events = turn(&c, &id, "echo", T).await;
    assert_eq!(tool_results(&events), vec![(true, "Echo: back".to_owned())]);
}

/// `notifications/cancelled` reaches the server: the fixture's `wait` tool sees its abort
/// signal and leaves a file in its working directory.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn cancelling_a_turn_sends_notifications_cancelled_to_the_server() {
    let (cwd, config) = fixture_server();
    let (env, mock, _d) = start(&config).await;
    let c = env.client("test").await;
    wait_state(&c, "fx", "ready").await;
    mock.push(MockResponse::openai_tool_calls(
        &[("c1", "mcp__fx__wait", "{}")],
        1,
    ));
    let id = create(&c, &env.project, ApprovalPolicy::Auto).await;
    let mut sub = session::subscribe(&c, &id, None).await;
    session::send(&c, &id, "wait").await;
    collect_until(&mut sub, T, |e| {
        matches!(e.body, EventBody::ToolCall { .. })
    })
    .await;
    // Give the call a moment to reach the server before cancelling it.
    tokio::time::sleep(Duration::from_millis(500)).await;
    c.call::<TurnCancel>(&TurnCancelParams {
        session_id: id.clone(),
        turn_id: None,
    })
    .await
    .unwrap();
    until_turns_completed(&mut sub, 1, T).await;
    let proof = cwd.path().join("cancelled.txt");
    let deadline = Instant::now() + Duration::from_secs(10);
    while !proof.exists() {
        assert!(
            Instant::now() < deadline,
            "the server never saw notifications/cancelled"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// A server that never answers costs a turn at most its startup timeout, once, and is
/// killed when it times out (here outside the sandbox, where no PID namespace would).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_silent_server_delays_a_turn_at_most_its_startup_timeout() {
    everything();
    let m = marker();
    let config = format!(
        "[mcp_servers.mute]\ncommand = \"node\"\nargs = [\"-e\", \"setTimeout(() => {{}}, 30000)\", \"--\", {m:?}]\nstartup_timeout_sec = 2\nsandbox = false\n"
    );
    let (env, mock, _d) = start(&config).await;
    let c = env.client("test").await;
    mock.push(MockResponse::text("no tools needed"));
    let id = create(&c, &env.project, ApprovalPolicy::Auto).await;
    let started = Instant::now();
    turn(&c, &id, "hi", T).await;
    assert!(
        started.elapsed() < Duration::from_secs(4),
        "{:?}",
        started.elapsed()
    );
    let l = wait_state(&c, "mute", "failed").await;
    let err = l.servers[0].last_error.clone().unwrap_or_default();
    assert!(err.contains("startup timeout"), "{err}");
    let deadline = Instant::now() + Duration::from_secs(5);
    while !pgrep(&m).is_empty() {
        assert!(
            Instant::now() < deadline,
            "the timed-out server was left running"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    // Once failed, later turns do not wait for it at all.
    mock.push(MockResponse::text("still fine"));
    let started = Instant::now();
    turn(&c, &id, "again", T).await;
    assert!(
        started.elapsed() < Duration::from_secs(1),
        "{:?}",
        started.elapsed()
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn mcp_add_and_remove_apply_to_a_running_daemon_without_a_restart() {
    let bin = everything();
    let (env, _mock, _d) = start("").await;
    let c = env.client("test").await;
    assert!(list(&c).await.servers.is_empty());
    let marker = marker();
    let bin = bin.display().to_string();
    let add = env
        .run_cli(&["mcp", "add", "live", "--", &bin, "stdio", &marker], None)
        .await;
    assert_eq!(add.code, 0, "{}\n{}", add.stdout, add.stderr);
    assert!(add.stdout.contains("reloaded"), "{}", add.stdout);
    let l = wait_state(&c, "live", "ready").await;
    assert!(
        l.servers[0].tools.iter().any(|t| t == "mcp__live__echo"),
        "{l:?}"
    );
    let remove = env.run_cli(&["mcp", "remove", "live"], None).await;
    assert_eq!(remove.code, 0, "{}\n{}", remove.stdout, remove.stderr);
    let deadline = Instant::now() + T;
    while !list(&c).await.servers.is_empty() {
        assert!(Instant::now() < deadline, "live never went away");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let gone = Instant::now() + Duration::from_secs(10);
    while !pgrep(&marker).is_empty() {
        assert!(Instant::now() < gone, "the removed server still runs");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}
