//! Drawing the state: a function of [`State`] (and the spinner frame), so views are
//! snapshot-tested on ratatui's `TestBackend`. `NO_COLOR` turns every colour off.
//!
//! Cost independent of history: each item's wrapped lines are cached ([`Cache`]) and the
//! transcript is laid out from the bottom up, only as far as the screen (plus the scroll)
//! reaches, so a frame while a reply streams re-renders the streaming item alone.

use std::time::Instant;

use botcoder_protocol::Mode;
use ratatui::Frame;
use ratatui::layout::{Constraint, Layout, Position, Rect};
use ratatui::style::{Color, Modifier, Style};
use ratatui::text::{Line, Span};
use ratatui::widgets::{Block, Borders, Clear, Paragraph};

use crate::state::{Item, State, policy_name};

mod highlight;
mod items;
mod markdown;
mod modal;
pub mod sanitize;
pub mod wrap;

use sanitize::one_line;

const SPINNER: [&str; 8] = ["⠋", "⠙", "⠹", "⠸", "⠼", "⠴", "⠦", "⠧"];

/// Colours, or none (`NO_COLOR`).
#[derive(Debug, Clone, Copy, PartialEq)]
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

/// Wrapped lines per transcript item, valid while the item, width and expansion are the same.
#[derive(Debug, Default)]
pub struct Cache {
    entries: Vec<Option<Entry>>,
    /// Items laid out afresh in the last frame (tests and the benchmark read it).
    pub rendered: usize,
}

#[derive(Debug)]
struct Entry {
    item: Item,
    width: usize,
    expanded: bool,
    theme: Theme,
    lines: Vec<Line<'static>>,
}

impl Cache {
    fn lines(&mut self, state: &State, i: usize, width: usize, theme: Theme) -> &[Line<'static>] {
        if self.entries.len() < state.items.len() {
            self.entries.resize_with(state.items.len(), || None);
        }
        let item = &state.items[i];
        let expanded = state.is_expanded(i);
        let fresh = self.entries[i].as_ref().is_some_and(|e| {
            e.width == width && e.expanded == expanded && e.theme == theme && &e.item == item
        });
        if !fresh {
            self.rendered += 1;
            self.entries[i] = Some(Entry {
                item: item.clone(),
                width,
                expanded,
                theme,
                lines: items::lines(item, width, expanded, theme),
            });
        }
        self.entries[i].as_ref().map_or(&[], |e| &e.lines)
    }
}

