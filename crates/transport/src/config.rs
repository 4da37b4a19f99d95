//! Limits and window sizes (spec/transport.md, "Limits").

use std::time::Duration;

/// The transport's limits. The defaults are those of spec/transport.md.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct TransportConfig {
    /// Each exchange's limits (how long a silent peer is awaited).
    pub exchange: tally_protocol::Config,
    /// How many exchanges (bidirectional streams) a peer may have open on one connection at once.
    pub max_concurrent_exchanges: u32,
    /// How many bytes a peer may send on one stream ahead of what the
    /// receiving node has read: the most one exchange buffers.
    pub stream_window: u32,
    /// How many bytes a peer may send on a connection ahead of what was
    /// read, over all its streams: the most one connection buffers.
    pub connection_window: u32,
    /// How long a connection attempt (QUIC and TLS handshake) may take.
    pub connect_timeout: Duration,
    /// A connection with no traffic for this long is closed.
    pub connection_idle_timeout: Duration,
    /// How often an idle connection is kept alive with a ping.
    pub keep_alive: Duration,
    /// How many connections one peer may have open to this endpoint; one more is closed with `TOO_MANY_CONNECTIONS`.
    pub max_connections_per_peer: usize,
    /// How many connections (and handshakes) this endpoint accepts at once, over all peers.
    pub max_connections: usize,
    /// How many bytes of frames read from one connection may wait to be
    /// handled: a peer that sends faster waits for flow control. At least
    /// two of the largest frames.
    pub connection_memory: usize,
    /// The same, over every connection of the endpoint.
    pub endpoint_memory: usize,
    /// The TLS key exchanges offered and accepted: the hybrid post-quantum
    /// X25519MLKEM768 preferred (the default) or required.
    pub key_exchange: crate::KeyExchange,
}

impl Default for TransportConfig {
    fn default() -> Self {
        Self {
            exchange: tally_protocol::Config::default(),
            max_concurrent_exchanges: 1024,
            stream_window: 4 << 20,
            connection_window: 16 << 20,
            connect_timeout: Duration::from_secs(10),
            connection_idle_timeout: Duration::from_secs(60),
            keep_alive: Duration::from_secs(15),
            max_connections_per_peer: 4,
            max_connections: 1024,
            connection_memory: 16 << 20,
            endpoint_memory: 256 << 20,
            key_exchange: crate::KeyExchange::default(),
        }
    }
}

impl TransportConfig {
    /// The memory budgets, raised to what one frame of each kind needs.
    pub(crate) fn budgets(&self) -> (usize, usize) {
        let floor = 2 * tally_wire::limits::frame::MAX;
        let connection = self.connection_memory.max(floor);
        (connection, self.endpoint_memory.max(connection))
    }

    /// The quinn transport parameters of these limits.
    pub fn quinn(&self) -> quinn::TransportConfig {
        let mut t = quinn::TransportConfig::default();
        t.max_concurrent_bidi_streams(self.max_concurrent_exchanges.into())
            .max_concurrent_uni_streams(0u32.into())
            .stream_receive_window(self.stream_window.into())
            .receive_window(self.connection_window.into())
            .send_window(u64::from(self.connection_window))
            .keep_alive_interval(Some(self.keep_alive))
            .max_idle_timeout(quinn::IdleTimeout::try_from(self.connection_idle_timeout).ok());
        t
    }
}
