//! Every entry of the RFC 9180 test vectors for DHKEM(X25519, HKDF-SHA256)
//! and HKDF-SHA256: all four modes, all four AEADs, every key-schedule
//! value, every one of the 257 encryptions and every export.

use serde_json::Value;

use super::*;
use crate::error::HpkeError;

fn unhex(v: &Value) -> Vec<u8> {
    tally_testkit::unhex(v.as_str().expect("hex string"))
}

fn arr32(v: &Value) -> [u8; 32] {
    unhex(v).try_into().expect("32 bytes")
}

fn vectors() -> Vec<Value> {
    let path = concat!(env!("CARGO_MANIFEST_DIR"), "/../../spec/vectors/hpke/rfc9180-x25519-hkdfsha256.json");
    let text = std::fs::read_to_string(path).unwrap_or_else(|e| panic!("{path}: {e}"));
    serde_json::from_str(&text).expect("valid JSON")
}

#[test]
fn rfc9180_vectors_all_pass() {
    let all = vectors();
    assert_eq!(all.len(), 16, "4 modes x 4 AEADs");
    let mut encryptions = 0;
    let mut exports = 0;
    for v in &all {
        assert_eq!(v["kem_id"], 0x20);
        assert_eq!(v["kdf_id"], 1);
        let aead = Aead::from_id(v["aead_id"].as_u64().expect("aead_id") as u16).expect("known AEAD");
        let suite = Suite { kem: Kem::X25519, aead };
        let mode_id = v["mode"].as_u64().expect("mode");
        let name = format!("mode {mode_id}, aead {:?}", aead);

        let sk_r = derive_key_pair(&unhex(&v["ikmR"]));
        assert_eq!(&*sk_r.to_bytes(), &unhex(&v["skRm"])[..], "{name}: skR");
        assert_eq!(sk_r.public_key(), arr32(&v["pkRm"]), "{name}: pkR");
        let sk_e = derive_key_pair(&unhex(&v["ikmE"]));
        assert_eq!(&*sk_e.to_bytes(), &unhex(&v["skEm"])[..], "{name}: skE");
        let sk_s = v.get("ikmS").map(|ikm| derive_key_pair(&unhex(ikm)));
        if let Some(sk_s) = &sk_s {
            assert_eq!(sk_s.public_key(), arr32(&v["pkSm"]), "{name}: pkS");
        }
        let pk_s = sk_s.as_ref().map(KemPrivateKey::public_key);
        let psk = v.get("psk").map(unhex).unwrap_or_default();
        let psk_id = v.get("psk_id").map(unhex).unwrap_or_default();
        let info = unhex(&v["info"]);

        let (sender_mode, receiver_mode) = match mode_id {
            0 => (ModeKeys::Base, ModeKeys::Base),
            1 => (ModeKeys::Psk { psk: &psk, psk_id: &psk_id }, ModeKeys::Psk { psk: &psk, psk_id: &psk_id }),
            2 => (
                ModeKeys::Auth(AuthKey::Private(sk_s.as_ref().expect("auth mode has skS"))),
                ModeKeys::Auth(AuthKey::Public(pk_s.as_ref().expect("auth mode has pkS"))),
            ),
            3 => (
                ModeKeys::AuthPsk {
                    auth: AuthKey::Private(sk_s.as_ref().expect("auth mode has skS")),
                    psk: &psk,
                    psk_id: &psk_id,
                },
                ModeKeys::AuthPsk {
                    auth: AuthKey::Public(pk_s.as_ref().expect("auth mode has pkS")),
                    psk: &psk,
                    psk_id: &psk_id,
                },
            ),
            m => panic!("unknown mode {m}"),
        };

        // The KEM and the key schedule, value by value.
        let (shared, enc) = kem::encap(&sk_e, &sk_r.public_key(), sk_s.as_ref()).expect("encap");
        assert_eq!(enc, arr32(&v["enc"]), "{name}: enc");
        assert_eq!(&*shared, &unhex(&v["shared_secret"])[..], "{name}: shared_secret");
        let ks = key_schedule(suite, &sender_mode, &*shared, &info).expect("key schedule");
        assert_eq!(ks.key_schedule_context, unhex(&v["key_schedule_context"]), "{name}: key_schedule_context");
        assert_eq!(&*ks.secret, &unhex(&v["secret"])[..], "{name}: secret");
        assert_eq!(&**ks.key, &unhex(&v["key"])[..], "{name}: key");
        if aead != Aead::ExportOnly {
            assert_eq!(&ks.base_nonce[..], &unhex(&v["base_nonce"])[..], "{name}: base_nonce");
        }
        assert_eq!(&*ks.exporter_secret, &unhex(&v["exporter_secret"])[..], "{name}: exporter_secret");

        // The public API with the vector's ephemeral key.
        let sk_e = derive_key_pair(&unhex(&v["ikmE"]));
        let (enc, mut sender) =
            dangerous_setup_sender_with_ephemeral(suite, &sk_r.public_key(), &info, &sender_mode, sk_e)
                .expect("setup S");
        assert_eq!(enc, arr32(&v["enc"]), "{name}: enc from setup");
        let mut receiver = setup_receiver(suite, &enc, &sk_r, &info, &receiver_mode).expect("setup R");

        let list = v["encryptions"].as_array().expect("encryptions");
        if aead == Aead::ExportOnly {
            assert!(list.is_empty());
            assert_eq!(sender.seal(b"", b"x").map(|_| ()), Err(HpkeError::ExportOnly));
        } else {
            assert_eq!(list.len(), 257, "{name}");
        }
        for (seq, e) in list.iter().enumerate() {
            let mut nonce = ks.base_nonce;
            for (n, s) in nonce[4..].iter_mut().zip((seq as u64).to_be_bytes()) {
                *n ^= s;
            }
            assert_eq!(&nonce[..], &unhex(&e["nonce"])[..], "{name}: nonce {seq}");
            let (aad, pt, ct) = (unhex(&e["aad"]), unhex(&e["pt"]), unhex(&e["ct"]));
            assert_eq!(sender.seal(&aad, &pt).expect("seal"), ct, "{name}: ciphertext {seq}");
            assert_eq!(receiver.open(&aad, &ct).expect("open"), pt, "{name}: plaintext {seq}");
            encryptions += 1;
        }
        for x in v["exports"].as_array().expect("exports") {
            let mut out = vec![0u8; x["L"].as_u64().expect("L") as usize];
            sender.export(&unhex(&x["exporter_context"]), &mut out).expect("export");
            assert_eq!(out, unhex(&x["exported_value"]), "{name}: export");
            receiver.export(&unhex(&x["exporter_context"]), &mut out).expect("export");
            assert_eq!(out, unhex(&x["exported_value"]), "{name}: export (receiver)");
            exports += 1;
        }
    }
    assert_eq!(encryptions, 12 * 257);
    assert_eq!(exports, 16 * 3);
}

