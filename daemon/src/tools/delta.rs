//! `CHANGE:` blocks, this product's text edit format:
//!
//! ```text
//! CHANGE: path/to/file
//! <<<<<<< CURRENT
//! exact existing lines
//! =======
//! replacement lines
//! >>>>>>> NEW
//! ```
//!
//! Blocks may sit in prose and inside code fences; CRLF is tolerated; a block closed by a
//! second `=======`, a closing fence or the end of the text is accepted. Multi-line CURRENT
//! works; an empty CURRENT replaces (or creates) the whole file. A CURRENT that matches
//! nothing, or more than one place, is an error that shows where to look: never a silent
//! no-op. Nothing here panics on any input.

use std::fmt;

/// One parsed block.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DeltaBlock {
    /// Path as written after `CHANGE:`.
    pub path: String,
    /// Lines to find (empty: the whole file).
    pub current: String,
    /// Lines to put in their place.
    pub new: String,
}

/// Why a block could not be applied.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum DeltaError {
    /// The file does not exist and CURRENT is not empty.
    MissingFile,
    /// CURRENT matched nothing; `closest` shows the most similar lines, numbered.
    NotFound {
        /// The closest lines.
        closest: String,
    },
    /// CURRENT matched several places (1-based line numbers).
    Ambiguous {
        /// Where.
        lines: Vec<usize>,
    },
}

impl fmt::Display for DeltaError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            DeltaError::MissingFile => {
                f.write_str("the file does not exist; to create it leave the CURRENT section empty")
            }
            DeltaError::NotFound { closest } => write!(
                f,
                "the CURRENT lines were not found in the file (they must match exactly). The closest lines are:\n{closest}"
            ),
            DeltaError::Ambiguous { lines } => {
                let l: Vec<String> = lines.iter().map(ToString::to_string).collect();
                write!(
                    f,
                    "the CURRENT lines occur {} times (at lines {}); include more lines to make them unique",
                    lines.len(),
                    l.join(", ")
                )
            }
        }
    }
}

fn is_fence(line: &str) -> bool {
    line.trim_start().starts_with("```") || line.trim_start().starts_with("~~~")
}

fn change_path(line: &str) -> Option<String> {
    let t = line.trim().trim_start_matches(['*', '#', '-', ' ']);
    let rest = t.strip_prefix("CHANGE:")?;
    let path = rest
        .trim()
        .trim_matches(|c| c == '`' || c == '*' || c == '"' || c == '\'')
        .trim();
    (!path.is_empty()).then(|| path.to_owned())
}

fn is_current_marker(line: &str) -> bool {
    let t = line.trim();
    t.starts_with("<<<<<<<")
        && t.trim_start_matches('<')
            .trim()
            .eq_ignore_ascii_case("current")
}

fn is_separator(line: &str) -> bool {
    let t = line.trim();
    t.len() >= 7 && t.bytes().all(|b| b == b'=')
}

fn is_new_marker(line: &str) -> bool {
    line.trim().starts_with(">>>>>>>")
}

fn join(lines: &[&str]) -> String {
    if lines.is_empty() {
        return String::new();
    }
    let mut s = lines.join("\n");
    s.push('\n');
    s
}

