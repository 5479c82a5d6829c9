//! Multi-agent mode against the mock botserver: facade turns with progress and polling,
//! clarification, local routing, auth failures, health, a dropped socket, a server killed
//! mid-task (fallback within 5 s, seen by two clients), agent routes, and recovery.

// Test code: a failed expectation is a failed test.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::time::{Duration, Instant};

use botcoder_protocol::methods::{SessionSend, SessionSendParams};
use botcoder_protocol::{EventBody, Mode};
use botcoder_tests::events::{collect_until, until_turns_completed};
use botcoder_tests::harness::TestEnv;
use botcoder_tests::mock_botserver::{BotScript, MockBotserver, pipeline_frames};
use botcoder_tests::mock_llm::{MockLlm, MockResponse};
use botcoder_tests::session;
use serde_json::Value;

async fn setup(
    script: BotScript,
    extra: &[(&str, &str)],
) -> (
    TestEnv,
    MockBotserver,
    MockLlm,
    botcoder_tests::harness::DaemonProcess,
) {
    let bot = MockBotserver::start(script).await.unwrap();
    let llm = MockLlm::start().await.unwrap();
    llm.set_default(MockResponse::text("local answer"));
    let mut env = TestEnv::new();
    env.use_botserver_mock(&bot.url(), &llm);
    for (k, v) in extra {
        env.set(k, v);
    }
    let d = env.start_daemon();
    (env, bot, llm, d)
}

async fn ask_json(env: &TestEnv, text: &str) -> (i32, Vec<Value>, String) {
    let out = env
        .run_cli(
            &[
                "ask",
                "--json",
                "--approval",
                "auto",
                "--project",
                &env.project.display().to_string(),
                text,
            ],
            None,
        )
        .await;
    (out.code, out.json_lines(), out.stderr)
}

/// A task that starts planning and never completes on its own.
fn planning_forever() -> BotScript {
    let frames = vec![
        serde_json::json!({"type": "task_started", "step": "plan", "message": "Planning", "progress": 5}),
    ];
    BotScript {
        frames,
        complete_after: Duration::from_secs(3600),
        ..BotScript::default()
    }
}

/// The text of the turn's (first) assistant message.
fn reply(lines: &[Value]) -> &str {
    of_type(lines, "assistant.message")[0]["text"]
        .as_str()
        .unwrap_or_else(|| panic!("no assistant message in {lines:?}"))
}

