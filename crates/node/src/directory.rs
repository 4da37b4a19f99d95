//! The federation directory as a node reads it from a file.

use std::path::Path;

use tally_grant::VerifiedDirectory;
use tally_wire::{IdentityPublicKey, limits};

use crate::NodeError;

/// Reads the directory at `path` and checks it against `operator`'s key
/// ([`VerifiedDirectory::verify`]).
pub fn load_directory(path: &Path, operator: &IdentityPublicKey) -> Result<VerifiedDirectory, NodeError> {
    let refuse = |reason: String| NodeError::Directory { path: path.to_owned(), reason };
    let len = match std::fs::metadata(path) {
        Ok(m) => m.len(),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            return Err(refuse(
                "there is no file here: copy the signed directory the federation operator published (tally federation publish) to this path, or set `directory` in tally.toml to where it is".into(),
            ));
        }
        Err(e) => return Err(NodeError::file(path)(e)),
    };
    if len == 0 {
        return Err(refuse("the file is empty: get a fresh copy from the federation operator".into()));
    }
    if len > limits::MAX_DIRECTORY_SIZE as u64 {
        return Err(NodeError::Directory {
            path: path.to_owned(),
            reason: format!("{len} bytes, over the limit of {}", limits::MAX_DIRECTORY_SIZE),
        });
    }
    let bytes = crate::files::read(path)?;
    VerifiedDirectory::decode(&bytes, operator).map_err(|source| match source {
        tally_grant::DirectoryError::Malformed(tally_wire::Error::Truncated { offset, .. }) => refuse(format!(
            "the file is cut short: it ends at byte {offset} of {len} before the directory does; get a fresh copy from the federation operator"
        )),
        tally_grant::DirectoryError::Malformed(e) => refuse(format!(
            "the file is damaged or not a directory ({e}); get a fresh copy from the federation operator (a directory published before agencies could list several endpoints does not decode either: the operator publishes it again)"
        )),
        source => NodeError::InvalidDirectory { path: path.to_owned(), source: Box::new(source) },
    })
}
