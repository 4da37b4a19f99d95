//! A running node's state: keys, directory, policy, storage and log, and
//! the operations on them that the transport host, the local API and
//! the sweeper share.
//!
//! What the policy holds in memory (usage, revocations) changes only after
//! the transaction that makes the change durable has committed; a quota
//! reservation is the one exception, and it is given back unless its
//! packet is stored ([`Reservation`]).

use std::collections::{HashMap, HashSet};
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, RwLock};

use tally_envelope::IdentityKey;
use tally_grant::{Authorization, ChainCache, Denial, Flow, RevocationSet, Usage, VerifiedChain, grant_id};
use tally_receipt::{Log, log_origin};
use tally_store::{InboxRecord, Store, Tx, Vault};
use tally_transport::Roster;
use tally_wire::{
    AgencyId, BundledReceipt, Encoded, Evidence, Grant, GrantChain, GrantId, LogEntry, PacketId, Receipt,
    ReceiptBundle, Signed, Timestamp,
};
use tokio::sync::Notify;

use crate::agency::AgencyKeys;
use crate::config::NodeConfig;
use crate::limits::PeerLimits;
use crate::load_directory;
pub(crate) use crate::policy::{Policy, lock};
use crate::{NodeError, hex};
use tally_grant::VerifiedDirectory;

/// Everything a running node holds.
pub(crate) struct NodeState {
    pub(crate) dir: PathBuf,
    pub(crate) config: NodeConfig,
    pub(crate) agency: AgencyId,
    pub(crate) identity: Arc<IdentityKey>,
    pub(crate) keys: AgencyKeys,
    pub(crate) operator: tally_wire::IdentityPublicKey,
    pub(crate) directory: RwLock<Arc<VerifiedDirectory>>,
    pub(crate) roster: Arc<Roster>,
    pub(crate) store: Store,
    pub(crate) log: Log<Store>,
    /// Peers' checkpoints seen in their bundles, and fork evidence against them.
    pub(crate) checkpoints: crate::checkpoints::PeerCheckpoints,
    pub(crate) vault: Vault,
    pub(crate) policy: Arc<Mutex<Policy>>,
    pub(crate) limits: Arc<PeerLimits>,
    pub(crate) blobs: PathBuf,
    pub(crate) metrics: crate::metrics::Metrics,
    /// Packets being received now: a second offer of one waits on the
    /// first's notification, and is decided again when it ends.
    pub(crate) receiving: Mutex<HashMap<PacketId, Arc<Notify>>>,
    /// Held for writing while erasure records and destroys keys, for
    /// reading while a packet is stored: no packet is stored under a key
    /// being destroyed, or after a revocation that took effect meanwhile.
    pub(crate) erasing: RwLock<()>,
}

