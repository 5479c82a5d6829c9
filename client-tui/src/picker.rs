//! The start screen: every session of this project (newest first) with its title, arrow
//! keys to choose, type to filter, Enter to open; the first row starts a new session.

use botcoder_protocol::SessionId;
use botcoder_protocol::methods::SessionInfo;
use crossterm::event::{Event, EventStream, KeyCode, KeyEvent, KeyModifiers};
use futures::StreamExt;
use ratatui::layout::{Constraint, Layout};
use ratatui::style::{Modifier, Style};
use ratatui::text::Line;
use ratatui::widgets::{Block, Borders, Paragraph};
use ratatui::{DefaultTerminal, Frame};

use crate::view::sanitize::one_line;

/// What the user picked.
#[derive(Debug, PartialEq)]
pub enum Choice {
    /// An existing session.
    Existing(SessionId),
    /// A new session.
    New,
    /// Nothing.
    Quit,
}

/// The picker's state (pure, so it is unit-tested).
#[derive(Debug, Default)]
pub struct Picker {
    sessions: Vec<SessionInfo>,
    /// Typed filter.
    pub filter: String,
    /// Selected row (0 is "new session").
    pub selected: usize,
}

fn title(s: &SessionInfo) -> String {
    s.title
        .as_deref()
        .map(one_line)
        .unwrap_or_else(|| "(untitled)".into())
}

impl Picker {
    /// A picker over `sessions`.
    pub fn new(sessions: &[SessionInfo]) -> Picker {
        let mut sessions = sessions.to_vec();
        sessions.sort_by(|a, b| b.updated_at.cmp(&a.updated_at));
        Picker {
            sessions,
            ..Picker::default()
        }
    }

    /// Sessions matching the filter (title or id, case-insensitive).
    pub fn visible(&self) -> Vec<&SessionInfo> {
        let f = self.filter.to_lowercase();
        self.sessions
            .iter()
            .filter(|s| {
                f.is_empty()
                    || title(s).to_lowercase().contains(&f)
                    || s.session_id.as_str().contains(&f)
            })
            .collect()
    }

    /// A key; `Some` when the user chose.
    pub fn key(&mut self, k: KeyEvent) -> Option<Choice> {
        let rows = self.visible().len() + 1;
        match k.code {
            KeyCode::Char('c') if k.modifiers.contains(KeyModifiers::CONTROL) => {
                return Some(Choice::Quit);
            }
            KeyCode::Esc if self.filter.is_empty() => return Some(Choice::Quit),
            KeyCode::Esc => self.filter.clear(),
            KeyCode::Up => self.selected = self.selected.saturating_sub(1),
            KeyCode::Down => self.selected = (self.selected + 1).min(rows - 1),
            KeyCode::PageUp => self.selected = self.selected.saturating_sub(10),
            KeyCode::PageDown => self.selected = (self.selected + 10).min(rows - 1),
            KeyCode::Home => self.selected = 0,
            KeyCode::End => self.selected = rows - 1,
            KeyCode::Enter => {
                return Some(match self.selected {
                    0 => Choice::New,
                    i => self
                        .visible()
                        .get(i - 1)
                        .map_or(Choice::New, |s| Choice::Existing(s.session_id.clone())),
                });
            }
            KeyCode::Backspace => {
                self.filter.pop();
                self.selected = self.selected.min(self.visible().len());
            }
            KeyCode::Char(c) => {
                self.filter.push(c);
                // Filtering jumps to the best match.
                self.selected = usize::from(!self.visible().is_empty());
            }
            _ => {}
        }
        None
    }

