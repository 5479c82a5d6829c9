//! Wall-clock time and id generation.

use std::time::{SystemTime, UNIX_EPOCH};

use botcoder_protocol::{SessionId, TurnId};
use rand::Rng;

/// Now, RFC 3339 UTC with milliseconds: the `time` of every event.
pub fn now_rfc3339() -> String {
    humantime::format_rfc3339_millis(SystemTime::now()).to_string()
}

fn millis() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_millis() as u64)
        .unwrap_or(0)
}

/// A new session id: 16 lowercase hex digits, time-ordered.
pub fn new_session_id() -> SessionId {
    SessionId(format!(
        "{:011x}{:05x}",
        millis() & 0xfff_ffff_ffff,
        rand::rng().random_range(0..0x10_0000u32)
    ))
}

/// A new turn id, unique within its session.
pub fn new_turn_id() -> TurnId {
    TurnId(format!(
        "t{:011x}{:04x}",
        millis() & 0xfff_ffff_ffff,
        rand::rng().random_range(0..0x1_0000u32)
    ))
}

/// Whether `id` could name a session directory: 1..=64 of `[0-9a-z-]`. Anything else is
/// refused before it gets near the file system.
pub fn is_valid_session_id(id: &str) -> bool {
    (1..=64).contains(&id.len())
        && id
            .bytes()
            .all(|b| b.is_ascii_digit() || b.is_ascii_lowercase() || b == b'-')
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids_are_valid_and_distinct() {
        let a = new_session_id();
        let b = new_session_id();
        assert!(is_valid_session_id(a.as_str()), "{a}");
        assert_ne!(a, b);
        for bad in ["", "../etc", "A", "a/b", ".", "x".repeat(65).as_str()] {
            assert!(!is_valid_session_id(bad), "{bad:?}");
        }
    }

    #[test]
    fn time_is_rfc3339_utc_millis() {
        let t = now_rfc3339();
        assert!(t.ends_with('Z') && t.len() == 24, "{t}");
    }
}
