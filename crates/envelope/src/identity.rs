//! Identity keys: Ed25519, signing and verifying under domain-separation
//! labels over exact bytes (spec/README.md, "Domain separation").
//!
//! Signing uses ed25519-dalek's `SigningKey`, which zeroizes on drop
//! (ring's `Ed25519KeyPair` does not, and an agency's identity key is its
//! longest-lived secret); it is also the faster signer here.
//!
//! Verification is strict, and uses ring, which measured about 25% faster
//! than ed25519-dalek's `verify_strict` on these machines (`cargo bench -p
//! tally-envelope`): ring rejects a non-canonical `S` (no malleability)
//! and compares the encoding of `R`, and [`IdentityVerifier::new`] rejects
//! public keys of small order (weak keys), which ring alone would accept.
//! Together that is the strict verification spec/envelope.md requires.

use std::fmt;

use ed25519_dalek::{Signer, SigningKey, VerifyingKey};
use ring::rand::SecureRandom;
use tally_wire::{IdentityPublicKey, Signature, SignatureLabel, Signed, SignedBody};
use zeroize::Zeroizing;

use crate::error::Error;

/// An agency's Ed25519 identity key. Not `Clone`; zeroized on drop; its
/// `Debug` shows only the public key.
pub struct IdentityKey(SigningKey);

impl IdentityKey {
    /// A new key from the system's random number generator (ring's `SystemRandom`).
    pub fn generate() -> Result<Self, Error> {
        let mut seed = Zeroizing::new([0u8; 32]);
        ring::rand::SystemRandom::new().fill(&mut *seed).map_err(|_| crate::HpkeError::Random)?;
        Ok(Self::from_seed(&seed))
    }

    /// The key with this 32-byte seed (RFC 8032's private key).
    pub fn from_seed(seed: &[u8; 32]) -> Self {
        Self(SigningKey::from_bytes(seed))
    }

    /// The key in a PKCS#8 document (RFC 8410 `OneAsymmetricKey`, v1 or v2,
    /// as ring and OpenSSL write them). ring checks the document; the seed
    /// is then read from its fixed position.
    pub fn from_pkcs8(der: &[u8]) -> Result<Self, Error> {
        // Both templates put `04 20 <seed>` at offset 14, after the version and algorithm.
        const V1_PREFIX: [u8; 16] =
            [0x30, 0x2e, 0x02, 0x01, 0x00, 0x30, 0x05, 0x06, 0x03, 0x2b, 0x65, 0x70, 0x04, 0x22, 0x04, 0x20];
        const V2_PREFIX: [u8; 16] =
            [0x30, 0x51, 0x02, 0x01, 0x01, 0x30, 0x05, 0x06, 0x03, 0x2b, 0x65, 0x70, 0x04, 0x22, 0x04, 0x20];
        ring::signature::Ed25519KeyPair::from_pkcs8_maybe_unchecked(der)
            .map_err(|_| Error::InvalidKey("not a valid PKCS#8 Ed25519 private key"))?;
        // v2 continues with `81 21 00 <public key>` (RFC 8410's [1] publicKey).
        let prefix_ok = (der.len() == 48 && der[..16] == V1_PREFIX)
            || (der.len() == 83 && der[..16] == V2_PREFIX && der[48..51] == [0x81, 0x21, 0x00]);
        if !prefix_ok {
            return Err(Error::InvalidKey("unsupported PKCS#8 layout for an Ed25519 key"));
        }
        let mut seed = Zeroizing::new([0u8; 32]);
        seed.copy_from_slice(&der[16..48]);
        let key = Self::from_seed(&seed);
        if der.len() == 83 && der[51..] != key.public_key().0 {
            return Err(Error::InvalidKey("PKCS#8 public key does not match its private key"));
        }
        Ok(key)
    }

    /// The seed, for writing a key file.
    pub(crate) fn seed(&self) -> Zeroizing<[u8; 32]> {
        Zeroizing::new(self.0.to_bytes())
    }

    /// The public key.
    pub fn public_key(&self) -> IdentityPublicKey {
        IdentityPublicKey(self.0.verifying_key().to_bytes())
    }

    /// `Sign(label, message) = Ed25519.Sign(sk, label ‖ 0x00 ‖ message)`.
    pub fn sign(&self, label: SignatureLabel, message: &[u8]) -> Signature {
        Signature(self.0.sign(&labeled(label, message)).to_bytes())
    }

    /// Signs a C2SP signed-note text as it is, without a label (spec/receipts.md,
    /// "Checkpoints"). Only texts without control characters other than
    /// newline are signed: such a text has no 0x00 byte, while every
    /// labeled message has one right after its label, so no note signature
    /// can be taken for a labeled one or the reverse.
    pub fn sign_note_text(&self, text: &str) -> Result<Signature, Error> {
        check_note_text(text)?;
        Ok(Signature(self.0.sign(text.as_bytes()).to_bytes()))
    }

