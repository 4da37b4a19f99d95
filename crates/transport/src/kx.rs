//! The hybrid post-quantum TLS 1.3 key exchange X25519MLKEM768
//! (draft-ietf-tls-ecdhe-mlkem, group 0x11ec) as a rustls key-exchange
//! group (spec/transport.md, "Key exchange").
//!
//! rustls' ring provider has no post-quantum group and the project keeps
//! aws-lc-rs out of the tree, so the group is built here from ML-KEM-768
//! (FIPS 203; RustCrypto's `ml-kem`, the crate X-Wing builds on) and the
//! ring provider's own X25519 group. Shares and secrets are ML-KEM's part
//! first, then X25519's:
//!
//! - client share: the ML-KEM-768 encapsulation key (1184 bytes) ‖ an X25519 public key (32);
//! - server share: the ML-KEM-768 ciphertext (1088) ‖ an X25519 public key (32);
//! - shared secret: the ML-KEM shared secret (32) ‖ the X25519 shared secret (32).
//!
//! The client's X25519 part is also offered as a share for the X25519
//! group on its own (rustls' hybrid-component sharing), so a server
//! without the hybrid group completes a classical handshake with no
//! extra round trip, unless it is told to require the hybrid group.

use std::sync::atomic::{AtomicU64, Ordering};

use ml_kem::ml_kem_768::{DecapsulationKey, EncapsulationKey};
use ml_kem::{Decapsulate, KeyExport, TryKeyInit};
use ring::rand::SecureRandom;
use rustls::crypto::{ActiveKeyExchange, CompletedKeyExchange, SharedSecret, SupportedKxGroup};
use rustls::{Error, NamedGroup, PeerMisbehaved, ProtocolVersion};
use zeroize::{Zeroize, Zeroizing};

/// ML-KEM-768's encapsulation key length.
const EK_LEN: usize = 1184;
/// ML-KEM-768's ciphertext length.
const CT_LEN: usize = 1088;
/// An X25519 public key's length.
const X25519_LEN: usize = 32;

/// X25519MLKEM768 (0x11ec), on ML-KEM-768 and ring's X25519.
#[derive(Debug)]
pub struct X25519MlKem768;

/// The group, for a provider's `kx_groups`.
pub static X25519MLKEM768: &dyn SupportedKxGroup = &X25519MlKem768;

/// ring's X25519 group: the classical part of the hybrid group.
fn x25519() -> &'static dyn SupportedKxGroup {
    rustls::crypto::ring::kx_group::X25519
}

/// Key exchanges completed in this process, by group, on either side of a
/// handshake: what rustls negotiated, counted where it completes (quinn
/// does not report the group of a connection).
static HYBRID: AtomicU64 = AtomicU64::new(0);
static CLASSICAL: AtomicU64 = AtomicU64::new(0);

/// How many TLS key exchanges this process completed with each group
/// (as client or as server), since it started.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct KeyExchangeCounts {
    /// With X25519MLKEM768.
    pub hybrid: u64,
    /// With X25519 alone.
    pub classical: u64,
}

/// The key exchanges this process has completed so far.
pub fn key_exchanges() -> KeyExchangeCounts {
    KeyExchangeCounts { hybrid: HYBRID.load(Ordering::Relaxed), classical: CLASSICAL.load(Ordering::Relaxed) }
}

fn count(group: &AtomicU64) {
    group.fetch_add(1, Ordering::Relaxed);
}

/// ring's X25519 group as the classical fallback, counted.
#[derive(Debug)]
struct CountedX25519;

static COUNTED_X25519: &dyn SupportedKxGroup = &CountedX25519;

impl SupportedKxGroup for CountedX25519 {
    fn start(&self) -> Result<Box<dyn ActiveKeyExchange>, Error> {
        Ok(Box::new(CountedActive(x25519().start()?)))
    }

    fn start_and_complete(&self, client_share: &[u8]) -> Result<CompletedKeyExchange, Error> {
        let done = x25519().start_and_complete(client_share)?;
        count(&CLASSICAL);
        Ok(done)
    }

    fn name(&self) -> NamedGroup {
        NamedGroup::X25519
    }
}

struct CountedActive(Box<dyn ActiveKeyExchange>);

impl ActiveKeyExchange for CountedActive {
    fn complete(self: Box<Self>, server_share: &[u8]) -> Result<SharedSecret, Error> {
        let secret = self.0.complete(server_share)?;
        count(&CLASSICAL);
        Ok(secret)
    }

    fn pub_key(&self) -> &[u8] {
        self.0.pub_key()
    }

    fn group(&self) -> NamedGroup {
        NamedGroup::X25519
    }
}

