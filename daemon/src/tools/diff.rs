//! Unified diffs for `file.changed` events and approval previews.

/// A unified diff of `old` -> `new` for `path` (`old` empty for a new file).
pub fn unified(path: &str, old: &str, new: &str) -> String {
    similar::TextDiff::from_lines(old, new)
        .unified_diff()
        .context_radius(3)
        .header(&format!("a/{path}"), &format!("b/{path}"))
        .to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn shows_changed_lines_with_headers() {
        let d = unified("src/a.rs", "one\ntwo\nthree\n", "one\n2\nthree\n");
        assert!(d.starts_with("--- a/src/a.rs\n+++ b/src/a.rs\n"), "{d}");
        assert!(d.contains("-two\n+2\n"), "{d}");
    }
}
