//! The protocol's objects (spec/wire.md, "Messages").
//!
//! Field order is wire order: postcard encodes a struct as its fields in
//! declaration order, with no names and no tags. Adding, removing or
//! reordering a field changes the format and needs a new protocol version.

mod directory;
mod grant;
mod log;
mod packet;
mod receipt;

pub use directory::{AgencyRecord, CategoryRecord, Directory, KemKeyCertificate, PurposeRecord, Registration};
pub use grant::{Direction, Grant, GrantChain, Quota, Rate, Revocation, decode_grant_chain, encode_grant_chain};
pub use log::{BundledReceipt, DeletionRecord, LogEntry, ReceiptBundle};
pub use packet::{Evidence, PacketHeader, PullRequest, Reveal, Trailer};
pub use receipt::{Checkpoint, Outcome, Receipt};