#[test]
fn open_rejects_a_modified_ciphertext_aad_or_sequence() {
    let sk_r = derive_key_pair(b"receiver");
    let suite = Suite { kem: Kem::X25519, aead: Aead::Aes256Gcm };
    let rng = ring::rand::SystemRandom::new();
    let (enc, mut s) = setup_sender(suite, &sk_r.public_key(), b"info", &ModeKeys::Base, &rng).expect("setup");
    let ct0 = s.seal(b"aad", b"first").expect("seal");
    let ct1 = s.seal(b"aad", b"second").expect("seal");
    let mut r = setup_receiver(suite, &enc, &sk_r, b"info", &ModeKeys::Base).expect("setup");
    assert_eq!(r.open(b"aad", &ct1), Err(HpkeError::OpenFailed), "out of order");
    let mut r = setup_receiver(suite, &enc, &sk_r, b"info", &ModeKeys::Base).expect("setup");
    assert_eq!(r.open(b"AAD", &ct0), Err(HpkeError::OpenFailed), "wrong aad");
    let mut r = setup_receiver(suite, &enc, &sk_r, b"other", &ModeKeys::Base).expect("setup");
    assert_eq!(r.open(b"aad", &ct0), Err(HpkeError::OpenFailed), "wrong info");
    let mut r = setup_receiver(suite, &enc, &sk_r, b"info", &ModeKeys::Base).expect("setup");
    assert_eq!(r.open(b"aad", &ct0).expect("opens"), b"first");
    assert_eq!(r.open(b"aad", &ct1).expect("opens"), b"second");
}

