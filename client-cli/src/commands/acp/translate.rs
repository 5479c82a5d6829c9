//! Daemon events as ACP `session/update`s. Pure: one [`Translator`] per session keeps what
//! the editor was already shown (streamed text, the running tool call, the session's cost),
//! so a replayed delta or a later `assistant.message` is never shown twice (invariant I2).

use std::collections::HashMap;
use std::path::{Path, PathBuf};

use agent_client_protocol::v1::schema::{
    ContentBlock, ContentChunk, Cost, SessionUpdate, StopReason, TextContent, ToolCall,
    ToolCallContent, ToolCallId, ToolCallLocation, ToolCallStatus, ToolCallUpdate,
    ToolCallUpdateFields, ToolKind, UsageUpdate,
};
use botcoder_protocol::{ApprovalDecision, EventBody, TurnError, TurnStatus};

use super::diff::unified_to_diffs;

/// Most bytes of a tool's output shown in the editor; the journal keeps the whole output.
const MAX_TOOL_OUTPUT_SHOWN: usize = 64 * 1024;

/// Turns one session's events into updates for the editor.
#[derive(Debug)]
pub struct Translator {
    root: PathBuf,
    /// Context window of the session's model, when the daemon knows it.
    context_window: Option<u64>,
    reply: Stream,
    thought: Stream,
    /// The tool call running now: `file.changed` belongs to it.
    current_call: Option<String>,
    /// Content already shown per call (who decided, diffs), kept when the result arrives.
    diffs: HashMap<String, Vec<ToolCallContent>>,
    cost_usd: f64,
}

/// What of one streamed text (a reply or its reasoning) the editor has.
#[derive(Debug, Default)]
struct Stream {
    shown: usize,
}

impl Stream {
    /// The unseen part of a delta at `offset`.
    fn delta(&mut self, offset: u64, text: &str) -> Option<String> {
        let offset = usize::try_from(offset).ok()?;
        let end = offset + text.len();
        if end <= self.shown || offset > self.shown {
            // Already shown, or a gap after `lagged` (the complete text fills it).
            return None;
        }
        let new = text.get(self.shown - offset..)?;
        self.shown = end;
        Some(new.to_owned())
    }

    /// The unseen rest of the complete text; the stream starts over.
    fn complete(&mut self, text: &str) -> Option<String> {
        let rest = text.get(self.shown..).unwrap_or_default();
        self.shown = 0;
        (!rest.is_empty()).then(|| rest.to_owned())
    }
}

impl Translator {
    /// A translator for a session whose project is `root`.
    pub fn new(root: PathBuf, context_window: Option<u64>) -> Self {
        Translator {
            root,
            context_window,
            reply: Stream::default(),
            thought: Stream::default(),
            current_call: None,
            diffs: HashMap::new(),
            cost_usd: 0.0,
        }
    }

