//! The agencies a node can talk to: the federation directory, indexed for
//! the transport (spec/transport.md, "Identity binding").

use std::collections::HashMap;
use std::sync::{Arc, RwLock};

use tally_envelope::{IdentityVerifier, preferred_kem_certificate, suite_for, verify_kem_binding};
use tally_wire::{AgencyId, AgencyRecord, Digest, Directory, KemKeyCertificate, SuiteId, Timestamp};

use crate::TransportError;

/// The directory's agency records, by id and by TLS key digest.
///
/// The transport trusts exactly what is in here: a TLS peer is
/// authenticated as agency A only if the SHA-256 of its raw public key is
/// A's `tls_key`. The caller verifies the directory's signature before
/// handing it over, and replaces the roster's contents with
/// [`Roster::update`] when a newer directory arrives; connections opened
/// after that are checked against the new records, and every endpoint
/// using the roster re-checks its open connections (spec/transport.md,
/// "Identity binding").
#[derive(Debug)]
pub struct Roster {
    inner: RwLock<Arc<Index>>,
    serial: tokio::sync::watch::Sender<u64>,
}

#[derive(Debug)]
struct Index {
    serial: u64,
    by_id: HashMap<AgencyId, AgencyRecord>,
    by_tls_key: HashMap<Digest, AgencyId>,
    /// Each agency's KEM key certificates whose signature, agency and key
    /// id verify, checked once per directory (validity in time is checked
    /// at each use).
    kem_keys: HashMap<AgencyId, Arc<[KemKeyCertificate]>>,
}

impl Roster {
    /// A roster of `directory`'s agencies (its signature already verified).
    pub fn new(directory: &Directory) -> Self {
        Self {
            inner: RwLock::new(Arc::new(Index::of(directory))),
            serial: tokio::sync::watch::Sender::new(directory.serial),
        }
    }

    /// Replaces the records with those of a newer `directory`; an older or
    /// equal serial is ignored (returns `false`).
    pub fn update(&self, directory: &Directory) -> bool {
        let mut inner = self.inner.write().unwrap_or_else(std::sync::PoisonError::into_inner);
        if directory.serial <= inner.serial {
            return false;
        }
        *inner = Arc::new(Index::of(directory));
        drop(inner);
        self.serial.send_replace(directory.serial);
        true
    }

    /// Notified with the new serial after every [`update`](Self::update).
    pub(crate) fn subscribe(&self) -> tokio::sync::watch::Receiver<u64> {
        self.serial.subscribe()
    }

    /// The directory serial the roster holds.
    pub fn serial(&self) -> u64 {
        self.index().serial
    }

    /// The record of `agency`.
    pub fn record(&self, agency: &AgencyId) -> Option<AgencyRecord> {
        self.index().by_id.get(agency).cloned()
    }

    /// `agency`'s KEM key certificates whose signature (by the agency's
    /// identity key), agency and key id verify (none if its identity key
    /// is not a valid key); `None` for an agency not listed.
    pub fn kem_certificates(&self, agency: &AgencyId) -> Option<Arc<[KemKeyCertificate]>> {
        self.index().kem_keys.get(agency).cloned()
    }

    /// The suite a packet to `agency` is sealed with at `at`: X-Wing's when
    /// it lists an X-Wing key valid then, DHKEM(X25519)'s otherwise
    /// (spec/envelope.md, "Choosing the suite").
    pub fn suite_for(&self, agency: &AgencyId, at: Timestamp) -> Result<SuiteId, TransportError> {
        let certificates =
            self.kem_certificates(agency).ok_or_else(|| TransportError::UnknownAgency(agency.clone()))?;
        preferred_kem_certificate(&certificates, at, None)
            .map(|c| suite_for(c.public_key.kem()))
            .ok_or_else(|| TransportError::NoKemKey(agency.clone()))
    }

    /// The agency whose TLS key has this SPKI digest.
    pub fn agency_by_tls_key(&self, digest: &Digest) -> Option<AgencyId> {
        self.index().by_tls_key.get(digest).cloned()
    }

    fn index(&self) -> Arc<Index> {
        Arc::clone(&self.inner.read().unwrap_or_else(std::sync::PoisonError::into_inner))
    }
}

