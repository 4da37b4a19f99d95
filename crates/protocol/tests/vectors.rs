//! Golden vector of a pull refusal, `spec/vectors/protocol/pull-refusal.json`
//! (spec/protocol.md, "Pull"): a signed pull request, its digest
//! `H("tally/v1/hash/pull-request", body)`, and the responder's signed
//! refusal naming it. Every input is fixed (Ed25519 is deterministic).
//! The file must equal what the code generates, and the stored refusal
//! must verify under the stored responder key and name the stored request.
//! Regenerate after a deliberate change with
//! `TALLY_BLESS=1 cargo test -p tally-protocol --test vectors`.

mod clock;

use std::path::PathBuf;

use serde_json::{Value, json};
use tally_envelope::{IdentityKey, IdentityVerifier, request_digest};
use tally_protocol::{Config, Responder, ResponderRequest, ResponderResponse};
use tally_testkit::{blessing, check_golden, hex, unhex};
use tally_wire::{
    AgencyId, BoundedBytes, BoundedVec, DataCategory, Frame, GrantId, IdentityPublicKey, Outcome, PullRequest, Purpose,
    ReasonCode, Receipt, Request, RequestId, Signed, Timestamp,
};

const REQUESTER_SEED: [u8; 32] = [0x11; 32];
const RESPONDER_SEED: [u8; 32] = [0x22; 32];
const DECIDED_AT: u64 = 1_800_000_100;

fn path() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../spec/vectors/protocol/pull-refusal.json")
}

fn agency(s: &str) -> AgencyId {
    AgencyId::new(s).expect("valid")
}

fn generate() -> Value {
    let requester = IdentityKey::from_seed(&REQUESTER_SEED);
    let responder = IdentityKey::from_seed(&RESPONDER_SEED);
    let request = requester
        .sign_object(PullRequest {
            request_id: RequestId([0x33; 16]),
            requester: agency("social-security"),
            responder: agency("tax-bureau"),
            grant: GrantId([0x44; 32]),
            purpose: Purpose::new("social-security.eligibility").expect("valid"),
            category: DataCategory::new("income.annual").expect("valid"),
            query: BoundedBytes::new(b"year=2025".to_vec()).expect("short"),
            created_at: Timestamp::from_secs(1_800_000_000),
        })
        .expect("signs");
    // The refusal is made by the responder's state machine, signed by its host.
    let now = clock::at(DECIDED_AT);
    let mut machine = Responder::new(agency("tax-bureau"), agency("social-security"), Config::default(), now);
    machine.handle_frame(Frame::Request(Request { request: request.clone(), grant_chain: BoundedVec::empty() }), now);
    assert!(matches!(machine.poll_request(), Some(ResponderRequest::Decide { .. })));
    machine.handle_host(ResponderResponse::Deny(ReasonCode::DIRECTION_NOT_GRANTED), now);
    let Some(ResponderRequest::Reject { receipt }) = machine.poll_request() else { panic!("a refusal to sign") };
    let refusal = responder.sign_object(receipt).expect("signs");
    json!({
        "description": "A pull request refused (spec/protocol.md, Pull): the refusal is a receipt signed by the responder whose packet_id is the request id and whose header_digest is H(\"tally/v1/hash/pull-request\", request body).",
        "requester_seed": hex(&REQUESTER_SEED),
        "requester_public": requester.public_key().to_hex(),
        "responder_seed": hex(&RESPONDER_SEED),
        "responder_public": responder.public_key().to_hex(),
        "request": hex(&request.encode()),
        "request_digest": request_digest(&request).to_hex(),
        "refusal": hex(&refusal.encode()),
    })
}

#[test]
fn vector_file_matches_the_code() {
    let text = serde_json::to_string_pretty(&generate()).expect("serializes") + "\n";
    check_golden(&path(), &text);
}

#[test]
fn the_stored_refusal_verifies_and_names_the_stored_request() {
    if blessing() {
        return;
    }
    let text = std::fs::read_to_string(path()).unwrap_or_else(|e| panic!("{}: {e}", path().display()));
    let doc: Value = serde_json::from_str(&text).expect("valid JSON");
    let field = |k: &str| unhex(doc[k].as_str().expect("hex string"));
    let key = |k: &str| IdentityVerifier::new(&IdentityPublicKey(field(k).try_into().expect("32 bytes"))).expect("key");
    let request = Signed::<PullRequest>::decode(&field("request")).expect("decodes");
    let asked = key("requester_public").verify_object(&request).expect("the requester signed it");
    let digest = tally_envelope::digest(tally_wire::label::PULL_REQUEST_DIGEST, &[request.body()]);
    assert_eq!(digest.0.to_vec(), field("request_digest"));
    let refusal = Signed::<Receipt>::decode(&field("refusal")).expect("decodes");
    let r = key("responder_public").verify_object(&refusal).expect("the responder signed it");
    assert_eq!(r.packet_id.0, asked.request_id.0);
    assert_eq!(r.header_digest, digest);
    assert_eq!((&r.sender, &r.recipient), (&asked.requester, &asked.responder));
    assert_eq!((r.grant, &r.purpose), (asked.grant, &asked.purpose));
    assert_eq!(r.received_at, Timestamp::from_secs(DECIDED_AT));
    assert_eq!(r.outcome, Outcome::Rejected { reason: ReasonCode::DIRECTION_NOT_GRANTED });
}
