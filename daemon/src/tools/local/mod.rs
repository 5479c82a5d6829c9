//! The local tool executor: every tool runs on this machine, confined to the project root.

mod args;
pub mod command;
mod editor_io;
pub mod files;
pub mod git;
pub mod list;
pub mod textio;

use futures::future::BoxFuture;
use serde_json::{Value, json};

use crate::llm::ToolSpec;
use crate::tools::{Preview, Risk, ToolCall, ToolContext, ToolExecutor, ToolOutcome};

/// How long a cancelled file tool may still take to finish on its own.
const CANCEL_GRACE: std::time::Duration = std::time::Duration::from_millis(100);

/// Runs the built-in tools locally.
#[derive(Debug, Default)]
pub struct LocalToolExecutor;

const READ_TOOLS: [&str; 3] = ["read_file", "list_files", "search"];
const ALL_TOOLS: [&str; 8] = [
    "read_file",
    "list_files",
    "search",
    "write_file",
    "edit_file",
    "apply_delta",
    "execute_command",
    "git",
];

fn spec(name: &str, description: &str, properties: Value, required: &[&str]) -> ToolSpec {
    ToolSpec {
        name: name.to_owned(),
        description: description.to_owned(),
        parameters: json!({"type": "object", "properties": properties, "required": required, "additionalProperties": false}),
    }
}

fn all_specs() -> Vec<ToolSpec> {
    let s = |d: &str| json!({"type": "string", "description": d});
    let n = |d: &str| json!({"type": "integer", "minimum": 0, "description": d});
    vec![
        spec(
            "read_file",
            "Read a text file of the project, with line numbers.",
            json!({
                "path": s("Path relative to the project root."),
                "offset": n("First line to read (1-based, default 1)."),
                "limit": n("Most lines to read (default 2000)."),
            }),
            &["path"],
        ),
        spec(
            "list_files",
            "List files of the project (respects .gitignore), sorted.",
            json!({
                "path": s("Directory relative to the project root (default: the root)."),
                "glob": s("Only files matching this glob, e.g. `*.rs`."),
            }),
            &[],
        ),
        spec(
            "search",
            "Search the project's text files with a regular expression; returns path:line: text.",
            json!({
                "pattern": s("Regular expression (Rust regex syntax)."),
                "path": s("Directory or file to search (default: the root)."),
                "glob": s("Only files matching this glob."),
            }),
            &["pattern"],
        ),
        spec(
            "write_file",
            "Create or overwrite a file with the given content (parent directories are created).",
            json!({
                "path": s("Path relative to the project root."),
                "content": s("The complete new content."),
            }),
            &["path", "content"],
        ),
        spec(
            "edit_file",
            "Replace an exact piece of text in a file. `old` must occur exactly once unless replace_all is true.",
            json!({
                "path": s("Path relative to the project root."),
                "old": s("Exact text to replace, including whitespace."),
                "new": s("Replacement text."),
                "replace_all": {"type": "boolean", "description": "Replace every occurrence."},
            }),
            &["path", "old", "new"],
        ),
        spec(
            "apply_delta",
            "Apply CHANGE blocks: `CHANGE: path`, `<<<<<<< CURRENT`, exact lines, `=======`, new lines, `>>>>>>> NEW`.",
            json!({
                "text": s("One or more CHANGE blocks."),
            }),
            &["text"],
        ),
        spec(
            "execute_command",
            "Run a shell command in the project root (sh -c) and return its output and exit code.",
            json!({
                "command": s("The command line."),
                "timeout_s": n("Seconds before it is killed (default 120)."),
                "network": {"type": "boolean", "description": "Set to true only when the command needs the network (commands have none otherwise): the user is asked to allow it for this one call."},
            }),
            &["command"],
        ),
        spec(
            "git",
            "Run a git operation: status, diff, log, show, add, commit, branch, checkout or stash.",
            json!({
                "op": s("The git subcommand."),
                "args": {"type": "array", "items": {"type": "string"}, "description": "Its arguments."},
            }),
            &["op"],
        ),
    ]
}

