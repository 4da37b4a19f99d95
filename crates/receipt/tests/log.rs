//! Receipts, bundles in both signing modes, and fork evidence.

use std::sync::Arc;

use tally_envelope::IdentityKey;
use tally_receipt::{
    BundleError, ForkError, ForkEvidence, Log, MemoryStore, bundle_from_text, bundle_to_text, log_origin, verify_bundle,
};
use tally_wire::{
    AgencyId, BundledReceipt, Digest, GrantId, IdentityPublicKey, LogEntry, Outcome, PacketId, Purpose, ReasonCode,
    Receipt, Timestamp,
};

fn agency(s: &str) -> AgencyId {
    AgencyId::new(s).expect("valid")
}

fn receipt(i: u8) -> Receipt {
    Receipt {
        packet_id: PacketId([i; 16]),
        header_digest: Digest([i; 32]),
        grant: GrantId([3; 32]),
        purpose: Purpose::new("social-security.eligibility").expect("valid"),
        category: tally_wire::DataCategory::new("income.annual").expect("valid"),
        payload_len: 1024,
        sender: agency("tax-bureau"),
        recipient: agency("social-security"),
        received_at: Timestamp::from_secs(1_800_000_000 + u64::from(i)),
        outcome: if i.is_multiple_of(3) {
            Outcome::Rejected { reason: ReasonCode::QUOTA_EXHAUSTED }
        } else {
            Outcome::Accepted { ciphertext_fingerprint: Digest([4; 32]), content_commitment: Digest([5; 32]) }
        },
    }
}

fn setup() -> (Log<MemoryStore>, IdentityPublicKey) {
    let key = Arc::new(IdentityKey::from_seed(&[2; 32]));
    let public = key.public_key();
    (Log::new(MemoryStore::new(), &agency("social-security"), key), public)
}

fn directory(public: IdentityPublicKey) -> impl Fn(&AgencyId) -> Option<IdentityPublicKey> {
    move |a: &AgencyId| (a.as_str() == "social-security").then_some(public)
}

#[test]
fn batched_receipts_verify_offline_and_tampering_fails() {
    let (log, public) = setup();
    log.append(&[LogEntry::GrantIssued(IdentityKey::from_seed(&[1; 32]).sign_object(grant()).expect("signs"))])
        .expect("appends");
    let bundles = log.issue_receipts_batched((1..=10).map(receipt).collect()).expect("issues");
    assert_eq!(bundles.len(), 10);
    for (i, b) in bundles.iter().enumerate() {
        let v = verify_bundle(b, directory(public)).expect("verifies");
        assert_eq!(v.receipt, receipt(i as u8 + 1));
        assert_eq!(v.checkpoint.size, 11);
        assert!(matches!(b.receipt, BundledReceipt::Logged(_)));
    }
    // Another receipt in the place of this one.
    let mut forged = bundles[0].clone();
    forged.receipt = bundles[1].receipt.clone();
    assert!(matches!(verify_bundle(&forged, directory(public)), Err(BundleError::NotIncluded { .. })));
    // The wrong index.
    let mut moved = bundles[0].clone();
    moved.index += 1;
    assert!(matches!(verify_bundle(&moved, directory(public)), Err(BundleError::NotIncluded { .. })));
    // A checkpoint signed by someone else.
    let stranger = IdentityKey::from_seed(&[9; 32]).public_key();
    assert!(matches!(verify_bundle(&bundles[0], directory(stranger)), Err(BundleError::Checkpoint(_))));
    // A recipient unknown to the directory.
    assert!(matches!(verify_bundle(&bundles[0], |_: &AgencyId| None), Err(BundleError::UnknownRecipient(_))));
}

fn grant() -> tally_wire::Grant {
    tally_wire::Grant {
        issuer: agency("tax-bureau"),
        grantee: agency("social-security"),
        senders: tally_wire::BoundedVec::empty(),
        purposes: tally_wire::BoundedVec::new(vec![Purpose::new("social-security").expect("valid")]).expect("small"),
        categories: tally_wire::BoundedVec::new(vec![tally_wire::DataCategory::new("income").expect("valid")])
            .expect("small"),
        not_before: Timestamp::from_secs(0),
        not_after: Timestamp::from_secs(2_000_000_000),
        quota: tally_wire::Quota::default(),
        retention_secs: 86_400,
        erase_on_revoke: false,
        direction: tally_wire::Direction::Push,
        min_suite_level: tally_wire::SuiteLevel::CLASSICAL,
        delegation_depth: 0,
        parent: None,
        legal_basis: tally_wire::Text::default(),
        note: tally_wire::Text::default(),
        issued_at: Timestamp::from_secs(0),
    }
}

