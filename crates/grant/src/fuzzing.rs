//! Entry points for the fuzz targets in `fuzz/` and the corpus replay test.
//! Not part of the API.
//!
//! Random bytes almost never carry valid signatures, so besides checking
//! the bytes as they are, each target re-signs what it decoded with keys
//! derived from the agencies' names (and re-links chains), so that the
//! narrowing checks and the decision run on arbitrary field values too.
//! A panic here is a bug.

use std::collections::HashMap;

use tally_envelope::{IdentityKey, IdentityVerifier};
use tally_wire::{AgencyId, BoundedVec, Direction, Grant, GrantChain, Purpose, Revocation, Signed, SuiteId, Timestamp};

use crate::{
    Directory, Flow, RevocationSet, Usage, VerifiedChain, decide, direction_allows, effective_senders, grant_id,
};

/// Keys derived from agency names: a test federation in which everyone is
/// known, and one agency (the root issuer of the chain exercised) controls
/// every category.
#[derive(Default)]
struct NamedKeys(std::cell::RefCell<HashMap<AgencyId, IdentityKey>>, std::cell::RefCell<Option<AgencyId>>);

impl NamedKeys {
    fn sign<T: tally_wire::SignedBody>(&self, issuer: &AgencyId, value: T) -> Option<Signed<T>> {
        let mut keys = self.0.borrow_mut();
        let key = keys.entry(issuer.clone()).or_insert_with(|| {
            let mut seed = [0u8; 32];
            for (s, b) in seed.iter_mut().zip(issuer.as_str().bytes()) {
                *s = b;
            }
            IdentityKey::from_seed(&seed)
        });
        key.sign_object(value).ok()
    }
}

impl Directory for NamedKeys {
    fn identity_key(&self, agency: &AgencyId) -> Option<IdentityVerifier> {
        let keys = self.0.borrow();
        keys.get(agency).and_then(|k| IdentityVerifier::new(&k.public_key()).ok())
    }
    fn purpose_registered(&self, purpose: &Purpose) -> bool {
        purpose.labels().count() < 8
    }
    fn controller(&self, _: &tally_wire::DataCategory) -> Option<AgencyId> {
        self.1.borrow().clone()
    }
}

/// Re-signs a chain's grants from the root down, re-linking each to its parent.
fn relink(keys: &NamedKeys, chain: &GrantChain) -> Option<GrantChain> {
    let mut out: Vec<Signed<Grant>> = Vec::new();
    for signed in chain.iter().rev() {
        let mut g = signed.unverified().clone();
        g.parent = out.last().map(grant_id);
        out.push(keys.sign(&g.issuer.clone(), g)?);
    }
    out.reverse();
    BoundedVec::new(out).ok()
}

/// Decides flows derived from the leaf at its window's edges, and checks
/// that whatever is allowed is within every link.
fn exercise(chain: &GrantChain, keys: &NamedKeys) {
    let Some(leaf) = chain.first() else { return };
    let g = leaf.unverified();
    *keys.1.borrow_mut() = chain.last().map(|root| root.unverified().issuer.clone());
    let verified = VerifiedChain::verify(chain, keys);
    for at in [g.not_before, g.not_after, Timestamp::EPOCH] {
        for (direction, suite) in [
            (Direction::Push, SuiteId::X25519_SHA256_AES256GCM),
            (Direction::Pull, SuiteId::XWING_SHA256_CHACHA20POLY1305),
        ] {
            let flow = Flow {
                grant: grant_id(leaf),
                sender: effective_senders(g)[0].clone(),
                recipient: g.grantee.clone(),
                purpose: g.purposes.first().cloned().unwrap_or_else(|| Purpose::new("x").expect("valid")),
                category: g
                    .categories
                    .first()
                    .cloned()
                    .unwrap_or_else(|| tally_wire::DataCategory::new("x").expect("valid")),
                bytes: g.quota.max_bytes.unwrap_or(u64::MAX),
                direction,
                suite: Some(suite),
                at,
            };
            let decision = decide(&flow, chain, &RevocationSet::new(), keys, &Usage::new());
            if decision.is_ok() {
                assert!(verified.is_ok(), "an allowed flow's chain verifies");
                for link in chain.iter().map(Signed::unverified) {
                    assert!(link.purposes.iter().any(|p| p.covers(&flow.purpose)), "allowed purpose outside a link");
                    assert!(direction_allows(link.direction, flow.direction), "allowed direction outside a link");
                    assert!(link.not_before <= at && at < link.not_after, "allowed time outside a link");
                    assert!(suite.level().is_some_and(|l| l >= link.min_suite_level), "allowed suite below a link's");
                }
                let root = chain.last().map(Signed::unverified).expect("a chain has a root");
                assert_eq!(
                    keys.controller(&flow.category),
                    Some(root.issuer.clone()),
                    "allowed without the controller"
                );
            }
        }
    }
}

/// `Signed<Grant>` decoding, verification and the decision.
pub fn grant(data: &[u8]) {
    let Ok(signed) = Signed::<Grant>::decode(data) else { return };
    let keys = NamedKeys::default();
    let as_is = BoundedVec::new(vec![signed.clone()]).expect("one grant");
    let _ = VerifiedChain::verify(&as_is, &keys);
    if let Some(chain) = relink(&keys, &as_is) {
        exercise(&chain, &keys);
    }
}

/// Grant chain decoding (`decode_grant_chain`), verification with narrowing, and the decision.
pub fn chain(data: &[u8]) {
    let Ok(chain) = tally_wire::decode_grant_chain(data) else { return };
    assert_eq!(tally_wire::encode_grant_chain(&chain), data, "chain decode/encode is not the identity");
    let keys = NamedKeys::default();
    let _ = VerifiedChain::verify(&chain, &keys);
    if let Some(relinked) = relink(&keys, &chain) {
        exercise(&relinked, &keys);
    }
}

/// `Signed<Revocation>` decoding, verification and idempotent merging.
pub fn revocation(data: &[u8]) {
    let Ok(signed) = Signed::<Revocation>::decode(data) else { return };
    let keys = NamedKeys::default();
    let mut set = RevocationSet::new();
    let r = signed.unverified().clone();
    let resigned = keys.sign(&r.issuer.clone(), r);
    let _ = set.insert(signed, &keys);
    if let Some(resigned) = resigned {
        assert!(set.insert(resigned.clone(), &keys).is_ok(), "a correctly signed revocation is accepted");
        assert!(!set.insert(resigned, &keys).expect("still valid"), "the same revocation twice is one");
    }
    let before = set.len();
    let copy = set.clone();
    set.merge(&copy);
    assert_eq!(set.len(), before, "merging a set with itself changes nothing");
}

/// A fuzz target's body.
pub type Target = fn(&[u8]);

/// Every target by the name of its directory under `fuzz/corpus/`.
pub const TARGETS: &[(&str, Target)] =
    &[("grant_verify", grant), ("chain_verify", chain), ("revocation_verify", revocation)];
