//! The policy decision: allowed, or denied and exactly why (spec/grants.md,
//! "The decision").
//!
//! [`decide`] is pure and deterministic: time is an argument, and so is
//! everything else it looks at.

use tally_wire::{
    AgencyId, DataCategory, Direction, GrantChain, GrantId, Purpose, SuiteId, SuiteLevel, Timestamp, limits,
};

pub use crate::authorization::Authorization;
use crate::chain::{Directory, VerifiedChain, direction_allows, effective_senders};
use crate::denial::{Denial, QuotaKind};
use crate::revocation::RevocationSet;
use crate::usage::{Usage, window_start};

/// A proposed flow of one packet.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Flow {
    /// The grant the packet or request names (the chain's leaf).
    pub grant: GrantId,
    /// Who sends the data.
    pub sender: AgencyId,
    /// Who receives it.
    pub recipient: AgencyId,
    /// What it is for.
    pub purpose: Purpose,
    /// What kind of data it is.
    pub category: DataCategory,
    /// Its payload size in bytes.
    pub bytes: u64,
    /// [`Direction::Push`] (the sender offers) or [`Direction::Pull`] (the recipient asked).
    pub direction: Direction,
    /// The suite the packet is sealed with (for a pull request, the suite
    /// the answer will be sealed with); `None` where nobody can know it (an
    /// auditor judging a receipt, which does not name the suite), and then
    /// the grant's `min_suite_level` is not checked.
    pub suite: Option<SuiteId>,
    /// When it happens.
    pub at: Timestamp,
}

/// Verifies `chain` and decides `flow` in one step. See [`decide_verified`]
/// for the decision on a chain verified (and perhaps cached) earlier.
pub fn decide(
    flow: &Flow,
    chain: &GrantChain,
    revocations: &RevocationSet,
    directory: &impl Directory,
    usage: &Usage,
) -> Result<Authorization, Denial> {
    if chain.len() > limits::MAX_GRANT_CHAIN_DEPTH {
        return Err(Denial::ChainTooLong { depth: chain.len(), limit: limits::MAX_GRANT_CHAIN_DEPTH });
    }
    let verified = VerifiedChain::verify(chain, directory)?;
    decide_verified(flow, &verified, revocations, directory, usage)
}

/// The decision on a verified chain, checks in the order of spec/grants.md.
pub fn decide_verified(
    flow: &Flow,
    chain: &VerifiedChain,
    revocations: &RevocationSet,
    directory: &impl Directory,
    usage: &Usage,
) -> Result<Authorization, Denial> {
    if chain.leaf_id() != flow.grant {
        return Err(Denial::UnknownGrant { expected: flow.grant, got: chain.leaf_id() });
    }
    if let Some((grant, at)) = revocations.revoked_at(chain, flow.at) {
        return Err(Denial::Revoked { grant, at });
    }
    for (id, g) in chain.links() {
        if flow.at < g.not_before {
            return Err(Denial::NotYetValid { grant: *id, not_before: g.not_before, at: flow.at });
        }
        if flow.at >= g.not_after {
            return Err(Denial::Expired { grant: *id, not_after: g.not_after, at: flow.at });
        }
    }
    if !directory.purpose_registered(&flow.purpose) {
        return Err(Denial::UnregisteredPurpose { purpose: flow.purpose.clone() });
    }
    // By narrowing, the leaf is the chain's effective permission.
    let leaf = chain.leaf();
    if flow.recipient != leaf.grantee {
        return Err(Denial::WrongRecipient { expected: leaf.grantee.clone(), got: flow.recipient.clone() });
    }
    let permitted = effective_senders(leaf);
    if !permitted.contains(&flow.sender) {
        return Err(Denial::WrongSender { sender: flow.sender.clone(), permitted });
    }
    if !direction_allows(leaf.direction, flow.direction) {
        return Err(Denial::DirectionNotGranted { requested: flow.direction, granted: leaf.direction });
    }
    // By narrowing, no grant of the chain requires more than the leaf. A
    // level this version does not name is above every suite it knows.
    if let Some(suite) = flow.suite
        && suite.level().map_or(leaf.min_suite_level > SuiteLevel::CLASSICAL, |level| level < leaf.min_suite_level)
    {
        return Err(Denial::SuiteBelowMinimum { suite, required: leaf.min_suite_level });
    }
    if !leaf.purposes.iter().any(|p| p.covers(&flow.purpose)) {
        return Err(Denial::PurposeNotCovered { requested: flow.purpose.clone(), granted: leaf.purposes.to_vec() });
    }
    if !leaf.categories.iter().any(|c| c.covers(&flow.category)) {
        return Err(Denial::CategoryNotCovered { requested: flow.category.clone(), granted: leaf.categories.to_vec() });
    }
    // The root names categories its issuer controls (chain verification),
    // but a subcategory may have a controller of its own.
    let root = chain.root();
    let controller = directory.controller(&flow.category);
    if controller.as_ref() != Some(&root.issuer) {
        return Err(Denial::NotController {
            grant: chain.root_id(),
            category: flow.category.clone(),
            issuer: root.issuer.clone(),
            controller,
        });
    }

    let mut remaining_packets: Option<u64> = None;
    let mut remaining_bytes: Option<u64> = None;
    let mut expires = leaf.not_after;
    let mut links = Vec::new();
    for (id, g) in chain.links() {
        let used = usage.of(id);
        if let Some(limit) = g.quota.max_packets {
            if used.packets >= limit {
                return Err(Denial::QuotaExhausted { grant: *id, kind: QuotaKind::Packets, used: used.packets, limit });
            }
            remaining_packets =
                Some(remaining_packets.map_or(limit - used.packets - 1, |r| r.min(limit - used.packets - 1)));
        }
        if let Some(limit) = g.quota.max_bytes {
            let after = used.bytes.checked_add(flow.bytes).filter(|&b| b <= limit).ok_or(Denial::QuotaExhausted {
                grant: *id,
                kind: QuotaKind::Bytes,
                used: used.bytes,
                limit,
            })?;
            remaining_bytes = Some(remaining_bytes.map_or(limit - after, |r| r.min(limit - after)));
        }
        if let Some(rate) = g.quota.rate {
            let start = window_start(flow.at, rate.period_secs);
            let in_window = if used.window_start == start { used.window_packets } else { 0 };
            if in_window >= u64::from(rate.packets) {
                let window_end = Timestamp::from_secs(start.saturating_add(u64::from(rate.period_secs)));
                return Err(Denial::RateLimited {
                    grant: *id,
                    packets: rate.packets,
                    period_secs: rate.period_secs,
                    window_end,
                });
            }
        }
        expires = expires.min(g.not_after);
        links.push((*id, g.quota.rate.map(|r| r.period_secs)));
    }
    Ok(Authorization {
        grant: flow.grant,
        retention_secs: leaf.retention_secs,
        erase_on_revoke: leaf.erase_on_revoke,
        expires,
        remaining_packets,
        remaining_bytes,
        chain: links,
    })
}
