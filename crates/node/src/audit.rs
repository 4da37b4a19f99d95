//! The auditor's check of agencies' logs (`tally audit`).
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
//! - every receipt verifies under its signer's key;
//! - every receipt a recipient issued for a sender whose log is audited
//!   appears, byte for byte, in the sender's log, and the other way round;
//! - every accepted flow had a valid grant at its time (the chain, from
//!   the grants in the logs, verifies and covers it, and was not revoked).
//!
//! It never sees payloads or keys other than the directory's public keys.

use std::collections::{BTreeMap, HashMap};
use std::fmt::Write;

use serde::Serialize;
use tally_envelope::IdentityVerifier;
use tally_grant::{Flow, RevocationSet, Usage, decide, grant_id};
use tally_receipt::log_origin;
use tally_receipt::merkle::{NodeSource, leaf_hash, node_hash, root};
use tally_receipt::note::verify_checkpoint;
use tally_wire::{
    AgencyId, BoundedVec, Digest, Direction, Grant, GrantId, LogEntry, Outcome, PacketId, Purpose, Receipt, Signed,
};

use crate::node::{LOG_EXPORT_FORMAT, LogExport};
use crate::{VerifiedDirectory, hex};

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
    /// An accepted flow without a valid grant.
    NoValidGrant,
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

/// The perfect subtree hashes of a list of leaves.
struct Levels(Vec<Vec<Digest>>);

impl Levels {
    fn new(leaves: Vec<Digest>) -> Self {
        let mut levels = vec![leaves];
        while let Some(last) = levels.last().filter(|l| l.len() > 1) {
            let next = last.chunks_exact(2).map(|p| node_hash(&p[0], &p[1])).collect();
            levels.push(next);
        }
        Self(levels)
    }
}

impl NodeSource for Levels {
    type Error = ();
    fn node(&self, level: u8, index: u64) -> Result<Digest, ()> {
        self.0.get(level as usize).and_then(|l| l.get(usize::try_from(index).ok()?)).copied().ok_or(())
    }
}

struct Parsed {
    agency: AgencyId,
    entries: Vec<LogEntry>,
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
            match hex::decode(h) {
                Some(b) => bytes.push(b),
                None => finding(FindingKind::LogMismatch, format!("entry {i} is not hex")),
            }
        }
        let levels = Levels::new(bytes.iter().map(|b| leaf_hash(b)).collect());
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
    let (flows, deletions) = match_receipts(directory, &parsed, &mut findings);
    findings.sort_by(|a, b| (a.kind, &a.agency).cmp(&(b.kind, &b.agency)));
    AuditReport { directory_serial: directory.serial(), logs, flows, deletions, findings }
}

fn match_receipts(
    directory: &VerifiedDirectory,
    logs: &[Parsed],
    findings: &mut Vec<Finding>,
) -> (Vec<FlowSummary>, BTreeMap<AgencyId, u64>) {
    let audited: Vec<&AgencyId> = logs.iter().map(|l| &l.agency).collect();
    let mut issued: HashMap<(AgencyId, PacketId), Signed<Receipt>> = HashMap::new();
    let mut received: HashMap<(AgencyId, PacketId), Signed<Receipt>> = HashMap::new();
    let mut grants: HashMap<GrantId, Signed<Grant>> = HashMap::new();
    let mut revocations = RevocationSet::new();
    let mut deletions = BTreeMap::new();
    for log in logs {
        for entry in &log.entries {
            match entry {
                LogEntry::ReceiptIssued(r) => {
                    issued.insert((log.agency.clone(), r.unverified().packet_id), r.clone());
                }
                LogEntry::ReceiptReceived(r) => {
                    received.insert((log.agency.clone(), r.unverified().packet_id), r.clone());
                }
                LogEntry::GrantIssued(g) | LogEntry::GrantReceived(g) => {
                    grants.insert(grant_id(g), g.clone());
                }
                LogEntry::Revocation(r) => {
                    let _ = revocations.insert(r.clone(), directory);
                }
                LogEntry::Deletion(_) => *deletions.entry(log.agency.clone()).or_default() += 1,
                _ => {}
            }
        }
    }
    let verifies = |r: &Signed<Receipt>| {
        directory
            .agency(&r.unverified().recipient)
            .and_then(|a| IdentityVerifier::new(&a.identity_key).ok())
            .is_some_and(|k| k.verify_object(r).is_ok())
    };
    let mut flows: BTreeMap<(AgencyId, AgencyId, Purpose), (u64, u64)> = BTreeMap::new();
    let mut keys: Vec<_> = issued.keys().cloned().collect();
    keys.sort();
    for key in keys {
        let r = &issued[&key];
        let (agency, packet) = &key;
        let body = r.unverified();
        let finding = |kind, detail: String| Finding { kind, agency: agency.clone(), detail };
        if &body.recipient != agency || !verifies(r) {
            findings.push(finding(FindingKind::BadSignature, format!("receipt for {packet} does not verify")));
            continue;
        }
        let counts = flows.entry((body.sender.clone(), body.recipient.clone(), body.purpose.clone())).or_default();
        match body.outcome {
            Outcome::Accepted { .. } => counts.0 += 1,
            Outcome::Rejected { .. } => counts.1 += 1,
        }
        if audited.contains(&&body.sender) {
            match received.get(&(body.sender.clone(), *packet)) {
                None => findings.push(Finding {
                    kind: FindingKind::MissingAtSender,
                    agency: body.sender.clone(),
                    detail: format!(
                        "{}'s receipt for {packet} ({}) is not in {}'s log",
                        body.recipient, body.purpose, body.sender
                    ),
                }),
                Some(twin) if twin.encode() != r.encode() => findings.push(finding(
                    FindingKind::ReceiptsDiffer,
                    format!("{} and {} hold different receipts for {packet}", body.sender, body.recipient),
                )),
                Some(_) => {}
            }
        }
        if matches!(body.outcome, Outcome::Accepted { .. })
            && let Err(why) = grant_covers(directory, &grants, &revocations, body)
        {
            findings.push(finding(
                FindingKind::NoValidGrant,
                format!("{packet} from {} ({}): {why}", body.sender, body.purpose),
            ));
        }
    }
    let mut keys: Vec<_> = received.keys().cloned().collect();
    keys.sort();
    for (agency, packet) in keys {
        let r = &received[&(agency.clone(), packet)];
        let recipient = &r.unverified().recipient;
        if !verifies(r) {
            findings.push(Finding {
                kind: FindingKind::BadSignature,
                agency,
                detail: format!("receipt for {packet} does not verify"),
            });
            continue;
        }
        if audited.contains(&recipient) && !issued.contains_key(&(recipient.clone(), packet)) {
            findings.push(Finding {
                kind: FindingKind::MissingAtRecipient,
                agency: recipient.clone(),
                detail: format!(
                    "{agency} holds {recipient}'s receipt for {packet}, but it is not in {recipient}'s log"
                ),
            });
        }
    }
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
    (flows, deletions)
}

