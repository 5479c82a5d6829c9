//! Each wire format end to end through the real daemon: Anthropic Messages and Azure OpenAI
//! against the mock, plus an opt-in run against a real local LLM server.

// Test code: a failed expectation is a failed test.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use botcoder_tests::harness::TestEnv;
use botcoder_tests::mock_llm::{MockLlm, MockResponse, SseEvent};
use pretty_assertions::assert_eq;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn anthropic_streams_text_with_its_headers() {
    let mock = MockLlm::start().await.unwrap();
    mock.push(MockResponse::anthropic_text("Bonjour from Claude."));
    let mut env = TestEnv::new();
    env.use_anthropic_mock(&mock, "sk-ant-test")
        .set("ANTHROPIC_MODEL", "claude-test");
    let _d = env.start_daemon();
    let out = env.ask(&[], "hello").await;
    assert_eq!(
        (out.code, out.stdout.as_str()),
        (0, "Bonjour from Claude.\n"),
        "{}",
        out.stderr
    );
    let req = &mock.requests()[0];
    assert_eq!(
        (req.method.as_str(), req.path.as_str()),
        ("POST", "/v1/messages")
    );
    assert_eq!(req.header("x-api-key"), Some("sk-ant-test"));
    assert_eq!(req.header("anthropic-version"), Some("2023-06-01"));
    assert_eq!(req.body["model"], "claude-test");
    // One text block carrying the prompt-cache breakpoint.
    assert!(
        req.body["system"][0]["text"]
            .as_str()
            .unwrap()
            .contains("botcoder")
    );
    assert_eq!(req.body["system"][0]["cache_control"]["type"], "ephemeral");
    assert_eq!(req.body["messages"][0]["role"], "user");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn anthropic_tool_use_runs_the_tool_and_sends_a_tool_result_block() {
    let mock = MockLlm::start().await.unwrap();
    mock.push(MockResponse::anthropic_tool_use(
        "toolu_9",
        "read_file",
        &["{\"pa", "th\":\"a.txt\"}"],
    ));
    mock.push(MockResponse::anthropic_text("It says hello."));
    let mut env = TestEnv::new();
    env.use_anthropic_mock(&mock, "k");
    std::fs::write(env.project.join("a.txt"), "hello\n").unwrap();
    let _d = env.start_daemon();
    let out = env.ask(&["--approval", "auto"], "read a.txt").await;
    assert_eq!(out.code, 0, "{}", out.stderr);
    assert!(out.stdout.ends_with("It says hello.\n"), "{}", out.stdout);
    let second = &mock.requests()[1].body;
    let blocks = second["messages"][2]["content"].clone();
    assert_eq!(blocks[0]["type"], "tool_result");
    assert_eq!(blocks[0]["tool_use_id"], "toolu_9");
    assert!(blocks[0]["content"].as_str().unwrap().contains("hello"));
    assert_eq!(
        second["messages"][1]["content"][0]["input"]["path"],
        "a.txt"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn anthropic_mid_stream_error_fails_the_turn_clearly_and_unknown_events_are_ignored() {
    let mock = MockLlm::start().await.unwrap();
    let start =
        r#"{"type":"message_start","message":{"usage":{"input_tokens":3,"output_tokens":1}}}"#;
    let block =
        r#"{"type":"content_block_start","index":0,"content_block":{"type":"text","text":""}}"#;
    let delta = r#"{"type":"content_block_delta","index":0,"delta":{"type":"text_delta","text":"Partial "}}"#;
    mock.push(MockResponse::sse(vec![
        SseEvent::named("message_start", start),
        SseEvent::named("content_block_start", block),
        SseEvent::named("something_new", r#"{"type":"something_new"}"#),
        SseEvent::named("content_block_delta", delta),
        SseEvent::named(
            "error",
            r#"{"type":"error","error":{"type":"overloaded_error","message":"Overloaded"}}"#,
        ),
    ]));
    let mut env = TestEnv::new();
    env.use_anthropic_mock(&mock, "k");
    let _d = env.start_daemon();
    let out = env.ask(&[], "hi").await;
    assert_eq!(out.code, 75, "{}", out.stderr);
    assert_eq!(out.stdout, "Partial \n");
    assert!(
        out.stderr.contains("overloaded_error") && out.stderr.contains("Overloaded"),
        "{}",
        out.stderr
    );
    assert_eq!(mock.requests().len(), 1, "no retry after output began");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn azure_uses_the_deployment_url_and_api_key_header_on_both_surfaces() {
    for (version, path) in [
        (
            None,
            "/openai/deployments/gpt4o/chat/completions?api-version=2024-10-21",
        ),
        // The v1 surface serves the Responses API, the default wire there.
        (Some("v1"), "/openai/v1/responses"),
    ] {
        let mock = MockLlm::start().await.unwrap();
        mock.push(if version.is_some() {
            MockResponse::responses_text("azure says hi")
        } else {
            MockResponse::text("azure says hi")
        });
        let mut env = TestEnv::new();
        env.set("LLM_PROVIDER", "azure")
            .set("AZURE_OPENAI_API_KEY", "az-key")
            .set("AZURE_OPENAI_ENDPOINT", &format!("http://{}", mock.addr()))
            .set("AZURE_OPENAI_DEPLOYMENT", "gpt4o");
        if let Some(v) = version {
            env.set("AZURE_OPENAI_API_VERSION", v);
        }
        let _d = env.start_daemon();
        let out = env.ask(&[], "hi").await;
        assert_eq!(
            (out.code, out.stdout.as_str()),
            (0, "azure says hi\n"),
            "{}",
            out.stderr
        );
        let req = &mock.requests()[0];
        assert_eq!(req.path, path);
        assert_eq!(req.header("api-key"), Some("az-key"));
        assert_eq!(req.header("authorization"), None);
        assert_eq!(req.body["model"], "gpt4o");
    }
}

/// Opt-in: `BOTCODER_REAL_LLM_URL=$(../shared/tools/real-llm.sh start)` runs `botcoder ask`
/// against a real llama.cpp server through the `local` provider on both OpenAI wires (chat
/// completions and `/v1/responses`) and the `anthropic` provider
/// (`cargo nextest run -p botcoder-tests --test e2e --run-ignored only providers_e2e::`).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "needs a real LLM server: set BOTCODER_REAL_LLM_URL=$(../shared/tools/real-llm.sh start)"]
async fn real_local_llm_streams_through_local_and_anthropic_providers() {
    let url = std::env::var("BOTCODER_REAL_LLM_URL")
        .expect("BOTCODER_REAL_LLM_URL names the real LLM server this ignored test runs against");
    let base = url.trim_end_matches('/').trim_end_matches("/v1").to_owned();
    for provider in ["local", "local-responses", "anthropic"] {
        let mut env = TestEnv::new();
        match provider {
            "local" | "local-responses" => env
                .set("LLM_PROVIDER", "local")
                .set("LOCAL_LLM_URL", &url)
                .set("LOCAL_LLM_MODEL", "smollm2")
                .set(
                    "LOCAL_LLM_WIRE",
                    if provider == "local" {
                        "chat"
                    } else {
                        "responses"
                    },
                ),
            _ => env
                .set("LLM_PROVIDER", "anthropic")
                .set("ANTHROPIC_API_KEY", "unused")
                .set("ANTHROPIC_BASE_URL", &base)
                .set("ANTHROPIC_MODEL", "smollm2")
                .set("ANTHROPIC_MAX_TOKENS", "64"),
        };
        env.set("LOCAL_LLM_CONTEXT", "8192");
        let _d = env.start_daemon();
        let out = env
            .run_cli_timeout(
                &[
                    "ask",
                    "--json",
                    "--project",
                    &env.project_arg(),
                    "Say hello.",
                ],
                None,
                std::time::Duration::from_secs(120),
            )
            .await;
        assert_eq!(out.code, 0, "{provider}: {}", out.stderr);
        let lines = out.json_lines();
        assert!(
            lines.iter().any(|l| l["type"] == "assistant.delta"),
            "{provider}: no streamed text"
        );
        let text = lines
            .iter()
            .find(|l| l["type"] == "assistant.message")
            .map(|l| l["text"].to_string());
        assert!(text.is_some_and(|t| t.len() > 2), "{provider}: empty reply");
        // Both OpenAI wires report usage from the real server.
        if provider != "anthropic" {
            assert!(
                lines
                    .iter()
                    .any(|l| l["type"] == "usage" && l["input_tokens"].as_u64() > Some(0)),
                "{provider}: no usage"
            );
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_unavailable_provider_falls_back_to_the_next_and_says_so() {
    let primary = MockLlm::start().await.unwrap();
    primary.set_default(MockResponse::status(
        503,
        "{\"error\":{\"message\":\"down for maintenance\"}}",
    ));
    let backup = MockLlm::start().await.unwrap();
    backup.push(MockResponse::anthropic_text("from the backup"));
    let mut env = TestEnv::new();
    env.use_mock(&primary)
        .set("LLM_MAX_RETRIES", "0")
        .set("LLM_FALLBACK", "anthropic")
        .set("ANTHROPIC_API_KEY", "k")
        .set("ANTHROPIC_BASE_URL", &format!("http://{}", backup.addr()));
    let _d = env.start_daemon();
    let out = env.ask(&["--json"], "hi").await;
    assert_eq!(out.code, 0, "{}", out.stderr);
    let lines = out.json_lines();
    let switched = lines
        .iter()
        .find(|l| l["type"] == "provider.switched")
        .expect("provider.switched");
    assert_eq!(
        (switched["from"].as_str(), switched["to"].as_str()),
        (Some("local"), Some("anthropic"))
    );
    assert!(
        switched["reason"]
            .as_str()
            .unwrap()
            .contains("down for maintenance")
    );
    let msg = lines
        .iter()
        .find(|l| l["type"] == "assistant.message")
        .unwrap();
    assert_eq!(msg["text"], "from the backup");
}
