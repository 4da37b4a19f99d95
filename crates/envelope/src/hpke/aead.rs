//! The AEADs, on ring (RFC 9180, section 7.3).

use ring::aead::{self, Aad, LessSafeKey, Nonce, UnboundKey};

use crate::error::HpkeError;

/// An HPKE AEAD.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Aead {
    /// AES-128-GCM (0x0001).
    Aes128Gcm,
    /// AES-256-GCM (0x0002).
    Aes256Gcm,
    /// ChaCha20-Poly1305 (0x0003).
    ChaCha20Poly1305,
    /// Export-only (0xFFFF): the context can export secrets but not seal.
    ExportOnly,
}

impl Aead {
    /// The AEAD's id.
    pub fn id(self) -> u16 {
        match self {
            Self::Aes128Gcm => 0x0001,
            Self::Aes256Gcm => 0x0002,
            Self::ChaCha20Poly1305 => 0x0003,
            Self::ExportOnly => 0xffff,
        }
    }

    /// The AEAD with this id.
    pub fn from_id(id: u16) -> Option<Self> {
        [Self::Aes128Gcm, Self::Aes256Gcm, Self::ChaCha20Poly1305, Self::ExportOnly].into_iter().find(|a| a.id() == id)
    }

    /// `Nk`.
    pub(crate) fn key_len(self) -> usize {
        match self {
            Self::Aes128Gcm => 16,
            Self::Aes256Gcm | Self::ChaCha20Poly1305 => 32,
            Self::ExportOnly => 0,
        }
    }

    fn ring_algorithm(self) -> Option<&'static aead::Algorithm> {
        match self {
            Self::Aes128Gcm => Some(&aead::AES_128_GCM),
            Self::Aes256Gcm => Some(&aead::AES_256_GCM),
            Self::ChaCha20Poly1305 => Some(&aead::CHACHA20_POLY1305),
            Self::ExportOnly => None,
        }
    }
}

/// An AEAD key whose nonces come from the HPKE context, never from the caller.
///
/// ring's `LessSafeKey` is the right type here: HPKE's `ComputeNonce`
/// makes every nonce unique for the key, and it is the only source of nonces.
pub(crate) struct Key(LessSafeKey);

impl Key {
    pub(crate) fn new(aead: Aead, key: &[u8]) -> Result<Self, HpkeError> {
        let alg = aead.ring_algorithm().ok_or(HpkeError::ExportOnly)?;
        let unbound = UnboundKey::new(alg, key).map_err(|_| HpkeError::InvalidKey)?;
        Ok(Self(LessSafeKey::new(unbound)))
    }

    pub(crate) fn seal(&self, nonce: [u8; 12], aad: &[u8], in_out: &mut [u8]) -> Result<[u8; 16], HpkeError> {
        let tag = self
            .0
            .seal_in_place_separate_tag(Nonce::assume_unique_for_key(nonce), Aad::from(aad), in_out)
            .map_err(|_| HpkeError::MessageLimitReached)?;
        let mut out = [0u8; 16];
        out.copy_from_slice(tag.as_ref());
        Ok(out)
    }

    pub(crate) fn open<'b>(
        &self,
        nonce: [u8; 12],
        aad: &[u8],
        in_out: &'b mut [u8],
    ) -> Result<&'b mut [u8], HpkeError> {
        self.0
            .open_in_place(Nonce::assume_unique_for_key(nonce), Aad::from(aad), in_out)
            .map_err(|_| HpkeError::OpenFailed)
    }
}
