//! The answering side of a pull exchange (spec/protocol.md, "Pull").
//!
//! ```text
//! peer ── Request ──▶       host ◀─ Decide (signature, policy: the peer as recipient)
//!       ◀─ Reject ──        a signed refusal of the request: end
//!       ◀─ Offer … ──       host ◀─ NextPacket: each packet sent as in a push
//!                           (a Sender inside, its host requests passed on)
//!       ◀─ Close (NO_ERROR) ─ the host has no more packets
//! ```

use tally_envelope::request_digest;
use tally_wire::{
    AgencyId, Close, CloseCode, Frame, GrantChain, Outcome, PacketId, PullRequest, ReasonCode, Receipt, ReceiptBundle,
    Reject, Request, Signed, Timestamp,
};

use std::time::Instant;

use crate::error::ExchangeError;
use crate::queues::Queues;
use crate::sender::{Sender, SenderOutcome, SenderRequest, SenderResponse};
use crate::{Config, Now};

/// What the responder asks its host. Answer with [`Responder::handle_host`].
#[derive(Debug)]
#[allow(clippy::large_enum_variant, reason = "one per exchange: a box would only add an allocation")]
pub enum ResponderRequest {
    /// Decide a pull request: verify its signature under the requester's
    /// identity key, and the policy with the requester as recipient and
    /// this agency as sender ([`Direction::Pull`](tally_wire::Direction)).
    Decide {
        /// The request as received (its signature not yet verified).
        request: Box<Signed<PullRequest>>,
        /// The grant chain sent with it.
        grant_chain: GrantChain,
    },
    /// Sign and log this refusal of the request.
    Reject {
        /// The refusal to sign.
        receipt: Receipt,
    },
    /// The next packet of the answer: answer [`ResponderResponse::Packet`]
    /// with a sender for it, or [`ResponderResponse::End`].
    NextPacket,
    /// A request of the packet being sent.
    Packet(SenderRequest),
}

/// The host's answers.
#[allow(clippy::large_enum_variant, reason = "one per exchange: a box would only add an allocation")]
pub enum ResponderResponse {
    /// The request is allowed: the host will answer `NextPacket` requests.
    Serve,
    /// The request is refused for this reason.
    Deny(ReasonCode),
    /// The request is refused without a signed statement: close with this
    /// code (a peer whose refusals are rate-limited, spec/protocol.md "Refusals").
    Close(CloseCode),
    /// The signed refusal.
    Rejected(ReceiptBundle),
    /// The next packet, ready to be offered (from [`Sender::new`] or [`Sender::resend`]).
    Send(Box<Sender>),
    /// No more packets: the answer is complete.
    End,
    /// An answer to a [`ResponderRequest::Packet`] request.
    Packet(SenderResponse),
}

/// How a pull exchange ended for the responder.
#[derive(Clone, Debug, PartialEq, Eq)]
#[allow(clippy::large_enum_variant, reason = "one per exchange: a box would only add an allocation")]
pub enum ResponderOutcome {
    /// The request was served with these packets (each delivered or refused by the requester).
    Served(Vec<SenderOutcome>),
    /// The request was refused with this signed receipt.
    Refused(ReceiptBundle),
}

enum Stage {
    AwaitingRequest,
    Deciding(Box<Signed<PullRequest>>),
    Rejecting,
    AwaitingPacket,
    Sending(Box<Sender>),
    Done,
}

impl Stage {
    fn name(&self) -> &'static str {
        match self {
            Self::AwaitingRequest => "awaiting the request",
            Self::Deciding(_) => "deciding the request",
            Self::Rejecting => "signing a refusal",
            Self::AwaitingPacket => "awaiting the host's next packet",
            Self::Sending(_) => "sending a packet of the answer",
            Self::Done => "done",
        }
    }
}

/// The answering side of one pull exchange, with no I/O.
pub struct Responder {
    peer: AgencyId,
    local: AgencyId,
    stage: Stage,
    sent: Vec<SenderOutcome>,
    io: Queues<ResponderRequest, ResponderOutcome>,
}

impl Responder {
    /// A responder of agency `local` for a stream from `peer`, the agency the transport authenticated.
    pub fn new(local: AgencyId, peer: AgencyId, config: Config, now: Now) -> Self {
        Self { peer, local, stage: Stage::AwaitingRequest, sent: Vec::new(), io: Queues::new(config, now.instant) }
    }

    /// A frame from the requester.
    pub fn handle_frame(&mut self, frame: Frame<'_>, now: Now) {
        let stage = std::mem::replace(&mut self.stage, Stage::Done);
        self.stage = match (stage, frame) {
            (Stage::Done, _) => Stage::Done,
            (Stage::Sending(mut sender), frame) => {
                sender.handle_frame(frame, now);
                return self.pump(sender);
            }
            (Stage::AwaitingRequest, Frame::Request(Request { request, grant_chain })) => {
                let r = request.unverified();
                if r.requester != self.peer {
                    let error = ExchangeError::SenderMismatch { header: r.requester.clone(), peer: self.peer.clone() };
                    return self.fail(error);
                }
                if r.responder != self.local {
                    return self.fail(ExchangeError::NotRequested);
                }
                let request = Box::new(request);
                self.io.ask(ResponderRequest::Decide { request: request.clone(), grant_chain });
                self.io.await_host();
                Stage::Deciding(request)
            }
            (_, Frame::Close(close)) => {
                self.finish(Err(ExchangeError::ClosedByPeer { code: close.code, reason: close.reason.to_string() }));
                Stage::Done
            }
            (stage, frame) => {
                let error = ExchangeError::UnexpectedFrame { got: frame.frame_type(), stage: stage.name() };
                return self.fail(error);
            }
        };
    }

