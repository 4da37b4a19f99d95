//! Failures of the local API as problem documents (RFC 9457): a stable,
//! machine-readable `code`, the HTTP status, and the human sentence.

use serde::{Deserialize, Serialize};

use crate::error::{Fault, NodeError};

/// The media type of a problem document.
pub const PROBLEM_JSON: &str = "application/problem+json";

/// What kind of failure a problem is; stable across versions.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum ProblemCode {
    /// The request is malformed: a parameter, a document, a file's content.
    BadRequest,
    /// What was asked for is not here.
    NotFound,
    /// The grant policy, or a limit of this node or the peer, refused it.
    Refused,
    /// A peer could not be reached, or failed or broke the protocol.
    PeerFailed,
    /// This node's storage, files or configuration failed.
    NodeFailed,
    /// A TCP request without the API's bearer token.
    Unauthorized,
    /// A send without its length (`Content-Length`).
    LengthRequired,
    /// A send was cancelled (its payload failed, or cannot be read again); nothing of it is kept.
    Cancelled,
}

impl ProblemCode {
    /// The HTTP status the problem is answered with.
    pub fn status(self) -> u16 {
        match self {
            Self::BadRequest => 400,
            Self::Unauthorized => 401,
            Self::NotFound => 404,
            Self::Refused | Self::Cancelled => 409,
            Self::LengthRequired => 411,
            Self::NodeFailed => 500,
            Self::PeerFailed => 502,
        }
    }

    /// Its name (`peer-failed`).
    pub fn name(self) -> &'static str {
        match self {
            Self::BadRequest => "bad-request",
            Self::NotFound => "not-found",
            Self::Refused => "refused",
            Self::PeerFailed => "peer-failed",
            Self::NodeFailed => "node-failed",
            Self::Unauthorized => "unauthorized",
            Self::LengthRequired => "length-required",
            Self::Cancelled => "cancelled",
        }
    }

    /// A short, fixed summary (RFC 9457's `title`).
    pub fn title(self) -> &'static str {
        match self {
            Self::BadRequest => "The request is malformed",
            Self::NotFound => "Not found",
            Self::Refused => "Refused by policy or a limit",
            Self::PeerFailed => "The peer failed or could not be reached",
            Self::NodeFailed => "The node failed",
            Self::Unauthorized => "Missing or wrong bearer token",
            Self::LengthRequired => "The payload's length is required",
            Self::Cancelled => "The send is cancelled",
        }
    }
}

impl From<Fault> for ProblemCode {
    fn from(fault: Fault) -> Self {
        match fault {
            Fault::Input => Self::BadRequest,
            Fault::NotFound => Self::NotFound,
            Fault::Policy => Self::Refused,
            Fault::Peer => Self::PeerFailed,
            Fault::Local => Self::NodeFailed,
            Fault::Cancelled => Self::Cancelled,
        }
    }
}

/// A problem document (RFC 9457).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, thiserror::Error)]
#[error("{detail}")]
pub struct Problem {
    /// A URI naming the kind: `urn:tally:problem:` and the code.
    #[serde(rename = "type")]
    pub kind: String,
    /// The code's fixed summary.
    pub title: String,
    /// The HTTP status.
    pub status: u16,
    /// What happened, where, and what to do: the sentence a person reads.
    pub detail: String,
    /// The machine-readable code.
    pub code: ProblemCode,
}

impl Problem {
    /// A problem of `code` saying `detail`.
    pub fn new(code: ProblemCode, detail: impl Into<String>) -> Self {
        Self {
            kind: format!("urn:tally:problem:{}", code.name()),
            title: code.title().into(),
            status: code.status(),
            detail: detail.into(),
            code,
        }
    }
}

impl From<&NodeError> for Problem {
    fn from(e: &NodeError) -> Self {
        Self::new(e.fault().into(), e.to_string())
    }
}
