use super::*;
use proptest::prelude::*;
use std::time::Duration;

#[tokio::test(start_paused = true)]
async fn waits_are_reported_and_fifo_order_holds() {
    let limiter = Arc::new(RateLimiter::new());
    limiter.configure(
        "p",
        Limits {
            tpm: Some(100),
            rpm: None,
        },
    );
    let t0 = Instant::now();
    limiter.acquire("p", 90, |_| async {}).await;
    let order = Arc::new(Mutex::new(Vec::new()));
    let mut tasks = Vec::new();
    // A big request queues first; a small one that would fit must not overtake it.
    for (name, tokens) in [("big", 80u64), ("small", 5)] {
        let (l, o) = (limiter.clone(), order.clone());
        tasks.push(tokio::spawn(async move {
            let waits = Arc::new(Mutex::new(Vec::new()));
            let w2 = waits.clone();
            l.acquire("p", tokens, move |w| {
                w2.lock().unwrap().push(w);
                async {}
            })
            .await;
            o.lock().unwrap().push((name, Instant::now() - t0));
            waits.lock().unwrap().clone()
        }));
        tokio::task::yield_now().await;
    }
    let big_waits = tasks.remove(0).await.unwrap();
    tasks.remove(0).await.unwrap();
    assert_eq!(big_waits.len(), 1);
    assert!(big_waits[0].reason.contains("tokens per minute"));
    let order = order.lock().unwrap().clone();
    assert_eq!(
        order.iter().map(|(n, _)| *n).collect::<Vec<_>>(),
        ["big", "small"]
    );
    assert_eq!(order[0].1, Duration::from_secs(60));
}

#[tokio::test(start_paused = true)]
async fn cancelled_waiters_leave_the_queue() {
    let limiter = Arc::new(RateLimiter::new());
    limiter.configure(
        "p",
        Limits {
            tpm: None,
            rpm: Some(1),
        },
    );
    limiter.acquire("p", 1, |_| async {}).await;
    let l = limiter.clone();
    let waiter = tokio::spawn(async move { l.acquire("p", 1, |_| async {}).await });
    tokio::time::sleep(Duration::from_secs(1)).await;
    waiter.abort();
    let _ = waiter.await;
    // The next request is not stuck behind the cancelled one.
    let start = Instant::now();
    limiter.acquire("p", 1, |_| async {}).await;
    assert_eq!(start.elapsed(), Duration::from_secs(59));
}

#[tokio::test(start_paused = true)]
async fn headers_are_adopted_and_snapshot_reports_use() {
    let limiter = RateLimiter::new();
    let mut h = HeaderMap::new();
    h.insert("x-ratelimit-remaining-requests", "0".parse().unwrap());
    h.insert("x-ratelimit-reset-requests", "2s".parse().unwrap());
    limiter.observe_headers("p", &h);
    let start = Instant::now();
    let permit = limiter.acquire("p", 100, |_| async {}).await;
    assert_eq!(start.elapsed(), Duration::from_secs(2));
    permit.reconcile(42);
    let snap = limiter.snapshot();
    assert_eq!((snap[0].tokens_used, snap[0].requests_used), (42, 1));
}

#[derive(Debug, Clone)]
struct Req {
    session: usize,
    estimate: u64,
    actual: u64,
    start_after_ms: u64,
}

fn reqs() -> impl Strategy<Value = Vec<Req>> {
    proptest::collection::vec(
        (0usize..8, 1u64..400, 0u64..100, 0u64..120_000).prop_map(
            |(session, estimate, pct, start_after_ms)| Req {
                session,
                estimate,
                actual: estimate * pct / 100,
                start_after_ms,
            },
        ),
        1..40,
    )
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 48, ..ProptestConfig::default() })]

    /// Many sessions at once on simulated time: no 60 s window ever holds more than the
    /// configured TPM (with reconciled usage) or RPM, and every request is admitted.
    #[test]
    fn budgets_hold_in_every_window(reqs in reqs(), tpm in 400u64..2000, rpm in 2u64..20) {
        let rt = tokio::runtime::Builder::new_current_thread().enable_time().start_paused(true).build().unwrap();
        let log = rt.block_on(async {
            let limiter = Arc::new(RateLimiter::new());
            limiter.configure("p", Limits { tpm: Some(tpm), rpm: Some(rpm) });
            let t0 = Instant::now();
            let log = Arc::new(Mutex::new(Vec::new()));
            let mut tasks = Vec::new();
            for r in reqs.clone() {
                let (l, log) = (limiter.clone(), log.clone());
                tasks.push(tokio::spawn(async move {
                    tokio::time::sleep(Duration::from_millis(r.start_after_ms)).await;
                    let permit = l.acquire("p", r.estimate, |_| async {}).await;
                    permit.reconcile(r.actual);
                    log.lock().unwrap().push((Instant::now() - t0, r.estimate.min(tpm), r.actual, r.session));
                }));
            }
            for t in tasks {
                t.await.unwrap();
            }
            log.lock().unwrap().clone()
        });
        prop_assert_eq!(log.len(), reqs.len());
        for (start, _, _, _) in &log {
            let in_window: Vec<_> = log.iter().filter(|(t, ..)| *t >= *start && *t < *start + Duration::from_secs(60)).collect();
            let tokens: u64 = in_window.iter().map(|(_, _, actual, _)| actual).sum();
            prop_assert!(tokens <= tpm, "{} tokens in a window (tpm {})", tokens, tpm);
            prop_assert!(in_window.len() as u64 <= rpm, "{} requests in a window (rpm {})", in_window.len(), rpm);
        }
    }
}
