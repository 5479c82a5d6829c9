//! `botcoder acp` end to end: an ACP client (the `agent-client-protocol` crate's client side,
//! playing the editor) drives the real `botcoder acp` binary, which drives the real daemon
//! against the scripted mock provider. Terminals (`botcoder watch`, a protocol client) share
//! the editor's session.

// Test code: a failed expectation is a failed test.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::collections::VecDeque;
use std::process::Stdio;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use agent_client_protocol::schema::ProtocolVersion;
use agent_client_protocol::v1::schema::{
    ContentBlock, Implementation, InitializeRequest, InitializeResponse, ListSessionsRequest,
    LoadSessionRequest, NewSessionRequest, PromptRequest, ReadTextFileRequest,
    RequestPermissionOutcome, RequestPermissionRequest, RequestPermissionResponse,
    SelectedPermissionOutcome, SessionNotification, SessionUpdate, SetSessionModeRequest,
    StopReason, TextContent, ToolCallContent, ToolCallStatus, ToolKind, WriteTextFileRequest,
};
use agent_client_protocol::v1::{ConnectionTo, Responder};
use agent_client_protocol::{Agent, Client, JsonRpcRequest, Lines};
use botcoder_protocol::client::{ConnectOptions, DaemonClient};
use botcoder_protocol::methods::{
    ApprovalRespond, ApprovalRespondParams, SessionSend, SessionSendParams,
};
use botcoder_protocol::{ApprovalDecision, SessionId};
use botcoder_tests::harness::{DaemonProcess, TestEnv, bin};
use botcoder_tests::mock_llm::{MockLlm, MockResponse};
use pretty_assertions::assert_eq;
use tokio::io::{AsyncBufReadExt, AsyncWriteExt, BufReader};

const T: Duration = Duration::from_secs(30);

/// How the scripted editor answers the next permission request.
#[derive(Debug, Clone, Copy)]
enum Answer {
    Pick(&'static str),
    /// Keep the request open (another client is to decide).
    Hold,
}

#[derive(Default)]
struct Seen {
    updates: Mutex<Vec<SessionUpdate>>,
    permissions: Mutex<Vec<RequestPermissionRequest>>,
    answers: Mutex<VecDeque<Answer>>,
    held: Mutex<Vec<Responder<RequestPermissionResponse>>>,
    /// The editor's file system (see `fs`).
    files: fs::EditorFiles,
}

/// A scripted editor attached to its own `botcoder acp` process.
struct Editor {
    cx: ConnectionTo<Agent>,
    seen: Arc<Seen>,
    task: tokio::task::JoinHandle<()>,
    _child: tokio::process::Child,
}

impl Drop for Editor {
    fn drop(&mut self) {
        self.task.abort();
    }
}

impl Editor {
    async fn start(env: &TestEnv) -> Editor {
        let mut cmd = tokio::process::Command::from(env.command(&bin("botcoder")));
        cmd.arg("acp")
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .kill_on_drop(true);
        let mut child = cmd.spawn().expect("spawn botcoder acp");
        let stdin = child.stdin.take().expect("stdin");
        let stdout = BufReader::new(child.stdout.take().expect("stdout"));
        let incoming = futures::stream::unfold(stdout, |mut r| async move {
            let mut line = String::new();
            match r.read_line(&mut line).await {
                Ok(0) => None,
                Ok(_) => Some((Ok(line.trim_end_matches('\n').to_owned()), r)),
                Err(e) => Some((Err(e), r)),
            }
        });
        let outgoing = futures::sink::unfold(stdin, |mut w, line: String| async move {
            w.write_all(line.as_bytes()).await?;
            w.write_all(b"\n").await?;
            w.flush().await?;
            Ok::<_, std::io::Error>(w)
        });
        let transport = Lines::new(Box::pin(outgoing), Box::pin(incoming));
        let seen = Arc::new(Seen::default());
        let (s1, s2, s3, s4) = (seen.clone(), seen.clone(), seen.clone(), seen.clone());
        let (tx, rx) = tokio::sync::oneshot::channel();
        let task = tokio::spawn(async move {
            let _ = Client
                .v1()
                .on_receive_notification(
                    async move |n: SessionNotification, _cx| {
                        s1.updates.lock().unwrap().push(n.update);
                        Ok(())
                    },
                    agent_client_protocol::on_receive_notification!(),
                )
                .on_receive_request(
                    async move |req: RequestPermissionRequest, responder, _cx| {
                        s2.permissions.lock().unwrap().push(req);
                        let answer = s2.answers.lock().unwrap().pop_front();
                        match answer {
                            Some(Answer::Pick(id)) => responder.respond(
                                RequestPermissionResponse::new(RequestPermissionOutcome::Selected(
                                    SelectedPermissionOutcome::new(id),
                                )),
                            ),
                            Some(Answer::Hold) => {
                                s2.held.lock().unwrap().push(responder);
                                Ok(())
                            }
                            None => responder.respond(RequestPermissionResponse::new(
                                RequestPermissionOutcome::Cancelled,
                            )),
                        }
                    },
                    agent_client_protocol::on_receive_request!(),
                )
                .on_receive_request(
                    async move |req: ReadTextFileRequest, responder, _cx| {
                        s3.files.read(req, responder)
                    },
                    agent_client_protocol::on_receive_request!(),
                )
                .on_receive_request(
                    async move |req: WriteTextFileRequest, responder, _cx| {
                        s4.files.write(req, responder)
                    },
                    agent_client_protocol::on_receive_request!(),
                )
                .connect_with(transport, async move |cx: ConnectionTo<Agent>| {
                    let _ = tx.send(cx);
                    std::future::pending::<()>().await;
                    Ok(())
                })
                .await;
        });
        let cx = tokio::time::timeout(T, rx)
            .await
            .expect("ACP connection in time")
            .expect("ACP connection");
        Editor {
            cx,
            seen,
            task,
            _child: child,
        }
    }

