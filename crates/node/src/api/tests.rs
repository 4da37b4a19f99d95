//! The OpenAPI document (`spec/api.openapi.json`) against the API's types
//! and routes: every route is documented and every documented route is
//! served ([`ROUTES`]), and each schema names exactly the fields the Rust
//! type serializes. The live server is checked in `crates/cli/tests/api.rs`.

use std::collections::BTreeSet;

use serde_json::Value;
use tally_wire::{AgencyId, DataCategory, GrantId, PacketId, Purpose};

use super::*;

fn document() -> Value {
    let text = std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/../../spec/api.openapi.json"))
        .expect("spec/api.openapi.json");
    serde_json::from_str(&text).expect("the OpenAPI document is JSON")
}

#[test]
fn the_openapi_document_lists_exactly_the_served_routes() {
    let doc = document();
    let documented: BTreeSet<(String, String)> = doc["paths"]
        .as_object()
        .expect("paths")
        .iter()
        .flat_map(|(path, ops)| {
            ops.as_object().expect("operations").keys().map(move |method| (method.clone(), path.clone()))
        })
        .collect();
    let served: BTreeSet<(String, String)> = ROUTES.iter().map(|(m, p)| ((*m).to_owned(), (*p).to_owned())).collect();
    assert_eq!(documented, served);
}

fn summary() -> ReceiptSummary {
    ReceiptSummary {
        packet: PacketId([1; 16]),
        sender: AgencyId::new("tax-bureau").expect("valid"),
        recipient: AgencyId::new("social-security").expect("valid"),
        grant: GrantId([2; 32]),
        purpose: Purpose::new("social-security.eligibility").expect("valid"),
        outcome: "accepted".into(),
        at: "2027-01-01T00:00:00Z".into(),
    }
}

/// Every schema of the document with a sample of the Rust type it describes.
fn samples() -> Vec<(&'static str, Value)> {
    let json = |v: &dyn erased::Sample| v.json();
    let agency = AgencyId::new("tax-bureau").expect("valid");
    let delivery = Delivery { agency: agency.clone(), error: None };
    let answer = SendAnswer {
        send_id: Some("a1".parse().expect("a send id")),
        packet: PacketId([1; 16]),
        result: SendResult::Delivered,
        receipt: Some(summary()),
        previously: None,
        pending: None,
    };
    let pending = Pending { endpoint: "127.0.0.1:4433".into(), error: "no".into(), attempts: 1, next_try: None };
    let unfinished = UnfinishedSend {
        send_id: None,
        packet: PacketId([1; 16]),
        to: agency.clone(),
        size: 3,
        running: false,
        attempts: 1,
        last_error: None,
        next_try: None,
    };
    let peer = PeerStatus {
        agency: agency.clone(),
        endpoint: "127.0.0.1:4433".into(),
        endpoints: vec!["127.0.0.1:4433".into(), "127.0.0.1:4434".into()],
        reachable: None,
        last_success: None,
        last_error: None,
        unfinished_sends: 0,
        checkpoint: Some(CheckpointShown { size: 7, root: tally_wire::Digest([3; 32]) }),
        unproven_checkpoint: None,
        log_forks: 0,
    };
    let revocation = RevocationShown {
        grant: GrantId([2; 32]),
        by: agency.clone(),
        effective_at: String::new(),
        reason: "breach".into(),
        erase: true,
        pending: false,
    };
    let usage = UsageShown { packets: 1, max_packets: Some(2), bytes: 3, max_bytes: None };
    let status = GrantStatus { state: GrantState::Revoked, revocation: Some(revocation.clone()), usage: usage.clone() };
    vec![
        ("Problem", json(&Problem::new(ProblemCode::NotFound, "no packet"))),
        ("Health", json(&Health { status: "ok".into(), reasons: vec![] })),
        ("Pending", json(&pending)),
        ("UnfinishedSend", json(&unfinished)),
        ("PeerStatus", json(&peer)),
        ("CheckpointShown", json(&CheckpointShown { size: 7, root: tally_wire::Digest([3; 32]) })),
        (
            "ReceiptProof",
            json(&ReceiptProof { log: agency.clone(), index: 3, checkpoint_size: Some(4), checkpoint_root: None }),
        ),
        ("RevocationShown", json(&revocation)),
        ("UsageShown", json(&usage)),
        ("GrantStatus", json(&status)),
        (
            "Status",
            json(&Status {
                agency: agency.clone(),
                listen: "127.0.0.1:4433".parse().expect("an address"),
                directory_serial: 1,
                log_size: 2,
                unfinished_sends: 0,
                sends: vec![unfinished.clone()],
                peers: vec![peer.clone()],
                tls: TlsStatus {
                    key_exchange: crate::config::KeyExchangeSetting::HybridPreferred,
                    hybrid: 1,
                    classical: 0,
                },
            }),
        ),
        (
            "TlsStatus",
            json(&TlsStatus {
                key_exchange: crate::config::KeyExchangeSetting::HybridRequired,
                hybrid: 0,
                classical: 0,
            }),
        ),
        ("ReceiptSummary", json(&summary())),
        ("SendAnswer", json(&answer)),
        ("Resumed", json(&Resumed { packet: PacketId([1; 16]), answer: Some(answer.clone()), problem: None })),
        (
            "PullOptions",
            json(&PullOptions {
                to: agency.clone(),
                grant: GrantId([2; 32]),
                purpose: Purpose::new("social-security.eligibility").expect("valid"),
                category: DataCategory::new("income.annual").expect("valid"),
                query: String::new(),
            }),
        ),
        ("PullAnswer", json(&PullAnswer { result: PullResult::Answered, refusal: None, packets: vec![summary()] })),
        ("Delivery", json(&delivery)),
        (
            "GrantIssued",
            json(&GrantIssued { grant: GrantId([2; 32]), file: "00".into(), delivered: vec![delivery.clone()] }),
        ),
        ("GrantKept", json(&GrantKept { grant: GrantId([2; 32]) })),
        (
            "GrantShown",
            json(&GrantShown {
                grant: GrantId([2; 32]),
                chain_depth: 1,
                verdict: "verified".into(),
                verified: true,
                document: crate::tests::fixture::document("social-security", "income", ""),
                status: status.clone(),
            }),
        ),
        (
            "GrantSummary",
            json(&GrantSummary {
                grant: GrantId([2; 32]),
                issuer: agency.clone(),
                grantee: agency.clone(),
                purposes: vec![],
                categories: vec![],
                not_before: String::new(),
                not_after: String::new(),
                depth: 1,
                status: status.clone(),
            }),
        ),
        ("RevokeRequest", json(&RevokeRequest { reason: RevokeReason::PurposeEnded, erase: true, effective_at: None })),
        ("Revoked", json(&Revoked { grant: GrantId([2; 32]), file: "00".into(), delivered: vec![] })),
        ("RevocationKept", json(&RevocationKept { new: true })),
        (
            "InboxEntry",
            json(&InboxEntry {
                packet: PacketId([1; 16]),
                sender: agency.clone(),
                grant: GrantId([2; 32]),
                purpose: Purpose::new("social-security.eligibility").expect("valid"),
                category: DataCategory::new("income.annual").expect("valid"),
                suite: "XWING_SHA256_AES256GCM".into(),
                size: 3,
                received_at: String::new(),
                erased_at: None,
            }),
        ),
        (
            "ReceiptEntry",
            json(&ReceiptEntry {
                index: 0,
                side: Side::Issued,
                batch_signed: true,
                proof: Some(ReceiptProof {
                    log: agency.clone(),
                    index: 0,
                    checkpoint_size: Some(1),
                    checkpoint_root: Some(tally_wire::Digest([4; 32])),
                }),
                receipt: summary(),
            }),
        ),
        (
            "PacketImported",
            json(&PacketImported { result: SendResult::Delivered, receipt: summary(), bundle: String::new() }),
        ),
        ("RevealAnswer", json(&RevealAnswer { packet: PacketId([1; 16]), reveal: "00".into(), received: true })),
        ("CheckpointAnswer", json(&CheckpointAnswer { checkpoint: String::new() })),
        (
            "LogExport",
            json(&crate::LogExport {
                format: crate::LOG_EXPORT_FORMAT.into(),
                agency: agency.clone(),
                checkpoint: String::new(),
                entries: vec![],
            }),
        ),
        (
            "Followed",
            json(&crate::Followed { agency: agency.clone(), size: 12, fetched: 7, checkpoint: String::new() }),
        ),
        ("FetchFrom", json(&FetchFrom { from: agency })),
        ("Erased", json(&Erased { erased: 0 })),
        ("DirectoryReloaded", json(&DirectoryReloaded { updated: false })),
        ("DirectoryFetched", json(&DirectoryFetched { serial: Some(2) })),
    ]
}

