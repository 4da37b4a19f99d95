//! What a permitted flow carries: the decision's result, which usage
//! accounting counts (spec/grants.md, "The decision").

use tally_wire::{GrantId, Timestamp};

/// A permitted flow, with the constraints that come with it. Only the
/// decision makes one (its fields are private), so usage is counted only
/// for flows the policy allowed. Outside this crate, one cannot be built:
///
/// ```compile_fail,E0451
/// use tally_wire::{GrantId, Timestamp};
/// let forged = tally_grant::Authorization {
///     grant: GrantId([0; 32]),
///     retention_secs: 0,
///     erase_on_revoke: false,
///     expires: Timestamp::from_secs(0),
///     remaining_packets: None,
///     remaining_bytes: None,
///     chain: Vec::new(),
/// };
/// ```
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Authorization {
    /// The leaf grant.
    pub(crate) grant: GrantId,
    /// How long the recipient may keep the data, in seconds (the leaf's, the shortest in the chain).
    pub(crate) retention_secs: u64,
    /// Whether revoking obliges erasure.
    pub(crate) erase_on_revoke: bool,
    /// When the permission ends: the earliest not-after in the chain.
    pub(crate) expires: Timestamp,
    /// Packets left after this one, over the whole chain; `None` is unlimited.
    pub(crate) remaining_packets: Option<u64>,
    /// Bytes left after this one, over the whole chain; `None` is unlimited.
    pub(crate) remaining_bytes: Option<u64>,
    /// Every grant of the chain (leaf first) with its rate period, for [`Usage::apply`](crate::Usage::apply).
    pub(crate) chain: Vec<(GrantId, Option<u32>)>,
}

impl Authorization {
    /// The leaf grant.
    pub fn grant(&self) -> GrantId {
        self.grant
    }

    /// How long the recipient may keep the data, in seconds (the shortest in the chain).
    pub fn retention_secs(&self) -> u64 {
        self.retention_secs
    }

    /// Whether revoking obliges erasure.
    pub fn erase_on_revoke(&self) -> bool {
        self.erase_on_revoke
    }

    /// When the permission ends: the earliest not-after in the chain.
    pub fn expires(&self) -> Timestamp {
        self.expires
    }

    /// Packets left after this one, over the whole chain; `None` is unlimited.
    pub fn remaining_packets(&self) -> Option<u64> {
        self.remaining_packets
    }

    /// Bytes left after this one, over the whole chain; `None` is unlimited.
    pub fn remaining_bytes(&self) -> Option<u64> {
        self.remaining_bytes
    }

    /// Every grant of the chain (leaf first) with its rate period.
    pub fn chain(&self) -> &[(GrantId, Option<u32>)] {
        &self.chain
    }
}
