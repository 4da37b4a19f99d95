//! Receipts and checkpoints (spec/receipts.md).

use serde::{Deserialize, Serialize};

use crate::bytes::{Digest, GrantId, PacketId};
use crate::codepoint::ReasonCode;
use crate::label::{RECEIPT, SignatureLabel};
use crate::limits;
use crate::name::{AgencyId, DataCategory, LogOrigin, Purpose};
use crate::signed::{Body, SignedBody};
use crate::time::Timestamp;

/// A receipt, signed by the recipient: what it received, from whom, under
/// which grant and for what, and whether it accepted it.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Receipt {
    /// The packet's id.
    pub packet_id: PacketId,
    /// The digest of the packet's header bytes.
    pub header_digest: Digest,
    /// The grant the packet was offered under.
    pub grant: GrantId,
    /// The packet's purpose.
    pub purpose: Purpose,
    /// The packet's data category (from its header), so that an auditor
    /// can check the grant covers it without the header.
    pub category: DataCategory,
    /// The packet's payload length in bytes (from its header), so that an
    /// auditor can check byte quotas; 0 for a refused pull request.
    pub payload_len: u64,
    /// The sending agency.
    pub sender: AgencyId,
    /// The receiving agency, the receipt's signer.
    pub recipient: AgencyId,
    /// When the recipient stored (or refused) the packet.
    pub received_at: Timestamp,
    /// Accepted, or rejected and why.
    pub outcome: Outcome,
}

impl Body for Receipt {
    const NAME: &'static str = "Receipt";
    const MAX_SIZE: usize = limits::MAX_RECEIPT_SIZE;
}

impl SignedBody for Receipt {
    const LABEL: SignatureLabel = RECEIPT;
}

/// What the recipient did with a packet.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Outcome {
    /// Verified and durably stored (wire value 0).
    Accepted {
        /// The fingerprint of the ciphertext received (spec/envelope.md).
        ciphertext_fingerprint: Digest,
        /// The commitment to the plaintext (spec/envelope.md).
        content_commitment: Digest,
    },
    /// Refused (wire value 1).
    Rejected {
        /// Why.
        reason: ReasonCode,
    },
}

/// A log's state at some size: the body of a C2SP tlog-checkpoint.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Checkpoint {
    /// The log's origin line.
    pub origin: LogOrigin,
    /// The number of entries.
    pub size: u64,
    /// The Merkle tree hash of those entries (RFC 9162).
    pub root: Digest,
}
