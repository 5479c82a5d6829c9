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

fn delta(turn: &str, offset: u64, text: &str) -> Event {
    ev(
        None,
        EventBody::AssistantDelta {
            turn_id: turn.into(),
            offset,
            text: text.into(),
        },
    )
}

fn user(seq: u64, turn: &str, text: &str, client: &str) -> Event {
    ev(
        Some(seq),
        EventBody::UserMessage {
            turn_id: turn.into(),
            text: text.into(),
            client: client.into(),
        },
    )
}

fn started(seq: u64, turn: &str) -> Event {
    ev(
        Some(seq),
        EventBody::TurnStarted {
            turn_id: turn.into(),
            provider: Some("local".into()),
            model: Some("m".into()),
        },
    )
}

fn reply(seq: u64, turn: &str, text: &str) -> Event {
    ev(
        Some(seq),
        EventBody::AssistantMessage {
            turn_id: turn.into(),
            text: text.into(),
            partial: false,
        },
    )
}

fn done(seq: u64, turn: &str, status: TurnStatus, error: Option<&str>) -> Event {
    ev(
        Some(seq),
        EventBody::TurnCompleted {
            turn_id: turn.into(),
            status,
            error: error.map(|m| TurnError {
                kind: botcoder_protocol::ErrorKind::Internal,
                message: m.into(),
            }),
        },
    )
}

fn k(code: KeyCode) -> KeyEvent {
    KeyEvent::new(code, KeyModifiers::NONE)
}

fn ctrl(c: char) -> KeyEvent {
    KeyEvent::new(KeyCode::Char(c), KeyModifiers::CONTROL)
}

fn typed(s: &mut State, text: &str) {
    for c in text.chars() {
        s.key(k(KeyCode::Char(c)));
    }
}

fn shape(s: &State) -> Vec<String> {
    s.items
        .iter()
        .map(|i| match i {
            Item::User { text, .. } => format!("user {text}"),
            Item::Assistant { text } => format!("assistant {text}"),
            other => format!("{other:?}").chars().take(20).collect(),
        })
        .collect()
}

#[test]
fn streaming_with_a_mid_turn_partial_is_not_doubled() {
    let mut s = State::new("s");
    s.apply(&delta("t", 0, "Hello wor")); // the partial a late attach gets
    s.apply(&delta("t", 6, "wor")); // a live delta it already has
    s.apply(&delta("t", 9, "ld"));
    assert_eq!(
        s.items,
        vec![Item::Assistant {
            text: "Hello world".into()
        }]
    );
    s.apply(&reply(1, "t", "Hello world!"));
    assert_eq!(
        s.items,
        vec![Item::Assistant {
            text: "Hello world!".into()
        }]
    );
}

#[test]
fn a_message_sent_while_a_reply_streams_waits_and_never_splits_the_reply() {
    // Live: the second question arrives between two deltas of the first reply.
    let live = {
        let mut s = State::new("s");
        s.apply(&user(1, "t1", "first?", "a"));
        s.apply(&started(2, "t1"));
        s.apply(&delta("t1", 0, "one "));
        s.apply(&user(3, "t2", "second?", "b"));
        assert_eq!(s.queued.len(), 1, "queued under the input");
        s.apply(&delta("t1", 4, "two"));
        s.apply(&reply(4, "t1", "one two"));
        s.apply(&done(5, "t1", TurnStatus::Completed, None));
        assert_eq!(s.queued.len(), 1, "still queued until its turn starts");
        s.apply(&started(6, "t2"));
        assert!(s.queued.is_empty());
        s.apply(&reply(7, "t2", "three"));
        s.apply(&done(8, "t2", TurnStatus::Completed, None));
        shape(&s)
    };
    // A later attach replays the journal (no deltas): the same order.
    let replayed = {
        let mut s = State::new("s");
        for e in [
            user(1, "t1", "first?", "a"),
            started(2, "t1"),
            user(3, "t2", "second?", "b"),
            reply(4, "t1", "one two"),
            done(5, "t1", TurnStatus::Completed, None),
            started(6, "t2"),
            reply(7, "t2", "three"),
            done(8, "t2", TurnStatus::Completed, None),
        ] {
            s.apply(&e);
        }
        shape(&s)
    };
    let want = [
        "user first?",
        "assistant one two",
        "user second?",
        "assistant three",
    ];
    assert_eq!(live, want);
    assert_eq!(replayed, want);
}

#[test]
fn tool_lifecycle_errors_verbatim_and_replays_skipped() {
    let mut s = State::new("s");
    s.apply(&user(1, "t", "go", "a"));
    s.apply(&started(2, "t"));
    s.apply(&ev(
        Some(3),
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
        Some(4),
        EventBody::ToolResult {
            turn_id: "t".into(),
            call_id: "c".into(),
            ok: false,
            output: "a\nb\n".into(),
            exit_code: Some(2),
            truncated: false,
        },
    ));
    assert!(matches!(
        &s.items[1],
        Item::Tool {
            ok: Some(false),
            exit_code: Some(2),
            ..
        }
    ));
    assert!(s.is_expanded(1), "failures are open by default");
    s.apply(&done(
        5,
        "t",
        TurnStatus::Failed,
        Some("Set OPENAI_API_KEY in config.toml"),
    ));
    assert!(!s.is_running());
    assert_eq!(
        s.items.last(),
        Some(&Item::Notice {
            text: "turn failed: Set OPENAI_API_KEY in config.toml".into(),
            error: true
        })
    );
    let before = s.items.len();
    s.apply(&done(5, "t", TurnStatus::Failed, Some("again")));
    assert_eq!(s.items.len(), before);
}

