//! The store as the node's log store (`tally_receipt::LogStore`), and the
//! check at open that the stored tree matches the latest signed checkpoint.

use std::ops::Range;

use redb::{ReadableDatabase, ReadableTable, ReadableTableMetadata};
use tally_receipt::merkle::{NodeSource, root};
use tally_receipt::note::verify_checkpoint;
use tally_receipt::{LogStore, StoreError};
use tally_wire::{Digest, IdentityPublicKey, LogOrigin};

use crate::Store;
use crate::commit::node_digest;
use crate::error::{Error, db};
use crate::tables::{CHECKPOINTS, ENTRIES, NODES};

impl LogStore for Store {
    fn size(&self) -> Result<u64, StoreError> {
        Ok(self.log_size()?)
    }

    fn append(&self, entries: Vec<Vec<u8>>) -> Result<Range<u64>, StoreError> {
        Ok(self.append_encoded(entries)?)
    }

    fn entry(&self, index: u64) -> Result<Vec<u8>, StoreError> {
        let tx = self.database().begin_read().map_err(db)?;
        let table = tx.open_table(ENTRIES).map_err(db)?;
        let value = table.get(index).map_err(db)?;
        match value {
            Some(v) => Ok(v.value().to_vec()),
            None => Err(StoreError::OutOfRange { index, size: table.len().map_err(db)? }),
        }
    }

    fn node(&self, level: u8, index: u64) -> Result<Digest, StoreError> {
        self.merkle_node(level, index)?.ok_or(StoreError::OutOfRange { index: index << level, size: 0 })
    }

    /// Records a checkpoint in the next group commit, without waiting for
    /// it (one per group commit at most: the receipts of a group share
    /// their checkpoint). The entries it covers are durable already, and
    /// Ed25519 is deterministic: a checkpoint lost in a crash before that
    /// commit is the one the node signs again for the same size. The
    /// stored checkpoints are only the check at open (`check_log`).
    fn put_checkpoint(&self, size: u64, note: &str) -> Result<(), StoreError> {
        let note = note.to_owned();
        Ok(self.commit_later(Box::new(move |tx| tx.put_checkpoint(size, &note)))?)
    }

    fn checkpoints(&self) -> Result<Vec<(u64, String)>, StoreError> {
        let tx = self.database().begin_read().map_err(db)?;
        let table = tx.open_table(CHECKPOINTS).map_err(db)?;
        let rows = table.iter().map_err(db)?;
        Ok(rows.map(|row| row.map(|(k, v)| (k.value(), v.value().to_owned())).map_err(db)).collect::<Result<_, _>>()?)
    }
}

impl Store {
    /// How many entries the log holds.
    pub fn log_size(&self) -> Result<u64, Error> {
        let tx = self.database().begin_read().map_err(db)?;
        tx.open_table(ENTRIES).map_err(db)?.len().map_err(db)
    }

    /// The log's entries from `start`, oldest first, in one read: up to
    /// `end` (exclusive), or fewer once they hold `max_bytes` (at least one
    /// entry when `start < end`). Fewer than asked only at `max_bytes`.
    pub fn log_entries(&self, start: u64, end: u64, max_bytes: usize) -> Result<Vec<Vec<u8>>, Error> {
        let tx = self.database().begin_read().map_err(db)?;
        let table = tx.open_table(ENTRIES).map_err(db)?;
        let (mut entries, mut bytes) = (Vec::new(), 0);
        for row in table.range(start..end).map_err(db)? {
            let (index, value) = row.map_err(db)?;
            if index.value() != start + entries.len() as u64 {
                return Err(Error::Inconsistent(format!("log entry {} is missing", start + entries.len() as u64)));
            }
            bytes += value.value().len();
            entries.push(value.value().to_vec());
            if bytes >= max_bytes {
                break;
            }
        }
        if entries.is_empty() && start < end {
            return Err(Error::Inconsistent(format!("log entry {start} is missing")));
        }
        Ok(entries)
    }

    fn merkle_node(&self, level: u8, index: u64) -> Result<Option<Digest>, Error> {
        let tx = self.database().begin_read().map_err(db)?;
        let table = tx.open_table(NODES).map_err(db)?;
        let value = table.get((level, index)).map_err(db)?;
        value.map(|v| node_digest(v.value())).transpose()
    }

    /// The latest stored checkpoint must be signed by `key` for `origin`,
    /// and the stored tree must have its root at its size.
    pub(crate) fn check_log(&self, origin: &LogOrigin, key: &IdentityPublicKey) -> Result<(), Error> {
        let Some((size, note)) = LogStore::checkpoints(self).map_err(log_error)?.pop() else { return Ok(()) };
        let c = verify_checkpoint(&note, origin, key)
            .map_err(|e| Error::Inconsistent(format!("the latest checkpoint does not verify: {e}")))?;
        let stored = self.log_size()?;
        if c.size != size || size > stored {
            return Err(Error::Inconsistent(format!("a checkpoint of {} entries, a log of {stored}", c.size)));
        }
        let actual = root(&Nodes(self), size)?;
        if actual != c.root {
            return Err(Error::Inconsistent(format!(
                "the log's root at size {size} is {actual}, its checkpoint says {}",
                c.root
            )));
        }
        Ok(())
    }
}

fn log_error(e: StoreError) -> Error {
    Error::Log(tally_receipt::LogError::Store(e))
}

/// The stored nodes, for the proof algorithms.
struct Nodes<'a>(&'a Store);

impl NodeSource for Nodes<'_> {
    type Error = Error;
    fn node(&self, level: u8, index: u64) -> Result<Digest, Error> {
        self.0
            .merkle_node(level, index)?
            .ok_or_else(|| Error::Inconsistent(format!("Merkle node ({level}, {index}) is missing")))
    }
}
