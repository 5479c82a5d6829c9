//! The protocol as one JSON Schema document, generated from the Rust types. It is checked
//! in as `docs/protocol.schema.json` so that client authors in any language have a
//! machine-readable contract; a test fails when the two drift apart.

use schemars::{JsonSchema, SchemaGenerator};
use serde_json::{Map, Value, json};

use crate::methods::{self as m, Method};
use crate::{ErrorData, ErrorKind, Event, PROTOCOL_VERSION};

fn method<M: Method>(generator: &mut SchemaGenerator, doc: &str) -> (String, Value) {
    let params = generator.subschema_for::<M::Params>();
    let result = generator.subschema_for::<M::Result>();
    (
        M::NAME.to_owned(),
        json!({"description": doc, "params": params, "result": result}),
    )
}

/// Every `ErrorKind`, in declaration order (the schema lists each with its code).
pub const ERROR_KINDS: [ErrorKind; 20] = [
    ErrorKind::InvalidParams,
    ErrorKind::SessionNotFound,
    ErrorKind::TurnNotFound,
    ErrorKind::ProtocolMismatch,
    ErrorKind::InvalidProject,
    ErrorKind::ProviderNotConfigured,
    ErrorKind::ProviderUnavailable,
    ErrorKind::ProviderError,
    ErrorKind::RateLimited,
    ErrorKind::ProviderAuth,
    ErrorKind::IterationLimit,
    ErrorKind::StorageFailed,
    ErrorKind::ShuttingDown,
    ErrorKind::Cancelled,
    ErrorKind::Interrupted,
    ErrorKind::PermissionDenied,
    ErrorKind::LimitExceeded,
    ErrorKind::Conflict,
    ErrorKind::Internal,
    ErrorKind::Unknown,
];

fn generator_with<T: JsonSchema>(generator: &mut SchemaGenerator) -> Value {
    serde_json::to_value(generator.subschema_for::<T>()).unwrap_or(Value::Null)
}

/// The whole protocol: methods (params and result), the subscription, the event type,
/// error kinds with their codes, and the protocol version. Deterministic output.
pub fn protocol_schema() -> Value {
    let mut generator = SchemaGenerator::default();
    let methods: Map<String, Value> = [
        method::<m::DaemonHello>(&mut generator, "Handshake; call first."),
        method::<m::DaemonStatus>(&mut generator, "Daemon state."),
        method::<m::DaemonShutdown>(&mut generator, "Graceful stop."),
        method::<m::SessionCreate>(&mut generator, "New session."),
        method::<m::SessionList>(&mut generator, "Sessions, newest first."),
        method::<m::SessionGet>(&mut generator, "One session's metadata."),
        method::<m::SessionDelete>(&mut generator, "Delete a session."),
        method::<m::SessionRename>(&mut generator, "Retitle a session."),
        method::<m::SessionHistory>(&mut generator, "Durable events in seq order."),
        method::<m::SessionSend>(&mut generator, "Send a user message."),
        method::<m::TurnCancel>(&mut generator, "Cancel a turn."),
        method::<m::ApprovalRespond>(&mut generator, "Answer an approval request."),
        method::<m::ProviderList>(&mut generator, "Configured providers."),
        method::<m::ProviderCheck>(&mut generator, "Cheap request to the active provider."),
        method::<m::DaemonReload>(&mut generator, "Re-read config.toml now."),
        method::<m::SessionConfigure>(
            &mut generator,
            "Change a session's provider, model or approval.",
        ),
        method::<m::SessionRevert>(&mut generator, "Take back one turn's file changes."),
        method::<m::SessionUnrevert>(&mut generator, "Put a reverted turn's changes back."),
        method::<m::SessionDiff>(
            &mut generator,
            "Unified diff of what a session or turn changed.",
        ),
        method::<m::SessionCompact>(&mut generator, "Summarise the older conversation now."),
        method::<m::McpList>(&mut generator, "Configured MCP servers."),
        method::<m::SessionUseMcp>(&mut generator, "MCP servers for one session."),
        method::<crate::client_fs::ClientFsRespond>(
            &mut generator,
            "Answer a file request of client.fs.serve.",
        ),
    ]
    .into_iter()
    .collect();
    let subscribe_params = generator_with::<m::SubscribeParams>(&mut generator);
    let event = generator_with::<Event>(&mut generator);
    let fs_params = generator_with::<crate::client_fs::ClientFsServeParams>(&mut generator);
    let fs_request = generator_with::<crate::client_fs::ClientFsRequest>(&mut generator);
    let error_data = generator_with::<ErrorData>(&mut generator);
    let kinds: Map<String, Value> = ERROR_KINDS
        .iter()
        .map(|k| (k.as_str().to_owned(), json!(k.code())))
        .collect();
    let definitions = generator.take_definitions(true);
    json!({
        "$schema": "https://json-schema.org/draft/2020-12/schema",
        "title": "botcoder daemon protocol",
        "description": "JSON-RPC 2.0 over WebSocket framing over a Unix socket; named params only.",
        "protocol_version": PROTOCOL_VERSION,
        "methods": methods,
        "subscription": {
            "subscribe": m::SESSION_SUBSCRIBE,
            "notification": m::SESSION_EVENT_NOTIFICATION,
            "unsubscribe": m::SESSION_UNSUBSCRIBE,
            "params": subscribe_params,
            "item": event,
        },
        "client_fs": {
            "subscribe": crate::client_fs::CLIENT_FS_SERVE,
            "notification": crate::client_fs::CLIENT_FS_REQUEST_NOTIFICATION,
            "unsubscribe": crate::client_fs::CLIENT_FS_UNSERVE,
            "params": fs_params,
            "item": fs_request,
        },
        "errors": {"data": error_data, "codes": kinds},
        "$defs": definitions,
    })
}
