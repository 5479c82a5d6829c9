//! Prompt-cache prefix stability (issue 18), printed as figures for docs/PERFORMANCE.md.
//!
//! Over a scripted 20-turn session (each turn: a reply with a tool call, its result, a final
//! answer; reasoning items and thinking blocks replayed where the wire has them), how much
//! of each request repeats the previous request byte for byte from its start. Prompt caches
//! match prefixes (OpenAI hashes the start and reuses the longest cached prefix, Anthropic up
//! to its breakpoints), so anything that reorders tools, rewrites the system prompt or
//! re-serializes history differently shows up here as a low share. Goal: at least 95%.
//!
//! Run: `cargo build --workspace --bins && cargo test -p botcoder-tests --bench prefix`
//! (or `cargo bench` after a release build): the figures are byte counts, the same in every
//! profile and on every machine.

// Test code: a failed expectation is a failed test.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::time::Duration;

use botcoder_protocol::ApprovalPolicy;
use botcoder_tests::harness::TestEnv;
use botcoder_tests::mock_llm::{MockLlm, MockResponse, ResponsesStream};
use botcoder_tests::session::{create, turn};

const TURNS: usize = 20;
const GOAL: f64 = 0.95;
const T: Duration = Duration::from_secs(60);

#[derive(Clone, Copy, Debug)]
enum Wire {
    Chat,
    Responses,
    Anthropic,
}

impl Wire {
    fn name(self) -> &'static str {
        match self {
            Wire::Chat => "chat completions",
            Wire::Responses => "responses (reasoning replayed)",
            Wire::Anthropic => "anthropic (thinking replayed)",
        }
    }

    /// The two replies of turn `i`: a tool call, then the answer.
    fn script(self, i: usize) -> [MockResponse; 2] {
        let id = format!("call_{i}");
        let args = r#"{"path":"a.txt"}"#;
        let answer = format!("Turn {i}: the file has two lines, alpha and beta.");
        match self {
            Wire::Chat => [
                MockResponse::openai_tool_calls(&[(&id, "read_file", args)], 7),
                MockResponse::text(&answer),
            ],
            Wire::Responses => [
                ResponsesStream::new()
                    .reasoning(
                        &format!("rs_{i}"),
                        "Read the file first.",
                        Some(&format!("enc-{i}-{}", "x".repeat(200))),
                    )
                    .call(&id, "read_file", args, 7)
                    .build(),
                MockResponse::responses_text(&answer),
            ],
            Wire::Anthropic => [
                MockResponse::anthropic_thinking_tool_use(
                    "Read the file first.",
                    &format!("sig-{i}-{}", "s".repeat(200)),
                    (&id, "read_file", args),
                ),
                MockResponse::anthropic_text(&answer),
            ],
        }
    }

    fn configure(self, env: &mut TestEnv, mock: &MockLlm) {
        env.use_mock(mock);
        match self {
            Wire::Chat => {
                env.set("LOCAL_LLM_WIRE", "chat");
            }
            Wire::Responses => {
                env.set("LOCAL_LLM_WIRE", "responses")
                    .set("LOCAL_LLM_REASONING_EFFORT", "low");
            }
            Wire::Anthropic => {
                env.set("LLM_PROVIDER", "anthropic")
                    .set("ANTHROPIC_BASE_URL", &format!("http://{}", mock.addr()))
                    .set("ANTHROPIC_API_KEY", "bench-key")
                    .set("ANTHROPIC_THINKING_BUDGET", "1024");
            }
        }
    }
}

fn common_prefix(a: &[u8], b: &[u8]) -> usize {
    a.iter().zip(b).take_while(|(x, y)| x == y).count()
}

/// Anthropic's breakpoint marker as the daemon serializes it (last in its block).
const MARKER: &[u8] = br#","cache_control":{"type":"ephemeral"}"#;

/// `body` without breakpoint markers: what Anthropic's cache matches on (a breakpoint
/// says where to cache, it is not part of the cached prefix).
fn without_markers(body: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(body.len());
    let mut i = 0;
    while i < body.len() {
        if body[i..].starts_with(MARKER) {
            i += MARKER.len();
        } else {
            out.push(body[i]);
            i += 1;
        }
    }
    out
}

fn share(prev: &[u8], cur: &[u8]) -> f64 {
    common_prefix(prev, cur) as f64 / cur.len().max(1) as f64
}

/// Per request after the first: the share of it that repeats the previous request's bytes,
/// raw and with breakpoint markers aside.
async fn measure(wire: Wire) -> Vec<(f64, f64)> {
    let mock = MockLlm::start().await.expect("mock");
    let mut env = TestEnv::new();
    wire.configure(&mut env, &mock);
    std::fs::write(env.project.join("a.txt"), "alpha\nbeta\n").expect("fixture");
    let _daemon = env.start_daemon();
    let c = env.client("bench").await;
    let id = create(&c, &env.project, ApprovalPolicy::Auto).await;
    for i in 0..TURNS {
        for r in wire.script(i) {
            mock.push(r);
        }
        let events = turn(&c, &id, &format!("Turn {i}: what is in a.txt?"), T).await;
        let last = events.last().map(|e| e.body.kind());
        assert_eq!(last, Some("turn.completed"), "turn {i} of {wire:?}");
    }
    let reqs = mock.requests();
    assert_eq!(
        reqs.len(),
        2 * TURNS,
        "{wire:?}: one tool call and one answer a turn"
    );
    reqs.windows(2)
        .map(|w| {
            let (prev, cur) = (&w[0].raw_body, &w[1].raw_body);
            let content = share(&without_markers(prev), &without_markers(cur));
            (share(prev, cur), content)
        })
        .collect()
}

fn main() {
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .expect("runtime");
    println!("prefix stability over a {TURNS}-turn session with tool calls (goal >= 95%)");
    println!("share of each request repeating the previous one's bytes from the start:");
    let mut failed = Vec::new();
    for wire in [Wire::Chat, Wire::Responses, Wire::Anthropic] {
        let pairs = rt.block_on(measure(wire));
        let mean = |xs: &[f64]| xs.iter().sum::<f64>() / xs.len() as f64;
        let raw: Vec<f64> = pairs.iter().map(|p| p.0).collect();
        let content: Vec<f64> = pairs.iter().map(|p| p.1).collect();
        let min = raw.iter().copied().fold(f64::INFINITY, f64::min);
        // The last ten requests: the steady state of a long session.
        let tail = &raw[raw.len() - 10..];
        println!(
            "{:<32} requests={:<3} mean={:>6.2}%  min={:>6.2}%  last10={:>6.2}%  markers aside={:>6.2}%",
            wire.name(),
            raw.len() + 1,
            mean(&raw) * 100.0,
            min * 100.0,
            mean(tail) * 100.0,
            mean(&content) * 100.0,
        );
        // Raw bytes for OpenAI (the cache hashes the request as sent); for Anthropic the
        // content the cache matches on, since the breakpoints must move with the end of the
        // conversation.
        let judged = match wire {
            Wire::Anthropic => mean(&content),
            _ => mean(&raw),
        };
        if judged < GOAL {
            failed.push(wire.name());
        }
    }
    if !failed.is_empty() {
        eprintln!("below the {:.0}% goal: {}", GOAL * 100.0, failed.join(", "));
        std::process::exit(1);
    }
}
