//! How many connections the daemon holds (invariant I10: connections have a cap too).
//!
//! Every accepted connection takes a [`Slot`] until it ends. The total stays below the
//! descriptor limit, so a flood never leaves the daemon without descriptors for journals,
//! provider sockets and tool pipes. A connection that has not yet said `daemon.hello` is
//! *pending*; pending ones have their own, smaller budget, and when it is full the oldest
//! pending connection is dropped to make room: a pile of half-open sockets then costs an
//! honest client (which says hello within milliseconds of connecting) nothing.

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex, MutexGuard};

use tokio_util::sync::CancellationToken;

/// Most connections that may be pending (not yet past `daemon.hello`) at once.
pub const MAX_PENDING: usize = 128;

#[derive(Debug, Default)]
struct State {
    total: usize,
    pending: BTreeMap<u64, CancellationToken>,
    next_id: u64,
}

/// The connection budget.
#[derive(Debug)]
pub struct Gate {
    max_total: usize,
    max_pending: usize,
    state: Mutex<State>,
}

/// Why a connection was not admitted.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error(
    "botcoderd already serves {open} connections (its limit); close some clients (`botcoder status` shows how many are open) and retry"
)]
pub struct Full {
    /// Connections open.
    pub open: usize,
}

/// What admitting a connection did.
#[derive(Debug)]
pub struct Admitted {
    /// The new connection's slot.
    pub slot: Slot,
    /// Whether the oldest pending connection was dropped to make room.
    pub evicted: bool,
}

impl Gate {
    /// A gate for at most `max_total` connections, `max_pending` of them before hello.
    pub fn new(max_total: usize, max_pending: usize) -> Arc<Gate> {
        Arc::new(Gate {
            max_total,
            max_pending: max_pending.min(max_total).max(1),
            state: Mutex::new(State::default()),
        })
    }

    fn lock(&self) -> MutexGuard<'_, State> {
        // Nothing panics while holding it; a poisoned state is still consistent.
        self.state.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Takes a slot for a new connection, dropping the oldest pending one when the pending
    /// budget (or the total) is used up. Evicted connections release their slot a moment
    /// later; until then the total may exceed `max_total` by at most `max_pending`.
    pub fn admit(self: &Arc<Self>) -> Result<Admitted, Full> {
        let mut state = self.lock();
        let mut evicted = false;
        if state.pending.len() >= self.max_pending || state.total >= self.max_total {
            match state.pending.pop_first() {
                Some((_, kill)) => {
                    kill.cancel();
                    evicted = true;
                }
                None => return Err(Full { open: state.total }),
            }
        }
        if state.total >= self.max_total + self.max_pending {
            return Err(Full { open: state.total });
        }
        let id = state.next_id;
        state.next_id += 1;
        state.total += 1;
        let kill = CancellationToken::new();
        state.pending.insert(id, kill.clone());
        Ok(Admitted {
            slot: Slot {
                gate: self.clone(),
                id,
                kill,
            },
            evicted,
        })
    }

    /// Connections holding a slot.
    pub fn open(&self) -> usize {
        self.lock().total
    }

    /// Connections not yet past hello.
    pub fn pending(&self) -> usize {
        self.lock().pending.len()
    }
}

/// One connection's place in the budget; released when dropped.
#[derive(Debug)]
pub struct Slot {
    gate: Arc<Gate>,
    id: u64,
    kill: CancellationToken,
}

impl Slot {
    /// The connection said hello: it is no longer pending and can no longer be evicted.
    pub fn established(&self) {
        self.gate.lock().pending.remove(&self.id);
    }

    /// Fires when the gate evicts this connection.
    pub fn evicted(&self) -> CancellationToken {
        self.kill.clone()
    }
}

impl Drop for Slot {
    fn drop(&mut self) {
        let mut state = self.gate.lock();
        state.total = state.total.saturating_sub(1);
        state.pending.remove(&self.id);
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn the_oldest_pending_connection_makes_room() {
        let gate = Gate::new(10, 2);
        let a = gate.admit().unwrap();
        let b = gate.admit().unwrap();
        assert!(!a.evicted && !b.evicted);
        let c = gate.admit().unwrap();
        assert!(c.evicted);
        assert!(a.slot.evicted().is_cancelled(), "the oldest went");
        assert!(!b.slot.evicted().is_cancelled());
        drop(a);
        assert_eq!((gate.open(), gate.pending()), (2, 2));
    }

    #[test]
    fn established_connections_are_never_evicted_and_the_total_is_capped() {
        let gate = Gate::new(3, 2);
        let slots: Vec<Admitted> = (0..3)
            .map(|_| {
                let a = gate.admit().unwrap();
                a.slot.established();
                a
            })
            .collect();
        assert_eq!(gate.admit().unwrap_err(), Full { open: 3 });
        assert!(slots.iter().all(|s| !s.slot.evicted().is_cancelled()));
        drop(slots);
        assert_eq!((gate.open(), gate.pending()), (0, 0));
        assert!(gate.admit().is_ok());
    }
}
