use super::*;
use pretty_assertions::assert_eq;
use serde_json::json;

fn project() -> (tempfile::TempDir, std::path::PathBuf) {
    let d = tempfile::tempdir().unwrap();
    let root = std::fs::canonicalize(d.path()).unwrap();
    std::fs::write(root.join("a.txt"), "one\ntwo\nthree\n").unwrap();
    (d, root)
}

#[test]
fn read_file_numbers_lines_pages_and_refuses_binary_and_dirs() {
    let (_d, root) = project();
    let out = read_file(&root, &json!({"path": "a.txt"}));
    assert_eq!(out.output, "     1\tone\n     2\ttwo\n     3\tthree\n");
    let page = read_file(&root, &json!({"path": "a.txt", "offset": 2, "limit": 1}));
    assert_eq!(
        page.output,
        "     2\ttwo\n[3 lines in all; read more with offset]\n"
    );
    assert!(page.truncated);
    std::fs::write(root.join("b.bin"), [1u8, 0, 2]).unwrap();
    let bin = read_file(&root, &json!({"path": "b.bin"}));
    assert!(!bin.ok && bin.output.contains("binary"), "{}", bin.output);
    assert!(!read_file(&root, &json!({"path": "."})).ok);
    assert!(!read_file(&root, &json!({"path": "nope"})).ok);
    assert!(!read_file(&root, &json!({})).output.is_empty());
}

#[test]
fn write_file_creates_parents_atomically_with_a_diff() {
    let (_d, root) = project();
    let out = write_file(&root, &json!({"path": "x/y/z.txt", "content": "hi\n"}));
    assert!(out.ok, "{}", out.output);
    assert_eq!(
        std::fs::read_to_string(root.join("x/y/z.txt")).unwrap(),
        "hi\n"
    );
    assert_eq!(out.changes[0].path, "x/y/z.txt");
    assert!(out.changes[0].diff.contains("+hi"));
    // No temp files left behind.
    let names: Vec<_> = std::fs::read_dir(root.join("x/y"))
        .unwrap()
        .map(|e| e.unwrap().file_name())
        .collect();
    assert_eq!(names, vec![std::ffi::OsString::from("z.txt")]);
    assert!(!write_file(&root, &json!({"path": "../escape", "content": ""})).ok);
}

#[test]
fn edit_file_unique_match_replace_all_and_closest_lines() {
    let (_d, root) = project();
    let out = edit_file(
        &root,
        &json!({"path": "a.txt", "old": "two\n", "new": "2\n"}),
    );
    assert!(out.ok, "{}", out.output);
    assert_eq!(
        std::fs::read_to_string(root.join("a.txt")).unwrap(),
        "one\n2\nthree\n"
    );
    let missing = edit_file(
        &root,
        &json!({"path": "a.txt", "old": "thre\n", "new": "x"}),
    );
    assert!(!missing.ok);
    assert!(
        missing.output.contains("     3\tthree"),
        "{}",
        missing.output
    );
    std::fs::write(root.join("r.txt"), "x x x\n").unwrap();
    let many = edit_file(&root, &json!({"path": "r.txt", "old": "x", "new": "y"}));
    assert!(
        !many.ok && many.output.contains("3 times"),
        "{}",
        many.output
    );
    let all = edit_file(
        &root,
        &json!({"path": "r.txt", "old": "x", "new": "y", "replace_all": true}),
    );
    assert!(all.ok);
    assert_eq!(
        std::fs::read_to_string(root.join("r.txt")).unwrap(),
        "y y y\n"
    );
}

#[test]
fn apply_delta_applies_blocks_per_file_and_reports_failures() {
    let (_d, root) = project();
    let text = "CHANGE: a.txt\n<<<<<<< CURRENT\none\ntwo\n=======\nONE\n>>>>>>> NEW\nCHANGE: new/file.txt\n<<<<<<< CURRENT\n=======\nfresh\n>>>>>>> NEW\nCHANGE: a.txt\n<<<<<<< CURRENT\nthree\n=======\nTHREE\n>>>>>>> NEW\n";
    let out = apply_delta(&root, &json!({"text": text}));
    assert!(out.ok, "{}", out.output);
    assert_eq!(
        std::fs::read_to_string(root.join("a.txt")).unwrap(),
        "ONE\nTHREE\n"
    );
    assert_eq!(
        std::fs::read_to_string(root.join("new/file.txt")).unwrap(),
        "fresh\n"
    );
    assert_eq!(out.changes.len(), 2);
    let bad = apply_delta(
        &root,
        &json!({"text": "CHANGE: a.txt\n<<<<<<< CURRENT\nnot there\n=======\nx\n>>>>>>> NEW\n"}),
    );
    assert!(
        !bad.ok && bad.output.contains("NOT applied"),
        "{}",
        bad.output
    );
    assert_eq!(
        std::fs::read_to_string(root.join("a.txt")).unwrap(),
        "ONE\nTHREE\n"
    );
    assert!(!apply_delta(&root, &json!({"text": "no blocks"})).ok);
}

#[test]
fn preview_shows_the_diff_without_writing() {
    let (_d, root) = project();
    let diff = preview_diff(
        &root,
        "edit_file",
        &json!({"path": "a.txt", "old": "one", "new": "uno"}),
    )
    .unwrap();
    assert!(diff.contains("-one\n+uno\n"), "{diff}");
    assert_eq!(
        std::fs::read_to_string(root.join("a.txt")).unwrap(),
        "one\ntwo\nthree\n"
    );
}