#[test]
fn zero_shared_secret_is_rejected() {
    // A small-order point (here the all-zero u-coordinate) gives an all-zero DH output.
    let sk_r = derive_key_pair(b"receiver");
    let suite = Suite { kem: Kem::X25519, aead: Aead::Aes128Gcm };
    assert_eq!(
        setup_receiver(suite, &[0u8; 32], &sk_r, b"", &ModeKeys::Base).map(|_| ()),
        Err(HpkeError::ZeroSharedSecret)
    );
    let rng = ring::rand::SystemRandom::new();
    assert_eq!(
        setup_sender(suite, &[0u8; 32], b"", &ModeKeys::Base, &rng).map(|_| ()),
        Err(HpkeError::ZeroSharedSecret)
    );
}

#[test]
fn psk_inputs_are_checked() {
    let sk_r = derive_key_pair(b"receiver");
    let suite = Suite { kem: Kem::X25519, aead: Aead::Aes128Gcm };
    let rng = ring::rand::SystemRandom::new();
    let mode = ModeKeys::Psk { psk: b"", psk_id: b"" };
    assert_eq!(setup_sender(suite, &sk_r.public_key(), b"", &mode, &rng).map(|_| ()), Err(HpkeError::InconsistentPsk));
    let mode = ModeKeys::Psk { psk: b"0123456789abcdef0123456789abcdef", psk_id: b"" };
    assert_eq!(setup_sender(suite, &sk_r.public_key(), b"", &mode, &rng).map(|_| ()), Err(HpkeError::InconsistentPsk));
}

#[test]
fn sequence_number_never_wraps() {
    let sk_r = derive_key_pair(b"receiver");
    let suite = Suite { kem: Kem::X25519, aead: Aead::ChaCha20Poly1305 };
    let rng = ring::rand::SystemRandom::new();
    let (_, mut s) = setup_sender(suite, &sk_r.public_key(), b"", &ModeKeys::Base, &rng).expect("setup");
    s.0.seq = u64::MAX;
    assert_eq!(s.seal(b"", b"x").map(|_| ()), Err(HpkeError::MessageLimitReached));
    assert_eq!(s.seq(), u64::MAX, "a failed seal does not advance");
}

#[test]
fn a_failed_open_leaves_the_sequence_number_unchanged() {
    // RFC 9180 §5.2: IncrementSeq() only after a successful Open, so one
    // forged ciphertext does not make the genuine next one unopenable.
    let sk_r = derive_key_pair(b"receiver");
    let suite = Suite { kem: Kem::X25519, aead: Aead::Aes128Gcm };
    let rng = ring::rand::SystemRandom::new();
    let (enc, mut s) = setup_sender(suite, &sk_r.public_key(), b"info", &ModeKeys::Base, &rng).expect("setup");
    let ct0 = s.seal(b"aad", b"first").expect("seal");
    let mut r = setup_receiver(suite, &enc, &sk_r, b"info", &ModeKeys::Base).expect("setup");
    let mut forged = ct0.clone();
    forged[0] ^= 1;
    assert_eq!(r.open(b"aad", &forged), Err(HpkeError::OpenFailed));
    assert_eq!(r.seq(), 0, "the failed open did not advance the sequence number");
    assert_eq!(r.open(b"aad", &ct0).expect("the genuine ciphertext still opens"), b"first");
    assert_eq!(r.seq(), 1);
}
