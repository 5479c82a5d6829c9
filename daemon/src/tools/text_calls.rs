//! Tool calls written as plain text, for models without native tool calling:
//! `read_file("src/main.rs")`, `list_files()`, `search("fn main", "src")`,
//! `execute_command("cargo test", timeout_s=60)`, `write_file("a.txt", """multi
//! line""")`. Only literal arguments count: prose such as "use read_file(path)" is not a
//! call, and neither is a call quoted in prose, in backticks or in a code fence. Nothing
//! here panics on any input, and the work is linear in its size (replies of 80k lines
//! once froze the daemon).

use serde_json::{Map, Value};

/// One literal argument.
#[derive(Debug, Clone, PartialEq)]
pub enum TextArg {
    /// A string literal.
    Str(String),
    /// A number.
    Num(serde_json::Number),
    /// `true` / `false`.
    Bool(bool),
}

impl TextArg {
    fn to_json(&self) -> Value {
        match self {
            TextArg::Str(s) => Value::String(s.clone()),
            TextArg::Num(n) => Value::Number(n.clone()),
            TextArg::Bool(b) => Value::Bool(*b),
        }
    }
}

/// A call found in text.
#[derive(Debug, Clone, PartialEq)]
pub struct TextCall {
    /// Tool name.
    pub name: String,
    /// Positional arguments.
    pub args: Vec<TextArg>,
    /// `key=value` arguments.
    pub kwargs: Vec<(String, TextArg)>,
    /// 1-based line of the call's start.
    pub line: usize,
}

impl TextCall {
    /// The arguments as a JSON object, positional ones named by `params` in order.
    pub fn to_json_args(&self, params: &[&str]) -> Value {
        let mut obj = Map::new();
        for (i, a) in self.args.iter().enumerate() {
            let key = params
                .get(i)
                .map_or_else(|| format!("arg{i}"), |p| (*p).to_owned());
            obj.insert(key, a.to_json());
        }
        for (k, v) in &self.kwargs {
            obj.insert(k.clone(), v.to_json());
        }
        Value::Object(obj)
    }
}

/// Positional and keyword arguments of one call.
type Args = (Vec<TextArg>, Vec<(String, TextArg)>);

/// Where a search for a closing triple quote already failed: from there on it fails again,
/// so an unterminated `"""` is searched past once, not once per line that opens one.
#[derive(Debug)]
struct NoClose {
    double: usize,
    single: usize,
}

impl Default for NoClose {
    fn default() -> Self {
        NoClose {
            double: usize::MAX,
            single: usize::MAX,
        }
    }
}

impl NoClose {
    fn slot(&mut self, quote: char) -> &mut usize {
        if quote == '"' {
            &mut self.double
        } else {
            &mut self.single
        }
    }
}

struct Lexer<'a, 'm> {
    s: &'a str,
    pos: usize,
    no_close: &'m mut NoClose,
}

impl<'a> Lexer<'a, '_> {
    fn peek(&self) -> Option<char> {
        self.s.get(self.pos..)?.chars().next()
    }

    fn bump(&mut self) -> Option<char> {
        let c = self.peek()?;
        self.pos += c.len_utf8();
        Some(c)
    }

    fn skip_ws(&mut self) {
        while self.peek().is_some_and(char::is_whitespace) {
            self.bump();
        }
    }

    fn rest(&self) -> &'a str {
        self.s.get(self.pos..).unwrap_or_default()
    }

    fn string(&mut self) -> Option<String> {
        let quote = self.bump()?;
        if self.rest().starts_with(&format!("{quote}{quote}")) {
            // Triple-quoted: raw up to the closing triple quote.
            self.pos += 2 * quote.len_utf8();
            let close = format!("{quote}{quote}{quote}");
            if self.pos >= *self.no_close.slot(quote) {
                return None;
            }
            let Some(end) = self.rest().find(&close) else {
                *self.no_close.slot(quote) = self.pos;
                return None;
            };
            let body = self.rest()[..end].to_owned();
            self.pos += end + close.len();
            return Some(body.strip_prefix('\n').map(str::to_owned).unwrap_or(body));
        }
        let mut out = String::new();
        loop {
            match self.bump()? {
                c if c == quote => return Some(out),
                '\\' => match self.bump()? {
                    'n' => out.push('\n'),
                    't' => out.push('\t'),
                    'r' => out.push('\r'),
                    '0' => out.push('\0'),
                    other => out.push(other),
                },
                '\n' => return None, // an unterminated single-line string
                c => out.push(c),
            }
        }
    }

    fn ident(&mut self) -> String {
        let start = self.pos;
        while self.peek().is_some_and(|c| c.is_alphanumeric() || c == '_') {
            self.bump();
        }
        self.s[start..self.pos].to_owned()
    }

    fn value(&mut self) -> Option<TextArg> {
        match self.peek()? {
            '"' | '\'' => self.string().map(TextArg::Str),
            c if c.is_ascii_digit() || c == '-' => {
                let start = self.pos;
                self.bump();
                while self.peek().is_some_and(|c| c.is_ascii_digit() || c == '.') {
                    self.bump();
                }
                serde_json::from_str::<serde_json::Number>(&self.s[start..self.pos])
                    .ok()
                    .map(TextArg::Num)
            }
            _ => match self.ident().as_str() {
                "true" | "True" => Some(TextArg::Bool(true)),
                "false" | "False" => Some(TextArg::Bool(false)),
                _ => None, // a bare identifier: prose, not a call
            },
        }
    }

    /// Arguments after `(` up to the matching `)`.
    fn arguments(&mut self) -> Option<Args> {
        let (mut args, mut kwargs) = (Vec::new(), Vec::new());
        self.skip_ws();
        if self.peek() == Some(')') {
            self.bump();
            return Some((args, kwargs));
        }
        loop {
            self.skip_ws();
            let save = self.pos;
            let key = self.ident();
            self.skip_ws();
            if !key.is_empty() && self.peek() == Some('=') {
                self.bump();
                self.skip_ws();
                kwargs.push((key, self.value()?));
            } else {
                self.pos = save;
                args.push(self.value()?);
            }
            self.skip_ws();
            match self.bump()? {
                ',' => {
                    self.skip_ws();
                    if self.peek() == Some(')') {
                        self.bump();
                        return Some((args, kwargs));
                    }
                }
                ')' => return Some((args, kwargs)),
                _ => return None,
            }
        }
    }
}

