//! The policy's mutable state in memory: usage with the reservations in
//! flight, the revocations kept, and the chain cache. It changes only
//! after the commit that made a change durable (a reservation, given back
//! unless its packet is stored, is the one exception: `reservation`).

use std::sync::Mutex;

use tally_grant::{ChainCache, RevocationSet, Usage};

/// The policy's mutable state.
pub(crate) struct Policy {
    /// Durable usage, plus the reservations of exchanges in flight.
    pub(crate) usage: Usage,
    /// Revocations kept (durable).
    pub(crate) revocations: RevocationSet,
    /// Chains verified against the current directory.
    pub(crate) cache: ChainCache,
}

/// Locks `m`; a panic while it was held cannot have left it half-changed
/// (every change under it is complete), so a poisoned lock is still usable.
pub(crate) fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
}
