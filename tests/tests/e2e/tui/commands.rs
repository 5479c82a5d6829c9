//! The slash commands that landed late, typed into a real `botcoder-tui` against the real
//! daemon and the mock provider: `/undo`, `/redo`, `/diff`, `/model NAME`, `/compact`,
//! `/approval read-only`. Each shows its effect on the screen, and none of them ever reaches
//! the model as a prompt (no user message, no request carrying the command's text).

use std::time::{Duration, Instant};

use botcoder_protocol::ApprovalPolicy;
use botcoder_tests::harness::TestEnv;
use botcoder_tests::mock_llm::{MockLlm, MockResponse, RecordedRequest};

use super::{Tmux, env_for, require_tmux, user_messages};

const T: Duration = Duration::from_secs(60);

async fn auto_session(env: &TestEnv, title: &str) -> String {
    let c = env.client("setup").await;
    let id = botcoder_tests::session::create(&c, &env.project, ApprovalPolicy::Auto).await;
    c.call::<botcoder_protocol::methods::SessionRename>(
        &botcoder_protocol::methods::SessionRenameParams {
            session_id: id.clone(),
            title: title.into(),
        },
    )
    .await
    .unwrap();
    id.to_string()
}

/// No request to the model carries any of `commands` in what it sends as messages.
fn assert_never_prompted(requests: &[RecordedRequest], commands: &[&str]) {
    for r in requests {
        let sent = r.body["messages"].to_string();
        for c in commands {
            assert!(!sent.contains(c), "{c} reached the model: {sent}");
        }
    }
}

/// The first row of the screen: the header.
fn header(tmux: &Tmux<'_>, name: &str, needle: &str) -> String {
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        let s = tmux.screen(name);
        let first = s.lines().next().unwrap_or("").to_owned();
        if first.contains(needle) {
            return first;
        }
        assert!(
            Instant::now() < deadline,
            "{needle:?} never appeared in the header of {name}:\n{s}"
        );
        std::thread::sleep(Duration::from_millis(100));
    }
}

fn wait_file(path: &std::path::Path, exists: bool) {
    let deadline = Instant::now() + Duration::from_secs(20);
    while path.exists() != exists {
        assert!(
            Instant::now() < deadline,
            "{} exists: {} (wanted {exists})",
            path.display(),
            path.exists()
        );
        std::thread::sleep(Duration::from_millis(50));
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn undo_redo_and_diff_from_the_tui() {
    require_tmux();
    let mock = MockLlm::start().await.unwrap();
    mock.push(MockResponse::openai_tool_calls(
        &[(
            "w1",
            "write_file",
            r#"{"path":"notes.txt","content":"written by the model\n"}"#,
        )],
        0,
    ));
    mock.set_default(MockResponse::text("The file is written."));
    let env = env_for(&mock);
    let _d = env.start_daemon();
    let id = auto_session(&env, "undoable").await;
    let tmux = Tmux {
        env: &env,
        socket: env.root().join("tmux.sock"),
    };
    tmux.open("a", &id);
    tmux.wait_for("a", "undoable");
    tmux.type_text("a", "write the notes");
    tmux.keys("a", &["Enter"]);
    tmux.wait_for("a", "The file is written.");
    let file = env.project.join("notes.txt");
    wait_file(&file, true);
    let asked = mock.requests().len();

    tmux.type_text("a", "/diff");
    tmux.keys("a", &["Enter"]);
    let s = tmux.wait_for("a", "+written by the model");
    assert!(s.contains("notes.txt"), "{s}");
    // `q` closes the overlay (an Escape followed at once by `/` would read as Alt-/).
    tmux.keys("a", &["q"]);

    tmux.type_text("a", "/undo");
    tmux.keys("a", &["Enter"]);
    let s = tmux.wait_for("a", "reverted by botcoder-tui");
    assert!(s.contains("notes.txt"), "{s}");
    wait_file(&file, false);

    tmux.type_text("a", "/redo");
    tmux.keys("a", &["Enter"]);
    tmux.wait_for("a", "re-applied by botcoder-tui");
    wait_file(&file, true);
    assert_eq!(
        std::fs::read_to_string(&file).unwrap(),
        "written by the model\n"
    );

    std::thread::sleep(Duration::from_millis(300));
    assert_eq!(mock.requests().len(), asked, "a command asked the model");
    assert_never_prompted(&mock.requests(), &["/diff", "/undo", "/redo"]);
    assert_eq!(user_messages(&env, &id).await, ["write the notes"]);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn model_approval_and_compact_from_the_tui() {
    require_tmux();
    let mock = MockLlm::start().await.unwrap();
    mock.set_default(MockResponse::text("An answer."));
    let env = env_for(&mock);
    let _d = env.start_daemon();
    let id = auto_session(&env, "configurable").await;
    // Three exchanges, so /compact has something to summarise.
    let c = env.client("setup").await;
    let sid: botcoder_protocol::SessionId = id.as_str().into();
    for n in 1..=3 {
        botcoder_tests::session::turn(&c, &sid, &format!("question {n}"), T).await;
    }
    let tmux = Tmux {
        env: &env,
        socket: env.root().join("tmux.sock"),
    };
    tmux.open("a", &id);
    tmux.wait_for("a", "configurable");

    tmux.type_text("a", "/model other-model-7");
    tmux.keys("a", &["Enter"]);
    header(&tmux, "a", "other-model-7");

    tmux.type_text("a", "/approval read-only");
    tmux.keys("a", &["Enter"]);
    header(&tmux, "a", "approval read-only");

    let before = mock.requests().len();
    mock.push(MockResponse::text(
        "HANDOFF summary of the earlier questions",
    ));
    tmux.type_text("a", "/compact");
    tmux.keys("a", &["Enter"]);
    tmux.wait_for("a", "context compacted");
    // The summary request is the daemon's own, not a prompt with the command in it.
    assert_eq!(mock.requests().len(), before + 1, "one summary request");

    tmux.type_text("a", "the next question");
    tmux.keys("a", &["Enter"]);
    let deadline = Instant::now() + T;
    while mock.requests().len() < before + 2 {
        assert!(Instant::now() < deadline, "the next question never asked");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    tmux.wait_for("a", "the next question");
    let last = mock.requests().pop().unwrap();
    assert_eq!(
        last.body["model"], "other-model-7",
        "the next request uses the model set with /model"
    );
    assert_never_prompted(&mock.requests(), &["/model", "/approval", "/compact"]);
    assert_eq!(
        user_messages(&env, &id).await,
        [
            "question 1",
            "question 2",
            "question 3",
            "the next question"
        ]
    );
}