/// A code fence opener: its character and length.
fn fence_open(line: &str) -> Option<(char, usize)> {
    let t = line.trim_start();
    let c = t.chars().next().filter(|c| *c == '`' || *c == '~')?;
    let n = t.chars().take_while(|x| *x == c).count();
    // "```x```" on one line is inline code, not a fence (CommonMark: a backtick fence's
    // info string has no backtick).
    let inline = c == '`' && t[n..].contains('`');
    (n >= 3 && !inline).then_some((c, n))
}

/// Whether `line` closes a fence opened with `n` times `c`.
fn fence_closes(line: &str, (c, n): (char, usize)) -> bool {
    let t = line.trim();
    t.chars().take_while(|x| *x == c).count() >= n && t.chars().all(|x| x == c)
}

/// Where a call may start on `line`: after indentation and an optional list bullet.
/// Anything else before it (prose, a backtick, a quote, `>`) means it is not a call.
fn call_start(line: &str) -> usize {
    let t = line.trim_start();
    let mut at = line.len() - t.len();
    if let Some(after) = t.strip_prefix(['-', '*', '+'])
        && after.starts_with([' ', '\t'])
    {
        at += 1 + (after.len() - after.trim_start().len());
    }
    at
}

/// Every call of a `known_tools` name with literal arguments that stands as a line of its
/// own, in order. A call inside a code fence (``` or ~~~), in backticks, in quotes or in
/// the middle of prose is text about a call, not a call: a model quoting an example (or a
/// file it read) must not run it.
///
/// Linear in the size of `text`: each line is looked at once, a call's arguments are
/// scanned up to the next line that could start a call (or to its closing triple quote;
/// see [`Lexer::string`]), and line numbers are counted as the scan goes.
pub fn parse_calls(text: &str, known_tools: &[&str]) -> Vec<TextCall> {
    let mut calls = Vec::new();
    let mut fence: Option<(char, usize)> = None;
    let mut no_close = NoClose::default();
    let (mut pos, mut line_no) = (0usize, 1usize);
    while pos < text.len() {
        let line_end = text[pos..].find('\n').map_or(text.len(), |i| pos + i);
        let line = &text[pos..line_end];
        let mut next = line_end + 1;
        if let Some(open) = fence {
            if fence_closes(line, open) {
                fence = None;
            }
        } else if let Some(open) = fence_open(line) {
            fence = Some(open);
        } else if let Some((call, end)) =
            call_at(text, pos + call_start(line), known_tools, &mut no_close)
        {
            let call_line_end = text[end..].find('\n').map_or(text.len(), |i| end + i);
            let trailing = &text[end..call_line_end];
            if trailing.chars().all(|c| c.is_whitespace() || c == ';') {
                calls.push(TextCall {
                    line: line_no,
                    ..call
                });
                line_no += text[line_end..call_line_end].matches('\n').count();
                next = call_line_end + 1;
            }
        }
        line_no += 1;
        pos = next;
    }
    calls
}

/// The call starting exactly at `start`, and the byte after its `)`.
fn call_at(
    text: &str,
    start: usize,
    known_tools: &[&str],
    no_close: &mut NoClose,
) -> Option<(TextCall, usize)> {
    let rest = text.get(start..)?;
    let name = known_tools
        .iter()
        .find(|t| !t.is_empty() && rest.starts_with(**t) && rest[t.len()..].starts_with('('))?;
    let mut lx = Lexer {
        s: text,
        pos: start + name.len() + 1,
        no_close,
    };
    let (args, kwargs) = lx.arguments()?;
    let call = TextCall {
        name: (*name).to_owned(),
        args,
        kwargs,
        line: 0,
    };
    Some((call, lx.pos))
}

#[cfg(test)]
#[path = "text_calls_tests.rs"]
mod tests;
