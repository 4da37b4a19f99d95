//! spec/wire.md states every limit and every frame body limit; this test
//! fails when the spec and the code disagree.

use std::collections::BTreeMap;
use std::path::PathBuf;

use tally_wire::limits::*;
use tally_wire::{FrameType, body_limit};

fn wire_md() -> String {
    let path = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../spec/wire.md");
    std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

/// The table rows of the section headed `## {title}`, split into cells.
fn table(doc: &str, title: &str) -> Vec<Vec<String>> {
    let start = doc.find(&format!("\n## {title}\n")).unwrap_or_else(|| panic!("no section {title}"));
    let section = &doc[start + 1..];
    let end = section[3..].find("\n## ").map_or(section.len(), |i| i + 3);
    section[..end]
        .lines()
        .filter(|l| l.starts_with('|') && !l.starts_with("| ---"))
        .map(|l| l.trim_matches('|').split('|').map(|c| c.trim().trim_matches('`').to_owned()).collect())
        .collect()
}

#[test]
fn limits_table_matches_the_code() {
    let code: BTreeMap<&str, u64> = [
        ("MAX_AGENCY_ID_LEN", MAX_AGENCY_ID_LEN as u64),
        ("MAX_NAME_LABELS", MAX_NAME_LABELS as u64),
        ("MAX_NAME_LABEL_LEN", MAX_NAME_LABEL_LEN as u64),
        ("MAX_NAME_LEN", MAX_NAME_LEN as u64),
        ("MAX_ORIGIN_LEN", MAX_ORIGIN_LEN as u64),
        ("MAX_ENDPOINT_LEN", MAX_ENDPOINT_LEN as u64),
        ("MAX_AGENCY_ENDPOINTS", MAX_AGENCY_ENDPOINTS as u64),
        ("MIN_CHUNK_SIZE", u64::from(MIN_CHUNK_SIZE)),
        ("MAX_CHUNK_SIZE", u64::from(MAX_CHUNK_SIZE)),
        ("DEFAULT_CHUNK_SIZE", u64::from(DEFAULT_CHUNK_SIZE)),
        ("CHUNK_TAG_LEN", CHUNK_TAG_LEN as u64),
        ("MAX_GRANT_SENDERS", MAX_GRANT_SENDERS as u64),
        ("MAX_GRANT_PURPOSES", MAX_GRANT_PURPOSES as u64),
        ("MAX_GRANT_CATEGORIES", MAX_GRANT_CATEGORIES as u64),
        ("MAX_LEGAL_BASIS_LEN", MAX_LEGAL_BASIS_LEN as u64),
        ("MAX_NOTE_LEN", MAX_NOTE_LEN as u64),
        ("MAX_DISPLAY_NAME_LEN", MAX_DISPLAY_NAME_LEN as u64),
        ("MAX_CLOSE_REASON_LEN", MAX_CLOSE_REASON_LEN as u64),
        ("MAX_QUERY_LEN", MAX_QUERY_LEN as u64),
        ("MAX_GRANT_CHAIN_DEPTH", MAX_GRANT_CHAIN_DEPTH as u64),
        ("MAX_KEM_KEYS", MAX_KEM_KEYS as u64),
        ("MAX_DIRECTORY_AGENCIES", MAX_DIRECTORY_AGENCIES as u64),
        ("MAX_DIRECTORY_PURPOSES", MAX_DIRECTORY_PURPOSES as u64),
        ("MAX_DIRECTORY_CATEGORIES", MAX_DIRECTORY_CATEGORIES as u64),
        ("MAX_SPKI_LEN", MAX_SPKI_LEN as u64),
        ("MAX_REGISTRATION_SIZE", MAX_REGISTRATION_SIZE as u64),
        ("MAX_REVEAL_SIZE", MAX_REVEAL_SIZE as u64),
        ("MAX_ENCAPSULATED_KEY_SIZE", MAX_ENCAPSULATED_KEY_SIZE as u64),
        ("MAX_HEADER_SIZE", MAX_HEADER_SIZE as u64),
        ("MAX_GRANT_SIZE", MAX_GRANT_SIZE as u64),
        ("MAX_GRANT_CHAIN_SIZE", MAX_GRANT_CHAIN_SIZE as u64),
        ("MAX_REVOCATION_SIZE", MAX_REVOCATION_SIZE as u64),
        ("MAX_RECEIPT_SIZE", MAX_RECEIPT_SIZE as u64),
        ("MAX_KEM_CERT_SIZE", MAX_KEM_CERT_SIZE as u64),
        ("MAX_PULL_REQUEST_SIZE", MAX_PULL_REQUEST_SIZE as u64),
        ("MAX_DIRECTORY_SIZE", MAX_DIRECTORY_SIZE as u64),
        ("SIGNED_OVERHEAD", SIGNED_OVERHEAD as u64),
        ("MAX_CHECKPOINT_NOTE_LEN", MAX_CHECKPOINT_NOTE_LEN as u64),
        ("MAX_PROOF_LEN", MAX_PROOF_LEN as u64),
        ("MAX_DELETION_PACKETS", MAX_DELETION_PACKETS as u64),
        ("MAX_DELETION_RECORD_SIZE", MAX_DELETION_RECORD_SIZE as u64),
        ("MAX_BUNDLE_SIZE", MAX_BUNDLE_SIZE as u64),
        ("MAX_LOG_ENTRY_SIZE", MAX_LOG_ENTRY_SIZE as u64),
        ("MAX_ENTRIES_ANSWER", MAX_ENTRIES_ANSWER as u64),
    ]
    .into_iter()
    .collect();
    let doc = wire_md();
    let spec: BTreeMap<String, u64> = table(&doc, "Limits")
        .into_iter()
        .skip(1) // the header row
        .map(|row| (row[0].clone(), row[1].parse().unwrap_or_else(|_| panic!("limit {} is not a number", row[0]))))
        .collect();
    let spec_names: Vec<&str> = spec.keys().map(String::as_str).collect();
    let code_names: Vec<&str> = code.keys().copied().collect();
    assert_eq!(spec_names, code_names, "spec/wire.md and limits.rs list different limits");
    for (name, value) in &code {
        assert_eq!(spec[*name], *value, "spec/wire.md gives {name} a different value");
    }
}

#[test]
fn frame_table_matches_the_code() {
    let doc = wire_md();
    let rows: Vec<Vec<String>> = table(&doc, "Frames").into_iter().skip(1).collect();
    assert_eq!(rows.len(), FrameType::KNOWN.len(), "spec/wire.md lists a different number of frame types");
    for row in rows {
        let code = u8::from_str_radix(row[0].trim_start_matches("0x"), 16).expect("hex frame type");
        let frame_type = FrameType(code);
        assert_eq!(
            frame_type.name().map(|n| n.replace('_', "").to_lowercase()),
            Some(row[1].to_lowercase()),
            "name of {code:#x}"
        );
        let limit: usize = row[3].parse().expect("numeric body limit");
        assert_eq!(body_limit(frame_type), Some(limit), "body limit of {}", row[1]);
    }
}
