use super::*;
use pretty_assertions::assert_eq;

fn decode(lines: &[&str]) -> (Vec<ProviderEvent>, Result<ProviderEvent, ProviderError>) {
    let mut d = OpenAiDecoder::default();
    let mut out = Vec::new();
    for l in lines {
        d.event("", l, &mut out).unwrap();
    }
    let end = d.finish();
    (out, end)
}

#[test]
fn text_usage_and_done() {
    let (evs, end) = decode(&[
        r#"{"choices":[{"index":0,"delta":{"role":"assistant","content":""},"finish_reason":null}],"usage":null}"#,
        r#"{"choices":[{"index":0,"delta":{"content":"Hel"},"finish_reason":null}]}"#,
        r#"{"choices":[{"index":0,"delta":{"content":"lo"},"finish_reason":"stop"}]}"#,
        r#"{"choices":[],"usage":{"prompt_tokens":5,"completion_tokens":2,"total_tokens":7}}"#,
        "[DONE]",
    ]);
    assert_eq!(
        evs,
        vec![
            ProviderEvent::TextDelta("Hel".into()),
            ProviderEvent::TextDelta("lo".into()),
            ProviderEvent::Usage {
                input_tokens: 5,
                output_tokens: 2,
                cached_input_tokens: None,
                reasoning_tokens: None,
            },
        ]
    );
    assert_eq!(
        end,
        Ok(ProviderEvent::Done {
            stop_reason: StopReason::EndTurn
        })
    );
}

#[test]
fn reasoning_content_and_usage_details() {
    let (evs, _) = decode(&[
        r#"{"choices":[{"delta":{"role":"assistant","content":null,"reasoning_content":"Hmm"}}]}"#,
        r#"{"choices":[{"delta":{"reasoning":", ok"}}]}"#,
        r#"{"choices":[{"delta":{"content":"Hi"},"finish_reason":"stop"}]}"#,
        r#"{"choices":[],"usage":{"prompt_tokens":50,"completion_tokens":9,"prompt_tokens_details":{"cached_tokens":32},"completion_tokens_details":{"reasoning_tokens":4}}}"#,
        "[DONE]",
    ]);
    assert_eq!(
        evs,
        vec![
            ProviderEvent::ReasoningDelta("Hmm".into()),
            ProviderEvent::ReasoningDelta(", ok".into()),
            ProviderEvent::TextDelta("Hi".into()),
            ProviderEvent::Usage {
                input_tokens: 50,
                output_tokens: 9,
                cached_input_tokens: Some(32),
                reasoning_tokens: Some(4),
            },
        ]
    );
}

fn provider(name: &str, wire: Wire) -> OpenAiProvider {
    let cfg = OpenAiConfig {
        name: name.into(),
        base_url: "http://x/v1".into(),
        url: "http://x/v1/chat/completions".into(),
        model: "m".into(),
        auth: OpenAiAuth::None,
        key_var: "K".into(),
        model_var: "M",
        context_window: None,
        idle_timeout: Duration::from_secs(1),
        wire,
        reasoning_effort: Some("low".into()),
    };
    OpenAiProvider::new(cfg, crate::llm::http_client().unwrap())
}

#[test]
fn chat_body_keys_the_cache_skips_reasoning_and_sets_effort() {
    let req = ChatRequest {
        messages: vec![
            ChatMessage::User("hi".into()),
            ChatMessage::Reasoning {
                text: "t".into(),
                replay: Some(json!({"type": "reasoning", "encrypted_content": "e"})),
            },
            ChatMessage::assistant("yo"),
        ],
        cache_key: Some("s1".into()),
        ..ChatRequest::default()
    };
    let body = provider("openai", Wire::Chat).body(&req);
    assert_eq!(body["prompt_cache_key"], "s1");
    assert_eq!(body["reasoning_effort"], "low");
    assert_eq!(
        body["messages"],
        json!([{"role": "user", "content": "hi"}, {"role": "assistant", "content": "yo"}])
    );
    // A local server is not sent a field it need not know.
    let local = provider("local", Wire::Chat).body(&req);
    assert!(local.get("prompt_cache_key").is_none());
    // The Responses wire goes to /responses with the same provider.
    let p = provider("local", Wire::Responses);
    assert_eq!(p.url, "http://x/v1/responses");
    assert_eq!(p.body(&req)["prompt_cache_key"], "s1");
}

