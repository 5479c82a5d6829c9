//! Fitting a request into the model's context window (minus the reply budget). Oldest tool
//! outputs are shortened first, then the oldest exchanges are dropped; the system prompt
//! (with AGENTS.md) and the latest user message with what follows it are always kept. When
//! even that does not fit, the request is refused with a message rather than being silently
//! truncated by the server.
//!
//! Before that, near the limit, the oldest part is summarised instead (see `compact`):
//! [`summary_cut`] picks where, never between a tool call and its result.

use crate::llm::{ChatMessage, ChatRequest};

/// Rough token count: about four bytes per token, plus a little per message.
pub fn estimate_tokens(text: &str) -> u64 {
    (text.len() as u64).div_ceil(4) + 4
}

/// Estimated tokens of one message.
pub fn message_tokens(m: &ChatMessage) -> u64 {
    match m {
        ChatMessage::User(t) => estimate_tokens(t),
        ChatMessage::Assistant { text, tool_calls } => {
            estimate_tokens(text)
                + tool_calls
                    .iter()
                    .map(|c| estimate_tokens(&c.arguments) + 8)
                    .sum::<u64>()
        }
        ChatMessage::ToolResult { output, .. } => estimate_tokens(output) + 8,
        ChatMessage::Reasoning { text, replay } => reasoning_tokens(text, replay.as_ref()),
    }
}

/// Tokens a reasoning message adds to a request: its replayed item when it has one (the
/// encrypted form is what is sent), else nothing is sent.
pub fn reasoning_tokens(text: &str, replay: Option<&serde_json::Value>) -> u64 {
    match replay {
        Some(v) => estimate_tokens(&v.to_string()).max(estimate_tokens(text)),
        None => 0,
    }
}

/// Estimated tokens of messages.
pub fn messages_tokens(messages: &[ChatMessage]) -> u64 {
    messages.iter().map(message_tokens).sum()
}

/// Estimated tokens of the tool definitions a request offers (their JSON).
pub fn tools_tokens(tools: &[crate::llm::ToolSpec]) -> u64 {
    if tools.is_empty() {
        return 0;
    }
    tools
        .iter()
        .map(|t| {
            estimate_tokens(&t.name)
                + estimate_tokens(&t.description)
                + estimate_tokens(&t.parameters.to_string())
        })
        .sum()
}

/// Estimated prompt tokens of a whole request: system prompt, tools and messages. The
/// provider's reported `input_tokens` is compared with this to correct later estimates.
pub fn request_tokens(request: &ChatRequest) -> u64 {
    request.system.as_deref().map_or(0, estimate_tokens)
        + tools_tokens(&request.tools)
        + messages_tokens(&request.messages)
}

/// Whether the kept part of a conversation may start at `m`: never at a tool result (its
/// call would be summarised away and every wire format rejects an answer without its call),
/// nor at the results of text-written calls (they answer the reply before them).
fn may_start_at(m: &ChatMessage) -> bool {
    match m {
        ChatMessage::ToolResult { .. } => false,
        ChatMessage::User(t) => !t.starts_with(super::conversation::TEXT_RESULTS_HEADER),
        _ => true,
    }
}

/// Where to cut `messages` for a summary: `messages[..cut]` are summarised and
/// `messages[cut..]` kept verbatim. The kept tail is as long as fits `keep_tokens`, but
/// always holds at least the last message with the call it answers, so a turn of many tool
/// calls is cut inside itself, between one reply's results and the next reply. `None` when
/// nothing would be left to summarise.
pub fn summary_cut(messages: &[ChatMessage], keep_tokens: u64) -> Option<usize> {
    let mut cut = messages.len();
    let mut tail = 0u64;
    for i in (0..messages.len()).rev() {
        tail += message_tokens(&messages[i]);
        if !may_start_at(&messages[i]) {
            continue;
        }
        if tail > keep_tokens && cut < messages.len() {
            break;
        }
        cut = i;
    }
    (cut > 0 && cut < messages.len()).then_some(cut)
}

/// How a request was made to fit.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Compaction {
    /// Estimated tokens before.
    pub before: u64,
    /// Estimated tokens after.
    pub after: u64,
    /// `tool_outputs_shortened` or `dropped`.
    pub method: &'static str,
}

/// Why a request cannot fit.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Overflow {
    /// Tokens needed at the least.
    pub needed: u64,
    /// Tokens available for the prompt.
    pub available: u64,
}

/// Shortened tool output kept in the context.
const SHORT_OUTPUT: usize = 400;

