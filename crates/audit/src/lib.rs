//! `tally-audit`: the auditor's offline check of agencies' logs (`tally audit`).
//!
//! It depends only on the layer crates (wire, envelope, grant, receipt):
//! an auditor who verifies logs offline compiles no transport, runtime or
//! database.
//!
//! Given the directory and the logs two or more agencies exported
//! ([`LogExport`]: every entry and a checkpoint over them), and optionally
//! checkpoints the auditor kept from earlier audits, it checks:
//!
//! - each export matches its checkpoint (signed by the agency for its log
//!   origin; the entries hash to the checkpoint's root): an entry dropped
//!   or rewritten after the checkpoint was signed shows here;
//! - each earlier checkpoint of the same log is a prefix of it (else the
//!   log forked: two signed checkpoints that cannot both be honest);
//! - every receipt verifies under the key of the recipient it names, and a
//!   log holds only receipts its own agency signed as recipient;
//! - one packet id has one receipt in a log;
//! - the times a log's agency chose (receipts, grants, revocations,
//!   deletions) do not run backwards along its log;
//! - every receipt a recipient issued for a sender whose log is audited
//!   appears, byte for byte, in the sender's log, and the other way round;
//! - every accepted flow had a valid grant at its time: the chain, from
//!   the grants in the logs, verifies (rooted at the controller of its
//!   category), covers the receipt's purpose and category, was not revoked
//!   (a revocation counts from `max(effective_at, issued_at)`; one the
//!   recipient's log holds counts only for the flows it logged after it;
//!   a flow is judged no earlier than the times the recipient itself
//!   chose before it), and its quotas hold over all the flows before it;
//! - every erasure on revocation follows a revocation that obliged it.
//!
//! It never sees payloads or keys other than the directory's public keys.
//!
//! ```no_run
//! # fn main() -> Result<(), Box<dyn std::error::Error>> {
//! let operator = std::fs::read_to_string("operator.pub")?.trim().parse()?;
//! let directory = tally_grant::VerifiedDirectory::decode(&std::fs::read("directory.tally")?, &operator)?;
//! let tax: tally_audit::LogExport = serde_json::from_slice(&std::fs::read("tax-bureau.log.json")?)?;
//! let social: tally_audit::LogExport = serde_json::from_slice(&std::fs::read("social-security.log.json")?)?;
//! let report = tally_audit::audit(&directory, &[tax, social], &[]);
//! for finding in &report.findings {
//!     println!("{}: {} ({})", finding.agency, finding.detail, finding.kind.code());
//! }
//! # Ok(()) }
//! ```

#![forbid(unsafe_code)]

mod export;
mod flows;
mod render;

pub use export::{LOG_EXPORT_FORMAT, LogExport};
pub use flows::CLOCK_TOLERANCE;
pub use render::{render_html, render_text};

use std::collections::BTreeMap;

use serde::Serialize;
use tally_grant::VerifiedDirectory;
use tally_receipt::log_origin;
use tally_receipt::merkle::{Tree, leaf_hash, root};
use tally_receipt::note::verify_checkpoint;
use tally_wire::{AgencyId, Digest, LogEntry, Purpose};

/// What kind of problem a finding is.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum FindingKind {
    /// An export does not match its signed checkpoint (an entry was dropped or altered).
    LogMismatch,
    /// An earlier signed checkpoint is not a prefix of the log (a fork).
    Fork,
    /// A receipt's signature does not verify.
    BadSignature,
    /// A receipt the recipient issued is missing from the sender's log.
    MissingAtSender,
    /// A receipt the sender holds is missing from the recipient's log.
    MissingAtRecipient,
    /// The two sides hold different receipts for one packet.
    ReceiptsDiffer,
    /// One log holds two different receipts for one packet id.
    DuplicatePacketId,
    /// A time its agency chose runs backwards along its log.
    TimeRegression,
    /// An accepted flow without a valid grant.
    NoValidGrant,
    /// An accepted flow beyond a quota of its grant chain.
    QuotaExceeded,
    /// A deletion record says "revoked with erasure" without a revocation that obliged it.
    ErasureWithoutRevocation,
}

