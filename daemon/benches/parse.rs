//! Parsing overhead per streamed chunk for each wire format: SSE framing plus the format's
//! decoder, fed in 1 KiB slices as a socket would deliver them.
//!
//! Run: `cargo bench -p botcoder-daemon --bench parse`

// Bench code: a failed expectation aborts the run.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::time::Instant;

use botcoder_daemon::llm::anthropic::AnthropicDecoder;
use botcoder_daemon::llm::openai::OpenAiDecoder;
use botcoder_daemon::llm::sse::SseParser;
use botcoder_daemon::llm::stream::ChunkDecoder;

const CHUNKS: usize = 20_000;

fn openai_body() -> String {
    let mut s = String::new();
    for i in 0..CHUNKS {
        s.push_str(&format!(
            "data: {{\"id\":\"chatcmpl-1\",\"object\":\"chat.completion.chunk\",\"created\":1,\"model\":\"m\",\"choices\":[{{\"index\":0,\"delta\":{{\"content\":\"token{i} \"}},\"finish_reason\":null}}],\"usage\":null}}\n\n"
        ));
    }
    s.push_str("data: [DONE]\n\n");
    s
}

fn anthropic_body() -> String {
    let mut s = String::from(
        "event: message_start\ndata: {\"type\":\"message_start\",\"message\":{\"usage\":{\"input_tokens\":1}}}\n\n",
    );
    for i in 0..CHUNKS {
        s.push_str(&format!(
            "event: content_block_delta\ndata: {{\"type\":\"content_block_delta\",\"index\":0,\"delta\":{{\"type\":\"text_delta\",\"text\":\"token{i} \"}}}}\n\n"
        ));
    }
    s.push_str("event: message_stop\ndata: {\"type\":\"message_stop\"}\n\n");
    s
}

fn run(name: &str, body: &str, mut decoder: impl ChunkDecoder) {
    let start = Instant::now();
    let mut parser = SseParser::new();
    let mut out = Vec::with_capacity(CHUNKS + 4);
    for slice in body.as_bytes().chunks(1024) {
        for ev in parser.push(slice).unwrap() {
            decoder.event(&ev.event, &ev.data, &mut out).unwrap();
        }
    }
    let elapsed = start.elapsed();
    assert!(out.len() >= CHUNKS, "{name}: {} events", out.len());
    println!(
        "{name:<28} {CHUNKS} chunks in {:>7.2} ms = {:>6.0} ns/chunk ({:.1} MB/s)",
        elapsed.as_secs_f64() * 1e3,
        elapsed.as_nanos() as f64 / CHUNKS as f64,
        body.len() as f64 / elapsed.as_secs_f64() / 1e6
    );
}

fn main() {
    let (openai, anthropic) = (openai_body(), anthropic_body());
    for _ in 0..3 {
        run("openai chat completions", &openai, OpenAiDecoder::default());
        run(
            "anthropic messages",
            &anthropic,
            AnthropicDecoder::default(),
        );
    }
}
