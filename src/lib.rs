//! Tally: purpose-bound, end-to-end encrypted data exchange between
//! government agencies, under signed usage grants, with receipts anyone
//! holding the federation directory can verify offline.
//!
//! This facade re-exports the layer crates; see `spec/` for the protocol.
//! Without default features it is the layers an offline verifier needs
//! (wire, envelope, grant, receipt); the features `audit`, `protocol`,
//! `transport`, `store` and `node` (the default) add the rest.
//!
//! ```
//! use tally::wire::{AgencyId, Purpose};
//!
//! let agency = AgencyId::new("tax-bureau")?;
//! let purpose = Purpose::new("social-security.eligibility")?;
//! assert!(Purpose::new("social-security")?.covers(&purpose));
//! # let _ = agency;
//! # Ok::<(), tally::wire::InvalidValue>(())
//! ```

#![forbid(unsafe_code)]

/// The message types and their canonical wire encoding.
pub use tally_wire as wire;

/// Keys, HPKE, and the sealed, signed, purpose-bound packet.
pub use tally_envelope as envelope;

/// Usage grants, delegation, revocation, quotas and the policy decision.
pub use tally_grant as grant;

/// Receipts, the tamper-evident log, checkpoints and offline verification.
pub use tally_receipt as receipt;

/// The offline audit of agencies' logs (feature `audit`).
#[cfg(feature = "audit")]
pub use tally_audit as audit;

/// The exchange as sans-I/O state machines (feature `protocol`).
#[cfg(feature = "protocol")]
pub use tally_protocol as protocol;

/// Exchanges over QUIC with TLS 1.3, authenticated against the federation directory (feature `transport`).
#[cfg(feature = "transport")]
pub use tally_transport as transport;

/// A node's durable state: its database, log store and payloads at rest (feature `store`).
#[cfg(feature = "store")]
pub use tally_store as store;

/// The peer node: keys, directory, storage, policy and its QUIC endpoint (feature `node`).
#[cfg(feature = "node")]
pub use tally_node as node;
