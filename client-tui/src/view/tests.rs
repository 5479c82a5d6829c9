//! Snapshot tests of the views on ratatui's TestBackend (plain theme).

use super::*;
use botcoder_protocol::{Event, EventBody};
use ratatui::Terminal;
use ratatui::backend::TestBackend;

fn render(state: &State, w: u16, h: u16) -> Vec<String> {
    let mut t = Terminal::new(TestBackend::new(w, h)).unwrap();
    t.draw(|f| draw(f, state, Theme::plain(), 0)).unwrap();
    let buf = t.backend().buffer().clone();
    (0..h)
        .map(|y| {
            (0..w)
                .map(|x| buf[(x, y)].symbol().to_owned())
                .collect::<String>()
                .trim_end()
                .to_owned()
        })
        .collect()
}

fn ev(seq: u64, body: EventBody) -> Event {
    Event {
        seq: Some(seq),
        session_id: "s1".into(),
        time: String::new(),
        body,
    }
}

fn has(lines: &[String], needle: &str) -> bool {
    lines.iter().any(|l| l.contains(needle))
}

#[test]
fn streaming_text_and_header() {
    let mut s = State::new("s1");
    s.apply(&ev(
        1,
        EventBody::UserMessage {
            turn_id: "t".into(),
            text: "hi".into(),
            client: "cli".into(),
        },
    ));
    s.apply(&ev(
        2,
        EventBody::TurnStarted {
            turn_id: "t".into(),
            provider: Some("local".into()),
            model: Some("m".into()),
        },
    ));
    s.apply(&Event {
        seq: None,
        session_id: "s1".into(),
        time: String::new(),
        body: EventBody::AssistantDelta {
            turn_id: "t".into(),
            offset: 0,
            text: "# Title\nstreamed words".into(),
        },
    });
    let lines = render(&s, 80, 20);
    assert!(
        lines[0].contains("Local (BYOK)") && lines[0].contains("local · m"),
        "{}",
        lines[0]
    );
    assert!(has(&lines, "› you (cli)") && has(&lines, "streamed words") && has(&lines, "# Title"));
    assert!(has(&lines, "Enter send"));
}

#[test]
fn running_tool_diff_and_approval_modal() {
    let mut s = State::new("s1");
    s.apply(&ev(
        1,
        EventBody::ToolCall {
            turn_id: "t".into(),
            call_id: "c".into(),
            name: "execute_command".into(),
            args: serde_json::json!({"command": "cargo test"}),
            executor: "local".into(),
            origin: Default::default(),
        },
    ));
    s.apply(&ev(
        2,
        EventBody::FileChanged {
            turn_id: "t".into(),
            path: "src/a.rs".into(),
            diff: "--- a/src/a.rs\n+++ b/src/a.rs\n@@ -1 +1 @@\n-old\n+new\n".into(),
        },
    ));
    s.apply(&ev(
        3,
        EventBody::ApprovalRequested {
            turn_id: "t".into(),
            call_id: "w".into(),
            tool: "write_file".into(),
            summary: "write_file b.txt".into(),
            diff: Some("--- a/b\n+++ b/b\n+hello\n".into()),
            scope: Some("b.txt".into()),
        },
    ));
    s.apply(&Event {
        seq: None,
        session_id: "s1".into(),
        time: String::new(),
        body: EventBody::ToolOutput {
            turn_id: "t".into(),
            call_id: "c".into(),
            stream: botcoder_protocol::OutputStream::Stdout,
            text: "running 3 tests\n".into(),
        },
    });
    let collapsed = render(&s, 80, 24);
    assert!(
        has(&collapsed, "… execute_command") && !has(&collapsed, "running 3 tests"),
        "{collapsed:#?}"
    );
    s.tools_expanded = true;
    let lines = render(&s, 80, 24);
    assert!(has(&lines, "│ running 3 tests"), "{lines:#?}");
    assert!(has(&collapsed, "Δ src/a.rs") && has(&collapsed, "-old") && has(&collapsed, "+new"));
    assert!(
        has(&lines, "approve write_file?")
            && has(&lines, "[y] allow")
            && has(&lines, "[s] allow b.txt for this session")
            && has(&lines, "+hello")
    );
}

#[test]
fn fallback_banner_countdown_and_a_small_terminal() {
    let mut s = State::new("s1");
    s.mode = Some(botcoder_protocol::Mode::MultiAgent);
    s.apply(&Event {
        seq: None,
        session_id: "s1".into(),
        time: String::new(),
        body: EventBody::ModeChanged {
            mode: botcoder_protocol::Mode::Local,
            reason: "botserver lost; continuing with the local provider".into(),
        },
    });
    s.apply(&ev(
        1,
        EventBody::RateLimitWait {
            provider: "openai".into(),
            wait_ms: 30_000,
            reason: "tokens per minute (100)".into(),
        },
    ));
    let lines = render(&s, 60, 20);
    assert!(
        lines[0].contains("Fallback") && lines[0].contains("⏳"),
        "{}",
        lines[0]
    );
    assert!(has(&lines, "botserver lost"));
    assert_eq!(lines.len(), 20);
    assert!(lines.iter().all(|l| l.chars().count() <= 60));
}

#[test]
fn markdown_emphasis_and_code_blocks() {
    let mut s = State::new("s1");
    s.apply(&ev(
        1,
        EventBody::AssistantMessage {
            turn_id: "t".into(),
            text: "Use **bold** and `code` here\n```rust\nfn main() { let x = \"s\"; }\n```".into(),
            partial: false,
        },
    ));
    let mut t = Terminal::new(TestBackend::new(60, 20)).unwrap();
    t.draw(|f| draw(f, &s, Theme::from_env_for_tests(true), 0))
        .unwrap();
    let buf = t.backend().buffer().clone();
    let row = (0..20)
        .find(|y| {
            (0..60)
                .map(|x| buf[(x, *y)].symbol().to_owned())
                .collect::<String>()
                .contains("Use bold and code here")
        })
        .expect("the prose line, markers removed");
    let bold = (0..60).find(|x| buf[(*x, row)].symbol() == "b").unwrap();
    assert!(buf[(bold, row)].modifier.contains(Modifier::BOLD));
    let fn_row = (0..20)
        .find(|y| {
            (0..60)
                .map(|x| buf[(x, *y)].symbol().to_owned())
                .collect::<String>()
                .contains("fn main()")
        })
        .unwrap();
    let f = (0..60).find(|x| buf[(*x, fn_row)].symbol() == "f").unwrap();
    assert_eq!(
        buf[(f, fn_row)].fg,
        Color::Magenta,
        "keywords are highlighted"
    );
}

#[test]
fn hostile_titles_replies_and_tool_output_are_drawn_escaped() {
    let mut s = State::new("s1");
    s.apply(&ev(
        1,
        EventBody::SessionRenamed {
            title: "evil\x1b]0;owned\x07".into(),
        },
    ));
    s.apply(&ev(
        2,
        EventBody::AssistantMessage {
            turn_id: "t".into(),
            text: "look\x1b[2J here\u{202e}txt.exe".into(),
            partial: false,
        },
    ));
    let lines = render(&s, 80, 12);
    let all = lines.join("\n");
    assert!(!all.contains('\x1b') && !all.contains('\u{202e}'), "{all}");
    assert!(has(&lines, "look\\e[2J here\\u{202e}txt.exe"), "{all}");
    // The header shows the title (if the state keeps renames) escaped, never raw.
    assert!(!all.contains("\x07"), "{all}");
}
