//! Receipt vectors, `spec/vectors/receipts/log.json`: a log with fixed key
//! and entries, its checkpoint note, bundles in both signing modes (binary
//! and text), proofs and fork evidence. The file must equal what this code
//! generates, and every stored bundle must verify with the stored key.
//! Regenerate with `TALLY_BLESS=1 cargo test -p tally-receipt --test vectors`.

use std::path::PathBuf;
use std::sync::Arc;

use serde_json::{Value, json};
use tally_envelope::IdentityKey;
use tally_receipt::{
    ForkEvidence, Log, LogStore, MemoryStore, bundle_from_text, bundle_to_text, log_origin, verify_bundle,
};
use tally_testkit::{blessing, check_golden, hex, unhex};
use tally_wire::{
    AgencyId, Digest, Encoded, GrantId, IdentityPublicKey, LogEntry, Outcome, PacketId, Purpose, Receipt,
    ReceiptBundle, Timestamp,
};

fn path() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../spec/vectors/receipts/log.json")
}

const SEED: [u8; 32] = [0x21; 32];

fn receipt(i: u8, rejected: bool) -> Receipt {
    Receipt {
        packet_id: PacketId([i; 16]),
        header_digest: Digest([i.wrapping_add(1); 32]),
        grant: GrantId([0x33; 32]),
        purpose: Purpose::new("social-security.eligibility").expect("valid"),
        category: tally_wire::DataCategory::new("income.annual").expect("valid"),
        payload_len: 1024,
        sender: AgencyId::new("tax-bureau").expect("valid"),
        recipient: AgencyId::new("social-security").expect("valid"),
        received_at: Timestamp::from_secs(1_800_000_000 + u64::from(i)),
        outcome: if rejected {
            Outcome::Rejected { reason: tally_wire::ReasonCode::PURPOSE_NOT_COVERED }
        } else {
            Outcome::Accepted { ciphertext_fingerprint: Digest([0x66; 32]), content_commitment: Digest([0x77; 32]) }
        },
    }
}

