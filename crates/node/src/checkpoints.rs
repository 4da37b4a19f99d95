//! The checkpoints of peers' logs that this node sees in their receipt
//! bundles, kept consistent (spec/receipts.md, "Checkpoints a sender sees").
//!
//! Per peer the node holds the newest checkpoint it has verified to be
//! consistent with every earlier one it held (the *head*). A bundle's
//! checkpoint of the head's size must have the head's root: if not, the
//! two signed notes are fork evidence on their own. A checkpoint of
//! another size is *pending*: the node asks the peer for the consistency
//! proof between the two sizes (`Fetch::Consistency`), at most one
//! question per peer at a time and only for the newest checkpoint seen, and
//! moves the head forward once the proof verifies. A proof that shows the
//! smaller tree is not a prefix of the larger is fork evidence; no proof
//! (the peer cannot or will not give one) leaves the checkpoint pending,
//! reported as unproven.

use std::collections::HashMap;
use std::sync::Mutex;

use tally_receipt::ForkEvidence;
use tally_receipt::merkle::verify_consistency;
use tally_receipt::note::parse_checkpoint_text;
use tally_wire::{AgencyId, Checkpoint, Digest, ReceiptBundle};

use crate::NodeError;
use crate::policy::lock;
use crate::state::NodeState;

/// The most bytes of a consistency proof this node takes from a peer.
pub(crate) const MAX_FETCHED_PROOF: u64 = (tally_wire::limits::MAX_PROOF_LEN * 32) as u64;

/// A checkpoint note and what it says.
#[derive(Clone, Debug)]
pub(crate) struct Held {
    pub(crate) checkpoint: Checkpoint,
    pub(crate) note: String,
}

/// What the node holds of its peers' checkpoints.
#[derive(Default)]
pub(crate) struct PeerCheckpoints {
    heads: Mutex<HashMap<AgencyId, Held>>,
    /// The newest checkpoint of each peer not proven consistent with its head yet, and why (if a proof failed).
    pending: Mutex<HashMap<AgencyId, (Held, Option<String>)>>,
    forks: Mutex<HashMap<AgencyId, u64>>,
    /// Wakes the task that asks peers for proofs.
    pub(crate) wake: tokio::sync::Notify,
}

/// One peer's checkpoints, as status shows them.
#[derive(Clone, Debug, Default)]
pub(crate) struct PeerView {
    pub(crate) head: Option<Checkpoint>,
    pub(crate) unproven: Option<(u64, String)>,
    pub(crate) forks: u64,
}

/// What a peer's checkpoint changes, to be written with the bundle.
#[derive(Default)]
pub(crate) struct Observed {
    /// The note to hold as the peer's head.
    pub(crate) head: Option<String>,
    /// Fork evidence to keep, as JSON.
    pub(crate) fork: Option<String>,
}

/// The checkpoint a note states, its signature not checked here (the
/// exchange verified the bundle, or the note was verified when it was kept).
pub(crate) fn parse(note: &str) -> Option<Checkpoint> {
    let (text, _) = note.split_once("\n\n")?;
    parse_checkpoint_text(&format!("{text}\n")).ok()
}

impl PeerCheckpoints {
    /// The heads and fork counts kept in the store.
    pub(crate) fn load(store: &tally_store::Store) -> Result<Self, NodeError> {
        let this = Self::default();
        for (peer, note) in store.peer_checkpoints()? {
            if let (Ok(peer), Some(checkpoint)) = (AgencyId::new(&peer), parse(&note)) {
                lock(&this.heads).insert(peer, Held { checkpoint, note });
            }
        }
        for (peer, _) in store.forks()? {
            if let Ok(peer) = AgencyId::new(&peer) {
                *lock(&this.forks).entry(peer).or_default() += 1;
            }
        }
        Ok(this)
    }

    /// What status shows of `peer`.
    pub(crate) fn view(&self, peer: &AgencyId) -> PeerView {
        PeerView {
            head: lock(&self.heads).get(peer).map(|h| h.checkpoint.clone()),
            unproven: lock(&self.pending)
                .get(peer)
                .and_then(|(h, why)| why.clone().map(|why| (h.checkpoint.size, why))),
            forks: lock(&self.forks).get(peer).copied().unwrap_or(0),
        }
    }

    /// The peers with a checkpoint waiting for a proof, and what to ask each.
    pub(crate) fn questions(&self) -> Vec<(AgencyId, u64, u64)> {
        let heads = lock(&self.heads);
        lock(&self.pending)
            .iter()
            .filter_map(|(peer, (held, _))| {
                let head = heads.get(peer)?;
                let (a, b) = (head.checkpoint.size, held.checkpoint.size);
                Some((peer.clone(), a.min(b), a.max(b)))
            })
            .collect()
    }
}