impl LocalToolExecutor {
    /// Runs a file tool on the blocking pool with the root held open and the turn's token.
    /// The tool checks the token as it goes; this also races the task against it, so a
    /// cancelled turn gets its answer within [`CANCEL_GRACE`] whatever the task is doing.
    /// Within the grace the task's own outcome wins: a write that already happened is
    /// reported with its change, never hidden behind "cancelled".
    fn blocking(
        call: &ToolCall,
        ctx: &ToolContext,
        f: fn(&textio::Job, &Value) -> ToolOutcome,
    ) -> BoxFuture<'static, ToolOutcome> {
        let root = ctx.project_root.clone();
        let args = call.args.clone();
        let cancel = ctx.cancel.clone();
        let editor = ctx.editor.clone();
        Box::pin(async move {
            let token = cancel.clone();
            let mut task = tokio::task::spawn_blocking(move || {
                match crate::tools::confine::Root::open(&root) {
                    Ok(root) => f(
                        &textio::Job {
                            root,
                            cancel: token,
                            editor,
                        },
                        &args,
                    ),
                    Err(e) => ToolOutcome::error(e.to_string()),
                }
            });
            let joined = tokio::select! {
                r = &mut task => r,
                () = cancel.cancelled() => {
                    match tokio::time::timeout(CANCEL_GRACE, &mut task).await {
                        Ok(r) => r,
                        Err(_) => return ToolOutcome::error(textio::CANCELLED),
                    }
                }
            };
            joined.unwrap_or_else(|e| ToolOutcome::error(format!("the tool crashed: {e}")))
        })
    }
}

impl ToolExecutor for LocalToolExecutor {
    fn specs(&self, read_only: bool) -> Vec<ToolSpec> {
        all_specs()
            .into_iter()
            .filter(|s| !read_only || READ_TOOLS.contains(&s.name.as_str()))
            .collect()
    }

    fn supports(&self, name: &str) -> bool {
        ALL_TOOLS.contains(&name)
    }

    fn risk(&self, call: &ToolCall) -> Risk {
        match call.name.as_str() {
            "read_file" | "list_files" | "search" => Risk::Read,
            "write_file" | "edit_file" | "apply_delta" => Risk::Write,
            "git" => git::git_risk(&call.args),
            _ => Risk::Command,
        }
    }

    fn preview<'a>(&'a self, call: &'a ToolCall, ctx: &'a ToolContext) -> BoxFuture<'a, Preview> {
        let root = ctx.project_root.clone();
        let cancel = ctx.cancel.clone();
        let editor = ctx.editor.clone();
        let (name, args) = (call.name.clone(), call.args.clone());
        Box::pin(async move {
            let str_arg = |k: &str| {
                args.get(k)
                    .and_then(Value::as_str)
                    .unwrap_or_default()
                    .to_owned()
            };
            let summary = match name.as_str() {
                "execute_command" if command::wants_network(&args) => {
                    format!("run `{}` WITH NETWORK ACCESS", str_arg("command"))
                }
                "execute_command" => format!("run `{}`", str_arg("command")),
                "git" => format!(
                    "git {} {}",
                    str_arg("op"),
                    args.get("args").map(|a| a.to_string()).unwrap_or_default()
                ),
                "apply_delta" => "apply CHANGE blocks".to_owned(),
                other => format!("{other} {}", str_arg("path")),
            };
            let diff = tokio::task::spawn_blocking(move || {
                let root = crate::tools::confine::Root::open(&root).ok()?;
                let job = textio::Job {
                    root,
                    cancel,
                    editor,
                };
                files::preview_diff(&job, &name, &args)
            })
            .await
            .ok()
            .flatten();
            Preview { summary, diff }
        })
    }

    fn execute<'a>(
        &'a self,
        call: &'a ToolCall,
        ctx: &'a ToolContext,
    ) -> BoxFuture<'a, ToolOutcome> {
        match call.name.as_str() {
            "read_file" => Self::blocking(call, ctx, files::read_file),
            "write_file" => Self::blocking(call, ctx, files::write_file),
            "edit_file" => Self::blocking(call, ctx, files::edit_file),
            "apply_delta" => Self::blocking(call, ctx, files::apply_delta),
            "list_files" => Self::blocking(call, ctx, list::list_files),
            "search" => Self::blocking(call, ctx, list::search),
            "execute_command" => {
                Box::pin(command::execute_command(&ctx.project_root, &call.args, ctx))
            }
            "git" => Box::pin(git::git(&ctx.project_root, &call.args, ctx)),
            other => {
                let msg = format!(
                    "there is no tool named {other:?}; the tools are {}",
                    ALL_TOOLS.join(", ")
                );
                Box::pin(async move { ToolOutcome::error(msg) })
            }
        }
    }
}
