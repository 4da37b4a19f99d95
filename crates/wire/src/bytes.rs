//! Fixed-size byte strings: ids, digests, keys and signatures
//! (spec/wire.md, "Fixed-size byte strings").
//!
//! On the wire each is its bytes, with no length prefix. In human-readable
//! formats (JSON, TOML) each is a lowercase hex string.

use std::fmt;
use std::str::FromStr;

use serde::de::{self, Deserializer, SeqAccess, Visitor};
use serde::ser::{SerializeTuple, Serializer};
use serde::{Deserialize, Serialize};

use crate::error::InvalidValue;

macro_rules! fixed_bytes {
    ($(#[$meta:meta])* $name:ident, $len:literal) => {
        $(#[$meta])*
        #[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
        pub struct $name(pub [u8; $len]);

        impl $name {
            /// The length in bytes.
            pub const LEN: usize = $len;

            /// The bytes.
            pub const fn as_bytes(&self) -> &[u8; $len] {
                &self.0
            }

            /// The lowercase hex form.
            pub fn to_hex(&self) -> String {
                hex_encode(&self.0)
            }
        }

        impl From<[u8; $len]> for $name {
            fn from(bytes: [u8; $len]) -> Self {
                Self(bytes)
            }
        }

        impl AsRef<[u8]> for $name {
            fn as_ref(&self) -> &[u8] {
                &self.0
            }
        }

        impl fmt::Debug for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                write!(f, concat!(stringify!($name), "({})"), self.to_hex())
            }
        }

        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(&self.to_hex())
            }
        }

        impl FromStr for $name {
            type Err = InvalidValue;
            fn from_str(s: &str) -> Result<Self, InvalidValue> {
                hex_decode::<$len>(s, stringify!($name)).map(Self)
            }
        }

        impl Serialize for $name {
            fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
                serialize_fixed(&self.0, s)
            }
        }

        impl<'de> Deserialize<'de> for $name {
            fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
                deserialize_fixed::<D, $len>(d, stringify!($name)).map(Self)
            }
        }
    };
}

fixed_bytes! {
    /// A packet's id: 16 random bytes chosen by the sender.
    PacketId, 16
}
fixed_bytes! {
    /// A pull request's id: 16 random bytes chosen by the requester.
    RequestId, 16
}
fixed_bytes! {
    /// A grant's id: the digest of its signed bytes (spec/grants.md).
    GrantId, 32
}
fixed_bytes! {
    /// A KEM key's id: a digest of the key (spec/keys.md).
    KeyId, 32
}
fixed_bytes! {
    /// A SHA-256 digest under a domain-separation label.
    Digest, 32
}
fixed_bytes! {
    /// An Ed25519 signature.
    Signature, 64
}
fixed_bytes! {
    /// An Ed25519 public key: an agency's identity key.
    IdentityPublicKey, 32
}
fixed_bytes! {
    /// An X25519 public key: a DHKEM(X25519) KEM key, or the encapsulated
    /// key of a packet sealed to one (the sender's ephemeral public key).
    X25519PublicKey, 32
}
fixed_bytes! {
    /// An X-Wing encapsulation key: the ML-KEM-768 encapsulation key (1184
    /// bytes) followed by the X25519 public key (32 bytes).
    XWingPublicKey, 1216
}
fixed_bytes! {
    /// An X-Wing ciphertext: the ML-KEM-768 ciphertext (1088 bytes) followed
    /// by the X25519 ephemeral public key (32 bytes).
    XWingCiphertext, 1120
}
fixed_bytes! {
    /// A packet's content-commitment key `k_c`, as a party reveals it to an
    /// auditor with the plaintext (spec/envelope.md, "Revealing content").
    /// Secret until revealed: it lets its holder check guesses of the plaintext.
    RevealedKey, 32
}

/// Lowercase hex of `bytes`.
pub(crate) fn hex_encode(bytes: &[u8]) -> String {
    const DIGITS: &[u8; 16] = b"0123456789abcdef";
    let mut s = String::with_capacity(bytes.len() * 2);
    for b in bytes {
        s.push(DIGITS[usize::from(b >> 4)] as char);
        s.push(DIGITS[usize::from(b & 0x0f)] as char);
    }
    s
}

