//! `tally-store`: the only owner of a Tally node's database.
//!
//! A node keeps its state in one redb file (`data/tally.redb`): its log
//! (entries, Merkle nodes, checkpoints) and its tables (received packets,
//! grants, revocations, usage, data keys, unfinished and receipted sends).
//! Nothing outside this crate sees a database type:
//!
//! - reads are typed methods on [`Store`];
//! - every write is a [`Store::commit`]: log entries and typed table
//!   writes ([`Tx`]) in one transaction, grouped with every other commit
//!   waiting (group commit, one fsync), reported only once durable;
//! - [`Store`] is the node's `tally_receipt::LogStore`, so a
//!   `tally_receipt::Log<Store>` signs checkpoints over what is stored;
//! - payloads at rest are encrypted under per-grant data keys wrapped by
//!   the node's storage key ([`Vault`], [`BlobSealer`], [`open_blob`]),
//!   with tally-envelope's AEAD; destroyed keys are overwritten on disk.
//!
//! ```
//! # fn main() -> Result<(), Box<dyn std::error::Error>> {
//! use tally_receipt::LogStore;
//! use tally_store::Store;
//! use tally_wire::{AgencyId, PacketId};
//!
//! let dir = tempfile::tempdir()?;
//! let key = tally_envelope::IdentityKey::from_seed(&[1; 32]);
//! let origin = tally_receipt::log_origin(&AgencyId::new("tax-bureau")?);
//! let store = Store::open(&dir.path().join("tally.redb"), &origin, &key.public_key())?;
//! let packet = PacketId([7; 16]);
//! store.commit(&[], move |tx| tx.remove_outbox(&packet))?;
//! assert_eq!(store.size()?, 0);
//! assert!(store.outbox()?.is_empty());
//! # Ok(()) }
//! ```

#![forbid(unsafe_code)]

mod blob;
mod commit;
mod error;
mod followed;
mod keyslots;
mod log;
mod records;
mod tables;
mod tx;
mod vault;

use std::ops::Range;
use std::path::{Path, PathBuf};
use std::sync::mpsc::{SyncSender, sync_channel};
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;

use redb::{Database, ReadableDatabase, ReadableTable};
use tally_wire::{IdentityPublicKey, LogEntry, LogOrigin, PacketId};

pub use blob::{BlobSealer, open_blob, open_commitment_key, seal_commitment_key};
pub use error::{DatabaseError, Error};
pub use followed::FollowedHead;
pub use records::{InboxRecord, OutboxRecord, PendingErasure, SentRecord};
pub use tx::Tx;
pub use vault::{DataKey, Vault};

use crate::commit::{Reply, Request, Write, commit_loop};
use crate::error::db;

/// A node's database: its log and its tables. Cloning shares it.
#[derive(Clone)]
pub struct Store {
    inner: Arc<Inner>,
}

/// The largest sealed payload a received packet may keep in the database
/// instead of a blob file of its own (16 KiB: a payload of a few KiB, the
/// common case, costs no file, no rename and no fsyncs beside the commit).
pub const MAX_INLINE_BLOB: usize = 16 << 10;

/// The database's page cache (read cache and write buffer together). redb's
/// default is 1 GiB, which a node's memory grows into as its database does;
/// pages beyond this are read through the operating system's page cache.
const CACHE_BYTES: usize = 8 << 20;

struct Inner {
    database: Arc<Database>,
    /// Commits still to fail (`failpoints` only).
    #[cfg(feature = "failpoints")]
    failing: Arc<std::sync::atomic::AtomicUsize>,
    path: PathBuf,
    queue: Mutex<Option<SyncSender<Request>>>,
    committer: Mutex<Option<JoinHandle<()>>>,
}

impl Store {
    /// Opens (or creates, with mode 0600) the database at `path`, creates
    /// missing tables, and checks the log: the latest stored checkpoint must
    /// be signed by `key` for `origin` and match the stored tree.
    pub fn open(path: &Path, origin: &LogOrigin, key: &IdentityPublicKey) -> Result<Self, Error> {
        if !path.exists() {
            let mut options = std::fs::OpenOptions::new();
            options.write(true).create(true).truncate(false);
            std::os::unix::fs::OpenOptionsExt::mode(&mut options, 0o600);
            drop(options.open(path).map_err(|source| Error::File { path: path.to_owned(), source })?);
        }
        let database = redb::Builder::new().set_cache_size(CACHE_BYTES).create(path).map_err(|e| match e {
            redb::DatabaseError::DatabaseAlreadyOpen => Error::InUse { path: path.to_owned() },
            other => db(other),
        })?;
        let database = Arc::new(database);
        tables::create(&database)?;
        let (queue, requests) = sync_channel(1024);
        let worker = Arc::clone(&database);
        #[cfg(feature = "failpoints")]
        let failing = Arc::new(std::sync::atomic::AtomicUsize::new(0));
        #[cfg(feature = "failpoints")]
        let failpoint = Arc::clone(&failing);
        #[cfg(not(feature = "failpoints"))]
        let failpoint = ();
        let committer = std::thread::Builder::new()
            .name("tally-store-commit".into())
            .spawn(move || commit_loop(&worker, &requests, &failpoint))
            .map_err(|source| Error::File { path: path.to_owned(), source })?;
        let store = Self {
            inner: Arc::new(Inner {
                database,
                #[cfg(feature = "failpoints")]
                failing,
                path: path.to_owned(),
                queue: Mutex::new(Some(queue)),
                committer: Mutex::new(Some(committer)),
            }),
        };
        store.check_log(origin, key)?;
        store.index_receipts()?;
        store.migrate_inbox_receipts()?;
        Ok(store)
    }

