//! botcoder's terminal UI: a thin client attached to one live session. Everything it shows
//! comes from session events; `state/` holds what is known, `view/` draws it, `app` runs
//! the loop. Any number of terminals can attach to the same session.

mod app;
mod picker;
pub mod state;
pub mod view;

use std::path::PathBuf;

use botcoder_protocol::client::{ConnectOptions, DaemonClient};
use botcoder_protocol::methods::{
    SessionCreate, SessionCreateParams, SessionGet, SessionList, SessionListParams, SessionRef,
};
use botcoder_protocol::{CAPABILITY_APPROVALS, ErrorKind, SessionId};

/// How to start.
#[derive(Debug, Clone)]
pub struct TuiOptions {
    /// Attach to this session; `None` shows a picker of the project's sessions.
    pub session: Option<String>,
    /// The project, for the picker and new sessions.
    pub project: PathBuf,
}

/// Why the TUI could not run, with the exit code the CLI uses.
#[derive(Debug)]
pub struct TuiError {
    /// Exit code (3 daemon unreachable, 4 no such session, 1 otherwise).
    pub code: u8,
    /// Message.
    pub message: String,
}

fn err(code: u8, message: impl Into<String>) -> TuiError {
    TuiError {
        code,
        message: message.into(),
    }
}

/// Opens the TUI; returns when the user detaches (the session keeps running).
pub async fn run(opts: TuiOptions) -> Result<(), TuiError> {
    let mut connect = ConnectOptions::new("botcoder-tui");
    connect.capabilities = vec![CAPABILITY_APPROVALS.to_owned()];
    let client = DaemonClient::connect(&connect)
        .await
        .map_err(|e| err(3, e.to_string()))?;
    let project = std::fs::canonicalize(&opts.project)
        .map_err(|e| err(2, format!("{}: {e}", opts.project.display())))?;
    let session = match opts.session {
        Some(id) => {
            let sid = SessionId(id.clone());
            client
                .call::<SessionGet>(&SessionRef {
                    session_id: sid.clone(),
                })
                .await
                .map_err(|e| match e.kind() {
                    Some(ErrorKind::SessionNotFound) => err(
                        4,
                        format!("no session {id:?} (see `botcoder sessions list`)"),
                    ),
                    _ => err(1, e.to_string()),
                })?;
            Some(sid)
        }
        None => None,
    };
    let mut terminal = ratatui::init();
    let _ = crossterm::execute!(
        std::io::stdout(),
        crossterm::event::EnableBracketedPaste,
        crossterm::event::EnableMouseCapture
    );
    let result = async {
        let session = match session {
            Some(s) => s,
            None => {
                let list = client
                    .call::<SessionList>(&SessionListParams {
                        project_path: Some(project.display().to_string()),
                    })
                    .await
                    .map_err(|e| err(1, e.to_string()))?;
                match picker::pick(&mut terminal, &list.sessions)
                    .await
                    .map_err(|e| err(1, e))?
                {
                    picker::Choice::Existing(id) => id,
                    picker::Choice::New => {
                        let p = SessionCreateParams {
                            project_path: project.display().to_string(),
                            title: None,
                            approval: None,
                            // This shell's provider settings (keys included) win for the
                            // session, whatever daemon is running.
                            env: botcoder_config::client_env(),
                            ..Default::default()
                        };
                        client
                            .call::<SessionCreate>(&p)
                            .await
                            .map_err(|e| err(1, e.to_string()))?
                            .session_id
                    }
                    picker::Choice::Quit => return Ok(()),
                }
            }
        };
        app::run_session(&mut terminal, client, connect, session)
            .await
            .map_err(|e| err(1, e))
    }
    .await;
    let _ = crossterm::execute!(
        std::io::stdout(),
        crossterm::event::DisableBracketedPaste,
        crossterm::event::DisableMouseCapture
    );
    ratatui::restore();
    result
}
