//! The `git` tool: git subcommands run through the command runner (no shell), and how
//! risky each call is.
//!
//! A model is not trusted with git's whole surface: many options write files
//! (`--output`), read outside the project (`--no-index`) or run programs (`--ext-diff`,
//! `-c core.fsmonitor=…`), and a repository's own config can make plain `git status` run
//! one. So the arguments pass an allowlist ([`argv`]), which also decides the risk from
//! what the call does, and every call runs under [`harden`]'s settings.

use std::path::Path;

use serde_json::Value;

use super::args::req_str;
use super::command::{DEFAULT_TIMEOUT, run};
use crate::tools::{Risk, ToolContext, ToolOutcome};

#[path = "git_argv.rs"]
mod argv;
#[path = "git_harden.rs"]
pub(crate) mod harden;

/// Git operations offered to the model.
pub const GIT_OPS: [&str; 9] = [
    "status", "diff", "log", "show", "add", "commit", "branch", "checkout", "stash",
];

/// The subcommand and its arguments as argv: an array of strings, or one string split
/// with shell-word rules (quotes keep `-m "two words"` together).
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
                v.as_str().map(str::to_owned).ok_or_else(|| {
                    format!("git `args` must be an array of strings, got the item {v}")
                })
            })
            .collect::<Result<_, _>>()?,
        Some(Value::String(s)) => shlex::split(s).ok_or_else(|| {
            format!("git `args` {s:?} has an unbalanced quote; pass an array of strings")
        })?,
        Some(other) => {
            return Err(format!(
                "git `args` must be an array of strings, got {other}"
            ));
        }
    };
    Ok((op, rest))
}

fn checked(args: &Value) -> Result<argv::Checked, String> {
    let (op, rest) = git_args(args)?;
    argv::check(&op, &rest)
}

/// How risky a git call is, judged from its parsed arguments: a read only when every
/// option is known to read, anything that can lose work is `GitDiscard`. A call the policy
/// refuses is classed as a read because it never runs: the model then gets the refusal
/// with its reason at once instead of an approval prompt for nothing.
pub fn git_risk(args: &Value) -> Risk {
    checked(args).map_or(Risk::Read, |c| c.risk)
}

/// `git {op, args}` via the git CLI (no shell), hardened.
pub async fn git(root: &Path, args: &Value, ctx: &ToolContext) -> ToolOutcome {
    let call = match checked(args) {
        Ok(c) => c,
        Err(e) => return ToolOutcome::error(e),
    };
    let env = match harden::prepare(root).await {
        Ok(env) => env,
        Err(e) => return ToolOutcome::error(e),
    };
    let mut cmd = tokio::process::Command::new("git");
    cmd.arg("--no-pager").args(&call.argv);
    let env: Vec<(&str, &str)> = env.iter().map(|(k, v)| (k.as_str(), v.as_str())).collect();
    run(cmd, root, ctx, DEFAULT_TIMEOUT, &env).await
}

#[cfg(test)]
#[path = "git_tests.rs"]
mod tests;
