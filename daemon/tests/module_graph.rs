//! The daemon's module graph stays acyclic (issue 19): between the top-level modules of
//! `daemon/src` (`session`, `llm`, `botserver`, ...) and between the submodules of `session`
//! (`turn`, `agent`, `facade`, `turn_types`, ...). A cycle makes every change to one side a
//! change to the other; `session::turn` <-> `session::agent` and `session::turn` <->
//! `botserver::facade` were two, removed by putting the turn's shared types in the leaf
//! `session::turn_types`.
//!
//! The graph is read from the source: every `use` tree and every `crate::` / `super::` /
//! `self::` path outside comments, strings and `#[cfg(test)]` modules, resolved to the
//! deepest module (file) it names. A module using its own parent or child is not an edge
//! (a child using `super::` items is how Rust nests modules).

// Test code: a failed expectation is a failed test.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

/// Edges allowed on a cycle between top-level modules. Empty: the `config` <-> `llm`,
/// `botserver`, `server`, `tools` and `redact` cycles were removed by moving `Secret`, the
/// secret-name rules and the botserver settings into the `botcoder-config` crate.
const ALLOWED_TOP: &[(&str, &str)] = &[];

/// Cycles known to remain between top-level modules, each with why, as a ratchet: an
/// entry that is no longer on a cycle fails the test until it is removed, so the list only
/// shrinks. Empty: `config` no longer holds session types (the approval rules are the leaf
/// `rules`, compaction settings live in `config::compact`), and undo's session operations
/// are `session::revert`, so `snapshot` no longer reads the session.
const IN_FLIGHT_TOP: &[(&str, &str, &str)] = &[];

/// The same for the submodules of `session`: empty (what the core holds lives in leaves:
/// `resolved` for the settings, `core::Answer` and `crate::rules` for approvals).
const IN_FLIGHT_SESSION: &[(&str, &str, &str)] = &[];

#[test]
fn top_level_modules_have_no_cycle() {
    let graph = Graph::read();
    let top = graph.project(|m| m.first().cloned());
    let mut allowed: Vec<(String, String)> = pairs(ALLOWED_TOP);
    allowed.extend(
        IN_FLIGHT_TOP
            .iter()
            .map(|(a, b, _)| (a.to_string(), b.to_string())),
    );
    check(&top, &allowed, "top-level");
}

#[test]
fn session_submodules_have_no_cycle() {
    let graph = Graph::read();
    // Every module under `session` (file granularity: `session::approval::rules` is its own).
    let sub = graph.project(|m| (m.len() >= 2 && m[0] == "session").then(|| m.join("::")));
    let allowed: Vec<(String, String)> = IN_FLIGHT_SESSION
        .iter()
        .map(|(a, b, _)| (a.to_string(), b.to_string()))
        .collect();
    check(&sub, &allowed, "session::*");
}

/// The reintroduced cycle the issue named is found: the checker is not vacuous.
#[test]
fn a_turn_agent_cycle_would_be_found() {
    let mut edges = Edges::new();
    edges.add("session::turn", "session::agent", "turn.rs");
    edges.add("session::agent", "session::turn", "agent.rs");
    edges.add("session::agent", "session::turn_types", "agent.rs");
    let on_cycle = cycle_edges(&edges, &[]);
    assert_eq!(
        on_cycle,
        vec![
            ("session::agent".to_owned(), "session::turn".to_owned()),
            ("session::turn".to_owned(), "session::agent".to_owned()),
        ]
    );
    // And the graph as it is has the direction the fix gave it.
    let graph = Graph::read();
    let sub = graph.project(|m| (m.len() >= 2 && m[0] == "session").then(|| m.join("::")));
    assert!(sub.has("session::turn", "session::agent"));
    assert!(sub.has("session::turn", "session::facade"));
    assert!(!sub.has("session::agent", "session::turn"));
    assert!(!sub.has("session::facade", "session::turn"));
}

fn pairs(list: &[(&str, &str)]) -> Vec<(String, String)> {
    list.iter()
        .map(|(a, b)| (a.to_string(), b.to_string()))
        .collect()
}

