//! Property tests of chains and the decision (spec/grants.md).

mod support;

use proptest::prelude::*;
use tally_grant::{
    Denial, Dimension, RevocationSet, Usage, VerifiedChain, decide, direction_allows, effective_senders, grant_id,
};
use tally_wire::{
    BoundedVec, DataCategory, Direction, Grant, GrantChain, Purpose, Quota, Rate, Signed, SuiteId, SuiteLevel, Text,
    Timestamp,
};

use support::*;

const AGENCIES: [&str; 5] = ["tax-bureau", "social-security", "municipality", "statistics", "outsider"];

/// Narrowing choices for one link, drawn at random.
#[derive(Clone, Debug)]
struct Narrow {
    keep: Vec<bool>,
    specialise: Vec<bool>,
    start_shift: u64,
    end_shift: u64,
    packets_cut: u64,
    bytes_cut: u64,
    rate_cut: u32,
    retention_cut: u64,
    erase: bool,
    direction: u8,
    depth_cut: u8,
    /// Require post-quantum where the parent does not yet.
    raise_level: bool,
}

fn narrow_strategy() -> impl Strategy<Value = Narrow> {
    (
        prop::collection::vec(any::<bool>(), 4),
        prop::collection::vec(any::<bool>(), 4),
        0u64..1000,
        0u64..1000,
        0u64..10,
        0u64..1000,
        0u32..3,
        0u64..1000,
        any::<bool>(),
        0u8..3,
        1u8..3,
        any::<bool>(),
    )
        .prop_map(
            |(
                keep,
                specialise,
                start_shift,
                end_shift,
                packets_cut,
                bytes_cut,
                rate_cut,
                retention_cut,
                erase,
                direction,
                depth_cut,
                raise_level,
            )| Narrow {
                keep,
                specialise,
                start_shift,
                end_shift,
                packets_cut,
                bytes_cut,
                rate_cut,
                retention_cut,
                erase,
                direction,
                depth_cut,
                raise_level,
            },
        )
}

fn root_grant(depth: u8) -> Grant {
    Grant {
        issuer: agency("tax-bureau"),
        grantee: agency("social-security"),
        senders: BoundedVec::new(vec![agency("tax-bureau"), agency("statistics")]).expect("small"),
        purposes: BoundedVec::new(vec![purpose("social-security"), purpose("tax.audit")]).expect("small"),
        categories: BoundedVec::new(vec![category("income"), category("household")]).expect("small"),
        not_before: Timestamp::from_secs(T0),
        not_after: Timestamp::from_secs(T0 + 100_000),
        quota: Quota {
            max_packets: Some(1000),
            max_bytes: Some(1 << 30),
            rate: Some(Rate { packets: 100, period_secs: 60 }),
        },
        retention_secs: 1_000_000,
        erase_on_revoke: true,
        direction: Direction::Both,
        min_suite_level: SuiteLevel::CLASSICAL,
        delegation_depth: depth,
        parent: None,
        legal_basis: Text::new("Act").expect("valid"),
        note: Text::default(),
        issued_at: Timestamp::from_secs(T0),
    }
}

fn narrowed(parent: &Signed<Grant>, grantee: &str, n: &Narrow) -> Grant {
    let p = parent.unverified();
    let pick = |len: usize| -> Vec<usize> {
        let v: Vec<usize> = (0..len).filter(|&i| n.keep[i % n.keep.len()]).collect();
        if v.is_empty() { vec![0] } else { v }
    };
    let purposes: Vec<Purpose> = pick(p.purposes.len())
        .into_iter()
        .map(|i| {
            let base = &p.purposes[i];
            if n.specialise[i % 4] && base.labels().count() < 8 {
                purpose(&format!("{base}.sub"))
            } else {
                base.clone()
            }
        })
        .collect();
    let categories: Vec<DataCategory> = pick(p.categories.len()).into_iter().map(|i| p.categories[i].clone()).collect();
    let senders: Vec<_> =
        pick(effective_senders(p).len()).into_iter().map(|i| effective_senders(p)[i].clone()).collect();
    let not_before = Timestamp::from_secs(p.not_before.secs() + n.start_shift.min(10));
    let not_after = Timestamp::from_secs(p.not_after.secs().saturating_sub(n.end_shift).max(not_before.secs() + 1));
    let direction = match (p.direction, n.direction) {
        (Direction::Both, 0) => Direction::Push,
        (Direction::Both, 1) => Direction::Pull,
        (d, _) => d,
    };
    Grant {
        issuer: p.grantee.clone(),
        grantee: agency(grantee),
        senders: BoundedVec::new(senders).expect("small"),
        purposes: BoundedVec::new(purposes).expect("small"),
        categories: BoundedVec::new(categories).expect("small"),
        not_before,
        not_after,
        quota: Quota {
            max_packets: p.quota.max_packets.map(|m| m.saturating_sub(n.packets_cut).max(1)),
            max_bytes: p.quota.max_bytes.map(|m| m.saturating_sub(n.bytes_cut).max(1)),
            rate: p
                .quota
                .rate
                .map(|r| Rate { packets: r.packets.saturating_sub(n.rate_cut).max(1), period_secs: r.period_secs }),
        },
        retention_secs: p.retention_secs.saturating_sub(n.retention_cut),
        erase_on_revoke: p.erase_on_revoke || n.erase,
        direction,
        min_suite_level: if n.raise_level { SuiteLevel::POST_QUANTUM } else { p.min_suite_level },
        delegation_depth: p.delegation_depth.saturating_sub(n.depth_cut),
        parent: Some(grant_id(parent)),
        legal_basis: p.legal_basis.clone(),
        note: Text::default(),
        issued_at: p.issued_at,
    }
}

