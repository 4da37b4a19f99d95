//! Bundles as a recipient issues them on the wire: batches of 1, 2, 7 and
//! 256 receipts under one checkpoint signature each, in both signing
//! modes, acceptances and rejections; verified one by one with a
//! checkpoint cache; and every byte of a bundle altered is refused, each
//! with its reason.

use std::collections::BTreeSet;
use std::sync::Arc;

use tally_envelope::IdentityKey;
use tally_receipt::{BundleError, BundleVerifier, CheckpointCache, Log, MemoryStore, verify_bundle};
use tally_wire::{
    AgencyId, BundledReceipt, Digest, Encoded, GrantId, IdentityPublicKey, Outcome, PacketId, Purpose, ReasonCode,
    Receipt, ReceiptBundle, Timestamp,
};

fn agency(s: &str) -> AgencyId {
    AgencyId::new(s).expect("valid")
}

/// Receipt `i` of a batch: every third a rejection.
fn receipt(i: u32) -> Receipt {
    let b = i.to_le_bytes();
    Receipt {
        packet_id: PacketId([b[0], b[1], b[2], b[3], 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1]),
        header_digest: Digest([b[0]; 32]),
        grant: GrantId([3; 32]),
        purpose: Purpose::new("social-security.eligibility").expect("valid"),
        category: tally_wire::DataCategory::new("income.annual").expect("valid"),
        payload_len: 1024,
        sender: agency("tax-bureau"),
        recipient: agency("social-security"),
        received_at: Timestamp::from_secs(1_800_000_000 + u64::from(i)),
        outcome: if i.is_multiple_of(3) {
            Outcome::Rejected { reason: ReasonCode::PURPOSE_NOT_COVERED }
        } else {
            Outcome::Accepted { ciphertext_fingerprint: Digest([4; 32]), content_commitment: Digest([5; 32]) }
        },
    }
}

fn log() -> (Log<MemoryStore>, IdentityPublicKey) {
    let key = Arc::new(IdentityKey::from_seed(&[2; 32]));
    let public = key.public_key();
    (Log::new(MemoryStore::new(), &agency("social-security"), key), public)
}

fn directory(public: IdentityPublicKey) -> impl Fn(&AgencyId) -> Option<IdentityPublicKey> {
    move |a: &AgencyId| (a.as_str() == "social-security").then_some(public)
}

/// A batch of `n` receipts committed together, as the node does after one
/// group commit: every receipt appended, then one checkpoint covering them.
fn batch(log: &Log<MemoryStore>, n: u32, individual: bool) -> Vec<ReceiptBundle> {
    let first = log.size().expect("size") as u32;
    let issued: Vec<(BundledReceipt, u64)> = (first..first + n)
        .map(|i| {
            if individual {
                log.issue_receipt(receipt(i)).expect("issues")
            } else {
                let logged = BundledReceipt::Logged(Encoded::new(receipt(i)).expect("encodes"));
                let range = log.append(&[tally_receipt::bundled_entry(&logged)]).expect("appends");
                (logged, range.start)
            }
        })
        .collect();
    issued.into_iter().map(|(r, index)| log.bundle_of(r, index).expect("bundles")).collect()
}

#[test]
fn batches_of_1_2_7_and_256_receipts_each_verify_under_one_checkpoint_signature() {
    for individual in [false, true] {
        let (log, public) = log();
        let cache = CheckpointCache::new();
        let verifier = BundleVerifier::new(agency("social-security"), public, cache.clone());
        let mut notes = BTreeSet::new();
        let mut size = 0;
        for n in [1, 2, 7, 256] {
            let bundles = batch(&log, n, individual);
            size += u64::from(n);
            let batch_notes: BTreeSet<&str> = bundles.iter().map(|b| b.checkpoint.as_str()).collect();
            assert_eq!(batch_notes.len(), 1, "a batch of {n} shares one checkpoint signature");
            for (k, b) in bundles.iter().enumerate() {
                assert_eq!(matches!(b.receipt, BundledReceipt::Signed(_)), individual);
                // Offline, with the directory alone, and through the sender's cached verifier.
                let offline = verify_bundle(b, directory(public)).expect("verifies offline");
                assert_eq!(verifier.verify(b).expect("verifies"), offline);
                assert_eq!(offline.checkpoint.size, size, "the checkpoint covers the whole batch");
                assert_eq!(b.index, size - u64::from(n) + k as u64);
            }
            notes.extend(batch_notes.into_iter().map(str::to_owned));
        }
        assert_eq!(notes.len(), 4, "one checkpoint per batch, 266 receipts");
    }
}

#[test]
fn a_receipt_asked_for_again_gets_the_same_bundle_or_one_under_a_later_checkpoint() {
    let (log, public) = log();
    let first = batch(&log, 7, false);
    let (checkpoint, _) = log.checkpoint_covering(first[3].index + 1).expect("covered");
    let again = log.bundle_of(first[3].receipt.clone(), first[3].index).expect("bundles");
    assert_eq!(again, first[3], "nothing was committed since: the same bundle");
    assert_eq!(checkpoint.size, 7);
    let _later = batch(&log, 2, false);
    let after = log.bundle_of(first[3].receipt.clone(), first[3].index).expect("bundles");
    assert_eq!((after.receipt.clone(), after.index), (first[3].receipt.clone(), first[3].index), "the same receipt");
    let v = verify_bundle(&after, directory(public)).expect("verifies");
    assert_eq!(v.checkpoint.size, 9, "under the later checkpoint");
}

#[test]
fn a_bundle_of_another_agencys_receipt_is_not_the_peers() {
    let (log, public) = log();
    let b = batch(&log, 2, false).remove(1);
    // The checkpoint verifies under the key, but the sender exchanged with another agency.
    let verifier = BundleVerifier::new(agency("tax-bureau"), public, CheckpointCache::new());
    assert!(matches!(verifier.verify(&b), Err(BundleError::NotIssuedBy { .. })));
}

#[test]
fn every_byte_of_a_bundle_altered_is_refused_with_its_reason() {
    for individual in [false, true] {
        let (log, public) = log();
        let bundle = batch(&log, 7, individual).remove(3);
        let bytes = Encoded::new(bundle.clone()).expect("encodes").encode();
        let mut reasons = BTreeSet::new();
        for i in 0..bytes.len() {
            for flip in [0x01u8, 0x80] {
                let mut altered = bytes.clone();
                altered[i] ^= flip;
                let reason = match Encoded::<ReceiptBundle>::decode(&altered) {
                    Err(e) => format!("decode: {}", e.to_string().split(':').next().unwrap_or_default()),
                    Ok(b) => match verify_bundle(b.value(), directory(public)) {
                        Ok(_) => panic!("byte {i} ^ {flip:#04x} of a {} bundle still verifies", bytes.len()),
                        Err(BundleError::Checkpoint(e)) => format!("checkpoint: {e:?}").chars().take(40).collect(),
                        Err(e) => format!("{e:?}").split(['(', ' ', '{']).next().unwrap_or_default().to_owned(),
                    },
                };
                assert!(!reason.is_empty(), "byte {i}");
                reasons.insert(reason);
            }
        }
        // The reasons are precise: the encoding, the checkpoint note, and the proof are told apart.
        assert!(reasons.iter().any(|r| r.starts_with("decode")), "{reasons:?}");
        assert!(reasons.iter().any(|r| r.starts_with("checkpoint")), "{reasons:?}");
        assert!(reasons.contains("NotIncluded"), "{reasons:?}");
        if individual {
            assert!(reasons.contains("BadReceiptSignature"), "{reasons:?}");
        }
    }
}