/// Fails on an edge on a cycle that is not allowed, and on an allowed edge that is no longer
/// on one (so the allowlists only shrink).
fn check(edges: &Edges, allowed: &[(String, String)], what: &str) {
    let bad = cycle_edges(edges, allowed);
    let report: Vec<String> = bad
        .iter()
        .map(|(a, b)| format!("  {a} -> {b} (e.g. {})", edges.origin(a, b)))
        .collect();
    assert!(
        report.is_empty(),
        "{what} module cycle(s) in daemon/src; these edges close a cycle:\n{}\n\
         Move what both sides need into a module that uses neither (as session::turn_types \
         does for the turn), so the dependency goes one way.",
        report.join("\n")
    );
    let all = cycle_edges(edges, &[]);
    let stale: Vec<String> = allowed
        .iter()
        .filter(|e| !all.contains(e))
        .map(|(a, b)| format!("  {a} -> {b}"))
        .collect();
    assert!(
        stale.is_empty(),
        "{what}: no longer on a cycle, remove from the allowlist in {}:\n{}",
        file!(),
        stale.join("\n")
    );
}

/// Edges `a -> b` (not allowed) such that `b` reaches `a` without allowed edges.
fn cycle_edges(edges: &Edges, allowed: &[(String, String)]) -> Vec<(String, String)> {
    let kept: BTreeSet<(String, String)> = edges
        .map
        .keys()
        .filter(|e| !allowed.contains(e))
        .cloned()
        .collect();
    let reaches = |from: &str, to: &str| {
        let mut seen = BTreeSet::new();
        let mut todo = vec![from.to_owned()];
        while let Some(n) = todo.pop() {
            if n == to {
                return true;
            }
            if seen.insert(n.clone()) {
                todo.extend(kept.iter().filter(|(a, _)| *a == n).map(|(_, b)| b.clone()));
            }
        }
        false
    };
    kept.iter()
        .filter(|(a, b)| reaches(b, a))
        .cloned()
        .collect()
}

/// Directed edges with where one was seen (`file:line`).
#[derive(Default)]
struct Edges {
    map: BTreeMap<(String, String), String>,
}

impl Edges {
    fn new() -> Edges {
        Edges::default()
    }

    fn add(&mut self, from: &str, to: &str, origin: &str) {
        self.map
            .entry((from.to_owned(), to.to_owned()))
            .or_insert_with(|| origin.to_owned());
    }

    fn has(&self, from: &str, to: &str) -> bool {
        self.map.contains_key(&(from.to_owned(), to.to_owned()))
    }

    fn origin(&self, from: &str, to: &str) -> &str {
        self.map
            .get(&(from.to_owned(), to.to_owned()))
            .map_or("?", String::as_str)
    }
}

/// Module-to-module edges of `daemon/src`, modules as paths from the crate root.
struct Graph {
    edges: Vec<(Vec<String>, Vec<String>, String)>,
}

impl Graph {
    fn read() -> Graph {
        let src = Path::new(env!("CARGO_MANIFEST_DIR")).join("src");
        let mut files = Vec::new();
        walk(&src, &mut files);
        let modules: BTreeSet<Vec<String>> = files.iter().map(|f| module_of(&src, f)).collect();
        let mut edges = Vec::new();
        for file in &files {
            let here = module_of(&src, file);
            let text = std::fs::read_to_string(file).unwrap();
            let code = drop_test_modules(&strip(&text));
            let rel = file.strip_prefix(&src).unwrap().display().to_string();
            for (line, path) in paths(&code) {
                let Some(target) = resolve(&here, &path, &modules) else {
                    continue;
                };
                let related = target.starts_with(&here) || here.starts_with(&target);
                if !related {
                    edges.push((here.clone(), target, format!("src/{rel}:{line}")));
                }
            }
        }
        Graph { edges }
    }

    /// The edges between the nodes `node` maps modules to (modules mapped to `None` and
    /// edges within one node left out).
    fn project(&self, node: impl Fn(&[String]) -> Option<String>) -> Edges {
        let mut out = Edges::new();
        for (from, to, origin) in &self.edges {
            if let (Some(a), Some(b)) = (node(from), node(to))
                && a != b
            {
                out.add(&a, &b, origin);
            }
        }
        out
    }
}

fn walk(dir: &Path, out: &mut Vec<PathBuf>) {
    for entry in std::fs::read_dir(dir).unwrap() {
        let path = entry.unwrap().path();
        if path.is_dir() {
            walk(&path, out);
        } else if path.extension().is_some_and(|e| e == "rs") {
            let name = path.file_stem().unwrap().to_string_lossy().into_owned();
            // Test modules kept in their own files (`#[path = "x_tests.rs"] mod tests;`).
            if !(name == "tests" || name.ends_with("_tests")) {
                out.push(path);
            }
        }
    }
}

