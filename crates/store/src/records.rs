//! The records the store keeps, postcard-encoded (spec/wire.md's encoding).

use serde::{Deserialize, Serialize};
use tally_wire::{AgencyId, BundledReceipt, ContentType, DataCategory, Evidence, GrantId, Offer, Purpose, Timestamp};

/// A packet this node received and stored.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct InboxRecord {
    /// The sender.
    pub sender: AgencyId,
    /// The grant it came under.
    pub grant: GrantId,
    /// Its purpose.
    pub purpose: Purpose,
    /// Its data category.
    pub category: DataCategory,
    /// Its media type.
    pub content_type: ContentType,
    /// Plaintext length.
    pub size: u64,
    /// The data key epoch its blob is encrypted under.
    pub epoch: u64,
    /// The receipt this node issued: signed on its own, or logged under its checkpoint.
    pub receipt: BundledReceipt,
    /// When its data was destroyed, if it was.
    pub erased_at: Option<Timestamp>,
    /// The sender's signed header, encapsulated key and trailer: its proof of origin.
    pub evidence: Evidence,
    /// The content-commitment key, sealed under the packet's data key (destroyed with it).
    pub commitment_key: Vec<u8>,
}

/// An inbox record as stores made before receipts were bundled hold it
/// (the receipt signed on its own); migrated at open.
#[derive(Serialize, Deserialize)]
pub(crate) struct InboxRecordV1 {
    sender: AgencyId,
    grant: GrantId,
    purpose: Purpose,
    category: DataCategory,
    content_type: ContentType,
    size: u64,
    epoch: u64,
    receipt: tally_wire::Signed<tally_wire::Receipt>,
    erased_at: Option<Timestamp>,
    evidence: Evidence,
    commitment_key: Vec<u8>,
}

impl From<InboxRecordV1> for InboxRecord {
    fn from(r: InboxRecordV1) -> Self {
        Self {
            sender: r.sender,
            grant: r.grant,
            purpose: r.purpose,
            category: r.category,
            content_type: r.content_type,
            size: r.size,
            epoch: r.epoch,
            receipt: BundledReceipt::Signed(r.receipt),
            erased_at: r.erased_at,
            evidence: r.evidence,
            commitment_key: r.commitment_key,
        }
    }
}

/// A send not yet receipted.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct OutboxRecord {
    /// The recipient.
    pub to: AgencyId,
    /// The offer, for a resend.
    pub offer: Offer,
    /// The file the payload came from, if it was a file.
    pub source: Option<String>,
    /// The content-commitment key, wrapped under the storage key.
    pub commitment_key: Vec<u8>,
}

/// A receipted send: what the sender keeps to reveal the content later
/// (the receipt is in the log).
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct SentRecord {
    /// The recipient.
    pub to: AgencyId,
    /// The header, encapsulated key and trailer as sent.
    pub evidence: Evidence,
    /// The content-commitment key, wrapped under the storage key.
    pub commitment_key: Vec<u8>,
}

/// A data key: wrapped under the storage key in a slot of the key slot
/// file, destroyed when it is due.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub(crate) struct DataKeyRecord {
    /// The slot holding the wrapped key (nonce, AES-256-GCM ciphertext and tag).
    pub(crate) slot: u64,
    /// When it was made.
    pub(crate) created: Timestamp,
    /// When it must be destroyed.
    pub(crate) erase_at: Timestamp,
}

/// An erasure recorded in the log whose key is not destroyed yet.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct PendingErasure {
    /// The grant.
    pub grant: GrantId,
    /// The data key's epoch.
    pub epoch: u64,
    /// The deletion reason's code.
    pub reason: u16,
}
