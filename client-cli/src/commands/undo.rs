//! `botcoder undo`, `botcoder redo` and `botcoder diff`: take a turn's file changes back,
//! put them back, or show them.
//!
//! Without `--session` they act on the latest session of the project in the current
//! directory; without `--turn`, undo takes the latest turn that changed files, redo the
//! most recently undone one, and diff shows everything the session changed.

use botcoder_protocol::methods::{
    SessionDiff, SessionDiffParams, SessionList, SessionListParams, SessionRevert,
    SessionRevertParams, SessionRevertResult, SessionUnrevert,
};
use botcoder_protocol::{FileChange, FileChangeStatus, SessionId, TurnId};
use clap::Args;

use super::{connect, get_session};
use crate::exit::{self, Failure};
use crate::output::{Out, one_line};

/// `undo` and `redo` options.
#[derive(Debug, Args)]
pub struct UndoArgs {
    /// The session [default: the latest session of the current directory's project].
    #[arg(long, short = 's', value_name = "ID")]
    pub session: Option<String>,
    /// The turn [default: undo the latest turn that changed files; redo the most recently
    /// undone one].
    #[arg(long, short = 't', value_name = "TURN")]
    pub turn: Option<String>,
    /// Go ahead even when a file changed since the turn (that change is lost).
    #[arg(long)]
    pub force: bool,
    /// Print the result as JSON.
    #[arg(long)]
    pub json: bool,
}

/// `diff` options.
#[derive(Debug, Args)]
pub struct DiffArgs {
    /// The session [default: the latest session of the current directory's project].
    #[arg(long, short = 's', value_name = "ID")]
    pub session: Option<String>,
    /// Only this turn's changes [default: everything the session changed].
    #[arg(long, short = 't', value_name = "TURN")]
    pub turn: Option<String>,
    /// Print `{diff, files}` as JSON.
    #[arg(long)]
    pub json: bool,
}

/// The session named, or the latest one of the current directory's project.
async fn session_id(
    client: &botcoder_protocol::client::DaemonClient,
    named: Option<String>,
) -> Result<SessionId, Failure> {
    if let Some(id) = named {
        return Ok(get_session(client, &id).await?.session_id);
    }
    let cwd = std::env::current_dir()
        .and_then(std::fs::canonicalize)
        .map_err(|e| Failure::new(exit::USAGE, format!("the current directory: {e}")))?;
    let list = client
        .call::<SessionList>(&SessionListParams {
            project_path: Some(cwd.display().to_string()),
        })
        .await?;
    list.sessions
        .into_iter()
        .next()
        .map(|s| s.session_id)
        .ok_or_else(|| {
            Failure::new(
                exit::NO_SESSION,
                format!(
                    "no session for {} (run it in the project's directory, or pass --session ID)",
                    cwd.display()
                ),
            )
        })
}

/// Runs `undo` (`undo` true) or `redo`.
pub async fn run_revert(args: UndoArgs, undo: bool) -> Result<u8, Failure> {
    let client = connect(true).await?;
    let params = SessionRevertParams {
        session_id: session_id(&client, args.session).await?,
        turn_id: args.turn.map(TurnId),
        force: args.force,
    };
    let result = if undo {
        client.call::<SessionRevert>(&params).await?
    } else {
        client.call::<SessionUnrevert>(&params).await?
    };
    let mut out = Out;
    let _ = if args.json {
        out.json_value(&result)
    } else {
        out.human(&summary(&result, undo))
    };
    Ok(exit::OK)
}

fn summary(r: &SessionRevertResult, undo: bool) -> String {
    let verb = if undo { "undid" } else { "redid" };
    let mut text = format!(
        "{verb} turn {} ({} file{}):\n",
        one_line(r.turn_id.as_str()),
        r.files.len(),
        if r.files.len() == 1 { "" } else { "s" }
    );
    for f in &r.files {
        text.push_str(&format!("  {}\n", describe(f, undo)));
    }
    text
}

/// One line per file: what happened to it now.
fn describe(f: &FileChange, undo: bool) -> String {
    let what = match (f.status, undo) {
        (FileChangeStatus::Added, true) | (FileChangeStatus::Deleted, false) => "removed",
        (FileChangeStatus::Deleted, true) | (FileChangeStatus::Added, false) => "restored",
        (FileChangeStatus::Modified, _) => "restored",
    };
    format!("{what:<9} {}", one_line(&f.path))
}

/// Runs `diff`.
pub async fn run_diff(args: DiffArgs) -> Result<u8, Failure> {
    let client = connect(true).await?;
    let params = SessionDiffParams {
        session_id: session_id(&client, args.session).await?,
        turn_id: args.turn.map(TurnId),
    };
    let result = client.call::<SessionDiff>(&params).await?;
    let mut out = Out;
    let _ = if args.json {
        out.json_value(&result)
    } else if result.diff.is_empty() {
        out.text("no changes\n")
    } else {
        // A diff goes to pagers and `git apply`: its bytes as they are, escapes shown safely
        // only when they would reach a terminal.
        if std::io::IsTerminal::is_terminal(&std::io::stdout()) {
            out.human(&result.diff)
        } else {
            out.text(&result.diff)
        }
    };
    Ok(exit::OK)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn summary_says_what_happened_to_each_file() {
        let f = |path: &str, status| FileChange {
            path: path.into(),
            status,
            added: 1,
            removed: 0,
        };
        let r = SessionRevertResult {
            turn_id: TurnId("t1".into()),
            files: vec![
                f("a", FileChangeStatus::Modified),
                f("new", FileChangeStatus::Added),
            ],
        };
        assert_eq!(
            summary(&r, true),
            "undid turn t1 (2 files):\n  restored  a\n  removed   new\n"
        );
    }
}
