//! `client.fs.serve` and `client.fs.respond`: a connection serving a session's files (see
//! `crate::client_fs` for who may, and what goes through it).

use std::sync::Arc;

use botcoder_protocol::SessionId;
use botcoder_protocol::client_fs::{
    CLIENT_FS_REQUEST_NOTIFICATION, CLIENT_FS_SERVE, CLIENT_FS_UNSERVE, ClientFsRequest,
    ClientFsRespond, ClientFsServeParams,
};
use botcoder_protocol::methods::Empty;
use jsonrpsee::{RpcModule, SubscriptionSink};
use tokio::sync::mpsc;

use super::{Conn, parse, register as register_method};
use crate::client_fs::Server;
use crate::rpc::error::to_rpc_error;

/// A session created on `conn` may have its files served only by `conn` while it is open.
pub(super) async fn created(conn: &Conn, id: &SessionId) {
    if let Ok(session) = conn.daemon.sessions.get(id).await {
        session.core.client_fs.note_creator(&conn.fs);
    }
}

/// Registers the subscription and the answer method on a connection's table.
pub(super) fn register(module: &mut RpcModule<Conn>) {
    register_method::<ClientFsRespond, _, _>(module, |p, conn| async move {
        let session = conn.daemon.sessions.get(&p.session_id).await?;
        session.core.client_fs.answer(&conn.fs, p)?;
        Ok(Empty {})
    });
    let subscribed = module.register_subscription(
        CLIENT_FS_SERVE,
        CLIENT_FS_REQUEST_NOTIFICATION,
        CLIENT_FS_UNSERVE,
        |params, pending, conn, _| async move {
            let claimed = async {
                conn.admit(CLIENT_FS_SERVE)?;
                let p = parse::<ClientFsServeParams>(&params)?;
                // The handle keeps the session loaded while it is served.
                let session = conn.daemon.sessions.get(&p.session_id).await?;
                let (server, requests) = session.core.client_fs.claim(&conn.fs, &p)?;
                Ok((session, server, requests))
            };
            match claimed.await {
                Err(e) => pending.reject(to_rpc_error(e)).await,
                Ok((session, server, requests)) => {
                    tracing::info!(session = %session.core.id, client = %conn.client(), "a client serves the session's files");
                    if let Ok(sink) = pending.accept().await {
                        forward(sink, requests, &server).await;
                    }
                    session.core.client_fs.release(&server);
                    tracing::info!(session = %session.core.id, "the client stopped serving the session's files");
                }
            }
        },
    );
    if let Err(e) = subscribed {
        tracing::error!(error = %e, "client.fs.serve registered twice");
    }
}

/// Sends each file request to the serving client until it unsubscribes, disconnects or
/// another subscription of the same connection replaces this one.
async fn forward(
    sink: SubscriptionSink,
    mut requests: mpsc::Receiver<ClientFsRequest>,
    server: &Arc<Server>,
) {
    loop {
        let request = tokio::select! {
            () = sink.closed() => return,
            () = server.gone().cancelled() => return,
            r = requests.recv() => match r {
                Some(r) => r,
                None => return,
            },
        };
        let Ok(json) = serde_json::value::to_raw_value(&request) else {
            continue; // plain strings and numbers always serialize
        };
        if sink.send(json).await.is_err() {
            return;
        }
    }
}
