//! Markdown for a terminal through `pulldown-cmark` (CommonMark, so `snake_case` is never
//! emphasis): headings, lists, emphasis, inline code, fenced code without its fences,
//! tables, quotes, links. Fenced code is coloured by its language (`super::highlight`).

use pulldown_cmark::{CodeBlockKind, Event, HeadingLevel, Options, Parser, Tag, TagEnd};
use ratatui::style::{Color, Modifier, Style};
use ratatui::text::{Line, Span};
use unicode_width::UnicodeWidthStr;

use super::wrap::{expand_tabs, wrap_spans};
use super::{Theme, highlight};

/// Renders `text` (already terminal-safe) into lines of at most `width` columns.
pub fn render(text: &str, width: usize, theme: Theme) -> Vec<Line<'static>> {
    let mut r = Renderer {
        theme,
        width,
        out: Vec::new(),
        spans: Vec::new(),
        styles: vec![Style::default()],
        lists: Vec::new(),
        quote: 0,
        item_start: false,
        code: None,
        table: None,
        link: None,
    };
    let opts = Options::ENABLE_TABLES | Options::ENABLE_STRIKETHROUGH;
    for ev in Parser::new_ext(text, opts) {
        r.event(ev);
    }
    r.flush();
    while r.out.last().is_some_and(|l| l.width() == 0) {
        r.out.pop();
    }
    r.out
}

struct Renderer {
    theme: Theme,
    width: usize,
    out: Vec<Line<'static>>,
    spans: Vec<Span<'static>>,
    styles: Vec<Style>,
    /// Open lists: the next number, or `None` for bullets.
    lists: Vec<Option<u64>>,
    quote: usize,
    item_start: bool,
    code: Option<(String, String)>,
    table: Option<Vec<Vec<String>>>,
    link: Option<String>,
}

impl Renderer {
    fn style(&self) -> Style {
        self.styles.last().copied().unwrap_or_default()
    }

    fn push_style(&mut self, f: impl FnOnce(Style) -> Style) {
        let s = f(self.style());
        self.styles.push(s);
    }

    fn indent(&self) -> String {
        let mut s = "│ ".repeat(self.quote);
        s.push_str(&"  ".repeat(self.lists.len().saturating_sub(1)));
        s
    }

    fn blank(&mut self) {
        if self.out.last().is_some_and(|l| l.width() > 0) {
            self.out.push(Line::raw(""));
        }
    }

    fn flush(&mut self) {
        if self.spans.is_empty() {
            return;
        }
        let spans = std::mem::take(&mut self.spans);
        let indent = self.indent();
        let (first, rest) = if self.item_start {
            self.item_start = false;
            let marker = match self.lists.last_mut() {
                Some(Some(n)) => {
                    *n += 1;
                    format!("{}. ", *n - 1)
                }
                _ => "• ".to_owned(),
            };
            let pad = " ".repeat(marker.width());
            (format!("{indent}{marker}"), format!("{indent}{pad}"))
        } else if self.lists.is_empty() {
            (indent.clone(), indent)
        } else {
            (format!("{indent}  "), format!("{indent}  "))
        };
        let dim = self.theme.fg(Color::DarkGray);
        self.out.extend(wrap_spans(
            &spans,
            self.width,
            Span::styled(first, dim),
            Span::styled(rest, dim),
        ));
    }

    fn text(&mut self, t: &str) {
        if let Some((_, code)) = &mut self.code {
            code.push_str(t);
            return;
        }
        if let Some(rows) = &mut self.table {
            if let Some(cell) = rows.last_mut().and_then(|r| r.last_mut()) {
                cell.push_str(t);
            }
            return;
        }
        let style = self.style();
        self.spans.push(Span::styled(expand_tabs(t, 0), style));
    }

    fn event(&mut self, ev: Event<'_>) {
        match ev {
            Event::Start(tag) => self.start(tag),
            Event::End(tag) => self.end(tag),
            Event::Text(t) => self.text(&t),
            Event::Code(t) => {
                if let Some(rows) = &mut self.table {
                    if let Some(cell) = rows.last_mut().and_then(|r| r.last_mut()) {
                        cell.push_str(&t);
                    }
                    return;
                }
                self.spans
                    .push(Span::styled(t.into_string(), self.theme.fg(Color::Yellow)));
            }
            Event::SoftBreak => self.text(" "),
            Event::HardBreak => self.flush(),
            Event::Rule => {
                self.flush();
                self.blank();
                let w = self.width.min(40);
                self.out
                    .push(Line::styled("─".repeat(w), self.theme.fg(Color::DarkGray)));
            }
            Event::Html(t) | Event::InlineHtml(t) => self.text(&t),
            Event::TaskListMarker(done) => self.text(if done { "[x] " } else { "[ ] " }),
            Event::FootnoteReference(t) => self.text(&format!("[{t}]")),
            Event::InlineMath(t) | Event::DisplayMath(t) => self.text(&t),
        }
    }

