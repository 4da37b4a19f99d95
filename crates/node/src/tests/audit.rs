//! The audit against logs that show the attacks of issue 13: each log is
//! built and signed with the keys of real node directories (the node
//! fixture), as a node that misbehaves, or is attacked, would write it.

use std::sync::Arc;

use tally_grant::{GrantDocument, grant_id};
use tally_receipt::{Log, LogStore, MemoryStore};
use tally_wire::{
    AgencyId, BoundedVec, DataCategory, DeletionReason, DeletionRecord, Digest, Encoded, Grant, LogEntry, Outcome,
    PacketId, Purpose, ReasonCode, Receipt, RevocationReason, Signed, Timestamp,
};

use crate::tests::fixture::{Fixture, agency};
use crate::{AgencyKeys, VerifiedDirectory, hex, load_directory};
use tally_audit::{AuditReport, FindingKind, audit};
use tally_audit::{LOG_EXPORT_FORMAT, LogExport};

struct World {
    fed: Fixture,
    directory: VerifiedDirectory,
}

impl World {
    fn new() -> Self {
        let fed = Fixture::new(&["tax-bureau", "social-security", "statistics"]);
        let operator = std::fs::read_to_string(fed.root.path().join("operator/operator.pub")).expect("key");
        let directory =
            load_directory(&fed.root.path().join("directory.tally"), &operator.trim().parse().expect("hex"))
                .expect("directory");
        Self { fed, directory }
    }

    fn keys(&self, a: &str) -> AgencyKeys {
        AgencyKeys::load(&self.fed.dir(a), &agency(a)).expect("keys")
    }

    /// A grant by `issuer` to `grantee` for `categories`, signed.
    fn grant(&self, issuer: &str, grantee: &str, categories: &[&str], extra: &str) -> Signed<Grant> {
        let list = categories.iter().map(|c| format!("\"{c}\"")).collect::<Vec<_>>().join(", ");
        let doc = GrantDocument::from_toml(&format!(
            "grantee = \"{grantee}\"\npurposes = [\"social-security.eligibility\"]\ncategories = [{list}]\n\
             not_before = \"2020-01-01T00:00:00Z\"\nnot_after = \"2100-01-01T00:00:00Z\"\ndirection = \"both\"\n\
             retention = \"90days\"\n{extra}"
        ))
        .expect("document");
        tally_grant::issue_grant(&self.keys(issuer).identity, &agency(issuer), &doc, at(T0)).expect("issues")
    }

    /// An accepted receipt `recipient` signs for a packet from `sender`.
    fn receipt(
        &self,
        recipient: &str,
        sender: &str,
        grant: &Signed<Grant>,
        category: &str,
        n: u8,
        t: u64,
    ) -> Signed<Receipt> {
        self.signed(
            recipient,
            Receipt {
                packet_id: PacketId([n; 16]),
                header_digest: Digest([n; 32]),
                grant: grant_id(grant),
                purpose: Purpose::new("social-security.eligibility").expect("valid"),
                category: DataCategory::new(category).expect("valid"),
                payload_len: 100,
                sender: agency(sender),
                recipient: agency(recipient),
                received_at: at(t),
                outcome: Outcome::Accepted {
                    ciphertext_fingerprint: Digest([1; 32]),
                    content_commitment: Digest([2; 32]),
                },
            },
        )
    }

    fn signed(&self, signer: &str, receipt: Receipt) -> Signed<Receipt> {
        self.keys(signer).identity.sign_object(receipt).expect("signs")
    }

    /// `agency`'s log of `entries`, exported with a checkpoint it signed.
    fn export(&self, a: &str, entries: Vec<LogEntry>) -> LogExport {
        let log = Log::new(MemoryStore::new(), &agency(a), Arc::clone(&self.keys(a).identity));
        log.append(&entries).expect("appends");
        let (checkpoint, note) = log.checkpoint().expect("checkpoint");
        let entries = (0..checkpoint.size).map(|i| hex::encode(&log.store().entry(i).expect("entry"))).collect();
        LogExport { format: LOG_EXPORT_FORMAT.into(), agency: agency(a), checkpoint: note, entries }
    }

