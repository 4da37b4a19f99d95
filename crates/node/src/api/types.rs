//! The local API's request and response bodies: Rust types shared by the
//! server (`tally serve`) and its clients (the `tally` command, [`Client`](super::Client)).

use std::net::SocketAddr;

use serde::{Deserialize, Serialize};
use tally_grant::GrantDocument;
use tally_wire::{AgencyId, ContentType, DataCategory, GrantId, Outcome, PacketId, Purpose, Receipt, RevocationReason};

use super::Problem;

/// `GET /v1/status`: what the node is and holds.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct Status {
    /// This agency.
    pub agency: AgencyId,
    /// The QUIC listener's address.
    pub listen: SocketAddr,
    /// The directory serial in use.
    pub directory_serial: u64,
    /// Entries in the log.
    pub log_size: u64,
    /// Sends not yet receipted.
    pub unfinished_sends: u64,
    /// Each of them: its attempts, last error and next try.
    pub sends: Vec<UnfinishedSend>,
    /// Each other agency in the directory: whether this node reached it lately.
    pub peers: Vec<PeerStatus>,
    /// The TLS key exchange: the setting, and the exchanges completed by group.
    pub tls: TlsStatus,
}

/// The node's TLS key exchange, as `GET /v1/status` shows it (spec/transport.md, "Key exchange").
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct TlsStatus {
    /// The `[tls] key_exchange` setting.
    pub key_exchange: crate::config::KeyExchangeSetting,
    /// Key exchanges completed with X25519MLKEM768 (post-quantum) since the node started, as client or server.
    pub hybrid: u64,
    /// Key exchanges completed with X25519 alone.
    pub classical: u64,
}

/// A send not yet receipted, as `GET /v1/status` shows it.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct UnfinishedSend {
    /// Its send id, if it was made through the API.
    pub send_id: Option<SendId>,
    /// The packet that carries it.
    pub packet: PacketId,
    /// The recipient.
    pub to: AgencyId,
    /// Plaintext bytes.
    pub size: u64,
    /// Being offered right now.
    pub running: bool,
    /// Offers that failed so far (since the node started).
    pub attempts: u32,
    /// Why the last one failed.
    pub last_error: Option<String>,
    /// When the node offers it again by itself (RFC 3339); `None` while it
    /// runs, or once the retry limit is reached (`tally resume` still tries).
    pub next_try: Option<String>,
}

/// What this node knows of a peer's reachability.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct PeerStatus {
    /// The agency.
    pub agency: AgencyId,
    /// The endpoint this node dials first: the one that last completed a
    /// handshake, else the first the directory lists.
    pub endpoint: String,
    /// Its endpoints in the directory, one per replica, in the directory's order.
    pub endpoints: Vec<String>,
    /// `Some(true)` if the last exchange this node started with it reached
    /// it, `Some(false)` if it failed, `None` if it tried none since it started.
    pub reachable: Option<bool>,
    /// When an exchange with it last succeeded (RFC 3339).
    pub last_success: Option<String>,
    /// Why the last failed one failed, when the last one failed.
    pub last_error: Option<String>,
    /// Sends to it not yet receipted.
    pub unfinished_sends: u64,
    /// The newest checkpoint of its log this node holds from its receipt
    /// bundles, proven consistent with every earlier one it held.
    pub checkpoint: Option<CheckpointShown>,
    /// A newer (or other) checkpoint of its log not proven consistent yet,
    /// and why, once a proof was asked for and not given.
    pub unproven_checkpoint: Option<String>,
    /// Fork evidence kept against its log: pairs of its checkpoints that
    /// cannot both be honest (spec/receipts.md, "Fork evidence").
    pub log_forks: u64,
}

/// A checkpoint of a log: its size and root.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct CheckpointShown {
    /// Entries.
    pub size: u64,
    /// The Merkle tree hash of those entries.
    pub root: tally_wire::Digest,
}

/// `GET /health`.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct Health {
    /// `ok` while the node serves and its sends go through; `degraded`
    /// while sends are failing (the node still serves).
    pub status: String,
    /// Why it is degraded, one sentence per peer.
    #[serde(default)]
    pub reasons: Vec<String>,
}

/// A send's idempotency key (spec/api.md, "Sends"): 1 to 64 characters of
/// `A-Z a-z 0-9 . _ : -`. A second send under the same id attaches to the
/// first instead of sending the payload again.
#[derive(Clone, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct SendId(String);