#[test]
fn llama_cpp_repeats_id_and_name_and_sends_nulls() {
    let d = |args: &str| {
        format!(
            r#"{{"choices":[{{"delta":{{"role":null,"content":null,"tool_calls":[{{"index":0,"id":"c1","type":"function","function":{{"name":"read_file","arguments":"{args}"}}}}],"function_call":{{"name":"read_file","arguments":"{args}"}}}},"finish_reason":null}}]}}"#
        )
    };
    let (evs, end) = decode(&[&d(r#"{\"pa"#), &d(r#"th\":\"a\"}"#), "[DONE]"]);
    assert_eq!(
        evs,
        vec![
            ProviderEvent::ToolCallStart {
                index: 0,
                id: "c1".into(),
                name: "read_file".into()
            },
            ProviderEvent::ToolCallArgsDelta {
                index: 0,
                text: r#"{"pa"#.into()
            },
            ProviderEvent::ToolCallArgsDelta {
                index: 0,
                text: r#"th":"a"}"#.into()
            },
        ]
    );
    // [DONE] without finish_reason is accepted.
    assert_eq!(
        end,
        Ok(ProviderEvent::Done {
            stop_reason: StopReason::Other(String::new())
        })
    );
}

#[test]
fn parallel_calls_and_whole_call_in_one_delta() {
    let (evs, _) = decode(&[
        r#"{"choices":[{"delta":{"tool_calls":[{"index":0,"id":"a","function":{"name":"x","arguments":"{}"}},{"index":1,"id":"b","function":{"name":"y","arguments":"{\"k\":1}"}}]},"finish_reason":"tool_calls"}]}"#,
    ]);
    assert_eq!(
        evs,
        vec![
            ProviderEvent::ToolCallStart {
                index: 0,
                id: "a".into(),
                name: "x".into()
            },
            ProviderEvent::ToolCallArgsDelta {
                index: 0,
                text: "{}".into()
            },
            ProviderEvent::ToolCallStart {
                index: 1,
                id: "b".into(),
                name: "y".into()
            },
            ProviderEvent::ToolCallArgsDelta {
                index: 1,
                text: r#"{"k":1}"#.into()
            },
        ]
    );
}

#[test]
fn empty_stream_is_a_retryable_error_and_cut_stream_is_not_complete() {
    let (_, end) = decode(&[]);
    let err = end.unwrap_err();
    assert!(err.retryable, "{err:?}");
    let (_, end) = decode(&[r#"{"choices":[{"delta":{"content":"x"}}]}"#]);
    assert!(end.is_err());
}

#[test]
fn error_object_mid_stream_is_reported() {
    let mut d = OpenAiDecoder::default();
    let err = d
        .event(
            "",
            r#"{"error":{"message":"model overloaded"}}"#,
            &mut Vec::new(),
        )
        .unwrap_err();
    assert!(err.message.contains("model overloaded"), "{err}");
}

mod prop_tests {
    use super::*;
    use proptest::prelude::*;

    proptest! {
        /// Any chunk data: events or an error, never a panic.
        #[test]
        fn decoder_never_panics(data in "\\PC{0,300}") {
            let mut d = OpenAiDecoder::default();
            let _ = d.event("", &data, &mut Vec::new());
            let _ = d.finish();
        }

        #[test]
        fn tool_call_deltas_in_any_shape(index in proptest::option::of(any::<usize>()), id in proptest::option::of("\\PC{0,8}"),
                                         name in proptest::option::of("\\PC{0,8}"), args in proptest::option::of("\\PC{0,20}")) {
            let data = serde_json::json!({"choices": [{"delta": {"tool_calls": [{"index": index, "id": id, "function": {"name": name, "arguments": args}}]}}]}).to_string();
            let mut d = OpenAiDecoder::default();
            let _ = d.event("", &data, &mut Vec::new());
            let _ = d.finish();
        }
    }
}
