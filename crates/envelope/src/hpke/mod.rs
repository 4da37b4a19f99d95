//! HPKE (RFC 9180) on ring and x25519-dalek: DHKEM(X25519, HKDF-SHA256),
//! HKDF-SHA256, and the AEADs AES-128-GCM, AES-256-GCM, ChaCha20-Poly1305
//! and export-only; modes base, psk, auth and auth_psk; single-shot and
//! context APIs; the secret export interface. Beside DHKEM, the X-Wing KEM
//! ([`xwing`], KEM id 0x647a, on RustCrypto's `x-wing`) in base mode.
//!
//! Names follow RFC 9180: `SetupBaseS` is [`setup_sender`] with
//! [`ModeKeys::Base`], `Seal` is [`SenderContext::seal`], and so on.
//! Every entry of the RFC's test vectors for this KEM and KDF passes (see
//! the tests of this module).

mod aead;
mod kdf;
mod kem;
pub mod xwing;

use ring::rand::SecureRandom;
use zeroize::Zeroizing;

pub use self::aead::Aead;
use self::kdf::{labeled_expand, labeled_extract};
pub use self::kem::{KemPrivateKey, derive_key_pair};
use crate::error::HpkeError;
pub use tally_wire::Kem;

/// The KEM's id: DHKEM(X25519, HKDF-SHA256).
pub const KEM_ID: u16 = 0x0020;
/// The KDF's id: HKDF-SHA256.
pub const KDF_ID: u16 = 0x0001;
/// `Nenc`, `Npk`: the length of an encapsulated key and of a public key.
pub const N_ENC: usize = 32;
/// `Nh`: the KDF's output length.
const N_H: usize = 32;

/// The HPKE suite: one of the KEMs, HKDF-SHA256, and one of the AEADs.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Suite {
    /// The KEM: DHKEM(X25519) for the functions of this module, X-Wing for [`xwing`]'s.
    pub kem: Kem,
    /// The AEAD.
    pub aead: Aead,
}

impl Suite {
    /// `suite_id = "HPKE" ‖ I2OSP(kem_id, 2) ‖ I2OSP(kdf_id, 2) ‖ I2OSP(aead_id, 2)`.
    fn id(self) -> [u8; 10] {
        let mut id = *b"HPKE\0\0\0\0\0\0";
        id[4..6].copy_from_slice(&self.kem.hpke_id().to_be_bytes());
        id[6..8].copy_from_slice(&KDF_ID.to_be_bytes());
        id[8..10].copy_from_slice(&self.aead.id().to_be_bytes());
        id
    }

    /// An error unless the suite's KEM is `key`'s.
    fn expect_kem(self, key: Kem) -> Result<(), HpkeError> {
        if self.kem == key { Ok(()) } else { Err(HpkeError::WrongKem { suite: self.kem, key }) }
    }
}

/// The mode and the keys it adds (RFC 9180, section 5.1).
pub enum ModeKeys<'a> {
    /// `mode_base`.
    Base,
    /// `mode_psk`: a pre-shared key and its id.
    Psk {
        /// The pre-shared key (at least 32 bytes recommended).
        psk: &'a [u8],
        /// Its id.
        psk_id: &'a [u8],
    },
    /// `mode_auth`: the sender's static key (for the sender) or public key (for the receiver).
    Auth(AuthKey<'a>),
    /// `mode_auth_psk`.
    AuthPsk {
        /// The sender's key.
        auth: AuthKey<'a>,
        /// The pre-shared key.
        psk: &'a [u8],
        /// Its id.
        psk_id: &'a [u8],
    },
}

/// The sender's static key in an authenticated mode.
#[derive(Clone, Copy)]
pub enum AuthKey<'a> {
    /// On the sender's side: its private key.
    Private(&'a KemPrivateKey),
    /// On the receiver's side: the sender's public key.
    Public(&'a [u8; 32]),
}

impl ModeKeys<'_> {
    fn mode(&self) -> u8 {
        match self {
            Self::Base => 0,
            Self::Psk { .. } => 1,
            Self::Auth(_) => 2,
            Self::AuthPsk { .. } => 3,
        }
    }

    fn psk(&self) -> (&[u8], &[u8]) {
        match self {
            Self::Psk { psk, psk_id } | Self::AuthPsk { psk, psk_id, .. } => (psk, psk_id),
            Self::Base | Self::Auth(_) => (&[], &[]),
        }
    }

    fn auth(&self) -> Option<AuthKey<'_>> {
        match self {
            Self::Auth(a) | Self::AuthPsk { auth: a, .. } => Some(*a),
            Self::Base | Self::Psk { .. } => None,
        }
    }
}

