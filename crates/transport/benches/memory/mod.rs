//! What the transport benchmark and the node benchmark share: fixed keys
//! and a directory for two agencies, hosts that keep everything in memory
//! (the transport measured without a disk), and the CPU floor of an
//! exchange's cryptography. Included by path from
//! `crates/node/benches/node.rs`, so that both measure the same baseline.

#![allow(dead_code, reason = "each benchmark uses a different part")]

use std::collections::HashMap;
use std::io;
use std::pin::Pin;
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll};
use std::time::{Instant, SystemTime};

use tally_envelope::{CommitmentKey, IdentityKey, IdentityVerifier, KemKey, Opener, PacketSpec, Sealer};
use tally_protocol::SenderOutcome;
use tally_testkit::time;
use tally_transport::{Endpoint, Host, Inbox, OfferContext, OfferDecision, Outgoing, Refusal, TlsKey};
use tally_wire::{
    AgencyId, AgencyRecord, BoundedVec, BundledReceipt, ChunkSize, ContentType, DataCategory, Directory, Encoded,
    Endpoint as Addr, Evidence, GrantChain, GrantId, Outcome, PacketId, PullRequest, Purpose, ReasonCode, Receipt,
    ReceiptBundle, Roles, Signed, SuiteId, Text, Timestamp,
};
use tokio::io::{AsyncRead, ReadBuf};

pub(crate) fn agency(s: &str) -> AgencyId {
    AgencyId::new(s).expect("valid")
}

pub(crate) fn tax_identity() -> IdentityKey {
    IdentityKey::from_seed(&[1; 32])
}

pub(crate) fn social_identity() -> IdentityKey {
    IdentityKey::from_seed(&[2; 32])
}

pub(crate) fn social_kem() -> KemKey {
    KemKey::from_bytes([3; 32])
}

pub(crate) fn record(
    id: &str,
    identity: &IdentityKey,
    tls: &TlsKey,
    kem: Option<&KemKey>,
    endpoint: &str,
) -> AgencyRecord {
    let kem_keys = kem
        .map(|k| {
            vec![
                k.certify(identity, agency(id), Timestamp::from_secs(0), Timestamp::from_secs(u64::MAX / 2))
                    .expect("certifies"),
            ]
        })
        .unwrap_or_default();
    AgencyRecord {
        id: agency(id),
        name: Text::new(id).expect("short"),
        roles: Roles(Roles::PRODUCER.0 | Roles::CONSUMER.0),
        endpoints: tally_wire::Endpoints::one(Addr::new(endpoint).expect("valid")),
        identity_key: identity.public_key(),
        tls_key: tls.spki_digest(),
        kem_keys: BoundedVec::new(kem_keys).expect("few"),
    }
}

pub(crate) fn directory(serial: u64, agencies: Vec<AgencyRecord>) -> Directory {
    Directory {
        federation: Text::new("bench").expect("short"),
        serial,
        issued_at: Timestamp::from_secs(0),
        agencies: BoundedVec::new(agencies).expect("few"),
        purposes: BoundedVec::empty(),
        categories: BoundedVec::empty(),
    }
}

pub(crate) fn spec(len: u64) -> PacketSpec {
    spec_chunked(len, ChunkSize::DEFAULT)
}

pub(crate) fn spec_chunked(len: u64, chunk_size: ChunkSize) -> PacketSpec {
    PacketSpec {
        suite: SuiteId::X25519_SHA256_AES256GCM,
        sender: agency("tax-bureau"),
        grant: GrantId([7; 32]),
        purpose: Purpose::new("social-security.eligibility").expect("valid"),
        category: DataCategory::new("income.annual").expect("valid"),
        content_type: ContentType::new("application/octet-stream").expect("valid"),
        created_at: Timestamp::from_system_time(SystemTime::now()),
        payload_len: len,
        chunk_size,
    }
}

/// `len` zero bytes, produced as read (nothing buffered).
pub(crate) struct Zeros(pub(crate) u64);

impl AsyncRead for Zeros {
    fn poll_read(mut self: Pin<&mut Self>, _cx: &mut Context<'_>, buf: &mut ReadBuf<'_>) -> Poll<io::Result<()>> {
        let n = (buf.remaining() as u64).min(self.0) as usize;
        buf.initialize_unfilled_to(n).fill(0);
        buf.advance(n);
        self.0 -= n as u64;
        Poll::Ready(Ok(()))
    }
}

// ---------------------------------------------------------------- hosts

