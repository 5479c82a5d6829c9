//! The daemon-wide rate limiter end to end: budgets shared by sessions, waits visible as
//! `ratelimit.wait`, cancellable, and shown by `botcoder status`.

// Test code: a failed expectation is a failed test.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::time::{Duration, Instant};

use botcoder_protocol::methods::{TurnCancel, TurnCancelParams};
use botcoder_protocol::{EventBody, TurnStatus};
use botcoder_tests::events::{collect_until, until_turns_completed};
use botcoder_tests::harness::TestEnv;
use botcoder_tests::mock_llm::{MockLlm, MockResponse};
use botcoder_tests::session;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_second_session_waits_for_the_shared_budget_and_can_cancel() {
    let mock = MockLlm::start().await.unwrap();
    mock.set_default(MockResponse::text("ok"));
    let mut env = TestEnv::new();
    env.use_mock(&mock).set("LLM_RPM", "1");
    let _d = env.start_daemon();
    let first = env.ask(&[], "one").await;
    assert_eq!(first.code, 0, "{}", first.stderr);

    // Another session, another client: the same endpoint budget applies.
    let c = env.client("second").await;
    let id = session::create_default(&c, &env.project).await;
    let mut sub = session::subscribe(&c, &id, None).await;
    session::send(&c, &id, "two").await;
    let seen = collect_until(&mut sub, Duration::from_secs(10), |e| {
        matches!(e.body, EventBody::RateLimitWait { .. })
    })
    .await;
    match &seen.last().unwrap().body {
        EventBody::RateLimitWait {
            wait_ms,
            reason,
            provider,
        } => {
            assert!(*wait_ms > 30_000, "{wait_ms}");
            assert!(reason.contains("requests per minute (1)"), "{reason}");
            assert_eq!(provider, "local");
        }
        _ => unreachable!(),
    }
    let status = env.run_cli(&["status", "--json"], None).await;
    let budgets = status.json_lines()[0]["budgets"].clone();
    assert_eq!(budgets[0]["rpm"], 1);
    assert_eq!(budgets[0]["requests_used"], 1);
    assert_eq!(mock.requests().len(), 1, "the waiting request was not sent");

    let start = Instant::now();
    c.call::<TurnCancel>(&TurnCancelParams {
        session_id: id.clone(),
        turn_id: None,
    })
    .await
    .unwrap();
    let end = until_turns_completed(&mut sub, 1, Duration::from_secs(10)).await;
    assert!(start.elapsed() < Duration::from_secs(2));
    assert!(matches!(
        end.last().unwrap().body,
        EventBody::TurnCompleted {
            status: TurnStatus::Cancelled,
            ..
        }
    ));
}
