//! What a tool call does, judged from its parsed arguments (I9), and what an approval or a
//! config rule covers.
//!
//! A call becomes an [`Action`]: a program's argv (a simple shell command, parsed with
//! `shlex`, or a `git` call), a shell command that is not simple (kept as its exact text),
//! the files a write changes, or anything else as its exact call. "Allow for this session"
//! grants a [`Scope`] of that action; `[approvals]` rules are argv prefixes.
//!
//! Decisions, so a reader does not have to infer them:
//! - A command with shell operators (`;`, `&`, `|`, `>`, `<`, backticks, `$`, parentheses,
//!   newlines), an env assignment, or quotes that do not parse is not a simple command. Its
//!   session scope is its exact full text, and it never matches an allow rule.
//! - The session scope of a simple command is its program and subcommand (`cargo test`,
//!   `npm run build`, `git stash list`) for programs known to have subcommands; for any other
//!   program (`echo`, `rm`, `./run.sh`) it is the exact argv. Programs are compared as
//!   written: `./cargo` is not `cargo`.
//! - Deny rules are a guard, not the boundary (the sandbox of I7 is): they also look inside
//!   every segment of a compound command, through wrappers such as `sudo`/`env`/`sh -c`, and
//!   at a program's file name (`/bin/rm` is `rm`), but a model that builds a command at run
//!   time (`$x`, `eval`) can still get past a deny list under `auto`.

use serde_json::Value;

use crate::tools::{Risk, ToolCall, delta};

/// Most session grants one session keeps; beyond it the person is asked again.
const MAX_GRANTS: usize = 256;
/// How deep deny rules look into `sh -c '…'` and wrappers.
const MAX_NESTING: usize = 4;

/// Programs whose first argument is a subcommand, so `cargo test` means something.
const SUBCOMMAND_PROGRAMS: [&str; 24] = [
    "cargo", "git", "go", "npm", "pnpm", "yarn", "bun", "deno", "make", "just", "docker", "podman",
    "kubectl", "pip", "pip3", "poetry", "uv", "rustup", "dotnet", "mvn", "gradle", "bundle", "mix",
    "composer",
];
/// Subcommands that take one more word (`npm run build`, `git stash list`).
const GROUP_SUBCOMMANDS: [&str; 8] = [
    "run",
    "run-script",
    "stash",
    "remote",
    "worktree",
    "submodule",
    "compose",
    "bisect",
];
/// Programs that run their arguments as another command (for deny rules).
const WRAPPERS: [&str; 10] = [
    "sudo", "doas", "env", "command", "exec", "nohup", "time", "nice", "xargs", "builtin",
];
const SHELLS: [&str; 5] = ["sh", "bash", "dash", "zsh", "ksh"];

/// What a call does.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Action {
    /// A program and its arguments: a simple command, or a `git` call (`git <op> <args>`).
    Argv(Vec<String>),
    /// A shell command that is not a simple command: only its exact text means anything.
    Shell(String),
    /// The project files a write would change (normalized relative paths).
    Files(Vec<String>),
    /// Anything else: the tool and its exact arguments.
    Call(String),
}

/// What "allow for this session" covers.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Scope {
    /// Every argv that starts with these words (`cargo test`).
    Prefix(Vec<String>),
    /// Exactly this argv.
    Exact(Vec<String>),
    /// Exactly this shell text.
    Shell(String),
    /// These files.
    Files(Vec<String>),
    /// Exactly this call.
    Call(String),
}

