//! Approvals that mean what they say (I9), end to end: a scripted hostile model tries to
//! stretch "allow for this session", an allow rule, a deny rule and a read-only session,
//! next to the honest calls that still run. A second client plays the person answering.

// Test code: a failed expectation is a failed test.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::collections::VecDeque;
use std::time::Duration;

use botcoder_protocol::client::{ConnectOptions, DaemonClient};
use botcoder_protocol::methods::{ApprovalRespond, ApprovalRespondParams};
use botcoder_protocol::{ApprovalDecision, ApprovalPolicy, Event, EventBody, SessionId};
use botcoder_tests::harness::{DaemonProcess, TestEnv};
use botcoder_tests::mock_llm::{MockLlm, MockResponse};
use botcoder_tests::session::{self, decided_by, tool_results};
use pretty_assertions::assert_eq;
use tokio::task::JoinHandle;

const T: Duration = Duration::from_secs(30);
const APPROVER: &str = "reviewer-tui";

async fn setup(
    vars: &[(&str, &str)],
    config_toml: Option<&str>,
) -> (TestEnv, MockLlm, DaemonProcess) {
    let (env, mock) = botcoder_tests::harness::env_with_mock(vars).await;
    if let Some(text) = config_toml {
        env.write_config(text);
    }
    std::fs::write(env.project.join("a.txt"), "alpha\nbeta\n").expect("fixture");
    let daemon = env.start_daemon();
    (env, mock, daemon)
}

/// Scripts one model reply per call, each a single `execute_command`, then a final text.
fn script_commands(mock: &MockLlm, commands: &[&str]) {
    for (i, command) in commands.iter().enumerate() {
        let args = serde_json::json!({ "command": command }).to_string();
        mock.push(MockResponse::openai_tool_calls(
            &[(&format!("call_{i}"), "execute_command", &args)],
            3,
        ));
    }
    mock.push(MockResponse::text("That is all."));
}

/// One turn of `c` on `id` while a person answers its approvals with `answers`: the
/// turn's events and what the person was shown.
async fn turn_with_person(
    env: &TestEnv,
    c: &DaemonClient,
    id: &SessionId,
    text: &str,
    answers: Vec<(ApprovalDecision, Option<&str>)>,
) -> (Vec<Event>, Vec<Seen>) {
    let person = approver(env, id, answers).await;
    let events = session::turn(c, id, text, T).await;
    (events, person.await.expect("approver"))
}

/// A request as the approver saw it: (tool, summary, scope).
type Seen = (String, String, Option<String>);

/// A client with the approvals capability that answers each `approval.requested` with the
/// next scripted decision (and message), and reports what it was shown.
async fn approver(
    env: &TestEnv,
    id: &SessionId,
    answers: Vec<(ApprovalDecision, Option<&str>)>,
) -> JoinHandle<Vec<Seen>> {
    let opts = ConnectOptions {
        socket_path: env.socket.clone(),
        client_name: APPROVER.into(),
        capabilities: vec![botcoder_protocol::CAPABILITY_APPROVALS.into()],
        autostart: false,
    };
    let client = DaemonClient::connect(&opts).await.expect("approver");
    let mut sub = session::subscribe(&client, id, None).await;
    let id = id.clone();
    let mut answers: VecDeque<(ApprovalDecision, Option<String>)> = answers
        .into_iter()
        .map(|(d, m)| (d, m.map(str::to_owned)))
        .collect();
    tokio::spawn(async move {
        let mut seen = Vec::new();
        while let Ok(Some(Ok(event))) = tokio::time::timeout(T, sub.next()).await {
            match event.body {
                EventBody::ApprovalRequested {
                    call_id,
                    tool,
                    summary,
                    scope,
                    ..
                } => {
                    // Requests decided by a rule are journaled too; only open ones get an answer.
                    let (decision, message) = answers
                        .pop_front()
                        .unwrap_or((ApprovalDecision::Deny, None));
                    let answer = ApprovalRespondParams {
                        session_id: id.clone(),
                        call_id,
                        decision,
                        message,
                    };
                    if client.call::<ApprovalRespond>(&answer).await.is_err() {
                        // Already decided (by a rule): the answer was not needed.
                        answers.push_front((decision, answer.message));
                    }
                    seen.push((tool, summary, scope));
                }
                EventBody::TurnCompleted { .. } => break,
                _ => {}
            }
        }
        seen
    })
}

