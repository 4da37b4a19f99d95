//! The tamper matrix (DESIGN.md, security properties 1, 2 and 4): every
//! change an attacker can make to a sealed packet, one named test each,
//! each failing with its specific local error.

mod support;

use tally_envelope::HpkeError;
use tally_envelope::{CommitmentKey, Error, IdentityVerifier, KemKey, header_digest, verify_reveal};
use tally_wire::{EncapsulatedKey, Encoded, KeyId, SuiteId, X25519PublicKey, label};

use support::*;

const CS: u32 = 1024;
const AES: SuiteId = SuiteId::X25519_SHA256_AES256GCM;

/// A three-chunk packet (1024 + 1024 + 452 bytes).
fn packet() -> (Parties, Packet, Vec<u8>) {
    let parties = Parties::new();
    let plaintext = payload(2500);
    let packet = seal(&parties, &plaintext, CS, AES);
    (parties, packet, plaintext)
}

#[test]
fn untouched_packet_opens() {
    let (parties, p, plaintext) = packet();
    assert_eq!(p.chunks.len(), 3);
    let (out, opened) = open(&parties, &p.offer, &p.chunks, &p.trailer).expect("opens");
    assert_eq!(out, plaintext);
    assert_eq!(opened.digests, p.sealed.digests);
}

/// Re-encodes a header with one bit flipped in its body, if it still decodes.
fn with_header_bit_flipped(offer: &tally_wire::Offer, byte: usize, bit: u8) -> Option<tally_wire::Offer> {
    let mut body = offer.header.body().to_vec();
    body[byte] ^= 1 << bit;
    let header = Encoded::from_body(body).ok()?;
    Some(tally_wire::Offer { header, ..offer.clone() })
}

#[test]
fn header_bit_flip_anywhere_is_rejected() {
    let (parties, p, _) = packet();
    let len = p.offer.header.body().len();
    let mut checked = 0;
    for byte in 0..len {
        for bit in 0..8 {
            // A flip that breaks the encoding is caught by the wire decoder (never reaches us).
            let Some(offer) = with_header_bit_flipped(&p.offer, byte, bit) else { continue };
            let err = open(&parties, &offer, &p.chunks, &p.trailer).expect_err("a modified header must not open");
            // The header digest is the HPKE info: any change gives another
            // context, in which chunk 0 does not open, unless an earlier
            // check (version, suite, key id, lengths) already refuses it.
            assert!(
                matches!(
                    err,
                    Error::ChunkAuthentication { index: 0 }
                        | Error::ChunkLength { index: 0, .. }
                        | Error::TooManyChunks { .. }
                        | Error::WrongRecipientKey { .. }
                        | Error::UnsupportedSuite(_)
                        | Error::Hpke(HpkeError::WrongKem { .. })
                        | Error::UnsupportedVersion(_)
                ),
                "byte {byte} bit {bit}: {err}"
            );
            checked += 1;
        }
    }
    assert!(checked > len * 4, "most flips decode and reach the crypto checks ({checked})");
}

#[test]
fn header_naming_another_purpose_opens_no_chunk() {
    let (parties, p, _) = packet();
    let mut header = p.offer.header.value().clone();
    header.purpose = tally_wire::Purpose::new("tax.audit").expect("valid");
    let offer = tally_wire::Offer { header: Encoded::new(header).expect("encodes"), ..p.offer.clone() };
    assert!(matches!(open(&parties, &offer, &p.chunks, &p.trailer), Err(Error::ChunkAuthentication { index: 0 })));
}

#[test]
fn suite_changed_to_the_other_supported_suite_opens_no_chunk() {
    let (parties, p, _) = packet();
    let mut header = p.offer.header.value().clone();
    header.suite = SuiteId::X25519_SHA256_CHACHA20POLY1305;
    let offer = tally_wire::Offer { header: Encoded::new(header).expect("encodes"), ..p.offer.clone() };
    assert!(matches!(open(&parties, &offer, &p.chunks, &p.trailer), Err(Error::ChunkAuthentication { index: 0 })));
}

