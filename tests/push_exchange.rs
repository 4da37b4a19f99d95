//! End to end across the layers, in memory: a grant decides, the envelope
//! seals and opens, the protocol runs the push exchange, the recipient's
//! log issues the receipt, the sender logs it, and a third party verifies
//! the bundle offline with only the directory's keys.

use std::sync::Arc;

use tally::envelope::{IdentityKey, IdentityVerifier, KemKey, PacketSpec, Sealer};
use tally::grant::{Directory, Flow, GrantDocument, RevocationSet, Usage, decide, grant_id, issue_grant};
use tally::protocol::{
    Config, Receiver, ReceiverOutcome, ReceiverRequest, ReceiverResponse, Sender, SenderOutcome, SenderRequest,
    SenderResponse,
};
use tally::receipt::{BundleVerifier, CheckpointCache, Log, MemoryStore, verify_bundle};
use tally::wire::{
    AgencyId, BoundedVec, BundledReceipt, ChunkSize, ContentType, DataCategory, Direction, Frame, GrantChain,
    IdentityPublicKey, LogEntry, Outcome, Purpose, ReasonCode, SuiteId, Timestamp,
};

const NOW: u64 = 1_800_000_000;

struct Federation {
    tax: IdentityVerifier,
    social: IdentityVerifier,
}

impl Directory for Federation {
    fn identity_key(&self, agency: &AgencyId) -> Option<IdentityVerifier> {
        match agency.as_str() {
            "tax-bureau" => Some(self.tax.clone()),
            "social-security" => Some(self.social.clone()),
            _ => None,
        }
    }
    fn purpose_registered(&self, _: &Purpose) -> bool {
        true
    }
    fn controller(&self, category: &DataCategory) -> Option<AgencyId> {
        // The tax bureau controls income data.
        DataCategory::new("income").ok()?.covers(category).then(|| agency("tax-bureau"))
    }
}

fn agency(s: &str) -> AgencyId {
    AgencyId::new(s).expect("valid")
}

