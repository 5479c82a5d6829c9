//! Summarised compaction and cost end to end: the real daemon against the scripted mock
//! provider with a small context window. The summary request is made (and asked for a
//! handoff summary), the next request carries the summary instead of the old messages,
//! recent user words stay verbatim, tool calls keep their results, the compaction survives
//! a restart; `session.compact` on demand; a failed summary falls back and says so; usage
//! events carry a cost from the built-in price table or a config override, shown by
//! `sessions list`, `status` and `ask --json`.

// Test code: a failed expectation is a failed test.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::time::Duration;

use botcoder_protocol::client::DaemonClient;
use botcoder_protocol::methods::{DaemonStatus, Empty, SessionCompact, SessionGet, SessionRef};
use botcoder_protocol::{ApprovalPolicy, Event, EventBody, SessionId};
use botcoder_tests::harness::{DaemonProcess, TestEnv};
use botcoder_tests::mock_llm::{MockLlm, MockResponse, RecordedRequest, SseEvent};
use botcoder_tests::session::{create, turn};
use pretty_assertions::assert_eq;
use serde_json::{Value, json};

const T: Duration = Duration::from_secs(30);
const SUMMARY: &str = "HANDOFF-SUMMARY: the user wants the parser fixed; f1.txt was read.";

fn chunk(delta: Value, finish: Option<&str>) -> SseEvent {
    SseEvent::data(
        json!({"id": "c", "object": "chat.completion.chunk", "created": 1, "model": "m",
               "choices": [{"index": 0, "delta": delta, "finish_reason": finish}]})
        .to_string(),
    )
}

fn usage(prompt: u64, completion: u64) -> SseEvent {
    SseEvent::data(
        json!({"id": "c", "object": "chat.completion.chunk", "created": 1, "model": "m",
               "choices": [], "usage": {"prompt_tokens": prompt, "completion_tokens": completion,
               "total_tokens": prompt + completion}})
        .to_string(),
    )
}

/// A text reply whose usage reports `prompt` input tokens (0: the daemon learns nothing
/// from it, so its own estimates stay as they are) and `completion` output tokens.
fn reply(text: &str, prompt: u64, completion: u64) -> MockResponse {
    MockResponse::sse(vec![
        chunk(json!({"role": "assistant", "content": text}), None),
        chunk(json!({}), Some("stop")),
        usage(prompt, completion),
        SseEvent::data("[DONE]"),
    ])
}

/// One native call of `read_file` on `path`, with a usage that teaches nothing.
fn read_call(id: &str, path: &str) -> MockResponse {
    let call = json!({"tool_calls": [{"index": 0, "id": id, "type": "function",
        "function": {"name": "read_file", "arguments": json!({"path": path}).to_string()}}]});
    MockResponse::sse(vec![
        chunk(json!({"role": "assistant", "content": null}), None),
        chunk(call, None),
        chunk(json!({}), Some("tool_calls")),
        usage(0, 0),
        SseEvent::data("[DONE]"),
    ])
}

/// The harness's mock, answering with usage by default.
async fn env_with_mock() -> (TestEnv, MockLlm) {
    let (env, mock) = botcoder_tests::harness::env_with_mock(&[]).await;
    mock.set_default(reply("ok", 0, 1));
    (env, mock)
}

/// About the tokens the daemon counts for what every request carries besides messages:
/// the system prompt and the tool definitions, measured on a recorded request.
fn fixed_tokens(r: &RecordedRequest) -> u64 {
    let system = r.body["messages"][0]["content"].as_str().unwrap().len();
    let tools = r.body.get("tools").map_or(0, |t| t.to_string().len());
    ((system + tools) / 4) as u64
}

/// A daemon whose context window leaves `room` tokens for messages below a 70% threshold
/// (`BOTCODER_COMPACT_AT`), measured on a first request.
async fn daemon_with_room(env: &mut TestEnv, mock: &MockLlm, room: u64) -> DaemonProcess {
    let mut d = env.start_daemon();
    let c = env.client("measure").await;
    let id = create(&c, &env.project, ApprovalPolicy::Auto).await;
    turn(&c, &id, "hello", T).await;
    let fixed = fixed_tokens(mock.requests().last().unwrap());
    d.kill9();
    let window = ((fixed + room) as f64 / 0.7).ceil() as u64;
    env.set("BOTCODER_CONTEXT_WINDOW", &window.to_string());
    env.set("BOTCODER_COMPACT_AT", "70");
    env.start_daemon()
}

fn all_text(r: &RecordedRequest) -> String {
    r.body["messages"].to_string()
}

fn is_summary_request(r: &RecordedRequest) -> bool {
    r.body["messages"][0]["content"]
        .as_str()
        .is_some_and(|s| s.contains("handoff summary"))
}