#[test]
fn approvals_answer_deny_with_a_message_and_name_the_terminal() {
    let mut s = State::new("s");
    s.me = "botcoder-tui on /dev/pts/1".into();
    s.apply(&ev(
        Some(1),
        EventBody::ApprovalRequested {
            turn_id: "t".into(),
            call_id: "c".into(),
            tool: "write_file".into(),
            summary: "write_file a".into(),
            diff: None,
            scope: Some("writes to a".into()),
        },
    ));
    assert!(s.approval.is_some() && s.bell);
    s.key(k(KeyCode::Char('m')));
    typed(&mut s, "use b");
    assert_eq!(
        s.key(k(KeyCode::Enter)),
        Some(Action::Approve(
            "c".into(),
            ApprovalDecision::Deny,
            Some("use b".into())
        ))
    );
    s.apply(&ev(
        Some(2),
        EventBody::ApprovalResolved {
            turn_id: "t".into(),
            call_id: "c".into(),
            decision: ApprovalDecision::AllowSession,
            decided_by: "botcoder-tui on /dev/pts/1".into(),
        },
    ));
    assert!(s.approval.is_none());
    assert_eq!(
        s.items.last(),
        Some(&Item::Notice {
            text:
                "allowed writes to a for this session by botcoder-tui on /dev/pts/1 (this terminal)"
                    .into(),
            error: false
        })
    );
}

#[test]
fn ctrl_c_cancels_a_turn_clears_input_and_twice_detaches() {
    let mut s = State::new("s");
    s.apply(&user(1, "t", "go", "a"));
    s.apply(&started(2, "t"));
    assert_eq!(s.key(ctrl('c')), Some(Action::Cancel));
    s.apply(&done(3, "t", TurnStatus::Cancelled, None));
    s.ctrl_c_at = None;
    typed(&mut s, "draft");
    assert_eq!(s.key(ctrl('c')), None);
    assert!(s.input.is_empty());
    assert_eq!(s.key(ctrl('c')), None);
    assert_eq!(s.key(ctrl('c')), Some(Action::Quit));
}

#[test]
fn slash_commands_stay_local_and_messages_carry_mentions() {
    let mut s = State::new("s");
    s.files = vec!["src/main.rs".into()];
    typed(&mut s, "/frob");
    assert_eq!(s.key(k(KeyCode::Enter)), None);
    assert!(
        matches!(s.items.last(), Some(Item::Notice { error: true, text }) if text.contains("/frob"))
    );
    typed(&mut s, "/he");
    assert_eq!(s.completions().len(), 1);
    s.key(k(KeyCode::Enter));
    assert!(s.overlay.is_some(), "/help opens an overlay");
    s.key(k(KeyCode::Esc));
    typed(&mut s, "/approval auto");
    assert_eq!(
        s.key(k(KeyCode::Enter)),
        Some(Action::Command(slash::Command::Approval(
            botcoder_protocol::ApprovalPolicy::Auto
        )))
    );
    typed(&mut s, "look @ma");
    assert_eq!(s.completions(), ["@src/main.rs"]);
    s.key(k(KeyCode::Tab));
    assert_eq!(s.input.text(), "look @src/main.rs ");
    assert_eq!(
        s.key(k(KeyCode::Enter)),
        Some(Action::Send {
            text: "look @src/main.rs ".into(),
            attach: vec!["src/main.rs".into()]
        })
    );
    typed(&mut s, "/quit");
    assert_eq!(s.key(k(KeyCode::Enter)), Some(Action::Quit));
}

#[test]
fn new_events_update_the_header_and_transcript() {
    let mut s = State::new("s");
    s.apply(&ev(
        Some(1),
        EventBody::SessionConfigured {
            provider: Some("anthropic".into()),
            model: Some("claude".into()),
            base_url: None,
            approval: Some(botcoder_protocol::ApprovalPolicy::ReadOnly),
            sandbox: None,
            by: "cli".into(),
        },
    ));
    assert_eq!(
        (s.provider.as_deref(), s.model.as_deref()),
        (Some("anthropic"), Some("claude"))
    );
    for (seq, cost) in [(2, 0.5), (3, 0.25)] {
        s.apply(&ev(
            Some(seq),
            EventBody::Usage {
                turn_id: "t".into(),
                input_tokens: 10,
                output_tokens: 5,
                cached_input_tokens: None,
                reasoning_tokens: None,
                cost_usd: Some(cost),
            },
        ));
    }
    assert_eq!((s.tokens, s.cost_usd), (30, Some(0.75)));
    s.apply(&ev(
        None,
        EventBody::AssistantReasoningDelta {
            turn_id: "t".into(),
            offset: 0,
            text: "hmm".into(),
        },
    ));
    s.apply(&ev(
        Some(4),
        EventBody::AssistantReasoning {
            turn_id: "t".into(),
            text: "hmm, yes".into(),
            replay: None,
        },
    ));
    assert!(s.items.contains(&Item::Reasoning {
        text: "hmm, yes".into()
    }));
}
