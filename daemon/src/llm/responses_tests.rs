#![allow(clippy::unwrap_used, clippy::expect_used)]
use super::*;
use crate::llm::{ToolCallRequest, ToolSpec};
use pretty_assertions::assert_eq;

fn decode(events: &[Value]) -> (Vec<ProviderEvent>, Result<ProviderEvent, ProviderError>) {
    let mut d = ResponsesDecoder::default();
    let mut out = Vec::new();
    for e in events {
        d.event(e["type"].as_str().unwrap(), &e.to_string(), &mut out)
            .unwrap();
        if d.is_done() {
            break;
        }
    }
    (out, d.finish())
}

fn reasoning_item() -> Value {
    json!({"type": "reasoning", "id": "rs_1", "summary": [{"type": "summary_text", "text": "Think."}],
           "encrypted_content": "gAAA-opaque"})
}

#[test]
fn reasoning_then_function_call_with_usage_details() {
    let call = json!({"type": "function_call", "id": "fc_1", "call_id": "call_1", "name": "read_file", "arguments": "", "status": "in_progress"});
    let (events, end) = decode(&[
        json!({"type": "response.created", "response": {"id": "r", "status": "in_progress"}}),
        json!({"type": "response.output_item.added", "output_index": 0, "item": {"type": "reasoning", "id": "rs_1", "summary": []}}),
        json!({"type": "response.reasoning_summary_part.added", "item_id": "rs_1", "summary_index": 0}),
        json!({"type": "response.reasoning_summary_text.delta", "item_id": "rs_1", "summary_index": 0, "delta": "Thi"}),
        json!({"type": "response.reasoning_summary_text.delta", "item_id": "rs_1", "summary_index": 0, "delta": "nk."}),
        json!({"type": "response.output_item.done", "output_index": 0, "item": reasoning_item()}),
        json!({"type": "response.output_item.added", "output_index": 1, "item": call}),
        json!({"type": "response.function_call_arguments.delta", "item_id": "fc_1", "output_index": 1, "delta": "{\"path\":"}),
        json!({"type": "response.function_call_arguments.delta", "item_id": "fc_1", "output_index": 1, "delta": "\"a\"}"}),
        json!({"type": "response.function_call_arguments.done", "item_id": "fc_1", "output_index": 1, "arguments": "{\"path\":\"a\"}"}),
        json!({"type": "response.output_item.done", "output_index": 1, "item": {"type": "function_call", "id": "fc_1", "call_id": "call_1", "name": "read_file", "arguments": "{\"path\":\"a\"}"}}),
        json!({"type": "response.completed", "response": {"status": "completed", "usage": {
            "input_tokens": 100, "input_tokens_details": {"cached_tokens": 80},
            "output_tokens": 30, "output_tokens_details": {"reasoning_tokens": 20}}}}),
    ]);
    assert_eq!(
        events,
        vec![
            ProviderEvent::ReasoningDelta("Thi".into()),
            ProviderEvent::ReasoningDelta("nk.".into()),
            ProviderEvent::Reasoning {
                text: "Think.".into(),
                replay: Some(reasoning_item())
            },
            ProviderEvent::ToolCallStart {
                index: 0,
                id: "call_1".into(),
                name: "read_file".into()
            },
            ProviderEvent::ToolCallArgsDelta {
                index: 0,
                text: "{\"path\":".into()
            },
            ProviderEvent::ToolCallArgsDelta {
                index: 0,
                text: "\"a\"}".into()
            },
            ProviderEvent::Usage {
                input_tokens: 100,
                output_tokens: 30,
                cached_input_tokens: Some(80),
                reasoning_tokens: Some(20)
            },
        ]
    );
    assert_eq!(
        end,
        Ok(ProviderEvent::Done {
            stop_reason: StopReason::ToolUse
        })
    );
}

