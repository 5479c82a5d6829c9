//! The start screen: recent sessions of this project, or a new one.

use botcoder_protocol::SessionId;
use botcoder_protocol::methods::SessionInfo;
use crossterm::event::{Event, EventStream, KeyCode};
use futures::StreamExt;
use ratatui::DefaultTerminal;
use ratatui::text::Line;
use ratatui::widgets::{Block, Borders, Paragraph};

/// What the user picked.
#[derive(Debug)]
pub enum Choice {
    /// An existing session.
    Existing(SessionId),
    /// A new session.
    New,
    /// Nothing.
    Quit,
}

/// Shows the picker (skipped when there is nothing to pick).
pub async fn pick(
    terminal: &mut DefaultTerminal,
    sessions: &[SessionInfo],
) -> Result<Choice, String> {
    if sessions.is_empty() {
        return Ok(Choice::New);
    }
    let recent: Vec<&SessionInfo> = sessions.iter().take(9).collect();
    let mut lines = vec![Line::raw("n  new session"), Line::raw("")];
    for (i, s) in recent.iter().enumerate() {
        let title = s
            .title
            .as_deref()
            .map(crate::view::sanitize::one_line)
            .unwrap_or_else(|| format!("{} events", s.last_seq));
        lines.push(Line::raw(format!(
            "{}  {}  {}  {title}",
            i + 1,
            s.session_id,
            s.updated_at.get(..19).unwrap_or(&s.updated_at)
        )));
    }
    lines.push(Line::raw(""));
    lines.push(Line::raw("press a number, n for a new session, q to quit"));
    terminal
        .draw(|f| {
            f.render_widget(
                Paragraph::new(lines.clone()).block(
                    Block::default()
                        .borders(Borders::ALL)
                        .title(" botcoder: sessions "),
                ),
                f.area(),
            )
        })
        .map_err(|e| e.to_string())?;
    let mut keys = EventStream::new();
    while let Some(Ok(ev)) = keys.next().await {
        if let Event::Key(k) = ev {
            match k.code {
                KeyCode::Char('n') | KeyCode::Enter => return Ok(Choice::New),
                KeyCode::Char('q') | KeyCode::Esc => return Ok(Choice::Quit),
                KeyCode::Char(c) => {
                    if let Some(s) = c
                        .to_digit(10)
                        .and_then(|d| recent.get((d as usize).wrapping_sub(1)))
                    {
                        return Ok(Choice::Existing(s.session_id.clone()));
                    }
                }
                _ => {}
            }
        }
    }
    Ok(Choice::Quit)
}
