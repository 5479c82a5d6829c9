//! Reasoning models end to end: the Responses API wire against a mock built from the public
//! spec (streamed text, function calls, reasoning items that must come back verbatim in the
//! next request), Anthropic extended thinking (blocks replayed with their signatures) and
//! prompt-cache breakpoints, and `reasoning_content` from local chat servers.

// Test code: a failed expectation is a failed test.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::time::Duration;

use botcoder_protocol::{ApprovalPolicy, Event, EventBody, TurnStatus};
use botcoder_tests::harness::{DaemonProcess, TestEnv};
use botcoder_tests::mock_llm::{MockLlm, MockResponse, ResponsesStream, SseEvent};
use botcoder_tests::session::{create, tool_results, turn};
use pretty_assertions::assert_eq;
use serde_json::{Value, json};

const T: Duration = Duration::from_secs(30);

async fn setup(vars: &[(&str, &str)]) -> (TestEnv, MockLlm, DaemonProcess) {
    let mock = MockLlm::start().await.expect("mock");
    let mut env = TestEnv::new();
    env.use_mock(&mock);
    for (k, v) in vars {
        env.set(k, v);
    }
    std::fs::write(env.project.join("a.txt"), "alpha\nbeta\n").expect("fixture");
    let daemon = env.start_daemon();
    (env, mock, daemon)
}

fn status(events: &[Event]) -> (TurnStatus, Option<String>) {
    match &events.last().expect("events").body {
        EventBody::TurnCompleted { status, error, .. } => {
            (*status, error.as_ref().map(|e| e.message.clone()))
        }
        other => panic!("last event is not turn.completed: {other:?}"),
    }
}

/// Event kinds in order, ephemeral ones left out.
fn durable_kinds(events: &[Event]) -> Vec<&'static str> {
    events
        .iter()
        .filter(|e| e.body.is_durable())
        .map(|e| e.body.kind())
        .collect()
}

fn reasoning_deltas(events: &[Event]) -> String {
    events
        .iter()
        .filter_map(|e| match &e.body {
            EventBody::AssistantReasoningDelta { text, .. } => Some(text.as_str()),
            _ => None,
        })
        .collect()
}

fn reasoning(events: &[Event]) -> Vec<(String, Option<Value>)> {
    events
        .iter()
        .filter_map(|e| match &e.body {
            EventBody::AssistantReasoning { text, replay, .. } => {
                Some((text.clone(), replay.clone()))
            }
            _ => None,
        })
        .collect()
}

