//! `tally verify` and `tally audit`: offline, with the directory alone.

use std::path::{Path, PathBuf};

use tally_audit::LogExport;
use tally_node::outcome_text;
use tally_wire::AgencyId;

use crate::args::{ReportFormat, Trust};
use crate::failure::{Exit, Failure, failed};
use crate::files::{load_directory, print_json, read_file, read_text, write_file};

fn not_verified(message: String) -> Failure {
    Failure::new(Exit::NotVerified, message)
}

/// `tally verify BUNDLE`: the receipt, its inclusion proof and the checkpoint.
pub(crate) fn bundle(bundle: &Path, trust: &Trust, json: bool) -> Result<(), Failure> {
    let directory = load_directory(trust)?;
    let text = read_text(bundle)?;
    let parsed = tally_receipt::bundle_from_text(&text).map_err(|e| failed(format!("{}: {e}", bundle.display())))?;
    let verified = tally_receipt::verify_bundle(&parsed, |a| directory.agency(a).map(|r| r.identity_key))
        .map_err(|e| not_verified(format!("{}: does not verify: {e}", bundle.display())))?;
    let r = &verified.receipt;
    if json {
        print_json(&serde_json::json!({
            "verified": true, "packet": r.packet_id, "sender": r.sender, "recipient": r.recipient,
            "grant": r.grant, "purpose": r.purpose, "outcome": outcome_text(&r.outcome),
            "at": tally_grant::rfc3339(r.received_at), "log_size": verified.checkpoint.size,
        }));
    } else {
        println!(
            "Verified: {} received packet {} from {} for {} ({}) at {}, entry {} of its log of {} (checkpoint signed by {}).",
            r.recipient,
            r.packet_id,
            r.sender,
            r.purpose,
            outcome_text(&r.outcome),
            tally_grant::rfc3339(r.received_at),
            parsed.index,
            verified.checkpoint.size,
            r.recipient
        );
    }
    Ok(())
}

/// `tally verify --reveal`: the plaintext is what the sender signed and the recipient receipted.
pub(crate) fn reveal(reveal: &Path, plaintext: &Path, trust: &Trust, json: bool) -> Result<(), Failure> {
    let directory = load_directory(trust)?;
    let not_a_reveal = || failed(format!("{}: not a reveal file (hex text)", reveal.display()));
    let text = read_text(reveal).map_err(|_| not_a_reveal())?;
    let bytes = tally_node::hex::decode(text.trim()).ok_or_else(not_a_reveal)?;
    let parsed = tally_wire::Encoded::<tally_wire::Reveal>::decode(&bytes)
        .map_err(|e| failed(format!("{}: not a reveal: {e}", reveal.display())))?;
    let value = parsed.value();
    let header = value.evidence.header.value();
    for agency in [&header.sender, &header.recipient] {
        if directory.agency(agency).is_none() {
            return Err(not_verified(format!("{agency} is not in the directory: the reveal cannot be checked")));
        }
    }
    let file = std::fs::File::open(plaintext).map_err(crate::failure::file_error(plaintext))?;
    let key_of = |agency: &AgencyId| directory.agency(agency).map(|r| r.identity_key);
    let revealed = tally_receipt::verify_reveal(value, key_of, std::io::BufReader::new(file)).map_err(|e| {
        not_verified(format!("{} with {}: does not verify: {e}", reveal.display(), plaintext.display()))
    })?;
    let h = &revealed.header;
    if json {
        print_json(&serde_json::json!({
            "verified": true, "packet": h.packet_id, "sender": h.sender, "recipient": h.recipient,
            "grant": h.grant, "purpose": h.purpose, "category": h.category, "bytes": h.payload_len,
            "content_commitment": revealed.digests.content_commitment,
        }));
    } else {
        println!(
            "Proven: {} sent, and {} received and receipted, exactly this content ({} bytes) as packet {} under grant {} for {} ({}).",
            h.sender, h.recipient, h.payload_len, h.packet_id, h.grant, h.purpose, h.category
        );
    }
    Ok(())
}

/// `tally audit`: exported logs, checked against the directory and each other.
pub(crate) fn audit(
    logs: &[PathBuf],
    earlier: &[PathBuf],
    trust: &Trust,
    format: ReportFormat,
    out: Option<&Path>,
) -> Result<(), Failure> {
    let directory = load_directory(trust)?;
    let exports = logs
        .iter()
        .map(|p| {
            serde_json::from_slice::<LogExport>(&read_file(p)?)
                .map_err(|e| failed(format!("{}: not a log export: {e}", p.display())))
        })
        .collect::<Result<Vec<_>, _>>()?;
    let earlier = earlier.iter().map(|p| read_text(p)).collect::<Result<Vec<_>, _>>()?;
    let report = tally_audit::audit(&directory, &exports, &earlier);
    let text = match format {
        ReportFormat::Text => tally_audit::render_text(&report),
        ReportFormat::Json => serde_json::to_string_pretty(&report).map_err(|e| failed(e.to_string()))? + "\n",
        ReportFormat::Html => tally_audit::render_html(&report),
    };
    match out {
        Some(path) => write_file(path, text.as_bytes())?,
        None => print!("{text}"),
    }
    if report.findings.is_empty() {
        Ok(())
    } else {
        Err(Failure::new(Exit::Findings, format!("the audit found {} problem(s)", report.findings.len())))
    }
}
