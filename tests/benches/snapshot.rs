//! Snapshots on a large project (issue 15): a generated git repository of 20,000 files
//! (200 directories of 100 files, about 2 KB each, plus a `target/` of build output that is
//! never recorded). Measures the first snapshot into a fresh shadow repository, later
//! snapshots with nothing and with 20 files changed, and an undo of a turn that changed
//! 20 files (the same steps as `session.revert`: snapshot now, drift check, restore, remove).
//!
//! Run: `cargo bench -p botcoder-tests --bench snapshot` (`--profile dev` measures the same:
//! git does the work). Knobs: `BENCH_FILES` (20000), `BENCH_RUNS` (5, later snapshots and
//! undos, median reported). Beside each wall time the CPU time git used (user + system,
//! from `/proc/self/stat`, 10 ms ticks) is printed: on a shared machine wall times follow
//! the load, CPU times much less.

// Bench code: a failed expectation aborts the run.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::path::Path;
use std::process::Command;
use std::time::{Duration, Instant};

use botcoder_daemon::snapshot::Shadow;
use botcoder_daemon::snapshot::apply::apply;

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

/// CPU time (user + system) of this process's waited-for children so far: the git calls.
fn child_cpu() -> Duration {
    let stat = std::fs::read_to_string("/proc/self/stat").unwrap_or_default();
    // Fields after the command name, which is in parentheses and may contain spaces.
    let rest = stat.rsplit_once(')').map_or("", |(_, r)| r);
    let f: Vec<u64> = rest
        .split_whitespace()
        .map(|x| x.parse().unwrap_or(0))
        .collect();
    // cutime and cstime are fields 16 and 17 of the whole line; `rest` starts at field 3.
    let ticks = f.get(13).copied().unwrap_or(0) + f.get(14).copied().unwrap_or(0);
    Duration::from_millis(ticks * 1000 / clock_ticks())
}

fn clock_ticks() -> u64 {
    Command::new("getconf")
        .arg("CLK_TCK")
        .output()
        .ok()
        .and_then(|o| String::from_utf8_lossy(&o.stdout).trim().parse().ok())
        .filter(|t| *t > 0)
        .unwrap_or(100)
}

/// Wall time and git's CPU time of `f`.
async fn timed<T>(f: impl std::future::Future<Output = T>) -> (T, Duration, Duration) {
    let (t, cpu) = (Instant::now(), child_cpu());
    let out = f.await;
    (out, t.elapsed(), child_cpu().saturating_sub(cpu))
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

    let (first, first_time, first_cpu) = timed(shadow.snapshot()).await;
    let first = first.unwrap();

    let (mut unchanged, mut unchanged_cpu) = (Vec::new(), Vec::new());
    for _ in 0..runs {
        let (tree, wall, cpu) = timed(shadow.snapshot()).await;
        tree.unwrap();
        unchanged.push(wall);
        unchanged_cpu.push(cpu);
    }

    let (mut changed, mut changed_cpu) = (Vec::new(), Vec::new());
    let (mut undo, mut undo_cpu) = (Vec::new(), Vec::new());
    let mut before = first;
    for round in 0..runs {
        turn_changes(&project, round);
        let (after, wall, cpu) = timed(shadow.snapshot()).await;
        let after = after.unwrap();
        changed.push(wall);
        changed_cpu.push(cpu);
        let moves = shadow.changes(&before, &after).await.unwrap();
        assert_eq!(moves.len(), 20, "{moves:?}");
        let (done, wall, cpu) = timed(apply(&shadow, &moves, &after, &before, false, "undo")).await;
        done.unwrap();
        undo.push(wall);
        undo_cpu.push(cpu);
        before = shadow.snapshot().await.unwrap();
        assert!(shadow.changes(&before, &before).await.unwrap().is_empty());
    }
    let size = dir_size(shadow.dir());
    println!("snapshot bench: {files} files");
    println!(
        "  first snapshot           {}  git CPU {}  (goal <= 2 s)",
        ms(first_time),
        ms(first_cpu)
    );
    println!(
        "  later, nothing changed   {}  git CPU {}  (median of {runs}; goal <= 200 ms)",
        ms(median(unchanged)),
        ms(median(unchanged_cpu))
    );
    println!(
        "  later, 20 files changed  {}  git CPU {}  (median of {runs}; goal <= 200 ms)",
        ms(median(changed)),
        ms(median(changed_cpu))
    );
    println!(
        "  undo of 20 files         {}  git CPU {}  (median of {runs}; goal <= 500 ms)",
        ms(median(undo)),
        ms(median(undo_cpu))
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
