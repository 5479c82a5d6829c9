//! The approval modal (the whole diff, scrollable, with every answer) and the scrollable
//! overlay that `/diff` and `/help` open.

use ratatui::Frame;
use ratatui::layout::Rect;
use ratatui::style::{Color, Style};
use ratatui::text::Line;
use ratatui::widgets::{Block, Borders, Clear, Paragraph};

use super::sanitize::{one_line, terminal_safe};
use super::wrap::wrap_text;
use super::{Theme, items};
use crate::state::{Overlay, PendingApproval};

fn centered(area: Rect, w: u16, h: u16) -> Rect {
    Rect {
        x: area.x + area.width.saturating_sub(w) / 2,
        y: area.y + area.height.saturating_sub(h) / 2,
        width: w.min(area.width),
        height: h.min(area.height),
    }
}

/// Draws the approval modal.
pub fn approval(f: &mut Frame<'_>, a: &PendingApproval, theme: Theme) {
    let area = f.area();
    let w = area.width.saturating_sub(4).min(100);
    let inner = w.saturating_sub(2) as usize;
    let mut body: Vec<Line<'static>> = Vec::new();
    if let Some(d) = &a.diff {
        items::diff_lines(&mut body, d, inner, theme, usize::MAX);
    }
    let mut head = wrap_text(&terminal_safe(&a.summary), inner, theme.bold(), "");
    let session = match &a.scope {
        Some(scope) => format!("[s] allow {} for this session", one_line(scope)),
        None => "[s] allow for this session".to_owned(),
    };
    let mut foot = vec![Line::raw("")];
    match &a.message {
        Some(m) => foot.push(Line::styled(
            format!(
                "deny with a message for the model: {}▏ (Enter sends, Esc back)",
                one_line(m)
            ),
            theme.fg(Color::Yellow),
        )),
        None => {
            foot.extend(wrap_text(
                &format!("[y] allow once   {session}   [n] deny   [m] deny with a message"),
                inner,
                theme.fg(Color::Yellow),
                "",
            ));
        }
    }
    // The diff scrolls between the fixed summary and answers.
    let fixed = head.len() + foot.len();
    let max_h = area.height.saturating_sub(2) as usize;
    let mut room = max_h.saturating_sub(fixed + 2).max(1);
    let more = body.len() > room;
    if more {
        // One row for the "lines a–b of n" note.
        room = room.saturating_sub(1).max(1);
    }
    let scroll = a.scroll.min(body.len().saturating_sub(room));
    let shown: Vec<Line<'static>> = body.iter().skip(scroll).take(room).cloned().collect();
    let h = (fixed + shown.len() + 2 + usize::from(more)).min(max_h) as u16;
    let rect = centered(area, w, h);
    head.extend(shown);
    if more {
        head.push(Line::styled(
            format!(
                "  lines {}–{} of {} (↑↓ PgUp PgDn scroll)",
                scroll + 1,
                (scroll + room).min(body.len()),
                body.len()
            ),
            theme.fg(Color::DarkGray),
        ));
    }
    head.extend(foot);
    f.render_widget(Clear, rect);
    let block = Block::default()
        .borders(Borders::ALL)
        .title(format!(" approve {}? ", one_line(&a.tool)));
    f.render_widget(Paragraph::new(head).block(block), rect);
}

/// Draws a scrollable overlay.
pub fn overlay(f: &mut Frame<'_>, o: &Overlay, theme: Theme) {
    let area = f.area();
    let rect = centered(
        area,
        area.width.saturating_sub(4),
        area.height.saturating_sub(2),
    );
    let inner = rect.width.saturating_sub(2) as usize;
    let mut lines = Vec::new();
    if o.text.starts_with("diff ") || o.text.starts_with("--- ") || o.text.contains("\n@@ ") {
        for l in o.text.lines() {
            let style = match l.chars().next() {
                Some('+') => theme.fg(Color::Green),
                Some('-') => theme.fg(Color::Red),
                Some('@') => theme.fg(Color::Cyan),
                _ => Style::default(),
            };
            lines.extend(wrap_text(&terminal_safe(l), inner, style, ""));
        }
    } else {
        lines = wrap_text(&terminal_safe(&o.text), inner, Style::default(), "");
    }
    let room = rect.height.saturating_sub(2) as usize;
    let scroll = o.scroll.min(lines.len().saturating_sub(room));
    let shown: Vec<Line<'static>> = lines.into_iter().skip(scroll).take(room).collect();
    f.render_widget(Clear, rect);
    let block = Block::default()
        .borders(Borders::ALL)
        .title(format!(" {} (↑↓ scroll, Esc closes) ", one_line(&o.title)));
    f.render_widget(Paragraph::new(shown).block(block), rect);
}
