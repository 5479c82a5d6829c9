//! Data strings made safe for a terminal. Titles, replies, tool output, errors and paths
//! come from models, projects and other programs; printed raw, an ESC or OSC sequence in
//! them could retitle the window, rewrite what is on screen, plant a link, or (on some
//! terminals) answer with input. So every control character except `\n` and `\t` is shown
//! escaped (`\e`, `\x07`, `\u{9b}`), as are the Unicode bidi controls that can make text
//! read differently from what it is (the "Trojan Source" trick). `\r` is kept only in a
//! `\r\n` pair (as `\n`), since alone it lets text overwrite the start of its line.
//! Used by the CLI and the TUI alike; `--json` output is JSON-escaped already.

use std::borrow::Cow;

/// `s` with control characters and bidi overrides escaped (see the module doc).
pub fn terminal_safe(s: &str) -> Cow<'_, str> {
    if !s.chars().any(needs_escape) {
        return Cow::Borrowed(s);
    }
    let mut out = String::with_capacity(s.len() + 16);
    let mut chars = s.chars().peekable();
    while let Some(c) = chars.next() {
        match c {
            '\r' if chars.peek() == Some(&'\n') => {}
            '\x1b' => out.push_str("\\e"),
            '\r' => out.push_str("\\r"),
            c if (c as u32) < 0x80 && needs_escape(c) => {
                out.push_str(&format!("\\x{:02x}", c as u32));
            }
            c if needs_escape(c) => out.push_str(&format!("\\u{{{:x}}}", c as u32)),
            c => out.push(c),
        }
    }
    Cow::Owned(out)
}

/// [`terminal_safe`] for one line of a table: newlines and tabs escaped too.
pub fn one_line(s: &str) -> String {
    terminal_safe(s).replace('\n', "\\n").replace('\t', "\\t")
}

fn needs_escape(c: char) -> bool {
    match c {
        '\n' | '\t' => false,
        // C0, DEL, C1.
        c if c.is_control() => true,
        // Bidi embeddings, overrides and isolates; marks that reorder neighbouring text.
        '\u{202a}'..='\u{202e}' | '\u{2066}'..='\u{2069}' | '\u{200e}' | '\u{200f}' => true,
        '\u{061c}' => true,
        _ => false,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use pretty_assertions::assert_eq;

    #[test]
    fn plain_text_is_borrowed_untouched() {
        let s = "héllo\n\twörld — ✓";
        assert!(matches!(terminal_safe(s), Cow::Borrowed(_)));
        assert_eq!(terminal_safe(s), s);
    }

    #[test]
    fn escape_sequences_are_shown_not_sent() {
        assert_eq!(
            terminal_safe("a\x1b]0;pwned\x07b\x1b[2Jc"),
            "a\\e]0;pwned\\x07b\\e[2Jc"
        );
        assert_eq!(terminal_safe("x\u{9b}31m\u{7f}"), "x\\u{9b}31m\\x7f");
        assert_eq!(terminal_safe("\0\x08"), "\\x00\\x08");
    }

    #[test]
    fn carriage_returns_only_survive_as_line_ends() {
        assert_eq!(terminal_safe("a\r\nb"), "a\nb");
        assert_eq!(terminal_safe("safe\rEVIL"), "safe\\rEVIL");
    }

    #[test]
    fn bidi_overrides_are_escaped() {
        assert_eq!(
            terminal_safe("a\u{202e}b\u{2066}c\u{200f}"),
            "a\\u{202e}b\\u{2066}c\\u{200f}"
        );
    }

    #[test]
    fn one_line_escapes_line_breaks_too() {
        assert_eq!(one_line("a\nb\tc\x1b"), "a\\nb\\tc\\e");
    }
}
