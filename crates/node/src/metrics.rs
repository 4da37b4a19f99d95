//! The node's metrics (`GET /metrics` on the local API), in the
//! OpenMetrics text format, kept and encoded by the `prometheus-client` crate.

use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::registry::Registry;
use tally_wire::ReasonCode;

/// A refusal's reason, as a label.
#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct Reason {
    reason: String,
}

/// A TLS key-exchange group, as a label.
#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct Group {
    group: &'static str,
}

/// A peer agency, as a label.
#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct Peer {
    peer: String,
}

/// The node's counters and gauges, registered once.
pub(crate) struct Metrics {
    registry: Registry,
    pub(crate) received: Counter,
    pub(crate) received_bytes: Counter,
    pub(crate) sent: Counter,
    pub(crate) sent_bytes: Counter,
    pub(crate) erased: Counter,
    /// Offers and requests closed without a signed refusal (a peer past its refusal rate).
    pub(crate) unsigned_refusals: Counter,
    /// Notices refused: revocations without authority, grants past the per-issuer limit.
    pub(crate) notices_refused: Counter,
    /// Receipts this node issued (acceptances and signed refusals).
    pub(crate) receipts_issued: Counter,
    /// Checkpoints this node signed for the receipts it issued.
    checkpoints_signed: Counter,
    rejections: Family<Reason, Counter>,
    log_entries: Gauge,
    peer_reachable: Family<Peer, Gauge>,
    peer_last_success: Family<Peer, Gauge>,
    peer_unfinished: Family<Peer, Gauge>,
    peer_forks: Family<Peer, Counter>,
    key_exchanges: Family<Group, Counter>,
}

impl Default for Metrics {
    fn default() -> Self {
        let mut registry = Registry::with_prefix("tally");
        let metrics = Self {
            received: Counter::default(),
            received_bytes: Counter::default(),
            sent: Counter::default(),
            sent_bytes: Counter::default(),
            erased: Counter::default(),
            unsigned_refusals: Counter::default(),
            notices_refused: Counter::default(),
            receipts_issued: Counter::default(),
            checkpoints_signed: Counter::default(),
            rejections: Family::default(),
            log_entries: Gauge::default(),
            peer_reachable: Family::default(),
            peer_last_success: Family::default(),
            peer_unfinished: Family::default(),
            peer_forks: Family::default(),
            key_exchanges: Family::default(),
            registry: Registry::default(),
        };
        registry.register("packets_received", "Packets received and receipted", metrics.received.clone());
        registry.register("bytes_received", "Plaintext bytes received and receipted", metrics.received_bytes.clone());
        registry.register("packets_sent", "Packets sent and receipted or refused by the peer", metrics.sent.clone());
        registry.register("bytes_sent", "Plaintext bytes sent", metrics.sent_bytes.clone());
        registry.register("packets_erased", "Packets erased by destroying their data key", metrics.erased.clone());
        registry.register(
            "unsigned_refusals",
            "Offers and requests closed without a signed refusal (a peer past its refusal rate)",
            metrics.unsigned_refusals.clone(),
        );
        registry.register("notices_refused", "Grants and revocations refused", metrics.notices_refused.clone());
        registry.register("receipts_issued", "Receipts this node issued", metrics.receipts_issued.clone());
        registry.register(
            "checkpoints_signed",
            "Checkpoints this node signed for the receipts it issued (one per group commit)",
            metrics.checkpoints_signed.clone(),
        );
        registry.register("rejections", "Offers and requests this node refused, by reason", metrics.rejections.clone());
        registry.register("log_entries", "Entries in the node's log", metrics.log_entries.clone());
        registry.register(
            "peer_reachable",
            "1 if the last exchange this node started with the peer reached it, 0 if it failed (absent: none since start)",
            metrics.peer_reachable.clone(),
        );
        registry.register(
            "peer_last_success_seconds",
            "When an exchange with the peer last succeeded (Unix time)",
            metrics.peer_last_success.clone(),
        );
        registry.register(
            "peer_unfinished_sends",
            "Sends to the peer not yet receipted",
            metrics.peer_unfinished.clone(),
        );
        registry.register(
            "peer_log_forks",
            "Fork evidence found against the peer's log since this node started (tally status counts every one kept): two of its checkpoints that cannot both be honest",
            metrics.peer_forks.clone(),
        );
        registry.register(
            "tls_key_exchanges",
            "TLS key exchanges this node's process completed, by group (X25519MLKEM768 is post-quantum), as client or server",
            metrics.key_exchanges.clone(),
        );
        Self { registry, ..metrics }
    }
}

impl Metrics {
    /// Brings the count of checkpoints signed up to `signed`, the log's own count.
    pub(crate) fn set_checkpoints_signed(&self, signed: u64) {
        let counted = self.checkpoints_signed.get();
        if signed > counted {
            self.checkpoints_signed.inc_by(signed - counted);
        }
    }

    /// Counts fork evidence found against `peer`'s log.
    pub(crate) fn fork_found(&self, peer: &tally_wire::AgencyId) {
        self.peer_forks.get_or_create(&Peer { peer: peer.to_string() }).inc();
    }

    /// Counts a signed refusal for `reason`.
    pub(crate) fn rejected(&self, reason: ReasonCode) {
        self.rejections.get_or_create(&Reason { reason: reason.to_string() }).inc();
    }

    /// Sets the per-peer gauges from the peers' status.
    pub(crate) fn set_peers(&self, peers: &[crate::api::PeerStatus], last_success: impl Fn(&str) -> Option<u64>) {
        for p in peers {
            let label = Peer { peer: p.agency.to_string() };
            if let Some(r) = p.reachable {
                self.peer_reachable.get_or_create(&label).set(i64::from(r));
            }
            if let Some(secs) = last_success(p.agency.as_str()) {
                self.peer_last_success.get_or_create(&label).set(i64::try_from(secs).unwrap_or(i64::MAX));
            }
            self.peer_unfinished.get_or_create(&label).set(i64::try_from(p.unfinished_sends).unwrap_or(i64::MAX));
        }
    }

    /// The metrics now, with the log holding `log_entries`.
    pub(crate) fn render(&self, log_entries: u64) -> String {
        self.log_entries.set(i64::try_from(log_entries).unwrap_or(i64::MAX));
        let done = tally_transport::key_exchanges();
        for (group, total) in [("X25519MLKEM768", done.hybrid), ("X25519", done.classical)] {
            let counter = self.key_exchanges.get_or_create(&Group { group });
            counter.inc_by(total.saturating_sub(counter.get()));
        }
        let mut out = String::new();
        // Writing into a String cannot fail.
        let _ = prometheus_client::encoding::text::encode(&mut out, &self.registry);
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_text_names_every_metric_with_its_value() {
        let m = Metrics::default();
        m.received.inc();
        m.received_bytes.inc_by(1024);
        m.rejected(ReasonCode::QUOTA_EXHAUSTED);
        let text = m.render(7);
        assert!(text.contains("tally_packets_received_total 1\n"), "{text}");
        assert!(text.contains("tally_bytes_received_total 1024\n"), "{text}");
        assert!(text.contains("tally_log_entries 7\n"), "{text}");
        assert!(
            text.contains(&format!("tally_rejections_total{{reason=\"{}\"}} 1\n", ReasonCode::QUOTA_EXHAUSTED)),
            "{text}"
        );
        assert!(text.contains("tally_tls_key_exchanges_total{group=\"X25519MLKEM768\"}"), "{text}");
        assert!(text.ends_with("# EOF\n"), "{text}");
    }
}
