//! The file tools: read_file, write_file, edit_file, apply_delta. Blocking file I/O; the
//! executor runs these on the blocking pool.

use std::path::Path;

use serde_json::Value;

use super::args::{opt_u64, req_str};
use crate::tools::confine::{relative, resolve};
use crate::tools::delta::{apply_block, closest_lines, parse_blocks};
use crate::tools::diff::unified;
use crate::tools::{FileChange, ToolOutcome};

/// Most bytes read_file returns.
const READ_CAP: usize = 256 * 1024;
/// Default number of lines read_file returns.
const READ_LINES: u64 = 2000;

fn read_text(path: &Path, shown: &str) -> Result<Option<String>, String> {
    match std::fs::read(path) {
        Ok(bytes) => {
            if bytes.iter().take(8192).any(|&b| b == 0) {
                return Err(format!(
                    "{shown} is a binary file; it cannot be read or edited as text"
                ));
            }
            String::from_utf8(bytes)
                .map(Some)
                .map_err(|_| format!("{shown} is not valid UTF-8 text"))
        }
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
        Err(e) => Err(format!("cannot read {shown}: {e}")),
    }
}

/// Writes through a temp file in the same directory and a rename: never half-written.
pub fn write_atomic(path: &Path, content: &str) -> Result<(), String> {
    let dir = path.parent().ok_or("the path has no parent directory")?;
    std::fs::create_dir_all(dir).map_err(|e| format!("cannot create {}: {e}", dir.display()))?;
    let mut tmp = tempfile::NamedTempFile::new_in(dir)
        .map_err(|e| format!("cannot write in {}: {e}", dir.display()))?;
    std::io::Write::write_all(&mut tmp, content.as_bytes())
        .map_err(|e| format!("write failed: {e}"))?;
    if let Ok(meta) = std::fs::metadata(path) {
        let _ = std::fs::set_permissions(tmp.path(), meta.permissions());
    }
    tmp.persist(path)
        .map_err(|e| format!("cannot replace {}: {e}", path.display()))?;
    Ok(())
}

/// `read_file {path, offset?, limit?}`.
pub fn read_file(root: &Path, args: &Value) -> ToolOutcome {
    let run = || -> Result<ToolOutcome, String> {
        let shown = req_str(args, "path")?;
        let path = resolve(root, shown)?;
        if path.is_dir() {
            return Err(format!(
                "{shown} is a directory; use list_files to see what is in it"
            ));
        }
        let text = read_text(&path, shown)?.ok_or_else(|| format!("{shown} does not exist"))?;
        let offset = opt_u64(args, "offset")?.unwrap_or(1).max(1);
        let limit = opt_u64(args, "limit")?.unwrap_or(READ_LINES).max(1);
        let total = text.lines().count() as u64;
        let mut out = String::new();
        let mut truncated = false;
        for (i, line) in text
            .lines()
            .enumerate()
            .skip(offset as usize - 1)
            .take(limit as usize)
        {
            if out.len() + line.len() > READ_CAP {
                truncated = true;
                break;
            }
            out.push_str(&format!("{:>6}\t{line}\n", i + 1));
        }
        let last = offset - 1 + limit;
        if last < total || truncated {
            truncated = true;
            out.push_str(&format!("[{total} lines in all; read more with offset]\n"));
        }
        if out.is_empty() {
            out = if total == 0 {
                "[empty file]\n".to_owned()
            } else {
                format!("[no lines at offset {offset}; the file has {total}]\n")
            };
        }
        Ok(ToolOutcome {
            truncated,
            ..ToolOutcome::ok(out)
        })
    };
    run().unwrap_or_else(ToolOutcome::error)
}

/// A planned change: resolved path, old text, new text.
type Plan = (std::path::PathBuf, String, String);

/// One file touched by CHANGE blocks while they are applied in order.
struct DeltaFile {
    path: std::path::PathBuf,
    /// The file's text before any block (None: it does not exist).
    original: Option<String>,
    /// The text after the blocks so far, or the first error.
    state: Result<String, String>,
}

/// What write_file would produce.
fn plan_write(root: &Path, args: &Value) -> Result<Plan, String> {
    let shown = req_str(args, "path")?;
    let content = req_str(args, "content")?;
    let path = resolve(root, shown)?;
    if path.is_dir() {
        return Err(format!("{shown} is a directory"));
    }
    let old = read_text(&path, shown)?.unwrap_or_default();
    Ok((path, old, content.to_owned()))
}