    /// Rewrites the inbox records of a store made before receipts were
    /// bundled (whose receipt is a `Signed<Receipt>`) with the receipt as a
    /// `BundledReceipt::Signed`, the same log entry (once, at open; a meta
    /// key records that it was done).
    fn migrate_inbox_receipts(&self) -> Result<(), Error> {
        const MIGRATED: &str = "inbox_receipts_bundled";
        if self.meta(MIGRATED)?.is_some() {
            return Ok(());
        }
        let tx = self.database().begin_write().map_err(db)?;
        {
            let mut table = tx.open_table(tables::INBOX).map_err(db)?;
            let mut legacy = Vec::new();
            for row in table.iter().map_err(db)? {
                let (key, value) = row.map_err(db)?;
                if tally_wire::from_bytes::<InboxRecord>(value.value(), "inbox record").is_err() {
                    let old: records::InboxRecordV1 = tables::decode(value.value(), "inbox record (before bundles)")?;
                    legacy.push((key.value(), InboxRecord::from(old)));
                }
            }
            for (key, record) in legacy {
                table.insert(key, tables::encode(&record).as_slice()).map_err(db)?;
            }
            tx.open_table(tables::META).map_err(db)?.insert(MIGRATED, 1).map_err(db)?;
        }
        tx.commit().map_err(db)
    }

    /// The database file.
    pub fn path(&self) -> &Path {
        &self.inner.path
    }