impl FindingKind {
    /// What the kind means, in plain words, for a supervisor.
    pub fn meaning(self) -> &'static str {
        match self {
            Self::LogMismatch => "A log does not match what its agency signed: entries were dropped or altered.",
            Self::Fork => "An agency showed two different histories of its log: at least one of them is false.",
            Self::BadSignature => "A receipt is not signed by the agency it names.",
            Self::MissingAtSender => "The recipient confirmed a packet that the sender's log does not record.",
            Self::MissingAtRecipient => "The sender holds a confirmation that the recipient's log does not record.",
            Self::ReceiptsDiffer => "Sender and recipient hold different confirmations for the same packet.",
            Self::DuplicatePacketId => "One log holds two different confirmations for one packet.",
            Self::TimeRegression => "An agency's own clock runs backwards in its log.",
            Self::NoValidGrant => "Data was accepted without a valid grant for its purpose at the time.",
            Self::QuotaExceeded => "Data was accepted beyond what its grant allows.",
            Self::ErasureWithoutRevocation => "Data was erased as revoked although no revocation required it.",
        }
    }

    /// The kind's stable name, as in JSON reports (`log-mismatch`, `fork`, …).
    pub fn code(self) -> &'static str {
        match self {
            Self::LogMismatch => "log-mismatch",
            Self::Fork => "fork",
            Self::BadSignature => "bad-signature",
            Self::MissingAtSender => "missing-at-sender",
            Self::MissingAtRecipient => "missing-at-recipient",
            Self::ReceiptsDiffer => "receipts-differ",
            Self::DuplicatePacketId => "duplicate-packet-id",
            Self::TimeRegression => "time-regression",
            Self::NoValidGrant => "no-valid-grant",
            Self::QuotaExceeded => "quota-exceeded",
            Self::ErasureWithoutRevocation => "erasure-without-revocation",
        }
    }
}

/// One problem found.
#[derive(Clone, Debug, Serialize)]
pub struct Finding {
    /// What kind.
    pub kind: FindingKind,
    /// The agency whose log shows it.
    pub agency: AgencyId,
    /// What exactly.
    pub detail: String,
}

/// One audited log.
#[derive(Clone, Debug, Serialize)]
pub struct LogSummary {
    /// Whose.
    pub agency: AgencyId,
    /// Entries.
    pub size: u64,
    /// The root hash over them.
    pub root: Digest,
    /// Whether it matches its signed checkpoint.
    pub verified: bool,
}

/// The flows between two agencies for one purpose.
#[derive(Clone, Debug, Serialize)]
pub struct FlowSummary {
    /// Who sent.
    pub sender: AgencyId,
    /// Who received.
    pub recipient: AgencyId,
    /// For what.
    pub purpose: Purpose,
    /// Packets receipted as accepted.
    pub accepted: u64,
    /// Packets refused with a signed rejection.
    pub rejected: u64,
}

/// PASS when the audit found nothing, FAIL otherwise.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
pub enum Verdict {
    /// No findings.
    #[serde(rename = "PASS")]
    Pass,
    /// At least one finding.
    #[serde(rename = "FAIL")]
    Fail,
}

impl Verdict {
    /// `PASS` or `FAIL`.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Pass => "PASS",
            Self::Fail => "FAIL",
        }
    }
}

/// What the audit could and could not check.
#[derive(Clone, Debug, Default, Serialize)]
pub struct Coverage {
    /// Receipts matched in both the sender's and the recipient's log.
    pub receipts_in_both_logs: u64,
    /// Receipts whose other side's log was not audited: checked in one log only.
    pub receipts_one_log_only: u64,
    /// The agencies whose logs those other sides are.
    pub logs_not_audited: Vec<AgencyId>,
    /// Receipt bundles a sender holds whose checkpoint is newer than the
    /// recipient's audited log, so that it could not be checked to be a
    /// prefix of it (audit the recipient's log again, later).
    pub receipt_entries_not_checked: u64,
    /// Earlier checkpoints checked against an audited log.
    pub earlier_checked: u64,
    /// Earlier checkpoints that could not be used, and why.
    pub earlier_unused: Vec<UnusedCheckpoint>,
}

/// An earlier checkpoint the audit could not use.
#[derive(Clone, Debug, Serialize)]
pub struct UnusedCheckpoint {
    /// Its place among the earlier checkpoints given (from 0).
    pub index: usize,
    /// Why it could not be used.
    pub reason: String,
}

/// A grant the logs hold, as the report shows it.
#[derive(Clone, Debug, Serialize)]
pub struct GrantShown {
    /// Its id.
    pub grant: tally_wire::GrantId,
    /// Who issued it.
    pub issuer: AgencyId,
    /// To whom.
    pub grantee: AgencyId,
    /// For which purposes.
    pub purposes: Vec<Purpose>,
    /// Valid until (RFC 3339).
    pub not_after: String,
    /// When a revocation the logs hold takes effect (RFC 3339), if one does.
    pub revoked_from: Option<String>,
}

