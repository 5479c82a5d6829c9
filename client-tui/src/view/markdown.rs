//! Just enough markdown for a terminal: headings, bullets, **bold**, *emphasis*, `code`, and
//! fenced code blocks with a small keyword highlighter (no heavyweight grammar engine).

use ratatui::style::{Color, Modifier, Style};
use ratatui::text::{Line, Span};

use super::Theme;

const KEYWORDS: [&str; 40] = [
    "fn",
    "let",
    "mut",
    "pub",
    "impl",
    "struct",
    "enum",
    "match",
    "if",
    "else",
    "for",
    "while",
    "loop",
    "return",
    "use",
    "mod",
    "async",
    "await",
    "const",
    "static",
    "trait",
    "where",
    "def",
    "class",
    "import",
    "from",
    "function",
    "var",
    "const",
    "export",
    "interface",
    "type",
    "func",
    "package",
    "go",
    "true",
    "false",
    "None",
    "null",
    "self",
];

/// Inline spans of one prose line.
pub fn inline(line: &str, theme: Theme, base: Style) -> Vec<Span<'static>> {
    let mut spans = Vec::new();
    let mut rest = line;
    while !rest.is_empty() {
        let next = ["**", "`", "*", "_"]
            .iter()
            .filter_map(|m| rest.find(m).map(|i| (i, *m)))
            .min_by_key(|(i, _)| *i);
        let Some((start, marker)) = next else {
            spans.push(Span::styled(rest.to_owned(), base));
            break;
        };
        let after = &rest[start + marker.len()..];
        let Some(end) = after.find(marker).filter(|e| *e > 0) else {
            spans.push(Span::styled(rest.to_owned(), base));
            break;
        };
        if start > 0 {
            spans.push(Span::styled(rest[..start].to_owned(), base));
        }
        let inner = after[..end].to_owned();
        let style = match marker {
            "**" => base.add_modifier(Modifier::BOLD),
            "`" => theme.fg(Color::Yellow),
            _ => base.add_modifier(Modifier::ITALIC),
        };
        spans.push(Span::styled(inner, style));
        rest = &after[end + marker.len()..];
    }
    spans
}

/// A highlighted line of code.
pub fn code(line: &str, theme: Theme) -> Line<'static> {
    let trimmed = line.trim_start();
    if trimmed.starts_with("//") || trimmed.starts_with('#') {
        return Line::styled(line.to_owned(), theme.fg(Color::DarkGray));
    }
    let mut spans = Vec::new();
    let mut word = String::new();
    let mut in_string: Option<char> = None;
    let flush = |word: &mut String, spans: &mut Vec<Span<'static>>| {
        if word.is_empty() {
            return;
        }
        let style = if KEYWORDS.contains(&word.as_str()) {
            theme.fg(Color::Magenta)
        } else {
            theme.fg(Color::Yellow)
        };
        spans.push(Span::styled(std::mem::take(word), style));
    };
    for c in line.chars() {
        match in_string {
            Some(q) => {
                word.push(c);
                if c == q {
                    spans.push(Span::styled(
                        std::mem::take(&mut word),
                        theme.fg(Color::Green),
                    ));
                    in_string = None;
                }
            }
            None if c == '"' || c == '\'' => {
                flush(&mut word, &mut spans);
                word.push(c);
                in_string = Some(c);
            }
            None if c.is_alphanumeric() || c == '_' => word.push(c),
            None => {
                flush(&mut word, &mut spans);
                spans.push(Span::styled(c.to_string(), theme.fg(Color::Yellow)));
            }
        }
    }
    if in_string.is_some() {
        spans.push(Span::styled(word, theme.fg(Color::Green)));
    } else {
        flush(&mut word, &mut spans);
    }
    Line::from(spans)
}
