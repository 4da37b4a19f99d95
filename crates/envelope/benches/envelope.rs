//! Envelope benchmarks: each figure beside a ceiling measured in the same
//! run, on one core, as a ratio (these machines are shared and noisy, so
//! only ratios mean anything). Run with `cargo bench -p tally-envelope`.
//!
//! Each measurement is the best of five samples of at least 0.3 s each.

use std::hint::black_box;

use ring::aead::{AES_256_GCM, Aad, LessSafeKey, Nonce, UnboundKey};
use ring::digest::{Context, SHA256};
use tally_envelope::hpke::{self, Aead, Kem, ModeKeys, Suite};
use tally_envelope::{IdentityKey, IdentityVerifier, KemKey, Opener, PacketSpec, Sealer};
use tally_testkit::time;
use tally_wire::{
    AgencyId, BoundedVec, Chunk, ChunkSize, ContentType, DataCategory, GrantId, KemKeyCertificate, Purpose, SuiteId,
    Timestamp, label,
};

fn gbps(bytes: usize, secs: f64) -> String {
    format!("{:6.2} GB/s", bytes as f64 / secs / 1e9)
}

fn rate(secs: f64) -> String {
    format!("{:8.0}/s", 1.0 / secs)
}

struct Fixture {
    sender: IdentityKey,
    verifier: IdentityVerifier,
    kem: KemKey,
    cert: KemKeyCertificate,
    suite: SuiteId,
}

fn fixture() -> Fixture {
    fixture_of(Kem::X25519)
}

fn fixture_of(kem: Kem) -> Fixture {
    let sender = IdentityKey::from_seed(&[1; 32]);
    let recipient = IdentityKey::from_seed(&[2; 32]);
    let suite = tally_envelope::suite_for(kem);
    let kem = KemKey::from_secret(kem, [3; 32]);
    let agency = AgencyId::new("social-security").expect("valid");
    let cert =
        kem.certify(&recipient, agency, Timestamp::from_secs(0), Timestamp::from_secs(u64::MAX)).expect("certifies");
    let verifier = IdentityVerifier::new(&sender.public_key()).expect("valid");
    Fixture { sender, verifier, kem, cert: cert.unverified().clone(), suite }
}

fn spec(len: usize, suite: SuiteId) -> PacketSpec {
    PacketSpec {
        suite,
        sender: AgencyId::new("tax-bureau").expect("valid"),
        grant: GrantId([0x33; 32]),
        purpose: Purpose::new("social-security.eligibility").expect("valid"),
        category: DataCategory::new("income.annual").expect("valid"),
        content_type: ContentType::new("application/octet-stream").expect("valid"),
        created_at: Timestamp::from_secs(1_795_000_000),
        payload_len: len as u64,
        chunk_size: ChunkSize::DEFAULT,
    }
}

/// Seals `payload` in place, as the floor does: what a sender does with a buffer it has read.
fn seal_in_place(f: &Fixture, payload: &mut [u8]) {
    let (mut sealer, offer) = Sealer::new(&f.cert, spec(payload.len(), f.suite), BoundedVec::empty()).expect("seals");
    black_box(&offer);
    let mut at = 0;
    while let Some(len) = sealer.next_chunk_len() {
        black_box(sealer.seal_chunk_in_place(&mut payload[at..at + len]).expect("seals"));
        at += len;
    }
    black_box(sealer.finish(&f.sender).expect("finishes"));
}

/// Seals `payload` with the envelope into owned chunks.
fn seal(
    f: &Fixture,
    payload: &[u8],
    buf: &mut Vec<u8>,
    out: &mut Vec<(tally_wire::Offer, Vec<Vec<u8>>, tally_wire::Trailer)>,
) {
    let (mut sealer, offer) = Sealer::new(&f.cert, spec(payload.len(), f.suite), BoundedVec::empty()).expect("seals");
    let mut chunks = Vec::new();
    let mut at = 0;
    while let Some(len) = sealer.next_chunk_len() {
        buf.clear();
        buf.extend_from_slice(&payload[at..at + len]);
        at += len;
        let chunk = sealer.seal_chunk(buf).expect("seals");
        if out.is_empty() {
            chunks.push(chunk.data.to_vec());
        }
        black_box(&chunk);
    }
    let sealed = sealer.finish(&f.sender).expect("finishes");
    if out.is_empty() {
        out.push((offer, chunks, sealed.trailer));
    }
}