#[test]
fn suite_changed_to_an_unknown_suite_is_unsupported() {
    let (parties, p, _) = packet();
    let mut header = p.offer.header.value().clone();
    header.suite = SuiteId(0x7777);
    let offer = tally_wire::Offer { header: Encoded::new(header).expect("encodes"), ..p.offer.clone() };
    assert!(matches!(open(&parties, &offer, &p.chunks, &p.trailer), Err(Error::UnsupportedSuite(SuiteId(0x7777)))));
}

#[test]
fn header_naming_another_recipient_key_is_refused() {
    let (parties, p, _) = packet();
    let mut header = p.offer.header.value().clone();
    header.recipient_key = KeyId([0xee; 32]);
    let offer = tally_wire::Offer { header: Encoded::new(header).expect("encodes"), ..p.offer.clone() };
    assert!(matches!(open(&parties, &offer, &p.chunks, &p.trailer), Err(Error::WrongRecipientKey { .. })));
}

#[test]
fn encapsulated_key_bit_flip_opens_no_chunk() {
    let (parties, p, _) = packet();
    for byte in 0..32 {
        let mut offer = p.offer.clone();
        let EncapsulatedKey::X25519(enc) = &mut offer.encapsulated_key else { panic!("an X25519 packet") };
        enc.0[byte] ^= 0x01;
        assert!(
            matches!(open(&parties, &offer, &p.chunks, &p.trailer), Err(Error::ChunkAuthentication { index: 0 })),
            "byte {byte}"
        );
    }
}

#[test]
fn chunk_bit_flip_anywhere_fails_that_chunk() {
    let (parties, p, _) = packet();
    for (i, (_, data)) in p.chunks.iter().enumerate() {
        for byte in [0, data.len() / 2, data.len() - 17, data.len() - 16, data.len() - 1] {
            let mut chunks = p.chunks.clone();
            chunks[i].1[byte] ^= 0x04;
            let err = open(&parties, &p.offer, &chunks, &p.trailer).expect_err("modified chunk");
            assert!(
                matches!(err, Error::ChunkAuthentication { index } if index == i as u64),
                "chunk {i} byte {byte}: {err}"
            );
        }
    }
}

#[test]
fn dropped_chunk_is_out_of_order() {
    let (parties, p, _) = packet();
    let mut chunks = p.chunks.clone();
    chunks.remove(1);
    assert!(matches!(
        open(&parties, &p.offer, &chunks, &p.trailer),
        Err(Error::ChunkOutOfOrder { expected: 1, got: 2 })
    ));
}

#[test]
fn dropped_chunk_renumbered_fails_authentication() {
    let (parties, p, _) = packet();
    let mut chunks = p.chunks.clone();
    chunks.remove(1);
    chunks[1].0 = 1;
    // Chunk 2's sealed bytes under chunk 1's nonce: wrong length first (the last chunk is shorter).
    let err = open(&parties, &p.offer, &chunks, &p.trailer).expect_err("renumbered");
    assert!(matches!(err, Error::ChunkLength { index: 1, .. }), "{err}");
}

#[test]
fn duplicated_chunk_is_out_of_order() {
    let (parties, p, _) = packet();
    let mut chunks = p.chunks.clone();
    chunks.insert(1, chunks[0].clone());
    assert!(matches!(
        open(&parties, &p.offer, &chunks, &p.trailer),
        Err(Error::ChunkOutOfOrder { expected: 1, got: 0 })
    ));
}

#[test]
fn duplicated_chunk_renumbered_fails_authentication() {
    let (parties, p, _) = packet();
    let mut chunks = p.chunks.clone();
    chunks[1].1 = chunks[0].1.clone();
    assert!(matches!(open(&parties, &p.offer, &chunks, &p.trailer), Err(Error::ChunkAuthentication { index: 1 })));
}

#[test]
fn swapped_chunks_are_out_of_order() {
    let (parties, p, _) = packet();
    let mut chunks = p.chunks.clone();
    chunks.swap(0, 1);
    assert!(matches!(
        open(&parties, &p.offer, &chunks, &p.trailer),
        Err(Error::ChunkOutOfOrder { expected: 0, got: 1 })
    ));
}