/// The output of `KeySchedule`: the AEAD key, the base nonce and the exporter secret.
pub(crate) struct KeySchedule {
    pub(crate) key: Zeroizing<Vec<u8>>,
    pub(crate) base_nonce: [u8; 12],
    pub(crate) exporter_secret: Zeroizing<[u8; N_H]>,
    #[cfg(test)]
    pub(crate) key_schedule_context: Vec<u8>,
    #[cfg(test)]
    pub(crate) secret: Zeroizing<[u8; N_H]>,
}

/// `KeySchedule<ROLE>(mode, shared_secret, info, psk, psk_id)` (RFC 9180, section 5.1).
pub(crate) fn key_schedule(
    suite: Suite,
    mode: &ModeKeys<'_>,
    shared_secret: &[u8],
    info: &[u8],
) -> Result<KeySchedule, HpkeError> {
    let (psk, psk_id) = mode.psk();
    // VerifyPSKInputs: a psk and its id are given together, and only in the psk modes.
    if psk.is_empty() != psk_id.is_empty() {
        return Err(HpkeError::InconsistentPsk);
    }
    if matches!(mode, ModeKeys::Psk { .. } | ModeKeys::AuthPsk { .. }) && psk.is_empty() {
        return Err(HpkeError::InconsistentPsk);
    }
    let sid = suite.id();
    let psk_id_hash = labeled_extract(&sid, b"", b"psk_id_hash", psk_id);
    let info_hash = labeled_extract(&sid, b"", b"info_hash", info);
    let mut context = Vec::with_capacity(1 + 2 * N_H);
    context.push(mode.mode());
    context.extend_from_slice(&*psk_id_hash);
    context.extend_from_slice(&*info_hash);
    let secret = labeled_extract(&sid, shared_secret, b"secret", psk);

    let mut key = Zeroizing::new(vec![0u8; suite.aead.key_len()]);
    let mut base_nonce = [0u8; 12];
    if suite.aead != Aead::ExportOnly {
        labeled_expand(&sid, &secret, b"key", &context, &mut key)?;
        labeled_expand(&sid, &secret, b"base_nonce", &context, &mut base_nonce)?;
    }
    let mut exporter_secret = Zeroizing::new([0u8; N_H]);
    labeled_expand(&sid, &secret, b"exp", &context, &mut *exporter_secret)?;
    Ok(KeySchedule {
        key,
        base_nonce,
        exporter_secret,
        #[cfg(test)]
        key_schedule_context: context,
        #[cfg(test)]
        secret,
    })
}

/// An HPKE context: the AEAD key, the base nonce, the sequence number and
/// the exporter secret. [`SenderContext`] and [`ReceiverContext`] wrap it
/// so that a sender cannot open and a receiver cannot seal.
struct Context {
    suite: Suite,
    key: Option<aead::Key>,
    base_nonce: [u8; 12],
    seq: u64,
    exporter_secret: Zeroizing<[u8; N_H]>,
}

impl Context {
    fn new(suite: Suite, ks: KeySchedule) -> Result<Self, HpkeError> {
        let key = match suite.aead {
            Aead::ExportOnly => None,
            aead => Some(aead::Key::new(aead, &ks.key)?),
        };
        Ok(Self { suite, key, base_nonce: ks.base_nonce, seq: 0, exporter_secret: ks.exporter_secret })
    }

    /// `ComputeNonce(seq)` and `IncrementSeq()`: the sequence number is a
    /// u64 and may never wrap (RFC 9180 allows up to 2^96 − 1; a u64 is
    /// never reached in practice, and reaching it is an error, not a wrap).
    fn next_nonce(&mut self) -> Result<[u8; 12], HpkeError> {
        let nonce = self.nonce()?;
        self.increment_seq();
        Ok(nonce)
    }

