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
use std::time::Instant;

use tally_wire::{CloseCode, Fetch, Frame, Notice};

use crate::error::ExchangeError;
use crate::queues::Queues;
use crate::{Config, Now};

/// The asking side of one notice or fetch, with no I/O.
pub struct Asker {
    fetching: bool,
    limit: u64,
    answer: Vec<u8>,
    io: Queues<Infallible, Vec<u8>>,
}

impl Asker {
    /// Hands `notice` to the peer; the exchange ends when the peer has kept it.
    pub fn notice(notice: Notice, config: Config, now: Now) -> Self {
        Self::new(Frame::Notice(notice), false, 0, config, now)
    }

    /// Asks the peer for `target`; the answer may hold at most `limit` bytes.
    pub fn fetch(target: Fetch, limit: u64, config: Config, now: Now) -> Self {
        Self::new(Frame::Fetch(target), true, limit, config, now)
    }

    fn new(first: Frame<'static>, fetching: bool, limit: u64, config: Config, now: Now) -> Self {
        let mut io = Queues::new(config, now.instant);
        io.send(first);
        Self { fetching, limit, answer: Vec::new(), io }
    }

    fn fail(&mut self, error: ExchangeError) {
        if matches!(error, ExchangeError::ClosedByPeer { .. }) {
            self.io.finish(Err(error));
        } else {
            self.io.fail(error);
        }
    }

    /// A frame from the peer.
    pub fn handle_frame(&mut self, frame: Frame<'_>, now: Now) {
        if self.io.has_outcome() {
            return;
        }
        match frame {
            Frame::Part(bytes) if self.fetching => {
                if self.answer.len() as u64 + bytes.len() as u64 > self.limit {
                    self.fail(ExchangeError::AnswerTooLarge { limit: self.limit });
                    return;
                }
                self.answer.extend_from_slice(&bytes);
                self.io.await_peer(now.instant);
            }
            Frame::Close(c) if c.code == CloseCode::NO_ERROR => {
                let answer = std::mem::take(&mut self.answer);
                self.io.finish(Ok(answer));
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
    pub fn handle_host(&mut self, response: Infallible, _now: Now) {
        match response {}
    }

    /// The monotonic time is now `now`.
    pub fn handle_timeout(&mut self, now: Instant) {
        if !self.io.has_outcome() && self.io.expired(now) {
            self.fail(ExchangeError::Timeout);
        }
    }

    /// The next frame to send.
    #[must_use]
    pub fn poll_transmit(&mut self) -> Option<Frame<'static>> {
        self.io.poll_transmit()
    }

    /// The asker has no requests for its host.
    #[must_use]
    pub fn poll_request(&mut self) -> Option<Infallible> {
        self.io.poll_request()
    }

    /// When [`handle_timeout`](Self::handle_timeout) is next due.
    #[must_use]
    pub fn poll_timeout(&self) -> Option<Instant> {
        self.io.poll_timeout()
    }

    /// The answer's bytes (empty for a notice), once the peer has closed.
    #[must_use]
    pub fn poll_outcome(&mut self) -> Option<Result<Vec<u8>, ExchangeError>> {
        self.io.poll_outcome()
    }
}