#[test]
fn swapped_chunks_renumbered_fail_authentication() {
    let (parties, p, _) = packet();
    let mut chunks = p.chunks.clone();
    let (a, b) = (chunks[0].1.clone(), chunks[1].1.clone());
    chunks[0].1 = b;
    chunks[1].1 = a;
    assert!(matches!(open(&parties, &p.offer, &chunks, &p.trailer), Err(Error::ChunkAuthentication { index: 0 })));
}

#[test]
fn truncated_packet_fails_at_the_trailer() {
    let (parties, p, _) = packet();
    let chunks = &p.chunks[..2];
    assert!(matches!(
        open(&parties, &p.offer, chunks, &p.trailer),
        Err(Error::MissingChunks { expected: 3, received: 2 })
    ));
}

#[test]
fn truncated_stream_without_trailer_is_an_error() {
    let (parties, p, _) = packet();
    let full = stream(&p);
    let trailer_len = tally_wire::Frame::Trailer(p.trailer).encode().expect("encodes").len();
    let mut out = Vec::new();
    let err = tally_envelope::read_packet(
        &parties.recipient_kem,
        |_| Ok(parties.sender_verifier.clone()),
        &full[..full.len() - trailer_len],
        &mut out,
    )
    .expect_err("no trailer");
    assert!(matches!(err, Error::Wire(tally_wire::Error::Truncated { .. })), "{err}");
}

#[test]
fn shortened_payload_length_opens_no_chunk() {
    // Cutting a packet and re-declaring it shorter needs a new header, and
    // a new header gives another HPKE context.
    let parties = Parties::new();
    let plaintext = payload(2048);
    let p = seal(&parties, &plaintext, CS, AES);
    let mut header = p.offer.header.value().clone();
    header.payload_len = 1024;
    let offer = tally_wire::Offer { header: Encoded::new(header).expect("encodes"), ..p.offer.clone() };
    assert!(matches!(open(&parties, &offer, &p.chunks[..1], &p.trailer), Err(Error::ChunkAuthentication { index: 0 })));
}

#[test]
fn appended_chunk_is_beyond_the_packet() {
    let (parties, p, _) = packet();
    let mut chunks = p.chunks.clone();
    chunks.push((3, vec![0; 32]));
    assert!(matches!(open(&parties, &p.offer, &chunks, &p.trailer), Err(Error::TooManyChunks { index: 3, count: 3 })));
}

#[test]
fn chunk_with_extra_bytes_has_the_wrong_length() {
    let (parties, p, _) = packet();
    let mut chunks = p.chunks.clone();
    chunks[0].1.push(0);
    assert!(matches!(
        open(&parties, &p.offer, &chunks, &p.trailer),
        Err(Error::ChunkLength { index: 0, expected: 1040, got: 1041 })
    ));
}

#[test]
fn trailer_signature_bit_flip_is_rejected() {
    let (parties, p, _) = packet();
    let mut trailer = p.trailer;
    trailer.signature.0[40] ^= 0x02;
    assert!(matches!(open(&parties, &p.offer, &p.chunks, &trailer), Err(Error::BadTrailerSignature)));
}

#[test]
fn trailer_chunk_count_change_is_rejected() {
    let (parties, p, _) = packet();
    let mut trailer = p.trailer;
    trailer.chunk_count = 4;
    assert!(matches!(
        open(&parties, &p.offer, &p.chunks, &trailer),
        Err(Error::TrailerChunkCount { declared: 4, received: 3 })
    ));
}

#[test]
fn trailer_commitment_bit_flip_is_a_commitment_mismatch() {
    let (parties, p, _) = packet();
    let mut trailer = p.trailer;
    trailer.content_commitment.0[0] ^= 0x01;
    assert!(matches!(open(&parties, &p.offer, &p.chunks, &trailer), Err(Error::CommitmentMismatch)));
}

