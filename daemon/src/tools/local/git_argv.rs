//! Which git arguments a model may pass, and how risky the call they make is.
//!
//! An allowlist, not a denylist: every option of every offered subcommand is listed here
//! with the form of its value and what it does (reads, writes, can discard work). Anything
//! else is refused with a message that names the option — and, for the options known to be
//! dangerous, why. The arguments git finally sees are re-emitted in one canonical form
//! (`--opt=value`, `-x value`), so what was checked is exactly what git parses.

use crate::tools::Risk;

/// How an option takes its value.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Val {
    /// A flag.
    No,
    /// `--opt=v`, `--opt v`, `-xv`, `-x v`.
    Req,
    /// Only attached: `--opt=v`, `-xv`; a following argument is not its value.
    Opt,
}

/// What an option does, ordered by how much approval it needs.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
enum Effect {
    Read,
    Write,
    Discard,
}

use Effect::{Discard as D, Read as R, Write as W};
use Val::{No, Opt, Req};

/// One allowed option: long name (empty: none), short letter, value form, effect.
type Spec = (&'static str, Option<char>, Val, Effect);

const DIFF: &[Spec] = &[
    ("patch", Some('p'), No, R),
    ("", Some('u'), No, R),
    ("no-patch", Some('s'), No, R),
    ("unified", Some('U'), Opt, R),
    ("raw", None, No, R),
    ("patch-with-raw", None, No, R),
    ("patch-with-stat", None, No, R),
    ("stat", None, Opt, R),
    ("numstat", None, No, R),
    ("shortstat", None, No, R),
    ("dirstat", None, Opt, R),
    ("cumulative", None, No, R),
    ("summary", None, No, R),
    ("name-only", None, No, R),
    ("name-status", None, No, R),
    ("", Some('z'), No, R),
    ("no-color", None, No, R),
    ("word-diff", None, Opt, R),
    ("word-diff-regex", None, Req, R),
    ("find-renames", Some('M'), Opt, R),
    ("no-renames", None, No, R),
    ("find-copies", None, Opt, R),
    ("find-copies-harder", None, No, R),
    ("break-rewrites", Some('B'), Opt, R),
    ("diff-filter", None, Req, R),
    ("", Some('R'), No, R),
    ("relative", None, Opt, R),
    ("text", Some('a'), No, R),
    ("ignore-space-change", Some('b'), No, R),
    ("ignore-all-space", Some('w'), No, R),
    ("ignore-blank-lines", None, No, R),
    ("ignore-space-at-eol", None, No, R),
    ("ignore-cr-at-eol", None, No, R),
    ("minimal", None, No, R),
    ("patience", None, No, R),
    ("histogram", None, No, R),
    ("diff-algorithm", None, Req, R),
    ("abbrev", None, Opt, R),
    ("full-index", None, No, R),
    ("binary", None, No, R),
    ("no-prefix", None, No, R),
    ("src-prefix", None, Req, R),
    ("dst-prefix", None, Req, R),
    ("exit-code", None, No, R),
    ("quiet", None, No, R),
    ("check", None, No, R),
    ("function-context", Some('W'), No, R),
    ("inter-hunk-context", None, Req, R),
    ("pickaxe-all", None, No, R),
    ("pickaxe-regex", None, No, R),
    ("", Some('S'), Req, R),
    ("", Some('G'), Req, R),
    ("find-object", None, Req, R),
    ("ignore-submodules", None, Opt, R),
    ("no-ext-diff", None, No, R),
    ("no-textconv", None, No, R),
];

const DIFF_ONLY: &[Spec] = &[
    ("cached", None, No, R),
    ("staged", None, No, R),
    ("merge-base", None, No, R),
];

const LOG: &[Spec] = &[
    ("max-count", Some('n'), Req, R),
    ("skip", None, Req, R),
    ("since", None, Req, R),
    ("after", None, Req, R),
    ("until", None, Req, R),
    ("before", None, Req, R),
    ("author", None, Req, R),
    ("committer", None, Req, R),
    ("grep", None, Req, R),
    ("regexp-ignore-case", Some('i'), No, R),
    ("extended-regexp", Some('E'), No, R),
    ("fixed-strings", Some('F'), No, R),
    ("all-match", None, No, R),
    ("invert-grep", None, No, R),
    ("oneline", None, No, R),
    ("format", None, Req, R),
    ("pretty", None, Opt, R),
    ("abbrev-commit", None, No, R),
    ("no-abbrev-commit", None, No, R),
    ("graph", None, No, R),
    ("decorate", None, Opt, R),
    ("no-decorate", None, No, R),
    ("all", None, No, R),
    ("branches", None, Opt, R),
    ("tags", None, Opt, R),
    ("remotes", None, Opt, R),
    ("first-parent", None, No, R),
    ("merges", None, No, R),
    ("no-merges", None, No, R),
    ("max-parents", None, Req, R),
    ("min-parents", None, Req, R),
    ("reverse", None, No, R),
    ("date", None, Req, R),
    ("relative-date", None, No, R),
    ("follow", None, No, R),
    ("topo-order", None, No, R),
    ("date-order", None, No, R),
    ("author-date-order", None, No, R),
    ("ancestry-path", None, No, R),
    ("simplify-by-decoration", None, No, R),
    ("left-right", None, No, R),
    ("cherry-pick", None, No, R),
    ("cherry-mark", None, No, R),
    ("boundary", None, No, R),
    ("full-history", None, No, R),
    ("parents", None, No, R),
    ("children", None, No, R),
    ("no-walk", None, Opt, R),
    ("walk-reflogs", Some('g'), No, R),
    ("source", None, No, R),
    ("use-mailmap", None, No, R),
    ("mailmap", None, No, R),
    ("", Some('m'), No, R),
    ("diff-merges", None, Req, R),
    ("cc", None, No, R),
    ("no-notes", None, No, R),
];

const STATUS: &[Spec] = &[
    ("short", Some('s'), No, R),
    ("branch", Some('b'), No, R),
    ("porcelain", None, Opt, R),
    ("long", None, No, R),
    ("untracked-files", Some('u'), Opt, R),
    ("ignored", None, Opt, R),
    ("ignore-submodules", None, Opt, R),
    ("", Some('z'), No, R),
    ("null", None, No, R),
    ("show-stash", None, No, R),
    ("ahead-behind", None, No, R),
    ("no-ahead-behind", None, No, R),
    ("renames", None, No, R),
    ("no-renames", None, No, R),
    ("find-renames", None, Opt, R),
];

const ADD: &[Spec] = &[
    ("all", Some('A'), No, W),
    ("no-all", None, No, W),
    ("update", Some('u'), No, W),
    ("dry-run", Some('n'), No, W),
    ("verbose", Some('v'), No, W),
    ("force", Some('f'), No, D),
    ("intent-to-add", Some('N'), No, W),
    ("ignore-errors", None, No, W),
    ("ignore-missing", None, No, W),
    ("refresh", None, No, W),
    ("renormalize", None, No, W),
    ("chmod", None, Req, W),
    ("sparse", None, No, W),
    ("ignore-removal", None, No, W),
    ("no-ignore-removal", None, No, W),
];

const COMMIT: &[Spec] = &[
    ("message", Some('m'), Req, W),
    ("all", Some('a'), No, W),
    ("quiet", Some('q'), No, W),
    ("amend", None, No, D),
    ("no-edit", None, No, W),
    ("allow-empty", None, No, W),
    ("allow-empty-message", None, No, W),
    ("author", None, Req, W),
    ("date", None, Req, W),
    ("signoff", Some('s'), No, W),
    ("no-verify", Some('n'), No, W),
    ("only", None, No, W),
    ("include", None, No, W),
    ("reuse-message", None, Req, W),
    ("fixup", None, Req, W),
    ("squash", None, Req, W),
    ("reset-author", None, No, W),
    ("cleanup", None, Req, W),
    ("trailer", None, Req, W),
    ("no-gpg-sign", None, No, W),
    ("no-status", None, No, W),
    ("dry-run", None, No, W),
];

const BRANCH: &[Spec] = &[
    ("all", Some('a'), No, R),
    ("remotes", Some('r'), No, R),
    ("list", Some('l'), No, R),
    ("verbose", Some('v'), No, R),
    ("contains", None, Req, R),
    ("no-contains", None, Req, R),
    ("merged", None, Req, R),
    ("no-merged", None, Req, R),
    ("points-at", None, Req, R),
    ("sort", None, Req, R),
    ("format", None, Req, R),
    ("show-current", None, No, R),
    ("ignore-case", Some('i'), No, R),
    ("abbrev", None, Opt, R),
    ("no-abbrev", None, No, R),
    ("quiet", Some('q'), No, R),
    ("track", Some('t'), Opt, W),
    ("no-track", None, No, W),
    ("set-upstream-to", Some('u'), Req, W),
    ("unset-upstream", None, No, W),
    ("create-reflog", None, No, W),
    ("copy", None, No, W),
    ("delete", Some('d'), No, D),
    ("", Some('D'), No, D),
    ("move", Some('m'), No, D),
    ("", Some('M'), No, D),
    ("force", Some('f'), No, D),
];

const CHECKOUT: &[Spec] = &[
    ("", Some('b'), Req, W),
    ("orphan", None, Req, W),
    ("track", Some('t'), Opt, W),
    ("no-track", None, No, W),
    ("quiet", Some('q'), No, W),
    ("guess", None, No, W),
    ("no-guess", None, No, W),
    ("ignore-other-worktrees", None, No, W),
    ("", Some('B'), Req, D),
    ("detach", None, No, D),
    ("force", Some('f'), No, D),
    ("merge", Some('m'), No, D),
    ("ours", None, No, D),
    ("theirs", None, No, D),
    ("overlay", None, No, D),
    ("no-overlay", None, No, D),
    ("conflict", None, Req, D),
];

const STASH_SHOW: &[Spec] = &[
    ("include-untracked", Some('u'), No, R),
    ("only-untracked", None, No, R),
];

const STASH_PUSH: &[Spec] = &[
    ("message", Some('m'), Req, D),
    ("include-untracked", Some('u'), No, D),
    ("keep-index", Some('k'), No, D),
    ("no-keep-index", None, No, D),
    ("staged", Some('S'), No, D),
    ("all", Some('a'), No, D),
    ("quiet", Some('q'), No, D),
];

const STASH_APPLY: &[Spec] = &[("index", None, No, D), ("quiet", Some('q'), No, D)];
const STASH_DROP: &[Spec] = &[("quiet", Some('q'), No, D)];

/// Options refused with a reason, because a model is likely to try them.
const REFUSED: &[(&str, &str)] = &[
    (
        "--output",
        "writes the output to a file of the caller's choosing",
    ),
    ("-o", "writes the output to a file of the caller's choosing"),
    ("--no-index", "compares files outside the repository"),
    (
        "--ext-diff",
        "runs the external diff program named by the repository's config",
    ),
    (
        "--textconv",
        "runs the textconv programs named by the repository's config",
    ),
    ("-c", "sets git config, which can make git run programs"),
    (
        "--config-env",
        "sets git config, which can make git run programs",
    ),
    ("-C", "points git at another directory"),
    ("--git-dir", "points git at another repository"),
    ("--work-tree", "points git at another work tree"),
    (
        "--exec-path",
        "makes git run programs from another directory",
    ),
    ("--upload-pack", "runs a program"),
    ("--receive-pack", "runs a program"),
    ("--exec", "runs a program"),
    (
        "--template",
        "copies files from a directory of the caller's choosing",
    ),
    (
        "--pathspec-from-file",
        "reads a file that may be outside the project",
    ),
    (
        "--file",
        "reads a file that may be outside the project; use -m",
    ),
    ("-F", "reads a file that may be outside the project; use -m"),
    ("-O", "reads a file that may be outside the project"),
    ("--open-files-in-pager", "runs a pager program"),
    (
        "--show-signature",
        "runs the signature program named by the config",
    ),
    ("--gpg-sign", "runs the signing program named by the config"),
    (
        "--submodule",
        "runs git inside submodules under their own config",
    ),
    (
        "--recurse-submodules",
        "runs git inside submodules under their own config",
    ),
    ("--remerge-diff", "runs merges, which can run merge drivers"),
    ("--patch", "is interactive, and there is no terminal here"),
    ("-p", "is interactive, and there is no terminal here"),
    (
        "--interactive",
        "is interactive, and there is no terminal here",
    ),
    ("-i", "is interactive, and there is no terminal here"),
    ("--edit", "opens an editor, and there is no terminal here"),
    ("-e", "opens an editor, and there is no terminal here"),
    (
        "--verbose",
        "shows a diff through programs the repository's config may name",
    ),
    (
        "-v",
        "shows a diff through programs the repository's config may name",
    ),
];

/// A git call that passed the policy.
#[derive(Debug, Clone, PartialEq)]
pub struct Checked {
    /// Everything after `git --no-pager`: the subcommand, our hardening flags, then the
    /// caller's arguments in canonical form.
    pub argv: Vec<String>,
    /// How much approval the call needs.
    pub risk: Risk,
}

/// The arguments of one call, sorted out.
#[derive(Debug, Default)]
struct Parsed {
    /// Canonical options, in order.
    options: Vec<String>,
    /// Arguments that are not options (revisions, branch names, pathspecs), before `--`.
    positionals: Vec<String>,
    /// Pathspecs after `--`.
    paths: Option<Vec<String>>,
    /// Long names (or `-x`) of the options given, for the per-subcommand rules.
    seen: Vec<String>,
    /// The highest effect of any option given.
    effect: Option<Effect>,
}

impl Parsed {
    fn has(&self, names: &[&str]) -> bool {
        self.seen.iter().any(|s| names.contains(&s.as_str()))
    }

    fn into_argv(self, head: &[&str]) -> Vec<String> {
        let mut argv: Vec<String> = head.iter().map(|s| (*s).to_owned()).collect();
        argv.extend(self.options);
        argv.extend(self.positionals);
        if let Some(paths) = self.paths {
            argv.push("--".to_owned());
            argv.extend(paths);
        }
        argv
    }
}

fn refusal(op: &str, opt: &str) -> String {
    match REFUSED.iter().find(|(name, _)| *name == opt) {
        Some((_, why)) => format!("git {op}: option {opt} is refused: it {why}"),
        None => format!(
            "git {op}: option {opt} is not allowed (only options known to be safe are accepted; \
             long options must be spelled out in full)"
        ),
    }
}

/// An argument that names a path (or a revision): it must stay inside the project.
fn check_path(op: &str, arg: &str) -> Result<(), String> {
    if arg.starts_with('/') || arg.starts_with('~') {
        return Err(format!(
            "git {op}: {arg:?} is an absolute path; use a path relative to the project root"
        ));
    }
    if arg.split(['/', '\\']).any(|c| c == "..") {
        return Err(format!(
            "git {op}: {arg:?} leaves the project (`..`); use a path inside the project"
        ));
    }
    if arg.contains('\0') {
        return Err(format!("git {op}: an argument contains a NUL byte"));
    }
    Ok(())
}

fn find<'a>(tables: &[&'a [Spec]], pred: impl Fn(&Spec) -> bool) -> Option<&'a Spec> {
    tables.iter().flat_map(|t| t.iter()).find(|s| pred(s))
}

