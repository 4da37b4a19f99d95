//! Where a log lives: the [`LogStore`] abstraction, and a store in memory
//! (spec/receipts.md, "Storage"). The durable store is `tally-store`'s.

mod memory;

use std::ops::Range;

use tally_wire::Digest;

pub use self::memory::MemoryStore;
use crate::merkle::NodeSource;

/// Why the store failed.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum StoreError {
    /// The store's storage failed (I/O, corruption, a full disk); the source says how.
    #[error("log storage: {0}")]
    Storage(Box<dyn std::error::Error + Send + Sync>),
    /// The store's contents contradict its own signed checkpoint.
    #[error("the stored log does not match its latest checkpoint: {0}")]
    Inconsistent(String),
    /// An index or size beyond the log.
    #[error("entry {index} is beyond the log's {size} entries")]
    OutOfRange {
        /// The index asked for.
        index: u64,
        /// The log's size.
        size: u64,
    },
    /// The store's committer is gone (the store is shutting down).
    #[error("the log store is closed")]
    Closed,
}

/// An append-only store of log entries, their Merkle tree's perfect nodes,
/// and the log's signed checkpoints.
///
/// [`append`](Self::append) returns only once the entries are durable:
/// after the transaction that holds them has committed. Implementations
/// may commit many concurrent appends in one transaction (group commit).
pub trait LogStore: Send + Sync {
    /// How many entries the log holds.
    fn size(&self) -> Result<u64, StoreError>;
    /// Appends entries (their canonical bytes); returns their indices once durable.
    fn append(&self, entries: Vec<Vec<u8>>) -> Result<Range<u64>, StoreError>;
    /// The entry at `index`.
    fn entry(&self, index: u64) -> Result<Vec<u8>, StoreError>;
    /// The perfect node `(level, index)` (see [`NodeSource`]).
    fn node(&self, level: u8, index: u64) -> Result<Digest, StoreError>;
    /// Records a signed checkpoint of `size` entries. It may become durable
    /// with a later commit: the entries it covers are durable already, and
    /// the same checkpoint can be signed again from them (Ed25519 is
    /// deterministic).
    fn put_checkpoint(&self, size: u64, note: &str) -> Result<(), StoreError>;
    /// Every recorded checkpoint, oldest first.
    fn checkpoints(&self) -> Result<Vec<(u64, String)>, StoreError>;
}

/// Reads a store's nodes for the proof algorithms.
pub(crate) struct Nodes<'a, S: ?Sized>(pub(crate) &'a S);

impl<S: LogStore + ?Sized> NodeSource for Nodes<'_, S> {
    type Error = StoreError;
    fn node(&self, level: u8, index: u64) -> Result<Digest, StoreError> {
        self.0.node(level, index)
    }
}