    /// The updates that show `body` in the editor (often none).
    pub fn updates(&mut self, body: &EventBody) -> Vec<SessionUpdate> {
        let mut out = Vec::new();
        match body {
            EventBody::UserMessage { text, .. } => {
                out.push(SessionUpdate::UserMessageChunk(chunk(text)));
            }
            EventBody::AssistantDelta { offset, text, .. } => {
                if let Some(t) = self.reply.delta(*offset, text) {
                    out.push(SessionUpdate::AgentMessageChunk(chunk(&t)));
                }
            }
            EventBody::AssistantMessage { text, .. } => {
                if let Some(t) = self.reply.complete(text) {
                    out.push(SessionUpdate::AgentMessageChunk(chunk(&t)));
                }
            }
            EventBody::AssistantReasoningDelta { offset, text, .. } => {
                if let Some(t) = self.thought.delta(*offset, text) {
                    out.push(SessionUpdate::AgentThoughtChunk(chunk(&t)));
                }
            }
            EventBody::AssistantReasoning { text, .. } => {
                if let Some(t) = self.thought.complete(text) {
                    out.push(SessionUpdate::AgentThoughtChunk(chunk(&t)));
                }
            }
            EventBody::ToolCall {
                call_id,
                name,
                args,
                ..
            } => {
                self.current_call = Some(call_id.clone());
                let call = ToolCall::new(ToolCallId::new(call_id.as_str()), title(name, args))
                    .kind(tool_kind(name))
                    .status(ToolCallStatus::Pending)
                    .locations(locations(&self.root, args))
                    .raw_input(args.clone());
                out.push(SessionUpdate::ToolCall(call));
            }
            EventBody::ApprovalResolved {
                call_id,
                decision,
                decided_by,
                ..
            } => {
                // Every client sees who decided; the note stays with the call's content.
                let (verb, status) = match decision {
                    ApprovalDecision::Deny => ("denied", ToolCallStatus::Failed),
                    ApprovalDecision::Allow => ("allowed", ToolCallStatus::InProgress),
                    ApprovalDecision::AllowSession => {
                        ("allowed for the session", ToolCallStatus::InProgress)
                    }
                };
                let shown = self.diffs.entry(call_id.clone()).or_default();
                shown.push(text_content(&format!("{verb} by {decided_by}")));
                let fields = ToolCallUpdateFields::new()
                    .status(status)
                    .content(shown.clone());
                out.push(update(call_id, fields));
            }
            EventBody::FileChanged { path, diff, .. } => {
                if let Some(call) = self.current_call.clone() {
                    let content: Vec<ToolCallContent> = unified_to_diffs(&self.root, path, diff)
                        .into_iter()
                        .map(ToolCallContent::Diff)
                        .collect();
                    let shown = self.diffs.entry(call.clone()).or_default();
                    shown.extend(content);
                    let fields = ToolCallUpdateFields::new()
                        .status(ToolCallStatus::InProgress)
                        .content(shown.clone());
                    out.push(update(&call, fields));
                }
            }
            EventBody::ToolResult {
                call_id,
                ok,
                output,
                exit_code,
                ..
            } => {
                if self.current_call.as_deref() == Some(call_id) {
                    self.current_call = None;
                }
                let mut content = self.diffs.remove(call_id).unwrap_or_default();
                if !output.is_empty() {
                    content.push(text_content(&shorten(output)));
                }
                let status = if *ok {
                    ToolCallStatus::Completed
                } else {
                    ToolCallStatus::Failed
                };
                let raw = serde_json::json!({"ok": ok, "exit_code": exit_code});
                let fields = ToolCallUpdateFields::new()
                    .status(status)
                    .content(content)
                    .raw_output(raw);
                out.push(update(call_id, fields));
            }
            EventBody::Usage {
                input_tokens,
                output_tokens,
                cost_usd,
                ..
            } => {
                self.cost_usd += cost_usd.unwrap_or(0.0);
                // ACP needs the window size; without it there is no honest figure to send.
                if let Some(size) = self.context_window {
                    let mut usage = UsageUpdate::new(input_tokens + output_tokens, size);
                    if self.cost_usd > 0.0 {
                        usage = usage.cost(Cost::new(self.cost_usd, "USD"));
                    }
                    out.push(SessionUpdate::UsageUpdate(usage));
                }
            }
            EventBody::TurnCompleted { .. } => {
                // A reply cut short without a final message: the next one starts at 0.
                self.reply = Stream::default();
                self.thought = Stream::default();
                self.current_call = None;
            }
            _ => {}
        }
        out
    }
}

/// What a finished turn means for the `session/prompt` that started it: a stop reason, or
/// an error message when it failed.
pub fn stop_reason(status: TurnStatus, error: Option<&TurnError>) -> Result<StopReason, String> {
    match status {
        TurnStatus::Completed => Ok(StopReason::EndTurn),
        TurnStatus::Cancelled => Ok(StopReason::Cancelled),
        TurnStatus::Failed | TurnStatus::Interrupted => match error.map(|e| e.kind) {
            Some(botcoder_protocol::ErrorKind::IterationLimit) => Ok(StopReason::MaxTurnRequests),
            _ => Err(error.map_or_else(
                || "the turn was interrupted (the daemon stopped); send the prompt again".into(),
                |e| e.message.clone(),
            )),
        },
    }
}

/// The ACP kind of a daemon tool, by what it does.
pub fn tool_kind(name: &str) -> ToolKind {
    match name {
        "read_file" => ToolKind::Read,
        "write_file" | "edit_file" | "apply_delta" => ToolKind::Edit,
        "list_files" | "search" => ToolKind::Search,
        "execute_command" | "git" => ToolKind::Execute,
        n if n.contains("fetch") => ToolKind::Fetch,
        _ => ToolKind::Other,
    }
}

/// A one-line title for a call, from its arguments.
pub fn title(name: &str, args: &serde_json::Value) -> String {
    let s = |k: &str| args.get(k).and_then(serde_json::Value::as_str);
    let t = match name {
        "read_file" => s("path").map(|p| format!("Read {p}")),
        "write_file" => s("path").map(|p| format!("Write {p}")),
        "edit_file" => s("path").map(|p| format!("Edit {p}")),
        "apply_delta" => Some("Apply changes".to_owned()),
        "list_files" => Some(format!("List {}", s("path").unwrap_or("files"))),
        "search" => s("pattern").map(|p| format!("Search {p:?}")),
        "execute_command" => s("command").map(|c| format!("Run `{c}`")),
        "git" => Some(match args.get("args") {
            Some(serde_json::Value::Array(a)) => {
                let words: Vec<&str> = a.iter().filter_map(serde_json::Value::as_str).collect();
                format!("git {}", words.join(" "))
            }
            _ => "git".to_owned(),
        }),
        _ => None,
    };
    let t = t.unwrap_or_else(|| name.to_owned());
    // Titles are one line: a multi-line command shows its first line.
    match t.split_once('\n') {
        Some((first, _)) => format!("{first} …"),
        None => t,
    }
}

