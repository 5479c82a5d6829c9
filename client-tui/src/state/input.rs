//! The multi-line input box: a small line-based editor with emacs keys, a kill buffer and
//! the history of sent messages. Hand-written rather than `ratatui-textarea` because that
//! crate brings its own crossterm backend crate and key type, and what the TUI needs on top
//! of an editor (history only from the first/last line, CR-as-LF paste, a draft kept while
//! history is browsed) would sit beside it anyway. Kept as lines so an edit costs the length
//! of one line and a paste is linear in its size.

use crossterm::event::{KeyCode, KeyEvent, KeyModifiers};
use unicode_width::UnicodeWidthStr;

/// How many sent messages are remembered.
pub const HISTORY_CAP: usize = 1000;

/// Text being typed (one `String` per line), the cursor (line, char column), and history.
#[derive(Debug, Clone, PartialEq)]
pub struct Input {
    lines: Vec<String>,
    row: usize,
    col: usize,
    history: Vec<String>,
    /// The history entry shown, and the draft it replaced.
    recalled: Option<(usize, String)>,
    kill: String,
}

impl Default for Input {
    fn default() -> Input {
        Input {
            lines: vec![String::new()],
            row: 0,
            col: 0,
            history: Vec::new(),
            recalled: None,
            kill: String::new(),
        }
    }
}

fn byte(line: &str, col: usize) -> usize {
    line.char_indices().nth(col).map_or(line.len(), |(i, _)| i)
}

fn chars(line: &str) -> usize {
    line.chars().count()
}

impl Input {
    /// The whole text, lines joined with `\n`.
    pub fn text(&self) -> String {
        self.lines.join("\n")
    }

    /// The lines.
    pub fn lines(&self) -> &[String] {
        &self.lines
    }

    /// Nothing typed.
    pub fn is_empty(&self) -> bool {
        self.lines.len() == 1 && self.lines[0].is_empty()
    }

    /// The cursor as (line, display column).
    pub fn cursor(&self) -> (usize, usize) {
        let line = &self.lines[self.row];
        (self.row, line[..byte(line, self.col)].width())
    }

    /// The cursor as (line, char index).
    pub fn cursor_chars(&self) -> (usize, usize) {
        (self.row, self.col)
    }

    /// Replaces the text, the cursor at its end.
    pub fn set_text(&mut self, s: &str) {
        self.lines = s.split('\n').map(str::to_owned).collect();
        self.row = self.lines.len() - 1;
        self.col = chars(&self.lines[self.row]);
    }

    /// Clears the text (kept in the kill buffer, so C-y brings it back).
    pub fn clear(&mut self) {
        if !self.is_empty() {
            self.kill = self.text();
        }
        self.set_text("");
        self.recalled = None;
    }

    /// Inserts a character at the cursor (`\n` splits the line).
    pub fn insert(&mut self, c: char) {
        if c == '\n' {
            let line = &mut self.lines[self.row];
            let rest = line.split_off(byte(line, self.col));
            self.row += 1;
            self.col = 0;
            self.lines.insert(self.row, rest);
        } else {
            let line = &mut self.lines[self.row];
            line.insert(byte(line, self.col), c);
            self.col += 1;
        }
    }

    /// Inserts text at the cursor in one pass: CR LF and a lone CR (what terminals send for
    /// Enter inside a paste) become line breaks, tabs are kept.
    pub fn paste(&mut self, s: &str) {
        let normal = s.replace("\r\n", "\n").replace('\r', "\n");
        let line = &mut self.lines[self.row];
        let tail = line.split_off(byte(line, self.col));
        let mut pieces = normal.split('\n');
        if let Some(first) = pieces.next() {
            self.lines[self.row].push_str(first);
        }
        let mut new: Vec<String> = pieces.map(str::to_owned).collect();
        if new.is_empty() {
            self.col = chars(&self.lines[self.row]);
            self.lines[self.row].push_str(&tail);
            return;
        }
        let last = new.len() - 1;
        self.col = chars(&new[last]);
        new[last].push_str(&tail);
        let at = self.row + 1;
        self.row += new.len();
        self.lines.splice(at..at, new);
    }

    /// Replaces chars `from..cursor` of the current line with `with` (a completion).
    pub fn replace_before_cursor(&mut self, from: usize, with: &str) {
        self.cut(from.min(self.col), self.col);
        self.paste(with);
    }

    /// Takes the text (Enter), remembering it in the history.
    pub fn take(&mut self) -> String {
        let text = self.text();
        self.set_text("");
        self.recalled = None;
        self.remember(&text);
        text
    }

    /// Adds a sent message to the history (one copy of a repeat in a row).
    pub fn remember(&mut self, text: &str) {
        if text.trim().is_empty() || self.history.last().is_some_and(|l| l == text) {
            return;
        }
        self.history.push(text.to_owned());
        if self.history.len() > HISTORY_CAP {
            self.history.remove(0);
        }
    }

    /// The history, oldest first.
    pub fn history(&self) -> &[String] {
        &self.history
    }

    fn word_left(&self) -> usize {
        let cs: Vec<char> = self.lines[self.row].chars().collect();
        let mut i = self.col;
        while i > 0 && !cs[i - 1].is_alphanumeric() {
            i -= 1;
        }
        while i > 0 && cs[i - 1].is_alphanumeric() {
            i -= 1;
        }
        i
    }

