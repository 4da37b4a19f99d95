//! The receiving side of a push exchange (spec/protocol.md, "Push").
//!
//! ```text
//! peer  ── Offer ──▶            host ◀─ Decide ──
//!        ◀─ Accept ──           (or Reject with a signed rejection, or the
//!                                earlier receipt of a resent packet)
//! peer  ── Chunk* ──▶           host ◀─ Store (unverified plaintext) ──
//! peer  ── Trailer ──▶          host ◀─ Commit (verified: store durably, sign) ──
//!        ◀─ Receipt ──          only after the host answered Stored
//! ```

use std::sync::Arc;

use tally_envelope::{CommitmentKey, IdentityVerifier, KemKey, Opener, header_digest};
use tally_wire::{
    Accept, AgencyId, CloseCode, Digest, Evidence, Frame, GrantChain, Offer, Outcome, PacketHeader, ReasonCode,
    Receipt, ReceiptBundle, ReceiptFrame, Reject, Timestamp,
};

use std::time::Instant;

use crate::error::ExchangeError;
use crate::queues::Queues;
use crate::{Config, Now};

/// What the receiver asks its host. Answer each with [`Receiver::handle_host`].
#[derive(Debug)]
#[allow(clippy::large_enum_variant, reason = "one commit per packet: a box would only add an allocation")]
pub enum ReceiverRequest {
    /// Decide an offer: a receipt already issued for this packet id (a
    /// resend), or the policy decision and the keys to open it with.
    Decide {
        /// The packet's header.
        header: PacketHeader,
        /// Its digest.
        header_digest: Digest,
        /// The grant chain offered with it.
        grant_chain: GrantChain,
    },
    /// Keep this plaintext aside: it is unverified until `Commit`.
    Store {
        /// The next chunk's plaintext.
        plaintext: Vec<u8>,
    },
    /// The packet verified: store it durably, then sign and log this receipt.
    Commit {
        /// The receipt to sign.
        receipt: Receipt,
        /// The sender's signed header, encapsulated key and trailer: its
        /// proof of origin, to keep with the data.
        evidence: Evidence,
        /// The packet's content-commitment key, to keep (secret) for a later reveal.
        commitment_key: CommitmentKey,
    },
    /// Drop whatever `Store` kept for this exchange.
    Discard,
    /// Sign and log this rejection receipt.
    Reject {
        /// The rejection to sign.
        receipt: Receipt,
    },
}

/// The host's answers.
pub enum ReceiverResponse {
    /// This packet id was receipted or refused before: that receipt's
    /// bundle (a resend gets the same answer again, never a second one).
    AlreadyReceipted(ReceiptBundle),
    /// The policy allows the packet: open it with this key, verify it under this sender key.
    Accept {
        /// The recipient's KEM key the header names.
        kem_key: Arc<KemKey>,
        /// The identity key of the header's sender.
        sender_key: IdentityVerifier,
    },
    /// The policy refuses the packet.
    Deny(ReasonCode),
    /// Stored durably; the signed receipt.
    Stored(ReceiptBundle),
    /// Storing failed: no receipt may be issued.
    StoreFailed,
    /// The signed rejection receipt.
    Rejected(ReceiptBundle),
    /// Refuse without a signed statement: close the stream with this code
    /// (a peer whose refusals are rate-limited, spec/protocol.md "Refusals");
    /// the answer to `Decide` or to `Reject`.
    Close(CloseCode),
}

/// How an exchange ended for the receiver.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum ReceiverOutcome {
    /// The packet was stored and receipted.
    Received(ReceiptBundle),
    /// The packet was refused with a signed rejection.
    Rejected(ReceiptBundle),
    /// A resent packet got its earlier receipt again; nothing was delivered twice.
    Resent(ReceiptBundle),
}

enum Stage {
    AwaitingOffer,
    Deciding { offer: Box<Offer>, digest: Digest },
    Receiving { opener: Box<Opener> },
    Committing,
    Rejecting,
    Done,
}

impl Stage {
    fn name(&self) -> &'static str {
        match self {
            Self::AwaitingOffer => "awaiting the offer",
            Self::Deciding { .. } => "deciding the offer",
            Self::Receiving { .. } => "receiving chunks",
            Self::Committing => "storing the packet",
            Self::Rejecting => "signing a rejection",
            Self::Done => "done",
        }
    }
}

/// The receiving side of one push exchange, with no I/O: feed it frames,
/// host answers and time; take frames, host requests and deadlines out.
pub struct Receiver {
    local: AgencyId,
    peer: AgencyId,
    stage: Stage,
    header: Option<(PacketHeader, Digest)>,
    io: Queues<ReceiverRequest, ReceiverOutcome>,
}

