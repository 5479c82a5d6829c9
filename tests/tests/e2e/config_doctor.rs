//! Configuration layers, `botcoder config`, `botcoder doctor` and `botcoder daemon restart`.

// Test code: a failed expectation is a failed test.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::time::Duration;

use botcoder_tests::harness::TestEnv;
use botcoder_tests::mock_llm::{MockLlm, MockResponse};

fn write_config(env: &TestEnv, text: &str) {
    let dir = env.root().join("config/botcoder");
    std::fs::create_dir_all(&dir).unwrap();
    std::fs::write(dir.join("config.toml"), text).unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn config_commands_work_without_a_daemon_and_show_sources() {
    let mut env = TestEnv::new();
    env.set("WORK_KEY", "sk-from-env-SECRET")
        .set("BOTCODER_APPROVAL", "auto");
    std::fs::write(
        env.root().join("cwd/.env"),
        "OPENAI_MODEL=gpt-from-dotenv\n",
    )
    .unwrap();
    let init = env.run_cli(&["config", "init"], None).await;
    assert_eq!(init.code, 0, "{}", init.stderr);
    assert_eq!(
        env.run_cli(&["config", "init"], None).await.code,
        1,
        "never overwrites"
    );
    write_config(
        &env,
        "provider = \"work\"\napproval = \"ask\"\n[providers.work]\nkind = \"openai\"\nkey_env = \"WORK_KEY\"\nmodel = \"gpt-from-file\"\n",
    );
    let show = env.run_cli(&["config", "show", "--json"], None).await;
    assert_eq!(show.code, 0, "{}", show.stderr);
    let doc = &show.json_lines()[0];
    assert_eq!(doc["vars"]["LLM_PROVIDER"]["value"], "openai");
    assert!(
        doc["vars"]["LLM_PROVIDER"]["source"]
            .as_str()
            .unwrap()
            .ends_with("config.toml")
    );
    assert_eq!(doc["vars"]["OPENAI_MODEL"]["value"], "gpt-from-dotenv");
    assert!(
        doc["vars"]["OPENAI_MODEL"]["source"]
            .as_str()
            .unwrap()
            .ends_with(".env")
    );
    assert_eq!(doc["vars"]["BOTCODER_APPROVAL"]["source"], "environment");
    assert_eq!(doc["vars"]["OPENAI_API_KEY"]["value"], "(set, redacted)");
    assert!(!show.stdout.contains("SECRET"));
    let path = env.run_cli(&["config", "path"], None).await;
    assert!(
        path.stdout.contains("config.toml") && path.stdout.contains("botcoderd.sock"),
        "{}",
        path.stdout
    );
    write_config(&env, "approval = \"ask\"\nmax_iterations = \"many\"\n");
    let bad = env.run_cli(&["config", "show"], None).await;
    assert_eq!(bad.code, 1);
    assert!(
        bad.stdout.contains("config.toml:2:") && bad.stdout.contains("max_iterations"),
        "{}",
        bad.stdout
    );
    assert!(
        !env.socket.exists(),
        "config commands never start the daemon"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_daemon_uses_the_config_file_and_the_environment_wins() {
    let mock = MockLlm::start().await.unwrap();
    mock.set_default(MockResponse::text("configured"));
    let mut env = TestEnv::new();
    write_config(
        &env,
        &format!(
            "provider = \"local\"\n[providers.local]\nurl = \"{}\"\nmodel = \"file-model\"\n",
            mock.base_url()
        ),
    );
    env.set("LOCAL_LLM_MODEL", "env-model");
    let _d = env.start_daemon();
    let out = env.ask(&[], "hi").await;
    assert_eq!(
        (out.code, out.stdout.as_str()),
        (0, "configured\n"),
        "{}",
        out.stderr
    );
    assert_eq!(mock.requests()[0].body["model"], "env-model");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn doctor_passes_a_healthy_setup_and_explains_a_broken_one() {
    let mock = MockLlm::start().await.unwrap();
    mock.set_default(MockResponse::status(200, "{\"data\":[]}"));
    let mut env = TestEnv::new();
    env.use_mock(&mock).unset("BOTCODER_NO_AUTOSTART");
    let ok = env.run_cli(&["doctor"], None).await;
    assert_eq!(ok.code, 0, "{}\n{}", ok.stdout, ok.stderr);
    assert!(
        ok.stdout.contains("ok    provider") && ok.stdout.contains("skip  botserver"),
        "{}",
        ok.stdout
    );
    assert_eq!(mock.requests()[0].path, "/v1/models");
    env.run_cli(&["daemon", "stop"], None).await;

    let mut broken = TestEnv::new();
    broken
        .set("LLM_PROVIDER", "local")
        .set("LOCAL_LLM_URL", "http://127.0.0.1:9/v1")
        .unset("BOTCODER_NO_AUTOSTART");
    let out = broken.run_cli(&["doctor", "--json"], None).await;
    assert_eq!(out.code, 1, "{}", out.stdout);
    let provider = out
        .json_lines()
        .into_iter()
        .find(|c| c["name"] == "provider")
        .unwrap();
    assert_eq!(provider["result"], "fail");
    assert!(provider["fix"].as_str().unwrap().len() > 10);
    broken.run_cli(&["daemon", "stop"], None).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn restart_keeps_sessions_and_a_watcher_resumes() {
    let mock = MockLlm::start().await.unwrap();
    mock.set_default(MockResponse::text("hello"));
    let mut env = TestEnv::new();
    env.use_mock(&mock).unset("BOTCODER_NO_AUTOSTART");
    let first = env.ask(&[], "one").await;
    let id = first.session_id();
    let mut watch = tokio::process::Command::from(env.cli(&["watch", "--json", &id]))
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::null())
        .kill_on_drop(true)
        .spawn()
        .unwrap();
    // The watcher is following (it has replayed the first event) before the restart: a
    // watcher that starts while a daemon is stopping is another case.
    use tokio::io::AsyncBufReadExt;
    let mut lines = tokio::io::BufReader::new(watch.stdout.take().unwrap()).lines();
    let mut stdout = Vec::new();
    let replayed = tokio::time::timeout(Duration::from_secs(15), lines.next_line())
        .await
        .expect("the watcher replays the session")
        .unwrap()
        .expect("a first line");
    stdout.push(replayed);
    let restart = env.run_cli(&["daemon", "restart"], None).await;
    assert_eq!(restart.code, 0, "{}", restart.stderr);
    let second = env.run_cli(&["ask", "--session", &id, "two"], None).await;
    assert_eq!(second.code, 0, "{}", second.stderr);
    // Read until the watcher has shown the second turn's end (bounded), then stop it.
    let _ = tokio::time::timeout(Duration::from_secs(15), async {
        while let Ok(Some(l)) = lines.next_line().await {
            let done = stdout
                .iter()
                .any(|s: &String| s.contains("\"text\":\"two\""))
                && l.contains("\"turn.completed\"");
            stdout.push(l);
            if done {
                return;
            }
        }
    })
    .await;
    let pid = rustix::process::Pid::from_raw(watch.id().unwrap() as i32).unwrap();
    rustix::process::kill_process(pid, rustix::process::Signal::INT).unwrap();
    let status = tokio::time::timeout(Duration::from_secs(10), watch.wait())
        .await
        .unwrap()
        .unwrap();
    assert_eq!(status.code(), Some(130));
    let stdout = stdout.join("\n");
    let seqs: Vec<u64> = stdout
        .lines()
        .filter_map(|l| serde_json::from_str::<serde_json::Value>(l).ok()?["seq"].as_u64())
        .collect();
    let n = seqs.len() as u64;
    assert_eq!(
        seqs,
        (1..=n).collect::<Vec<_>>(),
        "gap or duplicate across the restart"
    );
    assert!(stdout.contains("\"text\":\"two\""));
    env.run_cli(&["daemon", "stop"], None).await;
}