/// Opens a sealed packet: what a recipient does, in memory.
fn open(f: &Fixture, packet: &(tally_wire::Offer, Vec<Vec<u8>>, tally_wire::Trailer), buf: &mut Vec<u8>) {
    let mut opener = Opener::new(&f.kem, &packet.0, &f.verifier).expect("opens");
    for (i, data) in packet.1.iter().enumerate() {
        black_box(opener.open_chunk(&Chunk::new(i as u64, data), buf).expect("opens"));
    }
    black_box(opener.finish(&packet.2).expect("verifies"));
}

/// The floor: ring AES-256-GCM `seal_in_place` plus one ring SHA-256 pass over the same bytes.
fn floor(payload: &mut [u8]) {
    let key = LessSafeKey::new(UnboundKey::new(&AES_256_GCM, &[7; 32]).expect("key"));
    let mut sha = Context::new(&SHA256);
    for (i, piece) in payload.chunks_mut(1 << 16).enumerate() {
        sha.update(piece);
        let mut nonce = [0u8; 12];
        nonce[4..].copy_from_slice(&(i as u64).to_be_bytes());
        let tag = key.seal_in_place_separate_tag(Nonce::assume_unique_for_key(nonce), Aad::from(&[0u8]), piece);
        black_box(tag.expect("seals").as_ref()[0]);
    }
    black_box(sha.finish());
}

/// The open floor: copy each sealed piece into a buffer (as a receive does), ring
/// AES-256-GCM `open_in_place`, one SHA-256 pass over the plaintext.
fn floor_open(sealed: &[(Vec<u8>, [u8; 12])], buf: &mut Vec<u8>) {
    let key = LessSafeKey::new(UnboundKey::new(&AES_256_GCM, &[7; 32]).expect("key"));
    let mut sha = Context::new(&SHA256);
    for (piece, nonce) in sealed {
        buf.clear();
        buf.extend_from_slice(piece);
        let plain = key.open_in_place(Nonce::assume_unique_for_key(*nonce), Aad::from(&[0u8]), buf).expect("opens");
        sha.update(plain);
    }
    black_box(sha.finish());
}

fn sealed_pieces(payload: &[u8]) -> Vec<(Vec<u8>, [u8; 12])> {
    let key = LessSafeKey::new(UnboundKey::new(&AES_256_GCM, &[7; 32]).expect("key"));
    payload
        .chunks(1 << 16)
        .enumerate()
        .map(|(i, p)| {
            let mut nonce = [0u8; 12];
            nonce[4..].copy_from_slice(&(i as u64).to_be_bytes());
            let mut buf = p.to_vec();
            key.seal_in_place_append_tag(Nonce::assume_unique_for_key(nonce), Aad::from(&[0u8]), &mut buf)
                .expect("seals");
            (buf, nonce)
        })
        .collect()
}

use ::hpke as rust_hpke;
use rust_hpke::Kem as KemTrait;

