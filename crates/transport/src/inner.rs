//! What an endpoint's tasks share: the local agency, the roster, the host,
//! the open connections, and the count of exchanges in flight.

use std::collections::HashMap;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};

use tally_envelope::{IdentityKey, preferred_kem_certificate};
use tally_receipt::{BundleVerifier, CheckpointCache};
use tally_wire::{AgencyId, CloseCode, KemKeyCertificate, SuiteId};
use tokio::sync::{Mutex, Notify};

use crate::config::TransportConfig;
use crate::connections::{Budget, Connections};
use crate::drive::now;
use crate::error::TransportError;
use crate::roster::Roster;

/// The connection dialed to one agency, and its budget, once there is one.
pub(crate) type DialSlot = Arc<Mutex<Option<(quinn::Connection, Budget)>>>;

pub(crate) struct Inner<H> {
    pub(crate) local: AgencyId,
    pub(crate) identity: Arc<IdentityKey>,
    pub(crate) roster: Arc<Roster>,
    pub(crate) host: Arc<H>,
    pub(crate) config: TransportConfig,
    pub(crate) quinn: quinn::Endpoint,
    /// The connection this endpoint dialed to each agency, reused by later
    /// exchanges: one slot per agency, so that a dial to one agency (its
    /// endpoints tried in turn) holds up no exchange with another.
    dialed: std::sync::Mutex<HashMap<AgencyId, DialSlot>>,
    /// The endpoint of each agency that last completed a handshake.
    pub(crate) last_reached: crate::dial::LastReached,
    /// Every open connection, dialed or accepted.
    pub(crate) live: Connections,
    pub(crate) shutting_down: AtomicBool,
    /// Peers' checkpoint notes already verified: each signature once.
    pub(crate) checkpoints: CheckpointCache,
    in_flight: AtomicUsize,
    pub(crate) idle: Notify,
}

impl<H> Inner<H> {
    pub(crate) fn new(
        local: AgencyId,
        identity: Arc<IdentityKey>,
        roster: Arc<Roster>,
        host: Arc<H>,
        config: TransportConfig,
        quinn: quinn::Endpoint,
    ) -> Self {
        Self {
            local,
            identity,
            roster,
            host,
            live: Connections::new(&config),
            config,
            quinn,
            dialed: std::sync::Mutex::new(HashMap::new()),
            last_reached: Default::default(),
            shutting_down: AtomicBool::new(false),
            checkpoints: CheckpointCache::new(),
            in_flight: AtomicUsize::new(0),
            idle: Notify::new(),
        }
    }

    /// The slot of the connection dialed to `agency`: locked across a dial.
    pub(crate) fn dial_slot(&self, agency: &AgencyId) -> DialSlot {
        Arc::clone(self.slots().entry(agency.clone()).or_default())
    }

    fn slots(&self) -> std::sync::MutexGuard<'_, HashMap<AgencyId, DialSlot>> {
        self.dialed.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    /// Counts an exchange as in flight until the guard drops; refused while shutting down.
    pub(crate) fn start_exchange(&self) -> Result<InFlight<'_, H>, TransportError> {
        if self.shutting_down.load(Ordering::SeqCst) {
            return Err(TransportError::ShuttingDown);
        }
        self.in_flight.fetch_add(1, Ordering::SeqCst);
        Ok(InFlight { inner: self })
    }

    /// How many exchanges run now.
    pub(crate) fn in_flight(&self) -> usize {
        self.in_flight.load(Ordering::SeqCst)
    }

    /// Checks every open connection against the roster (a newer directory
    /// arrived), closing those whose key it no longer lists for their agency.
    pub(crate) async fn recheck_connections(&self) {
        let closed = self.live.recheck(&self.roster);
        if !closed.is_empty() {
            self.slots().retain(|agency, _| !closed.contains(agency));
        }
    }
}

/// Counts an exchange as in flight until dropped.
pub(crate) struct InFlight<'a, H> {
    inner: &'a Inner<H>,
}

impl<H> Drop for InFlight<'_, H> {
    fn drop(&mut self) {
        if self.inner.in_flight.fetch_sub(1, Ordering::SeqCst) == 1 {
            self.inner.idle.notify_waiters();
        }
    }
}

pub(crate) fn close_code(code: CloseCode) -> quinn::VarInt {
    quinn::VarInt::from_u32(u32::from(code.0))
}

/// A verifier of `agency`'s receipt bundles under the identity key the
/// directory lists for it, sharing the endpoint's checkpoint cache.
pub(crate) fn bundle_verifier<H>(inner: &Inner<H>, agency: &AgencyId) -> Result<BundleVerifier, TransportError> {
    let record = inner.roster.record(agency).ok_or_else(|| TransportError::UnknownAgency(agency.clone()))?;
    Ok(BundleVerifier::new(agency.clone(), record.identity_key, inner.checkpoints.clone()))
}

/// The newest KEM key certificate of `agency` valid now for `suite`'s KEM,
/// verified under its identity key (once per directory, by the roster).
pub(crate) fn kem_certificate(
    roster: &Roster,
    agency: &AgencyId,
    suite: SuiteId,
) -> Result<KemKeyCertificate, TransportError> {
    let kem = suite.kem().ok_or(tally_envelope::Error::UnsupportedSuite(suite))?;
    let certificates = roster.kem_certificates(agency).ok_or_else(|| TransportError::UnknownAgency(agency.clone()))?;
    preferred_kem_certificate(&certificates, now().wall, Some(kem))
        .cloned()
        .ok_or_else(|| TransportError::NoKemKeyOfKem { agency: agency.clone(), kem })
}
