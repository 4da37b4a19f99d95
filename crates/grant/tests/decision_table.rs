//! The decision table: one named case per denial, the boundaries, and the
//! authorizations (spec/grants.md, "The decision").

mod support;

use tally_grant::{
    Authorization, ChainCache, Denial, Dimension, QuotaKind, RevocationSet, Usage, decide, grant_id, revoke,
};
use tally_wire::{BoundedVec, Direction, GrantId, Rate, RevocationReason, Text, Timestamp};

use support::*;

fn allowed(fed: &Federation, chain: &tally_wire::GrantChain, flow: &tally_grant::Flow) -> Authorization {
    decide(flow, chain, &RevocationSet::new(), fed, &Usage::new()).expect("allowed")
}

fn denied(fed: &Federation, chain: &tally_wire::GrantChain, flow: &tally_grant::Flow) -> Denial {
    decide(flow, chain, &RevocationSet::new(), fed, &Usage::new()).expect_err("denied")
}

#[test]
fn root_grant_allows_a_covered_flow() {
    let fed = Federation::new();
    let g = fed.sign(root());
    let auth = allowed(&fed, &chain(vec![g.clone()]), &flow(&g));
    assert_eq!(auth.grant(), grant_id(&g));
    assert_eq!(auth.retention_secs(), 90 * 86_400);
    assert_eq!(auth.remaining_packets(), Some(99));
    assert_eq!(auth.remaining_bytes(), Some((1 << 20) - 1000));
    assert_eq!(auth.expires(), Timestamp::from_secs(T0 + 365 * 86_400));
}

#[test]
fn delegated_chain_allows_and_reports_the_tightest_constraints() {
    let fed = Federation::new();
    let r = fed.sign(root());
    let mut d = delegated(&r, "municipality");
    d.quota.max_packets = Some(5);
    d.retention_secs = 86_400;
    d.not_after = Timestamp::from_secs(T0 + 30 * 86_400);
    let d = fed.sign(d);
    let auth = allowed(&fed, &chain(vec![d.clone(), r]), &flow(&d));
    assert_eq!(auth.remaining_packets(), Some(4));
    assert_eq!(auth.retention_secs(), 86_400);
    assert_eq!(auth.expires(), Timestamp::from_secs(T0 + 30 * 86_400));
    assert_eq!(auth.chain().len(), 2);
}

#[test]
fn empty_chain() {
    let fed = Federation::new();
    let g = fed.sign(root());
    assert_eq!(denied(&fed, &chain(vec![]), &flow(&g)), Denial::EmptyChain);
}

#[test]
fn chain_leaf_is_not_the_named_grant() {
    let fed = Federation::new();
    let g = fed.sign(root());
    let mut f = flow(&g);
    f.grant = GrantId([9; 32]);
    assert!(matches!(denied(&fed, &chain(vec![g]), &f), Denial::UnknownGrant { .. }));
}

#[test]
fn chain_with_a_missing_parent_is_broken() {
    let fed = Federation::new();
    let r = fed.sign(root());
    let d = fed.sign(delegated(&r, "municipality"));
    assert_eq!(denied(&fed, &chain(vec![d.clone()]), &flow(&d)), Denial::BrokenChain { grant: grant_id(&d) });
}

#[test]
fn chain_with_the_wrong_parent_is_broken() {
    let fed = Federation::new();
    let r = fed.sign(root());
    let mut other = root();
    other.note = Text::new("another grant").expect("valid");
    let other = fed.sign(other);
    let d = fed.sign(delegated(&r, "municipality"));
    assert_eq!(denied(&fed, &chain(vec![d.clone(), other]), &flow(&d)), Denial::BrokenChain { grant: grant_id(&d) });
}

#[test]
fn issuer_unknown_to_the_directory() {
    let fed = Federation::new();
    let mut g = root();
    g.issuer = agency("outsider");
    g.senders = BoundedVec::new(vec![agency("outsider")]).expect("small");
    let g = fed.sign(g);
    assert!(matches!(denied(&fed, &chain(vec![g.clone()]), &flow(&g)), Denial::UnknownIssuerKey { .. }));
}

#[test]
fn grant_signed_by_someone_else() {
    let fed = Federation::new();
    let g = fed.key("municipality").sign_object(root()).expect("signs");
    assert!(matches!(denied(&fed, &chain(vec![g.clone()]), &flow(&g)), Denial::BadSignature { .. }));
}

