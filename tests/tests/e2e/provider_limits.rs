//! One provider answer never costs the daemon more than its caps (I10), tested from the
//! hostile provider's side: an SSE event that never ends, a gigabyte error body, a reply
//! that never stops, more tool calls than a reply may hold. Each fails only its own turn with
//! `limit_exceeded` (or the error status), memory stays flat, the daemon keeps answering, and
//! the next normal reply works.

// Test code: a failed expectation is a failed test.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::time::{Duration, Instant};

use botcoder_protocol::methods::{DaemonStatus, Empty};
use botcoder_tests::harness::{CliOutput, DaemonProcess, TestEnv};
use botcoder_tests::mock_llm::{MockLlm, MockResponse};
use pretty_assertions::assert_eq;

const GB: u64 = 1024 * 1024 * 1024;
const MB: u64 = 1024 * 1024;
/// The daemon's peak resident memory may not pass this while a provider misbehaves.
const MAX_HWM_KB: u64 = 200 * 1024;

/// A daemon on the mock that fails a turn at the first provider error (no retries).
async fn setup(vars: &[(&str, &str)]) -> (TestEnv, MockLlm, DaemonProcess) {
    let mut all = vec![("LLM_MAX_RETRIES", "0")];
    all.extend_from_slice(vars);
    botcoder_tests::harness::daemon_with_mock(&all).await
}

