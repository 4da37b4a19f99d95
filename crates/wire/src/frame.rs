//! Frames: the unit of an exchange stream (spec/wire.md, "Frames").
//!
//! ```text
//! frame = version (1 byte) ‖ frame type (1 byte) ‖ varint(len(body)) ‖ body
//! ```
//!
//! The prefix is checked in that order: version, frame type, length, and
//! the length against the frame type's limit, before any body byte is
//! read. Every body but a chunk's is one canonical postcard value; a
//! chunk's body is `varint(index) ‖ sealed bytes`, decoded without a copy.

use std::borrow::Cow;

use serde::ser::{SerializeStruct, Serializer};
use serde::{Deserialize, Serialize};

use crate::bounded::Text;
use crate::bytes::{PacketId, hex_encode};
use crate::codec;
use crate::codepoint::{CloseCode, FrameType, Version};
use crate::error::{Context, Error};
use crate::kem::EncapsulatedKey;
use crate::limits::{self, MAX_FRAME_PREFIX};
pub use crate::message::Trailer;
use crate::message::{GrantChain, PacketHeader, PullRequest, ReceiptBundle, Revocation};
use crate::signed::{Encoded, Signed};
use crate::varint::{self, VarintError};

/// One frame of an exchange stream.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub enum Frame<'a> {
    /// The sender offers a packet.
    Offer(Offer),
    /// The receiver accepts the offer.
    Accept(Accept),
    /// The receiver refuses, with a signed rejection receipt.
    Reject(Reject),
    /// One sealed chunk of the payload.
    Chunk(Chunk<'a>),
    /// The end of the payload.
    Trailer(Trailer),
    /// The receiver's signed receipt.
    Receipt(ReceiptFrame),
    /// A signed pull request.
    Request(Request),
    /// The end of the exchange.
    Close(Close),
    /// A signed object the peer should keep.
    Notice(Notice),
    /// A request for something the peer holds.
    Fetch(Fetch),
    /// Bytes of a fetch's answer. The bytes are borrowed from the frame buffer.
    Part(#[serde(serialize_with = "readable_bytes")] Cow<'a, [u8]>),
}

/// The readable form of a part's bytes in the test vectors: hex.
#[allow(clippy::ptr_arg, reason = "serde's serialize_with passes the field's own type")]
fn readable_bytes<S: Serializer>(bytes: &Cow<'_, [u8]>, s: S) -> Result<S::Ok, S::Error> {
    s.serialize_str(&hex_encode(bytes))
}

/// A signed object one agency hands another to keep (spec/protocol.md,
/// "Notices"): answered by a `Close`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum Notice {
    /// A grant chain, leaf first, issued by the notifying agency.
    Grant(GrantChain),
    /// A revocation issued by the notifying agency.
    Revocation(Signed<Revocation>),
}

/// What a fetch asks for (spec/protocol.md, "Fetches"): answered by
/// `Part` frames, then a `Close`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum Fetch {
    /// The peer's signed directory, if its serial is above `newer_than`.
    Directory {
        /// The serial the fetcher already has.
        newer_than: u64,
    },
    /// A checkpoint of the peer's log, signed for the occasion (for an
    /// auditor): answered by its note.
    Checkpoint,
    /// A consistency proof of the peer's log from `old_size` to
    /// `new_size` entries (RFC 9162), both sizes of checkpoints the
    /// peer signed: answered by the proof's hashes, 32 bytes each.
    Consistency {
        /// The smaller size.
        old_size: u64,
        /// The larger size.
        new_size: u64,
    },
    /// Entries of the peer's log from index `start`, before index `end`
    /// (for an auditor): answered by the first of them, at most
    /// [`MAX_ENTRIES_ANSWER`](crate::limits::MAX_ENTRIES_ANSWER) bytes
    /// of them and at least one.
    Entries {
        /// The first entry's index.
        start: u64,
        /// The index after the last entry asked for.
        end: u64,
    },
}

/// The sender's offer: the packet header, the HPKE encapsulated key, and
/// the grant chain the packet is sent under. The sender's signature over
/// all of it comes in the trailer (spec/envelope.md).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Offer {
    /// The packet header, with its exact bytes.
    pub header: Encoded<PacketHeader>,
    /// The HPKE encapsulated key of the payload.
    pub encapsulated_key: EncapsulatedKey,
    /// The grant chain, leaf (the header's grant) first.
    pub grant_chain: GrantChain,
}

