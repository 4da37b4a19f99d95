//! The durable store on redb, with group commit.
//!
//! Appends from any number of threads go to one committer thread, which
//! takes every append waiting, writes them in one write transaction and
//! commits it (one fsync), and only then answers each caller with its
//! indices. An append is therefore reported durable only after its
//! transaction commits. An append may carry a [`SideWrite`]: the caller's
//! own changes to other tables of the same database, committed in the same
//! transaction as its entries (so a node records a packet and logs its
//! receipt atomically, and shares the fsync with every other append).

use std::ops::Range;
use std::path::Path;
use std::sync::mpsc::{Receiver, SyncSender, sync_channel};
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;

use redb::{Database, ReadableDatabase, ReadableTable, ReadableTableMetadata, TableDefinition};
use tally_wire::{Digest, IdentityPublicKey, LogOrigin};

use super::{LogStore, Nodes, StoreError};
use crate::merkle::{leaf_hash, node_hash, root};
use crate::note::verify_checkpoint;

const ENTRIES: TableDefinition<u64, &[u8]> = TableDefinition::new("entries");
const NODES: TableDefinition<(u8, u64), &[u8]> = TableDefinition::new("nodes");
const CHECKPOINTS: TableDefinition<u64, &str> = TableDefinition::new("checkpoints");

/// Most entries one transaction takes from the queue.
const MAX_GROUP: usize = 4096;

type Reply = SyncSender<Result<Range<u64>, StoreError>>;

/// A caller's changes to its own tables, made in the transaction that
/// commits its entries. If one fails, the whole transaction is dropped and
/// every append in it fails: side writes should only fail when storage does.
pub type SideWrite = Box<dyn FnOnce(&redb::WriteTransaction) -> Result<(), redb::Error> + Send>;

/// One append waiting for the committer: the entries, the side write, and where to answer.
type Request = (Vec<Vec<u8>>, Option<SideWrite>, Reply);

/// A log in a redb database file.
pub struct RedbStore {
    db: Arc<Database>,
    queue: Mutex<Option<SyncSender<Request>>>,
    committer: Mutex<Option<JoinHandle<()>>>,
}

fn storage(e: impl std::fmt::Display) -> StoreError {
    StoreError::Storage(e.to_string())
}

impl RedbStore {
    /// Opens (or creates) the log at `path` and checks it: the latest
    /// stored checkpoint must be signed by `key` for `origin`, and the
    /// stored tree must have that checkpoint's root at that size.
    pub fn open(path: &Path, origin: &LogOrigin, key: &IdentityPublicKey) -> Result<Self, StoreError> {
        let db = Database::create(path).map_err(|e| storage(format!("{}: {e}", path.display())))?;
        Self::with_database(Arc::new(db), origin, key)
    }

    /// The log in the tables `entries`, `nodes` and `checkpoints` of an
    /// open database, which the caller may use for tables of its own
    /// (a node keeps its whole state in one file). Checked as by [`open`](Self::open).
    pub fn with_database(db: Arc<Database>, origin: &LogOrigin, key: &IdentityPublicKey) -> Result<Self, StoreError> {
        let tx = db.begin_write().map_err(storage)?;
        tx.open_table(ENTRIES).map_err(storage)?;
        tx.open_table(NODES).map_err(storage)?;
        tx.open_table(CHECKPOINTS).map_err(storage)?;
        tx.commit().map_err(storage)?;
        let (queue, requests) = sync_channel(1024);
        let worker = Arc::clone(&db);
        let committer = std::thread::Builder::new()
            .name("tally-log-commit".into())
            .spawn(move || commit_loop(&worker, &requests))
            .map_err(storage)?;
        let store = Self { db, queue: Mutex::new(Some(queue)), committer: Mutex::new(Some(committer)) };
        store.check(origin, key)?;
        Ok(store)
    }

    /// Appends `entries` and makes `side`'s changes in the same
    /// transaction, committed with whatever else is waiting (group commit).
    /// Blocks until the transaction is durable; returns the entries' indices
    /// (an empty range after the last entry when there are none).
    pub fn append_with(&self, entries: Vec<Vec<u8>>, side: Option<SideWrite>) -> Result<Range<u64>, StoreError> {
        let queue = self.queue.lock().map_err(|_| StoreError::Closed)?.clone().ok_or(StoreError::Closed)?;
        let (reply, answer) = sync_channel(1);
        queue.send((entries, side, reply)).map_err(|_| StoreError::Closed)?;
        answer.recv().map_err(|_| StoreError::Closed)?
    }

    fn check(&self, origin: &LogOrigin, key: &IdentityPublicKey) -> Result<(), StoreError> {
        let Some((size, note)) = self.checkpoints()?.pop() else { return Ok(()) };
        let c = verify_checkpoint(&note, origin, key).map_err(|e| StoreError::Inconsistent(e.to_string()))?;
        if c.size != size || size > self.size()? {
            return Err(StoreError::Inconsistent(format!("checkpoint of {} entries, log of {}", c.size, self.size()?)));
        }
        let actual = root(&Nodes(self), size)?;
        if actual != c.root {
            return Err(StoreError::Inconsistent(format!(
                "root at size {size} is {actual}, the checkpoint says {}",
                c.root
            )));
        }
        Ok(())
    }
}

