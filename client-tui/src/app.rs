//! The event loop: the session subscription is drained in its own task into a channel, so
//! drawing never blocks event intake (I5); key presses become actions; the screen is redrawn
//! when something changed, at most ~30 times a second. If the daemon goes away the TUI
//! reconnects and resumes from the last seq it saw.

use std::io::Write;
use std::path::PathBuf;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use botcoder_protocol::client::{ClientError, ConnectOptions, DaemonClient};
use botcoder_protocol::methods::{
    ApprovalRespond, ApprovalRespondParams, DaemonStatus, Empty, SessionCompact, SessionConfigure,
    SessionConfigureParams, SessionDiff, SessionDiffParams, SessionGet, SessionRef, SessionRename,
    SessionRenameParams, SessionRevert, SessionRevertParams, SessionSend, SessionSendParams,
    SessionUnrevert, SubscribeParams, TurnCancel, TurnCancelParams,
};
use botcoder_protocol::{Event, SessionId};
use crossterm::event::{Event as TermEvent, EventStream, MouseEventKind};
use futures::StreamExt;
use ratatui::DefaultTerminal;
use tokio::sync::{RwLock, mpsc};

use crate::state::slash::Command;
use crate::state::{Action, Overlay, State, mention};
use crate::view::{Cache, Theme, draw};

type Shared = Arc<RwLock<Arc<DaemonClient>>>;

/// Frames are at most this often (a fast stream is drawn in batches).
const FRAME: Duration = Duration::from_millis(33);

/// How the session screen ended.
#[derive(Debug)]
pub enum Outcome {
    /// Detached; the summary to leave in the terminal.
    Detach(String),
    /// `/sessions`: back to the picker.
    Picker,
    /// `/new`: a new session in this project.
    New,
}

/// Keeps a subscription alive across daemon restarts, feeding `tx`.
async fn follow(
    client: Shared,
    opts: ConnectOptions,
    session: SessionId,
    last_seq: Arc<AtomicU64>,
    tx: mpsc::Sender<Event>,
) {
    loop {
        let c = client.read().await.clone();
        let params = SubscribeParams {
            session_id: session.clone(),
            after_seq: Some(last_seq.load(Ordering::SeqCst)),
        };
        if let Ok(mut sub) = c.subscribe(&params).await {
            while let Some(Ok(ev)) = sub.next().await {
                if let Some(seq) = ev.seq {
                    last_seq.fetch_max(seq, Ordering::SeqCst);
                }
                if tx.send(ev).await.is_err() {
                    return;
                }
            }
        }
        // Lost: retry every 300 ms (at least every 500 ms, as promised) until it answers.
        loop {
            tokio::time::sleep(Duration::from_millis(300)).await;
            if let Ok(c) = DaemonClient::connect_once(&opts).await {
                *client.write().await = Arc::new(c);
                break;
            }
        }
    }
}

/// An error of a slash command, in words: a daemon without the method says so.
fn command_error(what: &str, method: &str, e: &ClientError) -> String {
    let text = e.to_string();
    if text.to_ascii_lowercase().contains("method not found") {
        format!("{what}: this botcoderd does not support {method} yet (update the daemon)")
    } else {
        format!("{what}: {text}")
    }
}

