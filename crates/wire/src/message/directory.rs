//! The federation directory and its records.

use serde::{Deserialize, Serialize};

use crate::bounded::{BoundedBytes, BoundedVec, Text};
use crate::bytes::{Digest, IdentityPublicKey, KeyId};
use crate::codepoint::Roles;
use crate::kem::KemPublicKey;
use crate::label::{DIRECTORY, KEM_KEY_CERTIFICATE, REGISTRATION, SignatureLabel};
use crate::limits;
use crate::name::{AgencyId, DataCategory, Endpoints, Purpose};
use crate::signed::{Body, Signed, SignedBody};
use crate::time::Timestamp;

/// A KEM key certified by its agency's identity key (spec/keys.md).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct KemKeyCertificate {
    /// The agency holding the key.
    pub agency: AgencyId,
    /// The key's id.
    pub key_id: KeyId,
    /// The public key, of either KEM.
    pub public_key: KemPublicKey,
    /// The first instant senders may seal to the key (inclusive).
    pub not_before: Timestamp,
    /// The first instant senders must no longer seal to it (exclusive).
    pub not_after: Timestamp,
}

impl Body for KemKeyCertificate {
    const NAME: &'static str = "KemKeyCertificate";
    const MAX_SIZE: usize = limits::MAX_KEM_CERT_SIZE;
}

impl SignedBody for KemKeyCertificate {
    const LABEL: SignatureLabel = KEM_KEY_CERTIFICATE;
}

/// One agency in the directory.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct AgencyRecord {
    /// The agency's id.
    pub id: AgencyId,
    /// Its name, for people.
    pub name: Text<{ limits::MAX_DISPLAY_NAME_LEN }>,
    /// What it may do in the federation.
    pub roles: Roles,
    /// Where its node listens: one endpoint per replica, in the order senders try them.
    pub endpoints: Endpoints,
    /// Its Ed25519 identity key.
    pub identity_key: IdentityPublicKey,
    /// The SHA-256 digest of its TLS certificate's SubjectPublicKeyInfo (spec/transport.md).
    pub tls_key: Digest,
    /// Its KEM keys, each certified by the identity key.
    pub kem_keys: BoundedVec<Signed<KemKeyCertificate>, { limits::MAX_KEM_KEYS }>,
}

/// One registered purpose, with its legal basis.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct PurposeRecord {
    /// The purpose.
    pub purpose: Purpose,
    /// The law or agreement that permits processing for it.
    pub legal_basis: Text<{ limits::MAX_LEGAL_BASIS_LEN }>,
    /// What it means, for people.
    pub description: Text<{ limits::MAX_NOTE_LEN }>,
}

/// One registered data category, with the agency that controls it.
///
/// The controller of a category is the only agency that may issue a root
/// grant naming it (spec/grants.md, "Controllers"). A category registered
/// here covers its subcategories, unless one of them is registered with a
/// controller of its own: the longest registered category covering a
/// category names its controller.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct CategoryRecord {
    /// The category.
    pub category: DataCategory,
    /// The agency that controls data of this category.
    pub controller: AgencyId,
    /// What it means, for people.
    pub description: Text<{ limits::MAX_NOTE_LEN }>,
}

/// The federation directory, signed by the operator: who is in the
/// federation, with which keys and roles, which purposes exist, and which
/// agency controls each data category.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Directory {
    /// The federation's name, for people.
    pub federation: Text<{ limits::MAX_DISPLAY_NAME_LEN }>,
    /// The version; every published directory has a higher serial than the last.
    pub serial: u64,
    /// When it was published.
    pub issued_at: Timestamp,
    /// The member agencies.
    pub agencies: BoundedVec<AgencyRecord, { limits::MAX_DIRECTORY_AGENCIES }>,
    /// The purpose registry.
    pub purposes: BoundedVec<PurposeRecord, { limits::MAX_DIRECTORY_PURPOSES }>,
    /// The category register: each data category with its controller.
    pub categories: BoundedVec<CategoryRecord, { limits::MAX_DIRECTORY_CATEGORIES }>,
}

impl Directory {
    /// The controller of `category`: the controller of the longest
    /// registered category that covers it, if any does.
    pub fn controller(&self, category: &DataCategory) -> Option<&AgencyId> {
        self.categories
            .iter()
            .filter(|c| c.category.covers(category))
            .max_by_key(|c| c.category.as_str().len())
            .map(|c| &c.controller)
    }
}

impl Body for Directory {
    const NAME: &'static str = "Directory";
    const MAX_SIZE: usize = limits::MAX_DIRECTORY_SIZE;
}

impl SignedBody for Directory {
    const LABEL: SignatureLabel = DIRECTORY;
}

/// What an agency asks the operator to register, signed by each of its
/// keys that can sign (its identity key and its TLS key), so that nobody
/// can register another agency's keys as its own (spec/keys.md,
/// "The agency export").
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Registration {
    /// The agency's id.
    pub id: AgencyId,
    /// Its name, for people.
    pub name: Text<{ limits::MAX_DISPLAY_NAME_LEN }>,
    /// Where its node listens: one endpoint per replica, in the order senders try them.
    pub endpoints: Endpoints,
    /// Its Ed25519 identity key.
    pub identity_key: IdentityPublicKey,
    /// Its TLS raw public key: the DER SubjectPublicKeyInfo whose SHA-256 the directory will list.
    pub tls_public_key: BoundedBytes<{ limits::MAX_SPKI_LEN }>,
    /// Its KEM keys, each certified by the identity key.
    pub kem_keys: BoundedVec<Signed<KemKeyCertificate>, { limits::MAX_KEM_KEYS }>,
}

impl Body for Registration {
    const NAME: &'static str = "Registration";
    const MAX_SIZE: usize = limits::MAX_REGISTRATION_SIZE;
}

impl SignedBody for Registration {
    const LABEL: SignatureLabel = REGISTRATION;
}