fn commit_loop(db: &Database, requests: &Receiver<Request>) {
    while let Ok(first) = requests.recv() {
        let mut group = vec![first];
        let mut count = group[0].0.len();
        while count < MAX_GROUP {
            match requests.try_recv() {
                Ok(r) => {
                    count += r.0.len().max(1);
                    group.push(r);
                }
                Err(_) => break,
            }
        }
        match write_group(db, &mut group) {
            Ok(ranges) => {
                for ((_, _, reply), range) in group.into_iter().zip(ranges) {
                    let _ = reply.send(Ok(range));
                }
            }
            Err(e) => {
                for (_, _, reply) in group {
                    let _ = reply.send(Err(storage(&e)));
                }
            }
        }
    }
}

/// Writes every append of the group in one transaction and commits it.
fn write_group(db: &Database, group: &mut [Request]) -> Result<Vec<Range<u64>>, StoreError> {
    let tx = db.begin_write().map_err(storage)?;
    let mut ranges = Vec::with_capacity(group.len());
    {
        let mut entries = tx.open_table(ENTRIES).map_err(storage)?;
        let mut nodes = tx.open_table(NODES).map_err(storage)?;
        let mut size = entries.len().map_err(storage)?;
        for (batch, _, _) in group.iter() {
            let start = size;
            for e in batch {
                entries.insert(size, e.as_slice()).map_err(storage)?;
                // Insert the leaf and every perfect node it completes.
                let (mut level, mut index, mut hash) = (0u8, size, leaf_hash(e));
                nodes.insert((level, index), hash.0.as_slice()).map_err(storage)?;
                while index % 2 == 1 {
                    let left: [u8; 32] = {
                        let guard = nodes.get((level, index - 1)).map_err(storage)?;
                        let guard = guard.ok_or_else(|| storage("a left node is missing"))?;
                        guard.value().try_into().map_err(|_| storage("a stored node is not 32 bytes"))?
                    };
                    let left = Digest(left);
                    hash = node_hash(&left, &hash);
                    level += 1;
                    index /= 2;
                    nodes.insert((level, index), hash.0.as_slice()).map_err(storage)?;
                }
                size += 1;
            }
            ranges.push(start..size);
        }
    }
    for side in group.iter_mut().filter_map(|(_, side, _)| side.take()) {
        side(&tx).map_err(storage)?;
    }
    tx.commit().map_err(storage)?;
    Ok(ranges)
}

impl LogStore for RedbStore {
    fn size(&self) -> Result<u64, StoreError> {
        let tx = self.db.begin_read().map_err(storage)?;
        tx.open_table(ENTRIES).map_err(storage)?.len().map_err(storage)
    }

    fn append(&self, entries: Vec<Vec<u8>>) -> Result<Range<u64>, StoreError> {
        self.append_with(entries, None)
    }

    fn entry(&self, index: u64) -> Result<Vec<u8>, StoreError> {
        let tx = self.db.begin_read().map_err(storage)?;
        let table = tx.open_table(ENTRIES).map_err(storage)?;
        let value = table.get(index).map_err(storage)?;
        match value {
            Some(v) => Ok(v.value().to_vec()),
            None => Err(StoreError::OutOfRange { index, size: table.len().map_err(storage)? }),
        }
    }

    fn node(&self, level: u8, index: u64) -> Result<Digest, StoreError> {
        let tx = self.db.begin_read().map_err(storage)?;
        let table = tx.open_table(NODES).map_err(storage)?;
        let value = table.get((level, index)).map_err(storage)?.ok_or(StoreError::OutOfRange { index, size: 0 })?;
        Ok(Digest(value.value().try_into().map_err(|_| storage("a stored node is not 32 bytes"))?))
    }

    fn put_checkpoint(&self, size: u64, note: &str) -> Result<(), StoreError> {
        let tx = self.db.begin_write().map_err(storage)?;
        tx.open_table(CHECKPOINTS).map_err(storage)?.insert(size, note).map_err(storage)?;
        tx.commit().map_err(storage)
    }

    fn checkpoints(&self) -> Result<Vec<(u64, String)>, StoreError> {
        let tx = self.db.begin_read().map_err(storage)?;
        let table = tx.open_table(CHECKPOINTS).map_err(storage)?;
        table
            .iter()
            .map_err(storage)?
            .map(|row| row.map(|(k, v)| (k.value(), v.value().to_owned())).map_err(storage))
            .collect()
    }
}

impl Drop for RedbStore {
    fn drop(&mut self) {
        // Closing the queue ends the committer after the appends it holds.
        if let Ok(mut q) = self.queue.lock() {
            q.take();
        }
        if let Some(handle) = self.committer.lock().ok().and_then(|mut h| h.take()) {
            let _ = handle.join();
        }
    }
}