/// Runs the UI on `session` until the user detaches or switches.
pub async fn run_session(
    terminal: &mut DefaultTerminal,
    client: Arc<DaemonClient>,
    opts: ConnectOptions,
    session: SessionId,
    project: PathBuf,
) -> Result<Outcome, String> {
    let shared: Shared = Arc::new(RwLock::new(client.clone()));
    let last_seq = Arc::new(AtomicU64::new(0));
    let (tx, mut rx) = mpsc::channel(4096);
    let follower = tokio::spawn(follow(
        shared.clone(),
        opts.clone(),
        session.clone(),
        last_seq,
        tx,
    ));
    let mut state = State::new(session.as_str());
    state.me = opts.client_name.clone();
    // Header facts right after attach (mode, sandbox, provider, model, cost), not only
    // after the next turn.
    if let Ok(st) = client.call::<DaemonStatus>(&Empty {}).await {
        state.set_daemon_status(&st);
    }
    let mut project = project;
    if let Ok(info) = client
        .call::<SessionGet>(&SessionRef {
            session_id: session.clone(),
        })
        .await
    {
        state.set_session_info(&info);
        // @file completion and attachments are the session's project, wherever the TUI runs.
        project = PathBuf::from(&info.project_path);
    }
    let hist = crate::history::path(&project);
    if let Some(h) = hist.clone()
        && let Ok(entries) = tokio::task::spawn_blocking(move || crate::history::load(&h)).await
    {
        for e in entries {
            state.input.remember(&e);
        }
    }
    let root = project.clone();
    let files = tokio::task::spawn_blocking(move || mention::list_files(&root, 20_000));
    let mut files = Some(files);
    let theme = Theme::from_env();
    let mut cache = Cache::default();
    let mut keys = EventStream::new();
    let mut tick = 0usize;
    let mut ticker = tokio::time::interval(Duration::from_millis(100));
    let mut dirty = true;
    let mut last_draw = Instant::now() - FRAME;
    let outcome = loop {
        if let Some(f) = files.as_mut().filter(|f| f.is_finished()) {
            if let Ok(list) = f.await {
                state.files = list;
            }
            files = None;
        }
        if state.bell {
            state.bell = false;
            // A terminal bell: an approval waits (most terminals flash or badge the tab).
            let _ = std::io::stdout().write_all(b"\x07");
        }
        let wait = FRAME.saturating_sub(last_draw.elapsed());
        if dirty && wait.is_zero() {
            terminal
                .draw(|f| draw(f, &state, theme, tick, &mut cache))
                .map_err(|e| e.to_string())?;
            dirty = false;
            last_draw = Instant::now();
        }
        tokio::select! {
            _ = tokio::time::sleep(wait), if dirty => {}
            ev = rx.recv() => match ev {
                Some(ev) => {
                    state.apply(&ev);
                    // Drain whatever else is ready before drawing once.
                    while let Ok(more) = rx.try_recv() {
                        state.apply(&more);
                    }
                    dirty = true;
                }
                None => break Outcome::Detach(String::new()),
            },
            key = keys.next() => {
                let Some(Ok(key)) = key else { break Outcome::Detach(String::new()) };
                dirty = true;
                let action = match key {
                    TermEvent::Key(k) => state.key(k),
                    TermEvent::Paste(text) => {
                        state.input.paste(&text);
                        None
                    }
                    TermEvent::Mouse(m) => {
                        match m.kind {
                            MouseEventKind::ScrollUp => state.scroll += 3,
                            MouseEventKind::ScrollDown => state.scroll = state.scroll.saturating_sub(3),
                            _ => {}
                        }
                        None
                    }
                    _ => None,
                };
                let Some(action) = action else { continue };
                if let (Action::Send { text, .. }, Some(h)) = (&action, hist.clone()) {
                    let text = text.clone();
                    // Best effort: a read-only state dir only loses the history.
                    tokio::task::spawn_blocking(move || crate::history::append(&h, &text));
                }
                let c = shared.read().await.clone();
                match act(&c, &session, &project, &mut state, action).await {
                    Some(o) => break o,
                    None => continue,
                }
            }
            _ = ticker.tick() => {
                tick += 1;
                // The spinner, a countdown, or a hint that has to disappear.
                dirty |= state.is_running()
                    || state.waiting_until.is_some()
                    || state.status.as_ref().is_some_and(|(_, t)| Instant::now() < *t + Duration::from_millis(200));
            }
        }
    };
    follower.abort();
    Ok(match outcome {
        Outcome::Detach(_) => Outcome::Detach(summary(&state)),
        o => o,
    })
}

/// What stays in the terminal after detaching.
fn summary(state: &State) -> String {
    let title = state.title.as_deref().map(crate::view::sanitize::one_line);
    let mut s = format!(
        "Detached from session {}{} — it keeps running.\n",
        state.session_id,
        title.map(|t| format!(" ({t})")).unwrap_or_default()
    );
    let mut facts = vec![
        format!("{} messages", state.user_messages()),
        format!("{} tokens", state.tokens),
    ];
    if let Some(c) = state.cost_usd {
        facts.push(format!("${c:.4}"));
    }
    if state.is_running() {
        facts.push("a turn is still running".into());
    }
    s.push_str(&format!("  {}\n", facts.join(" · ")));
    s.push_str(&format!(
        "  Come back with: botcoder attach {}\n",
        state.session_id
    ));
    s
}

