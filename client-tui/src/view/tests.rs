//! Snapshot tests of the views on ratatui's TestBackend (plain theme).

use super::*;
use botcoder_protocol::{Event, EventBody};
use ratatui::Terminal;
use ratatui::backend::TestBackend;

fn render(state: &State, w: u16, h: u16) -> Vec<String> {
    let mut t = Terminal::new(TestBackend::new(w, h)).unwrap();
    t.draw(|f| draw(f, state, Theme::plain(), 0, &mut Cache::default()))
        .unwrap();
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

fn screen(state: &State, w: u16, h: u16) -> String {
    render(state, w, h).join("\n")
}

fn user(seq: u64, turn: &str, text: &str) -> Event {
    ev(
        seq,
        EventBody::UserMessage {
            turn_id: turn.into(),
            text: text.into(),
            client: "cli".into(),
        },
    )
}

fn started(seq: u64, turn: &str) -> Event {
    ev(
        seq,
        EventBody::TurnStarted {
            turn_id: turn.into(),
            provider: Some("openai".into()),
            model: Some("gpt-5".into()),
        },
    )
}

fn reply(seq: u64, text: &str) -> Event {
    ev(
        seq,
        EventBody::AssistantMessage {
            turn_id: "t".into(),
            text: text.into(),
            partial: false,
        },
    )
}

fn tool(seq: u64, id: &str, name: &str, args: serde_json::Value) -> Event {
    ev(
        seq,
        EventBody::ToolCall {
            turn_id: "t".into(),
            call_id: id.into(),
            name: name.into(),
            args,
            executor: "local".into(),
            origin: Default::default(),
        },
    )
}

fn result(seq: u64, id: &str, ok: bool, output: &str, exit_code: Option<i32>) -> Event {
    ev(
        seq,
        EventBody::ToolResult {
            turn_id: "t".into(),
            call_id: id.into(),
            ok,
            output: output.into(),
            exit_code,
            truncated: false,
        },
    )
}

#[test]
fn markdown_transcript_snapshot() {
    let mut s = State::new("s1");
    s.mode = Some(botcoder_protocol::Mode::Local);
    s.apply(&user(1, "t", "explain snake_case_names please"));
    s.apply(&started(2, "t"));
    s.apply(&reply(
        3,
        "# Heading\n\nKeep `my_var` and snake_case_names intact; *this* is emphasis and **this** \
         is strong, wrapped at word boundaries rather than in the middle of words.\n\n\
         - one\n- two\n  1. nested\n\n> a quote\n\n| col | value |\n|-----|-------|\n| a | 1 |\n\n\
         ```python\ndef f(x):\n\treturn x  # tab\n```\n\nSee [docs](https://example.org).",
    ));
    insta::assert_snapshot!(screen(&s, 60, 32));
}

#[test]
fn tool_calls_snapshot() {
    let mut s = State::new("s1");
    s.mode = Some(botcoder_protocol::Mode::Local);
    s.apply(&user(1, "t", "fix it"));
    s.apply(&started(2, "t"));
    s.apply(&tool(
        3,
        "a",
        "read_file",
        serde_json::json!({"path": "src/main.rs"}),
    ));
    s.apply(&result(4, "a", true, "fn main() {}\n", None));
    s.apply(&tool(
        5,
        "b",
        "edit_file",
        serde_json::json!({"path": "calc.py", "old": "x", "new": "y"}),
    ));
    s.apply(&ev(
        6,
        EventBody::FileChanged {
            turn_id: "t".into(),
            path: "calc.py".into(),
            diff: "--- a/calc.py\n+++ b/calc.py\n@@ -1,2 +1,3 @@\n-x = 1\n+x = 2\n+y = 3\n z\n"
                .into(),
        },
    ));
    s.apply(&result(7, "b", true, "edited", None));
    let out: String = (1..=30).map(|i| format!("line {i}\n")).collect();
    s.apply(&tool(
        8,
        "c",
        "execute_command",
        serde_json::json!({"command": "cargo test"}),
    ));
    s.apply(&result(9, "c", false, &out, Some(101)));
    s.apply(&ev(
        10,
        EventBody::TurnChanges {
            turn_id: "t".into(),
            files: vec![botcoder_protocol::FileChange {
                path: "calc.py".into(),
                status: botcoder_protocol::FileChangeStatus::Modified,
                added: 2,
                removed: 1,
            }],
        },
    ));
    insta::assert_snapshot!(screen(&s, 70, 40));
}

#[test]
fn approval_modal_shows_the_whole_diff_scrollable_with_tabs_expanded() {
    let mut s = State::new("s1");
    let mut diff = String::from("--- a/Makefile\n+++ b/Makefile\n@@ -1,30 +1,31 @@\n");
    for i in 0..30 {
        diff.push_str(&format!("+target{i}:\n+\tcc -o out{i}\n"));
    }
    s.apply(&ev(
        1,
        EventBody::ApprovalRequested {
            turn_id: "t".into(),
            call_id: "c".into(),
            tool: "write_file".into(),
            summary: "write_file Makefile".into(),
            diff: Some(diff),
            scope: Some("writes under the project".into()),
        },
    ));
    let first = screen(&s, 80, 24);
    assert!(first.contains("+    cc -o out0"), "{first}");
    assert!(first.contains("of 61"), "{first}");
    insta::assert_snapshot!(first);
    if let Some(a) = &mut s.approval {
        a.scroll = 1000;
    }
    let last = screen(&s, 80, 24);
    assert!(last.contains("cc -o out29"), "{last}");
}

#[test]
fn queued_message_waits_under_the_input() {
    let mut s = State::new("s1");
    s.mode = Some(botcoder_protocol::Mode::MultiAgent);
    s.apply(&user(1, "t1", "first"));
    s.apply(&started(2, "t1"));
    s.apply(&ev(
        3,
        EventBody::AssistantDelta {
            turn_id: "t1".into(),
            offset: 0,
            text: "half a re".into(),
        },
    ));
    s.apply(&user(4, "t2", "second"));
    let out = screen(&s, 60, 14);
    insta::assert_snapshot!(out);
}

#[test]
fn frames_cost_the_same_with_two_thousand_turns() {
    let mut s = State::new("s1");
    let mut seq = 0;
    for i in 0..2000 {
        let t = format!("t{i}");
        seq += 1;
        s.apply(&user(seq, &t, &format!("question {i}")));
        seq += 1;
        s.apply(&started(seq, &t));
        seq += 1;
        s.apply(&reply(seq, &format!("answer {i} with `code` and **bold**")));
        seq += 1;
        s.apply(&ev(
            seq,
            EventBody::TurnCompleted {
                turn_id: t.as_str().into(),
                status: botcoder_protocol::TurnStatus::Completed,
                error: None,
            },
        ));
    }
    let mut cache = Cache::default();
    let mut t = Terminal::new(TestBackend::new(80, 30)).unwrap();
    t.draw(|f| draw(f, &s, Theme::plain(), 0, &mut cache))
        .unwrap();
    assert!(
        cache.rendered < 30,
        "only what fits is laid out: {}",
        cache.rendered
    );
    s.apply(&ev(
        seq + 1,
        EventBody::AssistantDelta {
            turn_id: "t1999".into(),
            offset: 0,
            text: "more".into(),
        },
    ));
    t.draw(|f| draw(f, &s, Theme::plain(), 0, &mut cache))
        .unwrap();
    assert_eq!(
        cache.rendered, 1,
        "a streaming frame lays out the streaming item alone"
    );
}

#[test]
fn cursor_is_shown_in_the_input() {
    let mut s = State::new("s1");
    s.input.paste("ab\ncd");
    let mut t = Terminal::new(TestBackend::new(40, 12)).unwrap();
    t.draw(|f| draw(f, &s, Theme::plain(), 0, &mut Cache::default()))
        .unwrap();
    let pos = t.get_cursor_position().unwrap();
    // Input box: rows 7..=10 (4 high: 2 lines + borders), text from x=1.
    assert_eq!((pos.x, pos.y), (3, 9));
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
    t.draw(|f| {
        draw(
            f,
            &s,
            Theme::from_env_for_tests(true),
            0,
            &mut Cache::default(),
        )
    })
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

#[test]
fn a_long_input_line_wraps_and_the_cursor_follows() {
    let mut s = State::new("s1");
    s.input.paste(&"x".repeat(45));
    let mut t = Terminal::new(TestBackend::new(22, 30)).unwrap();
    t.draw(|f| draw(f, &s, Theme::plain(), 0, &mut Cache::default()))
        .unwrap();
    let lines = render(&s, 22, 30);
    // 20 columns inside the box: rows of 20, 20 and 5.
    assert!(
        lines.iter().filter(|l| l.contains(&"x".repeat(20))).count() == 2,
        "{lines:#?}"
    );
    let pos = t.get_cursor_position().unwrap();
    assert_eq!(pos.x, 6);
}

#[test]
fn code_with_lifetimes_and_wide_text_renders() {
    let mut s = State::new("s1");
    s.apply(&reply(
        1,
        "```rust\nfn f<'a>(x: &'a str) -> char { 'é' }\n```\n\n日本語の文章 'é",
    ));
    let lines = render(&s, 40, 12);
    assert!(
        has(&lines, "fn f<'a>(x: &'a str) -> char { 'é' }"),
        "{lines:#?}"
    );
}

#[test]
fn alt_up_marks_an_earlier_block_alt_o_opens_it_alone_and_it_stays_on_screen() {
    use crossterm::event::{KeyCode, KeyEvent, KeyModifiers};
    let alt = |c| KeyEvent::new(c, KeyModifiers::ALT);
    let mut s = State::new("s1");
    let mut seq = 1;
    for n in 0..12 {
        let id = format!("c{n}");
        s.apply(&tool(
            seq,
            &id,
            "read_file",
            serde_json::json!({"path": format!("f{n}.rs")}),
        ));
        s.apply(&result(
            seq + 1,
            &id,
            true,
            &format!("content of f{n}\n"),
            None,
        ));
        seq += 2;
    }
    let blocks: Vec<usize> = (0..s.items.len())
        .filter(|i| matches!(s.items[*i], Item::Tool { .. }))
        .collect();
    assert_eq!(blocks.len(), 12);
    // Alt-O alone toggles the last block.
    s.key(alt(KeyCode::Char('o')));
    assert!(s.is_expanded(blocks[11]));
    s.key(alt(KeyCode::Char('o')));
    assert!(!s.is_expanded(blocks[11]));
    // The first Alt-Up marks the last block; eleven more walk back to the first one.
    for _ in 0..12 {
        s.key(alt(KeyCode::Up));
    }
    assert_eq!(s.selected, Some(blocks[0]));
    s.key(alt(KeyCode::Char('o')));
    assert!(s.is_expanded(blocks[0]), "the marked block opens");
    assert!(
        blocks[1..].iter().all(|b| !s.is_expanded(*b)),
        "and no other"
    );
    // On a 10-row screen the first block is far above the bottom: the view scrolls to it.
    let lines = render(&s, 60, 10);
    assert!(has(&lines, "▶"), "the marked block is marked: {lines:#?}");
    assert!(has(&lines, "f0.rs"), "and on screen: {lines:#?}");
    assert!(has(&lines, "content of f0"), "opened: {lines:#?}");
    s.key(alt(KeyCode::Down));
    assert_eq!(s.selected, Some(blocks[1]));
    s.key(KeyEvent::new(KeyCode::Esc, KeyModifiers::NONE));
    assert_eq!(s.selected, None, "Esc lets go");
    assert!(!has(&render(&s, 60, 10), "▶"));
}
