//! The audit's checks of what the logs say happened: receipts on both
//! sides, one receipt per packet, times that do not run backwards, grants
//! (rooted at the controller, not revoked, within quotas) for every
//! accepted flow, and erasures that a revocation obliged.

use std::collections::{BTreeMap, HashMap};
use std::time::Duration;

use tally_envelope::IdentityVerifier;
use tally_grant::{
    Denial, Flow, RevocationSet, Usage, VerifiedChain, VerifiedDirectory, decide, effective_from, grant_id,
};
use tally_receipt::merkle::root;
use tally_receipt::{bundled_entry, bundled_receipt, verify_bundle};
use tally_wire::{
    AgencyId, BoundedVec, DeletionReason, DeletionRecord, Digest, Direction, Grant, GrantChain, GrantId, LogEntry,
    Outcome, PacketId, Purpose, Receipt, ReceiptBundle, Revocation, Signed, Timestamp,
};

use super::{Finding, FindingKind, FlowSummary, Parsed};

/// How far a time its own agency chose may run back along a log before it
/// is a finding (clock adjustments), and how far ahead of a node's clock a
/// revocation may be dated and still be kept.
pub const CLOCK_TOLERANCE: Duration = Duration::from_secs(300);

/// An accepted receipt a recipient issued, with when the audit judges it.
struct Accepted {
    receipt: Receipt,
    /// `max(received_at, the latest time the recipient itself chose before it in its log)`:
    /// a backdated `received_at` cannot move a flow before what its own log already showed.
    judged_at: Timestamp,
    /// The recipient's log, and the receipt's position in it.
    log: usize,
    position: usize,
}

/// A receipt an agency issued, as its log holds it.
#[derive(Clone)]
struct Issued {
    receipt: Receipt,
    /// The entry's encoding (`ReceiptIssued` or `ReceiptLogged`): what the sender's copy must match.
    entry: Vec<u8>,
    /// The receipt with its own signature; `None` when it is batch-signed
    /// (vouched for by the checkpoint of the log that holds it).
    signed: Option<Signed<Receipt>>,
    /// The log that holds it.
    log: usize,
}

/// A receipt an agency holds from the peer that issued it.
#[derive(Clone)]
struct Received {
    receipt: Receipt,
    /// The entry of the recipient's log it stands for, encoded.
    entry: Vec<u8>,
    held: Held,
}

/// How a sender holds a peer's receipt.
#[derive(Clone)]
enum Held {
    /// Signed on its own, without a bundle (`ReceiptReceived`, written by older nodes).
    Signed(Signed<Receipt>),
    /// In its bundle (`BundleReceived`).
    Bundle(ReceiptBundle),
}

/// What the logs hold, gathered once.
#[derive(Default)]
struct Gathered {
    issued: BTreeMap<(AgencyId, PacketId), Issued>,
    received: BTreeMap<(AgencyId, PacketId), Received>,
    /// Every bundle in every log, with its holder: each carries a checkpoint
    /// its recipient signed (a resend's too, and duplicates').
    bundles: Vec<(AgencyId, ReceiptBundle)>,
    accepted: Vec<Accepted>,
    grants: HashMap<GrantId, Signed<Grant>>,
    revocations: Vec<Signed<Revocation>>,
    /// Where each log holds each revocation (its encoding): (log, position).
    revocation_positions: HashMap<Vec<u8>, Vec<(usize, usize)>>,
    deletions: Vec<(AgencyId, DeletionRecord)>,
    deletion_counts: BTreeMap<AgencyId, u64>,
}

/// The time an entry shows: a lower bound on when it was logged, and
/// whether the log's own agency chose it.
fn shown_time(entry: &LogEntry, agency: &AgencyId) -> Option<(Timestamp, bool)> {
    match entry {
        LogEntry::ReceiptIssued(r) => Some((r.unverified().received_at, true)),
        LogEntry::ReceiptLogged(r) => Some((r.value().received_at, true)),
        LogEntry::ReceiptReceived(r) => Some((r.unverified().received_at, false)),
        LogEntry::BundleReceived(b) => Some((bundled_receipt(&b.receipt).received_at, false)),
        LogEntry::GrantIssued(g) => Some((g.unverified().issued_at, true)),
        LogEntry::GrantReceived(g) => Some((g.unverified().issued_at, false)),
        LogEntry::Revocation(r) => Some((r.unverified().issued_at, &r.unverified().issuer == agency)),
        LogEntry::Deletion(d) => Some((d.value().erased_at, true)),
    }
}

