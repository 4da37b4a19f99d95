//! The file formats of spec/files.md, as vectors: every file a federation
//! and a node write (operator key and public key, identity and KEM key
//! files, the TLS key and its pin, the directory, a grant file, a
//! revocation file, a receipt bundle and a log export), made from fixed
//! keys and times, checked byte for byte against
//! `spec/vectors/files/files.json` (`TALLY_BLESS=1` regenerates it), and
//! each read back from the vector with the reader a node or an auditor
//! uses.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use tally_envelope::{IdentityKey, IdentityVerifier, KemKey};
use tally_grant::{GrantDocument, VerifiedChain, VerifiedDirectory, grant_id, issue_grant};
use tally_receipt::{Log, MemoryStore, bundle_from_text, bundle_to_text, entry_bytes, verify_bundle};
use tally_testkit::{check_golden, hex, unhex};
use tally_wire::{
    AgencyId, AgencyRecord, BoundedVec, CategoryRecord, DataCategory, Digest, Directory, Endpoint, Endpoints, LogEntry,
    Outcome, PacketId, Purpose, PurposeRecord, Receipt, Revocation, RevocationReason, Roles, Signed, Text, Timestamp,
};

const T: u64 = 1_800_000_000;

fn vector_file() -> PathBuf {
    PathBuf::from(concat!(env!("CARGO_MANIFEST_DIR"), "/../../spec/vectors/files/files.json"))
}

fn agency(id: &str) -> AgencyId {
    AgencyId::new(id).expect("a valid id")
}

/// A PKCS#8 v2 document of the Ed25519 key `seed` (RFC 8410, as ring writes it).
fn pkcs8_v2(seed: [u8; 32]) -> Vec<u8> {
    let public = IdentityKey::from_seed(&seed).public_key();
    let mut der = vec![0x30, 0x51, 0x02, 0x01, 0x01, 0x30, 0x05, 0x06, 0x03, 0x2b, 0x65, 0x70, 0x04, 0x22, 0x04, 0x20];
    der.extend_from_slice(&seed);
    der.extend_from_slice(&[0x81, 0x21, 0x00]);
    der.extend_from_slice(public.as_ref());
    der
}

struct Agency {
    id: AgencyId,
    identity: IdentityKey,
    kem: KemKey,
    tls: tally_transport::TlsKey,
    tls_pk8: Vec<u8>,
}

fn member(id: &str, seed: u8) -> Agency {
    let tls_pk8 = pkcs8_v2([seed + 2; 32]);
    Agency {
        id: agency(id),
        identity: IdentityKey::from_seed(&[seed; 32]),
        kem: KemKey::from_bytes([seed + 1; 32]),
        tls: tally_transport::TlsKey::from_pkcs8(&tls_pk8).expect("a PKCS#8 v2 Ed25519 key"),
        tls_pk8,
    }
}

fn record(a: &Agency, roles: Roles, port: u16) -> AgencyRecord {
    let certificate = a
        .kem
        .certify(&a.identity, a.id.clone(), Timestamp::from_secs(T), Timestamp::from_secs(T + 31_536_000))
        .expect("certifies");
    AgencyRecord {
        id: a.id.clone(),
        name: Text::new(a.id.as_str()).expect("a name"),
        roles,
        endpoints: Endpoints::one(Endpoint::new(format!("127.0.0.1:{port}")).expect("an endpoint")),
        identity_key: a.identity.public_key(),
        tls_key: a.tls.spki_digest(),
        kem_keys: BoundedVec::new(vec![certificate]).expect("one key"),
    }
}

/// A key file as `tally init` writes it (mode 0600), read back as text.
fn key_file(dir: &Path, name: &str, write: impl FnOnce(&Path)) -> String {
    let path = dir.join(name);
    write(&path);
    std::fs::read_to_string(path).expect("a key file")
}

/// Every file, made from the fixed keys and times: (name, text or bytes).
fn files() -> Vec<(&'static str, serde_json::Value)> {
    let dir = tempfile::tempdir().expect("a temp dir");
    let operator = IdentityKey::from_seed(&[1; 32]);
    let (tax, social) = (member("tax-bureau", 2), member("social-security", 5));
    let directory = Directory {
        federation: Text::new("Example federation").expect("a name"),
        serial: 1,
        issued_at: Timestamp::from_secs(T),
        agencies: BoundedVec::new(vec![
            record(&tax, Roles::PRODUCER.with(Roles::CONSUMER), 4433),
            record(&social, Roles::PRODUCER.with(Roles::CONSUMER), 4434),
        ])
        .expect("two agencies"),
        purposes: BoundedVec::new(vec![PurposeRecord {
            purpose: Purpose::new("social-security.eligibility").expect("a purpose"),
            legal_basis: Text::new("Social Security Act s. 12").expect("a basis"),
            description: Text::new("").expect("empty"),
        }])
        .expect("one purpose"),
        categories: BoundedVec::new(vec![CategoryRecord {
            category: DataCategory::new("income").expect("a category"),
            controller: tax.id.clone(),
            description: Text::new("").expect("empty"),
        }])
        .expect("one category"),
    };
    let directory = operator.sign_object(directory).expect("signs");
    let document = GrantDocument::from_toml(
        r#"
grantee = "social-security"
purposes = ["social-security.eligibility"]
categories = ["income.annual"]
not_before = "2027-01-15T08:00:00Z"
not_after = "2028-01-15T08:00:00Z"
direction = "both"
retention = "90days"
erase_on_revoke = true
quota = { max_packets = 1000 }
legal_basis = "Social Security Act s. 12"
"#,
    )
    .expect("a grant document");
    let grant = issue_grant(&tax.identity, &tax.id, &document, Timestamp::from_secs(T)).expect("issues");
    let chain = BoundedVec::new(vec![grant.clone()]).expect("a chain of one");
    let revocation = tally_grant::revoke(
        &tax.identity,
        &tax.id,
        grant_id(&grant),
        Timestamp::from_secs(T + 100),
        RevocationReason::PURPOSE_ENDED,
        true,
        Timestamp::from_secs(T + 100),
    )
    .expect("signs");
    // The recipient's log, as a node writes it: the grant it received, then
    // the receipt it signed (one signature per receipt), then a checkpoint.
    let log = Log::new(MemoryStore::new(), &social.id, Arc::new(IdentityKey::from_seed(&[5; 32])));
    log.append(&[LogEntry::GrantReceived(grant.clone())]).expect("appends");
    let receipt = Receipt {
        packet_id: PacketId([9; 16]),
        header_digest: Digest([8; 32]),
        grant: grant_id(&grant),
        purpose: Purpose::new("social-security.eligibility").expect("a purpose"),
        category: DataCategory::new("income.annual").expect("a category"),
        payload_len: 30,
        sender: tax.id.clone(),
        recipient: social.id.clone(),
        received_at: Timestamp::from_secs(T + 50),
        outcome: Outcome::Accepted { ciphertext_fingerprint: Digest([10; 32]), content_commitment: Digest([11; 32]) },
    };
    let (bundled, index) = log.issue_receipt(receipt).expect("logs");
    let (checkpoint, note) = log.checkpoint().expect("signs a checkpoint");
    let bundle = log.bundle(bundled, index, &checkpoint, &note).expect("a bundle");
    let entries = [LogEntry::GrantReceived(grant), tally_receipt::bundled_entry(&bundle.receipt)];
    let export = tally_audit::LogExport {
        format: tally_audit::LOG_EXPORT_FORMAT.into(),
        agency: social.id.clone(),
        checkpoint: bundle.checkpoint.as_str().to_owned(),
        entries: entries.iter().map(|e| hex(&entry_bytes(e).expect("encodes"))).collect(),
    };
    let operator_id = agency("operator");
    vec![
        ("operator.pub", serde_json::json!({ "text": format!("{}\n", operator.public_key().to_hex()) })),
        (
            "operator.key",
            serde_json::json!({ "text": key_file(dir.path(), "operator.key", |p| tally_envelope::write_identity_key(p, &operator_id, &operator).expect("writes")) }),
        ),
        (
            "keys/identity.key",
            serde_json::json!({ "text": key_file(dir.path(), "identity.key", |p| tally_envelope::write_identity_key(p, &tax.id, &tax.identity).expect("writes")) }),
        ),
        (
            "keys/kem.key",
            serde_json::json!({ "text": key_file(dir.path(), "kem.key", |p| tally_envelope::write_kem_key(p, &tax.id, &tax.kem).expect("writes")) }),
        ),
        ("keys/tls.pk8", serde_json::json!({ "hex": hex(&tax.tls_pk8) })),
        ("tls SubjectPublicKeyInfo", serde_json::json!({ "hex": hex(tax.tls.spki()) })),
        ("tls pin (AgencyRecord.tls_key)", serde_json::json!({ "hex": tax.tls.spki_digest().to_hex() })),
        ("directory.tally", serde_json::json!({ "hex": hex(&directory.encode()) })),
        ("g.grant", serde_json::json!({ "hex": hex(&tally_wire::encode_grant_chain(&chain)) })),
        ("r.revocation", serde_json::json!({ "hex": hex(&revocation.encode()) })),
        ("r.bundle", serde_json::json!({ "text": bundle_to_text(&bundle).expect("a bundle") })),
        ("social.log.json", serde_json::json!({ "text": serde_json::to_string_pretty(&export).expect("JSON") + "\n" })),
    ]
}