/// Looks at the checkpoint of a bundle `peer` issued (verified by the
/// exchange) against the peer's head; returns what to write with it.
pub(crate) fn observe(state: &NodeState, peer: &AgencyId, bundle: &ReceiptBundle) -> Observed {
    let note = bundle.checkpoint.as_str();
    let Some(checkpoint) = parse(note) else { return Observed::default() };
    let held = Held { checkpoint, note: note.to_owned() };
    let checkpoints = &state.checkpoints;
    let mut heads = lock(&checkpoints.heads);
    let Some(head) = heads.get(peer) else {
        heads.insert(peer.clone(), held);
        return Observed { head: Some(note.to_owned()), fork: None };
    };
    if head.checkpoint.size == held.checkpoint.size {
        if head.checkpoint.root == held.checkpoint.root {
            return Observed::default();
        }
        let head = head.clone();
        drop(heads);
        return Observed { head: None, fork: fork(state, peer, &head, &held, &[]) };
    }
    drop(heads);
    let mut pending = lock(&checkpoints.pending);
    let newer = pending.get(peer).is_none_or(|(p, _)| p.checkpoint.size < held.checkpoint.size);
    if newer {
        pending.insert(peer.clone(), (held, None));
        checkpoints.wake.notify_one();
    }
    Observed::default()
}

/// Fork evidence from two notes of `peer`'s log (and the proof between
/// them), if they show one: counted, reported, and returned as JSON to keep.
fn fork(state: &NodeState, peer: &AgencyId, a: &Held, b: &Held, proof: &[Digest]) -> Option<String> {
    let key = state.directory().agency(peer)?.identity_key;
    let origin = tally_receipt::log_origin(peer);
    let evidence = ForkEvidence::detect(&a.note, &b.note, proof, None, &origin, &key).ok().flatten()?;
    *lock(&state.checkpoints.forks).entry(peer.clone()).or_default() += 1;
    state.metrics.fork_found(peer);
    tracing::error!(%peer, sizes = %format!("{} and {}", a.checkpoint.size, b.checkpoint.size),
        "fork evidence: two checkpoints of the peer's log cannot both be honest");
    serde_json::to_string(&evidence).ok()
}

/// Checks a proof `peer` gave between its head and its pending checkpoint:
/// the head moves forward, or fork evidence is kept, or the checkpoint
/// stays pending with the reason.
pub(crate) fn settle(state: &NodeState, peer: &AgencyId, proof: Result<Vec<Digest>, String>) -> Result<(), NodeError> {
    let checkpoints = &state.checkpoints;
    let Some(head) = lock(&checkpoints.heads).get(peer).cloned() else { return Ok(()) };
    let Some((held, _)) = lock(&checkpoints.pending).get(peer).cloned() else { return Ok(()) };
    let (small, large) = if head.checkpoint.size < held.checkpoint.size { (&head, &held) } else { (&held, &head) };
    let unproven = |why: String| {
        tracing::warn!(%peer, size = held.checkpoint.size, %why, "a peer's checkpoint is not proven consistent");
        if let Some(p) = lock(&checkpoints.pending).get_mut(peer) {
            p.1 = Some(why);
        }
        Ok(())
    };
    let proof = match proof {
        Ok(proof) => proof,
        Err(why) => return unproven(format!("no consistency proof: {why}")),
    };
    let c = (&small.checkpoint, &large.checkpoint);
    if verify_consistency(c.0.size, c.1.size, &c.0.root, &c.1.root, &proof) {
        lock(&checkpoints.pending).remove(peer);
        if held.checkpoint.size > head.checkpoint.size {
            lock(&checkpoints.heads).insert(peer.clone(), held.clone());
            let (peer, note) = (peer.to_string(), held.note);
            state.commit(&[], move |tx| tx.put_peer_checkpoint(&peer, &note))?;
        }
        return Ok(());
    }
    match fork(state, peer, small, large, &proof) {
        Some(evidence) => {
            lock(&checkpoints.pending).remove(peer);
            let peer = peer.to_string();
            state.commit(&[], move |tx| tx.put_fork(&peer, &evidence))?;
            Ok(())
        }
        None => unproven(format!(
            "the proof from {} to {} entries does not verify",
            small.checkpoint.size, large.checkpoint.size
        )),
    }
}

/// The consistency proof of this node's log between two sizes, for a peer
/// that holds checkpoints of both: the hashes, 32 bytes each.
pub(crate) fn proof_answer(state: &NodeState, old: u64, new: u64) -> Result<Vec<u8>, (tally_wire::CloseCode, String)> {
    let size = state.log.size().map_err(|e| (tally_wire::CloseCode::INTERNAL_ERROR, e.to_string()))?;
    if old > new || new > size {
        let reason = format!("no consistency proof from {old} to {new} entries: the log holds {size}");
        return Err((tally_wire::CloseCode::NOT_PERMITTED, reason));
    }
    let proof =
        state.log.consistency_proof(old, new).map_err(|e| (tally_wire::CloseCode::INTERNAL_ERROR, e.to_string()))?;
    Ok(proof.iter().flat_map(|d| d.0).collect())
}

/// The hashes of a consistency proof's answer bytes.
pub(crate) fn proof_from_bytes(bytes: &[u8]) -> Result<Vec<Digest>, String> {
    if bytes.len() % 32 != 0 {
        return Err(format!("{} bytes are no whole number of 32-byte hashes", bytes.len()));
    }
    Ok(bytes.chunks_exact(32).map(|c| Digest(c.try_into().unwrap_or([0; 32]))).collect())
}