/// A chain (leaf first) of `1 + narrows.len()` grants, each narrower than its parent.
fn build(fed: &Federation, narrows: &[Narrow]) -> Vec<Signed<Grant>> {
    // Each link cuts the depth by 1 or 2, so 2n + 1 leaves room for n delegations.
    let mut links = vec![fed.sign(root_grant(2 * narrows.len() as u8 + 1))];
    for (i, n) in narrows.iter().enumerate() {
        // Grantees cycle through the directory's agencies (never the outsider).
        let grantee = AGENCIES[(i + 2) % 4];
        let mut g = narrowed(links.last().expect("non-empty"), grantee, n);
        g.delegation_depth = g.delegation_depth.min(links.last().expect("non-empty").unverified().delegation_depth - 1);
        links.push(fed.sign(g));
    }
    links.reverse();
    links
}

fn to_chain(links: Vec<Signed<Grant>>) -> GrantChain {
    BoundedVec::new(links).expect("within the limit")
}

const DIMENSIONS: [Dimension; 14] = [
    Dimension::Issuer,
    Dimension::Purposes,
    Dimension::Categories,
    Dimension::NotBefore,
    Dimension::NotAfter,
    Dimension::MaxPackets,
    Dimension::MaxBytes,
    Dimension::Rate,
    Dimension::Retention,
    Dimension::EraseOnRevoke,
    Dimension::Direction,
    Dimension::Senders,
    Dimension::DelegationDepth,
    Dimension::SuiteLevel,
];

