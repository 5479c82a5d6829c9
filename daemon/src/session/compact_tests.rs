#![allow(clippy::unwrap_used, clippy::expect_used)]

use super::super::ledger::{RATIO_MAX, RATIO_MIN};
use super::*;
use crate::llm::ToolCallRequest;
use botcoder_protocol::{Event, EventBody};
use pretty_assertions::assert_eq;

fn settings(pairs: &[(&str, &str)]) -> (CompactSettings, Vec<String>) {
    let typed = botcoder_config::Settings::from_vars(
        pairs.iter().copied(),
        &botcoder_config::Source::Environment,
    );
    let mut problems: Vec<String> = typed.problems.iter().map(|p| p.message.clone()).collect();
    let s = CompactSettings::from_settings(&typed, &mut problems);
    (s, problems)
}

#[test]
fn the_threshold_is_a_share_or_a_percentage_and_nonsense_is_a_problem() {
    assert_eq!(settings(&[]).0, CompactSettings::default());
    assert_eq!(
        settings(&[("BOTCODER_COMPACT_AT", "0.5")]).0.compact_at,
        0.5
    );
    assert_eq!(settings(&[("BOTCODER_COMPACT_AT", "70")]).0.compact_at, 0.7);
    let (s, p) = settings(&[("BOTCODER_CONTEXT_WINDOW", "3000")]);
    assert_eq!((s.context_window, p.len()), (Some(3000), 0));
    for bad in [
        ("BOTCODER_COMPACT_AT", "0"),
        ("BOTCODER_COMPACT_AT", "150"),
        ("BOTCODER_COMPACT_AT", "most"),
        ("BOTCODER_CONTEXT_WINDOW", "10"),
    ] {
        let (_, p) = settings(&[bad]);
        assert_eq!(p.len(), 1, "{bad:?}");
        assert!(p[0].contains(bad.0), "{p:?}");
    }
}

fn usage(cost: Option<f64>) -> EventBody {
    EventBody::Usage {
        turn_id: "t1".into(),
        input_tokens: 10,
        output_tokens: 5,
        cached_input_tokens: None,
        reasoning_tokens: None,
        cost_usd: cost,
    }
}

#[test]
fn the_ledger_sums_known_costs_and_bounds_the_estimate_correction() {
    let mut l = Ledger::default();
    l.apply(&usage(None));
    assert_eq!(l.cost_usd(), None, "no known price: no cost, not zero");
    l.apply(&usage(Some(0.25)));
    l.apply(&usage(Some(0.5)));
    assert_eq!(l.cost_usd(), Some(0.75));
    assert_eq!(l.ratio(), 1.0);
    l.calibrate(1000, 1500);
    assert_eq!(l.ratio(), 1.5);
    l.calibrate(1000, 10);
    assert_eq!(l.ratio(), RATIO_MIN);
    l.calibrate(10, 1_000_000);
    assert_eq!(l.ratio(), RATIO_MAX);
    l.calibrate(0, 5);
    assert_eq!(
        l.ratio(),
        RATIO_MAX,
        "nothing learned from an empty estimate"
    );
}

fn call(id: &str) -> ChatMessage {
    ChatMessage::Assistant {
        text: "looking".into(),
        tool_calls: vec![ToolCallRequest {
            id: id.into(),
            name: "read_file".into(),
            arguments: r#"{"path":"src/lib.rs"}"#.into(),
        }],
    }
}

fn result(id: &str, out: &str) -> ChatMessage {
    ChatMessage::ToolResult {
        call_id: id.into(),
        name: "read_file".into(),
        output: out.into(),
        is_error: false,
    }
}

