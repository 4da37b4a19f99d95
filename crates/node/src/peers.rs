//! What this node knows of its peers (`GET /v1/status`, `/health` and the
//! metrics): whether the last exchange it started with each reached it,
//! the endpoints it dials, the checkpoints of its log this node holds.
//! Kept in memory: it describes this run of the node.

use tally_wire::{AgencyId, Timestamp};

use crate::NodeError;
use crate::api::{PeerStatus, UnfinishedSend};
use crate::node::Node;
use crate::sends::Sends;
use crate::state::lock;

/// The last exchanges this node started with one peer.
#[derive(Clone, Default)]
pub(crate) struct Peer {
    reachable: Option<bool>,
    last_success: Option<Timestamp>,
    last_error: Option<String>,
}

impl Sends {
    /// When an exchange with `agency` last succeeded, in seconds since the Unix epoch.
    pub(crate) fn last_success_secs(&self, agency: &str) -> Option<u64> {
        lock(&self.peers).iter().find(|(a, _)| a.as_str() == agency).and_then(|(_, p)| p.last_success).map(|t| t.secs())
    }

    /// Records the outcome of an exchange this node started with `peer`.
    pub(crate) fn peer_result<T>(&self, peer: &AgencyId, result: &Result<T, NodeError>, now: Timestamp) {
        let mut peers = lock(&self.peers);
        let p = peers.entry(peer.clone()).or_default();
        match result {
            Err(e @ NodeError::Transport(_)) => {
                p.reachable = Some(false);
                p.last_error = Some(e.to_string());
            }
            _ => {
                p.reachable = Some(true);
                p.last_success = Some(now);
                p.last_error = None;
            }
        }
    }
}

impl Node {
    /// The endpoints the directory lists for `agency`, in the order this
    /// node dials them (the one that last answered first), `, ` between them.
    pub(crate) fn endpoint_of(&self, agency: &AgencyId) -> String {
        self.endpoint.dial_order(agency).iter().map(|e| e.as_str()).collect::<Vec<_>>().join(", ")
    }

    /// Every other agency of the directory, with what this node knows of its reachability.
    pub(crate) fn peers(&self, unfinished: &[UnfinishedSend]) -> Vec<PeerStatus> {
        let peers = lock(&self.sends.peers).clone();
        let directory = self.state.directory();
        directory
            .directory()
            .agencies
            .iter()
            .filter(|a| a.id != self.state.agency)
            .map(|a| {
                let p = peers.get(&a.id).cloned().unwrap_or_default();
                let seen = self.state.checkpoints.view(&a.id);
                PeerStatus {
                    agency: a.id.clone(),
                    endpoint: self.endpoint.dial_order(&a.id).first().unwrap_or(a.endpoints.first()).to_string(),
                    endpoints: a.endpoints.iter().map(|e| e.to_string()).collect(),
                    reachable: p.reachable,
                    last_success: p.last_success.map(tally_grant::rfc3339),
                    last_error: p.last_error,
                    unfinished_sends: unfinished.iter().filter(|s| s.to == a.id).count() as u64,
                    checkpoint: seen.head.map(|c| crate::api::CheckpointShown { size: c.size, root: c.root }),
                    unproven_checkpoint: seen.unproven.map(|(n, why)| format!("{n} checkpoint(s); the latest: {why}")),
                    log_forks: seen.forks,
                }
            })
            .collect()
    }

    /// `/health`: degraded while sends are failing, one reason per peer.
    pub fn health(&self) -> Result<crate::api::Health, NodeError> {
        let unfinished = self.unfinished()?;
        let mut reasons = Vec::new();
        for peer in self.peers(&unfinished) {
            let failing = unfinished.iter().filter(|s| s.to == peer.agency && s.last_error.is_some()).count();
            if peer.log_forks > 0 {
                reasons.push(format!(
                    "{} fork evidence(s) against {}'s log: two of its checkpoints cannot both be honest (see tally status)",
                    peer.log_forks, peer.agency
                ));
            }
            if failing > 0 {
                let error = peer.last_error.unwrap_or_else(|| "offers failing".into());
                reasons.push(format!("{failing} send(s) to {} ({}) failing: {error}", peer.agency, peer.endpoint));
            }
        }
        let status = if reasons.is_empty() { "ok" } else { "degraded" };
        Ok(crate::api::Health { status: status.into(), reasons })
    }
}
