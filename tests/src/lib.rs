//! Test support.
pub mod mock_llm;