#[test]
fn grant_without_purposes_is_malformed() {
    let fed = Federation::new();
    let mut g = root();
    g.purposes = BoundedVec::empty();
    let g = fed.sign(g);
    let d = denied(&fed, &chain(vec![g.clone()]), &flow(&g));
    assert!(matches!(d, Denial::MalformedGrant { problem, .. } if problem.contains("no purpose")), "{d}");
    assert_eq!(d.reason_code(), tally_wire::ReasonCode::INVALID_GRANT);
}

#[test]
fn delegation_wider_than_its_parent() {
    let fed = Federation::new();
    let r = fed.sign(root());
    let mut d = delegated(&r, "municipality");
    d.retention_secs += 1;
    let d = fed.sign(d);
    assert_eq!(
        denied(&fed, &chain(vec![d.clone(), r]), &flow(&d)),
        Denial::WidenedDelegation { grant: grant_id(&d), dimension: Dimension::Retention }
    );
}

#[test]
fn delegation_from_a_grant_that_forbids_it() {
    let fed = Federation::new();
    let mut r = root();
    r.delegation_depth = 0;
    let r = fed.sign(r);
    let mut d = delegated(&r, "municipality");
    d.delegation_depth = 0;
    let d = fed.sign(d);
    assert_eq!(
        denied(&fed, &chain(vec![d.clone(), r]), &flow(&d)),
        Denial::WidenedDelegation { grant: grant_id(&d), dimension: Dimension::DelegationDepth }
    );
}

#[test]
fn chain_longer_than_the_limit() {
    let fed = Federation::new();
    let g = fed.sign(root());
    let nine = vec![g.clone(); 9];
    // BoundedVec refuses nine at construction; the limit also guards chains from elsewhere.
    assert!(BoundedVec::<_, 8>::new(nine).is_err());
}

#[test]
fn revoked_grant() {
    let fed = Federation::new();
    let g = fed.sign(root());
    let mut revs = RevocationSet::new();
    let at = Timestamp::from_secs(T0 + 500);
    let r = revoke(
        fed.key("tax-bureau"),
        &agency("tax-bureau"),
        grant_id(&g),
        at,
        RevocationReason::PURPOSE_ENDED,
        true,
        at,
    )
    .expect("signs");
    assert!(revs.insert(r.clone(), &fed).expect("valid"));
    assert!(!revs.insert(r, &fed).expect("valid"), "the same revocation twice is one");
    let d = decide(&flow(&g), &chain(vec![g.clone()]), &revs, &fed, &Usage::new()).expect_err("revoked");
    assert_eq!(d, Denial::Revoked { grant: grant_id(&g), at });
    // Before the revocation takes effect, the grant still holds.
    let mut early = flow(&g);
    early.at = Timestamp::from_secs(T0 + 499);
    assert!(decide(&early, &chain(vec![g]), &revs, &fed, &Usage::new()).is_ok());
}

#[test]
fn revoking_a_parent_revokes_the_delegated_grant() {
    let fed = Federation::new();
    let r = fed.sign(root());
    let d = fed.sign(delegated(&r, "municipality"));
    let mut revs = RevocationSet::new();
    let at = Timestamp::from_secs(T0);
    let rev =
        revoke(fed.key("tax-bureau"), &agency("tax-bureau"), grant_id(&r), at, RevocationReason::BREACH, false, at)
            .expect("signs");
    revs.insert(rev, &fed).expect("valid");
    let d_err = decide(&flow(&d), &chain(vec![d.clone(), r.clone()]), &revs, &fed, &Usage::new()).expect_err("revoked");
    assert_eq!(d_err, Denial::Revoked { grant: grant_id(&r), at });
}

#[test]
fn revocation_by_an_unrelated_agency_does_not_count() {
    let fed = Federation::new();
    let g = fed.sign(root());
    let mut revs = RevocationSet::new();
    let at = Timestamp::from_secs(T0);
    let rev = revoke(
        fed.key("statistics"),
        &agency("statistics"),
        grant_id(&g),
        at,
        RevocationReason::UNSPECIFIED,
        false,
        at,
    )
    .expect("signs");
    revs.insert(rev, &fed).expect("valid signature");
    assert!(decide(&flow(&g), &chain(vec![g]), &revs, &fed, &Usage::new()).is_ok());
}

