//! Two real `botcoder-tui` processes in tmux on one session: what one types appears in both,
//! the streamed reply shows in both, and a late attach shows the history.

// Test code: a failed expectation is a failed test.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::path::Path;
use std::time::{Duration, Instant};

use botcoder_protocol::methods::{SessionCreate, SessionCreateParams};
use botcoder_tests::harness::{TestEnv, bin};
use botcoder_tests::mock_llm::{MockLlm, MockResponse};

struct Tmux<'a> {
    env: &'a TestEnv,
    socket: std::path::PathBuf,
}

impl Tmux<'_> {
    fn run(&self, args: &[&str]) -> String {
        let out = self
            .env
            .command(Path::new("tmux"))
            .arg("-S")
            .arg(&self.socket)
            .args(args)
            .output()
            .unwrap();
        String::from_utf8_lossy(&out.stdout).into_owned()
    }

    fn open(&self, name: &str, session: &str) {
        let cmd = format!("{} {session}", bin("botcoder-tui").display());
        self.run(&[
            "new-session",
            "-d",
            "-s",
            name,
            "-x",
            "100",
            "-y",
            "30",
            &cmd,
        ]);
    }

    fn screen(&self, name: &str) -> String {
        self.run(&["capture-pane", "-p", "-t", name])
    }

    fn wait_for(&self, name: &str, needle: &str) -> String {
        let deadline = Instant::now() + Duration::from_secs(20);
        loop {
            let s = self.screen(name);
            if s.contains(needle) || Instant::now() > deadline {
                assert!(
                    s.contains(needle),
                    "{needle:?} never appeared in {name}:\n{s}"
                );
                return s;
            }
            std::thread::sleep(Duration::from_millis(100));
        }
    }
}

impl Drop for Tmux<'_> {
    fn drop(&mut self) {
        self.run(&["kill-server"]);
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_terminals_share_one_live_session() {
    if !botcoder_tests::harness::require("tmux", botcoder_tests::harness::has_tmux()) {
        return;
    }
    let mock = MockLlm::start().await.unwrap();
    mock.set_default(
        MockResponse::text_chunks(&["Shared ", "reply ", "for ", "everyone."])
            .with_delay(Duration::from_millis(30)),
    );
    let mut env = TestEnv::new();
    env.use_mock(&mock)
        .set("TERM", "xterm-256color")
        .set("NO_COLOR", "1");
    let _d = env.start_daemon();
    let c = env.client("setup").await;
    let p = SessionCreateParams {
        project_path: env.project.display().to_string(),
        title: Some("pair".into()),
        approval: None,
        ..Default::default()
    };
    let id = c.call::<SessionCreate>(&p).await.unwrap().session_id;
    let tmux = Tmux {
        env: &env,
        socket: env.root().join("tmux.sock"),
    };
    tmux.open("a", id.as_str());
    tmux.open("b", id.as_str());
    tmux.wait_for("a", "pair");
    tmux.wait_for("b", "pair");
    tmux.run(&["send-keys", "-t", "a", "hello from a", "Enter"]);
    tmux.wait_for("b", "hello from a");
    tmux.wait_for("a", "Shared reply for everyone.");
    tmux.wait_for("b", "Shared reply for everyone.");
    // A late attach sees the whole history.
    tmux.open("late", id.as_str());
    let late = tmux.wait_for("late", "Shared reply for everyone.");
    assert!(late.contains("hello from a"), "{late}");
    // Ctrl-C twice detaches; the session stays.
    tmux.run(&["send-keys", "-t", "a", "C-c", "C-c"]);
    std::thread::sleep(Duration::from_millis(500));
    assert!(
        env.run_cli(&["sessions", "show", id.as_str()], None)
            .await
            .stdout
            .contains("hello from a")
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_tui_reconnects_after_a_daemon_restart_and_resumes() {
    if !botcoder_tests::harness::require("tmux", botcoder_tests::harness::has_tmux()) {
        return;
    }
    let mock = MockLlm::start().await.unwrap();
    mock.set_default(MockResponse::text("answer"));
    let mut env = TestEnv::new();
    env.use_mock(&mock)
        .set("TERM", "xterm-256color")
        .set("NO_COLOR", "1");
    let mut daemon = env.start_daemon();
    let first = env
        .run_cli(
            &[
                "ask",
                "--project",
                &env.project.display().to_string(),
                "before the restart",
            ],
            None,
        )
        .await;
    let id = first.session_id();
    let tmux = Tmux {
        env: &env,
        socket: env.root().join("tmux.sock"),
    };
    tmux.open("a", &id);
    tmux.wait_for("a", "before the restart");
    daemon.kill9();
    let _daemon = env.start_daemon();
    env.run_cli(&["ask", "--session", &id, "after the restart"], None)
        .await;
    let screen = tmux.wait_for("a", "after the restart");
    assert_eq!(
        screen.matches("before the restart").count(),
        1,
        "history doubled:\n{screen}"
    );
}
