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
//! clock. The receiver asks its host to store a packet durably and only
//! then sends the receipt the host signed.
//!
//! ```
//! use tally_protocol::{Config, Receiver};
//! use tally_wire::{AgencyId, Timestamp};
//!
//! let mut receiver = Receiver::new(AgencyId::new("tax-bureau")?, Config::default(), Timestamp::from_secs(0));
//! assert!(receiver.poll_transmit().is_none(), "a receiver speaks only after an offer");
//! assert_eq!(receiver.poll_timeout(), Some(Timestamp::from_secs(30)));
//! # Ok::<(), tally_wire::InvalidValue>(())
//! ```

#![forbid(unsafe_code)]

mod error;
mod receiver;
mod requester;
mod responder;
mod sender;

use std::time::Duration;

use tally_wire::Timestamp;

pub use error::ExchangeError;
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
    fn deadline_after(&self, now: Timestamp) -> Option<Timestamp> {
        now.checked_add(self.idle_timeout)
    }
}
