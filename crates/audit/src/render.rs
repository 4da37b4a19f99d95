//! The audit report as text and as one self-contained HTML page.

use std::fmt::Write;

use tally_wire::AgencyId;

use super::{AuditReport, FindingKind};

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
            let kind = f.kind.code().to_owned();
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
            let kind = f.kind.code().to_owned();
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