    /// Encodes `value` and signs its bytes under its type's label.
    pub fn sign_object<T: SignedBody>(&self, value: T) -> Result<Signed<T>, Error> {
        Ok(Signed::sign(value, |label, body| self.sign(label, body))?)
    }
}

impl fmt::Debug for IdentityKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "IdentityKey(public: {})", self.public_key())
    }
}

/// A checked identity public key, ready to verify.
#[derive(Clone, Debug)]
pub struct IdentityVerifier {
    bytes: IdentityPublicKey,
}

impl IdentityVerifier {
    /// Checks a public key: it must be a valid Ed25519 point, and not of
    /// small order (a weak key, for which one signature can verify for many
    /// messages).
    pub fn new(key: &IdentityPublicKey) -> Result<Self, Error> {
        let parsed = VerifyingKey::from_bytes(&key.0).map_err(|_| Error::InvalidKey("not an Ed25519 public key"))?;
        if parsed.is_weak() {
            return Err(Error::InvalidKey("an Ed25519 public key of small order"));
        }
        Ok(Self { bytes: *key })
    }

    /// The key of an Ed25519 DER SubjectPublicKeyInfo (RFC 8410: the
    /// 12-byte prefix `30 2a 30 05 06 03 2b 65 70 03 21 00`, then the key),
    /// as a TLS raw public key is presented (spec/keys.md).
    pub fn from_spki(spki: &[u8]) -> Result<Self, Error> {
        const PREFIX: [u8; 12] = [0x30, 0x2a, 0x30, 0x05, 0x06, 0x03, 0x2b, 0x65, 0x70, 0x03, 0x21, 0x00];
        match spki.strip_prefix(&PREFIX[..]).map(<[u8; 32]>::try_from) {
            Some(Ok(key)) => Self::new(&IdentityPublicKey(key)),
            _ => Err(Error::InvalidKey("not the SubjectPublicKeyInfo of an Ed25519 key")),
        }
    }

    /// The key's bytes.
    pub fn public_key(&self) -> &IdentityPublicKey {
        &self.bytes
    }

    /// `Verify(label, message, signature)`, strictly (no malleable signatures,
    /// no small-order keys). Fails with `BadSignature(what)`.
    pub fn verify(
        &self,
        label: SignatureLabel,
        message: &[u8],
        signature: &Signature,
        what: &'static str,
    ) -> Result<(), Error> {
        ring::signature::UnparsedPublicKey::new(&ring::signature::ED25519, &self.bytes.0)
            .verify(&labeled(label, message), &signature.0)
            .map_err(|_| Error::BadSignature(what))
    }

    /// Verifies a signature made by [`IdentityKey::sign_note_text`].
    pub fn verify_note_text(&self, text: &str, signature: &Signature) -> Result<(), Error> {
        check_note_text(text)?;
        ring::signature::UnparsedPublicKey::new(&ring::signature::ED25519, &self.bytes.0)
            .verify(text.as_bytes(), &signature.0)
            .map_err(|_| Error::BadSignature("note"))
    }

    /// Verifies a signed object over its exact bytes and returns its value.
    pub fn verify_object<'a, T: SignedBody>(&self, signed: &'a Signed<T>) -> Result<&'a T, Error> {
        self.verify(signed.label(), signed.body(), signed.signature(), T::NAME)?;
        Ok(signed.unverified())
    }
}

fn check_note_text(text: &str) -> Result<(), Error> {
    if text.bytes().any(|b| (b < 0x20 && b != b'\n') || b == 0x7f) {
        return Err(Error::UnsignableNoteText);
    }
    Ok(())
}

/// `label ‖ 0x00 ‖ message`.
fn labeled(label: SignatureLabel, message: &[u8]) -> Vec<u8> {
    let mut m = Vec::with_capacity(label.as_bytes().len() + 1 + message.len());
    m.extend_from_slice(label.as_bytes());
    m.push(0);
    m.extend_from_slice(message);
    m
}

#[cfg(test)]
mod tests {
    use tally_wire::label;

    use super::*;

    #[test]
    fn rfc8032_test_1() {
        // RFC 8032, section 7.1, TEST 1: the public key of the all-known seed.
        let seed: [u8; 32] = tally_testkit::unhex("9d61b19deffd5a60ba844af492ec2cc44449c5697b326919703bac031cae7f60")
            .try_into()
            .expect("32");
        let key = IdentityKey::from_seed(&seed);
        assert_eq!(key.public_key().to_hex(), "d75a980182b10ab7d54bfed3c964073a0ee172f3daa62325af021a68f707511a");
    }

