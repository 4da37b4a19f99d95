//! The sending side of a node: receipts of what it sent, the quota they
//! used, and what it keeps to reveal the content later (DESIGN.md,
//! property 5; spec/envelope.md, "Revealing content").
//!
//! A receipt for a packet this node sent (a push, or an answer to a pull)
//! is logged, the packet counted against the grant chain's quotas, the
//! send taken off the outbox, and its evidence of origin with its
//! commitment key (wrapped under the storage key) kept in the `sent`
//! table: all in one transaction.

use std::sync::Arc;

use tally_envelope::{CommitmentKey, sign_trailer};
use tally_grant::grant_id;
use tally_wire::{Evidence, LogEntry, Outcome, PacketId, Receipt, ReceiptBundle, Reveal, RevealedKey};

use crate::NodeError;
use crate::state::{NodeState, lock};
use tally_store::SentRecord;

/// What a commitment key is wrapped for: `sent ‖ packet id`.
pub(crate) fn key_context(packet: &PacketId) -> Vec<u8> {
    [&b"tally-node/v1/sent-commitment-key"[..], &packet.0].concat()
}

/// Logs the receipt bundle a peer issued for a packet this node sent or a
/// request it made (verified by the exchange), with what goes with it
/// (see the module doc).
pub(crate) async fn log_receipt(
    state: &Arc<NodeState>,
    bundle: ReceiptBundle,
    sealed: Option<(Evidence, CommitmentKey)>,
) -> Result<(), NodeError> {
    let r = tally_receipt::bundled_receipt(&bundle.receipt).clone();
    let packet = r.packet_id;
    let accepted = matches!(r.outcome, Outcome::Accepted { .. }) && r.sender == state.agency;
    let outbox = state.store.outbox_entry(&packet)?;
    // A push is counted when its receipt comes (its chain is this node's);
    // a pull answer was counted when it was decided (`answer_request`).
    let counted: Vec<_> =
        match (accepted && outbox.is_some()).then(|| state.store.grant_chain(&r.grant)).transpose()?.flatten() {
            Some(chain) => {
                chain.iter().map(|g| (grant_id(g), g.unverified().quota.rate.map(|q| q.period_secs))).collect()
            }
            None => Vec::new(),
        };
    let sent = match (accepted, sealed, &outbox) {
        (false, _, _) => None,
        (true, Some((evidence, key)), _) => Some(SentRecord {
            to: r.recipient.clone(),
            evidence,
            commitment_key: state.vault.wrap_secret(&key_context(&packet), key.reveal())?,
        }),
        // A resend: the offer and the key were kept in the outbox; the
        // trailer is signed again, once the source file is read again (on a
        // thread of its own: it reads the whole file).
        (true, None, Some(o)) => {
            let (state, receipt, outbox) = (Arc::clone(state), r.clone(), o.clone());
            tokio::task::spawn_blocking(move || rebuilt(&state, &receipt, &outbox))
                .await
                .map_err(|e| NodeError::Inconsistent(format!("the resend's evidence was not rebuilt: {e}")))?
                .map(|evidence| SentRecord {
                    to: r.recipient.clone(),
                    evidence,
                    commitment_key: o.commitment_key.clone(),
                })
        }
        (true, None, None) => None,
    };
    let (bytes, at) = (r.payload_len, state.now());
    let chain = counted.clone();
    let observed = crate::checkpoints::observe(state, &r.recipient, &bundle);
    let peer = r.recipient.to_string();
    state
        .commit_async(&[LogEntry::BundleReceived(bundle)], move |tx| {
            observed.write(&peer, tx)?;
            tx.remove_outbox(&packet)?;
            if let Some(sent) = &sent {
                tx.put_sent(&packet, sent)?;
            }
            tx.count_usage(&chain, bytes, at)
        })
        .await?;
    // Counted in memory only now that it is durable.
    let mut policy = lock(&state.policy);
    for (grant, period) in &counted {
        let mut usage = policy.usage.of(grant);
        usage.count(bytes, at, *period);
        policy.usage.restore(*grant, usage);
    }
    drop(policy);
    state.metrics.sent.inc();
    let what = if accepted { "packet sent" } else { "packet refused by the peer" };
    tracing::info!(peer = %r.recipient, packet = %packet, grant = %r.grant, bytes = r.payload_len,
        outcome = %crate::outcome_text(&r.outcome), "{what}");
    Ok(())
}