#[test]
fn every_file_format_matches_its_vector_and_reads_back() {
    let made = files();
    let mut object = serde_json::Map::new();
    for (name, value) in &made {
        object.insert((*name).to_owned(), value.clone());
    }
    let document = serde_json::json!({
        "description": "The files of spec/files.md, made from fixed keys (seeds 0x01 operator; 0x02, 0x03, 0x04 the tax bureau's identity, KEM and TLS keys; 0x05 the social-security bureau's identity key) and times (1800000000 s). Text files as `text`, binary files as `hex`.",
        "files": object,
    });
    check_golden(&vector_file(), &(serde_json::to_string_pretty(&document).expect("JSON") + "\n"));

    // Read each back from the vector file, with the readers a node and an auditor use.
    let vectors: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(vector_file()).expect("the vectors")).expect("JSON");
    let files = &vectors["files"];
    let text = |name: &str| files[name]["text"].as_str().unwrap_or_else(|| panic!("{name}")).to_owned();
    let bytes = |name: &str| unhex(files[name]["hex"].as_str().unwrap_or_else(|| panic!("{name}")));
    let operator: tally_wire::IdentityPublicKey = text("operator.pub").trim().parse().expect("operator.pub is hex");
    let directory = VerifiedDirectory::decode(&bytes("directory.tally"), &operator).expect("the directory verifies");
    assert_eq!(directory.serial(), 1);
    let tax = directory.agency(&agency("tax-bureau")).expect("listed");
    let tls = tally_transport::TlsKey::from_pkcs8(&bytes("keys/tls.pk8")).expect("the TLS key loads");
    assert_eq!(tls.spki(), bytes("tls SubjectPublicKeyInfo"));
    assert_eq!(
        (tls.spki_digest(), tls.spki_digest().to_hex()),
        (tax.tls_key, text_hex(files, "tls pin (AgencyRecord.tls_key)"))
    );
    let dir = tempfile::tempdir().expect("a temp dir");
    for (name, kind) in [("operator.key", "identity"), ("keys/identity.key", "identity"), ("keys/kem.key", "kem")] {
        let path = dir.path().join(name.replace('/', "-"));
        std::fs::write(&path, text(name)).expect("writes");
        std::fs::set_permissions(&path, std::os::unix::fs::PermissionsExt::from_mode(0o600)).expect("0600");
        match kind {
            "identity" => {
                let (id, key) = tally_envelope::read_identity_key(&path).expect("the key file reads");
                let want = if name == "operator.key" { operator } else { tax.identity_key };
                assert_eq!((id.as_str() == "operator" || id.as_str() == "tax-bureau", key.public_key()), (true, want));
            }
            _ => {
                let (_, key) = tally_envelope::read_kem_key(&path).expect("the key file reads");
                assert_eq!(tax.kem_keys[0].unverified().public_key, *key.public_key());
            }
        }
    }
    let chain = tally_wire::decode_grant_chain(&bytes("g.grant")).expect("the grant file decodes");
    VerifiedChain::verify(&chain, &directory).expect("the grant verifies against the directory");
    let revocation = Signed::<Revocation>::decode(&bytes("r.revocation")).expect("the revocation file decodes");
    IdentityVerifier::new(&tax.identity_key).expect("a key").verify_object(&revocation).expect("signed by its issuer");
    assert_eq!(revocation.unverified().grant, grant_id(&chain[0]));
    let bundle = bundle_from_text(&text("r.bundle")).expect("the bundle parses");
    let verified =
        verify_bundle(&bundle, |a| directory.agency(a).map(|r| r.identity_key)).expect("the bundle verifies");
    assert_eq!(verified.receipt.packet_id, PacketId([9; 16]));
    let export: tally_audit::LogExport = serde_json::from_str(&text("social.log.json")).expect("a log export");
    let report = tally_audit::audit(&directory, &[export], &[]);
    assert!(report.findings.is_empty(), "{:?}", report.findings);
    assert_eq!(report.coverage.receipts_one_log_only, 1);

    // A batch-signed receipt (ReceiptLogged) is vouched for by its log's
    // checkpoint and judged like a signed one: alone in the log, with no
    // grant logged, its flow had no valid grant.
    let batch = Log::new(MemoryStore::new(), &agency("social-security"), Arc::new(IdentityKey::from_seed(&[5; 32])));
    let logged = batch.issue_receipts_batched(vec![verified.receipt.clone()]).expect("logs").remove(0);
    let export = tally_audit::LogExport {
        format: tally_audit::LOG_EXPORT_FORMAT.into(),
        agency: agency("social-security"),
        checkpoint: logged.checkpoint.as_str().to_owned(),
        entries: vec![hex(&entry_bytes(&tally_receipt::bundled_entry(&logged.receipt)).expect("encodes"))],
    };
    let report = tally_audit::audit(&directory, &[export], &[]);
    let kinds: Vec<_> = report.findings.iter().map(|f| f.kind).collect();
    assert_eq!(kinds, vec![tally_audit::FindingKind::NoValidGrant], "{:?}", report.findings);
    assert_eq!(report.coverage.receipt_entries_not_checked, 0);
    assert_eq!(report.logs[0].size, 1);
}

fn text_hex(files: &serde_json::Value, name: &str) -> String {
    files[name]["hex"].as_str().unwrap_or_else(|| panic!("{name}")).to_owned()
}

