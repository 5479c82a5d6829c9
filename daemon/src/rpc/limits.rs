//! Caps on the strings clients send (invariant I10): one client's 9 MiB title must not end
//! up in every other client's `session.list`. Over a cap is `limit_exceeded` with a
//! message that names the cap; malformed (control characters in a name) is `invalid_params`.

use botcoder_protocol::ErrorKind;
use botcoder_protocol::methods::{
    MAX_CAPABILITIES, MAX_CLIENT_NAME_CHARS, MAX_ID_BYTES, MAX_MESSAGE_TEXT_BYTES,
    MAX_PROJECT_PATH_BYTES, MAX_TITLE_CHARS,
};

use crate::error::DaemonError;

fn too_long(what: &str, len: usize, cap: usize, unit: &str) -> DaemonError {
    DaemonError::new(
        ErrorKind::LimitExceeded,
        format!("{what} is {len} {unit} long; the limit is {cap} {unit}"),
    )
}

/// A session title as stored: control characters (newlines, tabs, escapes) become spaces,
/// surrounding space is trimmed; empty means none. Refused over [`MAX_TITLE_CHARS`].
pub fn title(raw: &str) -> Result<Option<String>, DaemonError> {
    // Count before building anything: a huge title is refused without a copy.
    let chars = raw.chars().count();
    if chars > MAX_TITLE_CHARS {
        return Err(too_long(
            "the session title",
            chars,
            MAX_TITLE_CHARS,
            "characters",
        ));
    }
    let cleaned: String = raw
        .chars()
        .map(|c| if c.is_control() { ' ' } else { c })
        .collect();
    let trimmed = cleaned.trim();
    Ok((!trimmed.is_empty()).then(|| trimmed.to_owned()))
}

/// A title read back for display (`session.list`, `session.get`): one stored before titles
/// had a cap is shown cut, so it cannot swell every listing.
pub fn shown_title(title: Option<String>) -> Option<String> {
    let t = title?;
    if t.chars().count() <= MAX_TITLE_CHARS {
        return Some(t);
    }
    let mut cut: String = t.chars().take(MAX_TITLE_CHARS - 1).collect();
    cut.push('…');
    Some(cut)
}

/// A project path: at most `PATH_MAX` bytes, no NUL.
pub fn project_path(path: &str) -> Result<(), DaemonError> {
    if path.len() > MAX_PROJECT_PATH_BYTES {
        return Err(too_long(
            "project_path",
            path.len(),
            MAX_PROJECT_PATH_BYTES,
            "bytes",
        ));
    }
    if path.contains('\0') {
        return Err(DaemonError::invalid_params(
            "project_path must not contain a NUL byte",
        ));
    }
    Ok(())
}

/// A user message: not blank, at most [`MAX_MESSAGE_TEXT_BYTES`].
pub fn message_text(text: &str) -> Result<(), DaemonError> {
    if text.len() > MAX_MESSAGE_TEXT_BYTES {
        return Err(too_long(
            "the message",
            text.len(),
            MAX_MESSAGE_TEXT_BYTES,
            "bytes",
        ));
    }
    if text.trim().is_empty() {
        return Err(DaemonError::invalid_params("text must not be empty"));
    }
    Ok(())
}

/// A client name from `daemon.hello`: 1 to [`MAX_CLIENT_NAME_CHARS`] printable characters.
pub fn client_name(name: &str) -> Result<(), DaemonError> {
    let chars = name.chars().count();
    if chars > MAX_CLIENT_NAME_CHARS {
        return Err(too_long(
            "the client name",
            chars,
            MAX_CLIENT_NAME_CHARS,
            "characters",
        ));
    }
    if name.trim().is_empty() || name.chars().any(char::is_control) {
        return Err(DaemonError::invalid_params(format!(
            "the client name must be 1 to {MAX_CLIENT_NAME_CHARS} printable characters, e.g. \"my-script\""
        )));
    }
    Ok(())
}

/// The capability list and protocol version from `daemon.hello`.
pub fn hello_extras(protocol_version: &str, capabilities: &[String]) -> Result<(), DaemonError> {
    if protocol_version.len() > MAX_ID_BYTES {
        return Err(too_long(
            "protocol_version",
            protocol_version.len(),
            MAX_ID_BYTES,
            "bytes",
        ));
    }
    if capabilities.len() > MAX_CAPABILITIES {
        return Err(too_long(
            "the capability list",
            capabilities.len(),
            MAX_CAPABILITIES,
            "entries",
        ));
    }
    match capabilities
        .iter()
        .find(|c| c.len() > MAX_CLIENT_NAME_CHARS)
    {
        Some(c) => Err(too_long(
            "a capability name",
            c.len(),
            MAX_CLIENT_NAME_CHARS,
            "bytes",
        )),
        None => Ok(()),
    }
}

/// An identifier a client names (call id, turn id).
pub fn id(what: &str, value: &str) -> Result<(), DaemonError> {
    if value.len() > MAX_ID_BYTES {
        return Err(too_long(what, value.len(), MAX_ID_BYTES, "bytes"));
    }
    Ok(())
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn titles_are_cleaned_and_capped() {
        assert_eq!(
            title("  fix\nthe\tbuild\x1b[2J ").unwrap(),
            Some("fix the build [2J".to_owned())
        );
        assert_eq!(title(" \n ").unwrap(), None);
        assert_eq!(
            title(&"é".repeat(MAX_TITLE_CHARS))
                .unwrap()
                .map(|t| t.len()),
            Some(2 * MAX_TITLE_CHARS)
        );
        let e = title(&"x".repeat(MAX_TITLE_CHARS + 1)).unwrap_err();
        assert_eq!(e.kind, ErrorKind::LimitExceeded);
        assert!(
            e.message.contains("limit is 200 characters"),
            "{}",
            e.message
        );
    }

    #[test]
    fn an_old_oversized_title_is_shown_cut() {
        let shown = shown_title(Some("y".repeat(10_000))).unwrap();
        assert_eq!(shown.chars().count(), MAX_TITLE_CHARS);
        assert!(shown.ends_with('…'));
        assert_eq!(shown_title(Some("ok".into())), Some("ok".into()));
    }

    #[test]
    fn client_names_are_short_and_printable() {
        assert!(client_name("botcoder-tui").is_ok());
        assert_eq!(
            client_name("evil\nname").unwrap_err().kind,
            ErrorKind::InvalidParams
        );
        assert_eq!(client_name("").unwrap_err().kind, ErrorKind::InvalidParams);
        assert_eq!(
            client_name(&"n".repeat(65)).unwrap_err().kind,
            ErrorKind::LimitExceeded
        );
    }

    #[test]
    fn messages_paths_and_ids_have_caps() {
        assert!(message_text("hi").is_ok());
        assert_eq!(
            message_text(&"m".repeat(MAX_MESSAGE_TEXT_BYTES + 1))
                .unwrap_err()
                .kind,
            ErrorKind::LimitExceeded
        );
        assert_eq!(
            message_text(" ").unwrap_err().kind,
            ErrorKind::InvalidParams
        );
        assert!(project_path("/home/u/p").is_ok());
        assert_eq!(
            project_path(&"/p".repeat(4000)).unwrap_err().kind,
            ErrorKind::LimitExceeded
        );
        assert_eq!(
            project_path("/a\0b").unwrap_err().kind,
            ErrorKind::InvalidParams
        );
        assert!(id("call_id", &"c".repeat(257)).is_err());
        assert!(hello_extras("1.0", &vec!["c".to_owned(); 33]).is_err());
        assert!(hello_extras("1.0", &["approvals".to_owned()]).is_ok());
    }
}