    fn word_right(&self) -> usize {
        let cs: Vec<char> = self.lines[self.row].chars().collect();
        let mut i = self.col;
        while i < cs.len() && !cs[i].is_alphanumeric() {
            i += 1;
        }
        while i < cs.len() && cs[i].is_alphanumeric() {
            i += 1;
        }
        i
    }

    /// Removes chars `from..to` of the current line, returning them.
    fn cut(&mut self, from: usize, to: usize) -> String {
        let line = &mut self.lines[self.row];
        let (a, b) = (byte(line, from), byte(line, to));
        let gone: String = line.drain(a..b).collect();
        self.col = from;
        gone
    }

    fn backspace(&mut self) {
        if self.col > 0 {
            self.cut(self.col - 1, self.col);
        } else if self.row > 0 {
            let line = self.lines.remove(self.row);
            self.row -= 1;
            self.col = chars(&self.lines[self.row]);
            self.lines[self.row].push_str(&line);
        }
    }

    fn delete(&mut self) {
        if self.col < chars(&self.lines[self.row]) {
            self.cut(self.col, self.col + 1);
        } else if self.row + 1 < self.lines.len() {
            let next = self.lines.remove(self.row + 1);
            self.lines[self.row].push_str(&next);
        }
    }

    fn up(&mut self) {
        if self.row > 0 {
            self.row -= 1;
            self.col = self.col.min(chars(&self.lines[self.row]));
            return;
        }
        // History only from the first line: a draft is never thrown away, it comes back
        // when Down walks past the newest entry.
        if self.history.is_empty() {
            return;
        }
        let i = match &self.recalled {
            Some((i, _)) => i.saturating_sub(1),
            None => self.history.len() - 1,
        };
        let draft = match self.recalled.take() {
            Some((_, d)) => d,
            None => self.text(),
        };
        let entry = self.history[i].clone();
        self.set_text(&entry);
        // On the first line, so Up again goes on back in history.
        self.row = 0;
        self.col = self.col.min(chars(&self.lines[0]));
        self.recalled = Some((i, draft));
    }

    fn down(&mut self) {
        if self.row + 1 < self.lines.len() {
            self.row += 1;
            self.col = self.col.min(chars(&self.lines[self.row]));
            return;
        }
        match self.recalled.take() {
            Some((i, draft)) if i + 1 < self.history.len() => {
                let entry = self.history[i + 1].clone();
                self.set_text(&entry);
                self.recalled = Some((i + 1, draft));
            }
            Some((_, draft)) => self.set_text(&draft),
            None => {}
        }
    }

    /// Editing keys; returns whether the key was one.
    pub fn key(&mut self, key: KeyEvent) -> bool {
        let ctrl = key.modifiers.contains(KeyModifiers::CONTROL);
        let alt = key.modifiers.contains(KeyModifiers::ALT);
        let len = chars(&self.lines[self.row]);
        match key.code {
            KeyCode::Char('a') if ctrl => self.col = 0,
            KeyCode::Char('e') if ctrl => self.col = len,
            KeyCode::Char('b') if ctrl => self.left(),
            KeyCode::Char('f') if ctrl => self.right(),
            KeyCode::Char('p') if ctrl => self.up(),
            KeyCode::Char('n') if ctrl => self.down(),
            KeyCode::Char('d') if ctrl => self.delete(),
            KeyCode::Char('h') if ctrl => self.backspace(),
            KeyCode::Char('k') if ctrl => {
                if self.col == len {
                    self.delete();
                    self.kill = "\n".into();
                } else {
                    self.kill = self.cut(self.col, len);
                }
            }
            KeyCode::Char('u') if ctrl => self.kill = self.cut(0, self.col),
            KeyCode::Char('w') if ctrl => {
                let from = self.word_left();
                self.kill = self.cut(from, self.col);
            }
            KeyCode::Backspace if alt || ctrl => {
                let from = self.word_left();
                self.kill = self.cut(from, self.col);
            }
            KeyCode::Char('y') if ctrl => {
                let k = self.kill.clone();
                self.paste(&k);
            }
            KeyCode::Char('b') if alt => self.col = self.word_left(),
            KeyCode::Char('f') if alt => self.col = self.word_right(),
            KeyCode::Char('d') if alt => {
                let to = self.word_right();
                self.kill = self.cut(self.col, to);
            }
            KeyCode::Left if ctrl || alt => self.col = self.word_left(),
            KeyCode::Right if ctrl || alt => self.col = self.word_right(),
            KeyCode::Char(_) if ctrl || alt => return false,
            KeyCode::Char(c) => self.insert(c),
            KeyCode::Tab => self.insert('\t'),
            KeyCode::Backspace => self.backspace(),
            KeyCode::Delete => self.delete(),
            KeyCode::Left => self.left(),
            KeyCode::Right => self.right(),
            KeyCode::Home => self.col = 0,
            KeyCode::End => self.col = len,
            KeyCode::Up => self.up(),
            KeyCode::Down => self.down(),
            _ => return false,
        }
        true
    }

    fn left(&mut self) {
        if self.col > 0 {
            self.col -= 1;
        } else if self.row > 0 {
            self.row -= 1;
            self.col = chars(&self.lines[self.row]);
        }
    }

    fn right(&mut self) {
        if self.col < chars(&self.lines[self.row]) {
            self.col += 1;
        } else if self.row + 1 < self.lines.len() {
            self.row += 1;
            self.col = 0;
        }
    }
}

#[cfg(test)]
#[path = "input_tests.rs"]
mod tests;
