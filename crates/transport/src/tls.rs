//! The TLS profile (spec/transport.md, "TLS"): TLS 1.3 only, on ring,
//! ALPN `tally/1`, no 0-RTT, no resumption, and raw public keys (RFC 7250)
//! on both sides, each pinned by the federation directory: a peer is
//! agency A exactly when SHA-256 of its SubjectPublicKeyInfo is A's
//! `tls_key`.

use std::fmt;
use std::sync::Arc;

use ring::signature::{Ed25519KeyPair, KeyPair};
use rustls::client::danger::{HandshakeSignatureValid, ServerCertVerified, ServerCertVerifier};
use rustls::crypto::{CryptoProvider, WebPkiSupportedAlgorithms, verify_tls13_signature_with_raw_key};
use rustls::pki_types::{
    CertificateDer, PrivateKeyDer, PrivatePkcs8KeyDer, ServerName, SubjectPublicKeyInfoDer, UnixTime,
};
use rustls::server::danger::{ClientCertVerified, ClientCertVerifier};
use rustls::sign::CertifiedKey;
use rustls::{
    CertificateError, DigitallySignedStruct, DistinguishedName, Error as TlsError, PeerIncompatible, SignatureScheme,
};
use tally_wire::{AgencyId, Digest};
use zeroize::Zeroizing;

use crate::error::{TlsKeyError, TransportError};
use crate::kx::KeyExchange;
use crate::roster::Roster;

/// The ALPN protocol id of Tally version 1.
pub const ALPN: &[u8] = b"tally/1";

/// A node's TLS key: an Ed25519 key pair, presented as a raw public key.
///
/// Separate from the agency's identity key (which signs receipts and
/// grants): the directory lists the digest of this key's
/// SubjectPublicKeyInfo as the agency's `tls_key`. The PKCS#8 document is
/// wiped on drop and never printed.
pub struct TlsKey {
    pkcs8: Zeroizing<Vec<u8>>,
    spki: Vec<u8>,
}

impl TlsKey {
    /// A new random key.
    pub fn generate() -> Result<Self, TransportError> {
        let rng = ring::rand::SystemRandom::new();
        let doc = Ed25519KeyPair::generate_pkcs8(&rng).map_err(|_| TlsKeyError::Random)?;
        Self::from_pkcs8(doc.as_ref())
    }

    /// A key from its PKCS#8 v1 or v2 document (Ed25519, or ECDSA P-256, as rustls on ring loads them).
    pub fn from_pkcs8(der: &[u8]) -> Result<Self, TransportError> {
        let pkcs8 = Zeroizing::new(der.to_vec());
        let signing = provider()
            .key_provider
            .load_private_key(PrivateKeyDer::Pkcs8(PrivatePkcs8KeyDer::from(pkcs8.to_vec())))
            .map_err(TlsKeyError::Unusable)?;
        let spki = signing.public_key().ok_or(TlsKeyError::NoPublicKey)?.to_vec();
        // Cross-check an Ed25519 key against ring's own parse, which also checks the public half.
        if let Ok(pair) = Ed25519KeyPair::from_pkcs8_maybe_unchecked(der)
            && !spki.ends_with(pair.public_key().as_ref())
        {
            return Err(TlsKeyError::Inconsistent.into());
        }
        Ok(Self { pkcs8, spki })
    }

    /// The PKCS#8 document, to store in a key file (keep it secret).
    pub fn pkcs8(&self) -> &[u8] {
        &self.pkcs8
    }

    /// The DER SubjectPublicKeyInfo presented in the handshake.
    pub fn spki(&self) -> &[u8] {
        &self.spki
    }

    /// The QUIC stateless-reset key: `H("tally/v1/hash/stateless-reset-key",
    /// PKCS#8 document)`. The same across restarts, so that a restarted node
    /// resets the connections peers still hold to its previous run, and
    /// they reconnect at once instead of waiting for a timeout.
    pub(crate) fn stateless_reset_key(&self) -> ring::hmac::Key {
        let digest = tally_envelope::digest(tally_wire::label::STATELESS_RESET_KEY, &[&self.pkcs8]);
        ring::hmac::Key::new(ring::hmac::HMAC_SHA256, &digest.0)
    }

