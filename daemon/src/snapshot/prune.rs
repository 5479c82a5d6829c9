//! Keeping the shadow repositories bounded: snapshots older than [`MAX_AGE`] are dropped,
//! unreachable objects collected, and a shadow still over [`MAX_BYTES`] (or whose project
//! is gone) is removed whole. Runs in the background at start and then daily.

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use super::Snapshots;

/// Snapshots older than this are dropped (their turns can no longer be undone).
pub const MAX_AGE: Duration = Duration::from_secs(14 * 24 * 3600);
/// A shadow larger than this after collection is removed.
pub const MAX_BYTES: u64 = 2 * 1024 * 1024 * 1024;
/// How often pruning runs.
const EVERY: Duration = Duration::from_secs(24 * 3600);

/// Prunes every shadow now, then every [`EVERY`], until `stop`.
pub async fn run(store: Arc<Snapshots>, stop: tokio_util::sync::CancellationToken) {
    loop {
        prune_all(&store, MAX_AGE, MAX_BYTES).await;
        tokio::select! {
            () = stop.cancelled() => return,
            () = tokio::time::sleep(EVERY) => {}
        }
    }
}

/// One pass over every shadow under the store's root.
pub async fn prune_all(store: &Snapshots, max_age: Duration, max_bytes: u64) {
    let root = store.root().to_path_buf();
    let dirs = tokio::task::spawn_blocking(move || shadows(&root))
        .await
        .unwrap_or_default();
    for (dir, project) in dirs {
        if let Err(e) = prune_one(store, &dir, &project, max_age, max_bytes).await {
            tracing::warn!(shadow = %dir.display(), error = %e, "pruning snapshots failed");
        }
    }
}

/// Shadow dirs with the project each names.
fn shadows(root: &Path) -> Vec<(PathBuf, PathBuf)> {
    let Ok(entries) = std::fs::read_dir(root) else {
        return Vec::new();
    };
    entries
        .flatten()
        .filter_map(|e| {
            let project = std::fs::read_to_string(e.path().join("botcoder-project")).ok()?;
            Some((e.path(), PathBuf::from(project.trim())))
        })
        .collect()
}

async fn prune_one(
    store: &Snapshots,
    dir: &Path,
    project: &Path,
    max_age: Duration,
    max_bytes: u64,
) -> Result<(), super::SnapshotError> {
    let (shadow, lock) = store.shadow(project);
    if shadow.dir() != dir {
        return Ok(()); // not one of ours by name
    }
    let _held = lock.lock().await;
    if !tokio::fs::metadata(project).await.is_ok_and(|m| m.is_dir()) {
        tracing::info!(shadow = %dir.display(), project = %project.display(), "project is gone; removing its snapshots");
        return remove(dir).await;
    }
    let now = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_secs());
    let cutoff = now.saturating_sub(max_age.as_secs());
    let refs = shadow
        .maintain(&[
            "for-each-ref",
            "--format=%(committerdate:unix) %(refname)",
            "refs/botcoder/",
        ])
        .await?;
    let old: Vec<String> = String::from_utf8_lossy(&refs)
        .lines()
        .filter_map(|l| {
            let (date, name) = l.split_once(' ')?;
            (date.parse::<u64>().ok()? < cutoff).then(|| format!("delete {name}\n"))
        })
        .collect();
    if !old.is_empty() {
        shadow
            .git()
            .ok(&["update-ref", "--stdin"], Some(old.concat().into_bytes()))
            .await?;
        tracing::info!(shadow = %dir.display(), dropped = old.len(), "old snapshots dropped");
    }
    shadow.maintain(&["gc", "--quiet", "--prune=now"]).await?;
    let d = dir.to_path_buf();
    let size = tokio::task::spawn_blocking(move || dir_size(&d))
        .await
        .unwrap_or(0);
    if size > max_bytes {
        tracing::warn!(shadow = %dir.display(), size, max_bytes, "snapshot repository over its size bound; removing it (earlier turns can no longer be undone)");
        return remove(dir).await;
    }
    Ok(())
}

async fn remove(dir: &Path) -> Result<(), super::SnapshotError> {
    let d = dir.to_path_buf();
    tokio::task::spawn_blocking(move || std::fs::remove_dir_all(d))
        .await
        .map_err(|e| std::io::Error::other(e.to_string()))??;
    Ok(())
}

fn dir_size(dir: &Path) -> u64 {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return 0;
    };
    entries
        .flatten()
        .map(|e| match e.file_type() {
            Ok(t) if t.is_dir() => dir_size(&e.path()),
            Ok(_) => e.metadata().map_or(0, |m| m.len()),
            Err(_) => 0,
        })
        .sum()
}
