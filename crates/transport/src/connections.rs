//! The endpoint's open connections, each with the agency it authenticated
//! and its share of the memory budget (spec/transport.md, "Limits" and
//! "Identity binding").
//!
//! Every connection, accepted or dialed, is registered here with the
//! agency its TLS key named at the handshake. A peer may hold at most
//! `max_connections_per_peer` accepted connections; the endpoint at most
//! `max_connections`. When a newer directory arrives, every connection is
//! checked again: one whose peer key the directory no longer lists for
//! that agency is closed with `KEY_NOT_LISTED`.
//!
//! Frames read from a connection take bytes from two budgets, the
//! connection's and the endpoint's, before they are read from QUIC, and
//! give them back when the exchange has taken the frame: a peer that sends
//! faster than the node handles its frames is held back by QUIC flow
//! control, and however many streams it opens, the frames waiting for the
//! node hold at most the budgets.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use tally_wire::{AgencyId, CloseCode};
use tokio::sync::{OwnedSemaphorePermit, Semaphore};

use crate::config::TransportConfig;
use crate::roster::Roster;
use crate::tls;

/// The bytes one connection's frames may hold, within the endpoint's.
#[derive(Clone, Debug)]
pub(crate) struct Budget {
    connection: Arc<Semaphore>,
    endpoint: Arc<Semaphore>,
}

/// Budget bytes held by one frame until it is dropped.
#[derive(Debug, Default)]
pub(crate) struct Held(Vec<OwnedSemaphorePermit>);

impl Budget {
    /// Waits until `n` bytes are free in both budgets, and holds them.
    /// `None` if the budgets were closed (the endpoint is gone).
    pub(crate) async fn take(&self, n: usize) -> Option<Held> {
        let n = u32::try_from(n).ok()?;
        // The connection's first: a connection over its share never holds the endpoint's.
        let connection = Arc::clone(&self.connection).acquire_many_owned(n).await.ok()?;
        let endpoint = Arc::clone(&self.endpoint).acquire_many_owned(n).await.ok()?;
        Some(Held(vec![connection, endpoint]))
    }
}

impl Held {
    /// Keeps only `n` of the bytes taken (the read returned fewer than asked), and adds them to `self`.
    pub(crate) fn keep(&mut self, mut taken: Self, n: usize) {
        for mut permit in taken.0.drain(..) {
            let excess = permit.num_permits().saturating_sub(n);
            if excess > 0 {
                drop(permit.split(excess));
            }
            self.0.push(permit);
        }
    }
}

struct Live {
    peer: AgencyId,
    connection: quinn::Connection,
    accepted: bool,
}

/// The open connections of one endpoint.
pub(crate) struct Connections {
    live: Mutex<HashMap<usize, Live>>,
    endpoint: Arc<Semaphore>,
    connection_budget: usize,
    max_per_peer: usize,
    max: usize,
}

/// Why an accepted connection was not registered.
pub(crate) enum Refused {
    /// The peer has `max_connections_per_peer` already.
    TooMany,
}

impl Connections {
    pub(crate) fn new(config: &TransportConfig) -> Self {
        let (connection_budget, endpoint) = config.budgets();
        Self {
            live: Mutex::new(HashMap::new()),
            endpoint: Arc::new(Semaphore::new(endpoint)),
            connection_budget,
            max_per_peer: config.max_connections_per_peer.max(1),
            max: config.max_connections.max(1),
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<usize, Live>> {
        self.live.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    /// Whether another connection may be accepted now.
    pub(crate) fn has_room(&self) -> bool {
        self.lock().len() < self.max
    }

    /// Registers a connection a peer opened, authenticated as `peer`;
    /// refused if the peer already has its maximum of them.
    pub(crate) fn accepted(&self, peer: &AgencyId, connection: &quinn::Connection) -> Result<Budget, Refused> {
        let mut live = self.lock();
        if live.values().filter(|l| l.accepted && &l.peer == peer).count() >= self.max_per_peer {
            return Err(Refused::TooMany);
        }
        live.insert(
            connection.stable_id(),
            Live { peer: peer.clone(), connection: connection.clone(), accepted: true },
        );
        Ok(self.budget())
    }

    /// Registers a connection this endpoint dialed to `peer` (not limited: it is this node's own).
    pub(crate) fn dialed(&self, peer: &AgencyId, connection: &quinn::Connection) -> Budget {
        let live = Live { peer: peer.clone(), connection: connection.clone(), accepted: false };
        self.lock().insert(connection.stable_id(), live);
        self.budget()
    }

    fn budget(&self) -> Budget {
        Budget { connection: Arc::new(Semaphore::new(self.connection_budget)), endpoint: Arc::clone(&self.endpoint) }
    }

    /// Forgets a connection that has ended.
    pub(crate) fn remove(&self, connection: &quinn::Connection) {
        self.lock().remove(&connection.stable_id());
    }

    /// Closes every connection whose peer's TLS key `roster` no longer
    /// lists for the agency it authenticated as. Returns those agencies.
    pub(crate) fn recheck(&self, roster: &Roster) -> Vec<AgencyId> {
        let mut closed = Vec::new();
        self.lock().retain(|_, live| {
            if tls::authenticated_agency(&live.connection, roster).as_ref() == Some(&live.peer) {
                return true;
            }
            let code = quinn::VarInt::from_u32(u32::from(CloseCode::KEY_NOT_LISTED.0));
            live.connection.close(code, b"the directory no longer lists this TLS key for the agency");
            closed.push(live.peer.clone());
            false
        });
        closed
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn a_budget_holds_readers_back_until_frames_are_dropped() {
        let budget = Budget { connection: Arc::new(Semaphore::new(10)), endpoint: Arc::new(Semaphore::new(15)) };
        let first = budget.take(8).await.expect("room");
        let waiting = tokio::time::timeout(std::time::Duration::from_millis(50), budget.take(4)).await;
        assert!(waiting.is_err(), "8 + 4 bytes exceed the connection's 10");
        drop(first);
        let mut held = Held::default();
        let taken = budget.take(10).await.expect("room again");
        held.keep(taken, 6);
        assert_eq!(budget.connection.available_permits(), 4, "only the 6 bytes read are kept");
        assert_eq!(budget.endpoint.available_permits(), 9);
        drop(held);
        assert_eq!(budget.connection.available_permits(), 10);
    }

    #[tokio::test]
    async fn the_endpoint_budget_is_shared_by_connections() {
        let endpoint = Arc::new(Semaphore::new(10));
        let a = Budget { connection: Arc::new(Semaphore::new(8)), endpoint: Arc::clone(&endpoint) };
        let b = Budget { connection: Arc::new(Semaphore::new(8)), endpoint };
        let held = a.take(8).await.expect("room");
        let waiting = tokio::time::timeout(std::time::Duration::from_millis(50), b.take(4)).await;
        assert!(waiting.is_err(), "b's own budget has room, the endpoint's does not");
        drop(held);
        assert!(b.take(4).await.is_some());
    }
}