/// Stored packets: the plaintext kept (up to 1 MiB) and the receipt bundle.
pub(crate) type Store = HashMap<PacketId, (Vec<u8>, ReceiptBundle)>;

/// The receiver's host: packets of up to 1 MiB and all receipts in memory.
pub(crate) struct MemoryHost {
    pub(crate) identity: IdentityKey,
    pub(crate) sender_key: IdentityVerifier,
    pub(crate) kem: Arc<KemKey>,
    pub(crate) receipts: Mutex<Store>,
    /// The receipts issued, batch-signed, in a log in memory.
    pub(crate) log: tally_receipt::Log<tally_receipt::MemoryStore>,
}

impl MemoryHost {
    /// Logs `receipt` batch-signed and bundles it under a checkpoint that covers it.
    fn issue(&self, receipt: Receipt) -> io::Result<ReceiptBundle> {
        let logged = BundledReceipt::Logged(Encoded::new(receipt).map_err(io::Error::other)?);
        let range = self.log.append(&[tally_receipt::bundled_entry(&logged)]).map_err(io::Error::other)?;
        self.log.bundle_of(logged, range.start).map_err(io::Error::other)
    }

    /// The social-security bureau's host, taking packets from the tax bureau.
    pub(crate) fn social_security() -> Self {
        Self {
            identity: social_identity(),
            sender_key: IdentityVerifier::new(&tax_identity().public_key()).expect("valid"),
            kem: Arc::new(social_kem()),
            receipts: Mutex::new(HashMap::new()),
            log: tally_receipt::Log::new(
                tally_receipt::MemoryStore::new(),
                &AgencyId::new("social-security").expect("valid"),
                Arc::new(social_identity()),
            ),
        }
    }
}

pub(crate) struct MemoryInbox {
    host: Arc<MemoryHost>,
    kept: Vec<u8>,
    bytes: u64,
}

impl Inbox for MemoryInbox {
    async fn write(&mut self, plaintext: &[u8]) -> io::Result<()> {
        self.bytes += plaintext.len() as u64;
        if self.bytes <= 1 << 20 {
            self.kept.extend_from_slice(plaintext);
        }
        Ok(())
    }

    async fn commit(self, receipt: Receipt, _: Evidence, _: CommitmentKey) -> io::Result<ReceiptBundle> {
        let id = receipt.packet_id;
        let bundle = self.host.issue(receipt)?;
        self.host.receipts.lock().expect("not poisoned").insert(id, (self.kept, bundle.clone()));
        Ok(bundle)
    }

    async fn discard(self) {}
}

pub(crate) struct Receiving(pub(crate) Arc<MemoryHost>);

impl Host for Receiving {
    type Inbox = MemoryInbox;

    async fn decide_offer(&self, offer: OfferContext<'_>) -> OfferDecision<MemoryInbox> {
        if let Some((_, r)) = self.0.receipts.lock().expect("not poisoned").get(&offer.header.packet_id) {
            return OfferDecision::AlreadyReceipted(r.clone());
        }
        OfferDecision::Accept {
            kem_key: Arc::clone(&self.0.kem),
            sender_key: self.0.sender_key.clone(),
            inbox: MemoryInbox { host: Arc::clone(&self.0), kept: Vec::new(), bytes: 0 },
        }
    }

    async fn sign_rejection(&self, receipt: Receipt) -> io::Result<Option<ReceiptBundle>> {
        self.0.issue(receipt).map(Some)
    }

    async fn log_receipt(&self, _receipt: &ReceiptBundle, _: Option<(Evidence, CommitmentKey)>) -> io::Result<()> {
        Ok(())
    }

    async fn answer_request(
        &self,
        _peer: &AgencyId,
        _request: &Signed<PullRequest>,
        _grant_chain: &GrantChain,
    ) -> Result<Vec<Outgoing>, Refusal> {
        Err(Refusal::Signed(ReasonCode::DIRECTION_NOT_GRANTED))
    }
}

/// The sender's host: logs receipts in memory.
pub(crate) struct Sending(pub(crate) Mutex<Vec<ReceiptBundle>>);

impl Host for Sending {
    type Inbox = MemoryInbox;

    async fn decide_offer(&self, _offer: OfferContext<'_>) -> OfferDecision<MemoryInbox> {
        OfferDecision::Deny(ReasonCode::DIRECTION_NOT_GRANTED)
    }

    async fn sign_rejection(&self, _receipt: Receipt) -> io::Result<Option<ReceiptBundle>> {
        Err(io::Error::other("the bench sender signs nothing"))
    }