    fn start(&mut self, tag: Tag<'_>) {
        match tag {
            Tag::Paragraph if !self.item_start => {
                self.flush();
                if self.lists.is_empty() {
                    self.blank();
                }
            }
            Tag::Heading { level, .. } => {
                self.flush();
                self.blank();
                let color = match level {
                    HeadingLevel::H1 => Color::Cyan,
                    HeadingLevel::H2 => Color::Blue,
                    _ => Color::Reset,
                };
                let theme = self.theme;
                self.push_style(|s| s.patch(theme.fg(color)).add_modifier(Modifier::BOLD));
            }
            Tag::BlockQuote(_) => {
                self.flush();
                self.quote += 1;
                let theme = self.theme;
                self.push_style(|s| s.patch(theme.fg(Color::DarkGray)));
            }
            Tag::CodeBlock(kind) => {
                self.flush();
                self.blank();
                let lang = match kind {
                    CodeBlockKind::Fenced(l) => l.split([',', ' ']).next().unwrap_or("").to_owned(),
                    CodeBlockKind::Indented => String::new(),
                };
                self.code = Some((lang, String::new()));
            }
            Tag::List(start) => {
                self.flush();
                if self.lists.is_empty() {
                    self.blank();
                }
                self.lists.push(start);
            }
            Tag::Item => {
                self.flush();
                self.item_start = true;
            }
            Tag::Emphasis => self.push_style(|s| s.add_modifier(Modifier::ITALIC)),
            Tag::Strong => self.push_style(|s| s.add_modifier(Modifier::BOLD)),
            Tag::Strikethrough => self.push_style(|s| s.add_modifier(Modifier::CROSSED_OUT)),
            Tag::Link { dest_url, .. } => {
                self.link = Some(dest_url.into_string());
                let theme = self.theme;
                self.push_style(|s| {
                    s.patch(theme.fg(Color::Blue))
                        .add_modifier(Modifier::UNDERLINED)
                });
            }
            Tag::Table(_) => {
                self.flush();
                self.blank();
                self.table = Some(Vec::new());
            }
            Tag::TableHead | Tag::TableRow => {
                if let Some(t) = &mut self.table {
                    t.push(Vec::new());
                }
            }
            Tag::TableCell => {
                if let Some(r) = self.table.as_mut().and_then(|t| t.last_mut()) {
                    r.push(String::new());
                }
            }
            _ => {}
        }
    }

    fn end(&mut self, tag: TagEnd) {
        match tag {
            TagEnd::Paragraph => self.flush(),
            TagEnd::Heading(_) => {
                self.flush();
                self.styles.pop();
            }
            TagEnd::BlockQuote(_) => {
                self.flush();
                self.quote = self.quote.saturating_sub(1);
                self.styles.pop();
            }
            TagEnd::CodeBlock => {
                if let Some((lang, code)) = self.code.take() {
                    let indent = self.indent();
                    for l in highlight::block(&code, &lang, self.theme) {
                        let mut spans = vec![Span::raw(format!("{indent}  "))];
                        spans.extend(l);
                        self.out.push(Line::from(spans));
                    }
                    self.blank();
                }
            }
            TagEnd::List(_) => {
                self.flush();
                self.lists.pop();
            }
            TagEnd::Item => self.flush(),
            TagEnd::Emphasis | TagEnd::Strong | TagEnd::Strikethrough => {
                self.styles.pop();
            }
            TagEnd::Link => {
                self.styles.pop();
                if let Some(url) = self.link.take() {
                    let shown: String = self.spans.iter().map(|s| s.content.as_ref()).collect();
                    if !shown.ends_with(url.as_str()) {
                        self.spans.push(Span::styled(
                            format!(" ({url})"),
                            self.theme.fg(Color::DarkGray),
                        ));
                    }
                }
            }
            TagEnd::Table => {
                if let Some(rows) = self.table.take() {
                    self.table_lines(&rows);
                }
            }
            _ => {}
        }
    }

    fn table_lines(&mut self, rows: &[Vec<String>]) {
        let cols = rows.iter().map(Vec::len).max().unwrap_or(0);
        let mut widths = vec![0usize; cols];
        for r in rows {
            for (i, c) in r.iter().enumerate() {
                widths[i] = widths[i].max(c.width());
            }
        }
        // Too wide for the screen: shrink the widest columns (cells are then cut with …).
        while widths.iter().sum::<usize>() + 3 * cols > self.width && widths.iter().any(|w| *w > 4)
        {
            if let Some(w) = widths.iter_mut().max() {
                *w -= 1;
            }
        }
        for (ri, r) in rows.iter().enumerate() {
            let mut line = String::new();
            for (i, w) in widths.iter().enumerate() {
                let cell = r.get(i).map_or("", String::as_str);
                let cell = fit(cell, *w);
                let pad = w.saturating_sub(cell.width());
                line.push_str(&cell);
                line.push_str(&" ".repeat(pad));
                if i + 1 < cols {
                    line.push_str(" │ ");
                }
            }
            let style = if ri == 0 {
                self.theme.bold()
            } else {
                Style::default()
            };
            self.out.push(Line::styled(line, style));
            if ri == 0 {
                let sep: Vec<String> = widths.iter().map(|w| "─".repeat(*w)).collect();
                self.out.push(Line::styled(
                    sep.join("─┼─"),
                    self.theme.fg(Color::DarkGray),
                ));
            }
        }
        self.blank();
    }
}

fn fit(s: &str, w: usize) -> String {
    if s.width() <= w {
        return s.to_owned();
    }
    let mut out = String::new();
    for c in s.chars() {
        if out.width() + 2 > w {
            break;
        }
        out.push(c);
    }
    out.push('…');
    out
}
