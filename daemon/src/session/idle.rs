//! Unloading sessions nobody uses, so the daemon's memory stays flat however many sessions
//! it has touched (I10).
//!
//! A session is idle when no request or subscription holds a handle to it, no subscriber is
//! attached and no turn runs or waits (pending approvals belong to a running turn). After
//! [`idle_time`] of that its actor is stopped and its core dropped; the next request for it
//! loads it from the journal again, which costs milliseconds: seq continues, history and
//! conversation are rebuilt from the journal. Every request "touches" its session, so a
//! session in use never reaches the idle time.
//!
//! What does not survive an unload is what only lives in memory: a tool allowed "for this
//! session" must be allowed again, the same as after a daemon restart (the safe direction).

use std::sync::{Arc, Weak};
use std::time::{Duration, Instant};

use botcoder_protocol::SessionId;
use futures::StreamExt;
use tokio::sync::watch;
use tokio_util::sync::CancellationToken;

use super::{Inner, Slot};

/// Idle time when `BOTCODER_SESSION_IDLE_S` does not say otherwise.
pub const DEFAULT_IDLE: Duration = Duration::from_secs(60);

/// How long a session may sit unused before it is unloaded: `BOTCODER_SESSION_IDLE_S`
/// (seconds, fractions allowed, for tests), else [`DEFAULT_IDLE`].
pub fn idle_time() -> Duration {
    std::env::var("BOTCODER_SESSION_IDLE_S")
        .ok()
        .and_then(|v| v.trim().parse::<f64>().ok())
        .filter(|s| s.is_finite() && *s >= 0.0)
        .map(|s| Duration::from_secs_f64(s.min(86_400.0)))
        .unwrap_or(DEFAULT_IDLE)
}

/// How often the registry is scanned: a quarter of the idle time, within 50 ms..5 s, so a
/// session is unloaded at most a quarter past its idle time.
fn period(idle: Duration) -> Duration {
    (idle / 4).clamp(Duration::from_millis(50), Duration::from_secs(5))
}

/// Actors stopped at once. A wave of thousands of sessions going idle together must not
/// start a blocking thread per journal flush (500 threads stayed alive after 10,000
/// sessions); a slow stop occupies one place and delays no request but its own session's.
const UNLOAD_CONCURRENCY: usize = 8;

/// Scans the registry every [`period`] until `stop` or until the registry is dropped.
pub(super) async fn sweep(inner: Weak<Inner>, idle: Duration, stop: CancellationToken) {
    let mut tick = tokio::time::interval(period(idle));
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    let mut wave: Option<tokio::task::JoinHandle<()>> = None;
    loop {
        tokio::select! {
            _ = tick.tick() => {}
            () = stop.cancelled() => return,
        }
        // One wave at a time: the next scan waits for the last wave to end.
        if wave.as_ref().is_some_and(|w| !w.is_finished()) {
            continue;
        }
        let Some(inner) = inner.upgrade() else { return };
        let due = take_idle(&inner, idle);
        if due.is_empty() {
            continue;
        }
        wave = Some(tokio::spawn(async move {
            futures::stream::iter(due)
                .for_each_concurrent(UNLOAD_CONCURRENCY, |id| unload(inner.clone(), id, idle))
                .await;
            let _ = tokio::task::spawn_blocking(trim_heap).await;
        }));
    }
}

/// Hands freed heap pages back to the system. glibc's allocator keeps what it freed in its
/// arenas: without this, the memory of thousands of unloaded sessions stayed in the daemon's
/// RSS (68 MB instead of 43 after 3,000 sessions, see docs/PERFORMANCE.md). Only
/// `malloc_trim` releases the free pages inside the heap; glibc tunables (arena count, fixed
/// trim and mmap thresholds) release only its top and kept all of it, and jemalloc and
/// mimalloc, which return pages by themselves, ended higher: measured there, so this one
/// `unsafe` call stays.
#[cfg(all(target_os = "linux", target_env = "gnu"))]
#[allow(unsafe_code)]
fn trim_heap() {
    unsafe extern "C" {
        fn malloc_trim(pad: usize) -> std::ffi::c_int;
    }
    // SAFETY: malloc_trim takes no pointers and only returns free pages of the allocator's
    // own heaps to the kernel; glibc makes it safe to call from any thread at any time.
    unsafe {
        malloc_trim(0);
    }
}

#[cfg(not(all(target_os = "linux", target_env = "gnu")))]
fn trim_heap() {}

/// Sessions idle for `idle` now. Sessions seen in use have their idle clock restarted.
fn take_idle(inner: &Inner, idle: Duration) -> Vec<SessionId> {
    let now = Instant::now();
    let mut slots = inner.slots();
    let due = slots
        .iter_mut()
        .filter_map(|(id, slot)| match slot {
            Slot::Live { handle, touched } => {
                if handle.in_use() {
                    *touched = now;
                    None
                } else {
                    (now.duration_since(*touched) >= idle).then(|| id.clone())
                }
            }
            _ => None,
        })
        .collect();
    // A map grown by a burst of sessions keeps its capacity after they are gone.
    if slots.capacity() > 4 * slots.len() + 64 {
        slots.shrink_to_fit();
    }
    due
}

/// Unloads `id` if it is still idle. It is marked unloading only now, just before its actor
/// stops, so a request for it waits for this one stop and not for the rest of the wave.
async fn unload(inner: Arc<Inner>, id: SessionId, idle: Duration) {
    let (tx, rx) = watch::channel(());
    let handle = {
        let mut slots = inner.slots();
        let still_idle = matches!(
            slots.get(&id),
            Some(Slot::Live { handle, touched })
                if !handle.in_use() && touched.elapsed() >= idle
        );
        if !still_idle {
            return;
        }
        match slots.insert(id.clone(), Slot::Unloading(rx)) {
            Some(Slot::Live { handle, .. }) => handle,
            _ => return,
        }
    };
    handle.stop().await;
    drop(handle);
    inner.settle(&id, |s| matches!(s, Slot::Unloading(_)));
    drop(tx);
    tracing::debug!(session = %id, "unloaded an idle session");
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn period_is_a_quarter_of_idle_within_bounds() {
        assert_eq!(period(Duration::from_secs(8)), Duration::from_secs(2));
        assert_eq!(period(Duration::from_secs(1)), Duration::from_millis(250));
        assert_eq!(period(Duration::ZERO), Duration::from_millis(50));
        assert_eq!(period(Duration::from_secs(60)), Duration::from_secs(5));
    }
}
