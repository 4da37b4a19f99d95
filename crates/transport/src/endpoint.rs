//! The endpoint: one UDP socket, connections to and from the federation's
//! agencies, one exchange per bidirectional stream (spec/transport.md).

use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::Duration;

use tally_envelope::{CommitmentKey, IdentityKey, PacketSpec, Sealer};
use tally_protocol::{Asker, Requester, RequesterOutcome, Sender, SenderOutcome};
use tally_wire::{AgencyId, CloseCode, Fetch, GrantChain, Notice, Offer, PullRequest, Signed};
use tokio::io::AsyncRead;

use crate::accept::{accept_connections, watch_directory};
use crate::config::TransportConfig;
use crate::connections::Budget;
use crate::drive::{Stream, drive, now};
use crate::error::{StreamFailure, TransportError};
use crate::host::Host;
use crate::inner::{Inner, bundle_verifier, close_code, kem_certificate};
use crate::roster::Roster;
use crate::serve::{AskServe, ReceiveServe, SendServe};
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

    /// The content-commitment key of the packet, to keep for a later
    /// reveal (spec/envelope.md, "Content provable on demand").
    pub fn commitment_key(&self) -> &CommitmentKey {
        self.sealer.commitment_key()
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
        let quic_server = quinn::crypto::rustls::QuicServerConfig::try_from(tls::server_config(
            &local.tls_key,
            Arc::clone(&roster),
            config.key_exchange,
        )?)
        .map_err(TransportError::from)?;
        let mut server = quinn::ServerConfig::with_crypto(Arc::new(quic_server));
        server.transport_config(Arc::new(config.quinn()));
        let quic_client = quinn::crypto::rustls::QuicClientConfig::try_from(tls::client_config(
            &local.tls_key,
            Arc::clone(&roster),
            config.key_exchange,
        )?)
        .map_err(TransportError::from)?;
        let mut client = quinn::ClientConfig::new(Arc::new(quic_client));
        client.transport_config(Arc::new(config.quinn()));
        // The stateless-reset key survives restarts: a peer that still holds
        // a connection to this node's previous run is reset at its next packet.
        let mut endpoint_config = quinn::EndpointConfig::new(Arc::new(local.tls_key.stateless_reset_key()));
        let cid_key = local.tls_key.connection_id_key();
        endpoint_config.cid_generator(move || Box::new(quinn_proto::HashedConnectionIdGenerator::from_key(cid_key)));
        let socket = std::net::UdpSocket::bind(addr).map_err(|source| TransportError::Bind { addr, source })?;
        let mut quinn = quinn::Endpoint::new(endpoint_config, Some(server), socket, Arc::new(quinn::TokioRuntime))
            .map_err(|source| TransportError::Bind { addr, source })?;
        quinn.set_default_client_config(client);
        let serials = roster.subscribe();
        let inner = Arc::new(Inner::new(local.id, local.identity, roster, host, config, quinn));
        tokio::spawn(accept_connections(Arc::clone(&inner)));
        tokio::spawn(watch_directory(Arc::downgrade(&inner), serials));
        Ok(Self { inner })
    }

    /// The address the endpoint listens on.
    pub fn local_addr(&self) -> Result<SocketAddr, TransportError> {
        self.inner.quinn.local_addr().map_err(|e| StreamFailure::LocalAddr(e).into())
    }

    /// The agency this endpoint is.
    pub fn agency(&self) -> &AgencyId {
        &self.inner.local
    }

    /// The connection to `agency`, made (and authenticated against the
    /// directory) on first use and reused after.
    pub async fn connect(&self, agency: &AgencyId) -> Result<quinn::Connection, TransportError> {
        Ok(self.dial(agency).await?.0)
    }

    /// The connection to `agency` with its budget, and whether it was dialed before.
    async fn dial(&self, agency: &AgencyId) -> Result<(quinn::Connection, Budget, bool), TransportError> {
        let slot = self.inner.dial_slot(agency);
        let mut dialed = slot.lock().await;
        if let Some((c, budget)) = dialed.as_ref()
            && c.close_reason().is_none()
        {
            return Ok((c.clone(), budget.clone(), true));
        }
        let record = self.inner.roster.record(agency).ok_or_else(|| TransportError::UnknownAgency(agency.clone()))?;
        let connection = self.inner.handshake(agency, &record.endpoints).await?;
        // Dialed connections are this node's own: only accepted ones count against a peer's limit.
        let budget = self.inner.live.dialed(agency, &connection);
        let inner = Arc::clone(&self.inner);
        let watched = connection.clone();
        tokio::spawn(async move {
            watched.closed().await;
            inner.live.remove(&watched);
        });
        *dialed = Some((connection.clone(), budget.clone()));
        Ok((connection, budget, false))
    }

    /// The endpoint of `agency` that last completed a handshake with this
    /// one: the first that later connections try. `None` before the first.
    pub fn last_reached(&self, agency: &AgencyId) -> Option<tally_wire::Endpoint> {
        self.inner.last_reached.get(agency)
    }

    /// The endpoints the directory lists for `agency` in the order a new
    /// connection tries them: the one that last completed a handshake
    /// first, then the others in the directory's order. Empty for an
    /// agency not listed.
    pub fn dial_order(&self, agency: &AgencyId) -> Vec<tally_wire::Endpoint> {
        let Some(record) = self.inner.roster.record(agency) else { return Vec::new() };
        let last = self.inner.last_reached.get(agency);
        crate::dial::dial_order(&record.endpoints, last.as_ref()).into_iter().cloned().collect()
    }

    /// Seals a packet to `to`'s current KEM key from the directory.
    pub fn seal(&self, to: &AgencyId, spec: PacketSpec, grant_chain: GrantChain) -> Result<Packet, TransportError> {
        let cert = kem_certificate(&self.inner.roster, to, spec.suite)?;
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
        let recipient = bundle_verifier(&self.inner, &packet.to)?;
        let _guard = self.inner.start_exchange()?;
        let Packet { to, mut sealer, offer } = packet;
        loop {
            let (mut stream, reused) = self.open(&to).await?;
            let mut sender = Sender::new(
                sealer,
                offer.clone(),
                Arc::clone(&self.inner.identity),
                recipient.clone(),
                self.inner.config.exchange,
                now(),
            );
            let mut serve = SendServe { payload: &mut payload, host: &*self.inner.host };
            let result = drive(&mut sender, &mut stream, &mut serve).await;
            if result.is_err() && lost_to_a_restart(&stream, reused) {
                // Nothing was sealed or answered: offer it again on a fresh connection.
                if let Some(unanswered) = sender.take_unanswered() {
                    sealer = unanswered;
                    continue;
                }
            }
            return result;
        }
    }

    /// Offers again a packet whose exchange was cut off. If the recipient
    /// had stored it, its receipt comes back (the same one) and is logged;
    /// otherwise the outcome is
    /// [`SenderOutcome::NotStored`](tally_protocol::SenderOutcome::NotStored)
    /// and the payload must be sealed and sent anew.
    pub async fn resend(&self, to: &AgencyId, offer: Offer) -> Result<SenderOutcome, TransportError> {
        let recipient = bundle_verifier(&self.inner, to)?;
        let _guard = self.inner.start_exchange()?;
        let config = self.inner.config.exchange;
        let identity = &self.inner.identity;
        let make = || Sender::resend(offer.clone(), Arc::clone(identity), recipient.clone(), config, now());
        let mut serve = SendServe { payload: &mut tokio::io::empty(), host: &*self.inner.host };
        self.run(to, make, &mut serve).await
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
        let responder = bundle_verifier(&self.inner, to)?;
        let _guard = self.inner.start_exchange()?;
        let config = self.inner.config.exchange;
        let make = || Requester::new(request.clone(), grant_chain.clone(), responder.clone(), config, now());
        let mut serve = ReceiveServe::new(&*self.inner.host, to.clone(), tally_wire::Direction::Pull);
        let outcome = self.run(to, make, &mut serve).await?;
        if let RequesterOutcome::Refused(refusal) = &outcome {
            self.inner.host.log_receipt(refusal, None).await.map_err(TransportError::Host)?;
        }
        Ok(outcome)
    }

    /// Hands `notice` (a grant chain or a revocation this agency issued) to
    /// `to`, and returns once `to` has kept it (spec/protocol.md, "Notices").
    pub async fn notify(&self, to: &AgencyId, notice: Notice) -> Result<(), TransportError> {
        let _guard = self.inner.start_exchange()?;
        let config = self.inner.config.exchange;
        self.run(to, || Asker::notice(notice.clone(), config, now()), &mut AskServe).await.map(drop)
    }

    /// Asks `to` for `target` and returns the answer's bytes, at most
    /// `limit` of them (spec/protocol.md, "Fetches"). The bytes are
    /// unverified: what they hold is signed, and the caller checks it.
    pub async fn fetch(&self, to: &AgencyId, target: Fetch, limit: u64) -> Result<Vec<u8>, TransportError> {
        let _guard = self.inner.start_exchange()?;
        let config = self.inner.config.exchange;
        self.run(to, || Asker::fetch(target, limit, config, now()), &mut AskServe).await
    }

    /// Runs the exchange `make` builds on a stream to `to`; once more on a
    /// fresh connection if the first was lost to the peer's restart before
    /// anything came back (see [`lost_to_a_restart`]).
    async fn run<M, S>(
        &self,
        to: &AgencyId,
        mut make: impl FnMut() -> M,
        serve: &mut S,
    ) -> Result<M::Outcome, TransportError>
    where
        M: tally_protocol::Exchange + Send,
        M::Request: Send,
        S: crate::drive::Serve<M>,
    {
        let mut retried = false;
        loop {
            let (mut stream, reused) = self.open(to).await?;
            let mut machine = make();
            let result = drive(&mut machine, &mut stream, serve).await;
            if result.is_err() && !retried && lost_to_a_restart(&stream, reused) {
                retried = true;
                continue;
            }
            return result;
        }
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
                if self.inner.in_flight() == 0 {
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
        self.inner.in_flight()
    }

    /// A new stream to `to`, and whether its connection was dialed before.
    async fn open(&self, to: &AgencyId) -> Result<(Stream, bool), TransportError> {
        let (connection, budget, reused) = self.dial(to).await?;
        let timeout = self.inner.config.exchange.idle_timeout;
        match connection.open_bi().await {
            Ok(streams) => Ok((Stream::new(connection, to.clone(), streams, budget, timeout), reused)),
            // A cached connection that died since: one fresh attempt.
            Err(_) => {
                *self.inner.dial_slot(to).lock().await = None;
                let (connection, budget, _) = self.dial(to).await?;
                let streams = connection.open_bi().await.map_err(|e| TransportError::connection(to, e))?;
                Ok((Stream::new(connection, to.clone(), streams, budget, timeout), false))
            }
        }
    }
}

/// Whether an exchange that failed on `stream` may run again on a fresh
/// connection: its connection was dialed earlier, the peer reset it with a
/// stateless reset (it restarted and no longer knows the connection), and
/// nothing came back on the stream, so the peer holds nothing of it.
fn lost_to_a_restart(stream: &Stream, reused: bool) -> bool {
    reused
        && !stream.received_any()
        && matches!(stream.connection().close_reason(), Some(quinn::ConnectionError::Reset))
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