impl SendId {
    /// The id as text.
    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// The send id derived from a send's flow and its payload's digest
    /// (`H("tally/v1/hash/payload", payload)`, see
    /// [`tally_envelope::digest_reader`]): the first 16 bytes, in hex, of
    /// `H("tally/v1/hash/send-id", to ‖ 0 ‖ grant ‖ purpose ‖ 0 ‖ category ‖ 0 ‖ content type ‖ 0 ‖ payload digest)`.
    pub fn derive(options: &SendOptions, payload_digest: &tally_wire::Digest) -> Self {
        let d = tally_envelope::digest(
            tally_wire::label::SEND_ID,
            &[
                options.to.as_str().as_bytes(),
                &[0],
                &options.grant.0,
                options.purpose.as_str().as_bytes(),
                &[0],
                options.category.as_str().as_bytes(),
                &[0],
                options.content_type.as_str().as_bytes(),
                &[0],
                &payload_digest.0,
            ],
        );
        Self(crate::hex::encode(&d.0[..16]))
    }

    /// A random send id, for a send made without one.
    pub fn random() -> Result<Self, crate::NodeError> {
        let mut bytes = [0u8; 16];
        tally_envelope::at_rest::random_bytes(&mut bytes)?;
        Ok(Self(crate::hex::encode(&bytes)))
    }
}

impl TryFrom<String> for SendId {
    type Error = String;
    fn try_from(s: String) -> Result<Self, String> {
        let ok = |c: char| c.is_ascii_alphanumeric() || matches!(c, '.' | '_' | ':' | '-');
        if s.is_empty() || s.len() > 64 || !s.chars().all(ok) {
            return Err(format!("send id `{s}`: 1 to 64 characters of A-Z a-z 0-9 . _ : -"));
        }
        Ok(Self(s))
    }
}

impl From<SendId> for String {
    fn from(id: SendId) -> Self {
        id.0
    }
}

impl std::str::FromStr for SendId {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        Self::try_from(s.to_owned())
    }
}

impl std::fmt::Display for SendId {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

/// The flow of a send, from the command line to the packet header: the
/// query of `POST /v1/sends`, whose body is the payload.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct SendOptions {
    /// The recipient.
    pub to: AgencyId,
    /// The grant (the leaf of a chain this node holds).
    pub grant: GrantId,
    /// The purpose.
    pub purpose: Purpose,
    /// The data category.
    pub category: DataCategory,
    /// The payload's media type.
    pub content_type: ContentType,
}

/// The query of `POST /v1/sends`: the flow, its send id, and the file the
/// payload is read from, if it is one. With a file the body is empty and
/// the node reads the file itself (so that the send goes on if the client
/// goes away, and so that it can seal it anew should the recipient never
/// have stored it); without one the body is the payload.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct SendQuery {
    /// The flow.
    #[serde(flatten)]
    pub options: SendOptions,
    /// The send id; a random one if absent (the send is then not idempotent).
    #[serde(default)]
    pub send_id: Option<SendId>,
    /// The payload's file (an absolute path on the node's machine; only over the Unix socket).
    #[serde(default)]
    pub source: Option<std::path::PathBuf>,
}

/// `POST /v1/requests`: a pull from a peer.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct PullOptions {
    /// The responder.
    pub to: AgencyId,
    /// The grant (the leaf of a chain this node holds).
    pub grant: GrantId,
    /// The purpose.
    pub purpose: Purpose,
    /// The data category.
    pub category: DataCategory,
    /// What is asked for (the responder's pull source reads it).
    pub query: String,
}

/// A receipt, as the API shows it.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct ReceiptSummary {
    /// The packet (or pull request) id.
    pub packet: PacketId,
    /// The sender.
    pub sender: AgencyId,
    /// The recipient, who signed it.
    pub recipient: AgencyId,
    /// The grant.
    pub grant: GrantId,
    /// The purpose.
    pub purpose: Purpose,
    /// `accepted` or `rejected: REASON`.
    pub outcome: String,
    /// When (RFC 3339).
    pub at: String,
}

impl ReceiptSummary {
    /// The summary of the receipt in `bundle`.
    pub fn of_bundle(bundle: &tally_wire::ReceiptBundle) -> Self {
        Self::of(tally_receipt::bundled_receipt(&bundle.receipt))
    }

    /// The summary of `receipt`.
    pub fn of(receipt: &Receipt) -> Self {
        Self {
            packet: receipt.packet_id,
            sender: receipt.sender.clone(),
            recipient: receipt.recipient.clone(),
            grant: receipt.grant,
            purpose: receipt.purpose.clone(),
            outcome: outcome_text(&receipt.outcome),
            at: tally_grant::rfc3339(receipt.received_at),
        }
    }
}