/// `VmHWM` (peak resident set) of a process, in kB.
fn peak_rss_kb(pid: u32) -> u64 {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap();
    status
        .lines()
        .find_map(|l| l.strip_prefix("VmHWM:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
        .expect("VmHWM in /proc/<pid>/status")
}

/// Runs `ask --json` while a second client polls `daemon.status`; returns the CLI's output
/// and the slowest status answer seen meanwhile.
async fn ask_while_polling_status(env: &TestEnv, args: &[&str]) -> (CliOutput, Duration) {
    let watcher = env.client("watcher").await;
    let project = env.project_arg();
    let mut full = vec!["ask", "--json", "--project", &project];
    full.extend_from_slice(args);
    let ask = env.run_cli_timeout(&full, None, Duration::from_secs(60));
    tokio::pin!(ask);
    let mut slowest = Duration::ZERO;
    loop {
        tokio::select! {
            out = &mut ask => return (out, slowest),
            () = tokio::time::sleep(Duration::from_millis(20)) => {
                let t = Instant::now();
                tokio::time::timeout(Duration::from_secs(5), watcher.call::<DaemonStatus>(&Empty {}))
                    .await
                    .expect("daemon.status answers while a provider misbehaves")
                    .unwrap();
                slowest = slowest.max(t.elapsed());
            }
        }
    }
}

/// The honest path after an attack: a normal reply on the same daemon.
async fn a_normal_reply_works(env: &TestEnv, mock: &MockLlm) {
    mock.push(MockResponse::text("still fine"));
    let out = env.ask(&[], "again").await;
    assert_eq!(
        (out.code, out.stdout.as_str()),
        (0, "still fine\n"),
        "{}",
        out.stderr
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_sse_event_that_never_ends_is_cut_at_its_cap_with_memory_flat() {
    let (env, mock, d) = setup(&[]).await;
    let line = format!("data: {}\n", "y".repeat(1000));
    for attack in [
        // Endless `data:` lines, never the blank line that ends the event.
        MockResponse::endless_sse("", &line, GB),
        // One endless line, never a newline.
        MockResponse::endless_sse("data: ", "z", GB),
    ] {
        mock.push(attack);
        let started = Instant::now();
        let (out, slowest) = ask_while_polling_status(&env, &["hi"]).await;
        assert_eq!(out.code, 1, "{}", out.stderr);
        let (kind, message) = out.last_error();
        assert_eq!(kind, "limit_exceeded");
        assert!(
            message.contains("one server-sent event exceeded 8388608 bytes")
                && message.contains("BOTCODER_MAX_SSE_EVENT_BYTES"),
            "{message}"
        );
        assert!(slowest < Duration::from_secs(1), "status took {slowest:?}");
        assert!(started.elapsed() < Duration::from_secs(20));
    }
    // The daemon stopped reading near the cap instead of taking the gigabyte.
    assert!(
        mock.endless_bytes_sent() < 2 * 200 * MB,
        "{} bytes were sent",
        mock.endless_bytes_sent()
    );
    let hwm = peak_rss_kb(d.pid());
    assert!(hwm < MAX_HWM_KB, "peak RSS {hwm} kB");
    a_normal_reply_works(&env, &mock).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_huge_error_body_is_read_only_up_to_its_cap() {
    let (env, mock, d) = setup(&[]).await;
    mock.push(MockResponse::huge_body(500, 3 * GB));
    let (out, slowest) = ask_while_polling_status(&env, &["hi"]).await;
    assert_eq!(out.code, 75, "{}", out.stderr);
    let (kind, message) = out.last_error();
    assert_eq!(kind, "provider_unavailable");
    assert!(message.contains("answered HTTP 500: xxxx"), "{message}");
    assert!(message.len() < 1000, "{} bytes of message", message.len());
    assert!(slowest < Duration::from_secs(1), "status took {slowest:?}");
    assert!(
        mock.endless_bytes_sent() < 200 * MB,
        "{} bytes were sent",
        mock.endless_bytes_sent()
    );
    let hwm = peak_rss_kb(d.pid());
    assert!(hwm < MAX_HWM_KB, "peak RSS {hwm} kB");

    // Honest path: an ordinary error body is still shown.
    mock.push(MockResponse::status(
        500,
        r#"{"error":{"message":"upstream exploded"}}"#,
    ));
    let out = env.ask(&["--json"], "hi").await;
    let (kind, message) = out.last_error();
    assert_eq!(kind, "provider_unavailable");
    assert!(message.contains("HTTP 500: upstream exploded"), "{message}");
    a_normal_reply_works(&env, &mock).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_reply_that_never_ends_stops_at_the_reply_cap() {
    // 1 MiB rather than the default 8 keeps the test quick: every delta also goes to the
    // client, and this machine is shared.
    let (env, mock, d) = setup(&[("BOTCODER_MAX_REPLY_BYTES", "1048576")]).await;
    let piece = "lorem ipsum dolor sit amet ".repeat(40);
    mock.push(MockResponse::endless_text(&piece, 120 * MB));
    let (out, slowest) = ask_while_polling_status(&env, &["hi"]).await;
    assert_eq!(out.code, 1, "{}", out.stderr);
    let (kind, message) = out.last_error();
    assert_eq!(kind, "limit_exceeded");
    assert!(
        message.contains("the reply (text and tool-call arguments) exceeded 1048576 bytes")
            && message.contains("BOTCODER_MAX_REPLY_BYTES"),
        "{message}"
    );
    assert!(slowest < Duration::from_secs(1), "status took {slowest:?}");
    assert!(
        mock.endless_bytes_sent() < 100 * MB,
        "{} bytes were sent",
        mock.endless_bytes_sent()
    );
    let hwm = peak_rss_kb(d.pid());
    assert!(hwm < MAX_HWM_KB, "peak RSS {hwm} kB");
    a_normal_reply_works(&env, &mock).await;
}

fn calls(n: usize) -> Vec<(String, String, String)> {
    (0..n)
        .map(|i| {
            (
                format!("call_{i}"),
                "read_file".to_owned(),
                r#"{"path":"a.txt"}"#.to_owned(),
            )
        })
        .collect()
}

fn borrowed(c: &[(String, String, String)]) -> Vec<(&str, &str, &str)> {
    c.iter()
        .map(|(a, b, c)| (a.as_str(), b.as_str(), c.as_str()))
        .collect()
}

fn tool_results(out: &CliOutput) -> usize {
    out.json_lines()
        .iter()
        .filter(|l| l["type"] == "tool.result")
        .count()
}

/// Tool calls past the cap are never silently dropped: the first `cap` run, the model is
/// told (in the last result) that the rest did not, and the turn goes on.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn tool_calls_past_the_cap_are_refused_and_the_model_is_told_for_every_wire_format() {
    // OpenAI: one past the default cap of 128.
    let (env, mock, _d) = setup(&[]).await;
    std::fs::write(env.project.join("a.txt"), "alpha\n").unwrap();
    mock.push(MockResponse::openai_tool_calls(&borrowed(&calls(129)), 0));
    mock.push(MockResponse::text("fewer next time"));
    let out = env.ask(&["--json", "--approval", "auto"], "go").await;
    assert_eq!(out.code, 0, "{}", out.stderr);
    assert_eq!(tool_results(&out), 128);
    let requests = mock.requests();
    assert_eq!(requests.len(), 2, "the model was asked again");
    let told = requests[1].body.to_string();
    assert!(
        told.contains("more than 128 tool calls") && told.contains("BOTCODER_MAX_TOOL_CALLS"),
        "the model was not told: {}",
        &told[told.len().saturating_sub(600)..]
    );

    // Anthropic, with the cap set lower: at the cap the calls run, past it only the cap runs.
    let mock = MockLlm::start().await.unwrap();
    let mut env = TestEnv::new();
    env.use_anthropic_mock(&mock, "sk-ant-test-key")
        .set("LLM_MAX_RETRIES", "0")
        .set("BOTCODER_MAX_TOOL_CALLS", "2");
    std::fs::write(env.project.join("a.txt"), "alpha\n").unwrap();
    let _d = env.start_daemon();
    mock.push(MockResponse::anthropic_tool_uses(&borrowed(&calls(2))));
    mock.push(MockResponse::anthropic_text("read it twice"));
    let out = env.ask(&["--json", "--approval", "auto"], "go").await;
    assert_eq!(out.code, 0, "{}", out.stderr);
    assert_eq!(tool_results(&out), 2);
    assert!(!out.stdout.contains("more than 2 tool calls"));
    mock.push(MockResponse::anthropic_tool_uses(&borrowed(&calls(3))));
    mock.push(MockResponse::anthropic_text("ok"));
    let out = env.ask(&["--json", "--approval", "auto"], "go").await;
    assert_eq!(out.code, 0, "{}", out.stderr);
    assert_eq!(tool_results(&out), 2);
    let last = mock.requests().last().unwrap().body.to_string();
    assert!(last.contains("more than 2 tool calls"), "{last}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn one_tool_calls_arguments_past_their_cap_fail_the_turn() {
    let (env, mock, _d) = setup(&[("BOTCODER_MAX_TOOL_ARGS_BYTES", "1000")]).await;
    let big = format!(r#"{{"path":"a.txt","pad":"{}"}}"#, "p".repeat(2000));
    mock.push(MockResponse::openai_tool_calls(
        &[("call_1", "read_file", &big)],
        100,
    ));
    let out = env.ask(&["--json", "--approval", "auto"], "go").await;
    assert_eq!(out.code, 1, "{}", out.stderr);
    let (kind, message) = out.last_error();
    assert_eq!(kind, "limit_exceeded");
    assert!(
        message.contains("one tool call's arguments exceeded 1000 bytes")
            && message.contains("BOTCODER_MAX_TOOL_ARGS_BYTES"),
        "{message}"
    );
    assert_eq!(tool_results(&out), 0);
    a_normal_reply_works(&env, &mock).await;
}