/// The receipt an entry issues, if it is one this log's agency issued.
fn issued(entry: &LogEntry, log: usize) -> Option<Issued> {
    let (receipt, signed) = match entry {
        LogEntry::ReceiptIssued(r) => (r.unverified().clone(), Some(r.clone())),
        LogEntry::ReceiptLogged(r) => (r.value().clone(), None),
        _ => return None,
    };
    Some(Issued { receipt, entry: tally_wire::to_bytes(entry), signed, log })
}

/// The receipt an entry holds from a peer, if it is one.
fn received(entry: &LogEntry) -> Option<Received> {
    Some(match entry {
        LogEntry::ReceiptReceived(r) => Received {
            receipt: r.unverified().clone(),
            entry: tally_wire::to_bytes(&LogEntry::ReceiptIssued(r.clone())),
            held: Held::Signed(r.clone()),
        },
        LogEntry::BundleReceived(b) => Received {
            receipt: bundled_receipt(&b.receipt).clone(),
            entry: tally_wire::to_bytes(&bundled_entry(&b.receipt)),
            held: Held::Bundle(b.clone()),
        },
        _ => return None,
    })
}

fn gather(logs: &[Parsed], findings: &mut Vec<Finding>) -> Gathered {
    let mut g = Gathered::default();
    for (log_index, log) in logs.iter().enumerate() {
        let agency = &log.agency;
        let (mut own_clock, mut known) = (Timestamp::EPOCH, Timestamp::EPOCH);
        for (index, entry) in log.entries.iter().enumerate() {
            // Only times this log's agency chose move its clock, and the
            // issue times of revocations it kept (a node keeps none dated
            // ahead of its own clock): a peer cannot date a grant or receipt
            // ahead to make honest flows look late.
            let before = known;
            if let LogEntry::Revocation(r) = entry {
                known = known.max(r.unverified().issued_at);
            }
            if let Some((t, true)) = shown_time(entry, agency) {
                // Within the tolerance it is a clock adjustment, not a finding.
                if t.checked_add(CLOCK_TOLERANCE).is_some_and(|late| late < own_clock) {
                    findings.push(Finding::new(
                            FindingKind::TimeRegression,
                            agency,
                            format!(
                                "entry {index} claims {}, but an earlier entry of {agency}'s own claims {}: a time {agency} chose was set back",
                                tally_grant::rfc3339(t),
                                tally_grant::rfc3339(own_clock)
                            ),
                        ));
                }
                own_clock = own_clock.max(t);
                known = known.max(t);
            }
            if let Some(r) = issued(entry, log_index) {
                let key = (agency.clone(), r.receipt.packet_id);
                if let Some(first) = g.issued.get(&key) {
                    if first.entry != r.entry {
                        findings.push(Finding::new(
                            FindingKind::DuplicatePacketId,
                            agency,
                            format!("{agency}'s log holds two different receipts it issued for packet {}", key.1),
                        ));
                    }
                    continue;
                }
                if matches!(r.receipt.outcome, Outcome::Accepted { .. }) {
                    let judged_at = r.receipt.received_at.max(before);
                    g.accepted.push(Accepted {
                        receipt: r.receipt.clone(),
                        judged_at,
                        log: log_index,
                        position: index,
                    });
                }
                g.issued.insert(key, r);
                continue;
            }
            if let LogEntry::BundleReceived(b) = entry {
                g.bundles.push((agency.clone(), b.clone()));
            }
            if let Some(r) = received(entry) {
                let key = (agency.clone(), r.receipt.packet_id);
                match g.received.get(&key) {
                    Some(first) if first.entry != r.entry => findings.push(Finding::new(
                        FindingKind::DuplicatePacketId,
                        agency,
                        format!("{agency}'s log holds two different receipts it received for packet {}", key.1),
                    )),
                    Some(_) => {}
                    None => {
                        g.received.insert(key, r);
                    }
                }
                continue;
            }
            match entry {
                LogEntry::GrantIssued(grant) | LogEntry::GrantReceived(grant) => {
                    g.grants.insert(grant_id(grant), grant.clone());
                }
                LogEntry::Revocation(r) => {
                    g.revocation_positions.entry(r.encode()).or_default().push((log_index, index));
                    g.revocations.push(r.clone());
                }
                LogEntry::Deletion(d) => {
                    *g.deletion_counts.entry(agency.clone()).or_default() += 1;
                    g.deletions.push((agency.clone(), d.value().clone()));
                }
                // The receipts, taken above.
                LogEntry::ReceiptIssued(_)
                | LogEntry::ReceiptLogged(_)
                | LogEntry::ReceiptReceived(_)
                | LogEntry::BundleReceived(_) => {}
            }
        }
    }
    g
}