/// The action of `call`.
pub fn action(call: &ToolCall) -> Action {
    let exact = || Action::Call(format!("{} {}", call.name, call.args));
    let str_arg = |k: &str| call.args.get(k).and_then(Value::as_str);
    match call.name.as_str() {
        "execute_command" => match str_arg("command") {
            Some(cmd) => match simple_argv(cmd) {
                Some(argv) => Action::Argv(argv),
                None => Action::Shell(cmd.trim().to_owned()),
            },
            None => exact(),
        },
        "git" => match git_argv(&call.args) {
            Some(argv) => Action::Argv(argv),
            None => exact(),
        },
        "write_file" | "edit_file" => match str_arg("path").and_then(normalize_path) {
            Some(p) => Action::Files(vec![p]),
            None => exact(),
        },
        "apply_delta" => {
            let blocks = delta::parse_blocks(str_arg("text").unwrap_or_default());
            let paths: Option<Vec<String>> =
                blocks.iter().map(|b| normalize_path(&b.path)).collect();
            match paths {
                Some(mut p) if !p.is_empty() => {
                    p.sort();
                    p.dedup();
                    Action::Files(p)
                }
                _ => exact(),
            }
        }
        // An MCP tool is one program to rules: an allow or deny rule names it whole
        // (`mcp__everything__echo`), and a session grant covers that tool.
        name if name.starts_with(crate::mcp::adapt::PREFIX) => Action::Argv(vec![name.to_owned()]),
        _ => exact(),
    }
}

/// The argv of `command` when it is a simple command: no shell operators or expansions, no
/// env assignment, quotes that parse, at least a program.
pub fn simple_argv(command: &str) -> Option<Vec<String>> {
    const OPERATORS: [char; 10] = [';', '&', '|', '>', '<', '`', '$', '(', ')', '\n'];
    if command.contains(OPERATORS) || command.contains('\r') {
        return None;
    }
    let argv = shlex::split(command)?;
    let program = argv.first()?;
    if program.contains('=') {
        return None;
    }
    Some(argv)
}

/// `["git", op, args...]` as the git tool would run it.
fn git_argv(args: &Value) -> Option<Vec<String>> {
    let op = args.get("op")?.as_str()?.trim();
    if op.is_empty() {
        return None;
    }
    let mut argv = vec!["git".to_owned(), op.to_owned()];
    match args.get("args") {
        None | Some(Value::Null) => {}
        Some(Value::Array(a)) => argv.extend(a.iter().map(|v| match v {
            Value::String(s) => s.clone(),
            other => other.to_string(),
        })),
        Some(Value::String(s)) => argv.extend(s.split_whitespace().map(str::to_owned)),
        Some(_) => return None,
    }
    Some(argv)
}

/// `a/./b//c.rs` as `a/b/c.rs`; `None` for absolute paths and `..` (judged only exactly).
fn normalize_path(path: &str) -> Option<String> {
    let mut parts = Vec::new();
    for part in path.trim().split('/') {
        match part {
            "" | "." => {}
            ".." => return None,
            p => parts.push(p),
        }
    }
    if path.trim().starts_with('/') || parts.is_empty() {
        return None;
    }
    Some(parts.join("/"))
}

/// A word that names a subcommand: not an option, a path or an assignment.
fn plain_word(w: &str) -> bool {
    w.chars().next().is_some_and(|c| c.is_ascii_alphanumeric())
        && w.chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.' | ':'))
}

/// What "allow for this session" of `action` would cover.
pub fn scope_of(action: &Action) -> Scope {
    match action {
        Action::Argv(argv) => match subcommand_len(argv) {
            Some(n) => Scope::Prefix(argv[..n].to_vec()),
            None => Scope::Exact(argv.clone()),
        },
        Action::Shell(text) => Scope::Shell(text.clone()),
        Action::Files(files) => Scope::Files(files.clone()),
        Action::Call(call) => Scope::Call(call.clone()),
    }
}

/// How many words of `argv` name the program and its subcommand, when it has one.
fn subcommand_len(argv: &[String]) -> Option<usize> {
    let program = argv.first()?;
    if !SUBCOMMAND_PROGRAMS.contains(&program.as_str()) {
        return None;
    }
    let sub = argv.get(1).filter(|s| plain_word(s))?;
    if !GROUP_SUBCOMMANDS.contains(&sub.as_str()) {
        return Some(2);
    }
    // `npm run` alone, or `git stash` (which pushes): nothing broader than exactly that.
    argv.get(2).filter(|s| plain_word(s)).map(|_| 3)
}

