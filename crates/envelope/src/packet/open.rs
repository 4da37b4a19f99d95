//! The recipient's side: verify the offer, open chunk by chunk, verify the trailer.

use tally_wire::{Chunk, Digest, EncapsulatedKey, Encoded, Evidence, Offer, PacketHeader, Trailer, Version, label};

use super::{
    CommitmentKey, Layout, PacketDigests, check_trailer_shape, digests_equal, fingerprint_context, finish_commitment,
    hpke_suite, trailer_transcript,
};
use crate::digest::{finish, header_digest};
use crate::error::{Error, HpkeError};
use crate::hpke::{self, ModeKeys, ReceiverContext};
use crate::identity::IdentityVerifier;
use crate::kem_key::{KemKey, KemSecret};
use tally_wire::limits::CHUNK_TAG_LEN as CHUNK_TAG;

/// Opens one packet, chunk by chunk, in constant memory.
///
/// [`Opener::new`] checks the offer: version, suite, and that the packet
/// is sealed to this recipient's key. Each chunk that
/// [`open_chunk`](Self::open_chunk) returns has passed AEAD authentication
/// under the packet's HPKE context, so it belongs to this header and this
/// position, but it is **unverified**: who sealed it, and whether the
/// payload is complete, are only proven when [`finish`](Self::finish)
/// verifies the sender's signature in the trailer. Hold the plaintext
/// aside (a temporary file) and use it only after `finish` succeeds.
pub struct Opener {
    ctx: ReceiverContext,
    header: PacketHeader,
    encoded_header: Encoded<PacketHeader>,
    header_digest: Digest,
    enc: EncapsulatedKey,
    layout: Layout,
    next: u64,
    fingerprint: ring::digest::Context,
    commitment: ring::hmac::Context,
    commitment_key: CommitmentKey,
    sender: IdentityVerifier,
}

/// A fully verified packet.
#[derive(Debug)]
pub struct Opened {
    /// The packet header.
    pub header: PacketHeader,
    /// What the receipt commits to.
    pub digests: PacketDigests,
    /// The signed header, encapsulated key and trailer: the sender's
    /// proof of origin, to keep with the data (spec/envelope.md, "Revealing content").
    pub evidence: Evidence,
    /// The commitment key, for a later reveal.
    pub commitment_key: CommitmentKey,
}

impl Opener {
    /// Checks `offer` for `recipient`. `sender` is the identity key of the
    /// agency the header names as sender (the caller looks it up in the
    /// directory by `offer.header.value().sender`); the trailer must verify under it.
    pub fn new(recipient: &KemKey, offer: &Offer, sender: &IdentityVerifier) -> Result<Self, Error> {
        let header = offer.header.value();
        if header.version != Version::V1 {
            return Err(Error::UnsupportedVersion(header.version));
        }
        let suite = hpke_suite(header.suite).ok_or(Error::UnsupportedSuite(header.suite))?;
        if &header.recipient_key != recipient.key_id() {
            return Err(Error::WrongRecipientKey { expected: *recipient.key_id(), got: header.recipient_key });
        }
        let header_digest = header_digest(&offer.header);
        let enc = offer.encapsulated_key.clone();
        let info = &header_digest.0;
        let ctx = match (recipient.private(), &enc) {
            (KemSecret::X25519(sk), EncapsulatedKey::X25519(e)) => {
                hpke::setup_receiver(suite, &e.0, sk, info, &ModeKeys::Base)?
            }
            (KemSecret::XWing(sk), EncapsulatedKey::XWing(e)) => hpke::xwing::setup_receiver(suite, &e.0, sk, info)?,
            (_, e) => return Err(HpkeError::WrongKem { suite: recipient.kem(), key: e.kem() }.into()),
        };
        let mut k = [0u8; 32];
        ctx.export(label::CONTENT_COMMITMENT.as_bytes(), &mut k)?;
        let commitment_key = CommitmentKey::from_revealed(k);
        Ok(Self {
            layout: Layout::of(header),
            header: header.clone(),
            encoded_header: offer.header.clone(),
            fingerprint: fingerprint_context(&header_digest, &enc),
            commitment: commitment_key.hmac(),
            commitment_key,
            ctx,
            header_digest,
            enc,
            next: 0,
            sender: sender.clone(),
        })
    }

    /// The packet's header.
    pub fn header(&self) -> &PacketHeader {
        &self.header
    }

    /// How many chunks the packet has.
    pub fn chunk_count(&self) -> u64 {
        self.layout.count
    }

    /// Opens the next chunk into `buf` (its previous contents are replaced)
    /// and returns the plaintext, unverified until [`finish`](Self::finish) succeeds.
    pub fn open_chunk<'b>(&mut self, chunk: &Chunk<'_>, buf: &'b mut Vec<u8>) -> Result<&'b [u8], Error> {
        self.check_chunk(chunk.index, chunk.data.len())?;
        buf.clear();
        buf.extend_from_slice(&chunk.data);
        self.open_chunk_in_place(chunk.index, buf)
    }

    /// Opens the next chunk in place: `sealed` is the chunk frame's data
    /// (ciphertext and tag), and the plaintext returned is a prefix of it.
    /// Unverified until [`finish`](Self::finish) succeeds.
    pub fn open_chunk_in_place<'b>(&mut self, index: u64, sealed: &'b mut [u8]) -> Result<&'b [u8], Error> {
        self.check_chunk(index, sealed.len())?;
        self.fingerprint.update(&sealed[sealed.len() - CHUNK_TAG..]);
        let plaintext = self
            .ctx
            .open_in_place(&self.layout.aad(index), sealed)
            .map_err(|_| Error::ChunkAuthentication { index })?;
        self.commitment.update(plaintext);
        self.next += 1;
        Ok(plaintext)
    }

    fn check_chunk(&self, index: u64, sealed_len: usize) -> Result<(), Error> {
        if index >= self.layout.count {
            return Err(Error::TooManyChunks { index, count: self.layout.count });
        }
        if index != self.next {
            return Err(Error::ChunkOutOfOrder { expected: self.next, got: index });
        }
        let expected = self.layout.plaintext_len(index) + CHUNK_TAG;
        if sealed_len != expected {
            return Err(Error::ChunkLength { index, expected, got: sealed_len });
        }
        Ok(())
    }

    /// Checks the trailer: every chunk received, the commitment matches the
    /// plaintext, and the sender's signature covers the whole transcript.
    pub fn finish(self, trailer: &Trailer) -> Result<Opened, Error> {
        check_trailer_shape(trailer, &self.layout, self.next)?;
        let ciphertext_fingerprint = finish(self.fingerprint);
        let content_commitment = finish_commitment(self.commitment);
        if !digests_equal(&content_commitment, &trailer.content_commitment) {
            return Err(Error::CommitmentMismatch);
        }
        let transcript = trailer_transcript(
            &self.header_digest,
            &self.enc,
            &self.layout,
            &ciphertext_fingerprint,
            &content_commitment,
        );
        self.sender
            .verify(label::PACKET_TRAILER, &transcript, &trailer.signature, "trailer")
            .map_err(|_| Error::BadTrailerSignature)?;
        Ok(Opened {
            digests: PacketDigests {
                packet_id: self.header.packet_id,
                header_digest: self.header_digest,
                ciphertext_fingerprint,
                content_commitment,
            },
            header: self.header,
            evidence: Evidence { header: self.encoded_header, encapsulated_key: self.enc, trailer: *trailer },
            commitment_key: self.commitment_key,
        })
    }
}