    fn audit(&self, exports: &[LogExport]) -> AuditReport {
        audit(&self.directory, exports, &[])
    }
}

const T0: u64 = 1_800_000_000;

fn at(secs: u64) -> Timestamp {
    Timestamp::from_secs(secs)
}

fn kinds(report: &AuditReport) -> Vec<(FindingKind, AgencyId)> {
    report.findings.iter().map(|f| (f.kind, f.agency.clone())).collect()
}

fn has(report: &AuditReport, kind: FindingKind, text: &str) -> bool {
    report.findings.iter().any(|f| f.kind == kind && f.detail.contains(text))
}

#[test]
fn a_clean_exchange_audits_clean() {
    let w = World::new();
    let g = w.grant("tax-bureau", "social-security", &["income"], "");
    let r = w.receipt("social-security", "tax-bureau", &g, "income.annual", 1, T0 + 10);
    let tax = w.export("tax-bureau", vec![LogEntry::GrantIssued(g.clone()), LogEntry::ReceiptReceived(r.clone())]);
    let social = w.export("social-security", vec![LogEntry::GrantReceived(g), LogEntry::ReceiptIssued(r)]);
    let report = w.audit(&[tax, social]);
    assert!(report.findings.is_empty(), "{:?}", report.findings);
}

#[test]
fn data_pulled_under_a_root_grant_its_issuer_does_not_control_is_a_finding() {
    // Issue 13 items 1 and 16: after the exfiltration the audit exited 0 with no findings.
    let w = World::new();
    let g = w.grant("statistics", "statistics", &["income"], "senders = [\"tax-bureau\"]");
    let r = w.receipt("statistics", "tax-bureau", &g, "income.annual", 1, T0 + 10);
    let tax = w.export("tax-bureau", vec![LogEntry::ReceiptReceived(r.clone())]);
    let stats = w.export("statistics", vec![LogEntry::GrantIssued(g), LogEntry::ReceiptIssued(r)]);
    let report = w.audit(&[tax, stats]);
    assert!(
        has(&report, FindingKind::NoValidGrant, "statistics does not control category income"),
        "{:?}",
        report.findings
    );
}

#[test]
fn the_receipts_own_category_is_checked_not_the_grants_first() {
    // Issue 13 item 16: the audit checked only a grant's first category.
    let w = World::new();
    let g = w.grant("tax-bureau", "social-security", &["income"], "");
    let r = w.receipt("social-security", "tax-bureau", &g, "health.records", 1, T0 + 10);
    let social = w.export("social-security", vec![LogEntry::GrantReceived(g), LogEntry::ReceiptIssued(r)]);
    let report = w.audit(&[social]);
    assert!(has(&report, FindingKind::NoValidGrant, "category health.records is not covered"), "{:?}", report.findings);
}

#[test]
fn flows_beyond_a_quota_are_a_finding() {
    // Issue 13 items 4, 5 and 16: the audit never checked quotas.
    let w = World::new();
    let g = w.grant("tax-bureau", "social-security", &["income"], "[quota]\nmax_packets = 2");
    let mut entries = vec![LogEntry::GrantReceived(g.clone())];
    for n in 1..=3 {
        entries.push(LogEntry::ReceiptIssued(w.receipt(
            "social-security",
            "tax-bureau",
            &g,
            "income.annual",
            n,
            T0 + u64::from(n),
        )));
    }
    let report = w.audit(&[w.export("social-security", entries)]);
    assert_eq!(kinds(&report), vec![(FindingKind::QuotaExceeded, agency("social-security"))], "{:?}", report.findings);
    assert!(has(&report, FindingKind::QuotaExceeded, &PacketId([3; 16]).to_string()), "the third packet");
}

#[test]
fn a_second_receipt_for_one_packet_id_does_not_hide_the_first() {
    // Issue 13 item 16: a later entry with the same packet id overwrote an earlier one.
    let w = World::new();
    let g = w.grant("tax-bureau", "social-security", &["income"], "");
    let first = w.receipt("social-security", "tax-bureau", &g, "health", 1, T0 + 10);
    let second = w.receipt("social-security", "tax-bureau", &g, "income.annual", 1, T0 + 11);
    let social = w.export(
        "social-security",
        vec![LogEntry::GrantReceived(g), LogEntry::ReceiptIssued(first), LogEntry::ReceiptIssued(second)],
    );
    let report = w.audit(&[social]);
    assert!(has(&report, FindingKind::DuplicatePacketId, "two different receipts"), "{:?}", report.findings);
    assert!(has(&report, FindingKind::NoValidGrant, "category health is not covered"), "the first one is still judged");
}

