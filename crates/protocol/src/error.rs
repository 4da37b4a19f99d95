//! How an exchange can end badly (spec/protocol.md, "Errors").

use tally_wire::{AgencyId, Close, CloseCode, Frame, FrameType};

/// Why an exchange ended without its normal outcome. Each variant has the
/// close code sent to the peer ([`ExchangeError::close_code`]).
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum ExchangeError {
    /// A frame arrived that this stage of the exchange does not allow.
    #[error("unexpected {got} frame while {stage}")]
    UnexpectedFrame {
        /// The frame's type.
        got: FrameType,
        /// What the exchange was doing.
        stage: &'static str,
    },
    /// The header names a sender other than the authenticated peer.
    #[error("the header names {header} as sender, but the peer is {peer}")]
    SenderMismatch {
        /// The header's sender.
        header: AgencyId,
        /// The authenticated peer.
        peer: AgencyId,
    },
    /// The offer names another agency as its recipient: nothing is signed about it.
    #[error("the offer is addressed to {recipient}, not to this agency")]
    NotAddressedHere {
        /// The recipient the header names.
        recipient: AgencyId,
    },
    /// The host refused the offer without a signed statement (its refusals are rate-limited).
    #[error("refused without a signed statement: {0}")]
    ClosedByHost(CloseCode),
    /// A pull answer's offer, or a pull request, that does not match what was asked or whom.
    #[error("not what was requested: the offer or request does not match the pull request or the responder")]
    NotRequested,
    /// The packet id is known for a different packet.
    #[error("packet id reused for a different packet")]
    PacketIdReused,
    /// The peer stalled past the deadline.
    #[error("the peer sent nothing for too long")]
    Timeout,
    /// The peer closed the exchange.
    #[error("the peer closed the exchange: {code}: {reason}")]
    ClosedByPeer {
        /// Its code.
        code: CloseCode,
        /// Its reason.
        reason: String,
    },
    /// The peer's receipt does not verify or does not match the packet.
    #[error("the receipt does not verify: {0}")]
    BadReceipt(&'static str),
    /// The peer's receipt bundle does not verify (checkpoint, proof or signature).
    #[error("the receipt bundle does not verify: {0}")]
    BadBundle(tally_receipt::BundleError),
    /// The host could not store the packet; no receipt was issued.
    #[error("the host could not store the packet")]
    StoreFailed,
    /// The local side misused the API (a host response at the wrong time).
    #[error("host response out of turn: {0}")]
    HostOutOfTurn(&'static str),
    /// A fetch's answer grew past the limit the asker set.
    #[error("the answer is larger than the {limit} bytes allowed")]
    AnswerTooLarge {
        /// The limit, in bytes.
        limit: u64,
    },
    /// The envelope failed locally (sealing).
    #[error("envelope: {0}")]
    Envelope(EnvelopeFailure),
}

/// A sealing failure of tally-envelope, kept as the error's source. Two
/// are equal if they are the same failure (one error, shared).
#[derive(Clone, Debug)]
pub struct EnvelopeFailure(std::sync::Arc<tally_envelope::Error>);

impl EnvelopeFailure {
    /// The envelope's error.
    pub fn error(&self) -> &tally_envelope::Error {
        &self.0
    }
}

impl From<tally_envelope::Error> for EnvelopeFailure {
    fn from(e: tally_envelope::Error) -> Self {
        Self(std::sync::Arc::new(e))
    }
}

impl PartialEq for EnvelopeFailure {
    fn eq(&self, other: &Self) -> bool {
        std::sync::Arc::ptr_eq(&self.0, &other.0)
    }
}

impl Eq for EnvelopeFailure {}

impl std::fmt::Display for EnvelopeFailure {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        self.0.fmt(f)
    }
}

impl std::error::Error for EnvelopeFailure {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        Some(&*self.0)
    }
}

impl ExchangeError {
    /// The close code sent to the peer.
    pub fn close_code(&self) -> CloseCode {
        match self {
            Self::UnexpectedFrame { .. } | Self::NotRequested => CloseCode::UNEXPECTED_FRAME,
            Self::SenderMismatch { .. } => CloseCode::SENDER_MISMATCH,
            Self::NotAddressedHere { .. } => CloseCode::NOT_ADDRESSED_HERE,
            Self::ClosedByHost(code) => *code,
            Self::PacketIdReused => CloseCode::PACKET_ID_REUSED,
            Self::Timeout => CloseCode::TIMEOUT,
            Self::BadReceipt(_) | Self::BadBundle(_) => CloseCode::VERIFICATION_FAILED,
            Self::AnswerTooLarge { .. } => CloseCode::FRAME_TOO_LARGE,
            Self::ClosedByPeer { .. } => CloseCode::NO_ERROR,
            Self::StoreFailed | Self::HostOutOfTurn(_) | Self::Envelope(_) => CloseCode::INTERNAL_ERROR,
        }
    }
}

impl ExchangeError {
    /// The `Close` frame that ends the exchange with this error: its code,
    /// and its message as the reason, cut to the wire's limit.
    pub fn close_frame(&self) -> Frame<'static> {
        Frame::Close(Close::new(self.close_code(), &self.to_string()))
    }
}
