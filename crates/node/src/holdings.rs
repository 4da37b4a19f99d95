//! What a node holds, as it shows it: its status, inbox, receipts, bundles,
//! log exports, reveals, and the plaintext of what it received.

use std::sync::Arc;

use tally_audit::{LOG_EXPORT_FORMAT, LogExport};
use tally_receipt::{LogStore, bundle_to_text};
use tally_wire::{BundledReceipt, LogEntry, PacketId, Receipt, ReceiptBundle};

use crate::api::{
    GrantState, GrantStatus, InboxEntry, ReceiptEntry, ReceiptProof, ReceiptSummary, RevocationShown, Side, Status,
    UsageShown,
};
use crate::{Node, NodeError, hex};

/// A received packet whose blob and key are at hand ([`Node::open_packet`]).
pub struct StoredPacket {
    state: Arc<crate::state::NodeState>,
    packet: PacketId,
    record: tally_store::InboxRecord,
    key: Arc<tally_store::DataKey>,
    blob: Box<dyn std::io::Read + Send>,
}

impl StoredPacket {
    /// Its plaintext length.
    pub fn size(&self) -> u64 {
        self.record.size
    }

    /// Decrypts it into `out`; fails if the blob was cut short or altered,
    /// or if its data key is destroyed meanwhile (an erasure stops an export
    /// that is under way: no plaintext flows after the log says it is gone).
    pub fn write_to(self, out: impl std::io::Write) -> Result<u64, NodeError> {
        let blob = self.blob;
        let (grant, epoch) = (self.record.grant, self.record.epoch);
        let out = Live { inner: out, state: &self.state, grant, epoch, unchecked: LIVE_CHECK };
        Ok(tally_store::open_blob(&self.key, &self.packet, &grant, blob, out)?)
    }
}

/// Plaintext bytes written between two checks that the data key still lives.
const LIVE_CHECK: u64 = 1 << 20;

/// A writer that stops once the packet's data key is destroyed.
struct Live<'a, W> {
    inner: W,
    state: &'a crate::state::NodeState,
    grant: tally_wire::GrantId,
    epoch: u64,
    unchecked: u64,
}

impl<W: std::io::Write> std::io::Write for Live<'_, W> {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        if self.unchecked >= LIVE_CHECK {
            let live = self.state.vault.is_live(self.grant, self.epoch).map_err(std::io::Error::other)?;
            if !live {
                return Err(std::io::Error::other("the packet was erased during the export"));
            }
            self.unchecked = 0;
        }
        let n = self.inner.write(buf)?;
        self.unchecked += n as u64;
        Ok(n)
    }

    fn flush(&mut self) -> std::io::Result<()> {
        self.inner.flush()
    }
}

impl Node {
    /// Verifies a grant chain against the node's current directory.
    pub fn verify_chain(&self, chain: &tally_wire::GrantChain) -> Result<(), tally_grant::Denial> {
        let directory = self.state.directory();
        tally_grant::VerifiedChain::verify(chain, &*directory).map(drop)
    }

    /// The reveal of a packet this node received or delivered: its
    /// evidence of origin, its receipt and its commitment key, and whether
    /// this node received it (then [`export_packet`](Self::export_packet)
    /// gives its plaintext; a sender does not keep what it sent: it gives
    /// the auditor its own copy).
    pub fn reveal(&self, packet: &PacketId) -> Result<(tally_wire::Reveal, bool), NodeError> {
        let reveal = crate::sent::reveal(&self.state, packet)?;
        Ok((reveal, self.state.store.inbox(packet)?.is_some()))
    }

