//! Revocations and erasure (spec/grants.md, "Revocation"; spec/protocol.md,
//! "Notices"): who may revoke, when a revocation takes effect, and
//! crypto-shredding that survives a crash.
//!
//! A revocation is kept only from the issuer of the revoked grant or of one
//! of its ancestors, in a chain this node holds; any other is refused and
//! changes nothing. It takes effect at `effective_from = max(effective_at,
//! issued_at)`: before then flows go on and nothing is erased; from then
//! the chain is revoked, and an erasure it obliges happens at the next
//! sweep (or at once, if it is already due).
//!
//! Erasure has two steps. First the deletion records enter the log in the
//! same transaction as a pending-erasure row per data key. Then each
//! pending key is destroyed (its slot overwritten and fsynced), and its
//! record, the packets' erased marks and the pending row change in one
//! transaction; the blobs are removed last. A crash between the steps
//! leaves pending rows, which the next start finishes: the log never says
//! "deleted" of data that stays readable.

use std::collections::{BTreeMap, BTreeSet};

use tally_grant::{VerifiedChain, effective_from, grant_id};
use tally_wire::{
    BoundedVec, DeletionReason, DeletionRecord, Encoded, GrantId, LogEntry, PacketId, Revocation, Signed,
};

use crate::NodeError;
use crate::state::{NodeState, lock};
use tally_store::InboxRecord;

/// Most revocations kept of one grant: a revoker with authority cannot fill the log with variants.
const MAX_REVOCATIONS_PER_GRANT: usize = 16;

impl NodeState {
    /// Keeps a revocation after checking its signature and its issuer's
    /// authority over the grant, logs it, and erases what it obliges once
    /// it takes effect. Returns `false` if it was kept before.
    pub(crate) fn keep_revocation(&self, revocation: Signed<Revocation>) -> Result<bool, NodeError> {
        let directory = self.directory();
        let r = revocation.unverified().clone();
        let key = tally_grant::Directory::identity_key(&*directory, &r.issuer).ok_or_else(|| {
            NodeError::Refused(format!("the revocation is issued by {}, which has no key in the directory", r.issuer))
        })?;
        key.verify_object(&revocation)
            .map_err(|_| NodeError::Refused(format!("the revocation does not verify under {}'s key", r.issuer)))?;
        let chains: Vec<VerifiedChain> = self
            .store
            .grants()?
            .into_iter()
            .filter(|(_, chain)| chain.iter().any(|g| grant_id(g) == r.grant))
            .filter_map(|(_, chain)| VerifiedChain::verify(&chain, &*directory).ok())
            .collect();
        let refuse = |why: String| {
            self.metrics.notices_refused.inc();
            tracing::warn!(grant = %r.grant, issuer = %r.issuer, "revocation refused: {why}");
            NodeError::NotPermitted(why)
        };
        if r.issued_at > self.now().checked_add(tally_audit::CLOCK_TOLERANCE).unwrap_or(r.issued_at) {
            return Err(refuse(format!(
                "the revocation is dated {}, ahead of this node's clock; check the revoker's clock",
                tally_grant::rfc3339(r.issued_at)
            )));
        }
        if chains.is_empty() {
            return Err(refuse(format!(
                "this node holds no grant {}; a revocation is kept only beside the grant it revokes",
                r.grant
            )));
        }
        if !chains.iter().any(|c| c.may_revoke(&r.grant, &r.issuer)) {
            return Err(refuse(format!(
                "{} may not revoke grant {}: only its issuer, or the issuer of a grant it was delegated from, may",
                r.issuer, r.grant
            )));
        }
        let bytes = revocation.encode();
        let kept = self.store.revocations()?;
        if kept.iter().any(|(known, _)| known.encode() == bytes) {
            return Ok(false);
        }
        if kept.iter().filter(|(known, _)| known.unverified().grant == r.grant).count() >= MAX_REVOCATIONS_PER_GRANT {
            return Err(refuse(format!(
                "this node keeps at most {MAX_REVOCATIONS_PER_GRANT} revocations of grant {}",
                r.grant
            )));
        }
        let erase = r.erase || chains.iter().any(|c| c.links().any(|(id, g)| *id == r.grant && g.erase_on_revoke));
        let kept = revocation.clone();
        self.commit(&[LogEntry::Revocation(revocation.clone())], move |tx| tx.put_revocation(&kept, erase))?;
        // In memory only now that it is durable.
        let _ = lock(&self.policy).revocations.insert(revocation, &*directory);
        let at = effective_from(&r);
        if at > self.now() {
            tracing::info!(grant = %r.grant, effective_from = %tally_grant::rfc3339(at), erase, "revocation kept; it takes effect later");
        }
        self.erase_due_revocations()?;
        Ok(true)
    }

    /// Erases what every kept revocation obliges whose time has come.
    fn erase_due_revocations(&self) -> Result<usize, NodeError> {
        let now = self.now();
        let mut erased = 0;
        for (revocation, pending) in self.store.revocations()? {
            let r = revocation.unverified();
            if !pending || effective_from(r) > now {
                continue;
            }
            let mut keys = Vec::new();
            for (leaf, chain) in self.store.grants()? {
                if chain.iter().any(|g| grant_id(g) == r.grant) {
                    keys.push((leaf, self.vault.epochs(leaf)?));
                }
            }
            erased += self.record_erasure(keys, DeletionReason::REVOKED_WITH_ERASURE, Some(revocation))?;
        }
        self.finish_erasures()?;
        Ok(erased)
    }