/// Parses `args` against `tables` as git's option parser would.
fn parse(op: &str, args: &[String], tables: &[&[Spec]], digits: bool) -> Result<Parsed, String> {
    let mut p = Parsed::default();
    let note = |p: &mut Parsed, name: String, effect: Effect| {
        p.seen.push(name);
        p.effect = p.effect.max(Some(effect));
    };
    let mut it = args.iter();
    while let Some(arg) = it.next() {
        if arg == "--" {
            let paths: Vec<String> = it.by_ref().cloned().collect();
            for path in &paths {
                check_path(op, path)?;
            }
            p.paths = Some(paths);
            break;
        }
        if let Some(long) = arg.strip_prefix("--") {
            let (name, attached) = match long.split_once('=') {
                Some((n, v)) => (n, Some(v.to_owned())),
                None => (long, None),
            };
            let spec = find(tables, |s| !s.0.is_empty() && s.0 == name)
                .ok_or_else(|| refusal(op, &format!("--{name}")))?;
            let value = match (spec.2, attached) {
                (No, Some(_)) => return Err(format!("git {op}: --{name} takes no value")),
                (No, None) | (Opt, None) => None,
                (Req, None) => Some(
                    it.next()
                        .cloned()
                        .ok_or_else(|| format!("git {op}: --{name} needs a value"))?,
                ),
                (_, Some(v)) => Some(v),
            };
            if name == "relative"
                && let Some(v) = &value
            {
                check_path(op, v)?;
            }
            p.options.push(match value {
                Some(v) => format!("--{name}={v}"),
                None => format!("--{name}"),
            });
            note(&mut p, name.to_owned(), spec.3);
            continue;
        }
        let Some(cluster) = arg.strip_prefix('-').filter(|c| !c.is_empty()) else {
            check_path(op, arg)?;
            p.positionals.push(arg.clone());
            continue;
        };
        if digits && cluster.chars().all(|c| c.is_ascii_digit()) {
            p.options.push(arg.clone());
            note(&mut p, "max-count".to_owned(), R);
            continue;
        }
        for (i, c) in cluster.char_indices() {
            let spec =
                find(tables, |s| s.1 == Some(c)).ok_or_else(|| refusal(op, &format!("-{c}")))?;
            let rest = &cluster[i + c.len_utf8()..];
            let name = if spec.0.is_empty() {
                format!("-{c}")
            } else {
                spec.0.to_owned()
            };
            match spec.2 {
                No => p.options.push(format!("-{c}")),
                Opt => {
                    p.options.push(format!("-{c}{rest}"));
                    note(&mut p, name, spec.3);
                    break;
                }
                Req => {
                    let value = if rest.is_empty() {
                        it.next()
                            .cloned()
                            .ok_or_else(|| format!("git {op}: -{c} needs a value"))?
                    } else {
                        rest.to_owned()
                    };
                    if c == 'b' || c == 'B' {
                        check_path(op, &value)?;
                    }
                    p.options.push(format!("-{c}"));
                    p.options.push(value);
                    note(&mut p, name, spec.3);
                    break;
                }
            }
            note(&mut p, name, spec.3);
        }
    }
    Ok(p)
}