#[test]
fn text_deltas_and_a_server_that_sends_items_whole() {
    let (events, end) = decode(&[
        json!({"type": "response.output_text.delta", "item_id": "m", "output_index": 0, "delta": "Hel"}),
        json!({"type": "response.output_text.delta", "item_id": "m", "output_index": 0, "delta": "lo"}),
        json!({"type": "response.output_item.done", "output_index": 0, "item": {"type": "message", "content": [{"type": "output_text", "text": "Hello"}]}}),
        json!({"type": "response.completed", "response": {"status": "completed"}}),
    ]);
    assert_eq!(
        events,
        vec![
            ProviderEvent::TextDelta("Hel".into()),
            ProviderEvent::TextDelta("lo".into())
        ]
    );
    assert_eq!(
        end,
        Ok(ProviderEvent::Done {
            stop_reason: StopReason::EndTurn
        })
    );
    // No deltas at all: the done items carry the text and the whole call.
    let (events, _) = decode(&[
        json!({"type": "response.output_item.done", "output_index": 0, "item": {"type": "message", "content": [{"type": "output_text", "text": "Hi"}]}}),
        json!({"type": "response.output_item.done", "output_index": 1, "item": {"type": "function_call", "id": "fc", "call_id": "c", "name": "git", "arguments": "{}"}}),
        json!({"type": "response.output_item.done", "output_index": 2, "item": {"type": "reasoning", "id": "rs", "content": [{"type": "reasoning_text", "text": "raw"}]}}),
        json!({"type": "response.incomplete", "response": {"status": "incomplete", "incomplete_details": {"reason": "max_output_tokens"}}}),
    ]);
    assert_eq!(
        events,
        vec![
            ProviderEvent::TextDelta("Hi".into()),
            ProviderEvent::ToolCallStart {
                index: 0,
                id: "c".into(),
                name: "git".into()
            },
            ProviderEvent::ToolCallArgsDelta {
                index: 0,
                text: "{}".into()
            },
            // Without encrypted content there is nothing to replay.
            ProviderEvent::Reasoning {
                text: "raw".into(),
                replay: None
            },
        ]
    );
}

#[test]
fn failures_are_classified_and_cut_streams_are_errors() {
    let mut d = ResponsesDecoder::default();
    let failed = json!({"type": "response.failed", "response": {"status": "failed",
        "error": {"code": "rate_limit_exceeded", "message": "slow down"}}});
    let err = d
        .event("", &failed.to_string(), &mut Vec::new())
        .unwrap_err();
    assert_eq!((err.kind, err.retryable), (ErrorKind::RateLimited, true));
    assert!(err.message.contains("slow down"), "{err}");
    let mut d = ResponsesDecoder::default();
    let error =
        json!({"type": "error", "code": "invalid_prompt", "message": "bad input", "param": null});
    let err = d
        .event("error", &error.to_string(), &mut Vec::new())
        .unwrap_err();
    assert_eq!((err.kind, err.retryable), (ErrorKind::ProviderError, false));
    assert!(err.message.contains("invalid_prompt") && err.message.contains("bad input"));
    assert!(ResponsesDecoder::default().finish().unwrap_err().retryable);
    let mut cut = ResponsesDecoder::default();
    cut.event(
        "",
        r#"{"type":"response.output_text.delta","delta":"x"}"#,
        &mut Vec::new(),
    )
    .unwrap();
    assert!(!cut.finish().unwrap_err().retryable);
}

#[test]
fn too_many_calls_is_the_cap_error() {
    let limits = ProviderLimits {
        tool_calls: 1,
        ..ProviderLimits::default()
    };
    let mut d = ResponsesDecoder::new("openai", limits);
    let added = |i: u64| {
        json!({"type": "response.output_item.added", "output_index": i,
               "item": {"type": "function_call", "id": format!("fc{i}"), "call_id": format!("c{i}"), "name": "git"}})
        .to_string()
    };
    d.event("", &added(0), &mut Vec::new()).unwrap();
    let err = d.event("", &added(1), &mut Vec::new()).unwrap_err();
    assert!(limits::is_too_many_calls(&err), "{err}");
}

fn request() -> ChatRequest {
    ChatRequest {
        system: Some("sys".into()),
        messages: vec![
            ChatMessage::User("hi".into()),
            ChatMessage::Reasoning {
                text: "Think.".into(),
                replay: Some(reasoning_item()),
            },
            ChatMessage::Assistant {
                text: "looking".into(),
                tool_calls: vec![ToolCallRequest {
                    id: "call_1".into(),
                    name: "read_file".into(),
                    arguments: r#"{"path":"a"}"#.into(),
                }],
            },
            ChatMessage::ToolResult {
                call_id: "call_1".into(),
                name: "read_file".into(),
                output: "A".into(),
                is_error: false,
            },
            // A thinking block of another wire, and a reasoning item left without its reply.
            ChatMessage::Reasoning {
                text: String::new(),
                replay: Some(json!({"type": "thinking", "thinking": "x", "signature": "s"})),
            },
            ChatMessage::Assistant {
                text: "done".into(),
                tool_calls: vec![],
            },
            ChatMessage::User("more".into()),
            ChatMessage::Reasoning {
                text: "orphan".into(),
                replay: Some(reasoning_item()),
            },
        ],
        tools: vec![ToolSpec {
            name: "read_file".into(),
            description: "d".into(),
            parameters: json!({"type": "object"}),
        }],
        max_tokens: Some(500),
        cache_key: Some("s-123".into()),
    }
}