impl NodeState {
    /// Opens the node in directory `dir`: keys, directory, database, log.
    pub(crate) fn open(dir: &Path) -> Result<Arc<Self>, NodeError> {
        let config = NodeConfig::load(dir)?;
        let operator = config.operator_key.ok_or_else(|| {
            NodeError::Usage(format!(
                "{}: operator_key is not set; copy the operator's public key (operator.pub from `tally federation init`) into it",
                dir.join(crate::config::CONFIG_FILE).display()
            ))
        })?;
        let keys = AgencyKeys::load(dir, &config.agency)?;
        let directory = load_directory(&dir.join(&config.directory), &operator)?;
        let record =
            directory.agency(&config.agency).ok_or_else(|| NodeError::UnknownAgency(config.agency.to_string()))?;
        if record.identity_key != keys.identity.public_key() || record.tls_key != keys.tls.spki_digest() {
            return Err(NodeError::Directory {
                path: dir.join(&config.directory),
                reason: format!(
                    "its keys for `{}` are not this node's keys (was the agency re-initialised?)",
                    config.agency
                ),
            });
        }
        let data = dir.join("data");
        let blobs = data.join("blobs");
        let incoming = blobs.join("incoming");
        crate::files::create_private_dir(&incoming)?;
        // Unfinished payloads were never receipted: their senders resend them.
        for entry in std::fs::read_dir(&incoming).map_err(NodeError::file(&incoming))?.flatten() {
            let _ = std::fs::remove_file(entry.path());
        }
        let store = Store::open(&data.join("tally.redb"), &log_origin(&config.agency), &keys.identity.public_key())?;
        let seen = store.meta("directory_serial")?.unwrap_or(0);
        if directory.serial() < seen {
            return Err(NodeError::Directory {
                path: dir.join(&config.directory),
                reason: format!(
                    "serial {} is older than serial {seen}, which this node has already used",
                    directory.serial()
                ),
            });
        }
        let serial = directory.serial();
        store.commit(&[], move |tx| tx.set_meta("directory_serial", serial))?;
        let identity = Arc::clone(&keys.identity);
        let log = Log::new(store.clone(), &config.agency, Arc::clone(&identity));
        let vault = Vault::open(&keys.storage, store.clone(), &data.join("keys.slots"))?;
        let roster = Arc::new(Roster::new(directory.directory()));
        let mut revocations = RevocationSet::new();
        for (r, _) in store.revocations()? {
            // Revocations were checked when stored; one whose issuer left the directory no longer verifies.
            let _ = revocations.insert(r, &directory);
        }
        let mut usage = Usage::new();
        for (grant, u) in store.usage()? {
            usage.restore(grant, u);
        }
        let mut stored = Vec::new();
        store.for_each_inbox(|_, r| {
            if r.erased_at.is_none() {
                stored.push((r.sender, r.size));
            }
            Ok::<_, tally_store::Error>(())
        })?;
        let grants = store.grants()?;
        let issuers = grants.iter().filter_map(|(_, c)| c.first().map(|g| g.unverified().issuer.clone()));
        let limits = PeerLimits::new(&config.limits, stored, issuers);
        let serial = directory.serial();
        let checkpoints = crate::checkpoints::PeerCheckpoints::load(&store)?;
        let state = Arc::new(Self {
            dir: dir.to_owned(),
            agency: config.agency.clone(),
            identity,
            operator,
            directory: RwLock::new(Arc::new(directory)),
            roster,
            store,
            log,
            checkpoints,
            vault,
            policy: Arc::new(Mutex::new(Policy { usage, revocations, cache: ChainCache::new(serial, 1024) })),
            limits: Arc::new(limits),
            blobs,
            metrics: crate::metrics::Metrics::default(),
            receiving: Mutex::new(HashMap::new()),
            erasing: RwLock::new(()),
            keys,
            config,
        });
        state.reconcile()?;
        // Erasures a crash interrupted after their deletion records were logged.
        state.finish_erasures()?;
        Ok(state)
    }

    /// Logs the receipts of stored packets that a crash kept out of the log.
    fn reconcile(&self) -> Result<(), NodeError> {
        let mut missing = Vec::new();
        self.store.for_each_inbox(|id, record| {
            let logged = self.store.receipt_indices_of(&id, tally_store::ReceiptSide::Issued)?;
            let entry = tally_receipt::bundled_entry(&record.receipt);
            if !logged.into_iter().any(|i| self.log_entry(i).is_ok_and(|e| e == entry)) {
                missing.push(entry);
            }
            Ok::<_, NodeError>(())
        })?;
        if !missing.is_empty() {
            tracing::warn!(count = missing.len(), "logging receipts of stored packets left out of the log by a crash");
            self.log.append(&missing)?;
        }
        Ok(())
    }

    /// The receipt this node issued for the packet `packet` it stored, and
    /// its index in the log. A pull request's refusal may carry the same id
    /// (the requester chooses it): it is not this receipt.
    pub(crate) fn stored_receipt(&self, packet: &PacketId) -> Result<Option<(u64, BundledReceipt)>, NodeError> {
        let Some(stored) = self.store.inbox(packet)? else { return Ok(None) };
        let entry = tally_receipt::bundled_entry(&stored.receipt);
        for index in self.store.receipt_indices_of(packet, tally_store::ReceiptSide::Issued)? {
            if self.log_entry(index)? == entry {
                return Ok(Some((index, stored.receipt)));
            }
        }
        Err(NodeError::Inconsistent(format!("the receipt of stored packet {packet} is not in the log")))
    }

    /// The bundle of the receipt this node issued for stored packet
    /// `packet`: under the latest checkpoint, signed now if none covers it
    /// (a crash between the commit and the checkpoint).
    pub(crate) fn stored_bundle(&self, packet: &PacketId) -> Result<Option<ReceiptBundle>, NodeError> {
        let Some((index, receipt)) = self.stored_receipt(packet)? else { return Ok(None) };
        Ok(Some(self.log.bundle_of(receipt, index)?))
    }