fn of_type<'a>(lines: &'a [Value], t: &str) -> Vec<&'a Value> {
    lines.iter().filter(|l| l["type"] == t).collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_pipeline_request_streams_progress_and_ends_with_the_final_status() {
    let script = BotScript {
        frames: pipeline_frames(&["Creating ", "your app."]),
        ..BotScript::default()
    };
    let (env, bot, llm, _d) = setup(script, &[("BOTSERVER_API_KEY", "bot-key-123")]).await;
    let (code, lines, err) = ask_json(&env, "build me a todo app").await;
    assert_eq!(code, 0, "{err}");
    let progress = of_type(&lines, "pipeline.progress");
    assert!(progress.len() >= 3, "{progress:?}");
    assert!(progress.iter().any(|p| p["agent"] == "mantis_2"));
    let deltas: String = of_type(&lines, "assistant.delta")
        .iter()
        .map(|d| d["text"].as_str().unwrap())
        .collect();
    assert_eq!(deltas, "Creating your app.");
    let msg = reply(&lines).to_owned();
    for needle in [
        "Creating your app.",
        "completed",
        "App: http://apps.local/todo",
        "Created: todos",
    ] {
        assert!(msg.contains(needle), "{needle} missing from {msg:?}");
    }
    assert!(llm.requests().is_empty(), "the local provider was not used");
    let log = bot.log();
    assert!(
        log.iter().any(|l| l == "POST /api/autotask/create")
            && log
                .iter()
                .any(|l| l.starts_with("GET /ws/task-progress/task-1"))
    );
    assert!(
        bot.auth_headers()
            .contains(&Some("Bearer bot-key-123".into()))
    );
    let status = env
        .run_cli(&["status", "--json"], None)
        .await
        .json_lines()
        .remove(0);
    assert_eq!(
        (
            status["mode"].as_str(),
            status["botserver"]["state"].as_str()
        ),
        (Some("multi_agent"), Some("healthy"))
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn without_a_final_frame_or_with_a_dropped_socket_polling_completes_the_task() {
    let mut frames = pipeline_frames(&["partial"]);
    frames.pop(); // no task_completed
    let script = BotScript {
        frames: frames.clone(),
        complete_after: Duration::from_millis(800),
        ..BotScript::default()
    };
    let (env, bot, _llm, _d) = setup(script, &[]).await;
    let (code, lines, err) = ask_json(&env, "build an app").await;
    assert_eq!(code, 0, "{err}");
    assert!(reply(&lines).contains("completed"));
    bot.script(|s| s.drop_ws_after = Some(1));
    let (code, lines, err) = ask_json(&env, "build another").await;
    assert_eq!(code, 0, "{err}");
    assert!(reply(&lines).contains("completed"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn clarification_unknown_intents_and_refused_credentials() {
    let script = BotScript {
        clarification: Some("Which database should the app use?".into()),
        ..BotScript::default()
    };
    let (env, bot, llm, _d) = setup(script, &[]).await;
    let (code, lines, _) = ask_json(&env, "make an app").await;
    assert_eq!(code, 0);
    assert_eq!(
        of_type(&lines, "assistant.message")[0]["text"],
        "Which database should the app use?"
    );

    bot.script(|s| {
        s.clarification = None;
        s.intent = "UNKNOWN".into();
    });
    let (code, lines, _) = ask_json(&env, "explain this function").await;
    assert_eq!(code, 0);
    assert_eq!(
        of_type(&lines, "assistant.message")[0]["text"],
        "local answer"
    );
    assert_eq!(llm.requests().len(), 1);

    bot.script(|s| {
        s.intent = "APP_CREATE".into();
        s.create_status = 401;
    });
    let (code, _, err) = ask_json(&env, "build an app").await;
    assert_eq!(code, 1, "{err}");
    assert!(err.contains("BOTSERVER_API_KEY"), "{err}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn degraded_at_start_works_locally_with_a_notice_or_refuses_without_fallback() {
    let script = BotScript {
        health: 503,
        ..BotScript::default()
    };
    let (env, _bot, llm, _d) = setup(script.clone(), &[]).await;
    let (code, lines, err) = ask_json(&env, "build an app").await;
    assert_eq!(code, 0, "{err}");
    let notice = of_type(&lines, "mode.changed");
    assert_eq!(notice[0]["mode"], "local");
    assert!(notice[0]["reason"].as_str().unwrap().contains("degraded"));
    assert_eq!(
        of_type(&lines, "assistant.message")[0]["text"],
        "local answer"
    );
    assert_eq!(llm.requests().len(), 1);

    let (env, _bot, _llm, _d) = setup(script, &[("FALLBACK_TO_LOCAL", "false")]).await;
    let (code, _, err) = ask_json(&env, "build an app").await;
    assert_eq!(code, 75, "{err}");
    assert!(err.contains("FALLBACK_TO_LOCAL=false"), "{err}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_server_killed_mid_task_falls_back_within_5s_for_every_client_and_recovers() {
    let script = planning_forever();
    let (env, bot, llm, _d) = setup(script, &[]).await;
    let a = env.client("watcher-a").await;
    let b = env.client("watcher-b").await;
    let id = session::create_default(&a, &env.project).await;
    let mut sa = session::subscribe(&a, &id, None).await;
    let mut sb = session::subscribe(&b, &id, None).await;
    session::send(&a, &id, "build an app").await;
    collect_until(&mut sa, Duration::from_secs(10), |e| {
        matches!(e.body, EventBody::PipelineProgress { .. })
    })
    .await;
    let killed = Instant::now();
    bot.kill();
    for sub in [&mut sa, &mut sb] {
        let seen = collect_until(sub, Duration::from_secs(10), |e| {
            matches!(
                e.body,
                EventBody::ModeChanged {
                    mode: Mode::Local,
                    ..
                }
            )
        })
        .await;
        assert!(
            killed.elapsed() < Duration::from_secs(5),
            "fallback took {:?}",
            killed.elapsed()
        );
        drop(seen);
    }
    let rest = until_turns_completed(&mut sa, 1, Duration::from_secs(10)).await;
    let texts: Vec<String> = rest
        .iter()
        .filter_map(|e| match &e.body {
            EventBody::AssistantMessage { text, .. } => Some(text.clone()),
            _ => None,
        })
        .collect();
    assert_eq!(
        texts,
        ["local answer"],
        "the turn continued on the local provider"
    );
    assert_eq!(llm.requests().len(), 1);

    // Recovery: the monitor sees the server again and new turns use it.
    bot.script(|s| {
        s.complete_after = Duration::from_millis(100);
        s.frames = Vec::new();
    });
    bot.revive().await.unwrap();
    let recovered = collect_until(&mut sb, Duration::from_secs(10), |e| {
        matches!(
            e.body,
            EventBody::ModeChanged {
                mode: Mode::MultiAgent,
                ..
            }
        )
    })
    .await;
    assert!(!recovered.is_empty());
    let (code, lines, err) = ask_json(&env, "build another app").await;
    assert_eq!(code, 0, "{err}");
    assert!(reply(&lines).contains("Botserver task"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn agent_tools_use_the_agent_or_a_local_equivalent() {
    let script = BotScript {
        intent: "UNKNOWN".into(),
        agents: vec![("database".into(), 200)],
        ..BotScript::default()
    };
    let (env, bot, llm, _d) = setup(script, &[]).await;
    let sh = |c: &str| {
        std::process::Command::new("sh")
            .arg("-c")
            .arg(c)
            .current_dir(&env.project)
            .output()
            .unwrap()
    };
    sh(
        "git init -q && git config user.email t@e.st && git config user.name T && echo a > f && git add f",
    );
    llm.push(MockResponse::openai_tool_calls(
        &[
            ("d1", "database_query", r#"{"request":"count users"}"#),
            ("g1", "git_commit", r#"{"message":"first commit"}"#),
        ],
        0,
    ));
    llm.push(MockResponse::text("done"));
    let (code, lines, err) = ask_json(&env, "query and commit").await;
    assert_eq!(code, 0, "{err}");
    let tools: Vec<String> = llm.requests()[0].body["tools"]
        .as_array()
        .unwrap()
        .iter()
        .map(|t| t["function"]["name"].as_str().unwrap().to_owned())
        .collect();
    assert!(
        tools.contains(&"database_query".to_owned()) && tools.contains(&"git_commit".to_owned())
    );
    let calls = of_type(&lines, "tool.call");
    assert_eq!(calls[0]["executor"], "agent:database");
    let results = of_type(&lines, "tool.result");
    assert!(
        results[0]["output"]
            .as_str()
            .unwrap()
            .contains("database agent did it")
    );
    assert!(
        results[1]["output"]
            .as_str()
            .unwrap()
            .contains("ran the local equivalent"),
        "{}",
        results[1]["output"]
    );
    assert!(
        bot.log()
            .iter()
            .any(|l| l == "POST /api/botcoder/git/query")
    );
    let log = String::from_utf8(sh("git log --oneline").stdout).unwrap();
    assert!(log.contains("first commit"), "{log}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn cancelling_a_facade_turn_cancels_the_remote_task() {
    let script = planning_forever();
    let (env, bot, _llm, _d) = setup(script, &[]).await;
    let c = env.client("t").await;
    let id = session::create_default(&c, &env.project).await;
    let mut sub = session::subscribe(&c, &id, None).await;
    session::send(&c, &id, "build an app").await;
    collect_until(&mut sub, Duration::from_secs(10), |e| {
        matches!(e.body, EventBody::PipelineProgress { .. })
    })
    .await;
    c.call::<botcoder_protocol::methods::TurnCancel>(
        &botcoder_protocol::methods::TurnCancelParams {
            session_id: id.clone(),
            turn_id: None,
        },
    )
    .await
    .unwrap();
    let end = until_turns_completed(&mut sub, 1, Duration::from_secs(10)).await;
    assert!(matches!(
        end.last().unwrap().body,
        EventBody::TurnCompleted {
            status: botcoder_protocol::TurnStatus::Cancelled,
            ..
        }
    ));
    assert!(
        bot.log()
            .iter()
            .any(|l| l == "POST /api/autotask/task-1/cancel"),
        "{:?}",
        bot.log()
    );
}

/// The failure cases again, each with two attached clients: both see the same durable
/// events, the turn ends clearly, and the session stays usable.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn failure_cases_under_two_attached_clients() {
    let mut dropped = pipeline_frames(&["x"]);
    dropped.pop();
    let cases: Vec<(&str, BotScript)> = vec![
        (
            "create refused",
            BotScript {
                create_status: 401,
                ..BotScript::default()
            },
        ),
        (
            "degraded",
            BotScript {
                health: 503,
                ..BotScript::default()
            },
        ),
        (
            "socket dropped",
            BotScript {
                frames: dropped,
                drop_ws_after: Some(1),
                complete_after: Duration::from_millis(600),
                ..BotScript::default()
            },
        ),
        (
            "clarification",
            BotScript {
                clarification: Some("Which one?".into()),
                ..BotScript::default()
            },
        ),
    ];
    for (name, script) in cases {
        let (env, _bot, _llm, _d) = setup(script, &[]).await;
        let a = env.client("a").await;
        let b = env.client("b").await;
        let id = session::create_default(&a, &env.project).await;
        let mut sa = session::subscribe(&a, &id, Some(0)).await;
        let mut sb = session::subscribe(&b, &id, Some(0)).await;
        for text in ["build an app", "and another"] {
            a.call::<SessionSend>(&SessionSendParams {
                session_id: id.clone(),
                text: text.into(),
                approval: None,
                env: Default::default(),
            })
            .await
            .unwrap();
        }
        let ea = until_turns_completed(&mut sa, 2, Duration::from_secs(20)).await;
        let eb = until_turns_completed(&mut sb, 2, Duration::from_secs(20)).await;
        let durable = |v: &[botcoder_protocol::Event]| {
            v.iter()
                .filter(|e| e.seq.is_some())
                .cloned()
                .collect::<Vec<_>>()
        };
        assert_eq!(durable(&ea), durable(&eb), "{name}: the clients disagree");
        assert!(
            ea.iter()
                .any(|e| matches!(e.body, EventBody::TurnCompleted { .. })),
            "{name}"
        );
    }
}