#[test]
fn a_backdated_received_at_does_not_move_a_flow_before_a_revocation_the_log_held() {
    // Issue 13 item 16: the audit trusted the party-chosen received_at.
    let w = World::new();
    let g = w.grant("tax-bureau", "social-security", &["income"], "");
    let tax = w.keys("tax-bureau");
    let r = tally_grant::revoke(
        &tax.identity,
        &agency("tax-bureau"),
        grant_id(&g),
        at(T0 + 1000),
        RevocationReason::BREACH,
        false,
        at(T0 + 1000),
    )
    .expect("signs");
    // Logged after the revocation, but dated before it.
    let late = w.receipt("social-security", "tax-bureau", &g, "income.annual", 1, T0 + 500);
    let social = w.export(
        "social-security",
        vec![LogEntry::GrantReceived(g), LogEntry::Revocation(r), LogEntry::ReceiptIssued(late)],
    );
    let report = w.audit(&[social]);
    assert!(has(&report, FindingKind::NoValidGrant, "revoked"), "{:?}", report.findings);
}

#[test]
fn a_backdated_revocation_does_not_reach_back_before_it_was_signed() {
    // Issue 13 item 16: the audit trusted the party-chosen effective_at.
    let w = World::new();
    let g = w.grant("tax-bureau", "social-security", &["income"], "");
    let tax = w.keys("tax-bureau");
    let r = tally_grant::revoke(
        &tax.identity,
        &agency("tax-bureau"),
        grant_id(&g),
        at(T0),
        RevocationReason::BREACH,
        false,
        at(T0 + 2000),
    )
    .expect("signs");
    let earlier = w.receipt("social-security", "tax-bureau", &g, "income.annual", 1, T0 + 1000);
    let social = w.export(
        "social-security",
        vec![LogEntry::GrantReceived(g), LogEntry::ReceiptIssued(earlier), LogEntry::Revocation(r)],
    );
    let report = w.audit(&[social]);
    assert!(report.findings.is_empty(), "a flow before the revocation was signed stays lawful: {:?}", report.findings);
}

#[test]
fn times_a_node_chose_that_run_backwards_are_a_finding() {
    let w = World::new();
    let g = w.grant("tax-bureau", "social-security", &["income"], "");
    let a = w.receipt("social-security", "tax-bureau", &g, "income.annual", 1, T0 + 7200);
    let b = w.receipt("social-security", "tax-bureau", &g, "income.annual", 2, T0 + 3600);
    let c = w.receipt("social-security", "tax-bureau", &g, "income.annual", 3, T0 + 7190);
    let social = w.export(
        "social-security",
        vec![
            LogEntry::GrantReceived(g),
            LogEntry::ReceiptIssued(a),
            LogEntry::ReceiptIssued(b),
            LogEntry::ReceiptIssued(c),
        ],
    );
    let report = w.audit(&[social]);
    let regressions: Vec<_> = report.findings.iter().filter(|f| f.kind == FindingKind::TimeRegression).collect();
    assert_eq!(regressions.len(), 1, "an hour back is a finding, ten seconds is not: {:?}", report.findings);
}

