//! Fetches (spec/protocol.md, "Notices and fetches"): a peer's signed
//! directory, and, for an auditor, a peer's whole log with a checkpoint.
//!
//! A log fetch's answer is `string(checkpoint note)` followed by every
//! entry as a standalone `Encoded<LogEntry>`, oldest first, as many as the
//! checkpoint's size. The answering node streams it: a blocking task reads
//! the entries in batches and hands them over a channel of one batch, so
//! the answer holds at most a few batches whatever the log's size, and
//! reads on only as fast as QUIC takes the parts. A read that fails ends
//! the answer with an error, never with a shorter log. The fetcher checks
//! none of it here: the audit verifies the checkpoint's signature and that
//! the entries hash to its root.

use std::sync::Arc;

use tally_wire::limits::{MAX_CHECKPOINT_NOTE_LEN, MAX_DIRECTORY_SIZE, SIGNED_OVERHEAD};
use tally_wire::{AgencyId, CloseCode, Encoded, Fetch, LogEntry, Roles, Text, take_from_bytes, to_bytes};
use tokio::io::{AsyncRead, AsyncReadExt};

use crate::state::NodeState;
use crate::{NodeError, hex};
use tally_audit::{LOG_EXPORT_FORMAT, LogExport};

/// The most bytes of a directory this node takes from a peer.
pub const MAX_FETCHED_DIRECTORY: u64 = (MAX_DIRECTORY_SIZE + SIGNED_OVERHEAD) as u64;

/// The most bytes of a log this node takes from a peer for an audit (it is held in memory).
pub const MAX_FETCHED_LOG: u64 = 512 << 20;

/// The bytes of log entries one batch of a log answer holds, at least (one read transaction each).
const LOG_BATCH_BYTES: usize = 256 << 10;

/// A fetch's answer, read in parts as QUIC flow control lets them through.
pub(crate) type Answer = Box<dyn AsyncRead + Send + Unpin>;

/// The answer to `fetch` from `peer`: the host side of a fetch. `Err` is
/// the close code and reason `peer` is told. Called on a blocking thread.
pub(crate) fn answer(state: &Arc<NodeState>, peer: &AgencyId, fetch: Fetch) -> Result<Answer, (CloseCode, String)> {
    let internal = |e: NodeError| {
        tracing::error!(error = %e, %peer, "cannot answer a fetch");
        (CloseCode::INTERNAL_ERROR, "the node could not answer; try again".to_owned())
    };
    match fetch {
        Fetch::Directory { newer_than } => {
            if state.directory().serial() <= newer_than {
                return Ok(Box::new(tokio::io::empty()));
            }
            let bytes = crate::files::read(&state.dir.join(&state.config.directory)).map_err(internal)?;
            Ok(Box::new(std::io::Cursor::new(bytes)))
        }
        Fetch::Log => {
            if !state.directory().has_roles(peer, Roles::AUDITOR) {
                let reason = format!("{peer} has no auditor role in the directory");
                return Err((CloseCode::NOT_PERMITTED, reason));
            }
            tracing::info!(auditor = %peer, "log fetched");
            log_answer(state).map_err(internal)
        }
        // Any member may ask: it holds this node's checkpoints in the bundles it was given.
        Fetch::Consistency { old_size, new_size } => {
            let proof = crate::checkpoints::proof_answer(state, old_size, new_size)?;
            Ok(Box::new(std::io::Cursor::new(proof)))
        }
    }
}

/// The log answer: the note of a checkpoint signed now, then its entries,
/// streamed from the store by a blocking task.
fn log_answer(state: &Arc<NodeState>) -> Result<Answer, NodeError> {
    let (checkpoint, note) = state.log.checkpoint()?;
    let note = Text::<MAX_CHECKPOINT_NOTE_LEN>::new(&note)?;
    let (batches, reader) = streamed(to_bytes(&note));
    let state = Arc::clone(state);
    tokio::task::spawn_blocking(move || {
        let mut next = 0;
        while next < checkpoint.size {
            let batch = state.log.store().log_entries(next, checkpoint.size, LOG_BATCH_BYTES).map_err(NodeError::from);
            let encoded = batch.and_then(|entries| {
                next += entries.len() as u64;
                let mut out = Vec::with_capacity(LOG_BATCH_BYTES + LOG_BATCH_BYTES / 8);
                for body in entries {
                    out.extend_from_slice(&Encoded::<LogEntry>::from_body(body)?.encode());
                }
                Ok(out)
            });
            let failed = encoded.is_err();
            let sent = batches.blocking_send(encoded.map_err(|e| {
                tracing::error!(error = %e, "cannot read the log for a fetch");
                std::io::Error::other(format!("the log could not be read: {e}"))
            }));
            // The asker went away, or the answer ended with an error.
            if sent.is_err() || failed {
                return;
            }
        }
    });
    Ok(reader)
}