#[test]
fn body_is_stateless_replays_reasoning_without_its_id_and_keys_the_cache() {
    let body = body("gpt-5", Some("high"), &request());
    let mut replayed = reasoning_item();
    replayed.as_object_mut().unwrap().remove("id");
    assert_eq!(
        body,
        json!({
            "model": "gpt-5",
            "instructions": "sys",
            "input": [
                {"role": "user", "content": "hi"},
                replayed,
                {"type": "message", "role": "assistant", "content": [{"type": "output_text", "text": "looking"}]},
                {"type": "function_call", "call_id": "call_1", "name": "read_file", "arguments": "{\"path\":\"a\"}"},
                {"type": "function_call_output", "call_id": "call_1", "output": "A"},
                {"type": "message", "role": "assistant", "content": [{"type": "output_text", "text": "done"}]},
                {"role": "user", "content": "more"},
            ],
            "tools": [{"type": "function", "name": "read_file", "description": "d", "parameters": {"type": "object"}}],
            "stream": true,
            "store": false,
            "reasoning": {"effort": "high", "summary": "auto"},
            "include": ["reasoning.encrypted_content"],
            "prompt_cache_key": "s-123",
            "max_output_tokens": 500,
        })
    );
    // A model that does not reason gets neither `reasoning` nor the include it would refuse.
    let plain = super::body("gpt-4o-mini", None, &request());
    assert!(plain.get("reasoning").is_none() && plain.get("include").is_none());
}

#[test]
fn wire_defaults_and_urls() {
    assert_eq!(
        Wire::default_for("openai", "https://api.openai.com/v1/chat/completions"),
        Wire::Responses
    );
    assert_eq!(
        Wire::default_for("openai", "https://proxy.example/v1/chat/completions"),
        Wire::Chat
    );
    assert_eq!(
        Wire::default_for(
            "azure",
            "https://r.openai.azure.com/openai/v1/chat/completions"
        ),
        Wire::Responses
    );
    assert_eq!(
        Wire::default_for(
            "azure",
            "https://r.openai.azure.com/openai/deployments/d/chat/completions?api-version=2024-10-21"
        ),
        Wire::Chat
    );
    assert_eq!(
        Wire::default_for("local", "http://127.0.0.1:8080/v1/chat/completions"),
        Wire::Chat
    );
    assert_eq!(Wire::parse(" Responses "), Some(Wire::Responses));
    assert_eq!(Wire::parse("grpc"), None);
    assert_eq!(
        responses_url("http://127.0.0.1:8080/v1/chat/completions"),
        "http://127.0.0.1:8080/v1/responses"
    );
    assert_eq!(
        responses_url(
            "https://r.openai.azure.com/openai/deployments/d/chat/completions?api-version=x"
        ),
        "https://r.openai.azure.com/openai/responses?api-version=x"
    );
    assert!(is_reasoning_model("gpt-5.1-codex") && is_reasoning_model("o3-mini"));
    assert!(
        is_reasoning_model("o4") && !is_reasoning_model("gpt-4o") && !is_reasoning_model("omni")
    );
}

mod prop {
    use super::*;
    use proptest::prelude::*;

    proptest! {
        /// Any event data: events or an error, never a panic.
        #[test]
        fn decoder_never_panics(kind in "[a-z_.]{0,40}", data in "\\PC{0,300}") {
            let mut d = ResponsesDecoder::default();
            let _ = d.event(&kind, &data, &mut Vec::new());
            let _ = d.finish();
        }

        #[test]
        fn shaped_events_never_panic(kind in prop_oneof![Just("response.output_item.added"), Just("response.output_item.done"),
                Just("response.function_call_arguments.delta"), Just("response.completed"), Just("response.failed"), Just("error")],
                item_type in prop_oneof![Just("function_call"), Just("reasoning"), Just("message"), Just("x")],
                s in "\\PC{0,20}", n in proptest::option::of(any::<u64>())) {
            let data = json!({"type": kind, "output_index": n, "item_id": s, "delta": s,
                "item": {"type": item_type, "id": s, "call_id": s, "name": s, "arguments": s, "encrypted_content": s, "content": s},
                "response": {"usage": {"input_tokens": n}, "error": s}}).to_string();
            let mut d = ResponsesDecoder::default();
            let _ = d.event(kind, &data, &mut Vec::new());
            let _ = d.finish();
        }
    }
}