    /// `ComputeNonce(seq)` alone, for an open: RFC 9180 §5.2 increments the
    /// sequence number only after the open succeeded.
    fn nonce(&self) -> Result<[u8; 12], HpkeError> {
        // The increment after this nonce must not wrap.
        self.seq.checked_add(1).ok_or(HpkeError::MessageLimitReached)?;
        let mut nonce = self.base_nonce;
        for (n, s) in nonce[4..].iter_mut().zip(self.seq.to_be_bytes()) {
            *n ^= s;
        }
        Ok(nonce)
    }

    /// `IncrementSeq()`, after [`nonce`](Self::nonce) checked that it cannot wrap.
    fn increment_seq(&mut self) {
        self.seq = self.seq.saturating_add(1);
    }

    fn key(&self) -> Result<&aead::Key, HpkeError> {
        self.key.as_ref().ok_or(HpkeError::ExportOnly)
    }

    fn export(&self, exporter_context: &[u8], out: &mut [u8]) -> Result<(), HpkeError> {
        if out.len() > 255 * N_H {
            return Err(HpkeError::ExportTooLong);
        }
        labeled_expand(&self.suite.id(), &self.exporter_secret, b"sec", exporter_context, out)
    }
}

/// The sender's side of an HPKE context.
pub struct SenderContext(Context);

/// The receiver's side of an HPKE context.
pub struct ReceiverContext(Context);

impl SenderContext {
    /// `ContextS.Seal(aad, pt)`: seals `in_out` in place and appends the tag.
    pub fn seal_in_place(&mut self, aad: &[u8], in_out: &mut Vec<u8>) -> Result<(), HpkeError> {
        let tag = self.seal_in_place_separate_tag(aad, in_out)?;
        in_out.extend_from_slice(&tag);
        Ok(())
    }

    /// Seals `in_out` in place and returns the 16-byte tag.
    pub fn seal_in_place_separate_tag(&mut self, aad: &[u8], in_out: &mut [u8]) -> Result<[u8; 16], HpkeError> {
        self.0.key()?;
        let nonce = self.0.next_nonce()?;
        self.0.key()?.seal(nonce, aad, in_out)
    }

    /// `ContextS.Seal(aad, pt)`, returning the ciphertext.
    pub fn seal(&mut self, aad: &[u8], pt: &[u8]) -> Result<Vec<u8>, HpkeError> {
        let mut buf = Vec::with_capacity(pt.len() + 16);
        buf.extend_from_slice(pt);
        self.seal_in_place(aad, &mut buf)?;
        Ok(buf)
    }

    /// `Context.Export(exporter_context, L)` into `out` (L = `out.len()`).
    pub fn export(&self, exporter_context: &[u8], out: &mut [u8]) -> Result<(), HpkeError> {
        self.0.export(exporter_context, out)
    }

    /// The sequence number of the next message.
    pub fn seq(&self) -> u64 {
        self.0.seq
    }
}

impl ReceiverContext {
    /// `ContextR.Open(aad, ct)` in place: `in_out` is ciphertext and tag;
    /// returns the plaintext, a prefix of `in_out`.
    ///
    /// A failed open leaves the sequence number where it was (RFC 9180
    /// §5.2), so the genuine next ciphertext still opens after a forged one.
    pub fn open_in_place<'b>(&mut self, aad: &[u8], in_out: &'b mut [u8]) -> Result<&'b mut [u8], HpkeError> {
        let nonce = self.0.nonce()?;
        let plaintext = self.0.key()?.open(nonce, aad, in_out)?;
        self.0.increment_seq();
        Ok(plaintext)
    }

    /// The sequence number of the next message.
    pub fn seq(&self) -> u64 {
        self.0.seq
    }

    /// `ContextR.Open(aad, ct)`, returning the plaintext.
    pub fn open(&mut self, aad: &[u8], ct: &[u8]) -> Result<Vec<u8>, HpkeError> {
        let mut buf = ct.to_vec();
        let len = self.open_in_place(aad, &mut buf)?.len();
        buf.truncate(len);
        Ok(buf)
    }

    /// `Context.Export(exporter_context, L)` into `out` (L = `out.len()`).
    pub fn export(&self, exporter_context: &[u8], out: &mut [u8]) -> Result<(), HpkeError> {
        self.0.export(exporter_context, out)
    }
}

