//! Checks the mock runs on every request it receives, so a test fails where the daemon
//! sent something a real provider would refuse, not somewhere later. A request that fails
//! its check is answered `400` with the reason (as a real server would) and kept in
//! [`super::MockLlm::violations`].

use std::collections::HashSet;
use std::sync::Arc;

use super::RecordedRequest;

/// The signature of a check: `Err(why)` when the request is malformed.
pub type CheckFn = dyn Fn(&RecordedRequest) -> Result<(), String> + Send + Sync;

/// A check of every request.
#[derive(Clone)]
pub struct RequestCheck(pub Arc<CheckFn>);

impl std::fmt::Debug for RequestCheck {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("RequestCheck")
    }
}

/// An OpenAI chat-completions request as the real API accepts it: a POST to
/// `/chat/completions` with a model, at least one message, each of a known role, and every
/// `tool` message answering a tool call an earlier assistant message made (the API refuses
/// an orphan tool result).
pub fn openai_chat(req: &RecordedRequest) -> Result<(), String> {
    let body = &req.body;
    if req.method != "POST"
        || !req.path.ends_with("/chat/completions")
        || body.get("messages").is_none()
    {
        // Not a chat request (or a hand-made probe in the mock's own tests).
        return Ok(());
    }
    if body["model"].as_str().is_none_or(str::is_empty) {
        return Err("`model` is missing".into());
    }
    let messages = body["messages"]
        .as_array()
        .filter(|m| !m.is_empty())
        .ok_or("`messages` is missing or empty")?;
    let mut calls: HashSet<&str> = HashSet::new();
    for (i, m) in messages.iter().enumerate() {
        match m["role"].as_str() {
            Some("system" | "user") => {}
            Some("assistant") => {
                for call in m["tool_calls"].as_array().into_iter().flatten() {
                    let id = call["id"]
                        .as_str()
                        .ok_or(format!("messages[{i}]: a tool call without an id"))?;
                    if call["function"]["name"].as_str().is_none_or(str::is_empty) {
                        return Err(format!(
                            "messages[{i}]: tool call {id} has no function name"
                        ));
                    }
                    calls.insert(id);
                }
            }
            Some("tool") => {
                let id = m["tool_call_id"].as_str().unwrap_or_default();
                if !calls.contains(id) {
                    return Err(format!(
                        "messages[{i}]: tool result for {id:?}, which no earlier assistant message called"
                    ));
                }
            }
            other => return Err(format!("messages[{i}]: unknown role {other:?}")),
        }
        if m.get("content").is_none() && m.get("tool_calls").is_none() {
            return Err(format!("messages[{i}]: neither content nor tool_calls"));
        }
    }
    if let Some(tools) = body.get("tools").filter(|t| !t.is_null()) {
        let ok = tools.as_array().is_some_and(|t| {
            t.iter()
                .all(|t| t["type"] == "function" && t["function"]["name"].is_string())
        });
        if !ok {
            return Err("`tools` must be a list of {type: function, function: {name, ...}}".into());
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn chat(body: serde_json::Value) -> RecordedRequest {
        RecordedRequest {
            method: "POST".into(),
            path: "/v1/chat/completions".into(),
            headers: Vec::new(),
            raw_body: body.to_string().into_bytes(),
            body,
        }
    }

    #[test]
    fn a_tool_result_must_answer_an_earlier_call() {
        let honest = json!({"model": "m", "messages": [
            {"role": "user", "content": "hi"},
            {"role": "assistant", "content": null, "tool_calls": [
                {"id": "c1", "type": "function", "function": {"name": "read_file", "arguments": "{}"}}]},
            {"role": "tool", "tool_call_id": "c1", "content": "x"}]});
        assert_eq!(openai_chat(&chat(honest)), Ok(()));
        let orphan = json!({"model": "m", "messages": [
            {"role": "user", "content": "hi"},
            {"role": "tool", "tool_call_id": "c9", "content": "x"}]});
        assert!(openai_chat(&chat(orphan)).unwrap_err().contains("c9"));
        let no_model = json!({"messages": [{"role": "user", "content": "hi"}]});
        assert!(openai_chat(&chat(no_model)).is_err());
    }
}
