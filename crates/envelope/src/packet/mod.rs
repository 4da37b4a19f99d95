//! The sealed, signed, purpose-bound packet (spec/envelope.md).
//!
//! ```text
//! header_digest = H("tally/v1/hash/header", header body)
//! enc, ctx      = SetupBaseS(pkR, info = header_digest)
//! chunk i       = ctx.Seal(aad_i, plaintext_i)        aad_i = 0x01 for the last chunk, else 0x00
//! k_c           = ctx.Export("tally/v1/export/content-commitment", 32)
//! commitment    = HMAC-SHA256(k_c, plaintext)
//! fingerprint   = H("tally/v1/hash/ciphertext", header_digest ‖ enc ‖ tag_0 ‖ … ‖ tag_{n-1})
//! trailer sig   = Sign("tally/v1/sig/packet-trailer",
//!                      header_digest ‖ enc ‖ u64be(n) ‖ u64be(len) ‖ fingerprint ‖ commitment)
//! ```

mod open;
mod reveal;
mod seal;
mod stream;

use std::fmt;
use std::io::Read;

use ring::hmac;
use subtle::ConstantTimeEq;
use tally_wire::{
    AgencyId, ChunkSize, ContentType, DataCategory, Digest, EncapsulatedKey, GrantId, PacketHeader, PacketId, Purpose,
    SuiteId, Timestamp, Trailer, label,
};
use zeroize::Zeroizing;

pub use self::open::{Opened, Opener};
pub use self::reveal::{Revealed, sign_trailer, verify_origin, verify_revealed_content};
#[cfg(any(test, fuzzing, feature = "test-vectors"))]
pub use self::seal::Ephemeral;
pub use self::seal::{Sealed, Sealer};
pub use self::stream::{KemKeys, read_packet, write_packet};
use crate::error::Error;
use crate::hpke::{Aead, Kem, Suite};

/// What the sender says about a packet; the sealer adds the version, a
/// random packet id, and the recipient and its key from the certificate.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PacketSpec {
    /// The suite to seal with.
    pub suite: SuiteId,
    /// The sending agency (the signer).
    pub sender: AgencyId,
    /// The grant the packet is sent under.
    pub grant: GrantId,
    /// What the data is for.
    pub purpose: Purpose,
    /// What kind of data it is.
    pub category: DataCategory,
    /// The payload's media type.
    pub content_type: ContentType,
    /// When the packet is sealed.
    pub created_at: Timestamp,
    /// The plaintext length, in bytes.
    pub payload_len: u64,
    /// The chunk size.
    pub chunk_size: ChunkSize,
}

/// The HPKE suite of a packet suite; `None` for a suite this implementation does not support.
pub fn hpke_suite(suite: SuiteId) -> Option<Suite> {
    match suite {
        SuiteId::X25519_SHA256_AES256GCM => Some(Suite { kem: Kem::X25519, aead: Aead::Aes256Gcm }),
        SuiteId::X25519_SHA256_CHACHA20POLY1305 => Some(Suite { kem: Kem::X25519, aead: Aead::ChaCha20Poly1305 }),
        SuiteId::XWING_SHA256_AES256GCM => Some(Suite { kem: Kem::XWing, aead: Aead::Aes256Gcm }),
        SuiteId::XWING_SHA256_CHACHA20POLY1305 => Some(Suite { kem: Kem::XWing, aead: Aead::ChaCha20Poly1305 }),
        _ => None,
    }
}

/// How a payload is cut into chunks: `n = max(1, ⌈len / chunk_size⌉)`; every
/// chunk but the last has `chunk_size` bytes; the last has the rest (0 bytes
/// only for an empty payload).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct Layout {
    pub(crate) payload_len: u64,
    pub(crate) chunk_size: u64,
    pub(crate) count: u64,
}

impl Layout {
    pub(crate) fn of(header: &PacketHeader) -> Self {
        let chunk_size = u64::from(header.chunk_size.get());
        let count = header.payload_len.div_ceil(chunk_size).max(1);
        Self { payload_len: header.payload_len, chunk_size, count }
    }

    /// The plaintext length of chunk `index` (< count).
    pub(crate) fn plaintext_len(&self, index: u64) -> usize {
        let len = if index + 1 < self.count {
            self.chunk_size
        } else {
            self.payload_len - self.chunk_size * (self.count - 1)
        };
        // At most MAX_CHUNK_SIZE (1 MiB), so it fits any usize.
        len as usize
    }