    /// Draws the picker.
    pub fn draw(&self, f: &mut Frame<'_>) {
        let [list, help] =
            Layout::vertical([Constraint::Min(3), Constraint::Length(1)]).areas(f.area());
        let visible = self.visible();
        let height = list.height.saturating_sub(2) as usize;
        let first = (self.selected + 1).saturating_sub(height);
        let mut lines = Vec::new();
        let rows = std::iter::once("+ new session".to_owned()).chain(visible.iter().map(|s| {
            let when = s
                .updated_at
                .get(..16)
                .unwrap_or(&s.updated_at)
                .replace('T', " ");
            let running = if s.running_turn.is_some() { " ●" } else { "" };
            format!("{when}  {}  {}{running}", s.session_id, title(s))
        }));
        for (i, row) in rows.enumerate().skip(first).take(height) {
            let style = if i == self.selected {
                Style::default().add_modifier(Modifier::REVERSED)
            } else {
                Style::default()
            };
            lines.push(Line::styled(row, style));
        }
        let filter = if self.filter.is_empty() {
            String::new()
        } else {
            format!(" filter: {} ", one_line(&self.filter))
        };
        let block = Block::default()
            .borders(Borders::ALL)
            .title(format!(" botcoder: {} sessions{filter}", visible.len()));
        f.render_widget(Paragraph::new(lines).block(block), list);
        f.render_widget(
            Paragraph::new("↑↓ choose · type to filter · Enter open · Esc quit"),
            help,
        );
    }
}

/// Shows the picker (skipped when there is nothing to pick).
pub async fn pick(
    terminal: &mut DefaultTerminal,
    sessions: &[SessionInfo],
) -> Result<Choice, String> {
    if sessions.is_empty() {
        return Ok(Choice::New);
    }
    let mut p = Picker::new(sessions);
    p.selected = 1;
    let mut keys = EventStream::new();
    loop {
        terminal.draw(|f| p.draw(f)).map_err(|e| e.to_string())?;
        match keys.next().await {
            Some(Ok(Event::Key(k))) => {
                if let Some(c) = p.key(k) {
                    return Ok(c);
                }
            }
            Some(Ok(_)) => {}
            _ => return Ok(Choice::Quit),
        }
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used)]
    use super::*;
    use pretty_assertions::assert_eq;
    use ratatui::Terminal;
    use ratatui::backend::TestBackend;

    fn info(id: &str, title: Option<&str>, updated: &str) -> SessionInfo {
        SessionInfo {
            session_id: id.into(),
            title: title.map(String::from),
            project_path: "/p".into(),
            created_at: updated.into(),
            updated_at: updated.into(),
            last_seq: 3,
            running_turn: None,
            queued_turns: 0,
            approval: Default::default(),
            provider: None,
            model: None,
            sandbox: None,
            cost_usd: None,
        }
    }

    fn key(c: KeyCode) -> KeyEvent {
        KeyEvent::new(c, KeyModifiers::NONE)
    }

    #[test]
    fn every_session_is_reachable_by_arrows_and_by_filter() {
        let sessions: Vec<SessionInfo> = (0..30)
            .map(|i| {
                info(
                    &format!("s{i:02}"),
                    Some(&format!("task {i}")),
                    &format!("2026-12-01T10:{i:02}:00Z"),
                )
            })
            .collect();
        let mut p = Picker::new(&sessions);
        assert_eq!(p.visible().len(), 30);
        for _ in 0..29 {
            p.key(key(KeyCode::Down));
        }
        // Newest first: the 30th row down is the oldest session.
        assert_eq!(p.key(key(KeyCode::Down)), None);
        assert_eq!(
            p.key(key(KeyCode::Enter)),
            Some(Choice::Existing("s00".into()))
        );
        let mut p = Picker::new(&sessions);
        for c in "task 17".chars() {
            p.key(key(KeyCode::Char(c)));
        }
        assert_eq!(
            p.key(key(KeyCode::Enter)),
            Some(Choice::Existing("s17".into()))
        );
        assert_eq!(
            Picker::new(&sessions).key(key(KeyCode::Enter)),
            Some(Choice::New)
        );
    }

    #[test]
    fn picker_snapshot() {
        let p = Picker::new(&[
            info("abc", Some("fix the parser"), "2026-12-01T10:00:00Z"),
            info("def", None, "2026-12-01T11:00:00Z"),
        ]);
        let mut t = Terminal::new(TestBackend::new(60, 7)).unwrap();
        t.draw(|f| p.draw(f)).unwrap();
        let buf = t.backend().buffer().clone();
        let screen: Vec<String> = (0..7)
            .map(|y| {
                (0..60)
                    .map(|x| buf[(x, y)].symbol().to_owned())
                    .collect::<String>()
                    .trim_end()
                    .to_owned()
            })
            .collect();
        insta::assert_snapshot!(screen.join("\n"));
    }
}