/// Describes an outcome in one line.
pub fn outcome_text(outcome: &Outcome) -> String {
    match outcome {
        Outcome::Accepted { .. } => "accepted".into(),
        Outcome::Rejected { reason } => format!("rejected: {reason}"),
    }
}

/// Whether the recipient took a packet.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum SendResult {
    /// Delivered: the recipient's receipt is in the log.
    Delivered,
    /// Refused: the recipient's signed rejection is in the log.
    Refused,
    /// Not receipted yet: the peer could not be reached or the exchange
    /// broke off; the send is kept and the node offers it again by itself.
    Pending,
}

/// What a send under a known send id found.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Previously {
    /// The send had finished: its receipt (or rejection) is returned, nothing is sent.
    Finished,
    /// The send was unfinished: this request waited for it (or offered it again), nothing new was sealed.
    Attached,
}

/// Why a send is pending, and what comes next.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Pending {
    /// The recipient's endpoints in the directory, in the order this node
    /// tries them next (the one that last answered first), `, ` between them.
    pub endpoint: String,
    /// Why the offer failed.
    pub error: String,
    /// Offers that failed so far.
    pub attempts: u32,
    /// When the node offers it again (RFC 3339), if it will by itself.
    pub next_try: Option<String>,
}

/// The answer to a send (or a resend).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct SendAnswer {
    /// The send id.
    pub send_id: Option<SendId>,
    /// The packet that carries it.
    pub packet: PacketId,
    /// Delivered, refused, or pending.
    pub result: SendResult,
    /// The recipient's signed receipt or rejection, unless pending.
    pub receipt: Option<ReceiptSummary>,
    /// Set when the send id was known already.
    pub previously: Option<Previously>,
    /// Why it is pending, when it is.
    pub pending: Option<Pending>,
}

/// Whether a responder answered a pull.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum PullResult {
    /// Answered with packets (maybe none).
    Answered,
    /// Refused with a signed rejection.
    Refused,
}

/// The answer to a pull.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct PullAnswer {
    /// Answered or refused.
    pub result: PullResult,
    /// The responder's signed rejection, when refused.
    pub refusal: Option<ReceiptSummary>,
    /// This node's receipt for each answer packet.
    pub packets: Vec<ReceiptSummary>,
}

/// `POST /v1/grants`: a grant to issue (or delegate, with `parent`).
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct GrantIssue {
    /// What it grants.
    pub document: GrantDocument,
}

/// Whether one agency a grant or revocation concerns now holds it.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct Delivery {
    /// The agency.
    pub agency: AgencyId,
    /// `None` once it has kept it; otherwise why it could not be handed over.
    pub error: Option<String>,
}

/// A grant issued: its id, its file, and who has it now.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct GrantIssued {
    /// The grant's id.
    pub grant: GrantId,
    /// The grant file (its chain's encoding), hex.
    pub file: String,
    /// Whether each agency it names received it over the transport.
    pub delivered: Vec<Delivery>,
}

/// `POST /v1/grants/show`: a grant file, verified against the node's directory.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct GrantShown {
    /// The leaf grant's id.
    pub grant: GrantId,
    /// Grants in the chain.
    pub chain_depth: usize,
    /// `verified: …`, or `DOES NOT VERIFY: …` and why.
    pub verdict: String,
    /// Whether every signature and link checks against the directory.
    pub verified: bool,
    /// The leaf grant as a grant document.
    pub document: GrantDocument,
    /// Its state now, with the revocations and usage this node holds.
    #[serde(flatten)]
    pub status: GrantStatus,
}

/// A grant's state now, as this node knows it.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum GrantState {
    /// It permits flows now.
    Active,
    /// A grant of its chain is not valid yet.
    NotYetValid,
    /// A grant of its chain has expired.
    Expired,
    /// A grant of its chain is revoked (see `revocation`).
    Revoked,
    /// A quota of a grant of its chain is used up.
    QuotaExhausted,
}

impl GrantState {
    /// Its name (`not-yet-valid`).
    pub fn name(self) -> &'static str {
        match self {
            Self::Active => "active",
            Self::NotYetValid => "not yet valid",
            Self::Expired => "expired",
            Self::Revoked => "revoked",
            Self::QuotaExhausted => "quota exhausted",
        }
    }
}

