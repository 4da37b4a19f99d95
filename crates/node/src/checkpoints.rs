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

use std::collections::{HashMap, VecDeque};
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

/// The most checkpoints of one peer held while they wait for a proof; past
/// it the oldest is let go (its bundles stay in the log, for the audit).
pub(crate) const MAX_PENDING: usize = 32;

/// A checkpoint note and what it says.
#[derive(Clone, Debug)]
pub(crate) struct Held {
    pub(crate) checkpoint: Checkpoint,
    pub(crate) note: String,
}

/// A checkpoint waiting for its consistency proof, and why the last proof failed, if one did.
struct Pending {
    held: Held,
    why: Option<String>,
}

/// What the node holds of one peer's log.
#[derive(Default)]
struct Peer {
    head: Option<Held>,
    pending: VecDeque<Pending>,
    forks: u64,
}

/// What the node holds of its peers' checkpoints.
#[derive(Default)]
pub(crate) struct PeerCheckpoints {
    peers: Mutex<HashMap<AgencyId, Peer>>,
    /// Wakes the task that asks peers for proofs.
    pub(crate) wake: tokio::sync::Notify,
}

/// One peer's checkpoints, as status shows them.
#[derive(Clone, Debug, Default)]
pub(crate) struct PeerView {
    pub(crate) head: Option<Checkpoint>,
    /// How many checkpoints a proof was asked for and not given, and the latest reason.
    pub(crate) unproven: Option<(usize, String)>,
    pub(crate) forks: u64,
}

/// A consistency proof to ask a peer for: between its head and a pending checkpoint.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct Question {
    pub(crate) peer: AgencyId,
    pub(crate) old_size: u64,
    pub(crate) new_size: u64,
    /// The pending checkpoint's note.
    pub(crate) note: String,
}

/// What a peer's checkpoint changes, to be written with the bundle.
#[derive(Default)]
pub(crate) struct Observed {
    /// The note (and size) to hold as the peer's head.
    pub(crate) head: Option<(u64, String)>,
    /// Fork evidence to keep, as JSON.
    pub(crate) fork: Option<String>,
    /// A checkpoint now pending (its size and note).
    pub(crate) pending: Option<(u64, String)>,
    /// The size of a pending checkpoint let go to make room.
    pub(crate) dropped: Option<u64>,
}

impl Observed {
    /// Writes what changed for `peer` in the transaction `tx`.
    pub(crate) fn write(&self, peer: &str, tx: &mut tally_store::Tx<'_>) -> Result<(), tally_store::Error> {
        if let Some((size, note)) = &self.head {
            tx.put_peer_checkpoint(peer, *size, note)?;
        }
        if let Some(evidence) = &self.fork {
            tx.put_fork(peer, evidence)?;
        }
        if let Some(size) = self.dropped {
            tx.remove_peer_pending(peer, size)?;
        }
        if let Some((size, note)) = &self.pending {
            tx.put_peer_pending(peer, *size, note)?;
        }
        Ok(())
    }
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
        let mut peers = lock(&this.peers);
        for (peer, note) in store.peer_checkpoints()? {
            if let (Ok(peer), Some(checkpoint)) = (AgencyId::new(&peer), parse(&note)) {
                peers.entry(peer).or_default().head = Some(Held { checkpoint, note });
            }
        }
        for (peer, note) in store.peer_pending()? {
            if let (Ok(peer), Some(checkpoint)) = (AgencyId::new(&peer), parse(&note)) {
                peers
                    .entry(peer)
                    .or_default()
                    .pending
                    .push_back(Pending { held: Held { checkpoint, note }, why: None });
            }
        }
        for (peer, _) in store.forks()? {
            if let Ok(peer) = AgencyId::new(&peer) {
                peers.entry(peer).or_default().forks += 1;
            }
        }
        drop(peers);
        Ok(this)
    }

    /// Counts fork evidence against `peer`'s log that was kept elsewhere
    /// (by a follow of its log, follow.rs), as status and health show it.
    pub(crate) fn fork_kept(&self, peer: &AgencyId) {
        lock(&self.peers).entry(peer.clone()).or_default().forks += 1;
    }

    /// What status shows of `peer`.
    pub(crate) fn view(&self, peer: &AgencyId) -> PeerView {
        let peers = lock(&self.peers);
        let Some(p) = peers.get(peer) else { return PeerView::default() };
        let failed: Vec<&String> = p.pending.iter().filter_map(|q| q.why.as_ref()).collect();
        PeerView {
            head: p.head.as_ref().map(|h| h.checkpoint.clone()),
            unproven: failed.last().map(|why| (failed.len(), (*why).clone())),
            forks: p.forks,
        }
    }

    /// The proofs to ask for: of every pending checkpoint against its
    /// peer's head as it is now, the largest first (a proof of the largest
    /// moves the head there, and each smaller one is then asked against
    /// it: one proof per checkpoint); with `again`, also of those whose
    /// proof failed before. Ask one, settle it, and ask for the list again.
    pub(crate) fn questions(&self, again: bool) -> Vec<Question> {
        let peers = lock(&self.peers);
        let mut out = Vec::new();
        for (peer, p) in peers.iter() {
            let Some(head) = &p.head else { continue };
            for q in p.pending.iter().filter(|q| again || q.why.is_none()) {
                let (a, b) = (head.checkpoint.size, q.held.checkpoint.size);
                out.push(Question {
                    peer: peer.clone(),
                    old_size: a.min(b),
                    new_size: a.max(b),
                    note: q.held.note.clone(),
                });
            }
        }
        // The largest first: its proof moves the head there, and each smaller one is then asked against it.
        out.sort_by_key(|q| std::cmp::Reverse(q.new_size));
        out
    }
}

