//! RFC 9162 Merkle tree hashing, inclusion and consistency proofs
//! (spec/receipts.md, "The log").
//!
//! ```text
//! leaf hash   = SHA-256(0x00 ‖ entry)
//! node hash   = SHA-256(0x01 ‖ left ‖ right)
//! MTH({})     = SHA-256()
//! MTH(D[n])   = node(MTH(D[0:k]), MTH(D[k:n]))   k = the largest power of two < n
//! ```
//!
//! Proofs are generated from a [`NodeSource`] that holds the hash of every
//! complete, aligned subtree ("perfect" nodes), so a proof reads
//! O(log n) stored hashes (O(log² n) for ranges that are not perfect).
//! Verification needs no tree.

use tally_envelope::sha256;
use tally_wire::Digest;

/// The hash of the empty tree, `SHA-256()`.
pub fn empty_root() -> Digest {
    sha256(&[])
}

/// `SHA-256(0x00 ‖ entry)`.
pub fn leaf_hash(entry: &[u8]) -> Digest {
    sha256(&[&[0x00], entry])
}

/// `SHA-256(0x01 ‖ left ‖ right)`.
pub fn node_hash(left: &Digest, right: &Digest) -> Digest {
    sha256(&[&[0x01], &left.0, &right.0])
}

/// Where proofs read hashes from: the hash of the perfect subtree of
/// `2^level` leaves starting at leaf `index · 2^level` (level 0: leaf hashes).
pub trait NodeSource {
    /// Why a hash could not be read.
    type Error;
    /// The perfect subtree's hash; only asked for subtrees that are complete.
    fn node(&self, level: u8, index: u64) -> Result<Digest, Self::Error>;
}

/// A proof request outside the tree.
#[derive(Clone, Copy, Debug, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum ProofError {
    /// The index is not below the tree size.
    #[error("leaf {index} is not in a tree of {size}")]
    IndexOutOfRange {
        /// The leaf.
        index: u64,
        /// The tree size.
        size: u64,
    },
    /// A consistency proof needs `0 < m ≤ n`.
    #[error("no consistency proof from size {old} to {new}")]
    BadSizes {
        /// The older size.
        old: u64,
        /// The newer size.
        new: u64,
    },
}

/// The largest power of two strictly less than `n` (n ≥ 2).
fn split(n: u64) -> u64 {
    1 << (63 - (n - 1).leading_zeros())
}

/// `MTH(D[lo:hi])`, read from perfect nodes.
pub fn range_hash<S: NodeSource>(source: &S, lo: u64, hi: u64) -> Result<Digest, S::Error> {
    let n = hi - lo;
    if n == 0 {
        return Ok(empty_root());
    }
    if n.is_power_of_two() && lo.is_multiple_of(n) {
        return source.node(n.trailing_zeros() as u8, lo / n);
    }
    let k = split(n);
    Ok(node_hash(&range_hash(source, lo, lo + k)?, &range_hash(source, lo + k, hi)?))
}

/// The root of the first `size` leaves.
pub fn root<S: NodeSource>(source: &S, size: u64) -> Result<Digest, S::Error> {
    range_hash(source, 0, size)
}

/// `PATH(m, D[0:n])`: the inclusion proof of leaf `m` in the tree of size `n`.
pub fn inclusion_proof<S: NodeSource>(source: &S, m: u64, n: u64) -> Result<Result<Vec<Digest>, ProofError>, S::Error> {
    if m >= n {
        return Ok(Err(ProofError::IndexOutOfRange { index: m, size: n }));
    }
    let mut proof = Vec::new();
    path(source, m, 0, n, &mut proof)?;
    Ok(Ok(proof))
}

fn path<S: NodeSource>(source: &S, m: u64, lo: u64, hi: u64, out: &mut Vec<Digest>) -> Result<(), S::Error> {
    let n = hi - lo;
    if n <= 1 {
        return Ok(());
    }
    let k = split(n);
    if m - lo < k {
        path(source, m, lo, lo + k, out)?;
        out.push(range_hash(source, lo + k, hi)?);
    } else {
        path(source, m, lo + k, hi, out)?;
        out.push(range_hash(source, lo, lo + k)?);
    }
    Ok(())
}