fn random<const N: usize>() -> Result<Zeroizing<[u8; N]>, Error> {
    let mut bytes = Zeroizing::new([0u8; N]);
    ring::rand::SystemRandom::new().fill(&mut *bytes).map_err(|_| Error::FailedToGetRandomBytes)?;
    Ok(bytes)
}

fn invalid_share() -> Error {
    Error::PeerMisbehaved(PeerMisbehaved::InvalidKeyShare)
}

impl SupportedKxGroup for X25519MlKem768 {
    fn start(&self) -> Result<Box<dyn ActiveKeyExchange>, Error> {
        let classical = x25519().start()?;
        let seed = random::<64>()?;
        let mut seed_array = (*seed).into();
        let decapsulation = DecapsulationKey::from_seed(seed_array);
        seed_array.zeroize();
        let mut share = Vec::with_capacity(EK_LEN + X25519_LEN);
        share.extend_from_slice(&decapsulation.encapsulation_key().to_bytes());
        share.extend_from_slice(classical.pub_key());
        Ok(Box::new(Active { decapsulation, classical, share }))
    }

    fn start_and_complete(&self, client_share: &[u8]) -> Result<CompletedKeyExchange, Error> {
        if client_share.len() != EK_LEN + X25519_LEN {
            return Err(invalid_share());
        }
        let (ek, x) = client_share.split_at(EK_LEN);
        // FIPS 203's encapsulation key check (the modulus check), as the draft requires.
        let ek = EncapsulationKey::new_from_slice(ek).map_err(|_| invalid_share())?;
        let m = random::<32>()?;
        let mut m_array = (*m).into();
        let (ct, mut ss) = ek.encapsulate_deterministic(&m_array);
        m_array.zeroize();
        let classical = x25519().start_and_complete(x)?;
        let mut pub_key = Vec::with_capacity(CT_LEN + X25519_LEN);
        pub_key.extend_from_slice(&ct);
        pub_key.extend_from_slice(&classical.pub_key);
        let mut secret = Vec::with_capacity(64);
        secret.extend_from_slice(&ss);
        ss.zeroize();
        secret.extend_from_slice(classical.secret.secret_bytes());
        count(&HYBRID);
        Ok(CompletedKeyExchange { group: self.name(), pub_key, secret: SharedSecret::from(secret) })
    }

    fn name(&self) -> NamedGroup {
        NamedGroup::X25519MLKEM768
    }

    fn usable_for_version(&self, version: ProtocolVersion) -> bool {
        version == ProtocolVersion::TLSv1_3
    }
}

/// The client's side between its ClientHello and the server's share.
struct Active {
    decapsulation: DecapsulationKey,
    classical: Box<dyn ActiveKeyExchange>,
    share: Vec<u8>,
}

impl ActiveKeyExchange for Active {
    fn complete(self: Box<Self>, server_share: &[u8]) -> Result<SharedSecret, Error> {
        if server_share.len() != CT_LEN + X25519_LEN {
            return Err(invalid_share());
        }
        let (ct, x) = server_share.split_at(CT_LEN);
        let ct = ml_kem::ml_kem_768::Ciphertext::try_from(ct).map_err(|_| invalid_share())?;
        // ML-KEM decapsulation does not fail: a forged ciphertext gives another
        // secret (implicit rejection), and the handshake's Finished fails.
        let mut ss = self.decapsulation.decapsulate(&ct);
        let classical = self.classical.complete(x);
        let mut secret = Vec::with_capacity(64);
        secret.extend_from_slice(&ss);
        ss.zeroize();
        let classical = classical?;
        secret.extend_from_slice(classical.secret_bytes());
        count(&HYBRID);
        Ok(SharedSecret::from(secret))
    }

    fn hybrid_component(&self) -> Option<(NamedGroup, &[u8])> {
        Some((self.classical.group(), self.classical.pub_key()))
    }

    /// The server chose X25519 and answered the X25519 part of the share.
    fn complete_hybrid_component(self: Box<Self>, server_share: &[u8]) -> Result<SharedSecret, Error> {
        let secret = self.classical.complete(server_share)?;
        count(&CLASSICAL);
        Ok(secret)
    }

    fn pub_key(&self) -> &[u8] {
        &self.share
    }

    fn group(&self) -> NamedGroup {
        NamedGroup::X25519MLKEM768
    }
}

/// Which TLS key exchanges an endpoint offers and accepts (spec/transport.md, "Key exchange").
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum KeyExchange {
    /// X25519MLKEM768, preferred, then X25519: a peer without the hybrid
    /// group still connects, classically.
    #[default]
    HybridPreferred,
    /// X25519MLKEM768 only: a peer that does not offer it fails the handshake.
    HybridRequired,
    /// X25519 only, without post-quantum protection: for measurements, and
    /// for a peer whose network cannot carry the hybrid group's larger
    /// ClientHello (about 1.2 KB more).
    Classical,
}