/// The conformance cases (spec/README.md, "Conformance"): each an input
/// and the failure it must give, in `spec/vectors/conformance/failures.json`.
fn conformance_file() -> PathBuf {
    PathBuf::from(concat!(env!("CARGO_MANIFEST_DIR"), "/../../spec/vectors/conformance/failures.json"))
}

/// The class of an error: the Rust variant name (spec/README.md lists
/// them), and for a variant that wraps another error (`Wire`, `Malformed`,
/// `Checkpoint`, `Receipt`) the wrapped one's after a slash.
fn class(e: &impl std::fmt::Debug) -> String {
    let text = format!("{e:?}");
    let name = |s: &str| s.split(['(', ' ', '{', ')']).next().unwrap_or_default().to_owned();
    let outer = name(&text);
    match text[outer.len()..].strip_prefix('(') {
        Some(rest) if matches!(outer.as_str(), "Wire" | "Malformed" | "Checkpoint" | "Receipt" | "Hpke") => {
            format!("{outer}/{}", name(rest))
        }
        _ => outer,
    }
}

fn flip_last(mut bytes: Vec<u8>) -> Vec<u8> {
    let last = bytes.len() - 1;
    bytes[last] ^= 1;
    bytes
}

/// Re-signs the vectors' directory with one change made by `change`.
fn directory_with(change: impl FnOnce(&mut Directory)) -> String {
    let operator = IdentityKey::from_seed(&[1; 32]);
    let files = files();
    let hex_of = |name: &str| {
        files.iter().find(|(n, _)| *n == name).and_then(|(_, v)| v["hex"].as_str()).expect("a file").to_owned()
    };
    let signed = Signed::<Directory>::decode(&unhex(&hex_of("directory.tally"))).expect("decodes");
    let mut directory = signed.unverified().clone();
    change(&mut directory);
    hex(&operator.sign_object(directory).expect("signs").encode())
}

/// `bundle` with one base64 character of its checkpoint's signature line changed.
fn altered_signature(bundle: &str) -> String {
    let at = bundle.rfind("\u{2014} ").expect("a signature line") + "\u{2014} ".len() + 10;
    let mut b = bundle.as_bytes().to_vec();
    b[at] = if b[at] == b'A' { b'B' } else { b'A' };
    String::from_utf8(b).expect("UTF-8")
}

/// A note with one base64 character of its signature (past the key id) changed.
fn altered_note_signature(note: &str) -> String {
    let line = note.rfind("\u{2014} ").expect("a signature line");
    let at = note[line..].find(' ').and_then(|s| note[line + s + 1..].find(' ').map(|t| line + s + 1 + t + 1 + 20));
    let at = at.expect("a key name and a signature");
    let mut b = note.as_bytes().to_vec();
    b[at] = if b[at] == b'A' { b'B' } else { b'A' };
    String::from_utf8(b).expect("UTF-8")
}