/// `PROOF(m, D[0:n])`: the consistency proof from size `m` to size `n`.
pub fn consistency_proof<S: NodeSource>(
    source: &S,
    m: u64,
    n: u64,
) -> Result<Result<Vec<Digest>, ProofError>, S::Error> {
    if m == 0 || m > n {
        return Ok(Err(ProofError::BadSizes { old: m, new: n }));
    }
    let mut proof = Vec::new();
    subproof(source, m, 0, n, true, &mut proof)?;
    Ok(Ok(proof))
}

fn subproof<S: NodeSource>(
    source: &S,
    m: u64,
    lo: u64,
    hi: u64,
    b: bool,
    out: &mut Vec<Digest>,
) -> Result<(), S::Error> {
    let n = hi - lo;
    if m == n {
        if !b {
            out.push(range_hash(source, lo, hi)?);
        }
        return Ok(());
    }
    let k = split(n);
    if m <= k {
        subproof(source, m, lo, lo + k, b, out)?;
        out.push(range_hash(source, lo + k, hi)?);
    } else {
        subproof(source, m - k, lo + k, hi, false, out)?;
        out.push(range_hash(source, lo, lo + k)?);
    }
    Ok(())
}

/// Verifies an inclusion proof (RFC 9162, section 2.1.3.2).
pub fn verify_inclusion(leaf: &Digest, index: u64, size: u64, proof: &[Digest], root: &Digest) -> bool {
    root_from_inclusion(leaf, index, size, proof).as_ref() == Some(root)
}

/// The root an inclusion proof implies, or `None` if the proof has the wrong shape.
pub fn root_from_inclusion(leaf: &Digest, index: u64, size: u64, proof: &[Digest]) -> Option<Digest> {
    if index >= size {
        return None;
    }
    let (mut fn_, mut sn) = (index, size - 1);
    let mut r = *leaf;
    for p in proof {
        if sn == 0 {
            return None;
        }
        if fn_ & 1 == 1 || fn_ == sn {
            r = node_hash(p, &r);
            if fn_ & 1 == 0 {
                while fn_ & 1 == 0 && fn_ != 0 {
                    fn_ >>= 1;
                    sn >>= 1;
                }
            }
        } else {
            r = node_hash(&r, p);
        }
        fn_ >>= 1;
        sn >>= 1;
    }
    (sn == 0).then_some(r)
}

/// Verifies a consistency proof (RFC 9162, section 2.1.4.2).
pub fn verify_consistency(
    old_size: u64,
    new_size: u64,
    old_root: &Digest,
    new_root: &Digest,
    proof: &[Digest],
) -> bool {
    if old_size == new_size {
        return proof.is_empty() && old_root == new_root;
    }
    match roots_from_consistency(old_size, new_size, old_root_seed(old_size, old_root), proof) {
        Some((fr, sr)) => &fr == old_root && &sr == new_root,
        None => false,
    }
}

/// When the old size is a power of two the proof omits the old root, which the verifier supplies.
fn old_root_seed(old_size: u64, old_root: &Digest) -> Option<Digest> {
    old_size.is_power_of_two().then_some(*old_root)
}

/// The old and new roots a consistency proof implies (`0 < m < n`), or
/// `None` if it has the wrong shape. `seed` is the old root, needed (and
/// only used) when `m` is a power of two.
pub fn roots_from_consistency(m: u64, n: u64, seed: Option<Digest>, proof: &[Digest]) -> Option<(Digest, Digest)> {
    if m == 0 || m >= n {
        return None;
    }
    let mut proof = proof.iter();
    let first = if m.is_power_of_two() { seed? } else { *proof.next()? };
    let (mut fn_, mut sn) = (m - 1, n - 1);
    while fn_ & 1 == 1 {
        fn_ >>= 1;
        sn >>= 1;
    }
    let (mut fr, mut sr) = (first, first);
    for c in proof {
        if sn == 0 {
            return None;
        }
        if fn_ & 1 == 1 || fn_ == sn {
            fr = node_hash(c, &fr);
            sr = node_hash(c, &sr);
            if fn_ & 1 == 0 {
                while fn_ & 1 == 0 && fn_ != 0 {
                    fn_ >>= 1;
                    sn >>= 1;
                }
            }
        } else {
            sr = node_hash(&sr, c);
        }
        fn_ >>= 1;
        sn >>= 1;
    }
    (sn == 0).then_some((fr, sr))
}