    /// Appends `entries` to the log and makes `write`'s changes to the
    /// tables in the same transaction, committed with every other commit
    /// waiting (group commit). Blocks until the transaction is durable;
    /// returns the entries' indices (an empty range after the last entry
    /// when there are none). On an error nothing of it is stored.
    ///
    /// `write` may run twice: if the grouped transaction fails, each commit
    /// of the group is tried again alone, so that one commit's failing write
    /// does not fail the others.
    pub fn commit(
        &self,
        entries: &[LogEntry],
        write: impl Fn(&mut Tx<'_>) -> Result<(), Error> + Send + 'static,
    ) -> Result<Range<u64>, Error> {
        let (reply, answer) = sync_channel(1);
        self.enqueue(request(entries, Box::new(write), Reply::Thread(reply))?)?;
        answer.recv().map_err(|_| Error::Closed)?
    }

    /// [`commit`](Self::commit) for a task: the same group commit, awaited
    /// instead of blocking a thread (the committer wakes the task itself).
    /// Handing the commit over blocks only while the committer's queue is
    /// full (1,024 commits waiting).
    pub async fn commit_async(
        &self,
        entries: &[LogEntry],
        write: impl Fn(&mut Tx<'_>) -> Result<(), Error> + Send + 'static,
    ) -> Result<Range<u64>, Error> {
        let (reply, answer) = tokio::sync::oneshot::channel();
        self.enqueue(request(entries, Box::new(write), Reply::Task(reply))?)?;
        answer.await.map_err(|_| Error::Closed)?
    }

    /// Appends encoded entries (the `LogStore` path), finding the receipts
    /// among them (bytes that are no log entry are stored, not indexed).
    pub(crate) fn append_encoded(&self, entries: Vec<Vec<u8>>) -> Result<Range<u64>, Error> {
        let mut receipts = Vec::new();
        for (i, bytes) in entries.iter().enumerate() {
            if let Some((p, s)) =
                tally_wire::from_bytes::<LogEntry>(bytes, "log entry").ok().as_ref().and_then(receipt_key)
            {
                receipts.push((i, p, s));
            }
        }
        let (reply, answer) = sync_channel(1);
        self.enqueue(Request { entries, receipts, write: None, reply: Reply::Thread(reply) })?;
        answer.recv().map_err(|_| Error::Closed)?
    }

    /// Hands writes to the committer for its next group commit, without
    /// waiting for them to be durable.
    pub(crate) fn commit_later(&self, write: Write) -> Result<(), Error> {
        self.enqueue(request(&[], write, Reply::Nobody)?)
    }

    /// Hands a commit to the committer (blocking while its queue is full).
    fn enqueue(&self, request: Request) -> Result<(), Error> {
        let queue = self.inner.queue.lock().map_err(|_| Error::Closed)?.clone().ok_or(Error::Closed)?;
        queue.send(request).map_err(|_| Error::Closed)
    }

    /// The indices in the log of the receipts under `packet` (a packet or
    /// pull request id) on `side`, oldest first. Several may share an id
    /// (the caller picks the one it means by the receipt's content).
    pub fn receipt_indices_of(&self, packet: &PacketId, side: ReceiptSide) -> Result<Vec<u64>, Error> {
        let tx = self.database().begin_read().map_err(db)?;
        let table = tx.open_table(tables::RECEIPTS).map_err(db)?;
        let side = side as u8;
        let rows = table.range((packet.0, side, 0)..=(packet.0, side, u64::MAX)).map_err(db)?;
        rows.map(|row| row.map(|(k, _)| k.value().2).map_err(db)).collect()
    }

    /// The indices of every receipt in the log, in log order.
    pub fn receipt_indices(&self) -> Result<Vec<u64>, Error> {
        let tx = self.database().begin_read().map_err(db)?;
        let table = tx.open_table(tables::RECEIPTS).map_err(db)?;
        let rows = table.iter().map_err(db)?;
        let mut indices = rows.map(|row| row.map(|(k, _)| k.value().2).map_err(db)).collect::<Result<Vec<_>, _>>()?;
        indices.sort_unstable();
        Ok(indices)
    }

    /// Indexes the receipts of a log written before the index existed
    /// (once, at open; a meta key records that it was done).
    fn index_receipts(&self) -> Result<(), Error> {
        const INDEXED: &str = "receipt_index_built";
        if self.meta(INDEXED)?.is_some() {
            return Ok(());
        }
        let tx = self.database().begin_write().map_err(db)?;
        {
            let mut table = tx.open_table(tables::RECEIPTS).map_err(db)?;
            let entries = tx.open_table(tables::ENTRIES).map_err(db)?;
            for row in entries.iter().map_err(db)? {
                let (index, bytes) = row.map_err(db)?;
                let entry = tally_wire::from_bytes::<LogEntry>(bytes.value(), "log entry").ok();
                if let Some((packet, side)) = entry.as_ref().and_then(receipt_key) {
                    table.insert((packet, side, index.value()), ()).map_err(db)?;
                }
            }
            tx.open_table(tables::META).map_err(db)?.insert(INDEXED, 1).map_err(db)?;
        }
        tx.commit().map_err(db)
    }

    /// Makes the next `n` transactions of the committer fail as a full disk
    /// would (tests only, feature `failpoints`).
    #[cfg(feature = "failpoints")]
    pub fn fail_commits(&self, n: usize) {
        self.inner.failing.store(n, std::sync::atomic::Ordering::SeqCst);
    }

    fn database(&self) -> &Database {
        &self.inner.database
    }
}

/// Which side of an exchange a receipt in a node's log records.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ReceiptSide {
    /// This node signed it: it received the packet (or refused the request).
    Issued = 0,
    /// The peer signed it: this node sent the packet (or made the request).
    Received = 1,
}

/// A commit of `entries` (encoded, their receipts found) and `write`, answered to `reply`.
fn request(entries: &[LogEntry], write: Write, reply: Reply) -> Result<Request, Error> {
    let bytes = entries.iter().map(tally_receipt::entry_bytes).collect::<Result<Vec<_>, _>>()?;
    let receipts = entries.iter().enumerate().filter_map(|(i, e)| receipt_key(e).map(|(p, s)| (i, p, s))).collect();
    Ok(Request { entries: bytes, receipts, write: Some(write), reply })
}

/// The index key of a receipt entry.
fn receipt_key(entry: &LogEntry) -> Option<([u8; 16], u8)> {
    match entry {
        LogEntry::ReceiptIssued(r) => Some((r.unverified().packet_id.0, ReceiptSide::Issued as u8)),
        LogEntry::ReceiptLogged(r) => Some((r.value().packet_id.0, ReceiptSide::Issued as u8)),
        LogEntry::ReceiptReceived(r) => Some((r.unverified().packet_id.0, ReceiptSide::Received as u8)),
        LogEntry::BundleReceived(b) => {
            Some((tally_receipt::bundled_receipt(&b.receipt).packet_id.0, ReceiptSide::Received as u8))
        }
        _ => None,
    }
}

impl Drop for Inner {
    fn drop(&mut self) {
        // Closing the queue ends the committer after the commits it holds.
        if let Ok(mut q) = self.queue.lock() {
            q.take();
        }
        if let Some(handle) = self.committer.lock().ok().and_then(|mut h| h.take()) {
            let _ = handle.join();
        }
    }
}
