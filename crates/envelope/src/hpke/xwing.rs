//! The X-Wing KEM in HPKE (draft-connolly-cfrg-xwing-kem, "Use in HPKE"):
//! KEM id 0x647a, `Nsecret` 32, `Nenc` 1120, `Npk` 1216, `Nsk` 32; the
//! serialization functions are the identity and `DeriveKeyPair` is the
//! draft's `GenerateKeyPairDerand`. Base mode only: X-Wing has no
//! authenticated mode.
//!
//! The KEM itself is RustCrypto's `x-wing`; its randomness (64 bytes per
//! encapsulation) comes from ring's system generator, as DHKEM's does.

use ring::rand::SecureRandom;
use x_wing::{Decapsulate, Decapsulator, KeyExport, KeyInit, TryKeyInit};
use zeroize::{Zeroize, Zeroizing};

use super::{Context, Kem, ModeKeys, ReceiverContext, SenderContext, Suite, key_schedule};
use crate::error::HpkeError;

/// `Npk`: an X-Wing encapsulation key's length.
pub const N_PK: usize = x_wing::ENCAPSULATION_KEY_SIZE;
/// `Nenc`: an X-Wing ciphertext's length.
pub const N_ENC: usize = x_wing::CIPHERTEXT_SIZE;
/// `Nsk`: an X-Wing decapsulation key (a seed).
pub const N_SK: usize = x_wing::DECAPSULATION_KEY_SIZE;
/// The randomness one encapsulation takes: 32 bytes for ML-KEM, then 32 for X25519.
pub const N_RANDOMNESS: usize = x_wing::ENCAPSULATION_RANDOMNESS_SIZE;

/// An X-Wing decapsulation key: its 32-byte seed and what the seed expands
/// to. Not `Clone`; zeroized on drop (`x-wing`'s `zeroize`); its `Debug`
/// shows nothing secret.
pub struct XWingPrivateKey(x_wing::DecapsulationKey);

impl XWingPrivateKey {
    /// The key with this seed (`DeserializePrivateKey`; the seed is expanded
    /// with SHAKE256 as the draft says).
    pub fn from_seed(seed: [u8; N_SK]) -> Self {
        let mut seed = Zeroizing::new(seed);
        let mut array = (*seed).into();
        let key = x_wing::DecapsulationKey::new(&array);
        array.zeroize();
        seed.zeroize();
        Self(key)
    }

    /// `SerializePublicKey(pk(sk))`: ML-KEM-768's encapsulation key, then X25519's.
    pub fn public_key(&self) -> Box<[u8; N_PK]> {
        let mut out = Box::new([0u8; N_PK]);
        out.copy_from_slice(&self.0.encapsulation_key().to_bytes());
        out
    }

    /// The seed, for writing a key file.
    pub(crate) fn seed(&self) -> Zeroizing<[u8; N_SK]> {
        Zeroizing::new(*self.0.as_bytes())
    }
}

impl std::fmt::Debug for XWingPrivateKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("XWingPrivateKey(..)")
    }
}

/// Whether `pk` is an X-Wing encapsulation key a sender can seal to: its
/// ML-KEM-768 part passes FIPS 203's modulus check (X25519 takes any 32 bytes).
pub fn is_valid_public_key(pk: &[u8; N_PK]) -> bool {
    x_wing::EncapsulationKey::new_from_slice(pk).is_ok()
}

/// An encapsulation's shared secret and `enc`.
type Encapsulated = (Zeroizing<[u8; 32]>, Box<[u8; N_ENC]>);

/// `Encap(pkR)` with the given randomness: the shared secret and `enc`.
fn encap(pk_r: &[u8; N_PK], randomness: &[u8; N_RANDOMNESS]) -> Result<Encapsulated, HpkeError> {
    let pk = x_wing::EncapsulationKey::new_from_slice(pk_r).map_err(|_| HpkeError::InvalidPublicKey)?;
    let mut randomness = (*randomness).into();
    let (ct, mut ss) = pk.encapsulate_deterministic(&randomness);
    randomness.zeroize();
    let mut enc = Box::new([0u8; N_ENC]);
    enc.copy_from_slice(&ct);
    let mut shared = Zeroizing::new([0u8; 32]);
    shared.copy_from_slice(&ss);
    ss.zeroize();
    Ok((shared, enc))
}

/// `SetupBaseS(pkR, info)` with X-Wing: encapsulates to `pk_r` with fresh
/// randomness from `rng`; returns `enc` and the context.
pub fn setup_sender(
    suite: Suite,
    pk_r: &[u8; N_PK],
    info: &[u8],
    rng: &dyn SecureRandom,
) -> Result<(Box<[u8; N_ENC]>, SenderContext), HpkeError> {
    let mut randomness = Zeroizing::new([0u8; N_RANDOMNESS]);
    rng.fill(&mut *randomness).map_err(|_| HpkeError::Random)?;
    setup_sender_with_randomness(suite, pk_r, info, &randomness)
}

/// [`setup_sender`] with given encapsulation randomness. Reusing it breaks
/// HPKE's security; this exists for test vectors only (feature
/// `test-vectors`; never in a release build).
#[cfg(any(test, fuzzing, feature = "test-vectors"))]
pub fn dangerous_setup_sender_with_randomness(
    suite: Suite,
    pk_r: &[u8; N_PK],
    info: &[u8],
    randomness: &[u8; N_RANDOMNESS],
) -> Result<(Box<[u8; N_ENC]>, SenderContext), HpkeError> {
    setup_sender_with_randomness(suite, pk_r, info, randomness)
}