impl Index {
    fn of(directory: &Directory) -> Self {
        let by_id: HashMap<_, _> = directory.agencies.iter().map(|a| (a.id.clone(), a.clone())).collect();
        let mut by_tls_key = HashMap::new();
        let mut shared = Vec::new();
        for a in directory.agencies.iter() {
            if by_tls_key.insert(a.tls_key, a.id.clone()).is_some() {
                shared.push(a.tls_key);
            }
        }
        // A TLS key listed for two agencies authenticates neither.
        for key in shared {
            by_tls_key.remove(&key);
        }
        let kem_keys = directory
            .agencies
            .iter()
            .map(|a| {
                let verified: Vec<KemKeyCertificate> = match IdentityVerifier::new(&a.identity_key) {
                    Ok(issuer) => {
                        a.kem_keys.iter().filter_map(|c| verify_kem_binding(c, &issuer, &a.id).ok()).cloned().collect()
                    }
                    Err(_) => Vec::new(),
                };
                (a.id.clone(), Arc::from(verified))
            })
            .collect();
        Self { serial: directory.serial, by_id, by_tls_key, kem_keys }
    }
}

#[cfg(test)]
mod tests {
    use tally_wire::{BoundedVec, Endpoint, Endpoints, IdentityPublicKey, Roles, Text, Timestamp};

    use super::*;

    fn record(id: &str, tls: u8) -> AgencyRecord {
        AgencyRecord {
            id: AgencyId::new(id).expect("valid"),
            name: Text::new(id).expect("short"),
            roles: Roles::PRODUCER,
            endpoints: Endpoints::one(Endpoint::new("127.0.0.1:4433").expect("valid")),
            identity_key: IdentityPublicKey([9; 32]),
            tls_key: Digest([tls; 32]),
            kem_keys: BoundedVec::empty(),
        }
    }

    fn directory(serial: u64, agencies: Vec<AgencyRecord>) -> Directory {
        Directory {
            federation: Text::new("f").expect("short"),
            serial,
            issued_at: Timestamp::from_secs(0),
            agencies: BoundedVec::new(agencies).expect("few"),
            purposes: BoundedVec::empty(),
            categories: BoundedVec::empty(),
        }
    }

    #[test]
    fn a_tls_key_listed_twice_authenticates_neither_agency() {
        let roster = Roster::new(&directory(1, vec![record("a", 1), record("b", 1), record("c", 2)]));
        assert_eq!(roster.agency_by_tls_key(&Digest([1; 32])), None);
        assert_eq!(roster.agency_by_tls_key(&Digest([2; 32])), Some(AgencyId::new("c").expect("valid")));
        assert!(roster.record(&AgencyId::new("a").expect("valid")).is_some(), "still listed, just not by that key");
    }

    #[test]
    fn only_kem_certificates_that_verify_for_their_agency_are_kept() {
        use tally_envelope::{IdentityKey, KemKey};
        let (identity, other) = (IdentityKey::from_seed(&[1; 32]), IdentityKey::from_seed(&[2; 32]));
        let a = AgencyId::new("a").expect("valid");
        let (from, to) = (Timestamp::from_secs(100), Timestamp::from_secs(200));
        let good = KemKey::from_bytes([3; 32]).certify(&identity, a.clone(), from, to).expect("signs");
        let forged = KemKey::from_bytes([4; 32]).certify(&other, a.clone(), from, to).expect("signs");
        let elsewhere = KemKey::from_bytes([5; 32])
            .certify(&identity, AgencyId::new("b").expect("valid"), from, to)
            .expect("signs");
        let mut listed = record("a", 1);
        listed.identity_key = identity.public_key();
        listed.kem_keys = BoundedVec::new(vec![forged, good.clone(), elsewhere]).expect("few");
        let mut bad_key = record("c", 2);
        bad_key.identity_key = IdentityPublicKey([0; 32]);
        bad_key.kem_keys = BoundedVec::new(vec![good.clone()]).expect("few");
        let roster = Roster::new(&directory(1, vec![listed, bad_key]));
        let kept = roster.kem_certificates(&a).expect("listed");
        assert_eq!(kept.len(), 1, "the forged one and the other agency's are dropped");
        assert_eq!(kept[0].key_id, good.unverified().key_id);
        assert!(roster.kem_certificates(&AgencyId::new("c").expect("valid")).expect("listed").is_empty());
        assert!(roster.kem_certificates(&AgencyId::new("z").expect("valid")).is_none());
    }

    #[test]
    fn only_a_newer_directory_replaces_the_records() {
        let roster = Roster::new(&directory(5, vec![record("a", 1)]));
        assert!(!roster.update(&directory(5, vec![record("a", 3)])), "same serial");
        assert!(!roster.update(&directory(4, vec![record("a", 3)])), "older serial");
        assert_eq!(roster.agency_by_tls_key(&Digest([1; 32])), Some(AgencyId::new("a").expect("valid")));
        assert!(roster.update(&directory(6, vec![record("a", 3)])));
        assert_eq!(roster.agency_by_tls_key(&Digest([1; 32])), None, "the old key no longer authenticates");
        assert_eq!(roster.serial(), 6);
    }
}
