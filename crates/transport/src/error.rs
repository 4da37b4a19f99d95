//! How a transport operation can fail.

use std::io;
use std::net::SocketAddr;

use tally_protocol::ExchangeError;
use tally_wire::{AgencyId, CloseCode};

/// Why an endpoint operation or an exchange over QUIC failed.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum TransportError {
    /// The TLS key could not be made or loaded.
    #[error("TLS key: {0}")]
    TlsKey(String),
    /// The TLS or QUIC configuration was refused.
    #[error("TLS configuration: {0}")]
    Config(String),
    /// The UDP socket could not be bound.
    #[error("cannot listen on {addr}: {source}")]
    Bind {
        /// The address asked for.
        addr: SocketAddr,
        /// Why.
        source: io::Error,
    },
    /// The agency is not in the directory.
    #[error("agency {0} is not in the directory")]
    UnknownAgency(AgencyId),
    /// The agency has no KEM key valid now in the directory, so nothing can be sealed to it.
    #[error("agency {0} has no KEM key valid now in the directory")]
    NoKemKey(AgencyId),
    /// The agency's endpoint did not resolve to an address.
    #[error("cannot resolve {agency}'s endpoint {endpoint}: {reason}")]
    Resolve {
        /// The agency.
        agency: AgencyId,
        /// Its endpoint from the directory.
        endpoint: String,
        /// Why.
        reason: String,
    },
    /// The connection to the agency could not be made or was lost
    /// (unreachable, handshake refused, the peer's key not the one the directory pins).
    #[error("connection to {agency}: {reason}")]
    Connection {
        /// The peer.
        agency: AgencyId,
        /// Why.
        reason: String,
    },
    /// Reading or writing the exchange's stream failed.
    #[error("exchange stream: {0}")]
    Stream(String),
    /// The peer stopped taking data (flow control) for longer than the exchange's idle timeout.
    #[error("the peer took no data for {0:?}")]
    Stalled(std::time::Duration),
    /// The peer sent bytes that are not a valid frame; the stream was closed with `code`.
    #[error("the peer sent an invalid frame ({code}): {source}")]
    Frame {
        /// The close code sent.
        code: CloseCode,
        /// The decoding error.
        source: tally_wire::Error,
    },
    /// The peer ended the stream before the exchange ended.
    #[error("the peer ended the stream in the middle of the exchange")]
    Truncated,
    /// The exchange ended with a protocol error (sent or received as a Close frame).
    #[error(transparent)]
    Exchange(#[from] ExchangeError),
    /// The host (storage, log, payload source) failed.
    #[error("host: {0}")]
    Host(io::Error),
    /// Sealing a packet failed.
    #[error("sealing: {0}")]
    Envelope(#[from] tally_envelope::Error),
    /// The endpoint is shutting down.
    #[error("the endpoint is shutting down")]
    ShuttingDown,
}

impl TransportError {
    pub(crate) fn tls(e: rustls::Error) -> Self {
        Self::Config(e.to_string())
    }

    pub(crate) fn connection(agency: &AgencyId, e: impl std::fmt::Display) -> Self {
        Self::Connection { agency: agency.clone(), reason: e.to_string() }
    }
}