/// A revocation of a grant of a chain, as shown.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct RevocationShown {
    /// The grant revoked (the leaf, or an ancestor).
    pub grant: GrantId,
    /// Who revoked it.
    pub by: AgencyId,
    /// From when (RFC 3339).
    pub effective_at: String,
    /// Why (`purpose-ended`).
    pub reason: String,
    /// Whether what was received under it must be erased.
    pub erase: bool,
    /// `true` while it is not in effect yet.
    pub pending: bool,
}

/// The usage of a grant against its quotas.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct UsageShown {
    /// Packets counted so far.
    pub packets: u64,
    /// The packet quota (`None`: no limit).
    pub max_packets: Option<u64>,
    /// Payload bytes counted so far.
    pub bytes: u64,
    /// The byte quota (`None`: no limit).
    pub max_bytes: Option<u64>,
}

/// A grant's state, its revocation and its usage.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct GrantStatus {
    /// Its state now.
    pub state: GrantState,
    /// Its revocation (or an ancestor's), if this node holds one.
    pub revocation: Option<RevocationShown>,
    /// The leaf's usage against its quotas.
    pub usage: UsageShown,
}

/// A grant chain kept.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct GrantKept {
    /// The leaf grant's id.
    pub grant: GrantId,
}

/// A grant this node holds, as listed.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct GrantSummary {
    /// The leaf's id.
    pub grant: GrantId,
    /// Who issued it.
    pub issuer: AgencyId,
    /// To whom.
    pub grantee: AgencyId,
    /// For which purposes.
    pub purposes: Vec<Purpose>,
    /// Which categories.
    pub categories: Vec<DataCategory>,
    /// From when (RFC 3339).
    pub not_before: String,
    /// Until when (RFC 3339).
    pub not_after: String,
    /// Grants in its chain.
    pub depth: usize,
    /// Its state now, with its revocation and usage.
    #[serde(flatten)]
    pub status: GrantStatus,
}

/// Why a grant is revoked (spec/grants.md, "Revocation").
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum RevokeReason {
    /// No reason given.
    Unspecified,
    /// Replaced by another grant.
    Superseded,
    /// The purpose has ended.
    PurposeEnded,
    /// A key was compromised.
    KeyCompromise,
    /// A legal order.
    LegalOrder,
    /// A breach of the grant's terms.
    Breach,
}

impl RevokeReason {
    /// Every reason, for messages.
    pub const ALL: [Self; 6] =
        [Self::Unspecified, Self::Superseded, Self::PurposeEnded, Self::KeyCompromise, Self::LegalOrder, Self::Breach];

    /// Its name (`purpose-ended`).
    pub fn name(self) -> &'static str {
        match self {
            Self::Unspecified => "unspecified",
            Self::Superseded => "superseded",
            Self::PurposeEnded => "purpose-ended",
            Self::KeyCompromise => "key-compromise",
            Self::LegalOrder => "legal-order",
            Self::Breach => "breach",
        }
    }

    /// Its wire code.
    pub fn code(self) -> RevocationReason {
        match self {
            Self::Unspecified => RevocationReason::UNSPECIFIED,
            Self::Superseded => RevocationReason::SUPERSEDED,
            Self::PurposeEnded => RevocationReason::PURPOSE_ENDED,
            Self::KeyCompromise => RevocationReason::KEY_COMPROMISE,
            Self::LegalOrder => RevocationReason::LEGAL_ORDER,
            Self::Breach => RevocationReason::BREACH,
        }
    }
}

impl std::str::FromStr for RevokeReason {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        Self::ALL.into_iter().find(|r| r.name() == s).ok_or_else(|| {
            let names: Vec<&str> = Self::ALL.iter().map(|r| r.name()).collect();
            format!("unknown revocation reason `{s}`: use {}", names.join(", "))
        })
    }
}

/// `POST /v1/grants/{grant}/revoke`.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct RevokeRequest {
    /// Why.
    pub reason: RevokeReason,
    /// Whether the grantee must erase what it received under it.
    pub erase: bool,
    /// From when (RFC 3339); now if absent.
    pub effective_at: Option<String>,
}

/// A revocation signed: its file, and who has it now.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct Revoked {
    /// The revoked grant.
    pub grant: GrantId,
    /// The revocation file (its encoding), hex.
    pub file: String,
    /// Whether each agency concerned received it over the transport.
    pub delivered: Vec<Delivery>,
}

/// A revocation another agency issued, kept.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct RevocationKept {
    /// `false` if this node held it already.
    pub new: bool,
}

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

/// `POST /v1/directory/fetch` and `POST /v1/log/fetch`: the peer to ask.
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
