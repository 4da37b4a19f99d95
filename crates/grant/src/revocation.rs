//! Revocations and the set of known revocations (spec/grants.md, "Revocation").

use std::collections::BTreeMap;

use tally_wire::{GrantId, Revocation, Signed, Timestamp};

use crate::chain::{Directory, VerifiedChain};

/// Every revocation a node knows, verified, keyed so that merging is idempotent.
///
/// A revocation counts against a grant only if its issuer is the issuer of
/// that grant or of one of the grant's ancestors in the chain being
/// decided; that is checked per chain ([`RevocationSet::revoked_at`]), since
/// the same grant can only be judged within its chain.
#[derive(Clone, Debug, Default)]
pub struct RevocationSet {
    /// By revoked grant, then by the revocation's exact bytes (so duplicates merge).
    by_grant: BTreeMap<GrantId, BTreeMap<Vec<u8>, Signed<Revocation>>>,
}

/// When a revocation takes effect: at `effective_at`, but never before it
/// was issued (`max(effective_at, issued_at)`): a revocation cannot reach
/// back and make earlier flows unlawful (spec/grants.md, "Revocation").
pub fn effective_from(revocation: &Revocation) -> Timestamp {
    revocation.effective_at.max(revocation.issued_at)
}

/// Why a revocation was not added.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum RevocationError {
    /// The revocation's issuer has no identity key in the directory.
    #[error("revocation issued by {0}, which has no identity key in the directory")]
    UnknownIssuer(tally_wire::AgencyId),
    /// The signature does not verify under the issuer's key.
    #[error("the revocation's signature does not verify under {0}'s identity key")]
    BadSignature(tally_wire::AgencyId),
}

impl RevocationSet {
    /// An empty set.
    pub fn new() -> Self {
        Self::default()
    }

    /// Adds a revocation after checking its signature; adding the same one again changes nothing.
    pub fn insert(
        &mut self,
        revocation: Signed<Revocation>,
        directory: &impl Directory,
    ) -> Result<bool, RevocationError> {
        let r = revocation.unverified();
        let key = directory.identity_key(&r.issuer).ok_or_else(|| RevocationError::UnknownIssuer(r.issuer.clone()))?;
        key.verify_object(&revocation).map_err(|_| RevocationError::BadSignature(r.issuer.clone()))?;
        let grant = r.grant;
        Ok(self.by_grant.entry(grant).or_default().insert(revocation.encode(), revocation).is_none())
    }

    /// Merges another set into this one (idempotent, commutative).
    pub fn merge(&mut self, other: &Self) {
        for (grant, revocations) in &other.by_grant {
            let entry = self.by_grant.entry(*grant).or_default();
            for (bytes, r) in revocations {
                entry.entry(bytes.clone()).or_insert_with(|| r.clone());
            }
        }
    }

    /// How many distinct revocations the set holds.
    pub fn len(&self) -> usize {
        self.by_grant.values().map(BTreeMap::len).sum()
    }

    /// Whether the set is empty.
    pub fn is_empty(&self) -> bool {
        self.by_grant.is_empty()
    }

    /// The revocations of one grant.
    pub fn of(&self, grant: &GrantId) -> impl Iterator<Item = &Signed<Revocation>> {
        self.by_grant.get(grant).into_iter().flat_map(BTreeMap::values)
    }

    /// The first grant of `chain` (leaf first) revoked at time `at`, with
    /// the earliest effective time of its revocations; a revocation counts
    /// if issued by the grant's issuer or by an ancestor's.
    pub fn revoked_at(&self, chain: &VerifiedChain, at: Timestamp) -> Option<(GrantId, Timestamp)> {
        let links: Vec<_> = chain.links().collect();
        for (i, (id, _)) in links.iter().enumerate() {
            let earliest = self
                .of(id)
                .map(Signed::unverified)
                .filter(|r| links[i..].iter().any(|(_, g)| g.issuer == r.issuer))
                .map(effective_from)
                .filter(|&t| t <= at)
                .min();
            if let Some(t) = earliest {
                return Some((**id, t));
            }
        }
        None
    }
}
