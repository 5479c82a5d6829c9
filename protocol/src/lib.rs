//! Wire types of the botcoder daemon protocol: JSON-RPC 2.0 with WebSocket framing over a
//! Unix domain socket.
//!
//! This crate holds types and no business logic, so that every client and the daemon agree
//! on one definition of each method and event. With the `client` feature it also knows how
//! to find, reach and (auto)start the daemon.
//!
//! See `docs/PROTOCOL.md` in the repository for the prose description, and
//! `docs/protocol.schema.json` for the JSON Schema generated from these types.

pub mod client_fs;
mod error;
mod event;
mod health;
mod ids;
pub mod methods;
pub mod schema;

#[cfg(feature = "client")]
pub mod client;

pub use error::{ErrorData, ErrorKind};
pub use event::{
    ApprovalDecision, ApprovalPolicy, Event, EventBody, FileChange, FileChangeStatus, Mode,
    OutputStream, ToolOrigin, TurnError, TurnStatus,
};
pub use health::{BotserverState, ProviderHealth};
pub use ids::{SessionId, TurnId};
pub use methods::Method;

/// Protocol version spoken by this build, `major.minor`. A different major version is
/// incompatible; a different minor version only adds optional fields and methods.
pub const PROTOCOL_VERSION: &str = "1.0";

/// Capability a client declares in `daemon.hello` when it will answer approval requests.
pub const CAPABILITY_APPROVALS: &str = "approvals";

/// Largest JSON-RPC message either side accepts, in bytes.
pub const MAX_MESSAGE_BYTES: u32 = 16 * 1024 * 1024;
