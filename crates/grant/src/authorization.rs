//! What a permitted flow carries: the decision's result, which usage
//! accounting counts (spec/grants.md, "The decision").

use tally_wire::{GrantId, Timestamp};

/// A permitted flow, with the constraints that come with it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Authorization {
    /// The leaf grant.
    pub grant: GrantId,
    /// How long the recipient may keep the data, in seconds (the leaf's, the shortest in the chain).
    pub retention_secs: u64,
    /// Whether revoking obliges erasure.
    pub erase_on_revoke: bool,
    /// When the permission ends: the earliest not-after in the chain.
    pub expires: Timestamp,
    /// Packets left after this one, over the whole chain; `None` is unlimited.
    pub remaining_packets: Option<u64>,
    /// Bytes left after this one, over the whole chain; `None` is unlimited.
    pub remaining_bytes: Option<u64>,
    /// Every grant of the chain (leaf first) with its rate period, for [`Usage::apply`](crate::Usage::apply).
    pub chain: Vec<(GrantId, Option<u32>)>,
}