/// Runs one push exchange of `payload` for `purpose`; returns both outcomes and both logs.
fn exchange(purpose: &str) -> (SenderOutcome, ReceiverOutcome, Log<MemoryStore>, Log<MemoryStore>, IdentityPublicKey) {
    let now = Timestamp::from_secs(NOW);
    // The protocol's clocks: a monotonic instant for deadlines, the wall clock for receipts.
    let clock = tally::protocol::Now { instant: std::time::Instant::now(), wall: now };
    let tax_key = Arc::new(IdentityKey::from_seed(&[1; 32]));
    let social_key = Arc::new(IdentityKey::from_seed(&[2; 32]));
    let social_public = social_key.public_key();
    let kem = Arc::new(KemKey::from_bytes([3; 32]));
    let cert = kem
        .certify(&social_key, agency("social-security"), now, Timestamp::from_secs(NOW + 86_400))
        .expect("certifies");
    let federation = Federation {
        tax: IdentityVerifier::new(&tax_key.public_key()).expect("valid"),
        social: IdentityVerifier::new(&social_public).expect("valid"),
    };
    let document = GrantDocument::from_toml(
        r#"
        grantee = "social-security"
        purposes = ["social-security.eligibility"]
        categories = ["income"]
        not_before = "2026-01-01T00:00:00Z"
        not_after = "2028-01-01T00:00:00Z"
        direction = "push"
        retention = "30days"
        [quota]
        max_packets = 10
        "#,
    )
    .expect("parses");
    let grant = issue_grant(&tax_key, &agency("tax-bureau"), &document, now).expect("issues");
    let chain: GrantChain = BoundedVec::new(vec![grant.clone()]).expect("one grant");

    let payload: Vec<u8> = (0..5000u32).map(|i| (i % 251) as u8).collect();
    let spec = PacketSpec {
        suite: SuiteId::X25519_SHA256_AES256GCM,
        sender: agency("tax-bureau"),
        grant: grant_id(&grant),
        purpose: Purpose::new(purpose).expect("valid"),
        category: DataCategory::new("income.annual").expect("valid"),
        content_type: ContentType::new("application/octet-stream").expect("valid"),
        created_at: now,
        payload_len: payload.len() as u64,
        chunk_size: ChunkSize::new(2048).expect("valid"),
    };
    let (sealer, offer) = Sealer::new(cert.unverified(), spec, chain).expect("seals");
    let social_bundles = BundleVerifier::new(agency("social-security"), social_public, CheckpointCache::new());
    let mut sender = Sender::new(sealer, offer, Arc::clone(&tax_key), social_bundles, Config::default(), clock);
    let mut receiver = Receiver::new(agency("social-security"), agency("tax-bureau"), Config::default(), clock);
    let sender_log = Log::new(MemoryStore::new(), &agency("tax-bureau"), Arc::clone(&tax_key));
    let recipient_log = Log::new(MemoryStore::new(), &agency("social-security"), Arc::clone(&social_key));
    let mut stored = Vec::new();
    let mut read = 0;

    for _ in 0..1000 {
        let mut progress = false;
        while let Some(frame) = sender.poll_transmit() {
            progress = true;
            let bytes = frame.encode().expect("encodes");
            receiver.handle_frame(Frame::decode(&bytes).expect("decodes"), clock);
        }
        while let Some(request) = receiver.poll_request() {
            progress = true;
            let response = match request {
                ReceiverRequest::Decide { header, grant_chain, .. } => {
                    let flow = Flow {
                        grant: header.grant,
                        sender: header.sender.clone(),
                        recipient: header.recipient.clone(),
                        purpose: header.purpose.clone(),
                        category: header.category.clone(),
                        bytes: header.payload_len,
                        direction: Direction::Push,
                        suite: Some(header.suite),
                        at: now,
                    };
                    Some(match decide(&flow, &grant_chain, &RevocationSet::new(), &federation, &Usage::new()) {
                        Ok(_) => {
                            ReceiverResponse::Accept { kem_key: Arc::clone(&kem), sender_key: federation.tax.clone() }
                        }
                        Err(denial) => ReceiverResponse::Deny(denial.reason_code()),
                    })
                }
                ReceiverRequest::Store { plaintext } => {
                    stored.extend_from_slice(&plaintext);
                    None
                }
                ReceiverRequest::Discard => {
                    stored.clear();
                    None
                }
                // Batch-signed: one checkpoint per batch (here a batch of one) stands for the receipt's signature.
                ReceiverRequest::Commit { receipt, .. } => {
                    let mut bundles = recipient_log.issue_receipts_batched(vec![receipt]).expect("logs");
                    Some(ReceiverResponse::Stored(bundles.pop().expect("one bundle")))
                }
                // Signed on its own, and bundled under a checkpoint that covers it.
                ReceiverRequest::Reject { receipt } => {
                    let (bundled, index) = recipient_log.issue_receipt(receipt).expect("logs");
                    Some(ReceiverResponse::Rejected(recipient_log.bundle_of(bundled, index).expect("bundles")))
                }
            };
            if let Some(response) = response {
                receiver.handle_host(response, clock);
            }
        }
        while let Some(frame) = receiver.poll_transmit() {
            progress = true;
            let bytes = frame.encode().expect("encodes");
            sender.handle_frame(Frame::decode(&bytes).expect("decodes"), clock);
        }
        while let Some(request) = sender.poll_request() {
            progress = true;
            match request {
                SenderRequest::NextChunk { len } => {
                    let chunk = payload[read..read + len].to_vec();
                    read += len;
                    sender.handle_host(SenderResponse::Chunk(chunk), clock);
                }
                SenderRequest::Log { bundle, .. } => {
                    sender_log.append(&[LogEntry::BundleReceived(*bundle)]).expect("logs");
                    sender.handle_host(SenderResponse::Logged, clock);
                }
            }
        }
        if !progress {
            break;
        }
    }
    let sent = sender.poll_outcome().expect("the sender finished").expect("no protocol error");
    let received = receiver.poll_outcome().expect("the receiver finished").expect("no protocol error");
    if matches!(received, ReceiverOutcome::Received(_)) {
        assert_eq!(stored, payload, "the recipient stored exactly the payload");
    }
    (sent, received, sender_log, recipient_log, social_public)
}

#[test]
fn a_granted_push_leaves_a_receipt_anyone_can_verify_offline() {
    let (sent, received, sender_log, recipient_log, social_public) = exchange("social-security.eligibility.housing");
    let SenderOutcome::Delivered(bundle) = sent else { panic!("not delivered: {sent:?}") };
    assert!(matches!(received, ReceiverOutcome::Received(ref r) if *r == bundle));
    assert!(matches!(bundle.receipt, BundledReceipt::Logged(_)), "batch-signed");
    // Both halves of the tally: the recipient issued it, the sender logged its bundle.
    assert_eq!(recipient_log.size().expect("size"), 1);
    assert_eq!(sender_log.size().expect("size"), 1);
    // A supervisor with only the directory verifies the sender's copy of the bundle.
    let directory = |a: &AgencyId| (a.as_str() == "social-security").then_some(social_public);
    let verified = verify_bundle(&bundle, directory).expect("verifies offline");
    assert!(matches!(verified.receipt.outcome, Outcome::Accepted { .. }));
    assert_eq!(verified.checkpoint.size, 1);
}

#[test]
fn a_push_outside_the_grant_leaves_a_signed_rejection_on_both_sides() {
    let (sent, received, sender_log, recipient_log, _) = exchange("tax.audit");
    let SenderOutcome::Refused(rejection) = sent else { panic!("not refused: {sent:?}") };
    assert_eq!(
        tally::receipt::bundled_receipt(&rejection.receipt).outcome,
        Outcome::Rejected { reason: ReasonCode::PURPOSE_NOT_COVERED }
    );
    assert!(matches!(received, ReceiverOutcome::Rejected(_)));
    assert_eq!(recipient_log.size().expect("size"), 1);
    assert_eq!(sender_log.size().expect("size"), 1);
}