mod erased {
    pub(super) trait Sample {
        fn json(&self) -> serde_json::Value;
    }
    impl<T: serde::Serialize> Sample for T {
        fn json(&self) -> serde_json::Value {
            serde_json::to_value(self).expect("an API type serializes")
        }
    }
}

#[test]
fn every_schema_names_exactly_the_fields_its_type_has() {
    let doc = document();
    let schemas = doc["components"]["schemas"].as_object().expect("schemas");
    let samples = samples();
    let mut checked = BTreeSet::new();
    for (name, value) in &samples {
        let schema = &schemas[*name];
        let properties: BTreeSet<&str> = schema["properties"]
            .as_object()
            .unwrap_or_else(|| panic!("{name}: properties"))
            .keys()
            .map(String::as_str)
            .collect();
        let fields: BTreeSet<&str> = value.as_object().expect("an object").keys().map(String::as_str).collect();
        assert_eq!(properties, fields, "schema {name}");
        for required in schema["required"].as_array().expect("required") {
            assert!(fields.contains(required.as_str().expect("a name")), "{name}: required {required}");
        }
        checked.insert(*name);
    }
    // Every schema but the grant document (spec/grants.md's) is checked.
    let all: BTreeSet<&str> = schemas.keys().map(String::as_str).filter(|n| *n != "GrantIssue").collect();
    assert_eq!(all, checked);
}

#[test]
fn a_problem_code_has_its_status_and_name() {
    for code in [
        ProblemCode::BadRequest,
        ProblemCode::NotFound,
        ProblemCode::Refused,
        ProblemCode::PeerFailed,
        ProblemCode::NodeFailed,
        ProblemCode::Unauthorized,
        ProblemCode::LengthRequired,
        ProblemCode::Cancelled,
    ] {
        let problem = Problem::new(code, "x");
        let value = serde_json::to_value(&problem).expect("serializes");
        assert_eq!(value["code"], code.name());
        assert_eq!(value["type"], format!("urn:tally:problem:{}", code.name()));
        assert_eq!(value["status"], code.status());
    }
}
