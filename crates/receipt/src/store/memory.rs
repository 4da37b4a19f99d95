//! The in-memory store, for tests and for nodes that need no durability.

use std::ops::Range;
use std::sync::Mutex;

use tally_wire::Digest;

use super::{LogStore, StoreError};
use crate::merkle::{NodeSource, Tree, leaf_hash};

/// A log kept in memory.
#[derive(Debug, Default)]
pub struct MemoryStore {
    inner: Mutex<Inner>,
}

#[derive(Debug, Default)]
struct Inner {
    tree: Tree,
    entries: Vec<Vec<u8>>,
    checkpoints: Vec<(u64, String)>,
}

impl MemoryStore {
    /// An empty log.
    pub fn new() -> Self {
        Self::default()
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Inner> {
        // A panic while holding the lock cannot leave the log half-appended
        // (each push is complete), so a poisoned lock is still usable.
        self.inner.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
    }
}

impl LogStore for MemoryStore {
    fn size(&self) -> Result<u64, StoreError> {
        Ok(self.lock().tree.size())
    }

    fn append(&self, entries: Vec<Vec<u8>>) -> Result<Range<u64>, StoreError> {
        let mut inner = self.lock();
        let start = inner.tree.size();
        for e in entries {
            inner.tree.push(leaf_hash(&e));
            inner.entries.push(e);
        }
        Ok(start..inner.tree.size())
    }

    fn entry(&self, index: u64) -> Result<Vec<u8>, StoreError> {
        let inner = self.lock();
        inner.entries.get(index as usize).cloned().ok_or(StoreError::OutOfRange { index, size: inner.tree.size() })
    }

    fn node(&self, level: u8, index: u64) -> Result<Digest, StoreError> {
        let inner = self.lock();
        let size = inner.tree.size();
        inner.tree.node(level, index).map_err(|_| StoreError::OutOfRange { index: index << level, size })
    }

    fn put_checkpoint(&self, size: u64, note: &str) -> Result<(), StoreError> {
        self.lock().checkpoints.push((size, note.to_owned()));
        Ok(())
    }

    fn checkpoints(&self) -> Result<Vec<(u64, String)>, StoreError> {
        Ok(self.lock().checkpoints.clone())
    }
}