fn compactions(events: &[Event]) -> Vec<(String, Option<String>)> {
    events
        .iter()
        .filter_map(|e| match &e.body {
            EventBody::ContextCompacted {
                method, summary, ..
            } => Some((method.clone(), summary.clone())),
            _ => None,
        })
        .collect()
}

/// A user message of about 1,000 estimated tokens, marked at both ends.
fn question(n: usize) -> String {
    format!("Q{n}-START {} Q{n}-END", format!("w{n} ").repeat(1300))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_oldest_turns_are_summarised_and_the_next_request_carries_the_summary() {
    let (mut env, mock) = env_with_mock().await;
    let _d = daemon_with_room(&mut env, &mock, 2500).await;
    let c = env.client("t").await;
    let id = create(&c, &env.project, ApprovalPolicy::Auto).await;
    // Two exchanges fit below the threshold; the third question takes it over.
    for n in 1..=2 {
        let events = turn(&c, &id, &question(n), T).await;
        assert_eq!(compactions(&events), vec![], "turn {n}");
    }
    mock.push(reply(SUMMARY, 0, 20));
    let seen = mock.requests().len();
    let events = turn(&c, &id, &question(3), T).await;
    let requests = mock.requests()[seen..].to_vec();
    assert_eq!(requests.len(), 2, "a summary request, then the turn's");
    // The summary request: the handoff instructions and the old messages as a transcript.
    assert!(is_summary_request(&requests[0]), "{}", requests[0].body);
    let transcript = all_text(&requests[0]);
    assert!(transcript.contains("Q1-START") && transcript.contains("Q2-END"));
    assert!(
        !transcript.contains("Q3-START"),
        "the kept tail is not summarised"
    );
    assert!(requests[0].body.get("tools").is_none());
    // The turn's request: the summary instead of the old messages, the latest question
    // verbatim as the last message.
    let next = &requests[1];
    let text = all_text(next);
    assert!(text.contains("HANDOFF-SUMMARY"), "{text:.300}");
    assert!(!text.contains("Q1-START"), "the oldest question is gone");
    let msgs = next.body["messages"].as_array().unwrap();
    assert_eq!(msgs.last().unwrap()["content"], question(3));
    let compacted = compactions(&events);
    assert_eq!(compacted.len(), 1, "{compacted:?}");
    assert_eq!(compacted[0].0, "summarized");
    let summary = compacted[0].1.clone().unwrap();
    assert!(summary.contains(SUMMARY));
    // The latest summarised user message is kept verbatim next to the summary (cut to
    // the budget when long: head and tail stay).
    assert!(
        summary.contains("Q2-START") && summary.contains("Q2-END"),
        "{summary:.400}"
    );
    let before_after = events.iter().find_map(|e| match e.body {
        EventBody::ContextCompacted {
            before_tokens,
            after_tokens,
            ..
        } => Some((before_tokens, after_tokens)),
        _ => None,
    });
    let (before, after) = before_after.unwrap();
    assert!(after < before, "{before} -> {after}");

    // The compaction is durable: after a restart the next request still starts from it.
    drop(_d);
    let _d2 = env.start_daemon();
    let c = env.client("t2").await;
    let seen = mock.requests().len();
    turn(&c, &id, "and now?", T).await;
    let after_restart = mock.requests()[seen..].to_vec();
    assert_eq!(after_restart.len(), 1, "no second summary is needed");
    let text = all_text(&after_restart[0]);
    assert!(text.contains("HANDOFF-SUMMARY") && !text.contains("Q1-START"));
    assert!(
        text.contains("Q3-START"),
        "the kept question is still there"
    );
}

/// Every tool result of a request answers a call made earlier in the same request.
fn assert_pairs_intact(r: &RecordedRequest) {
    let mut calls: Vec<String> = Vec::new();
    for m in r.body["messages"].as_array().unwrap() {
        if let Some(tc) = m["tool_calls"].as_array() {
            calls.extend(tc.iter().map(|c| c["id"].as_str().unwrap().to_owned()));
        }
        if m["role"] == "tool" {
            let id = m["tool_call_id"].as_str().unwrap();
            assert!(
                calls.iter().any(|c| c == id),
                "result {id} without its call: {}",
                r.body
            );
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn one_long_turn_of_tool_calls_is_summarised_inside_itself_with_pairs_intact() {
    let (mut env, mock) = env_with_mock().await;
    for n in 1..=3 {
        let body: String = (0..40)
            .map(|i| format!("F{n}-line{i:02} {}\n", "x".repeat(90)))
            .collect();
        std::fs::write(env.project.join(format!("f{n}.txt")), body).unwrap();
    }
    let _d = daemon_with_room(&mut env, &mock, 2500).await;
    let c = env.client("t").await;
    let id = create(&c, &env.project, ApprovalPolicy::Auto).await;
    // Each result is about 1,100 tokens: after the third the prompt passes the threshold,
    // so the fourth model request of the turn is preceded by the summary request.
    mock.push(read_call("c1", "f1.txt"));
    mock.push(read_call("c2", "f2.txt"));
    mock.push(read_call("c3", "f3.txt"));
    mock.push(reply(SUMMARY, 0, 20));
    mock.push(reply("all read", 0, 2));
    let seen = mock.requests().len();
    let events = turn(&c, &id, "read f1.txt, f2.txt and f3.txt", T).await;
    let requests = mock.requests()[seen..].to_vec();
    assert_eq!(
        requests.len(),
        5,
        "three calls, the summary, the last reply"
    );
    assert!(is_summary_request(&requests[3]), "{}", requests[3].body);
    assert!(all_text(&requests[3]).contains("F1-line00"));
    let last = &requests[4];
    let text = all_text(last);
    assert!(text.contains("HANDOFF-SUMMARY"));
    assert!(
        !text.contains("F1-line00"),
        "the first result was summarised away"
    );
    assert!(text.contains("F3-line00"), "the latest result is kept");
    // The person's request is quoted verbatim in the summary message.
    assert!(text.contains("read f1.txt, f2.txt and f3.txt"));
    for r in &requests {
        assert_pairs_intact(r);
    }
    assert_eq!(
        compactions(&events)
            .iter()
            .map(|c| c.0.as_str())
            .collect::<Vec<_>>(),
        vec!["summarized"]
    );
    assert!(matches!(
        events.last().unwrap().body,
        EventBody::TurnCompleted { error: None, .. }
    ));
}

async fn compact(
    c: &DaemonClient,
    id: &SessionId,
) -> Result<botcoder_protocol::methods::SessionCompactResult, botcoder_protocol::client::ClientError>
{
    c.call::<SessionCompact>(&SessionRef {
        session_id: id.clone(),
    })
    .await
}

async fn info(c: &DaemonClient, id: &SessionId) -> botcoder_protocol::methods::SessionInfo {
    c.call::<SessionGet>(&SessionRef {
        session_id: id.clone(),
    })
    .await
    .unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn session_compact_summarises_on_demand_and_refuses_when_there_is_nothing_to_compact() {
    let (env, mock) = env_with_mock().await;
    let _d = env.start_daemon();
    let c = env.client("t").await;
    let id = create(&c, &env.project, ApprovalPolicy::Auto).await;
    let err = compact(&c, &id).await.unwrap_err().to_string();
    assert!(err.contains("nothing to compact"), "{err}");
    for n in 1..=3 {
        turn(&c, &id, &format!("question {n}"), T).await;
    }
    mock.push(reply(SUMMARY, 0, 20));
    let seen = mock.requests().len();
    let last_seq = info(&c, &id).await.last_seq;
    let result = compact(&c, &id).await.unwrap();
    assert!(result.after_tokens > 0);
    let requests = mock.requests()[seen..].to_vec();
    assert_eq!(requests.len(), 1);
    assert!(is_summary_request(&requests[0]));
    assert!(all_text(&requests[0]).contains("question 1"));
    // Journaled: the history shows the compaction with its summary.
    let history = c
        .call::<botcoder_protocol::methods::SessionHistory>(
            &botcoder_protocol::methods::SessionHistoryParams {
                session_id: id.clone(),
                after_seq: last_seq,
                limit: None,
            },
        )
        .await
        .unwrap();
    let compacted = compactions(&history.events);
    assert_eq!(compacted.len(), 1);
    assert_eq!(compacted[0].0, "summarized");
    // The next turn starts from the summary; the latest exchange stays verbatim.
    turn(&c, &id, "question 4", T).await;
    let text = all_text(mock.requests().last().unwrap());
    assert!(text.contains("HANDOFF-SUMMARY"), "{text}");
    assert!(text.contains("question 3") && text.contains("question 4"));
    let msgs = mock.requests().last().unwrap().body["messages"].clone();
    let contents: Vec<&str> = msgs
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|m| m["content"].as_str())
        .collect();
    assert!(
        !contents.contains(&"question 1"),
        "question 1 is only in the summary now: {contents:?}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_failed_summary_request_falls_back_to_dropping_and_says_so() {
    let (mut env, mock) = env_with_mock().await;
    env.set("LLM_MAX_RETRIES", "0");
    let _d = daemon_with_room(&mut env, &mock, 2500).await;
    let c = env.client("t").await;
    let id = create(&c, &env.project, ApprovalPolicy::Auto).await;
    for n in 1..=2 {
        turn(&c, &id, &question(n), T).await;
    }
    mock.push(MockResponse::status(
        400,
        r#"{"error":{"message":"no summaries today"}}"#,
    ));
    let seen = mock.requests().len();
    let events = turn(&c, &id, &question(3), T).await;
    let requests = mock.requests()[seen..].to_vec();
    assert_eq!(
        requests.len(),
        2,
        "the failed summary request, then the turn's"
    );
    let methods: Vec<String> = compactions(&events).into_iter().map(|c| c.0).collect();
    assert!(
        !methods.is_empty() && methods.iter().all(|m| m.ends_with("_summary_failed")),
        "{methods:?}"
    );
    assert!(matches!(
        events.last().unwrap().body,
        EventBody::TurnCompleted { error: None, .. }
    ));
    assert_eq!(
        requests[1].body["messages"]
            .as_array()
            .unwrap()
            .last()
            .unwrap()["content"],
        question(3)
    );
}

fn approx(a: f64, b: f64) -> bool {
    (a - b).abs() < 1e-9
}

fn usage_costs(events: &[Event]) -> Vec<Option<f64>> {
    events
        .iter()
        .filter_map(|e| match e.body {
            EventBody::Usage { cost_usd, .. } => Some(cost_usd),
            _ => None,
        })
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn usage_carries_the_cost_of_a_known_model_and_the_session_adds_it_up() {
    let (mut env, mock) = env_with_mock().await;
    env.set("LOCAL_LLM_MODEL", "gpt-4o-2024-08-06");
    let _d = env.start_daemon();
    let c = env.client("t").await;
    let id = create(&c, &env.project, ApprovalPolicy::Auto).await;
    // gpt-4o: $2.50 per million input tokens, $10 per million output tokens.
    mock.push(reply("one", 1000, 10));
    let events = turn(&c, &id, "hi", T).await;
    let costs = usage_costs(&events);
    assert_eq!(costs.len(), 1);
    let first = 1000.0 * 2.5 / 1e6 + 10.0 * 10.0 / 1e6;
    assert!(approx(costs[0].unwrap(), first), "{costs:?}");
    mock.push(reply("two", 2000, 0));
    turn(&c, &id, "again", T).await;
    let total = first + 2000.0 * 2.5 / 1e6;
    assert!(approx(info(&c, &id).await.cost_usd.unwrap(), total));
    let status = c.call::<DaemonStatus>(&Empty {}).await.unwrap();
    assert!(approx(status.cost_usd.unwrap(), total));

    // `sessions list` shows it; `ask --json` ends with the turn's cost.
    let list = env.run_cli(&["sessions", "list"], None).await;
    assert_eq!(list.code, 0, "{}", list.stderr);
    assert!(
        list.stdout.contains("COST") && list.stdout.contains("$0.0076"),
        "{}",
        list.stdout
    );
    mock.push(reply("three", 4000, 100));
    let ask = env
        .run_cli(
            &["ask", "--json", "--session", id.as_str(), "once more"],
            None,
        )
        .await;
    assert_eq!(ask.code, 0, "{}", ask.stderr);
    let last = ask.json_lines().pop().unwrap();
    assert_eq!(last["type"], "turn.completed");
    let turn_cost = 4000.0 * 2.5 / 1e6 + 100.0 * 10.0 / 1e6;
    assert!(
        approx(last["cost_usd"].as_f64().unwrap(), turn_cost),
        "{last}"
    );

    // The session's cost is rebuilt from the journal after a restart.
    drop(_d);
    let _d2 = env.start_daemon();
    let c = env.client("t2").await;
    let rebuilt = info(&c, &id).await.cost_usd.unwrap();
    assert!(approx(rebuilt, total + turn_cost), "{rebuilt}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_config_price_prices_an_unknown_model_and_unknown_models_cost_nothing_shown() {
    let (env, mock) = env_with_mock().await;
    let _d = env.start_daemon();
    let c = env.client("t").await;
    let id = create(&c, &env.project, ApprovalPolicy::Auto).await;
    mock.push(reply("one", 1000, 10));
    let events = turn(&c, &id, "hi", T).await;
    assert_eq!(
        usage_costs(&events),
        vec![None],
        "mock-model has no known price"
    );
    assert_eq!(info(&c, &id).await.cost_usd, None);
    drop(_d);

    env.write_config("[pricing.\"mock-model\"]\ninput = 2.0\noutput = 4.0\ncached_input = 0.5\n");
    let _d = env.start_daemon();
    let c = env.client("t").await;
    mock.push(reply("two", 1_000_000, 1_000_000));
    let events = turn(&c, &id, "again", T).await;
    let costs = usage_costs(&events);
    assert!(approx(costs[0].unwrap(), 6.0), "{costs:?}");
    assert!(approx(info(&c, &id).await.cost_usd.unwrap(), 6.0));
}
