//! A packet's count against its grants' quotas (and the sender's storage
//! limit), taken when its offer is accepted or its answer decided, so that
//! concurrent exchanges cannot both take the last of a quota; given back
//! when the exchange ends without storing or delivering the packet.

use std::sync::Arc;

use tally_grant::Authorization;
use tally_wire::{AgencyId, GrantId, Timestamp};

use crate::limits::PeerLimits;
use crate::policy::{Policy, lock};

/// A reservation, given back on drop unless [`keep`](Self::keep) made it durable.
pub(crate) struct Reservation {
    policy: Arc<std::sync::Mutex<Policy>>,
    limits: Arc<PeerLimits>,
    auth: Authorization,
    bytes: u64,
    at: Timestamp,
    /// The sender whose storage limit the packet counts against, if it is stored here.
    storage: Option<AgencyId>,
    kept: bool,
}

impl Reservation {
    /// A reservation already counted in the in-memory usage (by `NodeState::decide_and_reserve`).
    pub(crate) fn new(
        policy: Arc<std::sync::Mutex<Policy>>,
        limits: Arc<PeerLimits>,
        auth: Authorization,
        bytes: u64,
        at: Timestamp,
    ) -> Self {
        Self { policy, limits, auth, bytes, at, storage: None, kept: false }
    }

    /// Reserves room for the packet in `sender`'s storage too; `false` if
    /// the sender's storage limit would be passed.
    pub(crate) fn with_storage(&mut self, sender: &AgencyId) -> bool {
        if self.storage.is_some() {
            return true;
        }
        if !self.limits.reserve_storage(sender, self.bytes) {
            return false;
        }
        self.storage = Some(sender.clone());
        true
    }

    /// The decision's authorization.
    pub(crate) fn auth(&self) -> &Authorization {
        &self.auth
    }

    /// Every grant of the chain with its rate period: what the commit counts.
    pub(crate) fn chain(&self) -> Vec<(GrantId, Option<u32>)> {
        self.auth.chain().to_vec()
    }

    /// The payload bytes counted.
    pub(crate) fn bytes(&self) -> u64 {
        self.bytes
    }

    /// When the packet was counted (its rate window).
    pub(crate) fn at(&self) -> Timestamp {
        self.at
    }

    /// The packet is durable (its usage committed): the count stays.
    pub(crate) fn keep(mut self) {
        self.kept = true;
    }
}

impl Drop for Reservation {
    fn drop(&mut self) {
        if !self.kept {
            lock(&self.policy).usage.release(&self.auth, self.bytes, self.at);
        }
        if let Some(sender) = &self.storage {
            self.limits.end_storage(sender, self.bytes, self.kept);
        }
    }
}