    async fn call<R: JsonRpcRequest>(
        &self,
        req: R,
    ) -> Result<R::Response, agent_client_protocol::Error> {
        tokio::time::timeout(T, self.cx.send_request(req).block_task())
            .await
            .expect("the agent answered in time")
    }

    async fn initialize(&self) -> InitializeResponse {
        self.call(
            InitializeRequest::new(ProtocolVersion::V1)
                .client_info(Implementation::new("test-editor", "1.0")),
        )
        .await
        .expect("initialize")
    }

    /// An initialized editor with a new session on the project: where most tests start.
    async fn with_session(env: &TestEnv) -> (Editor, String) {
        let editor = Editor::start(env).await;
        editor.initialize().await;
        let session = editor.new_session(env).await;
        (editor, session)
    }

    async fn new_session(&self, env: &TestEnv) -> String {
        let r = self
            .call(NewSessionRequest::new(env.project.clone()))
            .await
            .expect("session/new");
        r.session_id.0.to_string()
    }

    /// Prompts and expects the turn to end normally.
    async fn prompt_to_end(&self, session: &str, text: &str) {
        assert_eq!(self.prompt(session, text).await, StopReason::EndTurn);
    }

    async fn prompt(&self, session: &str, text: &str) -> StopReason {
        let req = PromptRequest::new(
            session.to_owned(),
            vec![ContentBlock::Text(TextContent::new(text))],
        );
        self.call(req).await.expect("session/prompt").stop_reason
    }

    fn answer(&self, a: Answer) {
        self.seen.answers.lock().unwrap().push_back(a);
    }

    fn updates(&self) -> Vec<SessionUpdate> {
        self.seen.updates.lock().unwrap().clone()
    }

    fn permissions(&self) -> Vec<RequestPermissionRequest> {
        self.seen.permissions.lock().unwrap().clone()
    }

