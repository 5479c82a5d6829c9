//! Code highlighting on TestBackend: each row's text, then its coloured runs as
//! `[colour modifiers|text]`, so a snapshot shows which words got which style.

use super::*;
use botcoder_protocol::{Event, EventBody};
use ratatui::Terminal;
use ratatui::backend::TestBackend;
use ratatui::buffer::Buffer;

fn reply(text: &str) -> State {
    let mut s = State::new("s1");
    s.apply(&Event {
        seq: Some(1),
        session_id: "s1".into(),
        time: String::new(),
        body: EventBody::AssistantMessage {
            turn_id: "t".into(),
            text: text.into(),
            partial: false,
        },
    });
    s
}

fn draw_colored(s: &State, w: u16, h: u16) -> Buffer {
    let mut t = Terminal::new(TestBackend::new(w, h)).unwrap();
    t.draw(|f| {
        draw(
            f,
            s,
            Theme::from_env_for_tests(true),
            0,
            &mut Cache::default(),
        )
    })
    .unwrap();
    t.backend().buffer().clone()
}

/// The rows between the first and the last one containing `from`/`to`, with their style runs.
fn styled(buf: &Buffer, from: &str, to: &str) -> String {
    let w = buf.area.width;
    let rows: Vec<(u16, String)> = (0..buf.area.height)
        .map(|y| {
            let text: String = (0..w).map(|x| buf[(x, y)].symbol().to_owned()).collect();
            (y, text.trim_end().to_owned())
        })
        .collect();
    let start = rows.iter().position(|(_, t)| t.contains(from)).unwrap();
    let end = rows.iter().rposition(|(_, t)| t.contains(to)).unwrap();
    let mut out = String::new();
    for (y, text) in &rows[start..=end] {
        out.push_str(text);
        out.push('\n');
        let mut runs: Vec<(String, String)> = Vec::new();
        for x in 0..w {
            let c = &buf[(x, *y)];
            let key = if c.fg == Color::Reset && c.modifier.is_empty() {
                String::new()
            } else {
                format!("{:?}{}", c.fg, modifiers(c.modifier))
            };
            match runs.last_mut() {
                Some((k, t)) if *k == key => t.push_str(c.symbol()),
                _ => runs.push((key, c.symbol().to_owned())),
            }
        }
        let runs: Vec<String> = runs
            .into_iter()
            .filter(|(k, t)| !k.is_empty() && !t.trim().is_empty())
            .map(|(k, t)| format!("[{k}|{}]", t.trim_end()))
            .collect();
        if !runs.is_empty() {
            out.push_str("    ");
            out.push_str(&runs.join(" "));
            out.push('\n');
        }
    }
    out
}

fn modifiers(m: Modifier) -> String {
    let mut s = String::new();
    for (flag, name) in [
        (Modifier::BOLD, " bold"),
        (Modifier::ITALIC, " italic"),
        (Modifier::UNDERLINED, " underlined"),
    ] {
        if m.contains(flag) {
            s.push_str(name);
        }
    }
    s
}

/// The colour of the first cell of `word` on the row holding it.
fn color_of(buf: &Buffer, word: &str) -> Color {
    for y in 0..buf.area.height {
        let text: String = (0..buf.area.width)
            .map(|x| buf[(x, y)].symbol().to_owned())
            .collect();
        if let Some(i) = text.find(word) {
            let x = text[..i].chars().count() as u16;
            return buf[(x, y)].fg;
        }
    }
    panic!("{word} is not on screen");
}

#[test]
fn a_rust_block_colours_keywords_strings_and_numbers_apart() {
    let s = reply(
        "Here:\n\n```rust\n// add one\npub fn inc(x: u32) -> u32 {\n    let s = \"text\";\n    x + 1\n}\n```\n\nDone.",
    );
    let buf = draw_colored(&s, 60, 20);
    let kw = color_of(&buf, "pub fn");
    let string = color_of(&buf, "\"text\"");
    let comment = color_of(&buf, "// add one");
    assert_ne!(kw, Color::Reset, "keywords are coloured");
    assert_ne!(string, Color::Reset, "strings are coloured");
    assert_ne!(kw, string, "keywords and strings differ");
    assert_ne!(comment, Color::Reset, "comments are coloured");
    assert_ne!(comment, string, "comments and strings differ");
    insta::assert_snapshot!(styled(&buf, "// add one", "}"));
}

#[test]
fn a_python_block_colours_keywords_and_strings_apart() {
    let s = reply("```py\ndef greet(name):\n    return f\"hi {name}\"  # greet\n```");
    let buf = draw_colored(&s, 60, 12);
    let kw = color_of(&buf, "def");
    let string = color_of(&buf, "\"hi");
    assert_ne!(kw, Color::Reset);
    assert_ne!(string, Color::Reset);
    assert_ne!(kw, string);
    insta::assert_snapshot!(styled(&buf, "def greet", "return"));
}

#[test]
fn an_unknown_language_or_no_language_stays_plain() {
    let s = reply("```klingon\nfn qapla \"batlh\" 42\n```\n\n```\nfn plain \"text\"\n```");
    let buf = draw_colored(&s, 60, 12);
    assert_eq!(color_of(&buf, "fn qapla"), Color::Reset);
    assert_eq!(color_of(&buf, "\"batlh\""), Color::Reset);
    assert_eq!(color_of(&buf, "fn plain"), Color::Reset);
    insta::assert_snapshot!(styled(&buf, "fn qapla", "fn plain"));
}

#[test]
fn toml_json_and_shell_fences_are_known() {
    for (lang, code, word) in [
        ("toml", "[package]\nname = \"x\"", "\"x\""),
        ("json", "{\"a\": 1}", "\"a\""),
        ("sh", "echo \"hi\" | grep h", "\"hi\""),
        ("rs", "let s = \"q\";", "\"q\""),
    ] {
        let s = reply(&format!("```{lang}\n{code}\n```"));
        let buf = draw_colored(&s, 60, 10);
        assert_ne!(color_of(&buf, word), Color::Reset, "{lang}: {code}");
    }
}

#[test]
fn tabs_in_highlighted_code_are_expanded_and_no_color_means_plain() {
    let s = reply("```rust\nfn f() {\n\tlet x = 1;\n}\n```");
    let buf = draw_colored(&s, 60, 10);
    let text: Vec<String> = (0..10)
        .map(|y| (0..60).map(|x| buf[(x, y)].symbol().to_owned()).collect())
        .collect();
    // Two columns of code indent, then the tab to the next stop of 4.
    assert!(
        text.iter().any(|l| l.contains("      let x = 1;")),
        "{text:#?}"
    );
    assert!(!text.iter().any(|l| l.contains('\t')));
    let mut t = Terminal::new(TestBackend::new(60, 10)).unwrap();
    t.draw(|f| draw(f, &s, Theme::plain(), 0, &mut Cache::default()))
        .unwrap();
    let plain = t.backend().buffer().clone();
    assert_eq!(color_of(&plain, "fn f"), Color::Reset);
}

#[test]
fn a_block_is_highlighted_once_and_reused_from_the_memo() {
    let code = "fn memo_probe() { let s = \"m\"; }";
    let a = highlight::block(code, "rust", Theme::from_env_for_tests(true));
    let b = highlight::block(code, "rust", Theme::from_env_for_tests(true));
    assert_eq!(a, b);
    let plain = highlight::block(code, "rust", Theme::plain());
    assert_eq!(plain.len(), 1);
    assert!(plain[0].iter().all(|s| s.style == Style::default()));
}
