//! Memory: does the daemon stay flat as sessions accumulate (I10)? Runs 10,000 one-shot
//! sessions (create, one short turn against the mock provider) and reports the daemon's RSS
//! right after the last and once the idle time has passed and they are unloaded; then RSS
//! after 100 turns on one session.
//!
//! Run: `cargo build --release --workspace --bins && cargo bench -p botcoder-tests --bench memory`
//! Knobs (environment): `BENCH_SESSIONS` (10000), `BENCH_IDLE_S` (60, the daemon's
//! `BOTCODER_SESSION_IDLE_S`), `BENCH_WORKERS` (8 sessions in flight at once);
//! the harness passes `_RJEM_MALLOC_CONF` (jemalloc's options) and `GLIBC_TUNABLES` on.

// Bench code: a failed expectation aborts the run.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::time::{Duration, Instant};

use botcoder_protocol::client::DaemonClient;
use botcoder_protocol::methods::{
    DaemonStatus, DaemonStatusResult, Empty, SessionCreate, SessionCreateParams, SessionSend,
    SessionSendParams, SubscribeParams,
};
use botcoder_protocol::{ApprovalPolicy, SessionId};
use botcoder_tests::events::until_turns_completed;
use botcoder_tests::harness::TestEnv;
use botcoder_tests::mock_llm::{MockLlm, MockResponse};

const TURN_TIMEOUT: Duration = Duration::from_secs(60);

fn knob(name: &str, default: u64) -> u64 {
    std::env::var(name)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

fn proc_kib(pid: u32, key: &str) -> u64 {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap_or_default();
    status
        .lines()
        .find(|l| l.starts_with(key))
        .and_then(|l| l.split_whitespace().nth(1))
        .and_then(|v| v.parse().ok())
        .unwrap_or(0)
}

fn fds(pid: u32) -> usize {
    std::fs::read_dir(format!("/proc/{pid}/fd")).map_or(0, |d| d.count())
}

fn mb(kib: u64) -> String {
    format!("{:.1} MB", kib as f64 / 1024.0)
}

async fn status(c: &DaemonClient) -> DaemonStatusResult {
    c.call::<DaemonStatus>(&Empty {}).await.expect("status")
}

/// One short turn on `id`, waited for on a live subscription.
async fn one_turn(c: &DaemonClient, id: &SessionId) {
    let mut sub = c
        .subscribe(&SubscribeParams {
            session_id: id.clone(),
            after_seq: None,
        })
        .await
        .expect("subscribe");
    let p = SessionSendParams {
        session_id: id.clone(),
        text: "say ok".into(),
        approval: None,
        env: Default::default(),
    };
    c.call::<SessionSend>(&p).await.expect("send");
    until_turns_completed(&mut sub, 1, TURN_TIMEOUT).await;
}

async fn create(c: &DaemonClient, env: &TestEnv) -> SessionId {
    let p = SessionCreateParams {
        project_path: env.project.display().to_string(),
        title: None,
        approval: Some(ApprovalPolicy::Auto),
        ..Default::default()
    };
    c.call::<SessionCreate>(&p)
        .await
        .expect("create")
        .session_id
}

fn main() {
    let sessions = knob("BENCH_SESSIONS", 10_000);
    let idle_s = knob("BENCH_IDLE_S", 60);
    let workers = knob("BENCH_WORKERS", 8).max(1);
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    rt.block_on(async {
        let mock = MockLlm::start().await.expect("mock");
        mock.set_default(MockResponse::text("ok"));
        let mut env = TestEnv::new();
        env.use_mock(&mock)
            .set("BOTCODER_LOG", "warn")
            .set("BOTCODER_SESSION_IDLE_S", &idle_s.to_string());
        let daemon = env.start_daemon();
        let pid = daemon.pid();
        let c = env.client("memory").await;
        status(&c).await;
        let rss_start = proc_kib(pid, "VmRSS:");

        // 10,000 one-shot sessions, `workers` in flight at once.
        let started = Instant::now();
        let per_worker = sessions.div_ceil(workers);
        let mut tasks = Vec::new();
        for w in 0..workers {
            let n = per_worker.min(sessions.saturating_sub(w * per_worker));
            let client = env.client(&format!("memory-{w}")).await;
            let project = env.project.display().to_string();
            tasks.push(tokio::spawn(async move {
                for _ in 0..n {
                    let p = SessionCreateParams {
                        project_path: project.clone(),
                        title: None,
                        approval: Some(ApprovalPolicy::Auto),
                        ..Default::default()
                    };
                    let id = client
                        .call::<SessionCreate>(&p)
                        .await
                        .expect("create")
                        .session_id;
                    one_turn(&client, &id).await;
                }
            }));
        }
        for t in tasks {
            t.await.expect("worker");
        }
        let took = started.elapsed();
        let after_last = status(&c).await;
        let rss_last = proc_kib(pid, "VmRSS:");
        let hwm = proc_kib(pid, "VmHWM:");

        // The idle time after the last, plus the sweeper's period: all unloaded.
        tokio::time::sleep(Duration::from_secs(idle_s) + Duration::from_secs(6)).await;
        let settled = status(&c).await;
        let rss_idle = proc_kib(pid, "VmRSS:");
        let (threads, open_fds) = (proc_kib(pid, "Threads:"), fds(pid));

        // 100 turns on one session, which stays loaded throughout.
        let id = create(&c, &env).await;
        for _ in 0..100 {
            one_turn(&c, &id).await;
        }
        let rss_100 = proc_kib(pid, "VmRSS:");

        println!("memory: daemon RSS, {sessions} one-shot sessions (idle time {idle_s}s)");
        println!("  at start                         {}", mb(rss_start));
        println!(
            "  right after the last session     {}  ({} loaded of {}; {:.1}s, {:.1} sessions/s)",
            mb(rss_last),
            after_last.loaded_sessions,
            after_last.sessions,
            took.as_secs_f64(),
            sessions as f64 / took.as_secs_f64()
        );
        println!("  peak during the run              {}", mb(hwm));
        println!(
            "  idle time after the last         {}  ({} loaded of {})  goal <= 40 MB",
            mb(rss_idle),
            settled.loaded_sessions,
            settled.sessions
        );
        println!("  then: {threads} threads, {open_fds} open files");
        println!("  after 100 turns on one session   {}", mb(rss_100));
        assert_eq!(
            settled.loaded_sessions, 0,
            "idle sessions were not unloaded"
        );
    });
}
