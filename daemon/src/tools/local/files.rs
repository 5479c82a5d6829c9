//! The file tools: read_file, write_file, edit_file, apply_delta. Blocking file I/O; the
//! executor runs these on the blocking pool with a [`Job`] (the root held open, the turn's
//! cancel token). Every open goes through [`Root`] (race-free confinement, I6); reads are
//! bounded by what is returned, not by the file's size.

use std::io::{BufRead, BufReader};
use std::path::PathBuf;

use serde_json::Value;

use super::args::{opt_u64, req_str};
use super::editor_io;
use super::textio::{
    CANCELLED, Job, Text, count_lines, looks_binary, looks_utf8, read_line_capped,
};
use crate::tools::confine::{ConfineError, lexical};
use crate::tools::delta::{apply_block, closest_lines, parse_blocks};
use crate::tools::diff::unified;
use crate::tools::{FileChange, ToolOutcome};

/// Most bytes read_file returns.
const READ_CAP: usize = 256 * 1024;
/// Default number of lines read_file returns.
const READ_LINES: u64 = 2000;
/// Longest line read_file shows; the rest of it is cut with a note.
const LINE_CAP: usize = 16 * 1024;
/// Files up to this size are read to the end to say how many lines they have.
const COUNT_CAP: u64 = 64 * 1024 * 1024;
/// Lines between two looks at the cancel token.
const CHECK_LINES: u64 = 1024;
/// Most CHANGE blocks one apply_delta call applies.
const MAX_BLOCKS: usize = 1000;

fn io_err(shown: &str) -> impl Fn(std::io::Error) -> String + '_ {
    move |e| {
        if e.to_string() == CANCELLED {
            CANCELLED.to_owned()
        } else {
            format!("cannot read {shown}: {e}")
        }
    }
}

/// `read_file {path, offset?, limit?}`: reads only the lines it returns (plus a count of the
/// rest for files up to 64 MB), at most 256 KB of them.
pub fn read_file(job: &Job, args: &Value) -> ToolOutcome {
    let run = || -> Result<ToolOutcome, String> {
        let shown = req_str(args, "path")?;
        let offset = opt_u64(args, "offset")?.unwrap_or(1).max(1);
        let limit = opt_u64(args, "limit")?.unwrap_or(READ_LINES).max(1);
        if let Some(text) = editor_io::read_whole(job, shown) {
            let text = text?;
            let size = text.len() as u64;
            return render(
                job,
                shown,
                std::io::Cursor::new(text.into_bytes()),
                size,
                offset,
                limit,
            );
        }
        let opened = job.root.open_file(shown).map_err(|e| match e {
            ConfineError::IsDir(_) => {
                format!("{shown} is a directory; use list_files to see what is in it")
            }
            other => other.to_string(),
        })?;
        let size = opened.size;
        let r = BufReader::with_capacity(64 * 1024, opened.file);
        render(job, shown, r, size, offset, limit)
    };
    run().unwrap_or_else(ToolOutcome::error)
}

/// The lines `offset..offset + limit` of `r` (a file of `size` bytes) as read_file shows
/// them, with a note on what follows.
fn render<R: BufRead>(
    job: &Job,
    shown: &str,
    mut r: R,
    size: u64,
    offset: u64,
    limit: u64,
) -> Result<ToolOutcome, String> {
    {
        let head = r.fill_buf().map_err(io_err(shown))?;
        if looks_binary(head) {
            return Err(format!(
                "{shown} is a binary file; it cannot be read or edited as text"
            ));
        }
        if !looks_utf8(head) {
            return Err(format!("{shown} is not valid UTF-8 text"));
        }
        let cancelled = || job.cancelled();
        let mut line = Vec::new();
        let mut n = 0u64;
        let mut at_end = false;
        while n + 1 < offset {
            line.clear();
            if n.is_multiple_of(CHECK_LINES) && job.cancelled() {
                return Err(CANCELLED.to_owned());
            }
            if read_line_capped(&mut r, &mut line, 0, &cancelled).map_err(io_err(shown))? == 0 {
                at_end = true;
                break;
            }
            n += 1;
        }
        let mut out = String::new();
        let mut capped = false;
        while !at_end && n + 1 < offset + limit {
            if n.is_multiple_of(CHECK_LINES) && job.cancelled() {
                return Err(CANCELLED.to_owned());
            }
            line.clear();
            let len =
                read_line_capped(&mut r, &mut line, LINE_CAP, &cancelled).map_err(io_err(shown))?;
            if len == 0 {
                at_end = true;
                break;
            }
            n += 1;
            let shown_line = String::from_utf8_lossy(&line);
            let shown_line = shown_line.trim_end_matches(['\n', '\r']);
            let cut = if len > LINE_CAP + 1 {
                format!(" [... line cut: {len} bytes in all]")
            } else {
                String::new()
            };
            if out.len() + shown_line.len() + cut.len() + 8 > READ_CAP {
                capped = true;
                n -= 1;
                break;
            }
            out.push_str(&format!("{n:>6}\t{shown_line}{cut}\n"));
        }
        let shown_lines = n.saturating_sub(offset - 1);
        // Whether anything follows, and how much.
        let total = if at_end {
            Some(n)
        } else if size <= COUNT_CAP {
            let rest = count_lines(&mut r, &cancelled).map_err(io_err(shown))?;
            Some(n + rest + u64::from(capped))
        } else {
            None
        };
        let more = !at_end && total.is_none_or(|t| t > n);
        if more || capped {
            let next = n + 1;
            let all = match total {
                Some(t) => format!("{t} lines in all"),
                None => format!("{size} bytes in all"),
            };
            let why = if capped {
                format!("output capped at {} KB; ", READ_CAP / 1024)
            } else {
                String::new()
            };
            if capped || total.is_none() {
                out.push_str(&format!("[{why}{all}; read more with offset {next}]\n"));
            } else {
                out.push_str(&format!("[{all}; read more with offset]\n"));
            }
        }
        if shown_lines == 0 && out.is_empty() {
            out = match total {
                Some(0) => "[empty file]\n".to_owned(),
                Some(t) => format!("[no lines at offset {offset}; the file has {t}]\n"),
                None => format!("[no lines at offset {offset}]\n"),
            };
        }
        let truncated = more || capped;
        Ok(ToolOutcome {
            truncated,
            ..ToolOutcome::ok(out)
        })
    }
}

