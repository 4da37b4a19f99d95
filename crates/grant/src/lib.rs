//! `tally-grant`: the rule of the protocol — no data flows without a grant
//! from the agency that controls it, for a named purpose, within limits
//! (spec/grants.md).
//!
//! - [`GrantDocument`] is how operators write a grant request (TOML) and
//!   read a grant; [`issue_grant`] checks and signs it.
//! - [`VerifiedChain`] checks a delegation chain: signatures, links, and
//!   that every delegated grant is narrower than its parent in every
//!   dimension.
//! - [`RevocationSet`] holds verified revocations and merges idempotently.
//! - [`decide`] is the decision: pure, deterministic, time an argument;
//!   it returns an [`Authorization`] with the effective constraints, or a
//!   [`Denial`] naming the failed check and the values involved, which maps
//!   to a wire reason code. [`Usage`] counts what has flowed, replay-safe,
//!   and [`ChainCache`] skips signature checks for chains already verified.
//!
//! ```
//! use tally_envelope::{IdentityKey, IdentityVerifier};
//! use tally_grant::{Directory, Flow, GrantDocument, RevocationSet, Usage, decide, grant_id, issue_grant};
//! use tally_wire::{AgencyId, BoundedVec, DataCategory, Direction, Purpose, SuiteId, Timestamp};
//!
//! struct Federation { tax: IdentityVerifier }
//! impl Directory for Federation {
//!     fn identity_key(&self, agency: &AgencyId) -> Option<IdentityVerifier> {
//!         (agency.as_str() == "tax-bureau").then(|| self.tax.clone())
//!     }
//!     fn purpose_registered(&self, _: &Purpose) -> bool { true }
//!     fn controller(&self, category: &DataCategory) -> Option<AgencyId> {
//!         // The tax bureau controls income data.
//!         DataCategory::new("income").ok()?.covers(category).then(|| AgencyId::new("tax-bureau").ok())?
//!     }
//! }
//!
//! let tax_key = IdentityKey::generate()?;
//! let tax = AgencyId::new("tax-bureau")?;
//! let document = GrantDocument::from_toml(r#"
//!     grantee = "social-security"
//!     purposes = ["social-security.eligibility"]
//!     categories = ["income"]
//!     not_before = "2026-01-01T00:00:00Z"
//!     not_after = "2027-01-01T00:00:00Z"
//!     direction = "push"
//!     retention = "90days"
//!     [quota]
//!     max_packets = 2
//! "#)?;
//! let grant = issue_grant(&tax_key, &tax, &document, Timestamp::from_secs(1_767_225_600))?;
//! let federation = Federation { tax: IdentityVerifier::new(&tax_key.public_key())? };
//!
//! let flow = Flow {
//!     grant: grant_id(&grant),
//!     sender: tax.clone(),
//!     recipient: AgencyId::new("social-security")?,
//!     purpose: Purpose::new("social-security.eligibility.housing")?,
//!     category: DataCategory::new("income.annual")?,
//!     bytes: 1000,
//!     direction: Direction::Push,
//!     suite: Some(SuiteId::X25519_SHA256_AES256GCM),
//!     at: Timestamp::from_secs(1_780_000_000),
//! };
//! let chain = BoundedVec::new(vec![grant])?;
//! let auth = decide(&flow, &chain, &RevocationSet::new(), &federation, &Usage::new())?;
//! assert_eq!(auth.remaining_packets(), Some(1));
//! assert_eq!(auth.retention_secs(), 90 * 86_400);
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```

#![forbid(unsafe_code)]

mod authorization;
mod cache;
mod chain;
mod decision;
mod denial;
mod directory;
mod document;
mod revocation;
mod usage;

/// Entry points of the fuzz targets and the corpus replay test (`cfg(fuzzing)`,
/// or feature `fuzzing`); not part of the API, never in a release build.
#[cfg(any(test, fuzzing, feature = "fuzzing"))]
pub mod fuzzing;

pub use cache::ChainCache;
pub use chain::{Directory, VerifiedChain, check_narrower, direction_allows, effective_senders, grant_id};
pub use decision::{Authorization, Flow, decide, decide_verified};
pub use denial::{Denial, Dimension, QuotaKind, level_name as suite_level_name};
pub use directory::{DirectoryError, VerifiedDirectory};
pub use document::{DocumentError, GrantDocument, QuotaDocument, issue_grant, rfc3339};
pub use revocation::{RevocationError, RevocationSet, effective_from};
pub use usage::{GrantUsage, Usage};

use tally_envelope::IdentityKey;
use tally_wire::{AgencyId, GrantId, Revocation, RevocationReason, Signed, Timestamp};

/// Signs a revocation of `grant` by `issuer`, effective at `effective_at`.
pub fn revoke(
    identity: &IdentityKey,
    issuer: &AgencyId,
    grant: GrantId,
    effective_at: Timestamp,
    reason: RevocationReason,
    erase: bool,
    now: Timestamp,
) -> Result<Signed<Revocation>, tally_envelope::Error> {
    identity.sign_object(Revocation { issuer: issuer.clone(), grant, effective_at, reason, erase, issued_at: now })
}
