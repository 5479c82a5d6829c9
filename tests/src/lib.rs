//! Test support for botcoder's end-to-end suites: mock LLM servers that speak the real wire
//! formats, and a harness that runs the real binaries against temp directories.

pub mod events;
pub mod harness;
pub mod mock_botserver;
pub mod mock_llm;
pub mod raw_ws;
pub mod session;
pub mod stamp_server;
