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
                let times = if lines.len() >= AMBIGUOUS_CAP {
                    format!("{AMBIGUOUS_CAP} or more")
                } else {
                    lines.len().to_string()
                };
                write!(
                    f,
                    "the CURRENT lines occur {times} times (at lines {}); include more lines to make them unique",
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

/// Every block in `text`, in order. Linear in the text: whether a line sits in a fence and
/// where the next separator is are computed once, up front, so hostile replies with tens of
/// thousands of `CHANGE:` lines cost no more than reading them.
pub fn parse_blocks(text: &str) -> Vec<DeltaBlock> {
    let normalized = text.replace("\r\n", "\n");
    let lines: Vec<&str> = normalized.split('\n').collect();
    // fences_before[i]: fence lines in lines[..i]; next_sep[i]: first separator at or after i.
    let mut fences_before = Vec::with_capacity(lines.len() + 1);
    let mut count = 0usize;
    for l in &lines {
        fences_before.push(count);
        count += usize::from(is_fence(l));
    }
    let mut next_sep = vec![lines.len(); lines.len() + 1];
    for idx in (0..lines.len()).rev() {
        next_sep[idx] = if is_separator(lines[idx]) {
            idx
        } else {
            next_sep[idx + 1]
        };
    }
    let mut blocks = Vec::new();
    let mut i = 0;
    while i < lines.len() {
        let Some(path) = change_path(lines[i]) else {
            i += 1;
            continue;
        };
        let mut in_fence = fences_before[i] % 2 == 1;
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
        let k = next_sep[cur_start.min(lines.len())];
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

/// Most file lines closest_lines looks at (a 10 MB file has about this many).
const CLOSEST_SCAN: usize = 250_000;
/// Characters of a line compared.
const CLOSEST_CLIP: usize = 160;
/// Candidate windows scored in full after the cheap first pass.
const CLOSEST_SHORTLIST: usize = 16;
/// Most lines of a window compared and shown.
const CLOSEST_HEIGHT: usize = 40;

fn clip(s: &str) -> &str {
    let s = s.trim();
    match s.char_indices().nth(CLOSEST_CLIP) {
        Some((i, _)) => &s[..i],
        None => s,
    }
}

/// Bytes two strings have in common (as multisets), scaled to 0..=1: O(len), no allocation.
fn overlap(anchor: &[u16; 256], anchor_len: usize, line: &[u8]) -> f32 {
    let mut rest = *anchor;
    let mut common = 0usize;
    for &b in line {
        let slot = &mut rest[usize::from(b)];
        if *slot > 0 {
            *slot -= 1;
            common += 1;
        }
    }
    let total = anchor_len + line.len();
    if total == 0 {
        1.0
    } else {
        (2 * common) as f32 / total as f32
    }
}

/// The window of lines in `text` most similar to `needle`, numbered. Bounded work: a cheap
/// byte-overlap score of every line (up to [`CLOSEST_SCAN`]) against the needle's longest
/// line picks a short list of windows, and only those are compared line by line with a
/// normalized edit distance on clipped lines.
pub fn closest_lines(text: &str, needle: &str) -> String {
    let lines: Vec<&str> = text.lines().take(CLOSEST_SCAN).collect();
    if lines.is_empty() {
        return "[the file is empty]".to_owned();
    }
    let want: Vec<&str> = needle.lines().take(CLOSEST_HEIGHT).collect();
    let full_height = needle.lines().count().clamp(1, lines.len());
    let height = full_height.min(CLOSEST_HEIGHT);
    let (anchor_at, anchor) = want
        .iter()
        .enumerate()
        .max_by_key(|(i, l)| (clip(l).len(), std::cmp::Reverse(*i)))
        .map(|(i, l)| (i, clip(l)))
        .unwrap_or((0, ""));
    let mut hist = [0u16; 256];
    for &b in anchor.as_bytes() {
        hist[usize::from(b)] = hist[usize::from(b)].saturating_add(1);
    }
    let last_start = lines.len() - full_height;
    // (score, start), best first; ties keep the earlier start.
    let mut shortlist: Vec<(f32, usize)> = Vec::with_capacity(CLOSEST_SHORTLIST + 1);
    for (i, line) in lines.iter().enumerate() {
        let bytes = line.trim().as_bytes();
        let score = overlap(&hist, anchor.len(), &bytes[..bytes.len().min(CLOSEST_CLIP)]);
        if shortlist.len() == CLOSEST_SHORTLIST && shortlist.last().is_some_and(|w| w.0 >= score) {
            continue;
        }
        let start = i.saturating_sub(anchor_at).min(last_start);
        if shortlist.iter().any(|w| w.1 == start) {
            continue;
        }
        let at = shortlist.partition_point(|w| w.0 >= score);
        shortlist.insert(at, (score, start));
        shortlist.truncate(CLOSEST_SHORTLIST);
    }
    let mut best = (-1.0f64, 0usize);
    for &(_, start) in &shortlist {
        let score: f64 = (0..height)
            .map(|k| {
                let have = clip(lines[start + k]);
                let need = want.get(k).map_or("", |l| clip(l));
                strsim::normalized_levenshtein(have, need)
            })
            .sum();
        if score > best.0 || (score == best.0 && start < best.1) {
            best = (score, start);
        }
    }
    let mut out: Vec<String> = lines[best.1..best.1 + height]
        .iter()
        .enumerate()
        .map(|(i, l)| format!("{:>6}\t{l}", best.1 + i + 1))
        .collect();
    if full_height > height {
        out.push(format!("[... {} more lines]", full_height - height));
    }
    out.join("\n")
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

/// Most places an ambiguous CURRENT reports.
pub const AMBIGUOUS_CAP: usize = 20;

fn line_hash(s: &str) -> u64 {
    // FNV-1a: cheap, and collisions only cost a verification.
    s.bytes().fold(0xcbf2_9ce4_8422_2325, |h, b| {
        (h ^ u64::from(b)).wrapping_mul(0x0100_0000_01b3)
    })
}

/// Starts of runs of `file` lines equal (under `norm`) to `want`, at most `cap` of them.
/// Rabin-Karp over line hashes: linear in the file, whatever the lines repeat.
fn find_runs(file: &[&str], want: &[&str], norm: fn(&str) -> &str, cap: usize) -> Vec<usize> {
    const BASE: u64 = 0x9E37_79B9_7F4A_7C15;
    let n = want.len();
    if n == 0 || n > file.len() {
        return Vec::new();
    }
    let fh: Vec<u64> = file.iter().map(|l| line_hash(norm(l))).collect();
    let roll = |hs: &mut dyn Iterator<Item = u64>| {
        hs.fold(0u64, |acc, h| acc.wrapping_mul(BASE).wrapping_add(h))
    };
    let target = roll(&mut want.iter().map(|l| line_hash(norm(l))));
    let top = (1..n).fold(1u64, |p, _| p.wrapping_mul(BASE));
    let mut h = roll(&mut fh[..n].iter().copied());
    let mut hits = Vec::new();
    for s in 0..=(file.len() - n) {
        if s > 0 {
            h = h
                .wrapping_sub(fh[s - 1].wrapping_mul(top))
                .wrapping_mul(BASE)
                .wrapping_add(fh[s + n - 1]);
        }
        if h == target && (0..n).all(|k| norm(file[s + k]) == norm(want[k])) {
            hits.push(s);
            if hits.len() >= cap {
                break;
            }
        }
    }
    hits
}

fn strip_newline(l: &str) -> &str {
    l.trim_end_matches(['\n', '\r'])
}

fn strip_trailing_space(l: &str) -> &str {
    l.trim_end()
}

/// Line-wise match of `current` in `text`: exact first, then ignoring trailing whitespace.
fn replace_lines(text: &str, current: &str, new: &str) -> Result<String, DeltaError> {
    let file: Vec<&str> = text.split_inclusive('\n').collect();
    let want: Vec<&str> = current.lines().collect();
    let n = want.len();
    for norm in [strip_newline as fn(&str) -> &str, strip_trailing_space] {
        let hits = find_runs(&file, &want, norm, AMBIGUOUS_CAP);
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