impl Receiver {
    /// A receiver of agency `local` for a stream from `peer`, the agency
    /// the transport authenticated. It signs receipts naming `local` only.
    pub fn new(local: AgencyId, peer: AgencyId, config: Config, now: Now) -> Self {
        Self { local, peer, stage: Stage::AwaitingOffer, header: None, io: Queues::new(config, now.instant) }
    }

    /// A frame from the peer.
    pub fn handle_frame(&mut self, frame: Frame<'_>, now: Now) {
        if matches!(self.stage, Stage::Done) {
            return;
        }
        self.io.await_peer(now.instant);
        if let Frame::Close(close) = &frame {
            let error = ExchangeError::ClosedByPeer { code: close.code, reason: close.reason.to_string() };
            self.finish_quietly(Err(error));
            return;
        }
        let stage = std::mem::replace(&mut self.stage, Stage::Done);
        self.stage = match (stage, frame) {
            (Stage::AwaitingOffer, Frame::Offer(offer)) => self.on_offer(offer),
            (Stage::Receiving { mut opener }, Frame::Chunk(chunk)) => {
                // Opened in place: an owned chunk's buffer becomes the plaintext handed to the host.
                let mut data = chunk.data.into_owned();
                match opener.open_chunk_in_place(chunk.index, &mut data).map(<[u8]>::len) {
                    Ok(len) => {
                        data.truncate(len);
                        self.io.ask(ReceiverRequest::Store { plaintext: data });
                        Stage::Receiving { opener }
                    }
                    Err(e) => self.reject_after_receiving(e.reason_code(), now.wall),
                }
            }
            (Stage::Receiving { opener, .. }, Frame::Trailer(trailer)) => match opener.finish(&trailer) {
                Ok(opened) => {
                    let receipt = self.receipt(
                        now.wall,
                        Outcome::Accepted {
                            ciphertext_fingerprint: opened.digests.ciphertext_fingerprint,
                            content_commitment: opened.digests.content_commitment,
                        },
                    );
                    let (evidence, commitment_key) = (opened.evidence, opened.commitment_key);
                    self.io.ask(ReceiverRequest::Commit { receipt, evidence, commitment_key });
                    Stage::Committing
                }
                Err(e) => self.reject_after_receiving(e.reason_code(), now.wall),
            },
            // Chunks and the trailer already in flight when the packet was refused are dropped.
            (Stage::Rejecting, Frame::Chunk(_) | Frame::Trailer(_)) => Stage::Rejecting,
            (stage, frame) => {
                let error = ExchangeError::UnexpectedFrame { got: frame.frame_type(), stage: stage.name() };
                self.stage = stage;
                self.fail(error);
                return;
            }
        };
    }

    fn on_offer(&mut self, offer: Offer) -> Stage {
        let header = offer.header.value().clone();
        if header.sender != self.peer {
            self.fail(ExchangeError::SenderMismatch { header: header.sender.clone(), peer: self.peer.clone() });
            return Stage::Done;
        }
        // A receipt names its signer as recipient: an offer addressed to
        // another agency gets no signed statement at all (spec/protocol.md).
        if header.recipient != self.local {
            self.fail(ExchangeError::NotAddressedHere { recipient: header.recipient.clone() });
            return Stage::Done;
        }
        let digest = header_digest(&offer.header);
        self.header = Some((header.clone(), digest));
        self.io.ask(ReceiverRequest::Decide { header, header_digest: digest, grant_chain: offer.grant_chain.clone() });
        // The host, not the peer, is awaited now.
        self.io.await_host();
        Stage::Deciding { offer: Box::new(offer), digest }
    }