fn max_risk(base: Effect, p: &Parsed) -> Risk {
    match p.effect.map_or(base, |e| e.max(base)) {
        R => Risk::Read,
        W => Risk::Write,
        D => Risk::GitDiscard,
    }
}

/// Checks one call: `op` is the subcommand, `args` its arguments.
pub fn check(op: &str, args: &[String]) -> Result<Checked, String> {
    const HARDEN: [&str; 2] = ["--no-ext-diff", "--no-textconv"];
    let checked = |p: Parsed, head: &[&str], base: Effect| {
        let risk = max_risk(base, &p);
        Checked {
            argv: p.into_argv(head),
            risk,
        }
    };
    Ok(match op {
        "status" => checked(parse(op, args, &[STATUS], false)?, &["status"], R),
        "diff" => {
            let p = parse(op, args, &[DIFF, DIFF_ONLY], false)?;
            checked(p, &["diff", HARDEN[0], HARDEN[1]], R)
        }
        "log" => {
            let p = parse(op, args, &[LOG, DIFF], true)?;
            checked(p, &["log", HARDEN[0], HARDEN[1]], R)
        }
        "show" => {
            let p = parse(op, args, &[LOG, DIFF], true)?;
            checked(p, &["show", HARDEN[0], HARDEN[1]], R)
        }
        "add" => checked(parse(op, args, &[ADD], false)?, &["add"], W),
        "commit" => checked(parse(op, args, &[COMMIT], false)?, &["commit"], W),
        "branch" => {
            let p = parse(op, args, &[BRANCH], false)?;
            // Names given without --list create a branch (`git branch -v x` does).
            let listing = p.positionals.is_empty() || p.has(&["list"]);
            let base = if listing && p.paths.is_none() { R } else { W };
            checked(p, &["branch"], base)
        }
        "checkout" => {
            let p = parse(op, args, &[CHECKOUT], false)?;
            // Creating a branch (with at most a start point) keeps every change; switching
            // to another branch or checking out paths can overwrite work.
            let creates = p.has(&["-b", "orphan"]) && p.positionals.len() <= 1 && p.paths.is_none();
            let base = if creates { W } else { D };
            checked(p, &["checkout"], base)
        }
        "stash" => stash(args)?,
        other => return Err(format!("git op {other:?} is not offered")),
    })
}