/// Decodes lowercase hex of exactly `N` bytes.
pub(crate) fn hex_decode<const N: usize>(s: &str, kind: &'static str) -> Result<[u8; N], InvalidValue> {
    let raw = s.as_bytes();
    if raw.len() != 2 * N {
        return Err(InvalidValue::new(kind, "hex string has the wrong length"));
    }
    let mut out = [0u8; N];
    for (i, pair) in raw.chunks_exact(2).enumerate() {
        out[i] = (hex_digit(pair[0], kind)? << 4) | hex_digit(pair[1], kind)?;
    }
    Ok(out)
}

/// Decodes lowercase hex of any length.
pub(crate) fn hex_decode_vec(s: &str, kind: &'static str) -> Result<Vec<u8>, InvalidValue> {
    let raw = s.as_bytes();
    if !raw.len().is_multiple_of(2) {
        return Err(InvalidValue::new(kind, "hex string has an odd length"));
    }
    raw.chunks_exact(2).map(|pair| Ok((hex_digit(pair[0], kind)? << 4) | hex_digit(pair[1], kind)?)).collect()
}

fn hex_digit(c: u8, kind: &'static str) -> Result<u8, InvalidValue> {
    match c {
        b'0'..=b'9' => Ok(c - b'0'),
        b'a'..=b'f' => Ok(c - b'a' + 10),
        _ => Err(InvalidValue::new(kind, "not a lowercase hex digit")),
    }
}

fn serialize_fixed<S: Serializer>(bytes: &[u8], s: S) -> Result<S::Ok, S::Error> {
    if s.is_human_readable() {
        return s.serialize_str(&hex_encode(bytes));
    }
    let mut t = s.serialize_tuple(bytes.len())?;
    for b in bytes {
        t.serialize_element(b)?;
    }
    t.end()
}

fn deserialize_fixed<'de, D: Deserializer<'de>, const N: usize>(d: D, kind: &'static str) -> Result<[u8; N], D::Error> {
    struct Fixed<const N: usize>(&'static str);

    impl<'de, const N: usize> Visitor<'de> for Fixed<N> {
        type Value = [u8; N];

        fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
            write!(f, "{} bytes", N)
        }

        fn visit_str<E: de::Error>(self, s: &str) -> Result<[u8; N], E> {
            hex_decode::<N>(s, self.0).map_err(E::custom)
        }

        fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<[u8; N], A::Error> {
            let mut out = [0u8; N];
            for (i, slot) in out.iter_mut().enumerate() {
                *slot = seq.next_element()?.ok_or_else(|| de::Error::invalid_length(i, &self))?;
            }
            Ok(out)
        }
    }

    if d.is_human_readable() { d.deserialize_str(Fixed::<N>(kind)) } else { d.deserialize_tuple(N, Fixed::<N>(kind)) }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hex_round_trips_and_rejects_bad_digits() {
        let id = PacketId([0xab; 16]);
        assert_eq!(id.to_string(), "ab".repeat(16));
        assert_eq!("ab".repeat(16).parse::<PacketId>(), Ok(id));
        assert!("AB".repeat(16).parse::<PacketId>().is_err(), "uppercase is not canonical");
        assert!("ab".repeat(15).parse::<PacketId>().is_err(), "too short");
        assert!("zz".repeat(16).parse::<PacketId>().is_err(), "not hex");
        assert_eq!(hex_decode_vec("00ff", "t"), Ok(vec![0, 0xff]));
        assert!(hex_decode_vec("0", "t").is_err());
    }

    #[test]
    fn fixed_bytes_have_no_length_prefix_on_the_wire() {
        let sig = Signature([7; 64]);
        let bytes = postcard::to_allocvec(&sig).expect("serializes");
        assert_eq!(bytes, vec![7; 64]);
        let back: Signature = postcard::from_bytes(&bytes).expect("deserializes");
        assert_eq!(back, sig);
    }

    #[test]
    fn fixed_bytes_are_hex_in_json() {
        let d = Digest([1; 32]);
        let json = serde_json::to_string(&d).expect("serializes");
        assert_eq!(json, format!("\"{}\"", "01".repeat(32)));
        assert_eq!(serde_json::from_str::<Digest>(&json).expect("deserializes"), d);
    }
}
