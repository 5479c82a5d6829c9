//! Snapshots on a large project (issue 15): a generated git repository of 20,000 files
//! (200 directories of 100 files, about 2 KB each, plus a `target/` of build output that is
//! never recorded). Measures the first snapshot into a fresh shadow repository, later
//! snapshots with nothing and with 20 files changed, and an undo of a turn that changed
//! 20 files (the same steps as `session.revert`: snapshot now, drift check, restore, remove).
//!
//! Run: `cargo bench -p botcoder-tests --bench snapshot` (add `--profile release`-built
//! daemon code: cargo bench always builds optimised). Knobs: `BENCH_FILES` (20000),
//! `BENCH_RUNS` (5, later snapshots and undos, median reported).

// Bench code: a failed expectation aborts the run.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::path::Path;
use std::process::Command;
use std::time::{Duration, Instant};

use botcoder_daemon::snapshot::Shadow;
use botcoder_daemon::snapshot::revert::apply;

fn knob(name: &str, default: usize) -> usize {
    std::env::var(name)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

fn git(dir: &Path, args: &[&str]) {
    let ok = Command::new("git")
        .args(args)
        .current_dir(dir)
        .env("GIT_CONFIG_GLOBAL", "/dev/null")
        .env("GIT_AUTHOR_NAME", "b")
        .env("GIT_AUTHOR_EMAIL", "b@b")
        .env("GIT_COMMITTER_NAME", "b")
        .env("GIT_COMMITTER_EMAIL", "b@b")
        .status()
        .unwrap()
        .success();
    assert!(ok, "git {args:?}");
}

fn generate(root: &Path, files: usize) {
    let per_dir = 100;
    for i in 0..files {
        let dir = root.join(format!("src/m{:03}", i / per_dir));
        if i % per_dir == 0 {
            std::fs::create_dir_all(&dir).unwrap();
        }
        let body: String = (0..40)
            .map(|l| format!("fn f{i}_{l}() -> u64 {{ {i} * {l} }} // line {l}\n"))
            .collect();
        std::fs::write(dir.join(format!("f{i:05}.rs")), body).unwrap();
    }
    std::fs::create_dir_all(root.join("target/debug")).unwrap();
    for i in 0..500 {
        std::fs::write(root.join(format!("target/debug/o{i}.o")), [0u8; 4096]).unwrap();
    }
    std::fs::write(root.join(".gitignore"), "target/\n").unwrap();
    git(root, &["init", "-q"]);
    git(root, &["add", "-A"]);
    git(root, &["commit", "-q", "-m", "generated"]);
}

/// A turn's worth of changes: 10 edited, 5 created, 5 deleted files.
fn turn_changes(root: &Path, round: usize) {
    for i in 0..10 {
        let f = root.join(format!("src/m{:03}/f{:05}.rs", i * 7, i * 700));
        let mut text = std::fs::read_to_string(&f).unwrap_or_default();
        text.push_str(&format!("// edit {round}\n"));
        std::fs::write(f, text).unwrap();
    }
    for i in 0..5 {
        std::fs::write(root.join(format!("src/new_{round}_{i}.rs")), "new\n").unwrap();
        let _ =
            std::fs::remove_file(root.join(format!("src/m150/f{:05}.rs", 15_000 + i + 5 * round)));
    }
}

fn median(mut v: Vec<Duration>) -> Duration {
    v.sort();
    v[v.len() / 2]
}

fn ms(d: Duration) -> String {
    format!("{:.1} ms", d.as_secs_f64() * 1000.0)
}

#[tokio::main(flavor = "multi_thread", worker_threads = 2)]
async fn main() {
    let files = knob("BENCH_FILES", 20_000);
    let runs = knob("BENCH_RUNS", 5);
    let tmp = tempfile::tempdir().unwrap();
    let project = tmp.path().join("project");
    std::fs::create_dir(&project).unwrap();
    let project = project.canonicalize().unwrap();
    let t = Instant::now();
    generate(&project, files);
    eprintln!(
        "generated {files} files (+500 ignored) in {}",
        ms(t.elapsed())
    );
    let shadow = Shadow::new(tmp.path().join("shadow"), project.clone());

    let t = Instant::now();
    let first = shadow.snapshot().await.unwrap();
    let first_time = t.elapsed();

    let mut unchanged = Vec::new();
    for _ in 0..runs {
        let t = Instant::now();
        shadow.snapshot().await.unwrap();
        unchanged.push(t.elapsed());
    }

    let mut changed = Vec::new();
    let mut undo = Vec::new();
    let mut before = first;
    for round in 0..runs {
        turn_changes(&project, round);
        let t = Instant::now();
        let after = shadow.snapshot().await.unwrap();
        changed.push(t.elapsed());
        let moves = shadow.changes(&before, &after).await.unwrap();
        assert_eq!(moves.len(), 20, "{moves:?}");
        let t = Instant::now();
        apply(&shadow, &moves, &after, &before, false, "undo")
            .await
            .unwrap();
        undo.push(t.elapsed());
        before = shadow.snapshot().await.unwrap();
        assert!(shadow.changes(&before, &before).await.unwrap().is_empty());
    }
    let size = dir_size(shadow.dir());
    println!("snapshot bench: {files} files");
    println!(
        "  first snapshot           {}  (goal <= 2 s)",
        ms(first_time)
    );
    println!(
        "  later, nothing changed   {}  (median of {runs}; goal <= 200 ms)",
        ms(median(unchanged))
    );
    println!(
        "  later, 20 files changed  {}  (median of {runs}; goal <= 200 ms)",
        ms(median(changed))
    );
    println!(
        "  undo of 20 files         {}  (median of {runs}; goal <= 500 ms)",
        ms(median(undo))
    );
    println!("  shadow repository        {:.1} MB", size as f64 / 1e6);
}

fn dir_size(dir: &Path) -> u64 {
    std::fs::read_dir(dir)
        .into_iter()
        .flatten()
        .flatten()
        .map(|e| match e.file_type() {
            Ok(t) if t.is_dir() => dir_size(&e.path()),
            _ => e.metadata().map_or(0, |m| m.len()),
        })
        .sum()
}
