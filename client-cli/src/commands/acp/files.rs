//! The editor's file system for the daemon's file tools: when the editor offers
//! `fs.readTextFile` / `fs.writeTextFile`, the bridge serves the session's files
//! (`client.fs.serve`), passes each request on as `fs/read_text_file` / `fs/write_text_file`
//! and returns the editor's answer (`client.fs.respond`). The daemon checks every path
//! before asking (inside the project, no symlink escape) and asks for writes only after
//! approval; the bridge adds nothing to that and only bounds how long the editor may take.

use std::sync::Arc;
use std::time::Duration;

use agent_client_protocol::Client;
use agent_client_protocol::v1::ConnectionTo;
use agent_client_protocol::v1::schema::{ReadTextFileRequest, WriteTextFileRequest};
use botcoder_protocol::client_fs::{
    CLIENT_FS_MAX_TIMEOUT_MS, ClientFsOp, ClientFsRequest, ClientFsRespond, ClientFsRespondParams,
    ClientFsServeParams,
};

use super::bridge::Bridge;
use super::link::Link;

/// What the editor offered in `initialize`.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct EditorFs {
    /// `fs.readTextFile`.
    pub read: bool,
    /// `fs.writeTextFile`.
    pub write: bool,
}

impl EditorFs {
    /// Whether the editor offers anything.
    pub fn any(self) -> bool {
        self.read || self.write
    }
}

/// How long the editor may take per request: `BOTCODER_ACP_FS_TIMEOUT_MS` (for tests and
/// slow editors; the daemon caps it at 30 s), else 30 s.
fn timeout() -> Duration {
    let ms = std::env::var("BOTCODER_ACP_FS_TIMEOUT_MS")
        .ok()
        .and_then(|v| v.trim().parse::<u64>().ok())
        .unwrap_or(CLIENT_FS_MAX_TIMEOUT_MS)
        .min(CLIENT_FS_MAX_TIMEOUT_MS);
    Duration::from_millis(ms)
}

/// Serves `link`'s files from the editor until the daemon connection ends; returns the
/// serving task's abort handle. Answers once the daemon took the subscription, so the
/// session's first prompt already reads through the editor.
pub async fn serve(
    bridge: Arc<Bridge>,
    link: Arc<Link>,
    cx: ConnectionTo<Client>,
    fs: EditorFs,
) -> Option<tokio::task::AbortHandle> {
    if !fs.any() {
        return None;
    }
    let daemon = bridge.daemon_opt()?;
    let wait = timeout();
    let params = ClientFsServeParams {
        session_id: link.id.clone(),
        read: fs.read,
        write: fs.write,
        timeout_ms: Some(u64::try_from(wait.as_millis()).unwrap_or(CLIENT_FS_MAX_TIMEOUT_MS)),
    };
    let mut requests = match daemon.serve_fs(&params).await {
        Ok(s) => s,
        Err(e) => {
            eprintln!(
                "botcoder acp: the agent's file tools use the disk, not the editor, for session {}: {e}",
                link.id
            );
            return None;
        }
    };
    let task = tokio::spawn(async move {
        while let Some(next) = requests.next().await {
            match next {
                Ok(request) => {
                    let (b, l, c) = (bridge.clone(), link.clone(), cx.clone());
                    tokio::spawn(async move { answer(&b, &l, &c, request, wait).await });
                }
                Err(e) => {
                    eprintln!("botcoder acp: unreadable file request from botcoderd: {e}")
                }
            }
        }
    });
    Some(task.abort_handle())
}

/// Asks the editor and returns its answer to the daemon.
async fn answer(
    bridge: &Bridge,
    link: &Link,
    cx: &ConnectionTo<Client>,
    request: ClientFsRequest,
    wait: Duration,
) {
    let late = || {
        format!(
            "the editor did not answer within {:.1} s",
            wait.as_secs_f64()
        )
    };
    let (content, error) = match request.op {
        ClientFsOp::Read { path } => {
            let asked = cx.send_request(ReadTextFileRequest::new(link.acp_id(), path));
            match tokio::time::timeout(wait, asked.block_task()).await {
                Ok(Ok(r)) => (Some(r.content), None),
                Ok(Err(e)) => (None, Some(e.message)),
                Err(_) => (None, Some(late())),
            }
        }
        ClientFsOp::Write { path, content } => {
            let asked = cx.send_request(WriteTextFileRequest::new(link.acp_id(), path, content));
            match tokio::time::timeout(wait, asked.block_task()).await {
                Ok(Ok(_)) => (None, None),
                Ok(Err(e)) => (None, Some(e.message)),
                Err(_) => (None, Some(late())),
            }
        }
    };
    let Some(daemon) = bridge.daemon_opt() else {
        return;
    };
    let params = ClientFsRespondParams {
        session_id: request.session_id,
        request_id: request.request_id,
        content,
        error,
    };
    // Refused when the daemon gave up on the request already (its own deadline).
    if let Err(e) = daemon.call::<ClientFsRespond>(&params).await {
        eprintln!("botcoder acp: a file answer was not taken: {e}");
    }
}
