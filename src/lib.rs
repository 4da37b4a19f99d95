//! Tally: purpose-bound, end-to-end encrypted data exchange between
//! government agencies, under signed usage grants, with receipts anyone
//! holding the federation directory can verify offline.
//!
//! This facade re-exports the layer crates; see `spec/` for the protocol.
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

/// The exchange as sans-I/O state machines.
pub use tally_protocol as protocol;

/// Exchanges over QUIC with TLS 1.3, authenticated against the federation directory.
pub use tally_transport as transport;
