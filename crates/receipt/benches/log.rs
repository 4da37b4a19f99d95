//! Log benchmarks, beside ceilings measured in the same run. Run with
//! `cargo bench -p tally-receipt`.

use std::hint::black_box;
use std::sync::Arc;

use tally_envelope::IdentityKey;
use tally_receipt::merkle::{
    Tree, consistency_proof, inclusion_proof, leaf_hash, root, verify_consistency, verify_inclusion,
};
use tally_receipt::{Log, LogStore, MemoryStore, entry_bytes};
use tally_testkit::time;
use tally_wire::{AgencyId, Digest, Encoded, GrantId, LogEntry, Outcome, PacketId, Purpose, Receipt, Timestamp, label};

fn receipt(i: u64) -> Receipt {
    Receipt {
        packet_id: PacketId((u128::from(i)).to_be_bytes()),
        header_digest: Digest([1; 32]),
        grant: GrantId([3; 32]),
        purpose: Purpose::new("social-security.eligibility").expect("valid"),
        category: tally_wire::DataCategory::new("income.annual").expect("valid"),
        payload_len: 1024,
        sender: AgencyId::new("tax-bureau").expect("valid"),
        recipient: AgencyId::new("social-security").expect("valid"),
        received_at: Timestamp::from_secs(1_800_000_000 + i),
        outcome: Outcome::Accepted { ciphertext_fingerprint: Digest([4; 32]), content_commitment: Digest([5; 32]) },
    }
}

fn main() {
    if !tally_testkit::benchmarking() {
        println!("log benchmarks: run with `cargo bench -p tally-receipt`");
        return;
    }
    println!("tally-receipt benchmarks (best of 5 samples; ratios against ceilings measured in this run)");
    let social = AgencyId::new("social-security").expect("valid");
    let key = Arc::new(IdentityKey::from_seed(&[2; 32]));
    let entry = entry_bytes(&LogEntry::ReceiptLogged(Encoded::new(receipt(1)).expect("encodes"))).expect("encodes");

    // Appends in memory vs one SHA-256 of each entry.
    let t_sha = time(|| {
        black_box(tally_envelope::sha256(&[&entry]));
    });
    let store = MemoryStore::new();
    let t_append = time(|| {
        black_box(store.append(vec![entry.clone()]).expect("appends"));
    });
    println!(
        "append in memory ({} B entries): {:9.0}/s   SHA-256 of the entry {:9.0}/s   ratio {:.2}",
        entry.len(),
        1.0 / t_append,
        1.0 / t_sha,
        t_sha / t_append
    );

    // Durable appends on redb with group commit: `cargo bench -p tally-store`.

    // Receipts: individually signed vs batched under one checkpoint.
    let t_sign = time(|| {
        black_box(key.sign(label::RECEIPT, &entry));
    });
    let log = Log::new(MemoryStore::new(), &social, Arc::clone(&key));
    let mut i = 0;
    let t_individual = time(|| {
        i += 1;
        black_box(log.issue_receipt(receipt(i)).expect("issues"));
    });
    let batch = 256u64;
    let t_batch = time(|| {
        let receipts = (0..batch).map(|j| receipt(i + j)).collect();
        i += batch;
        black_box(log.issue_receipts_batched(receipts).expect("issues"));
    }) / batch as f64;
    println!(
        "receipts, individual: {:9.0}/s   Ed25519 sign {:9.0}/s   ratio {:.2}",
        1.0 / t_individual,
        1.0 / t_sign,
        t_sign / t_individual
    );
    println!(
        "receipts, batched by {batch}: {:9.0}/s   {:.1}x the individual rate (one checkpoint signature per batch, bundles with proofs included)",
        1.0 / t_batch,
        t_individual / t_batch
    );

    // Proofs at 10^6 entries.
    let n = 1_000_000u64;
    let mut tree = Tree::new();
    for i in 0..n {
        tree.push(leaf_hash(&i.to_be_bytes()));
    }
    let r = root(&tree, n).expect("root");
    let mut m = 0u64;
    let t_incl = time(|| {
        m = (m + 7919) % n;
        black_box(inclusion_proof(&tree, m, n).expect("in tree").expect("in range"));
    });
    let proof = inclusion_proof(&tree, 123_456, n).expect("in tree").expect("in range");
    let leaf = leaf_hash(&123_456u64.to_be_bytes());
    let t_incl_v = time(|| assert!(verify_inclusion(&leaf, 123_456, n, &proof, &r)));
    let old = 654_321u64;
    let old_root = root(&tree, old).expect("root");
    let t_cons = time(|| {
        black_box(consistency_proof(&tree, old, n).expect("in tree").expect("sizes"));
    });
    let cproof = consistency_proof(&tree, old, n).expect("in tree").expect("sizes");
    let t_cons_v = time(|| assert!(verify_consistency(old, n, &old_root, &r, &cproof)));
    println!(
        "at 10^6 entries: inclusion proof {:8.0}/s generate, {:8.0}/s verify; consistency proof {:8.0}/s generate, {:8.0}/s verify",
        1.0 / t_incl,
        1.0 / t_incl_v,
        1.0 / t_cons,
        1.0 / t_cons_v
    );
}
