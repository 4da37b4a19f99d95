//! Grant chains: signatures, links and narrowing (spec/grants.md, "Chains").
//!
//! A chain is the leaf grant first, then each parent up to a root grant
//! issued by the data's controller. Verifying it checks, from the root
//! down: every signature under its issuer's key from the directory; that
//! each grant names the next one's id as its parent and is issued by that
//! parent's grantee; that each grant is well formed; and that each
//! delegated grant is narrower than or equal to its parent in every
//! dimension. The result does not depend on time, revocations or usage:
//! it can be cached by the leaf's id.

use tally_envelope::{IdentityVerifier, digest};
use tally_wire::{AgencyId, DataCategory, Direction, Grant, GrantChain, GrantId, Signed, label, limits};

use crate::denial::{Denial, Dimension};

/// What the policy needs from the federation directory.
pub trait Directory {
    /// The identity key of `agency`, if the directory lists it.
    fn identity_key(&self, agency: &AgencyId) -> Option<IdentityVerifier>;
    /// Whether `purpose` is in the directory's purpose registry.
    fn purpose_registered(&self, purpose: &tally_wire::Purpose) -> bool;
    /// The agency that controls data of `category`: the controller of the
    /// longest registered category covering it (spec/grants.md, "Controllers").
    fn controller(&self, category: &DataCategory) -> Option<AgencyId>;
}

/// A grant's id: `H("tally/v1/hash/grant-id", signed body)`.
pub fn grant_id(grant: &Signed<Grant>) -> GrantId {
    GrantId(digest(label::GRANT_ID, &[grant.body()]).0)
}

/// A chain whose signatures, links and narrowing have been checked.
#[derive(Clone, Debug)]
pub struct VerifiedChain {
    /// Leaf first, each with its id.
    links: Vec<(GrantId, Grant)>,
}

impl VerifiedChain {
    /// Checks `chain` against the directory's keys.
    pub fn verify(chain: &GrantChain, directory: &impl Directory) -> Result<Self, Denial> {
        if chain.is_empty() {
            return Err(Denial::EmptyChain);
        }
        if chain.len() > limits::MAX_GRANT_CHAIN_DEPTH {
            return Err(Denial::ChainTooLong { depth: chain.len(), limit: limits::MAX_GRANT_CHAIN_DEPTH });
        }
        let ids: Vec<GrantId> = chain.iter().map(grant_id).collect();
        // From the root down, so that the first failure reported is the most general.
        for (i, signed) in chain.iter().enumerate().rev() {
            let id = ids[i];
            let grant = signed.unverified();
            let key = directory
                .identity_key(&grant.issuer)
                .ok_or_else(|| Denial::UnknownIssuerKey { grant: id, issuer: grant.issuer.clone() })?;
            key.verify_object(signed).map_err(|_| Denial::BadSignature { grant: id, issuer: grant.issuer.clone() })?;
            check_well_formed(id, grant)?;
            match chain.get(i + 1) {
                None if grant.parent.is_some() => return Err(Denial::BrokenChain { grant: id }),
                None => check_root_authority(id, grant, directory)?,
                Some(parent) => {
                    if grant.parent != Some(ids[i + 1]) {
                        return Err(Denial::BrokenChain { grant: id });
                    }
                    check_narrower(parent.unverified(), grant)
                        .map_err(|dimension| Denial::WidenedDelegation { grant: id, dimension })?;
                }
            }
        }
        Ok(Self { links: ids.into_iter().zip(chain.iter().map(|s| s.unverified().clone())).collect() })
    }

    /// The leaf grant's id.
    pub fn leaf_id(&self) -> GrantId {
        self.links[0].0
    }

    /// The leaf grant: by narrowing, the effective permission of the chain.
    pub fn leaf(&self) -> &Grant {
        &self.links[0].1
    }

    /// The root grant, issued by the data's controller.
    pub fn root(&self) -> &Grant {
        &self.links[self.links.len() - 1].1
    }

    /// The root grant's id.
    pub fn root_id(&self) -> GrantId {
        self.links[self.links.len() - 1].0
    }

    /// Every grant with its id, leaf first.
    pub fn links(&self) -> impl Iterator<Item = (&GrantId, &Grant)> {
        self.links.iter().map(|(id, g)| (id, g))
    }

