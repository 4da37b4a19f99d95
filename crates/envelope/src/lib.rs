//! `tally-envelope`: Tally's cryptographic envelope (spec/envelope.md,
//! spec/keys.md).
//!
//! It makes a packet confidential, bound to its purpose and grant,
//! attributable to its sender, and provable later:
//!
//! - keys: [`IdentityKey`] (Ed25519) signs; [`KemKey`] (X25519, or X-Wing:
//!   ML-KEM-768 with X25519, post-quantum) receives, certified by the
//!   identity key; both zeroize on drop and never print;
//! - [`hpke`]: RFC 9180 on ring and x25519-dalek, passing every RFC vector
//!   for DHKEM(X25519, HKDF-SHA256), and the X-Wing KEM ([`hpke::xwing`], on
//!   RustCrypto's `x-wing`), passing the X-Wing draft's vectors;
//! - the packet: [`Sealer`] and [`Opener`] seal and open a payload chunk by
//!   chunk in constant memory, with the header digest as HPKE `info`, a
//!   sender signature over the offer and over the whole transcript, a
//!   ciphertext fingerprint that costs no pass over the data, and a content
//!   commitment that either party can later reveal ([`verify_reveal`]).
//!
//! This is the only crate of the workspace that uses x25519-dalek,
//! ed25519-dalek and x-wing (the transport uses ring and ml-kem for TLS);
//! the others use its types.
//!
//! ```
//! use tally_envelope::{IdentityKey, IdentityVerifier, KemKey, PacketSpec, read_packet, write_packet};
//! use tally_wire::{AgencyId, BoundedVec, ChunkSize, ContentType, DataCategory, GrantId, Purpose, SuiteId, Timestamp};
//!
//! let tax = IdentityKey::generate()?;
//! let social = IdentityKey::generate()?;
//! let social_kem = KemKey::generate()?;
//! let cert = social_kem.certify(&social, AgencyId::new("social-security")?, Timestamp::from_secs(0), Timestamp::from_secs(u64::MAX))?;
//!
//! let payload = b"{\"person\": \"19800101-1234\", \"income\": 41200}";
//! let spec = PacketSpec {
//!     suite: SuiteId::X25519_SHA256_AES256GCM,
//!     sender: AgencyId::new("tax-bureau")?,
//!     grant: GrantId([0; 32]),
//!     purpose: Purpose::new("social-security.eligibility")?,
//!     category: DataCategory::new("income.annual")?,
//!     content_type: ContentType::new("application/json")?,
//!     created_at: Timestamp::from_secs(1_795_000_000),
//!     payload_len: payload.len() as u64,
//!     chunk_size: ChunkSize::DEFAULT,
//! };
//! let mut packet = Vec::new();
//! let sealed = write_packet(&tax, cert.unverified(), spec, BoundedVec::empty(), &payload[..], &mut packet)?;
//!
//! let tax_key = IdentityVerifier::new(&tax.public_key())?;
//! let mut plaintext = Vec::new();
//! let opened = read_packet(&social_kem, |_header| Ok(tax_key), &packet[..], &mut plaintext)?;
//! assert_eq!(plaintext, payload);
//! assert_eq!(opened.digests, sealed.digests);
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```

#![forbid(unsafe_code)]

pub mod at_rest;
mod digest;
mod error;
/// Entry points of the fuzz targets and the corpus replay test (`cfg(fuzzing)`,
/// or feature `fuzzing`); not part of the API, never in a release build.
#[cfg(any(test, fuzzing, feature = "fuzzing"))]
pub mod fuzzing;
pub mod hpke;
mod identity;
mod kem_key;
mod keyfile;
mod packet;

pub use digest::{digest, digest_reader, header_digest, kem_key_id, request_digest, sha256};
pub use error::{Error, HpkeError};
pub use identity::{IdentityKey, IdentityVerifier};
pub use kem_key::{
    KemKey, kem_certificate_valid_at, preferred_kem_certificate, suite_for, verify_kem_binding, verify_kem_certificate,
};
pub use keyfile::{
    FORMAT as KEY_FILE_FORMAT, KeyFileInfo, KeyKind, inspect_key_file, read_identity_key, read_kem_key,
    write_identity_key, write_kem_key,
};
#[cfg(any(test, fuzzing, feature = "test-vectors"))]
pub use packet::Ephemeral;
pub use packet::{
    CommitmentKey, KemKeys, Opened, Opener, PacketDigests, PacketSpec, Revealed, Sealed, Sealer, hpke_suite,
    read_packet, sign_trailer, verify_origin, verify_reveal, verify_revealed_content, write_packet,
};

/// Lowercase hex.
pub(crate) fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

/// Lowercase hex decoding; `None` if `s` is not lowercase hex.
pub(crate) fn unhex_checked(s: &str) -> Option<Vec<u8>> {
    if !s.len().is_multiple_of(2) || !s.bytes().all(|c| c.is_ascii_digit() || (b'a'..=b'f').contains(&c)) {
        return None;
    }
    (0..s.len()).step_by(2).map(|i| u8::from_str_radix(&s[i..i + 2], 16).ok()).collect()
}
