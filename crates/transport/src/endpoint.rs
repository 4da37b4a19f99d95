//! The endpoint: one UDP socket, connections to and from the federation's
//! agencies, one exchange per bidirectional stream (spec/transport.md).

use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::time::Duration;

use tally_envelope::{IdentityKey, IdentityVerifier, PacketSpec, Sealer, verify_kem_certificate};
use tally_protocol::{
    Answerer, AnswererOutcome, Asker, Receiver, ReceiverOutcome, Requester, RequesterOutcome, Responder,
    ResponderOutcome, Sender, SenderOutcome,
};
use tally_wire::{
    AgencyId, CloseCode, Fetch, Frame, GrantChain, KemKeyCertificate, Notice, Offer, PullRequest, Signed,
};
use tokio::io::AsyncRead;
use tokio::sync::{Mutex, Notify};

use crate::config::TransportConfig;
use crate::drive::{Stream, drive, now};
use crate::error::TransportError;
use crate::host::Host;
use crate::roster::Roster;
use crate::serve::{AnswerServe, AskServe, ReceiveServe, RespondServe, SendServe};
use crate::tls::{self, TlsKey};

/// Who this endpoint is: the agency, its identity key (signs trailers)
/// and its TLS key (authenticates connections).
#[derive(Debug)]
pub struct LocalAgency {
    /// The agency's id in the directory.
    pub id: AgencyId,
    /// Its identity key.
    pub identity: Arc<IdentityKey>,
    /// Its TLS key, whose SPKI digest the directory lists.
    pub tls_key: TlsKey,
}

/// A packet sealed for one recipient, ready for [`Endpoint::send`].
pub struct Packet {
    to: AgencyId,
    sealer: Sealer,
    offer: Offer,
}

impl Packet {
    /// The offer: keep a copy to [`Endpoint::resend`] the packet after a lost connection.
    pub fn offer(&self) -> &Offer {
        &self.offer
    }

    /// The recipient.
    pub fn recipient(&self) -> &AgencyId {
        &self.to
    }
}

/// A Tally node's QUIC endpoint: it connects to agencies the directory
/// lists, sends packets and pull requests, and serves the exchanges peers
/// open to it with its [`Host`].
pub struct Endpoint<H: Host> {
    inner: Arc<Inner<H>>,
}

impl<H: Host> Clone for Endpoint<H> {
    fn clone(&self) -> Self {
        Self { inner: Arc::clone(&self.inner) }
    }
}

pub(crate) struct Inner<H> {
    pub(crate) local: AgencyId,
    pub(crate) identity: Arc<IdentityKey>,
    pub(crate) roster: Arc<Roster>,
    pub(crate) host: Arc<H>,
    pub(crate) config: TransportConfig,
    quinn: quinn::Endpoint,
    connections: Mutex<HashMap<AgencyId, quinn::Connection>>,
    shutting_down: AtomicBool,
    in_flight: AtomicUsize,
    idle: Notify,
}

impl<H: Host> Endpoint<H> {
    /// Binds a UDP socket at `addr` and starts serving exchanges for `host`.
    /// Must be called inside a tokio runtime.
    pub fn bind(
        addr: SocketAddr,
        local: LocalAgency,
        roster: Arc<Roster>,
        host: Arc<H>,
        config: TransportConfig,
    ) -> Result<Self, TransportError> {
        let quic_server =
            quinn::crypto::rustls::QuicServerConfig::try_from(tls::server_config(&local.tls_key, Arc::clone(&roster))?)
                .map_err(|e| TransportError::Config(e.to_string()))?;
        let mut server = quinn::ServerConfig::with_crypto(Arc::new(quic_server));
        server.transport_config(Arc::new(config.quinn()));
        let quic_client =
            quinn::crypto::rustls::QuicClientConfig::try_from(tls::client_config(&local.tls_key, Arc::clone(&roster))?)
                .map_err(|e| TransportError::Config(e.to_string()))?;
        let mut client = quinn::ClientConfig::new(Arc::new(quic_client));
        client.transport_config(Arc::new(config.quinn()));
        let mut quinn =
            quinn::Endpoint::server(server, addr).map_err(|source| TransportError::Bind { addr, source })?;
        quinn.set_default_client_config(client);
        let inner = Arc::new(Inner {
            local: local.id,
            identity: local.identity,
            roster,
            host,
            config,
            quinn,
            connections: Mutex::new(HashMap::new()),
            shutting_down: AtomicBool::new(false),
            in_flight: AtomicUsize::new(0),
            idle: Notify::new(),
        });
        tokio::spawn(accept_connections(Arc::clone(&inner)));
        Ok(Self { inner })
    }