fn generate() -> (Value, Vec<(String, Vec<u8>)>) {
    let key = Arc::new(IdentityKey::from_seed(&SEED));
    let social = AgencyId::new("social-security").expect("valid");
    let log = Log::new(MemoryStore::new(), &social, Arc::clone(&key));
    let (individual, index) = log.issue_receipt(receipt(1, false)).expect("issues");
    let (_, note3) = {
        log.append(&[LogEntry::ReceiptLogged(Encoded::new(receipt(2, true)).expect("encodes"))]).expect("appends");
        log.append(&[LogEntry::ReceiptLogged(Encoded::new(receipt(3, false)).expect("encodes"))]).expect("appends");
        log.checkpoint().expect("signs")
    };
    let batch =
        log.issue_receipts_batched(vec![receipt(4, false), receipt(5, false), receipt(6, true)]).expect("issues");
    let (c6, note6) = log.checkpoint().expect("signs");
    let individual_bundle = log.bundle(individual, index, &c6, &note6).expect("bundles");
    let mut bundles = vec![("individual", individual_bundle)];
    bundles.extend(batch.into_iter().enumerate().map(|(i, b)| (["batched-0", "batched-1", "batched-2"][i], b)));
    let entries: Vec<String> = (0..6).map(|i| hex(&log.store().entry(i).expect("entry"))).collect();
    let consistency = log.consistency_proof(3, 6).expect("proof");
    // A forked log: the same key, another entry at index 1.
    let forked = Log::new(MemoryStore::new(), &social, Arc::clone(&key));
    forked.append(&[LogEntry::ReceiptIssued(key.sign_object(receipt(1, false)).expect("signs"))]).expect("appends");
    forked.append(&[LogEntry::ReceiptLogged(Encoded::new(receipt(9, false)).expect("encodes"))]).expect("appends");
    for i in 3..=6 {
        forked.append(&[LogEntry::ReceiptLogged(Encoded::new(receipt(i, false)).expect("encodes"))]).expect("appends");
    }
    let (_, forked6) = forked.checkpoint().expect("signs");
    let fork_proof = forked.consistency_proof(3, 6).expect("proof");
    let origin = log_origin(&social);
    let evidence = ForkEvidence::detect(&note3, &forked6, &fork_proof, None, &origin, &key.public_key())
        .expect("valid notes")
        .expect("a fork");
    let mut seeds = Vec::new();
    let bundles: Vec<Value> = bundles
        .iter()
        .map(|(name, b)| {
            let binary = Encoded::new(b.clone()).expect("encodes").encode();
            let text = bundle_to_text(b).expect("encodes");
            seeds.push((format!("bundle/vector-{name}"), binary.clone()));
            seeds.push((format!("bundle_text/vector-{name}"), text.clone().into_bytes()));
            json!({"name": name, "binary": hex(&binary), "text": text})
        })
        .collect();
    seeds.push(("checkpoint_note/vector-size-6".into(), note6.clone().into_bytes()));
    seeds.push(("checkpoint_note/vector-size-3".into(), note3.clone().into_bytes()));
    let mut proof_seed = 3u64.to_le_bytes().to_vec();
    proof_seed.extend_from_slice(&6u64.to_le_bytes());
    proof_seed.extend_from_slice(&log.root(3).expect("root").0);
    for h in &consistency {
        proof_seed.extend_from_slice(&h.0);
    }
    seeds.push(("proof/vector-consistency-3-6".into(), proof_seed));
    let doc = json!({
        "description": "A log of six entries (spec/receipts.md): one individually signed receipt, two receipts logged in batch mode, then a batch of three with its checkpoint. Bundles in binary (Encoded<ReceiptBundle>) and text form, a consistency proof, and fork evidence against a log that rewrote entry 1.",
        "key_seed": hex(&SEED),
        "public_key": key.public_key().to_hex(),
        "origin": origin.as_str(),
        "entries": entries,
        "checkpoint_size_3": note3,
        "checkpoint_size_6": note6,
        "root_3": log.root(3).expect("root").to_hex(),
        "root_6": c6.root.to_hex(),
        "consistency_3_6": consistency.iter().map(|h| h.to_hex()).collect::<Vec<_>>(),
        "bundles": bundles,
        "fork_evidence": evidence,
    });
    (doc, seeds)
}

#[test]
fn vector_file_matches_the_code() {
    let (doc, seeds) = generate();
    let text = serde_json::to_string_pretty(&doc).expect("serializes") + "\n";
    check_golden(&path(), &text);
    if blessing() {
        let corpus = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../fuzz/corpus");
        for (name, bytes) in seeds {
            let file = corpus.join(name);
            std::fs::create_dir_all(file.parent().expect("parent")).expect("creates");
            std::fs::write(file, bytes).expect("writes seed");
        }
    }
}

#[test]
fn stored_bundles_and_fork_evidence_verify() {
    if blessing() {
        return;
    }
    let doc: Value = serde_json::from_str(&std::fs::read_to_string(path()).expect("readable")).expect("JSON");
    let public = IdentityPublicKey(unhex(doc["public_key"].as_str().expect("hex")).try_into().expect("32"));
    let dir = |a: &AgencyId| (a.as_str() == "social-security").then_some(public);
    let bundles = doc["bundles"].as_array().expect("bundles");
    assert_eq!(bundles.len(), 4);
    for b in bundles {
        let binary = Encoded::<ReceiptBundle>::decode(&unhex(b["binary"].as_str().expect("hex"))).expect("decodes");
        let from_text = bundle_from_text(b["text"].as_str().expect("text")).expect("parses");
        assert_eq!(&from_text, binary.value(), "{}", b["name"]);
        let verified = verify_bundle(&from_text, dir).expect("verifies");
        assert_eq!(verified.checkpoint.size, 6);
    }
    let evidence: ForkEvidence = serde_json::from_value(doc["fork_evidence"].clone()).expect("evidence");
    let origin = tally_wire::LogOrigin::new(doc["origin"].as_str().expect("origin")).expect("valid");
    assert_eq!(evidence.verify(&origin, &public), Ok(()));
}
