//! DHKEM(X25519, HKDF-SHA256) (RFC 9180, section 4.1), on x25519-dalek.
//!
//! ring's agreement API only has ephemeral keys; a recipient's KEM key is
//! static, so X25519 comes from x25519-dalek's `StaticSecret`, which
//! zeroizes on drop.

use x25519_dalek::{PublicKey, StaticSecret};
use zeroize::Zeroizing;

use super::kdf::{labeled_expand, labeled_extract};
use super::{KEM_ID, N_ENC};
use crate::error::HpkeError;

/// `suite_id = "KEM" ‖ I2OSP(kem_id, 2)`.
fn suite_id() -> [u8; 5] {
    let mut id = *b"KEM\0\0";
    id[3..].copy_from_slice(&KEM_ID.to_be_bytes());
    id
}

/// An X25519 private key. Not `Clone`; zeroized on drop; its `Debug` shows only the public key.
pub struct KemPrivateKey(StaticSecret);

impl KemPrivateKey {
    /// The key with these 32 bytes (clamped by X25519 when used).
    pub fn from_bytes(bytes: [u8; 32]) -> Self {
        Self(StaticSecret::from(bytes))
    }

    /// `SerializePublicKey(pk(sk))`.
    pub fn public_key(&self) -> [u8; 32] {
        PublicKey::from(&self.0).to_bytes()
    }

    /// The private key's bytes, for writing a key file.
    pub(crate) fn to_bytes(&self) -> Zeroizing<[u8; 32]> {
        Zeroizing::new(self.0.to_bytes())
    }

    /// `DH(sk, pk)`; an all-zero output (a small-order `pk`) is an error.
    fn dh(&self, pk: &[u8; 32]) -> Result<Zeroizing<[u8; 32]>, HpkeError> {
        let shared = self.0.diffie_hellman(&PublicKey::from(*pk));
        if !shared.was_contributory() {
            return Err(HpkeError::ZeroSharedSecret);
        }
        Ok(Zeroizing::new(shared.to_bytes()))
    }
}

impl std::fmt::Debug for KemPrivateKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "KemPrivateKey(public: {})", crate::hex(&self.public_key()))
    }
}

/// `DeriveKeyPair(ikm)`: `dkp_prk = LabeledExtract("", "dkp_prk", ikm)`,
/// `sk = LabeledExpand(dkp_prk, "sk", "", 32)`.
pub fn derive_key_pair(ikm: &[u8]) -> KemPrivateKey {
    let sid = suite_id();
    let dkp_prk = labeled_extract(&sid, b"", b"dkp_prk", ikm);
    let mut sk = Zeroizing::new([0u8; 32]);
    labeled_expand(&sid, &dkp_prk, b"sk", b"", &mut *sk).expect("32 bytes is a valid HKDF-SHA256 output length");
    KemPrivateKey::from_bytes(*sk)
}

/// `ExtractAndExpand(dh, kem_context)`.
fn extract_and_expand(dh: &[u8], kem_context: &[u8]) -> Result<Zeroizing<[u8; 32]>, HpkeError> {
    let sid = suite_id();
    let eae_prk = labeled_extract(&sid, b"", b"eae_prk", dh);
    let mut shared = Zeroizing::new([0u8; 32]);
    labeled_expand(&sid, &eae_prk, b"shared_secret", kem_context, &mut *shared)?;
    Ok(shared)
}

/// `Encap(pkR)` with the ephemeral key `sk_e`, or `AuthEncap(pkR, skS)`
/// when `sk_s` is given. Returns the shared secret and `enc`.
pub(crate) fn encap(
    sk_e: &KemPrivateKey,
    pk_r: &[u8; 32],
    sk_s: Option<&KemPrivateKey>,
) -> Result<(Zeroizing<[u8; 32]>, [u8; N_ENC]), HpkeError> {
    let enc = sk_e.public_key();
    let mut dh = Zeroizing::new(Vec::with_capacity(64));
    dh.extend_from_slice(&*sk_e.dh(pk_r)?);
    let mut kem_context = Vec::with_capacity(96);
    kem_context.extend_from_slice(&enc);
    kem_context.extend_from_slice(pk_r);
    if let Some(sk_s) = sk_s {
        dh.extend_from_slice(&*sk_s.dh(pk_r)?);
        kem_context.extend_from_slice(&sk_s.public_key());
    }
    Ok((extract_and_expand(&dh, &kem_context)?, enc))
}

/// `Decap(enc, skR)`, or `AuthDecap(enc, skR, pkS)` when `pk_s` is given.
pub(crate) fn decap(
    enc: &[u8; N_ENC],
    sk_r: &KemPrivateKey,
    pk_s: Option<&[u8; 32]>,
) -> Result<Zeroizing<[u8; 32]>, HpkeError> {
    let mut dh = Zeroizing::new(Vec::with_capacity(64));
    dh.extend_from_slice(&*sk_r.dh(enc)?);
    let mut kem_context = Vec::with_capacity(96);
    kem_context.extend_from_slice(enc);
    kem_context.extend_from_slice(&sk_r.public_key());
    if let Some(pk_s) = pk_s {
        dh.extend_from_slice(&*sk_r.dh(pk_s)?);
        kem_context.extend_from_slice(pk_s);
    }
    extract_and_expand(&dh, &kem_context)
}