/// The receiver accepts the offer of this packet.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Accept {
    /// The packet accepted.
    pub packet_id: PacketId,
}

/// The receiver refuses an offer or a request.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Reject {
    /// The rejection receipt (its outcome is `Rejected`) in a bundle: its
    /// inclusion proof and the receiver's signed checkpoint.
    pub bundle: ReceiptBundle,
}

/// One sealed chunk. The bytes are borrowed from the frame buffer.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Chunk<'a> {
    /// The chunk's position in the payload, from 0.
    pub index: u64,
    /// The sealed chunk: ciphertext and tag.
    pub data: Cow<'a, [u8]>,
}

/// The receiver's receipt for a stored packet.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct ReceiptFrame {
    /// The receipt (its outcome is `Accepted`) in a bundle: its inclusion
    /// proof and the receiver's checkpoint signed for the group commit
    /// that made the packet durable.
    pub bundle: ReceiptBundle,
}

/// A pull request and the grant chain it is made under.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Request {
    /// The request, signed by the requester.
    pub request: Signed<PullRequest>,
    /// The grant chain, leaf (the request's grant) first.
    pub grant_chain: GrantChain,
}

/// The end of an exchange.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Close {
    /// Why the exchange ended.
    pub code: CloseCode,
    /// Details for people; never secrets.
    pub reason: Text<{ limits::MAX_CLOSE_REASON_LEN }>,
}

impl Close {
    /// A close with `reason` cut to the wire's limit at a character
    /// boundary (a reason `Text` refuses is sent empty: it is only for people).
    pub fn new(code: CloseCode, reason: &str) -> Self {
        let mut end = reason.len().min(limits::MAX_CLOSE_REASON_LEN);
        while !reason.is_char_boundary(end) {
            end -= 1;
        }
        Self { code, reason: Text::new(&reason[..end]).unwrap_or_default() }
    }
}

/// A parsed frame prefix: version, type and body length.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct FramePrefix {
    /// The frame type.
    pub frame_type: FrameType,
    /// The body length, within the frame type's limit.
    pub body_len: usize,
    /// The prefix's own length in bytes (3 to 7).
    pub prefix_len: usize,
}

impl FramePrefix {
    /// Parses a frame prefix from the start of `buf`.
    ///
    /// Returns `Ok(None)` if `buf` ends inside the prefix: read more and
    /// call again. Rejects an unknown version or frame type, a
    /// non-canonical length and a length over the type's limit as soon as
    /// the byte that shows it is in `buf`.
    pub fn parse(buf: &[u8]) -> Result<Option<Self>, Error> {
        let Some(&version) = buf.first() else { return Ok(None) };
        if Version(version) != Version::V1 {
            return Err(Error::UnknownVersion { version, supported: Version::V1.0 });
        }
        let Some(&frame_type) = buf.get(1) else { return Ok(None) };
        let frame_type = FrameType(frame_type);
        let limit = body_limit(frame_type).ok_or(Error::UnknownFrameType { frame_type })?;
        let context = Context::FrameHeader;
        let (len, n) = match varint::decode_u32(&buf[2..]) {
            Ok(v) => v,
            Err(VarintError::Incomplete) => return Ok(None),
            Err(VarintError::NonMinimal) => return Err(Error::NonCanonical { context, offset: 2 }),
            Err(VarintError::Overflow) => {
                return Err(Error::Malformed { context, offset: 2, reason: "length varint overflows u32" });
            }
        };
        if len as usize > limit {
            return Err(Error::OverLimit { context: Context::Frame(frame_type), len: u64::from(len), limit });
        }
        Ok(Some(Self { frame_type, body_len: len as usize, prefix_len: 2 + n }))
    }

    /// Encodes the prefix of a frame of `frame_type` with a body of `body_len` bytes.
    pub fn encode(frame_type: FrameType, body_len: usize) -> Result<PrefixBytes, Error> {
        let limit = body_limit(frame_type).ok_or(Error::UnknownFrameType { frame_type })?;
        if body_len > limit {
            return Err(Error::OverLimit { context: Context::Frame(frame_type), len: body_len as u64, limit });
        }
        let mut out = PrefixBytes { buf: [0; MAX_FRAME_PREFIX + varint::MAX_U64_LEN], len: 2 };
        out.buf[0] = Version::V1.0;
        out.buf[1] = frame_type.0;
        out.push_varint(body_len as u64);
        Ok(out)
    }
}

