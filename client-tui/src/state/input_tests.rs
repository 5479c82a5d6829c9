use super::*;
use pretty_assertions::assert_eq;

fn k(code: KeyCode) -> KeyEvent {
    KeyEvent::new(code, KeyModifiers::NONE)
}

fn ctrl(c: char) -> KeyEvent {
    KeyEvent::new(KeyCode::Char(c), KeyModifiers::CONTROL)
}

fn alt(c: char) -> KeyEvent {
    KeyEvent::new(KeyCode::Char(c), KeyModifiers::ALT)
}

fn typed(s: &str) -> Input {
    let mut i = Input::default();
    for c in s.chars() {
        i.key(k(KeyCode::Char(c)));
    }
    i
}

#[test]
fn emacs_keys_move_and_kill_instead_of_inserting_letters() {
    let mut i = typed("hello big world");
    i.key(ctrl('a'));
    assert_eq!(i.cursor(), (0, 0));
    i.key(alt('f'));
    assert_eq!(i.cursor(), (0, 5));
    i.key(ctrl('k'));
    assert_eq!(i.text(), "hello");
    i.key(ctrl('y'));
    assert_eq!(i.text(), "hello big world");
    i.key(ctrl('w'));
    assert_eq!(i.text(), "hello big ");
    i.key(alt('b'));
    i.key(ctrl('b'));
    i.key(ctrl('f'));
    assert_eq!(i.cursor(), (0, 6));
    i.key(ctrl('e'));
    i.key(ctrl('u'));
    assert_eq!(i.text(), "");
    i.key(ctrl('y'));
    assert_eq!(i.text(), "hello big ");
}

#[test]
fn up_and_down_move_between_lines_and_reach_history_only_at_the_edges() {
    let mut i = typed("first");
    i.take();
    i.paste("line one\nline two");
    i.key(k(KeyCode::Up));
    assert_eq!((i.text().as_str(), i.cursor().0), ("line one\nline two", 0));
    // Up on the first line recalls history; the draft comes back past the newest entry.
    i.key(k(KeyCode::Up));
    assert_eq!(i.text(), "first");
    i.key(k(KeyCode::Down));
    assert_eq!(i.text(), "line one\nline two");
}

#[test]
fn paste_keeps_line_breaks_and_is_linear() {
    let mut i = typed("ab");
    i.key(k(KeyCode::Left));
    i.paste("1\r2\r\n3\t4");
    assert_eq!(i.text(), "a1\n2\n3\t4b");
    assert_eq!(i.cursor_chars(), (2, 3));
    // A megabyte of pasted lines takes one pass (the old editor was quadratic).
    let big = "x".repeat(99).to_owned() + "\r";
    let big = big.repeat(10_000);
    let t = std::time::Instant::now();
    let mut j = Input::default();
    j.paste(&big);
    assert_eq!(j.lines().len(), 10_001);
    assert!(t.elapsed() < std::time::Duration::from_secs(1));
}

#[test]
fn backspace_joins_lines_and_history_skips_repeats() {
    let mut i = Input::default();
    i.paste("a\nb");
    i.key(k(KeyCode::Home));
    i.key(k(KeyCode::Backspace));
    assert_eq!(i.text(), "ab");
    i.take();
    i.remember("ab");
    assert_eq!(i.history(), ["ab".to_owned()]);
}

#[test]
fn cursor_column_is_the_display_width() {
    let i = typed("日本x");
    assert_eq!(i.cursor(), (0, 5));
}
