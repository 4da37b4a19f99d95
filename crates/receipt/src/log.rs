//! A node's log: typed entries, signed checkpoints, proofs and bundles
//! (spec/receipts.md, "The log").

use std::ops::Range;
use std::sync::{Arc, Mutex, PoisonError};

use tally_envelope::IdentityKey;
use tally_wire::{
    AgencyId, BoundedVec, BundledReceipt, Checkpoint, Digest, Encoded, LogEntry, LogOrigin, Receipt, ReceiptBundle,
    Text,
};

use crate::bundle::{bundled_entry, entry_bytes, log_origin};
use crate::merkle::{Memo, consistency_proof, inclusion_proof, root};
use crate::note::sign_checkpoint;
use crate::store::{LogStore, Nodes, StoreError};

/// How a node signs its receipts (spec/receipts.md, "Two ways to sign").
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum SigningMode {
    /// Every receipt is signed on its own.
    Individual,
    /// Receipts are logged unsigned and one signed checkpoint per batch stands for their signatures.
    Batched,
}

/// Why a log operation failed.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum LogError {
    /// The store failed.
    #[error(transparent)]
    Store(#[from] StoreError),
    /// An entry could not be encoded.
    #[error(transparent)]
    Wire(#[from] tally_wire::Error),
    /// Signing failed.
    #[error(transparent)]
    Sign(#[from] tally_envelope::Error),
    /// A proof was asked for sizes or indices outside the log.
    #[error(transparent)]
    Proof(#[from] crate::merkle::ProofError),
}

/// A node's append-only, tamper-evident log.
pub struct Log<S> {
    store: S,
    origin: LogOrigin,
    key: Arc<IdentityKey>,
    /// The latest checkpoint signed, so that the receipts of one group
    /// commit share one signature ([`checkpoint_covering`](Self::checkpoint_covering)).
    latest: Mutex<Option<(Checkpoint, Arc<str>)>>,
    /// Checkpoints signed since the log was opened.
    signed: std::sync::atomic::AtomicU64,
}

impl<S: LogStore> Log<S> {
    /// The log of `agency`, signed with `key`, in `store`.
    pub fn new(store: S, agency: &AgencyId, key: Arc<IdentityKey>) -> Self {
        Self { store, origin: log_origin(agency), key, latest: Mutex::new(None), signed: Default::default() }
    }

    /// The log's origin line.
    pub fn origin(&self) -> &LogOrigin {
        &self.origin
    }

    /// The store.
    pub fn store(&self) -> &S {
        &self.store
    }

    /// How many entries the log holds.
    pub fn size(&self) -> Result<u64, LogError> {
        Ok(self.store.size()?)
    }

    /// Appends entries durably; returns their indices.
    pub fn append(&self, entries: &[LogEntry]) -> Result<Range<u64>, LogError> {
        let bytes = entries.iter().map(entry_bytes).collect::<Result<Vec<_>, _>>()?;
        Ok(self.store.append(bytes)?)
    }

    /// The root of the first `size` entries.
    pub fn root(&self, size: u64) -> Result<Digest, LogError> {
        Ok(root(&Nodes(&self.store), size)?)
    }

    /// Signs (and records) a checkpoint of the log as it is now.
    pub fn checkpoint(&self) -> Result<(Checkpoint, String), LogError> {
        let mut latest = self.latest.lock().unwrap_or_else(PoisonError::into_inner);
        let (c, note) = self.sign_now()?;
        *latest = Some((c.clone(), Arc::from(note.as_str())));
        Ok((c, note))
    }

    /// A signed checkpoint of at least `size` entries: the latest one
    /// signed if it covers them, else a new one of the log as it is now.
    /// Callers whose entries were committed together (one group commit)
    /// wait for one another here and share the one signature.
    pub fn checkpoint_covering(&self, size: u64) -> Result<(Checkpoint, Arc<str>), LogError> {
        let mut latest = self.latest.lock().unwrap_or_else(PoisonError::into_inner);
        if let Some((c, note)) = latest.as_ref().filter(|(c, _)| c.size >= size) {
            return Ok((c.clone(), Arc::clone(note)));
        }
        let (c, note) = self.sign_now()?;
        if c.size < size {
            let e = crate::merkle::ProofError::IndexOutOfRange { index: size - 1, size: c.size };
            return Err(LogError::Proof(e));
        }
        let note: Arc<str> = Arc::from(note.as_str());
        *latest = Some((c.clone(), Arc::clone(&note)));
        Ok((c, note))
    }

    /// The bundle of the receipt at `index`, under the latest checkpoint
    /// that covers it (signed now if none does).
    pub fn bundle_of(&self, receipt: BundledReceipt, index: u64) -> Result<ReceiptBundle, LogError> {
        let (c, note) = self.checkpoint_covering(index + 1)?;
        self.bundle_at(receipt, index, &c, &note)
    }

    /// How many checkpoints this log signed since it was opened.
    pub fn checkpoints_signed(&self) -> u64 {
        self.signed.load(std::sync::atomic::Ordering::Relaxed)
    }

    /// The latest checkpoint signed since the log was opened, if any.
    pub fn latest_checkpoint(&self) -> Option<Checkpoint> {
        self.latest.lock().unwrap_or_else(PoisonError::into_inner).as_ref().map(|(c, _)| c.clone())
    }

    fn sign_now(&self) -> Result<(Checkpoint, String), LogError> {
        self.signed.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        let size = self.store.size()?;
        let c = Checkpoint { origin: self.origin.clone(), size, root: self.root(size)? };
        let note = sign_checkpoint(&c, &self.key);
        self.store.put_checkpoint(size, &note)?;
        Ok((c, note))
    }

    /// The inclusion proof of entry `index` in the tree of `size` entries.
    pub fn inclusion_proof(&self, index: u64, size: u64) -> Result<Vec<Digest>, LogError> {
        Ok(inclusion_proof(&Nodes(&self.store), index, size)??)
    }

    /// The consistency proof from `old` to `new` entries.
    pub fn consistency_proof(&self, old: u64, new: u64) -> Result<Vec<Digest>, LogError> {
        Ok(consistency_proof(&Nodes(&self.store), old, new)??)
    }

    /// Signs one receipt on its own and logs it (individual signing).
    /// Returns the bundled receipt and its index; [`bundle`](Self::bundle)
    /// makes the bundle once a checkpoint covers it.
    pub fn issue_receipt(&self, receipt: Receipt) -> Result<(BundledReceipt, u64), LogError> {
        let signed = self.key.sign_object(receipt)?;
        let bundled = BundledReceipt::Signed(signed);
        let range = self.append(&[bundled_entry(&bundled)])?;
        Ok((bundled, range.start))
    }

    /// Logs a batch of receipts unsigned, in one durable append, signs one
    /// checkpoint over them, and returns each receipt's bundle (batch signing).
    pub fn issue_receipts_batched(&self, receipts: Vec<Receipt>) -> Result<Vec<ReceiptBundle>, LogError> {
        let bundled =
            receipts.into_iter().map(|r| Encoded::new(r).map(BundledReceipt::Logged)).collect::<Result<Vec<_>, _>>()?;
        let entries: Vec<LogEntry> = bundled.iter().map(bundled_entry).collect();
        let range = self.append(&entries)?;
        let (c, note) = self.checkpoint()?;
        let nodes = Nodes(&self.store);
        let memo = Memo::new(&nodes);
        let note = Text::new(note.as_str()).map_err(|e| note_error(&e))?;
        bundled
            .into_iter()
            .zip(range)
            .map(|(receipt, index)| {
                let proof = memo.inclusion_proof(index, c.size)??;
                Ok(ReceiptBundle {
                    receipt,
                    index,
                    proof: bounded_proof(proof, index, c.size)?,
                    checkpoint: note.clone(),
                })
            })
            .collect()
    }

    /// The bundle of a logged receipt under a signed checkpoint that includes it.
    pub fn bundle(
        &self,
        receipt: BundledReceipt,
        index: u64,
        checkpoint: &Checkpoint,
        note: &str,
    ) -> Result<ReceiptBundle, LogError> {
        self.bundle_at(receipt, index, checkpoint, note)
    }

    fn bundle_at(
        &self,
        receipt: BundledReceipt,
        index: u64,
        c: &Checkpoint,
        note: &str,
    ) -> Result<ReceiptBundle, LogError> {
        let proof = self.inclusion_proof(index, c.size)?;
        let checkpoint = Text::new(note).map_err(|e| note_error(&e))?;
        Ok(ReceiptBundle { receipt, index, proof: bounded_proof(proof, index, c.size)?, checkpoint })
    }
}

fn bounded_proof(proof: Vec<Digest>, index: u64, size: u64) -> Result<BoundedVec<Digest, 64>, LogError> {
    Ok(BoundedVec::new(proof).map_err(|_| crate::merkle::ProofError::IndexOutOfRange { index, size })?)
}

fn note_error(e: &tally_wire::InvalidValue) -> LogError {
    LogError::Wire(tally_wire::Error::InvalidValue {
        context: tally_wire::Context::Object("checkpoint note"),
        offset: 0,
        value: *e,
    })
}
