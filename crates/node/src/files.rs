//! Writing files: secrets with mode 0600, and atomic replacement.

use std::fs::{self, File, OpenOptions};
use std::io::Write;
use std::path::Path;

use crate::NodeError;

/// Writes `bytes` to a new file at `path` readable by its owner only; refuses to overwrite.
pub(crate) fn write_secret(path: &Path, bytes: &[u8]) -> Result<(), NodeError> {
    let mut options = OpenOptions::new();
    options.write(true).create_new(true);
    #[cfg(unix)]
    std::os::unix::fs::OpenOptionsExt::mode(&mut options, 0o600);
    let mut file = options.open(path).map_err(NodeError::file(path))?;
    file.write_all(bytes).and_then(|()| file.sync_all()).map_err(NodeError::file(path))
}

/// Replaces the file at `path` with `bytes`: written beside it, fsynced, renamed into place.
pub(crate) fn write_atomic(path: &Path, bytes: &[u8]) -> Result<(), NodeError> {
    let tmp = path.with_extension("tmp");
    let mut file = File::create(&tmp).map_err(NodeError::file(&tmp))?;
    file.write_all(bytes).and_then(|()| file.sync_all()).map_err(NodeError::file(&tmp))?;
    fs::rename(&tmp, path).map_err(NodeError::file(path))?;
    sync_parent(path)
}

/// Fsyncs the directory holding `path`, so that a rename into it is durable.
pub(crate) fn sync_parent(path: &Path) -> Result<(), NodeError> {
    let parent = path.parent().filter(|p| !p.as_os_str().is_empty()).unwrap_or(Path::new("."));
    File::open(parent).and_then(|d| d.sync_all()).map_err(NodeError::file(parent))
}

/// Reads a file whole, with the path in the error.
pub(crate) fn read(path: &Path) -> Result<Vec<u8>, NodeError> {
    fs::read(path).map_err(NodeError::file(path))
}

/// Reads a UTF-8 file whole, with the path in the error.
pub(crate) fn read_text(path: &Path) -> Result<String, NodeError> {
    fs::read_to_string(path).map_err(NodeError::file(path))
}

/// A TOML syntax or field error as a [`NodeError::Malformed`], with its line and column.
pub(crate) fn toml_error(path: &Path, text: &str, e: &toml::de::Error) -> NodeError {
    let place = e
        .span()
        .map(|span| {
            let before = &text[..span.start.min(text.len())];
            let line = before.matches('\n').count() + 1;
            let column = before.rsplit('\n').next().map_or(0, |l| l.chars().count()) + 1;
            format!("line {line}, column {column}: ")
        })
        .unwrap_or_default();
    NodeError::Malformed { path: path.to_owned(), message: format!("{place}{}", e.message()) }
}

/// Parses a TOML file into `T`, with the line of any error.
pub(crate) fn read_toml<T: serde::de::DeserializeOwned>(path: &Path) -> Result<T, NodeError> {
    let text = read_text(path)?;
    toml::from_str(&text).map_err(|e| toml_error(path, &text, &e))
}