fn conformance_cases() -> Vec<serde_json::Value> {
    let files = files();
    let get = |name: &str| files.iter().find(|(n, _)| *n == name).map(|(_, v)| v.clone()).expect("a file");
    let hex_of = |name: &str| unhex(get(name)["hex"].as_str().expect("hex"));
    let text_of = |name: &str| get(name)["text"].as_str().expect("text").to_owned();
    let case = |name: &str, object: &str, description: &str, input: serde_json::Value, class: &str| serde_json::json!({ "name": name, "object": object, "description": description, "input": input, "expect": format!("{object} failure: {class}") });
    let directory = hex_of("directory.tally");
    let bundle = text_of("r.bundle");
    let (social_tls, social_identity) = {
        let d = Signed::<Directory>::decode(&directory).expect("decodes");
        let s = d.unverified().agencies[1].clone();
        (s.tls_key, s.identity_key)
    };
    let _ = social_tls;
    let tax_identity = Signed::<Directory>::decode(&directory).expect("decodes").unverified().agencies[0].identity_key;
    let unknown_issuer = {
        let r = Signed::<Revocation>::decode(&hex_of("r.revocation")).expect("decodes");
        let mut body = r.unverified().clone();
        body.issuer = agency("outsider");
        hex(&IdentityKey::from_seed(&[7; 32]).sign_object(body).expect("signs").encode())
    };
    let mut cases = vec![
        case(
            "directory-truncated",
            "directory",
            "The directory file cut in half.",
            serde_json::json!({ "hex": hex(&directory[..directory.len() / 2]) }),
            "Malformed",
        ),
        case(
            "directory-signature",
            "directory",
            "The last byte of the operator's signature flipped.",
            serde_json::json!({ "hex": hex(&flip_last(directory.clone())) }),
            "NotSignedByOperator",
        ),
        case(
            "directory-listed-twice",
            "directory",
            "The tax bureau listed twice (signed by the operator).",
            serde_json::json!({ "hex": directory_with(|d| {
                let mut agencies = d.agencies.to_vec();
                agencies.push(agencies[0].clone());
                d.agencies = BoundedVec::new(agencies).expect("small");
            }) }),
            "ListedTwice",
        ),
        case(
            "directory-shared-key",
            "directory",
            "The social-security bureau listed with the tax bureau's identity key.",
            serde_json::json!({ "hex": directory_with(|d| {
                let mut agencies = d.agencies.to_vec();
                agencies[1].identity_key = tax_identity;
                d.agencies = BoundedVec::new(agencies).expect("small");
            }) }),
            "SharedKey",
        ),
        case(
            "directory-agency-key",
            "directory",
            "The social-security bureau's identity key replaced by a point of small order (the identity element).",
            serde_json::json!({ "hex": directory_with(|d| {
                let mut agencies = d.agencies.to_vec();
                let mut identity = [0u8; 32];
                identity[0] = 1;
                agencies[1].identity_key = tally_wire::IdentityPublicKey(identity);
                d.agencies = BoundedVec::new(agencies).expect("small");
            }) }),
            "AgencyKey",
        ),
        case(
            "directory-kem-certificate",
            "directory",
            "The tax bureau's KEM certificate listed for the social-security bureau.",
            serde_json::json!({ "hex": directory_with(|d| {
                let mut agencies = d.agencies.to_vec();
                agencies[1].kem_keys = agencies[0].kem_keys.clone();
                d.agencies = BoundedVec::new(agencies).expect("small");
            }) }),
            "KemCertificate",
        ),
        case(
            "directory-controller-not-listed",
            "directory",
            "A category whose controller is not a listed agency.",
            serde_json::json!({ "hex": directory_with(|d| {
                let mut categories = d.categories.to_vec();
                categories[0].controller = agency("nobody");
                d.categories = BoundedVec::new(categories).expect("small");
            }) }),
            "ControllerNotListed",
        ),
        case(
            "grant-trailing-bytes",
            "grant file",
            "A byte after the grant chain.",
            serde_json::json!({ "hex": hex(&[hex_of("g.grant"), vec![0]].concat()) }),
            "TrailingBytes",
        ),
        case(
            "grant-signature",
            "grant file",
            "The last byte of the grant's signature flipped.",
            serde_json::json!({ "hex": hex(&flip_last(hex_of("g.grant"))) }),
            "BadSignature",
        ),
        case(
            "revocation-truncated",
            "revocation file",
            "The revocation file without its last byte.",
            serde_json::json!({ "hex": hex(&hex_of("r.revocation")[..hex_of("r.revocation").len() - 1]) }),
            "Truncated",
        ),
        case(
            "revocation-signature",
            "revocation file",
            "The last byte of the revocation's signature flipped.",
            serde_json::json!({ "hex": hex(&flip_last(hex_of("r.revocation"))) }),
            "BadSignature",
        ),
        case(
            "revocation-unknown-issuer",
            "revocation file",
            "A revocation of the grant issued and signed by an agency that is not in the directory.",
            serde_json::json!({ "hex": unknown_issuer.clone() }),
            "UnknownIssuer",
        ),
        case(
            "bundle-header",
            "bundle",
            "Another first line.",
            serde_json::json!({ "text": bundle.replacen("tally/receipt-bundle@v1", "tally/receipt-bundle@v2", 1) }),
            "Line",
        ),
        case(
            "bundle-index-leading-zero",
            "bundle",
            "The index written with a leading zero.",
            serde_json::json!({ "text": bundle.replacen("\nindex ", "\nindex 0", 1) }),
            "Line",
        ),
        case(
            "bundle-no-checkpoint",
            "bundle",
            "No blank line and checkpoint after the proof.",
            serde_json::json!({ "text": bundle.split("\n\n").next().expect("a head").to_owned() }),
            "Line",
        ),
        case(
            "bundle-not-included",
            "bundle",
            "The index changed: the proof leads elsewhere.",
            serde_json::json!({ "text": bundle.replacen("\nindex 1", "\nindex 0", 1) }),
            "NotIncluded",
        ),
        case(
            "bundle-checkpoint-signature",
            "bundle",
            "The checkpoint's signature line altered.",
            serde_json::json!({ "text": altered_signature(&bundle) }),
            "Checkpoint",
        ),
    ];
    // Bundles whose checkpoint note has no signature block, or a malformed signature line.
    let (head, note) = bundle.split_once("\n\n").expect("a head and a checkpoint");
    let note_body = note.split("\n\n").next().expect("the note's text").to_owned();
    cases.push(case(
        "bundle-note-unsigned",
        "bundle",
        "The checkpoint note without its signature block.",
        serde_json::json!({ "text": format!("{head}\n\n{note_body}\n") }),
        "Checkpoint",
    ));
    cases.push(case(
        "bundle-note-signature-line",
        "bundle",
        "The checkpoint note's signature line without its key and signature.",
        serde_json::json!({ "text": format!("{head}\n\n{note_body}\n\n\u{2014} tally/social-security\n") }),
        "Checkpoint",
    ));
    // Bundles whose receipt does not decode, whose signature is altered, or whose recipient is unknown.
    let parsed = bundle_from_text(&bundle).expect("the bundle parses");
    let receipt_line = bundle.lines().nth(1).expect("a receipt line").to_owned();
    cases.push(case(
        "bundle-receipt-undecodable",
        "bundle",
        "The receipt line holds base64 of bytes that are no BundledReceipt.",
        serde_json::json!({ "text": bundle.replacen(&receipt_line, "receipt /w==", 1) }),
        "Receipt",
    ));
    if let tally_wire::BundledReceipt::Signed(s) = &parsed.receipt {
        let mut sig = s.signature().0;
        sig[0] ^= 1;
        let forged = Signed::<Receipt>::from_parts(s.body().to_vec(), tally_wire::Signature(sig)).expect("rebuilds");
        let altered =
            tally_wire::ReceiptBundle { receipt: tally_wire::BundledReceipt::Signed(forged), ..parsed.clone() };
        cases.push(case(
            "bundle-receipt-signature",
            "bundle",
            "One bit of the receipt's own signature flipped (and the proof no longer leads to the root).",
            serde_json::json!({ "text": bundle_to_text(&altered).expect("a bundle") }),
            "BadReceiptSignature",
        ));
    }
    let outsider = IdentityKey::from_seed(&[7; 32]);
    let log = Log::new(MemoryStore::new(), &agency("outsider"), Arc::new(IdentityKey::from_seed(&[7; 32])));
    let mut foreign = match &parsed.receipt {
        tally_wire::BundledReceipt::Signed(s) => s.unverified().clone(),
        tally_wire::BundledReceipt::Logged(e) => e.value().clone(),
    };
    foreign.recipient = agency("outsider");
    let _ = outsider;
    let (b, index) = log.issue_receipt(foreign).expect("logs");
    let (c, note) = log.checkpoint().expect("a checkpoint");
    let unknown = log.bundle(b, index, &c, &note).expect("a bundle");
    cases.push(case(
        "bundle-unknown-recipient",
        "bundle",
        "A well-formed bundle from an agency that is not in the directory.",
        serde_json::json!({ "text": bundle_to_text(&unknown).expect("a bundle") }),
        "UnknownRecipient",
    ));
    let export = text_of("social.log.json");
    let mut dropped: serde_json::Value = serde_json::from_str(&export).expect("JSON");
    dropped["entries"].as_array_mut().expect("entries").remove(0);
    cases.push(case(
        "log-entry-dropped",
        "log export",
        "The first entry removed after the checkpoint was signed.",
        serde_json::json!({ "text": dropped.to_string() }),
        "log-mismatch",
    ));
    let mut format: serde_json::Value = serde_json::from_str(&export).expect("JSON");
    format["format"] = "tally-log-export/2".into();
    cases.push(case(
        "log-format",
        "log export",
        "An unknown format line.",
        serde_json::json!({ "text": format.to_string() }),
        "log-mismatch",
    ));
    // Packet streams: the envelope vectors' first packet (three chunks), altered.
    let packets: serde_json::Value = serde_json::from_str(
        &std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/../../spec/vectors/envelope/packets.json"))
            .expect("the envelope vectors"),
    )
    .expect("JSON");
    let stream = unhex(packets["cases"][0]["stream"].as_str().expect("a stream"));
    let mut chunk = stream.clone();
    let inside = stream.len() - 106 - 3 - 40;
    chunk[inside] ^= 1;
    let stream_case = |name: &str, description: &str, bytes: Vec<u8>, key: &str| {
        serde_json::json!({ "name": name, "object": "packet stream", "description": description,
            "input": { "hex": hex(&bytes), "kem_secret": key }, "expect": "" })
    };
    let kem = packets["kem_secret"].as_str().expect("the KEM secret");
    cases.push(stream_case("stream-chunk-altered", "One bit of the last chunk's ciphertext flipped.", chunk, kem));
    cases.push(stream_case(
        "stream-trailer-signature",
        "The last byte of the trailer's signature flipped.",
        flip_last(stream.clone()),
        kem,
    ));
    cases.push(stream_case(
        "stream-truncated",
        "The stream without its last 50 bytes (inside the trailer).",
        stream[..stream.len() - 50].to_vec(),
        kem,
    ));
    cases.push(stream_case(
        "stream-other-recipient",
        "Opened with a KEM key the header does not name.",
        stream.clone(),
        &hex(&[9; 32]),
    ));
    cases.push(stream_case(
        "stream-after-trailer",
        "A byte after the trailer.",
        [stream.clone(), vec![1]].concat(),
        kem,
    ));
    let frames = split_frames(&stream);
    let (offer, chunks, trailer) = (&frames[0], &frames[1..frames.len() - 1], &frames[frames.len() - 1]);
    let join = |parts: Vec<&Vec<u8>>| parts.into_iter().flatten().copied().collect::<Vec<u8>>();
    cases.push(stream_case(
        "stream-chunks-swapped",
        "The second and third chunk frames swapped.",
        join(vec![offer, &chunks[0], &chunks[2], &chunks[1], trailer]),
        kem,
    ));
    cases.push(stream_case(
        "stream-last-chunk-dropped",
        "The last chunk frame left out.",
        join(vec![offer, &chunks[0], &chunks[1], trailer]),
        kem,
    ));
    cases.push(stream_case(
        "stream-chunk-repeated",
        "The last chunk frame sent twice.",
        join(vec![offer, &chunks[0], &chunks[1], &chunks[2], &chunks[2], trailer]),
        kem,
    ));
    // The offer's header changed (and encoded anew): a version and a suite this implementation does not speak.
    let with_header = |change: &dyn Fn(&mut tally_wire::PacketHeader)| {
        let tally_wire::Frame::Offer(offer) = tally_wire::Frame::decode(offer).expect("an offer frame") else {
            panic!("the first frame is an offer")
        };
        let mut header = offer.header.value().clone();
        change(&mut header);
        let offer = tally_wire::Offer { header: tally_wire::Encoded::new(header).expect("encodes"), ..offer };
        let mut bytes = tally_wire::Frame::Offer(offer).encode().expect("encodes");
        for f in &frames[1..] {
            bytes.extend_from_slice(f);
        }
        bytes
    };
    cases.push(stream_case(
        "stream-unsupported-version",
        "The header's version set to 2.",
        with_header(&|h| h.version = tally_wire::Version(2)),
        kem,
    ));
    cases.push(stream_case(
        "stream-unsupported-suite",
        "The header's suite set to 0x7777, a suite nobody has defined.",
        with_header(&|h| h.suite = tally_wire::SuiteId(0x7777)),
        kem,
    ));
    // A chunk frame past the header's chunk count, and a chunk one byte short.
    let tally_wire::Frame::Chunk(last) = tally_wire::Frame::decode(&chunks[2]).expect("a chunk frame") else {
        panic!("a chunk")
    };
    let beyond = tally_wire::Frame::Chunk(tally_wire::Chunk::new(3, &last.data)).encode().expect("encodes");
    cases.push(stream_case(
        "stream-chunk-beyond-count",
        "A fourth chunk frame (index 3) after the three the header's length allows, before the trailer.",
        join(vec![offer, &chunks[0], &chunks[1], &chunks[2], &beyond, trailer]),
        kem,
    ));
    let tally_wire::Frame::Chunk(first) = tally_wire::Frame::decode(&chunks[0]).expect("a chunk frame") else {
        panic!("a chunk")
    };
    let short = tally_wire::Frame::Chunk(tally_wire::Chunk::new(0, &first.data[..first.data.len() - 1]))
        .encode()
        .expect("encodes");
    cases.push(stream_case(
        "stream-chunk-short",
        "The first chunk frame with its last sealed byte left out (the frame's length says so).",
        join(vec![offer, &short, &chunks[1], &chunks[2], trailer]),
        kem,
    ));
    let tally_wire::Frame::Trailer(t) = tally_wire::Frame::decode(trailer).expect("a trailer frame") else {
        panic!("the last frame is the trailer")
    };
    let with_trailer = |t: tally_wire::Trailer| {
        let t = tally_wire::Frame::Trailer(t).encode().expect("encodes");
        join(vec![offer, &chunks[0], &chunks[1], &chunks[2], &t])
    };
    cases.push(stream_case(
        "stream-trailer-chunk-count",
        "The trailer's chunk count 4 instead of 3.",
        with_trailer(tally_wire::Trailer { chunk_count: t.chunk_count + 1, ..t }),
        kem,
    ));
    cases.push(stream_case(
        "stream-trailer-commitment",
        "The trailer's content commitment altered (the signature is over the original).",
        with_trailer(tally_wire::Trailer {
            content_commitment: {
                let mut c = t.content_commitment;
                c.0[0] ^= 1;
                c
            },
            ..t
        }),
        kem,
    ));
    let low_order = {
        let tally_wire::Frame::Offer(o) = tally_wire::Frame::decode(offer).expect("an offer frame") else {
            panic!("the first frame is an offer")
        };
        let o = tally_wire::Offer {
            encapsulated_key: tally_wire::EncapsulatedKey::X25519(tally_wire::X25519PublicKey([0; 32])),
            ..o
        };
        let mut bytes = tally_wire::Frame::Offer(o).encode().expect("encodes");
        for f in &frames[1..] {
            bytes.extend_from_slice(f);
        }
        bytes
    };
    cases.push(stream_case(
        "stream-encapsulated-key-low-order",
        "The offer's encapsulated key replaced by the all-zero X25519 point (of small order): the key schedule refuses it.",
        low_order,
        kem,
    ));
    let sender: tally_wire::IdentityPublicKey = packets["sender_public"].as_str().expect("hex").parse().expect("a key");
    for c in cases.iter_mut().filter(|c| c["object"] == "packet stream") {
        let class = open_stream(c, &sender).expect("an altered stream does not open");
        c["expect"] = format!("packet stream failure: {class}").into();
    }
    for (name, class) in [
        ("stream-chunk-beyond-count", "TooManyChunks"),
        ("stream-chunk-short", "ChunkLength"),
        ("stream-trailer-chunk-count", "TrailerChunkCount"),
        ("stream-trailer-commitment", "CommitmentMismatch"),
        ("stream-encapsulated-key-low-order", "Hpke"),
    ] {
        let c = cases.iter().find(|c| c["name"] == name).expect("the case");
        let expect = c["expect"].as_str().expect("expect");
        assert!(expect.starts_with(&format!("packet stream failure: {class}")), "{name}: {expect}");
    }
    cases.extend(note_cases(&bundle));
    cases.extend(fork_cases(&bundle));
    cases.extend(document_cases());
    cases.extend(audit_cases(&text_of("social.log.json"), &hex_of("g.grant"), &bundle));
    let key = text_of("keys/identity.key");
    cases.push(case(
        "key-format",
        "key file",
        "An unknown format.",
        serde_json::json!({ "text": key.replace("tally-key/1", "tally-key/2") }),
        "KeyFile",
    ));
    let public = tax_identity.to_hex();
    cases.push(case(
        "key-public-mismatch",
        "key file",
        "The public key does not match the secret.",
        serde_json::json!({ "text": key.replace(&public, &social_identity.to_hex()) }),
        "KeyFile",
    ));
    cases
}