#[test]
fn forged_revocation_is_refused() {
    let fed = Federation::new();
    let g = fed.sign(root());
    let at = Timestamp::from_secs(T0);
    // Signed by statistics but claiming to be from the tax bureau.
    let rev = fed
        .key("statistics")
        .sign_object(tally_wire::Revocation {
            issuer: agency("tax-bureau"),
            grant: grant_id(&g),
            effective_at: at,
            reason: RevocationReason::UNSPECIFIED,
            erase: false,
            issued_at: at,
        })
        .expect("signs");
    assert!(RevocationSet::new().insert(rev, &fed).is_err());
}

#[test]
fn exactly_at_not_before_is_valid_and_just_before_is_not() {
    let fed = Federation::new();
    let g = fed.sign(root());
    let mut f = flow(&g);
    f.at = Timestamp::from_secs(T0);
    assert!(decide(&f, &chain(vec![g.clone()]), &RevocationSet::new(), &fed, &Usage::new()).is_ok(), "inclusive");
    f.at = Timestamp::new(T0 - 1, 999_999_999).expect("valid");
    assert!(matches!(denied(&fed, &chain(vec![g]), &f), Denial::NotYetValid { .. }));
}

#[test]
fn exactly_at_not_after_is_expired_and_just_before_is_not() {
    let fed = Federation::new();
    let g = fed.sign(root());
    let end = T0 + 365 * 86_400;
    let mut f = flow(&g);
    f.at = Timestamp::from_secs(end);
    assert_eq!(
        denied(&fed, &chain(vec![g.clone()]), &f),
        Denial::Expired { grant: grant_id(&g), not_after: Timestamp::from_secs(end), at: f.at }
    );
    f.at = Timestamp::new(end - 1, 999_999_999).expect("valid");
    assert!(decide(&f, &chain(vec![g]), &RevocationSet::new(), &fed, &Usage::new()).is_ok(), "exclusive");
}

#[test]
fn unregistered_purpose() {
    let mut fed = Federation::new();
    fed.unregistered.push(purpose("social-security.eligibility"));
    let g = fed.sign(root());
    assert!(matches!(denied(&fed, &chain(vec![g.clone()]), &flow(&g)), Denial::UnregisteredPurpose { .. }));
}

#[test]
fn wrong_recipient() {
    let fed = Federation::new();
    let g = fed.sign(root());
    let mut f = flow(&g);
    f.recipient = agency("statistics");
    assert_eq!(
        denied(&fed, &chain(vec![g]), &f),
        Denial::WrongRecipient { expected: agency("social-security"), got: agency("statistics") }
    );
}

#[test]
fn wrong_sender() {
    let fed = Federation::new();
    let g = fed.sign(root());
    let mut f = flow(&g);
    f.sender = agency("municipality");
    assert_eq!(
        denied(&fed, &chain(vec![g]), &f),
        Denial::WrongSender { sender: agency("municipality"), permitted: vec![agency("tax-bureau")] }
    );
}

#[test]
fn direction_not_granted() {
    let fed = Federation::new();
    let mut g = root();
    g.direction = Direction::Push;
    let g = fed.sign(g);
    let mut f = flow(&g);
    f.direction = Direction::Pull;
    assert_eq!(
        denied(&fed, &chain(vec![g]), &f),
        Denial::DirectionNotGranted { requested: Direction::Pull, granted: Direction::Push }
    );
}

#[test]
fn purpose_not_covered() {
    let fed = Federation::new();
    let g = fed.sign(root());
    let mut f = flow(&g);
    f.purpose = purpose("social-securityx");
    assert!(matches!(denied(&fed, &chain(vec![g]), &f), Denial::PurposeNotCovered { .. }));
}

#[test]
fn category_not_covered() {
    let fed = Federation::new();
    let g = fed.sign(root());
    let mut f = flow(&g);
    f.category = category("health");
    assert!(matches!(denied(&fed, &chain(vec![g]), &f), Denial::CategoryNotCovered { .. }));
}

#[test]
fn last_packet_within_quota_then_the_first_beyond() {
    let fed = Federation::new();
    let mut g = root();
    g.quota.max_packets = Some(2);
    let g = fed.sign(g);
    let ch = chain(vec![g.clone()]);
    let revs = RevocationSet::new();
    let mut usage = Usage::new();
    let f = flow(&g);
    for i in 0..2u8 {
        let auth = decide(&f, &ch, &revs, &fed, &usage).expect("within quota");
        assert_eq!(auth.remaining_packets(), Some(1 - u64::from(i)));
        usage.apply(&auth, f.bytes, f.at);
    }
    assert_eq!(
        decide(&f, &ch, &revs, &fed, &usage),
        Err(Denial::QuotaExhausted { grant: grant_id(&g), kind: QuotaKind::Packets, used: 2, limit: 2 })
    );
}