    /// The bundle of the rejection this node issued for the offer of
    /// `packet` with header digest `digest`, if it refused that offer
    /// before: a resend gets the same answer (a pull request's refusal
    /// under the same id has another digest and is not it).
    pub(crate) fn refused_bundle(
        &self,
        packet: &PacketId,
        digest: &tally_wire::Digest,
    ) -> Result<Option<ReceiptBundle>, NodeError> {
        for index in self.store.receipt_indices_of(packet, tally_store::ReceiptSide::Issued)?.into_iter().rev() {
            let Some(receipt) = tally_receipt::issued_receipt(self.log_entry(index)?) else { continue };
            let r = tally_receipt::bundled_receipt(&receipt);
            if r.header_digest == *digest && matches!(r.outcome, tally_wire::Outcome::Rejected { .. }) {
                return Ok(Some(self.log.bundle_of(receipt, index)?));
            }
        }
        Ok(None)
    }

    /// A receipt this node issues, as the signing mode has it: signed on
    /// its own, or to be logged unsigned under the group commit's checkpoint.
    pub(crate) fn issue(&self, receipt: Receipt) -> Result<BundledReceipt, NodeError> {
        Ok(match self.config.receipts.signing {
            crate::config::Signing::Individual => BundledReceipt::Signed(
                self.identity
                    .sign_object(receipt)
                    .map_err(|source| NodeError::Key { path: self.dir.clone(), source })?,
            ),
            crate::config::Signing::Batched => BundledReceipt::Logged(Encoded::new(receipt)?),
        })
    }

    /// The log entry at `index`, decoded.
    pub(crate) fn log_entry(&self, index: u64) -> Result<LogEntry, NodeError> {
        use tally_receipt::LogStore;
        let bytes = self.log.store().entry(index).map_err(tally_receipt::LogError::from)?;
        Ok(tally_wire::from_bytes::<LogEntry>(&bytes, "log entry")?)
    }

    /// Every log entry, decoded, with its index (tests look at the whole log).
    #[cfg(test)]
    pub(crate) fn log_entries(&self) -> Result<Vec<(u64, LogEntry)>, NodeError> {
        use tally_receipt::LogStore;
        let size = self.log.size()?;
        (0..size)
            .map(|i| {
                let bytes = self.log.store().entry(i).map_err(tally_receipt::LogError::from)?;
                Ok((i, tally_wire::from_bytes::<LogEntry>(&bytes, "log entry")?))
            })
            .collect()
    }

    /// The policy's clock: the system clock plus the configured offset.
    pub(crate) fn now(&self) -> Timestamp {
        self.config.now()
    }

    pub(crate) fn directory(&self) -> Arc<VerifiedDirectory> {
        Arc::clone(&self.directory.read().unwrap_or_else(std::sync::PoisonError::into_inner))
    }

    /// Loads the directory file again and switches to it if its serial is newer.
    pub(crate) fn reload_directory(&self) -> Result<bool, NodeError> {
        let path = self.dir.join(&self.config.directory);
        self.adopt_directory(load_directory(&path, &self.operator)?)
    }

    /// Uses `fresh` from now on if its serial is above the current one's;
    /// the transport then re-checks its open connections against it.
    pub(crate) fn adopt_directory(&self, fresh: VerifiedDirectory) -> Result<bool, NodeError> {
        if fresh.serial() <= self.directory().serial() {
            return Ok(false);
        }
        let serial = fresh.serial();
        self.store.commit(&[], move |tx| tx.set_meta("directory_serial", serial))?;
        *self.directory.write().unwrap_or_else(std::sync::PoisonError::into_inner) = Arc::new(fresh.clone());
        self.roster.update(fresh.directory());
        tracing::info!(serial = fresh.serial(), "directory updated");
        Ok(true)
    }

    /// The policy decision on `flow` under `chain`, against the current directory.
    pub(crate) fn decide(&self, flow: &Flow, chain: &GrantChain) -> Result<Authorization, Denial> {
        let directory = self.directory();
        let mut policy = lock(&self.policy);
        let Policy { usage, revocations, cache } = &mut *policy;
        cache.decide(flow, chain, revocations, &*directory, directory.serial(), usage)
    }

