//! `GET /v1/status` and `GET /health`: what the node is, holds and knows of its peers.

use std::net::SocketAddr;

use serde::{Deserialize, Serialize};
use tally_wire::{AgencyId, PacketId};

use super::SendId;

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
