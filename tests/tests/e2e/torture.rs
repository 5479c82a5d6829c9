//! `kill -9` at random points across 200 scripted turns with two watchers attached: after
//! every restart each acknowledged user message is in the journal, every journal loads, and
//! both watchers end with the same durable sequence, without a gap or a duplicate.

// Test code: a failed expectation is a failed test.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::process::Stdio;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use botcoder_protocol::methods::{
    SessionHistory, SessionHistoryParams, SessionSend, SessionSendParams,
};
use botcoder_protocol::{EventBody, SessionId};
use botcoder_tests::harness::TestEnv;
use botcoder_tests::mock_llm::{MockLlm, MockResponse};
use botcoder_tests::session;
use tokio::io::AsyncBufReadExt;

fn spawn_watcher(env: &TestEnv, id: &SessionId) -> (tokio::process::Child, Arc<Mutex<Vec<u64>>>) {
    let mut child = tokio::process::Command::from(env.cli(&["watch", "--json", id.as_str()]))
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .kill_on_drop(true)
        .spawn()
        .unwrap();
    let seqs = Arc::new(Mutex::new(Vec::new()));
    let sink = seqs.clone();
    let mut lines = tokio::io::BufReader::new(child.stdout.take().unwrap()).lines();
    tokio::spawn(async move {
        while let Ok(Some(l)) = lines.next_line().await {
            if let Some(seq) = serde_json::from_str::<serde_json::Value>(&l)
                .ok()
                .and_then(|v| v["seq"].as_u64())
            {
                sink.lock().unwrap().push(seq);
            }
        }
    });
    (child, seqs)
}

async fn history(env: &TestEnv, id: &SessionId) -> Vec<botcoder_protocol::Event> {
    let c = env.client("check").await;
    let mut all = Vec::new();
    let mut after = 0;
    loop {
        let page = c
            .call::<SessionHistory>(&SessionHistoryParams {
                session_id: id.clone(),
                after_seq: after,
                limit: None,
            })
            .await
            .unwrap();
        after = page.events.last().and_then(|e| e.seq).unwrap_or(after);
        let more = page.has_more && !page.events.is_empty();
        all.extend(page.events);
        if !more {
            return all;
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn kill_9_at_random_points_loses_nothing_acknowledged() {
    let mock = MockLlm::start().await.unwrap();
    mock.set_default(
        MockResponse::text_chunks(&["a ", "b ", "c"]).with_delay(Duration::from_millis(2)),
    );
    let mut env = TestEnv::new();
    env.use_mock(&mock);
    let mut daemon = env.start_daemon();
    let c = env.client("setup").await;
    let id = session::create_default(&c, &env.project).await;
    drop(c);
    let (mut w1, s1) = spawn_watcher(&env, &id);
    let (mut w2, s2) = spawn_watcher(&env, &id);

    let mut seed = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_nanos() as u64
        | 1;
    eprintln!("seed {seed}");
    let mut rand = move |n: u64| {
        seed ^= seed << 13;
        seed ^= seed >> 7;
        seed ^= seed << 17;
        seed % n
    };
    let mut acknowledged: Vec<String> = Vec::new();
    let mut kills = 0;
    while acknowledged.len() < 200 {
        let c = env.client("sender").await;
        let burst = 5 + rand(30);
        for _ in 0..burst {
            let text = format!("message {}", acknowledged.len());
            let params = SessionSendParams {
                session_id: id.clone(),
                text: text.clone(),
                approval: None,
                env: Default::default(),
            };
            match c.call::<SessionSend>(&params).await {
                Ok(_) => acknowledged.push(text),
                Err(e) => panic!("send failed while the daemon was up: {e}"),
            }
            if rand(4) == 0 {
                tokio::time::sleep(Duration::from_millis(rand(15))).await;
            }
        }
        drop(c);
        daemon.kill9();
        kills += 1;
        daemon = env.start_daemon();
        // Every acknowledged message survived, and the journal loads.
        let events = history(&env, &id).await;
        let users: Vec<&str> = events
            .iter()
            .filter_map(|e| match &e.body {
                EventBody::UserMessage { text, .. } => Some(text.as_str()),
                _ => None,
            })
            .collect();
        assert_eq!(
            users,
            acknowledged.iter().map(String::as_str).collect::<Vec<_>>(),
            "after kill {kills}"
        );
    }
    // Let the last turns finish, then check the watchers caught up without gaps or duplicates.
    let deadline = Instant::now() + Duration::from_secs(60);
    let final_seq = loop {
        let events = history(&env, &id).await;
        let last = events.last().and_then(|e| e.seq).unwrap_or(0);
        let opened = events
            .iter()
            .filter(|e| matches!(e.body, EventBody::UserMessage { .. }))
            .count();
        let closed = events
            .iter()
            .filter(|e| matches!(e.body, EventBody::TurnCompleted { .. }))
            .count();
        let caught_up = [&s1, &s2]
            .iter()
            .all(|s| s.lock().unwrap().last() == Some(&last));
        if (opened == closed && caught_up) || Instant::now() > deadline {
            break last;
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    };
    for (name, seqs) in [("watcher 1", &s1), ("watcher 2", &s2)] {
        let seqs = seqs.lock().unwrap().clone();
        assert_eq!(seqs, (1..=final_seq).collect::<Vec<_>>(), "{name}");
    }
    let _ = w1.kill().await;
    let _ = w2.kill().await;
    eprintln!(
        "{kills} kills, {} messages, {final_seq} events",
        acknowledged.len()
    );
}