/// A conformance case whose class the test computes and checks (see [`conformance_cases`]).
fn made(name: &str, object: &str, description: &str, input: serde_json::Value, class: &str) -> serde_json::Value {
    serde_json::json!({ "name": name, "object": object, "description": description, "input": input,
        "expect": format!("{object} failure: {class}") })
}

/// Checkpoint notes, checked as the checkpoint of social-security's log
/// under its directory key (receipts.md, "Checkpoints").
fn note_cases(bundle: &str) -> Vec<serde_json::Value> {
    let note = bundle.split_once("\n\n").expect("a head and a checkpoint").1.to_owned();
    let social = IdentityKey::from_seed(&[5; 32]);
    let (text, _) = note.split_once("\n\n").expect("text and signatures");
    let signed = |text: &str| tally_receipt::note::sign_note(text, "tally/social-security", &social).expect("signs");
    let long = signed(&format!("{text}\n{}\n", "x".repeat(4100)));
    let input = |t: String| serde_json::json!({ "text": t });
    vec![
        made(
            "note-too-long",
            "checkpoint note",
            "A signed note whose text carries an extension line that makes it longer than 4096 bytes.",
            input(long),
            "TooLong",
        ),
        made(
            "note-control-character",
            "checkpoint note",
            "A BEL (0x07) in the origin line.",
            input(note.replacen("tally/social-security", "tally/social\u{7}security", 1)),
            "ForbiddenCharacter",
        ),
        made(
            "note-signature-altered",
            "checkpoint note",
            "One base64 character of the signature changed (still valid base64 of the same length).",
            input(altered_note_signature(&note)),
            "BadSignature",
        ),
        made(
            "note-no-signature",
            "checkpoint note",
            "The note's text without any signature line.",
            input(format!("{text}\n")),
            "NoSignatures",
        ),
        made(
            "note-signature-line",
            "checkpoint note",
            "A signature line whose signature is not base64 (a '*' in it).",
            input({
                let line = note.rfind(' ').expect("a signature") + 1;
                format!("{}*{}", &note[..line], &note[line + 1..])
            }),
            "BadSignatureLine",
        ),
        made(
            "note-other-key",
            "checkpoint note",
            "The same text signed by another key under the same name.",
            input(
                tally_receipt::note::sign_note(
                    &format!("{text}\n"),
                    "tally/social-security",
                    &IdentityKey::from_seed(&[9; 32]),
                )
                .expect("signs"),
            ),
            "NoSignatureByKey",
        ),
        made(
            "note-not-a-checkpoint",
            "checkpoint note",
            "A note signed by the log's key whose text is not a checkpoint (its size line is not a number).",
            input(signed("tally/social-security\nsix\nAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA=\n")),
            "BadCheckpoint",
        ),
    ]
}