/// Carries out an action; `Some` ends the session screen.
async fn act(
    c: &DaemonClient,
    session: &SessionId,
    project: &std::path::Path,
    state: &mut State,
    action: Action,
) -> Option<Outcome> {
    let sid = || session.clone();
    let result: Result<(), String> = match action {
        Action::Quit => return Some(Outcome::Detach(String::new())),
        Action::Mouse => {
            let _ = if state.mouse {
                crossterm::execute!(std::io::stdout(), crossterm::event::EnableMouseCapture)
            } else {
                crossterm::execute!(std::io::stdout(), crossterm::event::DisableMouseCapture)
            };
            Ok(())
        }
        Action::Send { text, attach } => {
            let root = project.to_path_buf();
            let paths = attach.clone();
            let files = tokio::task::spawn_blocking(move || {
                paths
                    .iter()
                    .map(|p| (p.clone(), mention::read_capped(&root, p)))
                    .collect::<Vec<_>>()
            })
            .await
            .unwrap_or_default();
            let first =
                state.title.is_none() && state.user_messages() == 0 && state.queued.is_empty();
            let full = mention::attach(&text, &files);
            let r = c
                .call::<SessionSend>(&SessionSendParams {
                    session_id: sid(),
                    text: full,
                    approval: None,
                    // This terminal's key also reaches a session the daemon reloaded.
                    env: botcoder_config::client_env(),
                })
                .await
                .map(|_| ())
                .map_err(|e| format!("not sent: {e}"));
            if r.is_ok() && first {
                // A title from the first prompt, no model call.
                let line = text
                    .lines()
                    .find(|l| !l.trim().is_empty())
                    .unwrap_or("")
                    .trim();
                let title: String = line.chars().take(60).collect();
                if !title.is_empty() {
                    let _ = c
                        .call::<SessionRename>(&SessionRenameParams {
                            session_id: sid(),
                            title,
                        })
                        .await;
                }
            }
            r
        }
        Action::Cancel => c
            .call::<TurnCancel>(&TurnCancelParams {
                session_id: sid(),
                turn_id: None,
            })
            .await
            .map(|r| {
                if !r.cancelled {
                    state.hint("no turn to cancel");
                }
            })
            .map_err(|e| format!("cancel: {e}")),
        Action::Approve(call_id, decision, message) => c
            .call::<ApprovalRespond>(&ApprovalRespondParams {
                session_id: sid(),
                call_id,
                decision,
                message,
            })
            .await
            .map(|_| ())
            .map_err(|e| format!("approval: {e}")),
        Action::Command(cmd) => return command(c, session, state, cmd).await,
    };
    if let Err(e) = result {
        state.notice(e, true);
    }
    None
}

async fn command(
    c: &DaemonClient,
    session: &SessionId,
    state: &mut State,
    cmd: Command,
) -> Option<Outcome> {
    let sid = || session.clone();
    let configure = |model: Option<String>, approval| SessionConfigureParams {
        session_id: sid(),
        provider: None,
        model,
        approval,
        env: botcoder_config::client_env(),
    };
    let r = match cmd {
        Command::New => return Some(Outcome::New),
        Command::Sessions => return Some(Outcome::Picker),
        Command::Quit => return Some(Outcome::Detach(String::new())),
        Command::Help | Command::Model(None) => Ok(()),
        Command::Model(Some(m)) => c
            .call::<SessionConfigure>(&configure(Some(m), None))
            .await
            .map(|_| ())
            .map_err(|e| command_error("/model", "session.configure", &e)),
        Command::Approval(p) => c
            .call::<SessionConfigure>(&configure(None, Some(p)))
            .await
            .map(|_| ())
            .map_err(|e| command_error("/approval", "session.configure", &e)),
        Command::Rename(title) => c
            .call::<SessionRename>(&SessionRenameParams {
                session_id: sid(),
                title,
            })
            .await
            .map(|_| ())
            .map_err(|e| command_error("/rename", "session.rename", &e)),
        Command::Cancel => c
            .call::<TurnCancel>(&TurnCancelParams {
                session_id: sid(),
                turn_id: None,
            })
            .await
            .map(|r| {
                if !r.cancelled {
                    state.hint("no turn to cancel");
                }
            })
            .map_err(|e| command_error("/cancel", "turn.cancel", &e)),
        Command::Compact => c
            .call::<SessionCompact>(&SessionRef { session_id: sid() })
            .await
            .map(|r| {
                state.hint(format!(
                    "compacted: {} → {} tokens",
                    r.before_tokens, r.after_tokens
                ))
            })
            .map_err(|e| command_error("/compact", "session.compact", &e)),
        Command::Diff => c
            .call::<SessionDiff>(&SessionDiffParams {
                session_id: sid(),
                turn_id: None,
            })
            .await
            .map(|r| {
                let text = if r.diff.trim().is_empty() {
                    "no changes in this session".to_owned()
                } else {
                    r.diff
                };
                state.overlay = Some(Overlay {
                    title: "diff".into(),
                    text,
                    scroll: 0,
                });
            })
            .map_err(|e| command_error("/diff", "session.diff", &e)),
        Command::Undo | Command::Redo => {
            let p = SessionRevertParams {
                session_id: sid(),
                turn_id: None,
                force: false,
            };
            let (name, r) = if cmd == Command::Undo {
                ("/undo", c.call::<SessionRevert>(&p).await)
            } else {
                ("/redo", c.call::<SessionUnrevert>(&p).await)
            };
            let method = if cmd == Command::Undo {
                "session.revert"
            } else {
                "session.unrevert"
            };
            r.map(|_| ()).map_err(|e| command_error(name, method, &e))
        }
    };
    if let Err(e) = r {
        state.notice(e, true);
    }
    None
}
