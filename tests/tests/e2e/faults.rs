//! Faults the daemon must survive without losing anything it acknowledged.

// Test code: a failed expectation is a failed test.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::process::Stdio;
use std::time::Duration;

use botcoder_protocol::ErrorKind;
use botcoder_protocol::methods::{
    DaemonStatus, Empty, SessionCreate, SessionCreateParams, SessionSend, SessionSendParams,
};
use botcoder_tests::harness::{TestEnv, bin};
use botcoder_tests::mock_llm::{MockLlm, MockResponse};

/// A journal write that fails (here: the file-size limit) makes `session.send` fail with a
/// clear error — never accepted-then-lost — and the daemon keeps serving.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn failing_journal_write_refuses_the_message_and_the_daemon_stays_up() {
    let mock = MockLlm::start().await.expect("mock");
    mock.set_default(MockResponse::text("ok"));
    let mut env = TestEnv::new();
    env.use_mock(&mock).set("BOTCODER_LOG", "off");
    // bash's ulimit -f counts 1024-byte blocks: journals may not grow past 16 KiB.
    let script = format!("ulimit -f 16; exec {}", bin("botcoderd").display());
    let child = env
        .command(std::path::Path::new("/bin/bash"))
        .args(["-c", &script])
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("spawn");
    let _daemon = env.adopt(child);
    env.wait_for_socket(Duration::from_secs(10));
    let client = env.client("faults").await;
    let params = SessionCreateParams {
        project_path: env.project.display().to_string(),
        title: None,
        approval: None,
        ..Default::default()
    };
    let id = client
        .call::<SessionCreate>(&params)
        .await
        .expect("create")
        .session_id;

    let big = "x".repeat(3000);
    let mut accepted = Vec::new();
    let mut refusal = None;
    for i in 0..20 {
        let p = SessionSendParams {
            session_id: id.clone(),
            text: format!("{i} {big}"),
            approval: None,
            env: Default::default(),
        };
        match client.call::<SessionSend>(&p).await {
            Ok(r) => accepted.push((i, r.seq)),
            Err(e) => {
                refusal = Some(e);
                break;
            }
        }
    }
    let err = refusal.expect("the file-size limit was never hit");
    assert_eq!(err.kind(), Some(ErrorKind::StorageFailed), "{err}");
    assert!(err.to_string().contains("could not be saved"), "{err}");
    // Still serving.
    client
        .call::<DaemonStatus>(&Empty {})
        .await
        .expect("status after the failure");
    // Every acknowledged message is in the journal.
    let hist = botcoder_tests::session::history(&client, &id).await;
    for (i, seq) in accepted {
        let found = hist.events.iter().any(|e| e.seq == Some(seq) && matches!(&e.body,
            botcoder_protocol::EventBody::UserMessage { text, .. } if text.starts_with(&format!("{i} "))));
        assert!(found, "acknowledged message {i} (seq {seq}) is missing");
    }
}