fn setup_sender_with_randomness(
    suite: Suite,
    pk_r: &[u8; N_PK],
    info: &[u8],
    randomness: &[u8; N_RANDOMNESS],
) -> Result<(Box<[u8; N_ENC]>, SenderContext), HpkeError> {
    suite.expect_kem(Kem::XWing)?;
    let (shared_secret, enc) = encap(pk_r, randomness)?;
    let ks = key_schedule(suite, &ModeKeys::Base, &*shared_secret, info)?;
    Ok((enc, SenderContext(Context::new(suite, ks)?)))
}

/// `SetupBaseR(enc, skR, info)` with X-Wing. X-Wing decapsulation never
/// fails: a modified `enc` gives another shared secret (ML-KEM's implicit
/// rejection), so the first AEAD open fails instead.
pub fn setup_receiver(
    suite: Suite,
    enc: &[u8; N_ENC],
    sk_r: &XWingPrivateKey,
    info: &[u8],
) -> Result<ReceiverContext, HpkeError> {
    suite.expect_kem(Kem::XWing)?;
    let ct = x_wing::Ciphertext::from(*enc);
    let mut ss = sk_r.0.decapsulate(&ct);
    let mut shared_secret = Zeroizing::new([0u8; 32]);
    shared_secret.copy_from_slice(&ss);
    ss.zeroize();
    let ks = key_schedule(suite, &ModeKeys::Base, &*shared_secret, info)?;
    Ok(ReceiverContext(Context::new(suite, ks)?))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::hpke::Aead;

    const SUITE: Suite = Suite { kem: Kem::XWing, aead: Aead::Aes256Gcm };

    fn unhex(s: &str) -> Vec<u8> {
        crate::unhex_checked(s).expect("hex")
    }

    /// The draft's own vectors (draft-connolly-cfrg-xwing-kem, appendix C),
    /// copied unchanged to spec/vectors/xwing: key derivation from the seed,
    /// encapsulation with the vector's randomness, and decapsulation.
    #[test]
    fn the_drafts_kem_vectors_pass() {
        let path = concat!(env!("CARGO_MANIFEST_DIR"), "/../../spec/vectors/xwing/xwing-kem-test-vectors.json");
        let text = std::fs::read_to_string(path).expect("spec/vectors/xwing");
        // The copy is the published file, where the published file is at hand.
        let published = concat!(env!("CARGO_MANIFEST_DIR"), "/../../../shared/vectors/pq/xwing-kem-test-vectors.json");
        if let Ok(original) = std::fs::read_to_string(published) {
            assert_eq!(text, original, "spec/vectors/xwing is the published file, unchanged");
        }
        let vectors: Vec<serde_json::Value> = serde_json::from_str(&text).expect("JSON");
        assert!(vectors.len() >= 3, "the draft gives three vectors");
        for v in &vectors {
            let field = |k: &str| unhex(v[k].as_str().expect("a hex string"));
            let sk = XWingPrivateKey::from_seed(field("sk").try_into().expect("32 bytes"));
            assert_eq!(&sk.public_key()[..], &field("pk")[..], "pk from the seed");
            let pk: [u8; N_PK] = field("pk").try_into().expect("1216 bytes");
            let randomness: [u8; N_RANDOMNESS] = field("eseed").try_into().expect("64 bytes");
            let (ss, enc) = encap(&pk, &randomness).expect("encapsulates");
            assert_eq!(&enc[..], &field("ct")[..], "ct");
            assert_eq!(&ss[..], &field("ss")[..], "ss from Encap");
            let ct = x_wing::Ciphertext::from(*enc);
            assert_eq!(&sk.0.decapsulate(&ct)[..], &field("ss")[..], "ss from Decap");
        }
    }

    #[test]
    fn a_base_mode_context_seals_to_the_key_and_only_to_it() {
        let rng = ring::rand::SystemRandom::new();
        let sk = XWingPrivateKey::from_seed([7; 32]);
        let (enc, mut s) = setup_sender(SUITE, &sk.public_key(), b"info", &rng).expect("sets up");
        let ct = s.seal(b"aad", b"records").expect("seals");
        let mut r = setup_receiver(SUITE, &enc, &sk, b"info").expect("sets up");
        assert_eq!(r.open(b"aad", &ct).expect("opens"), b"records");
        // Another info, another key, a flipped bit in enc: the open fails.
        let mut other = setup_receiver(SUITE, &enc, &sk, b"other").expect("sets up");
        assert_eq!(other.open(b"aad", &ct), Err(HpkeError::OpenFailed));
        let stranger = XWingPrivateKey::from_seed([8; 32]);
        let mut other = setup_receiver(SUITE, &enc, &stranger, b"info").expect("sets up");
        assert_eq!(other.open(b"aad", &ct), Err(HpkeError::OpenFailed));
        let mut bent = enc.clone();
        bent[100] ^= 1;
        let mut other = setup_receiver(SUITE, &bent, &sk, b"info").expect("sets up");
        assert_eq!(other.open(b"aad", &ct), Err(HpkeError::OpenFailed));
        // The DHKEM suite is not X-Wing's.
        let dhkem = Suite { kem: Kem::X25519, aead: Aead::Aes256Gcm };
        assert!(matches!(setup_receiver(dhkem, &enc, &sk, b"info"), Err(HpkeError::WrongKem { .. })));
        assert_eq!(format!("{sk:?}"), "XWingPrivateKey(..)");
    }

    #[test]
    fn an_invalid_encapsulation_key_is_an_error() {
        // ML-KEM's modulus check: coefficients of 0xfff exceed q = 3329.
        let pk = [0xff; N_PK];
        let rng = ring::rand::SystemRandom::new();
        assert!(matches!(setup_sender(SUITE, &pk, b"info", &rng), Err(HpkeError::InvalidPublicKey)));
    }
}