/// The last `height` lines of the transcript, `scroll` lines up from the bottom (clamped:
/// the scroll is written back so PgDn after scrolling past the top acts at once).
pub fn transcript_window(
    state: &State,
    cache: &mut Cache,
    width: usize,
    height: usize,
    theme: Theme,
) -> (Vec<Line<'static>>, usize) {
    cache.rendered = 0;
    if cache.entries.len() > state.items.len() {
        cache.entries.truncate(state.items.len());
    }
    let need = height.saturating_add(state.scroll);
    let mut rev: Vec<Line<'static>> = Vec::new();
    // The picked block (Alt-Up/Down): its lines in `rev`, counted from the bottom.
    let mut picked = None;
    for i in (0..state.items.len()).rev() {
        let lines = cache.lines(state, i, width, theme);
        let below = rev.len();
        rev.extend(lines.iter().rev().cloned());
        if state.selected == Some(i) && rev.len() > below {
            picked = Some((below, rev.len()));
            let first = rev.len() - 1;
            rev[first].spans.insert(
                0,
                Span::styled("▶ ", theme.fg(Color::Yellow).add_modifier(Modifier::BOLD)),
            );
        }
        if rev.len() >= need && state.selected.is_none_or(|s| i <= s) {
            break;
        }
    }
    let mut scroll = state.scroll;
    // Keep the picked block on screen, its first line if it is taller than the screen.
    if let Some((low, high)) = picked {
        if high > scroll + height {
            scroll = high - height;
        }
        if low < scroll {
            scroll = if high - low <= height {
                low
            } else {
                high - height
            };
        }
    }
    let scroll = scroll.min(rev.len().saturating_sub(height));
    let visible: Vec<Line<'static>> = rev.into_iter().skip(scroll).take(height).rev().collect();
    (visible, scroll)
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
        (Some(Mode::Local), _) => Span::styled(
            " Local (BYOK) ",
            theme.fg(Color::Green).add_modifier(Modifier::REVERSED),
        ),
        (None, _) => Span::styled(
            " … ",
            theme.fg(Color::DarkGray).add_modifier(Modifier::REVERSED),
        ),
    };
    let mut spans = vec![mode, Span::raw(" ")];
    if state.is_running() {
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
    let model = match (&state.provider, &state.model) {
        (Some(p), Some(m)) => Some(format!("{p} · {m}")),
        (Some(x), None) | (None, Some(x)) => Some(x.clone()),
        (None, None) => None,
    };
    if let Some(m) = model {
        spans.push(Span::raw(format!("  {}", one_line(&m))));
    }
    if let Some(a) = state.approval_policy {
        spans.push(Span::raw(format!(" · approval {}", policy_name(a))));
    }
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

/// The status line: a live hint, else context, tokens, cost, sandbox and the main keys.
fn status_line(state: &State) -> String {
    if let Some((hint, until)) = &state.status
        && Instant::now() < *until
    {
        return one_line(hint);
    }
    let mut parts = Vec::new();
    if let Some(w) = state.context_window.filter(|w| *w > 0) {
        let pct = (state.context_used as f64 / w as f64 * 100.0).min(100.0);
        parts.push(format!("context {pct:.0}%"));
    }
    parts.push(format!("{} tokens", state.tokens));
    if let Some(c) = state.cost_usd {
        parts.push(format!("${c:.4}"));
    }
    if let Some(s) = &state.sandbox {
        parts.push(format!("sandbox {}", one_line(s)));
    }
    parts.push("/help · Ctrl-C cancel/clear/detach · Ctrl-O expand".into());
    parts.join(" · ")
}

/// The input soft-wrapped to `width` columns (tabs expanded, control characters escaped),
/// and the cursor's (row, column) in those rows.
fn input_rows(state: &State, width: usize) -> (Vec<String>, usize, usize) {
    use unicode_width::{UnicodeWidthChar, UnicodeWidthStr};
    let width = width.max(1);
    let (crow, ccol) = state.input.cursor_chars();
    let (mut rows, mut cy, mut cx) = (Vec::new(), 0, 0);
    for (i, line) in state.input.lines().iter().enumerate() {
        let start = rows.len();
        let mut cur = String::new();
        let mut used = 0;
        for c in wrap::expand_tabs(&sanitize::terminal_safe(line), 0).chars() {
            let cw = c.width().unwrap_or(0);
            if used + cw > width {
                rows.push(std::mem::take(&mut cur));
                used = 0;
            }
            cur.push(c);
            used += cw;
        }
        rows.push(cur);
        if i == crow {
            let prefix: String = line.chars().take(ccol).collect();
            let w = wrap::expand_tabs(&sanitize::terminal_safe(&prefix), 0).width();
            (cy, cx) = (start + w / width, w % width);
            if cy >= rows.len() {
                // The cursor just past a full row: a row of its own.
                rows.push(String::new());
            }
        }
    }
    (rows, cy, cx)
}

/// Draws everything.
pub fn draw(f: &mut Frame<'_>, state: &State, theme: Theme, tick: usize, cache: &mut Cache) {
    let area = f.area();
    let (rows, cy, cx) = input_rows(state, area.width.saturating_sub(2) as usize);
    let input_height = (rows.len() as u16 + 2).min(area.height / 3).max(3);
    let queued = state.queued.len().min(3) as u16;
    let [head, body, queue, input, status] = Layout::vertical([
        Constraint::Length(1),
        Constraint::Min(1),
        Constraint::Length(queued),
        Constraint::Length(input_height),
        Constraint::Length(1),
    ])
    .areas(area);
    f.render_widget(Paragraph::new(header(state, theme, tick)), head);

    let (visible, _) = transcript_window(
        state,
        cache,
        body.width as usize,
        body.height as usize,
        theme,
    );
    f.render_widget(Paragraph::new(visible), body);

    let q: Vec<Line<'static>> = state
        .queued
        .iter()
        .take(3)
        .map(|m| {
            let first = crate::state::mention::split(&m.text)
                .0
                .lines()
                .next()
                .unwrap_or("")
                .to_owned();
            Line::styled(
                format!("⏸ queued ({}): {}", one_line(&m.client), one_line(&first)),
                theme.fg(Color::Yellow),
            )
        })
        .collect();
    f.render_widget(Paragraph::new(q), queue);

    let title = if state.is_running() {
        " message (queued until the turn ends) "
    } else {
        " message "
    };
    let inner_h = input_height.saturating_sub(2) as usize;
    let first = cy.saturating_sub(inner_h.saturating_sub(1));
    let text: Vec<Line<'static>> = rows.into_iter().skip(first).map(Line::raw).collect();
    let block = Block::default().borders(Borders::ALL).title(title);
    f.render_widget(Paragraph::new(text).block(block), input);
    if state.approval.is_none() && state.overlay.is_none() {
        f.set_cursor_position(Position {
            x: input.x + 1 + cx as u16,
            y: input.y + 1 + (cy - first) as u16,
        });
    }

    f.render_widget(
        Paragraph::new(Line::styled(status_line(state), theme.fg(Color::DarkGray))),
        status,
    );

    let rows = state.completions();
    if !rows.is_empty() && state.approval.is_none() {
        let h = (rows.len() as u16).min(8) + 2;
        let rect = Rect {
            x: input.x,
            y: input.y.saturating_sub(h),
            width: input.width.min(70),
            height: h.min(input.y),
        };
        let sel = state.popup.min(rows.len() - 1);
        let lines: Vec<Line<'static>> = rows
            .iter()
            .enumerate()
            .take(8)
            .map(|(i, r)| {
                let style = if i == sel {
                    Style::default().add_modifier(Modifier::REVERSED)
                } else {
                    Style::default()
                };
                Line::styled(one_line(r), style)
            })
            .collect();
        f.render_widget(Clear, rect);
        f.render_widget(
            Paragraph::new(lines).block(
                Block::default()
                    .borders(Borders::ALL)
                    .title(" Tab completes "),
            ),
            rect,
        );
    }

    if let Some(o) = &state.overlay {
        modal::overlay(f, o, theme);
    }
    if let Some(a) = &state.approval {
        modal::approval(f, a, theme);
    }
}

#[cfg(test)]
#[path = "tests.rs"]
mod tests;

#[cfg(test)]
#[path = "highlight_tests.rs"]
mod highlight_tests;
