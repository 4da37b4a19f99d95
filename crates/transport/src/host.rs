//! What a node supplies to the transport: policy, durable storage, the
//! log, and the data it serves to pull requests.

use std::future::Future;
use std::io;
use std::sync::Arc;

use tally_envelope::{CommitmentKey, IdentityVerifier, KemKey, PacketSpec};
use tally_wire::{
    AgencyId, CloseCode, Digest, Direction, Evidence, Fetch, GrantChain, Notice, PacketHeader, PullRequest, ReasonCode,
    Receipt, ReceiptBundle, Signed,
};
use tokio::io::AsyncRead;

/// An offer the host is asked to decide.
#[derive(Debug)]
pub struct OfferContext<'a> {
    /// The authenticated peer (already checked to be the header's sender).
    pub peer: &'a AgencyId,
    /// The packet header.
    pub header: &'a PacketHeader,
    /// Its digest.
    pub header_digest: Digest,
    /// The grant chain offered with it.
    pub grant_chain: &'a GrantChain,
    /// [`Direction::Push`] for an offer the peer started, [`Direction::Pull`] for an answer to this node's request.
    pub direction: Direction,
}

/// The host's decision on an offer.
#[allow(clippy::large_enum_variant, reason = "one per offer: a box would only add an allocation")]
pub enum OfferDecision<I> {
    /// This packet id was receipted, or refused with this header, before:
    /// that receipt's bundle (the resend gets the same answer, under the
    /// same or a later checkpoint).
    AlreadyReceipted(ReceiptBundle),
    /// Accept: open with this KEM key, verify under this sender key, store into this inbox.
    Accept {
        /// The recipient KEM key the header names.
        kem_key: Arc<KemKey>,
        /// The sender's identity key, from the directory.
        sender_key: IdentityVerifier,
        /// Where the plaintext goes.
        inbox: I,
    },
    /// Refuse, for this reason (a signed rejection is sent).
    Deny(ReasonCode),
    /// Refuse without a signed statement: the stream is closed with this
    /// code (for a peer whose refusals are rate-limited).
    Close(CloseCode),
}

/// How the host refuses a pull request.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Refusal {
    /// With a signed refusal naming this reason.
    Signed(ReasonCode),
    /// Without a signed statement: the stream is closed with this code.
    Unsigned(CloseCode),
}

impl From<ReasonCode> for Refusal {
    fn from(reason: ReasonCode) -> Self {
        Self::Signed(reason)
    }
}

/// A packet to send: what to seal, under which grant chain, from which source.
pub struct Outgoing {
    /// The packet's description (its recipient is implied by the exchange).
    pub spec: PacketSpec,
    /// The grant chain to offer with it.
    pub grant_chain: GrantChain,
    /// The plaintext, read only as fast as the peer takes it.
    pub payload: Box<dyn AsyncRead + Send + Unpin>,
}

impl std::fmt::Debug for Outgoing {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Outgoing").field("spec", &self.spec).finish_non_exhaustive()
    }
}

/// The node behind an endpoint. Every method may do I/O; none may
/// block the runtime (use `spawn_blocking` for synchronous storage).
pub trait Host: Send + Sync + 'static {
    /// Where one incoming packet's plaintext is kept until it is committed.
    type Inbox: Inbox;

    /// Decides an offer: an earlier receipt for its packet id, or the
    /// policy decision (grants) and the keys, or a denial.
    fn decide_offer(&self, offer: OfferContext<'_>) -> impl Future<Output = OfferDecision<Self::Inbox>> + Send;

    /// Signs and logs a rejection receipt this node issues, and returns its
    /// bundle. `None`: the host will not sign it (the peer is past its
    /// refusal rate); the exchange is closed with `TOO_MANY_REFUSALS` and no
    /// signed statement.
    fn sign_rejection(&self, receipt: Receipt) -> impl Future<Output = io::Result<Option<ReceiptBundle>>> + Send;

    /// Logs a receipt bundle or rejection a peer issued (verified by the
    /// transport) before the exchange reports it. `sealed` is the evidence of origin and
    /// the commitment key of a packet sealed and delivered in this exchange,
    /// for the host to keep for a later reveal (`None` for rejections,
    /// refused requests and resends).
    fn log_receipt(
        &self,
        bundle: &ReceiptBundle,
        sealed: Option<(Evidence, CommitmentKey)>,
    ) -> impl Future<Output = io::Result<()>> + Send;

    /// Decides a pull request from `peer` (signature and policy, with the
    /// peer as recipient) and returns the packets that answer it.
    fn answer_request(
        &self,
        peer: &AgencyId,
        request: &Signed<PullRequest>,
        grant_chain: &GrantChain,
    ) -> impl Future<Output = Result<Vec<Outgoing>, Refusal>> + Send;

    /// Verifies and keeps (and logs) a notice from `peer`: `Err` carries
    /// the close code and reason the peer is told. By default a host takes
    /// no notices.
    fn keep_notice(
        &self,
        _peer: &AgencyId,
        _notice: Notice,
    ) -> impl Future<Output = Result<(), (CloseCode, String)>> + Send {
        std::future::ready(Err((CloseCode::NOT_PERMITTED, "this node takes no notices".to_owned())))
    }

    /// Decides a fetch by `peer` and returns the answer's bytes as a
    /// reader (read in parts as QUIC flow control lets them through): `Err`
    /// carries the close code and reason. By default a host answers no fetch.
    fn answer_fetch(
        &self,
        _peer: &AgencyId,
        _fetch: Fetch,
    ) -> impl Future<Output = Result<Box<dyn AsyncRead + Send + Unpin>, (CloseCode, String)>> + Send {
        std::future::ready(Err((CloseCode::NOT_PERMITTED, "this node answers no fetch".to_owned())))
    }
}

/// Provisional storage of one incoming packet: the plaintext written here
/// is unverified until [`Inbox::commit`].
pub trait Inbox: Send + 'static {
    /// Appends the next chunk's plaintext.
    fn write(&mut self, plaintext: &[u8]) -> impl Future<Output = io::Result<()>> + Send;

    /// The packet verified: make it durable with the sender's `evidence`
    /// and the `commitment_key` (both for a later reveal), then issue and log
    /// `receipt` and return its bundle. An error means nothing was stored
    /// and no receipt may be sent.
    fn commit(
        self,
        receipt: Receipt,
        evidence: Evidence,
        commitment_key: CommitmentKey,
    ) -> impl Future<Output = io::Result<ReceiptBundle>> + Send;

    /// Drops whatever was written.
    fn discard(self) -> impl Future<Output = ()> + Send;
}