const SUMMARY: &str = "I should read a.txt first.";

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn responses_reasoning_items_come_back_verbatim_between_tool_calls() {
    let (env, mock, _d) = setup(&[
        ("LOCAL_LLM_WIRE", "responses"),
        ("LOCAL_LLM_REASONING_EFFORT", "low"),
    ])
    .await;
    mock.push(
        ResponsesStream::new()
            .reasoning("rs_1", SUMMARY, Some("enc-opaque-1"))
            .call("call_1", "read_file", r#"{"path":"a.txt"}"#, 5)
            .usage_details(6, 4)
            .build(),
    );
    mock.push(MockResponse::responses_text("It has two lines."));
    mock.set_default(MockResponse::responses_text("ok"));
    let c = env.client("t").await;
    let id = create(&c, &env.project, ApprovalPolicy::Auto).await;
    let events = turn(&c, &id, "what is in a.txt?", T).await;
    assert_eq!(status(&events), (TurnStatus::Completed, None));
    assert_eq!(tool_results(&events).len(), 1);

    // Reasoning streamed live, then journaled whole before the calls it led to.
    assert_eq!(reasoning_deltas(&events), SUMMARY);
    let item = ResponsesStream::reasoning_item("rs_1", SUMMARY, Some("enc-opaque-1"));
    assert_eq!(
        reasoning(&events),
        vec![(SUMMARY.to_owned(), Some(item.clone()))]
    );
    let kinds = durable_kinds(&events);
    let at = |k: &str| kinds.iter().position(|x| *x == k).unwrap();
    assert!(at("assistant.reasoning") < at("tool.call"), "{kinds:?}");
    let usage: Vec<(Option<u64>, Option<u64>)> = events
        .iter()
        .filter_map(|e| match &e.body {
            EventBody::Usage {
                cached_input_tokens,
                reasoning_tokens,
                ..
            } => Some((*cached_input_tokens, *reasoning_tokens)),
            _ => None,
        })
        .collect();
    assert_eq!(usage[0], (Some(6), Some(4)));

    let reqs = mock.requests();
    assert_eq!(reqs.len(), 2);
    assert_eq!(reqs[0].path, "/v1/responses");
    let first = &reqs[0].body;
    assert_eq!(first["store"], false);
    assert_eq!(first["stream"], true);
    assert_eq!(first["include"], json!(["reasoning.encrypted_content"]));
    assert_eq!(
        first["reasoning"],
        json!({"effort": "low", "summary": "auto"})
    );
    assert_eq!(first["prompt_cache_key"], id.to_string());
    assert_eq!(first["tools"][0]["type"], "function");
    // The reasoning item comes back verbatim (its id aside: nothing is stored server-side),
    // right before the call it preceded, then the call's output.
    let mut replayed = item.clone();
    replayed.as_object_mut().unwrap().remove("id");
    let input = reqs[1].body["input"].as_array().unwrap().clone();
    assert_eq!(
        input,
        vec![
            json!({"role": "user", "content": "what is in a.txt?"}),
            replayed,
            json!({"type": "function_call", "call_id": "call_1", "name": "read_file",
                   "arguments": r#"{"path":"a.txt"}"#}),
            json!({"type": "function_call_output", "call_id": "call_1",
                   "output": input[3]["output"].clone()}),
        ]
    );
    assert!(input[3]["output"].as_str().unwrap().contains("beta"));

    // The next turn's request starts with everything the last one sent (a stable prefix,
    // so the prompt cache hits), the reasoning item included.
    let events = turn(&c, &id, "thanks", T).await;
    assert_eq!(status(&events), (TurnStatus::Completed, None));
    let reqs = mock.requests();
    let next = reqs[2].body["input"].as_array().unwrap();
    assert_eq!(&next[..4], &input[..]);
    assert_eq!(reqs[2].body["prompt_cache_key"], id.to_string());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn responses_failures_end_the_turn_with_the_servers_reason() {
    let (env, mock, _d) = setup(&[("LOCAL_LLM_WIRE", "responses"), ("LLM_MAX_RETRIES", "0")]).await;
    mock.push(MockResponse::responses_failed(
        "invalid_prompt",
        "the prompt was flagged",
    ));
    mock.push(MockResponse::responses_error(
        "context_length_exceeded",
        "too long for this model",
    ));
    let c = env.client("t").await;
    let id = create(&c, &env.project, ApprovalPolicy::Auto).await;
    let (st, msg) = status(&turn(&c, &id, "one", T).await);
    assert_eq!(st, TurnStatus::Failed);
    let msg = msg.unwrap();
    assert!(
        msg.contains("invalid_prompt") && msg.contains("flagged"),
        "{msg}"
    );
    let (st, msg) = status(&turn(&c, &id, "two", T).await);
    assert_eq!(st, TurnStatus::Failed);
    assert!(msg.unwrap().contains("too long for this model"));
    // Plain text replies still work on the same session.
    mock.push(MockResponse::responses_text("fine"));
    assert_eq!(
        status(&turn(&c, &id, "three", T).await),
        (TurnStatus::Completed, None)
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_hostile_endless_reasoning_stream_is_cut_at_the_reply_cap() {
    let (env, mock, _d) = setup(&[
        ("LOCAL_LLM_WIRE", "responses"),
        ("BOTCODER_MAX_REPLY_BYTES", "4096"),
    ])
    .await;
    let piece = json!({"type": "response.reasoning_summary_text.delta", "item_id": "rs",
        "output_index": 0, "summary_index": 0, "delta": "think ".repeat(100)});
    let event = SseEvent::named("response.reasoning_summary_text.delta", piece.to_string());
    mock.push(MockResponse::sse(vec![event; 100]));
    let c = env.client("t").await;
    let id = create(&c, &env.project, ApprovalPolicy::Auto).await;
    let events = turn(&c, &id, "go", T).await;
    let (st, msg) = status(&events);
    assert_eq!(st, TurnStatus::Failed);
    assert!(msg.unwrap().contains("BOTCODER_MAX_REPLY_BYTES"));
    assert!(reasoning_deltas(&events).len() <= 4096);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn local_reasoning_content_is_shown_but_never_sent_back() {
    let (env, mock, _d) = setup(&[]).await;
    let chunk = |delta: Value, finish: Option<&str>| {
        SseEvent::data(
            json!({"object": "chat.completion.chunk", "choices": [{"index": 0, "delta": delta, "finish_reason": finish}]})
                .to_string(),
        )
    };
    mock.push(MockResponse::sse(vec![
        chunk(
            json!({"role": "assistant", "reasoning_content": "Hmm, "}),
            None,
        ),
        chunk(json!({"reasoning_content": "easy."}), None),
        chunk(json!({"content": "Hello"}), Some("stop")),
        SseEvent::data("[DONE]"),
    ]));
    mock.set_default(MockResponse::text("again"));
    let c = env.client("t").await;
    let id = create(&c, &env.project, ApprovalPolicy::Auto).await;
    let events = turn(&c, &id, "hi", T).await;
    assert_eq!(status(&events), (TurnStatus::Completed, None));
    assert_eq!(reasoning(&events), vec![("Hmm, easy.".to_owned(), None)]);
    let kinds = durable_kinds(&events);
    let at = |k: &str| kinds.iter().position(|x| *x == k).unwrap();
    assert!(
        at("assistant.reasoning") < at("assistant.message"),
        "{kinds:?}"
    );
    turn(&c, &id, "more", T).await;
    let reqs = mock.requests();
    assert_eq!(
        reqs[1].body["messages"],
        json!([
            {"role": "system", "content": reqs[1].body["messages"][0]["content"].clone()},
            {"role": "user", "content": "hi"},
            {"role": "assistant", "content": "Hello"},
            {"role": "user", "content": "more"},
        ])
    );
}

fn breakpoints(v: &Value) -> usize {
    match v {
        Value::Object(m) => {
            usize::from(m.contains_key("cache_control"))
                + m.values().map(breakpoints).sum::<usize>()
        }
        Value::Array(a) => a.iter().map(breakpoints).sum(),
        _ => 0,
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn anthropic_thinking_blocks_are_replayed_with_signatures_and_caches_marked() {
    let mock = MockLlm::start().await.expect("mock");
    let mut env = TestEnv::new();
    env.use_anthropic_mock(&mock, "test-key")
        .set("ANTHROPIC_THINKING_BUDGET", "2048");
    std::fs::write(env.project.join("a.txt"), "alpha\n").expect("fixture");
    let _d = env.start_daemon();
    mock.push(MockResponse::anthropic_thinking_tool_use(
        "Read it first.",
        "sig-EqQB",
        ("toolu_1", "read_file", r#"{"path":"a.txt"}"#),
    ));
    mock.push(MockResponse::anthropic_text("It says alpha."));
    let c = env.client("t").await;
    let id = create(&c, &env.project, ApprovalPolicy::Auto).await;
    let events = turn(&c, &id, "read a.txt", T).await;
    assert_eq!(status(&events), (TurnStatus::Completed, None));
    let block = json!({"type": "thinking", "thinking": "Read it first.", "signature": "sig-EqQB"});
    assert_eq!(
        reasoning(&events),
        vec![("Read it first.".to_owned(), Some(block.clone()))]
    );
    let reqs = mock.requests();
    assert_eq!(reqs.len(), 2);
    for r in &reqs {
        assert_eq!(
            r.body["thinking"],
            json!({"type": "enabled", "budget_tokens": 2048})
        );
        // Tools, system and the last two messages: the API's four at most.
        let tools = r.body["tools"].as_array().unwrap();
        assert!(tools.last().unwrap().get("cache_control").is_some());
        assert!(r.body["system"][0].get("cache_control").is_some());
        assert!(breakpoints(&r.body) <= 4, "{}", r.body);
    }
    assert_eq!(breakpoints(&reqs[1].body), 4);
    // The thinking block leads the assistant message, exactly as it streamed.
    let assistant = &reqs[1].body["messages"][1];
    assert_eq!(assistant["role"], "assistant");
    assert_eq!(assistant["content"][0], block);
    assert_eq!(assistant["content"][1]["type"], "tool_use");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn ask_hides_reasoning_unless_asked_and_then_keeps_it_off_stdout() {
    let (env, mock, _d) = setup(&[("LOCAL_LLM_WIRE", "responses")]).await;
    let answer = || {
        ResponsesStream::new()
            .reasoning("rs_1", "Greet back.", None)
            .text("Hello there.")
            .build()
    };
    mock.push(answer());
    mock.push(answer());
    let project = env.project.display().to_string();
    let out = env
        .run_cli(&["ask", "--project", &project, "hi"], None)
        .await;
    assert_eq!(
        (out.code, out.stdout.as_str()),
        (0, "Hello there.\n"),
        "{}",
        out.stderr
    );
    assert!(!out.stderr.contains("Greet back."), "{}", out.stderr);
    let out = env
        .run_cli(
            &["ask", "--show-reasoning", "--project", &project, "hi"],
            None,
        )
        .await;
    assert_eq!(
        (out.code, out.stdout.as_str()),
        (0, "Hello there.\n"),
        "{}",
        out.stderr
    );
    assert!(out.stderr.contains("Greet back.\n"), "{}", out.stderr);
}