    async fn log_receipt(&self, receipt: &ReceiptBundle, _: Option<(Evidence, CommitmentKey)>) -> io::Result<()> {
        self.0.lock().expect("not poisoned").push(receipt.clone());
        Ok(())
    }

    async fn answer_request(
        &self,
        _peer: &AgencyId,
        _request: &Signed<PullRequest>,
        _grant_chain: &GrantChain,
    ) -> Result<Vec<Outgoing>, Refusal> {
        Err(Refusal::Signed(ReasonCode::DIRECTION_NOT_GRANTED))
    }
}

/// Sends `count` receipted 1 KiB packets from `sender` to `to`, `in_flight`
/// at a time; returns the seconds taken.
pub(crate) async fn small_exchanges<H: Host>(
    sender: &Endpoint<H>,
    to: &AgencyId,
    count: usize,
    in_flight: usize,
) -> f64 {
    let start = Instant::now();
    let tasks: Vec<_> = (0..in_flight)
        .map(|w| {
            let (endpoint, to) = (sender.clone(), to.clone());
            tokio::spawn(async move {
                let data = [w as u8; 1024];
                for _ in 0..count / in_flight {
                    let packet = endpoint.seal(&to, spec(1024), BoundedVec::empty()).expect("seals");
                    let outcome = endpoint.send(packet, &data[..]).await.expect("exchange");
                    assert!(matches!(outcome, SenderOutcome::Delivered(_)));
                }
            })
        })
        .collect();
    for t in tasks {
        t.await.expect("joins");
    }
    start.elapsed().as_secs_f64()
}

/// Seconds of CPU one 1 KiB exchange's cryptography takes, on one core:
/// seal and sign (sender), open and verify (receiver), sign the receipt
/// (receiver), verify it (sender); the packet sealed to a key of `kem`.
pub(crate) fn crypto_floor(kem: tally_wire::Kem) -> (f64, [(&'static str, f64); 4]) {
    let (tax, social) = (tax_identity(), social_identity());
    let kem_kind = kem;
    let kem = KemKey::from_secret(kem, [3; 32]);
    let cert = kem
        .certify(&social, agency("social-security"), Timestamp::from_secs(0), Timestamp::from_secs(u64::MAX / 2))
        .expect("certifies")
        .unverified()
        .clone();
    let tax_key = IdentityVerifier::new(&tax.public_key()).expect("valid");
    let social_key = IdentityVerifier::new(&social.public_key()).expect("valid");
    let data = [7u8; 1024];
    let seal = || {
        let spec = PacketSpec { suite: tally_envelope::suite_for(kem_kind), ..spec(1024) };
        let (mut sealer, offer) = Sealer::new(&cert, spec, BoundedVec::empty()).expect("seals");
        let mut buf = data.to_vec();
        let tag = sealer.seal_chunk_in_place(&mut buf).expect("seals");
        buf.extend_from_slice(&tag);
        let sealed = sealer.finish(&tax).expect("signs");
        (offer, buf, sealed)
    };
    let (offer, chunk, sealed) = seal();
    let open = || {
        let mut opener = Opener::new(&kem, &offer, &tax_key).expect("opens");
        let mut out = Vec::new();
        let c = tally_wire::Chunk { index: 0, data: std::borrow::Cow::Borrowed(&chunk[..]) };
        opener.open_chunk(&c, &mut out).expect("opens");
        opener.finish(&sealed.trailer).expect("verifies")
    };
    let receipt = Receipt {
        packet_id: offer.header.value().packet_id,
        header_digest: tally_envelope::header_digest(&offer.header),
        grant: GrantId([7; 32]),
        purpose: Purpose::new("social-security.eligibility").expect("valid"),
        category: DataCategory::new("income.annual").expect("valid"),
        payload_len: 1024,
        sender: agency("tax-bureau"),
        recipient: agency("social-security"),
        received_at: Timestamp::from_secs(1),
        outcome: Outcome::Accepted {
            ciphertext_fingerprint: sealed.digests.ciphertext_fingerprint,
            content_commitment: sealed.digests.content_commitment,
        },
    };
    let signed = social.sign_object(receipt.clone()).expect("signs");
    let parts = [
        ("seal + sign", time(|| drop(std::hint::black_box(seal())))),
        ("open + verify", time(|| drop(std::hint::black_box(open())))),
        ("sign receipt", time(|| drop(std::hint::black_box(social.sign_object(receipt.clone()).expect("signs"))))),
        ("verify receipt", time(|| _ = std::hint::black_box(social_key.verify_object(&signed).expect("verifies")))),
    ];
    (parts.iter().map(|(_, s)| s).sum(), parts)
}
