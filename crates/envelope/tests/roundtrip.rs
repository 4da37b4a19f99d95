//! Property tests of the packet construction.

mod support;

use proptest::prelude::*;
use tally_envelope::{Error, read_packet, write_packet};
use tally_wire::{BoundedVec, SuiteId};

use support::*;

const CS: u32 = 1024;

fn suite() -> impl Strategy<Value = SuiteId> {
    prop_oneof![Just(SuiteId::X25519_SHA256_AES256GCM), Just(SuiteId::X25519_SHA256_CHACHA20POLY1305)]
}

/// Payload lengths around the chunk boundaries, several chunks, and random ones up to 3 MiB.
fn length() -> impl Strategy<Value = usize> {
    let cs = CS as usize;
    prop_oneof![
        Just(0usize),
        Just(1),
        Just(cs - 1),
        Just(cs),
        Just(cs + 1),
        Just(5 * cs),
        Just(5 * cs + 7),
        0usize..(3 << 20),
    ]
}

fn seal_to_stream(parties: &Parties, plaintext: &[u8], suite: SuiteId) -> Vec<u8> {
    let mut packet = Vec::new();
    write_packet(
        &parties.sender,
        parties.recipient_cert.unverified(),
        spec(plaintext.len() as u64, CS, suite),
        BoundedVec::empty(),
        plaintext,
        &mut packet,
    )
    .expect("seals");
    packet
}

fn open_stream(parties: &Parties, packet: &[u8]) -> Result<Vec<u8>, Error> {
    let mut out = Vec::new();
    read_packet(&parties.recipient_kem, |_| Ok(parties.sender_verifier.clone()), packet, &mut out)?;
    Ok(out)
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 24, ..ProptestConfig::default() })]

    /// Any payload length round-trips through seal and open, in either suite.
    #[test]
    fn any_length_round_trips(len in length(), suite in suite(), seed: u8) {
        let parties = Parties::new();
        let plaintext: Vec<u8> = payload(len).into_iter().map(|b| b ^ seed).collect();
        let packet = seal_to_stream(&parties, &plaintext, suite);
        let chunks = (len as u64).div_ceil(u64::from(CS)).max(1);
        prop_assert_eq!(open_stream(&parties, &packet).expect("opens"), plaintext);
        // The stream is the offer, one frame per chunk, and the trailer: ciphertext
        // expansion is the per-chunk tag and framing, nothing proportional to the data.
        prop_assert!(packet.len() as u64 <= len as u64 + chunks * (16 + 17) + 2048);
    }

    /// Any single-byte change anywhere in a sealed packet is rejected.
    #[test]
    fn any_single_byte_change_is_rejected(len in 0usize..5000, suite in suite(), pos: prop::sample::Index, mask in 1u8..=255) {
        let parties = Parties::new();
        let plaintext = payload(len);
        let mut packet = seal_to_stream(&parties, &plaintext, suite);
        let at = pos.index(packet.len());
        packet[at] ^= mask;
        prop_assert!(open_stream(&parties, &packet).is_err(), "byte {} of {} changed by {:#x} and the packet still opened", at, packet.len(), mask);
    }
}

#[test]
fn payload_source_shorter_or_longer_than_declared_is_an_error() {
    let parties = Parties::new();
    for (declared, actual) in [(2000u64, 1999usize), (2000, 2001), (0, 1), (1, 0)] {
        let mut packet = Vec::new();
        let err = write_packet(
            &parties.sender,
            parties.recipient_cert.unverified(),
            spec(declared, CS, SuiteId::X25519_SHA256_AES256GCM),
            BoundedVec::empty(),
            &payload(actual)[..],
            &mut packet,
        )
        .expect_err("length mismatch");
        assert!(
            matches!(err, Error::PayloadLength { expected, .. } if expected == declared),
            "{declared}/{actual}: {err}"
        );
    }
}
