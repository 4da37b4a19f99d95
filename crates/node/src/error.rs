//! The node's errors: each says what failed, where, and what to do.

use std::path::{Path, PathBuf};

/// Why a node operation failed.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum NodeError {
    /// A file could not be read or written.
    #[error("{}: {source}", path.display())]
    File {
        /// The file.
        path: PathBuf,
        /// The I/O error.
        source: std::io::Error,
    },
    /// A configuration or document file is malformed (the message has the line).
    #[error("{}: {message}", path.display())]
    Malformed {
        /// The file.
        path: PathBuf,
        /// What is wrong, where, and what to write instead.
        message: String,
    },
    /// A key file could not be used.
    #[error("{}: {source}", path.display())]
    Key {
        /// The key file.
        path: PathBuf,
        /// Why.
        source: tally_envelope::Error,
    },
    /// The directory's signature, serial or content is not acceptable.
    #[error("directory {}: {reason}", path.display())]
    Directory {
        /// The directory file.
        path: PathBuf,
        /// Why it is refused.
        reason: String,
    },
    /// The directory file does not verify.
    #[error("directory {}: {source}", path.display())]
    InvalidDirectory {
        /// The directory file.
        path: PathBuf,
        /// Why it is refused.
        source: Box<tally_grant::DirectoryError>,
    },
    /// The directory does not list this agency.
    #[error(
        "agency `{0}` is not in the federation directory; ask the operator to add it (tally federation add-agency) and publish a new directory"
    )]
    UnknownAgency(String),
    /// The node's storage failed, or what it holds is corrupt.
    #[error("storage: {0}")]
    Store(#[from] tally_store::Error),
    /// A wire value could not be encoded (a bound of spec/wire.md exceeded).
    #[error("encoding: {0}")]
    Wire(#[from] tally_wire::Error),
    /// A bound of spec/wire.md on a value this node built.
    #[error("a value over its bound: {0}")]
    OverBound(#[from] tally_wire::InvalidValue),
    /// Randomness or a cryptographic operation of this node failed.
    #[error("cryptography: {0}")]
    Crypto(#[from] tally_envelope::HpkeError),
    /// A blocking task of the node panicked or was cancelled.
    #[error("a node task failed: {0}")]
    Task(#[from] tokio::task::JoinError),
    /// The node's state contradicts itself (a record without its receipt, a grant that vanished).
    #[error("the node's state is inconsistent: {0}")]
    Inconsistent(String),
    /// The policy refused a flow this node was asked to start.
    #[error("{0}")]
    Refused(String),
    /// The grant policy denied a flow or a chain: what was denied, and the denial.
    #[error("{context}: {denial}")]
    Denied {
        /// What was decided (the send, the grant handed over).
        context: &'static str,
        /// The policy's denial.
        denial: tally_grant::Denial,
    },
    /// A peer asked for what it has no authority for (a revocation of a
    /// grant it did not issue, more grants than its limit).
    #[error("{0}")]
    NotPermitted(String),
    /// An argument is wrong.
    #[error("{0}")]
    Usage(String),
    /// What was asked for is not here (a packet, a receipt, a grant).
    #[error("{0}")]
    NotFound(String),
    /// A pull request's query is not one this node serves (a path out of its source directory).
    #[error("{0}")]
    InvalidQuery(String),
    /// A send was cancelled: its payload failed, or cannot be read again.
    #[error("{0}")]
    Cancelled(String),
    /// A peer's answer cannot be true: a log that forked, entries that do
    /// not match its own checkpoint, an answer that breaks the protocol.
    #[error("{0}")]
    Peer(String),
    /// The transport failed.
    #[error("{0}{hint}", hint = transport_hint(.0))]
    Transport(#[from] tally_transport::TransportError),
    /// The log failed.
    #[error("log: {0}")]
    Log(#[from] tally_receipt::LogError),
}

/// What to do about a transport failure a user can meet: a peer that cannot be reached.
fn transport_hint(e: &tally_transport::TransportError) -> &'static str {
    use tally_transport::TransportError as T;
    match e {
        T::Connection { .. } | T::Resolve { .. } | T::Unreachable { .. } => {
            "; is the peer's node running, and one of its endpoints in the directory reachable from here?"
        }
        _ => "",
    }
}

/// Who is at fault for an error: what the local API and the command line
/// make of it (spec/api.md, "Problems").
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Fault {
    /// The caller's input is malformed (a file, an argument, a document).
    Input,
    /// What was asked for does not exist here.
    NotFound,
    /// The grant policy, or a limit, refused it.
    Policy,
    /// A peer failed, could not be reached, or broke the protocol.
    Peer,
    /// This node's own files, storage or configuration failed.
    Local,
    /// A send was cancelled (its payload failed); nothing of it is kept.
    Cancelled,
}

impl NodeError {
    /// The close code a peer is told when this error refuses what it sent
    /// (a notice, a fetch): the one place node errors meet the wire.
    pub fn close_code(&self) -> tally_wire::CloseCode {
        use tally_wire::CloseCode;
        match self {
            Self::NotPermitted(_) => CloseCode::NOT_PERMITTED,
            Self::Refused(_)
            | Self::Denied { .. }
            | Self::InvalidDirectory { .. }
            | Self::Wire(_)
            | Self::OverBound(_) => CloseCode::VERIFICATION_FAILED,
            _ => CloseCode::INTERNAL_ERROR,
        }
    }

    /// Who is at fault.
    pub fn fault(&self) -> Fault {
        match self {
            Self::Malformed { .. }
            | Self::Usage(_)
            | Self::Wire(_)
            | Self::OverBound(_)
            | Self::UnknownAgency(_)
            | Self::InvalidQuery(_) => Fault::Input,
            Self::NotFound(_) => Fault::NotFound,
            Self::Cancelled(_) => Fault::Cancelled,
            Self::Refused(_) | Self::NotPermitted(_) | Self::Denied { .. } => Fault::Policy,
            Self::Transport(_) | Self::Peer(_) => Fault::Peer,
            Self::File { .. }
            | Self::Key { .. }
            | Self::Directory { .. }
            | Self::InvalidDirectory { .. }
            | Self::Store(_)
            | Self::Log(_)
            | Self::Crypto(_)
            | Self::Task(_)
            | Self::Inconsistent(_) => Fault::Local,
        }
    }

    /// A file error at `path`.
    pub fn file(path: &Path) -> impl FnOnce(std::io::Error) -> Self + '_ {
        move |source| Self::File { path: path.to_owned(), source }
    }
}
