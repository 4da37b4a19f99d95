//! RFC 9162 hashing and proofs against the reference vectors
//! (spec/vectors/merkle, from transparency-dev/merkle), and property tests.

use proptest::prelude::*;
use serde_json::Value;
use tally_receipt::merkle::{
    Memo, Tree, consistency_proof, inclusion_proof, leaf_hash, root, verify_consistency, verify_inclusion,
};
use tally_wire::Digest;

fn bytes(v: &Value) -> Vec<u8> {
    tally_testkit::unhex(v.as_str().expect("hex"))
}

fn d(v: &Value) -> Digest {
    Digest(bytes(v).try_into().expect("32 bytes"))
}

fn vectors() -> Value {
    let path = concat!(env!("CARGO_MANIFEST_DIR"), "/../../spec/vectors/merkle/rfc6962-reference-tree.json");
    serde_json::from_str(&std::fs::read_to_string(path).expect("readable")).expect("JSON")
}

fn tree_of(n: usize) -> Tree {
    let v = vectors();
    let mut t = Tree::new();
    for leaf in v["leafInputs"].as_array().expect("leaves").iter().take(n) {
        t.push(leaf_hash(&bytes(leaf)));
    }
    t
}

fn root_of(t: &Tree, n: u64) -> Digest {
    root(t, n).expect("within the tree")
}

#[test]
fn reference_roots_for_sizes_0_to_8() {
    let v = vectors();
    let t = tree_of(8);
    for (n, expected) in v["rootsBySize"].as_array().expect("roots").iter().enumerate() {
        assert_eq!(root_of(&t, n as u64), d(expected), "size {n}");
    }
}

#[test]
fn every_reference_inclusion_proof() {
    let v = vectors();
    let t = tree_of(8);
    let cases = v["inclusion"].as_array().expect("cases");
    assert_eq!(cases.len(), 36);
    for c in cases {
        let (m, n) = (c["leafIndex"].as_u64().expect("u64"), c["treeSize"].as_u64().expect("u64"));
        let expected: Vec<Digest> = c["auditPath"].as_array().expect("path").iter().map(d).collect();
        let proof = inclusion_proof(&t, m, n).expect("within the tree").expect("in range");
        assert_eq!(proof, expected, "PATH({m}, {n})");
        let (leaf, r) = (d(&c["leafHash"]), d(&c["root"]));
        assert!(verify_inclusion(&leaf, m, n, &proof, &r), "({m}, {n})");
        // Every alteration fails: wrong index, wrong size, truncated, extended, another root, a changed hash.
        assert!(!verify_inclusion(&leaf, m + 1, n, &proof, &r) || n == 1 && m + 1 >= n);
        // A size is only meaningful with its own root (both come from one checkpoint).
        if n < 8 {
            let r_next = root_of(&tree_of(8), n + 1);
            assert!(!verify_inclusion(&leaf, m, n + 1, &proof, &r_next), "size + 1 at ({m}, {n})");
        }
        if !proof.is_empty() {
            assert!(!verify_inclusion(&leaf, m, n, &proof[..proof.len() - 1], &r), "truncated at ({m}, {n})");
            let mut changed = proof.clone();
            changed[0].0[0] ^= 1;
            assert!(!verify_inclusion(&leaf, m, n, &changed, &r), "changed at ({m}, {n})");
        }
        let mut extended = proof.clone();
        extended.push(leaf);
        assert!(!verify_inclusion(&leaf, m, n, &extended, &r), "extended at ({m}, {n})");
        assert!(!verify_inclusion(&leaf, m, n, &proof, &Digest([0; 32])), "another root at ({m}, {n})");
    }
}

