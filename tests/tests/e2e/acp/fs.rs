//! The editor's file system: with `fs.readTextFile` / `fs.writeTextFile` offered, the
//! agent's file tools read the editor's buffers and write through the editor, after the
//! same path checks and approvals as on disk; only the bridge that serves a session's files
//! can answer for them.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};

use agent_client_protocol::v1::schema::{
    ClientCapabilities, FileSystemCapabilities, ReadTextFileResponse, WriteTextFileResponse,
};
use botcoder_protocol::client_fs::{
    CAPABILITY_FS, ClientFsRespond, ClientFsRespondParams, ClientFsServeParams,
};

use super::*;
use pretty_assertions::assert_eq;

/// What the scripted editor's file system holds and was asked.
#[derive(Default)]
pub(super) struct EditorFiles {
    /// Open buffers by absolute path (what the editor shows, unsaved changes included).
    buffers: Mutex<HashMap<PathBuf, String>>,
    /// Every request, as `read <path>` / `write <path>`.
    log: Mutex<Vec<String>>,
    /// Writes the editor received: path and content.
    writes: Mutex<Vec<(PathBuf, String)>>,
    /// Never answer (a hung editor).
    hang: AtomicBool,
    held_reads: Mutex<Vec<Responder<ReadTextFileResponse>>>,
    held_writes: Mutex<Vec<Responder<WriteTextFileResponse>>>,
}

impl EditorFiles {
    pub(super) fn read(
        &self,
        req: ReadTextFileRequest,
        responder: Responder<ReadTextFileResponse>,
    ) -> Result<(), agent_client_protocol::Error> {
        self.log
            .lock()
            .unwrap()
            .push(format!("read {}", req.path.display()));
        if self.hang.load(Ordering::Relaxed) {
            self.held_reads.lock().unwrap().push(responder);
            return Ok(());
        }
        let buffer = self.buffers.lock().unwrap().get(&req.path).cloned();
        // Like an editor: an open buffer, else the file on disk.
        match buffer.or_else(|| std::fs::read_to_string(&req.path).ok()) {
            Some(text) => responder.respond(ReadTextFileResponse::new(text)),
            None => responder.respond_with_error(agent_client_protocol::Error::new(
                -32002,
                format!("{} not found", req.path.display()),
            )),
        }
    }

    pub(super) fn write(
        &self,
        req: WriteTextFileRequest,
        responder: Responder<WriteTextFileResponse>,
    ) -> Result<(), agent_client_protocol::Error> {
        self.log
            .lock()
            .unwrap()
            .push(format!("write {}", req.path.display()));
        if self.hang.load(Ordering::Relaxed) {
            self.held_writes.lock().unwrap().push(responder);
            return Ok(());
        }
        (self.buffers.lock().unwrap()).insert(req.path.clone(), req.content.clone());
        self.writes.lock().unwrap().push((req.path, req.content));
        responder.respond(WriteTextFileResponse::new())
    }

    fn log(&self) -> Vec<String> {
        self.log.lock().unwrap().clone()
    }
}

impl Editor {
    /// `initialize` offering the editor's file system.
    async fn initialize_with_fs(&self) {
        let fs = FileSystemCapabilities::new()
            .read_text_file(true)
            .write_text_file(true);
        self.call(
            InitializeRequest::new(ProtocolVersion::V1)
                .client_info(Implementation::new("test-editor", "1.0"))
                .client_capabilities(ClientCapabilities::new().fs(fs)),
        )
        .await
        .expect("initialize");
    }

    fn files(&self) -> &EditorFiles {
        &self.seen.files
    }

    fn open_buffer(&self, path: &Path, text: &str) {
        (self.files().buffers.lock().unwrap()).insert(path.to_owned(), text.to_owned());
    }
}

fn call(id: &str, tool: &str, args: serde_json::Value) -> MockResponse {
    MockResponse::openai_tool_calls(&[(id, tool, &args.to_string())], 5)
}

/// Everything the model was sent, as one string (tool results included).
fn sent_to_model(mock: &MockLlm) -> String {
    mock.requests()
        .iter()
        .map(|r| r.body.to_string())
        .collect::<Vec<_>>()
        .join("\n")
}

