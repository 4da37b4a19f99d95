//! Every domain-separation label of the protocol, one constant each
//! (spec/README.md, "Domain separation").
//!
//! A signature or hash is always taken over `label ‖ 0x00 ‖ message`:
//!
//! ```text
//! Sign(label, m)   = Ed25519.Sign(sk, label ‖ 0x00 ‖ m)
//! H(label, m)      = SHA-256(label ‖ 0x00 ‖ m)
//! ```
//!
//! Labels are ASCII without NUL, so `label ‖ 0x00` is prefix-free: no
//! message signed under one label is a message signed under another. The
//! label types have no public constructor, so only these constants exist.

use std::fmt;

/// A label for signatures by an agency's identity key.
#[derive(Clone, Copy, PartialEq, Eq, Hash)]
pub struct SignatureLabel(&'static str);

/// A label for SHA-256 digests, HMAC keys and HPKE exports.
#[derive(Clone, Copy, PartialEq, Eq, Hash)]
pub struct HashLabel(&'static str);

macro_rules! labels {
    ($ty:ident: $( $(#[$meta:meta])* $name:ident = $value:literal, )*) => {
        $( $(#[$meta])* pub const $name: $ty = $ty($value); )*

        impl $ty {
            /// Every label of this kind.
            pub const ALL: &'static [$ty] = &[$($name),*];

            /// The label's bytes (without the 0x00 separator).
            pub const fn as_bytes(self) -> &'static [u8] {
                self.0.as_bytes()
            }

            /// The label as text.
            pub const fn as_str(self) -> &'static str {
                self.0
            }
        }

        impl fmt::Debug for $ty {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                write!(f, concat!(stringify!($ty), "({:?})"), self.0)
            }
        }
    };
}

labels! { SignatureLabel:
    /// The sender's signature over a packet's transcript, carried in the trailer (spec/envelope.md).
    PACKET_TRAILER = "tally/v1/sig/packet-trailer",
    /// A grant, signed by its issuer (spec/grants.md).
    GRANT = "tally/v1/sig/grant",
    /// A revocation, signed by the issuer of the revoked grant or an ancestor.
    REVOCATION = "tally/v1/sig/revocation",
    /// A receipt or rejection, signed by the recipient (spec/receipts.md).
    RECEIPT = "tally/v1/sig/receipt",
    /// A KEM key certificate, signed by the agency's identity key (spec/keys.md).
    KEM_KEY_CERTIFICATE = "tally/v1/sig/kem-key-certificate",
    /// The federation directory, signed by the operator.
    DIRECTORY = "tally/v1/sig/directory",
    /// A pull request, signed by the requester.
    PULL_REQUEST = "tally/v1/sig/pull-request",
    /// An agency's registration, signed by its identity key and by its TLS key (spec/keys.md).
    REGISTRATION = "tally/v1/sig/registration",
}

labels! { HashLabel:
    /// A grant's id: `H(GRANT_ID, signed grant bytes)`.
    GRANT_ID = "tally/v1/hash/grant-id",
    /// A packet header's digest, the HPKE `info` of the packet.
    HEADER_DIGEST = "tally/v1/hash/header",
    /// A KEM key's id: `H(KEM_KEY_ID, public key)`.
    KEM_KEY_ID = "tally/v1/hash/kem-key-id",
    /// The ciphertext fingerprint of a packet (spec/envelope.md).
    CIPHERTEXT_FINGERPRINT = "tally/v1/hash/ciphertext",
    /// The digest of a pull request, which a receipt refusing it names (spec/protocol.md, "Pull").
    PULL_REQUEST_DIGEST = "tally/v1/hash/pull-request",
    /// The HPKE export context of the content-commitment key.
    CONTENT_COMMITMENT = "tally/v1/export/content-commitment",
    /// A payload's digest, from which a send id is derived (spec/api.md, "Sends").
    PAYLOAD_DIGEST = "tally/v1/hash/payload",
    /// A send id derived from a send's flow and payload digest (spec/api.md, "Sends").
    SEND_ID = "tally/v1/hash/send-id",
    /// A node's QUIC stateless-reset key, derived from its TLS private key (spec/transport.md).
    STATELESS_RESET_KEY = "tally/v1/hash/stateless-reset-key",
    /// A node's QUIC connection-id key (its first 8 bytes), derived from its TLS private key (spec/transport.md).
    CONNECTION_ID_KEY = "tally/v1/hash/connection-id-key",
}

#[cfg(test)]
mod tests {
    use std::collections::HashSet;

    use super::*;

    #[test]
    fn labels_are_unique_ascii_without_nul() {
        let all: Vec<&str> =
            SignatureLabel::ALL.iter().map(|l| l.as_str()).chain(HashLabel::ALL.iter().map(|l| l.as_str())).collect();
        let unique: HashSet<&str> = all.iter().copied().collect();
        assert_eq!(unique.len(), all.len(), "duplicate label");
        for l in all {
            assert!(l.starts_with("tally/v1/"), "{l}");
            assert!(l.bytes().all(|b| b.is_ascii_graphic()), "{l}");
        }
    }
}
