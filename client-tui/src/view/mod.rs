//! Drawing the state: a pure function of [`State`] (and the spinner frame), so views are
//! snapshot-tested on ratatui's `TestBackend`. `NO_COLOR` turns every colour off.

use std::time::Instant;

use botcoder_protocol::Mode;
use ratatui::Frame;
use ratatui::layout::{Constraint, Layout, Rect};
use ratatui::style::{Color, Modifier, Style};
use ratatui::text::{Line, Span};
use ratatui::widgets::{Block, Borders, Clear, Paragraph};

use crate::state::{Item, State};

mod markdown;
pub mod sanitize;

use sanitize::{one_line, terminal_safe};

const SPINNER: [&str; 8] = ["⠋", "⠙", "⠹", "⠸", "⠼", "⠴", "⠦", "⠧"];

/// Colours, or none (`NO_COLOR`).
#[derive(Debug, Clone, Copy)]
pub struct Theme {
    color: bool,
}

impl Theme {
    /// Colours unless `NO_COLOR` is set.
    pub fn from_env() -> Theme {
        Theme {
            color: std::env::var_os("NO_COLOR").is_none_or(|v| v.is_empty()),
        }
    }

    /// Plain.
    pub fn plain() -> Theme {
        Theme { color: false }
    }

    /// Explicitly coloured or not (tests).
    pub fn from_env_for_tests(color: bool) -> Theme {
        Theme { color }
    }

    fn fg(self, c: Color) -> Style {
        if self.color {
            Style::default().fg(c)
        } else {
            Style::default()
        }
    }

    fn bold(self) -> Style {
        Style::default().add_modifier(Modifier::BOLD)
    }
}

/// Splits `s` into lines of at most `width` chars, its control characters escaped.
fn wrap(s: &str, width: usize) -> Vec<String> {
    let width = width.max(1);
    let mut out = Vec::new();
    for line in terminal_safe(s).split('\n') {
        let chars: Vec<char> = line.chars().collect();
        if chars.is_empty() {
            out.push(String::new());
        }
        for chunk in chars.chunks(width) {
            out.push(chunk.iter().collect());
        }
    }
    out
}

fn push(lines: &mut Vec<Line<'static>>, text: &str, width: usize, style: Style) {
    for l in wrap(text, width) {
        lines.push(Line::styled(l, style));
    }
}

/// The transcript as wrapped lines.
pub fn transcript_lines(state: &State, width: usize, theme: Theme) -> Vec<Line<'static>> {
    let mut lines = Vec::new();
    for item in &state.items {
        match item {
            Item::User { client, text } => {
                lines.push(Line::from(vec![Span::styled(
                    format!("› you ({})", one_line(client)),
                    theme.fg(Color::Cyan).add_modifier(Modifier::BOLD),
                )]));
                push(&mut lines, text, width, Style::default());
            }
            Item::Assistant { text } => {
                let mut code = false;
                for raw in terminal_safe(text).split('\n') {
                    if raw.trim_start().starts_with("```") {
                        code = !code;
                        lines.push(Line::styled(raw.to_owned(), theme.fg(Color::DarkGray)));
                        continue;
                    }
                    for piece in wrap(raw, width) {
                        lines.push(if code {
                            markdown::code(&piece, theme)
                        } else if piece.starts_with('#') {
                            Line::styled(piece, theme.bold())
                        } else {
                            Line::from(markdown::inline(&piece, theme, Style::default()))
                        });
                    }
                }
            }
            Item::Tool {
                name,
                args,
                output,
                ok,
                exit_code,
                ..
            } => {
                let (mark, color) = match ok {
                    None => ("…", Color::Yellow),
                    Some(true) => ("✓", Color::Green),
                    Some(false) => ("✗", Color::Red),
                };
                let code = exit_code
                    .map(|c| format!(" (exit {c})"))
                    .unwrap_or_default();
                let head: String = one_line(&format!("{mark} {name} {args}{code}"))
                    .chars()
                    .take(width)
                    .collect();
                lines.push(Line::styled(head, theme.fg(color)));
                // Collapsed (Ctrl-O toggles): only the header; expanded: the output's tail.
                let shown = if state.tools_expanded { 20 } else { 0 };
                let out_lines: Vec<&str> = output.lines().collect();
                let tail = &out_lines[out_lines.len().saturating_sub(shown)..];
                for l in tail {
                    push(
                        &mut lines,
                        &format!("  │ {l}"),
                        width,
                        theme.fg(Color::DarkGray),
                    );
                }
            }
            Item::Diff { path, diff } => {
                lines.push(Line::styled(format!("Δ {}", one_line(path)), theme.bold()));
                for l in diff.lines().skip(2) {
                    let style = match l.chars().next() {
                        Some('+') => theme.fg(Color::Green),
                        Some('-') => theme.fg(Color::Red),
                        Some('@') => theme.fg(Color::Cyan),
                        _ => Style::default(),
                    };
                    push(&mut lines, l, width, style);
                }
            }
            Item::Progress {
                step,
                message,
                progress,
            } => {
                let filled = ((progress / 100.0) * 20.0).round().clamp(0.0, 20.0) as usize;
                let bar = format!(
                    "[{}{}] {:>3.0}% {step}: {message}",
                    "█".repeat(filled),
                    "░".repeat(20 - filled),
                    progress
                );
                push(&mut lines, &bar, width, theme.fg(Color::Magenta));
            }
            Item::Notice { text, error } => {
                let style = if *error {
                    theme
                        .fg(Color::Red)
                        .add_modifier(Modifier::BOLD | Modifier::REVERSED)
                } else {
                    theme.fg(Color::DarkGray)
                };
                push(&mut lines, &format!("── {text}"), width, style);
            }
        }
        lines.push(Line::raw(""));
    }
    lines
}

