//! `tally-node`: the Tally peer node (the `tally` command is `tally-cli`).
//!
//! A node is one agency's presence in a federation: its keys, the signed
//! federation directory, a QUIC endpoint (`tally-transport`), and its
//! state in one database (`tally-store`) beside a directory of payload blobs
//! (small payloads are kept in the database):
//!
//! - every offer and pull request is decided by the grant policy
//!   (`tally-grant`) against the directory, the grants and revocations the
//!   node holds, and the usage so far;
//! - a payload is encrypted under its grant's data key, written, fsynced,
//!   renamed into place (or, up to 16 KiB sealed, written into the
//!   database with its record) and recorded before its receipt is signed, and the
//!   receipt is in the log (`tally-receipt`) before anyone hears of it;
//! - when retention ends, or a grant is revoked with erasure, the data key
//!   is destroyed and a deletion record enters the log;
//! - grants and revocations are handed to the agencies they concern over
//!   the transport (notices), and a node fetches a newer directory, or, as
//!   an auditor, another agency's log, from a peer (fetches);
//! - agency systems and the `tally` command drive it through its local
//!   HTTP API ([`api`]); an auditor matches agencies' logs with `tally-audit`.
//!
//! The operator side (root key, registers, publishing the directory) is
//! [`Federation`]; an agency's node directory is made by [`init_agency`].
//!
//! ```no_run
//! # async fn demo() -> Result<(), tally_node::NodeError> {
//! use std::sync::Arc;
//! use tally_node::{Node, SendOptions};
//!
//! let node = Node::start(std::path::Path::new("/var/lib/tally/tax-bureau")).await?;
//! let options = SendOptions {
//!     to: tally_wire::AgencyId::new("social-security").expect("valid"),
//!     grant: "9f…".parse().expect("a grant id"),
//!     purpose: tally_wire::Purpose::new("social-security.eligibility").expect("valid"),
//!     category: tally_wire::DataCategory::new("income.annual").expect("valid"),
//!     content_type: tally_wire::ContentType::new("application/json").expect("valid"),
//! };
//! let outcome = node.send_file(&options, "income.json".as_ref(), Arc::default()).await?;
//! println!("{outcome:?}");
//! # Ok(()) }
//! ```

#![forbid(unsafe_code)]

mod agency;
pub mod api;
mod checkpoints;
mod config;
mod counting;
mod directory;
mod erasure;
mod error;
mod federation;
mod fetch;
mod files;
mod follow;
pub use tally_wire::hex;
mod holdings;
mod host;
mod limits;
mod metrics;
mod node;
mod notice;
mod packet_file;
mod peers;
mod policy;
mod pull;
mod reservation;
mod retry;
mod rotation;
mod sends;
mod sent;
mod serve;
mod state;
#[cfg(test)]
mod tests;

pub use agency::{AgencyExport, AgencyKeys, EXPORT_FORMAT, InitOptions, KEM_KEY_VALIDITY, init_agency};
pub use api::{InboxEntry, ReceiptEntry, SendOptions, outcome_text};
pub use config::{CONFIG_FILE, KeyExchangeSetting, Limits, NodeConfig, PullSource, Timeouts, Tls};
pub use directory::load_directory;
pub use error::{Fault, NodeError};
pub use federation::{CategoryEntry, Federation, Member, PurposeEntry, parse_roles};
pub use fetch::MAX_FETCHED_DIRECTORY;
pub use follow::{Followed, MAX_FETCHED_LOG};
pub use holdings::StoredPacket;
pub use host::{NodeHost, NodeInbox};
pub use node::Node;
pub use notice::Delivery;
pub use packet_file::seal_packet_file;
pub use retry::RetryPolicy;
pub use rotation::{Rotated, rotate_kem_key, write_export_again};
pub use serve::serve;
pub use tally_audit::{LOG_EXPORT_FORMAT, LogExport};
pub use tally_grant::VerifiedDirectory;
pub use tally_store::{InboxRecord, OutboxRecord};