#[test]
fn byte_quota_exactly_reached_then_exceeded() {
    let fed = Federation::new();
    let mut g = root();
    g.quota.max_bytes = Some(2000);
    let g = fed.sign(g);
    let ch = chain(vec![g.clone()]);
    let mut usage = Usage::new();
    let f = flow(&g);
    let auth = decide(&f, &ch, &RevocationSet::new(), &fed, &usage).expect("1000 of 2000");
    usage.apply(&auth, 1000, f.at);
    let auth = decide(&f, &ch, &RevocationSet::new(), &fed, &usage).expect("exactly 2000");
    assert_eq!(auth.remaining_bytes(), Some(0));
    usage.apply(&auth, 1000, f.at);
    let mut one = f.clone();
    one.bytes = 1;
    assert_eq!(
        decide(&one, &ch, &RevocationSet::new(), &fed, &usage),
        Err(Denial::QuotaExhausted { grant: grant_id(&g), kind: QuotaKind::Bytes, used: 2000, limit: 2000 })
    );
}

#[test]
fn parent_quota_binds_every_delegated_grant() {
    // Two delegations of one parent share the parent's quota.
    let fed = Federation::new();
    let mut r = root();
    r.quota.max_packets = Some(1);
    let r = fed.sign(r);
    let d1 = fed.sign(delegated(&r, "municipality"));
    let d2 = fed.sign(delegated(&r, "statistics"));
    let mut usage = Usage::new();
    let f1 = flow(&d1);
    let auth = decide(&f1, &chain(vec![d1.clone(), r.clone()]), &RevocationSet::new(), &fed, &usage).expect("first");
    usage.apply(&auth, f1.bytes, f1.at);
    assert_eq!(usage.of(&grant_id(&d2)).packets, 0, "the sibling is untouched");
    assert!(matches!(
        decide(&flow(&d2), &chain(vec![d2.clone(), r.clone()]), &RevocationSet::new(), &fed, &usage),
        Err(Denial::QuotaExhausted { grant, .. }) if grant == grant_id(&r)
    ));
}

#[test]
fn rate_limit_within_a_window_and_the_next_window() {
    let fed = Federation::new();
    let mut g = root();
    g.quota.rate = Some(Rate { packets: 1, period_secs: 100 });
    let g = fed.sign(g);
    let ch = chain(vec![g.clone()]);
    let mut usage = Usage::new();
    let mut f = flow(&g);
    f.at = Timestamp::from_secs(T0 + 1000); // window [T0+1000, T0+1100) since T0 is a multiple of 100
    let auth = decide(&f, &ch, &RevocationSet::new(), &fed, &usage).expect("first in window");
    usage.apply(&auth, f.bytes, f.at);
    f.at = Timestamp::from_secs(T0 + 1099);
    assert!(matches!(
        decide(&f, &ch, &RevocationSet::new(), &fed, &usage),
        Err(Denial::RateLimited { window_end, .. }) if window_end == Timestamp::from_secs(T0 + 1100)
    ));
    f.at = Timestamp::from_secs(T0 + 1100);
    assert!(decide(&f, &ch, &RevocationSet::new(), &fed, &usage).is_ok(), "a new window");
}

#[test]
fn a_released_reservation_leaves_no_trace() {
    // A node counts a packet when it accepts the offer, and takes the count
    // back if the transfer fails: the grant's usage is as if it never came.
    let fed = Federation::new();
    let mut g = root();
    g.quota.rate = Some(Rate { packets: 5, period_secs: 100 });
    let g = fed.sign(g);
    let f = flow(&g);
    let auth = allowed(&fed, &chain(vec![g.clone()]), &f);
    let mut usage = Usage::new();
    usage.apply(&auth, 1000, f.at);
    let once = usage.of(&grant_id(&g));
    usage.apply(&auth, 1000, f.at);
    usage.release(&auth, 1000, f.at);
    assert_eq!(usage.of(&grant_id(&g)), once, "apply then release is nothing");
    assert_eq!((once.packets, once.bytes, once.window_packets), (1, 1000, 1));
}

