//! Usage accounting: what has flowed under each grant (spec/grants.md, "Quotas").

use std::collections::{BTreeMap, BTreeSet};

use serde::{Deserialize, Serialize};
use tally_wire::{GrantId, PacketId, Timestamp};

use crate::decision::Authorization;

/// What has flowed under one grant.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct GrantUsage {
    /// Packets counted.
    pub packets: u64,
    /// Payload bytes counted.
    pub bytes: u64,
    /// The start (in seconds) of the current rate window.
    pub window_start: u64,
    /// Packets counted in the current rate window.
    pub window_packets: u64,
}

/// Usage under every grant a node has seen, and the packets already
/// counted, so that applying the same packet twice counts it once. The
/// node persists this value.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Usage {
    grants: BTreeMap<GrantId, GrantUsage>,
    counted: BTreeSet<PacketId>,
}

impl Usage {
    /// No usage.
    pub fn new() -> Self {
        Self::default()
    }

    /// The usage of one grant (zero if none).
    pub fn of(&self, grant: &GrantId) -> GrantUsage {
        self.grants.get(grant).cloned().unwrap_or_default()
    }

    /// Restores one grant's usage, as persisted by a node.
    pub fn restore(&mut self, grant: GrantId, usage: GrantUsage) {
        self.grants.insert(grant, usage);
    }

    /// Whether a packet has been counted.
    pub fn has_counted(&self, packet: &PacketId) -> bool {
        self.counted.contains(packet)
    }

    /// Counts an authorized flow against every grant of its chain. Applying
    /// the same packet id again changes nothing and returns `false`.
    pub fn apply(&mut self, auth: &Authorization, packet: PacketId, bytes: u64, at: Timestamp) -> bool {
        if !self.counted.insert(packet) {
            return false;
        }
        for (grant, period) in &auth.chain {
            let u = self.grants.entry(*grant).or_default();
            u.packets = u.packets.saturating_add(1);
            u.bytes = u.bytes.saturating_add(bytes);
            if let Some(period) = period {
                let start = window_start(at, *period);
                if u.window_start != start {
                    u.window_start = start;
                    u.window_packets = 0;
                }
                u.window_packets += 1;
            }
        }
        true
    }
}

/// The start of the fixed rate window containing `at`: `⌊at / period⌋ · period`.
pub(crate) fn window_start(at: Timestamp, period_secs: u32) -> u64 {
    let period = u64::from(period_secs.max(1));
    at.secs() / period * period
}