    /// Destroys what is due at the sweep: data keys past retention, and
    /// erasures of revocations that took effect. Returns the packets erased.
    pub(crate) fn sweep(&self) -> Result<usize, NodeError> {
        let mut due: BTreeMap<GrantId, Vec<u64>> = BTreeMap::new();
        for (grant, epoch) in self.vault.due(self.now())? {
            due.entry(grant).or_default().push(epoch);
        }
        let mut erased = self.record_erasure(due.into_iter().collect(), DeletionReason::RETENTION_ENDED, None)?;
        erased += self.erase_due_revocations()?;
        self.finish_erasures()?;
        Ok(erased)
    }

    /// Step one: logs the deletion records of the packets under these keys,
    /// with a pending-erasure row per key, in one transaction (which also
    /// marks `revocation`'s erasure as done), then a checkpoint over them.
    /// Returns how many packets the records name.
    pub(crate) fn record_erasure(
        &self,
        keys: Vec<(GrantId, Vec<u64>)>,
        reason: DeletionReason,
        revocation: Option<Signed<Revocation>>,
    ) -> Result<usize, NodeError> {
        let _exclusive = self.erasing.write().unwrap_or_else(std::sync::PoisonError::into_inner);
        let pending: BTreeSet<(GrantId, u64)> =
            self.store.pending_erasures()?.into_iter().map(|p| (p.grant, p.epoch)).collect();
        let keys: Vec<(GrantId, u64)> = keys
            .into_iter()
            .flat_map(|(grant, epochs)| epochs.into_iter().map(move |e| (grant, e)))
            .filter(|k| !pending.contains(k))
            .collect();
        if keys.is_empty() && revocation.is_none() {
            return Ok(0);
        }
        let now = self.now();
        let mut entries = Vec::new();
        let mut named = 0;
        // Every grant erased gets its deletion record, even with no packet stored.
        let mut by_grant: BTreeMap<GrantId, Vec<PacketId>> = keys.iter().map(|(g, _)| (*g, Vec::new())).collect();
        let wanted: BTreeSet<(GrantId, u64)> = keys.iter().copied().collect();
        self.store.for_each_inbox(|id, r| {
            if r.erased_at.is_none() && wanted.contains(&(r.grant, r.epoch)) {
                by_grant.entry(r.grant).or_default().push(id);
            }
            Ok::<_, tally_store::Error>(())
        })?;
        for (grant, ids) in by_grant {
            named += ids.len();
            for part in ids.chunks(tally_wire::limits::MAX_DELETION_PACKETS).chain(ids.is_empty().then_some(&[][..])) {
                let record = DeletionRecord {
                    agency: self.agency.clone(),
                    grant,
                    packets: BoundedVec::new(part.to_vec())?,
                    erased_at: now,
                    reason,
                };
                entries.push(LogEntry::Deletion(Encoded::new(record)?));
            }
        }
        self.commit(&entries, move |tx| {
            for (grant, epoch) in &keys {
                tx.put_erasure(grant, *epoch, reason.0)?;
            }
            if let Some(revocation) = &revocation {
                tx.put_revocation(revocation, false)?;
            }
            Ok(())
        })?;
        if !entries.is_empty() {
            self.log.checkpoint()?;
        }
        Ok(named)
    }

    /// Step two: destroys every key with a pending erasure, then forgets
    /// its record, marks its packets erased and removes their blobs.
    /// Idempotent; run at every start for what a crash left pending.
    pub(crate) fn finish_erasures(&self) -> Result<usize, NodeError> {
        let _exclusive = self.erasing.write().unwrap_or_else(std::sync::PoisonError::into_inner);
        let pending = self.store.pending_erasures()?;
        if pending.is_empty() {
            return Ok(0);
        }
        let now = self.now();
        let mut erased = 0;
        for tally_store::PendingErasure { grant, epoch, reason } in pending {
            self.vault.destroy(grant, epoch)?;
            // Only the records under this key are held, not the whole inbox.
            let mut packets: Vec<(PacketId, InboxRecord)> = Vec::new();
            self.store.for_each_inbox(|id, r| {
                if r.grant == grant && r.epoch == epoch && r.erased_at.is_none() {
                    packets.push((id, InboxRecord { erased_at: Some(now), ..r }));
                }
                Ok::<_, tally_store::Error>(())
            })?;
            let rows = packets.clone();
            self.commit(&[], move |tx| {
                tx.finish_erasure(&grant, epoch)?;
                for (id, record) in &rows {
                    tx.put_inbox(id, record)?;
                    tx.remove_inline_blob(id)?;
                }
                Ok(())
            })?;
            for (id, record) in &packets {
                let path = self.blob_path(id);
                if let Err(e) = std::fs::remove_file(&path)
                    && e.kind() != std::io::ErrorKind::NotFound
                {
                    tracing::warn!(path = %path.display(), error = %e, "cannot remove an erased blob (its key is destroyed)");
                }
                self.limits.erased(&record.sender, record.size);
            }
            erased += packets.len();
            self.metrics.erased.inc_by(packets.len() as u64);
            let reason = DeletionReason(reason);
            tracing::info!(grant = %grant, epoch, packets = packets.len(), %reason, "erased (data key destroyed)");
        }
        Ok(erased)
    }
}
