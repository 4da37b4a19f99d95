//! Files of a node directory: every file is created readable by its owner
//! only (0600) and every directory searchable by its owner only (0700),
//! secrets are refused if others can read them, and replacements are
//! atomic.

use std::fs::{self, File, OpenOptions};
use std::io::Write;
use std::path::Path;

use crate::NodeError;

/// Writes `bytes` to a new file at `path` readable by its owner only; refuses to overwrite.
pub(crate) fn write_secret(path: &Path, bytes: &[u8]) -> Result<(), NodeError> {
    let mut options = OpenOptions::new();
    options.write(true).create_new(true);
    std::os::unix::fs::OpenOptionsExt::mode(&mut options, 0o600);
    let mut file = options.open(path).map_err(NodeError::file(path))?;
    file.write_all(bytes).and_then(|()| file.sync_all()).map_err(NodeError::file(path))
}

/// Creates `path` and its missing parents with mode 0700.
pub(crate) fn create_private_dir(path: &Path) -> Result<(), NodeError> {
    let mut builder = fs::DirBuilder::new();
    builder.recursive(true);
    std::os::unix::fs::DirBuilderExt::mode(&mut builder, 0o700);
    builder.create(path).map_err(NodeError::file(path))
}

/// Creates (or truncates) a file readable and writable by its owner only.
pub(crate) fn create_private(path: &Path) -> Result<File, NodeError> {
    private_options().open(path).map_err(NodeError::file(path))
}

/// Options that create a file with mode 0600 (whatever the umask).
pub(crate) fn private_options() -> OpenOptions {
    let mut options = OpenOptions::new();
    options.write(true).create(true).truncate(true);
    std::os::unix::fs::OpenOptionsExt::mode(&mut options, 0o600);
    options
}

/// Whether `path` is (or links to) a regular file: not a FIFO or a device,
/// whose reading could block a thread for good or never end.
pub(crate) fn is_regular_file(path: &Path) -> bool {
    fs::metadata(path).is_ok_and(|m| m.file_type().is_file())
}

/// Opens a send's source file: not through a symbolic link in its last
/// component, not a FIFO or device (opened without blocking, then checked),
/// and, by where the opened file really is (`/proc/self/fd`), outside the
/// node directory. Checked at every open, so that a path swapped after an
/// earlier check cannot make the node seal one of its own files.
pub(crate) async fn open_source(node_dir: &Path, path: &Path) -> Result<tokio::fs::File, NodeError> {
    use std::os::fd::AsRawFd;
    use std::os::unix::fs::OpenOptionsExt;
    let refuse = |why: String| NodeError::Usage(format!("source {}: {why}", path.display()));
    if !path.is_absolute() {
        return Err(refuse("not an absolute path".into()));
    }
    let flags = rustix::fs::OFlags::NOFOLLOW | rustix::fs::OFlags::NONBLOCK;
    let file = OpenOptions::new()
        .read(true)
        .custom_flags(flags.bits() as i32)
        .open(path)
        .map_err(|e| refuse(format!("{e} (a symbolic link is not followed)")))?;
    if !file.metadata().map_err(NodeError::file(path))?.file_type().is_file() {
        return Err(refuse("not a regular file".into()));
    }
    let real = fs::read_link(format!("/proc/self/fd/{}", file.as_raw_fd())).map_err(NodeError::file(path))?;
    let dir = fs::canonicalize(node_dir).map_err(NodeError::file(node_dir))?;
    if real.starts_with(&dir) {
        return Err(refuse("inside the node directory".into()));
    }
    Ok(tokio::fs::File::from_std(file))
}

/// Refuses a secret file that anyone but its owner may read or write.
pub(crate) fn check_secret(path: &Path) -> Result<(), NodeError> {
    use std::os::unix::fs::PermissionsExt;
    let mode = fs::metadata(path).map_err(NodeError::file(path))?.permissions().mode();
    if mode & 0o077 != 0 {
        return Err(NodeError::Malformed {
            path: path.to_owned(),
            message: format!(
                "a secret key file with mode {:o}: others may read it; run `chmod 600 {}`",
                mode & 0o777,
                path.display()
            ),
        });
    }
    Ok(())
}

/// Replaces the file at `path` with `bytes`: written beside it, fsynced, renamed into place.
pub(crate) fn write_atomic(path: &Path, bytes: &[u8]) -> Result<(), NodeError> {
    let tmp = path.with_extension("tmp");
    let mut file = create_private(&tmp)?;
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
