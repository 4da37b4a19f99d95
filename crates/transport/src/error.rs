//! How a transport operation can fail.

use std::io;
use std::net::SocketAddr;

use tally_protocol::ExchangeError;
use tally_wire::{AgencyId, CloseCode, Endpoint};

/// Why an endpoint operation or an exchange over QUIC failed.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum TransportError {
    /// The TLS key could not be made or loaded.
    #[error("TLS key: {0}")]
    TlsKey(TlsKeyError),
    /// rustls refused the TLS configuration.
    #[error("TLS configuration: {0}")]
    Tls(#[from] rustls::Error),
    /// quinn refused the TLS configuration for QUIC.
    #[error("QUIC configuration: {0}")]
    Config(#[from] quinn::crypto::rustls::NoInitialCipherSuite),
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
    /// The agency lists no KEM key of the packet's suite's KEM valid now.
    #[error("agency {agency} has no {kem} KEM key valid now in the directory")]
    NoKemKeyOfKem {
        /// The agency.
        agency: AgencyId,
        /// The KEM the suite needs.
        kem: tally_wire::Kem,
    },
    /// The agency's endpoint did not resolve to an address.
    #[error("cannot resolve {agency}'s endpoint {endpoint}: {source}")]
    Resolve {
        /// The agency.
        agency: AgencyId,
        /// Its endpoint from the directory.
        endpoint: String,
        /// Why (a lookup that found no address is `NotFound`).
        source: io::Error,
    },
    /// None of the agency's endpoints (it lists several) completed a handshake.
    #[error("cannot reach {agency} at any of its endpoints: {}", attempts_text(.attempts))]
    Unreachable {
        /// The agency.
        agency: AgencyId,
        /// Each endpoint tried, in order, with why it failed.
        attempts: Vec<(Endpoint, Self)>,
    },
    /// The connection to the agency could not be made or was lost
    /// (unreachable, handshake refused, the peer's key not the one the directory pins).
    #[error("connection to {agency}: {source}")]
    Connection {
        /// The peer.
        agency: AgencyId,
        /// Why, as QUIC or TLS said.
        source: ConnectionFailure,
    },
    /// Reading or writing the exchange's stream failed.
    #[error("exchange stream: {0}")]
    Stream(#[from] StreamFailure),
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

/// Why a connection could not be made or was lost.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ConnectionFailure {
    /// quinn refused to start the connection.
    #[error(transparent)]
    Connect(#[from] quinn::ConnectError),
    /// The connection failed or was closed (by the peer, QUIC, TLS or a timeout).
    #[error(transparent)]
    Lost(#[from] quinn::ConnectionError),
    /// The handshake did not finish within the connect timeout.
    #[error("no handshake within {0:?}")]
    HandshakeTimeout(std::time::Duration),
}

/// Why the exchange's stream failed.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum StreamFailure {
    /// Reading failed.
    #[error("reading: {0}")]
    Read(#[from] quinn::ReadError),
    /// Writing failed.
    #[error("writing: {0}")]
    Write(#[from] quinn::WriteError),
    /// A frame could not be encoded.
    #[error("encoding a frame: {0}")]
    Encode(tally_wire::Error),
    /// The endpoint's socket could not say its address.
    #[error("the socket's address: {0}")]
    LocalAddr(io::Error),
}

/// Why a TLS key could not be made or loaded.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum TlsKeyError {
    /// The system random generator failed.
    #[error("the system random generator failed")]
    Random,
    /// rustls could not load the key.
    #[error("not a usable PKCS#8 key: {0}")]
    Unusable(rustls::Error),
    /// The key has no public half to put in the raw public key certificate.
    #[error("the key has no SubjectPublicKeyInfo")]
    NoPublicKey,
    /// The document's public key is not its private key's.
    #[error("inconsistent PKCS#8 key")]
    Inconsistent,
}

impl From<TlsKeyError> for TransportError {
    fn from(e: TlsKeyError) -> Self {
        Self::TlsKey(e)
    }
}

/// `endpoint: why; endpoint: why` (the agency named once, by the caller).
fn attempts_text(attempts: &[(Endpoint, TransportError)]) -> String {
    let why = |e: &TransportError| match e {
        TransportError::Connection { source, .. } => source.to_string(),
        other => other.to_string(),
    };
    attempts.iter().map(|(endpoint, e)| format!("{endpoint}: {}", why(e))).collect::<Vec<_>>().join("; ")
}

impl TransportError {
    pub(crate) fn connection(agency: &AgencyId, source: impl Into<ConnectionFailure>) -> Self {
        Self::Connection { agency: agency.clone(), source: source.into() }
    }
}
