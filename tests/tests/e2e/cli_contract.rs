//! What scripts rely on: `botcoder`'s output streams, exit codes, autostart, and the
//! daemon's lifecycle (one daemon per socket, graceful stop, no secrets anywhere).

// Test code: a failed expectation is a failed test.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::process::Stdio;
use std::time::{Duration, Instant};

use botcoder_tests::harness::{TestEnv, bin, env_with_mock};
use botcoder_tests::mock_llm::{MockLlm, MockResponse, StreamEnd};
use pretty_assertions::assert_eq;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn ask_streams_the_answer_and_continues_a_session() {
    let (env, mock) = env_with_mock(&[]).await;
    mock.push(MockResponse::text("Hello from the mock."));
    mock.push(MockResponse::text("Second answer."));
    let _d = env.start_daemon();
    let out = env
        .run_cli(
            &["ask", "--project", &env.project_arg(), "say", "hello"],
            None,
        )
        .await;
    assert_eq!(
        (out.code, out.stdout.as_str()),
        (0, "Hello from the mock.\n"),
        "{}",
        out.stderr
    );
    let id = out.session_id();
    let out = env
        .run_cli(&["ask", "--session", &id, "and", "again"], None)
        .await;
    assert_eq!(
        (out.code, out.stdout.as_str()),
        (0, "Second answer.\n"),
        "{}",
        out.stderr
    );
    let msgs = mock.requests()[1].body["messages"].clone();
    let texts: Vec<String> = msgs
        .as_array()
        .unwrap()
        .iter()
        .map(|m| {
            format!(
                "{}:{}",
                m["role"].as_str().unwrap(),
                m["content"].as_str().unwrap_or("")
            )
        })
        .collect();
    assert_eq!(
        texts[1..],
        [
            "user:say hello",
            "assistant:Hello from the mock.",
            "user:and again"
        ]
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn ask_json_prints_every_event_of_the_turn_as_a_line() {
    let (env, mock) = env_with_mock(&[]).await;
    mock.push(MockResponse::text("one two three"));
    let _d = env.start_daemon();
    let out = env.ask(&["--json"], "count").await;
    assert_eq!(out.code, 0, "{}", out.stderr);
    let lines = out.json_lines();
    let types: Vec<&str> = lines.iter().map(|l| l["type"].as_str().unwrap()).collect();
    assert_eq!(types.first(), Some(&"user.message"));
    assert_eq!(types.last(), Some(&"turn.completed"));
    assert!(
        types.contains(&"turn.started")
            && types.contains(&"usage")
            && types.contains(&"assistant.message")
    );
    assert_eq!(lines[0]["client"], "botcoder-cli");
    let deltas: String = lines
        .iter()
        .filter(|l| l["type"] == "assistant.delta")
        .map(|l| l["text"].as_str().unwrap())
        .collect();
    let message = lines
        .iter()
        .find(|l| l["type"] == "assistant.message")
        .unwrap()["text"]
        .as_str()
        .unwrap()
        .to_owned();
    assert_eq!(deltas, message);
    let seqs: Vec<u64> = lines.iter().filter_map(|l| l["seq"].as_u64()).collect();
    assert!(seqs.windows(2).all(|w| w[1] == w[0] + 1), "{seqs:?}");
    assert!(
        lines
            .iter()
            .all(|l| l["session_id"].is_string() && l["time"].is_string())
    );
    assert_eq!(lines.last().unwrap()["status"], "completed");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn prompt_from_stdin_and_empty_prompt_is_a_usage_error() {
    let (env, mock) = env_with_mock(&[]).await;
    mock.set_default(MockResponse::text("ok"));
    let _d = env.start_daemon();
    let out = env
        .run_cli(
            &["ask", "--project", &env.project_arg(), "-"],
            Some("from stdin"),
        )
        .await;
    assert_eq!(out.code, 0, "{}", out.stderr);
    let out = env
        .run_cli(
            &["ask", "--project", &env.project_arg()],
            Some("piped, no args"),
        )
        .await;
    assert_eq!(out.code, 0, "{}", out.stderr);
    let users: Vec<String> = mock
        .requests()
        .iter()
        .map(|r| {
            r.body["messages"][1]["content"]
                .as_str()
                .unwrap()
                .to_owned()
        })
        .collect();
    assert_eq!(users, ["from stdin", "piped, no args"]);
    let out = env
        .run_cli(&["ask", "--project", &env.project_arg(), "-"], Some("  \n"))
        .await;
    assert_eq!(out.code, 2, "{}", out.stderr);
    assert!(out.stderr.contains("no prompt"), "{}", out.stderr);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn exit_codes_for_missing_sessions_unreachable_daemon_and_bad_usage() {
    let (env, _mock) = env_with_mock(&[]).await;
    let out = env.run_cli(&["status"], None).await;
    assert_eq!(out.code, 3, "no daemon and no autostart: {}", out.stderr);
    assert!(
        out.stderr.contains("cannot reach botcoderd"),
        "{}",
        out.stderr
    );
    let _d = env.start_daemon();
    for id in ["0123456789abcdef", "../etc", "NOT-AN-ID"] {
        let out = env.run_cli(&["ask", "--session", id, "hi"], None).await;
        assert_eq!(out.code, 4, "{id}: {}", out.stderr);
        let out = env.run_cli(&["sessions", "show", id], None).await;
        assert_eq!(out.code, 4, "{id}: {}", out.stderr);
    }
    let out = env
        .run_cli(&["ask", "--project", "/definitely/not/here", "hi"], None)
        .await;
    assert_eq!(out.code, 2, "{}", out.stderr);
    let out = env.run_cli(&["no-such-command"], None).await;
    assert_eq!(out.code, 2);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn no_provider_fails_the_turn_naming_what_to_set() {
    let env = TestEnv::new();
    let _d = env.start_daemon();
    let out = env.ask(&[], "hi").await;
    assert_eq!(out.code, 78, "no provider exits EX_CONFIG: {}", out.stderr);
    for var in ["OPENAI_API_KEY", "LOCAL_LLM_URL", "LLM_PROVIDER"] {
        assert!(out.stderr.contains(var), "{var} missing: {}", out.stderr);
    }
    let status = env.run_cli(&["status"], None).await;
    assert!(
        status.stdout.contains("OPENAI_API_KEY"),
        "{}",
        status.stdout
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn rate_limited_after_retries_exits_75_with_retry_events() {
    let (mut env, mock) = env_with_mock(&[]).await;
    env.set("LLM_MAX_RETRIES", "2");
    mock.set_default(MockResponse::rate_limited(Some("0"), None));
    let _d = env.start_daemon();
    let out = env.ask(&["--json"], "hi").await;
    assert_eq!(out.code, 75, "{}", out.stderr);
    let retries: Vec<u64> = out
        .json_lines()
        .iter()
        .filter(|l| l["type"] == "provider.retry")
        .map(|l| l["status"].as_u64().unwrap())
        .collect();
    assert_eq!(retries, [429, 429]);
    assert_eq!(mock.requests().len(), 3);
    let last = out.json_lines().pop().unwrap();
    assert_eq!(
        (last["status"].as_str(), last["error"]["kind"].as_str()),
        (Some("failed"), Some("rate_limited"))
    );
    let status = env
        .run_cli(&["status", "--json"], None)
        .await
        .json_lines()
        .remove(0);
    assert_eq!(status["provider"]["health"], "failing");
    assert!(
        status["provider"]["last_error"]
            .as_str()
            .unwrap()
            .contains("429")
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_5xx_then_success_is_retried_and_a_mid_stream_reset_is_not() {
    let (env, mock) = env_with_mock(&[]).await;
    mock.push(
        MockResponse::status(503, "{\"error\":{\"message\":\"busy\"}}")
            .with_header("retry-after-ms", "50"),
    );
    mock.push(MockResponse::text("recovered"));
    let _d = env.start_daemon();
    let out = env.ask(&[], "hi").await;
    assert_eq!(
        (out.code, out.stdout.as_str()),
        (0, "recovered\n"),
        "{}",
        out.stderr
    );
    assert!(
        out.stderr.contains("HTTP 503"),
        "retry shown on stderr: {}",
        out.stderr
    );

    mock.push(
        MockResponse::text_chunks(&["partial ", "text "])
            .without_done()
            .with_end(StreamEnd::Reset),
    );
    let out = env.ask(&[], "hi").await;
    assert!(
        out.code == 75 || out.code == 1,
        "{}: {}",
        out.code,
        out.stderr
    );
    assert_eq!(
        out.stdout.matches("partial").count(),
        1,
        "text duplicated: {}",
        out.stdout
    );
    assert_eq!(mock.requests().len(), 3, "no retry after output began");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_closed_stdout_pipe_ends_quietly() {
    let (env, mock) = env_with_mock(&[]).await;
    mock.push(MockResponse::tokens(20_000));
    let _d = env.start_daemon();
    let mut child =
        tokio::process::Command::from(env.cli(&["ask", "--project", &env.project_arg(), "long"]))
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .kill_on_drop(true)
            .spawn()
            .unwrap();
    let mut stdout = child.stdout.take().unwrap();
    let mut buf = [0u8; 64];
    tokio::io::AsyncReadExt::read(&mut stdout, &mut buf)
        .await
        .unwrap();
    drop(stdout);
    let out = tokio::time::timeout(Duration::from_secs(30), child.wait_with_output())
        .await
        .expect("exits")
        .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        !stderr.contains("panicked") && !stderr.contains("Broken pipe"),
        "{stderr}"
    );
    assert_eq!(out.status.code(), Some(0));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sessions_commands_list_show_and_remove() {
    let (env, mock) = env_with_mock(&[]).await;
    mock.set_default(MockResponse::text("noted"));
    let _d = env.start_daemon();
    let out = env.ask(&[], "remember this").await;
    let id = out.session_id();
    let list = env.run_cli(&["sessions", "list"], None).await;
    assert!(list.stdout.contains(&id), "{}", list.stdout);
    let json = env.run_cli(&["sessions", "list", "--json"], None).await;
    assert_eq!(json.json_lines()[0]["session_id"], id.as_str());
    // An untitled session is named after its first prompt (no model call, no event).
    assert_eq!(json.json_lines()[0]["title"], "remember this");
    let show = env.run_cli(&["sessions", "show", &id], None).await;
    assert!(
        show.stdout.contains("> remember this") && show.stdout.contains("noted"),
        "{}",
        show.stdout
    );
    let show = env
        .run_cli(&["sessions", "show", "--json", &id], None)
        .await;
    let lines = show.json_lines();
    assert_eq!(lines[0]["session_id"], id.as_str());
    assert_eq!(lines[1]["type"], "session.created");
    let rm = env.run_cli(&["sessions", "rm", &id], None).await;
    assert_eq!(rm.code, 0, "{}", rm.stderr);
    assert_eq!(env.run_cli(&["sessions", "show", &id], None).await.code, 4);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_api_key_appears_nowhere_but_the_request_header() {
    let mock = MockLlm::start().await.expect("mock");
    mock.set_default(MockResponse::text("ok"));
    let mut env = TestEnv::new();
    let secret = "sk-test-SECRET-4242";
    env.set("LLM_PROVIDER", "openai")
        .set("OPENAI_API_KEY", secret)
        .set("OPENAI_BASE_URL", &mock.base_url())
        .set("BOTCODER_LOG", "debug");
    let _d = env.start_daemon();
    let ask = env.ask(&["--json"], "hi").await;
    assert_eq!(ask.code, 0, "{}", ask.stderr);
    let status = env.run_cli(&["status", "--json"], None).await;
    assert_eq!(
        mock.requests()[0].header("authorization"),
        Some(format!("Bearer {secret}").as_str())
    );
    for (what, text) in [
        ("ask output", ask.stdout + &ask.stderr),
        ("status", status.stdout),
    ] {
        assert!(!text.contains(secret), "secret in {what}");
    }
    let mut files = vec![env.log_file()];
    let mut dirs = vec![env.sessions_dir()];
    while let Some(d) = dirs.pop() {
        for e in std::fs::read_dir(d).unwrap().flatten() {
            if e.path().is_dir() {
                dirs.push(e.path())
            } else {
                files.push(e.path())
            }
        }
    }
    assert!(files.len() > 2);
    for f in files {
        assert!(
            !std::fs::read_to_string(&f)
                .unwrap_or_default()
                .contains(secret),
            "secret in {}",
            f.display()
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn autostart_races_end_with_one_daemon_and_stop_removes_the_socket() {
    let (mut env, mock) = env_with_mock(&[]).await;
    mock.set_default(MockResponse::text("ok"));
    env.unset("BOTCODER_NO_AUTOSTART");
    let (a, b) = tokio::join!(
        env.run_cli(&["status", "--json"], None),
        env.run_cli(&["status", "--json"], None)
    );
    assert_eq!((a.code, b.code), (0, 0), "{} / {}", a.stderr, b.stderr);
    assert_eq!(
        a.json_lines()[0]["pid"],
        b.json_lines()[0]["pid"],
        "two daemons"
    );
    let ask = env.ask(&[], "hi").await;
    assert_eq!((ask.code, ask.stdout.as_str()), (0, "ok\n"));
    let start = env.run_cli(&["daemon", "start"], None).await;
    assert_eq!(start.code, 0);
    assert!(start.stderr.contains("already running"), "{}", start.stderr);
    let stop = env.run_cli(&["daemon", "stop"], None).await;
    assert_eq!(stop.code, 0, "{}", stop.stderr);
    assert!(!env.socket.exists());
    let status = env.run_cli(&["daemon", "status"], None).await;
    assert_eq!(status.code, 3);
    assert!(!env.socket.exists(), "daemon status must not autostart");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_second_daemon_exits_with_a_clear_message_and_a_stale_socket_is_replaced() {
    let env = TestEnv::new();
    let mut first = env.start_daemon();
    let out = env
        .command(&bin("botcoderd"))
        .stdin(Stdio::null())
        .stderr(Stdio::piped())
        .stdout(Stdio::null())
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&out.stderr).contains("already running"));
    first.kill9();
    assert!(env.socket.exists(), "kill -9 leaves the socket file behind");
    let _second = env.start_daemon();
    assert_eq!(env.run_cli(&["status"], None).await.code, 0);
    // Permissions: directory 0700, socket 0600.
    use std::os::unix::fs::PermissionsExt;
    let mode = |p: &std::path::Path| std::fs::metadata(p).unwrap().permissions().mode() & 0o777;
    assert_eq!(
        (mode(env.socket.parent().unwrap()), mode(&env.socket)),
        (0o700, 0o600)
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sigterm_mid_turn_exits_0_within_2s_and_closes_the_turn() {
    let (env, mock) = env_with_mock(&[]).await;
    mock.push(MockResponse::tokens(1000).with_delay(Duration::from_millis(10)));
    let mut d = env.start_daemon();
    let c = env.client("t").await;
    let p = botcoder_protocol::methods::SessionCreateParams {
        project_path: env.project_arg(),
        title: None,
        approval: None,
        ..Default::default()
    };
    let id = c
        .call::<botcoder_protocol::methods::SessionCreate>(&p)
        .await
        .unwrap()
        .session_id;
    let mut sub = c
        .subscribe(&botcoder_protocol::methods::SubscribeParams {
            session_id: id.clone(),
            after_seq: None,
        })
        .await
        .unwrap();
    let sp = botcoder_protocol::methods::SessionSendParams {
        session_id: id.clone(),
        text: "long".into(),
        approval: None,
        env: Default::default(),
    };
    c.call::<botcoder_protocol::methods::SessionSend>(&sp)
        .await
        .unwrap();
    botcoder_tests::events::collect_until(&mut sub, Duration::from_secs(10), |e| {
        matches!(e.body, botcoder_protocol::EventBody::AssistantDelta { .. })
    })
    .await;
    let start = Instant::now();
    d.signal(rustix::process::Signal::TERM);
    let (code, stderr) = d.wait_exit(Duration::from_secs(5)).expect("exits");
    assert!(
        start.elapsed() < Duration::from_secs(2),
        "took {:?}",
        start.elapsed()
    );
    assert_eq!(code, 0, "{stderr}");
    assert!(!env.socket.exists());
    drop(c);
    let _d = env.start_daemon();
    let show = env
        .run_cli(&["sessions", "show", "--json", id.as_str()], None)
        .await;
    let last = show.json_lines().pop().unwrap();
    assert_eq!(
        (last["type"].as_str(), last["status"].as_str()),
        (Some("turn.completed"), Some("interrupted"))
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn stalls_and_silent_servers_fail_clearly_after_the_idle_timeout() {
    let (mut env, mock) = env_with_mock(&[]).await;
    env.set("LLM_IDLE_TIMEOUT_S", "1")
        .set("LLM_MAX_RETRIES", "1");
    // A stream that stops mid-reply: no retry (output began), a clear error.
    mock.push(
        MockResponse::text_chunks(&["started "])
            .without_done()
            .with_end(StreamEnd::Stall),
    );
    // A server that accepts and never answers: retried once, then a clear error.
    mock.push(MockResponse::Hang);
    mock.push(MockResponse::Hang);
    let _d = env.start_daemon();
    let start = Instant::now();
    let out = env.ask(&[], "one").await;
    assert_eq!(out.code, 75, "{}", out.stderr);
    assert!(
        out.stderr.contains("sent nothing for 1 s"),
        "{}",
        out.stderr
    );
    let out = env.ask(&[], "two").await;
    assert_eq!(out.code, 75, "{}", out.stderr);
    assert!(
        out.stderr.contains("did not answer within 1 s"),
        "{}",
        out.stderr
    );
    assert!(start.elapsed() < Duration::from_secs(20));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn error_storms_exhaust_retries_with_and_without_retry_headers() {
    let (mut env, mock) = env_with_mock(&[]).await;
    env.set("LLM_MAX_RETRIES", "2");
    mock.set_default(MockResponse::status(
        500,
        "{\"error\":{\"message\":\"boom\"}}",
    ));
    let _d = env.start_daemon();
    let out = env.ask(&["--json"], "hi").await;
    assert_eq!(out.code, 75, "{}", out.stderr);
    assert!(
        out.stderr.contains("boom") && out.stderr.contains("gave up after 3 attempts"),
        "{}",
        out.stderr
    );
    // 429 without any retry header: exponential backoff (0.5 s, 1 s) then rate_limited.
    mock.set_default(MockResponse::rate_limited(None, None));
    let start = Instant::now();
    let out = env.ask(&[], "hi").await;
    assert_eq!(out.code, 75, "{}", out.stderr);
    assert!(
        start.elapsed() >= Duration::from_millis(1000),
        "backoff skipped: {:?}",
        start.elapsed()
    );
    assert_eq!(mock.requests().len(), 6);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn malformed_streams_and_empty_bodies_end_clearly_and_the_session_stays_usable() {
    let (mut env, mock) = env_with_mock(&[]).await;
    env.set("LLM_MAX_RETRIES", "1");
    // A chunk that is not JSON after some text.
    mock.push(MockResponse::sse(vec![
        botcoder_tests::mock_llm::SseEvent::data(r#"{"choices":[{"delta":{"content":"half "}}]}"#),
        botcoder_tests::mock_llm::SseEvent::data("{this is not json"),
    ]));
    // 200 with an empty body, twice: retried, then a clear error.
    mock.push(MockResponse::sse(vec![]).without_done());
    mock.push(MockResponse::sse(vec![]).without_done());
    mock.push(MockResponse::text("fine again"));
    let _d = env.start_daemon();
    let first = env.ask(&[], "one").await;
    assert_eq!(first.code, 1, "{}", first.stderr);
    assert!(
        first.stderr.contains("not chat-completion JSON"),
        "{}",
        first.stderr
    );
    let id = first.session_id();
    let second = env.run_cli(&["ask", "--session", &id, "two"], None).await;
    assert_eq!(second.code, 75, "{}", second.stderr);
    assert!(
        second.stderr.contains("without sending a reply"),
        "{}",
        second.stderr
    );
    let third = env.run_cli(&["ask", "--session", &id, "three"], None).await;
    assert_eq!(
        (third.code, third.stdout.as_str()),
        (0, "fine again\n"),
        "{}",
        third.stderr
    );
}
