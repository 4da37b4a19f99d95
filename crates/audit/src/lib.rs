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

/// The audit's result.
#[derive(Clone, Debug, Serialize)]
pub struct AuditReport {
    /// The directory serial used.
    pub directory_serial: u64,
    /// The logs.
    pub logs: Vec<LogSummary>,
    /// The flows found, by sender, recipient and purpose.
    pub flows: Vec<FlowSummary>,
    /// Deletion records (crypto-shredding) found, per agency.
    pub deletions: BTreeMap<AgencyId, u64>,
    /// The problems; empty when everything matched.
    pub findings: Vec<Finding>,
}

struct Parsed {
    agency: AgencyId,
    entries: Vec<LogEntry>,
}

impl Finding {
    fn new(kind: FindingKind, agency: &AgencyId, detail: String) -> Self {
        Self { kind, agency: agency.clone(), detail }
    }
}

/// Audits `exports` against `directory`; `earlier` are checkpoint notes kept from earlier audits.
pub fn audit(directory: &VerifiedDirectory, exports: &[LogExport], earlier: &[String]) -> AuditReport {
    let mut findings = Vec::new();
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
        for note in earlier {
            let Ok(c) = verify_checkpoint(note, &origin, &record.identity_key) else { continue };
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
        parsed.push(Parsed { agency, entries });
    }
    let (flows, deletions) = flows::check(directory, &parsed, &mut findings);
    findings.sort_by(|a, b| (a.kind, &a.agency).cmp(&(b.kind, &b.agency)));
    AuditReport { directory_serial: directory.serial(), logs, flows, deletions, findings }
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
