//! What every side of an exchange keeps besides its stage: the frames to
//! send, the requests for its host, the deadline by which the peer must
//! speak, and the outcome once it is known. One implementation, shared by
//! the six sides.

use std::collections::VecDeque;
use std::time::Instant;

use tally_wire::Frame;

use crate::{Config, ExchangeError};

/// The queues, deadline and outcome of one side of an exchange.
#[derive(Debug)]
pub(crate) struct Queues<R, O> {
    transmit: VecDeque<Frame<'static>>,
    requests: VecDeque<R>,
    deadline: Option<Instant>,
    outcome: Option<Result<O, ExchangeError>>,
    config: Config,
}

impl<R, O> Queues<R, O> {
    /// Queues awaiting the peer from `now`.
    pub(crate) fn new(config: Config, now: Instant) -> Self {
        Self {
            transmit: VecDeque::new(),
            requests: VecDeque::new(),
            deadline: config.deadline_after(now),
            outcome: None,
            config,
        }
    }

    /// Queues a frame to send.
    pub(crate) fn send(&mut self, frame: Frame<'static>) {
        self.transmit.push_back(frame);
    }

    /// Queues a request for the host.
    pub(crate) fn ask(&mut self, request: R) {
        self.requests.push_back(request);
    }

    /// The peer is awaited again: it must speak within the idle timeout from `now`.
    pub(crate) fn await_peer(&mut self, now: Instant) {
        self.deadline = self.config.deadline_after(now);
    }

    /// The host, not the peer, is awaited: no deadline runs.
    pub(crate) fn await_host(&mut self) {
        self.deadline = None;
    }

    /// Whether the peer stalled past its deadline at `now`.
    pub(crate) fn expired(&self, now: Instant) -> bool {
        self.deadline.is_some_and(|d| now >= d)
    }

    /// Whether the outcome is known.
    pub(crate) fn has_outcome(&self) -> bool {
        self.outcome.is_some()
    }

    /// Ends with `error`: the `Close` frame that tells the peer, then the error.
    pub(crate) fn fail(&mut self, error: ExchangeError) {
        self.transmit.push_back(error.close_frame());
        self.finish(Err(error));
    }

    /// Ends with `outcome` (the first one stands), awaiting nothing more.
    pub(crate) fn finish(&mut self, outcome: Result<O, ExchangeError>) {
        self.deadline = None;
        self.outcome.get_or_insert(outcome);
    }

    /// The next frame to send.
    pub(crate) fn poll_transmit(&mut self) -> Option<Frame<'static>> {
        self.transmit.pop_front()
    }

    /// The next request for the host.
    pub(crate) fn poll_request(&mut self) -> Option<R> {
        self.requests.pop_front()
    }

    /// When the deadline is.
    pub(crate) fn poll_timeout(&self) -> Option<Instant> {
        self.deadline
    }

    /// The outcome, once everything queued has been taken.
    pub(crate) fn poll_outcome(&mut self) -> Option<Result<O, ExchangeError>> {
        if self.transmit.is_empty() && self.requests.is_empty() { self.outcome.take() } else { None }
    }
}