fn join(words: &[String]) -> String {
    shlex::try_join(words.iter().map(String::as_str)).unwrap_or_else(|_| words.join(" "))
}

impl Scope {
    /// How the scope reads in `approval.requested.scope`.
    pub fn describe(&self) -> String {
        match self {
            Scope::Prefix(words) => join(words),
            Scope::Exact(words) => format!("{} (exactly)", join(words)),
            Scope::Shell(text) => format!("{text} (exactly)"),
            Scope::Files(files) => files.join(", "),
            Scope::Call(call) => format!("{call} (exactly)"),
        }
    }

    /// Whether this scope covers `action` on its own (files: every file of the action).
    fn covers(&self, action: &Action) -> bool {
        match (self, action) {
            (Scope::Prefix(p), Action::Argv(a)) => a.starts_with(p),
            (Scope::Exact(e), Action::Argv(a)) => e == a,
            (Scope::Shell(s), Action::Shell(t)) => s == t,
            (Scope::Files(fs), Action::Files(ts)) => ts.iter().all(|t| fs.contains(t)),
            (Scope::Call(c), Action::Call(d)) => c == d,
            _ => false,
        }
    }
}

/// What the person allowed for the rest of one session, each grant with the risk it was
/// granted at: `git checkout -b x` (a write) does not cover `git checkout .` (discards).
#[derive(Debug, Default)]
pub struct Grants {
    granted: Vec<(Scope, Risk)>,
}

impl Grants {
    /// Remembers `scope` at `risk`. Returns false when the session already holds the most
    /// grants it keeps (the person will be asked again).
    pub fn grant(&mut self, scope: Scope, risk: Risk) -> bool {
        if self.granted.iter().any(|(s, r)| *s == scope && *r == risk) {
            return true;
        }
        if self.granted.len() >= MAX_GRANTS {
            return false;
        }
        self.granted.push((scope, risk));
        true
    }

    /// Whether `action` at `risk` is within what was granted. A write to several files is
    /// covered when every one of them was granted, possibly by different grants.
    pub fn covers(&self, action: &Action, risk: Risk) -> bool {
        let same_risk = || self.granted.iter().filter(|(_, r)| *r == risk);
        if let Action::Files(files) = action {
            return files.iter().all(|f| {
                same_risk().any(|(s, _)| matches!(s, Scope::Files(fs) if fs.contains(f)))
            });
        }
        same_risk().any(|(s, _)| s.covers(action))
    }
}

/// One `[approvals]` rule: an argv prefix.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Rule {
    /// As written in the config.
    pub text: String,
    words: Vec<String>,
}

impl Rule {
    /// Parses a rule; it must be a simple command (`cargo test`, `git push`, `rm`).
    pub fn parse(text: &str) -> Result<Rule, String> {
        match simple_argv(text) {
            Some(words) => Ok(Rule {
                text: text.trim().to_owned(),
                words,
            }),
            None => Err(format!(
                "approval rule {text:?} must be a program and its leading arguments (like \"cargo test\"), \
                 without shell operators, `$` or env assignments"
            )),
        }
    }

    fn is_prefix_of(&self, argv: &[String]) -> bool {
        argv.starts_with(&self.words)
    }

    /// Like [`Rule::is_prefix_of`], also when the program is named by a path (`/bin/rm`).
    fn is_prefix_of_program(&self, argv: &[String]) -> bool {
        let (Some(program), Some(first)) = (argv.first(), self.words.first()) else {
            return false;
        };
        let name = program.rsplit('/').next().unwrap_or(program);
        (program == first || (!first.contains('/') && name == first))
            && argv[1..].starts_with(&self.words[1..])
    }
}

/// The persistent rules of `[approvals]` in config.toml.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Rules {
    /// Argv prefixes that run without asking under `ask`.
    pub allow: Vec<Rule>,
    /// Argv prefixes that never run, under every policy.
    pub deny: Vec<Rule>,
}