#[test]
fn signed_commitment_that_does_not_match_the_plaintext_is_rejected() {
    // The sender signs a transcript with a wrong commitment: the signature
    // is valid, the commitment is not.
    let (parties, p, _) = packet();
    let mut trailer = p.trailer;
    trailer.content_commitment.0[5] ^= 0x10;
    let d = &p.sealed.digests;
    let mut t = Vec::new();
    t.extend_from_slice(&header_digest(&p.offer.header).0);
    t.extend_from_slice(p.offer.encapsulated_key.as_bytes());
    t.extend_from_slice(&3u64.to_be_bytes());
    t.extend_from_slice(&2500u64.to_be_bytes());
    t.extend_from_slice(&d.ciphertext_fingerprint.0);
    t.extend_from_slice(&trailer.content_commitment.0);
    trailer.signature = parties.sender.sign(label::PACKET_TRAILER, &t);
    assert!(matches!(open(&parties, &p.offer, &p.chunks, &trailer), Err(Error::CommitmentMismatch)));
}

#[test]
fn signatures_from_another_packet_are_rejected() {
    let (parties, p, _) = packet();
    let other = seal(&parties, &payload(2500), CS, AES);
    let mut trailer = p.trailer;
    trailer.signature = other.trailer.signature;
    assert!(
        matches!(open(&parties, &p.offer, &p.chunks, &trailer), Err(Error::BadTrailerSignature)),
        "trailer signature"
    );
    assert!(
        matches!(open(&parties, &p.offer, &p.chunks, &other.trailer), Err(Error::CommitmentMismatch)),
        "whole trailer"
    );
}

#[test]
fn chunks_from_another_packet_fail_authentication() {
    let (parties, p, _) = packet();
    let other = seal(&parties, &payload(2500), CS, AES);
    assert!(matches!(
        open(&parties, &p.offer, &other.chunks, &p.trailer),
        Err(Error::ChunkAuthentication { index: 0 })
    ));
}

#[test]
fn packet_signed_by_a_key_other_than_the_senders_is_rejected() {
    // The header says tax-bureau, but an impostor sealed and signed it:
    // anyone can seal to a public KEM key, so the chunks open, and the
    // trailer signature is what refuses it.
    let parties = Parties::new();
    let impostor = Parties::with_seeds(9, 2, 3);
    let p = seal(&impostor, &payload(100), CS, AES);
    assert!(matches!(open(&parties, &p.offer, &p.chunks, &p.trailer), Err(Error::BadTrailerSignature)));
}

#[test]
fn wrong_recipient_kem_key_is_refused_before_any_decryption() {
    let (parties, p, _) = packet();
    let other_kem = KemKey::from_bytes([0x44; 32]);
    let err =
        open_with(&other_kem, &parties.sender_verifier, &p.offer, &p.chunks, &p.trailer).expect_err("another key");
    assert!(matches!(err, Error::WrongRecipientKey { .. }), "{err}");
}

#[test]
fn wrong_sender_verifier_is_refused() {
    let (parties, p, _) = packet();
    let stranger = IdentityVerifier::new(&parties.recipient_identity.public_key()).expect("valid key");
    let err =
        open_with(&parties.recipient_kem, &stranger, &p.offer, &p.chunks, &p.trailer).expect_err("another sender key");
    assert!(matches!(err, Error::BadTrailerSignature), "{err}");
}

#[test]
fn swapped_encapsulated_key_from_another_packet_is_rejected() {
    let (parties, p, _) = packet();
    let other = seal(&parties, &payload(2500), CS, AES);
    let offer = tally_wire::Offer { encapsulated_key: other.offer.encapsulated_key.clone(), ..p.offer.clone() };
    assert!(matches!(open(&parties, &offer, &p.chunks, &p.trailer), Err(Error::ChunkAuthentication { index: 0 })));
}

const XWING: SuiteId = SuiteId::XWING_SHA256_AES256GCM;

#[test]
fn an_xwing_packet_opens_and_a_bit_flip_in_its_encapsulated_key_opens_no_chunk() {
    let parties = Parties::xwing();
    let plaintext = payload(2500);
    let p = seal(&parties, &plaintext, CS, XWING);
    let (out, _) = open(&parties, &p.offer, &p.chunks, &p.trailer).expect("opens");
    assert_eq!(out, plaintext);
    // Bytes of the ML-KEM ciphertext (0..1088) and of the X25519 key (1088..1120):
    // ML-KEM's implicit rejection and X25519 both give another shared secret.
    for byte in (0..1120).step_by(97).chain([1087, 1088, 1119]) {
        let mut offer = p.offer.clone();
        let EncapsulatedKey::XWing(enc) = &mut offer.encapsulated_key else { panic!("an X-Wing packet") };
        enc.0[byte] ^= 0x01;
        assert!(
            matches!(open(&parties, &offer, &p.chunks, &p.trailer), Err(Error::ChunkAuthentication { index: 0 })),
            "byte {byte}"
        );
    }
}