/// A deletion record (crypto-shredding) in a log.
#[derive(Clone, Debug, Serialize)]
pub struct DeletionShown {
    /// Whose log.
    pub agency: AgencyId,
    /// The grant whose data was erased.
    pub grant: tally_wire::GrantId,
    /// Packets erased.
    pub packets: usize,
    /// When (RFC 3339).
    pub erased_at: String,
    /// Why (`retention-ended`, `revoked-with-erasure`, `operator`).
    pub reason: String,
}

/// The audit's result. It opens with the verdict, the number of findings,
/// the directory serial, the time of the audit and the logs covered.
#[derive(Clone, Debug, Serialize)]
pub struct AuditReport {
    /// PASS or FAIL.
    pub verdict: Verdict,
    /// How many findings.
    pub finding_count: usize,
    /// The directory serial used.
    pub directory_serial: u64,
    /// When the audit ran (RFC 3339).
    pub audited_at: String,
    /// The logs.
    pub logs: Vec<LogSummary>,
    /// What could and could not be checked.
    pub coverage: Coverage,
    /// The problems; empty when everything matched.
    pub findings: Vec<Finding>,
    /// The flows found, by sender, recipient and purpose.
    pub flows: Vec<FlowSummary>,
    /// The grants the logs hold.
    pub grants: Vec<GrantShown>,
    /// Deletion records (crypto-shredding) found, per agency.
    pub deletions: BTreeMap<AgencyId, u64>,
    /// Each deletion record.
    pub deletion_records: Vec<DeletionShown>,
}

struct Parsed {
    agency: AgencyId,
    entries: Vec<LogEntry>,
    /// Its Merkle tree, for the roots of its prefixes.
    tree: Tree,
    size: u64,
    /// Whether it verified against its signed checkpoint.
    verified: bool,
}

impl Finding {
    fn new(kind: FindingKind, agency: &AgencyId, detail: String) -> Self {
        Self { kind, agency: agency.clone(), detail }
    }
}

/// Audits `exports` against `directory`; `earlier` are checkpoint notes kept from earlier audits.
pub fn audit(directory: &VerifiedDirectory, exports: &[LogExport], earlier: &[String]) -> AuditReport {
    let mut findings = Vec::new();
    let mut used = vec![false; earlier.len()];
    let mut logs = Vec::new();
    let mut parsed = Vec::new();
    for export in exports {
        let agency = export.agency.clone();
        let mut finding = |kind, detail: String| findings.push(Finding { kind, agency: agency.clone(), detail });
        let Some(record) = directory.agency(&agency) else {
            finding(FindingKind::LogMismatch, "the agency is not in the directory".into());
            continue;
        };
        if export.format != LOG_EXPORT_FORMAT {
            finding(FindingKind::LogMismatch, format!("format `{}` is not {LOG_EXPORT_FORMAT}", export.format));
            continue;
        }
        let mut bytes = Vec::with_capacity(export.entries.len());
        for (i, h) in export.entries.iter().enumerate() {
            match tally_wire::hex::decode(h) {
                Some(b) => bytes.push(b),
                None => finding(FindingKind::LogMismatch, format!("entry {i} is not hex")),
            }
        }
        let mut levels = Tree::new();
        for b in &bytes {
            levels.push(leaf_hash(b));
        }
        let size = bytes.len() as u64;
        let actual = root(&levels, size).unwrap_or(Digest([0; 32]));
        let origin = log_origin(&agency);
        let verified = match verify_checkpoint(&export.checkpoint, &origin, &record.identity_key) {
            Ok(c) if c.size == size && c.root == actual => true,
            Ok(c) => {
                finding(
                    FindingKind::LogMismatch,
                    format!(
                        "the checkpoint it signed covers {} entries with root {}, but the export has {size} entries with root {actual}: entries were dropped or altered",
                        c.size, c.root
                    ),
                );
                false
            }
            Err(e) => {
                finding(FindingKind::LogMismatch, format!("its checkpoint does not verify: {e}"));
                false
            }
        };
        for (index, note) in earlier.iter().enumerate() {
            let Ok(c) = verify_checkpoint(note, &origin, &record.identity_key) else { continue };
            used[index] = true;
            if c.size > size {
                finding(
                    FindingKind::Fork,
                    format!("an earlier checkpoint covers {} entries, the log now has {size}", c.size),
                );
            } else if root(&levels, c.size).ok() != Some(c.root) {
                finding(
                    FindingKind::Fork,
                    format!(
                        "an earlier signed checkpoint at size {} has root {}, the log's prefix does not",
                        c.size, c.root
                    ),
                );
            }
        }
        let mut entries = Vec::with_capacity(bytes.len());
        for (i, b) in bytes.iter().enumerate() {
            match tally_wire::from_bytes::<LogEntry>(b, "log entry") {
                Ok(e) => entries.push(e),
                Err(e) => finding(FindingKind::LogMismatch, format!("entry {i} does not decode: {e}")),
            }
        }
        logs.push(LogSummary { agency: agency.clone(), size, root: actual, verified });
        parsed.push(Parsed { agency, entries, tree: levels, size, verified });
    }
    let checked = flows::check(directory, &parsed, &mut findings);
    findings.sort_by(|a, b| (a.kind, &a.agency).cmp(&(b.kind, &b.agency)));
    let earlier_unused = used
        .iter()
        .enumerate()
        .filter(|(_, used)| !**used)
        .map(|(index, _)| UnusedCheckpoint { index, reason: unused_reason(directory, &earlier[index], &logs) })
        .collect();
    let coverage = Coverage {
        receipts_in_both_logs: checked.both_sides,
        receipts_one_log_only: checked.one_side,
        logs_not_audited: checked.unaudited.into_iter().collect(),
        receipt_entries_not_checked: checked.unchecked,
        earlier_checked: used.iter().filter(|u| **u).count() as u64,
        earlier_unused,
    };
    let revoked_from = |id: &tally_wire::GrantId| {
        checked
            .revocations
            .iter()
            .map(tally_wire::Signed::unverified)
            .filter(|r| r.grant == *id)
            .map(tally_grant::effective_from)
            .min()
            .map(tally_grant::rfc3339)
    };
    let grants = checked
        .grants
        .iter()
        .map(|g| {
            let (id, v) = (tally_grant::grant_id(g), g.unverified());
            GrantShown {
                grant: id,
                issuer: v.issuer.clone(),
                grantee: v.grantee.clone(),
                purposes: v.purposes.iter().cloned().collect(),
                not_after: tally_grant::rfc3339(v.not_after),
                revoked_from: revoked_from(&id),
            }
        })
        .collect();
    let deletion_records = checked
        .deletions
        .iter()
        .map(|(agency, d)| DeletionShown {
            agency: agency.clone(),
            grant: d.grant,
            packets: d.packets.len(),
            erased_at: tally_grant::rfc3339(d.erased_at),
            reason: deletion_reason(d.reason).into(),
        })
        .collect();
    AuditReport {
        verdict: if findings.is_empty() { Verdict::Pass } else { Verdict::Fail },
        finding_count: findings.len(),
        directory_serial: directory.serial(),
        audited_at: tally_grant::rfc3339(tally_wire::Timestamp::from_system_time(std::time::SystemTime::now())),
        logs,
        coverage,
        findings,
        flows: checked.flows,
        grants,
        deletions: checked.deletion_counts,
        deletion_records,
    }
}

