//! Files served by a client: an editor bridge (`botcoder acp`) offers the editor's view of
//! the project's files, so the file tools read unsaved buffers and write through the editor.
//!
//! The daemon cannot send a JSON-RPC request to a client over jsonrpsee's server, so the
//! direction is turned around with a subscription: the client subscribes with
//! [`CLIENT_FS_SERVE`] for one session, each file request arrives as a
//! [`CLIENT_FS_REQUEST_NOTIFICATION`] carrying a [`ClientFsRequest`], and the client answers
//! it with the method [`ClientFsRespond`]. Only the connection holding the subscription may
//! answer, and only requests still open.

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use crate::ids::SessionId;
use crate::methods::{Empty, Method};

/// Capability a client declares in `daemon.hello` when it may serve files for sessions
/// (and that the daemon lists when it supports [`CLIENT_FS_SERVE`]).
pub const CAPABILITY_FS: &str = "fs";

/// The subscription that makes this connection a session's file server.
pub const CLIENT_FS_SERVE: &str = "client.fs.serve";
/// Name of the notifications that carry [`ClientFsRequest`]s.
pub const CLIENT_FS_REQUEST_NOTIFICATION: &str = "client.fs.request";
/// Ends serving files.
pub const CLIENT_FS_UNSERVE: &str = "client.fs.unserve";

/// Longest a client may take to answer one file request; longer asks are clamped.
pub const CLIENT_FS_MAX_TIMEOUT_MS: u64 = 30_000;

/// `client.fs.serve` params: which session, and which operations this client serves.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct ClientFsServeParams {
    /// The session whose file tools go through this client.
    pub session_id: SessionId,
    /// Reads (`read_file`, and the current text an edit starts from) go through the client.
    #[serde(default)]
    pub read: bool,
    /// Writes (`write_file`, `edit_file`, `apply_delta`) go through the client.
    #[serde(default)]
    pub write: bool,
    /// How long the daemon waits for one answer before the tool call fails, in ms
    /// (default and most [`CLIENT_FS_MAX_TIMEOUT_MS`]).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub timeout_ms: Option<u64>,
}

/// What the daemon asks the file-serving client to do.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(tag = "op", rename_all = "snake_case")]
pub enum ClientFsOp {
    /// Return the file's text as the client sees it (an unsaved buffer included).
    Read {
        /// Absolute path, already checked to be inside the project.
        path: String,
    },
    /// Replace the file's text with `content`.
    Write {
        /// Absolute path, already checked to be inside the project.
        path: String,
        /// The complete new text.
        content: String,
    },
}

/// One file request (the item of the `client.fs.serve` subscription).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct ClientFsRequest {
    /// Answer with this id in `client.fs.respond`.
    pub request_id: u64,
    /// The session the request is for.
    pub session_id: SessionId,
    /// What to do.
    #[serde(flatten)]
    pub op: ClientFsOp,
}

/// `client.fs.respond` params: the answer to one [`ClientFsRequest`].
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct ClientFsRespondParams {
    /// The session of the request.
    pub session_id: SessionId,
    /// The request answered.
    pub request_id: u64,
    /// A read's text (absent for writes and failures).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub content: Option<String>,
    /// Why the request failed (the editor's message); absent on success.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
}

/// Answers a file request the daemon sent on this connection's `client.fs.serve`.
#[derive(Debug, Clone, Copy)]
pub struct ClientFsRespond;

impl Method for ClientFsRespond {
    const NAME: &'static str = "client.fs.respond";
    type Params = ClientFsRespondParams;
    type Result = Empty;
}
