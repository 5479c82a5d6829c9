//! Per-session settings beyond the provider (issue 13): the command sandbox resolved per
//! session (a project's files can only make it stricter; the user's own client may choose),
//! `session.create` refused without a provider before anything is written, the key of a
//! later `ask --session` from another shell, and exit 77 naming the variable that actually
//! held the rejected key. Real binaries against mock providers on 127.0.0.1.

// Test code: a failed expectation is a failed test.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::time::Duration;

use botcoder_protocol::ErrorKind;
use botcoder_protocol::methods::{
    SessionCreate, SessionCreateParams, SessionGet, SessionInfo, SessionRef,
};
use botcoder_tests::harness::{CliOutput, TestEnv};
use botcoder_tests::mock_llm::{MockLlm, MockResponse};

/// Runs `botcoder` with `extra` set in its environment only (not the daemon's).
async fn cli_with(env: &TestEnv, extra: &[(&str, &str)], args: &[&str]) -> CliOutput {
    let mut cmd = tokio::process::Command::from(env.cli(args));
    cmd.envs(extra.iter().copied())
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .kill_on_drop(true);
    let out = tokio::time::timeout(Duration::from_secs(60), cmd.output())
        .await
        .expect("botcoder finishes")
        .unwrap();
    CliOutput {
        code: out.status.code().unwrap_or(-1),
        stdout: String::from_utf8_lossy(&out.stdout).into_owned(),
        stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
    }
}