#[test]
fn every_reference_consistency_proof() {
    let v = vectors();
    let t = tree_of(8);
    let cases = v["consistency"].as_array().expect("cases");
    assert_eq!(cases.len(), 36);
    for c in cases {
        let (m, n) = (c["size1"].as_u64().expect("u64"), c["size2"].as_u64().expect("u64"));
        let expected: Vec<Digest> = c["proof"].as_array().expect("proof").iter().map(d).collect();
        let proof = consistency_proof(&t, m, n).expect("within the tree").expect("valid sizes");
        assert_eq!(proof, expected, "PROOF({m}, {n})");
        let (r1, r2) = (d(&c["root1"]), d(&c["root2"]));
        assert!(verify_consistency(m, n, &r1, &r2, &proof), "({m}, {n})");
        assert!(!verify_consistency(m, n, &r2, &r1, &proof) || r1 == r2, "swapped roots at ({m}, {n})");
        if !proof.is_empty() {
            assert!(!verify_consistency(m, n, &r1, &r2, &proof[..proof.len() - 1]), "truncated at ({m}, {n})");
            let mut changed = proof.clone();
            let last = changed.len() - 1;
            changed[last].0[3] ^= 0x80;
            assert!(!verify_consistency(m, n, &r1, &r2, &changed), "changed at ({m}, {n})");
        }
        let mut extended = proof.clone();
        extended.push(r1);
        assert!(!verify_consistency(m, n, &r1, &r2, &extended), "extended at ({m}, {n})");
        if m < n && n < 8 {
            let r_next = root_of(&t, n + 1);
            assert!(!verify_consistency(m, n + 1, &r1, &r_next, &proof), "wrong size at ({m}, {n})");
        }
    }
}

fn tree(n: u64) -> Tree {
    let mut t = Tree::new();
    for i in 0..n {
        t.push(leaf_hash(&i.to_be_bytes()));
    }
    t
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 16, ..ProptestConfig::default() })]

    /// In a tree of random size, every index's inclusion proof verifies (and
    /// equals the memoised one), and a change to any one hash of it fails.
    #[test]
    fn inclusion_proofs_verify_and_alterations_fail(n in 1u64..2000, pick: prop::sample::Index, byte in 0usize..32) {
        let t = tree(n);
        let r = root_of(&t, n);
        let memo = Memo::new(&t);
        for m in 0..n {
            let proof = inclusion_proof(&t, m, n).expect("within the tree").expect("in range");
            prop_assert_eq!(&memo.inclusion_proof(m, n).expect("within the tree").expect("in range"), &proof, "memoised proof differs");
            let leaf = leaf_hash(&m.to_be_bytes());
            prop_assert!(verify_inclusion(&leaf, m, n, &proof, &r));
            if !proof.is_empty() {
                let mut changed = proof.clone();
                let i = pick.index(changed.len());
                changed[i].0[byte] ^= 1;
                prop_assert!(!verify_inclusion(&leaf, m, n, &changed, &r));
            }
            prop_assert!(!verify_inclusion(&leaf_hash(b"other"), m, n, &proof, &r));
        }
    }

    /// Consistency proofs for random (m, n) verify, and fail when altered.
    #[test]
    fn consistency_proofs_verify_and_alterations_fail(n in 1u64..3000, m_pick: prop::sample::Index, pick: prop::sample::Index, byte in 0usize..32) {
        let t = tree(n);
        let m = m_pick.index(n as usize) as u64 + 1;
        let (r1, r2) = (root_of(&t, m), root_of(&t, n));
        let proof = consistency_proof(&t, m, n).expect("within the tree").expect("valid sizes");
        prop_assert!(verify_consistency(m, n, &r1, &r2, &proof));
        if !proof.is_empty() {
            let mut changed = proof.clone();
            let i = pick.index(changed.len());
            changed[i].0[byte] ^= 1;
            prop_assert!(!verify_consistency(m, n, &r1, &r2, &changed));
        }
        if m < n {
            prop_assert!(!verify_consistency(m, n, &root_of(&t, m - 1 + u64::from(m == 1)), &r2, &proof) || m == 1);
        }
    }
}