    /// The state of grant chain `chain` now: revoked, expired, not yet
    /// valid, quota exhausted or active (in that order of precedence), with
    /// the revocations and the usage this node holds.
    pub fn grant_status(&self, chain: &tally_wire::GrantChain) -> GrantStatus {
        let now = self.state.now();
        let policy = crate::state::lock(&self.state.policy);
        let links: Vec<_> = chain.iter().map(|g| (tally_grant::grant_id(g), g.unverified())).collect();
        let mut revocation: Option<(RevocationShown, tally_wire::Timestamp)> = None;
        for (i, (id, _)) in links.iter().enumerate() {
            for r in policy.revocations.of(id).map(tally_wire::Signed::unverified) {
                // Only the grant's issuer or an ancestor's may revoke it.
                if !links[i..].iter().any(|(_, g)| g.issuer == r.issuer) {
                    continue;
                }
                let at = tally_grant::effective_from(r);
                if revocation.as_ref().is_none_or(|(_, t)| at < *t) {
                    let reason = crate::api::RevokeReason::ALL
                        .into_iter()
                        .find(|k| k.code() == r.reason)
                        .map_or_else(|| r.reason.to_string(), |k| k.name().to_owned());
                    let shown = RevocationShown {
                        grant: *id,
                        by: r.issuer.clone(),
                        effective_at: tally_grant::rfc3339(at),
                        reason,
                        erase: r.erase,
                        pending: at > now,
                    };
                    revocation = Some((shown, at));
                }
            }
        }
        let exhausted = links.iter().any(|(id, g)| {
            let u = policy.usage.of(id);
            g.quota.max_packets.is_some_and(|m| u.packets >= m) || g.quota.max_bytes.is_some_and(|m| u.bytes >= m)
        });
        let state = if revocation.as_ref().is_some_and(|(r, _)| !r.pending) {
            GrantState::Revoked
        } else if links.iter().any(|(_, g)| g.not_after <= now) {
            GrantState::Expired
        } else if links.iter().any(|(_, g)| g.not_before > now) {
            GrantState::NotYetValid
        } else if exhausted {
            GrantState::QuotaExhausted
        } else {
            GrantState::Active
        };
        let usage = match links.first() {
            Some((id, g)) => {
                let u = policy.usage.of(id);
                UsageShown {
                    packets: u.packets,
                    max_packets: g.quota.max_packets,
                    bytes: u.bytes,
                    max_bytes: g.quota.max_bytes,
                }
            }
            None => UsageShown { packets: 0, max_packets: None, bytes: 0, max_bytes: None },
        };
        GrantStatus { state, revocation: revocation.map(|(r, _)| r), usage }
    }

    /// What the node is and holds.
    pub fn status(&self) -> Result<Status, NodeError> {
        let sends = self.unfinished()?;
        Ok(Status {
            agency: self.state.agency.clone(),
            listen: self.local_addr()?,
            directory_serial: self.state.directory().serial(),
            log_size: self.state.log.size()?,
            unfinished_sends: sends.len() as u64,
            peers: self.peers(&sends),
            sends,
            tls: {
                let done = tally_transport::key_exchanges();
                crate::api::TlsStatus {
                    key_exchange: self.state.config.tls.key_exchange,
                    hybrid: done.hybrid,
                    classical: done.classical,
                }
            },
        })
    }

    /// Received packets.
    pub fn inbox(&self) -> Result<Vec<InboxEntry>, NodeError> {
        Ok(self
            .state
            .store
            .inbox_all()?
            .into_iter()
            .map(|(packet, r)| InboxEntry {
                packet,
                sender: r.sender,
                grant: r.grant,
                purpose: r.purpose,
                category: r.category,
                suite: r.evidence.header.value().suite.to_string(),
                size: r.size,
                received_at: tally_grant::rfc3339(tally_receipt::bundled_receipt(&r.receipt).received_at),
                erased_at: r.erased_at.map(tally_grant::rfc3339),
            })
            .collect())
    }

    /// Writes a received packet's plaintext to `out`.
    pub fn export_packet(&self, packet: &PacketId, out: impl std::io::Write) -> Result<u64, NodeError> {
        self.open_packet(packet)?.write_to(out)
    }

    /// A received packet ready to be decrypted: every reason it cannot be
    /// (not received, erased, its key destroyed, its blob missing) is found here.
    pub fn open_packet(&self, packet: &PacketId) -> Result<StoredPacket, NodeError> {
        let state = &self.state;
        let record = state
            .store
            .inbox(packet)?
            .ok_or_else(|| NodeError::NotFound(format!("no packet {packet} in the inbox (see tally inbox list)")))?;
        if let Some(at) = record.erased_at {
            return Err(NodeError::Refused(format!(
                "packet {packet} was erased at {} (retention ended or grant revoked)",
                tally_grant::rfc3339(at)
            )));
        }
        let key = state
            .vault
            .key(record.grant, record.epoch)?
            .ok_or_else(|| NodeError::Refused(format!("packet {packet}: its data key was destroyed")))?;
        let blob: Box<dyn std::io::Read + Send> = match state.store.inline_blob(packet)? {
            Some(sealed) => Box::new(std::io::Cursor::new(sealed)),
            None => {
                let path = state.blob_path(packet);
                Box::new(std::io::BufReader::new(std::fs::File::open(&path).map_err(NodeError::file(&path))?))
            }
        };
        Ok(StoredPacket { state: Arc::clone(state), packet: *packet, record, key, blob })
    }

