//! Fetches (spec/protocol.md, "Notices and fetches"), answered: a peer's
//! signed directory; for an auditor, a checkpoint of this node's log and
//! its entries in parts; for any member, a consistency proof.
//!
//! An answer of entries holds at most [`MAX_ENTRIES_ANSWER`] bytes of
//! them (and at least one entry), read from the store in one read
//! transaction: an auditor reads a log of any size in parts, and neither
//! side holds more than one part (follow.rs is the asking side).

use std::sync::Arc;

use tally_wire::limits::{MAX_CHECKPOINT_NOTE_LEN, MAX_DIRECTORY_SIZE, MAX_ENTRIES_ANSWER, SIGNED_OVERHEAD};
use tally_wire::{AgencyId, CloseCode, Encoded, Fetch, LogEntry, Roles, Text, to_bytes};
use tokio::io::AsyncRead;

use crate::NodeError;
use crate::state::NodeState;

/// The most bytes of a directory this node takes from a peer.
pub const MAX_FETCHED_DIRECTORY: u64 = (MAX_DIRECTORY_SIZE + SIGNED_OVERHEAD) as u64;

/// A fetch's answer, read in parts as QUIC flow control lets them through.
pub(crate) type Answer = Box<dyn AsyncRead + Send + Unpin>;

/// The answer to `fetch` from `peer`: the host side of a fetch. `Err` is
/// the close code and reason `peer` is told. Called on a blocking thread.
pub(crate) fn answer(state: &Arc<NodeState>, peer: &AgencyId, fetch: Fetch) -> Result<Answer, (CloseCode, String)> {
    let internal = |e: NodeError| {
        tracing::error!(error = %e, %peer, "cannot answer a fetch");
        (CloseCode::INTERNAL_ERROR, "the node could not answer; try again".to_owned())
    };
    let auditor = || {
        if state.directory().has_roles(peer, Roles::AUDITOR) {
            return Ok(());
        }
        Err((CloseCode::NOT_PERMITTED, format!("{peer} has no auditor role in the directory")))
    };
    let bytes = match fetch {
        Fetch::Directory { newer_than } => {
            if state.directory().serial() <= newer_than {
                return Ok(Box::new(tokio::io::empty()));
            }
            crate::files::read(&state.dir.join(&state.config.directory)).map_err(internal)?
        }
        Fetch::Checkpoint => {
            auditor()?;
            tracing::info!(auditor = %peer, "log checkpoint fetched");
            checkpoint_answer(state).map_err(internal)?
        }
        Fetch::Entries { start, end } => {
            auditor()?;
            let size = state.log.size().map_err(|e| internal(e.into()))?;
            if start >= end || end > size {
                let reason = format!("entries {start} to {end} are not a range of this log of {size} entries");
                return Err((CloseCode::NOT_PERMITTED, reason));
            }
            entries_answer(state, start, end).map_err(internal)?
        }
        // Any member may ask: it holds this node's checkpoints in the bundles it was given.
        Fetch::Consistency { old_size, new_size } => crate::checkpoints::proof_answer(state, old_size, new_size)?,
    };
    Ok(Box::new(std::io::Cursor::new(bytes)))
}

/// The note of a checkpoint of the whole log, signed now.
fn checkpoint_answer(state: &NodeState) -> Result<Vec<u8>, NodeError> {
    let (_, note) = state.log.checkpoint()?;
    Ok(to_bytes(&Text::<MAX_CHECKPOINT_NOTE_LEN>::new(&note)?))
}

/// Entries from `start` (before `end`, within the log), each a standalone
/// `Encoded<LogEntry>`: as many as fit in [`MAX_ENTRIES_ANSWER`] bytes, and at least one.
fn entries_answer(state: &NodeState, start: u64, end: u64) -> Result<Vec<u8>, NodeError> {
    let mut out = Vec::new();
    // The store reads until the bodies hold the limit; the answer stops before it passes it.
    for body in state.log.store().log_entries(start, end, MAX_ENTRIES_ANSWER)? {
        let encoded = Encoded::<LogEntry>::from_body(body)?.encode();
        if !out.is_empty() && out.len() + encoded.len() > MAX_ENTRIES_ANSWER {
            break;
        }
        out.extend_from_slice(&encoded);
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use tally_wire::take_from_bytes;

    use super::*;
    use crate::tests::fixture::{Fixture, document, issue};

    #[test]
    fn an_answer_of_entries_holds_at_most_its_limit_and_the_rest_is_asked_for_again() {
        let fixture = Fixture::new(&["tax-bureau", "social-security"]);
        let tax = fixture.open("tax-bureau");
        let chain = issue(&tax, &document("social-security", "income", ""));
        let entry = LogEntry::GrantIssued(chain[0].clone());
        // Several answers' worth of entries.
        let count = 1 + MAX_ENTRIES_ANSWER * 3 / to_bytes(&entry).len();
        tax.log.append(&vec![entry; count]).expect("appends");
        let size = tax.log.size().expect("size");
        let (mut next, mut answers) = (0, 0);
        while next < size {
            let answer = entries_answer(&tax, next, size).expect("answers");
            assert!(answer.len() <= MAX_ENTRIES_ANSWER, "{} bytes", answer.len());
            answers += 1;
            let mut rest = answer.as_slice();
            while !rest.is_empty() {
                let (entry, after) = take_from_bytes::<Encoded<LogEntry>>(rest, "LogEntry").expect("an entry");
                let stored = tax.log.store().log_entries(next, next + 1, 1).expect("reads");
                assert_eq!(entry.body(), stored[0].as_slice(), "entry {next} in its place");
                next += 1;
                rest = after;
            }
        }
        assert_eq!((next, answers), (size, 4), "every entry once, in four answers");
    }
}