/// Every block in `text`, in order.
pub fn parse_blocks(text: &str) -> Vec<DeltaBlock> {
    let normalized = text.replace("\r\n", "\n");
    let lines: Vec<&str> = normalized.split('\n').collect();
    let mut blocks = Vec::new();
    let mut i = 0;
    while i < lines.len() {
        let Some(path) = change_path(lines[i]) else {
            i += 1;
            continue;
        };
        let mut in_fence = i > 0 && lines[..i].iter().filter(|l| is_fence(l)).count() % 2 == 1;
        let mut j = i + 1;
        // Only blank lines and fences may stand between CHANGE: and the CURRENT marker.
        while j < lines.len()
            && !is_current_marker(lines[j])
            && (lines[j].trim().is_empty() || is_fence(lines[j]))
        {
            in_fence |= is_fence(lines[j]);
            j += 1;
        }
        if j >= lines.len() || !is_current_marker(lines[j]) {
            i += 1;
            continue;
        }
        let cur_start = j + 1;
        let mut k = cur_start;
        while k < lines.len() && !is_separator(lines[k]) {
            k += 1;
        }
        if k >= lines.len() {
            i = cur_start;
            continue;
        }
        let current = &lines[cur_start..k];
        let new_start = k + 1;
        let mut m = new_start;
        let ends_new = |l: &str| {
            is_new_marker(l)
                || is_separator(l)
                || (in_fence && is_fence(l))
                || change_path(l).is_some()
        };
        while m < lines.len() && !ends_new(lines[m]) {
            m += 1;
        }
        let new = &lines[new_start..m.min(lines.len())];
        // A trailing empty line from the final newline of the text is not content.
        let new = if m >= lines.len() && new.last() == Some(&"") {
            &new[..new.len() - 1]
        } else {
            new
        };
        blocks.push(DeltaBlock {
            path,
            current: join(current),
            new: join(new),
        });
        i = if m < lines.len() && change_path(lines[m]).is_none() {
            m + 1
        } else {
            m
        };
    }
    blocks
}

/// The window of lines in `text` most similar to `needle`, numbered.
pub fn closest_lines(text: &str, needle: &str) -> String {
    let lines: Vec<&str> = text.lines().collect();
    if lines.is_empty() {
        return "[the file is empty]".to_owned();
    }
    let height = needle.lines().count().clamp(1, lines.len());
    let mut best = (-1.0f32, 0usize);
    for start in 0..=(lines.len() - height) {
        let window = lines[start..start + height].join("\n");
        let score = similar::TextDiff::from_chars(window.as_str(), needle).ratio();
        if score > best.0 {
            best = (score, start);
        }
    }
    lines[best.1..best.1 + height]
        .iter()
        .enumerate()
        .map(|(i, l)| format!("{:>6}\t{l}", best.1 + i + 1))
        .collect::<Vec<_>>()
        .join("\n")
}

/// Applies one block to `original` (`None`: the file does not exist).
pub fn apply_block(original: Option<&str>, block: &DeltaBlock) -> Result<String, DeltaError> {
    if block.current.trim().is_empty() {
        return Ok(block.new.clone());
    }
    let original = original.ok_or(DeltaError::MissingFile)?;
    let crlf = original.contains("\r\n");
    let text = if crlf {
        original.replace("\r\n", "\n")
    } else {
        original.to_owned()
    };
    let result = replace_lines(&text, &block.current, &block.new)?;
    Ok(if crlf {
        result.replace('\n', "\r\n")
    } else {
        result
    })
}

/// Line-wise match of `current` in `text`: exact first, then ignoring trailing whitespace.
fn replace_lines(text: &str, current: &str, new: &str) -> Result<String, DeltaError> {
    let file: Vec<&str> = text.split_inclusive('\n').collect();
    let want: Vec<&str> = current.lines().collect();
    let n = want.len();
    let strip = |l: &str| l.trim_end_matches(['\n', '\r']).to_owned();
    for loose in [false, true] {
        let same = |a: &str, b: &str| {
            if loose {
                a.trim_end() == b.trim_end()
            } else {
                strip(a) == b
            }
        };
        let hits: Vec<usize> = (0..file.len().saturating_sub(n - 1))
            .filter(|&s| s + n <= file.len() && (0..n).all(|k| same(file[s + k], want[k])))
            .collect();
        match hits.as_slice() {
            [] => continue,
            [start] => {
                let mut out: String = file[..*start].concat();
                let last_had_newline = file[start + n - 1].ends_with('\n');
                let mut replacement = new.to_owned();
                if !last_had_newline && replacement.ends_with('\n') {
                    replacement.pop();
                }
                out.push_str(&replacement);
                out.push_str(&file[start + n..].concat());
                return Ok(out);
            }
            many => {
                return Err(DeltaError::Ambiguous {
                    lines: many.iter().map(|s| s + 1).collect(),
                });
            }
        }
    }
    Err(DeltaError::NotFound {
        closest: closest_lines(text, current),
    })
}

#[cfg(test)]
#[path = "delta_tests.rs"]
mod tests;
