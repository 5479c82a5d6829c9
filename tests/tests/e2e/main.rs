//! Every end-to-end suite in one test binary: one link instead of one per suite, one set of
//! harness helpers (`botcoder_tests::{harness, session, events, mock_llm, ...}`). Each module
//! is a suite; run one with `cargo nextest run -p botcoder-tests --test e2e <module>::`.
//!
//! Tests that need something `.ci/run` installs (root, setpriv, tmux, prlimit, bwrap, the
//! MCP reference server) call [`botcoder_tests::harness::require`], which fails them where it
//! is missing: no test passes by skipping itself. Opt-in tests that need something CI does
//! not have are `#[ignore = "why"]`. Every mock provider checks the requests it receives and
//! fails its test on one a real provider would refuse (`mock_llm::checks`).

// Test code: a failed expectation is a failed test.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod acp;
mod agent;
mod approvals;
mod botserver;
mod cli_contract;
mod compaction;
mod config_doctor;
mod control_socket;
mod credentials;
mod faults;
mod file_tools;
mod hostile;
mod hostile_model;
mod internals;
mod invariants;
mod journal;
mod mcp;
mod provider_limits;
mod providers_e2e;
mod ratelimit;
mod registry;
mod responses;
mod sandbox;
mod service;
mod session_settings;
mod settings;
mod torture;
mod tui;
mod undo;
mod watch_and_interrupt;
