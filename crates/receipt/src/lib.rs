//! `tally-receipt`: receipts, the tamper-evident log, checkpoints and
//! offline verification (spec/receipts.md).
//!
//! - [`merkle`]: RFC 9162 hashing, inclusion and consistency proofs,
//!   generated from stored perfect nodes and verified without the tree;
//! - [`note`]: checkpoints as C2SP tlog-checkpoint signed notes, readable
//!   by existing transparency tooling;
//! - [`Log`]: a node's typed, append-only log over a [`LogStore`] (in
//!   memory here; durable with group commit in `tally-store`), which issues receipts
//!   signed individually or in batches under one checkpoint;
//! - [`verify_bundle`]: a receipt, its inclusion proof and the signed
//!   checkpoint, verified offline with only the directory's keys;
//! - [`ForkEvidence`]: two checkpoints that cannot both be honest.
//!
//! ```
//! use std::sync::Arc;
//! use tally_envelope::IdentityKey;
//! use tally_receipt::{Log, MemoryStore, verify_bundle};
//! use tally_wire::{AgencyId, Digest, GrantId, Outcome, PacketId, Purpose, Receipt, Timestamp};
//!
//! let social = AgencyId::new("social-security")?;
//! let key = Arc::new(IdentityKey::generate()?);
//! let public = key.public_key();
//! let log = Log::new(MemoryStore::new(), &social, key);
//! let receipt = Receipt {
//!     packet_id: PacketId([1; 16]),
//!     header_digest: Digest([2; 32]),
//!     grant: GrantId([3; 32]),
//!     purpose: Purpose::new("social-security.eligibility")?,
//!     category: tally_wire::DataCategory::new("income.annual")?,
//!     payload_len: 1024,
//!     sender: AgencyId::new("tax-bureau")?,
//!     recipient: social.clone(),
//!     received_at: Timestamp::from_secs(1_800_000_000),
//!     outcome: Outcome::Accepted { ciphertext_fingerprint: Digest([4; 32]), content_commitment: Digest([5; 32]) },
//! };
//! let bundles = log.issue_receipts_batched(vec![receipt.clone()])?;
//! let verified = verify_bundle(&bundles[0], |agency| (agency == &social).then_some(public))?;
//! assert_eq!(verified.receipt, receipt);
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```

#![forbid(unsafe_code)]

mod bundle;
mod fork;
mod frontier;
mod log;
pub mod merkle;
pub mod note;
mod store;
mod verifier;

/// Entry points of the fuzz targets and the corpus replay test (`cfg(fuzzing)`,
/// or feature `fuzzing`); not part of the API, never in a release build.
#[cfg(any(test, fuzzing, feature = "fuzzing"))]
pub mod fuzzing;

pub use bundle::{
    BUNDLE_TEXT_HEADER, BundleError, BundleTextError, RevealError, VerifiedReceipt, bundle_from_text, bundle_to_text,
    bundled_entry, entry_bytes, issued_receipt, log_origin, sign_receipt, verify_bundle, verify_reveal,
};
pub use fork::{ForkError, ForkEvidence};
pub use frontier::Frontier;
pub use log::{Log, LogError, SigningMode};
pub use store::{LogStore, MemoryStore, StoreError};
pub use verifier::{BundleVerifier, CHECKPOINT_CACHE_LEN, CheckpointCache, bundled_receipt};

pub(crate) fn encode_value<T: serde::Serialize>(value: &T) -> Result<Vec<u8>, tally_wire::Error> {
    Ok(tally_wire::to_bytes(value))
}

pub(crate) fn decode_value<'de, T: serde::Deserialize<'de> + serde::Serialize>(
    bytes: &'de [u8],
    what: &'static str,
) -> Result<T, tally_wire::Error> {
    tally_wire::from_bytes(bytes, what)
}

/// Lowercase hex.
pub(crate) fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}