    /// The host's answer to the oldest request that needs one.
    pub fn handle_host(&mut self, response: ResponderResponse, now: Now) {
        let stage = std::mem::replace(&mut self.stage, Stage::Done);
        self.stage = match (stage, response) {
            (Stage::Deciding(_), ResponderResponse::Serve) => {
                self.io.ask(ResponderRequest::NextPacket);
                Stage::AwaitingPacket
            }
            (Stage::Deciding(_) | Stage::Rejecting, ResponderResponse::Close(code)) => {
                return self.fail(ExchangeError::ClosedByHost(code));
            }
            (Stage::Deciding(request), ResponderResponse::Deny(reason)) => {
                let receipt = refusal(&request, reason, now.wall);
                self.io.ask(ResponderRequest::Reject { receipt });
                Stage::Rejecting
            }
            (Stage::Rejecting, ResponderResponse::Rejected(receipt)) => {
                self.io.send(Frame::Reject(Reject { bundle: receipt.clone() }));
                self.finish(Ok(ResponderOutcome::Refused(receipt)));
                Stage::Done
            }
            (Stage::AwaitingPacket, ResponderResponse::Send(sender)) => return self.pump(sender),
            (Stage::AwaitingPacket, ResponderResponse::End) => {
                self.io.send(Frame::Close(Close::new(CloseCode::NO_ERROR, "end of answer")));
                let sent = std::mem::take(&mut self.sent);
                self.finish(Ok(ResponderOutcome::Served(sent)));
                Stage::Done
            }
            (Stage::Sending(mut sender), ResponderResponse::Packet(response)) => {
                sender.handle_host(response, now);
                return self.pump(sender);
            }
            (stage, _) => {
                let name = stage.name();
                self.stage = stage;
                return self.fail(ExchangeError::HostOutOfTurn(name));
            }
        };
    }

    /// The time is now `now`: a requester that stalled past its deadline ends the exchange.
    pub fn handle_timeout(&mut self, now: Instant) {
        match std::mem::replace(&mut self.stage, Stage::Done) {
            Stage::Sending(mut sender) => {
                sender.handle_timeout(now);
                self.pump(sender);
            }
            stage => {
                self.stage = stage;
                if self.io.expired(now) {
                    self.fail(ExchangeError::Timeout);
                }
            }
        }
    }

    /// The next frame to send.
    #[must_use]
    pub fn poll_transmit(&mut self) -> Option<Frame<'static>> {
        self.io.poll_transmit()
    }

    /// The next request for the host.
    #[must_use]
    pub fn poll_request(&mut self) -> Option<ResponderRequest> {
        self.io.poll_request()
    }

    /// When [`handle_timeout`](Self::handle_timeout) is next due.
    #[must_use]
    pub fn poll_timeout(&self) -> Option<Instant> {
        match &self.stage {
            Stage::Sending(sender) => sender.poll_timeout(),
            _ => self.io.poll_timeout(),
        }
    }

    /// The outcome, once the exchange has ended and everything queued is taken.
    #[must_use]
    pub fn poll_outcome(&mut self) -> Option<Result<ResponderOutcome, ExchangeError>> {
        self.io.poll_outcome()
    }

    /// Whether the exchange has ended.
    pub fn is_done(&self) -> bool {
        matches!(self.stage, Stage::Done)
    }

    /// Moves the inner sender's frames and requests out; when its packet
    /// is settled, records it and asks the host for the next.
    fn pump(&mut self, mut sender: Box<Sender>) {
        while let Some(frame) = sender.poll_transmit() {
            self.io.send(frame);
        }
        while let Some(request) = sender.poll_request() {
            self.io.ask(ResponderRequest::Packet(request));
        }
        match sender.poll_outcome() {
            None => self.stage = Stage::Sending(sender),
            Some(Ok(outcome)) => {
                self.sent.push(outcome);
                self.io.ask(ResponderRequest::NextPacket);
                self.io.await_host();
                self.stage = Stage::AwaitingPacket;
            }
            // The sender has queued its Close frame already, if it owed one.
            Some(Err(error)) => self.finish(Err(error)),
        }
    }

    fn fail(&mut self, error: ExchangeError) {
        self.io.send(error.close_frame());
        self.finish(Err(error));
    }

    fn finish(&mut self, outcome: Result<ResponderOutcome, ExchangeError>) {
        self.stage = Stage::Done;
        self.io.await_host();
        self.io.finish(outcome);
    }
}

impl std::fmt::Debug for Responder {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Responder")
            .field("peer", &self.peer)
            .field("stage", &self.stage.name())
            .field("sent", &self.sent.len())
            .finish()
    }
}

/// A refusal of the request: a receipt naming it (spec/protocol.md,
/// "Pull"), with the requester as sender and this agency as recipient.
fn refusal(signed: &Signed<PullRequest>, reason: ReasonCode, now: Timestamp) -> Receipt {
    let request = signed.unverified();
    Receipt {
        packet_id: PacketId(request.request_id.0),
        header_digest: request_digest(signed),
        grant: request.grant,
        purpose: request.purpose.clone(),
        category: request.category.clone(),
        payload_len: 0,
        sender: request.requester.clone(),
        recipient: request.responder.clone(),
        received_at: now,
        outcome: Outcome::Rejected { reason },
    }
}
