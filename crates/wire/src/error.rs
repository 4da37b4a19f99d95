//! The one error type of the wire layer (spec/wire.md, "Errors").

use std::fmt;

use crate::codepoint::FrameType;

/// What was being decoded or encoded when an [`Error`] occurred.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum Context {
    /// The frame prefix: version, frame type and body length.
    FrameHeader,
    /// The body of a frame of this type.
    Frame(FrameType),
    /// A standalone or nested object, named by its protocol name (`Grant`, `Receipt`, ...).
    Object(&'static str),
}

impl fmt::Display for Context {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::FrameHeader => f.write_str("frame header"),
            Self::Frame(t) => write!(f, "{t} frame"),
            Self::Object(name) => f.write_str(name),
        }
    }
}

/// A value that breaks the rules of its type: which type, and which rule.
///
/// This is the error of every validating constructor (`AgencyId::new`,
/// `Purpose::new`, ...) and, with an offset, of decoding.
#[derive(Clone, Copy, Debug, PartialEq, Eq, thiserror::Error)]
#[error("invalid {kind}: {reason}")]
pub struct InvalidValue {
    /// The type whose rule was broken, e.g. `AgencyId`.
    pub kind: &'static str,
    /// The rule, e.g. `longer than 63 bytes`.
    pub reason: &'static str,
}

impl InvalidValue {
    pub(crate) const fn new(kind: &'static str, reason: &'static str) -> Self {
        Self { kind, reason }
    }
}

/// Everything that can go wrong turning bytes into messages and back.
///
/// Every variant of a decode error says what was being decoded
/// ([`Context`]) and, where it applies, the byte offset within that item.
/// All of them are the peer's fault (malformed input); a peer reports them
/// with the close code `MALFORMED_FRAME`, `UNSUPPORTED_VERSION` or
/// `FRAME_TOO_LARGE` (see [`Error::close_code`]).
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// The frame's version byte is not one this implementation speaks.
    #[error("unknown protocol version {version} (supported: {supported})")]
    UnknownVersion {
        /// The version byte received.
        version: u8,
        /// The version this implementation speaks.
        supported: u8,
    },
    /// The frame type byte names no frame type of this version.
    #[error("unknown frame type {frame_type}")]
    UnknownFrameType {
        /// The frame type received.
        frame_type: FrameType,
    },
    /// A declared or actual length is over the limit for this item.
    #[error("{context}: length {len} exceeds the limit of {limit} bytes")]
    OverLimit {
        /// What was too long.
        context: Context,
        /// The length declared or produced.
        len: u64,
        /// The limit (spec/wire.md, "Limits").
        limit: usize,
    },
    /// The input ended before the item did.
    #[error("{context}: truncated at offset {offset}")]
    Truncated {
        /// What was being decoded.
        context: Context,
        /// Where the input ended, relative to the item's start.
        offset: usize,
    },
    /// A value decoded but broke its type's rules (e.g. an `AgencyId` with an uppercase letter).
    #[error("{context}: at offset {offset}: {value}")]
    InvalidValue {
        /// What was being decoded.
        context: Context,
        /// Where decoding stopped, relative to the item's start (just past the bad value).
        offset: usize,
        /// The type and the rule it broke.
        value: InvalidValue,
    },
    /// The bytes are not an encoding of any value (bad varint, boolean, option or enum tag, UTF-8).
    #[error("{context}: malformed at offset {offset}: {reason}")]
    Malformed {
        /// What was being decoded.
        context: Context,
        /// Where decoding stopped, relative to the item's start.
        offset: usize,
        /// Which encoding rule was broken.
        reason: &'static str,
    },
    /// The bytes decode, but are not the canonical (shortest) encoding of the value.
    #[error("{context}: non-canonical encoding at offset {offset}")]
    NonCanonical {
        /// What was being decoded.
        context: Context,
        /// The first byte that differs from the canonical encoding.
        offset: usize,
    },
    /// Bytes remain after a complete item.
    #[error("{context}: {count} trailing byte(s) at offset {offset}")]
    TrailingBytes {
        /// What was being decoded.
        context: Context,
        /// Where the item ended.
        offset: usize,
        /// How many bytes follow it.
        count: usize,
    },
    /// A nested signed object failed to decode.
    #[error("{context}: at offset {offset}: {source}")]
    Nested {
        /// The enclosing item.
        context: Context,
        /// Where the nested object ends in the enclosing item.
        offset: usize,
        /// Why the nested object failed.
        source: Box<Self>,
    },
}

impl Error {
    /// The close code a peer sends when this error ends a session.
    pub fn close_code(&self) -> crate::CloseCode {
        use crate::CloseCode;
        match self {
            Self::UnknownVersion { .. } => CloseCode::UNSUPPORTED_VERSION,
            Self::OverLimit { .. } => CloseCode::FRAME_TOO_LARGE,
            _ => CloseCode::MALFORMED_FRAME,
        }
    }
}