    /// The host's answer to the oldest request that needs one.
    pub fn handle_host(&mut self, response: ReceiverResponse, now: Now) {
        let stage = std::mem::replace(&mut self.stage, Stage::Done);
        self.stage = match (stage, response) {
            (Stage::Deciding { digest, .. }, ReceiverResponse::AlreadyReceipted(receipt)) => {
                let earlier = tally_receipt::bundled_receipt(&receipt.receipt);
                if earlier.header_digest != digest {
                    self.fail(ExchangeError::PacketIdReused);
                    return;
                }
                if matches!(earlier.outcome, Outcome::Rejected { .. }) {
                    self.io.send(Frame::Reject(Reject { bundle: receipt.clone() }));
                    self.io.finish(Ok(ReceiverOutcome::Rejected(receipt)));
                } else {
                    self.io.send(Frame::Receipt(ReceiptFrame { bundle: receipt.clone() }));
                    self.io.finish(Ok(ReceiverOutcome::Resent(receipt)));
                }
                Stage::Done
            }
            (Stage::Deciding { .. } | Stage::Rejecting, ReceiverResponse::Close(code)) => {
                self.fail(ExchangeError::ClosedByHost(code));
                return;
            }
            (Stage::Deciding { .. }, ReceiverResponse::Deny(reason)) => {
                let receipt = self.receipt(now.wall, Outcome::Rejected { reason });
                self.io.ask(ReceiverRequest::Reject { receipt });
                Stage::Rejecting
            }
            (Stage::Deciding { offer, .. }, ReceiverResponse::Accept { kem_key, sender_key }) => {
                match Opener::new(&kem_key, &offer, &sender_key) {
                    Ok(opener) => {
                        let packet_id = offer.header.value().packet_id;
                        self.io.send(Frame::Accept(Accept { packet_id }));
                        self.io.await_peer(now.instant);
                        Stage::Receiving { opener: Box::new(opener) }
                    }
                    Err(e) => {
                        let receipt = self.receipt(now.wall, Outcome::Rejected { reason: e.reason_code() });
                        self.io.ask(ReceiverRequest::Reject { receipt });
                        Stage::Rejecting
                    }
                }
            }
            (Stage::Committing, ReceiverResponse::Stored(receipt)) => {
                self.io.send(Frame::Receipt(ReceiptFrame { bundle: receipt.clone() }));
                self.io.finish(Ok(ReceiverOutcome::Received(receipt)));
                Stage::Done
            }
            (Stage::Committing, ReceiverResponse::StoreFailed) => {
                self.fail(ExchangeError::StoreFailed);
                return;
            }
            (Stage::Rejecting, ReceiverResponse::Rejected(receipt)) => {
                self.io.send(Frame::Reject(Reject { bundle: receipt.clone() }));
                self.io.finish(Ok(ReceiverOutcome::Rejected(receipt)));
                Stage::Done
            }
            (stage, _) => {
                let name = stage.name();
                self.stage = stage;
                self.fail(ExchangeError::HostOutOfTurn(name));
                return;
            }
        };
    }

    /// The time is now `now`: a peer that stalled past its deadline ends the exchange.
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
    pub fn poll_request(&mut self) -> Option<ReceiverRequest> {
        self.io.poll_request()
    }

    /// When [`handle_timeout`](Self::handle_timeout) is next due, if the peer is awaited.
    #[must_use]
    pub fn poll_timeout(&self) -> Option<Instant> {
        self.io.poll_timeout()
    }

    /// The outcome, once the exchange has ended (take it once).
    #[must_use]
    pub fn poll_outcome(&mut self) -> Option<Result<ReceiverOutcome, ExchangeError>> {
        self.io.poll_outcome()
    }

    /// Whether the exchange has ended (frames and requests may still be queued).
    pub fn is_done(&self) -> bool {
        matches!(self.stage, Stage::Done)
    }

    fn receipt(&self, now: Timestamp, outcome: Outcome) -> Receipt {
        let (h, digest) = self.header.as_ref().expect("a receipt is only made after an offer");
        Receipt {
            packet_id: h.packet_id,
            header_digest: *digest,
            grant: h.grant,
            purpose: h.purpose.clone(),
            category: h.category.clone(),
            payload_len: h.payload_len,
            sender: h.sender.clone(),
            recipient: self.local.clone(),
            received_at: now,
            outcome,
        }
    }

    fn reject_after_receiving(&mut self, reason: ReasonCode, now: Timestamp) -> Stage {
        self.io.ask(ReceiverRequest::Discard);
        let receipt = self.receipt(now, Outcome::Rejected { reason });
        self.io.ask(ReceiverRequest::Reject { receipt });
        self.io.await_host();
        Stage::Rejecting
    }

    /// Ends the exchange with an error, closing the stream with its code.
    fn fail(&mut self, error: ExchangeError) {
        self.io.send(error.close_frame());
        self.finish_quietly(Err(error));
    }

    fn finish_quietly(&mut self, outcome: Result<ReceiverOutcome, ExchangeError>) {
        if matches!(self.stage, Stage::Receiving { .. }) {
            self.io.ask(ReceiverRequest::Discard);
        }
        self.stage = Stage::Done;
        self.io.await_host();
        self.io.finish(outcome);
    }
}

impl std::fmt::Debug for Receiver {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Receiver").field("peer", &self.peer).field("stage", &self.stage.name()).finish()
    }
}
