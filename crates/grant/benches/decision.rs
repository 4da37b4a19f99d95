//! Grant benchmarks: chain verification and the decision, beside the
//! Ed25519 verification rate measured in the same run (one core). Run with
//! `cargo bench -p tally-grant`.

use std::collections::HashMap;
use std::hint::black_box;

use tally_envelope::{IdentityKey, IdentityVerifier};
use tally_grant::{ChainCache, Directory, Flow, RevocationSet, Usage, VerifiedChain, decide, grant_id};
use tally_testkit::time;
use tally_wire::{
    AgencyId, BoundedVec, DataCategory, Direction, Grant, GrantChain, Purpose, Quota, Signed, Text, Timestamp, label,
};

/// A directory whose keys are parsed once, as a node's would be.
struct Keys(HashMap<AgencyId, IdentityVerifier>);

impl Directory for Keys {
    fn identity_key(&self, agency: &AgencyId) -> Option<IdentityVerifier> {
        self.0.get(agency).cloned()
    }
    fn purpose_registered(&self, _: &Purpose) -> bool {
        true
    }
    fn controller(&self, _: &DataCategory) -> Option<AgencyId> {
        // The root issuer (agency 0) controls every category.
        Some(agency(0))
    }
}

fn agency(i: usize) -> AgencyId {
    AgencyId::new(format!("agency-{i}")).expect("valid")
}

/// A chain of `depth` grants, leaf first, and the directory that verifies it.
fn chain(depth: usize) -> (GrantChain, Keys, Vec<IdentityKey>) {
    let keys: Vec<IdentityKey> = (0..=depth).map(|i| IdentityKey::from_seed(&[i as u8 + 1; 32])).collect();
    let dir =
        Keys((0..=depth).map(|i| (agency(i), IdentityVerifier::new(&keys[i].public_key()).expect("valid"))).collect());
    let mut links: Vec<Signed<Grant>> = Vec::new();
    for (i, key) in keys.iter().enumerate().take(depth) {
        let g = Grant {
            issuer: agency(i),
            grantee: agency(i + 1),
            senders: BoundedVec::new(vec![agency(0)]).expect("small"),
            purposes: BoundedVec::new(vec![Purpose::new("social-security").expect("valid")]).expect("small"),
            categories: BoundedVec::new(vec![DataCategory::new("income").expect("valid")]).expect("small"),
            not_before: Timestamp::from_secs(0),
            not_after: Timestamp::from_secs(u64::MAX),
            quota: Quota { max_packets: Some(1 << 40), max_bytes: None, rate: None },
            retention_secs: 86_400,
            erase_on_revoke: true,
            direction: Direction::Push,
            min_suite_level: tally_wire::SuiteLevel::CLASSICAL,
            delegation_depth: (depth - i) as u8,
            parent: links.last().map(grant_id),
            legal_basis: Text::default(),
            note: Text::default(),
            issued_at: Timestamp::from_secs(0),
        };
        links.push(key.sign_object(g).expect("signs"));
    }
    links.reverse();
    (BoundedVec::new(links).expect("small"), dir, keys)
}

fn main() {
    if !tally_testkit::benchmarking() {
        println!("grant benchmarks: run with `cargo bench -p tally-grant`");
        return;
    }
    println!("tally-grant benchmarks (one core; best of 5 samples; ratios against Ed25519 verification in this run)");
    let signer = IdentityKey::from_seed(&[9; 32]);
    let verifier = IdentityVerifier::new(&signer.public_key()).expect("valid");
    let body = vec![0x5au8; 300];
    let sig = signer.sign(label::GRANT, &body);
    let t_verify = time(|| verifier.verify(label::GRANT, &body, &sig, "bench").expect("verifies"));
    println!("Ed25519 verify (ring, labeled, 300-byte grant body): {:8.0}/s", 1.0 / t_verify);

    for depth in [1usize, 4] {
        let (ch, dir, _keys) = chain(depth);
        let leaf = &ch[0];
        let flow = Flow {
            grant: grant_id(leaf),
            sender: agency(0),
            recipient: agency(depth),
            purpose: Purpose::new("social-security.eligibility").expect("valid"),
            category: DataCategory::new("income.annual").expect("valid"),
            bytes: 1024,
            direction: Direction::Push,
            suite: Some(tally_wire::SuiteId::X25519_SHA256_AES256GCM),
            at: Timestamp::from_secs(1_800_000_000),
        };
        let revocations = RevocationSet::new();
        let usage = Usage::new();
        let t_chain = time(|| {
            black_box(VerifiedChain::verify(&ch, &dir).expect("verifies"));
        });
        let t_decide = time(|| {
            black_box(decide(&flow, &ch, &revocations, &dir, &usage).expect("allowed"));
        });
        let mut cache = ChainCache::new(1, 1024);
        let t_cached = time(|| {
            black_box(cache.decide(&flow, &ch, &revocations, &dir, 1, &usage).expect("allowed"));
        });
        let bound = t_verify * depth as f64;
        println!(
            "depth {depth}: verify chain {:8.0}/s   decide {:8.0}/s   signature bound {:8.0}/s   ratio {:.2} / {:.2}   cached decision {:9.0}/s",
            1.0 / t_chain,
            1.0 / t_decide,
            1.0 / bound,
            bound / t_chain,
            bound / t_decide,
            1.0 / t_cached
        );
    }
}