/// Whether the grants found in the logs allowed an accepted receipt's flow at its time.
fn grant_covers(
    directory: &VerifiedDirectory,
    grants: &HashMap<GrantId, Signed<Grant>>,
    revocations: &RevocationSet,
    r: &Receipt,
) -> Result<(), String> {
    let mut chain = Vec::new();
    let mut next = Some(r.grant);
    while let Some(id) = next {
        let g = grants.get(&id).ok_or_else(|| format!("grant {id} is in neither log"))?;
        next = g.unverified().parent;
        chain.push(g.clone());
        if chain.len() > tally_wire::limits::MAX_GRANT_CHAIN_DEPTH {
            return Err("the grant chain is too long".into());
        }
    }
    let chain = BoundedVec::new(chain).map_err(|e| e.to_string())?;
    let mut last = String::new();
    for direction in [Direction::Push, Direction::Pull] {
        let flow = Flow {
            grant: r.grant,
            sender: r.sender.clone(),
            recipient: r.recipient.clone(),
            purpose: r.purpose.clone(),
            category: chain[0].unverified().categories.iter().next().cloned().ok_or("the grant has no category")?,
            bytes: 0,
            direction,
            at: r.received_at,
        };
        match decide(&flow, &chain, revocations, directory, &Usage::new()) {
            Ok(_) => return Ok(()),
            Err(d) => last = d.to_string(),
        }
    }
    Err(last)
}

/// The report as text.
pub fn render_text(report: &AuditReport) -> String {
    let mut out = String::new();
    let _ = writeln!(out, "Audit against directory serial {}", report.directory_serial);
    for l in &report.logs {
        let state = if l.verified { "matches its signed checkpoint" } else { "DOES NOT match its signed checkpoint" };
        let _ = writeln!(
            out,
            "  log of {:<20} {:>6} entries, root {}…, {state}",
            l.agency.as_str(),
            l.size,
            &l.root.to_hex()[..16]
        );
    }
    let _ = writeln!(out, "Flows:");
    for f in &report.flows {
        let _ = writeln!(
            out,
            "  {} -> {}  {}: {} accepted, {} rejected",
            f.sender, f.recipient, f.purpose, f.accepted, f.rejected
        );
    }
    for (agency, n) in &report.deletions {
        let _ = writeln!(out, "Deletion records in {agency}'s log: {n}");
    }
    if report.findings.is_empty() {
        let _ =
            writeln!(out, "Findings: none. Every receipt is in both logs and every accepted flow had a valid grant.");
    } else {
        let _ = writeln!(out, "Findings ({}):", report.findings.len());
        for f in &report.findings {
            let kind =
                serde_json::to_value(f.kind).ok().and_then(|v| v.as_str().map(str::to_owned)).unwrap_or_default();
            let _ = writeln!(out, "  [{kind}] {}: {}", f.agency, f.detail);
        }
    }
    out
}

