//! The event loop: the session subscription is drained in its own task into a channel, so
//! drawing never blocks event intake (I5); key presses become actions; the screen is redrawn
//! when something changed, at most ~30 times a second. If the daemon goes away the TUI
//! reconnects and resumes from the last seq it saw.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use botcoder_protocol::client::{ConnectOptions, DaemonClient};
use botcoder_protocol::methods::{
    ApprovalRespond, ApprovalRespondParams, SessionSend, SessionSendParams, SubscribeParams,
    TurnCancel, TurnCancelParams,
};
use botcoder_protocol::{Event, SessionId};
use crossterm::event::{Event as TermEvent, EventStream, MouseEventKind};
use futures::StreamExt;
use ratatui::DefaultTerminal;
use tokio::sync::{RwLock, mpsc};

use crate::state::{Action, State};
use crate::view::{Theme, draw};

type Shared = Arc<RwLock<Arc<DaemonClient>>>;

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

/// Runs the UI on `session` until the user detaches.
pub async fn run_session(
    terminal: &mut DefaultTerminal,
    client: DaemonClient,
    opts: ConnectOptions,
    session: SessionId,
) -> Result<(), String> {
    let shared: Shared = Arc::new(RwLock::new(Arc::new(client)));
    let last_seq = Arc::new(AtomicU64::new(0));
    let (tx, mut rx) = mpsc::channel(4096);
    let follower = tokio::spawn(follow(shared.clone(), opts, session.clone(), last_seq, tx));
    let mut state = State::new(session.as_str());
    let theme = Theme::from_env();
    let mut keys = EventStream::new();
    let mut tick = 0usize;
    let mut ticker = tokio::time::interval(Duration::from_millis(100));
    let mut dirty = true;
    loop {
        if dirty {
            terminal
                .draw(|f| draw(f, &state, theme, tick))
                .map_err(|e| e.to_string())?;
            dirty = false;
        }
        tokio::select! {
            ev = rx.recv() => match ev {
                Some(ev) => {
                    state.apply(&ev);
                    // Drain whatever else is ready before drawing once.
                    while let Ok(more) = rx.try_recv() {
                        state.apply(&more);
                    }
                    dirty = true;
                }
                None => break,
            },
            key = keys.next() => {
                let Some(Ok(key)) = key else { break };
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
                let c = shared.read().await.clone();
                let result = match action {
                    None => Ok(()),
                    Some(Action::Quit) => break,
                    Some(Action::Send(text)) => c
                        .call::<SessionSend>(&SessionSendParams { session_id: session.clone(), text, approval: None })
                        .await
                        .map(|_| ()),
                    Some(Action::Cancel) => c
                        .call::<TurnCancel>(&TurnCancelParams { session_id: session.clone(), turn_id: None })
                        .await
                        .map(|_| ()),
                    Some(Action::Approve(call_id, decision)) => c
                        .call::<ApprovalRespond>(&ApprovalRespondParams { session_id: session.clone(), call_id, decision, message: None })
                        .await
                        .map(|_| ()),
                };
                if let Err(e) = result {
                    state.status = format!("error: {e}");
                }
            }
            _ = ticker.tick() => {
                tick += 1;
                dirty |= state.running || state.waiting_until.is_some();
            }
        }
    }
    follower.abort();
    Ok(())
}
