//! Real `botcoder-tui` processes in tmux: two terminals on one session (what one types
//! appears in both, a queued message keeps its place), the input editor (cursor, emacs
//! keys, bracketed paste), slash commands that never reach the model, Ctrl-C cancelling a
//! turn, and the summary left in the terminal after detaching.

// Test code: a failed expectation is a failed test.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::path::Path;
use std::time::{Duration, Instant};

use botcoder_protocol::methods::{SessionCreate, SessionCreateParams};
use botcoder_tests::harness::{TestEnv, bin};
use botcoder_tests::mock_llm::{MockLlm, MockResponse};

mod commands;

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
        // The shell keeps the pane after the TUI exits, so the detach summary can be read.
        let cmd = format!(
            "{} {session}; echo TUI-EXITED; sleep 30",
            bin("botcoder-tui").display()
        );
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

    fn keys(&self, name: &str, keys: &[&str]) {
        let mut args = vec!["send-keys", "-t", name];
        args.extend_from_slice(keys);
        self.run(&args);
    }

    /// Typed literally (no key names).
    fn type_text(&self, name: &str, text: &str) {
        self.run(&["send-keys", "-t", name, "-l", text]);
    }

    /// Waits for `needle` on `name`'s screen. 45 s: under a loaded 2-core machine a TUI
    /// start plus a daemon round trip took over 20 s twice (the honest path is well under 1 s).
    fn wait_for(&self, name: &str, needle: &str) -> String {
        let deadline = Instant::now() + Duration::from_secs(45);
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
    require_tmux();
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
    require_tmux();
    let mock = MockLlm::start().await.unwrap();
    mock.set_default(MockResponse::text("answer"));
    let mut env = TestEnv::new();
    env.use_mock(&mock)
        .set("TERM", "xterm-256color")
        .set("NO_COLOR", "1");
    let mut daemon = env.start_daemon();
    let first = env.ask(&[], "before the restart").await;
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

/// Every TUI test drives real terminals in tmux.
fn require_tmux() {
    botcoder_tests::harness::require("tmux", botcoder_tests::harness::has_tmux());
}

async fn session(env: &TestEnv, title: &str) -> String {
    let c = env.client("setup").await;
    let p = SessionCreateParams {
        project_path: env.project.display().to_string(),
        title: Some(title.into()),
        approval: None,
        ..Default::default()
    };
    c.call::<SessionCreate>(&p)
        .await
        .unwrap()
        .session_id
        .to_string()
}

fn env_for(mock: &MockLlm) -> TestEnv {
    let mut env = TestEnv::new();
    env.use_mock(mock)
        .set("TERM", "xterm-256color")
        .set("NO_COLOR", "1");
    env
}

async fn user_messages(env: &TestEnv, id: &str) -> Vec<String> {
    use botcoder_protocol::EventBody;
    use botcoder_protocol::methods::{SessionHistory, SessionHistoryParams};
    let c = env.client("reader").await;
    let h = c
        .call::<SessionHistory>(&SessionHistoryParams {
            session_id: id.into(),
            after_seq: 0,
            limit: None,
        })
        .await
        .unwrap();
    h.events
        .into_iter()
        .filter_map(|e| match e.body {
            EventBody::UserMessage { text, .. } => Some(text),
            _ => None,
        })
        .collect()
}

fn cursor(tmux: &Tmux<'_>, name: &str) -> (u32, u32, String) {
    let out = tmux.run(&[
        "display-message",
        "-p",
        "-t",
        name,
        "#{cursor_x} #{cursor_y} #{cursor_flag}",
    ]);
    let mut it = out.split_whitespace();
    let x = it.next().unwrap_or("0").parse().unwrap_or(0);
    let y = it.next().unwrap_or("0").parse().unwrap_or(0);
    (x, y, it.next().unwrap_or("").to_owned())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_editor_has_a_cursor_emacs_keys_and_a_paste_that_keeps_lines() {
    require_tmux();
    let mock = MockLlm::start().await.unwrap();
    mock.set_default(MockResponse::text("ok"));
    let env = env_for(&mock);
    let _d = env.start_daemon();
    let id = session(&env, "editor").await;
    let tmux = Tmux {
        env: &env,
        socket: env.root().join("tmux.sock"),
    };
    tmux.open("a", &id);
    tmux.wait_for("a", "editor");
    tmux.type_text("a", "abc");
    tmux.wait_for("a", "abc");
    let (x, _, visible) = cursor(&tmux, "a");
    assert_eq!(
        (x, visible.as_str()),
        (4, "1"),
        "a visible cursor after abc"
    );
    tmux.keys("a", &["C-a"]);
    std::thread::sleep(Duration::from_millis(200));
    assert_eq!(cursor(&tmux, "a").0, 1, "C-a goes to the start of the line");
    // C-a, C-e, C-u, C-w move and kill: none of them inserts a letter.
    tmux.type_text("a", "say ");
    tmux.keys("a", &["C-e"]);
    tmux.type_text("a", " junk");
    tmux.keys("a", &["C-w", "C-w"]);
    tmux.type_text("a", "world");
    tmux.keys("a", &["Enter"]);
    tmux.wait_for("a", "say world");
    // A bracketed paste of two lines stays two lines (tmux sends them with CR).
    tmux.run(&[
        "set-buffer",
        "-b",
        "p",
        "first pasted line\nsecond pasted line",
    ]);
    tmux.run(&["paste-buffer", "-p", "-b", "p", "-t", "a"]);
    tmux.wait_for("a", "second pasted line");
    tmux.keys("a", &["Enter"]);
    tmux.wait_for("a", "› botcoder-tui");
    let deadline = Instant::now() + Duration::from_secs(10);
    let msgs = loop {
        let m = user_messages(&env, &id).await;
        if m.len() >= 2 || Instant::now() > deadline {
            break m;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    };
    assert_eq!(msgs, ["say world", "first pasted line\nsecond pasted line"]);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn slash_commands_never_reach_the_model() {
    require_tmux();
    let mock = MockLlm::start().await.unwrap();
    mock.set_default(MockResponse::text("should not be asked"));
    let env = env_for(&mock);
    let _d = env.start_daemon();
    let id = session(&env, "slash").await;
    let tmux = Tmux {
        env: &env,
        socket: env.root().join("tmux.sock"),
    };
    tmux.open("a", &id);
    tmux.wait_for("a", "slash");
    tmux.type_text("a", "/he");
    tmux.wait_for("a", "list these commands");
    tmux.keys("a", &["Enter"]);
    tmux.wait_for("a", "never sent to the model");
    tmux.keys("a", &["Escape"]);
    tmux.type_text("a", "/frobnicate now");
    tmux.keys("a", &["Enter"]);
    tmux.wait_for("a", "unknown command /frobnicate");
    tmux.type_text("a", "/rename Renamed here");
    tmux.keys("a", &["Enter"]);
    tmux.wait_for("a", "Renamed here");
    std::thread::sleep(Duration::from_millis(300));
    assert!(mock.requests().is_empty(), "a command reached the model");
    assert!(user_messages(&env, &id).await.is_empty());
    // `/exit` detaches like /quit.
    tmux.type_text("a", "/exit");
    tmux.keys("a", &["Enter"]);
    tmux.wait_for("a", "TUI-EXITED");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_queued_message_keeps_its_place_in_both_terminals_and_after_attach() {
    require_tmux();
    let mock = MockLlm::start().await.unwrap();
    mock.push(
        MockResponse::text_chunks(&["Alpha ", "beta ", "gamma ", "delta ", "done."])
            .with_delay(Duration::from_millis(400)),
    );
    mock.push(MockResponse::text("Second answer."));
    let env = env_for(&mock);
    let _d = env.start_daemon();
    let id = session(&env, "order").await;
    let tmux = Tmux {
        env: &env,
        socket: env.root().join("tmux.sock"),
    };
    tmux.open("a", &id);
    tmux.open("b", &id);
    tmux.wait_for("a", "order");
    tmux.wait_for("b", "order");
    tmux.type_text("a", "first question");
    tmux.keys("a", &["Enter"]);
    tmux.wait_for("b", "Alpha");
    tmux.type_text("b", "second question");
    tmux.keys("b", &["Enter"]);
    tmux.wait_for("a", "queued");
    for name in ["a", "b"] {
        tmux.wait_for(name, "Second answer.");
    }
    tmux.open("late", &id);
    tmux.wait_for("late", "Second answer.");
    for name in ["a", "b", "late"] {
        let s = tmux.screen(name);
        let at = |n: &str| {
            s.find(n)
                .unwrap_or_else(|| panic!("{n:?} missing in {name}:\n{s}"))
        };
        assert!(
            at("first question") < at("Alpha beta gamma delta done.")
                && at("Alpha beta gamma delta done.") < at("second question")
                && at("second question") < at("Second answer."),
            "order in {name}:\n{s}"
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn ctrl_c_cancels_the_turn_and_detaching_leaves_a_summary() {
    require_tmux();
    let mock = MockLlm::start().await.unwrap();
    let pieces: Vec<String> = (0..100).map(|i| format!("word{i} ")).collect();
    let pieces: Vec<&str> = pieces.iter().map(String::as_str).collect();
    mock.set_default(MockResponse::text_chunks(&pieces).with_delay(Duration::from_millis(200)));
    let env = env_for(&mock);
    let _d = env.start_daemon();
    let id = session(&env, "cancel").await;
    let tmux = Tmux {
        env: &env,
        socket: env.root().join("tmux.sock"),
    };
    tmux.open("a", &id);
    tmux.wait_for("a", "cancel");
    tmux.type_text("a", "talk for a long time");
    tmux.keys("a", &["Enter"]);
    tmux.wait_for("a", "word2");
    tmux.keys("a", &["C-c"]);
    tmux.wait_for("a", "turn cancelled");
    // The hint goes away by itself.
    std::thread::sleep(Duration::from_millis(3500));
    assert!(
        !tmux.screen("a").contains("cancelling"),
        "{}",
        tmux.screen("a")
    );
    tmux.keys("a", &["C-c", "C-c"]);
    let s = tmux.wait_for("a", "TUI-EXITED");
    assert!(s.contains(&format!("botcoder attach {id}")), "{s}");
    assert!(s.contains("Detached from session"), "{s}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_approval_shows_its_scope_and_can_be_denied_with_a_message() {
    require_tmux();
    let mock = MockLlm::start().await.unwrap();
    mock.push(MockResponse::openai_tool_calls(
        &[(
            "call_1",
            "write_file",
            r#"{"path":"Makefile","content":"all:\n\tcc -o x x.c\n"}"#,
        )],
        3,
    ));
    mock.push(MockResponse::text("Understood, not writing it."));
    let env = env_for(&mock);
    let _d = env.start_daemon();
    let id = session(&env, "approve").await;
    let tmux = Tmux {
        env: &env,
        socket: env.root().join("tmux.sock"),
    };
    tmux.open("a", &id);
    tmux.wait_for("a", "approve");
    tmux.type_text("a", "write a makefile");
    tmux.keys("a", &["Enter"]);
    let modal = tmux.wait_for("a", "approve write_file?");
    assert!(modal.contains("[m] deny with a message"), "{modal}");
    // The tab of the recipe line is expanded, not dropped.
    assert!(modal.contains("+    cc -o x x.c"), "{modal}");
    tmux.keys("a", &["m"]);
    tmux.type_text("a", "use CMake instead");
    tmux.keys("a", &["Enter"]);
    let s = tmux.wait_for("a", "Understood, not writing it.");
    assert!(s.contains("denied by botcoder-tui"), "{s}");
    assert!(s.contains("(this terminal)"), "{s}");
    assert!(!env.project.join("Makefile").exists());
    let asked = mock.requests().len();
    assert!(asked >= 2, "the model was asked again after the denial");
    let last = mock.requests().pop().unwrap().body.to_string();
    assert!(
        last.contains("use CMake instead"),
        "the message reached the model: {last}"
    );
}
