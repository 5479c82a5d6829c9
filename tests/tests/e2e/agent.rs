//! The agent loop end to end: a scripted mock provider asks for tools (native calls, text
//! calls, CHANGE blocks), the real daemon runs them in a temp project, and the events and
//! files on disk are checked.

// Test code: a failed expectation is a failed test.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::time::Duration;

use botcoder_protocol::client::{ConnectOptions, DaemonClient};
use botcoder_protocol::methods::{
    ApprovalRespond, ApprovalRespondParams, TurnCancel, TurnCancelParams,
};
use botcoder_protocol::{
    ApprovalDecision, ApprovalPolicy, Event, EventBody, SessionId, TurnStatus,
};
use botcoder_tests::events::{collect_until, until_turns_completed};
use botcoder_tests::harness::TestEnv;
use botcoder_tests::mock_llm::{MockLlm, MockResponse};
use botcoder_tests::session;
use pretty_assertions::assert_eq;

const T: Duration = Duration::from_secs(30);

async fn setup(
    vars: &[(&str, &str)],
) -> (TestEnv, MockLlm, botcoder_tests::harness::DaemonProcess) {
    let (env, mock) = botcoder_tests::harness::env_with_mock(vars).await;
    std::fs::write(env.project.join("a.txt"), "alpha\nbeta\ngamma\n").expect("fixture");
    let daemon = env.start_daemon();
    (env, mock, daemon)
}

/// The last message of a request `body` is the user's and contains `text`.
fn assert_last_user_message_contains(body: &serde_json::Value, text: &str) {
    let last = body["messages"]
        .as_array()
        .and_then(|m| m.last())
        .cloned()
        .unwrap_or_default();
    assert_eq!(last["role"], "user");
    assert!(
        last["content"].as_str().unwrap_or_default().contains(text),
        "{last}"
    );
}

async fn session(c: &DaemonClient, env: &TestEnv, approval: ApprovalPolicy) -> SessionId {
    botcoder_tests::session::create(c, &env.project, approval).await
}

/// Sends `text` and returns every event of the session until that turn completes.
async fn turn(c: &DaemonClient, id: &SessionId, text: &str) -> Vec<Event> {
    let mut sub = session::start_turn(c, id, text).await;
    until_turns_completed(&mut sub, 1, T).await
}

