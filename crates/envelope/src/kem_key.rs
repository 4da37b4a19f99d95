//! KEM keys (DHKEM(X25519) or X-Wing) and their certificates (spec/keys.md).
//!
//! A recipient seals nothing with its KEM key; senders seal to it. The
//! identity key certifies each KEM key for a validity window, so KEM keys
//! rotate without the identity changing.

use std::fmt;

use ring::rand::SecureRandom;
use tally_wire::{AgencyId, Kem, KemKeyCertificate, KemPublicKey, KeyId, Signed, Timestamp, X25519PublicKey};
use zeroize::Zeroizing;

use crate::digest::kem_key_id;
use crate::error::{Error, HpkeError};
use crate::hpke::KemPrivateKey;
use crate::hpke::xwing::XWingPrivateKey;
use crate::identity::{IdentityKey, IdentityVerifier};

/// An agency's KEM key, DHKEM(X25519) or X-Wing. Not `Clone`; zeroized on
/// drop; its `Debug` shows only the KEM, the public key and the id.
pub struct KemKey {
    secret: KemSecret,
    public: KemPublicKey,
    id: KeyId,
}

/// The private half of a [`KemKey`].
pub(crate) enum KemSecret {
    /// An X25519 private key.
    X25519(KemPrivateKey),
    /// An X-Wing seed and its encapsulation key (boxed: 1.2 KB).
    XWing(Box<XWingPrivateKey>),
}

impl KemKey {
    /// A new DHKEM(X25519) key from the system's random number generator.
    pub fn generate() -> Result<Self, Error> {
        Self::generate_for(Kem::X25519)
    }

    /// A new key of `kem` from the system's random number generator.
    pub fn generate_for(kem: Kem) -> Result<Self, Error> {
        let mut bytes = Zeroizing::new([0u8; 32]);
        ring::rand::SystemRandom::new().fill(&mut *bytes).map_err(|_| HpkeError::Random)?;
        Ok(Self::from_secret(kem, *bytes))
    }

    /// The DHKEM(X25519) key with these private bytes.
    pub fn from_bytes(bytes: [u8; 32]) -> Self {
        Self::from_private(KemPrivateKey::from_bytes(bytes))
    }

    /// The key of `kem` with these 32 secret bytes: an X25519 private key,
    /// or an X-Wing seed (its decapsulation key).
    pub fn from_secret(kem: Kem, bytes: [u8; 32]) -> Self {
        match kem {
            Kem::X25519 => Self::from_bytes(bytes),
            Kem::XWing => {
                let secret = XWingPrivateKey::from_seed(bytes);
                let public = KemPublicKey::XWing(Box::new(tally_wire::XWingPublicKey(*secret.public_key())));
                Self { id: kem_key_id(&public), secret: KemSecret::XWing(Box::new(secret)), public }
            }
        }
    }

    pub(crate) fn from_private(secret: KemPrivateKey) -> Self {
        let public = KemPublicKey::X25519(X25519PublicKey(secret.public_key()));
        Self { id: kem_key_id(&public), secret: KemSecret::X25519(secret), public }
    }

    pub(crate) fn private(&self) -> &KemSecret {
        &self.secret
    }

    /// The 32 secret bytes [`from_secret`](Self::from_secret) takes, for a key file.
    pub(crate) fn secret_bytes(&self) -> Zeroizing<[u8; 32]> {
        match &self.secret {
            KemSecret::X25519(k) => k.to_bytes(),
            KemSecret::XWing(k) => k.seed(),
        }
    }

    /// The key's KEM.
    pub fn kem(&self) -> Kem {
        self.public.kem()
    }

    /// The public key.
    pub fn public_key(&self) -> &KemPublicKey {
        &self.public
    }

    /// The key's id, `H("tally/v1/hash/kem-key-id", public key)`.
    pub fn key_id(&self) -> &KeyId {
        &self.id
    }

    /// A certificate for this key, signed by `identity`, valid from
    /// `not_before` (inclusive) to `not_after` (exclusive).
    pub fn certify(
        &self,
        identity: &IdentityKey,
        agency: AgencyId,
        not_before: Timestamp,
        not_after: Timestamp,
    ) -> Result<Signed<KemKeyCertificate>, Error> {
        identity.sign_object(KemKeyCertificate {
            agency,
            key_id: self.id,
            public_key: self.public.clone(),
            not_before,
            not_after,
        })
    }
}

