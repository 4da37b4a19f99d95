//! Scenario tests: a sender and a receiver connected in memory, with a
//! simulated clock and test hosts, in the manner of quinn-proto's `Pair`.
//! Every frame crosses as bytes (encode, then strict decode).

mod clock;

use std::collections::HashMap;
use std::sync::Arc;

use proptest::prelude::*;
use tally_envelope::{IdentityKey, IdentityVerifier, KemKey, PacketSpec, Sealer};
use tally_protocol::{
    Config, ExchangeError, Receiver, ReceiverOutcome, ReceiverRequest, ReceiverResponse, Sender, SenderOutcome,
    SenderRequest, SenderResponse,
};
use tally_receipt::{BundleVerifier, CheckpointCache, Log, MemoryStore};
use tally_wire::{
    AgencyId, BoundedVec, ChunkSize, CloseCode, ContentType, DataCategory, Frame, GrantId, KemKeyCertificate, Offer,
    Outcome, PacketId, Purpose, ReasonCode, Receipt, ReceiptBundle, SuiteId, Timestamp,
};

const T0: u64 = 1_800_000_000;

/// The receipt in a bundle.
trait ReceiptOf {
    fn receipt_of(&self) -> &Receipt;
}

impl ReceiptOf for ReceiptBundle {
    fn receipt_of(&self) -> &Receipt {
        tally_receipt::bundled_receipt(&self.receipt)
    }
}

/// The social-security bureau's log, signed with `key`.
fn recipient_log(key: IdentityKey) -> Log<MemoryStore> {
    Log::new(MemoryStore::new(), &agency("social-security"), Arc::new(key))
}

fn agency(s: &str) -> AgencyId {
    AgencyId::new(s).expect("valid")
}

/// What the receiving host does with each request.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Policy {
    Allow,
    Deny(ReasonCode),
    AllowButStoreFails,
}

struct ReceiverHost {
    /// The receipts it issues, in a log in memory: batch-signed, or each
    /// also signed on its own when `individual`.
    log: Log<MemoryStore>,
    individual: bool,
    kem: Arc<KemKey>,
    sender_key: IdentityVerifier,
    policy: Policy,
    provisional: Vec<u8>,
    stored: HashMap<PacketId, (Vec<u8>, ReceiptBundle)>,
    /// Rejections issued, by packet id: a resend gets the same one.
    refused: HashMap<PacketId, ReceiptBundle>,
    commits: usize,
    discards: usize,
}

impl ReceiverHost {
    fn issue(&self, receipt: Receipt) -> ReceiptBundle {
        if self.individual {
            let (bundled, index) = self.log.issue_receipt(receipt).expect("logs");
            self.log.bundle_of(bundled, index).expect("bundles")
        } else {
            self.log.issue_receipts_batched(vec![receipt]).expect("logs").pop().expect("one bundle")
        }
    }

    fn answer(&mut self, request: ReceiverRequest) -> Option<ReceiverResponse> {
        match request {
            ReceiverRequest::Decide { header, .. } => Some(if let Some((_, r)) = self.stored.get(&header.packet_id) {
                ReceiverResponse::AlreadyReceipted(r.clone())
            } else if let Some(r) = self.refused.get(&header.packet_id) {
                ReceiverResponse::AlreadyReceipted(r.clone())
            } else {
                match self.policy {
                    Policy::Deny(reason) => ReceiverResponse::Deny(reason),
                    Policy::Allow | Policy::AllowButStoreFails => {
                        ReceiverResponse::Accept { kem_key: Arc::clone(&self.kem), sender_key: self.sender_key.clone() }
                    }
                }
            }),
            ReceiverRequest::Store { plaintext } => {
                self.provisional.extend_from_slice(&plaintext);
                None
            }
            ReceiverRequest::Discard => {
                self.provisional.clear();
                self.discards += 1;
                None
            }
            ReceiverRequest::Commit { receipt, .. } => {
                self.commits += 1;
                if self.policy == Policy::AllowButStoreFails {
                    return Some(ReceiverResponse::StoreFailed);
                }
                let packet = receipt.packet_id;
                let bundle = self.issue(receipt);
                self.stored.insert(packet, (std::mem::take(&mut self.provisional), bundle.clone()));
                Some(ReceiverResponse::Stored(bundle))
            }
            ReceiverRequest::Reject { receipt } => {
                let packet = receipt.packet_id;
                let bundle = self.issue(receipt);
                self.refused.insert(packet, bundle.clone());
                Some(ReceiverResponse::Rejected(bundle))
            }
        }
    }
}