fn status(events: &[Event]) -> (TurnStatus, Option<String>) {
    match &events.last().expect("events").body {
        EventBody::TurnCompleted { status, error, .. } => {
            (*status, error.as_ref().map(|e| e.kind.as_str().to_owned()))
        }
        other => panic!("last event is not turn.completed: {other:?}"),
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn native_tool_calls_run_and_their_results_go_back_to_the_model() {
    let (env, mock, _d) = setup(&[]).await;
    mock.push(MockResponse::openai_tool_calls(
        &[
            ("call_1", "read_file", r#"{"path":"a.txt"}"#),
            ("call_2", "list_files", "{}"),
        ],
        7,
    ));
    mock.push(MockResponse::text("The file has three lines."));
    let c = env.client("t").await;
    let id = session(&c, &env, ApprovalPolicy::Auto).await;
    let events = turn(&c, &id, "what is in a.txt?").await;
    assert_eq!(status(&events), (TurnStatus::Completed, None));
    let res = session::tool_results(&events);
    assert_eq!(res.len(), 2);
    assert!(
        res[0].0 && res[0].1.contains("     2\tbeta"),
        "{:?}",
        res[0]
    );
    assert!(res[1].0 && res[1].1.contains("a.txt"), "{:?}", res[1]);
    // The second request carried the calls and their results in OpenAI's shape.
    let requests = mock.requests();
    assert_eq!(requests.len(), 2);
    let msgs = requests[1].body["messages"]
        .as_array()
        .expect("messages")
        .clone();
    let roles: Vec<&str> = msgs.iter().filter_map(|m| m["role"].as_str()).collect();
    assert_eq!(roles, ["system", "user", "assistant", "tool", "tool"]);
    assert_eq!(msgs[2]["tool_calls"][0]["function"]["name"], "read_file");
    assert_eq!(msgs[3]["tool_call_id"], "call_1");
    assert!(
        msgs[3]["content"]
            .as_str()
            .unwrap_or_default()
            .contains("gamma")
    );
    assert!(
        requests[0].body["tools"]
            .as_array()
            .is_some_and(|t| t.len() == 8)
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn change_blocks_in_the_reply_edit_files_and_end_the_turn() {
    let (env, mock, _d) = setup(&[]).await;
    mock.push(MockResponse::text(
        "I will fix it.\n```\nCHANGE: a.txt\n<<<<<<< CURRENT\nalpha\nbeta\n=======\nALPHA\nBETA\n>>>>>>> NEW\n```\nCHANGE: new/b.txt\n<<<<<<< CURRENT\n=======\ncreated\n>>>>>>> NEW\n",
    ));
    let c = env.client("t").await;
    let id = session(&c, &env, ApprovalPolicy::Auto).await;
    let events = turn(&c, &id, "uppercase the first two lines").await;
    assert_eq!(status(&events), (TurnStatus::Completed, None));
    assert_eq!(
        std::fs::read_to_string(env.project.join("a.txt")).expect("a"),
        "ALPHA\nBETA\ngamma\n"
    );
    assert_eq!(
        std::fs::read_to_string(env.project.join("new/b.txt")).expect("b"),
        "created\n"
    );
    let changed: Vec<(String, bool)> = events
        .iter()
        .filter_map(|e| match &e.body {
            EventBody::FileChanged { path, diff, .. } => Some((
                path.clone(),
                diff.contains("+ALPHA") || diff.contains("+created"),
            )),
            _ => None,
        })
        .collect();
    assert_eq!(
        changed,
        [("a.txt".to_owned(), true), ("new/b.txt".to_owned(), true)]
    );
    assert_eq!(mock.requests().len(), 1, "a clean edit ends the turn");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_change_block_that_does_not_match_is_reported_to_the_model() {
    let (env, mock, _d) = setup(&[]).await;
    mock.push(MockResponse::text(
        "CHANGE: a.txt\n<<<<<<< CURRENT\nbetta\n=======\nx\n>>>>>>> NEW\n",
    ));
    mock.push(MockResponse::text("Sorry."));
    let c = env.client("t").await;
    let id = session(&c, &env, ApprovalPolicy::Auto).await;
    let events = turn(&c, &id, "edit").await;
    let res = session::tool_results(&events);
    assert!(
        !res[0].0 && res[0].1.contains("     2\tbeta"),
        "{:?}",
        res[0]
    );
    let body = &mock.requests()[1].body;
    assert_last_user_message_contains(body, "NOT applied");
    assert_eq!(
        std::fs::read_to_string(env.project.join("a.txt")).expect("a"),
        "alpha\nbeta\ngamma\n"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn text_mode_calls_run_and_results_come_back_as_a_user_message() {
    let (env, mock, _d) = setup(&[("BOTCODER_TOOL_MODE", "text")]).await;
    mock.push(MockResponse::text(
        "Let me read it.\nread_file(\"a.txt\")\n",
    ));
    mock.push(MockResponse::text("It says alpha."));
    let c = env.client("t").await;
    let id = session(&c, &env, ApprovalPolicy::Auto).await;
    let events = turn(&c, &id, "read a.txt").await;
    assert_eq!(status(&events), (TurnStatus::Completed, None));
    let requests = mock.requests();
    assert!(
        requests[0].body.get("tools").is_none(),
        "text mode sends no tool definitions"
    );
    let system = requests[0].body["messages"][0]["content"]
        .as_str()
        .unwrap_or_default()
        .to_owned();
    assert!(
        system.contains("read_file(\"src/main.rs\")"),
        "the prompt teaches the call style"
    );
    assert_last_user_message_contains(&requests[1].body, "gamma");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn headless_writes_are_denied_at_once_under_ask() {
    let (env, mock, _d) = setup(&[]).await;
    mock.push(MockResponse::openai_tool_calls(
        &[("w1", "write_file", r#"{"path":"x.txt","content":"no"}"#)],
        0,
    ));
    mock.push(MockResponse::text("I could not write it."));
    let out = env.ask(&["--json"], "write x.txt").await;
    assert_eq!(out.code, 0, "{}", out.stderr);
    let types: Vec<String> = out
        .json_lines()
        .iter()
        .map(|e| e["type"].as_str().unwrap_or_default().to_owned())
        .collect();
    assert!(
        types.contains(&"approval.requested".to_owned())
            && types.contains(&"approval.resolved".to_owned()),
        "{types:?}"
    );
    let resolved = out
        .json_lines()
        .into_iter()
        .find(|e| e["type"] == "approval.resolved")
        .expect("resolved");
    assert_eq!(
        (
            resolved["decision"].as_str(),
            resolved["decided_by"].as_str()
        ),
        (Some("deny"), Some("policy"))
    );
    assert!(!env.project.join("x.txt").exists());
    let body = &mock.requests()[1].body;
    assert!(
        body.to_string().contains("no client that can approve"),
        "the model is told why"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_second_client_approves_and_everyone_sees_who_decided() {
    let (env, mock, _d) = setup(&[]).await;
    mock.push(MockResponse::openai_tool_calls(
        &[("w1", "write_file", r#"{"path":"x.txt","content":"yes\n"}"#)],
        0,
    ));
    mock.push(MockResponse::text("Written."));
    let sender = env.client("script").await;
    let id = session(&sender, &env, ApprovalPolicy::Ask).await;
    let opts = ConnectOptions {
        socket_path: env.socket.clone(),
        client_name: "reviewer-tui".into(),
        capabilities: vec![botcoder_protocol::CAPABILITY_APPROVALS.into()],
        autostart: false,
    };
    let reviewer = DaemonClient::connect(&opts).await.expect("reviewer");
    let mut rsub = session::subscribe(&reviewer, &id, None).await;
    let mut ssub = session::subscribe(&sender, &id, None).await;
    session::send(&sender, &id, "write x.txt").await;
    let seen = collect_until(&mut rsub, T, |e| {
        matches!(e.body, EventBody::ApprovalRequested { .. })
    })
    .await;
    let Some(EventBody::ApprovalRequested { call_id, diff, .. }) =
        seen.last().map(|e| e.body.clone())
    else {
        panic!()
    };
    assert!(
        diff.unwrap_or_default().contains("+yes"),
        "the request shows the diff"
    );
    let answer = ApprovalRespondParams {
        session_id: id.clone(),
        call_id: call_id.clone(),
        decision: ApprovalDecision::Allow,
        message: None,
    };
    reviewer
        .call::<ApprovalRespond>(&answer)
        .await
        .expect("respond");
    // A second answer is refused: it is already decided.
    assert!(reviewer.call::<ApprovalRespond>(&answer).await.is_err());
    let events = until_turns_completed(&mut ssub, 1, T).await;
    let decided = botcoder_tests::session::decided_by(&events);
    assert_eq!(
        decided,
        [(ApprovalDecision::Allow, "reviewer-tui".to_owned())]
    );
    assert_eq!(
        std::fs::read_to_string(env.project.join("x.txt")).expect("written"),
        "yes\n"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn cancelling_kills_a_running_command_promptly() {
    let (env, mock, _d) = setup(&[]).await;
    // A background child that would leave a mark a second later: it must die with the turn.
    // (Its pid is not checked: inside the sandbox's PID namespace it means nothing outside.)
    let cmd = r#"{"command":"(sleep 1; touch survived) & echo started > bg.pid; sleep 30"}"#;
    mock.push(MockResponse::openai_tool_calls(
        &[("c1", "execute_command", cmd)],
        0,
    ));
    let c = env.client("t").await;
    let id = session(&c, &env, ApprovalPolicy::Auto).await;
    let mut sub = session::subscribe(&c, &id, None).await;
    session::send(&c, &id, "wait").await;
    collect_until(&mut sub, T, |e| {
        matches!(e.body, EventBody::ToolCall { .. })
    })
    .await;
    // Give the shell time to start its children.
    for _ in 0..100 {
        if env.project.join("bg.pid").exists() {
            break;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let started = std::time::Instant::now();
    c.call::<TurnCancel>(&TurnCancelParams {
        session_id: id.clone(),
        turn_id: None,
    })
    .await
    .expect("cancel");
    let events = until_turns_completed(&mut sub, 1, T).await;
    assert!(
        started.elapsed() < Duration::from_secs(3),
        "cancel took {:?}",
        started.elapsed()
    );
    assert_eq!(status(&events).0, TurnStatus::Cancelled);
    assert!(
        env.project.join("bg.pid").exists(),
        "the command never started"
    );
    tokio::time::sleep(Duration::from_millis(1500)).await;
    assert!(
        !env.project.join("survived").exists(),
        "a background process of the cancelled command survived"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn paths_outside_the_project_are_refused() {
    let (env, mock, _d) = setup(&[]).await;
    let outside = env.root().join("outside.txt");
    std::fs::write(&outside, "secret").expect("outside");
    std::os::unix::fs::symlink(&outside, env.project.join("planted")).expect("symlink");
    mock.push(MockResponse::openai_tool_calls(
        &[
            ("r1", "read_file", r#"{"path":"../outside.txt"}"#),
            ("r2", "read_file", r#"{"path":"planted"}"#),
            (
                "w1",
                "write_file",
                r#"{"path":"/tmp/botcoder-escape.txt","content":"x"}"#,
            ),
        ],
        0,
    ));
    let c = env.client("t").await;
    let id = session(&c, &env, ApprovalPolicy::Auto).await;
    let events = turn(&c, &id, "try to escape").await;
    let res = session::tool_results(&events);
    assert_eq!(res.len(), 3);
    for (ok, out) in &res {
        assert!(!ok && out.contains("refused"), "{out}");
        assert!(!out.contains("secret"));
    }
    assert!(!std::path::Path::new("/tmp/botcoder-escape.txt").exists());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn commands_never_see_the_daemons_api_keys() {
    let (env, mock, _d) = setup(&[
        ("OPENAI_API_KEY", "sk-test-NEVER-SHOWN"),
        ("ANTHROPIC_API_KEY", "sk-ant-NEVER"),
        ("LLM_PROVIDER", "local"),
    ])
    .await;
    mock.push(MockResponse::openai_tool_calls(
        &[("e1", "execute_command", r#"{"command":"env"}"#)],
        0,
    ));
    let c = env.client("t").await;
    let id = session(&c, &env, ApprovalPolicy::Auto).await;
    let events = turn(&c, &id, "show env").await;
    let (ok, out) = session::tool_results(&events).remove(0);
    assert!(ok, "{out}");
    assert!(out.contains("PATH="), "{out}");
    assert!(!out.contains("NEVER") && !out.contains("API_KEY"), "{out}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_iteration_limit_fails_the_turn() {
    let (env, mock, _d) = setup(&[("BOTCODER_MAX_ITERATIONS", "3")]).await;
    mock.set_default(MockResponse::openai_tool_calls(
        &[("l", "list_files", "{}")],
        0,
    ));
    let out = env.ask(&["--approval", "auto"], "loop").await;
    assert_eq!(out.code, 1, "{}", out.stderr);
    assert!(
        out.stderr.contains("BOTCODER_MAX_ITERATIONS"),
        "{}",
        out.stderr
    );
    assert_eq!(mock.requests().len(), 3);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn agents_md_reaches_the_model_and_a_small_window_is_respected() {
    let (env, mock, _d) = setup(&[("LOCAL_LLM_CONTEXT", "2000")]).await;
    std::fs::write(
        env.project.join("AGENTS.md"),
        "Always run `make check` before finishing.\n",
    )
    .unwrap();
    let c = env.client("t").await;
    let id = session(&c, &env, ApprovalPolicy::Auto).await;
    // Enough history to overflow a 2,000-token window: older exchanges are dropped.
    for i in 0..6 {
        turn(&c, &id, &format!("{i} {}", "words ".repeat(300))).await;
    }
    let events = turn(&c, &id, "latest question").await;
    assert!(
        events
            .iter()
            .any(|e| matches!(e.body, EventBody::ContextCompacted { .. })),
        "no context.compacted"
    );
    let requests = mock.requests();
    let msgs = requests.last().unwrap().body["messages"]
        .as_array()
        .unwrap()
        .clone();
    assert!(
        msgs[0]["content"].as_str().unwrap().contains("make check"),
        "AGENTS.md missing from the system prompt"
    );
    assert_eq!(msgs.last().unwrap()["content"], "latest question");
    let chars: usize = msgs
        .iter()
        .map(|m| m["content"].as_str().unwrap_or_default().len())
        .sum();
    assert!(
        chars / 4 < 2000,
        "the request ({chars} chars) does not fit the window"
    );
    // A request that cannot fit at all is refused with a message, not truncated.
    let events = turn(&c, &id, &"x".repeat(20_000)).await;
    assert!(
        matches!(&events.last().unwrap().body, EventBody::TurnCompleted { error: Some(e), .. } if e.message.contains("LOCAL_LLM_CONTEXT"))
    );
}