/// Looks at the checkpoint of a bundle `peer` issued (verified by the
/// exchange) against the peer's head and its pending checkpoints; returns
/// what to write with it.
pub(crate) fn observe(state: &NodeState, peer: &AgencyId, bundle: &ReceiptBundle) -> Observed {
    let note = bundle.checkpoint.as_str();
    let Some(checkpoint) = parse(note) else { return Observed::default() };
    let held = Held { checkpoint, note: note.to_owned() };
    let mut peers = lock(&state.checkpoints.peers);
    let p = peers.entry(peer.clone()).or_default();
    let Some(head) = &p.head else {
        let size = held.checkpoint.size;
        p.head = Some(held);
        return Observed { head: Some((size, note.to_owned())), ..Observed::default() };
    };
    let known = std::iter::once(head).chain(p.pending.iter().map(|q| &q.held));
    let mut same_size = known.filter(|k| k.checkpoint.size == held.checkpoint.size);
    if let Some(other) = same_size.next() {
        if other.checkpoint.root == held.checkpoint.root {
            return Observed::default();
        }
        // Two signed checkpoints at one size, different roots: evidence on their own.
        let other = other.clone();
        return Observed { fork: fork(state, peer, p, &other, &held, &[]), ..Observed::default() };
    }
    let dropped = (p.pending.len() == MAX_PENDING).then(|| p.pending.pop_front()).flatten();
    let pending = Some((held.checkpoint.size, note.to_owned()));
    p.pending.push_back(Pending { held, why: None });
    state.checkpoints.wake.notify_one();
    Observed { pending, dropped: dropped.map(|d| d.held.checkpoint.size), ..Observed::default() }
}

/// Fork evidence from two notes of `peer`'s log (and the proof between
/// them), if they show one: counted, reported, and returned as JSON to keep.
fn fork(state: &NodeState, agency: &AgencyId, p: &mut Peer, a: &Held, b: &Held, proof: &[Digest]) -> Option<String> {
    let key = state.directory().agency(agency)?.identity_key;
    let origin = tally_receipt::log_origin(agency);
    let evidence = ForkEvidence::detect(&a.note, &b.note, proof, None, &origin, &key).ok().flatten()?;
    p.forks += 1;
    state.metrics.fork_found(agency);
    tracing::error!(peer = %agency, sizes = %format!("{} and {}", a.checkpoint.size, b.checkpoint.size),
        "fork evidence: two checkpoints of the peer's log cannot both be honest");
    serde_json::to_string(&evidence).ok()
}

