//! The multi-line input box with history.

use crossterm::event::{KeyCode, KeyEvent};

/// Text being typed, the cursor (a char index) and the history of sent messages.
#[derive(Debug, Default, Clone, PartialEq)]
pub struct Input {
    /// The text.
    pub text: String,
    /// Cursor position in chars.
    pub cursor: usize,
    history: Vec<String>,
    recalled: Option<usize>,
}

impl Input {
    fn byte(&self, chars: usize) -> usize {
        self.text
            .char_indices()
            .nth(chars)
            .map_or(self.text.len(), |(i, _)| i)
    }

    /// Inserts a character at the cursor.
    pub fn insert(&mut self, c: char) {
        let at = self.byte(self.cursor);
        self.text.insert(at, c);
        self.cursor += 1;
    }

    /// Inserts pasted text.
    pub fn paste(&mut self, s: &str) {
        for c in s.chars() {
            self.insert(c);
        }
    }

    /// Takes the text (Enter), remembering it in the history.
    pub fn take(&mut self) -> String {
        let text = std::mem::take(&mut self.text);
        self.cursor = 0;
        self.recalled = None;
        if !text.trim().is_empty() {
            self.history.push(text.clone());
        }
        text
    }

    /// Editing keys.
    pub fn key(&mut self, key: KeyEvent) {
        match key.code {
            KeyCode::Char(c) => self.insert(c),
            KeyCode::Backspace if self.cursor > 0 => {
                self.cursor -= 1;
                let at = self.byte(self.cursor);
                self.text.remove(at);
            }
            KeyCode::Delete if self.cursor < self.text.chars().count() => {
                let at = self.byte(self.cursor);
                self.text.remove(at);
            }
            KeyCode::Left => self.cursor = self.cursor.saturating_sub(1),
            KeyCode::Right => self.cursor = (self.cursor + 1).min(self.text.chars().count()),
            KeyCode::Home => self.cursor = 0,
            KeyCode::End => self.cursor = self.text.chars().count(),
            KeyCode::Up if !self.history.is_empty() => {
                let i = self
                    .recalled
                    .map_or(self.history.len() - 1, |i| i.saturating_sub(1));
                self.recalled = Some(i);
                self.text = self.history[i].clone();
                self.cursor = self.text.chars().count();
            }
            KeyCode::Down => match self.recalled {
                Some(i) if i + 1 < self.history.len() => {
                    self.recalled = Some(i + 1);
                    self.text = self.history[i + 1].clone();
                    self.cursor = self.text.chars().count();
                }
                _ => {
                    self.recalled = None;
                    self.text.clear();
                    self.cursor = 0;
                }
            },
            _ => {}
        }
    }
}
