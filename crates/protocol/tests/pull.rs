//! Pull scenarios: a requester and a responder connected in memory with
//! test hosts and a simulated clock. Every frame crosses as bytes.
//!
//! The responder is the tax bureau (it holds the data and sends the
//! answer's packets); the requester is the social-security bureau.

mod clock;

use std::sync::Arc;

use proptest::prelude::*;

use tally_envelope::{IdentityKey, IdentityVerifier, KemKey, PacketSpec, Sealer, request_digest};
use tally_protocol::{
    Config, ExchangeError, ReceiverOutcome, ReceiverRequest, ReceiverResponse, Requester, RequesterOutcome, Responder,
    ResponderOutcome, ResponderRequest, ResponderResponse, Sender, SenderOutcome, SenderRequest, SenderResponse,
};
use tally_receipt::{BundleVerifier, CheckpointCache, Log, MemoryStore};
use tally_wire::{
    AgencyId, BoundedBytes, BoundedVec, ChunkSize, CloseCode, ContentType, DataCategory, Frame, GrantId,
    KemKeyCertificate, Outcome, PullRequest, Purpose, ReasonCode, Receipt, ReceiptBundle, RequestId, Signed, SuiteId,
    Timestamp,
};

const T0: u64 = 1_800_000_000;

fn agency(s: &str) -> AgencyId {
    AgencyId::new(s).expect("valid")
}

fn purpose() -> Purpose {
    Purpose::new("social-security.eligibility").expect("valid")
}

fn category() -> DataCategory {
    DataCategory::new("income.annual").expect("valid")
}

struct Keys {
    tax: Arc<IdentityKey>,
    social: Arc<IdentityKey>,
    kem: Arc<KemKey>,
    cert: KemKeyCertificate,
    /// The receipts each side issues, batch-signed, in logs in memory.
    tax_log: Log<MemoryStore>,
    social_log: Log<MemoryStore>,
}

impl Keys {
    fn verifier(&self, who: &str) -> BundleVerifier {
        let key = if who == "tax-bureau" { &self.tax } else { &self.social };
        BundleVerifier::new(agency(who), key.public_key(), CheckpointCache::new())
    }
}

fn issue(log: &Log<MemoryStore>, receipt: Receipt) -> ReceiptBundle {
    log.issue_receipts_batched(vec![receipt]).expect("logs").pop().expect("one bundle")
}

/// The receipt in a bundle.
fn receipt_of(bundle: &ReceiptBundle) -> &Receipt {
    tally_receipt::bundled_receipt(&bundle.receipt)
}

fn keys() -> Keys {
    let social = Arc::new(IdentityKey::from_seed(&[2; 32]));
    let kem = Arc::new(KemKey::from_bytes([3; 32]));
    let cert = kem
        .certify(&social, agency("social-security"), Timestamp::from_secs(0), Timestamp::from_secs(u64::MAX))
        .expect("certifies")
        .unverified()
        .clone();
    let tax = Arc::new(IdentityKey::from_seed(&[1; 32]));
    let tax_log = Log::new(MemoryStore::new(), &agency("tax-bureau"), Arc::clone(&tax));
    let social_log = Log::new(MemoryStore::new(), &agency("social-security"), Arc::clone(&social));
    Keys { tax, social, kem, cert, tax_log, social_log }
}

fn request(signer: &IdentityKey, requester: &str) -> Signed<PullRequest> {
    signer
        .sign_object(PullRequest {
            request_id: RequestId([9; 16]),
            requester: agency(requester),
            responder: agency("tax-bureau"),
            grant: GrantId([7; 32]),
            purpose: purpose(),
            category: category(),
            query: BoundedBytes::new(b"year=2025".to_vec()).expect("short"),
            created_at: Timestamp::from_secs(T0),
        })
        .expect("signs")
}