/// Fork evidence (receipts.md, "Fork evidence", as JSON), checked for social-security's log.
fn fork_cases(bundle: &str) -> Vec<serde_json::Value> {
    let note = bundle.split_once("\n\n").expect("a head and a checkpoint").1.to_owned();
    let social = Arc::new(IdentityKey::from_seed(&[5; 32]));
    let log = Log::new(MemoryStore::new(), &agency("social-security"), Arc::clone(&social));
    let r = bundle_from_text(bundle).expect("parses");
    for _ in 0..5 {
        log.append(&[tally_receipt::bundled_entry(&r.receipt)]).expect("appends");
    }
    let (three_checkpoint, three) = {
        let l = Log::new(MemoryStore::new(), &agency("social-security"), Arc::clone(&social));
        for _ in 0..3 {
            l.append(&[tally_receipt::bundled_entry(&r.receipt)]).expect("appends");
        }
        l.checkpoint().expect("signs")
    };
    let (_, five) = log.checkpoint().expect("signs");
    // The prefix root claimed is the smaller checkpoint's own: evidence must show one that differs.
    let root3 = three_checkpoint.root;
    let evidence = |a: &str, b: &str, proof: Vec<Digest>| {
        serde_json::to_string(&tally_receipt::ForkEvidence { a: a.into(), b: b.into(), prefix_root: root3, proof })
            .expect("JSON")
    };
    let honest = log.consistency_proof(3, 5).expect("proves");
    let input = |t: String| serde_json::json!({ "text": t });
    vec![
        made(
            "fork-same-note",
            "fork evidence",
            "The same checkpoint twice: equal sizes, equal roots.",
            input(evidence(&note, &note, vec![])),
            "Consistent",
        ),
        made(
            "fork-honest-proof",
            "fork evidence",
            "Checkpoints of 3 and 5 entries of one log, the 3-entry root as the prefix root, and the log's honest consistency proof between them: no fork.",
            input(evidence(&three, &five, honest.clone())),
            "Consistent",
        ),
        made(
            "fork-proof-altered",
            "fork evidence",
            "The same, with the proof's first hash altered: it leads to no root.",
            input(evidence(&three, &five, {
                let mut p = honest;
                p[0].0[0] ^= 1;
                p
            })),
            "BadProof",
        ),
        made(
            "fork-checkpoint-altered",
            "fork evidence",
            "A checkpoint whose signature is altered.",
            input(evidence(&altered_note_signature(&three), &five, vec![])),
            "Checkpoint/BadSignature",
        ),
        made(
            "fork-checkpoint-other-log",
            "fork evidence",
            "A checkpoint of another agency's log (the tax bureau's, signed by it) paired with social-security's.",
            input(evidence(
                &{
                    let l =
                        Log::new(MemoryStore::new(), &agency("tax-bureau"), Arc::new(IdentityKey::from_seed(&[2; 32])));
                    l.append(&[tally_receipt::bundled_entry(&r.receipt)]).expect("appends");
                    l.checkpoint().expect("signs").1
                },
                &five,
                vec![],
            )),
            "Checkpoint/NoSignatureByKey",
        ),
    ]
}

/// Grant documents (grants.md, "The grant document"), issued by the tax bureau.
fn document_cases() -> Vec<serde_json::Value> {
    let base = "grantee = \"social-security\"\npurposes = [\"social-security.eligibility\"]\ncategories = [\"income.annual\"]\nnot_before = \"2027-01-15T08:00:00Z\"\nnot_after = \"2028-01-15T08:00:00Z\"\ndirection = \"both\"\nretention = \"90days\"\n";
    let input = |t: String| serde_json::json!({ "text": t });
    vec![
        made(
            "document-syntax",
            "grant document",
            "Not TOML: a value without quotes.",
            input(base.replace("\"both\"", "both")),
            "Syntax",
        ),
        made(
            "document-unknown-field",
            "grant document",
            "A field grants.md does not define.",
            input(format!("{base}colour = \"blue\"\n")),
            "Syntax",
        ),
        made(
            "document-direction",
            "grant document",
            "A direction that is none of push, pull, both (a value outside the document's schema is a syntax error).",
            input(base.replace("\"both\"", "\"sideways\"")),
            "Syntax",
        ),
        made(
            "document-quota-zero",
            "grant document",
            "A packet quota of 0, which permits nothing.",
            input(format!("{base}quota = {{ max_packets = 0 }}\n")),
            "Field",
        ),
        made(
            "document-purpose",
            "grant document",
            "A purpose that is not a valid purpose name (an upper-case letter).",
            input(base.replace("social-security.eligibility", "Social-security.eligibility")),
            "Field",
        ),
        made(
            "document-times",
            "grant document",
            "not_after before not_before.",
            input(base.replace("2028-01-15T08:00:00Z", "2026-01-15T08:00:00Z")),
            "Field",
        ),
    ]
}

