use super::*;
use crate::llm::sse::SseParser;
use crate::llm::{ToolCallRequest, ToolSpec};
use pretty_assertions::assert_eq;
use proptest::prelude::{Just, prop_oneof};

const STREAM: &str = "event: message_start\ndata: {\"type\":\"message_start\",\"message\":{\"id\":\"m\",\"usage\":{\"input_tokens\":12,\"output_tokens\":1}}}\n\n\
event: content_block_start\ndata: {\"type\":\"content_block_start\",\"index\":0,\"content_block\":{\"type\":\"text\",\"text\":\"\"}}\n\n\
event: ping\ndata: {\"type\":\"ping\"}\n\n\
event: content_block_delta\ndata: {\"type\":\"content_block_delta\",\"index\":0,\"delta\":{\"type\":\"text_delta\",\"text\":\"Let me look é\"}}\n\n\
event: content_block_stop\ndata: {\"type\":\"content_block_stop\",\"index\":0}\n\n\
event: content_block_start\ndata: {\"type\":\"content_block_start\",\"index\":1,\"content_block\":{\"type\":\"tool_use\",\"id\":\"toolu_1\",\"name\":\"read_file\",\"input\":{}}}\n\n\
event: content_block_delta\ndata: {\"type\":\"content_block_delta\",\"index\":1,\"delta\":{\"type\":\"input_json_delta\",\"partial_json\":\"{\\\"pa\"}}\n\n\
event: brand_new_event\ndata: {\"type\":\"brand_new_event\",\"x\":1}\n\n\
event: content_block_delta\ndata: {\"type\":\"content_block_delta\",\"index\":1,\"delta\":{\"type\":\"input_json_delta\",\"partial_json\":\"th\\\":\\\"a.rs\\\"}\"}}\n\n\
event: content_block_start\ndata: {\"type\":\"content_block_start\",\"index\":2,\"content_block\":{\"type\":\"tool_use\",\"id\":\"toolu_2\",\"name\":\"list_files\",\"input\":{}}}\n\n\
event: message_delta\ndata: {\"type\":\"message_delta\",\"delta\":{\"stop_reason\":\"tool_use\"},\"usage\":{\"output_tokens\":40}}\n\n\
event: message_stop\ndata: {\"type\":\"message_stop\"}\n\n";

fn decode_split(
    bytes: &[u8],
    cut: usize,
) -> (Vec<ProviderEvent>, Result<ProviderEvent, ProviderError>) {
    let mut parser = SseParser::new();
    let mut d = AnthropicDecoder::default();
    let mut out = Vec::new();
    let (a, b) = bytes.split_at(cut);
    for chunk in [a, b] {
        for ev in parser.push(chunk).unwrap() {
            d.event(&ev.event, &ev.data, &mut out).unwrap();
        }
    }
    (out, d.finish())
}

fn merged(events: &[ProviderEvent]) -> (String, Vec<(usize, String, String, String)>) {
    let mut text = String::new();
    let mut calls: Vec<(usize, String, String, String)> = Vec::new();
    for e in events {
        match e {
            ProviderEvent::TextDelta(t) => text.push_str(t),
            ProviderEvent::ToolCallStart { index, id, name } => {
                calls.push((*index, id.clone(), name.clone(), String::new()))
            }
            ProviderEvent::ToolCallArgsDelta { index, text } => calls[*index].3.push_str(text),
            _ => {}
        }
    }
    (text, calls)
}

#[test]
fn full_sequence_with_tool_use_unknown_events_and_cumulative_usage() {
    let (events, end) = decode_split(STREAM.as_bytes(), 0);
    let (text, calls) = merged(&events);
    assert_eq!(text, "Let me look é");
    assert_eq!(
        calls,
        vec![
            (
                0,
                "toolu_1".into(),
                "read_file".into(),
                r#"{"path":"a.rs"}"#.into()
            ),
            (1, "toolu_2".into(), "list_files".into(), String::new()),
        ]
    );
    assert_eq!(
        events.last(),
        Some(&ProviderEvent::Usage {
            input_tokens: 12,
            output_tokens: 40,
            cached_input_tokens: None,
            reasoning_tokens: None,
        })
    );
    assert_eq!(
        end,
        Ok(ProviderEvent::Done {
            stop_reason: StopReason::ToolUse
        })
    );
}

#[test]
fn splitting_the_stream_anywhere_gives_the_same_result() {
    let bytes = STREAM.as_bytes();
    let whole = merged(&decode_split(bytes, 0).0);
    for cut in 1..bytes.len() {
        assert_eq!(merged(&decode_split(bytes, cut).0), whole, "cut at {cut}");
    }
}

