//! The asking side of a notice or a fetch (spec/protocol.md, "Notices and
//! fetches").
//!
//! ```text
//! Notice ──▶                  ◀── Close (NO_ERROR: kept; or why not)
//! Fetch ───▶   ◀── Part* ──   ◀── Close (NO_ERROR: the answer is complete; or why not)
//! ```
//!
//! The asker needs nothing from its host: it sends its one frame, gathers
//! the answer's bytes (at most the limit it was given) and ends with them.

use std::convert::Infallible;

use tally_wire::{CloseCode, Fetch, Frame, Notice, Timestamp};

use crate::Config;
use crate::error::ExchangeError;

/// The asking side of one notice or fetch, with no I/O.
pub struct Asker {
    first: Option<Frame<'static>>,
    fetching: bool,
    limit: u64,
    answer: Vec<u8>,
    config: Config,
    deadline: Option<Timestamp>,
    outcome: Option<Result<Vec<u8>, ExchangeError>>,
    close: Option<Frame<'static>>,
}

impl Asker {
    /// Hands `notice` to the peer; the exchange ends when the peer has kept it.
    pub fn notice(notice: Notice, config: Config, now: Timestamp) -> Self {
        Self::new(Frame::Notice(notice), false, 0, config, now)
    }

    /// Asks the peer for `target`; the answer may hold at most `limit` bytes.
    pub fn fetch(target: Fetch, limit: u64, config: Config, now: Timestamp) -> Self {
        Self::new(Frame::Fetch(target), true, limit, config, now)
    }

    fn new(first: Frame<'static>, fetching: bool, limit: u64, config: Config, now: Timestamp) -> Self {
        Self {
            first: Some(first),
            fetching,
            limit,
            answer: Vec::new(),
            config,
            deadline: config.deadline_after(now),
            outcome: None,
            close: None,
        }
    }

    fn fail(&mut self, error: ExchangeError) {
        if !matches!(error, ExchangeError::ClosedByPeer { .. }) {
            self.close = Some(error.close_frame());
        }
        self.outcome = Some(Err(error));
        self.deadline = None;
    }

    /// A frame from the peer.
    pub fn handle_frame(&mut self, frame: Frame<'_>, now: Timestamp) {
        if self.outcome.is_some() {
            return;
        }
        match frame {
            Frame::Part(bytes) if self.fetching => {
                if self.answer.len() as u64 + bytes.len() as u64 > self.limit {
                    self.fail(ExchangeError::AnswerTooLarge { limit: self.limit });
                    return;
                }
                self.answer.extend_from_slice(&bytes);
                self.deadline = self.config.deadline_after(now);
            }
            Frame::Close(c) if c.code == CloseCode::NO_ERROR => {
                self.outcome = Some(Ok(std::mem::take(&mut self.answer)));
                self.deadline = None;
            }
            Frame::Close(c) => {
                self.fail(ExchangeError::ClosedByPeer { code: c.code, reason: c.reason.as_str().to_owned() });
            }
            other => self.fail(ExchangeError::UnexpectedFrame {
                got: other.frame_type(),
                stage: if self.fetching { "awaiting a fetch's answer" } else { "awaiting a notice's answer" },
            }),
        }
    }

    /// The asker asks its host nothing.
    pub fn handle_host(&mut self, response: Infallible, _now: Timestamp) {
        match response {}
    }

    /// The time is now `now`.
    pub fn handle_timeout(&mut self, now: Timestamp) {
        if self.outcome.is_none() && self.deadline.is_some_and(|d| now >= d) {
            self.fail(ExchangeError::Timeout);
        }
    }

    /// The next frame to send.
    pub fn poll_transmit(&mut self) -> Option<Frame<'static>> {
        self.first.take().or_else(|| self.close.take())
    }

    /// The asker has no requests for its host.
    pub fn poll_request(&mut self) -> Option<Infallible> {
        None
    }

    /// When [`handle_timeout`](Self::handle_timeout) is next due.
    pub fn poll_timeout(&self) -> Option<Timestamp> {
        self.deadline
    }

    /// The answer's bytes (empty for a notice), once the peer has closed.
    pub fn poll_outcome(&mut self) -> Option<Result<Vec<u8>, ExchangeError>> {
        if self.first.is_some() || self.close.is_some() {
            return None;
        }
        self.outcome.take()
    }
}