#[test]
fn an_erasure_no_authorized_revocation_obliged_is_a_finding() {
    // Issue 13 item 2: a delegate's "revocation" with erasure made the grantee shred.
    let w = World::new();
    let g = w.grant("tax-bureau", "social-security", &["income"], "erase_on_revoke = true");
    let stats = w.keys("statistics");
    let forged = tally_grant::revoke(
        &stats.identity,
        &agency("statistics"),
        grant_id(&g),
        at(T0 + 10),
        RevocationReason::BREACH,
        true,
        at(T0 + 10),
    )
    .expect("signs");
    let id = grant_id(&g);
    let deletion = |t| {
        LogEntry::Deletion(
            Encoded::new(DeletionRecord {
                agency: agency("social-security"),
                grant: id,
                packets: BoundedVec::new(vec![PacketId([1; 16])]).expect("one"),
                erased_at: at(t),
                reason: DeletionReason::REVOKED_WITH_ERASURE,
            })
            .expect("small"),
        )
    };
    let r = w.receipt("social-security", "tax-bureau", &g, "income.annual", 1, T0 + 5);
    let social = w.export(
        "social-security",
        vec![
            LogEntry::GrantReceived(g.clone()),
            LogEntry::ReceiptIssued(r.clone()),
            LogEntry::Revocation(forged),
            deletion(T0 + 20),
        ],
    );
    let report = w.audit(&[social]);
    assert!(
        has(&report, FindingKind::ErasureWithoutRevocation, "no revocation by an issuer of its chain"),
        "{:?}",
        report.findings
    );
    // The grantor's own revocation makes the same erasure lawful.
    let tax = w.keys("tax-bureau");
    let real = tally_grant::revoke(
        &tax.identity,
        &agency("tax-bureau"),
        grant_id(&g),
        at(T0 + 10),
        RevocationReason::BREACH,
        true,
        at(T0 + 10),
    )
    .expect("signs");
    let social = w.export(
        "social-security",
        vec![LogEntry::GrantReceived(g), LogEntry::ReceiptIssued(r), LogEntry::Revocation(real), deletion(T0 + 20)],
    );
    assert!(w.audit(&[social]).findings.is_empty());
}

#[test]
fn a_rejection_signed_in_another_agencys_name_blames_its_signer_not_the_agency_named() {
    // Issue 13 item 11: the audit blamed an honest log for statements another node signed.
    let w = World::new();
    let g = w.grant("tax-bureau", "social-security", &["income"], "");
    let forged = w.signed(
        "statistics",
        Receipt {
            packet_id: PacketId([4; 16]),
            header_digest: Digest([4; 32]),
            grant: grant_id(&g),
            purpose: Purpose::new("social-security.eligibility").expect("valid"),
            category: DataCategory::new("income.annual").expect("valid"),
            payload_len: 0,
            sender: agency("tax-bureau"),
            recipient: agency("social-security"),
            received_at: at(T0 + 10),
            outcome: Outcome::Rejected { reason: ReasonCode::WRONG_RECIPIENT },
        },
    );
    let stats = w.export("statistics", vec![LogEntry::ReceiptIssued(forged.clone())]);
    let tax = w.export("tax-bureau", vec![LogEntry::GrantIssued(g.clone()), LogEntry::ReceiptReceived(forged)]);
    let social = w.export("social-security", vec![LogEntry::GrantReceived(g)]);
    let report = w.audit(&[stats, tax, social]);
    assert!(has(&report, FindingKind::BadSignature, "a node signs only its own receipts"), "{:?}", report.findings);
    assert!(
        !report.findings.iter().any(|f| f.agency.as_str() == "social-security"),
        "nothing blames the agency it was signed in the name of: {:?}",
        report.findings
    );
}

#[test]
fn a_peer_cannot_date_a_grant_ahead_to_make_honest_flows_look_late() {
    // A time another party chose (a grant's issued_at, a peer's received_at)
    // does not move the clock of the log that holds it.
    let w = World::new();
    let doc = GrantDocument::from_toml(
        "grantee = \"social-security\"\npurposes = [\"social-security.eligibility\"]\ncategories = [\"income\"]\n\
         not_before = \"2020-01-01T00:00:00Z\"\nnot_after = \"2100-01-01T00:00:00Z\"\ndirection = \"both\"\nretention = \"90days\"\n",
    )
    .expect("document");
    let dated_ahead = at(4_200_000_000); // 2103, after the grant's own not_after
    let g = tally_grant::issue_grant(&w.keys("tax-bureau").identity, &agency("tax-bureau"), &doc, dated_ahead)
        .expect("issues");
    let r = w.receipt("social-security", "tax-bureau", &g, "income.annual", 1, T0 + 10);
    let social = w.export("social-security", vec![LogEntry::GrantReceived(g), LogEntry::ReceiptIssued(r)]);
    let report = w.audit(&[social]);
    assert!(report.findings.is_empty(), "the honest flow is judged at its own time: {:?}", report.findings);
}