    /// Every receipt in the log.
    pub fn receipts(&self) -> Result<Vec<ReceiptEntry>, NodeError> {
        let agency = &self.state.agency;
        // A receipt this node issued is under its latest checkpoint, if that covers it.
        let latest = self.state.log.latest_checkpoint();
        let issued = |index: u64, batch_signed, r: &Receipt| {
            let covering = latest.as_ref().filter(|c| c.size > index);
            ReceiptEntry {
                index,
                side: Side::Issued,
                batch_signed,
                proof: Some(ReceiptProof {
                    log: agency.clone(),
                    index,
                    checkpoint_size: covering.map(|c| c.size),
                    checkpoint_root: covering.map(|c| c.root),
                }),
                receipt: ReceiptSummary::of(r),
            }
        };
        // Only the receipts are read, by the store's index of them.
        let mut receipts = Vec::new();
        for index in self.state.store.receipt_indices()? {
            receipts.push(match self.state.log_entry(index)? {
                LogEntry::ReceiptIssued(r) => issued(index, false, r.unverified()),
                LogEntry::ReceiptLogged(r) => issued(index, true, r.value()),
                LogEntry::ReceiptReceived(r) => ReceiptEntry {
                    index,
                    side: Side::Received,
                    batch_signed: false,
                    proof: None,
                    receipt: ReceiptSummary::of(r.unverified()),
                },
                LogEntry::BundleReceived(b) => {
                    let r = tally_receipt::bundled_receipt(&b.receipt);
                    let checkpoint = crate::checkpoints::parse(b.checkpoint.as_str());
                    ReceiptEntry {
                        index,
                        side: Side::Received,
                        batch_signed: matches!(b.receipt, BundledReceipt::Logged(_)),
                        proof: Some(ReceiptProof {
                            log: r.recipient.clone(),
                            index: b.index,
                            checkpoint_size: checkpoint.as_ref().map(|c| c.size),
                            checkpoint_root: checkpoint.map(|c| c.root),
                        }),
                        receipt: ReceiptSummary::of(r),
                    }
                }
                _ => return Err(NodeError::Inconsistent(format!("log entry {index} is indexed as a receipt"))),
            });
        }
        Ok(receipts)
    }

    /// The receipt bundle of packet `packet`, as the text form `tally
    /// verify` reads, from either side: for a packet this node received,
    /// its own receipt under its latest checkpoint; for one it sent, the
    /// bundle the recipient gave (its proof of delivery). An acceptance
    /// before a rejection; the newest rejection if there is no acceptance.
    pub fn receipt_bundle(&self, packet: &PacketId) -> Result<String, NodeError> {
        let state = &self.state;
        let bundle = match state.stored_bundle(packet)? {
            Some(bundle) => bundle,
            None => match crate::sent::delivered(state, packet)? {
                Some((_, bundle)) => bundle,
                None => self.refusal_bundle(packet)?.ok_or_else(|| {
                    NodeError::NotFound(format!(
                        "no receipt bundle for {packet} in this node's log (see tally receipts list)"
                    ))
                })?,
            },
        };
        bundle_to_text(&bundle).map_err(NodeError::from)
    }

    /// The newest rejection of `packet` in the log, on either side, in its bundle.
    fn refusal_bundle(&self, packet: &PacketId) -> Result<Option<ReceiptBundle>, NodeError> {
        let state = &self.state;
        for side in [tally_store::ReceiptSide::Received, tally_store::ReceiptSide::Issued] {
            for index in state.store.receipt_indices_of(packet, side)?.into_iter().rev() {
                match state.log_entry(index)? {
                    LogEntry::BundleReceived(b) => return Ok(Some(b)),
                    entry => {
                        if let Some(r) = tally_receipt::issued_receipt(entry) {
                            return Ok(Some(state.log.bundle_of(r, index)?));
                        }
                    }
                }
            }
        }
        Ok(None)
    }

    /// Signs a checkpoint of the log as it is now; returns the signed note.
    pub fn checkpoint(&self) -> Result<String, NodeError> {
        Ok(self.state.log.checkpoint()?.1)
    }

    /// The whole log and a fresh checkpoint over it, for an auditor.
    pub fn export_log(&self) -> Result<LogExport, NodeError> {
        let log = &self.state.log;
        let (checkpoint, note) = log.checkpoint()?;
        let entries = (0..checkpoint.size)
            .map(|i| log.store().entry(i).map(|e| hex::encode(&e)).map_err(|e| NodeError::Log(e.into())))
            .collect::<Result<_, _>>()?;
        Ok(LogExport { format: LOG_EXPORT_FORMAT.into(), agency: self.state.agency.clone(), checkpoint: note, entries })
    }
}