impl KeyExchange {
    /// The groups of this policy, most preferred first.
    pub(crate) fn groups(self) -> Vec<&'static dyn SupportedKxGroup> {
        match self {
            Self::HybridPreferred => vec![X25519MLKEM768, COUNTED_X25519],
            Self::HybridRequired => vec![X25519MLKEM768],
            Self::Classical => vec![COUNTED_X25519],
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_client_and_a_server_agree_on_a_64_byte_secret_and_a_forged_ciphertext_does_not() {
        let client = X25519MLKEM768.start().expect("starts");
        assert_eq!(client.pub_key().len(), EK_LEN + X25519_LEN);
        let (group, classical) = client.hybrid_component().expect("shares its X25519 part");
        assert_eq!((group, classical.len()), (NamedGroup::X25519, X25519_LEN));
        assert_eq!(classical, &client.pub_key()[EK_LEN..], "the X25519 part is the share's tail");
        let server = X25519MLKEM768.start_and_complete(client.pub_key()).expect("completes");
        assert_eq!(server.group, NamedGroup::X25519MLKEM768);
        assert_eq!(server.pub_key.len(), CT_LEN + X25519_LEN);
        let client_again = X25519MLKEM768.start().expect("starts");
        let server_again = X25519MLKEM768.start_and_complete(client_again.pub_key()).expect("completes");
        let secret = client.complete(&server.pub_key).expect("completes");
        assert_eq!(secret.secret_bytes().len(), 64);
        assert_eq!(secret.secret_bytes(), server.secret.secret_bytes());
        let mut bent = server_again.pub_key.clone();
        bent[10] ^= 1;
        let other = client_again.complete(&bent).expect("ML-KEM's implicit rejection gives a secret");
        assert_ne!(other.secret_bytes(), server_again.secret.secret_bytes(), "a bit flip gives another secret");
    }

    /// The layout of draft-ietf-tls-ecdhe-mlkem, pinned against each part
    /// computed on its own: ML-KEM-768 first, then X25519, in both shares
    /// and in the secret.
    #[test]
    fn each_side_puts_ml_kem_first_and_x25519_second() {
        use ml_kem::KeyExport as _;
        // Our client against a server made by hand from the two parts.
        let client = X25519MLKEM768.start().expect("starts");
        let (ek, x) = client.pub_key().split_at(EK_LEN);
        let ek = EncapsulationKey::new_from_slice(ek).expect("the client's first 1184 bytes are its ML-KEM key");
        let (ct, ss_m) = ek.encapsulate_deterministic(&[9u8; 32].into());
        let classical = x25519().start_and_complete(x).expect("the last 32 bytes are an X25519 key");
        let mut server_share = ct.to_vec();
        server_share.extend_from_slice(&classical.pub_key);
        let secret = client.complete(&server_share).expect("completes");
        let expected: Vec<u8> = ss_m.iter().chain(classical.secret.secret_bytes()).copied().collect();
        assert_eq!(secret.secret_bytes(), &expected[..], "ss(ML-KEM) then ss(X25519)");

        // Our server against a client made by hand.
        let dk = DecapsulationKey::from_seed([4u8; 64].into());
        let x_client = x25519().start().expect("starts");
        let mut client_share = dk.encapsulation_key().to_bytes().to_vec();
        client_share.extend_from_slice(x_client.pub_key());
        let server = X25519MLKEM768.start_and_complete(&client_share).expect("completes");
        let (ct, x_server) = server.pub_key.split_at(CT_LEN);
        let ss_m = dk.decapsulate(&ml_kem::ml_kem_768::Ciphertext::try_from(ct).expect("1088 bytes"));
        let ss_x = x_client.complete(x_server).expect("the server's last 32 bytes are its X25519 key");
        let expected: Vec<u8> = ss_m.iter().chain(ss_x.secret_bytes()).copied().collect();
        assert_eq!(server.secret.secret_bytes(), &expected[..]);
    }

    #[test]
    fn shares_of_the_wrong_length_or_an_invalid_key_are_refused() {
        let client = X25519MLKEM768.start().expect("starts");
        let short = &client.pub_key()[..EK_LEN];
        assert!(matches!(X25519MLKEM768.start_and_complete(short), Err(Error::PeerMisbehaved(_))));
        // Coefficients of 0xfff are above q = 3329: FIPS 203's check refuses the key.
        let mut invalid = vec![0xff; EK_LEN];
        invalid.extend_from_slice(&client.pub_key()[EK_LEN..]);
        assert!(matches!(X25519MLKEM768.start_and_complete(&invalid), Err(Error::PeerMisbehaved(_))));
        assert!(matches!(client.complete(&[0; 32]), Err(Error::PeerMisbehaved(_))));
    }
}