/// The files a call touches, as absolute paths (ACP wants them so).
pub fn locations(root: &Path, args: &serde_json::Value) -> Vec<ToolCallLocation> {
    let Some(path) = args.get("path").and_then(serde_json::Value::as_str) else {
        return Vec::new();
    };
    let line = args
        .get("offset")
        .and_then(serde_json::Value::as_u64)
        .and_then(|l| u32::try_from(l).ok());
    vec![ToolCallLocation::new(root.join(path)).line(line)]
}

/// A `tool_call_update` for `call_id`.
pub fn update(call_id: &str, fields: ToolCallUpdateFields) -> SessionUpdate {
    SessionUpdate::ToolCallUpdate(ToolCallUpdate::new(ToolCallId::new(call_id), fields))
}

/// Text as one content block of a chunk.
pub fn chunk(text: &str) -> ContentChunk {
    ContentChunk::new(ContentBlock::Text(TextContent::new(text)))
}

/// Text as tool call content.
pub fn text_content(text: &str) -> ToolCallContent {
    ToolCallContent::from(ContentBlock::Text(TextContent::new(text)))
}

/// Diff content as ACP shows it, from an approval's unified diff.
pub fn approval_content(root: &Path, diff: Option<&str>) -> Vec<ToolCallContent> {
    let Some(diff) = diff else { return Vec::new() };
    unified_to_diffs(root, "", diff)
        .into_iter()
        .map(ToolCallContent::Diff)
        .collect::<Vec<_>>()
}

fn shorten(output: &str) -> String {
    if output.len() <= MAX_TOOL_OUTPUT_SHOWN {
        return output.to_owned();
    }
    let mut end = MAX_TOOL_OUTPUT_SHOWN;
    while !output.is_char_boundary(end) {
        end -= 1;
    }
    format!(
        "{}\n… (output cut; the session journal has all of it)",
        &output[..end]
    )
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used)]
    use super::*;
    use botcoder_protocol::TurnId;
    use pretty_assertions::assert_eq;

    fn texts(updates: &[SessionUpdate]) -> Vec<String> {
        updates
            .iter()
            .filter_map(|u| match u {
                SessionUpdate::AgentMessageChunk(c) | SessionUpdate::AgentThoughtChunk(c) => {
                    match &c.content {
                        ContentBlock::Text(t) => Some(t.text.clone()),
                        _ => None,
                    }
                }
                _ => None,
            })
            .collect()
    }

    #[test]
    fn replayed_deltas_and_the_final_message_are_shown_once() {
        let mut tr = Translator::new("/p".into(), None);
        let turn = TurnId("t1".into());
        let delta = |offset: u64, text: &str| EventBody::AssistantDelta {
            turn_id: turn.clone(),
            offset,
            text: text.into(),
        };
        let mut shown = Vec::new();
        for body in [
            delta(0, "hel"),
            delta(0, "hel"), // replayed on attach
            delta(3, "lo "),
            EventBody::AssistantMessage {
                turn_id: turn.clone(),
                text: "hello world".into(),
                partial: false,
            },
        ] {
            shown.extend(texts(&tr.updates(&body)));
        }
        assert_eq!(shown, ["hel", "lo ", "world"]);
    }

    #[test]
    fn turn_endings_become_stop_reasons_or_errors() {
        let err = |kind: botcoder_protocol::ErrorKind| TurnError {
            kind,
            message: format!("{} happened", kind.as_str()),
        };
        assert_eq!(
            stop_reason(TurnStatus::Completed, None),
            Ok(StopReason::EndTurn)
        );
        assert_eq!(
            stop_reason(TurnStatus::Cancelled, None),
            Ok(StopReason::Cancelled)
        );
        assert_eq!(
            stop_reason(
                TurnStatus::Failed,
                Some(&err(botcoder_protocol::ErrorKind::IterationLimit))
            ),
            Ok(StopReason::MaxTurnRequests)
        );
        assert_eq!(
            stop_reason(
                TurnStatus::Failed,
                Some(&err(botcoder_protocol::ErrorKind::RateLimited))
            ),
            Err("rate_limited happened".to_owned())
        );
    }

    #[test]
    fn calls_get_a_kind_a_one_line_title_and_absolute_locations() {
        let args = serde_json::json!({"command": "cargo test\necho hi"});
        assert_eq!(tool_kind("execute_command"), ToolKind::Execute);
        assert_eq!(tool_kind("edit_file"), ToolKind::Edit);
        assert_eq!(tool_kind("mcp__x__thing"), ToolKind::Other);
        assert_eq!(title("execute_command", &args), "Run `cargo test …");
        let locs = locations(Path::new("/p"), &serde_json::json!({"path": "src/a.rs"}));
        assert_eq!(locs, vec![ToolCallLocation::new("/p/src/a.rs")]);
    }
}