fn project_file(env: &TestEnv, name: &str) -> PathBuf {
    env.project.canonicalize().unwrap().join(name)
}

#[tokio::test]
async fn the_model_reads_the_editor_buffer_and_an_allowed_write_goes_to_the_editor() {
    let (env, mock, _d) = setup().await;
    mock.push(call(
        "r1",
        "read_file",
        serde_json::json!({"path": "a.txt"}),
    ));
    mock.push(call(
        "e1",
        "edit_file",
        serde_json::json!({"path": "a.txt", "old": "unsaved", "new": "edited"}),
    ));
    mock.push(MockResponse::text("done"));
    let editor = Editor::start(&env).await;
    editor.initialize_with_fs().await;
    let a = project_file(&env, "a.txt");
    editor.open_buffer(&a, "unsaved buffer text\n");
    let session = editor.new_session(&env).await;
    editor.answer(Answer::Pick("allow_once"));
    editor.prompt_to_end(&session, "edit a.txt").await;

    let sent = sent_to_model(&mock);
    assert!(
        sent.contains("unsaved buffer text"),
        "the model saw the buffer: {sent}"
    );
    assert!(
        !sent.contains("alpha"),
        "the model never saw the disk: {sent}"
    );
    // The edit started from the buffer and went to the editor; the disk is the editor's
    // business (it writes when it saves).
    assert_eq!(
        editor.files().writes.lock().unwrap().clone(),
        vec![(a.clone(), "edited buffer text\n".to_owned())]
    );
    assert_eq!(std::fs::read_to_string(&a).unwrap(), "alpha\n");
    assert_eq!(
        final_status(&editor.updates(), "e1"),
        Some(ToolCallStatus::Completed)
    );
    // The approval showed the diff against the buffer.
    let asked = editor.permissions();
    let shown = format!("{:?}", asked[0].tool_call.fields.content);
    assert!(shown.contains("edited buffer text"), "{shown}");
}

#[tokio::test]
async fn reject_once_sends_no_write_to_the_editor() {
    let (env, mock, _d) = setup().await;
    mock.push(write_call("c1", "a.txt", "overwritten\n"));
    mock.push(MockResponse::text("ok, not written"));
    let editor = Editor::start(&env).await;
    editor.initialize_with_fs().await;
    let session = editor.new_session(&env).await;
    editor.answer(Answer::Pick("reject_once"));
    editor.prompt_to_end(&session, "overwrite").await;
    assert_eq!(
        final_status(&editor.updates(), "c1"),
        Some(ToolCallStatus::Failed)
    );
    assert!(editor.files().writes.lock().unwrap().is_empty());
    // Only the read the approval preview needed reached the editor.
    let a = project_file(&env, "a.txt");
    assert_eq!(editor.files().log(), vec![format!("read {}", a.display())]);
}

/// The hostile model names paths outside the project, directly and through a symlink: the
/// daemon refuses them before anything is asked of the editor.
#[tokio::test]
async fn a_path_outside_the_project_is_refused_without_asking_the_editor() {
    let (env, mock, _d) = setup().await;
    let outside = env.root().join("outside.txt");
    std::fs::write(&outside, "secret\n").unwrap();
    std::os::unix::fs::symlink(&outside, env.project.join("link.txt")).unwrap();
    mock.push(call(
        "r1",
        "read_file",
        serde_json::json!({"path": "../outside.txt"}),
    ));
    mock.push(call(
        "r2",
        "read_file",
        serde_json::json!({"path": "link.txt"}),
    ));
    mock.push(call(
        "w1",
        "write_file",
        serde_json::json!({"path": outside.display().to_string(), "content": "x"}),
    ));
    mock.push(MockResponse::text("refused"));
    let editor = Editor::start(&env).await;
    editor.initialize_with_fs().await;
    let session = editor.new_session(&env).await;
    editor.answer(Answer::Pick("allow_once"));
    editor.answer(Answer::Pick("allow_once"));
    editor.prompt_to_end(&session, "read outside").await;
    let updates = editor.updates();
    for id in ["r1", "r2", "w1"] {
        assert_eq!(
            final_status(&updates, id),
            Some(ToolCallStatus::Failed),
            "{id}"
        );
    }
    assert_eq!(editor.files().log(), Vec::<String>::new());
    assert!(!sent_to_model(&mock).contains("secret"));
    assert_eq!(std::fs::read_to_string(&outside).unwrap(), "secret\n");
}