fn bulk(f: &Fixture, len: usize) {
    let payload: Vec<u8> = (0..len).map(|i| i as u8).collect();
    let mut scratch = payload.clone();
    let mut buf = Vec::with_capacity(1 << 17);
    let mut sealed = Vec::new();
    seal(f, &payload, &mut buf, &mut sealed);
    let packet = sealed.pop().expect("one packet");

    let pieces = sealed_pieces(&payload);
    let t_floor = time(|| floor(&mut scratch));
    let t_floor_open = time(|| floor_open(&pieces, &mut buf));
    let t_seal = time(|| seal_in_place(f, &mut scratch));
    let t_open = time(|| open(f, &packet, &mut buf));
    let name = format!("{} MiB", len >> 20);
    println!("payload {name:>6}: seal floor (AES-256-GCM seal_in_place + SHA-256)     {}", gbps(len, t_floor));
    println!(
        "                seal                                             {}   ratio {:.2}",
        gbps(len, t_seal),
        t_floor / t_seal
    );
    println!("                open floor (copy + AES-256-GCM open_in_place + SHA-256) {}", gbps(len, t_floor_open));
    println!(
        "                open                                             {}   ratio {:.2}",
        gbps(len, t_open),
        t_floor_open / t_open
    );

    // rust-hpke (RustCrypto primitives): setup and seal/open of the same bytes in 64 KiB pieces.
    if len == 1 << 20 {
        type A = rust_hpke::aead::AesGcm256;
        type K = rust_hpke::kdf::HkdfSha256;
        type M = rust_hpke::kem::X25519HkdfSha256;
        let (sk, pk) = M::derive_keypair(b"benchmark receiver key material");
        let (enc, mut ctx) =
            rust_hpke::setup_sender::<A, K, M>(&rust_hpke::OpModeS::Base, &pk, b"info").expect("setup");
        let cts: Vec<Vec<u8>> = payload.chunks(1 << 16).map(|p| ctx.seal(p, b"").expect("seals")).collect();
        let t_theirs_seal = time(|| {
            let (_, mut ctx) =
                rust_hpke::setup_sender::<A, K, M>(&rust_hpke::OpModeS::Base, &pk, b"info").expect("setup");
            for p in payload.chunks(1 << 16) {
                black_box(ctx.seal(p, b"").expect("seals"));
            }
        });
        let t_theirs_open = time(|| {
            let mut ctx =
                rust_hpke::setup_receiver::<A, K, M>(&rust_hpke::OpModeR::Base, &sk, &enc, b"info").expect("setup");
            for c in &cts {
                black_box(ctx.open(c, b"").expect("opens"));
            }
        });
        // The same HPKE work with this crate's HPKE (ring AEAD), no signature, hash or commitment.
        let rng = ring::rand::SystemRandom::new();
        let suite = Suite { kem: Kem::X25519, aead: Aead::Aes256Gcm };
        let sk_ours = hpke::derive_key_pair(b"benchmark receiver key material");
        let pk_ours = sk_ours.public_key();
        let (enc_ours, mut ctx_ours) =
            hpke::setup_sender(suite, &pk_ours, b"info", &ModeKeys::Base, &rng).expect("setup");
        let cts_ours: Vec<Vec<u8>> = payload.chunks(1 << 16).map(|p| ctx_ours.seal(b"", p).expect("seals")).collect();
        let t_ours_seal = time(|| {
            let (_, mut ctx) = hpke::setup_sender(suite, &pk_ours, b"info", &ModeKeys::Base, &rng).expect("setup");
            for p in scratch.chunks_mut(1 << 16) {
                black_box(ctx.seal_in_place_separate_tag(b"", p).expect("seals"));
            }
        });
        let t_ours_open = time(|| {
            let mut ctx = hpke::setup_receiver(suite, &enc_ours, &sk_ours, b"info", &ModeKeys::Base).expect("setup");
            for c in &cts_ours {
                buf.clear();
                buf.extend_from_slice(c);
                black_box(ctx.open_in_place(b"", &mut buf).expect("opens"));
            }
        });
        println!(
            "                HPKE alone: rust-hpke seal {} open {};  tally hpke seal {} open {}  (tally/rust-hpke {:.2}x / {:.2}x)",
            gbps(len, t_theirs_seal),
            gbps(len, t_theirs_open),
            gbps(len, t_ours_seal),
            gbps(len, t_ours_open),
            t_theirs_seal / t_ours_seal,
            t_theirs_open / t_ours_open
        );
        println!(
            "                whole packet vs rust-hpke alone: seal {:.2}x, open {:.2}x (the packet also hashes the payload once, signs and commits)",
            t_theirs_seal / t_seal,
            t_theirs_open / t_open
        );
    }
}