/// Sets of log exports, audited together; the class is every finding's code, sorted, joined by `+`.
fn audit_cases(social_export: &str, grant_chain: &[u8], bundle: &str) -> Vec<serde_json::Value> {
    let tax = Arc::new(IdentityKey::from_seed(&[2; 32]));
    let social = Arc::new(IdentityKey::from_seed(&[5; 32]));
    let chain = tally_wire::decode_grant_chain(grant_chain).expect("a chain");
    let grant = chain[0].clone();
    let b = bundle_from_text(bundle).expect("parses");
    let receipt = match &b.receipt {
        tally_wire::BundledReceipt::Signed(s) => s.unverified().clone(),
        tally_wire::BundledReceipt::Logged(e) => e.value().clone(),
    };
    let export = |who: &str, key: &Arc<IdentityKey>, entries: Vec<LogEntry>| {
        let log = Log::new(MemoryStore::new(), &agency(who), Arc::clone(key));
        log.append(&entries).expect("appends");
        let (c, note) = log.checkpoint().expect("signs");
        let entries =
            (0..c.size).map(|i| hex(&tally_receipt::LogStore::entry(log.store(), i).expect("an entry"))).collect();
        serde_json::to_value(tally_audit::LogExport {
            format: tally_audit::LOG_EXPORT_FORMAT.into(),
            agency: agency(who),
            checkpoint: note,
            entries,
        })
        .expect("JSON")
    };
    let social_log: serde_json::Value = serde_json::from_str(social_export).expect("JSON");
    let signed = |r: Receipt| social.sign_object(r).expect("signs");
    let with = |change: &dyn Fn(&mut Receipt)| {
        let mut r = receipt.clone();
        change(&mut r);
        r
    };
    let tax_holding = |entries: Vec<LogEntry>| {
        export("tax-bureau", &tax, [vec![LogEntry::GrantIssued(grant.clone())], entries].concat())
    };
    let input = |exports: Vec<serde_json::Value>| serde_json::json!({ "exports": exports });
    let later = |secs: u64| with(&|r| r.received_at = Timestamp::from_secs(T + secs));
    let deletion = tally_wire::DeletionRecord {
        agency: agency("social-security"),
        grant: grant_id(&grant),
        packets: BoundedVec::new(vec![receipt.packet_id]).expect("one"),
        erased_at: Timestamp::from_secs(T + 60),
        reason: tally_wire::DeletionReason::REVOKED_WITH_ERASURE,
    };
    let one_packet = {
        let doc = GrantDocument::from_toml("grantee = \"social-security\"\npurposes = [\"social-security.eligibility\"]\ncategories = [\"income.annual\"]\nnot_before = \"2027-01-15T08:00:00Z\"\nnot_after = \"2028-01-15T08:00:00Z\"\ndirection = \"both\"\nretention = \"90days\"\nquota = { max_packets = 1 }\n").expect("a document");
        issue_grant(&tax, &agency("tax-bureau"), &doc, Timestamp::from_secs(T)).expect("issues")
    };
    let under = |g: &Signed<tally_wire::Grant>, n: u8| {
        with(&|r| {
            r.grant = grant_id(g);
            r.packet_id = PacketId([n; 16]);
        })
    };
    vec![
        made(
            "audit-missing-at-sender",
            "log exports",
            "The recipient's log (social.log.json) and a sender's log without its receipt.",
            input(vec![social_log.clone(), tax_holding(vec![])]),
            "missing-at-sender",
        ),
        made(
            "audit-missing-at-recipient",
            "log exports",
            "The sender holds the recipient's signed receipt; the recipient's log holds only grants.",
            input(vec![
                export(
                    "social-security",
                    &social,
                    vec![LogEntry::GrantReceived(grant.clone()), LogEntry::GrantReceived(one_packet.clone())],
                ),
                tax_holding(vec![LogEntry::ReceiptReceived(signed(receipt.clone()))]),
            ]),
            "missing-at-recipient",
        ),
        made(
            "audit-receipts-differ",
            "log exports",
            "The sender holds a receipt the recipient signed for the packet, but another one than its log holds (its time differs).",
            input(vec![social_log.clone(), tax_holding(vec![LogEntry::ReceiptReceived(signed(later(51)))])]),
            "receipts-differ",
        ),
        made(
            "audit-duplicate-packet-id",
            "log exports",
            "The recipient's log holds two different receipts it issued for one packet.",
            input(vec![export(
                "social-security",
                &social,
                vec![
                    LogEntry::GrantReceived(grant.clone()),
                    LogEntry::ReceiptIssued(signed(receipt.clone())),
                    LogEntry::ReceiptIssued(signed(later(52))),
                ],
            )]),
            "duplicate-packet-id",
        ),
        made(
            "audit-time-regression",
            "log exports",
            "A receipt the recipient issued dated 10 minutes before the one before it.",
            input(vec![export(
                "social-security",
                &social,
                vec![
                    LogEntry::GrantReceived(grant.clone()),
                    LogEntry::ReceiptIssued(signed(later(1000))),
                    LogEntry::ReceiptIssued(signed(with(&|r| {
                        r.packet_id = PacketId([7; 16]);
                        r.received_at = Timestamp::from_secs(T + 400);
                    }))),
                ],
            )]),
            "time-regression",
        ),
        made(
            "audit-bad-signature",
            "log exports",
            "A receipt naming social-security as recipient, signed by the tax bureau's key, in social-security's log.",
            input(vec![export(
                "social-security",
                &social,
                vec![
                    LogEntry::GrantReceived(grant.clone()),
                    LogEntry::ReceiptIssued(tax.sign_object(receipt.clone()).expect("signs")),
                ],
            )]),
            "bad-signature",
        ),
        made(
            "audit-no-valid-grant",
            "log exports",
            "An accepted receipt and no grant in the log.",
            input(vec![export("social-security", &social, vec![LogEntry::ReceiptIssued(signed(receipt.clone()))])]),
            "no-valid-grant",
        ),
        made(
            "audit-quota-exceeded",
            "log exports",
            "Two packets under a grant of one packet.",
            input(vec![export(
                "social-security",
                &social,
                vec![
                    LogEntry::GrantReceived(one_packet.clone()),
                    LogEntry::ReceiptIssued(signed(under(&one_packet, 1))),
                    LogEntry::ReceiptIssued(signed(with(&|r| {
                        r.grant = grant_id(&one_packet);
                        r.packet_id = PacketId([2; 16]);
                        r.received_at = Timestamp::from_secs(T + 70);
                    }))),
                ],
            )]),
            "quota-exceeded",
        ),
        made(
            "audit-erasure-without-revocation",
            "log exports",
            "A deletion record \"revoked with erasure\" and no revocation in the log.",
            input(vec![export(
                "social-security",
                &social,
                vec![
                    LogEntry::GrantReceived(grant.clone()),
                    LogEntry::ReceiptIssued(signed(receipt.clone())),
                    LogEntry::Deletion(tally_wire::Encoded::new(deletion).expect("encodes")),
                ],
            )]),
            "erasure-without-revocation",
        ),
        made(
            "audit-fork",
            "log exports",
            "The sender holds a bundle under a checkpoint of another history of the recipient's log than the one it exports.",
            input(vec![
                social_log.clone(),
                tax_holding(vec![
                    LogEntry::BundleReceived(b.clone()),
                    LogEntry::BundleReceived({
                        let forked = Log::new(MemoryStore::new(), &agency("social-security"), Arc::clone(&social));
                        forked.append(&[LogEntry::GrantReceived(one_packet.clone())]).expect("appends");
                        let (r, i) = forked.issue_receipt(receipt.clone()).expect("issues");
                        forked.bundle_of(r, i).expect("bundles")
                    }),
                ]),
            ]),
            "fork",
        ),
    ]
}