/// The evidence of a resent packet: the header and encapsulated key from
/// its offer, the trailer signed again over the receipt's digests, but only
/// once the receipt's commitment is checked against the file the payload
/// came from: this node signs no commitment it has not computed itself.
fn rebuilt(state: &NodeState, r: &Receipt, outbox: &crate::OutboxRecord) -> Option<Evidence> {
    let Outcome::Accepted { ciphertext_fingerprint, content_commitment } = r.outcome else { return None };
    let key = state.vault.unwrap_secret(&key_context(&r.packet_id), &outbox.commitment_key).ok()?;
    let path = std::path::Path::new(outbox.source.as_ref()?);
    // Never a FIFO or a device: reading one could block this thread for good.
    if !crate::files::is_regular_file(path) {
        return None;
    }
    let source = std::fs::File::open(path).ok()?;
    let key = CommitmentKey::from_revealed(*key);
    if tally_envelope::verify_reveal(&content_commitment, &key, std::io::BufReader::new(source)).is_err() {
        tracing::warn!(packet = %r.packet_id, "a resent packet's receipt commits to other content than its source file: no evidence kept");
        return None;
    }
    let header = outbox.offer.header.clone();
    let enc = outbox.offer.encapsulated_key.clone();
    let trailer = sign_trailer(&state.identity, &header, &enc, &ciphertext_fingerprint, &content_commitment);
    Some(Evidence { header, encapsulated_key: enc, trailer })
}

/// The reveal of packet `packet` from either side: the evidence, the
/// receipt and the commitment key, or why it cannot be revealed.
pub(crate) fn reveal(state: &NodeState, packet: &PacketId) -> Result<Reveal, NodeError> {
    if let Some(record) = state.store.inbox(packet)? {
        if let Some(at) = record.erased_at {
            return Err(NodeError::Refused(format!(
                "packet {packet} was erased at {}: its commitment key was destroyed with its data, so it can no longer be revealed",
                tally_grant::rfc3339(at)
            )));
        }
        let key = state
            .vault
            .key(record.grant, record.epoch)?
            .ok_or_else(|| NodeError::Refused(format!("packet {packet}: its data key was destroyed")))?;
        let k = tally_store::open_commitment_key(&key, packet, &record.grant, &record.commitment_key)?;
        let receipt = state.stored_bundle(packet)?.ok_or_else(|| {
            NodeError::Inconsistent(format!("the receipt of stored packet {packet} is not in the log"))
        })?;
        return Ok(Reveal { evidence: record.evidence, receipt, commitment_key: RevealedKey(*k) });
    }
    let sent = state.store.sent(packet)?.ok_or_else(|| {
        NodeError::NotFound(format!(
            "this node neither received nor delivered packet {packet} (see tally receipts list)"
        ))
    })?;
    let missing =
        || NodeError::Inconsistent(format!("packet {packet} is in the sent table but its receipt is not in the log"));
    let receipt = delivered(state, packet)?.map(|(_, bundle)| bundle).ok_or_else(missing)?;
    let k = state.vault.unwrap_secret(&key_context(packet), &sent.commitment_key)?;
    Ok(Reveal { evidence: sent.evidence, receipt, commitment_key: RevealedKey(*k) })
}

/// The recipient's bundle of its acceptance of packet `packet`, which this
/// node sent, and its index in this node's log: the sender's proof of
/// delivery. For a packet sent twice under one id (sealed anew), the
/// acceptance of the header in the sent table.
pub(crate) fn delivered(state: &NodeState, packet: &PacketId) -> Result<Option<(u64, ReceiptBundle)>, NodeError> {
    let digest = state.store.sent(packet)?.map(|s| tally_envelope::header_digest(&s.evidence.header));
    let mut legacy = false;
    for index in state.store.receipt_indices_of(packet, tally_store::ReceiptSide::Received)? {
        match state.log_entry(index)? {
            LogEntry::BundleReceived(b) => {
                let r = tally_receipt::bundled_receipt(&b.receipt);
                if matches!(r.outcome, Outcome::Accepted { .. }) && digest.is_none_or(|d| d == r.header_digest) {
                    return Ok(Some((index, b)));
                }
            }
            LogEntry::ReceiptReceived(r) => legacy |= matches!(r.unverified().outcome, Outcome::Accepted { .. }),
            _ => {}
        }
    }
    if legacy {
        return Err(NodeError::Refused(format!(
            "packet {packet} was delivered before receipts came in bundles: this node logged the recipient's signed receipt without its inclusion proof and checkpoint (tally receipts show); the recipient's node exports the bundle"
        )));
    }
    Ok(None)
}