/// A planned change: the path (normalized, relative to the root), old text, new text.
type Plan = (String, String, String);

/// One file touched by CHANGE blocks while they are applied in order.
struct DeltaFile {
    key: PathBuf,
    /// The file's text before any block (None: it does not exist).
    original: Option<String>,
    /// The text after the blocks so far, or the first error.
    state: Result<String, String>,
}

/// The normalized relative path of `shown` (for events and grouping), or the refusal.
fn rel_of(shown: &str) -> Result<PathBuf, String> {
    lexical(shown).map_err(|e| e.to_string())
}

/// What write_file would produce. An existing file that is not text (binary, too large) is
/// replaced all the same; its diff shows only the new content.
fn plan_write(job: &Job, args: &Value) -> Result<Plan, String> {
    let shown = req_str(args, "path")?;
    let content = req_str(args, "content")?;
    let rel = rel_of(shown)?;
    let old = match editor_io::load(job, shown)? {
        Text::Text(t) => t,
        Text::Missing | Text::Opaque(_) => String::new(),
    };
    Ok((rel.display().to_string(), old, content.to_owned()))
}

/// What edit_file would produce.
fn plan_edit(job: &Job, args: &Value) -> Result<Plan, String> {
    let shown = req_str(args, "path")?;
    let old_text = req_str(args, "old")?;
    let new_text = req_str(args, "new")?;
    let replace_all = args
        .get("replace_all")
        .and_then(Value::as_bool)
        .unwrap_or(false);
    let rel = rel_of(shown)?;
    let original = match editor_io::load(job, shown)? {
        Text::Text(t) => t,
        Text::Missing => {
            return Err(format!(
                "{shown} does not exist; use write_file to create it"
            ));
        }
        Text::Opaque(why) => return Err(why),
    };
    if old_text.is_empty() {
        return Err("`old` must not be empty; use write_file to replace a whole file".to_owned());
    }
    let count = original.matches(old_text).count();
    let updated = match count {
        0 => {
            return Err(format!(
                "`old` was not found in {shown}. The closest lines are:\n{}",
                closest_lines(&original, old_text)
            ));
        }
        1 => original.replacen(old_text, new_text, 1),
        n if replace_all => {
            let _ = n;
            original.replace(old_text, new_text)
        }
        n => {
            // Line numbers counted incrementally (linear), and only the first 20 named.
            let mut lines = Vec::new();
            let (mut line, mut seen) = (1usize, 0usize);
            for (i, _) in original.match_indices(old_text).take(20) {
                line += memchr::memchr_iter(b'\n', &original.as_bytes()[seen..i]).count();
                seen = i;
                lines.push(line.to_string());
            }
            return Err(format!(
                "`old` occurs {n} times in {shown} (lines {}); include more surrounding lines to make it unique, or set replace_all",
                lines.join(", ")
            ));
        }
    };
    Ok((rel.display().to_string(), original, updated))
}

/// Writes a plan (cancellation is checked last, before anything changes); says whether the
/// file is new.
fn commit(job: &Job, rel: &str, old: &str, new: &str) -> Result<(FileChange, bool), String> {
    if let Some(created) = editor_io::write(job, rel, new) {
        let change = FileChange {
            diff: unified(rel, old, new),
            path: rel.to_owned(),
        };
        return Ok((change, created?));
    }
    let written = job
        .root
        .write(rel, new.as_bytes(), &|| job.cancelled())
        .map_err(|e| e.to_string())?;
    Ok((
        FileChange {
            diff: unified(rel, old, new),
            path: rel.to_owned(),
        },
        written.created,
    ))
}

