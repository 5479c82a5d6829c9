//! `botcoder watch`: follow a session (replay, then live) until Ctrl-C; reconnects and
//! resumes from the last seq seen if the daemon restarts, so nothing is missed or doubled.

use std::time::Duration;

use botcoder_protocol::client::{ClientError, ConnectOptions, DaemonClient};
use botcoder_protocol::methods::SubscribeParams;
use botcoder_protocol::{ErrorKind, EventBody, SessionId};

use super::{connect, get_session};
use crate::cli::WatchArgs;
use crate::exit::{self, Failure};
use crate::output::{Out, status};
use crate::render::{Piece, Transcript};

/// Runs `watch`. Returns the exit code (130 once interrupted).
pub async fn run(args: WatchArgs) -> Result<u8, Failure> {
    let mut client = connect(true).await?;
    let session_id = SessionId(args.session.clone());
    let mut after_seq = args.after_seq;
    let mut out = Out;
    let mut transcript = Transcript::default();
    let ctrl_c = tokio::signal::ctrl_c();
    tokio::pin!(ctrl_c);
    loop {
        let params = SubscribeParams {
            session_id: session_id.clone(),
            after_seq: Some(after_seq),
        };
        // The session must exist (exit 4 otherwise); asked again after every reconnect.
        let subscribed = match get_session(&client, &args.session).await {
            Ok(_) => client.subscribe(&params).await,
            Err(f) if f.code == exit::NO_SESSION => return Err(f),
            Err(_) => Err(ClientError::Transport("the daemon is restarting".into())),
        };
        let mut sub = match subscribed {
            Ok(s) => s,
            // The daemon is stopping, or went away between reconnecting and subscribing:
            // reconnect and resume.
            Err(e) if transient(&e) => {
                client = tokio::select! {
                    c = reconnect() => c,
                    _ = &mut ctrl_c => return Ok(exit::INTERRUPTED),
                };
                continue;
            }
            Err(e) => return Err(e.into()),
        };
        loop {
            let next = tokio::select! {
                ev = sub.next() => ev,
                _ = &mut ctrl_c => return Ok(exit::INTERRUPTED),
            };
            let Some(Ok(event)) = next else { break };
            if let Some(seq) = event.seq {
                if seq <= after_seq {
                    continue;
                }
                after_seq = seq;
            }
            let written = if args.json {
                out.json_line(&event)
            } else {
                transcript
                    .render(&event)
                    .into_iter()
                    .try_for_each(|p| match p {
                        Piece::Answer(s) | Piece::Note(s) => out.human(&s),
                    })
            };
            if written.is_err() {
                return Ok(exit::OK);
            }
            if matches!(event.body, EventBody::Lagged { .. }) {
                status("fell behind; resyncing");
            }
        }
        status("connection to botcoderd lost; reconnecting");
        client = tokio::select! {
            c = reconnect() => c,
            _ = &mut ctrl_c => return Ok(exit::INTERRUPTED),
        };
    }
}

/// Errors that a daemon restart causes, after which watching resumes.
fn transient(e: &ClientError) -> bool {
    e.is_unreachable() || e.kind() == Some(ErrorKind::ShuttingDown)
}

/// Waits for a daemon to answer again (never starts one: it may have been stopped on purpose).
async fn reconnect() -> DaemonClient {
    let mut opts = ConnectOptions::new("botcoder-cli", botcoder_config::paths::socket_path());
    opts.autostart = false;
    loop {
        if let Ok(c) = DaemonClient::connect_once(&opts).await {
            return c;
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}
