//! One transcript item as lines: messages through markdown, tool calls as one line the way
//! Claude Code and Codex show them (`Read src/main.rs`, `Edit calc.py (+2 −1)`, `Run cargo
//! test`), with the diff or the head and tail of the output under them.

use botcoder_protocol::FileChangeStatus;
use ratatui::style::{Color, Modifier, Style};
use ratatui::text::{Line, Span};

use super::sanitize::{one_line, terminal_safe};
use super::wrap::{expand_tabs, wrap_text};
use super::{Theme, markdown};
use crate::state::{Item, mention};

/// Output lines shown from each end of a collapsed-but-failed or expanded command.
const HEAD: usize = 5;
const TAIL: usize = 10;

/// The lines of `item`; `expanded` opens its body.
pub fn lines(item: &Item, width: usize, expanded: bool, theme: Theme) -> Vec<Line<'static>> {
    let mut out = Vec::new();
    match item {
        Item::User { client, text } => {
            let (typed, files) = mention::split(text);
            out.push(Line::styled(
                format!("› {}", one_line(client)),
                theme.fg(Color::Cyan).add_modifier(Modifier::BOLD),
            ));
            out.extend(wrap_text(
                &terminal_safe(typed),
                width,
                Style::default(),
                "  ",
            ));
            if !files.is_empty() {
                let chips: Vec<Span<'static>> = files
                    .iter()
                    .flat_map(|f| {
                        [
                            Span::styled(
                                format!("[@{}]", one_line(f)),
                                theme.fg(Color::Blue).add_modifier(Modifier::REVERSED),
                            ),
                            Span::raw(" "),
                        ]
                    })
                    .collect();
                let mut l = vec![Span::raw("  ")];
                l.extend(chips);
                out.push(Line::from(l));
            }
        }
        Item::Assistant { text } => {
            out.extend(markdown::render(&terminal_safe(text), width, theme))
        }
        Item::Reasoning { text } => {
            let dim = theme.fg(Color::DarkGray).add_modifier(Modifier::ITALIC);
            let n = text.lines().count();
            if expanded {
                out.push(Line::styled("∴ thinking (Alt-O collapses)", dim));
                out.extend(wrap_text(&terminal_safe(text), width, dim, "  "));
            } else {
                out.push(Line::styled(
                    format!("∴ thinking… ({n} lines, Alt-O shows)"),
                    dim,
                ));
            }
        }
        Item::Tool {
            name,
            args,
            output,
            ok,
            exit_code,
            diff,
            ..
        } => tool(
            &mut out,
            name,
            args,
            output,
            *ok,
            *exit_code,
            diff.as_deref(),
            width,
            expanded,
            theme,
        ),
        Item::Diff { path, diff } => {
            let (a, r) = counts(diff);
            out.push(Line::styled(
                format!("● Edit {} (+{a} −{r})", one_line(path)),
                theme.bold(),
            ));
            diff_lines(&mut out, diff, width, theme, usize::MAX);
        }
        Item::Changes { what, files } => {
            let (a, r) = files
                .iter()
                .fold((0, 0), |(a, r), f| (a + f.added, r + f.removed));
            let n = files.len();
            let s = if n == 1 { "" } else { "s" };
            out.push(Line::styled(
                format!("Δ {n} file{s} {what} +{a} −{r}"),
                theme.bold(),
            ));
            for f in files {
                let mark = match f.status {
                    FileChangeStatus::Added => "A",
                    FileChangeStatus::Modified => "M",
                    FileChangeStatus::Deleted => "D",
                };
                out.push(Line::styled(
                    format!("  {mark} {} +{} −{}", one_line(&f.path), f.added, f.removed),
                    theme.fg(Color::DarkGray),
                ));
            }
        }
        Item::Progress {
            step,
            message,
            progress,
        } => {
            let filled = ((progress / 100.0) * 20.0).round().clamp(0.0, 20.0) as usize;
            let bar = format!(
                "[{}{}] {:>3.0}% {step}: {message}",
                "█".repeat(filled),
                "░".repeat(20 - filled),
                progress
            );
            out.extend(wrap_text(
                &terminal_safe(&bar),
                width,
                theme.fg(Color::Magenta),
                "",
            ));
        }
        Item::Notice { text, error } => {
            let style = if *error {
                theme.fg(Color::Red).add_modifier(Modifier::BOLD)
            } else {
                theme.fg(Color::DarkGray)
            };
            let mark = if *error { "✗ " } else { "── " };
            out.extend(wrap_text(
                &format!("{mark}{}", terminal_safe(text)),
                width,
                style,
                "",
            ));
        }
    }
    out.push(Line::raw(""));
    out
}

fn arg<'a>(args: &'a serde_json::Value, key: &str) -> &'a str {
    args.get(key).and_then(|v| v.as_str()).unwrap_or("")
}