/// Makes `messages` fit `available` prompt tokens next to a system prompt of `system_tokens`.
pub fn fit(
    messages: &mut Vec<ChatMessage>,
    system_tokens: u64,
    available: u64,
) -> Result<Option<Compaction>, Overflow> {
    let total = |ms: &[ChatMessage]| system_tokens + ms.iter().map(message_tokens).sum::<u64>();
    let before = total(messages);
    if before <= available {
        return Ok(None);
    }
    // The latest user message and everything after it are the current exchange: never touched.
    let keep_from = messages
        .iter()
        .rposition(|m| matches!(m, ChatMessage::User(_)))
        .unwrap_or(0);
    let mut method = "tool_outputs_shortened";
    for m in messages[..keep_from].iter_mut() {
        if let ChatMessage::ToolResult { output, .. } = m
            && output.len() > SHORT_OUTPUT
        {
            *output = super::conversation::cap(output, SHORT_OUTPUT);
        }
    }
    let mut now = total(messages);
    if now > available {
        method = "dropped";
        let mut cut = 0;
        while now > available && cut < keep_from {
            now -= message_tokens(&messages[cut]);
            cut += 1;
        }
        // Never start with a tool result whose call was dropped: skip to a user message.
        while cut < keep_from && !matches!(messages[cut], ChatMessage::User(_)) {
            now -= message_tokens(&messages[cut]);
            cut += 1;
        }
        messages.drain(..cut);
    }
    if now > available {
        return Err(Overflow {
            needed: now,
            available,
        });
    }
    Ok(Some(Compaction {
        before,
        after: now,
        method,
    }))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::llm::ToolCallRequest;

    fn tr(out: &str) -> ChatMessage {
        ChatMessage::ToolResult {
            call_id: "c".into(),
            name: "n".into(),
            output: out.into(),
            is_error: false,
        }
    }

    fn call() -> ChatMessage {
        ChatMessage::Assistant {
            text: String::new(),
            tool_calls: vec![ToolCallRequest {
                id: "c".into(),
                name: "n".into(),
                arguments: "{}".into(),
            }],
        }
    }

    #[test]
    fn fits_untouched_when_small() {
        let mut m = vec![ChatMessage::User("hi".into())];
        assert_eq!(fit(&mut m, 10, 1000), Ok(None));
    }

    #[test]
    fn shortens_old_tool_output_before_dropping() {
        let big = "x".repeat(8000);
        let mut m = vec![
            ChatMessage::User("a".into()),
            call(),
            tr(&big),
            ChatMessage::User("now".into()),
        ];
        let c = fit(&mut m, 10, 500).unwrap().unwrap();
        assert_eq!(c.method, "tool_outputs_shortened");
        assert_eq!(m.len(), 4);
        assert!(c.after <= 500 && c.before > 2000);
    }

    #[test]
    fn drops_oldest_exchanges_but_keeps_the_latest_user_message() {
        let mut m = Vec::new();
        for i in 0..50 {
            m.push(ChatMessage::User(format!(
                "question {i} {}",
                "y".repeat(200)
            )));
            m.push(ChatMessage::assistant("z".repeat(200)));
        }
        m.push(ChatMessage::User("latest".into()));
        let c = fit(&mut m, 10, 600).unwrap().unwrap();
        assert_eq!(c.method, "dropped");
        assert_eq!(m.last(), Some(&ChatMessage::User("latest".into())));
        assert!(matches!(m.first(), Some(ChatMessage::User(_))));
        assert!(c.after <= 600);
    }

    fn user(t: &str) -> ChatMessage {
        ChatMessage::User(t.into())
    }

    #[test]
    fn the_summary_cut_never_separates_a_call_from_its_result() {
        // One long turn: a question, then many replies of a call and its result.
        let mut m = vec![user("do the thing")];
        for _ in 0..20 {
            m.push(call());
            m.push(tr(&"o".repeat(400)));
        }
        let cut = summary_cut(&m, 600).unwrap();
        assert!(cut > 1 && cut < m.len());
        assert!(
            matches!(m[cut], ChatMessage::Assistant { .. }),
            "{:?}",
            m[cut]
        );
        assert!(messages_tokens(&m[cut..]) <= 600);
        // The kept tail is never empty even when its first unit alone is over the budget.
        let cut = summary_cut(&m, 1).unwrap();
        assert_eq!(cut, m.len() - 2);
    }

    #[test]
    fn the_summary_cut_skips_results_of_text_calls_and_needs_something_to_summarise() {
        let results = format!(
            "{}### x -> ok\n",
            super::super::conversation::TEXT_RESULTS_HEADER
        );
        let m = vec![
            user("a"),
            ChatMessage::assistant("read_file(\"a\")"),
            user(&results),
            ChatMessage::assistant("done"),
        ];
        let cut = summary_cut(&m, 10_000);
        assert_eq!(
            cut, None,
            "everything fits the kept tail: nothing to summarise"
        );
        let cut = summary_cut(&m, 12).unwrap();
        assert_ne!(cut, 2);
        assert_eq!(summary_cut(&[user("only")], 0), None);
    }

    #[test]
    fn refuses_when_the_current_exchange_alone_is_too_big() {
        let mut m = vec![ChatMessage::User("q".repeat(10_000))];
        let err = fit(&mut m, 10, 100).unwrap_err();
        assert!(err.needed > err.available);
    }
}