fn escape(s: &str) -> String {
    s.replace('&', "&amp;").replace('<', "&lt;").replace('>', "&gt;").replace('"', "&quot;")
}

/// The report as one self-contained HTML page, with a diagram of the flows between agencies by purpose.
pub fn render_html(report: &AuditReport) -> String {
    let mut agencies: Vec<&AgencyId> = report.logs.iter().map(|l| &l.agency).collect();
    for f in &report.flows {
        for a in [&f.sender, &f.recipient] {
            if !agencies.contains(&a) {
                agencies.push(a);
            }
        }
    }
    let (width, box_w, box_h) = (760.0_f64, 180.0_f64, 44.0_f64);
    let height = 140.0 + 70.0 * report.flows.len() as f64;
    let column = |i: usize| 20.0 + (width - box_w - 40.0) * i as f64 / (agencies.len().max(2) - 1) as f64;
    let mut svg = format!(
        r##"<svg xmlns="http://www.w3.org/2000/svg" width="{width}" height="{height}" font-family="sans-serif" font-size="13"><defs><marker id="arrow" viewBox="0 0 10 10" refX="10" refY="5" markerWidth="8" markerHeight="8" orient="auto"><path d="M0,0 L10,5 L0,10 z" fill="#333"/></marker></defs>"##
    );
    for (i, a) in agencies.iter().enumerate() {
        let x = column(i);
        let _ = write!(
            svg,
            r##"<rect x="{x}" y="20" width="{box_w}" height="{box_h}" rx="6" fill="#eef3fb" stroke="#345"/><text x="{}" y="47" text-anchor="middle">{}</text><line x1="{}" y1="64" x2="{}" y2="{}" stroke="#bbb" stroke-dasharray="4"/>"##,
            x + box_w / 2.0,
            escape(a.as_str()),
            x + box_w / 2.0,
            x + box_w / 2.0,
            height - 10.0
        );
    }
    for (n, f) in report.flows.iter().enumerate() {
        let pos = |a: &AgencyId| agencies.iter().position(|b| *b == a).map_or(0.0, |i| column(i) + box_w / 2.0);
        let (x1, x2, y) = (pos(&f.sender), pos(&f.recipient), 110.0 + 70.0 * n as f64);
        let color = if report
            .findings
            .iter()
            .any(|g| g.kind == FindingKind::NoValidGrant && g.detail.contains(f.purpose.as_str()))
        {
            "#b22"
        } else {
            "#333"
        };
        let _ = write!(
            svg,
            r##"<line x1="{x1}" y1="{y}" x2="{x2}" y2="{y}" stroke="{color}" stroke-width="2" marker-end="url(#arrow)"/><text x="{}" y="{}" text-anchor="middle">{} — {} accepted, {} rejected</text>"##,
            (x1 + x2) / 2.0,
            y - 8.0,
            escape(f.purpose.as_str()),
            f.accepted,
            f.rejected
        );
    }
    svg.push_str("</svg>");
    let mut findings = String::new();
    if report.findings.is_empty() {
        findings.push_str(
            "<p class=ok>No findings: every receipt is in both logs and every accepted flow had a valid grant.</p>",
        );
    } else {
        findings.push_str("<table><tr><th>Kind</th><th>Agency</th><th>Detail</th></tr>");
        for f in &report.findings {
            let kind =
                serde_json::to_value(f.kind).ok().and_then(|v| v.as_str().map(str::to_owned)).unwrap_or_default();
            let _ = write!(
                findings,
                "<tr class=bad><td>{kind}</td><td>{}</td><td>{}</td></tr>",
                escape(f.agency.as_str()),
                escape(&f.detail)
            );
        }
        findings.push_str("</table>");
    }
    let mut logs = String::from("<table><tr><th>Agency</th><th>Entries</th><th>Root</th><th>Checkpoint</th></tr>");
    for l in &report.logs {
        let _ = write!(
            logs,
            "<tr><td>{}</td><td>{}</td><td><code>{}</code></td><td>{}</td></tr>",
            escape(l.agency.as_str()),
            l.size,
            l.root,
            if l.verified { "matches" } else { "<b>does not match</b>" }
        );
    }
    logs.push_str("</table>");
    format!(
        r#"<!doctype html><html lang="en"><head><meta charset="utf-8"><title>Tally audit report</title><style>body{{font-family:sans-serif;max-width:60em;margin:2em auto;color:#222}}table{{border-collapse:collapse;margin:1em 0}}td,th{{border:1px solid #ccc;padding:.3em .6em;text-align:left}}.bad td{{background:#fdecec}}.ok{{color:#164}}code{{font-size:.85em}}</style></head><body><h1>Tally audit report</h1><p>Directory serial {serial}. Logs audited: {count}.</p><h2>Flows by purpose</h2>{svg}<h2>Findings</h2>{findings}<h2>Logs</h2>{logs}</body></html>
"#,
        serial = report.directory_serial,
        count = report.logs.len(),
    )
}
