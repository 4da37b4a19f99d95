//! Golden vectors of the packet construction, `spec/vectors/envelope/packets.json`
//! (DHKEM(X25519) suites) and `xwing-packets.json` (X-Wing suites).
//!
//! Every input is fixed (keys, packet id, ephemeral key; Ed25519 signatures
//! are deterministic), so another implementation can check each
//! intermediate value. The test fails when the code and the file disagree:
//! the file must equal what the code generates, and each stored packet
//! must open with the stored keys to the stored payload and digests.
//! Regenerate after a deliberate change with
//! `TALLY_BLESS=1 cargo test -p tally-envelope --test vectors`.

mod support;

use std::path::PathBuf;

use serde_json::{Value, json};
use tally_envelope::{Ephemeral, IdentityKey, IdentityVerifier, KemKey, Sealer, header_digest, read_packet};
use tally_wire::{AgencyId, BoundedVec, Frame, Kem, PacketId, SuiteId, Timestamp};

use support::{payload, spec};
use tally_testkit::{blessing, check_golden, hex};

fn path(kem: Kem) -> PathBuf {
    let name = match kem {
        Kem::X25519 => "packets.json",
        Kem::XWing => "xwing-packets.json",
    };
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../spec/vectors/envelope").join(name)
}

fn unhex(v: &Value) -> Vec<u8> {
    tally_testkit::unhex(v.as_str().expect("hex string"))
}

fn arr32(v: &Value) -> [u8; 32] {
    unhex(v).try_into().expect("32 bytes")
}

struct Case {
    name: &'static str,
    description: &'static str,
    suite: SuiteId,
    chunk_size: u32,
    payload_len: usize,
}

const CASES: &[Case] = &[
    Case {
        name: "aes256gcm-three-chunks",
        description: "AES-256-GCM, chunk size 1024, 2500-byte payload: chunks of 1024, 1024 and 452 bytes.",
        suite: SuiteId::X25519_SHA256_AES256GCM,
        chunk_size: 1024,
        payload_len: 2500,
    },
    Case {
        name: "aes256gcm-exact-multiple",
        description: "AES-256-GCM, chunk size 1024, 2048-byte payload: two full chunks, no empty third.",
        suite: SuiteId::X25519_SHA256_AES256GCM,
        chunk_size: 1024,
        payload_len: 2048,
    },
    Case {
        name: "chacha20poly1305-one-chunk",
        description: "ChaCha20-Poly1305, default chunk size, 100-byte payload.",
        suite: SuiteId::X25519_SHA256_CHACHA20POLY1305,
        chunk_size: 65536,
        payload_len: 100,
    },
    Case {
        name: "aes256gcm-empty",
        description: "AES-256-GCM, empty payload: one chunk of 0 plaintext bytes (the tag only).",
        suite: SuiteId::X25519_SHA256_AES256GCM,
        chunk_size: 65536,
        payload_len: 0,
    },
];

const XWING_CASES: &[Case] = &[
    Case {
        name: "xwing-aes256gcm-three-chunks",
        description: "X-Wing, AES-256-GCM, chunk size 1024, 2500-byte payload: chunks of 1024, 1024 and 452 bytes.",
        suite: SuiteId::XWING_SHA256_AES256GCM,
        chunk_size: 1024,
        payload_len: 2500,
    },
    Case {
        name: "xwing-chacha20poly1305-one-chunk",
        description: "X-Wing, ChaCha20-Poly1305, default chunk size, 100-byte payload.",
        suite: SuiteId::XWING_SHA256_CHACHA20POLY1305,
        chunk_size: 65536,
        payload_len: 100,
    },
    Case {
        name: "xwing-aes256gcm-empty",
        description: "X-Wing, AES-256-GCM, empty payload: one chunk of 0 plaintext bytes (the tag only).",
        suite: SuiteId::XWING_SHA256_AES256GCM,
        chunk_size: 65536,
        payload_len: 0,
    },
];

fn cases_of(kem: Kem) -> &'static [Case] {
    match kem {
        Kem::X25519 => CASES,
        Kem::XWing => XWING_CASES,
    }
}

const SENDER_SEED: [u8; 32] = [0x01; 32];
const RECIPIENT_SEED: [u8; 32] = [0x02; 32];
const KEM_SECRET: [u8; 32] = [0x03; 32];
const EPHEMERAL: [u8; 32] = [0x04; 32];
/// X-Wing's encapsulation randomness: 32 bytes for ML-KEM, then 32 for X25519.
const XWING_RANDOMNESS: [u8; 64] = [0x06; 64];
const PACKET_ID: [u8; 16] = [0x05; 16];

fn randomness(kem: Kem) -> (Ephemeral, &'static str, Vec<u8>) {
    match kem {
        Kem::X25519 => (Ephemeral::X25519(EPHEMERAL), "ephemeral_secret", EPHEMERAL.to_vec()),
        Kem::XWing => (Ephemeral::XWing(XWING_RANDOMNESS), "encapsulation_randomness", XWING_RANDOMNESS.to_vec()),
    }
}

