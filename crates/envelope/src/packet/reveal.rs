//! Revealing a packet's content to an auditor (spec/envelope.md,
//! "Revealing content"): the sender's evidence of origin, the recipient's
//! receipt, the commitment key and the plaintext, each checked against
//! the others.

use std::io::Read;

use tally_wire::{
    BundledReceipt, Digest, EncapsulatedKey, Encoded, Evidence, Outcome, PacketHeader, Receipt, Reveal, Trailer, label,
};

use super::{CommitmentKey, Layout, PacketDigests, trailer_transcript, verify_reveal};
use crate::digest::header_digest;
use crate::error::Error;
use crate::identity::{IdentityKey, IdentityVerifier};

/// The trailer `sender` signs for a packet with this header, encapsulated
/// key and digests. Ed25519 signatures are deterministic, so this is the
/// trailer the sender sent, and a sender that kept the offer and the
/// receipt can rebuild its evidence after a restart.
pub fn sign_trailer(
    sender: &IdentityKey,
    header: &Encoded<PacketHeader>,
    enc: &EncapsulatedKey,
    fingerprint: &Digest,
    commitment: &Digest,
) -> Trailer {
    let layout = Layout::of(header.value());
    let transcript = trailer_transcript(&header_digest(header), enc, &layout, fingerprint, commitment);
    Trailer {
        chunk_count: layout.count,
        content_commitment: *commitment,
        signature: sender.sign(label::PACKET_TRAILER, &transcript),
    }
}

/// Checks that `evidence` is the packet `sender` sealed with this
/// ciphertext fingerprint: the trailer's signature over the transcript
/// built from the header, the encapsulated key, the header's chunking and
/// the fingerprint. Returns what a receipt of it commits to.
pub fn verify_origin(
    evidence: &Evidence,
    sender: &IdentityVerifier,
    fingerprint: &Digest,
) -> Result<PacketDigests, Error> {
    let header = evidence.header.value();
    let layout = Layout::of(header);
    if evidence.trailer.chunk_count != layout.count {
        return Err(Error::TrailerChunkCount { declared: evidence.trailer.chunk_count, received: layout.count });
    }
    let digest = header_digest(&evidence.header);
    let commitment = evidence.trailer.content_commitment;
    let transcript = trailer_transcript(&digest, &evidence.encapsulated_key, &layout, fingerprint, &commitment);
    sender
        .verify(label::PACKET_TRAILER, &transcript, &evidence.trailer.signature, "trailer")
        .map_err(|_| Error::BadTrailerSignature)?;
    Ok(PacketDigests {
        packet_id: header.packet_id,
        header_digest: digest,
        ciphertext_fingerprint: *fingerprint,
        content_commitment: commitment,
    })
}

/// What a checked reveal proves: this sender sent, and this recipient
/// received and receipted, exactly this plaintext under this header.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Revealed {
    /// The packet's header: sender, recipient, grant, purpose, category, length.
    pub header: PacketHeader,
    /// The digests the sender signed and the receipt commits to.
    pub digests: PacketDigests,
}

/// The envelope's half of checking a reveal: everything but the receipt's
/// authenticity. **This does not authenticate the receipt**: `receipt`
/// must be what the reveal's bundle was verified to prove (use
/// `tally_receipt::verify_reveal`, which verifies the bundle under the
/// directory's key of the recipient and then calls this). Checks that `receipt` is the bundle's,
/// an acceptance of this packet (packet id, header digest, agencies,
/// grant, purpose, category, length); the trailer verifies under `sender`
/// with the receipt's ciphertext fingerprint; the trailer's commitment is
/// the receipt's; and `HMAC-SHA256(k_c, plaintext)` equals it. `sender` is
/// the identity key the directory lists for the header's sender.
pub fn verify_revealed_content(
    reveal: &Reveal,
    receipt: &Receipt,
    sender: &IdentityVerifier,
    plaintext: impl Read,
) -> Result<Revealed, Error> {
    let header = reveal.evidence.header.value();
    let bundled = match &reveal.receipt.receipt {
        BundledReceipt::Signed(s) => s.unverified(),
        BundledReceipt::Logged(e) => e.value(),
    };
    if bundled != receipt {
        return Err(Error::RevealInconsistent("the verified receipt is not the one in the reveal"));
    }
    let Outcome::Accepted { ciphertext_fingerprint, content_commitment } = receipt.outcome else {
        return Err(Error::RevealInconsistent("the receipt is a rejection: nothing was received"));
    };
    let same_packet = receipt.packet_id == header.packet_id
        && receipt.header_digest == header_digest(&reveal.evidence.header)
        && receipt.sender == header.sender
        && receipt.recipient == header.recipient
        && receipt.grant == header.grant
        && receipt.purpose == header.purpose
        && receipt.category == header.category
        && receipt.payload_len == header.payload_len;
    if !same_packet {
        return Err(Error::RevealInconsistent("the receipt is for another packet than the evidence"));
    }
    let digests = verify_origin(&reveal.evidence, sender, &ciphertext_fingerprint)?;
    if digests.content_commitment != content_commitment {
        return Err(Error::RevealInconsistent("the receipt commits to other content than the sender signed"));
    }
    let key = CommitmentKey::from_revealed(reveal.commitment_key.0);
    let mut counted = Counted { inner: plaintext, count: 0 };
    verify_reveal(&content_commitment, &key, &mut counted)?;
    if counted.count != header.payload_len {
        return Err(Error::RevealMismatch);
    }
    Ok(Revealed { header: header.clone(), digests })
}

struct Counted<R> {
    inner: R,
    count: u64,
}

impl<R: Read> Read for Counted<R> {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        let n = self.inner.read(buf)?;
        self.count += n as u64;
        Ok(n)
    }
}
