//! `tally-transport`: Tally's exchanges over QUIC (spec/transport.md).
//!
//! An [`Endpoint`] binds one UDP socket and speaks QUIC (quinn) with TLS
//! 1.3 (rustls on ring), its key exchange the hybrid post-quantum
//! X25519MLKEM768 (preferred, or required: [`KeyExchange`]). Both sides
//! present raw public keys (RFC 7250),
//! and a peer is authenticated as agency A exactly when the SHA-256 of its
//! key is the `tls_key` the federation directory lists for A ([`Roster`]).
//! Each exchange runs on its own bidirectional stream, driven by a
//! `tally-protocol` state machine; the node behind the endpoint is a
//! [`Host`] (policy, durable storage, the log, pull sources).
//!
//! ```no_run
//! # use std::sync::Arc;
//! # use tally_transport::{Endpoint, Host, LocalAgency, Roster, TransportConfig};
//! # async fn demo<H: Host>(local: LocalAgency, roster: Arc<Roster>, host: Arc<H>,
//! #     spec: tally_envelope::PacketSpec, to: tally_wire::AgencyId) -> Result<(), tally_transport::TransportError> {
//! let endpoint = Endpoint::bind("127.0.0.1:4433".parse().unwrap(), local, roster, host, TransportConfig::default())?;
//! let packet = endpoint.seal(&to, spec, tally_wire::BoundedVec::empty())?;
//! let outcome = endpoint.send(packet, &b"{\"income\": 42000}"[..]).await?;
//! println!("{outcome:?}");
//! endpoint.shutdown(std::time::Duration::from_secs(5)).await;
//! # Ok(()) }
//! ```

#![forbid(unsafe_code)]

mod accept;
mod config;
mod connections;
mod dial;
mod drive;
mod endpoint;
mod error;
mod file;
mod host;
mod inner;
mod kx;
mod roster;
mod serve;
mod tls;

pub use config::TransportConfig;
pub use endpoint::{Endpoint, LocalAgency, Packet};
pub use error::{ConnectionFailure, StreamFailure, TlsKeyError, TransportError};
pub use file::receive_packet_file;
pub use host::{Host, Inbox, OfferContext, OfferDecision, Outgoing, Refusal};
pub use kx::{KeyExchange, KeyExchangeCounts, X25519MLKEM768, X25519MlKem768, key_exchanges};
pub use roster::Roster;
pub use tls::{ALPN, TlsKey, client_config as tls_client_config, server_config as tls_server_config};