#[test]
fn mid_stream_error_and_truncated_streams() {
    let mut d = AnthropicDecoder::default();
    let err = d
        .event(
            "error",
            r#"{"type":"error","error":{"type":"overloaded_error","message":"Overloaded"}}"#,
            &mut Vec::new(),
        )
        .unwrap_err();
    assert_eq!(err.kind, ErrorKind::ProviderUnavailable);
    assert!(err.message.contains("Overloaded"));
    let mut empty = AnthropicDecoder::default();
    assert!(empty.finish().unwrap_err().retryable);
    let mut cut = AnthropicDecoder::default();
    cut.event(
        "message_start",
        r#"{"type":"message_start","message":{}}"#,
        &mut Vec::new(),
    )
    .unwrap();
    assert!(!cut.finish().unwrap_err().retryable);
}

fn provider(thinking_budget: Option<u32>) -> AnthropicProvider {
    AnthropicProvider::new(
        AnthropicConfig {
            base_url: "http://x".into(),
            model: "m".into(),
            api_key: Secret::new("k"),
            max_tokens: 100,
            context_window: None,
            idle_timeout: Duration::from_secs(1),
            thinking_budget,
            key_var: "ANTHROPIC_API_KEY".into(),
        },
        crate::llm::http_client().unwrap(),
    )
}

