//! Fork evidence: two checkpoints of one log that cannot both be honest
//! (spec/receipts.md, "Fork evidence").

use serde::{Deserialize, Serialize};
use tally_wire::{Digest, IdentityPublicKey, LogOrigin};

use crate::merkle::roots_from_consistency;
use crate::note::{NoteError, verify_checkpoint};

/// Self-contained, verifiable evidence that a log forked.
///
/// `a` and `b` are signed checkpoints of the same log (same origin, same
/// key). Either they have the same size and different roots; or `a` is
/// smaller, and `proof` is a consistency proof from a tree of `a`'s size
/// whose root is `prefix_root` to `b`'s tree — a proof that verifies
/// shows that `b`'s first `a.size` entries hash to `prefix_root`, and
/// `prefix_root ≠ a.root`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct ForkEvidence {
    /// The earlier (or equal-size) checkpoint, a signed note.
    pub a: String,
    /// The later checkpoint, a signed note.
    pub b: String,
    /// The root of `b`'s first `a.size` entries (ignored when the sizes are equal).
    pub prefix_root: Digest,
    /// The consistency proof from `a.size` to `b.size` (empty when the sizes are equal).
    pub proof: Vec<Digest>,
}

/// Why fork evidence does not hold.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum ForkError {
    /// A checkpoint does not verify for this log.
    #[error("checkpoint: {0}")]
    Checkpoint(#[from] NoteError),
    /// The checkpoints are consistent: no fork is shown.
    #[error("the checkpoints are consistent; this is no evidence of a fork")]
    Consistent,
    /// The proof does not lead to `b`'s root, so it shows nothing.
    #[error("the consistency proof does not lead to the later checkpoint's root")]
    BadProof,
}

impl ForkEvidence {
    /// Evidence from two checkpoints and the consistency proof the log
    /// gave between them (for sizes `a.size < b.size`), if they show a
    /// fork. For `a.size` a power of two the proof does not determine the
    /// prefix, and `prefix_root` must come from the entries themselves.
    pub fn detect(
        a: &str,
        b: &str,
        proof: &[Digest],
        prefix_root: Option<Digest>,
        origin: &LogOrigin,
        key: &IdentityPublicKey,
    ) -> Result<Option<Self>, NoteError> {
        let (ca, cb) = (verify_checkpoint(a, origin, key)?, verify_checkpoint(b, origin, key)?);
        let (ca, cb, a, b) = if ca.size <= cb.size { (ca, cb, a, b) } else { (cb, ca, b, a) };
        let evidence =
            |prefix_root, proof: &[Digest]| Self { a: a.into(), b: b.into(), prefix_root, proof: proof.to_vec() };
        if ca.size == cb.size {
            return Ok((ca.root != cb.root).then(|| evidence(cb.root, &[])));
        }
        if ca.size == 0 {
            return Ok(None);
        }
        let seed = if ca.size.is_power_of_two() { prefix_root } else { None };
        Ok(match roots_from_consistency(ca.size, cb.size, seed, proof) {
            Some((fr, sr)) if sr == cb.root && fr != ca.root => Some(evidence(fr, proof)),
            _ => None,
        })
    }

    /// Checks the evidence with only the log's origin and key.
    pub fn verify(&self, origin: &LogOrigin, key: &IdentityPublicKey) -> Result<(), ForkError> {
        let a = verify_checkpoint(&self.a, origin, key)?;
        let b = verify_checkpoint(&self.b, origin, key)?;
        if a.size == b.size {
            return if a.root != b.root { Ok(()) } else { Err(ForkError::Consistent) };
        }
        if a.size > b.size || a.size == 0 {
            return Err(ForkError::Consistent);
        }
        match roots_from_consistency(a.size, b.size, Some(self.prefix_root), &self.proof) {
            Some((fr, sr)) if sr == b.root && fr == self.prefix_root => {
                if fr != a.root {
                    Ok(())
                } else {
                    Err(ForkError::Consistent)
                }
            }
            _ => Err(ForkError::BadProof),
        }
    }
}