impl fmt::Debug for KemKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "KemKey({}, id: {}, public: {})", self.kem(), self.id, self.public)
    }
}

/// Checks a KEM key certificate: signed by `issuer` (the agency's identity
/// key), for `agency`, with a key id that is the key's digest, and valid
/// at `at`. Returns the certificate's contents.
pub fn verify_kem_certificate<'a>(
    cert: &'a Signed<KemKeyCertificate>,
    issuer: &IdentityVerifier,
    agency: &AgencyId,
    at: Timestamp,
) -> Result<&'a KemKeyCertificate, Error> {
    let c = verify_kem_binding(cert, issuer, agency)?;
    if !kem_certificate_valid_at(c, at) {
        return Err(Error::CertificateNotValid { agency: c.agency.to_string(), key_id: c.key_id });
    }
    Ok(c)
}

/// The checks of [`verify_kem_certificate`] that do not depend on the
/// time: the signature by `issuer`, the agency and the key id. A caller
/// that keeps certificates verified this way (once per directory, say)
/// checks [`kem_certificate_valid_at`] at each use.
pub fn verify_kem_binding<'a>(
    cert: &'a Signed<KemKeyCertificate>,
    issuer: &IdentityVerifier,
    agency: &AgencyId,
) -> Result<&'a KemKeyCertificate, Error> {
    let c = issuer.verify_object(cert)?;
    if &c.agency != agency {
        return Err(Error::CertificateMismatch("certificate names another agency"));
    }
    if c.key_id != kem_key_id(&c.public_key) {
        return Err(Error::CertificateMismatch("key id is not the digest of the key"));
    }
    // Refused here, not at the first send: a sender would prefer it and fail.
    if let KemPublicKey::XWing(k) = &c.public_key
        && !crate::hpke::xwing::is_valid_public_key(&k.0)
    {
        return Err(Error::CertificateMismatch("the X-Wing key's ML-KEM-768 part fails FIPS 203's modulus check"));
    }
    Ok(c)
}

/// The certificate a sender seals to among `certificates` valid at `at`
/// (spec/envelope.md, "Choosing the suite"): an X-Wing key whenever one is
/// valid, else a DHKEM(X25519) key; of that KEM, the newest (the latest
/// `not_before`). With `kem` given, only keys of that KEM are considered.
pub fn preferred_kem_certificate(
    certificates: &[KemKeyCertificate],
    at: Timestamp,
    kem: Option<Kem>,
) -> Option<&KemKeyCertificate> {
    certificates
        .iter()
        .filter(|c| kem_certificate_valid_at(c, at) && kem.is_none_or(|k| c.public_key.kem() == k))
        .max_by_key(|c| (c.public_key.kem().level(), c.not_before))
}

/// The suite a sender seals with to a key of `kem`: HKDF-SHA256 and
/// AES-256-GCM with that KEM.
pub fn suite_for(kem: Kem) -> tally_wire::SuiteId {
    match kem {
        Kem::X25519 => tally_wire::SuiteId::X25519_SHA256_AES256GCM,
        Kem::XWing => tally_wire::SuiteId::XWING_SHA256_AES256GCM,
    }
}

