//! The sending side of a push exchange (spec/protocol.md, "Push").
//!
//! ```text
//! ── Offer ──▶
//! ◀─ Accept ──            (or Reject: a signed rejection, verified and logged)
//! ── Chunk* ──▶           host ◀─ NextChunk (plaintext, as fast as the transport takes it)
//! ── Trailer ──▶
//! ◀─ Receipt ──           verified against what was sealed; host ◀─ Log
//! ```

use std::borrow::Cow;
use std::sync::Arc;

use tally_envelope::{CommitmentKey, IdentityKey, PacketDigests, Sealer};
use tally_receipt::BundleVerifier;
use tally_wire::{
    Chunk, EncapsulatedKey, Encoded, Evidence, Frame, Offer, Outcome, PacketHeader, Receipt, ReceiptBundle,
};

use std::time::Instant;

use crate::error::ExchangeError;
use crate::queues::Queues;
use crate::{Config, Now};

/// What the sender asks its host. Answer with [`Sender::handle_host`].
#[derive(Debug)]
pub enum SenderRequest {
    /// The next `len` bytes of the payload.
    NextChunk {
        /// How many bytes.
        len: usize,
    },
    /// Log this verified receipt (accepted or rejected), then answer `Logged`.
    Log {
        /// The recipient's receipt bundle, verified.
        bundle: Box<ReceiptBundle>,
        /// For a packet sealed and delivered in this exchange: its evidence
        /// of origin and its content-commitment key, to keep for a later
        /// reveal. `None` for a rejection and for a resend (nothing was
        /// sealed: the host rebuilds the evidence from what it kept).
        sealed: Option<Box<(Evidence, CommitmentKey)>>,
    },
}

/// The host's answers.
#[derive(Debug)]
pub enum SenderResponse {
    /// The next chunk's plaintext, exactly as long as asked.
    Chunk(Vec<u8>),
    /// The receipt is in the sender's log.
    Logged,
}

/// How an exchange ended for the sender.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum SenderOutcome {
    /// The recipient stored the packet; its receipt bundle is logged.
    Delivered(ReceiptBundle),
    /// The recipient refused it; its rejection's bundle is logged.
    Refused(ReceiptBundle),
    /// A resent offer was accepted as new: the recipient never stored the
    /// packet, so it must be sealed and sent anew (only [`Sender::resend`]).
    NotStored,
}

enum Stage {
    Offering { sealer: Box<Sealer> },
    Resending,
    Streaming { sealer: Box<Sealer>, index: u64 },
    AwaitingReceipt { digests: PacketDigests, sealed: Box<(Evidence, CommitmentKey)> },
    Logging { bundle: Box<ReceiptBundle>, delivered: bool },
    Done,
}

impl Stage {
    fn name(&self) -> &'static str {
        match self {
            Self::Offering { .. } => "awaiting the recipient's decision",
            Self::Resending => "awaiting the receipt of a resent offer",
            Self::Streaming { .. } => "sending chunks",
            Self::AwaitingReceipt { .. } => "awaiting the receipt",
            Self::Logging { .. } => "logging the receipt",
            Self::Done => "done",
        }
    }
}

/// The sending side of one push exchange, with no I/O.
pub struct Sender {
    identity: Arc<IdentityKey>,
    recipient: BundleVerifier,
    header: PacketHeader,
    encoded_header: Encoded<PacketHeader>,
    encapsulated_key: EncapsulatedKey,
    header_digest: tally_wire::Digest,
    stage: Stage,
    io: Queues<SenderRequest, SenderOutcome>,
}

impl Sender {
    /// Starts an exchange: `sealer` and `offer` come from [`Sealer::new`];
    /// `identity` signs the trailer; `recipient` verifies the recipient's
    /// receipt bundle under its identity key from the directory.
    pub fn new(
        sealer: Sealer,
        offer: Offer,
        identity: Arc<IdentityKey>,
        recipient: BundleVerifier,
        config: Config,
        now: Now,
    ) -> Self {
        Self::offering(offer, Stage::Offering { sealer: Box::new(sealer) }, identity, recipient, config, now)
    }

    /// Offers again a packet whose exchange was cut off (spec/protocol.md,
    /// "Idempotent resend"): if the recipient had stored it, it answers
    /// with the same receipt, which is verified against the header and
    /// logged. If it had not, the packet must be sealed and sent anew
    /// (the sealing state is not kept), and the exchange ends with
    /// [`SenderOutcome::NotStored`].
    pub fn resend(
        offer: Offer,
        identity: Arc<IdentityKey>,
        recipient: BundleVerifier,
        config: Config,
        now: Now,
    ) -> Self {
        Self::offering(offer, Stage::Resending, identity, recipient, config, now)
    }

