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
use std::collections::VecDeque;

use tally_wire::{AgencyId, Close, CloseCode, Fetch, Frame, Notice, Timestamp};

use crate::Config;
use crate::error::ExchangeError;

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
    transmit: VecDeque<Frame<'static>>,
    requests: VecDeque<AnswererRequest>,
    deadline: Option<Timestamp>,
    outcome: Option<Result<AnswererOutcome, ExchangeError>>,
}

impl Answerer {
    /// An answerer for a stream from `peer`, the agency the transport authenticated.
    pub fn new(peer: AgencyId, config: Config, now: Timestamp) -> Self {
        Self {
            peer,
            stage: Stage::AwaitingFirst,
            transmit: VecDeque::new(),
            requests: VecDeque::new(),
            deadline: config.deadline_after(now),
            outcome: None,
        }
    }

    /// The authenticated peer.
    pub fn peer(&self) -> &AgencyId {
        &self.peer
    }

    fn end(&mut self, outcome: Result<AnswererOutcome, ExchangeError>) {
        self.stage = Stage::Done;
        self.deadline = None;
        self.outcome = Some(outcome);
    }

    fn fail(&mut self, error: ExchangeError) {
        if !matches!(error, ExchangeError::ClosedByPeer { .. }) {
            self.transmit.push_back(error.close_frame());
        }
        self.end(Err(error));
    }

    /// A frame from the peer.
    pub fn handle_frame(&mut self, frame: Frame<'_>, _now: Timestamp) {
        match (self.stage, frame) {
            (Stage::Done, _) => {}
            (Stage::AwaitingFirst, Frame::Notice(n)) => {
                self.stage = Stage::Keeping;
                self.deadline = None;
                self.requests.push_back(AnswererRequest::Keep(n));
            }
            (Stage::AwaitingFirst, Frame::Fetch(f)) => {
                self.stage = Stage::Fetching;
                self.deadline = None;
                self.requests.push_back(AnswererRequest::Fetch(f));
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
    pub fn handle_host(&mut self, response: AnswererResponse, _now: Timestamp) {
        match (self.stage, response) {
            (Stage::Keeping, AnswererResponse::Kept) => {
                self.transmit.push_back(Frame::Close(Close::new(CloseCode::NO_ERROR, "kept")));
                self.end(Ok(AnswererOutcome::Answered));
            }
            (Stage::Fetching, AnswererResponse::Part(bytes)) => {
                self.transmit.push_back(Frame::Part(Cow::Owned(bytes)));
                self.requests.push_back(AnswererRequest::NextPart);
            }
            (Stage::Fetching, AnswererResponse::End) => {
                self.transmit.push_back(Frame::Close(Close::new(CloseCode::NO_ERROR, "end of answer")));
                self.end(Ok(AnswererOutcome::Answered));
            }
            (Stage::Keeping | Stage::Fetching, AnswererResponse::Refuse(code, reason)) => {
                self.transmit.push_back(Frame::Close(Close::new(code, &reason)));
                self.end(Ok(AnswererOutcome::Refused(code)));
            }
            (Stage::Done, _) => {}
            _ => self.fail(ExchangeError::HostOutOfTurn("an answer that does not fit the exchange")),
        }
    }

    /// The time is now `now`.
    pub fn handle_timeout(&mut self, now: Timestamp) {
        if self.stage == Stage::AwaitingFirst && self.deadline.is_some_and(|d| now >= d) {
            self.fail(ExchangeError::Timeout);
        }
    }

    /// The next frame to send.
    pub fn poll_transmit(&mut self) -> Option<Frame<'static>> {
        self.transmit.pop_front()
    }

    /// The next request for the host.
    pub fn poll_request(&mut self) -> Option<AnswererRequest> {
        self.requests.pop_front()
    }

    /// When [`handle_timeout`](Self::handle_timeout) is next due.
    pub fn poll_timeout(&self) -> Option<Timestamp> {
        self.deadline
    }

    /// The outcome, once the exchange has ended and its last frame is taken.
    pub fn poll_outcome(&mut self) -> Option<Result<AnswererOutcome, ExchangeError>> {
        if !self.transmit.is_empty() {
            return None;
        }
        self.outcome.take()
    }
}