/// What the checks of this module saw, besides their findings.
pub(super) struct Checked {
    pub(super) flows: Vec<FlowSummary>,
    pub(super) deletion_counts: BTreeMap<AgencyId, u64>,
    pub(super) deletions: Vec<(AgencyId, DeletionRecord)>,
    pub(super) grants: Vec<Signed<Grant>>,
    pub(super) revocations: Vec<Signed<Revocation>>,
    /// Receipts matched against both logs.
    pub(super) both_sides: u64,
    /// Receipts whose other side's log was not audited, and whose logs those are.
    pub(super) one_side: u64,
    pub(super) unaudited: std::collections::BTreeSet<AgencyId>,
    /// Bundles whose checkpoint is newer than the recipient's audited log,
    /// which could not be checked against it.
    pub(super) unchecked: u64,
}

/// Runs every check of this module.
pub(super) fn check(directory: &VerifiedDirectory, logs: &[Parsed], findings: &mut Vec<Finding>) -> Checked {
    let audited: Vec<&AgencyId> = logs.iter().map(|l| &l.agency).collect();
    let (mut both_sides, mut one_side, mut unaudited) = (0u64, 0u64, std::collections::BTreeSet::new());
    let g = gather(logs, findings);
    let key_of = |agency: &AgencyId| directory.agency(agency).map(|a| a.identity_key);
    let signature_verifies = |r: &Signed<Receipt>| {
        key_of(&r.unverified().recipient)
            .and_then(|k| IdentityVerifier::new(&k).ok())
            .is_some_and(|k| k.verify_object(r).is_ok())
    };
    // A batch-signed receipt is vouched for by the checkpoint of the log
    // that holds it: it verifies if that log verified against its checkpoint.
    let issued_verifies = |r: &Issued| match &r.signed {
        Some(signed) => signature_verifies(signed),
        None => logs[r.log].verified,
    };
    let mut flows: BTreeMap<(AgencyId, AgencyId, Purpose), (u64, u64)> = BTreeMap::new();
    let mut bad = std::collections::HashSet::new();
    for ((agency, packet), r) in &g.issued {
        let body = &r.receipt;
        if &body.recipient != agency {
            findings.push(Finding::new(
                FindingKind::BadSignature,
                agency,
                format!(
                    "{agency} logged a receipt for {packet} naming {} as recipient: a node signs only its own receipts",
                    body.recipient
                ),
            ));
            bad.insert(*packet);
            continue;
        }
        if !issued_verifies(r) {
            let why = if r.signed.is_some() {
                "does not verify"
            } else {
                "is batch-signed in a log that does not verify against its checkpoint"
            };
            findings.push(Finding::new(FindingKind::BadSignature, agency, format!("receipt for {packet} {why}")));
            bad.insert(*packet);
            continue;
        }
        let counts = flows.entry((body.sender.clone(), body.recipient.clone(), body.purpose.clone())).or_default();
        match body.outcome {
            Outcome::Accepted { .. } => counts.0 += 1,
            Outcome::Rejected { .. } => counts.1 += 1,
        }
        if !audited.contains(&&body.sender) {
            one_side += 1;
            unaudited.insert(body.sender.clone());
        } else {
            both_sides += 1;
            match g.received.get(&(body.sender.clone(), *packet)) {
                None => findings.push(Finding::new(
                    FindingKind::MissingAtSender,
                    &body.sender,
                    format!(
                        "{}'s receipt for {packet} ({}) is not in {}'s log",
                        body.recipient, body.purpose, body.sender
                    ),
                )),
                Some(twin) if twin.entry != r.entry => findings.push(Finding::new(
                    FindingKind::ReceiptsDiffer,
                    agency,
                    format!("{} and {} hold different receipts for {packet}", body.sender, body.recipient),
                )),
                Some(_) => {}
            }
        }
    }
    let mut unchecked = 0;
    for ((agency, packet), r) in &g.received {
        let recipient = &r.receipt.recipient;
        let verifies = match &r.held {
            Held::Signed(signed) => signature_verifies(signed),
            Held::Bundle(bundle) => verify_bundle(bundle, key_of).is_ok(),
        };
        if !verifies {
            // The holder logged a receipt its named recipient never issued: the holder's finding alone.
            findings.push(Finding::new(
                FindingKind::BadSignature,
                agency,
                format!("{agency} holds a receipt for {packet} that does not verify under {recipient}'s key"),
            ));
            continue;
        }
        let recipient_log = logs.iter().find(|l| &l.agency == recipient);
        let after_export = match (&r.held, recipient_log) {
            (Held::Bundle(b), Some(log)) => b.index >= log.size,
            _ => false,
        };
        if recipient_log.is_none() {
            one_side += 1;
            unaudited.insert(recipient.clone());
        } else if after_export {
            // Issued after the recipient's log was exported: nothing to match it
            // against (counted with the bundles whose checkpoint is newer than the export).
        } else if !g.issued.contains_key(&(recipient.clone(), *packet)) {
            findings.push(Finding::new(
                FindingKind::MissingAtRecipient,
                recipient,
                format!("{agency} holds {recipient}'s receipt for {packet}, but it is not in {recipient}'s log"),
            ));
        }
    }
    check_bundle_checkpoints(logs, &g, key_of, &mut unchecked, findings);
    check_grants(directory, &g, &bad, findings);
    check_erasures(directory, &g, findings);
    let flows = flows
        .into_iter()
        .map(|((sender, recipient, purpose), (accepted, rejected))| FlowSummary {
            sender,
            recipient,
            purpose,
            accepted,
            rejected,
        })
        .collect();
    let mut grants: Vec<_> = g.grants.values().cloned().collect();
    grants.sort_by_key(|grant| grant.unverified().issued_at);
    Checked {
        flows,
        deletion_counts: g.deletion_counts,
        deletions: g.deletions,
        grants,
        revocations: g.revocations,
        both_sides,
        one_side,
        unaudited,
        unchecked,
    }
}