/// `SetupBaseS`/`SetupPSKS`/`SetupAuthS`/`SetupAuthPSKS`: encapsulates to
/// `pk_r` with a fresh ephemeral key from `rng`; returns `enc` and the context.
pub fn setup_sender(
    suite: Suite,
    pk_r: &[u8; 32],
    info: &[u8],
    mode: &ModeKeys<'_>,
    rng: &dyn SecureRandom,
) -> Result<([u8; N_ENC], SenderContext), HpkeError> {
    let mut ikm = Zeroizing::new([0u8; 32]);
    rng.fill(&mut *ikm).map_err(|_| HpkeError::Random)?;
    let sk_e = KemPrivateKey::from_bytes(*ikm);
    setup_sender_with_ephemeral(suite, pk_r, info, mode, sk_e)
}

/// [`setup_sender`] with a given ephemeral key. Reusing an ephemeral key
/// breaks HPKE's security; this exists for test vectors only (feature
/// `test-vectors`; never in a release build).
#[cfg(any(test, fuzzing, feature = "test-vectors"))]
pub fn dangerous_setup_sender_with_ephemeral(
    suite: Suite,
    pk_r: &[u8; 32],
    info: &[u8],
    mode: &ModeKeys<'_>,
    sk_e: KemPrivateKey,
) -> Result<([u8; N_ENC], SenderContext), HpkeError> {
    setup_sender_with_ephemeral(suite, pk_r, info, mode, sk_e)
}

fn setup_sender_with_ephemeral(
    suite: Suite,
    pk_r: &[u8; 32],
    info: &[u8],
    mode: &ModeKeys<'_>,
    sk_e: KemPrivateKey,
) -> Result<([u8; N_ENC], SenderContext), HpkeError> {
    suite.expect_kem(Kem::X25519)?;
    let sk_s = match mode.auth() {
        None => None,
        Some(AuthKey::Private(sk)) => Some(sk),
        Some(AuthKey::Public(_)) => return Err(HpkeError::WrongAuthKey),
    };
    let (shared_secret, enc) = kem::encap(&sk_e, pk_r, sk_s)?;
    let ks = key_schedule(suite, mode, &*shared_secret, info)?;
    Ok((enc, SenderContext(Context::new(suite, ks)?)))
}

/// `SetupBaseR`/`SetupPSKR`/`SetupAuthR`/`SetupAuthPSKR`.
pub fn setup_receiver(
    suite: Suite,
    enc: &[u8; N_ENC],
    sk_r: &KemPrivateKey,
    info: &[u8],
    mode: &ModeKeys<'_>,
) -> Result<ReceiverContext, HpkeError> {
    suite.expect_kem(Kem::X25519)?;
    let pk_s = match mode.auth() {
        None => None,
        Some(AuthKey::Public(pk)) => Some(pk),
        Some(AuthKey::Private(_)) => return Err(HpkeError::WrongAuthKey),
    };
    let shared_secret = kem::decap(enc, sk_r, pk_s)?;
    let ks = key_schedule(suite, mode, &*shared_secret, info)?;
    Ok(ReceiverContext(Context::new(suite, ks)?))
}

/// Single-shot `Seal` in base mode: returns `enc` and the ciphertext.
pub fn seal_base(
    suite: Suite,
    pk_r: &[u8; 32],
    info: &[u8],
    aad: &[u8],
    pt: &[u8],
    rng: &dyn SecureRandom,
) -> Result<([u8; N_ENC], Vec<u8>), HpkeError> {
    let (enc, mut ctx) = setup_sender(suite, pk_r, info, &ModeKeys::Base, rng)?;
    Ok((enc, ctx.seal(aad, pt)?))
}

/// Single-shot `Open` in base mode.
pub fn open_base(
    suite: Suite,
    enc: &[u8; N_ENC],
    sk_r: &KemPrivateKey,
    info: &[u8],
    aad: &[u8],
    ct: &[u8],
) -> Result<Vec<u8>, HpkeError> {
    setup_receiver(suite, enc, sk_r, info, &ModeKeys::Base)?.open(aad, ct)
}

#[cfg(test)]
mod tests;
