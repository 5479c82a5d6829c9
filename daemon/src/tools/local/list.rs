//! list_files and search: gitignore-aware walks of the project (the `ignore` crate, as
//! ripgrep does), sorted and capped with a total count.
//!
//! search streams each file line by line with a bounded reader rather than `grep-searcher`:
//! the walk yields paths, and each file must be reopened through [`Root`] (confined, FIFOs
//! refused) and checked against the cancel token between lines, which a searcher that owns
//! the read loop and calls back only on matches cannot do.

use std::io::{BufRead, BufReader};
use std::path::Path;

use serde_json::Value;

use super::args::{opt_str, req_str};
use super::textio::{CANCELLED, Job, looks_binary, read_line_capped};
use crate::tools::ToolOutcome;
use crate::tools::confine::{Root, relative, resolve};

/// Most entries list_files shows.
const LIST_CAP: usize = 1000;
/// Most matches search shows.
const SEARCH_CAP: usize = 200;
/// Longest matching line shown.
const LINE_CLIP: usize = 300;
/// Files larger than this are not searched (and the answer says how many were skipped).
const SEARCH_FILE_CAP: u64 = 10 * 1024 * 1024;
/// Bytes of a line a pattern is matched against.
const SEARCH_LINE_CAP: usize = 64 * 1024;
/// Lines between two looks at the cancel token.
const CHECK_LINES: usize = 1024;

fn walker(dir: &Path, glob: Option<&str>) -> Result<ignore::Walk, String> {
    let mut b = ignore::WalkBuilder::new(dir);
    b.sort_by_file_path(|a, b| a.cmp(b)).require_git(false);
    if let Some(g) = glob {
        let mut ob = ignore::overrides::OverrideBuilder::new(dir);
        ob.add(g).map_err(|e| format!("invalid glob {g:?}: {e}"))?;
        b.overrides(ob.build().map_err(|e| format!("invalid glob {g:?}: {e}"))?);
    }
    Ok(b.build())
}

/// `list_files {path?, glob?}`.
pub fn list_files(job: &Job, args: &Value) -> ToolOutcome {
    let root = job.root.path();
    let run = || -> Result<ToolOutcome, String> {
        let shown = opt_str(args, "path")?.unwrap_or("");
        let dir = resolve(root, shown)?;
        if !job.root.is_dir(shown) {
            return Err(format!("{shown} is not a directory"));
        }
        let glob = opt_str(args, "glob")?;
        let mut entries = Vec::new();
        let mut total = 0usize;
        for entry in walker(&dir, glob)?.flatten() {
            if job.cancelled() {
                return Err(CANCELLED.to_owned());
            }
            if entry.path() == dir {
                continue;
            }
            let is_dir = entry.file_type().is_some_and(|t| t.is_dir());
            if glob.is_some() && is_dir {
                continue;
            }
            total += 1;
            if entries.len() < LIST_CAP {
                let mut rel = relative(root, entry.path());
                if is_dir {
                    rel.push('/');
                }
                entries.push(rel);
            }
        }
        let truncated = total > entries.len();
        let mut out = entries.join("\n");
        if truncated {
            out.push_str(&format!(
                "\n[{total} entries in all; showing {}; narrow with path or glob]",
                entries.len()
            ));
        } else if out.is_empty() {
            out = "[no files]".to_owned();
        }
        Ok(ToolOutcome {
            truncated,
            ..ToolOutcome::ok(out)
        })
    };
    run().unwrap_or_else(ToolOutcome::error)
}

/// Matches of `re` in one file, streamed; `None` when the file was skipped as too large.
fn search_file(
    job: &Job,
    rel: &str,
    re: &regex::bytes::Regex,
    hits: &mut Vec<String>,
    total: &mut usize,
) -> Result<Option<()>, String> {
    // Reopened through the root: a name the walk saw may have been swapped since.
    let Ok(opened) = job.root.open_file(rel) else {
        return Ok(Some(()));
    };
    if opened.size > SEARCH_FILE_CAP {
        return Ok(None);
    }
    let mut r = BufReader::with_capacity(64 * 1024, opened.file);
    match r.fill_buf() {
        Ok(head) if !looks_binary(head) => {}
        _ => return Ok(Some(())),
    }
    let cancelled = || job.cancelled();
    let mut line = Vec::new();
    for n in 1usize.. {
        if n.is_multiple_of(CHECK_LINES) && job.cancelled() {
            return Err(CANCELLED.to_owned());
        }
        line.clear();
        match read_line_capped(&mut r, &mut line, SEARCH_LINE_CAP, &cancelled) {
            Ok(0) => break,
            Ok(_) => {}
            Err(e) if e.to_string() == CANCELLED => return Err(CANCELLED.to_owned()),
            Err(_) => break,
        }
        if re.is_match(&line) {
            *total += 1;
            if hits.len() < SEARCH_CAP {
                let text = String::from_utf8_lossy(&line);
                let text = text.trim_end_matches(['\n', '\r']);
                let clipped: String = text.chars().take(LINE_CLIP).collect();
                hits.push(format!("{rel}:{n}: {clipped}"));
            }
        }
    }
    Ok(Some(()))
}