/// Checks the proof (or the failure to get one) that answers `question`:
/// the head moves forward, or fork evidence is kept, or the checkpoint
/// stays pending with the reason. A question asked against a head that
/// has moved since is dropped (it is asked again against the new head).
/// Returns what to write, for [`save`] to write with the others of its
/// round in one transaction (until then a crash only means asking again).
pub(crate) fn settle(state: &NodeState, question: &Question, proof: Result<Vec<Digest>, String>) -> Option<Written> {
    let peer = &question.peer;
    let write = {
        let mut peers = lock(&state.checkpoints.peers);
        let p = peers.get_mut(peer)?;
        let head = p.head.clone()?;
        let at = p.pending.iter().position(|q| q.held.note == question.note)?;
        let held = p.pending[at].held.clone();
        let (small, large) = if head.checkpoint.size < held.checkpoint.size { (&head, &held) } else { (&held, &head) };
        if (small.checkpoint.size, large.checkpoint.size) != (question.old_size, question.new_size) {
            return None;
        }
        let unproven = |p: &mut Peer, why: String| {
            tracing::warn!(%peer, size = held.checkpoint.size, %why, "a peer's checkpoint is not proven consistent");
            p.pending[at].why = Some(why);
        };
        match proof {
            Err(why) => {
                unproven(p, format!("no consistency proof: {why}"));
                None
            }
            Ok(proof) => {
                let c = (&small.checkpoint, &large.checkpoint);
                if verify_consistency(c.0.size, c.1.size, &c.0.root, &c.1.root, &proof) {
                    p.pending.remove(at);
                    let mut done = Observed { dropped: Some(held.checkpoint.size), ..Observed::default() };
                    if held.checkpoint.size > head.checkpoint.size {
                        p.head = Some(held.clone());
                        done.head = Some((held.checkpoint.size, held.note.clone()));
                    }
                    Some(done)
                } else if let Some(evidence) = fork(state, peer, p, small, large, &proof) {
                    p.pending.remove(at);
                    Some(Observed { fork: Some(evidence), dropped: Some(held.checkpoint.size), ..Observed::default() })
                } else {
                    let why = format!("the proof from {} to {} entries does not verify", c.0.size, c.1.size);
                    unproven(p, why);
                    None
                }
            }
        }
    };
    write.map(|w| (peer.to_string(), w))
}

/// What settling a question writes: the peer, and the changes.
pub(crate) type Written = (String, Observed);

/// Writes what a round of settled questions changed, in one transaction.
pub(crate) fn save(state: &NodeState, written: Vec<Written>) -> Result<(), NodeError> {
    if written.is_empty() {
        return Ok(());
    }
    state.commit(&[], move |tx| written.iter().try_for_each(|(peer, w)| w.write(peer, tx)))?;
    Ok(())
}

/// The consistency proof of this node's log between two sizes, for a peer
/// that holds checkpoints of both: the hashes, 32 bytes each.
pub(crate) fn proof_answer(state: &NodeState, old: u64, new: u64) -> Result<Vec<u8>, (tally_wire::CloseCode, String)> {
    let size = state.log.size().map_err(|e| (tally_wire::CloseCode::INTERNAL_ERROR, e.to_string()))?;
    if old == 0 || old > new || new > size {
        let reason = format!("no consistency proof from {old} to {new} entries: the log holds {size}");
        return Err((tally_wire::CloseCode::NOT_PERMITTED, reason));
    }
    let proof =
        state.log.consistency_proof(old, new).map_err(|e| (tally_wire::CloseCode::INTERNAL_ERROR, e.to_string()))?;
    Ok(proof.iter().flat_map(|d| d.0).collect())
}

/// The hashes of a consistency proof's answer bytes.
pub(crate) fn proof_from_bytes(bytes: &[u8]) -> Result<Vec<Digest>, String> {
    if !bytes.len().is_multiple_of(32) {
        return Err(format!("{} bytes are no whole number of 32-byte hashes", bytes.len()));
    }
    Ok(bytes.chunks_exact(32).map(|c| Digest(c.try_into().unwrap_or([0; 32]))).collect())
}
