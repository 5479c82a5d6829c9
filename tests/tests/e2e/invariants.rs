//! The session invariants I1..I5 (shared/ARCHITECTURE.md), end to end against the real
//! daemon binary and a mock provider.

// Test code: a failed expectation is a failed test.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::time::Duration;

use botcoder_protocol::{Event, EventBody, TurnStatus};
use botcoder_tests::events::{assemble, collect_until, durable, messages, until_turns_completed};
use botcoder_tests::harness::env_with_mock;
use botcoder_tests::mock_llm::MockResponse;
use botcoder_tests::raw_ws::RawWs;
use botcoder_tests::session;
use pretty_assertions::assert_eq;

const T: Duration = Duration::from_secs(30);

fn seqs(events: &[Event]) -> Vec<u64> {
    events.iter().filter_map(|e| e.seq).collect()
}

/// I1: every subscriber sees the same durable events in seq order, no gaps, no duplicates,
/// also across a reconnect with `after_seq`.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn subscribers_see_identical_durable_sequences_and_resume_exactly() {
    let (env, mock) = env_with_mock(&[]).await;
    mock.set_default(
        MockResponse::text("one two three four five six").with_delay(Duration::from_millis(2)),
    );
    let _daemon = env.start_daemon();
    let (a, b, sender) = (
        env.client("a").await,
        env.client("b").await,
        env.client("sender").await,
    );
    let id = session::create_default(&sender, &env.project).await;
    let mut sa = session::subscribe(&a, &id, Some(0)).await;
    let mut sb = session::subscribe(&b, &id, Some(0)).await;
    for text in ["first", "second", "third"] {
        session::send(&sender, &id, text).await;
    }
    let ea = durable(&until_turns_completed(&mut sa, 3, T).await);
    let eb = durable(&until_turns_completed(&mut sb, 3, T).await);
    assert_eq!(ea, eb);
    let n = ea.len() as u64;
    assert_eq!(seqs(&ea), (1..=n).collect::<Vec<_>>());
    // Turns ran in the order they were sent.
    let users: Vec<&str> = ea
        .iter()
        .filter_map(|e| match &e.body {
            EventBody::UserMessage { text, client, .. } => {
                assert_eq!(client, "sender");
                Some(text.as_str())
            }
            _ => None,
        })
        .collect();
    assert_eq!(users, ["first", "second", "third"]);

    // a disconnects; more happens; a resumes from its last seq and gets exactly the rest.
    drop(sa);
    drop(a);
    session::send(&sender, &id, "fourth").await;
    let eb2 = durable(&until_turns_completed(&mut sb, 1, T).await);
    let a2 = env.client("a-again").await;
    let mut sa2 = session::subscribe(&a2, &id, Some(n)).await;
    let ea2 = durable(&until_turns_completed(&mut sa2, 1, T).await);
    assert_eq!(ea2, eb2);
    assert_eq!(
        seqs(&ea2),
        (n + 1..=n + ea2.len() as u64).collect::<Vec<_>>()
    );

    // session.history agrees with what subscribers saw.
    let hist = session::history(&sender, &id).await;
    let mut all = ea.clone();
    all.extend(ea2);
    assert_eq!(hist.events, all);
    assert!(!hist.has_more);
}

/// I2: a client attaching mid-reply sees the text so far, then the rest, nothing doubled.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn mid_turn_attach_sees_partial_text_then_the_rest_once() {
    let (env, mock) = env_with_mock(&[]).await;
    let pieces: Vec<String> = (0..60).map(|i| format!("w{i} ")).collect();
    let refs: Vec<&str> = pieces.iter().map(String::as_str).collect();
    mock.push(MockResponse::text_chunks(&refs).with_delay(Duration::from_millis(15)));
    let _daemon = env.start_daemon();
    let early = env.client("early").await;
    let id = session::create_default(&early, &env.project).await;
    let mut se = session::subscribe(&early, &id, Some(0)).await;
    session::send(&early, &id, "stream please").await;
    // Wait until part of the reply has streamed.
    let mut deltas = 0;
    collect_until(&mut se, T, |e| {
        deltas += usize::from(matches!(e.body, EventBody::AssistantDelta { .. }));
        deltas >= 15
    })
    .await;
    let late = env.client("late").await;
    let mut sl = session::subscribe(&late, &id, None).await;
    let seen = until_turns_completed(&mut sl, 1, T).await;
    let (text, doubled) = assemble(&seen);
    let final_text = messages(&seen);
    assert_eq!(final_text, vec![pieces.concat()]);
    assert_eq!(text, pieces.concat());
    assert_eq!(doubled, 0, "the late client got text twice");
    // The first thing the late client saw was the partial text from offset 0.
    match &seen.first().map(|e| &e.body) {
        Some(EventBody::AssistantDelta {
            offset: 0, text, ..
        }) => {
            assert!(
                text.len() >= "w0 w1 w2 ".len(),
                "partial too short: {text:?}"
            )
        }
        other => panic!("expected the partial reply first, got {other:?}"),
    }
}

