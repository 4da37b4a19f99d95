//! What a node serves to pull requests it has allowed: the files of a
//! directory, or a command's output, per data category (`[[pull]]` in
//! `tally.toml`).

use std::path::Path;

use tally_envelope::PacketSpec;
use tally_transport::Outgoing;
use tally_wire::{ChunkSize, ContentType, GrantChain, PullRequest, SuiteId};
use tokio::io::{AsyncReadExt, AsyncWriteExt};

use crate::NodeError;
use crate::state::NodeState;

/// Most files one answer carries.
pub(crate) const MAX_ANSWER_FILES: usize = 256;
/// Most bytes a command's answer may be (it is held in memory to learn its length).
pub(crate) const MAX_COMMAND_OUTPUT: u64 = 64 * 1024 * 1024;

fn spec(state: &NodeState, r: &PullRequest, len: u64, suite: SuiteId) -> Result<PacketSpec, NodeError> {
    Ok(PacketSpec {
        suite,
        sender: state.agency.clone(),
        grant: r.grant,
        purpose: r.purpose.clone(),
        category: r.category.clone(),
        content_type: ContentType::new("application/octet-stream").map_err(|e| NodeError::Usage(e.to_string()))?,
        created_at: state.now(),
        payload_len: len,
        chunk_size: ChunkSize::DEFAULT,
    })
}

/// The packets answering an allowed request, each to be sealed with
/// `suite`: the suite the request was decided with (the grant's least
/// suite level was checked against it; it is not chosen again, so a
/// directory that changes while a command runs cannot change it).
pub(crate) async fn answer(
    state: &NodeState,
    r: &PullRequest,
    chain: &GrantChain,
    suite: SuiteId,
) -> Result<Vec<Outgoing>, NodeError> {
    let Some(source) = state.config.pull_sources.iter().find(|s| s.category == r.category) else {
        tracing::info!(category = %r.category, "no pull source for this category: empty answer");
        return Ok(Vec::new());
    };
    let query = String::from_utf8_lossy(r.query.as_ref()).trim().to_owned();
    if let Some(dir) = &source.directory {
        let dir = state.dir.join(dir);
        let files = select_files(&dir, &query)?;
        let mut answer = Vec::with_capacity(files.len());
        for path in files {
            let len = tokio::fs::metadata(&path).await.map_err(NodeError::file(&path))?.len();
            // Opened when its packet is sent: an answer of 256 files holds one descriptor at a time.
            let payload = Box::new(LazyFile::Closed(path));
            answer.push(Outgoing { spec: spec(state, r, len, suite)?, grant_chain: chain.clone(), payload });
        }
        return Ok(answer);
    }
    let Some(command) = source.command.as_ref().filter(|c| !c.is_empty()) else { return Ok(Vec::new()) };
    let _running = state.limits.command().await.ok_or_else(|| NodeError::Refused("the node is stopping".into()))?;
    let output = run(command, r.query.as_ref()).await?;
    Ok(vec![Outgoing {
        spec: spec(state, r, output.len() as u64, suite)?,
        grant_chain: chain.clone(),
        payload: Box::new(std::io::Cursor::new(output)),
    }])
}

/// The files a query selects: one named file (no path separators), or all of them for an empty query.
fn select_files(dir: &Path, query: &str) -> Result<Vec<std::path::PathBuf>, NodeError> {
    if !query.is_empty() {
        if query.contains(['/', '\\']) || query == ".." || query == "." {
            return Err(NodeError::InvalidQuery(format!("query `{query}` is not a file name")));
        }
        let path = dir.join(query);
        return Ok(if path.is_file() { vec![path] } else { Vec::new() });
    }
    let mut files: Vec<_> = std::fs::read_dir(dir)
        .map_err(NodeError::file(dir))?
        .filter_map(Result::ok)
        .map(|e| e.path())
        .filter(|p| p.is_file())
        .collect();
    files.sort();
    files.truncate(MAX_ANSWER_FILES);
    Ok(files)
}

async fn run(command: &[String], query: &[u8]) -> Result<Vec<u8>, NodeError> {
    let program = Path::new(&command[0]);
    let mut child = tokio::process::Command::new(program)
        .args(&command[1..])
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .kill_on_drop(true)
        .spawn()
        .map_err(NodeError::file(program))?;
    if let Some(mut stdin) = child.stdin.take() {
        stdin.write_all(query).await.map_err(NodeError::file(program))?;
    }
    let mut output = Vec::new();
    if let Some(stdout) = child.stdout.take() {
        stdout.take(MAX_COMMAND_OUTPUT + 1).read_to_end(&mut output).await.map_err(NodeError::file(program))?;
    }
    if output.len() as u64 > MAX_COMMAND_OUTPUT {
        return Err(NodeError::Refused(format!("{} wrote more than {MAX_COMMAND_OUTPUT} bytes", program.display())));
    }
    let status = child.wait().await.map_err(NodeError::file(program))?;
    if !status.success() {
        return Err(NodeError::Refused(format!("{} failed: {status}", program.display())));
    }
    Ok(output)
}

/// A file opened at its first read.
enum LazyFile {
    Closed(std::path::PathBuf),
    Open(tokio::fs::File),
    Failed,
}

impl tokio::io::AsyncRead for LazyFile {
    fn poll_read(
        mut self: std::pin::Pin<&mut Self>,
        cx: &mut std::task::Context<'_>,
        buf: &mut tokio::io::ReadBuf<'_>,
    ) -> std::task::Poll<std::io::Result<()>> {
        if let Self::Closed(path) = &*self {
            // One open(2), done where tokio allows blocking briefly: it does not wait on a peer.
            let opened = std::fs::File::open(path).map(tokio::fs::File::from_std);
            match opened {
                Ok(file) => *self = Self::Open(file),
                Err(e) => {
                    *self = Self::Failed;
                    return std::task::Poll::Ready(Err(e));
                }
            }
        }
        match &mut *self {
            Self::Open(file) => std::pin::Pin::new(file).poll_read(cx, buf),
            _ => std::task::Poll::Ready(Err(std::io::Error::other("the pull source file could not be opened"))),
        }
    }
}