    /// `aad_i`: marks the last chunk, so truncation at a chunk boundary is detected.
    pub(crate) fn aad(&self, index: u64) -> [u8; 1] {
        [u8::from(index + 1 == self.count)]
    }
}

/// The message the trailer signature covers: the header digest, `enc`
/// (32 bytes for DHKEM(X25519), 1120 for X-Wing: the header's suite fixes
/// which), the chunk count, the payload length, the fingerprint and the
/// commitment; 144 bytes with DHKEM, 1232 with X-Wing.
pub(crate) fn trailer_transcript(
    header_digest: &Digest,
    enc: &EncapsulatedKey,
    layout: &Layout,
    fingerprint: &Digest,
    commitment: &Digest,
) -> Vec<u8> {
    let mut t = Vec::with_capacity(112 + enc.as_bytes().len());
    t.extend_from_slice(&header_digest.0);
    t.extend_from_slice(enc.as_bytes());
    t.extend_from_slice(&layout.count.to_be_bytes());
    t.extend_from_slice(&layout.payload_len.to_be_bytes());
    t.extend_from_slice(&fingerprint.0);
    t.extend_from_slice(&commitment.0);
    t
}

/// The running ciphertext fingerprint: absorbs each chunk's tag.
pub(crate) fn fingerprint_context(header_digest: &Digest, enc: &EncapsulatedKey) -> ring::digest::Context {
    let mut ctx = crate::digest::labeled_context(label::CIPHERTEXT_FINGERPRINT);
    ctx.update(&header_digest.0);
    ctx.update(enc.as_bytes());
    ctx
}

/// The content-commitment key `k_c`, exported from the packet's HPKE
/// context. Revealing it with the plaintext proves the content to an
/// auditor (see [`verify_reveal`]); it reveals nothing about the AEAD key.
/// Not `Clone`; zeroized on drop; its `Debug` shows nothing.
pub struct CommitmentKey(Zeroizing<[u8; 32]>);

impl CommitmentKey {
    /// The key's bytes, to reveal to an auditor or store beside the data.
    pub fn reveal(&self) -> &[u8; 32] {
        &self.0
    }

    /// A key revealed by the other party.
    pub fn from_revealed(bytes: [u8; 32]) -> Self {
        Self(Zeroizing::new(bytes))
    }

    pub(crate) fn hmac(&self) -> hmac::Context {
        hmac::Context::with_key(&hmac::Key::new(hmac::HMAC_SHA256, &*self.0))
    }
}

impl fmt::Debug for CommitmentKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("CommitmentKey(..)")
    }
}

pub(crate) fn finish_commitment(ctx: hmac::Context) -> Digest {
    let mut out = [0u8; 32];
    out.copy_from_slice(ctx.sign().as_ref());
    Digest(out)
}

/// Checks a reveal: does `HMAC-SHA256(key, plaintext)` equal `commitment`?
/// Reads `plaintext` once; compares in constant time.
pub fn verify_reveal(commitment: &Digest, key: &CommitmentKey, mut plaintext: impl Read) -> Result<(), Error> {
    let mut mac = key.hmac();
    let mut buf = vec![0u8; 64 * 1024];
    loop {
        let n = plaintext.read(&mut buf)?;
        if n == 0 {
            break;
        }
        mac.update(&buf[..n]);
    }
    if bool::from(finish_commitment(mac).0.ct_eq(&commitment.0)) { Ok(()) } else { Err(Error::RevealMismatch) }
}

/// Compares two digests in constant time.
pub(crate) fn digests_equal(a: &Digest, b: &Digest) -> bool {
    bool::from(a.0.ct_eq(&b.0))
}

/// The summary both sides end with: what a receipt commits to.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct PacketDigests {
    /// The packet's id.
    pub packet_id: PacketId,
    /// `H("tally/v1/hash/header", header body)`.
    pub header_digest: Digest,
    /// The ciphertext fingerprint.
    pub ciphertext_fingerprint: Digest,
    /// The content commitment.
    pub content_commitment: Digest,
}

/// The trailer's signature check, shared by the opener and the tests.
pub(crate) fn check_trailer_shape(trailer: &Trailer, layout: &Layout, received: u64) -> Result<(), Error> {
    if received < layout.count {
        return Err(Error::MissingChunks { expected: layout.count, received });
    }
    if trailer.chunk_count != received {
        return Err(Error::TrailerChunkCount { declared: trailer.chunk_count, received });
    }
    Ok(())
}
