//! list_files and search: gitignore-aware walks of the project (the `ignore` crate, as
//! ripgrep does), sorted and capped with a total count.

use std::path::Path;

use serde_json::Value;

use super::args::{opt_str, req_str};
use crate::tools::ToolOutcome;
use crate::tools::confine::{relative, resolve};

/// Most entries list_files shows.
const LIST_CAP: usize = 1000;
/// Most matches search shows.
const SEARCH_CAP: usize = 200;
/// Longest matching line shown.
const LINE_CLIP: usize = 300;

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
pub fn list_files(root: &Path, args: &Value) -> ToolOutcome {
    let run = || -> Result<ToolOutcome, String> {
        let shown = opt_str(args, "path")?.unwrap_or("");
        let dir = resolve(root, shown)?;
        if !dir.is_dir() {
            return Err(format!("{shown} is not a directory"));
        }
        let glob = opt_str(args, "glob")?;
        let mut entries = Vec::new();
        let mut total = 0usize;
        for entry in walker(&dir, glob)?.flatten() {
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

/// `search {pattern, path?, glob?}`: regex over text files.
pub fn search(root: &Path, args: &Value) -> ToolOutcome {
    let run = || -> Result<ToolOutcome, String> {
        let pattern = req_str(args, "pattern")?;
        let re =
            regex::Regex::new(pattern).map_err(|e| format!("invalid regex {pattern:?}: {e}"))?;
        let shown = opt_str(args, "path")?.unwrap_or("");
        let start = resolve(root, shown)?;
        let mut hits = Vec::new();
        let mut total = 0usize;
        for entry in walker(&start, opt_str(args, "glob")?)?.flatten() {
            if !entry.file_type().is_some_and(|t| t.is_file()) {
                continue;
            }
            let Ok(bytes) = std::fs::read(entry.path()) else {
                continue;
            };
            if bytes.iter().take(8192).any(|&b| b == 0) {
                continue; // binary
            }
            let text = String::from_utf8_lossy(&bytes);
            let rel = relative(root, entry.path());
            for (i, line) in text.lines().enumerate() {
                if re.is_match(line) {
                    total += 1;
                    if hits.len() < SEARCH_CAP {
                        let clipped: String = line.chars().take(LINE_CLIP).collect();
                        hits.push(format!("{rel}:{}: {clipped}", i + 1));
                    }
                }
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
