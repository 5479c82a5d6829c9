//! `botcoder acp`: an Agent Client Protocol (v1) agent on stdin/stdout that is a thin client
//! of botcoderd. An editor's ACP session is a daemon session, so it shows in `botcoder
//! sessions list`, a terminal can `watch` or `attach` to it, and a message typed there
//! streams into the editor. stdout carries only ACP; diagnostics go to stderr.
//!
//! The `agent-client-protocol` crate runs the JSON-RPC connection; its handlers hold the
//! dispatch loop, so each one hands its request to a tokio task at once ([`answer`]) and
//! the replies, updates and permission requests are sent from those tasks.

mod bridge;
mod diff;
mod files;
mod link;
mod mcp;
mod permission;
mod prompt;
mod translate;

use std::future::Future;
use std::sync::Arc;

use agent_client_protocol::v1::Responder;
use agent_client_protocol::v1::schema::{
    CancelNotification, InitializeRequest, ListSessionsRequest, LoadSessionRequest,
    NewSessionRequest, PromptRequest, SetSessionConfigOptionRequest, SetSessionModeRequest,
};
use agent_client_protocol::{Agent, JsonRpcResponse, Stdio};

use crate::exit::{self, Failure};
use bridge::Bridge;

/// Runs the agent until the editor closes stdin. Returns the exit code.
pub async fn run() -> Result<u8, Failure> {
    let bridge = Arc::new(Bridge::default());
    let (b1, b2, b3, b4, b5, b6, b7, b8) = (
        bridge.clone(),
        bridge.clone(),
        bridge.clone(),
        bridge.clone(),
        bridge.clone(),
        bridge.clone(),
        bridge.clone(),
        bridge.clone(),
    );
    let served = Agent
        .v1()
        .name("botcoder")
        .on_receive_request(
            async move |req: InitializeRequest, responder, _cx| {
                answer(responder, b1.clone().initialize(req));
                Ok(())
            },
            agent_client_protocol::on_receive_request!(),
        )
        .on_receive_request(
            async move |req: NewSessionRequest, responder, cx| {
                answer(responder, b2.clone().new_session(req, cx));
                Ok(())
            },
            agent_client_protocol::on_receive_request!(),
        )
        .on_receive_request(
            async move |req: LoadSessionRequest, responder, cx| {
                answer(responder, b3.clone().load_session(req, cx));
                Ok(())
            },
            agent_client_protocol::on_receive_request!(),
        )
        .on_receive_request(
            async move |req: ListSessionsRequest, responder, _cx| {
                answer(responder, b4.clone().list_sessions(req));
                Ok(())
            },
            agent_client_protocol::on_receive_request!(),
        )
        .on_receive_request(
            async move |req: PromptRequest, responder, _cx| {
                answer(responder, b5.clone().prompt(req));
                Ok(())
            },
            agent_client_protocol::on_receive_request!(),
        )
        .on_receive_request(
            async move |req: SetSessionModeRequest, responder, cx| {
                answer(responder, b6.clone().set_mode(req, cx));
                Ok(())
            },
            agent_client_protocol::on_receive_request!(),
        )
        .on_receive_request(
            async move |req: SetSessionConfigOptionRequest, responder, _cx| {
                answer(responder, b7.clone().set_config_option(req));
                Ok(())
            },
            agent_client_protocol::on_receive_request!(),
        )
        .on_receive_notification(
            async move |n: CancelNotification, _cx| {
                let b = b8.clone();
                tokio::spawn(async move { b.cancel(n).await });
                Ok(())
            },
            agent_client_protocol::on_receive_notification!(),
        )
        .connect_to(Stdio::new())
        .await;
    match served {
        Ok(()) => Ok(exit::OK),
        Err(e) => Err(Failure::new(
            exit::FAILED,
            format!("the ACP connection to the editor failed: {e}"),
        )),
    }
}

/// Answers `responder` with what `work` yields, off the dispatch loop.
fn answer<T, F>(responder: Responder<T>, work: F)
where
    T: JsonRpcResponse + Send + 'static,
    F: Future<Output = Result<T, agent_client_protocol::Error>> + Send + 'static,
{
    tokio::spawn(async move {
        // The editor went away when this fails; nobody is left to tell.
        let _ = responder.respond_with_result(work.await);
    });
}
