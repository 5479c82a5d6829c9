//! `botcoder sessions list|show|set|rm`.

use botcoder_protocol::SessionId;
use botcoder_protocol::methods::{
    SessionConfigure, SessionConfigureParams, SessionDelete, SessionHistory, SessionHistoryParams,
    SessionList, SessionListParams, SessionRef,
};

use super::{connect, get_session};
use crate::cli::SessionsCommand;
use crate::exit::{self, Failure};
use crate::output::{Out, one_line};
use crate::render::{Piece, Transcript};

/// A cost for people: `$1.23`, `$0.0042` under a dollar, `-` when no price is known.
pub fn cost(usd: Option<f64>) -> String {
    match usd {
        None => "-".to_owned(),
        Some(c) if c < 1.0 => format!("${c:.4}"),
        Some(c) => format!("${c:.2}"),
    }
}

/// Runs a `sessions` subcommand.
pub async fn run(cmd: SessionsCommand) -> Result<u8, Failure> {
    let client = connect(true).await?;
    let mut out = Out;
    match cmd {
        SessionsCommand::List { project, json } => {
            let project_path = match project {
                Some(p) => Some(
                    std::fs::canonicalize(&p)
                        .map_err(|e| Failure::new(exit::USAGE, format!("{}: {e}", p.display())))?
                        .display()
                        .to_string(),
                ),
                None => None,
            };
            let list = client
                .call::<SessionList>(&SessionListParams { project_path })
                .await?;
            if json {
                for s in &list.sessions {
                    if out.json_value(s).is_err() {
                        return Ok(exit::OK);
                    }
                }
            } else if list.sessions.is_empty() {
                let _ = out.text("no sessions yet; start one with `botcoder ask \"…\"`\n");
            } else {
                let mut table = format!(
                    "{:<18} {:<20} {:>6} {:>9}  {}\n",
                    "ID", "UPDATED", "EVENTS", "COST", "TITLE / PROJECT"
                );
                for s in &list.sessions {
                    // One row per session: a title cannot break the table or the terminal.
                    let what = one_line(s.title.as_deref().unwrap_or(&s.project_path));
                    let running = if s.running_turn.is_some() {
                        " (running)"
                    } else {
                        ""
                    };
                    let updated = s
                        .updated_at
                        .get(..19)
                        .unwrap_or(&s.updated_at)
                        .replace('T', " ");
                    table.push_str(&format!(
                        "{:<18} {:<20} {:>6} {:>9}  {what}{running}\n",
                        one_line(s.session_id.as_str()),
                        one_line(&updated),
                        s.last_seq,
                        cost(s.cost_usd)
                    ));
                }
                let _ = out.text(&table);
            }
        }
        SessionsCommand::Show { id, json } => {
            let info = get_session(&client, &id).await?;
            if json {
                if out.json_value(&info).is_err() {
                    return Ok(exit::OK);
                }
            } else {
                let _ = out.text(&format!(
                    "session   {}\ntitle     {}\nproject   {}\nprovider  {}\nmodel     {}\nsandbox   {}\ncreated   {}\nupdated   {}\nevents    {}\n",
                    one_line(info.session_id.as_str()),
                    one_line(info.title.as_deref().unwrap_or("-")),
                    one_line(&info.project_path),
                    one_line(info.provider.as_deref().unwrap_or("-")),
                    one_line(info.model.as_deref().unwrap_or("-")),
                    one_line(info.sandbox.as_deref().unwrap_or("-")),
                    one_line(&info.created_at),
                    one_line(&info.updated_at),
                    info.last_seq
                ));
            }
            let mut transcript = Transcript::default();
            let mut after_seq = 0;
            loop {
                let params = SessionHistoryParams {
                    session_id: SessionId(id.clone()),
                    after_seq,
                    limit: None,
                };
                let page = client.call::<SessionHistory>(&params).await?;
                for ev in &page.events {
                    after_seq = ev.seq.unwrap_or(after_seq);
                    let written = if json {
                        out.json_line(ev)
                    } else {
                        transcript.render(ev).into_iter().try_for_each(|p| match p {
                            Piece::Answer(s) | Piece::Note(s) => out.human(&s),
                        })
                    };
                    if written.is_err() {
                        return Ok(exit::OK);
                    }
                }
                if !page.has_more || page.events.is_empty() {
                    break;
                }
            }
        }
        SessionsCommand::Set {
            id,
            model,
            provider,
            approval,
            json,
        } => {
            if model.is_none() && provider.is_none() && approval.is_none() {
                return Err(Failure::new(
                    exit::USAGE,
                    "nothing to set: give --model, --provider or --approval",
                ));
            }
            get_session(&client, &id).await?;
            let info = client
                .call::<SessionConfigure>(&SessionConfigureParams {
                    session_id: SessionId(id.clone()),
                    provider,
                    model,
                    approval: approval.map(Into::into),
                    env: botcoder_config::client_env(),
                })
                .await?;
            let _ = if json {
                out.json_value(&info)
            } else {
                out.text(&format!(
                    "session {id}: provider {}, model {}, approval {}; from its next turn\n",
                    info.provider.as_deref().unwrap_or("-"),
                    info.model.as_deref().unwrap_or("-"),
                    serde_json::to_value(info.approval)
                        .ok()
                        .and_then(|v| v.as_str().map(str::to_owned))
                        .unwrap_or_default()
                ))
            };
        }
        SessionsCommand::Rm { id, json } => {
            get_session(&client, &id).await?;
            client
                .call::<SessionDelete>(&SessionRef {
                    session_id: SessionId(id.clone()),
                })
                .await?;
            let _ = if json {
                out.json_value(&serde_json::json!({"deleted": id}))
            } else {
                out.text(&format!("deleted session {id}\n"))
            };
        }
    }
    Ok(exit::OK)
}
