//! Verifying many bundles from one agency: each checkpoint signature
//! once, then only inclusion proofs (spec/receipts.md, "Bundles").
//!
//! A recipient signs one checkpoint per group commit, so the bundles of
//! receipts committed together carry the same checkpoint note. A sender
//! verifies that note's signature the first time it sees it and keeps the
//! verified checkpoint in a [`CheckpointCache`]; the next bundle with the
//! same note costs a comparison and a Merkle path.

use std::collections::VecDeque;
use std::sync::{Arc, Mutex, PoisonError};

use tally_envelope::IdentityVerifier;
use tally_wire::{AgencyId, BundledReceipt, Checkpoint, IdentityPublicKey, LogOrigin, ReceiptBundle};

use crate::bundle::{BundleError, VerifiedReceipt, bundled_entry, entry_bytes, log_origin};
use crate::merkle::{leaf_hash, verify_inclusion};
use crate::note::verify_checkpoint;

/// How many verified checkpoint notes a cache keeps (the most recent).
pub const CHECKPOINT_CACHE_LEN: usize = 256;

/// Checkpoint notes whose signatures were verified, with the key they
/// verified under; shared by every exchange of a node (cloning shares it).
#[derive(Clone, Default)]
pub struct CheckpointCache(Arc<Mutex<VecDeque<(IdentityPublicKey, String, Checkpoint)>>>);

impl std::fmt::Debug for CheckpointCache {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let len = self.0.lock().unwrap_or_else(PoisonError::into_inner).len();
        f.debug_struct("CheckpointCache").field("notes", &len).finish()
    }
}

impl CheckpointCache {
    /// An empty cache.
    pub fn new() -> Self {
        Self::default()
    }

    fn get(&self, key: &IdentityPublicKey, note: &str) -> Option<Checkpoint> {
        let notes = self.0.lock().unwrap_or_else(PoisonError::into_inner);
        notes.iter().find(|(k, n, _)| k == key && n == note).map(|(_, _, c)| c.clone())
    }

    fn put(&self, key: IdentityPublicKey, note: &str, checkpoint: Checkpoint) {
        let mut notes = self.0.lock().unwrap_or_else(PoisonError::into_inner);
        if notes.len() == CHECKPOINT_CACHE_LEN {
            notes.pop_back();
        }
        notes.push_front((key, note.to_owned(), checkpoint));
    }
}

/// Verifies the bundles one agency issues, under its directory key.
#[derive(Clone, Debug)]
pub struct BundleVerifier {
    agency: AgencyId,
    key: IdentityPublicKey,
    origin: LogOrigin,
    cache: CheckpointCache,
}

impl BundleVerifier {
    /// A verifier of `agency`'s bundles, whose identity key in the
    /// directory is `key`, sharing `cache`.
    pub fn new(agency: AgencyId, key: IdentityPublicKey, cache: CheckpointCache) -> Self {
        let origin = log_origin(&agency);
        Self { agency, key, origin, cache }
    }

    /// The agency whose bundles this verifies.
    pub fn agency(&self) -> &AgencyId {
        &self.agency
    }

    /// Verifies a bundle of a receipt `agency` issued (its `recipient`):
    /// the receipt names the agency, the checkpoint is the agency's for its
    /// log (its signature checked once per note), the receipt's entry is at
    /// `index` in it, and an individually signed receipt's own signature.
    pub fn verify(&self, bundle: &ReceiptBundle) -> Result<VerifiedReceipt, BundleError> {
        let receipt = bundled_receipt(&bundle.receipt);
        if receipt.recipient != self.agency {
            return Err(BundleError::NotIssuedBy { issuer: self.agency.clone(), recipient: receipt.recipient.clone() });
        }
        let note = bundle.checkpoint.as_str();
        // A note is cached with the key it verified under; its origin is checked on every hit too.
        let checkpoint = match self.cache.get(&self.key, note).filter(|c| c.origin == self.origin) {
            Some(c) => c,
            None => {
                let c = verify_checkpoint(note, &self.origin, &self.key)?;
                self.cache.put(self.key, note, c.clone());
                c
            }
        };
        verify_parts(bundle, &self.key, checkpoint)
    }
}

/// The receipt in a bundle, not yet verified.
pub fn bundled_receipt(receipt: &BundledReceipt) -> &tally_wire::Receipt {
    match receipt {
        BundledReceipt::Signed(s) => s.unverified(),
        BundledReceipt::Logged(e) => e.value(),
    }
}

/// The checks after the checkpoint's: the receipt's own signature (if it
/// has one) and its inclusion under `checkpoint`.
pub(crate) fn verify_parts(
    bundle: &ReceiptBundle,
    key: &IdentityPublicKey,
    checkpoint: Checkpoint,
) -> Result<VerifiedReceipt, BundleError> {
    let receipt = bundled_receipt(&bundle.receipt);
    let recipient = &receipt.recipient;
    if let BundledReceipt::Signed(s) = &bundle.receipt {
        let verifier = IdentityVerifier::new(key).map_err(|_| BundleError::BadReceiptSignature(recipient.clone()))?;
        verifier.verify_object(s).map_err(|_| BundleError::BadReceiptSignature(recipient.clone()))?;
    }
    let leaf = leaf_hash(&entry_bytes(&bundled_entry(&bundle.receipt))?);
    if !verify_inclusion(&leaf, bundle.index, checkpoint.size, &bundle.proof, &checkpoint.root) {
        return Err(BundleError::NotIncluded { index: bundle.index, size: checkpoint.size });
    }
    Ok(VerifiedReceipt { receipt: receipt.clone(), checkpoint })
}
