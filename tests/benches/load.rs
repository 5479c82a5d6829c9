//! Load: 50 clients across 10 sessions, every turn streaming 500 deltas from the provider
//! stand-in at once. Checks every client got a complete, ordered stream and reports daemon
//! CPU time, peak RSS and delivery latency.
//!
//! Run: `cargo build --release --workspace --bins && cargo bench -p botcoder-tests --bench load`

// Bench code: a failed expectation aborts the run.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::time::{Duration, Instant};

use botcoder_protocol::EventBody;
use botcoder_protocol::methods::{
    SessionCreate, SessionCreateParams, SessionSend, SessionSendParams, SubscribeParams,
};
use botcoder_tests::harness::TestEnv;
use botcoder_tests::stamp_server;

const SESSIONS: usize = 10;
const CLIENTS_PER_SESSION: usize = 5;
const DELTAS: usize = 500;

fn proc_field(pid: u32, key: &str) -> u64 {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap_or_default();
    status
        .lines()
        .find(|l| l.starts_with(key))
        .and_then(|l| l.split_whitespace().nth(1))
        .and_then(|v| v.parse().ok())
        .unwrap_or(0)
}

fn cpu_ticks(pid: u32) -> u64 {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).unwrap_or_default();
    let after = stat.rsplit_once(')').map(|(_, r)| r).unwrap_or_default();
    let f: Vec<&str> = after.split_whitespace().collect();
    f.get(11).and_then(|v| v.parse::<u64>().ok()).unwrap_or(0)
        + f.get(12).and_then(|v| v.parse::<u64>().ok()).unwrap_or(0)
}

fn main() {
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    rt.block_on(async {
        let base = Instant::now();
        let url = stamp_server::start(base, DELTAS, Duration::from_millis(2)).await;
        let mut env = TestEnv::new();
        env.set("LLM_PROVIDER", "local")
            .set("LOCAL_LLM_URL", &url)
            .set("LOCAL_LLM_MODEL", "m")
            .set("BOTCODER_LOG", "warn");
        let daemon = env.start_daemon();
        let sender = env.client("load").await;
        let mut ids = Vec::new();
        for _ in 0..SESSIONS {
            let p = SessionCreateParams {
                project_path: env.project.display().to_string(),
                title: None,
                approval: None,
                ..Default::default()
            };
            ids.push(sender.call::<SessionCreate>(&p).await.unwrap().session_id);
        }
        let mut tasks = Vec::new();
        for id in &ids {
            for i in 0..CLIENTS_PER_SESSION {
                let c = env.client(&format!("c{i}")).await;
                let mut sub = c
                    .subscribe(&SubscribeParams {
                        session_id: id.clone(),
                        after_seq: None,
                    })
                    .await
                    .unwrap();
                tasks.push(tokio::spawn(async move {
                    let _keep = c;
                    let (mut lat, mut next_offset, mut count, mut ordered) =
                        (Vec::new(), 0u64, 0usize, true);
                    while let Some(Ok(ev)) = sub.next().await {
                        let now = base.elapsed().as_nanos() as f64;
                        match ev.body {
                            EventBody::AssistantDelta { offset, text, .. } => {
                                ordered &= offset == next_offset;
                                next_offset = offset + text.len() as u64;
                                count += 1;
                                lat.extend(
                                    stamp_server::stamps(&text).map(|sent| (now - sent) / 1e6),
                                );
                            }
                            EventBody::TurnCompleted { .. } => break,
                            _ => {}
                        }
                    }
                    (lat, count, ordered)
                }));
            }
        }
        let cpu_before = cpu_ticks(daemon.pid());
        let start = Instant::now();
        for id in &ids {
            let p = SessionSendParams {
                session_id: id.clone(),
                text: "stream".into(),
                approval: None,
                env: Default::default(),
            };
            sender.call::<SessionSend>(&p).await.unwrap();
        }
        let mut all = Vec::new();
        let mut complete = 0;
        for t in tasks {
            let (lat, count, ordered) = tokio::time::timeout(Duration::from_secs(120), t)
                .await
                .unwrap()
                .unwrap();
            if count == DELTAS && ordered {
                complete += 1;
            }
            all.extend(lat);
        }
        let wall = start.elapsed();
        let ticks = cpu_ticks(daemon.pid()) - cpu_before;
        all.sort_by(|a, b| a.total_cmp(b));
        let pct = |p: f64| all[((all.len() - 1) as f64 * p).round() as usize];
        println!(
            "load: {SESSIONS} sessions x {CLIENTS_PER_SESSION} clients, {DELTAS} deltas per turn"
        );
        println!(
            "  complete, ordered streams: {complete} of {}",
            SESSIONS * CLIENTS_PER_SESSION
        );
        println!("  deliveries: {} in {:.2} s", all.len(), wall.as_secs_f64());
        println!(
            "  delivery latency p50 {:.3} ms, p99 {:.3} ms",
            pct(0.5),
            pct(0.99)
        );
        println!(
            "  daemon CPU {:.2} s (of {:.2} s wall), peak RSS {} KiB",
            ticks as f64 / 100.0,
            wall.as_secs_f64(),
            proc_field(daemon.pid(), "VmHWM:")
        );
    });
}