#[test]
fn usage_is_counted_per_grant_not_per_packet_id() {
    // The quota bypass of issue 13 item 5: a packet id first counted under
    // one grant was not counted again under another. Usage has no packet
    // ids at all now: each packet stored counts under the grants of its own chain.
    let fed = Federation::new();
    let a = fed.sign(root());
    let mut b = root();
    b.quota.max_packets = Some(2);
    b.note = Text::new("another grant").expect("valid");
    let b = fed.sign(b);
    let (fa, fb) = (flow(&a), flow(&b));
    let mut usage = Usage::new();
    for _ in 0..2 {
        let auth = allowed(&fed, &chain(vec![a.clone()]), &fa);
        usage.apply(&auth, fa.bytes, fa.at);
        let auth = allowed(&fed, &chain(vec![b.clone()]), &fb);
        usage.apply(&auth, fb.bytes, fb.at);
    }
    assert_eq!(usage.of(&grant_id(&a)).packets, 2);
    assert!(matches!(
        decide(&fb, &chain(vec![b.clone()]), &RevocationSet::new(), &fed, &usage),
        Err(Denial::QuotaExhausted { grant, kind: QuotaKind::Packets, used: 2, limit: 2 }) if grant == grant_id(&b)
    ));
    assert_eq!(usage.len(), 2, "one entry per grant, whatever the number of packets");
}

#[test]
fn a_root_grant_by_an_agency_that_does_not_control_its_category_is_refused() {
    // Issue 13 item 1: a member signs itself a root grant for another
    // agency's data, naming that agency as sender.
    let fed = Federation::new();
    let mut g = root();
    g.issuer = agency("statistics");
    g.grantee = agency("statistics");
    g.senders = BoundedVec::new(vec![agency("tax-bureau")]).expect("small");
    let g = fed.sign(g);
    let mut f = flow(&g);
    f.sender = agency("tax-bureau");
    f.direction = Direction::Pull;
    let d = denied(&fed, &chain(vec![g.clone()]), &f);
    assert_eq!(
        d,
        Denial::NotController {
            grant: grant_id(&g),
            category: category("income"),
            issuer: agency("statistics"),
            controller: Some(agency("tax-bureau")),
        }
    );
    assert_eq!(d.reason_code(), tally_wire::ReasonCode::NOT_CONTROLLER);
    assert!(
        d.to_string().contains("statistics does not control category income (its controller is tax-bureau)"),
        "{d}"
    );
}

#[test]
fn a_category_without_a_controller_cannot_be_granted() {
    let fed = Federation::new();
    let mut g = root();
    g.categories = BoundedVec::new(vec![category("vehicles")]).expect("small");
    let g = fed.sign(g);
    let mut f = flow(&g);
    f.category = category("vehicles.registration");
    let d = denied(&fed, &chain(vec![g.clone()]), &f);
    assert!(matches!(&d, Denial::NotController { controller: None, .. }), "{d:?}");
    assert!(d.to_string().contains("no registered category covers it"), "{d}");
}

#[test]
fn a_subcategory_with_its_own_controller_is_not_the_parents_to_grant() {
    // The tax bureau controls `income`, but `income.benefits` is the social-security bureau's.
    let fed = Federation::new();
    let g = fed.sign(root());
    let mut f = flow(&g);
    f.category = category("income.benefits.housing");
    let d = denied(&fed, &chain(vec![g.clone()]), &f);
    assert_eq!(
        d,
        Denial::NotController {
            grant: grant_id(&g),
            category: category("income.benefits.housing"),
            issuer: agency("tax-bureau"),
            controller: Some(agency("social-security")),
        }
    );
    f.category = category("income.annual");
    assert!(decide(&f, &chain(vec![g]), &RevocationSet::new(), &fed, &Usage::new()).is_ok());
}

#[test]
fn a_delegated_chain_is_judged_by_its_roots_issuer() {
    // The grantee may delegate (it is not a controller): the root must be the controller's.
    let fed = Federation::new();
    let r = fed.sign(root());
    let d = fed.sign(delegated(&r, "municipality"));
    assert!(decide(&flow(&d), &chain(vec![d.clone(), r]), &RevocationSet::new(), &fed, &Usage::new()).is_ok());
}