    /// Decides `flow` and, if it is allowed, reserves its count against the
    /// chain's quotas in the same step, so that concurrent flows cannot
    /// both take the last of a quota.
    pub(crate) fn decide_and_reserve(
        self: &Arc<Self>,
        flow: &Flow,
        chain: &GrantChain,
    ) -> Result<crate::reservation::Reservation, Denial> {
        let directory = self.directory();
        let mut policy = lock(&self.policy);
        let Policy { usage, revocations, cache } = &mut *policy;
        let auth = cache.decide(flow, chain, revocations, &*directory, directory.serial(), usage)?;
        usage.apply(&auth, flow.bytes, flow.at);
        Ok(crate::reservation::Reservation::new(
            Arc::clone(&self.policy),
            Arc::clone(&self.limits),
            auth,
            flow.bytes,
            flow.at,
        ))
    }

    /// Makes the counts of `reservations` durable (one transaction), and keeps them.
    pub(crate) fn count_durably(&self, reservations: Vec<crate::reservation::Reservation>) -> Result<(), NodeError> {
        let counts: Vec<_> = reservations.iter().map(|r| (r.chain(), r.bytes(), r.at())).collect();
        self.commit(&[], move |tx| {
            for (chain, bytes, at) in &counts {
                tx.count_usage(chain, *bytes, *at)?;
            }
            Ok(())
        })?;
        for r in reservations {
            r.keep();
        }
        Ok(())
    }

    /// Stores a received, verified packet whose blob is in place (or, for a
    /// small one, whose sealed payload is in the draft, to be kept in the
    /// same transaction): signs its receipt, records the packet (with its
    /// evidence), its usage and grants first seen in one transaction, then
    /// logs the receipt.
    pub(crate) fn store_received(
        &self,
        record: InboxRecordDraft,
        receipt: Receipt,
        evidence: Evidence,
        commitment_key: Vec<u8>,
        chain: &GrantChain,
        reservation: crate::reservation::Reservation,
    ) -> Result<ReceiptBundle, NodeError> {
        if receipt.recipient != self.agency {
            return Err(NodeError::Refused(format!(
                "a receipt naming {} is not this node's to sign",
                receipt.recipient
            )));
        }
        // No erasure runs while a packet is stored: one that began after the
        // packet was accepted is seen here, and the packet is not taken.
        let _no_erasure = self.erasing.read().unwrap_or_else(std::sync::PoisonError::into_inner);
        if !self.vault.is_live(record.grant, record.epoch)? {
            return Err(NodeError::Refused(format!(
                "grant {}'s data key of epoch {} was destroyed while the packet arrived",
                record.grant, record.epoch
            )));
        }
        let directory = self.directory();
        let revoked = {
            let mut policy = lock(&self.policy);
            let Policy { revocations, cache, .. } = &mut *policy;
            let now = self.now();
            cache.verified(chain, &*directory, directory.serial()).ok().and_then(|c| revocations.revoked_at(c, now))
        };
        if let Some((grant, _)) = revoked {
            return Err(NodeError::Refused(format!("grant {grant} was revoked while the packet arrived")));
        }
        let (packet, grant) = (receipt.packet_id, receipt.grant);
        let inline = record.inline;
        let issued = self.issue(receipt)?;
        let (sender, size) = (record.sender.clone(), record.size);
        let record = InboxRecord {
            sender: record.sender,
            grant: record.grant,
            purpose: record.purpose,
            category: record.category,
            content_type: record.content_type,
            size: record.size,
            epoch: record.epoch,
            receipt: issued.clone(),
            erased_at: None,
            evidence,
            commitment_key,
        };
        let new_grants = self.new_grants(chain)?;
        let mut entries: Vec<LogEntry> = new_grants.iter().cloned().map(LogEntry::GrantReceived).collect();
        entries.push(tally_receipt::bundled_entry(&issued));
        let new_chain = (!new_grants.is_empty()).then(|| chain.clone());
        let (counted, bytes, at) = (reservation.chain(), reservation.bytes(), reservation.at());
        // The packet's record, the quota it used, any grant first seen with
        // it and its receipt: one transaction, shared with other exchanges.
        let logged = self.commit(&entries, move |tx| {
            tx.put_inbox(&packet, &record)?;
            if let Some(sealed) = &inline {
                tx.put_inline_blob(&packet, sealed)?;
            }
            tx.count_usage(&counted, bytes, at)?;
            if let Some(chain) = &new_chain {
                tx.put_grant_chain(chain)?;
            }
            Ok(())
        })?;
        reservation.keep();
        if let Some(leaf) = chain.first().filter(|_| !new_grants.is_empty()) {
            self.limits.kept_grant(&leaf.unverified().issuer);
        }
        tracing::info!(peer = %sender, packet = %packet, grant = %grant, bytes = size,
            "packet received and receipted");
        self.metrics.received.inc();
        self.metrics.received_bytes.inc_by(size);
        // Durable: the bundle under the checkpoint of this group commit.
        self.bundle(issued, logged.end - 1)
    }