#[tokio::test]
async fn an_editor_that_never_answers_fails_the_tool_within_the_bound_and_the_turn_ends() {
    let mock = MockLlm::start().await.expect("mock");
    mock.set_default(MockResponse::text("done"));
    mock.serve_models(&["mock-model"]);
    let mut env = TestEnv::new();
    env.use_mock(&mock)
        .set("LOCAL_LLM_CONTEXT", "32000")
        .set("BOTCODER_ACP_FS_TIMEOUT_MS", "500");
    std::fs::write(env.project.join("a.txt"), "alpha\n").unwrap();
    let _d = env.start_daemon();
    mock.push(call(
        "r1",
        "read_file",
        serde_json::json!({"path": "a.txt"}),
    ));
    mock.push(MockResponse::text("the editor is stuck"));
    let editor = Editor::start(&env).await;
    editor.initialize_with_fs().await;
    editor.files().hang.store(true, Ordering::Relaxed);
    let session = editor.new_session(&env).await;
    let started = std::time::Instant::now();
    editor.prompt_to_end(&session, "read a.txt").await;
    assert!(
        started.elapsed() < Duration::from_secs(15),
        "{:?}",
        started.elapsed()
    );
    assert_eq!(
        final_status(&editor.updates(), "r1"),
        Some(ToolCallStatus::Failed)
    );
    let sent = sent_to_model(&mock);
    assert!(sent.contains("did not answer within 0.5 s"), "{sent}");
    assert!(
        !sent.contains("alpha"),
        "no silent fallback to the disk: {sent}"
    );
}

/// A second client of the same user (as any process could be) tries to take over the
/// editor's session's files and to answer its requests with fake contents: refused, and the
/// honest bridge keeps serving.
#[tokio::test]
async fn another_client_cannot_serve_or_answer_for_the_editors_session() {
    let (env, mock, _d) = setup().await;
    mock.push(call(
        "r1",
        "read_file",
        serde_json::json!({"path": "a.txt"}),
    ));
    mock.push(MockResponse::text("read"));
    let editor = Editor::start(&env).await;
    editor.initialize_with_fs().await;
    let a = project_file(&env, "a.txt");
    editor.open_buffer(&a, "the real buffer\n");
    let session = editor.new_session(&env).await;

    let opts = ConnectOptions {
        socket_path: env.socket.clone(),
        client_name: "acp:intruder".into(),
        capabilities: vec!["approvals".into(), CAPABILITY_FS.into()],
        autostart: false,
    };
    let intruder = DaemonClient::connect(&opts).await.expect("intruder");
    let serve = ClientFsServeParams {
        session_id: SessionId(session.clone()),
        read: true,
        write: true,
        timeout_ms: None,
    };
    let refused = intruder.serve_fs(&serve).await.map(|_| ()).unwrap_err();
    assert!(refused.to_string().contains("refused"), "{refused}");
    // Answering requests it does not serve (any id) is refused as well.
    for request_id in 0..20 {
        let fake = ClientFsRespondParams {
            session_id: SessionId(session.clone()),
            request_id,
            content: Some("fake contents\n".into()),
            error: None,
        };
        assert!(intruder.call::<ClientFsRespond>(&fake).await.is_err());
    }

    let prompt = editor.prompt(&session, "read a.txt");
    let answer_fakes = async {
        // Keep guessing while the turn runs.
        for request_id in 0..2000 {
            let fake = ClientFsRespondParams {
                session_id: SessionId(session.clone()),
                request_id,
                content: Some("fake contents\n".into()),
                error: None,
            };
            let _ = intruder.call::<ClientFsRespond>(&fake).await;
        }
    };
    let (stop, ()) = tokio::join!(prompt, answer_fakes);
    assert_eq!(stop, StopReason::EndTurn);
    let sent = sent_to_model(&mock);
    assert!(sent.contains("the real buffer"), "{sent}");
    assert!(!sent.contains("fake contents"), "{sent}");
}
