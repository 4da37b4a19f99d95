//! The audit report as text and as one self-contained HTML page. Both open
//! with the verdict (PASS or FAIL and the number of findings), the
//! directory serial, the time of the audit and the logs covered, then say
//! what could not be checked.

use std::fmt::Write;

use tally_wire::AgencyId;

use super::{AuditReport, FindingKind, Verdict};

/// The verdict line: `FAIL: 2 findings` or `PASS: no findings`.
fn verdict_line(report: &AuditReport) -> String {
    match report.verdict {
        Verdict::Pass => "PASS: no findings".to_owned(),
        Verdict::Fail => format!("FAIL: {} finding(s)", report.finding_count),
    }
}

/// What could not be checked, one sentence each (empty when everything could be).
fn limits(report: &AuditReport) -> Vec<String> {
    let c = &report.coverage;
    let mut out = Vec::new();
    if c.receipts_one_log_only > 0 {
        let names: Vec<&str> = c.logs_not_audited.iter().map(AgencyId::as_str).collect();
        out.push(format!(
            "{} receipt(s) were checked in one log only: the other side's log ({}) was not audited.",
            c.receipts_one_log_only,
            names.join(", ")
        ));
    }
    if c.receipt_entries_not_checked > 0 {
        out.push(format!(
            "{} receipt bundle(s) carry a checkpoint newer than the recipient's exported log, which they could not be checked against: audit a newer export of it.",
            c.receipt_entries_not_checked
        ));
    }
    for u in &c.earlier_unused {
        out.push(format!("Earlier checkpoint #{} was not used: {}.", u.index + 1, u.reason));
    }
    out
}

fn logs_covered(report: &AuditReport) -> String {
    let logs: Vec<String> = report.logs.iter().map(|l| format!("{} ({} entries)", l.agency, l.size)).collect();
    if logs.is_empty() { "none".to_owned() } else { logs.join(", ") }
}

/// The report as text.
pub fn render_text(report: &AuditReport) -> String {
    let mut out = String::new();
    let _ = writeln!(out, "{}", verdict_line(report));
    let _ = writeln!(
        out,
        "Audited {} against directory serial {}; logs covered: {}",
        report.audited_at,
        report.directory_serial,
        logs_covered(report)
    );
    let c = &report.coverage;
    let _ = writeln!(
        out,
        "Receipts matched in both logs: {}; in one log only: {}. Earlier checkpoints checked: {} (not used: {}).",
        c.receipts_in_both_logs,
        c.receipts_one_log_only,
        c.earlier_checked,
        c.earlier_unused.len()
    );
    for line in limits(report) {
        let _ = writeln!(out, "  Not checked: {line}");
    }
    if report.findings.is_empty() {
        let _ = writeln!(
            out,
            "Findings: none. Every receipt whose two logs were audited is in both, and every accepted flow had a valid grant."
        );
    } else {
        let _ = writeln!(out, "Findings ({}):", report.findings.len());
        for f in &report.findings {
            let _ = writeln!(out, "  [{}] {}: {} {}", f.kind.code(), f.agency, f.kind.meaning(), f.detail);
        }
    }
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
    let _ = writeln!(out, "Flows (data from -> to):");
    for f in &report.flows {
        let _ = writeln!(
            out,
            "  {} -> {}  {}: {} accepted, {} rejected",
            f.sender, f.recipient, f.purpose, f.accepted, f.rejected
        );
    }
    let _ = writeln!(out, "Grants in the logs:");
    for g in &report.grants {
        let revoked = g.revoked_from.as_deref().map(|t| format!(", revoked from {t}")).unwrap_or_default();
        let purposes: Vec<&str> = g.purposes.iter().map(|p| p.as_str()).collect();
        let _ = writeln!(
            out,
            "  {}… {} -> {} for {} until {}{revoked}",
            &g.grant.to_hex()[..16],
            g.issuer,
            g.grantee,
            purposes.join(","),
            g.not_after
        );
    }
    for d in &report.deletion_records {
        let _ = writeln!(
            out,
            "Deletion in {}'s log: {} packet(s) of grant {}… erased at {} ({})",
            d.agency,
            d.packets,
            &d.grant.to_hex()[..16],
            d.erased_at,
            d.reason
        );
    }
    out
}

fn escape(s: &str) -> String {
    s.replace('&', "&amp;").replace('<', "&lt;").replace('>', "&gt;").replace('"', "&quot;")
}

/// A hex id shortened for the page, with the whole id in its tooltip.
fn short(hex: &str) -> String {
    format!("<code title=\"{hex}\">{}…</code>", &hex[..hex.len().min(16)])
}

/// The diagram: one column per agency, one arrow per flow in the direction
/// the data went (sender to recipient: a push, or a pull's answer);
/// dashed where every packet was refused and no data moved.
fn diagram(report: &AuditReport) -> String {
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
        r##"<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 {width} {height}" style="max-width:100%" font-family="sans-serif" font-size="13" role="img" aria-label="Flows between agencies"><defs><marker id="arrow" viewBox="0 0 10 10" refX="10" refY="5" markerWidth="8" markerHeight="8" orient="auto"><path d="M0,0 L10,5 L0,10 z" fill="#333"/></marker></defs>"##
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
        let flagged = report
            .findings
            .iter()
            .any(|g| g.kind == FindingKind::NoValidGrant && g.detail.contains(f.purpose.as_str()));
        let color = if flagged { "#b22" } else { "#333" };
        let dash = if f.accepted == 0 { r#" stroke-dasharray="6 4""# } else { "" };
        let _ = write!(
            svg,
            r##"<line x1="{x1}" y1="{y}" x2="{x2}" y2="{y}" stroke="{color}" stroke-width="2"{dash} marker-end="url(#arrow)"/><text x="{}" y="{}" text-anchor="middle">{} — {} accepted, {} refused</text>"##,
            (x1 + x2) / 2.0,
            y - 8.0,
            escape(f.purpose.as_str()),
            f.accepted,
            f.rejected
        );
    }
    svg.push_str("</svg>");
    svg
}