fn header(state: &State, theme: Theme, tick: usize) -> Line<'static> {
    let mode = match (state.mode, state.fallback) {
        (_, true) => Span::styled(
            " Fallback ",
            theme.fg(Color::Red).add_modifier(Modifier::REVERSED),
        ),
        (Some(Mode::MultiAgent), _) => Span::styled(
            " Multi-Agent (BotServer) ",
            theme.fg(Color::Magenta).add_modifier(Modifier::REVERSED),
        ),
        _ => Span::styled(
            " Local (BYOK) ",
            theme.fg(Color::Green).add_modifier(Modifier::REVERSED),
        ),
    };
    let mut spans = vec![mode, Span::raw(" ")];
    if state.running {
        spans.push(Span::raw(format!("{} ", SPINNER[tick % SPINNER.len()])));
    }
    spans.push(Span::styled(
        state
            .title
            .as_deref()
            .map(one_line)
            .unwrap_or_else(|| format!("session {}", state.session_id)),
        Style::default().add_modifier(Modifier::BOLD),
    ));
    if let Some(p) = &state.provider {
        spans.push(Span::raw(format!("  {}", one_line(p))));
    }
    spans.push(Span::raw(format!("  {} tokens", state.tokens)));
    if let Some((until, why)) = &state.waiting_until {
        let left = until
            .saturating_duration_since(Instant::now())
            .as_secs_f64();
        if left > 0.0 {
            spans.push(Span::styled(
                format!("  ⏳ {left:.0}s {}", one_line(why)),
                theme.fg(Color::Yellow),
            ));
        }
    }
    Line::from(spans)
}

/// Draws everything.
pub fn draw(f: &mut Frame<'_>, state: &State, theme: Theme, tick: usize) {
    let area = f.area();
    let input_height = (state.input.text.lines().count().max(1) as u16 + 2).min(6);
    let [head, body, input, status] = Layout::vertical([
        Constraint::Length(1),
        Constraint::Min(1),
        Constraint::Length(input_height),
        Constraint::Length(1),
    ])
    .areas(area);
    f.render_widget(Paragraph::new(header(state, theme, tick)), head);

    let lines = transcript_lines(state, body.width as usize, theme);
    let height = body.height as usize;
    let max_scroll = lines.len().saturating_sub(height);
    let scroll = state.scroll.min(max_scroll);
    let start = lines.len().saturating_sub(height + scroll);
    let visible: Vec<Line<'static>> = lines.into_iter().skip(start).take(height).collect();
    f.render_widget(Paragraph::new(visible), body);

    let queued = if state.queued > 0 {
        format!(" ({} queued)", state.queued)
    } else {
        String::new()
    };
    let block = Block::default()
        .borders(Borders::ALL)
        .title(format!(" message{queued} "));
    f.render_widget(Paragraph::new(state.input.text.clone()).block(block), input);

    let hints = if state.status.is_empty() {
        "Enter send · Alt+Enter newline · Esc cancel · Ctrl-O tool output · PgUp/PgDn scroll · Ctrl-C twice detach"
            .to_owned()
    } else {
        state.status.clone()
    };
    f.render_widget(
        Paragraph::new(Line::styled(hints, theme.fg(Color::DarkGray))),
        status,
    );

    if let Some(a) = &state.approval {
        let w = area.width.saturating_sub(4).min(80);
        let diff_lines = a.diff.as_deref().map_or(0, |d| d.lines().count().min(10));
        let h = (6 + diff_lines as u16).min(area.height.saturating_sub(2));
        let rect = Rect {
            x: area.x + (area.width - w) / 2,
            y: area.y + (area.height.saturating_sub(h)) / 2,
            width: w,
            height: h,
        };
        let mut text = vec![Line::styled(one_line(&a.summary), theme.bold())];
        if let Some(d) = &a.diff {
            for l in d.lines().skip(2).take(10) {
                let style = match l.chars().next() {
                    Some('+') => theme.fg(Color::Green),
                    Some('-') => theme.fg(Color::Red),
                    _ => Style::default(),
                };
                text.push(Line::styled(one_line(l), style));
            }
        }
        text.push(Line::raw(""));
        let session = match &a.scope {
            Some(scope) => format!("[s] allow {scope} for this session"),
            None => "[s] allow for this session".to_owned(),
        };
        text.push(Line::styled(
            format!("[y] allow   {session}   [n] deny"),
            theme.fg(Color::Yellow),
        ));
        f.render_widget(Clear, rect);
        let block = Block::default()
            .borders(Borders::ALL)
            .title(format!(" approve {}? ", one_line(&a.tool)));
        f.render_widget(Paragraph::new(text).block(block), rect);
    }
}

#[cfg(test)]
#[path = "tests.rs"]
mod tests;
