//! Log entries and receipt bundles (spec/receipts.md).

use serde::{Deserialize, Serialize};

use crate::bounded::{BoundedVec, Text};
use crate::bytes::{Digest, GrantId, PacketId};
use crate::codepoint::DeletionReason;
use crate::limits;
use crate::message::{Grant, Receipt, Revocation};
use crate::name::AgencyId;
use crate::signed::{Body, Encoded, Signed};
use crate::time::Timestamp;

/// One entry of a node's log. Entries are typed, so that one log tells a
/// node's whole story; the leaf hashed into the Merkle tree is the
/// entry's canonical encoding.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum LogEntry {
    /// A receipt this node signed on its own (individual signing; wire value 0).
    ReceiptIssued(Signed<Receipt>),
    /// A receipt this node vouches for by logging it under a signed checkpoint (batch signing; 1).
    ReceiptLogged(Encoded<Receipt>),
    /// An individually signed receipt from a peer, for a packet this node sent (2).
    ReceiptReceived(Signed<Receipt>),
    /// A receipt bundle from a peer, for a packet this node sent (3).
    BundleReceived(ReceiptBundle),
    /// A grant this node issued (4).
    GrantIssued(Signed<Grant>),
    /// A grant this node received (5).
    GrantReceived(Signed<Grant>),
    /// A revocation this node issued or received (6).
    Revocation(Signed<Revocation>),
    /// A deletion record: data destroyed at the end of its retention or on revocation (7).
    Deletion(Encoded<DeletionRecord>),
}

impl Body for LogEntry {
    const NAME: &'static str = "LogEntry";
    const MAX_SIZE: usize = limits::MAX_LOG_ENTRY_SIZE;
}

/// A record that data received under a grant was destroyed (crypto-shredded).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct DeletionRecord {
    /// The agency that held and destroyed the data.
    pub agency: AgencyId,
    /// The grant the data was received under.
    pub grant: GrantId,
    /// The packets destroyed.
    pub packets: BoundedVec<PacketId, { limits::MAX_DELETION_PACKETS }>,
    /// When the key was destroyed.
    pub erased_at: Timestamp,
    /// Why.
    pub reason: DeletionReason,
}

impl Body for DeletionRecord {
    const NAME: &'static str = "DeletionRecord";
    const MAX_SIZE: usize = limits::MAX_DELETION_RECORD_SIZE;
}

/// The receipt in a bundle: signed on its own, or vouched for by the checkpoint.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum BundledReceipt {
    /// Individually signed; its log entry is `ReceiptIssued` (wire value 0).
    Signed(Signed<Receipt>),
    /// Batch-signed; its log entry is `ReceiptLogged` (1).
    Logged(Encoded<Receipt>),
}

/// A receipt, its inclusion proof, and the signed checkpoint the proof
/// leads to: everything needed to verify the receipt offline with the
/// directory's keys.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct ReceiptBundle {
    /// The receipt.
    pub receipt: BundledReceipt,
    /// The receipt's entry index in the recipient's log.
    pub index: u64,
    /// The inclusion proof of that entry in the checkpoint's tree (RFC 9162).
    pub proof: BoundedVec<Digest, { limits::MAX_PROOF_LEN }>,
    /// The recipient's checkpoint, as a C2SP signed note.
    pub checkpoint: Text<{ limits::MAX_CHECKPOINT_NOTE_LEN }>,
}

impl Body for ReceiptBundle {
    const NAME: &'static str = "ReceiptBundle";
    const MAX_SIZE: usize = limits::MAX_BUNDLE_SIZE;
}
