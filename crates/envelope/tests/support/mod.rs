//! Fixtures shared by the envelope's integration tests.

#![allow(dead_code, unreachable_pub)]

use tally_envelope::{IdentityKey, IdentityVerifier, KemKey, Opened, Opener, PacketSpec, Sealed, Sealer};
use tally_wire::{
    AgencyId, BoundedVec, ChunkSize, ContentType, DataCategory, Frame, GrantId, KemKeyCertificate, Offer, Purpose,
    Signed, SuiteId, Timestamp, Trailer,
};

/// Two agencies: the tax bureau sends to the social-security bureau.
pub struct Parties {
    pub sender: IdentityKey,
    pub sender_verifier: IdentityVerifier,
    pub recipient_identity: IdentityKey,
    pub recipient_kem: KemKey,
    pub recipient_cert: Signed<KemKeyCertificate>,
}

impl Parties {
    pub fn new() -> Self {
        Self::with_seeds(1, 2, 3)
    }

    /// The recipient holds an X-Wing key.
    pub fn xwing() -> Self {
        Self::with_kem(1, 2, KemKey::from_secret(tally_wire::Kem::XWing, [3; 32]))
    }

    pub fn with_seeds(sender: u8, recipient: u8, kem: u8) -> Self {
        Self::with_kem(sender, recipient, KemKey::from_bytes([kem; 32]))
    }

    fn with_kem(sender: u8, recipient: u8, recipient_kem: KemKey) -> Self {
        let sender = IdentityKey::from_seed(&[sender; 32]);
        let recipient_identity = IdentityKey::from_seed(&[recipient; 32]);
        let recipient_cert = recipient_kem
            .certify(
                &recipient_identity,
                agency("social-security"),
                Timestamp::from_secs(0),
                Timestamp::from_secs(u64::MAX),
            )
            .expect("certifies");
        let sender_verifier = IdentityVerifier::new(&sender.public_key()).expect("valid key");
        Self { sender, sender_verifier, recipient_identity, recipient_kem, recipient_cert }
    }
}

pub fn agency(s: &str) -> AgencyId {
    AgencyId::new(s).expect("valid agency id")
}

pub fn spec(payload_len: u64, chunk_size: u32, suite: SuiteId) -> PacketSpec {
    PacketSpec {
        suite,
        sender: agency("tax-bureau"),
        grant: GrantId([0x33; 32]),
        purpose: Purpose::new("social-security.eligibility").expect("valid"),
        category: DataCategory::new("income.annual").expect("valid"),
        content_type: ContentType::new("application/octet-stream").expect("valid"),
        created_at: Timestamp::from_secs(1_795_000_000),
        payload_len,
        chunk_size: ChunkSize::new(chunk_size).expect("valid chunk size"),
    }
}

/// A sealed packet as owned frames.
pub struct Packet {
    pub offer: Offer,
    pub chunks: Vec<(u64, Vec<u8>)>,
    pub trailer: Trailer,
    pub sealed: Sealed,
}

pub fn payload(len: usize) -> Vec<u8> {
    (0..len).map(|i| (i.wrapping_mul(31) ^ (i >> 8)) as u8).collect()
}

pub fn seal(parties: &Parties, plaintext: &[u8], chunk_size: u32, suite: SuiteId) -> Packet {
    let (mut sealer, offer) = Sealer::new(
        parties.recipient_cert.unverified(),
        spec(plaintext.len() as u64, chunk_size, suite),
        BoundedVec::empty(),
    )
    .expect("starts sealing");
    let mut chunks = Vec::new();
    let mut at = 0;
    while let Some(len) = sealer.next_chunk_len() {
        let mut buf = plaintext[at..at + len].to_vec();
        at += len;
        let chunk = sealer.seal_chunk(&mut buf).expect("seals");
        chunks.push((chunk.index, chunk.data.to_vec()));
    }
    let sealed = sealer.finish(&parties.sender).expect("finishes");
    Packet { offer, chunks, trailer: sealed.trailer, sealed }
}

/// Opens `offer`, the chunks and the trailer; returns the plaintext and the result.
pub fn open(
    parties: &Parties,
    offer: &Offer,
    chunks: &[(u64, Vec<u8>)],
    trailer: &Trailer,
) -> Result<(Vec<u8>, Opened), tally_envelope::Error> {
    open_with(&parties.recipient_kem, &parties.sender_verifier, offer, chunks, trailer)
}

pub fn open_with(
    kem: &KemKey,
    sender: &IdentityVerifier,
    offer: &Offer,
    chunks: &[(u64, Vec<u8>)],
    trailer: &Trailer,
) -> Result<(Vec<u8>, Opened), tally_envelope::Error> {
    let mut opener = Opener::new(kem, offer, sender)?;
    let mut out = Vec::new();
    let mut buf = Vec::new();
    for (index, data) in chunks {
        let chunk = tally_wire::Chunk::new(*index, data);
        out.extend_from_slice(opener.open_chunk(&chunk, &mut buf)?);
    }
    Ok((out, opener.finish(trailer)?))
}

/// The packet as one frame stream (the `write_packet` format).
pub fn stream(packet: &Packet) -> Vec<u8> {
    let mut out = Frame::Offer(packet.offer.clone()).encode().expect("encodes");
    for (index, data) in &packet.chunks {
        Frame::Chunk(tally_wire::Chunk::new(*index, data)).encode_into(&mut out).expect("encodes");
    }
    Frame::Trailer(packet.trailer).encode_into(&mut out).expect("encodes");
    out
}