    /// The key of the connection ids this node issues: the first 8 bytes of
    /// `H("tally/v1/hash/connection-id-key", PKCS#8 document)`. The same across
    /// restarts, so that a restarted node recognises the connection ids of
    /// its previous run and answers their packets with a stateless reset.
    pub(crate) fn connection_id_key(&self) -> u64 {
        let digest = tally_envelope::digest(tally_wire::label::CONNECTION_ID_KEY, &[&self.pkcs8]);
        let mut first = [0u8; 8];
        first.copy_from_slice(&digest.0[..8]);
        u64::from_be_bytes(first)
    }

    /// `SHA-256(SubjectPublicKeyInfo)`: the directory's `tls_key` for this node.
    pub fn spki_digest(&self) -> Digest {
        tally_envelope::sha256(&[&self.spki])
    }

    fn certified_key(&self) -> Result<Arc<CertifiedKey>, TransportError> {
        let signing = provider()
            .key_provider
            .load_private_key(PrivateKeyDer::Pkcs8(PrivatePkcs8KeyDer::from(self.pkcs8.to_vec())))
            .map_err(TlsKeyError::Unusable)?;
        Ok(Arc::new(CertifiedKey::new(vec![CertificateDer::from(self.spki.clone())], signing)))
    }
}

impl fmt::Debug for TlsKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("TlsKey").field("spki_digest", &self.spki_digest()).finish_non_exhaustive()
    }
}

/// ring's provider with the key-exchange groups of `key_exchange`.
fn provider_with(key_exchange: KeyExchange) -> Arc<CryptoProvider> {
    Arc::new(CryptoProvider { kx_groups: key_exchange.groups(), ..rustls::crypto::ring::default_provider() })
}

fn provider() -> Arc<CryptoProvider> {
    provider_with(KeyExchange::default())
}

/// The TLS 1.3 client configuration of the profile: this node's raw
/// public key, the server's pinned by the directory (the server name is
/// the agency id), the key exchanges of `key_exchange`. Public for tools
/// that need plain QUIC with Tally's authentication, such as the
/// transport benchmark's baseline.
pub fn client_config(
    key: &TlsKey,
    roster: Arc<Roster>,
    key_exchange: KeyExchange,
) -> Result<rustls::ClientConfig, TransportError> {
    let verifier = Arc::new(PinnedPeer::new(roster));
    let mut config = rustls::ClientConfig::builder_with_provider(provider_with(key_exchange))
        .with_protocol_versions(&[&rustls::version::TLS13])
        .map_err(TransportError::from)?
        .dangerous()
        .with_custom_certificate_verifier(verifier)
        .with_client_cert_resolver(Arc::new(rustls::client::AlwaysResolvesClientRawPublicKeys::new(
            key.certified_key()?,
        )));
    config.alpn_protocols = vec![ALPN.to_vec()];
    config.enable_early_data = false;
    config.resumption = rustls::client::Resumption::disabled();
    Ok(config)
}

/// The TLS 1.3 server configuration of the profile: client
/// authentication required, by a key the directory lists; the key
/// exchanges of `key_exchange`, the hybrid group chosen whenever the
/// client offers it.
pub fn server_config(
    key: &TlsKey,
    roster: Arc<Roster>,
    key_exchange: KeyExchange,
) -> Result<rustls::ServerConfig, TransportError> {
    let verifier = Arc::new(PinnedPeer::new(roster));
    let mut config = rustls::ServerConfig::builder_with_provider(provider_with(key_exchange))
        .with_protocol_versions(&[&rustls::version::TLS13])
        .map_err(TransportError::from)?
        .with_client_cert_verifier(verifier)
        .with_cert_resolver(Arc::new(rustls::server::AlwaysResolvesServerRawPublicKeys::new(key.certified_key()?)));
    config.alpn_protocols = vec![ALPN.to_vec()];
    config.max_early_data_size = 0;
    config.send_tls13_tickets = 0;
    config.session_storage = Arc::new(rustls::server::NoServerSessionStorage {});
    Ok(config)
}

/// The agency a handshake authenticated: the digest of the peer's raw
/// public key, looked up in the roster.
pub(crate) fn authenticated_agency(connection: &quinn::Connection, roster: &Roster) -> Option<AgencyId> {
    let identity = connection.peer_identity()?;
    let certs = identity.downcast::<Vec<CertificateDer<'static>>>().ok()?;
    let [spki] = certs.as_slice() else { return None };
    roster.agency_by_tls_key(&tally_envelope::sha256(&[spki.as_ref()]))
}

/// Both verifiers: the presented raw public key must be one the roster pins.
struct PinnedPeer {
    roster: Arc<Roster>,
    algorithms: WebPkiSupportedAlgorithms,
}