/// `search {pattern, path?, glob?}`: regex over text files, streamed line by line; binary
/// files and files over 10 MB are skipped; cancellable between files and lines.
pub fn search(job: &Job, args: &Value) -> ToolOutcome {
    let root: &Root = &job.root;
    let run = || -> Result<ToolOutcome, String> {
        let pattern = req_str(args, "pattern")?;
        let re = regex::bytes::Regex::new(pattern)
            .map_err(|e| format!("invalid regex {pattern:?}: {e}"))?;
        let shown = opt_str(args, "path")?.unwrap_or("");
        let start = resolve(root.path(), shown)?;
        let mut hits = Vec::new();
        let mut total = 0usize;
        let mut too_big = 0usize;
        for entry in walker(&start, opt_str(args, "glob")?)?.flatten() {
            if job.cancelled() {
                return Err(CANCELLED.to_owned());
            }
            if !entry.file_type().is_some_and(|t| t.is_file()) {
                continue;
            }
            let rel = relative(root.path(), entry.path());
            if search_file(job, &rel, &re, &mut hits, &mut total)?.is_none() {
                too_big += 1;
            }
        }
        let truncated = total > hits.len();
        let mut out = hits.join("\n");
        if total == 0 {
            out = format!("no matches for {pattern:?}");
        } else {
            out.push_str(&format!(
                "\n[{total} matches{}]",
                if truncated {
                    format!(", first {} shown", hits.len())
                } else {
                    String::new()
                }
            ));
        }
        if too_big > 0 {
            out.push_str(&format!(
                "\n[{too_big} files over {} MB not searched]",
                SEARCH_FILE_CAP / (1024 * 1024)
            ));
        }
        Ok(ToolOutcome {
            truncated,
            ..ToolOutcome::ok(out)
        })
    };
    run().unwrap_or_else(ToolOutcome::error)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn job(root: &Path) -> Job {
        Job {
            root: Root::open(root).unwrap(),
            cancel: tokio_util::sync::CancellationToken::new(),
            editor: None,
        }
    }

    fn list_files(root: &Path, args: &Value) -> ToolOutcome {
        super::list_files(&job(root), args)
    }

    fn search(root: &Path, args: &Value) -> ToolOutcome {
        super::search(&job(root), args)
    }

    fn project() -> (tempfile::TempDir, std::path::PathBuf) {
        let d = tempfile::tempdir().unwrap();
        let root = std::fs::canonicalize(d.path()).unwrap();
        std::fs::create_dir_all(root.join("src")).unwrap();
        std::fs::create_dir_all(root.join("target")).unwrap();
        std::fs::write(root.join(".gitignore"), "target/\n").unwrap();
        std::fs::write(
            root.join("src/main.rs"),
            "fn main() {\n    println!(\"hello\");\n}\n",
        )
        .unwrap();
        std::fs::write(root.join("src/lib.rs"), "pub fn hello() {}\n").unwrap();
        std::fs::write(root.join("target/junk.rs"), "fn hello() {}\n").unwrap();
        std::fs::write(root.join("bin.dat"), [0u8, 1, 2, b'h']).unwrap();
        (d, root)
    }

    #[test]
    fn lists_sorted_and_respects_gitignore() {
        let (_d, root) = project();
        let out = list_files(&root, &json!({}));
        assert!(out.ok, "{}", out.output);
        // Hidden files (.gitignore) and ignored ones (target/) are skipped.
        assert_eq!(out.output, "bin.dat\nsrc/\nsrc/lib.rs\nsrc/main.rs");
        let rs = list_files(&root, &json!({"glob": "*.rs"}));
        assert_eq!(rs.output, "src/lib.rs\nsrc/main.rs");
        assert!(!list_files(&root, &json!({"path": "../"})).ok);
    }

    #[test]
    fn search_finds_matches_with_line_numbers_and_skips_ignored_and_binary() {
        let (_d, root) = project();
        let out = search(&root, &json!({"pattern": "hello"}));
        assert_eq!(
            out.output,
            "src/lib.rs:1: pub fn hello() {}\nsrc/main.rs:2:     println!(\"hello\");\n[2 matches]"
        );
        assert!(!search(&root, &json!({"pattern": "("})).ok);
        assert!(
            search(&root, &json!({"pattern": "zzz"}))
                .output
                .contains("no matches")
        );
    }

    #[test]
    fn listing_is_capped_with_a_total() {
        let (_d, root) = project();
        std::fs::create_dir_all(root.join("many")).unwrap();
        for i in 0..1100 {
            std::fs::write(root.join(format!("many/f{i:04}")), "").unwrap();
        }
        let out = list_files(&root, &json!({"path": "many"}));
        assert!(out.truncated);
        assert!(
            out.output
                .ends_with("[1100 entries in all; showing 1000; narrow with path or glob]"),
            "{}",
            &out.output[out.output.len() - 100..]
        );
    }
}
