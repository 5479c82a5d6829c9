//! What crosses between an MCP server and the model: tool names, input schemas in a dialect
//! every provider accepts, and call results as text for the model.
//!
//! Both wire formats carry the schema as it is (OpenAI `parameters`, Anthropic
//! `input_schema`), and neither runs in strict mode here, so one adaptation serves both:
//! what either one refuses is removed. OpenAI refuses a top-level schema that is not
//! `type: object` or has `oneOf`/`anyOf`/`allOf`/`enum`/`not` at the top; Anthropic requires
//! `type: object`; both refuse tool names outside `[A-Za-z0-9_-]{1,64}`.

use serde_json::{Map, Value, json};

/// Prefix of every MCP tool name offered to the model.
pub const PREFIX: &str = "mcp__";
/// Longest tool name the providers accept.
const MAX_NAME: usize = 64;
/// Longest result text handed to the model (bytes); the rest is cut with a note.
pub const MAX_RESULT: usize = 64 * 1024;
/// Longest description offered to the model.
const MAX_DESCRIPTION: usize = 2048;

/// `mcp__<server>__<tool>`, with characters providers refuse replaced by `_` and cut to the
/// providers' length limit. `None` when nothing of the tool's name would be left.
pub fn tool_name(server: &str, tool: &str) -> Option<String> {
    let clean: String = tool
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || c == '_' || c == '-' {
                c
            } else {
                '_'
            }
        })
        .collect();
    let name = format!("{PREFIX}{server}__{clean}");
    let head = PREFIX.len() + server.len() + 2;
    if clean.is_empty() || head >= MAX_NAME {
        return None;
    }
    Some(name.chars().take(MAX_NAME).collect())
}

/// The server part of an offered MCP tool name.
pub fn server_of(name: &str) -> Option<&str> {
    let rest = name.strip_prefix(PREFIX)?;
    rest.split_once("__").map(|(s, _)| s)
}

/// An input schema both providers accept, keeping every property the server described.
pub fn schema(input: &Map<String, Value>) -> Value {
    let mut s = input.clone();
    for k in ["$schema", "$id", "oneOf", "anyOf", "allOf", "enum", "not"] {
        s.remove(k);
    }
    s.insert("type".into(), json!("object"));
    if !s.get("properties").is_some_and(Value::is_object) {
        s.insert("properties".into(), json!({}));
    }
    if s.get("required").is_some_and(|r| !r.is_array()) {
        s.remove("required");
    }
    Value::Object(s)
}

/// The description offered to the model: the server's, capped, and the server named so the
/// model (and a person reading the request) knows where the tool comes from.
pub fn description(server: &str, title: Option<&str>, description: Option<&str>) -> String {
    let text = description.or(title).unwrap_or("").trim();
    let text = cut(text, MAX_DESCRIPTION);
    if text.is_empty() {
        format!("(MCP server {server})")
    } else {
        format!("{text} (MCP server {server})")
    }
}

