//! Fetches (spec/protocol.md, "Notices and fetches"): a peer's signed
//! directory, and, for an auditor, a peer's whole log with a checkpoint.
//!
//! A log fetch's answer is `string(checkpoint note)` followed by every
//! entry as a standalone `Encoded<LogEntry>`, oldest first, as many as the
//! checkpoint's size. The fetcher checks none of it here: the audit
//! verifies the checkpoint's signature and that the entries hash to its root.

use tally_receipt::LogStore;
use tally_wire::limits::{MAX_CHECKPOINT_NOTE_LEN, MAX_DIRECTORY_SIZE, SIGNED_OVERHEAD};
use tally_wire::{AgencyId, CloseCode, Encoded, Fetch, LogEntry, Roles, Text, take_from_bytes, to_bytes};

use crate::state::NodeState;
use crate::{NodeError, hex};
use tally_audit::{LOG_EXPORT_FORMAT, LogExport};

/// The most bytes of a directory this node takes from a peer.
pub const MAX_FETCHED_DIRECTORY: u64 = (MAX_DIRECTORY_SIZE + SIGNED_OVERHEAD) as u64;

/// The most bytes of a log this node takes from a peer for an audit (it is held in memory).
pub const MAX_FETCHED_LOG: u64 = 512 << 20;

/// The answer to `fetch` from `peer`: the host side of a fetch. `Err` is
/// the close code and reason `peer` is told.
pub(crate) fn answer(state: &NodeState, peer: &AgencyId, fetch: Fetch) -> Result<Vec<u8>, (CloseCode, String)> {
    let internal = |e: NodeError| {
        tracing::error!(error = %e, %peer, "cannot answer a fetch");
        (CloseCode::INTERNAL_ERROR, "the node could not answer; try again".to_owned())
    };
    match fetch {
        Fetch::Directory { newer_than } => {
            if state.directory().serial() <= newer_than {
                return Ok(Vec::new());
            }
            crate::files::read(&state.dir.join(&state.config.directory)).map_err(internal)
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
        Fetch::Consistency { old_size, new_size } => crate::checkpoints::proof_answer(state, old_size, new_size),
    }
}

fn log_answer(state: &NodeState) -> Result<Vec<u8>, NodeError> {
    let log = &state.log;
    let (checkpoint, note) = log.checkpoint()?;
    let note = Text::<MAX_CHECKPOINT_NOTE_LEN>::new(&note)?;
    let mut out = to_bytes(&note);
    for i in 0..checkpoint.size {
        let body = log.store().entry(i).map_err(tally_receipt::LogError::from)?;
        let entry = Encoded::<LogEntry>::from_body(body)?;
        out.extend_from_slice(&entry.encode());
    }
    Ok(out)
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