#[test]
fn an_xwing_packet_relabelled_as_classical_or_given_a_classical_key_is_refused_before_any_chunk() {
    let parties = Parties::xwing();
    let p = seal(&parties, &payload(2500), CS, XWING);
    // A downgrade of the header's suite: the recipient's key is X-Wing's.
    let mut header = p.offer.header.value().clone();
    header.suite = AES;
    let offer = tally_wire::Offer { header: Encoded::new(header).expect("encodes"), ..p.offer.clone() };
    let err = open(&parties, &offer, &p.chunks, &p.trailer).expect_err("refused");
    assert!(matches!(err, Error::Hpke(HpkeError::WrongKem { .. })), "{err}");
    assert_eq!(err.reason_code(), tally_wire::ReasonCode::UNSUPPORTED_SUITE);
    // An encapsulated key of the other KEM.
    let offer =
        tally_wire::Offer { encapsulated_key: EncapsulatedKey::X25519(X25519PublicKey([9; 32])), ..p.offer.clone() };
    assert!(matches!(open(&parties, &offer, &p.chunks, &p.trailer), Err(Error::Hpke(HpkeError::WrongKem { .. }))));
    // A sender cannot seal an X-Wing suite to an X25519 key, nor the reverse.
    let classical = Parties::new();
    let spec = spec(10, CS, XWING);
    let err = tally_envelope::Sealer::new(classical.recipient_cert.unverified(), spec, tally_wire::BoundedVec::empty())
        .err()
        .expect("refused");
    assert!(matches!(err, Error::Hpke(HpkeError::WrongKem { .. })), "{err}");
}

#[test]
fn reveal_proves_the_content_and_nothing_else_matches() {
    let (parties, p, plaintext) = packet();
    let (_, opened) = open(&parties, &p.offer, &p.chunks, &p.trailer).expect("opens");
    let commitment = opened.digests.content_commitment;
    // Either side holds the same key.
    assert_eq!(opened.commitment_key.reveal(), p.sealed.commitment_key.reveal());
    let key = CommitmentKey::from_revealed(*opened.commitment_key.reveal());
    assert!(verify_reveal(&commitment, &key, &plaintext[..]).is_ok());
    let mut altered = plaintext.clone();
    altered[1234] ^= 1;
    assert!(matches!(verify_reveal(&commitment, &key, &altered[..]), Err(Error::RevealMismatch)));
    assert!(matches!(verify_reveal(&commitment, &key, &plaintext[..2499]), Err(Error::RevealMismatch)));
    let wrong = CommitmentKey::from_revealed([0; 32]);
    assert!(matches!(verify_reveal(&commitment, &wrong, &plaintext[..]), Err(Error::RevealMismatch)));
    assert_eq!(format!("{key:?}"), "CommitmentKey(..)");
}

#[test]
fn peer_facing_reason_codes_are_opaque_for_crypto_failures() {
    use tally_wire::ReasonCode;
    assert_eq!(Error::ChunkAuthentication { index: 3 }.reason_code(), ReasonCode::DECRYPTION_FAILED);
    assert_eq!(Error::CommitmentMismatch.reason_code(), ReasonCode::DECRYPTION_FAILED);
    assert_eq!(Error::ChunkOutOfOrder { expected: 1, got: 2 }.reason_code(), ReasonCode::DECRYPTION_FAILED);
    assert_eq!(Error::BadTrailerSignature.reason_code(), ReasonCode::BAD_SIGNATURE);
    assert_eq!(Error::UnsupportedSuite(SuiteId(9)).reason_code(), ReasonCode::UNSUPPORTED_SUITE);
}
