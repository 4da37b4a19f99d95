//! Open code points: newtypes over integers with named constants
//! (spec/wire.md, "Code points").
//!
//! An unknown value decodes and is kept, so that the layer that gives it
//! meaning can report it precisely (an unknown suite gets a signed
//! rejection, not a decode failure). [`FrameType`] is the exception in
//! effect: the frame decoder rejects unknown frame types, because it cannot
//! know their limits.

use std::fmt;

use serde::{Deserialize, Serialize};

macro_rules! codepoints {
    (
        $(#[$meta:meta])*
        $name:ident($repr:ty) {
            $( $(#[$cmeta:meta])* $konst:ident = $val:literal, )*
        }
    ) => {
        $(#[$meta])*
        #[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
        #[serde(transparent)]
        pub struct $name(pub $repr);

        impl $name {
            $( $(#[$cmeta])* pub const $konst: Self = Self($val); )*

            /// Every value this version names, in code point order.
            pub const KNOWN: &'static [Self] = &[$(Self::$konst),*];

            /// The constant's name for a known value; `None` for an unknown one.
            pub fn name(self) -> Option<&'static str> {
                match self.0 {
                    $( $val => Some(stringify!($konst)), )*
                    _ => None,
                }
            }

            /// Whether this version of the protocol names this value.
            pub fn is_known(self) -> bool {
                self.name().is_some()
            }
        }

        impl fmt::Debug for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                match self.name() {
                    Some(n) => write!(f, "{}::{}", stringify!($name), n),
                    None => write!(f, "{}({:#x})", stringify!($name), self.0),
                }
            }
        }

        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                match self.name() {
                    Some(n) => f.write_str(n),
                    None => write!(f, "unknown({:#x})", self.0),
                }
            }
        }
    };
}

codepoints! {
    /// The protocol version, the first byte of every frame and a field of every packet header.
    Version(u8) {
        /// Version 1, specified by this `spec/`.
        V1 = 1,
    }
}

codepoints! {
    /// The type of a frame on an exchange stream (spec/wire.md, "Frames").
    FrameType(u8) {
        /// The sender offers a packet: signed header, encapsulated key, grant chain.
        OFFER = 0x01,
        /// The receiver accepts an offer; the sender may stream chunks.
        ACCEPT = 0x02,
        /// The receiver refuses an offer or a request, with a signed rejection receipt.
        REJECT = 0x03,
        /// One sealed chunk of the payload.
        CHUNK = 0x04,
        /// The end of the payload: chunk count, content commitment, sender signature.
        TRAILER = 0x05,
        /// The receiver's signed receipt for a stored packet.
        RECEIPT = 0x06,
        /// A signed pull request.
        REQUEST = 0x07,
        /// The end of the exchange, with a close code and a reason.
        CLOSE = 0x08,
        /// A signed grant chain or revocation the peer should keep.
        NOTICE = 0x09,
        /// A request for the peer's directory or log.
        FETCH = 0x0a,
        /// Bytes of a fetch's answer.
        PART = 0x0b,
    }
}

codepoints! {
    /// The cryptographic suite of a packet (spec/envelope.md).
    SuiteId(u16) {
        /// HPKE DHKEM(X25519, HKDF-SHA256), HKDF-SHA256, AES-256-GCM; Ed25519 signatures.
        X25519_SHA256_AES256GCM = 0x0001,
        /// HPKE DHKEM(X25519, HKDF-SHA256), HKDF-SHA256, ChaCha20-Poly1305; Ed25519 signatures.
        X25519_SHA256_CHACHA20POLY1305 = 0x0002,
        /// HPKE X-Wing (ML-KEM-768 with X25519), HKDF-SHA256, AES-256-GCM; Ed25519 signatures.
        XWING_SHA256_AES256GCM = 0x0003,
        /// HPKE X-Wing (ML-KEM-768 with X25519), HKDF-SHA256, ChaCha20-Poly1305; Ed25519 signatures.
        XWING_SHA256_CHACHA20POLY1305 = 0x0004,
    }
}

codepoints! {
    /// What a suite's key establishment resists, in increasing order: the
    /// least a grant requires of the packets sent under it (spec/grants.md).
    SuiteLevel(u8) {
        /// Any suite: a classical KEM is enough.
        CLASSICAL = 0,
        /// A post-quantum (hybrid) KEM: X-Wing.
        POST_QUANTUM = 1,
    }
}

codepoints! {
    /// Why a packet or request was refused: the reason in a signed rejection receipt.
    ///
    /// `0x01xx` are envelope and format failures, `0x02xx` policy denials,
    /// `0x03xx` the receiver's own conditions.
    ReasonCode(u16) {
        /// The offer or request did not decode.
        MALFORMED = 0x0101,
        /// The packet's version is not supported.
        UNSUPPORTED_VERSION = 0x0102,
        /// The packet's suite is not supported.
        UNSUPPORTED_SUITE = 0x0103,
        /// The header names a KEM key the recipient does not hold.
        UNKNOWN_RECIPIENT_KEY = 0x0104,
        /// The payload failed to open (deliberately opaque: no oracle).
        DECRYPTION_FAILED = 0x0105,
        /// A signature on the packet or request does not verify.
        BAD_SIGNATURE = 0x0106,
        /// The header's sender is not the authenticated peer.
        SENDER_NOT_AUTHENTICATED_PEER = 0x0107,
        /// The payload's length or chunking disagrees with the header.
        LENGTH_MISMATCH = 0x0108,
        /// The grant chain is missing, empty or does not end in the named grant.
        UNKNOWN_GRANT = 0x0201,
        /// A grant in the chain does not verify under its issuer's key.
        BAD_GRANT_SIGNATURE = 0x0202,
        /// A grant's issuer has no identity key in the directory.
        UNKNOWN_ISSUER_KEY = 0x0203,
        /// The time is before a grant's not-before.
        GRANT_NOT_YET_VALID = 0x0204,
        /// The time is at or after a grant's not-after.
        GRANT_EXPIRED = 0x0205,
        /// A grant in the chain is revoked.
        GRANT_REVOKED = 0x0206,
        /// The purpose is not covered by the grant.
        PURPOSE_NOT_COVERED = 0x0207,
        /// The data category is not covered by the grant.
        CATEGORY_NOT_COVERED = 0x0208,
        /// The sender is not permitted to send under the grant.
        WRONG_SENDER = 0x0209,
        /// The recipient is not the grant's grantee.
        WRONG_RECIPIENT = 0x020a,
        /// A packet or byte quota of the grant is used up.
        QUOTA_EXHAUSTED = 0x020b,
        /// The grant's rate limit is reached for now.
        RATE_LIMITED = 0x020c,
        /// The grant does not allow this direction (push or pull).
        DIRECTION_NOT_GRANTED = 0x020d,
        /// A delegated grant is wider than its parent in some dimension.
        WIDENED_DELEGATION = 0x020e,
        /// The chain is longer or larger than the limits allow.
        CHAIN_TOO_LONG = 0x020f,
        /// The purpose is not registered in the directory.
        UNREGISTERED_PURPOSE = 0x0210,
        /// A grant in the chain breaks its own rules (no purposes, an empty validity window, a zero quota).
        INVALID_GRANT = 0x0211,
        /// The root grant's issuer does not control a data category it names, or the flow's.
        NOT_CONTROLLER = 0x0212,
        /// The packet's suite is below the least a grant in its chain requires (a classical KEM under a grant that requires post-quantum).
        SUITE_BELOW_GRANT_MINIMUM = 0x0213,
        /// The packet id was already used for a different packet.
        DUPLICATE_PACKET_ID = 0x0301,
        /// The receiver cannot take the packet now (e.g. storage full); the sender may retry later.
        TEMPORARILY_UNAVAILABLE = 0x0302,
        /// The recipient stores no more for this sender: its storage limit for the sender is reached.
        STORAGE_LIMIT = 0x0303,
        /// A pull request's query is not one the responder serves: for a
        /// directory source, not the name of one file in it (a path, `..`).
        INVALID_QUERY = 0x0304,
    }
}

codepoints! {
    /// Why an exchange stream was closed: the code in a [`Close`](crate::Close) frame.
    CloseCode(u16) {
        /// The exchange finished normally.
        NO_ERROR = 0x00,
        /// A frame did not decode (spec/wire.md).
        MALFORMED_FRAME = 0x01,
        /// The peer speaks an unsupported protocol version.
        UNSUPPORTED_VERSION = 0x02,
        /// A frame's declared length exceeds its limit.
        FRAME_TOO_LARGE = 0x03,
        /// A frame arrived that the exchange's state does not allow.
        UNEXPECTED_FRAME = 0x04,
        /// The header's sender is not the authenticated peer.
        SENDER_MISMATCH = 0x05,
        /// A different packet reused a packet id already seen.
        PACKET_ID_REUSED = 0x06,
        /// The peer took too long.
        TIMEOUT = 0x07,
        /// The endpoint is shutting down.
        SHUTTING_DOWN = 0x08,
        /// The closing side failed internally; the exchange may be retried.
        INTERNAL_ERROR = 0x09,
        /// A received signature, receipt or payload failed verification.
        VERIFICATION_FAILED = 0x0a,
        /// The peer may not have what it asked for (a log fetch by an agency without the auditor role).
        NOT_PERMITTED = 0x0b,
        /// The peer's offers were refused too often: this one is closed without a signed rejection.
        TOO_MANY_REFUSALS = 0x0c,
        /// The offer names another agency as its recipient: no signed statement is made about it.
        NOT_ADDRESSED_HERE = 0x0d,
        /// The connection ends: the peer's TLS key is no longer listed for it in the directory.
        KEY_NOT_LISTED = 0x0e,
        /// The connection is refused: the peer already has as many connections as it may.
        TOO_MANY_CONNECTIONS = 0x0f,
    }
}

codepoints! {
    /// Why a grant was revoked.
    RevocationReason(u16) {
        /// No reason given.
        UNSPECIFIED = 0x00,
        /// Replaced by another grant.
        SUPERSEDED = 0x01,
        /// The purpose of the exchange has ended.
        PURPOSE_ENDED = 0x02,
        /// A key of the grantee or a sender was compromised.
        KEY_COMPROMISE = 0x03,
        /// A legal order or a data subject's objection.
        LEGAL_ORDER = 0x04,
        /// The grantee breached the grant's terms.
        BREACH = 0x05,
    }
}

codepoints! {
    /// Why data was destroyed.
    DeletionReason(u16) {
        /// The grant's retention period ended.
        RETENTION_ENDED = 0x01,
        /// The grant was revoked with erasure.
        REVOKED_WITH_ERASURE = 0x02,
        /// The operator deleted it.
        OPERATOR = 0x03,
    }
}

/// The roles an agency holds in the federation, as a set of bits.
///
/// Unknown bits are kept (they may be roles of a later version) and
/// confer nothing.
#[derive(Clone, Copy, PartialEq, Eq, Hash, Default, Serialize, Deserialize)]
#[serde(transparent)]
pub struct Roles(pub u8);

impl Roles {
    /// Holds data and sends it under grants.
    pub const PRODUCER: Self = Self(0x01);
    /// Receives data under grants.
    pub const CONSUMER: Self = Self(0x02);
    /// Collects checkpoints and receipts and audits flows.
    pub const AUDITOR: Self = Self(0x04);

    /// Whether every role in `other` is in `self`.
    pub fn contains(self, other: Self) -> bool {
        self.0 & other.0 == other.0
    }

    /// The union of both sets.
    #[must_use]
    pub fn with(self, other: Self) -> Self {
        Self(self.0 | other.0)
    }
}

impl fmt::Debug for Roles {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut set = f.debug_set();
        for (bit, name) in [(Self::PRODUCER, "producer"), (Self::CONSUMER, "consumer"), (Self::AUDITOR, "auditor")] {
            if self.contains(bit) {
                set.entry(&name);
            }
        }
        let unknown = self.0 & !0x07;
        if unknown != 0 {
            set.entry(&format_args!("unknown({unknown:#x})"));
        }
        set.finish()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn known_and_unknown_values_display_distinctly() {
        assert_eq!(SuiteId::X25519_SHA256_AES256GCM.to_string(), "X25519_SHA256_AES256GCM");
        assert_eq!(SuiteId(0x7777).to_string(), "unknown(0x7777)");
        assert_eq!(format!("{:?}", FrameType(0x99)), "FrameType(0x99)");
        assert!(!ReasonCode(0xffff).is_known());
        assert!(ReasonCode::QUOTA_EXHAUSTED.is_known());
    }

    #[test]
    fn known_lists_are_sorted_and_unique() {
        fn check<T: Ord + Copy + fmt::Debug>(known: &[T]) {
            assert!(known.windows(2).all(|w| w[0] < w[1]), "{known:?}");
        }
        check(FrameType::KNOWN);
        check(SuiteId::KNOWN);
        check(ReasonCode::KNOWN);
        check(CloseCode::KNOWN);
        check(RevocationReason::KNOWN);
        check(DeletionReason::KNOWN);
    }

    #[test]
    fn roles_contains_is_subset() {
        let both = Roles::PRODUCER.with(Roles::CONSUMER);
        assert!(both.contains(Roles::PRODUCER));
        assert!(both.contains(both));
        assert!(!both.contains(Roles::AUDITOR));
        assert!(!Roles::PRODUCER.contains(both));
        assert_eq!(format!("{:?}", Roles(0x81)), r#"{"producer", unknown(0x80)}"#);
    }
}
