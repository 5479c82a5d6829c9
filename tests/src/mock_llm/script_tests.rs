//! Tests of the body builders: the JSON they generate, independent of the server.

use serde_json::{Value, json};

use super::*;

fn content(data: &[String]) -> String {
    data.iter()
        .filter(|d| *d != "[DONE]")
        .map(|d| serde_json::from_str::<Value>(d).unwrap())
        .filter_map(|v| {
            v["choices"][0]["delta"]["content"]
                .as_str()
                .map(str::to_owned)
        })
        .collect()
}

#[test]
fn split_words_keeps_whitespace_and_round_trips() {
    assert_eq!(
        split_words("Hello, big  world\n"),
        ["Hello, ", "big  ", "world\n"]
    );
    assert_eq!(split_words("  lead"), ["  lead"]);
    assert!(split_words("").is_empty());
    let text = " a\tb c  ";
    assert_eq!(split_words(text).concat(), text);
}

#[test]
fn split_chars_respects_char_boundaries() {
    assert_eq!(split_chars(r#"{"a":1}"#, 3), [r#"{"a"#, r#"":1"#, "}"]);
    assert_eq!(split_chars("héé", 2), ["h", "é", "é"]);
    assert_eq!(split_chars("€", 1), ["€"]);
    assert_eq!(split_chars("abc", 0), ["abc"]);
    assert!(split_chars("", 4).is_empty());
}

fn data_json(response: &MockResponse) -> Vec<(Option<String>, Value)> {
    let MockResponse::Sse { events, .. } = response else {
        panic!("not SSE")
    };
    events
        .iter()
        .filter(|e| e.data != "[DONE]")
        .map(|e| (e.event.clone(), serde_json::from_str(&e.data).unwrap()))
        .collect()
}

#[test]
fn openai_tool_calls_stream_index_id_name_then_argument_pieces() {
    let r = MockResponse::openai_tool_calls(
        &[
            ("call_1", "read_file", r#"{"path":"ä.rs"}"#),
            ("call_2", "ls", "{}"),
        ],
        4,
    );
    let chunks = data_json(&r);
    let deltas: Vec<&Value> = chunks
        .iter()
        .map(|(_, c)| &c["choices"][0]["delta"])
        .collect();
    let first = &deltas[1]["tool_calls"][0];
    assert_eq!(first["index"], 0);
    assert_eq!(first["id"], "call_1");
    assert_eq!(first["type"], "function");
    assert_eq!(first["function"]["name"], "read_file");
    let mut args = [String::new(), String::new()];
    for d in &deltas {
        if let Some(tc) = d["tool_calls"].get(0) {
            assert!(tc["function"]["arguments"].as_str().unwrap().len() <= 4);
            let i = tc["index"].as_u64().unwrap() as usize;
            args[i] += tc["function"]["arguments"].as_str().unwrap();
        }
    }
    assert_eq!(args, [r#"{"path":"ä.rs"}"#, "{}"]);
    let (_, finish) = &chunks[chunks.len() - 2];
    assert_eq!(finish["choices"][0]["finish_reason"], "tool_calls");
    assert!(chunks.last().unwrap().1["usage"].is_object());
    let stripped = data_json(&r.clone().without_usage().without_done());
    assert_eq!(stripped.len(), chunks.len() - 1);
}

#[test]
fn anthropic_streams_follow_the_messages_event_sequence() {
    let names = |r: &MockResponse| -> Vec<String> {
        data_json(r)
            .into_iter()
            .map(|(e, d)| {
                assert_eq!(
                    e.as_deref(),
                    d["type"].as_str(),
                    "event name matches data.type"
                );
                e.unwrap()
            })
            .collect()
    };
    let text = MockResponse::anthropic_text("Hi there");
    assert_eq!(
        names(&text),
        [
            "message_start",
            "content_block_start",
            "ping",
            "content_block_delta",
            "content_block_delta",
            "content_block_stop",
            "message_delta",
            "message_stop"
        ]
    );
    let events = data_json(&text);
    assert_eq!(
        events[3].1["delta"],
        json!({"type": "text_delta", "text": "Hi "})
    );
    assert_eq!(events[6].1["delta"]["stop_reason"], "end_turn");
    assert_eq!(events[6].1["usage"]["output_tokens"], 2);

    let tool = MockResponse::anthropic_tool_use("toolu_1", "ls", &[r#"{"pa"#, r#"th":"."}"#]);
    let events = data_json(&tool);
    assert_eq!(
        events[1].1["content_block"],
        json!({"type": "tool_use", "id": "toolu_1", "name": "ls", "input": {}})
    );
    assert_eq!(
        events[4].1["delta"],
        json!({"type": "input_json_delta", "partial_json": "th\":\".\"}"})
    );
    assert_eq!(events[6].1["delta"]["stop_reason"], "tool_use");
}

#[test]
fn sse_event_encoding() {
    assert_eq!(SseEvent::data("x").encode(), "data: x\n\n");
    assert_eq!(
        SseEvent::named("ping", "a\nb").encode(),
        "event: ping\ndata: a\ndata: b\n\n"
    );
    let tokens = MockResponse::tokens(3);
    let data: Vec<String> = data_json(&tokens)
        .iter()
        .map(|(_, v)| v.to_string())
        .collect();
    assert_eq!(content(&data), "tok0 tok1 tok2 ");
    assert_eq!(data.len(), 5, "role, 3 tokens, usage");
}