/// The checkpoints the senders hold in their bundles, each signed by the
/// bundle's recipient: one root per (recipient, size), and each a prefix
/// of the recipient's log when that log is audited and verified. A
/// checkpoint larger than the recipient's export is counted as not checked.
fn check_bundle_checkpoints(
    logs: &[Parsed],
    g: &Gathered,
    key_of: impl Fn(&AgencyId) -> Option<tally_wire::IdentityPublicKey> + Copy,
    unchecked: &mut u64,
    findings: &mut Vec<Finding>,
) {
    let mut seen: BTreeMap<(AgencyId, u64), (Digest, AgencyId, PacketId)> = BTreeMap::new();
    for (holder, bundle) in &g.bundles {
        let Ok(verified) = verify_bundle(bundle, key_of) else { continue };
        let (recipient, packet, c) = (&verified.receipt.recipient, verified.receipt.packet_id, &verified.checkpoint);
        match seen.get(&(recipient.clone(), c.size)) {
            Some((root, other_holder, other)) if *root != c.root => findings.push(Finding::new(
                FindingKind::Fork,
                recipient,
                format!(
                    "{recipient} signed two checkpoints of {} entries with different roots: in the bundle {holder} holds for {packet}, and in the one {other_holder} holds for {other}",
                    c.size
                ),
            )),
            Some(_) => {}
            None => {
                seen.insert((recipient.clone(), c.size), (c.root, holder.clone(), packet));
            }
        }
        let Some(log) = logs.iter().find(|l| &l.agency == recipient && l.verified) else { continue };
        if c.size > log.size {
            *unchecked += 1;
        } else if root(&log.tree, c.size).ok() != Some(c.root) {
            findings.push(Finding::new(
                FindingKind::Fork,
                recipient,
                format!(
                    "the checkpoint of {} entries in the bundle {holder} holds for {packet}, signed by {recipient}, is not a prefix of {recipient}'s log",
                    c.size
                ),
            ));
        }
    }
}

/// The chain of `leaf` from the grants in the logs, leaf first.
fn chain_of(grants: &HashMap<GrantId, Signed<Grant>>, leaf: GrantId) -> Result<GrantChain, String> {
    let mut chain = Vec::new();
    let mut next = Some(leaf);
    while let Some(id) = next {
        let g = grants.get(&id).ok_or_else(|| format!("grant {id} is in no audited log"))?;
        next = g.unverified().parent;
        chain.push(g.clone());
        if chain.len() > tally_wire::limits::MAX_GRANT_CHAIN_DEPTH {
            return Err("the grant chain is too long".into());
        }
    }
    BoundedVec::new(chain).map_err(|e| e.to_string())
}