#[test]
fn body_merges_roles_and_sends_tools_and_results_in_anthropic_shape() {
    let p = provider(None);
    let req = ChatRequest {
        system: Some("sys".into()),
        messages: vec![
            ChatMessage::User("hi".into()),
            ChatMessage::Assistant {
                text: "looking".into(),
                tool_calls: vec![ToolCallRequest {
                    id: "t1".into(),
                    name: "read_file".into(),
                    arguments: r#"{"path":"a"}"#.into(),
                }],
            },
            ChatMessage::ToolResult {
                call_id: "t1".into(),
                name: "read_file".into(),
                output: "A".into(),
                is_error: false,
            },
            ChatMessage::User("more".into()),
        ],
        tools: vec![ToolSpec {
            name: "read_file".into(),
            description: "d".into(),
            parameters: json!({"type": "object"}),
        }],
        max_tokens: None,
        cache_key: None,
    };
    let body = p.body(&req);
    let cached = json!({"type": "ephemeral"});
    assert_eq!(
        body["system"],
        json!([{"type": "text", "text": "sys", "cache_control": cached}])
    );
    assert_eq!(body["max_tokens"], 100);
    assert_eq!(
        body["tools"][0],
        json!({"name": "read_file", "description": "d", "input_schema": {"type": "object"},
               "cache_control": cached})
    );
    let roles: Vec<&str> = body["messages"]
        .as_array()
        .unwrap()
        .iter()
        .map(|m| m["role"].as_str().unwrap())
        .collect();
    assert_eq!(roles, ["user", "assistant", "user"]);
    // Breakpoints on the last block of the last two messages only.
    assert_eq!(
        body["messages"][1]["content"][1],
        json!({"type": "tool_use", "id": "t1", "name": "read_file", "input": {"path": "a"},
               "cache_control": cached})
    );
    assert_eq!(
        body["messages"][2]["content"][0],
        json!({"type": "tool_result", "tool_use_id": "t1", "content": "A", "is_error": false})
    );
    assert_eq!(
        body["messages"][2]["content"][1],
        json!({"type": "text", "text": "more", "cache_control": cached})
    );
    assert_eq!(body["messages"][0]["content"][0].get("cache_control"), None);
    assert_eq!(breakpoints(&body), 4);
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

const THINKING: &str = "event: message_start\ndata: {\"type\":\"message_start\",\"message\":{\"id\":\"m\",\"usage\":{\"input_tokens\":5,\"cache_read_input_tokens\":90,\"cache_creation_input_tokens\":5,\"output_tokens\":1}}}\n\n\
event: content_block_start\ndata: {\"type\":\"content_block_start\",\"index\":0,\"content_block\":{\"type\":\"thinking\",\"thinking\":\"\"}}\n\n\
event: content_block_delta\ndata: {\"type\":\"content_block_delta\",\"index\":0,\"delta\":{\"type\":\"thinking_delta\",\"thinking\":\"Let me \"}}\n\n\
event: content_block_delta\ndata: {\"type\":\"content_block_delta\",\"index\":0,\"delta\":{\"type\":\"thinking_delta\",\"thinking\":\"think.\"}}\n\n\
event: content_block_delta\ndata: {\"type\":\"content_block_delta\",\"index\":0,\"delta\":{\"type\":\"signature_delta\",\"signature\":\"EqQBsig\"}}\n\n\
event: content_block_stop\ndata: {\"type\":\"content_block_stop\",\"index\":0}\n\n\
event: content_block_start\ndata: {\"type\":\"content_block_start\",\"index\":1,\"content_block\":{\"type\":\"redacted_thinking\",\"data\":\"opaque\"}}\n\n\
event: content_block_stop\ndata: {\"type\":\"content_block_stop\",\"index\":1}\n\n\
event: content_block_start\ndata: {\"type\":\"content_block_start\",\"index\":2,\"content_block\":{\"type\":\"tool_use\",\"id\":\"toolu_1\",\"name\":\"git\",\"input\":{}}}\n\n\
event: content_block_stop\ndata: {\"type\":\"content_block_stop\",\"index\":2}\n\n\
event: message_delta\ndata: {\"type\":\"message_delta\",\"delta\":{\"stop_reason\":\"tool_use\"},\"usage\":{\"output_tokens\":7}}\n\n\
event: message_stop\ndata: {\"type\":\"message_stop\"}\n\n";

#[test]
fn thinking_blocks_become_reasoning_with_their_signature_and_cache_reads_count() {
    let (events, _) = decode_split(THINKING.as_bytes(), 0);
    let thinking = json!({"type": "thinking", "thinking": "Let me think.", "signature": "EqQBsig"});
    let redacted = json!({"type": "redacted_thinking", "data": "opaque"});
    assert_eq!(
        events,
        vec![
            ProviderEvent::ReasoningDelta("Let me ".into()),
            ProviderEvent::ReasoningDelta("think.".into()),
            ProviderEvent::Reasoning {
                text: "Let me think.".into(),
                replay: Some(thinking.clone())
            },
            ProviderEvent::Reasoning {
                text: String::new(),
                replay: Some(redacted.clone())
            },
            ProviderEvent::ToolCallStart {
                index: 0,
                id: "toolu_1".into(),
                name: "git".into()
            },
            ProviderEvent::Usage {
                input_tokens: 100,
                output_tokens: 7,
                cached_input_tokens: Some(90),
                reasoning_tokens: None,
            },
        ]
    );
    // Replayed first in the assistant message, without a breakpoint on them; the budget
    // is requested and the reply budget made room for it.
    let req = ChatRequest {
        messages: vec![
            ChatMessage::User("go".into()),
            ChatMessage::Reasoning {
                text: "Let me think.".into(),
                replay: Some(thinking.clone()),
            },
            ChatMessage::Reasoning {
                text: String::new(),
                replay: Some(redacted.clone()),
            },
            // A Responses item after a provider switch is not Anthropic's to send.
            ChatMessage::Reasoning {
                text: String::new(),
                replay: Some(json!({"type": "reasoning", "encrypted_content": "e"})),
            },
            ChatMessage::Assistant {
                text: String::new(),
                tool_calls: vec![ToolCallRequest {
                    id: "toolu_1".into(),
                    name: "git".into(),
                    arguments: "{}".into(),
                }],
            },
        ],
        ..ChatRequest::default()
    };
    let body = provider(Some(2000)).body(&req);
    assert_eq!(
        body["thinking"],
        json!({"type": "enabled", "budget_tokens": 2000})
    );
    assert_eq!(body["max_tokens"], 3024);
    assert_eq!(
        body["messages"][1]["content"],
        json!([thinking, redacted, {"type": "tool_use", "id": "toolu_1", "name": "git",
               "input": {}, "cache_control": {"type": "ephemeral"}}])
    );
}

proptest::proptest! {
    /// Any SSE data, any event name: the decoder returns events or an error, never panics.
    #[test]
    fn decoder_never_panics(event in "[a-z_]{0,20}", data in "\\PC{0,300}") {
        let mut d = AnthropicDecoder::default();
        let _ = d.event(&event, &data, &mut Vec::new());
        let _ = d.finish();
    }

    #[test]
    fn decoder_never_panics_on_shaped_json(kind in prop_oneof![Just("content_block_start"), Just("content_block_delta"), Just("message_delta"), Just("error"), Just("message_stop")],
                                          index in proptest::option::of(0u64..5), body in "\\PC{0,40}") {
        let data = serde_json::json!({"type": kind, "index": index, "delta": {"type": "input_json_delta", "partial_json": body}, "content_block": {"type": "tool_use", "id": body, "name": body}}).to_string();
        let mut d = AnthropicDecoder::default();
        let _ = d.event(kind, &data, &mut Vec::new());
        let _ = d.finish();
    }
}