/// The encoded prefix of a frame (and, for a chunk, its index): the bytes
/// to write before the body.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct PrefixBytes {
    buf: [u8; MAX_FRAME_PREFIX + varint::MAX_U64_LEN],
    len: usize,
}

impl PrefixBytes {
    /// The bytes.
    pub fn as_bytes(&self) -> &[u8] {
        &self.buf[..self.len]
    }

    fn push_varint(&mut self, value: u64) {
        let mut v = [0; varint::MAX_U64_LEN];
        let n = varint::encode_u64(value, &mut v);
        self.buf[self.len..self.len + n].copy_from_slice(&v[..n]);
        self.len += n;
    }
}

/// The largest body a frame of `frame_type` may have; `None` for an unknown type.
pub fn body_limit(frame_type: FrameType) -> Option<usize> {
    use limits::frame as l;
    Some(match frame_type {
        FrameType::OFFER => l::OFFER,
        FrameType::ACCEPT => l::ACCEPT,
        FrameType::REJECT => l::REJECT,
        FrameType::CHUNK => l::CHUNK,
        FrameType::TRAILER => l::TRAILER,
        FrameType::RECEIPT => l::RECEIPT,
        FrameType::REQUEST => l::REQUEST,
        FrameType::CLOSE => l::CLOSE,
        FrameType::NOTICE => l::NOTICE,
        FrameType::FETCH => l::FETCH,
        FrameType::PART => l::PART,
        _ => return None,
    })
}

impl<'a> Frame<'a> {
    /// The frame's type.
    pub fn frame_type(&self) -> FrameType {
        match self {
            Self::Offer(_) => FrameType::OFFER,
            Self::Accept(_) => FrameType::ACCEPT,
            Self::Reject(_) => FrameType::REJECT,
            Self::Chunk(_) => FrameType::CHUNK,
            Self::Trailer(_) => FrameType::TRAILER,
            Self::Receipt(_) => FrameType::RECEIPT,
            Self::Request(_) => FrameType::REQUEST,
            Self::Close(_) => FrameType::CLOSE,
            Self::Notice(_) => FrameType::NOTICE,
            Self::Fetch(_) => FrameType::FETCH,
            Self::Part(_) => FrameType::PART,
        }
    }

    /// Decodes exactly one frame from `bytes`.
    pub fn decode(bytes: &'a [u8]) -> Result<Self, Error> {
        let (frame, used) = Self::decode_prefix_of(bytes)?;
        if used != bytes.len() {
            let context = Context::Frame(frame.frame_type());
            return Err(Error::TrailingBytes { context, offset: used, count: bytes.len() - used });
        }
        Ok(frame)
    }

    /// Decodes the frame at the start of `bytes`; returns it and its length.
    /// An incomplete frame is [`Error::Truncated`].
    pub fn decode_prefix_of(bytes: &'a [u8]) -> Result<(Self, usize), Error> {
        let prefix = FramePrefix::parse(bytes)?
            .ok_or(Error::Truncated { context: Context::FrameHeader, offset: bytes.len() })?;
        let body = &bytes[prefix.prefix_len..];
        if body.len() < prefix.body_len {
            return Err(Error::Truncated { context: Context::Frame(prefix.frame_type), offset: body.len() });
        }
        let frame = Self::decode_body(prefix.frame_type, &body[..prefix.body_len])?;
        Ok((frame, prefix.prefix_len + prefix.body_len))
    }

    /// Decodes a frame body of a type whose prefix has been parsed.
    pub fn decode_body(frame_type: FrameType, body: &'a [u8]) -> Result<Self, Error> {
        let context = Context::Frame(frame_type);
        if let Some(limit) = body_limit(frame_type).filter(|&l| body.len() > l) {
            return Err(Error::OverLimit { context, len: body.len() as u64, limit });
        }
        Ok(match frame_type {
            FrameType::OFFER => Self::Offer(codec::decode_exact(body, context)?),
            FrameType::ACCEPT => Self::Accept(codec::decode_exact(body, context)?),
            FrameType::REJECT => Self::Reject(codec::decode_exact(body, context)?),
            FrameType::CHUNK => Self::Chunk(Chunk::decode(body)?),
            FrameType::TRAILER => Self::Trailer(codec::decode_exact(body, context)?),
            FrameType::RECEIPT => Self::Receipt(codec::decode_exact(body, context)?),
            FrameType::REQUEST => Self::Request(codec::decode_exact(body, context)?),
            FrameType::CLOSE => Self::Close(codec::decode_exact(body, context)?),
            FrameType::NOTICE => Self::Notice(codec::decode_exact(body, context)?),
            FrameType::FETCH => Self::Fetch(codec::decode_exact(body, context)?),
            FrameType::PART => Self::Part(Cow::Borrowed(body)),
            _ => return Err(Error::UnknownFrameType { frame_type }),
        })
    }