fn small(f: &Fixture) {
    let payload = vec![0x42u8; 1024];
    let mut buf = Vec::with_capacity(4096);
    let mut sealed = Vec::new();
    seal(f, &payload, &mut buf, &mut sealed);
    let packet = sealed.pop().expect("one packet");
    let t_seal = time(|| seal(f, &payload, &mut buf, &mut vec![(packet.0.clone(), Vec::new(), packet.2)]));
    let t_open = time(|| open(f, &packet, &mut buf));

    // The primitives a packet cannot avoid, in the same run.
    let msg = [0u8; 144];
    let ring_pair = ring::signature::Ed25519KeyPair::from_seed_unchecked(&[1; 32]).expect("key");
    let ring_pub = ring::signature::KeyPair::public_key(&ring_pair).as_ref().to_vec();
    let ring_sig = ring_pair.sign(&msg);
    let ring_verifier = ring::signature::UnparsedPublicKey::new(&ring::signature::ED25519, &ring_pub);
    let dalek_key = ed25519_dalek::SigningKey::from_bytes(&[1; 32]);
    let dalek_sig = ed25519_dalek::Signer::sign(&dalek_key, &msg);
    let dalek_pub = dalek_key.verifying_key();
    let t_sign_dalek = time(|| {
        black_box(ed25519_dalek::Signer::sign(&dalek_key, &msg));
    });
    let t_sign_ring = time(|| {
        black_box(ring_pair.sign(&msg));
    });
    let t_verify_dalek = time(|| dalek_pub.verify_strict(&msg, &dalek_sig).expect("verifies"));
    let t_verify_ring = time(|| ring_verifier.verify(&msg, ring_sig.as_ref()).expect("verifies"));
    let sig = f.sender.sign(label::PACKET_TRAILER, &msg);
    let t_sign_tally = time(|| {
        black_box(f.sender.sign(label::PACKET_TRAILER, &msg));
    });
    let t_verify_tally = time(|| f.verifier.verify(label::PACKET_TRAILER, &msg, &sig, "bench").expect("verifies"));
    let suite = Suite { kem: Kem::X25519, aead: Aead::Aes256Gcm };
    let rng = ring::rand::SystemRandom::new();
    let sk = hpke::derive_key_pair(b"bench");
    let pk = sk.public_key();
    let t_setup_s =
        time(|| drop(black_box(hpke::setup_sender(suite, &pk, &[0; 32], &ModeKeys::Base, &rng).expect("setup"))));
    let (enc, _) = hpke::setup_sender(suite, &pk, &[0; 32], &ModeKeys::Base, &rng).expect("setup");
    let t_setup_r =
        time(|| drop(black_box(hpke::setup_receiver(suite, &enc, &sk, &[0; 32], &ModeKeys::Base).expect("setup"))));

    // The floor takes the faster library for each operation.
    let floor_seal = t_sign_dalek.min(t_sign_ring) + t_setup_s;
    let floor_open = t_verify_dalek.min(t_verify_ring) + t_setup_r;
    println!(
        "1 KiB packet:   seal + sign   {}   floor (sign + SetupBaseS: 2 X25519, HKDF) {}   ratio {:.2}",
        rate(t_seal),
        rate(floor_seal),
        floor_seal / t_seal
    );
    println!(
        "                open + verify {}   floor (verify + SetupBaseR: 1 X25519, HKDF) {}   ratio {:.2}",
        rate(t_open),
        rate(floor_open),
        floor_open / t_open
    );
    println!(
        "                both sides    {}   floor {}   ratio {:.2}",
        rate(t_seal + t_open),
        rate(floor_seal + floor_open),
        (floor_seal + floor_open) / (t_seal + t_open)
    );
    println!(
        "primitives:     Ed25519 sign   ed25519-dalek {}   ring {}   Tally (dalek, labeled) {}",
        rate(t_sign_dalek),
        rate(t_sign_ring),
        rate(t_sign_tally)
    );
    println!(
        "                Ed25519 verify ed25519-dalek verify_strict {}   ring {}   Tally (ring, labeled) {}",
        rate(t_verify_dalek),
        rate(t_verify_ring),
        rate(t_verify_tally)
    );
    println!("                HPKE setup     sender {}   receiver {}", rate(t_setup_s), rate(t_setup_r));
    small_xwing(t_seal, t_open, t_sign_dalek.min(t_sign_ring), t_verify_dalek.min(t_verify_ring), t_setup_s, t_setup_r);
}