    /// The bundle of the receipt just committed at `index`: under the
    /// latest checkpoint if it covers the index, or a new one, signed once
    /// for every receipt of the group commit (the others wait for it here).
    pub(crate) fn bundle(&self, receipt: BundledReceipt, index: u64) -> Result<ReceiptBundle, NodeError> {
        self.metrics.receipts_issued.inc();
        Ok(self.log.bundle_of(receipt, index)?)
    }

    /// Appends `entries` to the log and makes `side`'s changes to the node's
    /// tables in the same transaction, committed together with every other
    /// write waiting (group commit). Blocks until it is durable.
    pub(crate) fn commit(
        &self,
        entries: &[LogEntry],
        side: impl Fn(&mut Tx<'_>) -> Result<(), tally_store::Error> + Send + 'static,
    ) -> Result<std::ops::Range<u64>, NodeError> {
        Ok(self.store.commit(entries, side)?)
    }

    /// [`commit`](Self::commit), awaited by a task instead of blocking a thread.
    pub(crate) async fn commit_async(
        &self,
        entries: &[LogEntry],
        side: impl Fn(&mut Tx<'_>) -> Result<(), tally_store::Error> + Send + 'static,
    ) -> Result<std::ops::Range<u64>, NodeError> {
        Ok(self.store.commit_async(entries, side).await?)
    }

    /// The grants of `chain` this node has not logged yet.
    pub(crate) fn new_grants(&self, chain: &GrantChain) -> Result<Vec<Signed<Grant>>, NodeError> {
        let Some(leaf) = chain.first() else { return Ok(Vec::new()) };
        if self.store.grant_chain(&grant_id(leaf))?.is_some() {
            return Ok(Vec::new());
        }
        let known: HashSet<GrantId> = self.store.grants()?.iter().flat_map(|(_, c)| c.iter().map(grant_id)).collect();
        Ok(chain.iter().filter(|g| !known.contains(&grant_id(g))).cloned().collect())
    }

    /// Keeps a grant chain (verified against the directory) and logs it as
    /// issued or received. A chain from an issuer that already has the
    /// limit of chains kept here is refused.
    pub(crate) fn keep_grant(&self, chain: GrantChain, issued: bool) -> Result<GrantId, NodeError> {
        let directory = self.directory();
        VerifiedChain::verify(&chain, &*directory)
            .map_err(|denial| NodeError::Denied { context: "the grant does not verify", denial })?;
        let leaf = chain.first().ok_or_else(|| NodeError::Usage("an empty grant chain".into()))?;
        let id = grant_id(leaf);
        let issuer = leaf.unverified().issuer.clone();
        let new = self.new_grants(&chain)?;
        if new.is_empty() {
            return Ok(id);
        }
        if !issued && !self.limits.may_keep_grant(&issuer) {
            return Err(NodeError::NotPermitted(format!(
                "this node keeps at most {} grants issued by {issuer} ([limits] max_grants_per_issuer)",
                self.limits.limits().max_grants_per_issuer
            )));
        }
        let entries: Vec<LogEntry> = new
            .into_iter()
            .map(|g| {
                if issued && g.unverified().issuer == self.agency {
                    LogEntry::GrantIssued(g)
                } else {
                    LogEntry::GrantReceived(g)
                }
            })
            .collect();
        self.commit(&entries, move |tx| tx.put_grant_chain(&chain))?;
        self.limits.kept_grant(&issuer);
        Ok(id)
    }

    /// Where a stored packet's blob is.
    pub(crate) fn blob_path(&self, packet: &PacketId) -> PathBuf {
        self.blobs.join(hex::encode(&packet.0))
    }
}

/// What the inbox knows of a packet before its receipt exists.
pub(crate) struct InboxRecordDraft {
    pub(crate) sender: AgencyId,
    pub(crate) grant: GrantId,
    pub(crate) purpose: tally_wire::Purpose,
    pub(crate) category: tally_wire::DataCategory,
    pub(crate) content_type: tally_wire::ContentType,
    pub(crate) size: u64,
    pub(crate) epoch: u64,
    /// The sealed payload, for one small enough to be kept in the database
    /// (set when the packet is complete); `None` if it is in its blob file.
    pub(crate) inline: Option<Vec<u8>>,
}