/// Every accepted flow, in the order it was judged, against its chain,
/// the revocations and the quotas used by the flows before it.
fn check_grants(
    directory: &VerifiedDirectory,
    g: &Gathered,
    bad: &std::collections::HashSet<PacketId>,
    findings: &mut Vec<Finding>,
) {
    // A revocation the recipient's log holds counts for the flows it logged
    // after it; one it does not hold counts from its effective time.
    let revocations_for = |a: &Accepted| {
        let mut set = RevocationSet::new();
        for r in &g.revocations {
            let positions = &g.revocation_positions[&r.encode()];
            let in_log: Vec<usize> = positions.iter().filter(|(l, _)| *l == a.log).map(|(_, p)| *p).collect();
            if in_log.is_empty() || in_log.iter().any(|p| *p < a.position) {
                let _ = set.insert(r.clone(), directory);
            }
        }
        set
    };
    let mut accepted: Vec<&Accepted> = g.accepted.iter().filter(|a| !bad.contains(&a.receipt.packet_id)).collect();
    accepted.sort_by_key(|a| a.judged_at);
    let mut usage = Usage::new();
    for a in accepted {
        let r = &a.receipt;
        let finding = |kind, why: String| {
            Finding::new(
                kind,
                &r.recipient,
                format!("{} from {} ({}, {}): {why}", r.packet_id, r.sender, r.purpose, r.category),
            )
        };
        let chain = match chain_of(&g.grants, r.grant) {
            Ok(chain) => chain,
            Err(why) => {
                findings.push(finding(FindingKind::NoValidGrant, why));
                continue;
            }
        };
        // A receipt does not say push or pull: the flow is lawful if the grant allows either.
        let flow = |direction| Flow {
            grant: r.grant,
            sender: r.sender.clone(),
            recipient: r.recipient.clone(),
            purpose: r.purpose.clone(),
            category: r.category.clone(),
            bytes: r.payload_len,
            direction,
            // A receipt does not name the packet's suite: the grant's least
            // suite level is the recipient's check, not the auditor's (spec/audit.md).
            suite: None,
            at: a.judged_at,
        };
        let revocations = revocations_for(a);
        let decision = match decide(&flow(Direction::Push), &chain, &revocations, directory, &usage) {
            Err(Denial::DirectionNotGranted { .. }) => {
                decide(&flow(Direction::Pull), &chain, &revocations, directory, &usage)
            }
            other => other,
        };
        match decision {
            Ok(auth) => usage.apply(&auth, r.payload_len, a.judged_at),
            Err(d @ (Denial::QuotaExhausted { .. } | Denial::RateLimited { .. })) => {
                findings.push(finding(FindingKind::QuotaExceeded, d.to_string()));
            }
            Err(d) => findings.push(finding(FindingKind::NoValidGrant, d.to_string())),
        }
    }
}

/// Every deletion record that says "revoked with erasure" must follow a
/// revocation, by someone with authority over the grant, that obliged it.
fn check_erasures(directory: &VerifiedDirectory, g: &Gathered, findings: &mut Vec<Finding>) {
    for (agency, d) in &g.deletions {
        if d.reason != DeletionReason::REVOKED_WITH_ERASURE {
            continue;
        }
        let obliged = chain_of(&g.grants, d.grant)
            .ok()
            .and_then(|c| VerifiedChain::verify(&c, directory).ok())
            .is_some_and(|chain| {
                g.revocations.iter().map(Signed::unverified).any(|r| {
                    let erase = r.erase || chain.links().any(|(id, grant)| *id == r.grant && grant.erase_on_revoke);
                    erase && chain.may_revoke(&r.grant, &r.issuer) && effective_from(r) <= d.erased_at
                })
            });
        if !obliged {
            findings.push(Finding::new(
                FindingKind::ErasureWithoutRevocation,
                agency,
                format!(
                    "{agency} erased {} packet(s) of grant {} at {} as revoked with erasure, but no revocation by an issuer of its chain obliged it by then",
                    d.packets.len(),
                    d.grant,
                    tally_grant::rfc3339(d.erased_at)
                ),
            ));
        }
    }
}
