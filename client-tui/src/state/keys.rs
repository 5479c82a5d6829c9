//! Key presses: what each does to the state, and what it asks the app to do.

use std::time::{Duration, Instant};

use botcoder_protocol::ApprovalDecision;
use crossterm::event::{KeyCode, KeyEvent, KeyEventKind, KeyModifiers};

use super::slash::{self, Command, Parsed};
use super::{Overlay, State, mention};

/// Two Ctrl-C on an empty idle prompt within this detach.
const DOUBLE: Duration = Duration::from_secs(2);

/// What the user asked for.
#[derive(Debug, Clone, PartialEq)]
pub enum Action {
    /// Send a message, with the project files it mentions (`@path`) to attach.
    Send {
        /// Text as typed.
        text: String,
        /// Paths to attach.
        attach: Vec<String>,
    },
    /// Cancel the running turn.
    Cancel,
    /// Answer an approval, with a message for the model.
    Approve(String, ApprovalDecision, Option<String>),
    /// A slash command that needs the daemon.
    Command(Command),
    /// Turn mouse capture on or off (the state already says which).
    Mouse,
    /// Detach, leaving the session running.
    Quit,
}

impl State {
    /// The completion popup's rows: slash commands, or `@` file matches.
    pub fn completions(&self) -> Vec<String> {
        let lines = self.input.lines();
        let (row, col) = self.input.cursor_chars();
        if lines.len() == 1 && lines[0].starts_with('/') && !lines[0].contains(char::is_whitespace)
        {
            if lines[0].starts_with("//") {
                return Vec::new();
            }
            return slash::complete(&lines[0])
                .into_iter()
                .map(|(n, a, w)| format!("{n} {a}  {w}"))
                .collect();
        }
        match mention::word_at(&lines[row], col) {
            Some((_, q)) => mention::matches(&q, &self.files, 8)
                .into_iter()
                .map(|f| format!("@{f}"))
                .collect(),
            None => Vec::new(),
        }
    }

    fn accept_completion(&mut self) -> bool {
        let rows = self.completions();
        let Some(row) = rows.get(self.popup.min(rows.len().saturating_sub(1))) else {
            return false;
        };
        let word = row.split(' ').next().unwrap_or("").to_owned();
        let text = self.input.lines()[self.input.cursor_chars().0].clone();
        let (_, col) = self.input.cursor_chars();
        if word.starts_with('/') {
            self.input.set_text(&format!("{word} "));
        } else if let Some((start, _)) = mention::word_at(&text, col) {
            self.input.replace_before_cursor(start, &format!("{word} "));
        }
        self.popup = 0;
        true
    }

    /// A key press; returns what the user asked for.
    pub fn key(&mut self, key: KeyEvent) -> Option<Action> {
        if key.kind == KeyEventKind::Release {
            return None;
        }
        let ctrl = key.modifiers.contains(KeyModifiers::CONTROL);
        let alt = key.modifiers.contains(KeyModifiers::ALT);
        if ctrl && key.code == KeyCode::Char('c') {
            return self.ctrl_c();
        }
        self.ctrl_c_at = None;
        if let Some(a) = self.approval_key(key) {
            return a;
        }
        if let Some(o) = &mut self.overlay {
            match key.code {
                KeyCode::Up | KeyCode::Char('k') => o.scroll = o.scroll.saturating_sub(1),
                KeyCode::Down | KeyCode::Char('j') => o.scroll += 1,
                KeyCode::PageUp => o.scroll = o.scroll.saturating_sub(10),
                KeyCode::PageDown | KeyCode::Char(' ') => o.scroll += 10,
                KeyCode::Esc | KeyCode::Char('q') | KeyCode::Enter => self.overlay = None,
                _ => {}
            }
            return None;
        }
        let popup = self.completions().len();
        match key.code {
            KeyCode::Char('o') if ctrl => {
                self.expanded = !self.expanded;
                self.toggled.clear();
            }
            KeyCode::Char('o') if alt => {
                let target = self.selected.or_else(|| self.foldable().last());
                if let Some(i) = target
                    && !self.toggled.remove(&i)
                {
                    self.toggled.insert(i);
                }
            }
            KeyCode::Up if alt => self.select_block(-1),
            KeyCode::Down if alt => self.select_block(1),
            KeyCode::Esc if self.selected.is_some() => self.selected = None,
            KeyCode::F(2) => {
                self.mouse = !self.mouse;
                let on = if self.mouse {
                    "on (F2 turns it off to select text)"
                } else {
                    "off: text can be selected"
                };
                self.hint(format!("mouse {on}"));
                return Some(Action::Mouse);
            }
            KeyCode::Esc if popup > 0 => self.input.clear(),
            KeyCode::Esc if self.is_running() => return Some(Action::Cancel),
            KeyCode::Up if popup > 0 => self.popup = self.popup.saturating_sub(1),
            KeyCode::Down if popup > 0 => self.popup = (self.popup + 1).min(popup - 1),
            KeyCode::Tab if popup > 0 => {
                self.accept_completion();
            }
            // Scrolling by hand lets go of the picked block (the view keeps that on screen).
            KeyCode::PageUp => {
                self.selected = None;
                self.scroll += 10;
            }
            KeyCode::PageDown => {
                self.selected = None;
                self.scroll = self.scroll.saturating_sub(10);
            }
            // Home/End scroll the transcript when there is nothing to edit (or with Ctrl).
            KeyCode::Home if ctrl || self.input.is_empty() => self.scroll = usize::MAX / 2,
            KeyCode::End if ctrl || self.input.is_empty() => self.scroll = 0,
            KeyCode::Enter if alt || key.modifiers.contains(KeyModifiers::SHIFT) => {
                self.input.insert('\n');
            }
            KeyCode::Char('j') if ctrl => self.input.insert('\n'),
            KeyCode::Enter => return self.enter(popup),
            _ => {
                self.input.key(key);
                self.popup = 0;
            }
        }
        None
    }

