//! How much one provider answer may make the daemon hold (I10).
//!
//! A provider is an input like any other: a broken or hostile server can send one endless
//! SSE event, a multi-gigabyte error body, an endless reply or thousands of tool calls.
//! Every such input has a cap here; passing one fails the request with `limit_exceeded` and a
//! message naming the cap and the setting that raises it. The defaults are generous: a long
//! real reply (100k output tokens) is about 400 KB, far below them.

use botcoder_protocol::ErrorKind;

use super::{ProviderError, ProviderEvent};

/// Most bytes of an error response body that are read (the rest is dropped with the
/// connection); enough for any real JSON error.
pub const MAX_ERROR_BODY: usize = 64 * 1024;

/// The caps on one provider answer.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ProviderLimits {
    /// One SSE event, its pending unterminated line included (`BOTCODER_MAX_SSE_EVENT_BYTES`).
    pub sse_event_bytes: usize,
    /// One reply: its text, reasoning and every tool call's arguments
    /// (`BOTCODER_MAX_REPLY_BYTES`).
    pub reply_bytes: usize,
    /// One tool call's arguments (`BOTCODER_MAX_TOOL_ARGS_BYTES`).
    pub tool_args_bytes: usize,
    /// Tool calls in one reply (`BOTCODER_MAX_TOOL_CALLS`).
    pub tool_calls: usize,
}

impl Default for ProviderLimits {
    fn default() -> Self {
        ProviderLimits {
            sse_event_bytes: 8 * 1024 * 1024,
            reply_bytes: 8 * 1024 * 1024,
            tool_args_bytes: 4 * 1024 * 1024,
            tool_calls: 128,
        }
    }
}

/// The error of a passed cap.
pub fn exceeded(provider: &str, what: &str, limit: usize, var: &str) -> ProviderError {
    ProviderError::fatal(
        ErrorKind::LimitExceeded,
        format!(
            "{provider}: {what} exceeded {limit} bytes, so the reply was abandoned ({var} raises the limit)"
        ),
    )
}

/// The error of too many tool calls in one reply. The turn fails rather than running some:
/// a reply asking for more is a runaway or hostile model, and running a prefix of its calls
/// would act on a plan it had not finished stating.
pub fn too_many_calls(provider: &str, limit: usize) -> ProviderError {
    ProviderError::fatal(
        ErrorKind::LimitExceeded,
        format!(
            "{provider}: the model asked for more than {limit} tool calls in one reply \
             (BOTCODER_MAX_TOOL_CALLS raises the limit)"
        ),
    )
}

/// Whether `e` is the too-many-tool-calls cap (which the agent loop turns into a note to the
/// model rather than a failed turn).
pub fn is_too_many_calls(e: &ProviderError) -> bool {
    e.kind == ErrorKind::LimitExceeded && e.message.contains(TOO_MANY_CALLS)
}

const TOO_MANY_CALLS: &str = "tool calls in one reply";

/// Counts one reply against the caps, event by event.
#[derive(Debug)]
pub struct ReplyBudget {
    limits: ProviderLimits,
    total: usize,
    /// Argument bytes by tool-call index (indexes below `limits.tool_calls` only).
    args: Vec<usize>,
    calls: usize,
}

impl ReplyBudget {
    /// A fresh budget.
    pub fn new(limits: ProviderLimits) -> Self {
        ReplyBudget {
            limits,
            total: 0,
            args: Vec::new(),
            calls: 0,
        }
    }

    /// Checks one event; `Err` once a cap is passed.
    pub fn check(&mut self, provider: &str, ev: &ProviderEvent) -> Result<(), ProviderError> {
        let l = self.limits;
        let added = match ev {
            // Reasoning streams like text and is held like it: the same cap.
            ProviderEvent::TextDelta(t) | ProviderEvent::ReasoningDelta(t) => t.len(),
            ProviderEvent::ToolCallStart { index, .. } => {
                self.calls += 1;
                if self.calls > l.tool_calls || *index >= l.tool_calls {
                    return Err(too_many_calls(provider, l.tool_calls));
                }
                0
            }
            ProviderEvent::ToolCallArgsDelta { index, text } => {
                if *index >= l.tool_calls {
                    return Err(too_many_calls(provider, l.tool_calls));
                }
                if self.args.len() <= *index {
                    self.args.resize(index + 1, 0);
                }
                self.args[*index] += text.len();
                if self.args[*index] > l.tool_args_bytes {
                    return Err(exceeded(
                        provider,
                        "one tool call's arguments",
                        l.tool_args_bytes,
                        "BOTCODER_MAX_TOOL_ARGS_BYTES",
                    ));
                }
                text.len()
            }
            _ => 0,
        };
        self.total += added;
        if self.total > l.reply_bytes {
            return Err(exceeded(
                provider,
                "the reply (text and tool-call arguments)",
                l.reply_bytes,
                "BOTCODER_MAX_REPLY_BYTES",
            ));
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn small() -> ProviderLimits {
        ProviderLimits {
            sse_event_bytes: 64,
            reply_bytes: 20,
            tool_args_bytes: 8,
            tool_calls: 2,
        }
    }

    fn start(index: usize) -> ProviderEvent {
        ProviderEvent::ToolCallStart {
            index,
            id: format!("c{index}"),
            name: "read_file".into(),
        }
    }

    fn args(index: usize, text: &str) -> ProviderEvent {
        ProviderEvent::ToolCallArgsDelta {
            index,
            text: text.into(),
        }
    }

    #[test]
    fn text_within_the_cap_passes_and_past_it_names_the_setting() {
        let mut b = ReplyBudget::new(small());
        for _ in 0..4 {
            b.check("p", &ProviderEvent::TextDelta("abcde".into()))
                .unwrap();
        }
        let err = b
            .check("p", &ProviderEvent::TextDelta("x".into()))
            .unwrap_err();
        assert_eq!(err.kind, ErrorKind::LimitExceeded);
        assert!(err.message.contains("BOTCODER_MAX_REPLY_BYTES"), "{err}");
        assert!(!err.retryable);
    }

    #[test]
    fn arguments_are_capped_per_call_and_calls_per_reply() {
        let mut b = ReplyBudget::new(small());
        b.check("p", &start(0)).unwrap();
        b.check("p", &args(0, "12345678")).unwrap();
        let err = b.check("p", &args(0, "9")).unwrap_err();
        assert!(
            err.message.contains("BOTCODER_MAX_TOOL_ARGS_BYTES"),
            "{err}"
        );

        let mut b = ReplyBudget::new(small());
        b.check("p", &start(0)).unwrap();
        b.check("p", &start(1)).unwrap();
        let err = b.check("p", &start(2)).unwrap_err();
        assert!(err.message.contains("BOTCODER_MAX_TOOL_CALLS"), "{err}");
        // A hostile index is refused before anything is allocated for it.
        let mut b = ReplyBudget::new(small());
        assert!(b.check("p", &args(usize::MAX, "x")).is_err());
    }
}