struct Pair {
    sender: Sender,
    receiver: Receiver,
    host: ReceiverHost,
    payload: Vec<u8>,
    sent: usize,
    logged: Vec<ReceiptBundle>,
    now: tally_protocol::Now,
    /// Frames the receiver sent, for assertions.
    from_receiver: Vec<Frame<'static>>,
    /// Applied to every frame from the sender before it arrives.
    tamper: Box<dyn FnMut(Frame<'static>) -> Option<Frame<'static>>>,
}

struct World {
    sender_identity: Arc<IdentityKey>,
    recipient_identity_public: BundleVerifier,
    cert: KemKeyCertificate,
    kem: Arc<KemKey>,
}

fn world() -> World {
    let sender_identity = Arc::new(IdentityKey::from_seed(&[1; 32]));
    let recipient = IdentityKey::from_seed(&[2; 32]);
    let kem = Arc::new(KemKey::from_bytes([3; 32]));
    let cert = kem
        .certify(&recipient, agency("social-security"), Timestamp::from_secs(0), Timestamp::from_secs(u64::MAX))
        .expect("certifies")
        .unverified()
        .clone();
    World {
        sender_identity,
        recipient_identity_public: BundleVerifier::new(
            agency("social-security"),
            recipient.public_key(),
            CheckpointCache::new(),
        ),
        cert,
        kem,
    }
}

fn spec(len: usize) -> PacketSpec {
    PacketSpec {
        suite: SuiteId::X25519_SHA256_AES256GCM,
        sender: agency("tax-bureau"),
        grant: GrantId([7; 32]),
        purpose: Purpose::new("social-security.eligibility").expect("valid"),
        category: DataCategory::new("income.annual").expect("valid"),
        content_type: ContentType::new("application/json").expect("valid"),
        created_at: Timestamp::from_secs(T0),
        payload_len: len as u64,
        chunk_size: ChunkSize::new(1024).expect("valid"),
    }
}

impl Pair {
    fn new(payload_len: usize, policy: Policy) -> (Self, Offer) {
        let w = world();
        let (sealer, offer) = Sealer::new(&w.cert, spec(payload_len), BoundedVec::empty()).expect("seals");
        let now = clock::at(T0);
        let sender = Sender::new(
            sealer,
            offer.clone(),
            Arc::clone(&w.sender_identity),
            w.recipient_identity_public.clone(),
            Config::default(),
            now,
        );
        (Self::with_sender(sender, &w, policy, payload_len), offer)
    }

    fn with_sender(sender: Sender, w: &World, policy: Policy, payload_len: usize) -> Self {
        let now = clock::at(T0);
        Self {
            sender,
            receiver: Receiver::new(agency("social-security"), agency("tax-bureau"), Config::default(), now),
            host: ReceiverHost {
                log: recipient_log(IdentityKey::from_seed(&[2; 32])),
                individual: false,
                kem: Arc::clone(&w.kem),
                sender_key: IdentityVerifier::new(&w.sender_identity.public_key()).expect("valid"),
                policy,
                provisional: Vec::new(),
                stored: HashMap::new(),
                refused: HashMap::new(),
                commits: 0,
                discards: 0,
            },
            payload: (0..payload_len).map(|i| (i * 7) as u8).collect(),
            sent: 0,
            logged: Vec::new(),
            now,
            from_receiver: Vec::new(),
            tamper: Box::new(Some),
        }
    }