    #[test]
    fn signatures_are_bound_to_their_label_and_bytes() {
        let key = IdentityKey::from_seed(&[7; 32]);
        let v = IdentityVerifier::new(&key.public_key()).expect("valid key");
        let sig = key.sign(label::GRANT, b"body");
        assert!(v.verify(label::GRANT, b"body", &sig, "t").is_ok());
        assert!(v.verify(label::RECEIPT, b"body", &sig, "t").is_err(), "another label");
        assert!(v.verify(label::GRANT, b"bodY", &sig, "t").is_err(), "another message");
        let other = IdentityVerifier::new(&IdentityKey::from_seed(&[8; 32]).public_key()).expect("valid key");
        assert!(other.verify(label::GRANT, b"body", &sig, "t").is_err(), "another key");
    }

    #[test]
    fn malleated_signature_is_rejected() {
        // Adding the group order L to S gives a signature that non-strict
        // verifiers accept; verify_strict must not.
        const L: [u8; 32] = [
            0xed, 0xd3, 0xf5, 0x5c, 0x1a, 0x63, 0x12, 0x58, 0xd6, 0x9c, 0xf7, 0xa2, 0xde, 0xf9, 0xde, 0x14, 0, 0, 0, 0,
            0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0x10,
        ];
        let key = IdentityKey::from_seed(&[9; 32]);
        let v = IdentityVerifier::new(&key.public_key()).expect("valid key");
        let mut sig = key.sign(label::GRANT, b"m");
        let mut carry = 0u16;
        for (s, l) in sig.0[32..].iter_mut().zip(L) {
            let sum = u16::from(*s) + u16::from(l) + carry;
            *s = sum as u8;
            carry = sum >> 8;
        }
        assert!(v.verify(label::GRANT, b"m", &sig, "t").is_err());
    }

    #[test]
    fn weak_keys_are_refused() {
        // The identity point (order 1) and a point of order 8.
        let mut identity = [0u8; 32];
        identity[0] = 1;
        assert!(matches!(IdentityVerifier::new(&IdentityPublicKey(identity)), Err(Error::InvalidKey(_))));
        let order8: [u8; 32] = tally_testkit::unhex("c7176a703d4dd84fba3c0b760d10670f2a2053fa2c39ccc64ec7fd7792ac037a")
            .try_into()
            .expect("32");
        assert!(matches!(IdentityVerifier::new(&IdentityPublicKey(order8)), Err(Error::InvalidKey(_))));
    }

    #[test]
    fn an_ed25519_spki_gives_its_key_and_nothing_else_does() {
        let key = IdentityKey::from_seed(&[5; 32]);
        let mut spki = vec![0x30, 0x2a, 0x30, 0x05, 0x06, 0x03, 0x2b, 0x65, 0x70, 0x03, 0x21, 0x00];
        spki.extend_from_slice(&key.public_key().0);
        assert_eq!(IdentityVerifier::from_spki(&spki).expect("an Ed25519 SPKI").public_key(), &key.public_key());
        for bad in [&spki[..spki.len() - 1], &[spki.as_slice(), &[0]].concat(), &spki[1..]] {
            assert!(IdentityVerifier::from_spki(bad).is_err());
        }
        let mut other_algorithm = spki.clone();
        other_algorithm[8] = 0x71; // Ed448's OID arc
        assert!(IdentityVerifier::from_spki(&other_algorithm).is_err());
    }

    #[test]
    fn pkcs8_from_ring_round_trips() {
        let rng = ring::rand::SystemRandom::new();
        let doc = ring::signature::Ed25519KeyPair::generate_pkcs8(&rng).expect("generates");
        let pair = ring::signature::Ed25519KeyPair::from_pkcs8(doc.as_ref()).expect("parses");
        let key = IdentityKey::from_pkcs8(doc.as_ref()).expect("our parser accepts ring's PKCS#8");
        use ring::signature::KeyPair;
        assert_eq!(key.public_key().0, pair.public_key().as_ref());
        assert!(IdentityKey::from_pkcs8(&doc.as_ref()[..40]).is_err());
        let mut bad = doc.as_ref().to_vec();
        bad[82] ^= 1;
        assert!(IdentityKey::from_pkcs8(&bad).is_err(), "mismatched public key");
    }

    #[test]
    fn debug_shows_no_secret() {
        let key = IdentityKey::from_seed(&[0xab; 32]);
        let shown = format!("{key:?}");
        assert!(!shown.contains(&"ab".repeat(8)), "{shown}");
        assert!(shown.contains(&key.public_key().to_hex()));
    }
}