fn generate(kem_kind: Kem) -> Value {
    let sender = IdentityKey::from_seed(&SENDER_SEED);
    let recipient = IdentityKey::from_seed(&RECIPIENT_SEED);
    let kem = KemKey::from_secret(kem_kind, KEM_SECRET);
    let (ephemeral, randomness_name, randomness_bytes) = randomness(kem_kind);
    let agency = AgencyId::new("social-security").expect("valid");
    let cert = kem
        .certify(&recipient, agency, Timestamp::from_secs(1_790_000_000), Timestamp::from_secs(1_800_000_000))
        .expect("certifies");
    let mut cases = Vec::new();
    for case in cases_of(kem_kind) {
        let plaintext = payload(case.payload_len);
        let (mut sealer, offer) = Sealer::dangerous_new_deterministic(
            cert.unverified(),
            spec(case.payload_len as u64, case.chunk_size, case.suite),
            BoundedVec::empty(),
            PacketId(PACKET_ID),
            ephemeral,
        )
        .expect("seals");
        let mut stream = Frame::Offer(offer.clone()).encode().expect("encodes");
        let mut chunks = Vec::new();
        let mut at = 0;
        while let Some(len) = sealer.next_chunk_len() {
            let mut buf = plaintext[at..at + len].to_vec();
            at += len;
            let chunk = sealer.seal_chunk(&mut buf).expect("seals");
            chunks.push(hex(&chunk.data));
            Frame::Chunk(chunk).encode_into(&mut stream).expect("encodes");
        }
        let sealed = sealer.finish(&sender).expect("finishes");
        Frame::Trailer(sealed.trailer).encode_into(&mut stream).expect("encodes");
        cases.push(json!({
            "name": case.name,
            "description": case.description,
            "suite": case.suite.0,
            "payload": hex(&plaintext),
            "header": hex(offer.header.body()),
            "header_digest": header_digest(&offer.header).to_hex(),
            "enc": hex(offer.encapsulated_key.as_bytes()),
            "chunks": chunks,
            "ciphertext_fingerprint": sealed.digests.ciphertext_fingerprint.to_hex(),
            "commitment_key": hex(sealed.commitment_key.reveal()),
            "content_commitment": sealed.digests.content_commitment.to_hex(),
            "trailer_signature": sealed.trailer.signature.to_hex(),
            "stream": hex(&stream),
        }));
    }
    let description = match kem_kind {
        Kem::X25519 => {
            "Sealed packets (spec/envelope.md) with every input fixed. The ephemeral key is fixed for reproducibility only: never reuse one."
        }
        Kem::XWing => {
            "Packets sealed with X-Wing (spec/envelope.md) with every input fixed: kem_secret is the X-Wing seed (the decapsulation key), encapsulation_randomness Encap's 64 bytes (ML-KEM's 32, then X25519's ephemeral key). Fixed for reproducibility only: never reuse randomness."
        }
    };
    let mut doc = json!({
        "description": description,
        "kem": kem_kind.name(),
        "sender_seed": hex(&SENDER_SEED),
        "sender_public": sender.public_key().to_hex(),
        "recipient_seed": hex(&RECIPIENT_SEED),
        "recipient_public": recipient.public_key().to_hex(),
        "kem_secret": hex(&KEM_SECRET),
        "kem_public": hex(kem.public_key().as_bytes()),
        "kem_key_id": kem.key_id().to_hex(),
        "kem_certificate": hex(&cert.encode()),
        "packet_id": hex(&PACKET_ID),
        "cases": cases,
    });
    doc[randomness_name] = json!(hex(&randomness_bytes));
    doc
}

#[test]
fn vector_files_match_the_code() {
    for kem in [Kem::X25519, Kem::XWing] {
        let doc = generate(kem);
        let text = serde_json::to_string_pretty(&doc).expect("serializes") + "\n";
        check_golden(&path(kem), &text);
        if blessing() {
            seed_fuzz_corpus(&doc);
        }
    }
}

/// Writes each case's packet stream as a seed of the `packet_open` and
/// `frame_stream` fuzz targets.
fn seed_fuzz_corpus(doc: &Value) {
    for target in ["packet_open", "frame_stream"] {
        let dir = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../fuzz/corpus").join(target);
        std::fs::create_dir_all(&dir).expect("creates the corpus directory");
        for case in doc["cases"].as_array().expect("cases") {
            let name = format!("vector-packet-{}", case["name"].as_str().expect("name"));
            std::fs::write(dir.join(name), unhex(&case["stream"])).expect("writes a seed");
        }
    }
}

#[test]
fn stored_packets_open_with_the_stored_keys() {
    if blessing() {
        return;
    }
    for kem in [Kem::X25519, Kem::XWing] {
        stored_packets_open(kem);
    }
}

fn stored_packets_open(kem_kind: Kem) {
    let path = path(kem_kind);
    let text = std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    let doc: Value = serde_json::from_str(&text).expect("valid JSON");
    let kem = KemKey::from_secret(kem_kind, arr32(&doc["kem_secret"]));
    assert_eq!(kem.public_key().as_bytes(), &unhex(&doc["kem_public"])[..]);
    let sender =
        IdentityVerifier::new(&tally_wire::IdentityPublicKey(arr32(&doc["sender_public"]))).expect("valid key");
    let cases = doc["cases"].as_array().expect("cases");
    assert_eq!(cases.len(), cases_of(kem_kind).len());
    for case in cases {
        let name = case["name"].as_str().expect("name");
        let mut out = Vec::new();
        let opened = read_packet(&kem, |_| Ok(sender.clone()), &unhex(&case["stream"])[..], &mut out)
            .unwrap_or_else(|e| panic!("{name}: {e}"));
        assert_eq!(out, unhex(&case["payload"]), "{name}: payload");
        assert_eq!(opened.digests.header_digest.to_hex(), case["header_digest"].as_str().expect("hex"), "{name}");
        assert_eq!(
            opened.digests.ciphertext_fingerprint.to_hex(),
            case["ciphertext_fingerprint"].as_str().expect("hex"),
            "{name}"
        );
        assert_eq!(
            opened.digests.content_commitment.to_hex(),
            case["content_commitment"].as_str().expect("hex"),
            "{name}"
        );
        assert_eq!(hex(opened.commitment_key.reveal()), case["commitment_key"].as_str().expect("hex"), "{name}");
    }
}