    /// Transcript indexes of the blocks that fold (tool calls, reasoning), oldest first.
    fn foldable(&self) -> impl DoubleEndedIterator<Item = usize> + '_ {
        self.items
            .iter()
            .enumerate()
            .filter(|(_, i)| matches!(i, super::Item::Tool { .. } | super::Item::Reasoning { .. }))
            .map(|(n, _)| n)
    }

    /// Alt-Up (`-1`) / Alt-Down (`1`): the previous / next foldable block becomes the one
    /// Alt-O toggles; the first Alt-Up picks the last block. Down past the last lets go.
    fn select_block(&mut self, dir: i32) {
        let blocks: Vec<usize> = self.foldable().collect();
        let at = self
            .selected
            .and_then(|s| blocks.iter().position(|b| *b == s));
        self.selected = match (at, dir < 0) {
            (None, true) => blocks.last().copied(),
            (None, false) => None,
            (Some(i), true) => Some(blocks[i.saturating_sub(1)]),
            (Some(i), false) => blocks.get(i + 1).copied(),
        };
        if self.selected.is_some() {
            self.hint("Alt-O opens/closes the marked block · Esc lets go");
        }
    }

    fn ctrl_c(&mut self) -> Option<Action> {
        if let Some(a) = &mut self.approval
            && a.message.is_some()
        {
            a.message = None;
            return None;
        }
        if self.is_running() && self.input.is_empty() {
            self.hint("cancelling the turn… (Ctrl-C on an empty prompt again to detach)");
            self.ctrl_c_at = Some(Instant::now());
            return Some(Action::Cancel);
        }
        if !self.input.is_empty() {
            self.input.clear();
            self.hint("input cleared (Ctrl-Y brings it back)");
            return None;
        }
        if self.ctrl_c_at.is_some_and(|t| t.elapsed() < DOUBLE) {
            return Some(Action::Quit);
        }
        self.ctrl_c_at = Some(Instant::now());
        self.hint("press Ctrl-C again to detach (the session keeps running)");
        None
    }

    /// Keys of the approval modal; `Some` when it took the key.
    fn approval_key(&mut self, key: KeyEvent) -> Option<Option<Action>> {
        let a = self.approval.as_mut()?;
        let id = a.call_id.clone();
        if let Some(msg) = &mut a.message {
            match key.code {
                KeyCode::Enter => {
                    let m = std::mem::take(msg);
                    a.message = None;
                    let m = (!m.trim().is_empty()).then_some(m);
                    return Some(Some(Action::Approve(id, ApprovalDecision::Deny, m)));
                }
                KeyCode::Esc => a.message = None,
                KeyCode::Backspace => {
                    msg.pop();
                }
                KeyCode::Char(c) => msg.push(c),
                _ => {}
            }
            return Some(None);
        }
        let act = match key.code {
            KeyCode::Char('y' | 'a') => Some(Action::Approve(id, ApprovalDecision::Allow, None)),
            KeyCode::Char('s') => Some(Action::Approve(id, ApprovalDecision::AllowSession, None)),
            KeyCode::Char('n' | 'd') | KeyCode::Esc => {
                Some(Action::Approve(id, ApprovalDecision::Deny, None))
            }
            KeyCode::Char('m') => {
                a.message = Some(String::new());
                None
            }
            KeyCode::Down | KeyCode::Char('j') => {
                a.scroll += 1;
                None
            }
            KeyCode::Up | KeyCode::Char('k') => {
                a.scroll = a.scroll.saturating_sub(1);
                None
            }
            KeyCode::PageDown | KeyCode::Char(' ') => {
                a.scroll += 10;
                None
            }
            KeyCode::PageUp => {
                a.scroll = a.scroll.saturating_sub(10);
                None
            }
            _ => None,
        };
        Some(act)
    }

    fn enter(&mut self, popup: usize) -> Option<Action> {
        // Enter on an `@` completion takes it, like Tab.
        if popup > 0 && !self.input.lines()[0].starts_with('/') && self.accept_completion() {
            return None;
        }
        let text = self.input.take();
        self.popup = 0;
        if text.trim().is_empty() {
            return None;
        }
        match slash::parse(&text) {
            Parsed::Message(m) => {
                let attach = mention::mentioned(&m, &self.files);
                self.scroll = 0;
                self.sent += 1;
                Some(Action::Send { text: m, attach })
            }
            Parsed::Error(e) => {
                self.notice(e, true);
                None
            }
            Parsed::Clear => {
                self.items.clear();
                self.toggled.clear();
                self.selected = None;
                self.streaming = None;
                self.reasoning = None;
                None
            }
            Parsed::Command(Command::Help) => {
                self.overlay = Some(Overlay {
                    title: "help".into(),
                    text: slash::help(),
                    scroll: 0,
                });
                None
            }
            Parsed::Command(Command::Quit) => Some(Action::Quit),
            Parsed::Command(Command::Model(None)) => {
                let m = match (&self.provider, &self.model) {
                    (Some(p), Some(m)) => format!("model: {p} · {m} (/model NAME to change it)"),
                    (_, Some(m)) => format!("model: {m} (/model NAME to change it)"),
                    _ => "model: not known yet (/model NAME sets it)".into(),
                };
                self.notice(m, false);
                None
            }
            Parsed::Command(c) => Some(Action::Command(c)),
        }
    }
}