fn project(env: &TestEnv, name: &str) -> PathBuf {
    let dir = env.root().join(name);
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

fn p(path: &Path) -> String {
    path.display().to_string()
}

async fn info(env: &TestEnv, id: &str) -> SessionInfo {
    env.client("test")
        .await
        .call::<SessionGet>(&SessionRef {
            session_id: id.into(),
        })
        .await
        .unwrap()
}

/// Every file under the sessions directory (none, when no session was ever created).
fn session_dirs(env: &TestEnv) -> Vec<PathBuf> {
    match std::fs::read_dir(env.sessions_dir()) {
        Ok(rd) => rd.flatten().map(|e| e.path()).collect(),
        Err(_) => Vec::new(),
    }
}

/// The `Authorization` header of every model request the mock received, in order.
fn bearers(mock: &MockLlm) -> Vec<String> {
    mock.requests()
        .iter()
        .filter(|r| r.method == "POST")
        .map(|r| r.header("authorization").unwrap_or_default().to_owned())
        .collect()
}

/// No file of session `id` contains `needle` (a key stays in daemon memory only).
fn assert_not_in_session_files(env: &TestEnv, id: &str, needle: &str) {
    let dir = env.sessions_dir().join(id);
    for f in std::fs::read_dir(&dir).unwrap().flatten() {
        let text = std::fs::read_to_string(f.path()).unwrap_or_default();
        assert!(!text.contains(needle), "{}", f.path().display());
    }
}

/// One turn of `ask --approval auto` in which the model runs `command`.
async fn ask_running(
    env: &TestEnv,
    mock: &MockLlm,
    here: &Path,
    extra: &[(&str, &str)],
    command: &str,
) -> CliOutput {
    let args = serde_json::json!({ "command": command }).to_string();
    mock.push(MockResponse::openai_tool_calls(
        &[("c1", "execute_command", &args)],
        1,
    ));
    mock.push(MockResponse::text("done"));
    cli_with(
        env,
        extra,
        &["ask", "--project", &p(here), "--approval", "auto", "go"],
    )
    .await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_projects_file_cannot_turn_the_sandbox_off_but_the_users_shell_can() {
    let mock = MockLlm::start().await.unwrap();
    let mut env = TestEnv::new();
    env.use_mock(&mock);
    let _d = env.start_daemon();
    let outside = env.root().join("outside");
    std::fs::create_dir_all(&outside).unwrap();

    // The hostile repository: its config asks for no sandbox at all.
    let cloned = project(&env, "cloned");
    std::fs::create_dir_all(cloned.join(".botcoder")).unwrap();
    std::fs::write(
        cloned.join(".botcoder/config.toml"),
        "[sandbox]\nmode = \"off\"\nnetwork = true\n",
    )
    .unwrap();
    std::fs::write(cloned.join(".env"), "BOTCODER_SANDBOX=off\n").unwrap();
    let target = outside.join("from-the-project");
    let out = ask_running(
        &env,
        &mock,
        &cloned,
        &[],
        &format!("echo x > {}", p(&target)),
    )
    .await;
    assert_eq!(out.code, 0, "{}", out.stderr);
    let hostile = info(&env, &out.session_id()).await;
    let mode = hostile.sandbox.clone().unwrap_or_default();
    assert!(
        !mode.starts_with("off") && !mode.contains("network"),
        "{mode}"
    );
    assert!(
        !target.exists(),
        "the project's command escaped the sandbox"
    );

    // The user's own shell may choose `off` for its session, on the same daemon.
    let own = project(&env, "own");
    let target = outside.join("from-the-user");
    let out = ask_running(
        &env,
        &mock,
        &own,
        &[("BOTCODER_SANDBOX", "off")],
        &format!("echo x > {}", p(&target)),
    )
    .await;
    assert_eq!(out.code, 0, "{}", out.stderr);
    let chosen = info(&env, &out.session_id()).await;
    assert_eq!(chosen.sandbox.as_deref(), Some("off"));
    assert!(target.exists(), "the user's choice of no sandbox applies");
    // The same choice as a `session.create` parameter; a mode that is none is refused.
    let c = env.client("test").await;
    let create = |mode: &str| SessionCreateParams {
        project_path: p(&own),
        sandbox: Some(mode.to_owned()),
        ..Default::default()
    };
    let made = c.call::<SessionCreate>(&create("off")).await.unwrap();
    assert_eq!(made.sandbox.as_deref(), Some("off"));
    let err = c
        .call::<SessionCreate>(&create("none-such"))
        .await
        .unwrap_err();
    assert_eq!(err.kind(), Some(ErrorKind::InvalidParams), "{err}");
    // Two sessions, two sandboxes: the first keeps its own.
    assert_eq!(
        info(&env, &hostile.session_id.0).await.sandbox,
        hostile.sandbox
    );
    // The journal records the mode by name.
    let journal = std::fs::read_to_string(
        env.sessions_dir()
            .join(chosen.session_id.0.as_str())
            .join("events.jsonl"),
    )
    .unwrap_or_default();
    assert!(
        journal.contains("\"session.configured\"") && journal.contains("\"sandbox\":\"off\""),
        "{journal}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn no_provider_refuses_session_create_and_writes_nothing() {
    let env = TestEnv::new();
    let _d = env.start_daemon();
    let here = project(&env, "none");
    let out = env
        .run_cli(&["ask", "--project", &p(&here), "hi"], None)
        .await;
    assert_eq!(out.code, 78, "{}", out.stderr);
    assert!(out.stderr.lines().filter(|l| !l.trim().is_empty()).count() <= 3);
    assert_eq!(session_dirs(&env), Vec::<PathBuf>::new());
    // The same through the protocol, as the TUI and the ACP bridge ask.
    let err = env
        .client("tui")
        .await
        .call::<SessionCreate>(&SessionCreateParams {
            project_path: p(&here),
            require_provider: true,
            ..Default::default()
        })
        .await
        .unwrap_err();
    assert_eq!(err.kind(), Some(ErrorKind::ProviderNotConfigured), "{err}");
    assert!(err.to_string().contains("OPENAI_API_KEY"), "{err}");
    assert_eq!(session_dirs(&env), Vec::<PathBuf>::new());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_later_ask_from_another_shell_uses_that_shells_key() {
    let mock = MockLlm::start().await.unwrap();
    mock.set_default(MockResponse::text("ok"));
    let env = TestEnv::new();
    let _d = env.start_daemon();
    let here = project(&env, "k");
    let first = [
        ("OPENAI_API_KEY", "sk-first-shell-1111"),
        ("OPENAI_BASE_URL", &mock.base_url()),
    ];
    let out = cli_with(&env, &first, &["ask", "--project", &p(&here), "one"]).await;
    assert_eq!(out.code, 0, "{}", out.stderr);
    let id = out.session_id();
    let second = [
        ("OPENAI_API_KEY", "sk-second-shell-2222"),
        ("OPENAI_BASE_URL", &mock.base_url()),
    ];
    let out = cli_with(&env, &second, &["ask", "--session", &id, "two"]).await;
    assert_eq!(out.code, 0, "{}", out.stderr);
    assert_eq!(
        bearers(&mock),
        vec!["Bearer sk-first-shell-1111", "Bearer sk-second-shell-2222"]
    );
    assert_not_in_session_files(&env, &id, "sk-second-shell");
}

fn rejecting_mock_text() -> MockResponse {
    MockResponse::status(401, r#"{"error":{"message":"bad key"}}"#)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn exit_77_names_the_key_env_variable_of_the_config() {
    let mock = MockLlm::start().await.unwrap();
    mock.set_default(rejecting_mock_text());
    let mut env = TestEnv::new();
    let dir = env.root().join("config/botcoder");
    std::fs::create_dir_all(&dir).unwrap();
    std::fs::write(
        dir.join("config.toml"),
        format!(
            "provider = \"work\"\n[providers.work]\nkind = \"openai\"\nurl = \"{}\"\nkey_env = \"MY_WORK_KEY\"\n",
            mock.base_url()
        ),
    )
    .unwrap();
    env.set("MY_WORK_KEY", "sk-wrong-5678");
    let _d = env.start_daemon();
    let here = project(&env, "k");
    let out = env
        .run_cli(&["ask", "--project", &p(&here), "hi"], None)
        .await;
    assert_eq!(out.code, 77, "{}", out.stderr);
    assert!(out.stderr.contains("set MY_WORK_KEY"), "{}", out.stderr);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn exit_77_names_the_projects_env_file_that_held_the_key() {
    let mock = MockLlm::start().await.unwrap();
    mock.set_default(rejecting_mock_text());
    let env = TestEnv::new();
    let _d = env.start_daemon();
    let here = project(&env, "k");
    std::fs::write(
        here.join(".env"),
        format!(
            "OPENAI_API_KEY=sk-project-wrong-9\nOPENAI_BASE_URL={}\n",
            mock.base_url()
        ),
    )
    .unwrap();
    let out = env
        .run_cli(&["ask", "--project", &p(&here), "hi"], None)
        .await;
    assert_eq!(out.code, 77, "{}", out.stderr);
    let named = format!("set OPENAI_API_KEY in {}", p(&here.join(".env")));
    // The project path may be shown canonicalised.
    let canon = format!(
        "set OPENAI_API_KEY in {}",
        p(&std::fs::canonicalize(&here).unwrap().join(".env"))
    );
    assert!(
        out.stderr.contains(&named) || out.stderr.contains(&canon),
        "{}",
        out.stderr
    );
}

/// `session.send` carries the sender's environment: a session created with no provider
/// at all runs its turn with the key of the message's own environment, a later message
/// with another key uses that one, an oversized environment is refused before any turn,
/// and no key reaches the session's files.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn session_send_carries_the_senders_key() {
    use botcoder_protocol::SessionId;
    use botcoder_protocol::methods::{SessionSend, SessionSendParams};
    use botcoder_tests::events::until_turns_completed;
    use std::collections::BTreeMap;

    let mock = MockLlm::start().await.unwrap();
    mock.set_default(MockResponse::text("ok"));
    let env = TestEnv::new();
    let _d = env.start_daemon();
    let here = project(&env, "send-env");
    let c = env.client("test").await;
    let id: SessionId = botcoder_tests::session::create_default(&c, &here).await;
    let send = |text: &str, key: &str| SessionSendParams {
        session_id: id.clone(),
        text: text.into(),
        approval: None,
        env: BTreeMap::from([
            ("OPENAI_API_KEY".to_owned(), key.to_owned()),
            ("OPENAI_BASE_URL".to_owned(), mock.base_url()),
            // Not a provider variable: dropped, never used.
            ("PATH".to_owned(), "/not/sent".to_owned()),
        ]),
    };
    let mut sub = botcoder_tests::session::subscribe(&c, &id, None).await;
    c.call::<SessionSend>(&send("one", "sk-send-one-1111"))
        .await
        .unwrap();
    until_turns_completed(&mut sub, 1, Duration::from_secs(30)).await;
    c.call::<SessionSend>(&send("two", "sk-send-two-2222"))
        .await
        .unwrap();
    until_turns_completed(&mut sub, 1, Duration::from_secs(30)).await;
    // Attacker side: a value past the bound is refused whole, and no turn starts.
    let mut huge = send("three", "sk-send-three");
    huge.env
        .insert("OPENAI_MODEL".to_owned(), "m".repeat(64 * 1024));
    let err = c.call::<SessionSend>(&huge).await.unwrap_err();
    assert_eq!(err.kind(), Some(ErrorKind::LimitExceeded), "{err}");
    assert_eq!(
        bearers(&mock),
        vec!["Bearer sk-send-one-1111", "Bearer sk-send-two-2222"]
    );
    assert_not_in_session_files(&env, id.0.as_str(), "sk-send-");
}

/// `ask --sandbox` picks the new session's sandbox, and says it applies to new sessions
/// only when given with `--session`.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn ask_sandbox_flag_sets_the_new_sessions_sandbox() {
    let mock = MockLlm::start().await.unwrap();
    mock.set_default(MockResponse::text("ok"));
    let env = TestEnv::new();
    let _d = env.start_daemon();
    let here = project(&env, "flag");
    let keys = [
        ("OPENAI_API_KEY", "sk-x"),
        ("OPENAI_BASE_URL", &mock.base_url()),
    ];
    let out = cli_with(
        &env,
        &keys,
        &["ask", "--project", &p(&here), "--sandbox", "landlock", "hi"],
    )
    .await;
    assert_eq!(out.code, 0, "{}", out.stderr);
    let id = out.session_id();
    assert_eq!(info(&env, &id).await.sandbox.as_deref(), Some("landlock"));
    let out = cli_with(
        &env,
        &keys,
        &["ask", "--session", &id, "--sandbox", "off", "again"],
    )
    .await;
    assert_eq!(out.code, 2, "{}", out.stderr);
    assert!(out.stderr.contains("--sandbox"), "{}", out.stderr);
    let out = cli_with(&env, &keys, &["ask", "--sandbox", "none", "x"]).await;
    assert_eq!(out.code, 2, "{}", out.stderr);
    assert!(out.stderr.contains("bwrap"), "{}", out.stderr);
}
