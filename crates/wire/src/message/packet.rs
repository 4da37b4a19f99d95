//! The packet header and the pull request.

use serde::{Deserialize, Serialize};

use crate::bounded::BoundedBytes;
use crate::bytes::{Digest, GrantId, KeyId, PacketId, RequestId, RevealedKey, Signature};
use crate::codepoint::{SuiteId, Version};
use crate::kem::EncapsulatedKey;
use crate::label::{PULL_REQUEST, SignatureLabel};
use crate::limits;
use crate::message::ReceiptBundle;
use crate::name::{AgencyId, ContentType, DataCategory, Purpose};
use crate::signed::Encoded;
use crate::signed::{Body, SignedBody};
use crate::time::{ChunkSize, Timestamp};

/// The end of a packet's payload: the frame that ends its chunks, and part
/// of the evidence of its origin.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Trailer {
    /// How many chunks were sent.
    pub chunk_count: u64,
    /// The commitment to the plaintext (spec/envelope.md).
    pub content_commitment: Digest,
    /// The sender's signature over the packet transcript (spec/envelope.md).
    pub signature: Signature,
}

/// The cleartext, authenticated header of a packet (spec/envelope.md).
///
/// It travels as [`Encoded`](crate::Encoded) bytes in an offer. Its digest
/// is the HPKE `info` of the packet, and the sender's trailer signature
/// covers that digest, so every field is bound to the ciphertext and to
/// the sender (spec/envelope.md).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct PacketHeader {
    /// The protocol version; [`Version::V1`].
    pub version: Version,
    /// The cryptographic suite the payload is sealed with.
    pub suite: SuiteId,
    /// The packet's id, random.
    pub packet_id: PacketId,
    /// The sending agency.
    pub sender: AgencyId,
    /// The receiving agency.
    pub recipient: AgencyId,
    /// The id of the recipient's KEM key the payload is sealed to.
    pub recipient_key: KeyId,
    /// The grant the packet is sent under (the leaf of the offered chain).
    pub grant: GrantId,
    /// What the data is for.
    pub purpose: Purpose,
    /// What kind of data it is.
    pub category: DataCategory,
    /// The payload's media type.
    pub content_type: ContentType,
    /// When the sender sealed the packet.
    pub created_at: Timestamp,
    /// The plaintext length in bytes.
    pub payload_len: u64,
    /// The plaintext size of every chunk but the last.
    pub chunk_size: ChunkSize,
}

impl Body for PacketHeader {
    const NAME: &'static str = "PacketHeader";
    const MAX_SIZE: usize = limits::MAX_HEADER_SIZE;
}

/// A pull request: the requester asks the responder for data under a grant.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct PullRequest {
    /// The request's id, random.
    pub request_id: RequestId,
    /// The agency asking (the recipient of any answer).
    pub requester: AgencyId,
    /// The agency asked (the sender of any answer).
    pub responder: AgencyId,
    /// The grant the request is made under (the leaf of the chain sent beside it).
    pub grant: GrantId,
    /// What the data is for.
    pub purpose: Purpose,
    /// What kind of data is asked for.
    pub category: DataCategory,
    /// An opaque query, meaningful to the responder's data source.
    pub query: BoundedBytes<{ limits::MAX_QUERY_LEN }>,
    /// When the requester made the request.
    pub created_at: Timestamp,
}

impl Body for PullRequest {
    const NAME: &'static str = "PullRequest";
    const MAX_SIZE: usize = limits::MAX_PULL_REQUEST_SIZE;
}

impl SignedBody for PullRequest {
    const LABEL: SignatureLabel = PULL_REQUEST;
}

/// What proves a packet's origin after its exchange: the header as the
/// sender encoded it, the encapsulated key, and the trailer, whose
/// signature covers both (spec/envelope.md, "Revealing content"). The
/// recipient keeps it as received; the sender can sign it again.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Evidence {
    /// The packet header, as sent.
    pub header: Encoded<PacketHeader>,
    /// The HPKE encapsulated key of the packet.
    pub encapsulated_key: EncapsulatedKey,
    /// The trailer: chunk count, content commitment, the sender's signature.
    pub trailer: Trailer,
}

/// A packet's content revealed to an auditor: its evidence, the receipt
/// for it, and the commitment key; the plaintext comes beside it
/// (spec/envelope.md, "Revealing content").
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Reveal {
    /// The sender's evidence of origin.
    pub evidence: Evidence,
    /// The recipient's receipt, accepted, committing to the same digests,
    /// in its bundle (inclusion proof and signed checkpoint).
    pub receipt: ReceiptBundle,
    /// The content-commitment key.
    pub commitment_key: RevealedKey,
}

impl Body for Reveal {
    const NAME: &'static str = "Reveal";
    const MAX_SIZE: usize = limits::MAX_REVEAL_SIZE;
}