struct Pull {
    keys: Keys,
    requester: Requester,
    responder: Responder,
    /// The payloads the responder's host answers with, in order.
    answer: Vec<Vec<u8>>,
    /// `None`: serve; `Some(reason)`: refuse the request.
    refuse: Option<ReasonCode>,
    /// Changes each answer packet's spec before sealing (a misbehaving responder).
    misdirect: fn(&mut PacketSpec),
    next: usize,
    sending: Vec<u8>,
    sent: usize,
    provisional: Vec<u8>,
    stored: Vec<Vec<u8>>,
    responder_logged: Vec<ReceiptBundle>,
    now: tally_protocol::Now,
    deliver_to_requester: bool,
    /// Every frame the responder sent, for the property test's pool.
    from_responder: Vec<Frame<'static>>,
}

impl Pull {
    fn new(answer: Vec<Vec<u8>>, refuse: Option<ReasonCode>) -> Self {
        let keys = keys();
        let now = clock::at(T0);
        let requester = Requester::new(
            request(&keys.social, "social-security"),
            BoundedVec::empty(),
            keys.verifier("tax-bureau"),
            Config::default(),
            now,
        );
        let responder = Responder::new(agency("tax-bureau"), agency("social-security"), Config::default(), now);
        Self {
            keys,
            requester,
            responder,
            answer,
            refuse,
            misdirect: |_| {},
            next: 0,
            sending: Vec::new(),
            sent: 0,
            provisional: Vec::new(),
            stored: Vec::new(),
            responder_logged: Vec::new(),
            now,
            deliver_to_requester: true,
            from_responder: Vec::new(),
        }
    }

    fn next_packet(&mut self) -> ResponderResponse {
        let Some(payload) = self.answer.get(self.next).cloned() else { return ResponderResponse::End };
        self.next += 1;
        let mut spec = PacketSpec {
            suite: SuiteId::X25519_SHA256_AES256GCM,
            sender: agency("tax-bureau"),
            grant: GrantId([7; 32]),
            purpose: purpose(),
            category: category(),
            content_type: ContentType::new("application/json").expect("valid"),
            created_at: self.now.wall,
            payload_len: payload.len() as u64,
            chunk_size: ChunkSize::new(1024).expect("valid"),
        };
        (self.misdirect)(&mut spec);
        let (sealer, offer) = Sealer::new(&self.keys.cert, spec, BoundedVec::empty()).expect("seals");
        self.sending = payload;
        self.sent = 0;
        let sender = Sender::new(
            sealer,
            offer,
            Arc::clone(&self.keys.tax),
            self.keys.verifier("social-security"),
            Config::default(),
            self.now,
        );
        ResponderResponse::Send(Box::new(sender))
    }

    fn answer_responder(&mut self, request: ResponderRequest) -> ResponderResponse {
        match request {
            ResponderRequest::Decide { request, .. } => {
                // The host verifies the request's signature under the requester's key.
                let key = IdentityVerifier::new(&self.keys.social.public_key()).expect("valid");
                if key.verify_object(&request).is_err() {
                    return ResponderResponse::Deny(ReasonCode::BAD_SIGNATURE);
                }
                self.refuse.map_or(ResponderResponse::Serve, ResponderResponse::Deny)
            }
            ResponderRequest::Reject { receipt } => ResponderResponse::Rejected(issue(&self.keys.tax_log, receipt)),
            ResponderRequest::NextPacket => self.next_packet(),
            ResponderRequest::Packet(SenderRequest::NextChunk { len }) => {
                let chunk = self.sending[self.sent..self.sent + len].to_vec();
                self.sent += len;
                ResponderResponse::Packet(SenderResponse::Chunk(chunk))
            }
            ResponderRequest::Packet(SenderRequest::Log { bundle, .. }) => {
                self.responder_logged.push(*bundle);
                ResponderResponse::Packet(SenderResponse::Logged)
            }
        }
    }