/// A `tools/call` result as the model reads it: `ok` is false for an `isError` result.
/// Text blocks pass as they are, `structuredContent` as JSON (unless a text block already
/// carries the same JSON), images, audio and resources as a note of what they were.
pub fn result(value: &Value) -> (bool, String, bool) {
    let ok = value.get("isError").and_then(Value::as_bool) != Some(true);
    let mut parts: Vec<String> = Vec::new();
    let blocks = value.get("content").and_then(Value::as_array);
    for block in blocks.into_iter().flatten() {
        let kind = block.get("type").and_then(Value::as_str).unwrap_or("");
        let mime = block
            .get("mimeType")
            .and_then(Value::as_str)
            .unwrap_or("unknown type");
        match kind {
            "text" => parts.push(block["text"].as_str().unwrap_or("").to_owned()),
            "image" | "audio" => {
                let bytes = block["data"].as_str().map_or(0, |d| d.len() * 3 / 4);
                parts.push(format!(
                    "[{kind} ({mime}, about {bytes} bytes) returned; not shown to the model]"
                ));
            }
            "resource" => {
                let r = &block["resource"];
                let uri = r["uri"].as_str().unwrap_or("?");
                match r.get("text").and_then(Value::as_str) {
                    Some(t) => parts.push(format!("[resource {uri}]\n{t}")),
                    None => parts.push(format!(
                        "[resource {uri} ({}) returned as binary; not shown]",
                        r["mimeType"].as_str().unwrap_or("unknown type")
                    )),
                }
            }
            "resource_link" => parts.push(format!(
                "[resource link {} {}]",
                block["uri"].as_str().unwrap_or("?"),
                block["name"].as_str().unwrap_or("")
            )),
            other => parts.push(format!("[content of type {other:?} not shown]")),
        }
    }
    if let Some(structured) = value.get("structuredContent").filter(|v| !v.is_null()) {
        let already = parts
            .iter()
            .any(|p| serde_json::from_str::<Value>(p).ok().as_ref() == Some(structured));
        if !already {
            parts.push(format!("structuredContent: {structured}"));
        }
    }
    let text = if parts.is_empty() {
        "(the tool returned no content)".to_owned()
    } else {
        parts.join("\n")
    };
    let truncated = text.len() > MAX_RESULT;
    let mut text = cut(&text, MAX_RESULT).to_owned();
    if truncated {
        text.push_str("\n[botcoder: the result was cut at 64 KiB]");
    }
    (ok, text, truncated)
}

fn cut(s: &str, max: usize) -> &str {
    if s.len() <= max {
        return s;
    }
    let mut end = max;
    while !s.is_char_boundary(end) {
        end -= 1;
    }
    &s[..end]
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used)]
    use super::*;
    use pretty_assertions::assert_eq;

    #[test]
    fn names_are_what_providers_accept() {
        assert_eq!(
            tool_name("everything", "get-sum").as_deref(),
            Some("mcp__everything__get-sum")
        );
        assert_eq!(
            tool_name("fs", "read.file/x").as_deref(),
            Some("mcp__fs__read_file_x")
        );
        assert_eq!(tool_name("fs", "t".repeat(100).as_str()).unwrap().len(), 64);
        assert_eq!(tool_name("fs", ""), None);
        assert_eq!(server_of("mcp__everything__get-sum"), Some("everything"));
        assert_eq!(server_of("read_file"), None);
    }

    #[test]
    fn schemas_become_plain_objects() {
        let input = json!({"$schema": "http://json-schema.org/draft-07/schema#", "type": "object",
            "properties": {"a": {"type": "number"}}, "required": ["a"], "additionalProperties": false});
        assert_eq!(
            schema(input.as_object().unwrap()),
            json!({"type": "object", "properties": {"a": {"type": "number"}}, "required": ["a"],
                "additionalProperties": false})
        );
        let bare = json!({"anyOf": [{"type": "object"}]});
        assert_eq!(
            schema(bare.as_object().unwrap()),
            json!({"type": "object", "properties": {}})
        );
    }

    #[test]
    fn results_carry_text_structured_content_and_notes() {
        let r = json!({"content": [{"type": "text", "text": "The sum of 2 and 3 is 5."},
            {"type": "image", "mimeType": "image/png", "data": "AAAA"}],
            "structuredContent": {"sum": 5}});
        assert_eq!(
            result(&r),
            (
                true,
                "The sum of 2 and 3 is 5.\n[image (image/png, about 3 bytes) returned; not shown to the model]\nstructuredContent: {\"sum\":5}".to_owned(),
                false
            )
        );
        let same = json!({"content": [{"type": "text", "text": "{\"sum\":5}"}], "structuredContent": {"sum": 5}});
        assert_eq!(result(&same).1, "{\"sum\":5}");
        let err = json!({"content": [{"type": "text", "text": "bad input"}], "isError": true});
        assert_eq!(result(&err), (false, "bad input".to_owned(), false));
        let big = json!({"content": [{"type": "text", "text": "x".repeat(MAX_RESULT + 10)}]});
        let (_, text, truncated) = result(&big);
        assert!(truncated && text.ends_with("cut at 64 KiB]"));
    }
}