/// `src/session/turn.rs` -> `[session, turn]`; `src/session/mod.rs` -> `[session]`.
fn module_of(src: &Path, file: &Path) -> Vec<String> {
    let rel = file.strip_prefix(src).unwrap().with_extension("");
    let mut parts: Vec<String> = rel
        .components()
        .map(|c| c.as_os_str().to_string_lossy().into_owned())
        .collect();
    if matches!(
        parts.last().map(String::as_str),
        Some("mod" | "lib" | "main")
    ) {
        parts.pop();
    }
    parts
}

/// The deepest known module a path names, from module `here`.
fn resolve(
    here: &[String],
    path: &[String],
    modules: &BTreeSet<Vec<String>>,
) -> Option<Vec<String>> {
    let mut base: Vec<String> = here.to_vec();
    let mut rest = path;
    match rest.first().map(String::as_str) {
        Some("crate") => {
            base.clear();
            rest = &rest[1..];
        }
        Some("self") => rest = &rest[1..],
        Some("super") => {
            while rest.first().map(String::as_str) == Some("super") {
                base.pop()?;
                rest = &rest[1..];
            }
        }
        _ => return None,
    }
    let mut full = base;
    let mut best = None;
    for seg in rest {
        full.push(seg.clone());
        if modules.contains(&full) {
            best = Some(full.clone());
        }
    }
    best
}

/// Every `crate::`/`super::`/`self::` path in `code` with its line: `use` trees expanded.
fn paths(code: &str) -> Vec<(usize, Vec<String>)> {
    let mut out = Vec::new();
    let line_of = |at: usize| code[..at].matches('\n').count() + 1;
    // `use` trees, which may group (`use super::{a, b::C}`).
    let mut i = 0;
    while let Some(off) = code[i..].find("use ") {
        let at = i + off;
        i = at + 4;
        let boundary = at == 0
            || !code.as_bytes()[at - 1].is_ascii_alphanumeric() && code.as_bytes()[at - 1] != b'_';
        if !boundary {
            continue;
        }
        let Some(end) = code[i..].find(';') else {
            break;
        };
        let tree: String = code[i..i + end]
            .split_whitespace()
            .collect::<Vec<_>>()
            .join(" ");
        for p in expand(&tree) {
            out.push((line_of(at), p));
        }
        i += end;
    }
    // Paths written inline (`crate::llm::endpoint_key(..)`, `super::prompt::system_prompt`).
    let bytes = code.as_bytes();
    for root in ["crate::", "super::", "self::"] {
        let mut from = 0;
        while let Some(off) = code[from..].find(root) {
            let at = from + off;
            from = at + root.len();
            if at > 0
                && (bytes[at - 1].is_ascii_alphanumeric()
                    || bytes[at - 1] == b'_'
                    || bytes[at - 1] == b':')
            {
                continue;
            }
            let mut end = at;
            while end < bytes.len()
                && (bytes[end].is_ascii_alphanumeric() || bytes[end] == b'_' || bytes[end] == b':')
            {
                end += 1;
            }
            let segs: Vec<String> = code[at..end]
                .split("::")
                .filter(|s| !s.is_empty())
                .map(str::to_owned)
                .collect();
            out.push((line_of(at), segs));
        }
    }
    out
}

/// `super::{a, b::{C, D}}` -> `[super, a]`, `[super, b, C]`, `[super, b, D]`.
fn expand(tree: &str) -> Vec<Vec<String>> {
    let tree = tree.trim();
    let tree = tree.strip_prefix("::").unwrap_or(tree);
    match tree.find('{') {
        None => {
            let path = tree.split(" as ").next().unwrap_or(tree);
            vec![
                path.split("::")
                    .map(str::trim)
                    .filter(|s| !s.is_empty() && *s != "*")
                    .map(str::to_owned)
                    .collect(),
            ]
        }
        Some(open) => {
            let prefix: Vec<String> = tree[..open]
                .split("::")
                .map(str::trim)
                .filter(|s| !s.is_empty())
                .map(str::to_owned)
                .collect();
            let inner = &tree[open + 1..tree.rfind('}').unwrap_or(tree.len())];
            let mut out = Vec::new();
            for part in split_top(inner) {
                for mut rest in expand(&part) {
                    if rest.first().map(String::as_str) == Some("self") {
                        rest.remove(0);
                    }
                    let mut p = prefix.clone();
                    p.extend(rest);
                    out.push(p);
                }
            }
            out
        }
    }
}