/// `Read src/main.rs` and friends: the verb and object of a call.
pub fn summary(name: &str, args: &serde_json::Value) -> String {
    let s = match name {
        "read_file" => format!("Read {}", arg(args, "path")),
        "write_file" => format!("Write {}", arg(args, "path")),
        "edit_file" => format!("Edit {}", arg(args, "path")),
        "apply_delta" => "Edit (delta)".to_owned(),
        "execute_command" => format!("Run {}", arg(args, "command")),
        "list_files" => {
            let p = arg(args, "path");
            format!("List {}", if p.is_empty() { "." } else { p })
        }
        "search" => format!(
            "Search {:?} in {}",
            arg(args, "pattern"),
            match arg(args, "path") {
                "" => ".",
                p => p,
            }
        ),
        "git" => format!("git {}", arg(args, "op")),
        _ => {
            let a = args.to_string();
            format!("{name} {}", if a == "{}" || a == "null" { "" } else { &a })
        }
    };
    one_line(s.trim_end())
}

fn counts(diff: &str) -> (usize, usize) {
    let mut a = 0;
    let mut r = 0;
    for l in diff.lines() {
        if l.starts_with('+') && !l.starts_with("+++") {
            a += 1;
        } else if l.starts_with('-') && !l.starts_with("---") {
            r += 1;
        }
    }
    (a, r)
}

/// The diff's hunks (headers skipped), coloured, at most `max` lines.
pub fn diff_lines(
    out: &mut Vec<Line<'static>>,
    diff: &str,
    width: usize,
    theme: Theme,
    max: usize,
) {
    let body: Vec<&str> = diff
        .lines()
        .filter(|l| !l.starts_with("+++") && !l.starts_with("---"))
        .collect();
    for l in body.iter().take(max) {
        let style = match l.chars().next() {
            Some('+') => theme.fg(Color::Green),
            Some('-') => theme.fg(Color::Red),
            Some('@') => theme.fg(Color::Cyan),
            _ => Style::default(),
        };
        // Tabs expand relative to the line's content, after its +/-/space marker.
        let mut cs = l.chars();
        let marker: String = cs.next().map(String::from).unwrap_or_default();
        let text = format!("{marker}{}", expand_tabs(&terminal_safe(cs.as_str()), 0));
        out.extend(wrap_text(&text, width, style, "    "));
    }
    if body.len() > max {
        out.push(Line::styled(
            format!("    … {} more lines", body.len() - max),
            theme.fg(Color::DarkGray),
        ));
    }
}

#[allow(clippy::too_many_arguments)]
fn tool(
    out: &mut Vec<Line<'static>>,
    name: &str,
    args: &serde_json::Value,
    output: &str,
    ok: Option<bool>,
    exit_code: Option<i32>,
    diff: Option<&str>,
    width: usize,
    expanded: bool,
    theme: Theme,
) {
    let (mark, color) = match ok {
        None => ("…", Color::Yellow),
        Some(true) => ("●", Color::Green),
        Some(false) => ("✗", Color::Red),
    };
    let mut head = summary(name, args);
    if let Some(d) = diff {
        let (a, r) = counts(d);
        head.push_str(&format!(" (+{a} −{r})"));
    }
    if let Some(c) = exit_code.filter(|c| *c != 0 || name == "execute_command") {
        head.push_str(&format!(" · exit {c}"));
    }
    let mut spans = vec![
        Span::styled(format!("{mark} "), theme.fg(color)),
        Span::styled(head, theme.bold()),
    ];
    if !expanded && !output.is_empty() && diff.is_none() {
        spans.push(Span::styled(
            format!("  ({} lines, Alt-O shows)", output.lines().count()),
            theme.fg(Color::DarkGray),
        ));
    }
    out.extend(super::wrap::wrap_spans(
        &spans,
        width,
        Span::raw(""),
        Span::raw("  "),
    ));
    if let Some(d) = diff {
        diff_lines(out, d, width, theme, if expanded { usize::MAX } else { 40 });
    }
    if !expanded || (diff.is_some() && ok == Some(true)) {
        return;
    }
    let lines: Vec<&str> = output.lines().collect();
    let dim = theme.fg(Color::DarkGray);
    let show = |out: &mut Vec<Line<'static>>, l: &str| {
        out.extend(wrap_text(&terminal_safe(l), width, dim, "  │ "));
    };
    if lines.len() <= HEAD + TAIL {
        lines.iter().for_each(|l| show(out, l));
    } else {
        lines[..HEAD].iter().for_each(|l| show(out, l));
        out.push(Line::styled(
            format!("  │ … {} lines …", lines.len() - HEAD - TAIL),
            dim,
        ));
        lines[lines.len() - TAIL..]
            .iter()
            .for_each(|l| show(out, l));
    }
}
