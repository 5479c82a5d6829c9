//! `@path` mentions: fuzzy completion over the project's files and the format that carries
//! a file's content to the model. The content travels inside the message text (so every
//! attached terminal and every later attach shows the same chip); the block markers below are
//! what the transcript turns back into a chip.

/// Biggest part of one file attached to a message.
pub const ATTACH_CAP: usize = 64 * 1024;

/// Opens an attached file's block in a message.
pub const OPEN: &str = "\n\n<attached-file path=\"";

/// The `@word` the cursor is in: (start char index, the word without `@`).
pub fn word_at(line: &str, col: usize) -> Option<(usize, String)> {
    let before: Vec<char> = line.chars().take(col).collect();
    let start = before
        .iter()
        .rposition(|c| c.is_whitespace())
        .map_or(0, |i| i + 1);
    let word: String = before[start..].iter().collect();
    let rest = word.strip_prefix('@')?;
    Some((start, rest.to_owned()))
}

/// A subsequence score of `query` in `path` (higher is better), `None` when it is not one.
/// Consecutive letters and letters after a `/`, `_`, `-` or `.` score more, and a match in
/// the file name more than in its folders: what people expect from fzf-like pickers.
pub fn score(query: &str, path: &str) -> Option<i64> {
    if query.is_empty() {
        return Some(-(path.len() as i64));
    }
    let name_start = path.rfind('/').map_or(0, |i| i + 1);
    let mut score = 0i64;
    let mut last: Option<usize> = None;
    let mut qi = query.chars().map(|c| c.to_ascii_lowercase()).peekable();
    let mut prev = '/';
    for (i, c) in path.char_indices() {
        let Some(&q) = qi.peek() else { break };
        if c.to_ascii_lowercase() == q {
            score += 1;
            if last.is_some_and(|l| l + 1 == i) {
                score += 4;
            }
            if matches!(prev, '/' | '_' | '-' | '.') {
                score += 3;
            }
            if i >= name_start {
                score += 2;
            }
            last = Some(i);
            qi.next();
        }
        prev = c;
    }
    if qi.peek().is_some() {
        return None;
    }
    Some(score * 100 - path.len() as i64)
}

/// The best `limit` matches of `query` among `files`.
pub fn matches<'a>(query: &str, files: &'a [String], limit: usize) -> Vec<&'a str> {
    let mut scored: Vec<(i64, &str)> = files
        .iter()
        .filter_map(|f| score(query, f).map(|s| (s, f.as_str())))
        .collect();
    scored.sort_by(|a, b| b.0.cmp(&a.0).then(a.1.cmp(b.1)));
    scored.into_iter().take(limit).map(|(_, f)| f).collect()
}

/// The `@path` words of `text` that name one of `files`, in order, once each.
pub fn mentioned(text: &str, files: &[String]) -> Vec<String> {
    let mut out: Vec<String> = Vec::new();
    for w in text.split_whitespace() {
        let Some(p) = w.strip_prefix('@') else {
            continue;
        };
        let p = p.trim_end_matches([',', '.', ':', ';', ')', '?', '!']);
        if files.iter().any(|f| f == p) && !out.iter().any(|o| o == p) {
            out.push(p.to_owned());
        }
    }
    out
}

/// `text` with each file's content appended as a block for the model.
pub fn attach(text: &str, files: &[(String, String)]) -> String {
    let mut out = text.to_owned();
    for (path, content) in files {
        out.push_str(OPEN);
        out.push_str(path);
        out.push_str("\">\n");
        out.push_str(content);
        out.push_str("\n</attached-file>");
    }
    out
}

/// Splits a message into what was typed and the paths of its attached files (the chips).
pub fn split(text: &str) -> (&str, Vec<String>) {
    let Some(at) = text.find(OPEN) else {
        return (text, Vec::new());
    };
    let mut paths = Vec::new();
    let mut rest = &text[at..];
    while let Some(i) = rest.find(OPEN) {
        let after = &rest[i + OPEN.len()..];
        let Some(end) = after.find("\">") else { break };
        paths.push(after[..end].to_owned());
        rest = &after[end..];
    }
    (&text[..at], paths)
}

/// Reads one attached file, capped; the note says when it was cut or could not be read.
pub fn read_capped(root: &std::path::Path, path: &str) -> String {
    use std::io::Read;
    let mut buf = Vec::new();
    let read = std::fs::File::open(root.join(path))
        .and_then(|f| f.take(ATTACH_CAP as u64 + 1).read_to_end(&mut buf));
    match read {
        Err(e) => format!("(could not read {path}: {e})"),
        Ok(_) => {
            let cut = buf.len() > ATTACH_CAP;
            buf.truncate(ATTACH_CAP);
            let mut s = String::from_utf8_lossy(&buf).into_owned();
            if cut {
                s.push_str(&format!("\n… (cut at {} KiB)", ATTACH_CAP / 1024));
            }
            s
        }
    }
}

/// The project's files, gitignore-aware, relative, at most `cap` of them (blocking: call it
/// off the runtime).
pub fn list_files(root: &std::path::Path, cap: usize) -> Vec<String> {
    let mut out = Vec::new();
    for entry in ignore::WalkBuilder::new(root).build().flatten() {
        if out.len() >= cap {
            break;
        }
        if entry.file_type().is_some_and(|t| t.is_file())
            && let Ok(rel) = entry.path().strip_prefix(root)
        {
            out.push(rel.to_string_lossy().into_owned());
        }
    }
    out.sort();
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use pretty_assertions::assert_eq;

    #[test]
    fn fuzzy_matches_prefer_file_names_and_word_starts() {
        let files: Vec<String> = [
            "src/main.rs",
            "docs/maintenance.md",
            "src/lib.rs",
            "Makefile",
        ]
        .map(String::from)
        .to_vec();
        assert_eq!(
            matches("main", &files, 2),
            ["src/main.rs", "docs/maintenance.md"]
        );
        assert_eq!(matches("slr", &files, 5), ["src/lib.rs"]);
        assert!(matches("zzz", &files, 5).is_empty());
    }

    #[test]
    fn attached_files_round_trip_into_chips() {
        let files = vec!["src/main.rs".to_owned()];
        assert_eq!(mentioned("look at @src/main.rs, and @nope", &files), files);
        let sent = attach(
            "look at @src/main.rs",
            &[("src/main.rs".into(), "fn main() {}".into())],
        );
        assert!(sent.contains("fn main() {}"));
        assert_eq!(split(&sent), ("look at @src/main.rs", files));
        assert_eq!(word_at("see @sr", 7), Some((4, "sr".into())));
        assert_eq!(word_at("see sr", 6), None);
    }
}