    fn answer_requester(&mut self, request: ReceiverRequest) -> Option<ReceiverResponse> {
        match request {
            ReceiverRequest::Decide { .. } => Some(ReceiverResponse::Accept {
                kem_key: Arc::clone(&self.keys.kem),
                sender_key: IdentityVerifier::new(&self.keys.tax.public_key()).expect("valid"),
            }),
            ReceiverRequest::Store { plaintext } => {
                self.provisional.extend_from_slice(&plaintext);
                None
            }
            ReceiverRequest::Discard => {
                self.provisional.clear();
                None
            }
            ReceiverRequest::Commit { receipt, .. } => {
                self.stored.push(std::mem::take(&mut self.provisional));
                Some(ReceiverResponse::Stored(issue(&self.keys.social_log, receipt)))
            }
            ReceiverRequest::Reject { receipt } => {
                Some(ReceiverResponse::Rejected(issue(&self.keys.social_log, receipt)))
            }
        }
    }

    fn drive(&mut self) {
        for _ in 0..100_000 {
            let mut progress = false;
            while let Some(frame) = self.requester.poll_transmit() {
                progress = true;
                let bytes = frame.encode().expect("encodes");
                self.responder.handle_frame(Frame::decode(&bytes).expect("decodes"), self.now);
            }
            while let Some(request) = self.responder.poll_request() {
                progress = true;
                let response = self.answer_responder(request);
                self.responder.handle_host(response, self.now);
            }
            while self.deliver_to_requester
                && let Some(frame) = self.responder.poll_transmit()
            {
                progress = true;
                let bytes = frame.encode().expect("encodes");
                self.from_responder.push(frame);
                self.requester.handle_frame(Frame::decode(&bytes).expect("decodes"), self.now);
            }
            while let Some(request) = self.requester.poll_request() {
                progress = true;
                if let Some(response) = self.answer_requester(request) {
                    self.requester.handle_host(response, self.now);
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
fn a_pull_answered_by_several_packets_delivers_each_with_its_receipt() {
    let answer = vec![vec![1u8; 3000], Vec::new(), (0..5000u32).map(|i| i as u8).collect()];
    let mut p = Pull::new(answer.clone(), None);
    p.drive();
    let received = match p.requester.poll_outcome() {
        Some(Ok(RequesterOutcome::Answered(r))) => r,
        other => panic!("requester: {other:?}"),
    };
    let sent = match p.responder.poll_outcome() {
        Some(Ok(ResponderOutcome::Served(s))) => s,
        other => panic!("responder: {other:?}"),
    };
    assert_eq!(p.stored, answer, "every packet stored, in order, intact");
    assert_eq!(received.len(), 3);
    assert_eq!(sent.len(), 3);
    for (r, s) in received.iter().zip(&sent) {
        let (ReceiverOutcome::Received(a), SenderOutcome::Delivered(b)) = (r, s) else {
            panic!("{r:?} / {s:?}");
        };
        assert_eq!(a, b, "both sides hold the same receipt");
        assert_eq!(receipt_of(a).sender, agency("tax-bureau"));
        assert_eq!(receipt_of(a).recipient, agency("social-security"));
    }
    assert_eq!(p.responder_logged.len(), 3, "the responder logs every receipt");
}

#[test]
fn a_pull_with_nothing_to_send_ends_with_an_empty_answer() {
    let mut p = Pull::new(Vec::new(), None);
    p.drive();
    assert_eq!(p.requester.poll_outcome(), Some(Ok(RequesterOutcome::Answered(Vec::new()))));
    assert_eq!(p.responder.poll_outcome(), Some(Ok(ResponderOutcome::Served(Vec::new()))));
}

#[test]
fn a_refused_pull_gets_a_signed_receipt_naming_the_request() {
    let mut p = Pull::new(vec![vec![1; 10]], Some(ReasonCode::DIRECTION_NOT_GRANTED));
    p.drive();
    let refusal = match p.requester.poll_outcome() {
        Some(Ok(RequesterOutcome::Refused(r))) => r,
        other => panic!("requester: {other:?}"),
    };
    assert_eq!(p.responder.poll_outcome(), Some(Ok(ResponderOutcome::Refused(refusal.clone()))));
    let r = p.keys.verifier("tax-bureau").verify(&refusal).expect("the responder's bundle").receipt;
    let asked = request(&p.keys.social, "social-security");
    assert_eq!(r.header_digest, request_digest(&asked));
    assert_eq!(r.packet_id.0, [9; 16], "the packet id field holds the request id");
    assert_eq!(r.sender, agency("social-security"), "the request's sender is the requester");
    assert_eq!(r.recipient, agency("tax-bureau"));
    assert_eq!(r.outcome, Outcome::Rejected { reason: ReasonCode::DIRECTION_NOT_GRANTED });
    assert!(p.stored.is_empty() && p.next == 0, "nothing was sent");
}

#[test]
fn a_request_with_a_bad_signature_is_refused() {
    let mut p = Pull::new(vec![vec![1; 10]], None);
    let forged = request(&IdentityKey::from_seed(&[66; 32]), "social-security");
    p.requester = Requester::new(forged, BoundedVec::empty(), p.keys.verifier("tax-bureau"), Config::default(), p.now);
    p.drive();
    assert!(matches!(
        p.requester.poll_outcome(),
        Some(Ok(RequesterOutcome::Refused(r))) if receipt_of(&r).outcome == Outcome::Rejected { reason: ReasonCode::BAD_SIGNATURE }
    ));
}

#[test]
fn a_request_naming_another_requester_than_the_peer_is_a_sender_mismatch() {
    let p = Pull::new(vec![vec![1; 10]], None);
    // Signed by the social-security bureau's key, but claiming another requester.
    let claimed = request(&p.keys.social, "pension-fund");
    let mut responder = Responder::new(agency("tax-bureau"), agency("social-security"), Config::default(), p.now);
    responder.handle_frame(
        Frame::Request(tally_wire::Request { request: claimed, grant_chain: BoundedVec::empty() }),
        p.now,
    );
    assert!(responder.poll_request().is_none(), "the host is not asked");
    assert!(matches!(responder.poll_transmit(), Some(Frame::Close(c)) if c.code == CloseCode::SENDER_MISMATCH));
    assert!(matches!(responder.poll_outcome(), Some(Err(ExchangeError::SenderMismatch { .. }))));
}

#[test]
fn an_offer_outside_the_request_is_refused_by_the_requester() {
    let mut p = Pull::new(vec![vec![1; 10]], None);
    p.misdirect = |spec| spec.category = DataCategory::new("health.records").expect("valid");
    p.drive();
    assert_eq!(p.requester.poll_outcome(), Some(Err(ExchangeError::NotRequested)));
    assert!(matches!(
        p.responder.poll_outcome(),
        Some(Err(ExchangeError::ClosedByPeer { code: CloseCode::UNEXPECTED_FRAME, .. }))
    ));
    assert!(p.stored.is_empty());
}

#[test]
fn a_refusal_signed_by_another_key_is_not_accepted() {
    let mut p = Pull::new(Vec::new(), Some(ReasonCode::GRANT_EXPIRED));
    let other = Arc::new(IdentityKey::from_seed(&[77; 32]));
    p.keys.tax_log = Log::new(MemoryStore::new(), &agency("tax-bureau"), other);
    p.drive();
    assert!(matches!(
        p.requester.poll_outcome(),
        Some(Err(ExchangeError::BadBundle(tally_receipt::BundleError::Checkpoint(_))))
    ));
}

#[test]
fn a_stalled_responder_times_out_the_requester() {
    let mut p = Pull::new(vec![vec![1; 10_000]], None);
    p.deliver_to_requester = false;
    p.drive();
    assert!(p.requester.poll_outcome().is_none());
    let deadline = p.requester.poll_timeout().expect("awaiting the answer");
    assert_eq!(deadline, clock::at(T0 + 30).instant);
    p.requester.handle_timeout(clock::at(T0 + 29).instant);
    assert!(p.requester.poll_outcome().is_none(), "not before the deadline");
    p.requester.handle_timeout(deadline);
    assert!(matches!(p.requester.poll_transmit(), Some(Frame::Close(c)) if c.code == CloseCode::TIMEOUT));
    assert_eq!(p.requester.poll_outcome(), Some(Err(ExchangeError::Timeout)));
}

#[test]
fn frames_out_of_order_end_a_pull() {
    // An Accept is not an answer to a request.
    let mut p = Pull::new(Vec::new(), None);
    let _ = p.requester.poll_transmit();
    p.requester.handle_frame(Frame::Accept(tally_wire::Accept { packet_id: tally_wire::PacketId([1; 16]) }), p.now);
    assert!(matches!(p.requester.poll_transmit(), Some(Frame::Close(c)) if c.code == CloseCode::UNEXPECTED_FRAME));
    // A second request to a responder is out of order.
    let mut responder = Responder::new(agency("tax-bureau"), agency("social-security"), Config::default(), p.now);
    let req = || {
        Frame::Request(tally_wire::Request {
            request: request(&p.keys.social, "social-security"),
            grant_chain: BoundedVec::empty(),
        })
    };
    responder.handle_frame(req(), p.now);
    assert!(matches!(responder.poll_request(), Some(ResponderRequest::Decide { .. })));
    responder.handle_frame(req(), p.now);
    assert!(matches!(responder.poll_transmit(), Some(Frame::Close(c)) if c.code == CloseCode::UNEXPECTED_FRAME));
}

/// Frames a responder may send: those of a served pull (offers, chunks,
/// trailers, the end), a refusal, and some that are never right.
fn frame_pool() -> Vec<Frame<'static>> {
    let mut served = Pull::new(vec![vec![1; 3000], vec![2; 10]], None);
    served.drive();
    let mut refused = Pull::new(Vec::new(), Some(ReasonCode::GRANT_EXPIRED));
    refused.drive();
    let mut pool = served.from_responder;
    pool.extend(refused.from_responder);
    pool.push(Frame::Accept(tally_wire::Accept { packet_id: tally_wire::PacketId([1; 16]) }));
    pool.push(Frame::Close(tally_wire::Close { code: CloseCode::INTERNAL_ERROR, reason: Default::default() }));
    pool
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 128, ..ProptestConfig::default() })]

    /// Fed any sequence of a responder's frames, a requester never panics,
    /// never sends a receipt for a packet its host did not store, and
    /// always ends (at the latest at its deadline).
    #[test]
    fn requester_survives_any_frame_sequence(picks in prop::collection::vec(any::<prop::sample::Index>(), 0..16)) {
        let pool = frame_pool();
        let mut p = Pull::new(Vec::new(), None);
        let _request = p.requester.poll_transmit();
        let mut receipts_sent = 0;
        for pick in picks {
            p.requester.handle_frame(pool[pick.index(pool.len())].clone(), p.now);
            while let Some(request) = p.requester.poll_request() {
                if let Some(response) = p.answer_requester(request) {
                    p.requester.handle_host(response, p.now);
                }
            }
            while let Some(frame) = p.requester.poll_transmit() {
                if matches!(frame, Frame::Receipt(_)) {
                    receipts_sent += 1;
                }
            }
        }
        prop_assert!(receipts_sent <= p.stored.len(), "a receipt without storage");
        p.requester.handle_timeout(clock::at(T0 + 3600).instant);
        while p.requester.poll_transmit().is_some() {}
        while p.requester.poll_request().is_some() {}
        prop_assert!(p.requester.is_done(), "the exchange ends by its deadline");
    }
}