/// `write_file {path, content}`.
pub fn write_file(job: &Job, args: &Value) -> ToolOutcome {
    let run = || -> Result<ToolOutcome, String> {
        let (rel, old, new) = plan_write(job, args)?;
        let (change, created) = commit(job, &rel, &old, &new)?;
        let verb = if created { "created" } else { "wrote" };
        let msg = format!("{verb} {} ({} bytes)", change.path, new.len());
        Ok(ToolOutcome {
            changes: vec![change],
            ..ToolOutcome::ok(msg)
        })
    };
    run().unwrap_or_else(ToolOutcome::error)
}

/// `edit_file {path, old, new, replace_all?}`.
pub fn edit_file(job: &Job, args: &Value) -> ToolOutcome {
    let run = || -> Result<ToolOutcome, String> {
        let (rel, old, new) = plan_edit(job, args)?;
        let (change, _) = commit(job, &rel, &old, &new)?;
        let msg = format!("edited {}", change.path);
        Ok(ToolOutcome {
            changes: vec![change],
            ..ToolOutcome::ok(msg)
        })
    };
    run().unwrap_or_else(ToolOutcome::error)
}

/// What `apply_delta` would do to each file: (path, old, new) or the error per block.
fn plan_delta(job: &Job, args: &Value) -> Result<Vec<Result<Plan, String>>, String> {
    let text = req_str(args, "text")?;
    let blocks = parse_blocks(text);
    if blocks.is_empty() {
        return Err("no CHANGE: blocks found; the format is `CHANGE: path`, `<<<<<<< CURRENT`, lines, `=======`, lines, `>>>>>>> NEW`".to_owned());
    }
    if blocks.len() > MAX_BLOCKS {
        return Err(format!(
            "{} CHANGE blocks in one call; send at most {MAX_BLOCKS} per call",
            blocks.len()
        ));
    }
    // Blocks for the same file apply in order on the evolving text.
    let mut files: Vec<DeltaFile> = Vec::new();
    for block in &blocks {
        if job.cancelled() {
            return Err(CANCELLED.to_owned());
        }
        let key = match rel_of(&block.path) {
            Ok(k) => k,
            Err(e) => {
                files.push(DeltaFile {
                    key: PathBuf::from("?"),
                    original: None,
                    state: Err(e),
                });
                continue;
            }
        };
        let idx = match files.iter().position(|f| f.key == key) {
            Some(i) => i,
            None => {
                let (original, state) = match editor_io::load(job, &block.path) {
                    Ok(Text::Text(t)) => (Some(t.clone()), Ok(t)),
                    Ok(Text::Missing) => (None, Ok(String::new())),
                    Ok(Text::Opaque(why)) | Err(why) => (None, Err(why)),
                };
                files.push(DeltaFile {
                    key: key.clone(),
                    original,
                    state,
                });
                files.len() - 1
            }
        };
        let entry = &mut files[idx];
        if let Ok(current) = &entry.state {
            let existing = if entry.original.is_none() && current.is_empty() {
                None
            } else {
                Some(current.as_str())
            };
            entry.state = apply_block(existing, block).map_err(|e| format!("{}: {e}", block.path));
        }
    }
    Ok(files
        .into_iter()
        .map(|f| {
            let rel = f.key.display().to_string();
            f.state
                .map(|new| (rel, f.original.unwrap_or_default(), new))
        })
        .collect())
}

/// `apply_delta {text}`: every CHANGE block; each file is all-or-nothing.
pub fn apply_delta(job: &Job, args: &Value) -> ToolOutcome {
    let plans = match plan_delta(job, args) {
        Ok(p) => p,
        Err(e) => return ToolOutcome::error(e),
    };
    let mut report = Vec::new();
    let mut changes = Vec::new();
    let mut ok = true;
    for plan in plans {
        match plan.and_then(|(rel, old, new)| commit(job, &rel, &old, &new)) {
            Ok((change, _)) => {
                report.push(format!("applied changes to {}", change.path));
                changes.push(change);
            }
            Err(e) => {
                ok = false;
                report.push(format!("NOT applied: {e}"));
            }
        }
    }
    ToolOutcome {
        ok,
        changes,
        ..ToolOutcome::ok(report.join("\n"))
    }
}

/// The diff a write, edit or delta would make, for an approval request.
pub fn preview_diff(job: &Job, tool: &str, args: &Value) -> Option<String> {
    let plans = match tool {
        "write_file" => vec![plan_write(job, args)],
        "edit_file" => vec![plan_edit(job, args)],
        "apply_delta" => plan_delta(job, args).ok()?,
        _ => return None,
    };
    let diffs: Vec<String> = plans
        .into_iter()
        .filter_map(Result::ok)
        .map(|(rel, old, new)| unified(&rel, &old, &new))
        .collect();
    (!diffs.is_empty()).then(|| diffs.join(""))
}

#[cfg(test)]
#[path = "files_tests.rs"]
mod tests;