/// Makes `child` wider than `parent` in exactly `dimension`; `None` if the parent leaves no room.
fn widen(parent: &Grant, child: &mut Grant, dimension: Dimension) -> Option<()> {
    match dimension {
        Dimension::Issuer => {
            child.issuer = agency(AGENCIES.iter().find(|a| **a != parent.grantee.as_str() && **a != "outsider")?)
        }
        Dimension::Purposes => {
            let mut v = child.purposes.to_vec();
            v.push(purpose("unrelated"));
            child.purposes = BoundedVec::new(v).ok()?;
        }
        Dimension::Categories => {
            let mut v = child.categories.to_vec();
            v.push(category("unrelated"));
            child.categories = BoundedVec::new(v).ok()?;
        }
        Dimension::NotBefore => child.not_before = Timestamp::from_secs(parent.not_before.secs().checked_sub(1)?),
        Dimension::NotAfter => child.not_after = Timestamp::from_secs(parent.not_after.secs() + 1),
        Dimension::MaxPackets => child.quota.max_packets = Some(parent.quota.max_packets? + 1),
        Dimension::MaxBytes => child.quota.max_bytes = Some(parent.quota.max_bytes? + 1),
        Dimension::Rate => {
            let r = parent.quota.rate?;
            child.quota.rate = Some(Rate { packets: r.packets + 1, period_secs: r.period_secs });
        }
        Dimension::Retention => child.retention_secs = parent.retention_secs + 1,
        Dimension::EraseOnRevoke => {
            if !parent.erase_on_revoke {
                return None;
            }
            child.erase_on_revoke = false;
        }
        Dimension::Direction => {
            if parent.direction == Direction::Both {
                return None;
            }
            child.direction = Direction::Both;
        }
        Dimension::Senders => {
            let permitted = effective_senders(parent);
            let extra = AGENCIES.iter().find(|a| !permitted.iter().any(|p| p.as_str() == **a) && **a != "outsider")?;
            let mut v = effective_senders(child);
            v.push(agency(extra));
            child.senders = BoundedVec::new(v).ok()?;
        }
        Dimension::DelegationDepth => child.delegation_depth = parent.delegation_depth,
        Dimension::SuiteLevel => {
            if parent.min_suite_level == SuiteLevel::CLASSICAL {
                return None;
            }
            child.min_suite_level = SuiteLevel::CLASSICAL;
        }
    }
    Some(())
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 64, ..ProptestConfig::default() })]

    /// Chains built by a generator that only narrows always verify.
    #[test]
    fn narrowing_chains_verify(narrows in prop::collection::vec(narrow_strategy(), 0..7)) {
        let fed = Federation::new();
        let links = build(&fed, &narrows);
        let verified = VerifiedChain::verify(&to_chain(links.clone()), &fed);
        prop_assert!(verified.is_ok(), "{:?}", verified.err());
    }

    /// Widening any one delegated link in any one dimension is caught, and named.
    #[test]
    fn single_dimension_widening_is_named(
        narrows in prop::collection::vec(narrow_strategy(), 1..6),
        link in any::<prop::sample::Index>(),
        dim in 0usize..14,
    ) {
        let fed = Federation::new();
        let mut links = build(&fed, &narrows);
        // Leaf first: every index below the root's is a delegated grant.
        let k = link.index(links.len() - 1);
        let parent = links[k + 1].unverified().clone();
        let mut child = links[k].unverified().clone();
        let dimension = DIMENSIONS[dim];
        prop_assume!(widen(&parent, &mut child, dimension).is_some());
        // The grant is re-signed by whoever is now its issuer.
        links[k] = fed.sign(child);
        let result = VerifiedChain::verify(&to_chain(links.clone()), &fed);
        let expected = Denial::WidenedDelegation { grant: grant_id(&links[k]), dimension };
        prop_assert_eq!(result.err(), Some(expected));
    }

    /// Whatever the chain allows, every link of it allows too: the effective
    /// permission is never wider than any link.
    #[test]
    fn allowed_flows_are_within_every_link(
        narrows in prop::collection::vec(narrow_strategy(), 0..5),
        p in prop::sample::select(vec!["social-security", "social-security.sub", "social-security.sub.x", "tax.audit", "tax", "statistics"]),
        c in prop::sample::select(vec!["income", "income.annual", "household", "health"]),
        sender in prop::sample::select(AGENCIES.to_vec()),
        dir in prop::sample::select(vec![Direction::Push, Direction::Pull]),
        suite in prop::sample::select(vec![SuiteId::X25519_SHA256_AES256GCM, SuiteId::XWING_SHA256_AES256GCM]),
        offset in 0u64..100_010,
        bytes in 0u64..2_000_000_000,
    ) {
        let fed = Federation::new();
        let links = build(&fed, &narrows);
        let leaf = links[0].unverified().clone();
        let flow = tally_grant::Flow {
            grant: grant_id(&links[0]),
            sender: agency(sender),
            recipient: leaf.grantee.clone(),
            purpose: purpose(p),
            category: category(c),
            bytes,
            direction: dir,
            suite: Some(suite),
            at: Timestamp::from_secs(T0 + offset),
        };
        if decide(&flow, &to_chain(links.clone()), &RevocationSet::new(), &fed, &Usage::new()).is_ok() {
            for link in &links {
                let g = link.unverified();
                prop_assert!(g.purposes.iter().any(|q| q.covers(&flow.purpose)));
                prop_assert!(g.categories.iter().any(|q| q.covers(&flow.category)));
                prop_assert!(effective_senders(g).contains(&flow.sender));
                prop_assert!(direction_allows(g.direction, flow.direction));
                prop_assert!(g.not_before <= flow.at && flow.at < g.not_after);
                prop_assert!(g.quota.max_bytes.is_none_or(|m| flow.bytes <= m));
                prop_assert!(suite.level().is_some_and(|l| l >= g.min_suite_level), "a classical packet under a post-quantum link");
            }
        }
    }

    /// Any byte change in a signed grant makes it fail to decode or to verify.
    #[test]
    fn any_byte_change_in_a_signed_grant_fails(pos in any::<prop::sample::Index>(), mask in 1u8..=255) {
        let fed = Federation::new();
        let mut bytes = fed.sign(root_grant(1)).encode();
        let at = pos.index(bytes.len());
        bytes[at] ^= mask;
        if let Ok(changed) = Signed::<Grant>::decode(&bytes) {
            let verified = VerifiedChain::verify(&to_chain(vec![changed]), &fed);
            prop_assert!(verified.is_err(), "byte {} changed and the grant still verifies", at);
        }
    }
}