/// Whether a certificate is valid at `at`: `not_before <= at < not_after`.
pub fn kem_certificate_valid_at(c: &KemKeyCertificate, at: Timestamp) -> bool {
    c.not_before <= at && at < c.not_after
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn certificate_checks() {
        let identity = IdentityKey::from_seed(&[1; 32]);
        let verifier = IdentityVerifier::new(&identity.public_key()).expect("valid");
        let kem = KemKey::from_bytes([2; 32]);
        let agency = AgencyId::new("tax-bureau").expect("valid");
        let cert = kem
            .certify(&identity, agency.clone(), Timestamp::from_secs(100), Timestamp::from_secs(200))
            .expect("signs");
        assert!(
            verify_kem_certificate(&cert, &verifier, &agency, Timestamp::from_secs(100)).is_ok(),
            "not-before is inclusive"
        );
        assert!(verify_kem_certificate(&cert, &verifier, &agency, Timestamp::from_secs(199)).is_ok());
        assert!(matches!(
            verify_kem_certificate(&cert, &verifier, &agency, Timestamp::from_secs(200)),
            Err(Error::CertificateNotValid { .. })
        ));
        assert!(matches!(
            verify_kem_certificate(&cert, &verifier, &agency, Timestamp::from_secs(99)),
            Err(Error::CertificateNotValid { .. })
        ));
        let other = AgencyId::new("other").expect("valid");
        assert!(matches!(
            verify_kem_certificate(&cert, &verifier, &other, Timestamp::from_secs(150)),
            Err(Error::CertificateMismatch(_))
        ));
        let stranger = IdentityVerifier::new(&IdentityKey::from_seed(&[3; 32]).public_key()).expect("valid");
        assert!(matches!(
            verify_kem_certificate(&cert, &stranger, &agency, Timestamp::from_secs(150)),
            Err(Error::BadSignature(_))
        ));
        let shown = format!("{kem:?}");
        assert!(!shown.contains(&"02".repeat(32)));
    }

    #[test]
    fn a_sender_prefers_a_valid_xwing_key_and_the_newest_of_a_kem() {
        let identity = IdentityKey::from_seed(&[1; 32]);
        let agency = AgencyId::new("tax-bureau").expect("valid");
        let cert = |kem, secret, from, to| {
            KemKey::from_secret(kem, [secret; 32])
                .certify(&identity, agency.clone(), Timestamp::from_secs(from), Timestamp::from_secs(to))
                .expect("signs")
                .unverified()
                .clone()
        };
        let old_x = cert(Kem::X25519, 1, 0, 100);
        let new_x = cert(Kem::X25519, 2, 50, 200);
        let xwing = cert(Kem::XWing, 3, 10, 150);
        let all = [old_x.clone(), xwing.clone(), new_x.clone()];
        let at = |t| Timestamp::from_secs(t);
        assert_eq!(preferred_kem_certificate(&all, at(60), None), Some(&xwing), "X-Wing over a newer X25519 key");
        assert_eq!(preferred_kem_certificate(&all, at(60), Some(Kem::X25519)), Some(&new_x), "the newest X25519 key");
        assert_eq!(preferred_kem_certificate(&all, at(160), None), Some(&new_x), "the X-Wing key has expired");
        assert_eq!(preferred_kem_certificate(&all, at(5), Some(Kem::XWing)), None, "not yet valid");
        assert_eq!(suite_for(Kem::XWing).kem(), Some(Kem::XWing));
    }

    #[test]
    fn an_xwing_key_is_certified_like_an_x25519_key_and_never_prints_its_seed() {
        let identity = IdentityKey::from_seed(&[1; 32]);
        let verifier = IdentityVerifier::new(&identity.public_key()).expect("valid");
        let kem = KemKey::from_secret(Kem::XWing, [0x5a; 32]);
        assert_eq!(kem.kem(), Kem::XWing);
        assert_eq!(kem.public_key().as_bytes().len(), 1216);
        let agency = AgencyId::new("tax-bureau").expect("valid");
        let cert =
            kem.certify(&identity, agency.clone(), Timestamp::from_secs(0), Timestamp::from_secs(9)).expect("signs");
        let c = verify_kem_certificate(&cert, &verifier, &agency, Timestamp::from_secs(1)).expect("verifies");
        assert_eq!(c.public_key.kem(), Kem::XWing);
        assert_eq!(&*kem.secret_bytes(), &[0x5a; 32]);
        assert!(!format!("{kem:?}").contains(&"5a".repeat(32)));
        // A certificate of bytes that are no X-Wing key is refused when it is checked.
        let bad = KemPublicKey::XWing(Box::new(tally_wire::XWingPublicKey([0xff; 1216])));
        let forged = identity
            .sign_object(KemKeyCertificate {
                agency: agency.clone(),
                key_id: kem_key_id(&bad),
                public_key: bad,
                not_before: Timestamp::from_secs(0),
                not_after: Timestamp::from_secs(9),
            })
            .expect("signs");
        assert!(matches!(
            verify_kem_certificate(&forged, &verifier, &agency, Timestamp::from_secs(1)),
            Err(Error::CertificateMismatch(_))
        ));
        // The same 32 bytes as an X25519 key are another key, with another id.
        assert_ne!(KemKey::from_secret(Kem::X25519, [0x5a; 32]).key_id(), kem.key_id());
    }
}