/// What edit_file would produce.
fn plan_edit(root: &Path, args: &Value) -> Result<Plan, String> {
    let shown = req_str(args, "path")?;
    let old_text = req_str(args, "old")?;
    let new_text = req_str(args, "new")?;
    let replace_all = args
        .get("replace_all")
        .and_then(Value::as_bool)
        .unwrap_or(false);
    let path = resolve(root, shown)?;
    let original = read_text(&path, shown)?
        .ok_or_else(|| format!("{shown} does not exist; use write_file to create it"))?;
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
            let lines: Vec<String> = original
                .match_indices(old_text)
                .map(|(i, _)| (original[..i].matches('\n').count() + 1).to_string())
                .collect();
            return Err(format!(
                "`old` occurs {n} times in {shown} (lines {}); include more surrounding lines to make it unique, or set replace_all",
                lines.join(", ")
            ));
        }
    };
    Ok((path, original, updated))
}

fn commit(root: &Path, path: &Path, old: &str, new: &str) -> Result<FileChange, String> {
    write_atomic(path, new)?;
    let rel = relative(root, path);
    Ok(FileChange {
        diff: unified(&rel, old, new),
        path: rel,
    })
}

/// `write_file {path, content}`.
pub fn write_file(root: &Path, args: &Value) -> ToolOutcome {
    let run = || -> Result<ToolOutcome, String> {
        let (path, old, new) = plan_write(root, args)?;
        let existed = path.exists();
        let change = commit(root, &path, &old, &new)?;
        let verb = if existed { "wrote" } else { "created" };
        let msg = format!("{verb} {} ({} bytes)", change.path, new.len());
        Ok(ToolOutcome {
            changes: vec![change],
            ..ToolOutcome::ok(msg)
        })
    };
    run().unwrap_or_else(ToolOutcome::error)
}

/// `edit_file {path, old, new, replace_all?}`.
pub fn edit_file(root: &Path, args: &Value) -> ToolOutcome {
    let run = || -> Result<ToolOutcome, String> {
        let (path, old, new) = plan_edit(root, args)?;
        let change = commit(root, &path, &old, &new)?;
        let msg = format!("edited {}", change.path);
        Ok(ToolOutcome {
            changes: vec![change],
            ..ToolOutcome::ok(msg)
        })
    };
    run().unwrap_or_else(ToolOutcome::error)
}

/// What `apply_delta` would do to each file: (path, old, new) or the error per block.
fn plan_delta(root: &Path, args: &Value) -> Result<Vec<Result<Plan, String>>, String> {
    let text = req_str(args, "text")?;
    let blocks = parse_blocks(text);
    if blocks.is_empty() {
        return Err("no CHANGE: blocks found; the format is `CHANGE: path`, `<<<<<<< CURRENT`, lines, `=======`, lines, `>>>>>>> NEW`".to_owned());
    }
    // Blocks for the same file apply in order on the evolving text.
    let mut files: Vec<DeltaFile> = Vec::new();
    for block in &blocks {
        let path = match resolve(root, &block.path) {
            Ok(p) => p,
            Err(e) => {
                files.push(DeltaFile {
                    path: root.join("?"),
                    original: None,
                    state: Err(e),
                });
                continue;
            }
        };
        let idx = match files.iter().position(|f| f.path == path) {
            Some(i) => i,
            None => {
                let (original, state) = match read_text(&path, &block.path) {
                    Ok(o) => (o.clone(), Ok(o.unwrap_or_default())),
                    Err(e) => (None, Err(e)),
                };
                files.push(DeltaFile {
                    path: path.clone(),
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
            f.state
                .map(|new| (f.path, f.original.unwrap_or_default(), new))
        })
        .collect())
}

/// `apply_delta {text}`: every CHANGE block; each file is all-or-nothing.
pub fn apply_delta(root: &Path, args: &Value) -> ToolOutcome {
    let plans = match plan_delta(root, args) {
        Ok(p) => p,
        Err(e) => return ToolOutcome::error(e),
    };
    let mut report = Vec::new();
    let mut changes = Vec::new();
    let mut ok = true;
    for plan in plans {
        match plan.and_then(|(path, old, new)| commit(root, &path, &old, &new)) {
            Ok(change) => {
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
pub fn preview_diff(root: &Path, tool: &str, args: &Value) -> Option<String> {
    let plans = match tool {
        "write_file" => vec![plan_write(root, args)],
        "edit_file" => vec![plan_edit(root, args)],
        "apply_delta" => plan_delta(root, args).ok()?,
        _ => return None,
    };
    let diffs: Vec<String> = plans
        .into_iter()
        .filter_map(Result::ok)
        .map(|(path, old, new)| unified(&relative(root, &path), &old, &new))
        .collect();
    (!diffs.is_empty()).then(|| diffs.join(""))
}

#[cfg(test)]
#[path = "files_tests.rs"]
mod tests;