    /// Waits until `pred` holds for the updates seen so far.
    async fn wait_updates(&self, what: &str, pred: impl Fn(&[SessionUpdate]) -> bool) {
        let deadline = tokio::time::Instant::now() + T;
        while !pred(&self.updates()) {
            assert!(
                tokio::time::Instant::now() < deadline,
                "no {what} within {T:?}; updates: {:#?}",
                self.updates()
            );
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }
}

/// The text of all chunks of one kind, concatenated.
fn text_of(updates: &[SessionUpdate], kind: fn(&SessionUpdate) -> Option<&ContentBlock>) -> String {
    updates
        .iter()
        .filter_map(kind)
        .filter_map(|c| match c {
            ContentBlock::Text(t) => Some(t.text.clone()),
            _ => None,
        })
        .collect()
}

fn agent_text(u: &[SessionUpdate]) -> String {
    text_of(u, |u| match u {
        SessionUpdate::AgentMessageChunk(c) => Some(&c.content),
        _ => None,
    })
}

fn user_text(u: &[SessionUpdate]) -> String {
    text_of(u, |u| match u {
        SessionUpdate::UserMessageChunk(c) => Some(&c.content),
        _ => None,
    })
}

fn final_status(u: &[SessionUpdate], call: &str) -> Option<ToolCallStatus> {
    u.iter().rev().find_map(|u| match u {
        SessionUpdate::ToolCallUpdate(t) if &*t.tool_call_id.0 == call => t.fields.status,
        _ => None,
    })
}

async fn setup() -> (TestEnv, MockLlm, DaemonProcess) {
    let (env, mock) =
        botcoder_tests::harness::env_with_mock(&[("LOCAL_LLM_CONTEXT", "32000")]).await;
    // The bridge lists the provider's models (for the editor's model picker) at times the
    // script cannot know; keep those requests out of the script.
    mock.serve_models(&["mock-model"]);
    std::fs::write(env.project.join("a.txt"), "alpha\n").expect("fixture");
    let daemon = env.start_daemon();
    (env, mock, daemon)
}

/// The write `call` was refused: a.txt still holds the fixture and the call ended failed.
fn assert_refused(env: &TestEnv, editor: &Editor, call: &str) {
    assert_eq!(
        std::fs::read_to_string(env.project.join("a.txt")).unwrap(),
        "alpha\n"
    );
    assert_eq!(
        final_status(&editor.updates(), call),
        Some(ToolCallStatus::Failed)
    );
}

fn write_call(id: &str, path: &str, content: &str) -> MockResponse {
    let args = serde_json::json!({"path": path, "content": content}).to_string();
    MockResponse::openai_tool_calls(&[(id, "write_file", &args)], 7)
}

#[tokio::test]
async fn a_prompt_streams_chunks_and_ends_the_turn_and_the_session_is_a_daemon_session() {
    let (env, mock, _d) = setup().await;
    mock.push(MockResponse::text("hello from the daemon"));
    let editor = Editor::start(&env).await;
    let init = editor.initialize().await;
    assert_eq!(init.protocol_version, ProtocolVersion::V1);
    assert!(init.agent_capabilities.load_session);
    assert!(init.agent_capabilities.prompt_capabilities.embedded_context);

    let session = editor.new_session(&env).await;
    editor.prompt_to_end(&session, "say hello").await;
    let updates = editor.updates();
    assert_eq!(agent_text(&updates), "hello from the daemon");
    let chunks = updates
        .iter()
        .filter(|u| matches!(u, SessionUpdate::AgentMessageChunk(_)))
        .count();
    assert!(chunks > 1, "streamed in pieces, got {chunks}");
    // The editor's own prompt is not echoed back to it.
    assert_eq!(user_text(&updates), "");
    assert!(
        updates
            .iter()
            .any(|u| matches!(u, SessionUpdate::UsageUpdate(x) if x.size == 32000 && x.used > 0)),
        "usage_update: {updates:#?}"
    );

    // One session, every client: the CLI lists it, session/list too.
    let out = env.run_cli(&["sessions", "list"], None).await;
    assert!(out.stdout.contains(&session), "{out:?}");
    let listed = editor
        .call(ListSessionsRequest::new().cwd(env.project.canonicalize().unwrap()))
        .await
        .expect("session/list");
    assert!(listed.sessions.iter().any(|s| *s.session_id.0 == *session));
}

#[tokio::test]
async fn a_tool_call_asks_permission_in_the_editor_and_runs_after_allow_once() {
    let (env, mock, _d) = setup().await;
    mock.push(write_call("c1", "new.txt", "made by the agent\n"));
    mock.push(MockResponse::text("written"));
    let (editor, session) = Editor::with_session(&env).await;
    editor.answer(Answer::Pick("allow_once"));
    editor.prompt_to_end(&session, "write it").await;

    let asked = editor.permissions();
    assert_eq!(asked.len(), 1, "{asked:#?}");
    let kinds: Vec<String> = asked[0]
        .options
        .iter()
        .map(|o| format!("{:?}", o.kind))
        .collect();
    assert_eq!(
        kinds,
        ["AllowOnce", "AllowAlways", "RejectOnce", "RejectAlways"]
    );
    let diff = asked[0]
        .tool_call
        .fields
        .content
        .clone()
        .unwrap_or_default();
    assert!(
        diff.iter().any(|c| matches!(c, ToolCallContent::Diff(d) if d.new_text.contains("made by the agent") && d.path.is_absolute())),
        "diff content: {diff:#?}"
    );
    assert_eq!(
        std::fs::read_to_string(env.project.join("new.txt")).unwrap(),
        "made by the agent\n"
    );
    let updates = editor.updates();
    let call = updates
        .iter()
        .find_map(|u| match u {
            SessionUpdate::ToolCall(c) => Some(c.clone()),
            _ => None,
        })
        .expect("tool_call");
    assert_eq!(call.kind, ToolKind::Edit);
    assert_eq!(call.locations.len(), 1);
    assert!(call.locations[0].path.ends_with("new.txt"));
    assert_eq!(
        final_status(&updates, "c1"),
        Some(ToolCallStatus::Completed)
    );
    assert_eq!(agent_text(&updates), "written");
}

#[tokio::test]
async fn reject_once_leaves_the_file_untouched() {
    let (env, mock, _d) = setup().await;
    mock.push(write_call("c1", "a.txt", "overwritten\n"));
    mock.push(MockResponse::text("ok, not written"));
    let (editor, session) = Editor::with_session(&env).await;
    editor.answer(Answer::Pick("reject_once"));
    editor.prompt_to_end(&session, "overwrite a.txt").await;
    assert_refused(&env, &editor, "c1");
}

/// A hostile (or buggy) editor answers with an option id it was never offered: that is no
/// consent, the call is denied and the file stays as it was.
#[tokio::test]
async fn an_option_that_was_not_offered_denies_the_call() {
    let (env, mock, _d) = setup().await;
    mock.push(write_call("c1", "a.txt", "pwned\n"));
    mock.push(MockResponse::text("not written"));
    let (editor, session) = Editor::with_session(&env).await;
    editor.answer(Answer::Pick("allow_everything_forever"));
    editor.prompt_to_end(&session, "overwrite").await;
    assert_refused(&env, &editor, "c1");
}

#[tokio::test]
async fn reject_always_denies_the_same_scope_later_without_asking_again() {
    let (env, mock, _d) = setup().await;
    mock.push(write_call("c1", "a.txt", "one\n"));
    mock.push(write_call("c2", "a.txt", "two\n"));
    mock.push(MockResponse::text("gave up"));
    let (editor, session) = Editor::with_session(&env).await;
    editor.answer(Answer::Pick("reject_always"));
    editor.prompt_to_end(&session, "try twice").await;
    assert_eq!(editor.permissions().len(), 1, "asked once only");
    assert_refused(&env, &editor, "c2");
}

#[tokio::test]
async fn a_terminal_that_answers_first_wins_and_the_editor_request_is_withdrawn() {
    let (env, mock, _d) = setup().await;
    mock.push(write_call("c1", "t.txt", "from the terminal's yes\n"));
    mock.push(MockResponse::text("done"));
    let (editor, session) = Editor::with_session(&env).await;
    editor.answer(Answer::Hold);
    let opts = ConnectOptions {
        socket_path: env.socket.clone(),
        client_name: "botcoder-tui".into(),
        capabilities: vec!["approvals".into()],
        autostart: false,
    };
    let terminal = DaemonClient::connect(&opts).await.expect("terminal");
    let prompt = editor.prompt(&session, "write t.txt");
    let approve = async {
        let deadline = tokio::time::Instant::now() + T;
        while editor.permissions().is_empty() {
            assert!(tokio::time::Instant::now() < deadline, "never asked");
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        terminal
            .call::<ApprovalRespond>(&ApprovalRespondParams {
                session_id: SessionId(session.clone()),
                call_id: "c1".into(),
                decision: ApprovalDecision::Allow,
                message: None,
            })
            .await
            .expect("terminal approves");
    };
    let (stop, ()) = tokio::join!(prompt, approve);
    assert_eq!(stop, StopReason::EndTurn);
    assert!(env.project.join("t.txt").exists());
    let updates = editor.updates();
    assert_eq!(
        final_status(&updates, "c1"),
        Some(ToolCallStatus::Completed)
    );
    // The editor shows who decided.
    let decided = updates.iter().any(|u| match u {
        SessionUpdate::ToolCallUpdate(t) => t.fields.content.iter().flatten().any(|c| {
            matches!(c, ToolCallContent::Content(x) if matches!(&x.content, ContentBlock::Text(t) if t.text == "allowed by botcoder-tui"))
        }),
        _ => false,
    });
    assert!(decided, "{updates:#?}");
    // The editor's late answer is dropped by the bridge, harmlessly.
    let held: Vec<_> = editor.seen.held.lock().unwrap().drain(..).collect();
    for r in held {
        let _ = r.respond(RequestPermissionResponse::new(
            RequestPermissionOutcome::Selected(SelectedPermissionOutcome::new("reject_once")),
        ));
    }
}

#[tokio::test]
async fn cancel_ends_the_prompt_as_cancelled() {
    let (env, mock, _d) = setup().await;
    let long: Vec<String> = (0..400).map(|i| format!("w{i} ")).collect();
    let refs: Vec<&str> = long.iter().map(String::as_str).collect();
    mock.push(MockResponse::text_chunks(&refs).with_delay(Duration::from_millis(20)));
    let (editor, session) = Editor::with_session(&env).await;
    let prompt = editor.prompt(&session, "talk for a long time");
    let cancel = async {
        editor
            .wait_updates("first chunk", |u| !agent_text(u).is_empty())
            .await;
        editor
            .cx
            .send_notification(agent_client_protocol::v1::schema::CancelNotification::new(
                session.clone(),
            ))
            .expect("cancel");
    };
    let (stop, ()) = tokio::join!(prompt, cancel);
    assert_eq!(stop, StopReason::Cancelled);
}

#[tokio::test]
async fn session_load_replays_the_conversation_before_answering() {
    let (env, mock, _d) = setup().await;
    mock.push(write_call("c1", "n.txt", "x\n"));
    mock.push(MockResponse::text("first answer"));
    let session = {
        let editor = Editor::start(&env).await;
        editor.initialize().await;
        let s = editor.new_session(&env).await;
        editor
            .call(SetSessionModeRequest::new(s.clone(), "auto"))
            .await
            .expect("set_mode auto");
        assert_eq!(editor.prompt(&s, "the question").await, StopReason::EndTurn);
        assert!(editor.permissions().is_empty(), "auto mode asks nothing");
        s
    };
    let editor = Editor::start(&env).await;
    editor.initialize().await;
    editor
        .call(LoadSessionRequest::new(
            session.clone(),
            env.project.clone(),
        ))
        .await
        .expect("session/load");
    // Everything arrived before the answer.
    let updates = editor.updates();
    assert_eq!(user_text(&updates), "the question");
    assert_eq!(agent_text(&updates), "first answer");
    assert!(
        updates
            .iter()
            .any(|u| matches!(u, SessionUpdate::ToolCall(c) if &*c.tool_call_id.0 == "c1"))
    );
    assert_eq!(
        final_status(&updates, "c1"),
        Some(ToolCallStatus::Completed)
    );
    // And it is live: the next prompt works.
    mock.push(MockResponse::text("second answer"));
    assert_eq!(editor.prompt(&session, "again").await, StopReason::EndTurn);
    assert!(agent_text(&editor.updates()).ends_with("second answer"));
}

#[tokio::test]
async fn a_terminal_watch_sees_the_editors_turn_and_a_terminal_message_reaches_the_editor() {
    let (env, mock, _d) = setup().await;
    mock.push(MockResponse::text("editor turn answer"));
    let (editor, session) = Editor::with_session(&env).await;

    let mut watch = tokio::process::Command::from(env.cli(&["watch", &session]));
    watch
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .kill_on_drop(true);
    let mut watch = watch.spawn().expect("spawn watch");
    let mut lines = BufReader::new(watch.stdout.take().unwrap()).lines();
    editor.prompt_to_end(&session, "from the editor").await;
    let mut seen = String::new();
    tokio::time::timeout(T, async {
        while !seen.contains("editor turn answer") {
            match lines.next_line().await.unwrap() {
                Some(l) => {
                    seen.push_str(&l);
                    seen.push('\n');
                }
                None => break,
            }
        }
    })
    .await
    .unwrap_or_else(|_| panic!("watch did not show the editor's turn: {seen}"));
    assert!(seen.contains("from the editor"), "{seen}");

    // A message typed in a terminal streams into the editor.
    mock.push(MockResponse::text("terminal turn answer"));
    let terminal = env.client("botcoder-cli").await;
    terminal
        .call::<SessionSend>(&SessionSendParams {
            session_id: SessionId(session.clone()),
            text: "from the terminal".into(),
            approval: None,
            env: Default::default(),
        })
        .await
        .expect("send");
    editor
        .wait_updates("the terminal's turn", |u| {
            agent_text(u).ends_with("terminal turn answer")
        })
        .await;
    assert_eq!(user_text(&editor.updates()), "from the terminal");
}

/// `acpx` run as the editor with `args`, in the project, bounded at 300 s. `ACPX=/path/to/acpx`
/// uses an installed one; otherwise npx fetches it.
async fn run_acpx(env: &TestEnv, args: &[&str]) -> (String, String, bool) {
    let botcoder = bin("botcoder");
    let agent = format!("{} acp", botcoder.display());
    let mut cmd = match std::env::var("ACPX") {
        Ok(acpx) => tokio::process::Command::from(env.command(std::path::Path::new(&acpx))),
        Err(_) => {
            let mut c = tokio::process::Command::from(env.command(std::path::Path::new("npx")));
            c.args(["--yes", "acpx"]);
            c
        }
    };
    cmd.args(["--agent", &agent])
        .args(args)
        .current_dir(&env.project)
        .env("npm_config_cache", env.root().join("npm-cache"))
        .stdin(Stdio::null())
        .kill_on_drop(true);
    // npx needs HOME-relative state and the real PATH, which the env provides.
    let out = tokio::time::timeout(Duration::from_secs(300), cmd.output())
        .await
        .expect("acpx finished in time")
        .expect("run npx acpx");
    (
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
        out.status.success(),
    )
}

/// `acpx` (npm) as the editor: `cargo nextest run -p botcoder-tests --test e2e
/// --run-ignored all acpx` (set `ACPX` to an installed acpx to skip npx).
#[tokio::test]
#[ignore = "opt-in: needs npm acpx; run with --run-ignored all acpx"]
async fn acpx_drives_botcoder_acp() {
    let (env, mock, _d) = setup().await;
    mock.set_default(MockResponse::text("hello acpx"));
    let (stdout, stderr, ok) = run_acpx(&env, &["--approve-all", "exec", "say hello"]).await;
    assert!(ok, "acpx failed:\n{stdout}\n{stderr}");
    assert!(
        stdout.contains("hello acpx"),
        "stdout:\n{stdout}\nstderr:\n{stderr}"
    );
}

/// acpx offers `fs.readTextFile`, so the model's `read_file` goes through acpx: with
/// `--approve-all` it returns the file, with `--deny-all` acpx refuses the read, and that
/// refusal (not the disk's text) is what the model sees.
#[tokio::test]
#[ignore = "opt-in: needs npm acpx; run with --run-ignored all acpx"]
async fn acpx_serves_the_file_reads() {
    for (mode, expect_text) in [("--approve-all", true), ("--deny-all", false)] {
        let (env, mock, _d) = setup().await;
        std::fs::write(env.project.join("notes.txt"), "marker-from-the-file\n").unwrap();
        let args = serde_json::json!({"path": "notes.txt"}).to_string();
        mock.push(MockResponse::openai_tool_calls(
            &[("r1", "read_file", &args)],
            5,
        ));
        mock.set_default(MockResponse::text("read it"));
        let (stdout, stderr, _) = run_acpx(&env, &[mode, "exec", "read notes.txt"]).await;
        let sent = mock
            .requests()
            .iter()
            .map(|r| r.body.to_string())
            .collect::<Vec<_>>()
            .join("\n");
        assert!(
            sent.contains("marker-from-the-file") == expect_text,
            "{mode}: the model was sent:\n{sent}\nacpx stdout:\n{stdout}\nstderr:\n{stderr}"
        );
        if !expect_text {
            assert!(
                sent.contains("cannot read notes.txt through the editor"),
                "{mode}: acpx's refusal reached the model:\n{sent}"
            );
        }
    }
}

mod editor_mcp;
mod fs;