/// The frames of a packet stream, each with its prefix.
fn split_frames(stream: &[u8]) -> Vec<Vec<u8>> {
    let mut frames = Vec::new();
    let mut at = 0;
    while at < stream.len() {
        let p = tally_wire::FramePrefix::parse(&stream[at..]).expect("a frame").expect("a whole prefix");
        frames.push(stream[at..at + p.prefix_len + p.body_len].to_vec());
        at += p.prefix_len + p.body_len;
    }
    frames
}

/// Opens a packet stream case with its KEM secret; the class of its failure.
fn open_stream(case: &serde_json::Value, sender: &tally_wire::IdentityPublicKey) -> Option<String> {
    let input = &case["input"];
    let secret: [u8; 32] = unhex(input["kem_secret"].as_str().expect("hex")).try_into().expect("32 bytes");
    let stream = unhex(input["hex"].as_str().expect("hex"));
    let verifier = IdentityVerifier::new(sender).expect("a key");
    tally_envelope::read_packet(&KemKey::from_bytes(secret), |_| Ok(verifier), stream.as_slice(), std::io::sink())
        .err()
        .map(|e| class(&e))
}

/// Runs one conformance case with the reader a node or an auditor uses; returns the class of its failure.
fn conformance_failure(
    case: &serde_json::Value,
    directory: &VerifiedDirectory,
    operator: &tally_wire::IdentityPublicKey,
) -> Option<String> {
    let input = &case["input"];
    let bytes = || unhex(input["hex"].as_str().expect("hex"));
    let text = || input["text"].as_str().expect("text").to_owned();
    match case["object"].as_str().expect("object") {
        "directory" => VerifiedDirectory::decode(&bytes(), operator).err().map(|e| class(&e)),
        "grant file" => match tally_wire::decode_grant_chain(&bytes()) {
            Err(e) => Some(class(&e)),
            Ok(chain) => VerifiedChain::verify(&chain, directory).err().map(|e| class(&e)),
        },
        "revocation file" => match Signed::<Revocation>::decode(&bytes()) {
            Err(e) => Some(class(&e)),
            Ok(r) => tally_grant::RevocationSet::new().insert(r, directory).err().map(|e| class(&e)),
        },
        "bundle" => match bundle_from_text(&text()) {
            Err(e) => Some(class(&e)),
            Ok(b) => verify_bundle(&b, |a| directory.agency(a).map(|r| r.identity_key)).err().map(|e| class(&e)),
        },
        "log export" => {
            let export: tally_audit::LogExport = serde_json::from_str(&text()).expect("JSON");
            let report = tally_audit::audit(directory, &[export], &[]);
            report.findings.first().map(|f| f.kind.code().to_owned())
        }
        "packet stream" => {
            let packets: serde_json::Value = serde_json::from_str(
                &std::fs::read_to_string(concat!(
                    env!("CARGO_MANIFEST_DIR"),
                    "/../../spec/vectors/envelope/packets.json"
                ))
                .expect("the envelope vectors"),
            )
            .expect("JSON");
            let sender: tally_wire::IdentityPublicKey =
                packets["sender_public"].as_str().expect("hex").parse().expect("a key");
            open_stream(case, &sender)
        }
        "checkpoint note" => {
            let key = directory.agency(&agency("social-security")).expect("listed").identity_key;
            let origin = tally_receipt::log_origin(&agency("social-security"));
            tally_receipt::note::verify_checkpoint(&text(), &origin, &key).err().map(|e| class(&e))
        }
        "fork evidence" => {
            let key = directory.agency(&agency("social-security")).expect("listed").identity_key;
            let origin = tally_receipt::log_origin(&agency("social-security"));
            let evidence: tally_receipt::ForkEvidence = serde_json::from_str(&text()).expect("JSON");
            evidence.verify(&origin, &key).err().map(|e| class(&e))
        }
        "grant document" => match GrantDocument::from_toml(&text()) {
            Err(e) => Some(class(&e)),
            Ok(doc) => {
                let tax = IdentityKey::from_seed(&[2; 32]);
                issue_grant(&tax, &agency("tax-bureau"), &doc, Timestamp::from_secs(T)).err().map(|e| class(&e))
            }
        },
        "log exports" => {
            let exports: Vec<tally_audit::LogExport> = input["exports"]
                .as_array()
                .expect("exports")
                .iter()
                .map(|e| serde_json::from_value(e.clone()).expect("an export"))
                .collect();
            let report = tally_audit::audit(directory, &exports, &[]);
            let mut codes: Vec<&str> = report.findings.iter().map(|f| f.kind.code()).collect();
            codes.sort_unstable();
            codes.dedup();
            (!codes.is_empty()).then(|| codes.join("+"))
        }
        "key file" => {
            let dir = tempfile::tempdir().expect("a temp dir");
            let path = dir.path().join("identity.key");
            std::fs::write(&path, text()).expect("writes");
            std::fs::set_permissions(&path, std::os::unix::fs::PermissionsExt::from_mode(0o600)).expect("0600");
            tally_envelope::read_identity_key(&path).err().map(|e| class(&e))
        }
        other => panic!("unknown object {other}"),
    }
}

#[test]
fn every_conformance_case_fails_as_it_says() {
    // Each case's class, as the code reports it, must be the one the case
    // was made for (its class, or that class wrapping the precise one).
    let (operator, directory) = {
        let files = files();
        let get = |name: &str| files.iter().find(|(n, _)| *n == name).map(|(_, v)| v.clone()).expect("a file");
        let operator: tally_wire::IdentityPublicKey =
            get("operator.pub")["text"].as_str().expect("text").trim().parse().expect("hex");
        let directory =
            VerifiedDirectory::decode(&unhex(get("directory.tally")["hex"].as_str().expect("hex")), &operator)
                .expect("verifies");
        (operator, directory)
    };
    let mut cases = conformance_cases();
    for case in &mut cases {
        let intended = case["expect"].as_str().expect("expect").to_owned();
        let got = conformance_failure(case, &directory, &operator).expect("the case fails");
        let got = format!("{} failure: {got}", case["object"].as_str().expect("object"));
        assert!(got.starts_with(&intended), "case {}: made for {intended}, but the code says {got}", case["name"]);
        case["expect"] = got.into();
    }
    let document = serde_json::json!({
        "description": "Conformance cases (spec/README.md, \"Conformance\"): each an input made from the files of ../files/files.json (and, for packet streams, the first packet of ../envelope/packets.json with the KEM secret given) and the failure it must give, as `<object> failure: <class>` (a class that wraps a more precise one, `Wire/Truncated`, names both). The directory and operator key are those of files.json.",
        "cases": cases,
    });
    check_golden(&conformance_file(), &(serde_json::to_string_pretty(&document).expect("JSON") + "\n"));
    let files: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(vector_file()).expect("the vectors")).expect("JSON");
    let operator: tally_wire::IdentityPublicKey =
        files["files"]["operator.pub"]["text"].as_str().expect("text").trim().parse().expect("hex");
    let directory =
        VerifiedDirectory::decode(&unhex(files["files"]["directory.tally"]["hex"].as_str().expect("hex")), &operator)
            .expect("the directory verifies");
    let stored: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(conformance_file()).expect("the cases")).expect("JSON");
    for case in stored["cases"].as_array().expect("cases") {
        let expect = case["expect"].as_str().expect("expect");
        let got = conformance_failure(case, &directory, &operator)
            .map(|class| format!("{} failure: {class}", case["object"].as_str().expect("object")));
        assert_eq!(got.as_deref(), Some(expect), "case {}", case["name"]);
    }
}