    /// Runs until neither side has anything left to do.
    fn drive(&mut self) {
        for _ in 0..10_000 {
            let mut progress = false;
            while let Some(frame) = self.sender.poll_transmit() {
                progress = true;
                if let Some(frame) = (self.tamper)(frame) {
                    let bytes = frame.encode().expect("encodes");
                    self.receiver.handle_frame(Frame::decode(&bytes).expect("decodes"), self.now);
                }
            }
            while let Some(request) = self.receiver.poll_request() {
                progress = true;
                if let Some(response) = self.host.answer(request) {
                    self.receiver.handle_host(response, self.now);
                }
            }
            while let Some(frame) = self.receiver.poll_transmit() {
                progress = true;
                let bytes = frame.encode().expect("encodes");
                self.from_receiver.push(frame);
                self.sender.handle_frame(Frame::decode(&bytes).expect("decodes"), self.now);
            }
            while let Some(request) = self.sender.poll_request() {
                progress = true;
                match request {
                    SenderRequest::NextChunk { len } => {
                        let chunk = self.payload[self.sent..self.sent + len].to_vec();
                        self.sent += len;
                        self.sender.handle_host(SenderResponse::Chunk(chunk), self.now);
                    }
                    SenderRequest::Log { bundle, .. } => {
                        self.logged.push(*bundle);
                        self.sender.handle_host(SenderResponse::Logged, self.now);
                    }
                }
            }
            if !progress {
                return;
            }
        }
        panic!("the exchange did not settle");
    }
}

#[test]
fn happy_push_delivers_and_receipts() {
    let (mut p, _) = Pair::new(2500, Policy::Allow);
    p.drive();
    let received = match p.receiver.poll_outcome() {
        Some(Ok(ReceiverOutcome::Received(r))) => r,
        other => panic!("receiver: {other:?}"),
    };
    let delivered = match p.sender.poll_outcome() {
        Some(Ok(SenderOutcome::Delivered(r))) => r,
        other => panic!("sender: {other:?}"),
    };
    assert_eq!(received, delivered);
    assert_eq!(p.logged, vec![delivered.clone()]);
    let (stored, _) = &p.host.stored[&delivered.receipt_of().packet_id];
    assert_eq!(stored, &p.payload, "the host stored exactly the payload");
    assert!(matches!(delivered.receipt_of().outcome, Outcome::Accepted { .. }));
    assert_eq!(p.host.commits, 1);
}

#[test]
fn empty_payload_is_one_chunk_and_delivers() {
    let (mut p, _) = Pair::new(0, Policy::Allow);
    p.drive();
    assert!(matches!(p.sender.poll_outcome(), Some(Ok(SenderOutcome::Delivered(_)))));
}

#[test]
fn policy_denial_is_a_signed_rejection_and_no_chunk_is_sent() {
    let (mut p, _) = Pair::new(2500, Policy::Deny(ReasonCode::PURPOSE_NOT_COVERED));
    p.drive();
    let refused = match p.sender.poll_outcome() {
        Some(Ok(SenderOutcome::Refused(r))) => r,
        other => panic!("sender: {other:?}"),
    };
    assert_eq!(refused.receipt_of().outcome, Outcome::Rejected { reason: ReasonCode::PURPOSE_NOT_COVERED });
    assert_eq!(p.sent, 0, "the sender read no payload");
    assert!(matches!(p.receiver.poll_outcome(), Some(Ok(ReceiverOutcome::Rejected(_)))));
    assert_eq!(p.logged.len(), 1, "the sender logs the rejection too");
}

#[test]
fn resent_packet_gets_the_same_receipt_and_is_not_delivered_twice() {
    let w = world();
    let (mut p, offer) = Pair::new(2500, Policy::Allow);
    p.drive();
    let first = p.logged[0].clone();
    // The connection was lost after the receipt was sent: the sender offers the same packet again.
    let resend = Sender::resend(
        offer,
        Arc::clone(&w.sender_identity),
        w.recipient_identity_public.clone(),
        Config::default(),
        p.now,
    );
    p.sender = resend;
    p.receiver = Receiver::new(agency("social-security"), agency("tax-bureau"), Config::default(), p.now);
    p.drive();
    assert!(matches!(p.receiver.poll_outcome(), Some(Ok(ReceiverOutcome::Resent(r))) if r == first));
    assert!(matches!(p.sender.poll_outcome(), Some(Ok(SenderOutcome::Delivered(r))) if r == first));
    assert_eq!(p.host.commits, 1, "stored once");
    assert_eq!(p.host.stored.len(), 1);
}

#[test]
fn a_refused_packet_offered_again_gets_the_same_rejection_never_a_second_one() {
    let w = world();
    let (mut p, offer) = Pair::new(2500, Policy::Deny(ReasonCode::PURPOSE_NOT_COVERED));
    p.drive();
    let first = p.logged[0].clone();
    // The sender lost the answer (it crashed before logging it) and offers the packet again;
    // meanwhile the recipient's policy would allow it.
    p.host.policy = Policy::Allow;
    p.sender = Sender::resend(
        offer,
        Arc::clone(&w.sender_identity),
        w.recipient_identity_public.clone(),
        Config::default(),
        p.now,
    );
    p.receiver = Receiver::new(agency("social-security"), agency("tax-bureau"), Config::default(), p.now);
    p.drive();
    assert!(matches!(p.receiver.poll_outcome(), Some(Ok(ReceiverOutcome::Rejected(r))) if r == first));
    assert!(matches!(p.sender.poll_outcome(), Some(Ok(SenderOutcome::Refused(r))) if r == first));
    assert_eq!(p.host.commits, 0, "nothing was stored");
    assert_eq!(p.host.log.size().expect("size"), 1, "one rejection in the recipient's log");
}

#[test]
fn a_different_packet_reusing_a_packet_id_is_a_protocol_error() {
    let (mut p, offer) = Pair::new(100, Policy::Allow);
    p.drive();
    // Another header with the same packet id: its digest differs from the stored receipt's.
    let mut header = offer.header.value().clone();
    header.content_type = ContentType::new("text/plain").expect("valid");
    let other = Offer { header: tally_wire::Encoded::new(header).expect("encodes"), ..offer };
    let mut receiver = Receiver::new(agency("social-security"), agency("tax-bureau"), Config::default(), p.now);
    receiver.handle_frame(Frame::Offer(other), p.now);
    while let Some(request) = receiver.poll_request() {
        if let Some(response) = p.host.answer(request) {
            receiver.handle_host(response, p.now);
        }
    }
    assert!(matches!(receiver.poll_transmit(), Some(Frame::Close(c)) if c.code == CloseCode::PACKET_ID_REUSED));
    assert_eq!(receiver.poll_outcome(), Some(Err(ExchangeError::PacketIdReused)));
}

#[test]
fn store_failure_sends_no_receipt() {
    let (mut p, _) = Pair::new(2500, Policy::AllowButStoreFails);
    p.drive();
    assert_eq!(p.receiver.poll_outcome(), Some(Err(ExchangeError::StoreFailed)));
    assert!(!p.from_receiver.iter().any(|f| matches!(f, Frame::Receipt(_))), "no receipt without durable storage");
    assert!(matches!(p.from_receiver.last(), Some(Frame::Close(c)) if c.code == CloseCode::INTERNAL_ERROR));
    assert!(matches!(
        p.sender.poll_outcome(),
        Some(Err(ExchangeError::ClosedByPeer { code: CloseCode::INTERNAL_ERROR, .. }))
    ));
    assert!(p.logged.is_empty());
}

#[test]
fn a_stalled_sender_times_out_and_the_receiver_discards() {
    let (mut p, _) = Pair::new(2500, Policy::Allow);
    // Deliver the offer only: the sender then "stalls".
    let offer = p.sender.poll_transmit().expect("the offer");
    p.receiver.handle_frame(offer, p.now);
    while let Some(r) = p.receiver.poll_request() {
        if let Some(resp) = p.host.answer(r) {
            p.receiver.handle_host(resp, p.now);
        }
    }
    assert!(matches!(p.receiver.poll_transmit(), Some(Frame::Accept(_))));
    let deadline = p.receiver.poll_timeout().expect("the peer is awaited");
    assert_eq!(deadline, clock::at(T0 + 30).instant);
    p.receiver.handle_timeout(clock::at(T0 + 29).instant);
    assert!(!p.receiver.is_done(), "not before the deadline");
    p.receiver.handle_timeout(deadline);
    assert!(matches!(p.receiver.poll_transmit(), Some(Frame::Close(c)) if c.code == CloseCode::TIMEOUT));
    assert!(matches!(p.receiver.poll_request(), Some(ReceiverRequest::Discard)));
    assert_eq!(p.receiver.poll_outcome(), Some(Err(ExchangeError::Timeout)));
}

#[test]
fn a_stalled_receiver_times_out_the_sender() {
    let (mut p, _) = Pair::new(10, Policy::Allow);
    let _offer = p.sender.poll_transmit();
    p.sender.handle_timeout(clock::at(T0 + 30).instant);
    assert!(matches!(p.sender.poll_transmit(), Some(Frame::Close(c)) if c.code == CloseCode::TIMEOUT));
    assert_eq!(p.sender.poll_outcome(), Some(Err(ExchangeError::Timeout)));
}

#[test]
fn a_header_naming_another_sender_than_the_peer_is_refused() {
    let (mut p, _) = Pair::new(10, Policy::Allow);
    p.receiver = Receiver::new(agency("social-security"), agency("statistics"), Config::default(), p.now);
    p.drive();
    assert!(matches!(p.from_receiver.first(), Some(Frame::Close(c)) if c.code == CloseCode::SENDER_MISMATCH));
    assert!(matches!(p.receiver.poll_outcome(), Some(Err(ExchangeError::SenderMismatch { .. }))));
    assert_eq!(p.host.commits, 0);
}

#[test]
fn a_tampered_chunk_gets_a_signed_rejection_and_the_provisional_data_is_discarded() {
    let (mut p, _) = Pair::new(2500, Policy::Allow);
    p.tamper = Box::new(|f| match f {
        Frame::Chunk(mut c) if c.index == 1 => {
            c.data.to_mut()[5] ^= 1;
            Some(Frame::Chunk(c))
        }
        other => Some(other),
    });
    p.drive();
    let refused = match p.sender.poll_outcome() {
        Some(Ok(SenderOutcome::Refused(r))) => r,
        other => panic!("sender: {other:?}"),
    };
    assert_eq!(refused.receipt_of().outcome, Outcome::Rejected { reason: ReasonCode::DECRYPTION_FAILED });
    assert_eq!(p.host.discards, 1);
    assert!(p.host.provisional.is_empty());
    assert_eq!(p.host.commits, 0);
}

#[test]
fn a_trailer_before_the_last_chunk_is_a_rejection() {
    let (mut p, _) = Pair::new(2500, Policy::Allow);
    p.tamper = Box::new(|f| match f {
        Frame::Chunk(c) if c.index == 2 => None,
        other => Some(other),
    });
    p.drive();
    assert!(matches!(
        p.sender.poll_outcome(),
        Some(Ok(SenderOutcome::Refused(r))) if r.receipt_of().outcome == Outcome::Rejected { reason: ReasonCode::LENGTH_MISMATCH }
    ));
}

#[test]
fn out_of_order_frames_close_the_exchange() {
    let now = clock::at(T0);
    let cases: Vec<(Frame<'static>, &str)> = vec![
        (Frame::Accept(tally_wire::Accept { packet_id: PacketId([0; 16]) }), "an accept to a receiver"),
        (Frame::Chunk(tally_wire::Chunk::new(0, &[0u8; 32])).into_owned(), "a chunk before the offer"),
        (
            Frame::Trailer(tally_wire::Trailer {
                chunk_count: 1,
                content_commitment: tally_wire::Digest([0; 32]),
                signature: tally_wire::Signature([0; 64]),
            }),
            "a trailer before the offer",
        ),
    ];
    for (frame, what) in cases {
        let mut r = Receiver::new(agency("social-security"), agency("tax-bureau"), Config::default(), now);
        r.handle_frame(frame, now);
        assert!(matches!(r.poll_transmit(), Some(Frame::Close(c)) if c.code == CloseCode::UNEXPECTED_FRAME), "{what}");
        assert!(matches!(r.poll_outcome(), Some(Err(ExchangeError::UnexpectedFrame { .. }))), "{what}");
    }
    // A second offer while receiving chunks.
    let (mut p, offer) = Pair::new(2500, Policy::Allow);
    let first = p.sender.poll_transmit().expect("offer");
    p.receiver.handle_frame(first, p.now);
    while let Some(r) = p.receiver.poll_request() {
        if let Some(resp) = p.host.answer(r) {
            p.receiver.handle_host(resp, p.now);
        }
    }
    let _accept = p.receiver.poll_transmit();
    p.receiver.handle_frame(Frame::Offer(offer), p.now);
    assert!(matches!(p.receiver.poll_transmit(), Some(Frame::Close(c)) if c.code == CloseCode::UNEXPECTED_FRAME));
    assert!(matches!(p.receiver.poll_request(), Some(ReceiverRequest::Discard)));
}

#[test]
fn a_receipt_signed_by_another_key_is_refused_by_the_sender() {
    let (mut p, _) = Pair::new(100, Policy::Allow);
    p.host.log = recipient_log(IdentityKey::from_seed(&[9; 32]));
    p.drive();
    assert!(matches!(
        p.sender.poll_outcome(),
        Some(Err(ExchangeError::BadBundle(tally_receipt::BundleError::Checkpoint(_))))
    ));
    assert!(p.logged.is_empty());
}

/// Frames a receiver may be fed: the valid ones of a real exchange, and some strangers.
fn frame_pool() -> (Vec<Frame<'static>>, World) {
    let w = world();
    let (sealer, offer) = Sealer::new(&w.cert, spec(2500), BoundedVec::empty()).expect("seals");
    let mut frames = vec![Frame::Offer(offer.clone())];
    let mut sender = Sender::new(
        sealer,
        offer,
        Arc::clone(&w.sender_identity),
        w.recipient_identity_public.clone(),
        Config::default(),
        clock::at(T0),
    );
    let _ = sender.poll_transmit();
    sender.handle_frame(Frame::Accept(tally_wire::Accept { packet_id: frames_packet_id(&frames[0]) }), clock::at(T0));
    let payload = vec![1u8; 2500];
    let mut at = 0;
    while let Some(SenderRequest::NextChunk { len }) = sender.poll_request() {
        sender.handle_host(SenderResponse::Chunk(payload[at..at + len].to_vec()), clock::at(T0));
        at += len;
        while let Some(f) = sender.poll_transmit() {
            frames.push(f);
        }
    }
    frames.push(Frame::Close(tally_wire::Close { code: CloseCode::NO_ERROR, reason: tally_wire::Text::default() }));
    frames.push(Frame::Accept(tally_wire::Accept { packet_id: PacketId([0; 16]) }));
    (frames, w)
}

fn frames_packet_id(f: &Frame<'_>) -> PacketId {
    match f {
        Frame::Offer(o) => o.header.value().packet_id,
        _ => PacketId([0; 16]),
    }
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 128, ..ProptestConfig::default() })]

    /// Fed any sequence of frames, a receiver never panics, never sends a
    /// receipt for anything its host did not durably store, and always ends
    /// (at the latest at its deadline).
    #[test]
    fn receiver_survives_any_frame_sequence(picks in prop::collection::vec(any::<prop::sample::Index>(), 0..12), fails in any::<bool>()) {
        let (pool, w) = frame_pool();
        let policy = if fails { Policy::AllowButStoreFails } else { Policy::Allow };
        let mut host = ReceiverHost {
            log: recipient_log(IdentityKey::from_seed(&[2; 32])),
            individual: false,
            kem: Arc::clone(&w.kem),
            sender_key: IdentityVerifier::new(&w.sender_identity.public_key()).expect("valid"),
            policy,
            provisional: Vec::new(),
            stored: HashMap::new(),
            refused: HashMap::new(),
            commits: 0,
            discards: 0,
        };
        let now = clock::at(T0);
        let mut r = Receiver::new(agency("social-security"), agency("tax-bureau"), Config::default(), now);
        let mut receipts_sent = 0;
        for pick in picks {
            r.handle_frame(pool[pick.index(pool.len())].clone(), now);
            while let Some(req) = r.poll_request() {
                if let Some(resp) = host.answer(req) {
                    r.handle_host(resp, now);
                }
            }
            while let Some(f) = r.poll_transmit() {
                if matches!(f, Frame::Receipt(_)) {
                    receipts_sent += 1;
                }
            }
        }
        prop_assert!(receipts_sent <= host.stored.len(), "a receipt without durable storage");
        r.handle_timeout(clock::at(T0 + 3600).instant);
        while r.poll_transmit().is_some() {}
        while r.poll_request().is_some() {}
        prop_assert!(r.is_done(), "the exchange ends by its deadline");
    }
}
