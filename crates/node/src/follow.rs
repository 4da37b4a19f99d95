//! Following another agency's log, as an auditor (spec/audit.md,
//! "Following a log"): the node keeps, per followed log, the last
//! checkpoint it verified and the tree's frontier at it, and each follow
//! fetches only what was added since, in parts:
//!
//! 1. a checkpoint the agency signs now (`Fetch::Checkpoint`), verified
//!    under its identity key;
//! 2. if a smaller checkpoint was verified before, the consistency proof
//!    between the two (`Fetch::Consistency`): one that does not verify, a
//!    log that shrank, or another root at the same size, is a fork, and
//!    the two notes (with the proof) are kept as evidence;
//! 3. the new entries (`Fetch::Entries`), at most 1 MiB per answer, each
//!    part written to the store beyond the head and folded into the
//!    frontier; the head moves, in one commit, only when the frontier's
//!    root is the checkpoint's.
//!
//! Memory holds one part and the frontier (a hash per bit of the size),
//! whatever the log's size. A follow that breaks off (the peer, the
//! network, a crash) leaves the head where it was.

use tally_receipt::merkle::{leaf_hash, verify_consistency};
use tally_receipt::note::verify_checkpoint;
use tally_receipt::{ForkEvidence, Frontier, log_origin};
use tally_store::{FollowedHead, Store};
use tally_wire::limits::{MAX_CHECKPOINT_NOTE_LEN, MAX_ENTRIES_ANSWER, MAX_LOG_ENTRY_SIZE, MAX_PROOF_LEN};
use tally_wire::{AgencyId, Checkpoint, Encoded, IdentityPublicKey, LogEntry, Text, take_from_bytes};

use crate::NodeError;
use crate::state::NodeState;
use tally_audit::{LOG_EXPORT_FORMAT, LogExport};

/// The most bytes of entries of a followed log this node exports in one
/// piece for an audit (an export is held in memory; following is not bounded by it).
pub const MAX_FETCHED_LOG: u64 = 512 << 20;

/// Where a follower reads a log: the agency's node over the transport, or,
/// in unit tests, a log in memory.
pub(crate) trait LogSource {
    /// The answer to `Fetch::Checkpoint`.
    async fn checkpoint(&self) -> Result<Vec<u8>, NodeError>;
    /// The answer to `Fetch::Consistency { old_size, new_size }`.
    async fn consistency(&self, old_size: u64, new_size: u64) -> Result<Vec<u8>, NodeError>;
    /// The answer to `Fetch::Entries { start, end }`.
    async fn entries(&self, start: u64, end: u64) -> Result<Vec<u8>, NodeError>;
}

/// The most bytes a follower takes in answer to `Fetch::Checkpoint`.
pub(crate) const MAX_CHECKPOINT_ANSWER: u64 = MAX_CHECKPOINT_NOTE_LEN as u64 + 5;
/// The most bytes a follower takes in answer to `Fetch::Consistency`.
pub(crate) const MAX_PROOF_ANSWER: u64 = MAX_PROOF_LEN as u64 * 32;
/// The most bytes a follower takes in answer to `Fetch::Entries`: the
/// answer's limit, or one entry larger than it.
pub(crate) const MAX_ENTRIES_FETCHED: u64 = (MAX_ENTRIES_ANSWER + MAX_LOG_ENTRY_SIZE + 5) as u64;

/// What a follow did.
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct Followed {
    /// Whose log.
    pub agency: AgencyId,
    /// Its entries now verified and kept.
    pub size: u64,
    /// The entries fetched by this follow (0 when the log did not grow).
    pub fetched: u64,
    /// The checkpoint the agency signed, verified: the new head.
    pub checkpoint: String,
}

