//! The sender's side: seal chunk by chunk, sign the transcript.

use ring::rand::SystemRandom;
use tally_wire::{
    Chunk, Digest, EncapsulatedKey, Encoded, GrantChain, KemKeyCertificate, KemPublicKey, Offer, PacketHeader,
    PacketId, Trailer, Version, X25519PublicKey, XWingCiphertext, label,
};

use super::{
    CommitmentKey, Layout, PacketDigests, PacketSpec, fingerprint_context, finish_commitment, hpke_suite,
    trailer_transcript,
};
use crate::digest::{finish, header_digest};
use crate::error::{Error, HpkeError};
use crate::hpke::{self, ModeKeys, SenderContext};
use crate::identity::IdentityKey;

/// Seals one packet, chunk by chunk, in constant memory.
///
/// Built by [`Sealer::new`], which also returns the [`Offer`]; then
/// [`seal_chunk`](Self::seal_chunk) once per chunk, in order, each with
/// exactly [`next_chunk_len`](Self::next_chunk_len) plaintext bytes; then
/// [`finish`](Self::finish) for the trailer. Not `Clone`: a packet is
/// sealed once.
pub struct Sealer {
    ctx: SenderContext,
    packet_id: PacketId,
    header_digest: Digest,
    enc: EncapsulatedKey,
    layout: Layout,
    next: u64,
    fingerprint: ring::digest::Context,
    commitment: ring::hmac::Context,
    commitment_key: CommitmentKey,
}

/// Fixed encapsulation randomness, for test vectors only
/// ([`Sealer::dangerous_new_deterministic`]).
#[cfg(any(test, fuzzing, feature = "test-vectors"))]
#[derive(Clone, Copy)]
pub enum Ephemeral {
    /// DHKEM(X25519): the ephemeral private key.
    X25519([u8; 32]),
    /// X-Wing: the 64 bytes of `Encap`'s randomness (ML-KEM's 32, then X25519's 32).
    XWing([u8; 64]),
}

/// What the sender keeps of a sealed packet.
#[derive(Debug)]
pub struct Sealed {
    /// The trailer frame to send after the last chunk.
    pub trailer: Trailer,
    /// What the receipt will commit to.
    pub digests: PacketDigests,
    /// The commitment key, for a later reveal.
    pub commitment_key: CommitmentKey,
}

impl Sealer {
    /// Starts sealing a packet to the key in `recipient` (a certificate the
    /// caller has verified), under `grant_chain`. The sender signs at
    /// [`finish`](Self::finish).
    pub fn new(
        recipient: &KemKeyCertificate,
        spec: PacketSpec,
        grant_chain: GrantChain,
    ) -> Result<(Self, Offer), Error> {
        let suite = hpke_suite(spec.suite).ok_or(Error::UnsupportedSuite(spec.suite))?;
        let rng = SystemRandom::new();
        let mut id = [0u8; 16];
        ring::rand::SecureRandom::fill(&rng, &mut id).map_err(|_| HpkeError::Random)?;
        let header = header(recipient, spec, PacketId(id));
        let layout = Layout::of(&header);
        let header = Encoded::new(header)?;
        let header_digest = header_digest(&header);
        let info = &header_digest.0;
        let (enc, ctx) = match &recipient.public_key {
            KemPublicKey::X25519(pk) => {
                let (enc, ctx) = hpke::setup_sender(suite, &pk.0, info, &ModeKeys::Base, &rng)?;
                (EncapsulatedKey::X25519(X25519PublicKey(enc)), ctx)
            }
            KemPublicKey::XWing(pk) => {
                let (enc, ctx) = hpke::xwing::setup_sender(suite, &pk.0, info, &rng)?;
                (EncapsulatedKey::XWing(Box::new(XWingCiphertext(*enc))), ctx)
            }
        };
        Self::start(ctx, header, header_digest, enc, layout, grant_chain)
    }

    /// [`Sealer::new`] with a fixed packet id and encapsulation randomness
    /// (an X25519 ephemeral key, or X-Wing's 64 bytes). Reusing either
    /// breaks the construction; this exists for test vectors only (feature
    /// `test-vectors`; never in a release build).
    #[cfg(any(test, fuzzing, feature = "test-vectors"))]
    pub fn dangerous_new_deterministic(
        recipient: &KemKeyCertificate,
        spec: PacketSpec,
        grant_chain: GrantChain,
        packet_id: PacketId,
        randomness: Ephemeral,
    ) -> Result<(Self, Offer), Error> {
        let suite = hpke_suite(spec.suite).ok_or(Error::UnsupportedSuite(spec.suite))?;
        let header = header(recipient, spec, packet_id);
        let layout = Layout::of(&header);
        let header = Encoded::new(header)?;
        let header_digest = header_digest(&header);
        let info = &header_digest.0;
        let (enc, ctx) = match (&recipient.public_key, randomness) {
            (KemPublicKey::X25519(pk), Ephemeral::X25519(sk_e)) => {
                let sk_e = hpke::KemPrivateKey::from_bytes(sk_e);
                let (enc, ctx) =
                    hpke::dangerous_setup_sender_with_ephemeral(suite, &pk.0, info, &ModeKeys::Base, sk_e)?;
                (EncapsulatedKey::X25519(X25519PublicKey(enc)), ctx)
            }
            (KemPublicKey::XWing(pk), Ephemeral::XWing(r)) => {
                let (enc, ctx) = hpke::xwing::dangerous_setup_sender_with_randomness(suite, &pk.0, info, &r)?;
                (EncapsulatedKey::XWing(Box::new(XWingCiphertext(*enc))), ctx)
            }
            (pk, _) => return Err(HpkeError::WrongKem { suite: suite.kem, key: pk.kem() }.into()),
        };
        Self::start(ctx, header, header_digest, enc, layout, grant_chain)
    }

