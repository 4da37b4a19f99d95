//! The local API's other request and response bodies (the inbox, the log
//! and its receipts, reveals, imports, the directory and fetches). Like
//! those of `status`, `exchanges` and `grants`, they are Rust types shared
//! by the server (`tally serve`) and its clients (the `tally` command,
//! [`Client`](super::Client)).

use serde::{Deserialize, Serialize};
use tally_wire::{AgencyId, DataCategory, GrantId, PacketId, Purpose};

use super::{Problem, ReceiptSummary, SendAnswer, SendResult};

/// A received packet, as listed.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct InboxEntry {
    /// Its id.
    pub packet: PacketId,
    /// Who sent it.
    pub sender: AgencyId,
    /// Under which grant.
    pub grant: GrantId,
    /// For what.
    pub purpose: Purpose,
    /// What kind of data.
    pub category: DataCategory,
    /// The suite it was sealed with, by name (`XWING_…` suites are post-quantum).
    pub suite: String,
    /// Plaintext bytes.
    pub size: u64,
    /// When it was receipted (RFC 3339).
    pub received_at: String,
    /// When its data was destroyed (RFC 3339), if it was.
    pub erased_at: Option<String>,
}

/// Which side of an exchange a receipt in this node's log records.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Side {
    /// This node signed it: it received the packet.
    Issued,
    /// The peer signed it: this node sent the packet.
    Received,
}

/// A receipt in the log, as listed.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct ReceiptEntry {
    /// Its index in this node's log.
    pub index: u64,
    /// Which side.
    pub side: Side,
    /// `true` if the receipt is batch-signed (vouched for by its
    /// checkpoint's signature), `false` if it is signed on its own.
    pub batch_signed: bool,
    /// Where its proof is: the log that holds the receipt (its recipient's),
    /// the index there, and the checkpoint it was given under. `None` for a
    /// receipt a peer gave without a bundle (an older node).
    pub proof: Option<ReceiptProof>,
    /// The receipt.
    #[serde(flatten)]
    pub receipt: ReceiptSummary,
}

/// Where a receipt's proof is (spec/receipts.md, "Bundles").
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct ReceiptProof {
    /// The agency whose log holds the receipt: its recipient.
    pub log: AgencyId,
    /// The receipt's index in that log.
    pub index: u64,
    /// The size of the checkpoint it was bundled under: for a peer's
    /// bundle, the one it came with; for a receipt this node issued, this
    /// node's latest checkpoint (its export bundles it under that one, or
    /// signs one if none since the node started covers it, then `None`).
    pub checkpoint_size: Option<u64>,
    /// That checkpoint's root.
    pub checkpoint_root: Option<tally_wire::Digest>,
}

/// `GET /v1/packets/{packet}/reveal`.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct RevealAnswer {
    /// The packet.
    pub packet: PacketId,
    /// The reveal (its encoding), hex.
    pub reveal: String,
    /// Whether this node received the packet (its plaintext is then at `GET /v1/inbox/{packet}/content`).
    pub received: bool,
}

/// A checkpoint signed now.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct CheckpointAnswer {
    /// The signed checkpoint note.
    pub checkpoint: String,
}

/// What a sweep erased.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct Erased {
    /// Packets erased.
    pub erased: usize,
}

/// `POST /v1/packets/import`: a packet file taken as an offer over QUIC would be.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct PacketImported {
    /// `delivered` if this node stored it, `refused` with a signed rejection.
    pub result: SendResult,
    /// This node's receipt or rejection, logged.
    pub receipt: ReceiptSummary,
    /// Its receipt bundle's text form (spec/receipts.md), to carry back to the sender.
    pub bundle: String,
}

/// One unfinished send offered again.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct Resumed {
    /// The packet.
    pub packet: PacketId,
    /// Its answer, if the recipient gave one.
    pub answer: Option<SendAnswer>,
    /// Why it could not be resent, if it could not.
    pub problem: Option<Problem>,
}

/// Whether the directory file was newer.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct DirectoryReloaded {
    /// `true` if the node uses it now.
    pub updated: bool,
}

/// `POST /v1/directory/fetch`, `POST /v1/log/fetch` and `POST /v1/log/follow`: the peer to ask.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct FetchFrom {
    /// The peer.
    pub from: AgencyId,
}

/// A directory fetched from a peer.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct DirectoryFetched {
    /// The newer serial now in use, or `None` if the peer had none newer.
    pub serial: Option<u64>,
}
