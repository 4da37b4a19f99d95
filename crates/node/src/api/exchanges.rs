//! Sends and pulls (`POST /v1/sends`, `POST /v1/requests`): the flow asked for, and the answer.

use serde::{Deserialize, Serialize};
use tally_wire::{AgencyId, ContentType, DataCategory, GrantId, Outcome, PacketId, Purpose, Receipt};

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
