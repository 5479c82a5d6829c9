//! One module per subcommand.

pub mod acp;
pub mod ask;
pub mod config;
pub mod daemon;
pub mod docs;
pub mod doctor;
pub mod logs;
pub mod mcp;
pub mod sessions;
pub mod status;
pub mod systemd;
pub mod undo;
pub mod watch;

use botcoder_protocol::SessionId;
use botcoder_protocol::client::{ConnectOptions, DaemonClient};
use botcoder_protocol::methods::{SessionGet, SessionInfo, SessionRef};

use crate::exit::{Failure, NO_SESSION};

/// Connects as `botcoder-cli`, starting the daemon when allowed.
pub async fn connect(autostart: bool) -> Result<DaemonClient, Failure> {
    let mut opts = ConnectOptions::new("botcoder-cli", botcoder_config::paths::socket_path());
    opts.autostart &= autostart;
    Ok(DaemonClient::connect(&opts).await?)
}

/// Looks a session up; any id that names no session (well-formed or not) exits 4.
pub async fn get_session(client: &DaemonClient, id: &str) -> Result<SessionInfo, Failure> {
    let params = SessionRef {
        session_id: SessionId(id.to_owned()),
    };
    client.call::<SessionGet>(&params).await.map_err(|e| {
        let f = Failure::from(e);
        if f.code == NO_SESSION {
            Failure::new(
                NO_SESSION,
                format!("no session {id:?} (see `botcoder sessions list`)"),
            )
        } else {
            f
        }
    })
}
