//! A running node's state: keys, directory, policy, storage and log, and
//! the operations on them that the transport host, the control socket and
//! the sweeper share.

use std::collections::{BTreeMap, HashSet};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, RwLock};
use std::time::{Duration, SystemTime};

use redb::Database;
use tally_envelope::IdentityKey;
use tally_grant::{Authorization, ChainCache, Denial, Flow, RevocationSet, Usage, VerifiedChain, grant_id};
use tally_receipt::{Log, RedbStore, log_origin};
use tally_transport::Roster;
use tally_wire::{
    AgencyId, BoundedVec, DeletionReason, DeletionRecord, Encoded, Grant, GrantChain, GrantId, LogEntry, PacketId,
    ReasonCode, Receipt, Revocation, Signed, Timestamp,
};

use crate::agency::AgencyKeys;
use crate::config::NodeConfig;
use crate::directory::VerifiedDirectory;
use crate::store::{DATA_KEYS, GRANTS, INBOX, InboxRecord, REVOCATIONS, Store, USAGE, decode, encode};
use crate::vault::Vault;
use crate::{NodeError, hex};

/// The policy's mutable state.
pub(crate) struct Policy {
    pub(crate) usage: Usage,
    pub(crate) revocations: RevocationSet,
    pub(crate) cache: ChainCache,
}

/// Counters for the metrics endpoint.
#[derive(Default)]
pub(crate) struct Metrics {
    pub(crate) received: AtomicU64,
    pub(crate) received_bytes: AtomicU64,
    pub(crate) sent: AtomicU64,
    pub(crate) sent_bytes: AtomicU64,
    pub(crate) rejections: Mutex<BTreeMap<u16, u64>>,
    pub(crate) erased: AtomicU64,
}

