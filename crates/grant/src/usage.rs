//! Usage accounting: what has flowed under each grant (spec/grants.md, "Quotas").
//!
//! Usage is kept per grant, so it takes memory in the number of grants,
//! not of packets. Counting each packet once is the caller's part: a node
//! counts a packet when it stores it for the first time under its packet
//! id, and answers a resend of a stored packet with its earlier receipt,
//! counting nothing.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};
use tally_wire::{GrantId, Timestamp};

use crate::authorization::Authorization;

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

impl GrantUsage {
    /// Counts one packet of `bytes` at `at`; `period` is the grant's rate
    /// period, if it has a rate limit.
    pub fn count(&mut self, bytes: u64, at: Timestamp, period: Option<u32>) {
        self.packets = self.packets.saturating_add(1);
        self.bytes = self.bytes.saturating_add(bytes);
        if let Some(period) = period {
            let start = window_start(at, period);
            if self.window_start != start {
                self.window_start = start;
                self.window_packets = 0;
            }
            self.window_packets = self.window_packets.saturating_add(1);
        }
    }

    /// Takes back one packet that [`count`](Self::count) counted with the
    /// same arguments (a reservation whose packet was never stored).
    pub fn uncount(&mut self, bytes: u64, at: Timestamp, period: Option<u32>) {
        self.packets = self.packets.saturating_sub(1);
        self.bytes = self.bytes.saturating_sub(bytes);
        if let Some(period) = period
            && self.window_start == window_start(at, period)
        {
            self.window_packets = self.window_packets.saturating_sub(1);
        }
    }
}

/// Usage under every grant a node has seen.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Usage {
    grants: BTreeMap<GrantId, GrantUsage>,
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

    /// How many grants have usage.
    pub fn len(&self) -> usize {
        self.grants.len()
    }

    /// Whether no grant has usage.
    pub fn is_empty(&self) -> bool {
        self.grants.is_empty()
    }

    /// Counts one authorized packet of `bytes` at `at` against every grant of its chain.
    pub fn apply(&mut self, auth: &Authorization, bytes: u64, at: Timestamp) {
        for (grant, period) in &auth.chain {
            self.grants.entry(*grant).or_default().count(bytes, at, *period);
        }
    }

    /// Takes back what [`apply`](Self::apply) counted for the same packet.
    pub fn release(&mut self, auth: &Authorization, bytes: u64, at: Timestamp) {
        for (grant, period) in &auth.chain {
            if let Some(u) = self.grants.get_mut(grant) {
                u.uncount(bytes, at, *period);
            }
        }
    }
}

/// The start of the fixed rate window containing `at`: `⌊at / period⌋ · period`.
pub(crate) fn window_start(at: Timestamp, period_secs: u32) -> u64 {
    let period = u64::from(period_secs.max(1));
    at.secs() / period * period
}