#[test]
fn individually_signed_receipts_verify_once_a_checkpoint_covers_them() {
    let (log, public) = setup();
    let (bundled, index) = log.issue_receipt(receipt(1)).expect("issues");
    let (bundled2, index2) = log.issue_receipt(receipt(2)).expect("issues");
    let (c, note) = log.checkpoint().expect("signs");
    let bundle = log.bundle(bundled, index, &c, &note).expect("bundles");
    assert_eq!(verify_bundle(&bundle, directory(public)).expect("verifies").receipt, receipt(1));
    let bundle2 = log.bundle(bundled2, index2, &c, &note).expect("bundles");
    assert!(verify_bundle(&bundle2, directory(public)).is_ok());
    // A receipt whose own signature is broken fails even with a valid proof.
    let BundledReceipt::Signed(s) = &bundle.receipt else { panic!("individual mode signs") };
    let other = IdentityKey::from_seed(&[7; 32]).sign_object(s.unverified().clone()).expect("signs");
    let mut resigned = bundle.clone();
    resigned.receipt = BundledReceipt::Signed(other);
    assert!(matches!(
        verify_bundle(&resigned, directory(public)),
        Err(BundleError::BadReceiptSignature(_)) | Err(BundleError::NotIncluded { .. })
    ));
}

#[test]
fn bundle_text_form_round_trips_and_is_strict() {
    let (log, public) = setup();
    let bundles = log.issue_receipts_batched((1..=5).map(receipt).collect()).expect("issues");
    let text = bundle_to_text(&bundles[2]).expect("encodes");
    assert!(text.starts_with("tally/receipt-bundle@v1\nreceipt "), "{text}");
    let back = bundle_from_text(&text).expect("parses");
    assert_eq!(back, bundles[2]);
    assert!(verify_bundle(&back, directory(public)).is_ok());
    for broken in [
        text.replacen("tally/receipt-bundle@v1", "tally/receipt-bundle@v2", 1),
        text.replacen("\nindex 2\n", "\nindex 02\n", 1),
        text.replacen("\nindex 2\n", "\nindex two\n", 1),
        text.replacen("\n\n", "\n", 1),
        text.replacen("receipt ", "receipt !", 1),
    ] {
        assert!(bundle_from_text(&broken).is_err(), "{broken}");
    }
}

#[test]
fn fork_evidence_for_equal_sizes_and_for_a_rewritten_prefix() {
    let key = Arc::new(IdentityKey::from_seed(&[2; 32]));
    let public = key.public_key();
    let social = agency("social-security");
    let origin = log_origin(&social);
    let honest = Log::new(MemoryStore::new(), &social, Arc::clone(&key));
    let forked = Log::new(MemoryStore::new(), &social, Arc::clone(&key));
    for i in 1..=5 {
        honest
            .append(&[LogEntry::ReceiptLogged(tally_wire::Encoded::new(receipt(i)).expect("encodes"))])
            .expect("appends");
        // The forked log drops receipt 3 and writes another in its place.
        let j = if i == 3 { 33 } else { i };
        forked
            .append(&[LogEntry::ReceiptLogged(tally_wire::Encoded::new(receipt(j)).expect("encodes"))])
            .expect("appends");
    }
    let (_, a5) = honest.checkpoint().expect("signs");
    let (_, b5) = forked.checkpoint().expect("signs");
    let same = ForkEvidence::detect(&a5, &b5, &[], None, &origin, &public).expect("valid notes").expect("a fork");
    assert_eq!(same.verify(&origin, &public), Ok(()));
    // A prefix rewrite: the honest checkpoint at 3, the forked log grown to 7.
    let honest3 = Log::new(MemoryStore::new(), &social, Arc::clone(&key));
    for i in 1..=3 {
        honest3
            .append(&[LogEntry::ReceiptLogged(tally_wire::Encoded::new(receipt(i)).expect("encodes"))])
            .expect("appends");
    }
    let (_, a3) = honest3.checkpoint().expect("signs");
    for i in 6..=7 {
        forked
            .append(&[LogEntry::ReceiptLogged(tally_wire::Encoded::new(receipt(i)).expect("encodes"))])
            .expect("appends");
    }
    let (_, b7) = forked.checkpoint().expect("signs");
    let proof = forked.consistency_proof(3, 7).expect("proof");
    let evidence =
        ForkEvidence::detect(&a3, &b7, &proof, None, &origin, &public).expect("valid notes").expect("a fork");
    assert_eq!(evidence.verify(&origin, &public), Ok(()));
    // Consistent checkpoints are no evidence, and evidence cannot be made from them.
    let (_, h5) = honest.checkpoint().expect("signs");
    let honest_proof = honest.consistency_proof(3, 5).expect("proof");
    assert_eq!(ForkEvidence::detect(&a3, &h5, &honest_proof, None, &origin, &public).expect("valid"), None);
    let fake = ForkEvidence { a: a3.clone(), b: h5.clone(), prefix_root: Digest([1; 32]), proof: honest_proof };
    assert_eq!(fake.verify(&origin, &public), Err(ForkError::BadProof));
    assert!(matches!(
        ForkEvidence { a: a5.clone(), b: a5.clone(), prefix_root: Digest([0; 32]), proof: vec![] }
            .verify(&origin, &public),
        Err(ForkError::Consistent)
    ));
}
