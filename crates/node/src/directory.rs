//! The federation directory as a node holds it: read from a file, its
//! operator signature checked, never older than the newest seen.

use std::collections::HashMap;
use std::path::Path;

use tally_envelope::{IdentityVerifier, verify_kem_certificate};
use tally_wire::{AgencyId, AgencyRecord, Directory, IdentityPublicKey, Purpose, Roles, Signed, Timestamp, limits};

use crate::NodeError;

/// A directory whose operator signature has been checked.
#[derive(Clone, Debug)]
pub struct VerifiedDirectory {
    directory: Directory,
    by_id: HashMap<AgencyId, usize>,
}

impl VerifiedDirectory {
    /// Reads the directory at `path` and checks it is signed by `operator`.
    /// Agencies whose KEM certificates do not verify under their identity
    /// key are refused as a whole: the directory is malformed.
    pub fn load(path: &Path, operator: &IdentityPublicKey) -> Result<Self, NodeError> {
        let refuse = |reason: String| NodeError::Directory { path: path.to_owned(), reason };
        let len = std::fs::metadata(path).map_err(NodeError::file(path))?.len();
        if len > limits::MAX_DIRECTORY_SIZE as u64 {
            return Err(refuse(format!("{len} bytes, over the limit of {}", limits::MAX_DIRECTORY_SIZE)));
        }
        let bytes = crate::files::read(path)?;
        let signed: Signed<Directory> = Signed::decode(&bytes).map_err(|e| refuse(e.to_string()))?;
        Self::verify(&signed, operator).map_err(refuse)
    }

    /// Checks a signed directory against the operator's key.
    pub fn verify(signed: &Signed<Directory>, operator: &IdentityPublicKey) -> Result<Self, String> {
        let verifier = IdentityVerifier::new(operator).map_err(|e| format!("operator key: {e}"))?;
        let directory = verifier
            .verify_object(signed)
            .map_err(|_| "not signed by the operator key in the configuration".to_string())?
            .clone();
        let mut by_id = HashMap::new();
        for (i, a) in directory.agencies.iter().enumerate() {
            if by_id.insert(a.id.clone(), i).is_some() {
                return Err(format!("agency `{}` is listed twice", a.id));
            }
            if let Some(other) =
                directory.agencies[..i].iter().find(|o| o.tls_key == a.tls_key || o.identity_key == a.identity_key)
            {
                return Err(format!("agencies `{}` and `{}` are listed with the same key", other.id, a.id));
            }
            let key = IdentityVerifier::new(&a.identity_key).map_err(|e| format!("agency `{}`: {e}", a.id))?;
            for cert in a.kem_keys.iter() {
                let c = key
                    .verify_object(cert)
                    .map_err(|_| format!("agency `{}`: a KEM certificate is not signed by its identity key", a.id))?;
                verify_kem_certificate(cert, &key, &a.id, c.not_before)
                    .map_err(|e| format!("agency `{}`: KEM certificate: {e}", a.id))?;
            }
        }
        for c in directory.categories.iter() {
            if !by_id.contains_key(&c.controller) {
                return Err(format!("category `{}`: its controller `{}` is not listed", c.category, c.controller));
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

impl tally_grant::Directory for VerifiedDirectory {
    fn identity_key(&self, agency: &AgencyId) -> Option<IdentityVerifier> {
        IdentityVerifier::new(&self.agency(agency)?.identity_key).ok()
    }

    fn purpose_registered(&self, purpose: &Purpose) -> bool {
        self.directory.purposes.iter().any(|p| &p.purpose == purpose)
    }

    fn controller(&self, category: &tally_wire::DataCategory) -> Option<AgencyId> {
        self.directory.controller(category).cloned()
    }
}
