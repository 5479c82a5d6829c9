//! TUI rendering cost against history (issue 14): the CPU time a real `botcoder-tui`
//! (in tmux) spends while 400 tokens stream into a session with 2,000 earlier turns,
//! against the same in a fresh session. The goal is at most 1.5x: a frame lays out only
//! what changed and what is on screen, whatever the history.
//!
//! Run: `cargo build --release -p botcoder-daemon -p botcoder-tui -p botcoder-tests --bins &&
//! cargo bench -p botcoder-tests --bench tui` (the binaries must be in `target/release`, next
//! to the bench; the CLI and the rest of the workspace are not needed).
//! Knobs (environment): `BENCH_TURNS` (2000), `BENCH_TOKENS` (400), `BENCH_TOKEN_MS` (10).

// Bench code: a failed expectation aborts the run.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::path::Path;
use std::time::{Duration, Instant};

use botcoder_protocol::client::DaemonClient;
use botcoder_protocol::methods::{
    SessionCreate, SessionCreateParams, SessionGet, SessionRef, SessionSend, SessionSendParams,
};
use botcoder_protocol::{ApprovalPolicy, SessionId};
use botcoder_tests::harness::{TestEnv, bin};
use botcoder_tests::mock_llm::{MockLlm, MockResponse};

fn knob(name: &str, default: u64) -> u64 {
    std::env::var(name)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

/// utime + stime of `pid`, in clock ticks.
fn cpu_ticks(pid: u32) -> u64 {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).unwrap_or_default();
    // Fields after the command name (which is in parentheses and may hold spaces).
    let rest = stat.rsplit_once(')').map_or("", |(_, r)| r);
    let f: Vec<&str> = rest.split_whitespace().collect();
    f.get(11).and_then(|v| v.parse::<u64>().ok()).unwrap_or(0)
        + f.get(12).and_then(|v| v.parse::<u64>().ok()).unwrap_or(0)
}

fn tmux(env: &TestEnv, args: &[&str]) -> String {
    let out = env
        .command(Path::new("tmux"))
        .arg("-S")
        .arg(env.root().join("tmux.sock"))
        .args(args)
        .output()
        .unwrap();
    String::from_utf8_lossy(&out.stdout).into_owned()
}

/// The TUI's pid: the child of the pane's shell.
fn tui_pid(env: &TestEnv, name: &str) -> u32 {
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let shell: u32 = tmux(env, &["display-message", "-p", "-t", name, "#{pane_pid}"])
            .trim()
            .parse()
            .unwrap_or(0);
        let children = std::fs::read_to_string(format!("/proc/{shell}/task/{shell}/children"))
            .unwrap_or_default();
        if let Some(pid) = children
            .split_whitespace()
            .next()
            .and_then(|p| p.parse().ok())
        {
            return pid;
        }
        assert!(Instant::now() < deadline, "no TUI process in pane {name}");
        std::thread::sleep(Duration::from_millis(50));
    }
}

async fn idle(c: &DaemonClient, id: &SessionId, timeout: Duration) {
    let deadline = Instant::now() + timeout;
    loop {
        let info = c
            .call::<SessionGet>(&SessionRef {
                session_id: id.clone(),
            })
            .await
            .unwrap();
        if info.running_turn.is_none() && info.queued_turns == 0 {
            return;
        }
        assert!(Instant::now() < deadline, "session {id} did not go idle");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

async fn send(c: &DaemonClient, id: &SessionId, text: &str) {
    c.call::<SessionSend>(&SessionSendParams {
        session_id: id.clone(),
        text: text.into(),
        approval: Some(ApprovalPolicy::Auto),
        env: Default::default(),
    })
    .await
    .unwrap();
}

/// CPU seconds the TUI spent while one streamed reply of `tokens` arrived.
async fn measure(
    env: &TestEnv,
    mock: &MockLlm,
    c: &DaemonClient,
    id: &SessionId,
    name: &str,
) -> f64 {
    let tokens = knob("BENCH_TOKENS", 400) as usize;
    let pieces: Vec<String> = (0..tokens).map(|i| format!("tok{i} ")).collect();
    let pieces: Vec<&str> = pieces.iter().map(String::as_str).collect();
    mock.push(
        MockResponse::text_chunks(&pieces)
            .with_delay(Duration::from_millis(knob("BENCH_TOKEN_MS", 10))),
    );
    let cmd = format!("{} {id}; sleep 30", bin("botcoder-tui").display());
    tmux(
        env,
        &[
            "new-session",
            "-d",
            "-s",
            name,
            "-x",
            "120",
            "-y",
            "40",
            &cmd,
        ],
    );
    let pid = tui_pid(env, name);
    // Attached and the history drawn: let it settle.
    tokio::time::sleep(Duration::from_secs(3)).await;
    let before = cpu_ticks(pid);
    let t = Instant::now();
    send(c, id, "stream now").await;
    idle(c, id, Duration::from_secs(120)).await;
    tokio::time::sleep(Duration::from_millis(300)).await;
    let ticks = cpu_ticks(pid) - before;
    // USER_HZ, the unit of /proc/*/stat times: 100 on every Linux this runs on.
    let hz = 100.0;
    let cpu = ticks as f64 / hz;
    println!(
        "{name}: {cpu:.2} s CPU over {:.1} s of streaming ({:.0}% of a core)",
        t.elapsed().as_secs_f64(),
        cpu / t.elapsed().as_secs_f64() * 100.0
    );
    tmux(env, &["kill-session", "-t", name]);
    cpu
}

#[tokio::main(flavor = "multi_thread", worker_threads = 2)]
async fn main() {
    let turns = knob("BENCH_TURNS", 2000);
    let mock = MockLlm::start().await.unwrap();
    mock.set_default(MockResponse::text(
        "An earlier answer with `code`, **bold** text and a list:\n\n- one\n- two\n",
    ));
    let mut env = TestEnv::new();
    env.use_mock(&mock)
        .set("TERM", "xterm-256color")
        .set("BOTCODER_LOG", "warn");
    let _d = env.start_daemon();
    let c = env.client("bench").await;
    let create = |title: &str| SessionCreateParams {
        project_path: env.project.display().to_string(),
        title: Some(title.into()),
        approval: Some(ApprovalPolicy::Auto),
        ..Default::default()
    };
    let long = c
        .call::<SessionCreate>(&create("long"))
        .await
        .unwrap()
        .session_id;
    let t = Instant::now();
    for i in 0..turns {
        send(&c, &long, &format!("earlier question {i}")).await;
        if i % 100 == 99 {
            idle(&c, &long, Duration::from_secs(300)).await;
        }
    }
    idle(&c, &long, Duration::from_secs(300)).await;
    println!(
        "{turns} earlier turns journaled in {:.1} s",
        t.elapsed().as_secs_f64()
    );
    let fresh = c
        .call::<SessionCreate>(&create("fresh"))
        .await
        .unwrap()
        .session_id;
    let f = measure(&env, &mock, &c, &fresh, "fresh").await;
    let l = measure(&env, &mock, &c, &long, "long").await;
    println!("ratio long/fresh: {:.2}x (goal ≤ 1.5x)", l / f.max(0.01));
    tmux(&env, &["kill-server"]);
}
