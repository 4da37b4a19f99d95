//! AES-256-GCM for data a node keeps at rest (its storage key, data keys,
//! blobs), and the system's random bytes. The node's storage code uses
//! these instead of importing ring, so that ring stays behind this crate.
//!
//! Unlike the HPKE contexts, the caller chooses the nonces here: every
//! user must make each nonce unique for its key (a counter under a
//! per-object key, or 96 random bits under a key that seals few objects).

use ring::aead::{AES_256_GCM, Aad, LessSafeKey, Nonce, UnboundKey};
use ring::rand::SecureRandom;

use crate::HpkeError;

/// The length of an AES-256-GCM tag.
pub const TAG_LEN: usize = 16;

/// An AES-256-GCM key. Its `Debug` shows nothing of the key; ring keeps
/// the expanded key schedule, which it does not zeroize (the 32 key bytes
/// the caller holds should be in a zeroizing type).
pub struct AtRestKey(LessSafeKey);

impl std::fmt::Debug for AtRestKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("AtRestKey(..)")
    }
}

impl AtRestKey {
    /// The key with these bytes.
    pub fn new(key: &[u8; 32]) -> Result<Self, HpkeError> {
        let unbound = UnboundKey::new(&AES_256_GCM, key).map_err(|_| HpkeError::InvalidKey)?;
        Ok(Self(LessSafeKey::new(unbound)))
    }

    /// `HKDF-SHA256(salt, ikm)` expanded with `info` to an AES-256-GCM key (RFC 5869).
    pub fn derive(ikm: &[u8; 32], salt: &[u8], info: &[u8]) -> Result<Self, HpkeError> {
        let prk = ring::hkdf::Salt::new(ring::hkdf::HKDF_SHA256, salt).extract(ikm);
        let info = [info];
        let okm = prk.expand(&info, &AES_256_GCM).map_err(|_| HpkeError::InvalidKey)?;
        Ok(Self(LessSafeKey::new(UnboundKey::from(okm))))
    }

    /// Seals `in_out` in place and appends the tag.
    pub fn seal_append_tag(&self, nonce: [u8; 12], aad: &[u8], in_out: &mut Vec<u8>) -> Result<(), HpkeError> {
        let tag = self.seal_separate_tag(nonce, aad, in_out)?;
        in_out.extend_from_slice(&tag);
        Ok(())
    }

    /// Seals `in_out` in place and returns the tag.
    pub fn seal_separate_tag(
        &self,
        nonce: [u8; 12],
        aad: &[u8],
        in_out: &mut [u8],
    ) -> Result<[u8; TAG_LEN], HpkeError> {
        let tag = self
            .0
            .seal_in_place_separate_tag(Nonce::assume_unique_for_key(nonce), Aad::from(aad), in_out)
            .map_err(|_| HpkeError::MessageLimitReached)?;
        let mut out = [0u8; TAG_LEN];
        out.copy_from_slice(tag.as_ref());
        Ok(out)
    }

    /// Opens `in_out` (ciphertext and tag) in place; returns the plaintext,
    /// a prefix of `in_out`. The tag is compared in constant time (by ring).
    pub fn open<'a>(&self, nonce: [u8; 12], aad: &[u8], in_out: &'a mut [u8]) -> Result<&'a mut [u8], HpkeError> {
        self.0
            .open_in_place(Nonce::assume_unique_for_key(nonce), Aad::from(aad), in_out)
            .map_err(|_| HpkeError::OpenFailed)
    }
}

/// Fills `out` from the system's random number generator.
pub fn random_bytes(out: &mut [u8]) -> Result<(), HpkeError> {
    ring::rand::SystemRandom::new().fill(out).map_err(|_| HpkeError::Random)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sealed_data_opens_only_with_its_nonce_and_aad() {
        let key = AtRestKey::derive(&[7; 32], b"salt", b"info").expect("derives");
        let mut sealed = b"payload".to_vec();
        key.seal_append_tag([1; 12], b"aad", &mut sealed).expect("seals");
        assert_eq!(sealed.len(), 7 + TAG_LEN);
        assert!(key.open([2; 12], b"aad", &mut sealed.clone()).is_err(), "another nonce");
        assert!(key.open([1; 12], b"AAD", &mut sealed.clone()).is_err(), "another aad");
        let other = AtRestKey::derive(&[7; 32], b"salt", b"other").expect("derives");
        assert!(other.open([1; 12], b"aad", &mut sealed.clone()).is_err(), "another info");
        assert_eq!(key.open([1; 12], b"aad", &mut sealed).expect("opens"), b"payload");
        assert_eq!(format!("{key:?}"), "AtRestKey(..)");
    }
}