#[test]
fn the_transcript_shows_every_kind_of_message_and_is_bounded() {
    let m = vec![
        ChatMessage::User("fix the bug".into()),
        call("c1"),
        result("c1", "fn main() {}"),
    ];
    let t = transcript(&m, 10_000);
    assert_eq!(
        t,
        "## user\nfix the bug\n\n## assistant\nlooking\n-> read_file({\"path\":\"src/lib.rs\"})\n\n## result of read_file\nfn main() {}"
    );
    let big = vec![
        ChatMessage::User("x".repeat(50_000)),
        result("c", &"y".repeat(50_000)),
    ];
    let t = transcript(&big, 4000);
    assert!(t.len() < 4200 && t.contains("bytes cut"), "{}", t.len());
}

#[test]
fn the_replacement_keeps_the_latest_user_words_verbatim_within_budget() {
    let m = vec![
        ChatMessage::User("first: use tabs".into()),
        ChatMessage::assistant("ok"),
        ChatMessage::User(format!("{TEXT_RESULTS_HEADER}### x -> ok\n")),
        ChatMessage::User("second: and no unsafe".into()),
        call("c1"),
        result("c1", "out"),
    ];
    let r = replacement("SUMMARY", &m, 1000);
    assert_eq!(
        r,
        format!(
            "{SUMMARY_HEADER}\n\nSUMMARY\n\n[The user's own messages from that part, verbatim, oldest first:]\n---\nfirst: use tabs\n---\nsecond: and no unsafe"
        )
    );
    // A small budget keeps only the latest.
    let r = replacement("S", &m, 25);
    assert!(
        r.ends_with("---\nsecond: and no unsafe") && !r.contains("use tabs"),
        "{r}"
    );
    // An earlier summary is not quoted as the user's words.
    let again = vec![
        ChatMessage::User(r.clone()),
        ChatMessage::User("third".into()),
    ];
    let r2 = replacement("S2", &again, 10_000);
    assert_eq!(r2.matches(SUMMARY_HEADER).count(), 1, "{r2}");
    assert!(r2.ends_with("---\nthird"));
}

fn ev(seq: u64, body: EventBody) -> Event {
    Event {
        seq: Some(seq),
        session_id: "s".into(),
        time: String::new(),
        body,
    }
}

#[test]
fn the_fold_replaces_the_summarised_messages_and_keeps_the_rest() {
    use super::super::conversation::Conversation;
    let mut c = Conversation::default();
    let mut seq = 0;
    let mut push = |c: &mut Conversation, body: EventBody| {
        seq += 1;
        c.apply(&ev(seq, body));
    };
    for (t, text) in [("t1", "one"), ("t2", "two")] {
        push(
            &mut c,
            EventBody::UserMessage {
                turn_id: t.into(),
                text: text.into(),
                client: "c".into(),
            },
        );
        push(
            &mut c,
            EventBody::TurnStarted {
                turn_id: t.into(),
                provider: None,
                model: None,
            },
        );
        push(
            &mut c,
            EventBody::AssistantMessage {
                turn_id: t.into(),
                text: format!("answer {text}"),
                partial: false,
            },
        );
    }
    push(
        &mut c,
        EventBody::ContextCompacted {
            turn_id: "t2".into(),
            before_tokens: 100,
            after_tokens: 50,
            method: "summarized".into(),
            summary: Some("SUM".into()),
            summarized_messages: Some(2),
        },
    );
    assert_eq!(
        c.messages(),
        &[
            ChatMessage::User("SUM".into()),
            ChatMessage::User("two".into()),
            ChatMessage::assistant("answer two"),
        ]
    );
    // The older methods leave the conversation alone (they fit each request anew).
    push(
        &mut c,
        EventBody::ContextCompacted {
            turn_id: "t2".into(),
            before_tokens: 100,
            after_tokens: 50,
            method: "dropped".into(),
            summary: None,
            summarized_messages: None,
        },
    );
    assert_eq!(c.messages().len(), 3);
}

#[test]
fn a_fallback_says_the_summary_failed() {
    assert_eq!(fallback_method("dropped", true), "dropped_summary_failed");
    assert_eq!(fallback_method("dropped", false), "dropped");
}