/// Splits on commas outside braces.
fn split_top(s: &str) -> Vec<String> {
    let (mut out, mut cur, mut depth) = (Vec::new(), String::new(), 0);
    for c in s.chars() {
        match c {
            '{' => depth += 1,
            '}' => depth -= 1,
            ',' if depth == 0 => {
                out.push(std::mem::take(&mut cur));
                continue;
            }
            _ => {}
        }
        cur.push(c);
    }
    out.push(cur);
    out.into_iter().filter(|p| !p.trim().is_empty()).collect()
}

/// `text` with comments, string and char literals blanked (newlines kept, for line numbers).
fn strip(text: &str) -> String {
    let b: Vec<char> = text.chars().collect();
    let mut out = String::with_capacity(text.len());
    let mut i = 0;
    while i < b.len() {
        let c = b[i];
        let next = b.get(i + 1).copied();
        if c == '/' && next == Some('/') {
            while i < b.len() && b[i] != '\n' {
                i += 1;
            }
        } else if c == '/' && next == Some('*') {
            let mut depth = 0;
            while i < b.len() {
                if b[i] == '/' && b.get(i + 1) == Some(&'*') {
                    depth += 1;
                    i += 2;
                } else if b[i] == '*' && b.get(i + 1) == Some(&'/') {
                    depth -= 1;
                    i += 2;
                    if depth == 0 {
                        break;
                    }
                } else {
                    if b[i] == '\n' {
                        out.push('\n');
                    }
                    i += 1;
                }
            }
        } else if c == 'r' && (next == Some('#') || next == Some('"')) && !ident_before(&b, i) {
            // Raw string: r"..." or r#"..."#.
            let mut j = i + 1;
            let mut hashes = 0;
            while b.get(j) == Some(&'#') {
                hashes += 1;
                j += 1;
            }
            if b.get(j) != Some(&'"') {
                out.push(c);
                i += 1;
                continue;
            }
            j += 1;
            loop {
                match b.get(j) {
                    None => break,
                    Some('"') if (1..=hashes).all(|k| b.get(j + k) == Some(&'#')) => {
                        j += 1 + hashes;
                        break;
                    }
                    Some('\n') => out.push('\n'),
                    _ => {}
                }
                j += 1;
            }
            out.push_str("\"\"");
            i = j;
        } else if c == '"' {
            i += 1;
            while i < b.len() && b[i] != '"' {
                if b[i] == '\\' {
                    i += 1;
                }
                if b.get(i) == Some(&'\n') {
                    out.push('\n');
                }
                i += 1;
            }
            i += 1;
            out.push_str("\"\"");
        } else if c == '\'' && next == Some('\\') {
            // '\n', '\'', '\u{..}'
            i += 2;
            while i < b.len() && b[i] != '\'' {
                i += 1;
            }
            i += 1;
        } else if c == '\'' && b.get(i + 2) == Some(&'\'') {
            i += 3;
        } else {
            out.push(c);
            i += 1;
        }
    }
    out
}

fn ident_before(b: &[char], i: usize) -> bool {
    i > 0 && (b[i - 1].is_alphanumeric() || b[i - 1] == '_')
}

/// `code` without `#[cfg(test)] mod name { ... }` blocks: test-only uses are no dependency.
fn drop_test_modules(code: &str) -> String {
    let mut out = code.to_owned();
    while let Some(at) = out.find("#[cfg(test)]") {
        let after = &out[at + "#[cfg(test)]".len()..];
        let trimmed = after.trim_start();
        let skip = after.len() - trimmed.len();
        let Some(open_rel) = trimmed.find(['{', ';']) else {
            break;
        };
        let head = &trimmed[..open_rel];
        let is_mod = head.split_whitespace().any(|w| w == "mod");
        let start = at;
        let mut end = at + "#[cfg(test)]".len() + skip + open_rel + 1;
        if is_mod && trimmed.as_bytes()[open_rel] == b'{' {
            let mut depth = 1;
            let bytes = out.as_bytes();
            while end < bytes.len() && depth > 0 {
                match bytes[end] {
                    b'{' => depth += 1,
                    b'}' => depth -= 1,
                    _ => {}
                }
                end += 1;
            }
        } else if !is_mod {
            // A test-only item that is not a module: keep it, drop only the attribute.
            end = at + "#[cfg(test)]".len();
        }
        let lines = out[start..end].matches('\n').count();
        out.replace_range(start..end, &"\n".repeat(lines));
    }
    out
}