    fn start(
        ctx: SenderContext,
        header: Encoded<PacketHeader>,
        header_digest: Digest,
        enc: EncapsulatedKey,
        layout: Layout,
        grant_chain: GrantChain,
    ) -> Result<(Self, Offer), Error> {
        let mut k = [0u8; 32];
        ctx.export(label::CONTENT_COMMITMENT.as_bytes(), &mut k)?;
        let commitment_key = CommitmentKey::from_revealed(k);
        let sealer = Self {
            packet_id: header.value().packet_id,
            fingerprint: fingerprint_context(&header_digest, &enc),
            commitment: commitment_key.hmac(),
            commitment_key,
            ctx,
            header_digest,
            enc: enc.clone(),
            layout,
            next: 0,
        };
        Ok((sealer, Offer { header, encapsulated_key: enc, grant_chain }))
    }

    /// The packet's content-commitment key, to keep for a later reveal
    /// (spec/envelope.md, "Revealing content").
    pub fn commitment_key(&self) -> &CommitmentKey {
        &self.commitment_key
    }

    /// The plaintext length the next chunk must have; `None` when every chunk is sealed.
    pub fn next_chunk_len(&self) -> Option<usize> {
        (self.next < self.layout.count).then(|| self.layout.plaintext_len(self.next))
    }

    /// Seals the plaintext in `buf` in place (appending the 16-byte tag)
    /// and returns the chunk frame, borrowing `buf`.
    pub fn seal_chunk<'b>(&mut self, buf: &'b mut Vec<u8>) -> Result<Chunk<'b>, Error> {
        let index = self.next;
        let tag = self.seal_chunk_in_place(buf)?;
        buf.extend_from_slice(&tag);
        Ok(Chunk::new(index, buf))
    }

    /// Seals the next chunk's plaintext in place and returns its 16-byte
    /// tag; the chunk frame's data is the sealed bytes followed by the tag.
    /// For writers that send the two without joining them (no copy).
    pub fn seal_chunk_in_place(&mut self, plaintext: &mut [u8]) -> Result<[u8; 16], Error> {
        let index = self.next;
        let expected = self.next_chunk_len().ok_or(Error::TooManyChunks { index, count: self.layout.count })?;
        if plaintext.len() != expected {
            return Err(Error::PlaintextChunkLength { index, expected, got: plaintext.len() });
        }
        self.commitment.update(plaintext);
        let tag = self.ctx.seal_in_place_separate_tag(&self.layout.aad(index), plaintext)?;
        self.fingerprint.update(&tag);
        self.next += 1;
        Ok(tag)
    }

    /// Signs the transcript and returns the trailer, once every chunk is sealed.
    pub fn finish(self, sender: &IdentityKey) -> Result<Sealed, Error> {
        if self.next < self.layout.count {
            return Err(Error::MissingChunks { expected: self.layout.count, received: self.next });
        }
        let ciphertext_fingerprint = finish(self.fingerprint);
        let content_commitment = finish_commitment(self.commitment);
        let transcript = trailer_transcript(
            &self.header_digest,
            &self.enc,
            &self.layout,
            &ciphertext_fingerprint,
            &content_commitment,
        );
        // The same bytes as `sign_trailer`, which rebuilds this trailer from the offer and receipt.
        let signature = sender.sign(label::PACKET_TRAILER, &transcript);
        Ok(Sealed {
            trailer: Trailer { chunk_count: self.layout.count, content_commitment, signature },
            digests: PacketDigests {
                packet_id: self.packet_id,
                header_digest: self.header_digest,
                ciphertext_fingerprint,
                content_commitment,
            },
            commitment_key: self.commitment_key,
        })
    }
}

/// The header of a packet to `recipient`'s certified key.
fn header(recipient: &KemKeyCertificate, spec: PacketSpec, packet_id: PacketId) -> PacketHeader {
    PacketHeader {
        version: Version::V1,
        suite: spec.suite,
        packet_id,
        sender: spec.sender,
        recipient: recipient.agency.clone(),
        recipient_key: recipient.key_id,
        grant: spec.grant,
        purpose: spec.purpose,
        category: spec.category,
        content_type: spec.content_type,
        created_at: spec.created_at,
        payload_len: spec.payload_len,
        chunk_size: spec.chunk_size,
    }
}
