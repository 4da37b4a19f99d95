//! KEM public keys and encapsulated keys, of either KEM (spec/wire.md,
//! "KEM keys and encapsulated keys").
//!
//! On the wire each is an enum: a varint variant index (0 for
//! DHKEM(X25519), 1 for X-Wing) and then the key's fixed-size bytes. The
//! packet's suite names the KEM too; a key or encapsulated key of the other
//! KEM is refused where it is used.

use std::fmt;

use serde::{Deserialize, Serialize};

use crate::bytes::{X25519PublicKey, XWingCiphertext, XWingPublicKey, hex_encode};
use crate::codepoint::{SuiteId, SuiteLevel};

/// A key encapsulation mechanism of spec/envelope.md.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Kem {
    /// DHKEM(X25519, HKDF-SHA256) (RFC 9180), HPKE KEM id 0x0020: classical.
    X25519,
    /// X-Wing (draft-connolly-cfrg-xwing-kem: ML-KEM-768 with X25519), HPKE
    /// KEM id 0x647a: a post-quantum hybrid.
    XWing,
}

impl Kem {
    /// The HPKE KEM id (RFC 9180, section 7.1; X-Wing's draft).
    pub const fn hpke_id(self) -> u16 {
        match self {
            Self::X25519 => 0x0020,
            Self::XWing => 0x647a,
        }
    }

    /// What the KEM resists: classical only, or also a quantum computer.
    pub const fn level(self) -> SuiteLevel {
        match self {
            Self::X25519 => SuiteLevel::CLASSICAL,
            Self::XWing => SuiteLevel::POST_QUANTUM,
        }
    }

    /// Its name in files and messages: `X25519` or `X-Wing`.
    pub const fn name(self) -> &'static str {
        match self {
            Self::X25519 => "X25519",
            Self::XWing => "X-Wing",
        }
    }
}

impl fmt::Display for Kem {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

impl SuiteId {
    /// The KEM of a known suite; `None` for an unknown one.
    pub fn kem(self) -> Option<Kem> {
        match self {
            Self::X25519_SHA256_AES256GCM | Self::X25519_SHA256_CHACHA20POLY1305 => Some(Kem::X25519),
            Self::XWING_SHA256_AES256GCM | Self::XWING_SHA256_CHACHA20POLY1305 => Some(Kem::XWing),
            _ => None,
        }
    }

    /// The level of a known suite (its KEM's); `None` for an unknown one.
    pub fn level(self) -> Option<SuiteLevel> {
        self.kem().map(Kem::level)
    }
}

/// An agency's KEM public key, certified in the directory (spec/keys.md).
#[derive(Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum KemPublicKey {
    /// A DHKEM(X25519) key (wire variant 0).
    X25519(X25519PublicKey),
    /// An X-Wing encapsulation key (wire variant 1).
    XWing(Box<XWingPublicKey>),
}

impl KemPublicKey {
    /// The key's KEM.
    pub fn kem(&self) -> Kem {
        match self {
            Self::X25519(_) => Kem::X25519,
            Self::XWing(_) => Kem::XWing,
        }
    }

    /// The key's bytes (`SerializePublicKey`), without the variant index.
    pub fn as_bytes(&self) -> &[u8] {
        match self {
            Self::X25519(k) => k.as_bytes(),
            Self::XWing(k) => k.as_bytes(),
        }
    }
}

/// The HPKE encapsulated key `enc` of a packet: the sender's ephemeral
/// X25519 public key, or an X-Wing ciphertext.
#[derive(Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum EncapsulatedKey {
    /// DHKEM(X25519): 32 bytes (wire variant 0).
    X25519(X25519PublicKey),
    /// X-Wing: 1120 bytes (wire variant 1).
    XWing(Box<XWingCiphertext>),
}

impl EncapsulatedKey {
    /// The KEM it belongs to.
    pub fn kem(&self) -> Kem {
        match self {
            Self::X25519(_) => Kem::X25519,
            Self::XWing(_) => Kem::XWing,
        }
    }

    /// Its bytes (`enc`), without the variant index.
    pub fn as_bytes(&self) -> &[u8] {
        match self {
            Self::X25519(k) => k.as_bytes(),
            Self::XWing(k) => k.as_bytes(),
        }
    }
}

macro_rules! show_kem_bytes {
    ($name:ident) => {
        impl fmt::Debug for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                write!(f, concat!(stringify!($name), "({}, {})"), self.kem(), hex_encode(self.as_bytes()))
            }
        }

        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                write!(f, "{}:{}", self.kem(), hex_encode(self.as_bytes()))
            }
        }
    };
}

show_kem_bytes!(KemPublicKey);
show_kem_bytes!(EncapsulatedKey);

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_variant_index_precedes_the_fixed_bytes() {
        let x = crate::to_bytes(&KemPublicKey::X25519(X25519PublicKey([7; 32])));
        assert_eq!(x.len(), 33);
        assert_eq!((x[0], x[1]), (0, 7));
        let w = crate::to_bytes(&EncapsulatedKey::XWing(Box::new(XWingCiphertext([9; 1120]))));
        assert_eq!(w.len(), 1121);
        assert_eq!((w[0], w[1]), (1, 9));
        let back: EncapsulatedKey = crate::from_bytes(&w, "EncapsulatedKey").expect("decodes");
        assert_eq!(back.kem(), Kem::XWing);
        // A variant index no version names is an error, not a guess.
        let mut bad = x.clone();
        bad[0] = 2;
        assert!(crate::from_bytes::<KemPublicKey>(&bad, "KemPublicKey").is_err());
        // An X-Wing variant cut short does not decode.
        assert!(crate::from_bytes::<EncapsulatedKey>(&w[..1000], "EncapsulatedKey").is_err());
    }

    #[test]
    fn every_known_suite_has_a_kem_and_a_level() {
        for suite in SuiteId::KNOWN {
            assert!(suite.kem().is_some(), "{suite}");
        }
        assert_eq!(SuiteId::XWING_SHA256_AES256GCM.level(), Some(SuiteLevel::POST_QUANTUM));
        assert_eq!(SuiteId::X25519_SHA256_AES256GCM.level(), Some(SuiteLevel::CLASSICAL));
        assert_eq!(SuiteId(0x7777).level(), None);
    }
}
