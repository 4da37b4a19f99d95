//! The requesting side of a pull exchange (spec/protocol.md, "Pull").
//!
//! ```text
//! ── Request ──▶
//! ◀─ Reject ──            a signed refusal of the request, verified: end
//! ◀─ Offer ──             each answer packet is received as in a push
//!    …                    (a Receiver inside, its host requests passed on)
//! ◀─ Close (NO_ERROR) ──  the answer is complete
//! ```

use tally_envelope::request_digest;
use tally_receipt::BundleVerifier;
use tally_wire::{CloseCode, Digest, Frame, GrantChain, Outcome, PullRequest, ReceiptBundle, Request, Signed};

use std::time::Instant;

use crate::error::ExchangeError;
use crate::queues::Queues;
use crate::receiver::{Receiver, ReceiverOutcome, ReceiverRequest, ReceiverResponse};
use crate::{Config, Now};

/// How a pull exchange ended for the requester.
#[derive(Clone, Debug, PartialEq, Eq)]
#[allow(clippy::large_enum_variant, reason = "one per exchange: a box would only add an allocation")]
pub enum RequesterOutcome {
    /// The responder answered with these packets, each received as in a
    /// push (stored and receipted, refused, or a resend); possibly none.
    Answered(Vec<ReceiverOutcome>),
    /// The responder refused the request with this signed receipt (which
    /// names the request, spec/protocol.md); the host should log it.
    Refused(ReceiptBundle),
}

enum Stage {
    /// Before the first answer: a refusal or an offer may come.
    AwaitingAnswer,
    /// Between packets: an offer or the end.
    AwaitingOffer,
    Receiving(Box<Receiver>),
    Done,
}

impl Stage {
    fn name(&self) -> &'static str {
        match self {
            Self::AwaitingAnswer => "awaiting the answer to the request",
            Self::AwaitingOffer => "awaiting the next packet of the answer",
            Self::Receiving(_) => "receiving a packet of the answer",
            Self::Done => "done",
        }
    }
}

/// The requesting side of one pull exchange, with no I/O. Its host
/// requests and answers are those of a [`Receiver`], one packet at a time.
pub struct Requester {
    request: PullRequest,
    request_digest: Digest,
    responder: BundleVerifier,
    config: Config,
    stage: Stage,
    received: Vec<ReceiverOutcome>,
    /// The latest monotonic time an input brought.
    now: Instant,
    io: Queues<ReceiverRequest, RequesterOutcome>,
}

impl Requester {
    /// Starts a pull: `request` is signed by this agency, its leaf grant's
    /// chain is `grant_chain`, and `responder` verifies the responder's
    /// bundles under its identity key from the directory.
    pub fn new(
        request: Signed<PullRequest>,
        grant_chain: GrantChain,
        responder: BundleVerifier,
        config: Config,
        now: Now,
    ) -> Self {
        Self {
            request: request.unverified().clone(),
            request_digest: request_digest(&request),
            responder,
            config,
            stage: Stage::AwaitingAnswer,
            received: Vec::new(),
            now: now.instant,
            io: {
                let mut io = Queues::new(config, now.instant);
                io.send(Frame::Request(Request { request, grant_chain }));
                io
            },
        }
    }