    /// A sender whose first frame is `offer`, in `stage`.
    fn offering(
        offer: Offer,
        stage: Stage,
        identity: Arc<IdentityKey>,
        recipient: BundleVerifier,
        config: Config,
        now: Now,
    ) -> Self {
        let header = offer.header.value().clone();
        let header_digest = tally_envelope::header_digest(&offer.header);
        Self {
            identity,
            recipient,
            header,
            encoded_header: offer.header.clone(),
            encapsulated_key: offer.encapsulated_key.clone(),
            header_digest,
            stage,
            io: {
                let mut io = Queues::new(config, now.instant);
                io.send(Frame::Offer(offer));
                io
            },
        }
    }

    /// A frame from the recipient.
    pub fn handle_frame(&mut self, frame: Frame<'_>, now: Now) {
        if matches!(self.stage, Stage::Done) {
            return;
        }
        self.io.await_peer(now.instant);
        let stage = std::mem::replace(&mut self.stage, Stage::Done);
        self.stage = match (stage, frame) {
            (Stage::Offering { sealer }, Frame::Accept(accept)) if accept.packet_id == self.header.packet_id => {
                self.ask_for_chunk(&sealer);
                Stage::Streaming { sealer, index: 0 }
            }
            (Stage::Resending, Frame::Receipt(frame)) => match self.check_resent_receipt(&frame.bundle) {
                Ok(()) => {
                    let bundle = Box::new(frame.bundle.clone());
                    self.io.ask(SenderRequest::Log { bundle, sealed: None });
                    self.io.await_host();
                    Stage::Logging { bundle: Box::new(frame.bundle), delivered: true }
                }
                Err(e) => return self.fail(e),
            },
            (Stage::Resending, Frame::Accept(_)) => {
                let reason = "the packet was not stored; it is sealed and sent anew";
                self.io.send(Frame::Close(tally_wire::Close::new(tally_wire::CloseCode::NO_ERROR, reason)));
                return self.finish(Ok(SenderOutcome::NotStored));
            }
            (
                Stage::Offering { .. } | Stage::Resending | Stage::Streaming { .. } | Stage::AwaitingReceipt { .. },
                Frame::Reject(reject),
            ) => match self.check_rejection(&reject.bundle) {
                Ok(()) => {
                    let bundle = Box::new(reject.bundle.clone());
                    self.io.ask(SenderRequest::Log { bundle, sealed: None });
                    self.io.await_host();
                    Stage::Logging { bundle: Box::new(reject.bundle), delivered: false }
                }
                Err(e) => return self.fail(e),
            },
            (Stage::AwaitingReceipt { digests, sealed }, Frame::Receipt(frame)) => {
                match self.check_acceptance(&frame.bundle, &digests) {
                    Ok(()) => {
                        let bundle = Box::new(frame.bundle.clone());
                        self.io.ask(SenderRequest::Log { bundle, sealed: Some(sealed) });
                        self.io.await_host();
                        Stage::Logging { bundle: Box::new(frame.bundle), delivered: true }
                    }
                    Err(e) => return self.fail(e),
                }
            }
            (_, Frame::Close(close)) => {
                self.finish(Err(ExchangeError::ClosedByPeer { code: close.code, reason: close.reason.to_string() }));
                Stage::Done
            }
            (stage, frame) => {
                let error = ExchangeError::UnexpectedFrame { got: frame.frame_type(), stage: stage.name() };
                self.stage = stage;
                return self.fail(error);
            }
        };
    }

    /// The host's answer to the oldest request.
    pub fn handle_host(&mut self, response: SenderResponse, now: Now) {
        let stage = std::mem::replace(&mut self.stage, Stage::Done);
        self.stage = match (stage, response) {
            (Stage::Streaming { mut sealer, index }, SenderResponse::Chunk(mut buf)) => {
                let tag = match sealer.seal_chunk_in_place(&mut buf) {
                    Ok(tag) => tag,
                    Err(e) => return self.fail(ExchangeError::Envelope(e.into())),
                };
                buf.extend_from_slice(&tag);
                self.io.send(Frame::Chunk(Chunk { index, data: Cow::Owned(buf) }));
                if sealer.next_chunk_len().is_some() {
                    self.ask_for_chunk(&sealer);
                    Stage::Streaming { sealer, index: index + 1 }
                } else {
                    match sealer.finish(&self.identity) {
                        Ok(sealed) => {
                            self.io.send(Frame::Trailer(sealed.trailer));
                            self.io.await_peer(now.instant);
                            let evidence = Evidence {
                                header: self.encoded_header.clone(),
                                encapsulated_key: self.encapsulated_key.clone(),
                                trailer: sealed.trailer,
                            };
                            let kept = Box::new((evidence, sealed.commitment_key));
                            Stage::AwaitingReceipt { digests: sealed.digests, sealed: kept }
                        }
                        Err(e) => return self.fail(ExchangeError::Envelope(e.into())),
                    }
                }
            }
            // A chunk the host read before the recipient refused the packet is not sent.
            (stage @ (Stage::Logging { .. } | Stage::Done), SenderResponse::Chunk(_)) => stage,
            (Stage::Logging { bundle, delivered }, SenderResponse::Logged) => {
                self.finish(Ok(if delivered {
                    SenderOutcome::Delivered(*bundle)
                } else {
                    SenderOutcome::Refused(*bundle)
                }));
                Stage::Done
            }
            (stage, _) => {
                let name = stage.name();
                self.stage = stage;
                return self.fail(ExchangeError::HostOutOfTurn(name));
            }
        };
    }

