//! The frontier of a log's Merkle tree: what a follower of the log keeps
//! to go on from the last checkpoint it verified (spec/audit.md,
//! "Following a log").

use tally_wire::Digest;

use crate::merkle::{empty_root, node_hash};

/// The hashes of the perfect subtrees that a tree of `size` leaves is made
/// of, largest (leftmost) first: one per bit set in `size`. With them, the
/// root of the tree and of every tree that extends it by further leaves can
/// be computed without the leaves before.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Frontier {
    size: u64,
    hashes: Vec<Digest>,
}

impl Frontier {
    /// The frontier of the empty tree.
    pub fn new() -> Self {
        Self::default()
    }

    /// The frontier of a tree of `size` leaves from its subtree hashes,
    /// largest first; `None` unless there is exactly one per bit set in `size`.
    pub fn from_parts(size: u64, hashes: Vec<Digest>) -> Option<Self> {
        (hashes.len() == size.count_ones() as usize).then_some(Self { size, hashes })
    }

    /// How many leaves the tree has.
    pub fn size(&self) -> u64 {
        self.size
    }

    /// The subtree hashes, largest first.
    pub fn hashes(&self) -> &[Digest] {
        &self.hashes
    }

    /// Appends a leaf hash, merging the subtrees it completes.
    pub fn push(&mut self, leaf: Digest) {
        let mut hash = leaf;
        // Each trailing one bit of the old size is a subtree of the new leaf's size to merge with.
        let mut merges = self.size.trailing_ones();
        while merges > 0 {
            let Some(left) = self.hashes.pop() else { break };
            hash = node_hash(&left, &hash);
            merges -= 1;
        }
        self.hashes.push(hash);
        self.size += 1;
    }

    /// The tree's root (RFC 9162 `MTH`): the subtrees folded from the right.
    pub fn root(&self) -> Digest {
        let mut hashes = self.hashes.iter().rev();
        let Some(last) = hashes.next() else { return empty_root() };
        hashes.fold(*last, |right, left| node_hash(left, &right))
    }
}

#[cfg(test)]
mod tests {
    use proptest::prelude::*;

    use super::*;
    use crate::merkle::{Tree, leaf_hash, root};

    proptest! {
        /// After any number of leaves, the frontier's root is the tree's root,
        /// and a frontier rebuilt from its parts goes on to the same roots.
        #[test]
        fn the_frontiers_root_is_the_trees_root_at_every_size(count in 0usize..300, split in 0usize..300) {
            let (mut frontier, mut tree) = (Frontier::new(), Tree::new());
            prop_assert_eq!(frontier.root(), empty_root());
            for i in 0..count {
                if i == split {
                    frontier = Frontier::from_parts(frontier.size(), frontier.hashes().to_vec()).expect("its own parts");
                }
                let leaf = leaf_hash(&(i as u64).to_be_bytes());
                frontier.push(leaf);
                tree.push(leaf);
                prop_assert_eq!(frontier.size(), tree.size());
                prop_assert_eq!(frontier.hashes().len(), frontier.size().count_ones() as usize);
                prop_assert_eq!(frontier.root(), root(&tree, tree.size()).expect("a root"));
            }
        }
    }

    #[test]
    fn parts_that_do_not_fit_the_size_are_refused() {
        let h = leaf_hash(b"x");
        assert!(Frontier::from_parts(3, vec![h]).is_none(), "3 leaves are two subtrees");
        assert!(Frontier::from_parts(0, vec![h]).is_none());
        assert!(Frontier::from_parts(4, vec![h]).is_some());
    }
}
