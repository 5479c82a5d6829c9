//! Fenced code coloured by the fence's language: syntect's engine (pure-Rust `fancy-regex`,
//! no oniguruma) with two-face's grammars — bat's set, which adds TOML, TypeScript, Kotlin,
//! Zig, … to Sublime's defaults — and bat's `ansi` theme. That theme names palette entries
//! rather than RGB values, so code takes the terminal's own colours and works on a 16-colour
//! terminal; NO_COLOR turns it off like everything else.
//!
//! Nothing is loaded at start: the grammars and the theme are decoded once, on the first code
//! block (≈10 ms), and each grammar compiles its regexes on first use. A finished message is
//! highlighted once (the view's per-item cache keeps its lines); the block memo below keeps a
//! reply that is still streaming from highlighting its earlier, finished blocks again on
//! every frame.

use std::cell::RefCell;
use std::collections::VecDeque;
use std::sync::OnceLock;

use ratatui::style::{Color, Modifier, Style};
use ratatui::text::Span;
use syntect::easy::HighlightLines;
use syntect::highlighting::{Color as SynColor, FontStyle, Style as SynStyle, Theme as SynTheme};
use syntect::parsing::{Scope, SyntaxReference, SyntaxSet};
use syntect::util::LinesWithEndings;

use super::Theme;
use super::wrap::expand_tabs;

/// Code blocks remembered across renders (each is one block's lines, so memory stays bounded).
const MEMO: usize = 32;

struct Assets {
    syntaxes: SyntaxSet,
    theme: SynTheme,
}

fn assets() -> &'static Assets {
    static ASSETS: OnceLock<Assets> = OnceLock::new();
    ASSETS.get_or_init(|| {
        let mut theme = two_face::theme::extra()
            .get(two_face::theme::EmbeddedThemeName::Ansi)
            .clone();
        // bat's ansi theme paints comments green like strings; grey (palette 8) tells them
        // apart and matches how the rest of the transcript dims secondary text.
        if let Ok(comment) = Scope::new("comment") {
            for item in &mut theme.scopes {
                let is_comment = item.scope.selectors.iter().any(|sel| {
                    sel.path
                        .as_slice()
                        .last()
                        .is_some_and(|sc| comment.is_prefix_of(*sc))
                });
                if is_comment {
                    item.style.foreground = Some(SynColor {
                        r: 8,
                        g: 0,
                        b: 0,
                        a: 0,
                    });
                }
            }
        }
        Assets {
            syntaxes: two_face::syntax::extra_newlines(),
            theme,
        }
    })
}

type Lines = Vec<Vec<Span<'static>>>;

struct Memo {
    color: bool,
    lang: String,
    code: String,
    lines: Lines,
}

thread_local! {
    static BLOCKS: RefCell<VecDeque<Memo>> = const { RefCell::new(VecDeque::new()) };
}

/// The lines of one code block (`code` without its fences), each as styled spans with tabs
/// expanded. An unknown or empty language gives plain text.
pub fn block(code: &str, lang: &str, theme: Theme) -> Lines {
    let lang = lang.trim().to_ascii_lowercase();
    let hit = BLOCKS.with_borrow_mut(|memo| {
        let i = memo
            .iter()
            .position(|m| m.color == theme.color && m.lang == lang && m.code == code)?;
        let m = memo.remove(i)?;
        let lines = m.lines.clone();
        memo.push_front(m);
        Some(lines)
    });
    if let Some(lines) = hit {
        return lines;
    }
    let lines = render(code, &lang, theme);
    BLOCKS.with_borrow_mut(|memo| {
        memo.truncate(MEMO - 1);
        memo.push_front(Memo {
            color: theme.color,
            lang,
            code: code.to_owned(),
            lines: lines.clone(),
        });
    });
    lines
}

fn render(code: &str, lang: &str, theme: Theme) -> Lines {
    let code = code.trim_end_matches('\n');
    if !theme.color {
        return plain(code);
    }
    if lang == "diff" || lang == "patch" {
        return code.split('\n').map(|l| diff_line(l, theme)).collect();
    }
    match syntax(lang) {
        Some(syntax) => highlighted(code, syntax).unwrap_or_else(|| plain(code)),
        None => plain(code),
    }
}

/// The grammar for a fence's language: by name or file extension (`rs`, `rust`, `py`, `sh`,
/// `toml`, …), `None` for an unknown one.
fn syntax(lang: &str) -> Option<&'static SyntaxReference> {
    if lang.is_empty() || matches!(lang, "text" | "txt" | "plain" | "plaintext") {
        return None;
    }
    let set = &assets().syntaxes;
    set.find_syntax_by_token(lang)
        .or_else(|| set.find_syntax_by_extension(lang))
}

fn plain(code: &str) -> Lines {
    code.split('\n')
        .map(|l| vec![Span::raw(expand_tabs(l, 0))])
        .collect()
}

fn diff_line(line: &str, theme: Theme) -> Vec<Span<'static>> {
    let c = match line.chars().next() {
        Some('+') => Color::Green,
        Some('-') => Color::Red,
        Some('@') => Color::Cyan,
        _ => Color::Reset,
    };
    vec![Span::styled(expand_tabs(line, 0), theme.fg(c))]
}

/// `None` when the grammar fails on this text (a regex fancy-regex cannot run): the caller
/// shows the block plain rather than half coloured.
fn highlighted(code: &str, syntax: &SyntaxReference) -> Option<Lines> {
    let a = assets();
    let mut h = HighlightLines::new(syntax, &a.theme);
    let mut out = Vec::new();
    // The `newlines` grammars expect each line with its '\n'.
    let text = format!("{code}\n");
    for line in LinesWithEndings::from(&text) {
        let regions = h.highlight_line(line, &a.syntaxes).ok()?;
        let mut col = 0;
        let mut spans = Vec::with_capacity(regions.len());
        for (style, piece) in regions {
            let piece = piece.trim_end_matches(['\n', '\r']);
            if piece.is_empty() {
                continue;
            }
            let shown = expand_tabs(piece, col);
            col += unicode_width::UnicodeWidthStr::width(shown.as_str());
            spans.push(Span::styled(shown, to_style(style)));
        }
        out.push(spans);
    }
    Some(out)
}

/// bat's convention for terminal themes: alpha 0 means "palette entry `r`", alpha 1 means
/// "the terminal's default colour"; anything else is a true colour.
fn to_color(c: SynColor) -> Option<Color> {
    match c.a {
        0 => Some(match c.r {
            0 => Color::Black,
            1 => Color::Red,
            2 => Color::Green,
            3 => Color::Yellow,
            4 => Color::Blue,
            5 => Color::Magenta,
            6 => Color::Cyan,
            7 => Color::Gray,
            8 => Color::DarkGray,
            n => Color::Indexed(n),
        }),
        1 => None,
        _ => Some(Color::Rgb(c.r, c.g, c.b)),
    }
}

fn to_style(s: SynStyle) -> Style {
    let mut style = Style::default();
    if let Some(c) = to_color(s.foreground) {
        style = style.fg(c);
    }
    if s.font_style.contains(FontStyle::BOLD) {
        style = style.add_modifier(Modifier::BOLD);
    }
    if s.font_style.contains(FontStyle::ITALIC) {
        style = style.add_modifier(Modifier::ITALIC);
    }
    if s.font_style.contains(FontStyle::UNDERLINE) {
        style = style.add_modifier(Modifier::UNDERLINED);
    }
    style
}
