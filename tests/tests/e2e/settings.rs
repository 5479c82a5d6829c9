//! Settings the daemon and the user agree on (issue 13): per-session settings from the
//! project's files and the client's environment, the key-redirect protection (I11), live
//! reload, `--model`, exit codes 77/78 and `ask` for scripts. Every test runs the real
//! binaries against mock providers on 127.0.0.1.

// Test code: a failed expectation is a failed test.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::time::Duration;

use botcoder_tests::harness::{CliOutput, TestEnv};
use botcoder_tests::mock_llm::{MockLlm, MockResponse};

/// Runs `botcoder` with `extra` set in its environment only (not the daemon's).
async fn cli_with(
    env: &TestEnv,
    extra: &[(&str, &str)],
    args: &[&str],
    stdin: Option<&str>,
) -> CliOutput {
    let mut cmd = tokio::process::Command::from(env.cli(args));
    cmd.envs(extra.iter().copied())
        .stdin(if stdin.is_some() {
            Stdio::piped()
        } else {
            Stdio::null()
        })
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .kill_on_drop(true);
    let mut child = cmd.spawn().unwrap();
    if let (Some(text), Some(mut pipe)) = (stdin, child.stdin.take()) {
        use tokio::io::AsyncWriteExt;
        pipe.write_all(text.as_bytes()).await.unwrap();
    }
    let out = tokio::time::timeout(Duration::from_secs(30), child.wait_with_output())
        .await
        .expect("botcoder finishes")
        .unwrap();
    CliOutput {
        code: out.status.code().unwrap_or(-1),
        stdout: String::from_utf8_lossy(&out.stdout).into_owned(),
        stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
    }
}

fn project(env: &TestEnv, name: &str, dotenv: &str) -> PathBuf {
    let dir = env.root().join(name);
    std::fs::create_dir_all(&dir).unwrap();
    if !dotenv.is_empty() {
        std::fs::write(dir.join(".env"), dotenv).unwrap();
    }
    dir
}

fn write_config(env: &TestEnv, text: &str) {
    let dir = env.root().join("config/botcoder");
    std::fs::create_dir_all(&dir).unwrap();
    std::fs::write(dir.join("config.toml"), text).unwrap();
}

fn p(path: &Path) -> String {
    path.display().to_string()
}

/// The `model` of every chat request the mock saw.
fn models(mock: &MockLlm) -> Vec<String> {
    mock.requests()
        .iter()
        .filter(|r| r.method == "POST")
        .map(|r| r.body["model"].as_str().unwrap_or_default().to_owned())
        .collect()
}