fn stash(args: &[String]) -> Result<Checked, String> {
    const HARDEN: [&str; 2] = ["--no-ext-diff", "--no-textconv"];
    let (sub, rest) = match args.first().map(String::as_str) {
        Some(s) if !s.starts_with('-') => (s, &args[1..]),
        _ => ("push", args),
    };
    let op = format!("stash {sub}");
    let (p, head, base): (Parsed, Vec<&str>, Effect) = match sub {
        "list" => (
            parse(&op, rest, &[LOG, DIFF], false)?,
            vec!["stash", "list", HARDEN[0], HARDEN[1]],
            R,
        ),
        "show" => (
            parse(&op, rest, &[STASH_SHOW, DIFF], false)?,
            vec!["stash", "show", HARDEN[0], HARDEN[1]],
            R,
        ),
        "push" => (
            parse(&op, rest, &[STASH_PUSH], false)?,
            vec!["stash", "push"],
            D,
        ),
        "apply" | "pop" => (
            parse(&op, rest, &[STASH_APPLY], false)?,
            vec!["stash", sub],
            D,
        ),
        "drop" | "branch" => (
            parse(&op, rest, &[STASH_DROP], false)?,
            vec!["stash", sub],
            D,
        ),
        "clear" => (parse(&op, rest, &[], false)?, vec!["stash", "clear"], D),
        other => {
            return Err(format!(
                "git stash {other:?} is not offered; use list, show, push, apply, pop, drop, branch or clear"
            ));
        }
    };
    let risk = max_risk(base, &p);
    Ok(Checked {
        argv: p.into_argv(&head),
        risk,
    })
}