/// The sending end of a streamed answer: room for one batch ahead of the reader.
type Batches = tokio::sync::mpsc::Sender<std::io::Result<Vec<u8>>>;

/// A streamed answer: `first`, then each batch sent on the returned
/// sender, until the sender is dropped (the answer is complete) or sends
/// an error (the read fails: the asker is told the answer broke off, not
/// that it ended).
fn streamed(first: Vec<u8>) -> (Batches, Answer) {
    let (batches, next) = tokio::sync::mpsc::channel(1);
    let rest = futures_util::stream::unfold(
        next,
        |mut next: tokio::sync::mpsc::Receiver<std::io::Result<Vec<u8>>>| async move {
            next.recv().await.map(|batch| (batch.map(std::io::Cursor::new), next))
        },
    );
    let reader = std::io::Cursor::new(first).chain(tokio_util::io::StreamReader::new(Box::pin(rest)));
    (batches, Box::new(reader))
}

/// Reads a log fetch's answer from `agency` into a log export for the audit.
pub(crate) fn log_export(agency: &AgencyId, bytes: &[u8]) -> Result<LogExport, NodeError> {
    let malformed = |e: tally_wire::Error| NodeError::Refused(format!("the log {agency} sent is malformed: {e}"));
    let (note, mut rest) =
        take_from_bytes::<Text<MAX_CHECKPOINT_NOTE_LEN>>(bytes, "checkpoint note").map_err(malformed)?;
    let mut entries = Vec::new();
    while !rest.is_empty() {
        let (entry, after) = take_from_bytes::<Encoded<LogEntry>>(rest, "LogEntry").map_err(malformed)?;
        entries.push(hex::encode(entry.body()));
        rest = after;
    }
    Ok(LogExport {
        format: LOG_EXPORT_FORMAT.into(),
        agency: agency.clone(),
        checkpoint: note.as_str().to_owned(),
        entries,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::tests::fixture::{Fixture, agency, document, issue};

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn a_log_of_many_batches_is_streamed_whole_and_in_order() {
        let fixture = Fixture::new(&["tax-bureau", "social-security"]);
        let tax = fixture.open("tax-bureau");
        let chain = issue(&tax, &document("social-security", "income", ""));
        let entry = LogEntry::GrantIssued(chain[0].clone());
        // Several batches' worth of entries.
        let count = 1 + LOG_BATCH_BYTES * 3 / to_bytes(&entry).len();
        tax.log.append(&vec![entry; count]).expect("appends");
        let size = tax.log.size().expect("size");
        let mut answer = log_answer(&tax).expect("answers");
        let mut bytes = Vec::new();
        answer.read_to_end(&mut bytes).await.expect("reads to the end");
        let export = log_export(&agency("tax-bureau"), &bytes).expect("a log answer");
        assert_eq!(export.entries.len() as u64, size, "every entry, as many as the checkpoint's size");
        for (i, entry) in export.entries.iter().enumerate() {
            let stored = tax.log.store().log_entries(i as u64, i as u64 + 1, 1).expect("reads");
            assert_eq!(entry, &hex::encode(&stored[0]), "entry {i} in its place");
        }
        let checkpoint =
            tally_receipt::note::verify_checkpoint(&export.checkpoint, tax.log.origin(), &tax.identity.public_key())
                .expect("a checkpoint the node signed");
        assert_eq!(checkpoint.size, size);
    }

    #[tokio::test]
    async fn an_answer_whose_producer_fails_ends_with_an_error_not_a_shorter_answer() {
        // The producer here is this test, not the store: it sends one batch, then an error.
        let (batches, mut reader) = streamed(b"head".to_vec());
        tokio::spawn(async move {
            batches.send(Ok(b"-one".to_vec())).await.expect("sends");
            batches.send(Err(std::io::Error::other("the disk failed"))).await.expect("sends");
        });
        let mut got = Vec::new();
        let e = reader.read_to_end(&mut got).await.expect_err("the read fails");
        assert_eq!((got.as_slice(), e.to_string().as_str()), (&b"head-one"[..], "the disk failed"));
    }

    #[tokio::test]
    async fn the_producer_runs_at_most_one_batch_ahead_of_the_reader() {
        let (batches, mut reader) = streamed(Vec::new());
        batches.try_send(Ok(vec![1])).expect("room for one batch");
        assert!(batches.try_send(Ok(vec![2])).is_err(), "no room for a second until the first is read");
        let mut one = [0; 1];
        reader.read_exact(&mut one).await.expect("reads");
        assert!(batches.try_send(Ok(vec![2])).is_ok(), "room again once it is taken");
    }
}