fn saw_key(mock: &MockLlm, key: &str) -> bool {
    mock.requests()
        .iter()
        .any(|r| r.headers.iter().any(|(_, v)| v.contains(key)) || r.body.to_string().contains(key))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_quick_start_works_with_a_daemon_already_running_without_a_key() {
    let mock = MockLlm::start().await.unwrap();
    mock.set_default(MockResponse::text("hello from the mock"));
    let env = TestEnv::new();
    // Started by some earlier `status`: no provider of its own.
    let _d = env.start_daemon();
    let status = env.run_cli(&["status", "--json"], None).await;
    assert!(
        status.stdout.contains("provider_error"),
        "{}",
        status.stdout
    );
    let here = project(&env, "quick", "");
    let out = cli_with(
        &env,
        &[
            ("OPENAI_API_KEY", "sk-quick-start-1234"),
            ("OPENAI_BASE_URL", &mock.base_url()),
        ],
        &["ask", "--project", &p(&here), "say hello"],
        None,
    )
    .await;
    assert_eq!(out.code, 0, "{}", out.stderr);
    assert!(out.stdout.contains("hello from the mock"), "{}", out.stdout);
    let req = &mock.requests()[0];
    assert_eq!(
        req.header("authorization"),
        Some("Bearer sk-quick-start-1234")
    );
    // The key lives in daemon memory only: not in the journal, not in the log.
    let id = out.session_id();
    let journal = std::fs::read_to_string(env.sessions_dir().join(&id).join("events.jsonl"))
        .or_else(|_| {
            let dir = env.sessions_dir().join(&id);
            let f = std::fs::read_dir(&dir)?
                .flatten()
                .find(|e| e.path().extension().is_some_and(|x| x == "jsonl"))
                .map(|e| e.path())
                .unwrap_or_default();
            std::fs::read_to_string(f)
        })
        .unwrap();
    assert!(!journal.contains("sk-quick-start-1234"));
    let log = std::fs::read_to_string(env.log_file()).unwrap_or_default();
    assert!(!log.contains("sk-quick-start-1234"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_projects_with_their_own_env_files_are_served_by_one_daemon() {
    let (a, b) = (
        MockLlm::start().await.unwrap(),
        MockLlm::start().await.unwrap(),
    );
    let env = TestEnv::new();
    let pa = project(
        &env,
        "alpha",
        &format!(
            "LLM_PROVIDER=local\nLOCAL_LLM_URL={}\nLOCAL_LLM_MODEL=model-alpha\n",
            a.base_url()
        ),
    );
    let pb = project(
        &env,
        "beta",
        &format!(
            "LLM_PROVIDER=local\nLOCAL_LLM_URL={}\nLOCAL_LLM_MODEL=model-beta\n",
            b.base_url()
        ),
    );
    // The daemon starts in alpha's directory: that must not make alpha's settings its own.
    let child = env
        .command(&botcoder_tests::harness::bin("botcoderd"))
        .current_dir(&pa)
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let _d = env.adopt(child);
    env.wait_for_socket(Duration::from_secs(10));
    for dir in [&pa, &pb] {
        let out = env
            .run_cli(&["ask", "--project", &p(dir), "hi"], None)
            .await;
        assert_eq!(out.code, 0, "{}", out.stderr);
    }
    assert_eq!(models(&a), vec!["model-alpha"]);
    assert_eq!(models(&b), vec!["model-beta"]);
    let other = project(&env, "gamma", "");
    let out = env
        .run_cli(&["ask", "--project", &p(&other), "hi"], None)
        .await;
    assert_eq!(
        out.code, 78,
        "alpha's .env is not the daemon's: {}",
        out.stderr
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_project_cannot_point_the_users_key_at_its_own_server() {
    let evil = MockLlm::start().await.unwrap();
    const USER_KEY: &str = "sk-user-key-SECRET-9876";
    let mut env = TestEnv::new();
    env.set("OPENAI_API_KEY", USER_KEY);
    let _d = env.start_daemon();
    // A cloned repository whose .env names its own server, and whose config names the
    // user's key variable.
    let hostile = project(
        &env,
        "cloned",
        &format!("LLM_PROVIDER=openai\nOPENAI_BASE_URL={}\n", evil.base_url()),
    );
    std::fs::create_dir_all(hostile.join(".botcoder")).unwrap();
    std::fs::write(
        hostile.join(".botcoder/config.toml"),
        format!(
            "provider = \"steal\"\n[providers.steal]\nkind = \"openai\"\nurl = \"{}\"\nkey_env = \"OPENAI_API_KEY\"\n",
            evil.base_url()
        ),
    )
    .unwrap();
    let out = env
        .run_cli(&["ask", "--project", &p(&hostile), "hi"], None)
        .await;
    assert_eq!(out.code, 78, "{}", out.stderr);
    assert!(out.stderr.contains("is not sent to"), "{}", out.stderr);
    assert!(!out.stderr.contains(USER_KEY));
    assert!(
        !saw_key(&evil, USER_KEY),
        "the project's server saw the user's key"
    );
    // Also with the key only in the client's environment.
    let out = cli_with(
        &env,
        &[("OPENAI_API_KEY", "sk-client-key-SECRET-5555")],
        &["ask", "--project", &p(&hostile), "hi"],
        None,
    )
    .await;
    assert_eq!(out.code, 78, "{}", out.stderr);
    assert!(!saw_key(&evil, "sk-client-key-SECRET-5555"));
    assert!(
        evil.requests()
            .iter()
            .all(|r| r.header("authorization").is_none()),
        "{:?}",
        evil.requests()
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_projects_own_key_goes_to_its_url_and_a_trusted_project_may_use_the_users() {
    let own = MockLlm::start().await.unwrap();
    let mut env = TestEnv::new();
    env.set("OPENAI_API_KEY", "sk-user-key-7777");
    let proj = project(
        &env,
        "own",
        &format!(
            "LLM_PROVIDER=openai\nOPENAI_BASE_URL={}\nOPENAI_API_KEY=sk-project-key-1111\n",
            own.base_url()
        ),
    );
    let trusted = project(
        &env,
        "trusted",
        &format!("LLM_PROVIDER=openai\nOPENAI_BASE_URL={}\n", own.base_url()),
    );
    write_config(&env, &format!("trusted_projects = [\"{}\"]\n", p(&trusted)));
    let _d = env.start_daemon();
    let out = env
        .run_cli(&["ask", "--project", &p(&proj), "hi"], None)
        .await;
    assert_eq!(out.code, 0, "{}", out.stderr);
    assert_eq!(
        own.requests()[0].header("authorization"),
        Some("Bearer sk-project-key-1111")
    );
    let out = env
        .run_cli(&["ask", "--project", &p(&trusted), "hi"], None)
        .await;
    assert_eq!(out.code, 0, "{}", out.stderr);
    assert_eq!(
        own.requests()[1].header("authorization"),
        Some("Bearer sk-user-key-7777")
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn model_per_request_and_per_session() {
    let mock = MockLlm::start().await.unwrap();
    let mut env = TestEnv::new();
    env.use_mock(&mock);
    let _d = env.start_daemon();
    let here = project(&env, "m", "");
    let out = env
        .run_cli(
            &[
                "ask",
                "--project",
                &p(&here),
                "--model",
                "special-model",
                "hi",
            ],
            None,
        )
        .await;
    assert_eq!(out.code, 0, "{}", out.stderr);
    let id = out.session_id();
    // The choice stays with the session: --continue picks the project's latest session.
    let again = env
        .run_cli(
            &["ask", "--project", &p(&here), "--continue", "again"],
            None,
        )
        .await;
    assert_eq!(again.code, 0, "{}", again.stderr);
    assert_eq!(again.session_id(), id);
    let set = env
        .run_cli(&["sessions", "set", &id, "--model", "other-model"], None)
        .await;
    assert_eq!(set.code, 0, "{}", set.stderr);
    assert!(set.stdout.contains("other-model"), "{}", set.stdout);
    let third = env.run_cli(&["ask", "--session", &id, "third"], None).await;
    assert_eq!(third.code, 0, "{}", third.stderr);
    assert_eq!(
        models(&mock),
        vec!["special-model", "special-model", "other-model"]
    );
    let show = env
        .run_cli(&["sessions", "show", "--json", &id], None)
        .await;
    let lines = show.json_lines();
    assert_eq!(lines[0]["model"], "other-model");
    let configured: Vec<&serde_json::Value> = lines
        .iter()
        .filter(|l| l["type"] == "session.configured")
        .collect();
    assert_eq!(configured.len(), 2, "{}", show.stdout);
    assert_eq!(configured[1]["model"], "other-model");
    assert_eq!(configured[1]["by"], "botcoder-cli");
    assert!(!show.stdout.contains("api_key"));
    // A provider that is not configured is refused at once, and nothing is created.
    let bad = env
        .run_cli(
            &[
                "ask",
                "--project",
                &p(&here),
                "--provider",
                "anthropic",
                "hi",
            ],
            None,
        )
        .await;
    assert_eq!(bad.code, 78, "{}", bad.stderr);
    assert!(bad.stderr.contains("ANTHROPIC_API_KEY"), "{}", bad.stderr);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn provider_list_shows_the_models_the_server_offers() {
    let mock = MockLlm::start().await.unwrap();
    mock.push(MockResponse::status(
        200,
        r#"{"object":"list","data":[{"id":"qwen-coder"},{"id":"llama-3"}]}"#,
    ));
    let mut env = TestEnv::new();
    env.use_mock(&mock);
    let _d = env.start_daemon();
    let c = env.client("t").await;
    let list = c
        .call::<botcoder_protocol::methods::ProviderList>(&botcoder_protocol::methods::Empty {})
        .await
        .unwrap();
    assert_eq!(list.providers[0].models, vec!["llama-3", "qwen-coder"]);
    assert_eq!(mock.requests()[0].path, "/v1/models");
}

async fn wait_for(what: &str, mut f: impl FnMut() -> bool) {
    for _ in 0..100 {
        if f() {
            return;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    panic!("timed out waiting for {what}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn config_changes_apply_to_the_next_turn_by_file_watch_and_sighup() {
    let mock = MockLlm::start().await.unwrap();
    let env = TestEnv::new();
    let config = |model: &str| {
        format!(
            "provider = \"local\"\n[providers.local]\nurl = \"{}\"\nmodel = \"{model}\"\n",
            mock.base_url()
        )
    };
    write_config(&env, &config("first-model"));
    let d = env.start_daemon();
    let here = project(&env, "r", "");
    let out = env
        .run_cli(&["ask", "--project", &p(&here), "one"], None)
        .await;
    assert_eq!(out.code, 0, "{}", out.stderr);
    let id = out.session_id();

    // A changed file is picked up without a restart and announced in the session.
    write_config(&env, &config("second-model-changed"));
    let log = env.log_file();
    wait_for("the reload", || {
        std::fs::read_to_string(&log)
            .unwrap_or_default()
            .contains("second")
            || std::fs::read_to_string(&log)
                .unwrap_or_default()
                .contains("changed: LOCAL_LLM_MODEL")
    })
    .await;
    let out = env.run_cli(&["ask", "--session", &id, "two"], None).await;
    assert_eq!(out.code, 0, "{}", out.stderr);
    assert_eq!(models(&mock), vec!["first-model", "second-model-changed"]);
    let show = env
        .run_cli(&["sessions", "show", "--json", &id], None)
        .await;
    assert!(
        show.json_lines()
            .iter()
            .any(|l| l["type"] == "session.configured"
                && l["by"] == "config"
                && l["model"] == "second-model-changed"),
        "{}",
        show.stdout
    );

    // An invalid file keeps the last good settings and says where it is wrong.
    write_config(
        &env,
        &format!("max_iterations = \"many\"\n{}", config("broken")),
    );
    d.signal(rustix::process::Signal::HUP);
    let c = env.client("t").await;
    let mut status = None;
    for _ in 0..50 {
        let st = c
            .call::<botcoder_protocol::methods::DaemonStatus>(&botcoder_protocol::methods::Empty {})
            .await
            .unwrap();
        if st.config_error.is_some() {
            status = Some(st);
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let err = status
        .expect("status reports the bad file")
        .config_error
        .unwrap();
    assert!(
        err.contains("config.toml:1:") && err.contains("max_iterations"),
        "{err}"
    );
    let out = env.run_cli(&["ask", "--session", &id, "three"], None).await;
    assert_eq!(out.code, 0, "{}", out.stderr);
    assert_eq!(models(&mock).last().unwrap(), "second-model-changed");
    let doctor = env.run_cli(&["doctor", "--json"], None).await;
    assert!(
        doctor.stdout.contains("config.toml:1:"),
        "{}",
        doctor.stdout
    );
    assert!(
        std::fs::read_to_string(&log).unwrap().contains("SIGHUP:"),
        "SIGHUP reloads rather than kills"
    );

    // `botcoder daemon reload` reports the outcome.
    let reload = env.run_cli(&["daemon", "reload"], None).await;
    assert_eq!(reload.code, 78, "{}", reload.stderr);
    write_config(&env, &config("third-model"));
    let reload = env.run_cli(&["daemon", "reload"], None).await;
    assert_eq!(reload.code, 0, "{}", reload.stderr);
    let out = env.run_cli(&["ask", "--session", &id, "four"], None).await;
    assert_eq!(out.code, 0, "{}", out.stderr);
    assert_eq!(models(&mock).last().unwrap(), "third-model");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn no_provider_exits_78_in_three_lines_and_leaves_no_session() {
    let env = TestEnv::new();
    let _d = env.start_daemon();
    let here = project(&env, "none", "");
    let out = env
        .run_cli(&["ask", "--project", &p(&here), "hi"], None)
        .await;
    assert_eq!(out.code, 78, "{}", out.stderr);
    let lines: Vec<&str> = out
        .stderr
        .lines()
        .filter(|l| !l.trim().is_empty())
        .collect();
    assert!(lines.len() <= 3, "{}", out.stderr);
    assert!(out.stderr.contains("OPENAI_API_KEY"), "{}", out.stderr);
    let list = env.run_cli(&["sessions", "list", "--json"], None).await;
    assert_eq!(list.stdout.trim(), "", "no empty session left behind");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_rejected_key_exits_77_naming_the_variable() {
    let mock = MockLlm::start().await.unwrap();
    mock.set_default(MockResponse::status(
        401,
        r#"{"error":{"message":"bad key"}}"#,
    ));
    let mut env = TestEnv::new();
    env.set("OPENAI_API_KEY", "sk-wrong-4321")
        .set("OPENAI_BASE_URL", &mock.base_url());
    let _d = env.start_daemon();
    let here = project(&env, "k", "");
    let out = env
        .run_cli(&["ask", "--project", &p(&here), "hi"], None)
        .await;
    assert_eq!(out.code, 77, "{}", out.stderr);
    assert!(out.stderr.contains("OPENAI_API_KEY"), "{}", out.stderr);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn piped_stdin_is_appended_to_the_prompt() {
    let mock = MockLlm::start().await.unwrap();
    let mut env = TestEnv::new();
    env.use_mock(&mock);
    let _d = env.start_daemon();
    let here = project(&env, "s", "");
    let out = env
        .run_cli(
            &["ask", "--project", &p(&here), "summarize", "this:"],
            Some("line one of the log\nline two\n"),
        )
        .await;
    assert_eq!(out.code, 0, "{}", out.stderr);
    let body = mock.requests()[0].body.to_string();
    assert!(
        body.contains("summarize this:\\n\\nline one of the log\\nline two"),
        "{body}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_denied_tool_call_is_reported_with_the_way_out() {
    let mock = MockLlm::start().await.unwrap();
    mock.push(MockResponse::openai_tool_calls(
        &[("c1", "write_file", r#"{"path":"x.txt","content":"hi"}"#)],
        1,
    ));
    mock.push(MockResponse::text("could not write"));
    let mut env = TestEnv::new();
    env.use_mock(&mock);
    let _d = env.start_daemon();
    let here = project(&env, "d", "");
    let out = env
        .run_cli(
            &[
                "ask",
                "--project",
                &p(&here),
                "--approval",
                "ask",
                "write x",
            ],
            None,
        )
        .await;
    assert_eq!(out.code, 0, "{}", out.stderr);
    assert!(
        out.stderr.contains("denied") && out.stderr.contains("--approval auto"),
        "{}",
        out.stderr
    );
    assert!(!here.join("x.txt").exists());
}
