//! The store's errors, by what failed.

use std::path::PathBuf;

use tally_wire::{GrantId, PacketId};

/// Why a store operation failed.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// Another process has the database open.
    #[error(
        "{}: a node already runs on this directory (its database is open); stop it first, or talk to it with the other commands",
        path.display()
    )]
    InUse {
        /// The database file.
        path: PathBuf,
    },
    /// The database failed (I/O, a full disk, corruption it detected).
    #[error("database: {0}")]
    Database(#[from] DatabaseError),
    /// A stored record does not decode.
    #[error("a stored {what} is corrupt: {source}")]
    Corrupt {
        /// What kind of record.
        what: &'static str,
        /// The decoding error.
        source: tally_wire::Error,
    },
    /// The stored state contradicts itself (a checkpoint that does not
    /// match the tree, two keys in one slot, a slot beyond the file).
    #[error("the stored state is inconsistent: {0}")]
    Inconsistent(String),
    /// A file of the store (the key slots, a blob) could not be used.
    #[error("{}: {source}", path.display())]
    File {
        /// The file.
        path: PathBuf,
        /// The I/O error.
        source: std::io::Error,
    },
    /// A data key that was destroyed (its slot is zeroed).
    #[error("data key {grant}/{epoch} was destroyed")]
    KeyDestroyed {
        /// Its grant.
        grant: GrantId,
        /// Its epoch.
        epoch: u64,
    },
    /// A stored payload does not open: cut short, altered, or its key is gone.
    #[error("stored packet {packet}: {what}")]
    Blob {
        /// The packet.
        packet: PacketId,
        /// What is wrong with its blob.
        what: String,
    },
    /// Something wrapped under the storage key does not open under it.
    #[error("{0} does not open under the storage key")]
    Unwrap(&'static str),
    /// Encryption or the random number generator failed.
    #[error("at-rest encryption: {0}")]
    Crypto(#[from] tally_envelope::HpkeError),
    /// A value is not representable in a record.
    #[error(transparent)]
    Wire(#[from] tally_wire::Error),
    /// The log (signing a checkpoint, a proof) failed.
    #[error("log: {0}")]
    Log(#[from] tally_receipt::LogError),
    /// The store is shutting down.
    #[error("the store is closed")]
    Closed,
}

/// An error of the embedded database, kept as its source.
#[derive(Debug)]
pub struct DatabaseError(redb::Error);

impl std::fmt::Display for DatabaseError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        self.0.fmt(f)
    }
}

impl std::error::Error for DatabaseError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        Some(&self.0)
    }
}

/// A database error as the store's.
pub(crate) fn db(e: impl Into<redb::Error>) -> Error {
    Error::Database(DatabaseError(e.into()))
}

/// A record that does not decode.
pub(crate) fn corrupt(what: &'static str) -> impl FnOnce(tally_wire::Error) -> Error {
    move |source| Error::Corrupt { what, source }
}

impl From<Error> for tally_receipt::StoreError {
    fn from(e: Error) -> Self {
        match e {
            Error::Inconsistent(reason) => Self::Inconsistent(reason),
            Error::Closed => Self::Closed,
            other => Self::Storage(Box::new(other)),
        }
    }
}