/// A [`NodeSource`] that remembers the hashes of the non-perfect ranges it
/// computes. Proofs for many leaves of one tree size share their
/// right-edge ranges; with this, a batch of proofs computes each once.
pub struct Memo<'a, S> {
    source: &'a S,
    ranges: std::cell::RefCell<std::collections::HashMap<(u64, u64), Digest>>,
}

impl<'a, S: NodeSource> Memo<'a, S> {
    /// Wraps `source`.
    pub fn new(source: &'a S) -> Self {
        Self { source, ranges: std::cell::RefCell::default() }
    }

    /// `MTH(D[lo:hi])`, remembered.
    fn range(&self, lo: u64, hi: u64) -> Result<Digest, S::Error> {
        let n = hi - lo;
        if n == 0 {
            return Ok(empty_root());
        }
        if n.is_power_of_two() && lo.is_multiple_of(n) {
            return self.source.node(n.trailing_zeros() as u8, lo / n);
        }
        if let Some(d) = self.ranges.borrow().get(&(lo, hi)) {
            return Ok(*d);
        }
        let k = split(n);
        let d = node_hash(&self.range(lo, lo + k)?, &self.range(lo + k, hi)?);
        self.ranges.borrow_mut().insert((lo, hi), d);
        Ok(d)
    }

    /// `PATH(m, D[0:n])`, as [`inclusion_proof`].
    pub fn inclusion_proof(&self, m: u64, n: u64) -> Result<Result<Vec<Digest>, ProofError>, S::Error> {
        if m >= n {
            return Ok(Err(ProofError::IndexOutOfRange { index: m, size: n }));
        }
        let mut proof = Vec::new();
        let (mut lo, mut hi) = (0, n);
        while hi - lo > 1 {
            let k = split(hi - lo);
            if m - lo < k {
                proof.push(self.range(lo + k, hi)?);
                hi = lo + k;
            } else {
                proof.push(self.range(lo, lo + k)?);
                lo += k;
            }
        }
        proof.reverse();
        Ok(Ok(proof))
    }
}

/// Perfect-node hashes of a list of leaves, in memory: for tests, vectors and the memory store.
#[derive(Clone, Debug, Default)]
pub struct Tree {
    /// `levels[l][i]` = hash of perfect subtree `(l, i)`.
    levels: Vec<Vec<Digest>>,
}

impl Tree {
    /// An empty tree.
    pub fn new() -> Self {
        Self::default()
    }

    /// Appends a leaf hash, completing every perfect subtree it closes.
    pub fn push(&mut self, leaf: Digest) {
        if self.levels.is_empty() {
            self.levels.push(Vec::new());
        }
        self.levels[0].push(leaf);
        let mut level = 0;
        while self.levels[level].len().is_multiple_of(2) {
            let row = &self.levels[level];
            let parent = node_hash(&row[row.len() - 2], &row[row.len() - 1]);
            if self.levels.len() == level + 1 {
                self.levels.push(Vec::new());
            }
            self.levels[level + 1].push(parent);
            level += 1;
        }
    }

    /// How many leaves.
    pub fn size(&self) -> u64 {
        self.levels.first().map_or(0, |l| l.len() as u64)
    }

    /// The nodes a new leaf completes, as `(level, index, hash)`: what a store writes.
    pub fn completed_by_last(&self) -> Vec<(u8, u64, Digest)> {
        let size = self.size();
        if size == 0 {
            return Vec::new();
        }
        let mut out = Vec::new();
        let mut level = 0u8;
        let mut count = size;
        loop {
            out.push((level, count - 1, self.levels[level as usize][count as usize - 1]));
            if count % 2 == 1 {
                break;
            }
            count /= 2;
            level += 1;
        }
        out
    }
}

impl NodeSource for Tree {
    type Error = ProofError;
    fn node(&self, level: u8, index: u64) -> Result<Digest, ProofError> {
        self.levels
            .get(level as usize)
            .and_then(|row| row.get(usize::try_from(index).ok()?))
            .copied()
            .ok_or(ProofError::IndexOutOfRange { index: index << level, size: self.size() })
    }
}