fn scopes(seen: &[Seen]) -> Vec<Option<String>> {
    seen.iter().map(|(_, _, s)| s.clone()).collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn allow_for_session_covers_the_approved_command_and_nothing_the_model_adds() {
    let (env, mock, _d) = setup(&[], None).await;
    script_commands(
        &mock,
        &[
            "echo hi",
            // The same command again: covered, runs without asking.
            "echo  'hi'",
            // The hostile model rides on the approval: asked again, and denied.
            "echo hi; touch pwned",
            "echo bye",
        ],
    );
    let c = env.client("script").await;
    let id = session::create(&c, &env.project, ApprovalPolicy::Ask).await;
    let (events, seen) = turn_with_person(
        &env,
        &c,
        &id,
        "say hi",
        vec![
            (ApprovalDecision::AllowSession, None),
            (ApprovalDecision::Deny, None),
            (ApprovalDecision::Allow, None),
        ],
    )
    .await;
    assert_eq!(
        scopes(&seen),
        [
            Some("echo hi (exactly)".to_owned()),
            Some("echo hi; touch pwned (exactly)".to_owned()),
            Some("echo bye (exactly)".to_owned()),
        ]
    );
    let r = tool_results(&events);
    assert_eq!(r.len(), 4, "{r:?}");
    assert!(r[0].0 && r[0].1.contains("hi"), "{r:?}");
    assert!(
        r[1].0 && r[1].1.contains("hi"),
        "covered by the session grant: {r:?}"
    );
    assert!(!r[2].0 && r[2].1.contains(APPROVER), "{r:?}");
    assert!(r[3].0 && r[3].1.contains("bye"), "{r:?}");
    assert!(!env.project.join("pwned").exists());
    assert_eq!(
        decided_by(&events),
        [
            (ApprovalDecision::AllowSession, APPROVER.to_owned()),
            (ApprovalDecision::Deny, APPROVER.to_owned()),
            (ApprovalDecision::Allow, APPROVER.to_owned()),
        ]
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_subcommand_grant_covers_its_options_but_not_another_subcommand_or_file() {
    let (env, mock, _d) = setup(&[], None).await;
    script_commands(&mock, &["git status", "git status --short", "git log -1"]);
    let c = env.client("script").await;
    let id = session::create(&c, &env.project, ApprovalPolicy::Ask).await;
    let (events, seen) = turn_with_person(
        &env,
        &c,
        &id,
        "look at git",
        vec![
            (ApprovalDecision::AllowSession, None),
            (ApprovalDecision::Deny, None),
        ],
    )
    .await;
    assert_eq!(
        scopes(&seen),
        [Some("git status".to_owned()), Some("git log".to_owned())]
    );
    assert_eq!(decided_by(&events).len(), 2);

    // Writes: the file approved for the session, not its neighbour.
    for (i, path) in ["src/a.rs", "./src/a.rs", "src/c.rs"].iter().enumerate() {
        let args = serde_json::json!({ "path": path, "content": format!("v{i}\n") }).to_string();
        mock.push(MockResponse::openai_tool_calls(
            &[(&format!("w{i}"), "write_file", &args)],
            0,
        ));
    }
    mock.push(MockResponse::text("Written."));
    let (events, seen) = turn_with_person(
        &env,
        &c,
        &id,
        "write",
        vec![
            (ApprovalDecision::AllowSession, None),
            (ApprovalDecision::Deny, None),
        ],
    )
    .await;
    assert_eq!(
        scopes(&seen),
        [Some("src/a.rs".to_owned()), Some("src/c.rs".to_owned())]
    );
    assert_eq!(
        std::fs::read_to_string(env.project.join("src/a.rs")).expect("a.rs"),
        "v1\n"
    );
    assert!(!env.project.join("src/c.rs").exists());
    assert_eq!(
        tool_results(&events).iter().filter(|(ok, _)| *ok).count(),
        2
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_allow_rule_skips_the_prompt_but_never_for_a_compound_command() {
    let config = "[approvals]\nallow = [\"echo hi\"]\n";
    let (env, mock, _d) = setup(&[], Some(config)).await;
    script_commands(
        &mock,
        &["echo hi there", "echo hi; touch pwned", "echo hix"],
    );
    let c = env.client("script").await;
    let id = session::create(&c, &env.project, ApprovalPolicy::Ask).await;
    let answers = vec![(ApprovalDecision::Deny, None); 2];
    let (events, _) = turn_with_person(&env, &c, &id, "greet", answers).await;
    assert_eq!(
        decided_by(&events),
        [
            (ApprovalDecision::Allow, "rule:echo hi".to_owned()),
            (ApprovalDecision::Deny, APPROVER.to_owned()),
            (ApprovalDecision::Deny, APPROVER.to_owned()),
        ]
    );
    let r = tool_results(&events);
    assert!(r[0].0 && r[0].1.contains("hi there"), "{r:?}");
    assert!(!r[1].0 && !r[2].0, "{r:?}");
    assert!(!env.project.join("pwned").exists());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_deny_rule_refuses_under_auto_and_wins_over_allow() {
    let (env, mock, _d) = setup(
        &[
            ("BOTCODER_APPROVALS_DENY", "touch\ngit push"),
            ("BOTCODER_APPROVALS_ALLOW", r#"["touch"]"#),
        ],
        None,
    )
    .await;
    script_commands(
        &mock,
        &[
            "touch denied.txt",
            "true && touch sneaky.txt",
            "echo still-works",
        ],
    );
    let c = env.client("script").await;
    let id = session::create(&c, &env.project, ApprovalPolicy::Auto).await;
    let events = session::turn(&c, &id, "touch things", T).await;
    let r = tool_results(&events);
    assert!(!r[0].0 && r[0].1.contains("\"touch\""), "{r:?}");
    assert!(!r[1].0, "{r:?}");
    assert!(r[2].0 && r[2].1.contains("still-works"), "{r:?}");
    assert!(!env.project.join("denied.txt").exists());
    assert!(!env.project.join("sneaky.txt").exists());
    assert_eq!(
        decided_by(&events),
        vec![(ApprovalDecision::Deny, "rule:touch".to_owned()); 2]
    );
    assert!(
        mock.requests()[1]
            .body
            .to_string()
            .contains("denied by the rule"),
        "the model is told which rule"
    );

    // Under `ask` the allow rule for the same program does not beat the deny rule.
    script_commands(&mock, &["touch x.txt"]);
    let id = session::create(&c, &env.project, ApprovalPolicy::Ask).await;
    let events = session::turn(&c, &id, "touch", T).await;
    assert_eq!(
        decided_by(&events),
        [(ApprovalDecision::Deny, "rule:touch".to_owned())]
    );
    assert!(!env.project.join("x.txt").exists());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_denial_message_reaches_the_model_as_the_tool_result() {
    let (env, mock, _d) = setup(&[], None).await;
    script_commands(&mock, &["touch build.log"]);
    let c = env.client("script").await;
    let id = session::create(&c, &env.project, ApprovalPolicy::Ask).await;
    let why = "do not create files, run make check instead";
    let (events, _) = turn_with_person(
        &env,
        &c,
        &id,
        "log it",
        vec![(ApprovalDecision::Deny, Some(why))],
    )
    .await;
    assert_eq!(
        decided_by(&events),
        [(ApprovalDecision::Deny, APPROVER.to_owned())]
    );
    let r = tool_results(&events);
    assert!(!r[0].0 && r[0].1.contains(why), "{r:?}");
    let next = mock.requests()[1].body.to_string();
    assert!(
        next.contains(why),
        "the next model request carries it: {next}"
    );
    assert!(!env.project.join("build.log").exists());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn read_only_runs_only_the_offered_reads() {
    let (env, mock, _d) = setup(&[], None).await;
    mock.push(MockResponse::openai_tool_calls(
        &[
            ("g1", "git", r#"{"op":"checkout","args":["--","a.txt"]}"#),
            ("g2", "git", r#"{"op":"status"}"#),
            ("w1", "write_file", r#"{"path":"pwned.txt","content":"x"}"#),
            ("x1", "execute_command", r#"{"command":"touch pwned2"}"#),
            ("d1", "database_query", r#"{"request":"drop table"}"#),
            ("r1", "read_file", r#"{"path":"a.txt"}"#),
        ],
        5,
    ));
    mock.push(MockResponse::text("Read it."));
    let c = env.client("script").await;
    let id = session::create(&c, &env.project, ApprovalPolicy::ReadOnly).await;
    let events = session::turn(&c, &id, "read", T).await;
    let r = tool_results(&events);
    assert_eq!(r.len(), 6, "{r:?}");
    for (ok, output) in &r[..5] {
        assert!(
            !ok && output.contains("no tool named")
                && output.contains("read_file, list_files, search"),
            "{output}"
        );
    }
    assert!(r[5].0 && r[5].1.contains("alpha"), "{r:?}");
    assert!(!env.project.join("pwned.txt").exists());
    assert!(!env.project.join("pwned2").exists());
    assert!(
        !events
            .iter()
            .any(|e| matches!(e.body, EventBody::ApprovalRequested { .. })),
        "nothing that was not offered reaches approval"
    );
    let offered: Vec<String> = mock.requests()[0].body["tools"]
        .as_array()
        .expect("tools")
        .iter()
        .map(|t| {
            t["function"]["name"]
                .as_str()
                .unwrap_or_default()
                .to_owned()
        })
        .collect();
    assert_eq!(offered, ["read_file", "list_files", "search"]);
}