impl PinnedPeer {
    fn new(roster: Arc<Roster>) -> Self {
        Self { roster, algorithms: rustls::crypto::ring::default_provider().signature_verification_algorithms }
    }

    fn verify_signature(
        &self,
        message: &[u8],
        key: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, TlsError> {
        let spki = SubjectPublicKeyInfoDer::from(key.as_ref());
        verify_tls13_signature_with_raw_key(message, &spki, dss, &self.algorithms)
    }
}

fn unknown_key() -> TlsError {
    TlsError::InvalidCertificate(CertificateError::ApplicationVerificationFailure)
}

impl fmt::Debug for PinnedPeer {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("PinnedPeer").field("directory_serial", &self.roster.serial()).finish()
    }
}

impl ServerCertVerifier for PinnedPeer {
    /// The server must hold the TLS key of the agency named as server name.
    fn verify_server_cert(
        &self,
        end_entity: &CertificateDer<'_>,
        intermediates: &[CertificateDer<'_>],
        server_name: &ServerName<'_>,
        _ocsp_response: &[u8],
        _now: UnixTime,
    ) -> Result<ServerCertVerified, TlsError> {
        let ServerName::DnsName(name) = server_name else { return Err(unknown_key()) };
        let agency = AgencyId::new(name.as_ref()).map_err(|_| unknown_key())?;
        let record = self.roster.record(&agency).ok_or_else(unknown_key)?;
        if !intermediates.is_empty() || record.tls_key != tally_envelope::sha256(&[end_entity.as_ref()]) {
            return Err(unknown_key());
        }
        Ok(ServerCertVerified::assertion())
    }

    fn verify_tls12_signature(
        &self,
        _message: &[u8],
        _cert: &CertificateDer<'_>,
        _dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, TlsError> {
        Err(TlsError::PeerIncompatible(PeerIncompatible::Tls12NotOffered))
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, TlsError> {
        self.verify_signature(message, cert, dss)
    }

    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        self.algorithms.supported_schemes()
    }

    fn requires_raw_public_keys(&self) -> bool {
        true
    }
}

impl ClientCertVerifier for PinnedPeer {
    fn root_hint_subjects(&self) -> &[DistinguishedName] {
        &[]
    }

    /// The client must hold the TLS key of some agency in the roster.
    fn verify_client_cert(
        &self,
        end_entity: &CertificateDer<'_>,
        intermediates: &[CertificateDer<'_>],
        _now: UnixTime,
    ) -> Result<ClientCertVerified, TlsError> {
        let known = self.roster.agency_by_tls_key(&tally_envelope::sha256(&[end_entity.as_ref()])).is_some();
        if !intermediates.is_empty() || !known {
            return Err(unknown_key());
        }
        Ok(ClientCertVerified::assertion())
    }

    fn verify_tls12_signature(
        &self,
        _message: &[u8],
        _cert: &CertificateDer<'_>,
        _dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, TlsError> {
        Err(TlsError::PeerIncompatible(PeerIncompatible::Tls12NotOffered))
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, TlsError> {
        self.verify_signature(message, cert, dss)
    }

    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        self.algorithms.supported_schemes()
    }

    fn requires_raw_public_keys(&self) -> bool {
        true
    }
}

#[cfg(test)]
mod tests {
    use rustls::NamedGroup;

    use super::*;

    #[test]
    fn a_key_round_trips_through_pkcs8_with_the_same_pin() {
        let key = TlsKey::generate().expect("random");
        let again = TlsKey::from_pkcs8(key.pkcs8()).expect("loads");
        assert_eq!(again.spki_digest(), key.spki_digest());
        assert_eq!(key.spki_digest(), tally_envelope::sha256(&[key.spki()]), "the pin is SHA-256 of the SPKI DER");
        assert_ne!(TlsKey::generate().expect("random").spki_digest(), key.spki_digest());
    }

    /// A TLS handshake between a client and a server of these policies,
    /// each with its own raw key pinned in one directory, driven in memory
    /// through rustls' QUIC API with the profile's own configurations;
    /// returns the key-exchange group rustls reports on each side.
    fn handshake(client_kx: KeyExchange, server_kx: KeyExchange) -> Result<(NamedGroup, NamedGroup), rustls::Error> {
        use rustls::quic::{ClientConnection, ServerConnection, Version};
        let (a, b) = (TlsKey::generate().expect("random"), TlsKey::generate().expect("random"));
        let record = |id: &str, key: &TlsKey| tally_wire::AgencyRecord {
            id: AgencyId::new(id).expect("valid"),
            name: tally_wire::Text::new(id).expect("short"),
            roles: tally_wire::Roles::PRODUCER,
            endpoints: tally_wire::Endpoints::one(tally_wire::Endpoint::new("127.0.0.1:4433").expect("valid")),
            identity_key: tally_wire::IdentityPublicKey([9; 32]),
            tls_key: key.spki_digest(),
            kem_keys: tally_wire::BoundedVec::empty(),
        };
        let roster = Arc::new(Roster::new(&tally_wire::Directory {
            federation: tally_wire::Text::new("f").expect("short"),
            serial: 1,
            issued_at: tally_wire::Timestamp::from_secs(0),
            agencies: tally_wire::BoundedVec::new(vec![record("a", &a), record("b", &b)]).expect("two"),
            purposes: tally_wire::BoundedVec::empty(),
            categories: tally_wire::BoundedVec::empty(),
        }));
        let client_config = Arc::new(client_config(&a, Arc::clone(&roster), client_kx).expect("config"));
        let server_config = Arc::new(server_config(&b, roster, server_kx).expect("config"));
        let name = ServerName::try_from("b").expect("a DNS name");
        let mut client = ClientConnection::new(client_config, Version::V1, name, b"params".to_vec())?;
        let mut server = ServerConnection::new(server_config, Version::V1, b"params".to_vec())?;
        for _ in 0..16 {
            let mut flight = Vec::new();
            client.write_hs(&mut flight);
            if !flight.is_empty() {
                server.read_hs(&flight)?;
            }
            let mut flight = Vec::new();
            server.write_hs(&mut flight);
            if !flight.is_empty() {
                client.read_hs(&flight)?;
            }
            if !client.is_handshaking() && !server.is_handshaking() {
                let group = |g: Option<&'static dyn rustls::crypto::SupportedKxGroup>| g.expect("negotiated").name();
                return Ok((
                    group(client.negotiated_key_exchange_group()),
                    group(server.negotiated_key_exchange_group()),
                ));
            }
        }
        panic!("the handshake did not finish")
    }

    #[test]
    fn two_nodes_negotiate_the_hybrid_group_and_one_that_requires_it_refuses_a_classical_peer() {
        let hybrid = (NamedGroup::X25519MLKEM768, NamedGroup::X25519MLKEM768);
        let before = crate::key_exchanges();
        assert_eq!(handshake(KeyExchange::HybridPreferred, KeyExchange::HybridPreferred).expect("handshake"), hybrid);
        // Both sides counted theirs (other tests of this process may add more).
        assert!(crate::key_exchanges().hybrid >= before.hybrid + 2);
        assert_eq!(handshake(KeyExchange::HybridRequired, KeyExchange::HybridPreferred).expect("handshake"), hybrid);
        assert_eq!(handshake(KeyExchange::HybridPreferred, KeyExchange::HybridRequired).expect("handshake"), hybrid);
        // A peer that offers X25519 only (as rustls' ring provider does by itself).
        let refused = handshake(KeyExchange::Classical, KeyExchange::HybridRequired).expect_err("refused");
        assert!(
            matches!(refused, rustls::Error::PeerIncompatible(PeerIncompatible::NoKxGroupsInCommon)),
            "{refused:?}"
        );
        let classical = (NamedGroup::X25519, NamedGroup::X25519);
        assert_eq!(handshake(KeyExchange::Classical, KeyExchange::HybridPreferred).expect("a fallback"), classical);
        assert_eq!(handshake(KeyExchange::HybridPreferred, KeyExchange::Classical).expect("a fallback"), classical);
        // And the other way round: the classical server finds no group in common.
        let refused = handshake(KeyExchange::HybridRequired, KeyExchange::Classical).expect_err("refused");
        assert!(matches!(refused, TlsError::PeerIncompatible(PeerIncompatible::NoKxGroupsInCommon)), "{refused:?}");
    }

    #[test]
    fn garbage_is_not_a_key_and_the_key_never_prints() {
        assert!(matches!(TlsKey::from_pkcs8(b"not a key"), Err(TransportError::TlsKey(_))));
        let key = TlsKey::generate().expect("random");
        let shown = format!("{key:?}");
        assert!(shown.contains("spki_digest"));
        let secret_hex: String = key.pkcs8()[16..32].iter().map(|b| format!("{b:02x}")).collect();
        assert!(!shown.contains(&secret_hex), "Debug shows no private key bytes");
    }
}
