//! `tally-wire`: Tally's message types and their one strict, canonical wire
//! encoding (spec/wire.md).
//!
//! Every protocol object (packet headers, grants, revocations, receipts,
//! checkpoints, the directory, pull requests) and every frame of an
//! exchange stream is a Rust type here, and this crate alone turns them
//! into bytes and back. There is no crypto and no I/O: digests, keys and
//! signatures are opaque fixed-size byte strings, and [`Signed`] objects
//! keep the exact bytes a signature covers so that `tally-envelope` can
//! verify what was received, never a re-encoding.
//!
//! Decoding is strict, in the manner of rustls' codec: a frame's length is
//! checked against its type's limit before its body is read, trailing
//! bytes and non-canonical encodings are rejected, every name is validated
//! while it is decoded, and each failure is a distinct [`Error`] variant
//! that says what was being decoded and at which offset.
//!
//! ```
//! use tally_wire::{Close, CloseCode, Frame, Text};
//!
//! let frame = Frame::Close(Close { code: CloseCode::NO_ERROR, reason: Text::new("done")? });
//! let bytes = frame.encode()?;
//! assert_eq!(bytes, [0x01, 0x08, 0x06, 0x00, 0x04, b'd', b'o', b'n', b'e']);
//! assert_eq!(Frame::decode(&bytes)?, frame);
//!
//! // A byte too many is an error, not ignored.
//! let mut longer = bytes.clone();
//! longer.push(0);
//! assert!(matches!(Frame::decode(&longer), Err(tally_wire::Error::TrailingBytes { .. })));
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```

#![forbid(unsafe_code)]

mod bounded;
mod bytes;
mod codec;
mod codepoint;
mod error;
mod frame;
pub mod hex;
mod kem;
pub mod label;
pub mod limits;
mod message;
mod name;
mod reader;
mod signed;
mod time;
mod varint;

/// Entry points of the fuzz targets and the corpus replay test (`cfg(fuzzing)`,
/// or feature `fuzzing`); not part of the API, never in a release build.
#[cfg(any(test, fuzzing, feature = "fuzzing"))]
pub mod fuzzing;
#[cfg(test)]
mod tests;

pub use bounded::{BoundedBytes, BoundedVec, Text};
pub use bytes::{
    Digest, GrantId, IdentityPublicKey, KeyId, PacketId, RequestId, RevealedKey, Signature, X25519PublicKey,
    XWingCiphertext, XWingPublicKey,
};
pub use codec::{from_bytes, take_from_bytes, to_bytes};
pub use codepoint::{
    CloseCode, DeletionReason, FrameType, ReasonCode, RevocationReason, Roles, SuiteId, SuiteLevel, Version,
};
pub use error::{Context, Error, InvalidValue};
pub use frame::{
    Accept, Chunk, Close, Fetch, Frame, FramePrefix, Notice, Offer, PrefixBytes, ReceiptFrame, Reject, Request,
    Trailer, body_limit,
};
pub use kem::{EncapsulatedKey, Kem, KemPublicKey};
pub use label::{HashLabel, SignatureLabel};
pub use message::{
    AgencyRecord, BundledReceipt, CategoryRecord, Checkpoint, DeletionRecord, Direction, Directory, Evidence, Grant,
    GrantChain, KemKeyCertificate, LogEntry, Outcome, PacketHeader, PullRequest, PurposeRecord, Quota, Rate, Receipt,
    ReceiptBundle, Registration, Reveal, Revocation, decode_grant_chain, encode_grant_chain,
};
pub use name::{AgencyId, ContentType, DataCategory, Endpoint, Endpoints, LogOrigin, Purpose};
pub use reader::{FrameReader, ReadError};
pub use signed::{Body, Encoded, Signed, SignedBody};
pub use time::{ChunkSize, Timestamp};