    /// Appends the frame's encoding to `out`.
    pub fn encode_into(&self, out: &mut Vec<u8>) -> Result<(), Error> {
        if let Self::Chunk(chunk) = self {
            out.extend_from_slice(chunk.prefix()?.as_bytes());
            out.extend_from_slice(&chunk.data);
            return Ok(());
        }
        if let Self::Part(bytes) = self {
            out.extend_from_slice(FramePrefix::encode(FrameType::PART, bytes.len())?.as_bytes());
            out.extend_from_slice(bytes);
            return Ok(());
        }
        let mut body = Vec::new();
        match self {
            Self::Offer(f) => codec::encode(f, &mut body),
            Self::Accept(f) => codec::encode(f, &mut body),
            Self::Reject(f) => codec::encode(f, &mut body),
            Self::Trailer(f) => codec::encode(f, &mut body),
            Self::Receipt(f) => codec::encode(f, &mut body),
            Self::Request(f) => codec::encode(f, &mut body),
            Self::Close(f) => codec::encode(f, &mut body),
            Self::Notice(f) => codec::encode(f, &mut body),
            Self::Fetch(f) => codec::encode(f, &mut body),
            Self::Chunk(_) | Self::Part(_) => unreachable!("chunks and parts are encoded above"),
        }
        out.extend_from_slice(FramePrefix::encode(self.frame_type(), body.len())?.as_bytes());
        out.extend_from_slice(&body);
        Ok(())
    }

    /// The frame's encoding.
    pub fn encode(&self) -> Result<Vec<u8>, Error> {
        let mut out = Vec::new();
        self.encode_into(&mut out)?;
        Ok(out)
    }

    /// The same frame, owning its bytes.
    pub fn into_owned(self) -> Frame<'static> {
        match self {
            Self::Offer(f) => Frame::Offer(f),
            Self::Accept(f) => Frame::Accept(f),
            Self::Reject(f) => Frame::Reject(f),
            Self::Chunk(c) => Frame::Chunk(Chunk { index: c.index, data: Cow::Owned(c.data.into_owned()) }),
            Self::Trailer(f) => Frame::Trailer(f),
            Self::Receipt(f) => Frame::Receipt(f),
            Self::Request(f) => Frame::Request(f),
            Self::Close(f) => Frame::Close(f),
            Self::Notice(f) => Frame::Notice(f),
            Self::Fetch(f) => Frame::Fetch(f),
            Self::Part(b) => Frame::Part(Cow::Owned(b.into_owned())),
        }
    }
}

impl<'a> Chunk<'a> {
    /// A chunk borrowing `data`.
    pub fn new(index: u64, data: &'a [u8]) -> Self {
        Self { index, data: Cow::Borrowed(data) }
    }

    /// The frame prefix and the index: write these, then [`data`](Self::data),
    /// to send the chunk without copying it.
    pub fn prefix(&self) -> Result<PrefixBytes, Error> {
        let mut index = [0; varint::MAX_U64_LEN];
        let n = varint::encode_u64(self.index, &mut index);
        let mut prefix = FramePrefix::encode(FrameType::CHUNK, n + self.data.len())?;
        prefix.push_varint(self.index);
        Ok(prefix)
    }

    fn decode(body: &'a [u8]) -> Result<Self, Error> {
        let context = Context::Frame(FrameType::CHUNK);
        let (index, n) = varint::decode_u64(body).map_err(|e| match e {
            VarintError::Incomplete => Error::Truncated { context, offset: body.len() },
            VarintError::NonMinimal => Error::NonCanonical { context, offset: 0 },
            VarintError::Overflow => Error::Malformed { context, offset: 0, reason: "index varint overflows u64" },
        })?;
        Ok(Self::new(index, &body[n..]))
    }
}

impl Serialize for Chunk<'_> {
    /// The readable form used by the test vectors: `{index, data (hex)}`.
    /// The wire form is written by [`Frame::encode`], not by serde.
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        let mut st = s.serialize_struct("Chunk", 2)?;
        st.serialize_field("index", &self.index)?;
        st.serialize_field("data", &hex_encode(&self.data))?;
        st.end()
    }
}