/// Follows `agency`'s log (identity key `key`) from `source` into `store`.
pub(crate) async fn follow(
    state: &NodeState,
    agency: &AgencyId,
    key: &IdentityPublicKey,
    source: &impl LogSource,
) -> Result<Followed, NodeError> {
    let store = &state.store;
    let origin = log_origin(agency);
    let wrong = |what: String| NodeError::Peer(format!("{agency}: {what}"));
    let bytes = source.checkpoint().await?;
    let (note, rest) = take_from_bytes::<Text<MAX_CHECKPOINT_NOTE_LEN>>(&bytes, "checkpoint note")
        .map_err(|e| wrong(format!("its checkpoint answer is malformed: {e}")))?;
    if !rest.is_empty() {
        return Err(wrong("its checkpoint answer has bytes after the note".into()));
    }
    let note = note.as_str().to_owned();
    let new = verify_checkpoint(&note, &origin, key)
        .map_err(|e| wrong(format!("the checkpoint it signed does not verify under its identity key: {e}")))?;
    let head = {
        let (store, agency) = (store.clone(), agency.clone());
        tokio::task::spawn_blocking(move || store.followed(&agency)).await??
    };
    let mut frontier = match &head {
        Some(head) => {
            consistent(state, agency, key, head, &note, &new, source).await?;
            head.frontier.clone()
        }
        None => Frontier::new(),
    };
    let start = frontier.size();
    while frontier.size() < new.size {
        let next = frontier.size();
        let bytes = source.entries(next, new.size).await?;
        let mut part = Vec::new();
        let mut rest = bytes.as_slice();
        while !rest.is_empty() {
            let (entry, after) = take_from_bytes::<Encoded<LogEntry>>(rest, "LogEntry")
                .map_err(|e| wrong(format!("entry {} it sent is malformed: {e}", next + part.len() as u64)))?;
            part.push(entry.body().to_vec());
            rest = after;
        }
        if part.is_empty() || next + part.len() as u64 > new.size {
            return Err(wrong(format!(
                "asked for entries {next} to {}, it sent {} (at least one, at most the rest)",
                new.size,
                part.len()
            )));
        }
        for entry in &part {
            frontier.push(leaf_hash(entry));
        }
        let agency = agency.clone();
        store.commit_async(&[], move |tx| tx.put_followed_entries(&agency, next, &part)).await?;
    }
    if frontier.root() != new.root {
        return Err(wrong(format!(
            "the {} entries it sent after the {start} verified before do not hash to the checkpoint it signed (size {}, root {}): entries after the last verified checkpoint were dropped or altered; the log stays at {start} entries",
            new.size - start,
            new.size,
            new.root
        )));
    }
    let fetched = new.size - start;
    let moved = FollowedHead { note: note.clone(), frontier };
    let kept = agency.clone();
    store.commit_async(&[], move |tx| tx.put_followed_head(&kept, &moved)).await?;
    tracing::info!(%agency, size = new.size, fetched, "followed log");
    Ok(Followed { agency: agency.clone(), size: new.size, fetched, checkpoint: note })
}

/// Checks that `new` extends the head verified before; a fork is kept as
/// evidence (when the proof makes it self-contained) and refused.
async fn consistent(
    state: &NodeState,
    agency: &AgencyId,
    key: &IdentityPublicKey,
    head: &FollowedHead,
    note: &str,
    new: &Checkpoint,
    source: &impl LogSource,
) -> Result<(), NodeError> {
    let (old_size, old_root) = (head.frontier.size(), head.frontier.root());
    let proof = if old_size == 0 || new.size <= old_size {
        Vec::new()
    } else {
        let bytes = source.consistency(old_size, new.size).await?;
        crate::checkpoints::proof_from_bytes(&bytes)
            .map_err(|e| NodeError::Peer(format!("{agency}: its consistency proof is malformed: {e}")))?
    };
    let why = if new.size < old_size {
        format!("it now signs a checkpoint of {} entries, fewer than the {old_size} verified before", new.size)
    } else if old_size == 0 || verify_consistency(old_size, new.size, &old_root, &new.root, &proof) {
        return Ok(());
    } else if new.size == old_size {
        format!("it now signs another root ({}) for the {old_size} entries verified before ({old_root})", new.root)
    } else {
        format!(
            "its checkpoint of {} entries is not consistent with the one of {old_size} verified before: entries up to the last verified checkpoint were dropped or rewritten",
            new.size
        )
    };
    let origin = log_origin(agency);
    let evidence = ForkEvidence::detect(&head.note, note, &proof, None, &origin, key).ok().flatten();
    let kept = match evidence.as_ref().map(serde_json::to_string) {
        Some(Ok(json)) => {
            let peer = agency.as_str().to_owned();
            state.store.commit_async(&[], move |tx| tx.put_fork(&peer, &json)).await?;
            state.checkpoints.fork_kept(agency);
            state.metrics.fork_found(agency);
            " (the two checkpoints and the proof are kept as fork evidence)"
        }
        _ => "",
    };
    tracing::error!(%agency, old_size, new_size = new.size, "a followed log forked");
    Err(NodeError::Peer(format!("{agency}'s log forked: {why}{kept}")))
}

/// The export of the first `followed.size` entries of `agency`'s followed
/// log, under the checkpoint `followed` verified: for `tally audit`. It is
/// held in memory, so it is refused beyond [`MAX_FETCHED_LOG`] bytes of entries.
pub(crate) fn export(store: &Store, agency: &AgencyId, followed: &Followed) -> Result<LogExport, NodeError> {
    let (mut entries, mut bytes) = (Vec::new(), 0u64);
    while (entries.len() as u64) < followed.size {
        let part = store.followed_entries(agency, entries.len() as u64, followed.size, MAX_ENTRIES_ANSWER)?;
        for entry in part {
            bytes += entry.len() as u64;
            if bytes > MAX_FETCHED_LOG {
                return Err(NodeError::Refused(format!(
                    "{agency}'s log is followed ({} entries verified), but an export of it would hold more than {} MiB in memory",
                    followed.size,
                    MAX_FETCHED_LOG >> 20
                )));
            }
            entries.push(crate::hex::encode(&entry));
        }
    }
    Ok(LogExport {
        format: LOG_EXPORT_FORMAT.into(),
        agency: agency.clone(),
        checkpoint: followed.checkpoint.clone(),
        entries,
    })
}

#[cfg(test)]
mod tests;