/// 1 KiB with X-Wing: against the same packet with X25519 (`x_seal`,
/// `x_open`), and against its primitive floor: the signature, ML-KEM-768's
/// encapsulation (or decapsulation with the key expanded from its seed, as
/// X-Wing's decapsulation key is stored) and DHKEM's X25519 and HKDF work.
fn small_xwing(x_seal: f64, x_open: f64, sign: f64, verify: f64, dhkem_s: f64, dhkem_r: f64) {
    use ml_kem::ml_kem_768::{DecapsulationKey, EncapsulationKey};
    use ml_kem::{Decapsulate, KeyExport, KeyInit as _};

    let f = fixture_of(Kem::XWing);
    let payload = vec![0x42u8; 1024];
    let mut buf = Vec::with_capacity(4096);
    let mut sealed = Vec::new();
    seal(&f, &payload, &mut buf, &mut sealed);
    let packet = sealed.pop().expect("one packet");
    let t_seal = time(|| seal(&f, &payload, &mut buf, &mut vec![(packet.0.clone(), Vec::new(), packet.2)]));
    let t_open = time(|| open(&f, &packet, &mut buf));

    let dk = DecapsulationKey::from_seed([5u8; 64].into());
    let ek_bytes = dk.encapsulation_key().to_bytes();
    let t_ek = time(|| {
        black_box(EncapsulationKey::new(&ek_bytes).expect("a key"));
    });
    let ek = EncapsulationKey::new(&ek_bytes).expect("a key");
    let t_encaps = time(|| {
        black_box(ek.encapsulate_deterministic(&[6u8; 32].into()));
    });
    let (ct, _) = ek.encapsulate_deterministic(&[6u8; 32].into());
    let t_decaps = time(|| {
        black_box(dk.decapsulate(&ct));
    });
    let t_expand = time(|| drop(black_box(DecapsulationKey::from_seed([5u8; 64].into()))));
    let xk = x_wing::DecapsulationKey::new(&[3u8; 32].into());
    let t_xwing_expand = time(|| drop(black_box(x_wing::DecapsulationKey::new(&[3u8; 32].into()))));
    black_box(&xk);
    let suite = Suite { kem: Kem::XWing, aead: Aead::Aes256Gcm };
    let rng = ring::rand::SystemRandom::new();
    let sk = hpke::xwing::XWingPrivateKey::from_seed([3; 32]);
    let pk = sk.public_key();
    let t_setup_s = time(|| drop(black_box(hpke::xwing::setup_sender(suite, &pk, &[0; 32], &rng).expect("setup"))));
    let (enc, _) = hpke::xwing::setup_sender(suite, &pk, &[0; 32], &rng).expect("setup");
    let t_setup_r = time(|| drop(black_box(hpke::xwing::setup_receiver(suite, &enc, &sk, &[0; 32]).expect("setup"))));

    let floor_seal = sign + t_ek + t_encaps + dhkem_s;
    let floor_open = verify + t_xwing_expand + t_decaps + dhkem_r;
    println!(
        "1 KiB X-Wing:   seal + sign   {}   {:.2}x the X25519 packet's time   floor (sign + ML-KEM-768 key check and encaps + DHKEM's X25519, HKDF) {}   ratio {:.2}",
        rate(t_seal),
        t_seal / x_seal,
        rate(floor_seal),
        floor_seal / t_seal
    );
    println!(
        "                open + verify {}   {:.2}x the X25519 packet's time   floor (verify + X-Wing key expansion + ML-KEM-768 decaps + DHKEM's X25519, HKDF) {}   ratio {:.2}",
        rate(t_open),
        t_open / x_open,
        rate(floor_open),
        floor_open / t_open
    );
    println!(
        "primitives:     ML-KEM-768 encaps {} (key check {})   decaps {}   key from seed {}   X-Wing key expansion (SHAKE256, ML-KEM and X25519 keys) {}",
        rate(t_encaps),
        rate(t_ek),
        rate(t_decaps),
        rate(t_expand),
        rate(t_xwing_expand)
    );
    println!("                X-Wing HPKE setup   sender {}   receiver {}", rate(t_setup_s), rate(t_setup_r));
}

fn main() {
    // `cargo test --benches` runs this with --bench absent: keep that quick.
    if !tally_testkit::benchmarking() {
        println!("envelope benchmarks: run with `cargo bench -p tally-envelope`");
        return;
    }
    let f = fixture();
    println!("tally-envelope benchmarks (one core; best of 5 samples; ratios against ceilings measured in this run)");
    bulk(&f, 1 << 20);
    bulk(&f, 64 << 20);
    small(&f);
}
