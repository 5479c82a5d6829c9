//! The daemon's internals as clients see them: `mode.changed` is journaled, so an attach
//! shows the mode the daemon is in; the CLI and the daemon find the same files.

use std::time::{Duration, Instant};

use botcoder_protocol::methods::{
    DaemonStatus, Empty, SessionCreate, SessionCreateParams, SessionGet, SessionRef,
};
use botcoder_protocol::{EventBody, Mode, SessionId};
use botcoder_tests::events::collect_until;
use botcoder_tests::harness::TestEnv;
use botcoder_tests::mock_botserver::{BotScript, MockBotserver};
use botcoder_tests::mock_llm::{MockLlm, MockResponse};
use botcoder_tests::session;

/// Waits (bounded) until `daemon.status` reports `mode`.
async fn wait_for_mode(env: &TestEnv, mode: Mode) {
    let c = env.client("status").await;
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let st = c.call::<DaemonStatus>(&Empty {}).await.unwrap();
        if st.mode == mode {
            return;
        }
        assert!(Instant::now() < deadline, "daemon still in {:?}", st.mode);
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// The modes a fresh client attaching from the start of the journal is told, in order.
async fn replayed_modes(env: &TestEnv, id: &SessionId) -> Vec<(u64, Mode)> {
    let c = env.client("late").await;
    let last = c
        .call::<SessionGet>(&SessionRef {
            session_id: id.clone(),
        })
        .await
        .unwrap()
        .last_seq;
    let mut sub = session::subscribe(&c, id, Some(0)).await;
    let events = collect_until(&mut sub, Duration::from_secs(10), |e| e.seq == Some(last)).await;
    events
        .iter()
        .filter_map(|e| match e.body {
            EventBody::ModeChanged { mode, .. } => Some((e.seq.expect("durable"), mode)),
            _ => None,
        })
        .collect()
}

fn last_mode(modes: &[(u64, Mode)]) -> Option<Mode> {
    modes.last().map(|(_, m)| *m)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_attach_shows_the_mode_the_daemon_is_in_across_switches_and_restarts() {
    let bot = MockBotserver::start(BotScript::default()).await.unwrap();
    let llm = MockLlm::start().await.unwrap();
    llm.set_default(MockResponse::text("local answer"));
    let mut env = TestEnv::new();
    env.use_botserver_mock(&bot.url(), &llm);
    let mut d = env.start_daemon();
    wait_for_mode(&env, Mode::MultiAgent).await;

    // Created in multi-agent mode: the journal says so right after session.created.
    let a = env.client("a").await;
    let id = a
        .call::<SessionCreate>(&SessionCreateParams {
            project_path: env.project.display().to_string(),
            ..Default::default()
        })
        .await
        .unwrap()
        .session_id;
    let modes = replayed_modes(&env, &id).await;
    assert_eq!(modes, vec![(2, Mode::MultiAgent)]);

    // The botserver degrades: the switch is journaled, a later attach sees local.
    bot.script(|s| s.health = 503);
    wait_for_mode(&env, Mode::Local).await;
    let deadline = Instant::now() + Duration::from_secs(5);
    while last_mode(&replayed_modes(&env, &id).await) != Some(Mode::Local) {
        assert!(
            Instant::now() < deadline,
            "the switch to local was not journaled"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }

    // Restarted while the botserver is healthy again: loading the session journals the
    // mode it is in now, though its journal last said local.
    bot.script(|s| s.health = 200);
    d.kill9();
    let _d = env.start_daemon();
    wait_for_mode(&env, Mode::MultiAgent).await;
    let modes = replayed_modes(&env, &id).await;
    assert_eq!(last_mode(&modes), Some(Mode::MultiAgent), "{modes:?}");
    assert!(
        modes
            .windows(2)
            .all(|w| w[0].0 < w[1].0 && w[0].1 != w[1].1),
        "{modes:?}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_local_daemon_journals_no_mode_change() {
    let llm = MockLlm::start().await.unwrap();
    let mut env = TestEnv::new();
    env.use_mock(&llm);
    let _d = env.start_daemon();
    let a = env.client("a").await;
    let id = a
        .call::<SessionCreate>(&SessionCreateParams {
            project_path: env.project.display().to_string(),
            ..Default::default()
        })
        .await
        .unwrap()
        .session_id;
    assert_eq!(replayed_modes(&env, &id).await, vec![]);
}

/// `botcoder config path` as a map from label to path.
async fn cli_paths(env: &TestEnv) -> std::collections::BTreeMap<String, String> {
    let out = env.run_cli(&["config", "path"], None).await;
    assert_eq!(out.code, 0, "{}", out.stderr);
    out.stdout
        .lines()
        .filter_map(|l| l.split_once(char::is_whitespace))
        .map(|(k, v)| (k.to_owned(), v.trim().to_owned()))
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_cli_and_the_daemon_agree_on_the_log_file_and_the_data_dir() {
    let env = TestEnv::new();
    let _d = env.start_daemon();
    let status = env.run_cli(&["status", "--json"], None).await;
    assert_eq!(status.code, 0, "{}", status.stderr);
    let status: serde_json::Value = serde_json::from_str(&status.stdout).unwrap();
    let paths = cli_paths(&env).await;
    assert_eq!(status["log_file"], paths["log"]);
    assert_eq!(paths["log"], env.log_file().display().to_string());
    assert_eq!(paths["data"], env.sessions_dir().display().to_string());
    assert!(env.log_file().is_file(), "the daemon writes where both say");
    let logs = env.run_cli(&["daemon", "logs", "-n", "50"], None).await;
    assert_eq!(logs.code, 0, "{}", logs.stderr);
    assert!(logs.stdout.contains("botcoderd ready"), "{}", logs.stdout);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn relative_xdg_dirs_are_ignored_and_the_runtime_dir_has_no_default() {
    let mut env = TestEnv::new();
    let home = env.root().join("home");
    env.set("XDG_STATE_HOME", "relative/state")
        .set("XDG_DATA_HOME", "relative/data")
        .set("XDG_RUNTIME_DIR", "relative/run")
        .unset("BOTCODER_SOCKET");
    let paths = cli_paths(&env).await;
    assert_eq!(
        paths["log"],
        home.join(".local/state/botcoder/botcoderd.log")
            .display()
            .to_string()
    );
    assert_eq!(
        paths["data"],
        home.join(".local/share/botcoder/sessions")
            .display()
            .to_string()
    );
    let uid = rustix::process::getuid().as_raw();
    assert_eq!(
        paths["socket"],
        std::env::temp_dir()
            .join(format!("botcoderd-{uid}/botcoderd.sock"))
            .display()
            .to_string()
    );
    // An absolute runtime dir is used.
    let run = env.root().join("run-abs");
    env.set("XDG_RUNTIME_DIR", &run.display().to_string());
    assert_eq!(
        cli_paths(&env).await["socket"],
        run.join("botcoderd/botcoderd.sock").display().to_string()
    );
}