impl Metrics {
    pub(crate) fn rejected(&self, reason: ReasonCode) {
        if let Ok(mut r) = self.rejections.lock() {
            *r.entry(reason.0).or_default() += 1;
        }
    }
}

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
    pub(crate) log: Log<RedbStore>,
    pub(crate) vault: Vault,
    pub(crate) policy: Mutex<Policy>,
    pub(crate) blobs: PathBuf,
    pub(crate) metrics: Metrics,
    /// Packets being received now: a second offer of one waits for the first to end.
    pub(crate) receiving: Mutex<HashSet<PacketId>>,
}

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
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
        let directory = VerifiedDirectory::load(&dir.join(&config.directory), &operator)?;
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
        std::fs::create_dir_all(&incoming).map_err(NodeError::file(&incoming))?;
        // Unfinished payloads were never receipted: their senders resend them.
        for entry in std::fs::read_dir(&incoming).map_err(NodeError::file(&incoming))?.flatten() {
            let _ = std::fs::remove_file(entry.path());
        }
        let db_path = data.join("tally.redb");
        let db = Arc::new(
            Database::create(&db_path).map_err(|e| NodeError::Database(format!("{}: {e}", db_path.display())))?,
        );
        let store = Store::new(Arc::clone(&db))?;
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
        store.set_meta("directory_serial", directory.serial())?;
        let log_store = RedbStore::with_database(db, &log_origin(&config.agency), &keys.identity.public_key())
            .map_err(|e| NodeError::Database(format!("log: {e}")))?;
        let identity = Arc::clone(&keys.identity);
        let log = Log::new(log_store, &config.agency, Arc::clone(&identity));
        let vault = Vault::new(&keys.storage, store.clone())?;
        let roster = Arc::new(Roster::new(directory.directory()));
        let mut revocations = RevocationSet::new();
        for r in store.revocations()? {
            // Revocations were checked when stored; one whose issuer left the directory no longer verifies.
            let _ = revocations.insert(r, &directory);
        }
        let mut usage = Usage::new();
        for (grant, u) in store.usage()? {
            usage.restore(grant, u);
        }
        let serial = directory.serial();
        let state = Arc::new(Self {
            dir: dir.to_owned(),
            agency: config.agency.clone(),
            identity,
            operator,
            directory: RwLock::new(Arc::new(directory)),
            roster,
            store,
            log,
            vault,
            policy: Mutex::new(Policy { usage, revocations, cache: ChainCache::new(serial, 1024) }),
            blobs,
            metrics: Metrics::default(),
            receiving: Mutex::new(HashSet::new()),
            keys,
            config,
        });
        state.reconcile()?;
        Ok(state)
    }

    /// Logs the receipts of stored packets that a crash kept out of the log.
    fn reconcile(&self) -> Result<(), NodeError> {
        let mut logged = HashSet::new();
        for (_, entry) in self.log_entries()? {
            if let LogEntry::ReceiptIssued(r) = entry {
                logged.insert(r.unverified().packet_id);
            }
        }
        let missing: Vec<LogEntry> = self
            .store
            .inbox_all()?
            .into_iter()
            .filter(|(id, _)| !logged.contains(id))
            .map(|(_, r)| LogEntry::ReceiptIssued(r.receipt))
            .collect();
        if !missing.is_empty() {
            tracing::warn!(count = missing.len(), "logging receipts of stored packets left out of the log by a crash");
            self.log.append(&missing)?;
        }
        Ok(())
    }

    /// Every log entry, decoded, with its index.
    pub(crate) fn log_entries(&self) -> Result<Vec<(u64, LogEntry)>, NodeError> {
        use tally_receipt::LogStore;
        let size = self.log.size()?;
        (0..size)
            .map(|i| {
                let bytes = self.log.store().entry(i).map_err(|e| NodeError::Database(e.to_string()))?;
                Ok((i, decode::<LogEntry>(&bytes, "log entry")?))
            })
            .collect()
    }

    /// The policy's clock: the system clock plus the configured offset.
    pub(crate) fn now(&self) -> Timestamp {
        let offset = self.config.clock_offset_secs;
        let now = SystemTime::now();
        let shifted = if offset >= 0 {
            now + Duration::from_secs(offset.unsigned_abs())
        } else {
            now - Duration::from_secs(offset.unsigned_abs())
        };
        Timestamp::from_system_time(shifted)
    }

    pub(crate) fn directory(&self) -> Arc<VerifiedDirectory> {
        Arc::clone(&self.directory.read().unwrap_or_else(std::sync::PoisonError::into_inner))
    }

    /// Loads the directory file again and switches to it if its serial is newer.
    pub(crate) fn reload_directory(&self) -> Result<bool, NodeError> {
        let path = self.dir.join(&self.config.directory);
        self.adopt_directory(VerifiedDirectory::load(&path, &self.operator)?)
    }

    /// Uses `fresh` from now on if its serial is above the current one's.
    pub(crate) fn adopt_directory(&self, fresh: VerifiedDirectory) -> Result<bool, NodeError> {
        if fresh.serial() <= self.directory().serial() {
            return Ok(false);
        }
        self.store.set_meta("directory_serial", fresh.serial())?;
        self.roster.update(fresh.directory());
        tracing::info!(serial = fresh.serial(), "directory updated");
        *self.directory.write().unwrap_or_else(std::sync::PoisonError::into_inner) = Arc::new(fresh);
        Ok(true)
    }

    /// The policy decision on `flow` under `chain`, against the current directory.
    pub(crate) fn decide(&self, flow: &Flow, chain: &GrantChain) -> Result<Authorization, Denial> {
        let directory = self.directory();
        let mut policy = lock(&self.policy);
        let Policy { usage, revocations, cache } = &mut *policy;
        cache.decide(flow, chain, revocations, &*directory, directory.serial(), usage)
    }

    /// Counts a packet against its grants now (a reservation the commit makes durable).
    pub(crate) fn reserve(&self, auth: &Authorization, packet: PacketId, bytes: u64, at: Timestamp) {
        lock(&self.policy).usage.apply(auth, packet, bytes, at);
    }

    /// Stores a received, verified packet whose blob is in place: signs its
    /// receipt, records the packet, usage and grants in one transaction,
    /// then logs the receipt (and grants seen for the first time).
    pub(crate) fn store_received(
        &self,
        record: InboxRecordDraft,
        receipt: Receipt,
        chain: &GrantChain,
        auth: &Authorization,
    ) -> Result<Signed<Receipt>, NodeError> {
        let signed =
            self.identity.sign_object(receipt).map_err(|source| NodeError::Key { path: self.dir.clone(), source })?;
        let packet = signed.unverified().packet_id;
        let record = InboxRecord {
            sender: record.sender,
            grant: record.grant,
            purpose: record.purpose,
            category: record.category,
            content_type: record.content_type,
            size: record.size,
            epoch: record.epoch,
            receipt: signed.clone(),
            erased_at: None,
        };
        let usage: Vec<_> = {
            let policy = lock(&self.policy);
            auth.chain.iter().map(|(g, _)| (*g, policy.usage.of(g))).collect()
        };
        let new_grants = self.new_grants(chain)?;
        let mut entries: Vec<LogEntry> = new_grants.iter().cloned().map(LogEntry::GrantReceived).collect();
        entries.push(LogEntry::ReceiptIssued(signed.clone()));
        let (size, record, chain) = (record.size, encode(&record), (!new_grants.is_empty()).then(|| chain.clone()));
        // The packet's record, the quota it used, any grant first seen with
        // it and its receipt: one transaction, shared with other exchanges.
        self.commit(&entries, move |tx| {
            tx.open_table(INBOX)?.insert(packet.0, record.as_slice())?;
            let mut table = tx.open_table(USAGE)?;
            for (g, u) in &usage {
                table.insert(g.0, encode(u).as_slice())?;
            }
            if let Some(chain) = chain {
                tx.open_table(GRANTS)?.insert(grant_id(&chain[0]).0, encode(&chain).as_slice())?;
            }
            Ok(())
        })?;
        self.metrics.received.fetch_add(1, Ordering::Relaxed);
        self.metrics.received_bytes.fetch_add(size, Ordering::Relaxed);
        Ok(signed)
    }

    /// Appends `entries` to the log and makes `side`'s changes to the node's
    /// tables in the same transaction, committed together with every other
    /// write waiting (group commit). Blocks until it is durable.
    pub(crate) fn commit(
        &self,
        entries: &[LogEntry],
        side: impl FnOnce(&redb::WriteTransaction) -> Result<(), redb::Error> + Send + 'static,
    ) -> Result<(), NodeError> {
        self.log.append_with(entries, Some(Box::new(side)))?;
        Ok(())
    }

    /// The grants of `chain` this node has not logged yet.
    fn new_grants(&self, chain: &GrantChain) -> Result<Vec<Signed<Grant>>, NodeError> {
        let Some(leaf) = chain.first() else { return Ok(Vec::new()) };
        if self.store.grant_chain(&grant_id(leaf))?.is_some() {
            return Ok(Vec::new());
        }
        let known: HashSet<GrantId> = self.store.grants()?.iter().flat_map(|(_, c)| c.iter().map(grant_id)).collect();
        Ok(chain.iter().filter(|g| !known.contains(&grant_id(g))).cloned().collect())
    }

    /// Keeps a grant chain (verified against the directory) and logs it as issued or received.
    pub(crate) fn keep_grant(&self, chain: GrantChain, issued: bool) -> Result<GrantId, NodeError> {
        let directory = self.directory();
        VerifiedChain::verify(&chain, &*directory)
            .map_err(|d| NodeError::Refused(format!("the grant does not verify: {d}")))?;
        let leaf = chain.first().ok_or_else(|| NodeError::Usage("an empty grant chain".into()))?;
        let id = grant_id(leaf);
        let new = self.new_grants(&chain)?;
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
        let chain = encode(&chain);
        self.commit(&entries, move |tx| {
            tx.open_table(GRANTS)?.insert(id.0, chain.as_slice())?;
            Ok(())
        })?;
        Ok(id)
    }

    /// Records a revocation (checked against the directory), logs it, and
    /// erases what was received under the grants it ends if it obliges erasure.
    pub(crate) fn keep_revocation(&self, revocation: Signed<Revocation>) -> Result<bool, NodeError> {
        let directory = self.directory();
        let r = revocation.unverified().clone();
        let new = lock(&self.policy)
            .revocations
            .insert(revocation.clone(), &*directory)
            .map_err(|e| NodeError::Refused(format!("the revocation does not verify: {e}")))?;
        if !new {
            return Ok(false);
        }
        let bytes = revocation.encode();
        self.commit(&[LogEntry::Revocation(revocation)], move |tx| {
            tx.open_table(REVOCATIONS)?.insert(bytes.as_slice(), 0)?;
            Ok(())
        })?;
        let erase = r.erase
            || self
                .store
                .grant_chain(&r.grant)?
                .and_then(|c| c.first().map(|g| g.unverified().erase_on_revoke))
                .unwrap_or(false);
        if erase {
            for (leaf, chain) in self.store.grants()? {
                if chain.iter().any(|g| grant_id(g) == r.grant) {
                    let epochs = self.vault.epochs(leaf)?;
                    self.erase(leaf, &epochs, DeletionReason::REVOKED_WITH_ERASURE)?;
                }
            }
        }
        Ok(true)
    }

    /// Destroys the data keys due at `now` and their packets. Returns how many packets were erased.
    pub(crate) fn sweep(&self) -> Result<usize, NodeError> {
        let now = self.now();
        let mut erased = 0;
        let mut due: BTreeMap<GrantId, Vec<u64>> = BTreeMap::new();
        for (grant, epoch) in self.vault.due(now)? {
            due.entry(grant).or_default().push(epoch);
        }
        for (grant, epochs) in due {
            erased += self.erase(grant, &epochs, DeletionReason::RETENTION_ENDED)?;
        }
        Ok(erased)
    }

    /// Crypto-shreds `grant`'s keys of `epochs`: logs the deletion
    /// records (and a checkpoint over them), then destroys the keys and the blobs.
    pub(crate) fn erase(&self, grant: GrantId, epochs: &[u64], reason: DeletionReason) -> Result<usize, NodeError> {
        if epochs.is_empty() {
            return Ok(0);
        }
        let now = self.now();
        let packets: Vec<(PacketId, InboxRecord)> = self
            .store
            .inbox_all()?
            .into_iter()
            .filter(|(_, r)| r.grant == grant && epochs.contains(&r.epoch) && r.erased_at.is_none())
            .collect();
        // The record goes into the log first: a crash before the keys are
        // gone erases them again at restart (a second record), never silently.
        let ids: Vec<PacketId> = packets.iter().map(|(id, _)| *id).collect();
        let mut entries = Vec::new();
        for part in ids.chunks(tally_wire::limits::MAX_DELETION_PACKETS).chain(ids.is_empty().then_some(&[][..])) {
            let record = DeletionRecord {
                agency: self.agency.clone(),
                grant,
                packets: BoundedVec::new(part.to_vec()).map_err(|e| NodeError::Database(e.to_string()))?,
                erased_at: now,
                reason,
            };
            entries.push(LogEntry::Deletion(Encoded::new(record).map_err(|e| NodeError::Database(e.to_string()))?));
        }
        self.log.append(&entries)?;
        self.log.checkpoint()?;
        self.store.write(|tx| {
            let mut keys = tx.open_table(DATA_KEYS)?;
            for e in epochs {
                keys.remove((grant.0, *e))?;
            }
            let mut inbox = tx.open_table(INBOX)?;
            for (id, r) in &packets {
                let r = InboxRecord { erased_at: Some(now), ..r.clone() };
                inbox.insert(id.0, encode(&r).as_slice())?;
            }
            Ok(())
        })?;
        for e in epochs {
            self.vault.forget(grant, *e);
        }
        for (id, _) in &packets {
            let path = self.blob_path(id);
            if let Err(e) = std::fs::remove_file(&path)
                && e.kind() != std::io::ErrorKind::NotFound
            {
                tracing::warn!(path = %path.display(), error = %e, "cannot remove an erased blob (its key is destroyed)");
            }
        }
        self.metrics.erased.fetch_add(packets.len() as u64, Ordering::Relaxed);
        tracing::info!(grant = %grant, packets = packets.len(), reason = %reason, "erased (data keys destroyed)");
        Ok(packets.len())
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
}