impl Rules {
    /// Rules from the two lists; an error names the first bad rule.
    pub fn new(allow: &[String], deny: &[String]) -> Result<Rules, String> {
        let parse = |list: &[String]| {
            list.iter()
                .map(|r| Rule::parse(r))
                .collect::<Result<Vec<_>, _>>()
        };
        Ok(Rules {
            allow: parse(allow)?,
            deny: parse(deny)?,
        })
    }

    /// The allow rule that lets `action` run without asking: simple commands only.
    pub fn allowing(&self, action: &Action) -> Option<&Rule> {
        match action {
            Action::Argv(argv) => self.allow.iter().find(|r| r.is_prefix_of(argv)),
            _ => None,
        }
    }

    /// The deny rule that refuses `action`, looking into compound commands and wrappers.
    pub fn denying(&self, action: &Action) -> Option<&Rule> {
        if self.deny.is_empty() {
            return None;
        }
        let mut found = None;
        let mut check = |argv: &[String]| {
            found = self.deny.iter().find(|r| r.is_prefix_of_program(argv));
            found.is_some()
        };
        match action {
            Action::Argv(argv) => walk_command(argv, 0, &mut check),
            Action::Shell(text) => walk_shell(text, 0, &mut check),
            Action::Files(_) | Action::Call(_) => false,
        };
        found
    }
}

/// Calls `check` on every simple command a compound shell text may run, best effort:
/// segments between operators and inside `$( )` / backticks, each through
/// [`walk_command`]. Stops at the first command `check` accepts.
fn walk_shell(text: &str, depth: usize, check: &mut dyn FnMut(&[String]) -> bool) -> bool {
    const SEPARATORS: [char; 12] = [';', '&', '|', '>', '<', '`', '(', ')', '\n', '\r', '{', '}'];
    if depth > MAX_NESTING {
        return false;
    }
    text.split(SEPARATORS).any(|segment| {
        let segment = segment.replace('$', " ");
        // A segment cut inside quotes does not parse: its words, quotes dropped, still tell.
        let words = shlex::split(&segment).unwrap_or_else(|| {
            segment
                .split_whitespace()
                .map(|w| w.replace(['"', '\''], ""))
                .collect()
        });
        walk_command(&words, depth, check)
    })
}

/// Calls `check` on `argv` and the commands it wraps: env assignments and `!` dropped,
/// `sudo rm` as `rm`, `sh -c 'rm x'` as the shell text `rm x`. Every step drops at least one
/// word, so a long chain of wrappers costs linear time.
fn walk_command(
    mut argv: &[String],
    depth: usize,
    check: &mut dyn FnMut(&[String]) -> bool,
) -> bool {
    loop {
        let is_assignment = |w: &str| w.contains('=') && !w.starts_with('=');
        let start = argv
            .iter()
            .position(|w| !is_assignment(w) && w != "!")
            .unwrap_or(argv.len());
        argv = &argv[start..];
        let Some(program) = argv.first() else {
            return false;
        };
        if check(argv) {
            return true;
        }
        let name = program.rsplit('/').next().unwrap_or(program);
        if SHELLS.contains(&name) {
            let script = argv
                .iter()
                .position(|w| w.starts_with('-') && w.contains('c'))
                .and_then(|i| argv.get(i + 1));
            return script.is_some_and(|s| walk_shell(s, depth + 1, check));
        }
        if !(WRAPPERS.contains(&name) || name == "timeout") {
            return false;
        }
        // The wrapped command starts at one of the first words that is not an option (an
        // option's value or `timeout`'s duration may come first): the next two are tried as
        // they are, the first is unwrapped further.
        let mut starts = (1..argv.len()).filter(|&i| !argv[i].starts_with('-'));
        let Some(first) = starts.next() else {
            return false;
        };
        if starts.take(2).any(|i| check(&argv[i..])) {
            return true;
        }
        argv = &argv[first..];
    }
}

#[cfg(test)]
#[path = "rules_tests.rs"]
mod tests;
