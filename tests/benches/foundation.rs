//! Foundation benchmarks (issue 2), printed as figures for docs/PERFORMANCE.md.
//!
//! Run: `cargo build --release --workspace --bins && cargo bench -p botcoder-tests --bench foundation`
//! (the bench starts the release `botcoderd` and `botcoder` next to it). Figures are
//! wall-clock on a shared machine: compare runs on the same machine, not across machines.

// Test code: a failed expectation is a failed test.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::io::Write;
use std::process::{Command, Stdio};
use std::sync::Arc;
use std::time::{Duration, Instant};

use botcoder_protocol::client::DaemonClient;
use botcoder_protocol::methods::{
    SessionCreate, SessionCreateParams, SessionGet, SessionRef, SessionSend, SessionSendParams,
    SubscribeParams,
};
use botcoder_protocol::{EventBody, SessionId};
use botcoder_tests::harness::TestEnv;
use botcoder_tests::mock_llm::{MockLlm, MockResponse};
use botcoder_tests::stamp_server;

fn pct(sorted: &[f64], p: f64) -> f64 {
    if sorted.is_empty() {
        return f64::NAN;
    }
    let i = ((sorted.len() as f64 - 1.0) * p).round() as usize;
    sorted[i]
}

fn summary(name: &str, unit: &str, mut xs: Vec<f64>) -> (f64, f64) {
    xs.sort_by(|a, b| a.total_cmp(b));
    let (p50, p99) = (pct(&xs, 0.5), pct(&xs, 0.99));
    println!(
        "{name:<58} n={:<6} p50={p50:>9.3} {unit}  p99={p99:>9.3} {unit}",
        xs.len()
    );
    (p50, p99)
}

fn rss_kib(pid: u32) -> u64 {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap_or_default();
    status
        .lines()
        .find(|l| l.starts_with("VmRSS:"))
        .and_then(|l| l.split_whitespace().nth(1))
        .and_then(|v| v.parse().ok())
        .unwrap_or(0)
}

async fn new_session(c: &DaemonClient, env: &TestEnv) -> SessionId {
    let p = SessionCreateParams {
        project_path: env.project.display().to_string(),
        title: None,
        approval: None,
        ..Default::default()
    };
    c.call::<SessionCreate>(&p)
        .await
        .expect("create")
        .session_id
}

/// Latency of every delta from the timestamp server to `subs` subscribers.
async fn delta_latency(env: &TestEnv, base: Instant, subs: usize) -> Vec<f64> {
    let sender = env.client("bench").await;
    let id = new_session(&sender, env).await;
    let mut tasks = Vec::new();
    for i in 0..subs {
        let c = env.client(&format!("sub{i}")).await;
        let mut sub = c
            .subscribe(&SubscribeParams {
                session_id: id.clone(),
                after_seq: None,
            })
            .await
            .expect("subscribe");
        tasks.push(tokio::spawn(async move {
            let _keep = c;
            let mut lat = Vec::new();
            while let Some(Ok(ev)) = sub.next().await {
                let now = base.elapsed().as_nanos() as f64;
                match ev.body {
                    EventBody::AssistantDelta { text, .. } => {
                        for tok in text.split_whitespace() {
                            if let Ok(sent) = tok.parse::<f64>() {
                                lat.push((now - sent) / 1e6);
                            }
                        }
                    }
                    EventBody::TurnCompleted { .. } => break,
                    _ => {}
                }
            }
            lat
        }));
    }
    let p = SessionSendParams {
        session_id: id,
        text: "go".into(),
        approval: None,
        env: Default::default(),
    };
    sender.call::<SessionSend>(&p).await.expect("send");
    let mut all = Vec::new();
    for t in tasks {
        let lat = tokio::time::timeout(Duration::from_secs(120), t)
            .await
            .expect("bounded")
            .expect("task");
        all.extend(lat);
    }
    all
}