    /// The time is now `now`: a recipient that stalled past its deadline ends the exchange.
    pub fn handle_timeout(&mut self, now: Instant) {
        if self.io.expired(now) {
            self.fail(ExchangeError::Timeout);
        }
    }

    /// The next frame to send.
    #[must_use]
    pub fn poll_transmit(&mut self) -> Option<Frame<'static>> {
        self.io.poll_transmit()
    }

    /// The next request for the host.
    #[must_use]
    pub fn poll_request(&mut self) -> Option<SenderRequest> {
        self.io.poll_request()
    }

    /// When [`handle_timeout`](Self::handle_timeout) is next due.
    #[must_use]
    pub fn poll_timeout(&self) -> Option<Instant> {
        self.io.poll_timeout()
    }

    /// The outcome, once the exchange has ended and everything queued is taken.
    #[must_use]
    pub fn poll_outcome(&mut self) -> Option<Result<SenderOutcome, ExchangeError>> {
        self.io.poll_outcome()
    }

    /// Whether the exchange has ended.
    pub fn is_done(&self) -> bool {
        matches!(self.stage, Stage::Done)
    }

    /// The sealer of a packet whose offer got no answer at all, so that a
    /// transport that lost the connection before any answer can offer the
    /// packet again on another stream. `None` once the recipient answered
    /// or anything was sealed; the sender is done after this.
    pub fn take_unanswered(&mut self) -> Option<Sealer> {
        match std::mem::replace(&mut self.stage, Stage::Done) {
            Stage::Offering { sealer } => Some(*sealer),
            other => {
                self.stage = other;
                None
            }
        }
    }

    fn ask_for_chunk(&mut self, sealer: &Sealer) {
        if let Some(len) = sealer.next_chunk_len() {
            self.io.ask(SenderRequest::NextChunk { len });
        }
    }

    /// A receipt must be the recipient's, in a bundle that verifies under
    /// its key (checkpoint, inclusion proof, and the receipt's own
    /// signature if it has one), for this packet (header digest, packet id,
    /// agencies, grant, purpose, category, length).
    fn check_receipt_is_ours(&self, bundle: &ReceiptBundle) -> Result<Receipt, ExchangeError> {
        let r = self.recipient.verify(bundle).map_err(ExchangeError::BadBundle)?.receipt;
        let h = &self.header;
        let ours = r.packet_id == h.packet_id
            && r.header_digest == self.header_digest
            && r.recipient == h.recipient
            && r.sender == h.sender
            && r.grant == h.grant
            && r.purpose == h.purpose
            && r.category == h.category
            && r.payload_len == h.payload_len;
        if !ours {
            return Err(ExchangeError::BadReceipt("the receipt is for another packet"));
        }
        Ok(r)
    }

    /// A rejection, in a reject frame.
    fn check_rejection(&self, receipt: &ReceiptBundle) -> Result<(), ExchangeError> {
        match self.check_receipt_is_ours(receipt)?.outcome {
            Outcome::Rejected { .. } => Ok(()),
            Outcome::Accepted { .. } => Err(ExchangeError::BadReceipt("an acceptance in a reject frame")),
        }
    }

    /// An acceptance, which must commit to exactly what was sealed.
    fn check_acceptance(&self, receipt: &ReceiptBundle, sealed: &PacketDigests) -> Result<(), ExchangeError> {
        match self.check_receipt_is_ours(receipt)?.outcome {
            Outcome::Accepted { ciphertext_fingerprint, content_commitment }
                if ciphertext_fingerprint == sealed.ciphertext_fingerprint
                    && content_commitment == sealed.content_commitment =>
            {
                Ok(())
            }
            Outcome::Accepted { .. } => Err(ExchangeError::BadReceipt("digests differ from what was sealed")),
            Outcome::Rejected { .. } => Err(ExchangeError::BadReceipt("a rejection in a receipt frame")),
        }
    }

    /// A resent packet's receipt: an acceptance for exactly this header
    /// (what was sealed the first time is bound by the header digest).
    fn check_resent_receipt(&self, receipt: &ReceiptBundle) -> Result<(), ExchangeError> {
        match self.check_receipt_is_ours(receipt)?.outcome {
            Outcome::Accepted { .. } => Ok(()),
            Outcome::Rejected { .. } => Err(ExchangeError::BadReceipt("a rejection in a receipt frame")),
        }
    }

    fn fail(&mut self, error: ExchangeError) {
        self.io.send(error.close_frame());
        self.finish(Err(error));
    }

    fn finish(&mut self, outcome: Result<SenderOutcome, ExchangeError>) {
        self.stage = Stage::Done;
        self.io.await_host();
        self.io.finish(outcome);
    }
}

impl std::fmt::Debug for Sender {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Sender").field("packet", &self.header.packet_id).field("stage", &self.stage.name()).finish()
    }
}
