//! botcoder's terminal UI: a thin client attached to one live session. Everything it shows
//! comes from session events; `state/` holds what is known, `view/` draws it, `app` runs
//! the loop. Any number of terminals can attach to the same session.

mod app;
mod history;
mod picker;
pub mod state;
pub mod view;

use std::path::PathBuf;

use botcoder_protocol::client::{ConnectOptions, DaemonClient};
use botcoder_protocol::methods::{
    SessionConfigure, SessionConfigureParams, SessionCreate, SessionCreateParams, SessionGet,
    SessionList, SessionListParams, SessionRef,
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

/// The name this terminal gives the daemon: `botcoder-tui on /dev/pts/3`, so an approval
/// decided here is named in words other terminals can tell apart.
fn client_name() -> String {
    match std::fs::read_link("/proc/self/fd/0") {
        // The daemon takes names of up to 64 printable characters.
        Ok(tty) if tty.starts_with("/dev/") && tty.as_os_str().len() < 40 => {
            format!("botcoder-tui on {}", tty.display())
        }
        _ => "botcoder-tui".to_owned(),
    }
}

/// Opens the TUI; returns when the user detaches (the session keeps running).
pub async fn run(opts: TuiOptions) -> Result<(), TuiError> {
    let mut connect = ConnectOptions::new(&client_name(), botcoder_config::paths::socket_path());
    connect.capabilities = vec![CAPABILITY_APPROVALS.to_owned()];
    let client = DaemonClient::connect(&connect)
        .await
        .map_err(|e| err(3, e.to_string()))?;
    let client = std::sync::Arc::new(client);
    let project = std::fs::canonicalize(&opts.project)
        .map_err(|e| err(2, format!("{}: {e}", opts.project.display())))?;
    let mut session = match opts.session {
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
    // Mouse capture stays off (text can be selected with the mouse); F2 turns it on.
    let _ = crossterm::execute!(std::io::stdout(), crossterm::event::EnableBracketedPaste);
    let create = |client: std::sync::Arc<DaemonClient>, project: String| async move {
        let p = SessionCreateParams {
            project_path: project,
            // This shell's provider settings (keys included) win for the session, whatever
            // daemon is running.
            env: botcoder_config::client_env(),
            require_provider: true,
            ..Default::default()
        };
        client
            .call::<SessionCreate>(&p)
            .await
            .map(|i| i.session_id)
            .map_err(|e| {
                // No provider: the daemon refused before creating anything (EX_CONFIG).
                let code = if e.kind() == Some(ErrorKind::ProviderNotConfigured) {
                    78
                } else {
                    1
                };
                err(code, e.to_string())
            })
    };
    let result = async {
        loop {
            let id = match session.take() {
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
                            create(client.clone(), project.display().to_string()).await?
                        }
                        picker::Choice::Quit => return Ok(String::new()),
                    }
                }
            };
            // This shell's provider settings (a new key) reach an existing session too.
            let _ = client
                .call::<SessionConfigure>(&SessionConfigureParams {
                    session_id: id.clone(),
                    provider: None,
                    model: None,
                    approval: None,
                    env: botcoder_config::client_env(),
                })
                .await;
            match app::run_session(
                &mut terminal,
                client.clone(),
                connect.clone(),
                id,
                project.clone(),
            )
            .await
            .map_err(|e| err(1, e))?
            {
                app::Outcome::Detach(summary) => return Ok(summary),
                app::Outcome::Picker => {}
                app::Outcome::New => {
                    session = Some(create(client.clone(), project.display().to_string()).await?);
                }
            }
        }
    }
    .await;
    let _ = crossterm::execute!(
        std::io::stdout(),
        crossterm::event::DisableBracketedPaste,
        crossterm::event::DisableMouseCapture
    );
    ratatui::restore();
    // What stays in the terminal: which session, and how to come back.
    result.map(|summary| print!("{summary}"))
}