    /// The address the endpoint listens on.
    pub fn local_addr(&self) -> Result<SocketAddr, TransportError> {
        self.inner.quinn.local_addr().map_err(|e| TransportError::Stream(e.to_string()))
    }

    /// The agency this endpoint is.
    pub fn agency(&self) -> &AgencyId {
        &self.inner.local
    }

    /// The connection to `agency`, made (and authenticated against the
    /// directory) on first use and reused after.
    pub async fn connect(&self, agency: &AgencyId) -> Result<quinn::Connection, TransportError> {
        let mut connections = self.inner.connections.lock().await;
        if let Some(c) = connections.get(agency)
            && c.close_reason().is_none()
        {
            return Ok(c.clone());
        }
        let record = self.inner.roster.record(agency).ok_or_else(|| TransportError::UnknownAgency(agency.clone()))?;
        let endpoint = record.endpoint.to_string();
        let resolve_error =
            |reason: String| TransportError::Resolve { agency: agency.clone(), endpoint: endpoint.clone(), reason };
        let addr = tokio::net::lookup_host(endpoint.as_str())
            .await
            .map_err(|e| resolve_error(e.to_string()))?
            .next()
            .ok_or_else(|| resolve_error("no address".into()))?;
        let connecting =
            self.inner.quinn.connect(addr, agency.as_str()).map_err(|e| TransportError::connection(agency, e))?;
        let connection = tokio::time::timeout(self.inner.config.connect_timeout, connecting)
            .await
            .map_err(|_| TransportError::connection(agency, "no handshake within the connect timeout"))?
            .map_err(|e| TransportError::connection(agency, e))?;
        connections.insert(agency.clone(), connection.clone());
        Ok(connection)
    }

    /// Seals a packet to `to`'s current KEM key from the directory.
    pub fn seal(&self, to: &AgencyId, spec: PacketSpec, grant_chain: GrantChain) -> Result<Packet, TransportError> {
        let cert = kem_certificate(&self.inner.roster, to)?;
        let (sealer, offer) = Sealer::new(&cert, spec, grant_chain)?;
        Ok(Packet { to: to.clone(), sealer, offer })
    }

    /// Sends `packet` with its plaintext from `payload` (read only as fast
    /// as the recipient takes it), and returns the recipient's verified
    /// receipt or signed rejection, logged by the host before this returns.
    pub async fn send(
        &self,
        packet: Packet,
        mut payload: impl AsyncRead + Unpin + Send,
    ) -> Result<SenderOutcome, TransportError> {
        let recipient_key = self.identity_key(&packet.to)?;
        let packet_to = packet.to.clone();
        let _guard = self.inner.start_exchange()?;
        let (connection, streams) = self.open(&packet.to).await?;
        let mut sender = Sender::new(
            packet.sealer,
            packet.offer,
            Arc::clone(&self.inner.identity),
            recipient_key,
            self.inner.config.exchange,
            now(),
        );
        let timeout = self.inner.config.exchange.idle_timeout;
        let mut stream = Stream::new(connection, packet_to, streams, timeout);
        let mut serve = SendServe { payload: &mut payload, host: &*self.inner.host };
        drive(&mut sender, &mut stream, &mut serve).await
    }

    /// Offers again a packet whose exchange was cut off. If the recipient
    /// had stored it, its receipt comes back (the same one) and is logged;
    /// otherwise the exchange ends with
    /// [`ExchangeError::NotYetReceipted`](tally_protocol::ExchangeError::NotYetReceipted)
    /// and the payload must be sealed and sent anew.
    pub async fn resend(&self, to: &AgencyId, offer: Offer) -> Result<SenderOutcome, TransportError> {
        let recipient_key = self.identity_key(to)?;
        let _guard = self.inner.start_exchange()?;
        let (connection, streams) = self.open(to).await?;
        let mut sender =
            Sender::resend(offer, Arc::clone(&self.inner.identity), recipient_key, self.inner.config.exchange, now());
        let mut stream = Stream::new(connection, to.clone(), streams, self.inner.config.exchange.idle_timeout);
        let mut serve = SendServe { payload: &mut tokio::io::empty(), host: &*self.inner.host };
        drive(&mut sender, &mut stream, &mut serve).await
    }