/// I3 + I4: `kill -9` mid-stream keeps the acknowledged user message, closes the turn as
/// interrupted with the partial text older than about a second, and the session works on.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn kill_9_mid_stream_keeps_the_message_and_closes_the_turn_interrupted() {
    let (env, mock) = env_with_mock(&[]).await;
    mock.push(MockResponse::tokens(400).with_delay(Duration::from_millis(10)));
    let mut daemon = env.start_daemon();
    let client = env.client("c").await;
    let id = session::create_default(&client, &env.project).await;
    let mut s = session::subscribe(&client, &id, Some(0)).await;
    session::send(&client, &id, "survive this").await;
    let mut deltas = 0;
    let before = collect_until(&mut s, T, |e| {
        deltas += usize::from(matches!(e.body, EventBody::AssistantDelta { .. }));
        deltas >= 150 // about 1.5 s of streaming
    })
    .await;
    let (streamed, _) = assemble(&before);
    daemon.kill9();
    drop(client);

    let _daemon = env.start_daemon();
    let client = env.client("c2").await;
    let hist = session::history(&client, &id).await;
    let kinds: Vec<&str> = hist.events.iter().map(|e| e.kind()).collect();
    assert_eq!(
        kinds,
        [
            "session.created",
            "user.message",
            "turn.started",
            "assistant.message",
            "turn.completed"
        ]
    );
    match &hist.events[1].body {
        EventBody::UserMessage { text, .. } => assert_eq!(text, "survive this"),
        other => panic!("{other:?}"),
    }
    match &hist.events[3].body {
        EventBody::AssistantMessage { text, partial, .. } => {
            assert!(*partial);
            assert!(
                !text.is_empty() && streamed.starts_with(text.as_str()),
                "{text:?} vs {streamed:?}"
            );
        }
        other => panic!("{other:?}"),
    }
    match &hist.events[4].body {
        EventBody::TurnCompleted { status, error, .. } => {
            assert_eq!(*status, TurnStatus::Interrupted);
            assert_eq!(error.as_ref().map(|e| e.kind.as_str()), Some("interrupted"));
        }
        other => panic!("{other:?}"),
    }
    // Usable: the next turn runs and sees the earlier exchange.
    mock.push(MockResponse::text("back again"));
    let mut s = session::subscribe(&client, &id, Some(hist.last_seq)).await;
    session::send(&client, &id, "still there?").await;
    let after = until_turns_completed(&mut s, 1, T).await;
    assert_eq!(messages(&after), ["back again"]);
    let requests = mock.requests();
    let body = &requests.last().expect("request").body;
    let roles: Vec<&str> = body["messages"]
        .as_array()
        .expect("messages")
        .iter()
        .filter_map(|m| m["role"].as_str())
        .collect();
    assert_eq!(roles, ["system", "user", "assistant", "user"]);
}

/// I5: a subscriber that never reads delays nobody; when it reads again it is told it
/// lagged and gets the durable events without a gap.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn stuck_subscriber_delays_nobody_and_is_told_it_lagged() {
    let (env, mock) = env_with_mock(&[]).await;
    mock.push(MockResponse::tokens(25_000));
    let _daemon = env.start_daemon();
    let client = env.client("fast").await;
    let id = session::create_default(&client, &env.project).await;

    let mut stuck = RawWs::connect(&env.socket).await.expect("raw connect");
    let hello = serde_json::json!({"jsonrpc": "2.0", "id": 0, "method": "daemon.hello",
        "params": {"client": "stuck", "protocol_version": botcoder_protocol::PROTOCOL_VERSION}});
    stuck.send(&hello.to_string()).await.expect("send hello");
    let greeted = tokio::time::timeout(Duration::from_secs(5), stuck.recv_json()).await;
    assert!(
        matches!(greeted, Ok(Some(ref a)) if a.get("result").is_some()),
        "{greeted:?}"
    );
    let subscribe = serde_json::json!({"jsonrpc": "2.0", "id": 1, "method": "session.subscribe",
        "params": {"session_id": id, "after_seq": 0}});
    stuck
        .send(&subscribe.to_string())
        .await
        .expect("send subscribe");

    let mut fast = session::subscribe(&client, &id, Some(0)).await;
    session::send(&client, &id, "flood").await;
    let got = until_turns_completed(&mut fast, 1, Duration::from_secs(120)).await;
    let (text, doubled) = assemble(&got);
    assert_eq!(doubled, 0);
    assert_eq!(messages(&got), [text]);
    assert!(
        !got.iter()
            .any(|e| matches!(e.body, EventBody::Lagged { .. })),
        "the fast client lagged"
    );

    // Now the stuck client reads: a lagged notice, and durable events with no gap.
    let mut durable_seqs = Vec::new();
    let mut lagged = false;
    let read = tokio::time::timeout(Duration::from_secs(60), async {
        while let Some(msg) = stuck.recv_json().await {
            let Some(ev) = msg.pointer("/params/result") else {
                continue;
            };
            if ev["type"] == "lagged" {
                lagged = true;
            }
            if let Some(seq) = ev["seq"].as_u64() {
                durable_seqs.push(seq);
            }
            if ev["type"] == "turn.completed" {
                return;
            }
        }
    })
    .await;
    assert!(
        read.is_ok(),
        "the stuck client never got the end of the turn"
    );
    assert!(lagged, "no lagged notice");
    let n = durable_seqs.len() as u64;
    assert_eq!(durable_seqs, (1..=n).collect::<Vec<_>>());
}
