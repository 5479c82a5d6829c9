//! The daemon's unified diffs as ACP diff content. ACP shows a change as old and new text of
//! a file; a unified diff has only the changed hunks with their context, so each file's
//! hunks become one old/new pair of excerpts (hunks joined by a `…` line), which is what an
//! editor needs to render the change for approval.

use std::path::Path;

use agent_client_protocol::v1::schema::Diff;

/// One `Diff` per file of `diff`. `default_path` names the file when the diff has no
/// headers (relative to `root`, like the headers' paths).
pub fn unified_to_diffs(root: &Path, default_path: &str, diff: &str) -> Vec<Diff> {
    let mut out = Vec::new();
    let mut cur: Option<FileDiff> = None;
    for line in diff.lines() {
        if let Some(path) = line.strip_prefix("+++ ") {
            let path = path.strip_prefix("b/").unwrap_or(path);
            if let Some(f) = cur.as_mut() {
                f.path = path.to_owned();
            }
            continue;
        }
        if line.starts_with("--- ") {
            if let Some(f) = cur.take() {
                out.extend(f.finish(root));
            }
            cur = Some(FileDiff::new(default_path));
            continue;
        }
        let f = cur.get_or_insert_with(|| FileDiff::new(default_path));
        if let Some(range) = line.strip_prefix("@@ ") {
            f.added_file = range.starts_with("-0,0 ");
            if f.hunks > 0 {
                f.old.push_str("…\n");
                f.new.push_str("…\n");
            }
            f.hunks += 1;
        } else if let Some(l) = line.strip_prefix(' ') {
            f.old.push_str(l);
            f.old.push('\n');
            f.new.push_str(l);
            f.new.push('\n');
        } else if let Some(l) = line.strip_prefix('-') {
            f.old.push_str(l);
            f.old.push('\n');
        } else if let Some(l) = line.strip_prefix('+') {
            f.new.push_str(l);
            f.new.push('\n');
        }
    }
    if let Some(f) = cur {
        out.extend(f.finish(root));
    }
    out
}

#[derive(Debug)]
struct FileDiff {
    path: String,
    old: String,
    new: String,
    hunks: usize,
    added_file: bool,
}

impl FileDiff {
    fn new(path: &str) -> Self {
        FileDiff {
            path: path.to_owned(),
            old: String::new(),
            new: String::new(),
            hunks: 0,
            added_file: false,
        }
    }

    fn finish(self, root: &Path) -> Option<Diff> {
        if self.hunks == 0 || self.path.is_empty() {
            return None;
        }
        let old = (!(self.added_file && self.old.is_empty())).then_some(self.old);
        Some(Diff::new(root.join(&self.path), self.new).old_text(old))
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used)]
    use super::*;
    use pretty_assertions::assert_eq;

    #[test]
    fn a_modified_file_becomes_old_and_new_excerpts() {
        let d = "--- a/src/a.rs\n+++ b/src/a.rs\n@@ -1,3 +1,3 @@\n one\n-two\n+2\n three\n";
        let diffs = unified_to_diffs(Path::new("/p"), "", d);
        assert_eq!(
            diffs,
            vec![
                Diff::new("/p/src/a.rs", "one\n2\nthree\n")
                    .old_text("one\ntwo\nthree\n".to_owned())
            ]
        );
    }

    #[test]
    fn a_new_file_has_no_old_text_and_two_files_give_two_diffs() {
        let d = "--- a/n.txt\n+++ b/n.txt\n@@ -0,0 +1 @@\n+hi\n--- a/m.txt\n+++ b/m.txt\n@@ -1 +1 @@\n-a\n+b\n";
        let diffs = unified_to_diffs(Path::new("/p"), "", d);
        assert_eq!(
            diffs,
            vec![
                Diff::new("/p/n.txt", "hi\n"),
                Diff::new("/p/m.txt", "b\n").old_text("a\n".to_owned()),
            ]
        );
    }

    #[test]
    fn hunks_are_joined_and_headerless_diffs_use_the_given_path() {
        let d = "@@ -1 +1 @@\n-a\n+b\n@@ -9 +9 @@\n-c\n+d\n";
        let diffs = unified_to_diffs(Path::new("/p"), "x.txt", d);
        assert_eq!(
            diffs,
            vec![Diff::new("/p/x.txt", "b\n…\nd\n").old_text("a\n…\nc\n".to_owned())]
        );
    }
}