    /// A frame from the responder.
    pub fn handle_frame(&mut self, frame: Frame<'_>, now: Now) {
        self.now = now.instant;
        let stage = std::mem::replace(&mut self.stage, Stage::Done);
        self.stage = match (stage, frame) {
            (Stage::Done, _) => Stage::Done,
            (Stage::Receiving(mut receiver), frame) => {
                receiver.handle_frame(frame, now);
                return self.pump(receiver);
            }
            (Stage::AwaitingAnswer, Frame::Reject(reject)) => match self.check_refusal(&reject.bundle) {
                Ok(()) => {
                    self.finish(Ok(RequesterOutcome::Refused(reject.bundle)));
                    Stage::Done
                }
                Err(e) => return self.fail(e),
            },
            (Stage::AwaitingAnswer | Stage::AwaitingOffer, Frame::Offer(offer)) => {
                let h = offer.header.value();
                let requested = h.recipient == self.request.requester
                    && h.grant == self.request.grant
                    && h.purpose == self.request.purpose
                    && h.category == self.request.category;
                if !requested {
                    return self.fail(ExchangeError::NotRequested);
                }
                self.io.await_host();
                let mut receiver =
                    Receiver::new(self.request.requester.clone(), self.request.responder.clone(), self.config, now);
                receiver.handle_frame(Frame::Offer(offer), now);
                return self.pump(Box::new(receiver));
            }
            (Stage::AwaitingAnswer | Stage::AwaitingOffer, Frame::Close(close))
                if close.code == CloseCode::NO_ERROR =>
            {
                let received = std::mem::take(&mut self.received);
                self.finish(Ok(RequesterOutcome::Answered(received)));
                Stage::Done
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

    /// The host's answer to the oldest request (of the packet being received).
    pub fn handle_host(&mut self, response: ReceiverResponse, now: Now) {
        self.now = now.instant;
        match std::mem::replace(&mut self.stage, Stage::Done) {
            Stage::Receiving(mut receiver) => {
                receiver.handle_host(response, now);
                self.pump(receiver);
            }
            stage => {
                let name = stage.name();
                self.stage = stage;
                self.fail(ExchangeError::HostOutOfTurn(name));
            }
        }
    }

    /// The time is now `now`: a responder that stalled past its deadline ends the exchange.
    pub fn handle_timeout(&mut self, now: Instant) {
        self.now = now;
        match std::mem::replace(&mut self.stage, Stage::Done) {
            Stage::Receiving(mut receiver) => {
                receiver.handle_timeout(now);
                self.pump(receiver);
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

    /// The next request for the host (of the packet being received).
    #[must_use]
    pub fn poll_request(&mut self) -> Option<ReceiverRequest> {
        let Stage::Receiving(receiver) = &mut self.stage else { return None };
        if let Some(request) = receiver.poll_request() {
            return Some(request);
        }
        // Its last request taken, a finished packet can be settled.
        if let Stage::Receiving(receiver) = std::mem::replace(&mut self.stage, Stage::Done) {
            self.pump(receiver);
        }
        None
    }

    /// When [`handle_timeout`](Self::handle_timeout) is next due.
    #[must_use]
    pub fn poll_timeout(&self) -> Option<Instant> {
        match &self.stage {
            Stage::Receiving(receiver) => receiver.poll_timeout(),
            _ => self.io.poll_timeout(),
        }
    }

    /// The outcome, once the exchange has ended and everything queued is taken.
    #[must_use]
    pub fn poll_outcome(&mut self) -> Option<Result<RequesterOutcome, ExchangeError>> {
        self.io.poll_outcome()
    }

    /// Whether the exchange has ended.
    pub fn is_done(&self) -> bool {
        matches!(self.stage, Stage::Done)
    }

    /// Moves the inner receiver's frames out; when its packet is settled
    /// (and its host requests taken), records it and awaits the next offer.
    fn pump(&mut self, mut receiver: Box<Receiver>) {
        while let Some(frame) = receiver.poll_transmit() {
            self.io.send(frame);
        }
        if !receiver.is_done() {
            self.stage = Stage::Receiving(receiver);
            return;
        }
        match receiver.poll_outcome() {
            // Host requests (a Discard) are still queued: keep it until they are taken.
            None => self.stage = Stage::Receiving(receiver),
            Some(Ok(outcome)) => {
                self.received.push(outcome);
                self.io.await_peer(self.now);
                self.stage = Stage::AwaitingOffer;
            }
            // The receiver has queued its Close frame already, if it owed one.
            Some(Err(error)) => self.finish(Err(error)),
        }
    }

    /// A refusal must be the responder's, for exactly this request.
    fn check_refusal(&self, bundle: &ReceiptBundle) -> Result<(), ExchangeError> {
        let r = self.responder.verify(bundle).map_err(ExchangeError::BadBundle)?.receipt;
        let q = &self.request;
        let ours = r.packet_id.0 == q.request_id.0
            && r.header_digest == self.request_digest
            && r.sender == q.requester
            && r.recipient == q.responder
            && r.grant == q.grant
            && r.purpose == q.purpose;
        if !ours {
            return Err(ExchangeError::BadReceipt("the refusal is for another request"));
        }
        match r.outcome {
            Outcome::Rejected { .. } => Ok(()),
            Outcome::Accepted { .. } => Err(ExchangeError::BadReceipt("an acceptance in a reject frame")),
        }
    }

    fn fail(&mut self, error: ExchangeError) {
        self.io.send(error.close_frame());
        self.finish(Err(error));
    }

    fn finish(&mut self, outcome: Result<RequesterOutcome, ExchangeError>) {
        self.stage = Stage::Done;
        self.io.await_host();
        self.io.finish(outcome);
    }
}

impl std::fmt::Debug for Requester {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Requester")
            .field("request", &self.request.request_id)
            .field("stage", &self.stage.name())
            .field("received", &self.received.len())
            .finish()
    }
}