    /// Sends a pull request (signed by this agency) to `to` and receives
    /// the answer's packets into the host's inboxes, each receipted. A
    /// refusal is logged by the host before this returns.
    pub async fn request(
        &self,
        to: &AgencyId,
        request: Signed<PullRequest>,
        grant_chain: GrantChain,
    ) -> Result<RequesterOutcome, TransportError> {
        let responder_key = self.identity_key(to)?;
        let _guard = self.inner.start_exchange()?;
        let (connection, streams) = self.open(to).await?;
        let mut requester = Requester::new(request, grant_chain, responder_key, self.inner.config.exchange, now());
        let mut stream = Stream::new(connection, to.clone(), streams, self.inner.config.exchange.idle_timeout);
        let mut serve = ReceiveServe::new(&*self.inner.host, to.clone(), tally_wire::Direction::Pull);
        let outcome = drive(&mut requester, &mut stream, &mut serve).await?;
        if let RequesterOutcome::Refused(refusal) = &outcome {
            self.inner.host.log_receipt(refusal).await.map_err(TransportError::Host)?;
        }
        Ok(outcome)
    }

    /// Hands `notice` (a grant chain or a revocation this agency issued) to
    /// `to`, and returns once `to` has kept it (spec/protocol.md, "Notices").
    pub async fn notify(&self, to: &AgencyId, notice: Notice) -> Result<(), TransportError> {
        let _guard = self.inner.start_exchange()?;
        let (connection, streams) = self.open(to).await?;
        let mut asker = Asker::notice(notice, self.inner.config.exchange, now());
        let mut stream = Stream::new(connection, to.clone(), streams, self.inner.config.exchange.idle_timeout);
        drive(&mut asker, &mut stream, &mut AskServe).await.map(drop)
    }

    /// Asks `to` for `target` and returns the answer's bytes, at most
    /// `limit` of them (spec/protocol.md, "Fetches"). The bytes are
    /// unverified: what they hold is signed, and the caller checks it.
    pub async fn fetch(&self, to: &AgencyId, target: Fetch, limit: u64) -> Result<Vec<u8>, TransportError> {
        let _guard = self.inner.start_exchange()?;
        let (connection, streams) = self.open(to).await?;
        let mut asker = Asker::fetch(target, limit, self.inner.config.exchange, now());
        let mut stream = Stream::new(connection, to.clone(), streams, self.inner.config.exchange.idle_timeout);
        drive(&mut asker, &mut stream, &mut AskServe).await
    }

    /// Stops accepting connections and exchanges, lets the exchanges in
    /// flight finish for up to `deadline`, then closes every connection
    /// with the close code `SHUTTING_DOWN`.
    pub async fn shutdown(&self, deadline: Duration) {
        self.inner.shutting_down.store(true, Ordering::SeqCst);
        self.inner.quinn.set_server_config(None);
        let _ = tokio::time::timeout(deadline, async {
            loop {
                let idle = self.inner.idle.notified();
                if self.inner.in_flight.load(Ordering::SeqCst) == 0 {
                    return;
                }
                idle.await;
            }
        })
        .await;
        self.inner.quinn.close(close_code(CloseCode::SHUTTING_DOWN), b"shutting down");
        self.inner.quinn.wait_idle().await;
    }

    /// How many exchanges are running on this endpoint, in both directions.
    pub fn exchanges_in_flight(&self) -> usize {
        self.inner.in_flight.load(Ordering::SeqCst)
    }

    fn identity_key(&self, agency: &AgencyId) -> Result<IdentityVerifier, TransportError> {
        identity_key(&self.inner.roster, agency)
    }

    async fn open(
        &self,
        to: &AgencyId,
    ) -> Result<(quinn::Connection, (quinn::SendStream, quinn::RecvStream)), TransportError> {
        let connection = self.connect(to).await?;
        match connection.open_bi().await {
            Ok(streams) => Ok((connection, streams)),
            // A cached connection that died since: one fresh attempt.
            Err(_) => {
                self.inner.connections.lock().await.remove(to);
                let connection = self.connect(to).await?;
                let streams = connection.open_bi().await.map_err(|e| TransportError::connection(to, e))?;
                Ok((connection, streams))
            }
        }
    }
}

impl std::fmt::Debug for Packet {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Packet").field("to", &self.to).field("packet_id", &self.offer.header.value().packet_id).finish()
    }
}

impl<H: Host> std::fmt::Debug for Endpoint<H> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Endpoint").field("agency", &self.inner.local).finish_non_exhaustive()
    }
}

/// Counts an exchange as in flight until dropped.
struct InFlight<'a, H> {
    inner: &'a Inner<H>,
}

impl<H> Inner<H> {
    fn start_exchange(&self) -> Result<InFlight<'_, H>, TransportError> {
        if self.shutting_down.load(Ordering::SeqCst) {
            return Err(TransportError::ShuttingDown);
        }
        self.in_flight.fetch_add(1, Ordering::SeqCst);
        Ok(InFlight { inner: self })
    }
}