fn run_ask(env: &TestEnv, args: &[&str]) -> (Duration, u64) {
    let time_bin = std::path::Path::new("/usr/bin/time");
    let start = Instant::now();
    let out = if time_bin.exists() {
        let mut c = Command::new(time_bin);
        c.arg("-f")
            .arg("%M")
            .arg(botcoder_tests::harness::bin("botcoder"))
            .args(args);
        let std_cmd = env.cli(args);
        c.env_clear()
            .envs(std_cmd.get_envs().filter_map(|(k, v)| Some((k, v?))))
            .current_dir(&env.project);
        c.stdout(Stdio::null())
            .stderr(Stdio::piped())
            .output()
            .expect("run ask")
    } else {
        env.cli(args)
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .output()
            .expect("run ask")
    };
    let wall = start.elapsed();
    assert!(
        out.status.success(),
        "ask failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let peak = String::from_utf8_lossy(&out.stderr)
        .lines()
        .last()
        .and_then(|l| l.trim().parse().ok())
        .unwrap_or(0);
    (wall, peak)
}

fn main() {
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .expect("runtime");
    rt.block_on(async_main());
}

async fn async_main() {
    println!(
        "botcoder foundation benchmarks ({} cores)",
        std::thread::available_parallelism().map_or(0, |n| n.get())
    );
    let base = Instant::now();
    let mock = Arc::new(MockLlm::start().await.expect("mock"));
    mock.set_default(MockResponse::tokens(200));

    // 1. RPC round trip.
    let mut env = TestEnv::new();
    env.use_mock(&mock);
    let daemon = env.start_daemon();
    let c = env.client("bench").await;
    let id = new_session(&c, &env).await;
    println!("daemon idle RSS at start: {} KiB", rss_kib(daemon.pid()));
    // The client runs on its own single-threaded runtime, as `botcoder` does, so the figure
    // is the daemon's round trip rather than cross-thread wake-ups in the bench.
    let (sock, sid) = (env.socket.clone(), id.clone());
    let rtt = std::thread::spawn(move || {
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .expect("rt");
        rt.block_on(async move {
            let opts = botcoder_protocol::client::ConnectOptions {
                socket_path: sock,
                client_name: "bench".into(),
                capabilities: Vec::new(),
                autostart: false,
            };
            let c = DaemonClient::connect(&opts).await.expect("connect");
            let mut rtt = Vec::new();
            for i in 0..6000 {
                let t = Instant::now();
                c.call::<SessionGet>(&SessionRef {
                    session_id: sid.clone(),
                })
                .await
                .expect("get");
                if i >= 1000 {
                    rtt.push(t.elapsed().as_secs_f64() * 1e6);
                }
            }
            rtt
        })
    })
    .join()
    .expect("rtt thread");
    summary("RPC round trip (session.get) over the socket", "µs", rtt);

    // 2. Provider delta -> subscribed client.
    let ts_url = stamp_server::start(base, 2000, Duration::from_millis(1)).await;
    let mut env2 = TestEnv::new();
    env2.set("LLM_PROVIDER", "local")
        .set("LOCAL_LLM_URL", &ts_url)
        .set("LOCAL_LLM_MODEL", "m");
    let _d2 = env2.start_daemon();
    let lat = delta_latency(&env2, base, 1).await;
    summary("delta latency, provider -> 1 client", "ms", lat);

    // 3. 8 subscribers at 2,000 deltas/s.
    let ts_url = stamp_server::start(base, 4000, Duration::from_micros(500)).await;
    let mut env3 = TestEnv::new();
    env3.set("LLM_PROVIDER", "local")
        .set("LOCAL_LLM_URL", &ts_url)
        .set("LOCAL_LLM_MODEL", "m");
    let _d3 = env3.start_daemon();
    let lat = delta_latency(&env3, base, 8).await;
    let n = lat.len();
    summary("delta latency, 8 subscribers at 2000 deltas/s", "ms", lat);
    println!("  deliveries: {n} of {} expected", 8 * 4000);

    // 4. botcoder ask, new session each time, daemon warm, vs curl on the same stream.
    let project = env.project.display().to_string();
    let mut asks = Vec::new();
    let mut peak = 0;
    for _ in 0..30 {
        let (wall, p) = run_ask(&env, &["ask", "--project", &project, "say hi"]);
        asks.push(wall.as_secs_f64() * 1e3);
        peak = peak.max(p);
    }
    let (ask_p50, _) = summary(
        "botcoder ask (200 tokens, new session, warm daemon)",
        "ms",
        asks,
    );
    let url = format!("{}/chat/completions", mock.base_url());
    let mut curls = Vec::new();
    for _ in 0..30 {
        let t = Instant::now();
        let st = Command::new("curl")
            .args([
                "-sN",
                "-o",
                "/dev/null",
                "-X",
                "POST",
                "-H",
                "content-type: application/json",
                "-d",
                "{}",
                &url,
            ])
            .status();
        if st.map(|s| s.success()).unwrap_or(false) {
            curls.push(t.elapsed().as_secs_f64() * 1e3);
        }
    }
    if curls.is_empty() {
        println!("curl not available: skipping the floor comparison");
    } else {
        let (curl_p50, _) = summary("curl, same 200-token stream (floor)", "ms", curls);
        println!("  ask / curl median ratio: {:.2}x", ask_p50 / curl_p50);
    }
    if peak > 0 {
        println!("botcoder ask peak RSS: {peak} KiB");
    }

    // 5. Daemon RSS after 100 one-shot turns.
    for _ in 0..70 {
        run_ask(&env, &["ask", "--project", &project, "again"]);
    }
    tokio::time::sleep(Duration::from_millis(200)).await;
    println!(
        "daemon RSS after 100 one-shot turns: {} KiB",
        rss_kib(daemon.pid())
    );

    // 6. Attach replay of a 10,000-event session.
    let sender = env.client("bench").await;
    let big = new_session(&sender, &env).await;
    let dir = env.sessions_dir().join(big.as_str());
    {
        let mut f = std::fs::OpenOptions::new()
            .append(true)
            .open(dir.join("events.jsonl"))
            .expect("journal");
        let mut buf = String::new();
        for seq in 2..=10_000u64 {
            let ev = botcoder_protocol::Event {
                seq: Some(seq),
                session_id: big.clone(),
                time: "2026-01-01T00:00:00.000Z".into(),
                body: EventBody::Usage {
                    turn_id: "t".into(),
                    input_tokens: seq,
                    output_tokens: seq,
                    cached_input_tokens: None,
                    reasoning_tokens: None,
                    cost_usd: None,
                },
            };
            buf.push_str(&serde_json::to_string(&ev).expect("json"));
            buf.push('\n');
        }
        f.write_all(buf.as_bytes()).expect("write");
    }
    // The daemon has the session live with last_seq 1; restart so it loads the journal.
    drop(sender);
    drop(c);
    drop(daemon);
    let _daemon = env.start_daemon();
    let c = env.client("bench").await;
    let mut replays = Vec::new();
    for _ in 0..10 {
        let t = Instant::now();
        let mut sub = c
            .subscribe(&SubscribeParams {
                session_id: big.clone(),
                after_seq: Some(0),
            })
            .await
            .expect("subscribe");
        let mut n = 0;
        while let Some(Ok(ev)) = sub.next().await {
            n += 1;
            if ev.seq == Some(10_000) {
                break;
            }
        }
        assert_eq!(n, 10_000);
        replays.push(t.elapsed().as_secs_f64() * 1e3);
    }
    summary("attach replay of a 10,000-event session", "ms", replays);
}
