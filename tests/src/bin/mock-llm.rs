//! Standalone mock LLM server for benchmarks that compare botcoder against other tools (or
//! against plain curl) on the same scripted stream.
//!
//! Usage: `mock-llm [--tokens N] [--delay-ms D] [--port P] [--format openai|anthropic|responses]`.
//! Every request gets a stream of N pieces (default 200) in the chosen wire format (OpenAI
//! chat completions by default), D ms before each event (default 0).
//! The first stdout line is the base URL (`http://127.0.0.1:PORT/v1`), flushed at once so a
//! harness can read it; the server then runs until killed (or Ctrl-C).

use std::io::Write;
use std::net::{Ipv4Addr, SocketAddr};
use std::process::ExitCode;
use std::time::Duration;

use botcoder_tests::mock_llm::{MockLlm, MockResponse};

const USAGE: &str =
    "usage: mock-llm [--tokens N] [--delay-ms D] [--port P] [--format openai|anthropic|responses]";

struct Args {
    tokens: usize,
    delay_ms: u64,
    port: u16,
    format: String,
}

fn parse_args() -> Result<Args, String> {
    let mut args = Args {
        tokens: 200,
        delay_ms: 0,
        port: 0,
        format: "openai".to_owned(),
    };
    let mut it = std::env::args().skip(1);
    while let Some(flag) = it.next() {
        if flag == "-h" || flag == "--help" {
            return Err(USAGE.to_owned());
        }
        if !["--tokens", "--delay-ms", "--port", "--format"].contains(&flag.as_str()) {
            return Err(format!("unknown argument {flag}\n{USAGE}"));
        }
        let value = it
            .next()
            .ok_or_else(|| format!("{flag} needs a value\n{USAGE}"))?;
        let bad = |_| format!("bad value for {flag}: {value}\n{USAGE}");
        match flag.as_str() {
            "--tokens" => args.tokens = value.parse().map_err(bad)?,
            "--delay-ms" => args.delay_ms = value.parse().map_err(bad)?,
            "--format" => match value.as_str() {
                "openai" | "anthropic" | "responses" => args.format = value.clone(),
                _ => return Err(format!("bad value for --format: {value}\n{USAGE}")),
            },
            _ => args.port = value.parse().map_err(bad)?,
        }
    }
    Ok(args)
}

#[tokio::main]
async fn main() -> ExitCode {
    let args = match parse_args() {
        Ok(args) => args,
        Err(msg) => {
            eprintln!("{msg}");
            return ExitCode::from(2);
        }
    };
    let addr = SocketAddr::from((Ipv4Addr::LOCALHOST, args.port));
    let mock = match MockLlm::start_on(addr).await {
        Ok(mock) => mock,
        Err(e) => {
            eprintln!("mock-llm: cannot listen on {addr}: {e}");
            return ExitCode::FAILURE;
        }
    };
    let text: String = (0..args.tokens).map(|i| format!("tok{i} ")).collect();
    let response = match args.format.as_str() {
        "anthropic" => MockResponse::anthropic_text(&text),
        "responses" => MockResponse::responses_text(&text),
        _ => MockResponse::tokens(args.tokens),
    };
    mock.set_default(response.with_delay(Duration::from_millis(args.delay_ms)));
    let mut stdout = std::io::stdout().lock();
    if writeln!(stdout, "{}", mock.base_url())
        .and_then(|()| stdout.flush())
        .is_err()
    {
        return ExitCode::FAILURE;
    }
    drop(stdout);
    // Ctrl-C ends cleanly; SIGTERM/SIGKILL end the process as usual.
    let _ = tokio::signal::ctrl_c().await;
    ExitCode::SUCCESS
}
