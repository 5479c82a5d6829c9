//! botcoderd: the botcoder agent daemon.
//!
//! One daemon per user holds the LLM provider connections and every conversation session.
//! Clients speak JSON-RPC 2.0 (see `botcoder-protocol`) over a Unix socket. Modules are
//! named by what they hold: `rpc` (socket, auth, handlers), `session` (journal, hub, actor,
//! turn engine), `llm` (provider trait, wire formats, retries), `config`.

pub mod botserver;
pub mod client_fs;
pub mod clock;
pub mod config;
pub mod error;
pub mod hardening;
pub mod llm;
pub mod logging;
pub mod mcp;
pub mod procs;
pub mod ratelimit;
pub mod redact;
pub mod rpc;
pub mod rules;
pub mod server;
pub mod session;
pub mod snapshot;
pub mod state;
pub mod tools;