/// The recipient's log of `entries` then batch-signed `receipts`, and the
/// bundles it gave for them (one checkpoint over the batch).
fn batch_log(
    w: &World,
    a: &str,
    entries: Vec<LogEntry>,
    receipts: Vec<Receipt>,
) -> (Log<MemoryStore>, Vec<tally_wire::ReceiptBundle>) {
    let log = Log::new(MemoryStore::new(), &agency(a), Arc::clone(&w.keys(a).identity));
    log.append(&entries).expect("appends");
    let bundles = log.issue_receipts_batched(receipts).expect("issues");
    (log, bundles)
}

fn exported(log: &Log<MemoryStore>, a: &str) -> LogExport {
    let (checkpoint, note) = log.checkpoint().expect("checkpoint");
    let entries = (0..checkpoint.size).map(|i| hex::encode(&log.store().entry(i).expect("entry"))).collect();
    LogExport { format: LOG_EXPORT_FORMAT.into(), agency: agency(a), checkpoint: note, entries }
}

#[test]
fn a_senders_bundles_of_batch_signed_receipts_match_the_recipients_log() {
    let w = World::new();
    let g = w.grant("tax-bureau", "social-security", &["income"], "");
    let r = |n| w.receipt("social-security", "tax-bureau", &g, "income.annual", n, T0 + 10).unverified().clone();
    let (log, bundles) = batch_log(&w, "social-security", vec![LogEntry::GrantReceived(g.clone())], vec![r(1), r(2)]);
    let held = bundles.iter().cloned().map(LogEntry::BundleReceived);
    let tax = w.export("tax-bureau", std::iter::once(LogEntry::GrantIssued(g.clone())).chain(held).collect());
    let report = w.audit(&[tax.clone(), exported(&log, "social-security")]);
    assert!(report.findings.is_empty(), "{:?}", report.findings);
    assert_eq!(report.coverage.receipts_in_both_logs, 2);
    // The recipient's log exported before a third receipt: the sender's bundle
    // of it is not the recipient's omission, only not checked.
    let early = exported(&log, "social-security");
    let third = log.issue_receipts_batched(vec![r(3)]).expect("issues").remove(0);
    let tax = w.export(
        "tax-bureau",
        [LogEntry::GrantIssued(g.clone())]
            .into_iter()
            .chain(bundles.iter().cloned().map(LogEntry::BundleReceived))
            .chain([LogEntry::BundleReceived(third)])
            .collect(),
    );
    let report = w.audit(&[tax, early]);
    assert!(report.findings.is_empty(), "{:?}", report.findings);
    assert_eq!(report.coverage.receipt_entries_not_checked, 1);
}

#[test]
fn a_checkpoint_in_any_of_the_senders_bundles_that_the_recipients_log_contradicts_is_a_fork() {
    let w = World::new();
    let g = w.grant("tax-bureau", "social-security", &["income"], "");
    let r = |n| w.receipt("social-security", "tax-bureau", &g, "income.annual", n, T0 + 10).unverified().clone();
    let grant = vec![LogEntry::GrantReceived(g.clone())];
    let (log, bundles) = batch_log(&w, "social-security", grant.clone(), vec![r(1), r(2), r(3)]);
    // The same receipt given again (a resend) under a checkpoint of 3
    // entries of another history of the recipient's log, one it never exports.
    let (_, forked) = batch_log(&w, "social-security", grant, vec![r(9), r(1)]);
    let resent = forked[1].clone();
    let tax = w.export(
        "tax-bureau",
        [LogEntry::GrantIssued(g.clone())]
            .into_iter()
            .chain(bundles.iter().cloned().map(LogEntry::BundleReceived))
            .chain([LogEntry::BundleReceived(resent)])
            .collect(),
    );
    let report = w.audit(&[tax, exported(&log, "social-security")]);
    // The resend's bundle is checked too, though its receipt is the first's.
    assert!(has(&report, FindingKind::Fork, "is not a prefix of social-security's log"), "{:?}", report.findings);
    assert_eq!(kinds(&report), vec![(FindingKind::Fork, agency("social-security"))], "{:?}", report.findings);
}
