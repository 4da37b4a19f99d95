//! How the `tally` command fails: a message for standard error and an exit code.

use std::path::Path;

use tally_node::NodeError;
use tally_node::api::ClientError;

/// The exit codes (README, "Sending and pulling").
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Exit {
    /// Anything else failed (a file, the node, a peer).
    Failed = 1,
    /// The command line is wrong.
    Usage = 2,
    /// The peer refused with a signed rejection (it is in the log).
    Refused = 3,
    /// What was given to verify does not verify.
    NotVerified = 4,
    /// The audit found problems.
    Findings = 5,
    /// The send is kept but not delivered yet (the peer could not be
    /// reached); the node offers it again by itself (sysexits' EX_TEMPFAIL).
    Pending = 75,
    /// Interrupted (Ctrl-C); what became of the send is printed.
    Interrupted = 130,
}

/// A failure: the message, and the exit code.
#[derive(Debug)]
pub(crate) struct Failure {
    pub(crate) message: String,
    pub(crate) exit: Exit,
    /// The command printed its JSON answer already (`--json`).
    pub(crate) answered: bool,
}

impl Failure {
    pub(crate) fn new(exit: Exit, message: impl Into<String>) -> Self {
        Self { message: message.into(), exit, answered: false }
    }

    /// A failure whose answer was printed as JSON already (with `--json`).
    pub(crate) fn answered(self, json: bool) -> Self {
        Self { answered: json, ..self }
    }
}

/// A usage error (exit code 2).
pub(crate) fn usage(message: impl Into<String>) -> Failure {
    Failure::new(Exit::Usage, message)
}

/// A failure of anything else (exit code 1).
pub(crate) fn failed(message: impl Into<String>) -> Failure {
    Failure::new(Exit::Failed, message)
}

/// A file that could not be read or written.
pub(crate) fn file_error(path: &Path) -> impl FnOnce(std::io::Error) -> Failure + '_ {
    move |e| failed(format!("{}: {e}", path.display()))
}

impl From<NodeError> for Failure {
    fn from(e: NodeError) -> Self {
        failed(e.to_string())
    }
}

impl From<ClientError> for Failure {
    fn from(e: ClientError) -> Self {
        failed(e.to_string())
    }
}
