//! The federation directory, verified: its operator signature, its
//! agencies' keys and KEM certificates, and its register of categories.
//! A library user verifies a directory here, without a node.

use std::collections::HashMap;

use tally_envelope::{IdentityVerifier, verify_kem_certificate};
use tally_wire::{
    AgencyId, AgencyRecord, DataCategory, Directory, IdentityPublicKey, Purpose, Roles, Signed, Timestamp,
};

/// Why a signed directory is refused.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum DirectoryError {
    /// The directory does not decode.
    #[error("it does not decode: {0}")]
    Malformed(#[from] tally_wire::Error),
    /// The operator key is not a usable Ed25519 key.
    #[error("operator key: {0}")]
    OperatorKey(tally_envelope::Error),
    /// The signature does not verify under the operator key: the file was
    /// altered or damaged after it was signed, or another key signed it
    /// (a signature names no signer, so the two cannot be told apart).
    #[error(
        "its signature does not verify under the operator key given: either the file was altered or damaged since it was signed (get a fresh copy from the federation operator), or another key signed it (check the operator key against the operator's operator.pub)"
    )]
    NotSignedByOperator,
    /// One agency is listed twice.
    #[error("agency `{0}` is listed twice")]
    ListedTwice(AgencyId),
    /// Two agencies share an identity or TLS key.
    #[error("agencies `{0}` and `{1}` are listed with the same key")]
    SharedKey(AgencyId, AgencyId),
    /// An agency's identity key is not usable.
    #[error("agency `{agency}`: {source}")]
    AgencyKey {
        /// The agency.
        agency: AgencyId,
        /// Why its key is refused.
        source: tally_envelope::Error,
    },
    /// A KEM certificate is not signed by its agency's identity key, or names another agency.
    #[error("agency `{agency}`: a KEM certificate does not verify: {source}")]
    KemCertificate {
        /// The agency.
        agency: AgencyId,
        /// Why.
        source: tally_envelope::Error,
    },
    /// A category's controller is not a listed agency.
    #[error("category `{category}`: its controller `{controller}` is not listed")]
    ControllerNotListed {
        /// The category.
        category: DataCategory,
        /// The controller it names.
        controller: AgencyId,
    },
}

/// A directory whose operator signature has been checked.
#[derive(Clone, Debug)]
pub struct VerifiedDirectory {
    directory: Directory,
    by_id: HashMap<AgencyId, usize>,
}

impl VerifiedDirectory {
    /// Decodes a signed directory and checks it (see [`verify`](Self::verify)).
    pub fn decode(bytes: &[u8], operator: &IdentityPublicKey) -> Result<Self, DirectoryError> {
        Self::verify(&Signed::decode(bytes)?, operator)
    }

    /// Checks a signed directory against the operator's key. Agencies whose
    /// KEM certificates do not verify under their identity key are refused
    /// as a whole: the directory is malformed.
    pub fn verify(signed: &Signed<Directory>, operator: &IdentityPublicKey) -> Result<Self, DirectoryError> {
        let verifier = IdentityVerifier::new(operator).map_err(DirectoryError::OperatorKey)?;
        let directory = verifier.verify_object(signed).map_err(|_| DirectoryError::NotSignedByOperator)?.clone();
        let mut by_id = HashMap::new();
        for (i, a) in directory.agencies.iter().enumerate() {
            if by_id.insert(a.id.clone(), i).is_some() {
                return Err(DirectoryError::ListedTwice(a.id.clone()));
            }
            if let Some(other) =
                directory.agencies[..i].iter().find(|o| o.tls_key == a.tls_key || o.identity_key == a.identity_key)
            {
                return Err(DirectoryError::SharedKey(other.id.clone(), a.id.clone()));
            }
            let key = IdentityVerifier::new(&a.identity_key)
                .map_err(|source| DirectoryError::AgencyKey { agency: a.id.clone(), source })?;
            for cert in a.kem_keys.iter() {
                let c = key
                    .verify_object(cert)
                    .map_err(|source| DirectoryError::KemCertificate { agency: a.id.clone(), source })?;
                verify_kem_certificate(cert, &key, &a.id, c.not_before)
                    .map_err(|source| DirectoryError::KemCertificate { agency: a.id.clone(), source })?;
            }
        }
        for c in directory.categories.iter() {
            if !by_id.contains_key(&c.controller) {
                return Err(DirectoryError::ControllerNotListed {
                    category: c.category.clone(),
                    controller: c.controller.clone(),
                });
            }
        }
        Ok(Self { directory, by_id })
    }

    /// The directory.
    pub fn directory(&self) -> &Directory {
        &self.directory
    }

    /// Its serial.
    pub fn serial(&self) -> u64 {
        self.directory.serial
    }

    /// The record of `agency`.
    pub fn agency(&self, agency: &AgencyId) -> Option<&AgencyRecord> {
        self.by_id.get(agency).map(|&i| &self.directory.agencies[i])
    }

    /// Whether `agency` is listed with every role in `roles`.
    pub fn has_roles(&self, agency: &AgencyId, roles: Roles) -> bool {
        self.agency(agency).is_some_and(|a| a.roles.contains(roles))
    }

    /// The current KEM certificate of `agency` at `at`, checked.
    pub fn kem_key_valid(&self, agency: &AgencyId, at: Timestamp) -> bool {
        let Some(a) = self.agency(agency) else { return false };
        let Ok(key) = IdentityVerifier::new(&a.identity_key) else { return false };
        a.kem_keys.iter().any(|c| verify_kem_certificate(c, &key, agency, at).is_ok())
    }

    /// The legal basis of a registered purpose.
    pub fn legal_basis(&self, purpose: &Purpose) -> Option<&str> {
        self.directory.purposes.iter().find(|p| &p.purpose == purpose).map(|p| p.legal_basis.as_str())
    }
}

impl crate::Directory for VerifiedDirectory {
    fn identity_key(&self, agency: &AgencyId) -> Option<IdentityVerifier> {
        IdentityVerifier::new(&self.agency(agency)?.identity_key).ok()
    }

    fn purpose_registered(&self, purpose: &Purpose) -> bool {
        self.directory.purposes.iter().any(|p| &p.purpose == purpose)
    }

    fn controller(&self, category: &DataCategory) -> Option<AgencyId> {
        self.directory.controller(category).cloned()
    }
}
