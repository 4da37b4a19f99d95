//! The federation directory as a node reads it from a file.

use std::path::Path;

use tally_grant::VerifiedDirectory;
use tally_wire::{IdentityPublicKey, limits};

use crate::NodeError;

/// Reads the directory at `path` and checks it against `operator`'s key
/// ([`VerifiedDirectory::verify`]).
pub fn load_directory(path: &Path, operator: &IdentityPublicKey) -> Result<VerifiedDirectory, NodeError> {
    let len = std::fs::metadata(path).map_err(NodeError::file(path))?.len();
    if len > limits::MAX_DIRECTORY_SIZE as u64 {
        return Err(NodeError::Directory {
            path: path.to_owned(),
            reason: format!("{len} bytes, over the limit of {}", limits::MAX_DIRECTORY_SIZE),
        });
    }
    let bytes = crate::files::read(path)?;
    VerifiedDirectory::decode(&bytes, operator)
        .map_err(|source| NodeError::InvalidDirectory { path: path.to_owned(), source: Box::new(source) })
}