/// The report as one self-contained HTML page: the verdict first, in a
/// banner, then what could not be checked, the findings in plain words
/// beside their codes, the diagram with its legend, the grants and the
/// deletion records, and the logs.
pub fn render_html(report: &AuditReport) -> String {
    let (class, headline) = match report.verdict {
        Verdict::Pass => ("pass", "PASS"),
        Verdict::Fail => ("fail", "FAIL"),
    };
    let summary = match report.verdict {
        Verdict::Pass => "no findings".to_owned(),
        Verdict::Fail => format!("{} finding(s): see below", report.finding_count),
    };
    let mut limits_html = String::new();
    for line in limits(report) {
        let _ = write!(limits_html, "<li>{}</li>", escape(&line));
    }
    if !limits_html.is_empty() {
        limits_html = format!("<div class=limits><b>Not checked:</b><ul>{limits_html}</ul></div>");
    }
    let mut findings = String::new();
    if report.findings.is_empty() {
        findings.push_str(
            "<p class=ok>No findings: every receipt whose two logs were audited is in both, and every accepted flow had a valid grant.</p>",
        );
    } else {
        findings.push_str("<table><tr><th>What it means</th><th>Code</th><th>Agency</th><th>Detail</th></tr>");
        for f in &report.findings {
            let _ = write!(
                findings,
                "<tr class=bad><td>{}</td><td class=n><code>{}</code></td><td class=n>{}</td><td class=w>{}</td></tr>",
                escape(f.kind.meaning()),
                f.kind.code(),
                escape(f.agency.as_str()),
                escape(&f.detail)
            );
        }
        findings.push_str("</table>");
    }
    let mut grants = String::from(
        "<table><tr><th>Grant</th><th>Issuer</th><th>Grantee</th><th>Purposes</th><th>Valid until</th><th>Revoked</th></tr>",
    );
    for g in &report.grants {
        let purposes: Vec<String> = g.purposes.iter().map(|p| escape(p.as_str())).collect();
        let _ = write!(
            grants,
            "<tr><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td></tr>",
            short(&g.grant.to_hex()),
            escape(g.issuer.as_str()),
            escape(g.grantee.as_str()),
            purposes.join(", "),
            escape(&g.not_after),
            g.revoked_from.as_deref().map_or_else(|| "no".to_owned(), |t| format!("from {}", escape(t)))
        );
    }
    grants.push_str("</table>");
    let mut deletions = String::new();
    if report.deletion_records.is_empty() {
        deletions.push_str("<p>No deletion records.</p>");
    } else {
        deletions
            .push_str("<table><tr><th>Log of</th><th>Grant</th><th>Packets</th><th>Erased at</th><th>Why</th></tr>");
        for d in &report.deletion_records {
            let _ = write!(
                deletions,
                "<tr><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td></tr>",
                escape(d.agency.as_str()),
                short(&d.grant.to_hex()),
                d.packets,
                escape(&d.erased_at),
                escape(&d.reason)
            );
        }
        deletions.push_str("</table>");
    }
    let mut logs = String::from("<table><tr><th>Agency</th><th>Entries</th><th>Root</th><th>Checkpoint</th></tr>");
    for l in &report.logs {
        let _ = write!(
            logs,
            "<tr><td>{}</td><td>{}</td><td>{}</td><td>{}</td></tr>",
            escape(l.agency.as_str()),
            l.size,
            short(&l.root.to_hex()),
            if l.verified { "matches" } else { "<b>does not match</b>" }
        );
    }
    logs.push_str("</table>");
    format!(
        r#"<!doctype html><html lang="en"><head><meta charset="utf-8"><meta name="viewport" content="width=device-width"><title>Tally audit: {headline}</title><style>body{{font-family:sans-serif;max-width:60em;margin:1em auto;padding:0 1em;color:#222}}.w{{overflow-wrap:anywhere}}.n{{white-space:nowrap}}table{{border-collapse:collapse;margin:1em 0;width:100%}}td,th{{border:1px solid #ccc;padding:.3em .6em;text-align:left;vertical-align:top}}.bad td{{background:#fdecec}}.ok{{color:#164}}code{{font-size:.85em}}#verdict{{padding:.8em 1em;border-radius:6px;margin:0 0 1em}}#verdict h1{{margin:0;font-size:2.2em}}#verdict.pass{{background:#e3f4e8;border:3px solid #1a7f37}}#verdict.fail{{background:#fde2e2;border:3px solid #b42318}}.limits{{background:#fff7e0;border:1px solid #d9a400;padding:.5em 1em}}.legend{{font-size:.9em;color:#444}}</style></head><body><div id="verdict" class="{class}"><h1>{headline}: {summary}</h1><p>Audited {at} against directory serial {serial}. Logs covered: {covered}.</p></div>{limits_html}<h2>Findings</h2>{findings}<h2>Flows between agencies</h2>{svg}<p class=legend>Legend: each box is an agency; each arrow runs the way the data went, from the sender to the recipient (a push, or the answer to a pull), labelled with the purpose and the packets accepted and refused. A dashed arrow: every packet was refused, no data moved. A red arrow: a flow the findings name.</p><h2>Grants in the logs</h2>{grants}<h2>Deletion records</h2>{deletions}<h2>Logs</h2>{logs}</body></html>
"#,
        at = escape(&report.audited_at),
        serial = report.directory_serial,
        covered = escape(&logs_covered(report)),
        svg = diagram(report),
    )
}
