//! Word wrap by display width (a wide CJK char takes two columns, a combining mark none),
//! tabs expanded to stops of [`TAB`], and styled spans kept across the break.

use ratatui::style::Style;
use ratatui::text::{Line, Span};
use unicode_width::{UnicodeWidthChar, UnicodeWidthStr};

/// Tab stop.
pub const TAB: usize = 4;

/// `s` with tabs expanded to the next stop, counting from column `start`.
pub fn expand_tabs(s: &str, start: usize) -> String {
    if !s.contains('\t') {
        return s.to_owned();
    }
    let mut out = String::with_capacity(s.len() + 8);
    let mut col = start;
    for c in s.chars() {
        if c == '\t' {
            let n = TAB - col % TAB;
            out.extend(std::iter::repeat_n(' ', n));
            col += n;
        } else {
            out.push(c);
            col += c.width().unwrap_or(0);
        }
    }
    out
}

/// Wraps styled spans (one logical line, no `\n`) into lines of at most `width` columns,
/// breaking between words, and inside a word only when it is longer than a line. The first
/// line starts with `first`, the following ones with `rest` (indents, quote bars).
pub fn wrap_spans(
    spans: &[Span<'static>],
    width: usize,
    first: Span<'static>,
    rest: Span<'static>,
) -> Vec<Line<'static>> {
    let mut out = Vec::new();
    let mut cur: Vec<Span<'static>> = vec![first.clone()];
    let mut used = first.content.width();
    let indent = rest.content.width();
    let width = width.max(indent + 4);
    // Pieces: runs of whitespace or non-whitespace, each with its span's style.
    let mut pieces: Vec<(String, Style)> = Vec::new();
    for sp in spans {
        let mut word = String::new();
        let mut space = None;
        for c in sp.content.chars() {
            let is_space = c == ' ';
            if space.is_some_and(|s| s != is_space) {
                pieces.push((std::mem::take(&mut word), sp.style));
            }
            space = Some(is_space);
            word.push(c);
        }
        if !word.is_empty() {
            pieces.push((word, sp.style));
        }
    }
    let mut pending_space: Option<(String, Style)> = None;
    for (piece, style) in pieces {
        let w = piece.width();
        if piece.starts_with(' ') {
            pending_space = Some((piece, style));
            continue;
        }
        let space_w = pending_space.as_ref().map_or(0, |(s, _)| s.width());
        if used + space_w + w <= width {
            if let Some((s, st)) = pending_space.take() {
                cur.push(Span::styled(s, st));
            }
            cur.push(Span::styled(piece, style));
            used += space_w + w;
            continue;
        }
        pending_space = None;
        // Does not fit: a new line, unless this one is still empty (then break the word).
        if used > indent && w <= width - indent {
            out.push(Line::from(std::mem::replace(&mut cur, vec![rest.clone()])));
            used = indent;
            cur.push(Span::styled(piece, style));
            used += w;
            continue;
        }
        let mut chunk = String::new();
        for c in piece.chars() {
            let cw = c.width().unwrap_or(0);
            if used + cw > width && used > indent {
                if !chunk.is_empty() {
                    cur.push(Span::styled(std::mem::take(&mut chunk), style));
                }
                out.push(Line::from(std::mem::replace(&mut cur, vec![rest.clone()])));
                used = indent;
            }
            chunk.push(c);
            used += cw;
        }
        if !chunk.is_empty() {
            cur.push(Span::styled(chunk, style));
        }
    }
    out.push(Line::from(cur));
    out
}

/// Plain text (may hold `\n` and tabs) wrapped in one style.
pub fn wrap_text(text: &str, width: usize, style: Style, indent: &str) -> Vec<Line<'static>> {
    text.split('\n')
        .flat_map(|l| {
            let l = expand_tabs(l, 0);
            wrap_spans(
                &[Span::styled(l, style)],
                width,
                Span::raw(indent.to_owned()),
                Span::raw(indent.to_owned()),
            )
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use pretty_assertions::assert_eq;

    fn plain(lines: &[Line<'_>]) -> Vec<String> {
        lines.iter().map(|l| l.to_string()).collect()
    }

    #[test]
    fn wraps_between_words_by_display_width() {
        let l = wrap_text("the quick brown fox jumps", 10, Style::default(), "");
        assert_eq!(plain(&l), ["the quick", "brown fox", "jumps"]);
        let l = wrap_text("日本語の文章です", 6, Style::default(), "");
        assert_eq!(plain(&l), ["日本語", "の文章", "です"]);
        let l = wrap_text("abcdefghijkl", 5, Style::default(), "");
        assert_eq!(plain(&l), ["abcde", "fghij", "kl"]);
    }

    #[test]
    fn tabs_expand_to_stops() {
        assert_eq!(expand_tabs("+\tcc -o x", 0), "+   cc -o x");
        assert_eq!(expand_tabs("ab\tc", 0), "ab  c");
    }
}
