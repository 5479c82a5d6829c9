//! Tool calls written as plain text, for models without native tool calling:
//! `read_file("src/main.rs")`, `list_files()`, `search("fn main", "src")`,
//! `execute_command("cargo test", timeout_s=60)`, `write_file("a.txt", """multi
//! line""")`. Only literal arguments count: prose such as "use read_file(path)" is not a
//! call. Nothing here panics on any input.

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
    /// The call is alone on its line(s) (bullets, backticks and a trailing `;` aside).
    pub standalone: bool,
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

struct Lexer<'a> {
    s: &'a str,
    pos: usize,
}

impl<'a> Lexer<'a> {
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
            let end = self.rest().find(&close)?;
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

fn decoration_only(s: &str) -> bool {
    s.trim()
        .trim_start_matches(['-', '*', '>'])
        .chars()
        .all(|c| c.is_whitespace() || c == '`' || c == ';')
}

/// Every call of a `known_tools` name with literal arguments, in order.
pub fn parse_calls(text: &str, known_tools: &[&str]) -> Vec<TextCall> {
    let mut calls = Vec::new();
    let mut at = 0;
    while at < text.len() {
        // The earliest `name(` of any known tool from `at`.
        let next = known_tools
            .iter()
            .filter(|t| !t.is_empty())
            .filter_map(|t| text.get(at..)?.find(&format!("{t}(")).map(|i| (at + i, *t)))
            .min_by_key(|(i, _)| *i);
        let Some((start, name)) = next else { break };
        let before = text[..start].chars().next_back();
        let open = start + name.len() + 1;
        if before.is_some_and(|c| c.is_alphanumeric() || c == '_' || c == '.') {
            at = open;
            continue;
        }
        let mut lx = Lexer { s: text, pos: open };
        match lx.arguments() {
            Some((args, kwargs)) => {
                let end = lx.pos;
                let line_start = text[..start].rfind('\n').map_or(0, |i| i + 1);
                let line_end = text[end..].find('\n').map_or(text.len(), |i| end + i);
                let standalone = decoration_only(&text[line_start..start])
                    && decoration_only(&text[end..line_end]);
                let line = text[..start].matches('\n').count() + 1;
                calls.push(TextCall {
                    name: name.to_owned(),
                    args,
                    kwargs,
                    line,
                    standalone,
                });
                at = end;
            }
            None => at = open,
        }
    }
    calls
}

#[cfg(test)]
#[path = "text_calls_tests.rs"]
mod tests;
