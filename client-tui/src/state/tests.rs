use super::*;
use botcoder_protocol::TurnError;
use crossterm::event::{KeyCode, KeyEvent, KeyModifiers};
use pretty_assertions::assert_eq;

fn ev(seq: Option<u64>, body: EventBody) -> Event {
    Event {
        seq,
        session_id: "s".into(),
        time: String::new(),
        body,
    }
}

fn delta(offset: u64, text: &str) -> Event {
    ev(
        None,
        EventBody::AssistantDelta {
            turn_id: "t".into(),
            offset,
            text: text.into(),
        },
    )
}

#[test]
fn streaming_with_a_mid_turn_partial_is_not_doubled() {
    let mut s = State::new("s");
    s.apply(&delta(0, "Hello wor")); // the partial a late attach gets
    s.apply(&delta(6, "wor")); // a live delta it already has
    s.apply(&delta(9, "ld"));
    assert_eq!(
        s.items,
        vec![Item::Assistant {
            text: "Hello world".into()
        }]
    );
    s.apply(&ev(
        Some(1),
        EventBody::AssistantMessage {
            turn_id: "t".into(),
            text: "Hello world!".into(),
            partial: false,
        },
    ));
    assert_eq!(
        s.items,
        vec![Item::Assistant {
            text: "Hello world!".into()
        }]
    );
}

#[test]
fn tool_lifecycle_and_queued_messages() {
    let mut s = State::new("s");
    s.apply(&ev(
        Some(1),
        EventBody::UserMessage {
            turn_id: "t".into(),
            text: "go".into(),
            client: "a".into(),
        },
    ));
    s.apply(&ev(
        Some(2),
        EventBody::TurnStarted {
            turn_id: "t".into(),
            provider: Some("local".into()),
            model: Some("m".into()),
        },
    ));
    s.apply(&ev(
        Some(3),
        EventBody::UserMessage {
            turn_id: "t2".into(),
            text: "next".into(),
            client: "b".into(),
        },
    ));
    assert_eq!(s.queued, 1);
    s.apply(&ev(
        Some(4),
        EventBody::ToolCall {
            turn_id: "t".into(),
            call_id: "c".into(),
            name: "execute_command".into(),
            args: serde_json::json!({"command": "ls"}),
            executor: "local".into(),
            origin: Default::default(),
        },
    ));
    s.apply(&ev(
        None,
        EventBody::ToolOutput {
            turn_id: "t".into(),
            call_id: "c".into(),
            stream: botcoder_protocol::OutputStream::Stdout,
            text: "a\n".into(),
        },
    ));
    s.apply(&ev(
        Some(5),
        EventBody::ToolResult {
            turn_id: "t".into(),
            call_id: "c".into(),
            ok: true,
            output: "a\nb\n".into(),
            exit_code: Some(0),
            truncated: false,
        },
    ));
    assert!(
        matches!(&s.items[2], Item::Tool { ok: Some(true), exit_code: Some(0), output, .. } if output == "a\nb\n")
    );
    s.apply(&ev(
        Some(6),
        EventBody::TurnCompleted {
            turn_id: "t".into(),
            status: TurnStatus::Failed,
            error: Some(TurnError {
                kind: botcoder_protocol::ErrorKind::Internal,
                message: "boom".into(),
            }),
        },
    ));
    assert!(!s.running);
    assert!(matches!(
        s.items.last(),
        Some(Item::Notice { error: true, .. })
    ));
    // Replayed durable events after a reconnect are not applied twice.
    let before = s.items.len();
    s.apply(&ev(
        Some(5),
        EventBody::ToolResult {
            turn_id: "t".into(),
            call_id: "c".into(),
            ok: true,
            output: String::new(),
            exit_code: None,
            truncated: false,
        },
    ));
    assert_eq!(s.items.len(), before);
}

#[test]
fn approval_resolved_elsewhere_closes_the_modal_and_keys_answer_it() {
    let mut s = State::new("s");
    s.apply(&ev(
        Some(1),
        EventBody::ApprovalRequested {
            turn_id: "t".into(),
            call_id: "c".into(),
            tool: "write_file".into(),
            summary: "write_file a".into(),
            diff: None,
            scope: Some("a".into()),
        },
    ));
    assert!(s.approval.is_some());
    let key = |c| KeyEvent::new(KeyCode::Char(c), KeyModifiers::NONE);
    assert_eq!(
        s.key(key('y')),
        Some(Action::Approve("c".into(), ApprovalDecision::Allow))
    );
    s.apply(&ev(
        Some(2),
        EventBody::ApprovalResolved {
            turn_id: "t".into(),
            call_id: "c".into(),
            decision: ApprovalDecision::Deny,
            decided_by: "other-tui".into(),
        },
    ));
    assert!(s.approval.is_none());
    assert!(
        matches!(s.items.last(), Some(Item::Notice { text, .. }) if text.contains("other-tui"))
    );
}

#[test]
fn input_editing_history_and_detach() {
    let mut s = State::new("s");
    for c in "hi".chars() {
        s.key(KeyEvent::new(KeyCode::Char(c), KeyModifiers::NONE));
    }
    s.key(KeyEvent::new(KeyCode::Enter, KeyModifiers::ALT));
    s.key(KeyEvent::new(KeyCode::Char('x'), KeyModifiers::NONE));
    assert_eq!(
        s.key(KeyEvent::new(KeyCode::Enter, KeyModifiers::NONE)),
        Some(Action::Send("hi\nx".into()))
    );
    s.key(KeyEvent::new(KeyCode::Up, KeyModifiers::NONE));
    assert_eq!(s.input.text, "hi\nx");
    let ctrl_c = KeyEvent::new(KeyCode::Char('c'), KeyModifiers::CONTROL);
    assert_eq!(s.key(ctrl_c), None);
    assert_eq!(s.key(ctrl_c), Some(Action::Quit));
}

#[test]
fn home_and_end_scroll_when_the_input_is_empty() {
    let mut s = State::new("s");
    s.key(KeyEvent::new(KeyCode::Home, KeyModifiers::NONE));
    assert!(s.scroll > 0);
    s.key(KeyEvent::new(KeyCode::End, KeyModifiers::NONE));
    assert_eq!(s.scroll, 0);
    s.key(KeyEvent::new(KeyCode::Char('a'), KeyModifiers::NONE));
    s.key(KeyEvent::new(KeyCode::Home, KeyModifiers::NONE));
    assert_eq!(
        (s.scroll, s.input.cursor),
        (0, 0),
        "with text, Home moves the cursor"
    );
}