impl<H> Drop for InFlight<'_, H> {
    fn drop(&mut self) {
        if self.inner.in_flight.fetch_sub(1, Ordering::SeqCst) == 1 {
            self.inner.idle.notify_waiters();
        }
    }
}

fn close_code(code: CloseCode) -> quinn::VarInt {
    quinn::VarInt::from_u32(u32::from(code.0))
}

/// The identity key the directory lists for `agency`.
pub(crate) fn identity_key(roster: &Roster, agency: &AgencyId) -> Result<IdentityVerifier, TransportError> {
    let record = roster.record(agency).ok_or_else(|| TransportError::UnknownAgency(agency.clone()))?;
    Ok(IdentityVerifier::new(&record.identity_key)?)
}

/// The newest KEM key certificate of `agency` valid now, verified under its identity key.
pub(crate) fn kem_certificate(roster: &Roster, agency: &AgencyId) -> Result<KemKeyCertificate, TransportError> {
    let record = roster.record(agency).ok_or_else(|| TransportError::UnknownAgency(agency.clone()))?;
    let issuer = IdentityVerifier::new(&record.identity_key)?;
    let at = now();
    record
        .kem_keys
        .iter()
        .filter_map(|c| verify_kem_certificate(c, &issuer, agency, at).ok())
        .max_by_key(|c| c.not_before)
        .cloned()
        .ok_or_else(|| TransportError::NoKemKey(agency.clone()))
}

async fn accept_connections<H: Host>(inner: Arc<Inner<H>>) {
    while let Some(incoming) = inner.quinn.accept().await {
        if inner.shutting_down.load(Ordering::SeqCst) {
            incoming.refuse();
            continue;
        }
        tokio::spawn(serve_connection(Arc::clone(&inner), incoming));
    }
}

async fn serve_connection<H: Host>(inner: Arc<Inner<H>>, incoming: quinn::Incoming) {
    let Ok(connection) = incoming.await else { return };
    // The handshake verified the key is in the roster; this names the agency.
    let Some(peer) = tls::authenticated_agency(&connection, &inner.roster) else {
        connection.close(close_code(CloseCode::SENDER_MISMATCH), b"unknown TLS key");
        return;
    };
    while let Ok(streams) = connection.accept_bi().await {
        let stream = Stream::new(connection.clone(), peer.clone(), streams, inner.config.exchange.idle_timeout);
        tokio::spawn(serve_exchange(Arc::clone(&inner), peer.clone(), stream));
    }
}

/// One exchange a peer opened: its first frame says push (an offer) or pull (a request).
async fn serve_exchange<H: Host>(inner: Arc<Inner<H>>, peer: AgencyId, mut stream: Stream) {
    let Ok(_guard) = inner.start_exchange() else {
        stream.close(CloseCode::SHUTTING_DOWN, "shutting down").await;
        return;
    };
    let config = inner.config.exchange;
    let first = config.idle_timeout;
    let deadline = now().checked_add(first);
    let frame = match stream.next_frame(deadline).await {
        Ok(Some(frame)) => frame,
        Ok(None) => return stream.close(CloseCode::TIMEOUT, "no first frame").await,
        Err(_) => return,
    };
    match frame {
        Frame::Offer(_) => {
            let mut receiver = Receiver::new(inner.local.clone(), peer.clone(), config, now());
            receiver.handle_frame(frame, now());
            let mut serve = ReceiveServe::new(&*inner.host, peer, tally_wire::Direction::Push);
            let _: Result<ReceiverOutcome, _> = drive(&mut receiver, &mut stream, &mut serve).await;
            stream.flushed().await;
        }
        Frame::Request(_) => {
            let mut responder = Responder::new(inner.local.clone(), peer.clone(), config, now());
            responder.handle_frame(frame, now());
            let mut serve = RespondServe::new(&inner, peer);
            let _: Result<ResponderOutcome, _> = drive(&mut responder, &mut stream, &mut serve).await;
            stream.flushed().await;
        }
        Frame::Notice(_) | Frame::Fetch(_) => {
            let mut answerer = Answerer::new(peer.clone(), config, now());
            answerer.handle_frame(frame, now());
            let mut serve = AnswerServe { host: &*inner.host, peer, answer: None };
            let _: Result<AnswererOutcome, _> = drive(&mut answerer, &mut stream, &mut serve).await;
            stream.flushed().await;
        }
        other => {
            let reason =
                format!("an exchange starts with an offer, a request, a notice or a fetch, not {}", other.frame_type());
            stream.close(CloseCode::UNEXPECTED_FRAME, &reason).await;
        }
    }
}
