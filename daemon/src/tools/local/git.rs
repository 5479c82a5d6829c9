//! The `git` tool: git subcommands run through the command runner (no shell), and how
//! risky each call is.

use std::path::Path;

use serde_json::Value;

use super::args::req_str;
use super::command::{DEFAULT_TIMEOUT, run};
use crate::tools::{Risk, ToolContext, ToolOutcome};

/// Git operations offered to the model.
pub const GIT_OPS: [&str; 9] = [
    "status", "diff", "log", "show", "add", "commit", "branch", "checkout", "stash",
];

fn git_args(args: &Value) -> Result<(String, Vec<String>), String> {
    let op = req_str(args, "op")?.trim().to_owned();
    if !GIT_OPS.contains(&op.as_str()) {
        return Err(format!(
            "git op {op:?} is not offered; use one of {}",
            GIT_OPS.join(", ")
        ));
    }
    let rest = match args.get("args") {
        None | Some(Value::Null) => Vec::new(),
        Some(Value::Array(a)) => a
            .iter()
            .map(|v| {
                v.as_str()
                    .map(str::to_owned)
                    .unwrap_or_else(|| v.to_string())
            })
            .collect(),
        Some(Value::String(s)) => s.split_whitespace().map(str::to_owned).collect(),
        Some(other) => {
            return Err(format!(
                "git `args` must be an array of strings, got {other}"
            ));
        }
    };
    Ok((op, rest))
}

/// How risky a git call is: anything that can lose work needs approval under `ask`.
pub fn git_risk(args: &Value) -> Risk {
    let Ok((op, rest)) = git_args(args) else {
        return Risk::Read;
    };
    let has = |flags: &[&str]| rest.iter().any(|a| flags.contains(&a.as_str()));
    match op.as_str() {
        "status" | "diff" | "log" | "show" => Risk::Read,
        "add" => Risk::Write,
        "commit" if has(&["--amend"]) => Risk::GitDiscard,
        "commit" => Risk::Write,
        "branch" if rest.is_empty() || has(&["-a", "-l", "--list", "-r", "-v", "-vv"]) => {
            Risk::Read
        }
        "branch"
            if has(&[
                "-d", "-D", "--delete", "-f", "--force", "-m", "-M", "-c", "-C",
            ]) =>
        {
            Risk::GitDiscard
        }
        "branch" => Risk::Write,
        "checkout" if rest.first().is_some_and(|a| a == "-b") => Risk::Write,
        "stash" if matches!(rest.first().map(String::as_str), Some("list" | "show")) => Risk::Read,
        _ => Risk::GitDiscard,
    }
}

/// `git {op, args}` via the git CLI (no shell).
pub async fn git(root: &Path, args: &Value, ctx: &ToolContext) -> ToolOutcome {
    let (op, rest) = match git_args(args) {
        Ok(v) => v,
        Err(e) => return ToolOutcome::error(e),
    };
    let mut cmd = tokio::process::Command::new("git");
    cmd.args(["-c", "color.ui=false", "--no-pager", &op])
        .args(&rest);
    run(
        cmd,
        root,
        ctx,
        DEFAULT_TIMEOUT,
        &[("GIT_TERMINAL_PROMPT", "0"), ("GIT_PAGER", "cat")],
    )
    .await
}

#[cfg(test)]
#[path = "git_tests.rs"]
mod tests;
