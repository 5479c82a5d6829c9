//! Keeping file tools inside the project root (invariant I6): no absolute paths, no `..`
//! that leaves the root, no symlink (planted or dangling) that resolves outside it.

use std::path::{Component, Path, PathBuf};

/// Resolves `user_path` (relative to `root`) to a path inside `root`, or says why not.
/// `root` must be canonical. The deepest existing ancestor is canonicalized, so symlinks
/// anywhere on the way are followed before the check; the rest must be plain names.
pub fn resolve(root: &Path, user_path: &str) -> Result<PathBuf, String> {
    let refuse = |why: &str| Err(format!("refused path {user_path:?}: {why}"));
    let trimmed = user_path.trim();
    if trimmed.is_empty() {
        return Ok(root.to_path_buf());
    }
    let p = Path::new(trimmed);
    if p.is_absolute() {
        return refuse("absolute paths are not allowed; use a path relative to the project root");
    }
    let mut lexical = PathBuf::new();
    for c in p.components() {
        match c {
            Component::Normal(n) => lexical.push(n),
            Component::CurDir => {}
            Component::ParentDir => {
                if !lexical.pop() {
                    return refuse("it leaves the project root");
                }
            }
            Component::RootDir | Component::Prefix(_) => {
                return refuse("absolute paths are not allowed");
            }
        }
    }
    let full = root.join(&lexical);
    // Canonicalize the longest existing prefix (following symlinks), keep the rest.
    let mut existing = full.clone();
    let mut rest = Vec::new();
    loop {
        match std::fs::symlink_metadata(&existing) {
            Ok(meta) if meta.file_type().is_symlink() => {
                // A symlink: it must resolve (a dangling link could be created outside).
                match std::fs::canonicalize(&existing) {
                    Ok(_) => break,
                    Err(_) => return refuse("it is a symlink whose target does not exist"),
                }
            }
            Ok(_) => break,
            Err(_) => match (
                existing.file_name().map(|n| n.to_os_string()),
                existing.parent(),
            ) {
                (Some(name), Some(parent)) => {
                    rest.push(name);
                    existing = parent.to_path_buf();
                }
                _ => return refuse("it cannot be resolved"),
            },
        }
    }
    let mut resolved =
        std::fs::canonicalize(&existing).map_err(|e| format!("refused path {user_path:?}: {e}"))?;
    for name in rest.into_iter().rev() {
        resolved.push(name);
    }
    if !resolved.starts_with(root) {
        return refuse("it resolves outside the project root (through a symlink)");
    }
    Ok(resolved)
}

/// `path` relative to `root`, for messages and events.
pub fn relative(root: &Path, path: &Path) -> String {
    path.strip_prefix(root)
        .unwrap_or(path)
        .display()
        .to_string()
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::unix::fs::symlink;

    fn setup() -> (tempfile::TempDir, PathBuf, tempfile::TempDir) {
        let dir = tempfile::tempdir().unwrap();
        let root = std::fs::canonicalize(dir.path()).unwrap();
        std::fs::create_dir_all(root.join("src")).unwrap();
        std::fs::write(root.join("src/main.rs"), "fn main() {}").unwrap();
        let outside = tempfile::tempdir().unwrap();
        std::fs::write(outside.path().join("secret"), "s").unwrap();
        (dir, root, outside)
    }

    #[test]
    fn plain_relative_paths_resolve_inside() {
        let (_d, root, _o) = setup();
        assert_eq!(
            resolve(&root, "src/main.rs").unwrap(),
            root.join("src/main.rs")
        );
        assert_eq!(
            resolve(&root, "./src/../src/new.rs").unwrap(),
            root.join("src/new.rs")
        );
        assert_eq!(resolve(&root, "a/b/c.txt").unwrap(), root.join("a/b/c.txt"));
        assert_eq!(resolve(&root, "").unwrap(), root);
    }

    #[test]
    fn traversal_and_absolute_paths_are_refused() {
        let (_d, root, _o) = setup();
        for bad in [
            "../x",
            "/etc/passwd",
            "a/../../x",
            "src/../../etc",
            "..",
            "../../../../../../etc/shadow",
        ] {
            let err = resolve(&root, bad).unwrap_err();
            assert!(err.contains("refused"), "{bad}: {err}");
        }
    }

    #[test]
    fn symlinks_leading_outside_are_refused_for_read_and_write() {
        let (_d, root, outside) = setup();
        symlink(outside.path().join("secret"), root.join("link")).unwrap();
        symlink(outside.path(), root.join("outdir")).unwrap();
        symlink(outside.path().join("missing"), root.join("dangling")).unwrap();
        symlink(root.join("src"), root.join("inlink")).unwrap();
        assert!(resolve(&root, "link").is_err());
        assert!(resolve(&root, "outdir/secret").is_err());
        assert!(
            resolve(&root, "outdir/new-file").is_err(),
            "writing through a dir symlink"
        );
        assert!(resolve(&root, "dangling").is_err());
        // A symlink that stays inside is fine.
        assert_eq!(
            resolve(&root, "inlink/main.rs").unwrap(),
            root.join("src/main.rs")
        );
    }
}
