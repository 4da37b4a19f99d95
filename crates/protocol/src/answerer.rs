//! The answering side of a notice or a fetch (spec/protocol.md, "Notices
//! and fetches").
//!
//! ```text
//! peer ── Notice ──▶         host ◀─ Keep (verify, keep, log)
//!       ◀─ Close ──          NO_ERROR once kept, or the host's code and reason
//! peer ── Fetch ───▶         host ◀─ Fetch (may the peer have it?), then NextPart …
//!       ◀─ Part* ──          each part the host gives, as QUIC flow control lets it through
//!       ◀─ Close ──          NO_ERROR when the host has no more, or the host's refusal
//! ```

use std::borrow::Cow;
use std::time::Instant;

use tally_wire::{AgencyId, Close, CloseCode, Fetch, Frame, Notice};

use crate::error::ExchangeError;
use crate::queues::Queues;
use crate::{Config, Now};

/// What the answerer asks its host. Answer with [`Answerer::handle_host`].
#[derive(Debug)]
pub enum AnswererRequest {
    /// Verify and keep a notice from the peer (log it); answer
    /// [`AnswererResponse::Kept`] or [`AnswererResponse::Refuse`].
    Keep(Notice),
    /// Decide a fetch by the peer; answer with its first
    /// [`Part`](AnswererResponse::Part), [`End`](AnswererResponse::End) or
    /// [`Refuse`](AnswererResponse::Refuse).
    Fetch(Fetch),
    /// The next part of the answer: [`Part`](AnswererResponse::Part) or [`End`](AnswererResponse::End).
    NextPart,
}

/// The host's answers.
#[derive(Debug)]
pub enum AnswererResponse {
    /// The notice is kept and logged.
    Kept,
    /// Bytes of the fetch's answer (at most `MAX_CHUNK_SIZE`).
    Part(Vec<u8>),
    /// The answer is complete.
    End,
    /// Refused: the close code and a reason for people.
    Refuse(CloseCode, String),
}

/// How a notice or fetch ended for the answerer.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum AnswererOutcome {
    /// The notice was kept, or the fetch answered in full.
    Answered,
    /// Refused with this code.
    Refused(CloseCode),
}

#[derive(Clone, Copy, PartialEq, Eq)]
enum Stage {
    AwaitingFirst,
    Keeping,
    Fetching,
    Done,
}

/// The answering side of one notice or fetch, with no I/O.
pub struct Answerer {
    peer: AgencyId,
    stage: Stage,
    io: Queues<AnswererRequest, AnswererOutcome>,
}

impl Answerer {
    /// An answerer for a stream from `peer`, the agency the transport authenticated.
    pub fn new(peer: AgencyId, config: Config, now: Now) -> Self {
        Self { peer, stage: Stage::AwaitingFirst, io: Queues::new(config, now.instant) }
    }

    /// The authenticated peer.
    pub fn peer(&self) -> &AgencyId {
        &self.peer
    }

    fn end(&mut self, outcome: Result<AnswererOutcome, ExchangeError>) {
        self.stage = Stage::Done;
        self.io.finish(outcome);
    }

    fn fail(&mut self, error: ExchangeError) {
        if !matches!(error, ExchangeError::ClosedByPeer { .. }) {
            self.io.send(error.close_frame());
        }
        self.end(Err(error));
    }

    /// A frame from the peer.
    pub fn handle_frame(&mut self, frame: Frame<'_>, _now: Now) {
        match (self.stage, frame) {
            (Stage::Done, _) => {}
            (Stage::AwaitingFirst, Frame::Notice(n)) => {
                self.stage = Stage::Keeping;
                self.io.await_host();
                self.io.ask(AnswererRequest::Keep(n));
            }
            (Stage::AwaitingFirst, Frame::Fetch(f)) => {
                self.stage = Stage::Fetching;
                self.io.await_host();
                self.io.ask(AnswererRequest::Fetch(f));
            }
            (_, Frame::Close(c)) => {
                self.fail(ExchangeError::ClosedByPeer { code: c.code, reason: c.reason.as_str().to_owned() })
            }
            (stage, other) => self.fail(ExchangeError::UnexpectedFrame {
                got: other.frame_type(),
                stage: match stage {
                    Stage::AwaitingFirst => "awaiting a notice or a fetch",
                    _ => "answering",
                },
            }),
        }
    }

    /// The host's answer to the oldest request.
    pub fn handle_host(&mut self, response: AnswererResponse, _now: Now) {
        match (self.stage, response) {
            (Stage::Keeping, AnswererResponse::Kept) => {
                self.io.send(Frame::Close(Close::new(CloseCode::NO_ERROR, "kept")));
                self.end(Ok(AnswererOutcome::Answered));
            }
            (Stage::Fetching, AnswererResponse::Part(bytes)) => {
                self.io.send(Frame::Part(Cow::Owned(bytes)));
                self.io.ask(AnswererRequest::NextPart);
            }
            (Stage::Fetching, AnswererResponse::End) => {
                self.io.send(Frame::Close(Close::new(CloseCode::NO_ERROR, "end of answer")));
                self.end(Ok(AnswererOutcome::Answered));
            }
            (Stage::Keeping | Stage::Fetching, AnswererResponse::Refuse(code, reason)) => {
                self.io.send(Frame::Close(Close::new(code, &reason)));
                self.end(Ok(AnswererOutcome::Refused(code)));
            }
            (Stage::Done, _) => {}
            _ => self.fail(ExchangeError::HostOutOfTurn("an answer that does not fit the exchange")),
        }
    }

    /// The monotonic time is now `now`.
    pub fn handle_timeout(&mut self, now: Instant) {
        if self.stage == Stage::AwaitingFirst && self.io.expired(now) {
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
    pub fn poll_request(&mut self) -> Option<AnswererRequest> {
        self.io.poll_request()
    }

    /// When [`handle_timeout`](Self::handle_timeout) is next due.
    #[must_use]
    pub fn poll_timeout(&self) -> Option<Instant> {
        self.io.poll_timeout()
    }

    /// The outcome, once the exchange has ended and everything queued is taken.
    #[must_use]
    pub fn poll_outcome(&mut self) -> Option<Result<AnswererOutcome, ExchangeError>> {
        self.io.poll_outcome()
    }
}
