//! The editor's `mcpServers`: started by the daemon for that session only (`session.use_mcp`),
//! their calls asked for like any MCP tool's, and stopped when the editor goes away.

use std::time::Instant;

use agent_client_protocol::v1::schema::{EnvVariable, McpServer, McpServerStdio};
use botcoder_protocol::ApprovalPolicy;
use botcoder_tests::session::{create, turn};

use super::*;
use pretty_assertions::assert_eq;

/// The chat requests the model received (not the bridge's model listings).
fn chats(mock: &MockLlm) -> Vec<serde_json::Value> {
    (mock.requests().into_iter())
        .map(|r| r.body)
        .filter(|b| b.get("messages").is_some())
        .collect()
}

/// Tool names offered in the `n`th chat request.
fn offered(mock: &MockLlm, n: usize) -> Vec<String> {
    chats(mock)[n]["tools"]
        .as_array()
        .cloned()
        .unwrap_or_default()
        .iter()
        .filter_map(|t| t["function"]["name"].as_str().map(str::to_owned))
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_editors_mcp_servers_serve_its_session_only_and_stop_with_the_editor() {
    let bin = crate::mcp::everything();
    let marker = crate::mcp::marker();
    let (env, mock, _d) = setup().await;
    mock.push(MockResponse::openai_tool_calls(
        &[(
            "m1",
            "mcp__everything__echo",
            r#"{"message":"hello from the editor's server"}"#,
        )],
        3,
    ));
    mock.push(MockResponse::text("echoed"));

    let editor = Editor::start(&env).await;
    editor.initialize().await;
    let server = McpServer::Stdio(
        McpServerStdio::new("everything", bin.clone())
            .args(vec!["stdio".to_owned(), marker.clone()])
            .env(vec![EnvVariable::new("LOG_LEVEL", "warn")]),
    );
    let session = editor
        .call(NewSessionRequest::new(env.project.clone()).mcp_servers(vec![server]))
        .await
        .expect("session/new")
        .session_id
        .0
        .to_string();
    assert!(
        !crate::mcp::pgrep(&marker).is_empty(),
        "the editor's server runs once session/new answered"
    );
    // Not trusted: the call is asked for, in the editor.
    editor.answer(Answer::Pick("allow_once"));
    editor.prompt_to_end(&session, "echo something").await;
    assert!(
        offered(&mock, 0).contains(&"mcp__everything__echo".to_owned()),
        "{:?}",
        offered(&mock, 0)
    );
    let asked = editor.permissions();
    assert_eq!(asked.len(), 1, "the MCP call was asked for");
    let fed_back = chats(&mock)[1].to_string();
    assert!(
        fed_back.contains("hello from the editor's server"),
        "{fed_back}"
    );
    assert_eq!(
        final_status(&editor.updates(), "m1"),
        Some(ToolCallStatus::Completed)
    );

    // Another session of the same daemon is not offered the editor's servers.
    let c = env.client("terminal").await;
    let other = create(&c, &env.project, ApprovalPolicy::Auto).await;
    let _ = turn(&c, &other, "hello", Duration::from_secs(60)).await;
    let last = chats(&mock).len() - 1;
    assert!(
        !offered(&mock, last).iter().any(|t| t.starts_with("mcp__")),
        "{:?}",
        offered(&mock, last)
    );

    // The editor goes away: its servers go with it.
    drop(editor);
    let deadline = Instant::now() + Duration::from_secs(30);
    while !crate::mcp::pgrep(&marker).is_empty() {
        assert!(
            Instant::now() < deadline,
            "the editor's MCP server outlived the editor: {:?}",
            crate::mcp::pgrep(&marker)
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}