    /// The ids, leaf first.
    pub fn ids(&self) -> impl Iterator<Item = GrantId> + '_ {
        self.links.iter().map(|(id, _)| *id)
    }

    /// Whether `issuer` may revoke `grant` within this chain: it issued
    /// that grant or one of its ancestors (spec/grants.md, "Revocation").
    /// A grant not in the chain cannot be revoked through it.
    pub fn may_revoke(&self, grant: &GrantId, issuer: &AgencyId) -> bool {
        match self.links.iter().position(|(id, _)| id == grant) {
            Some(i) => self.links[i..].iter().any(|(_, g)| &g.issuer == issuer),
            None => false,
        }
    }
}

/// A root grant is valid only when its issuer controls every category it
/// names (spec/grants.md, "Controllers").
fn check_root_authority(id: GrantId, root: &Grant, directory: &impl Directory) -> Result<(), Denial> {
    for category in root.categories.iter() {
        let controller = directory.controller(category);
        if controller.as_ref() != Some(&root.issuer) {
            return Err(Denial::NotController {
                grant: id,
                category: category.clone(),
                issuer: root.issuer.clone(),
                controller,
            });
        }
    }
    Ok(())
}

/// The agencies that may send under `grant`: its senders, or its issuer if none are named.
pub fn effective_senders(grant: &Grant) -> Vec<AgencyId> {
    if grant.senders.is_empty() { vec![grant.issuer.clone()] } else { grant.senders.to_vec() }
}

/// Whether `granted` allows a flow in direction `requested` (push or pull).
pub fn direction_allows(granted: Direction, requested: Direction) -> bool {
    granted == requested || granted == Direction::Both
}

fn check_well_formed(id: GrantId, g: &Grant) -> Result<(), Denial> {
    let problem = if g.purposes.is_empty() {
        "it names no purpose"
    } else if g.categories.is_empty() {
        "it names no data category"
    } else if g.not_after <= g.not_before {
        "its validity window is empty (not_after is not after not_before)"
    } else if g.quota.max_packets == Some(0) || g.quota.max_bytes == Some(0) {
        "a quota of zero permits nothing"
    } else if g.quota.rate.is_some_and(|r| r.packets == 0 || r.period_secs == 0) {
        "a rate of zero packets or a zero period"
    } else {
        return Ok(());
    };
    Err(Denial::MalformedGrant { grant: id, problem })
}

/// Checks that `child` is narrower than or equal to `parent` in every
/// dimension; returns the first dimension in which it is wider.
pub fn check_narrower(parent: &Grant, child: &Grant) -> Result<(), Dimension> {
    if child.issuer != parent.grantee {
        return Err(Dimension::Issuer);
    }
    if parent.delegation_depth == 0 || child.delegation_depth >= parent.delegation_depth {
        return Err(Dimension::DelegationDepth);
    }
    if !child.purposes.iter().all(|c| parent.purposes.iter().any(|p| p.covers(c))) {
        return Err(Dimension::Purposes);
    }
    if !child.categories.iter().all(|c| parent.categories.iter().any(|p| p.covers(c))) {
        return Err(Dimension::Categories);
    }
    if child.not_before < parent.not_before {
        return Err(Dimension::NotBefore);
    }
    if child.not_after > parent.not_after {
        return Err(Dimension::NotAfter);
    }
    if !limit_within(child.quota.max_packets, parent.quota.max_packets) {
        return Err(Dimension::MaxPackets);
    }
    if !limit_within(child.quota.max_bytes, parent.quota.max_bytes) {
        return Err(Dimension::MaxBytes);
    }
    if let Some(p) = parent.quota.rate {
        // At most as many packets, over windows at least as long.
        match child.quota.rate {
            Some(c) if c.packets <= p.packets && c.period_secs >= p.period_secs => {}
            _ => return Err(Dimension::Rate),
        }
    }
    if child.retention_secs > parent.retention_secs {
        return Err(Dimension::Retention);
    }
    if parent.erase_on_revoke && !child.erase_on_revoke {
        return Err(Dimension::EraseOnRevoke);
    }
    if !direction_allows(parent.direction, child.direction) {
        return Err(Dimension::Direction);
    }
    if child.min_suite_level < parent.min_suite_level {
        return Err(Dimension::SuiteLevel);
    }
    let permitted = effective_senders(parent);
    if !effective_senders(child).iter().all(|s| permitted.contains(s)) {
        return Err(Dimension::Senders);
    }
    Ok(())
}

/// `child` is within `parent` when the parent is unlimited, or both are limited and child ≤ parent.
fn limit_within(child: Option<u64>, parent: Option<u64>) -> bool {
    match (child, parent) {
        (_, None) => true,
        (Some(c), Some(p)) => c <= p,
        (None, Some(_)) => false,
    }
}