/// Why an earlier checkpoint verifies as no audited log's.
fn unused_reason(directory: &VerifiedDirectory, note: &str, logs: &[LogSummary]) -> String {
    let first = note.lines().next().unwrap_or_default();
    let Some((agency, origin)) =
        logs.iter().map(|l| (&l.agency, log_origin(&l.agency))).find(|(_, o)| o.as_str() == first)
    else {
        return format!("its origin `{first}` is the log of no audited agency (or it is not a checkpoint note)");
    };
    match directory.agency(agency).map(|r| verify_checkpoint(note, &origin, &r.identity_key)) {
        Some(Err(e)) => format!("it names {agency}'s log but does not verify under {agency}'s key: {e}"),
        _ => format!("it names {agency}'s log but could not be checked"),
    }
}

fn deletion_reason(reason: tally_wire::DeletionReason) -> &'static str {
    match reason {
        tally_wire::DeletionReason::RETENTION_ENDED => "retention-ended",
        tally_wire::DeletionReason::REVOKED_WITH_ERASURE => "revoked-with-erasure",
        tally_wire::DeletionReason::OPERATOR => "operator",
        _ => "unknown",
    }
}

#[cfg(test)]
mod tests {
    use super::FindingKind;

    #[test]
    fn a_findings_code_is_its_json_name() {
        for kind in [
            FindingKind::LogMismatch,
            FindingKind::Fork,
            FindingKind::BadSignature,
            FindingKind::MissingAtSender,
            FindingKind::MissingAtRecipient,
            FindingKind::ReceiptsDiffer,
            FindingKind::DuplicatePacketId,
            FindingKind::TimeRegression,
            FindingKind::NoValidGrant,
            FindingKind::QuotaExceeded,
            FindingKind::ErasureWithoutRevocation,
        ] {
            assert_eq!(serde_json::to_value(kind).expect("serializes"), kind.code());
        }
    }
}