#[test]
fn may_revoke_only_the_issuer_of_the_grant_or_an_ancestor() {
    let fed = Federation::new();
    let r = fed.sign(root());
    let d = fed.sign(delegated(&r, "municipality"));
    let ch = tally_grant::VerifiedChain::verify(&chain(vec![d.clone(), r.clone()]), &fed).expect("verifies");
    assert!(ch.may_revoke(&grant_id(&d), &agency("social-security")), "the delegated grant's issuer");
    assert!(ch.may_revoke(&grant_id(&d), &agency("tax-bureau")), "the root's issuer, an ancestor");
    assert!(ch.may_revoke(&grant_id(&r), &agency("tax-bureau")), "the root's own issuer");
    assert!(!ch.may_revoke(&grant_id(&r), &agency("social-security")), "a delegate below may not revoke the root");
    assert!(!ch.may_revoke(&grant_id(&r), &agency("municipality")), "nor may the leaf's grantee");
    assert!(!ch.may_revoke(&GrantId([9; 32]), &agency("tax-bureau")), "a grant outside the chain");
}

#[test]
fn every_denial_has_a_distinct_meaningful_reason_code() {
    use tally_wire::ReasonCode as R;
    let g = GrantId([0; 32]);
    let t = Timestamp::EPOCH;
    let cases = [
        (Denial::EmptyChain, R::UNKNOWN_GRANT),
        (Denial::ChainTooLong { depth: 9, limit: 8 }, R::CHAIN_TOO_LONG),
        (Denial::BadSignature { grant: g, issuer: agency("a") }, R::BAD_GRANT_SIGNATURE),
        (Denial::UnknownIssuerKey { grant: g, issuer: agency("a") }, R::UNKNOWN_ISSUER_KEY),
        (Denial::WidenedDelegation { grant: g, dimension: Dimension::Rate }, R::WIDENED_DELEGATION),
        (Denial::Revoked { grant: g, at: t }, R::GRANT_REVOKED),
        (Denial::NotYetValid { grant: g, not_before: t, at: t }, R::GRANT_NOT_YET_VALID),
        (Denial::Expired { grant: g, not_after: t, at: t }, R::GRANT_EXPIRED),
        (Denial::QuotaExhausted { grant: g, kind: QuotaKind::Bytes, used: 1, limit: 1 }, R::QUOTA_EXHAUSTED),
        (Denial::RateLimited { grant: g, packets: 1, period_secs: 1, window_end: t }, R::RATE_LIMITED),
    ];
    for (denial, code) in cases {
        assert_eq!(denial.reason_code(), code, "{denial}");
    }
}

#[test]
fn cached_decision_equals_the_uncached_one_and_skips_verification() {
    let fed = Federation::new();
    let r = fed.sign(root());
    let d = fed.sign(delegated(&r, "municipality"));
    let ch = chain(vec![d.clone(), r]);
    let mut cache = ChainCache::new(1, 16);
    let f = flow(&d);
    let uncached = decide(&f, &ch, &RevocationSet::new(), &fed, &Usage::new());
    assert_eq!(cache.decide(&f, &ch, &RevocationSet::new(), &fed, 1, &Usage::new()), uncached);
    assert_eq!(cache.len(), 1);
    // A cached chain is judged on time, revocations and usage like any other.
    let mut late = f.clone();
    late.at = Timestamp::from_secs(T0 + 400 * 86_400);
    assert!(matches!(
        cache.decide(&late, &ch, &RevocationSet::new(), &fed, 1, &Usage::new()),
        Err(Denial::Expired { .. })
    ));
    // A new directory serial empties the cache.
    let _ = cache.decide(&f, &ch, &RevocationSet::new(), &fed, 2, &Usage::new());
    assert_eq!(cache.len(), 1);
}

#[test]
fn usage_takes_memory_in_grants_not_in_packets() {
    // Issue 14, fix 3: counting a million packets under one chain leaves
    // one record per grant of the chain, whatever the number of packets.
    let fed = Federation::new();
    let g = fed.sign(root());
    let f = flow(&g);
    let auth = allowed(&fed, &chain(vec![g.clone()]), &f);
    let mut usage = Usage::new();
    for _ in 0..1_000_000u32 {
        usage.apply(&auth, 10, f.at);
    }
    assert_eq!(usage.len(), 1);
    let u = usage.of(&grant_id(&g));
    assert_eq!((u.packets, u.bytes), (1_000_000, 10_000_000));
    let encoded = tally_wire::to_bytes(&usage);
    assert!(encoded.len() < 64, "{} bytes for a million packets", encoded.len());
}
