//! `tally-protocol`: the exchange as state machines with no I/O
//! (spec/protocol.md), in the manner of quinn-proto.
//!
//! A [`Sender`] and a [`Receiver`] each consume frames from the peer
//! (`handle_frame`), answers from their host (`handle_host`) and the time
//! (`handle_timeout`), and produce frames to send (`poll_transmit`),
//! requests to their host (`poll_request`: decide, store, log), the next
//! deadline (`poll_timeout`) and, at the end, their outcome
//! (`poll_outcome`). No sockets, clocks, threads or randomness: the
//! transport drives them, and tests drive them in memory with a simulated
//! clock. Time comes as [`Now`]: a monotonic instant for the deadlines, and
//! apart from it the wall-clock time written into receipts. The receiver asks its host to store a packet durably and only
//! then sends the receipt the host signed. An [`Asker`] and an
//! [`Answerer`] carry the smaller exchanges: a notice (a grant or
//! revocation handed to the peer to keep) and a fetch (the peer's
//! directory, a checkpoint of its log, a part of its entries, or a
//! consistency proof, in `Part` frames).
//!
//! ```
//! use std::time::Duration;
//! use tally_protocol::{Config, Now, Receiver};
//! use tally_wire::AgencyId;
//!
//! let (local, peer) = (AgencyId::new("social-security")?, AgencyId::new("tax-bureau")?);
//! let now = Now::system();
//! let mut receiver = Receiver::new(local, peer, Config::default(), now);
//! assert!(receiver.poll_transmit().is_none(), "a receiver speaks only after an offer");
//! assert_eq!(receiver.poll_timeout(), Some(now.instant + Duration::from_secs(30)));
//! # Ok::<(), tally_wire::InvalidValue>(())
//! ```

#![forbid(unsafe_code)]

mod answerer;
mod asker;
mod error;
mod queues;
mod receiver;
mod requester;
mod responder;
mod sender;

use std::time::{Duration, Instant, SystemTime};

use tally_wire::{Frame, Timestamp};

pub use answerer::{Answerer, AnswererOutcome, AnswererRequest, AnswererResponse};
pub use asker::Asker;
pub use error::{EnvelopeFailure, ExchangeError};
pub use receiver::{Receiver, ReceiverOutcome, ReceiverRequest, ReceiverResponse};
pub use requester::{Requester, RequesterOutcome};
pub use responder::{Responder, ResponderOutcome, ResponderRequest, ResponderResponse};
pub use sender::{Sender, SenderOutcome, SenderRequest, SenderResponse};

/// Limits of an exchange.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Config {
    /// How long the peer may stay silent while it is awaited.
    pub idle_timeout: Duration,
}

impl Default for Config {
    fn default() -> Self {
        Self { idle_timeout: Duration::from_secs(30) }
    }
}

impl Config {
    fn deadline_after(&self, now: Instant) -> Option<Instant> {
        now.checked_add(self.idle_timeout)
    }
}

/// The time as a driver gives it to an exchange: a monotonic instant for
/// its deadlines, and the wall clock for the times it writes into receipts.
/// The two are separate: a wall clock that jumps (NTP, an operator)
/// neither fires nor postpones a timeout.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Now {
    /// For deadlines.
    pub instant: Instant,
    /// For receipts.
    pub wall: Timestamp,
}

impl Now {
    /// The system's clocks now.
    pub fn system() -> Self {
        Self { instant: Instant::now(), wall: Timestamp::from_system_time(SystemTime::now()) }
    }

    /// Both clocks `by` later (for simulated time in tests).
    #[must_use]
    pub fn later(self, by: Duration) -> Self {
        Self { instant: self.instant + by, wall: self.wall.checked_add(by).unwrap_or(self.wall) }
    }
}

/// What the four sides of an exchange have in common, so that one driver
/// (a transport, a test) can run any of them. Each method is the
/// inherent method of the same name.
pub trait Exchange {
    /// What the side asks its host.
    type Request;
    /// The host's answers.
    type Response;
    /// How the exchange ends when it ends well.
    type Outcome;

    /// A frame from the peer.
    fn handle_frame(&mut self, frame: Frame<'_>, now: Now);
    /// The host's answer to the oldest request that needs one.
    fn handle_host(&mut self, response: Self::Response, now: Now);
    /// The monotonic time is now `now`.
    fn handle_timeout(&mut self, now: Instant);
    /// The next frame to send.
    #[must_use]
    fn poll_transmit(&mut self) -> Option<Frame<'static>>;
    /// The next request for the host.
    #[must_use]
    fn poll_request(&mut self) -> Option<Self::Request>;
    /// When `handle_timeout` is next due.
    #[must_use]
    fn poll_timeout(&self) -> Option<Instant>;
    /// The outcome, once the exchange has ended and everything queued is taken.
    #[must_use]
    fn poll_outcome(&mut self) -> Option<Result<Self::Outcome, ExchangeError>>;
}

macro_rules! exchange {
    ($($side:ty => $request:ty, $response:ty, $outcome:ty;)*) => {$(
        impl Exchange for $side {
            type Request = $request;
            type Response = $response;
            type Outcome = $outcome;
            fn handle_frame(&mut self, frame: Frame<'_>, now: Now) {
                <$side>::handle_frame(self, frame, now)
            }
            fn handle_host(&mut self, response: $response, now: Now) {
                <$side>::handle_host(self, response, now)
            }
            fn handle_timeout(&mut self, now: Instant) {
                <$side>::handle_timeout(self, now)
            }
            fn poll_transmit(&mut self) -> Option<Frame<'static>> {
                <$side>::poll_transmit(self)
            }
            fn poll_request(&mut self) -> Option<$request> {
                <$side>::poll_request(self)
            }
            fn poll_timeout(&self) -> Option<Instant> {
                <$side>::poll_timeout(self)
            }
            fn poll_outcome(&mut self) -> Option<Result<$outcome, ExchangeError>> {
                <$side>::poll_outcome(self)
            }
        }
    )*};
}

exchange! {
    Sender => SenderRequest, SenderResponse, SenderOutcome;
    Receiver => ReceiverRequest, ReceiverResponse, ReceiverOutcome;
    Requester => ReceiverRequest, ReceiverResponse, RequesterOutcome;
    Responder => ResponderRequest, ResponderResponse, ResponderOutcome;
    Asker => std::convert::Infallible, std::convert::Infallible, Vec<u8>;
    Answerer => AnswererRequest, AnswererResponse, AnswererOutcome;
}
