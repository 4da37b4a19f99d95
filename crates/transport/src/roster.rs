//! The agencies a node can talk to: the federation directory, indexed for
//! the transport (spec/transport.md, "Identity binding").

use std::collections::HashMap;
use std::sync::{Arc, RwLock};

use tally_wire::{AgencyId, AgencyRecord, Digest, Directory};

/// The directory's agency records, by id and by TLS key digest.
///
/// The transport trusts exactly what is in here: a TLS peer is
/// authenticated as agency A only if the SHA-256 of its raw public key is
/// A's `tls_key`. The caller verifies the directory's signature before
/// handing it over, and replaces the roster's contents with
/// [`Roster::update`] when a newer directory arrives; connections opened
/// after that are checked against the new records.
#[derive(Debug)]
pub struct Roster {
    inner: RwLock<Arc<Index>>,
}

#[derive(Debug)]
struct Index {
    serial: u64,
    by_id: HashMap<AgencyId, AgencyRecord>,
    by_tls_key: HashMap<Digest, AgencyId>,
}

impl Roster {
    /// A roster of `directory`'s agencies (its signature already verified).
    pub fn new(directory: &Directory) -> Self {
        Self { inner: RwLock::new(Arc::new(Index::of(directory))) }
    }

    /// Replaces the records with those of a newer `directory`; an older or
    /// equal serial is ignored (returns `false`).
    pub fn update(&self, directory: &Directory) -> bool {
        let mut inner = self.inner.write().unwrap_or_else(std::sync::PoisonError::into_inner);
        if directory.serial <= inner.serial {
            return false;
        }
        *inner = Arc::new(Index::of(directory));
        true
    }

    /// The directory serial the roster holds.
    pub fn serial(&self) -> u64 {
        self.index().serial
    }

    /// The record of `agency`.
    pub fn record(&self, agency: &AgencyId) -> Option<AgencyRecord> {
        self.index().by_id.get(agency).cloned()
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
        Self { serial: directory.serial, by_id, by_tls_key }
    }
}
