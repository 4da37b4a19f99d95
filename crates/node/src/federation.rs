//! The federation operator's tools: the root key, the agency and purpose
//! registers, and publishing the signed directory (`tally federation`).
//!
//! The operator's directory holds `operator.key` (the root identity key,
//! mode 0600), `operator.pub` (its public key, hex, for agencies'
//! configurations) and `federation.toml` (the registers and the last
//! serial). `publish` signs the registers as a [`Directory`] with the next
//! serial.
//!
//! An agency is added from its export file, which proves possession of
//! the identity and TLS private keys it lists (spec/keys.md, "The agency
//! export"); a key another member already has is refused, so that no
//! newcomer can claim an agency's TLS key and lock it out. Every data
//! category is registered with the member that controls it.

use std::path::{Path, PathBuf};
use std::time::SystemTime;

use serde::{Deserialize, Serialize};
use tally_envelope::{IdentityKey, read_identity_key, write_identity_key};
use tally_wire::{
    AgencyId, AgencyRecord, BoundedVec, CategoryRecord, DataCategory, Digest, Directory, Endpoint, Endpoints,
    IdentityPublicKey, KemKeyCertificate, KemPublicKey, Purpose, PurposeRecord, Roles, Signed, Text, Timestamp,
};

use crate::agency::AgencyExport;
use crate::files::{read_toml, write_atomic};
use crate::{NodeError, hex};

const STATE_FILE: &str = "federation.toml";
const KEY_FILE: &str = "operator.key";
const PUBLIC_FILE: &str = "operator.pub";

/// The operator's registers, as kept in `federation.toml`.
#[derive(Clone, Debug, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Federation {
    /// The federation's display name.
    pub name: String,
    /// The serial of the last published directory (0 before the first).
    pub serial: u64,
    /// Member agencies.
    #[serde(default, rename = "agency")]
    pub agencies: Vec<Member>,
    /// Registered purposes.
    #[serde(default, rename = "purpose")]
    pub purposes: Vec<PurposeEntry>,
    /// Registered data categories, each with its controller.
    #[serde(default, rename = "category")]
    pub categories: Vec<CategoryEntry>,
}

/// A data category in the register, with the agency that controls it.
#[derive(Clone, Debug, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CategoryEntry {
    /// The hierarchical name; it covers its subcategories unless one is registered itself.
    pub name: DataCategory,
    /// The member agency that controls data of this category.
    pub controller: AgencyId,
    /// What it is, in words.
    #[serde(default)]
    pub description: String,
}

/// An agency in the register.
#[derive(Clone, Debug, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Member {
    /// Its id.
    pub id: AgencyId,
    /// Its display name.
    pub name: String,
    /// `producer`, `consumer`, `auditor`.
    pub roles: Vec<String>,
    /// Its node's endpoints, one per replica (`endpoint = "…"`, from
    /// before an agency could list several, is read as one).
    #[serde(alias = "endpoint", deserialize_with = "one_or_more_endpoints")]
    pub endpoints: Endpoints,
    /// Its identity key.
    pub identity_key: IdentityPublicKey,
    /// SHA-256 of its TLS public key.
    pub tls_key: Digest,
    /// Its KEM key certificates (hex of each signed encoding).
    pub kem_certificates: Vec<String>,
}

/// An agency's endpoints in `federation.toml`: a list, or one endpoint as a string.
fn one_or_more_endpoints<'de, D: serde::Deserializer<'de>>(d: D) -> Result<Endpoints, D::Error> {
    struct Listed;
    impl<'de> serde::de::Visitor<'de> for Listed {
        type Value = Endpoints;
        fn expecting(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
            f.write_str("a list of host:port endpoints")
        }
        fn visit_str<E: serde::de::Error>(self, s: &str) -> Result<Endpoints, E> {
            Endpoint::new(s).map(Endpoints::one).map_err(E::custom)
        }
        fn visit_seq<A: serde::de::SeqAccess<'de>>(self, mut seq: A) -> Result<Endpoints, A::Error> {
            let mut listed = Vec::new();
            while let Some(e) = seq.next_element::<Endpoint>()? {
                if listed.len() == tally_wire::limits::MAX_AGENCY_ENDPOINTS {
                    let most = tally_wire::limits::MAX_AGENCY_ENDPOINTS;
                    return Err(serde::de::Error::custom(format!("lists more than {most} endpoints")));
                }
                listed.push(e);
            }
            Endpoints::new(listed).map_err(serde::de::Error::custom)
        }
    }
    d.deserialize_any(Listed)
}

impl Member {
    /// The public keys of its KEM certificates (those that decode).
    fn kem_public_keys(&self) -> Vec<KemPublicKey> {
        self.kem_certificates
            .iter()
            .filter_map(|h| hex::decode(h))
            .filter_map(|b| Signed::<KemKeyCertificate>::decode(&b).ok())
            .map(|c| c.unverified().public_key.clone())
            .collect()
    }
}

/// A purpose in the register.
#[derive(Clone, Debug, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PurposeEntry {
    /// The hierarchical name.
    pub name: Purpose,
    /// The legal basis.
    pub legal_basis: String,
    /// What it is for, in words.
    #[serde(default)]
    pub description: String,
}

/// Parses a comma-separated role list (`producer,consumer`).
pub fn parse_roles(list: &[String]) -> Result<Roles, NodeError> {
    list.iter().try_fold(Roles(0), |roles, r| {
        let role = match r.as_str() {
            "producer" => Roles::PRODUCER,
            "consumer" => Roles::CONSUMER,
            "auditor" => Roles::AUDITOR,
            other => {
                return Err(NodeError::Usage(format!(
                    "unknown role `{other}`: roles are producer, consumer and auditor"
                )));
            }
        };
        Ok(roles.with(role))
    })
}

fn text<const N: usize>(what: &str, s: &str) -> Result<Text<N>, NodeError> {
    Text::new(s).map_err(|e| NodeError::Usage(format!("{what}: {e}")))
}

impl Federation {
    /// Creates the operator's directory: root key, public key file, empty registers.
    /// Returns the operator's public key.
    pub fn init(dir: &Path, name: &str) -> Result<IdentityPublicKey, NodeError> {
        if dir.join(STATE_FILE).exists() {
            return Err(NodeError::Usage(format!("{} already holds a federation", dir.display())));
        }
        std::fs::create_dir_all(dir).map_err(NodeError::file(dir))?;
        let key = IdentityKey::generate().map_err(|source| NodeError::Key { path: dir.join(KEY_FILE), source })?;
        let operator = AgencyId::new("operator").map_err(|e| NodeError::Usage(e.to_string()))?;
        write_identity_key(&dir.join(KEY_FILE), &operator, &key)
            .map_err(|source| NodeError::Key { path: dir.join(KEY_FILE), source })?;
        write_atomic(&dir.join(PUBLIC_FILE), format!("{}\n", key.public_key().to_hex()).as_bytes())?;
        let federation = Self {
            name: name.to_owned(),
            serial: 0,
            agencies: Vec::new(),
            purposes: Vec::new(),
            categories: Vec::new(),
        };
        federation.save(dir)?;
        Ok(key.public_key())
    }

    /// Reads the registers.
    pub fn load(dir: &Path) -> Result<Self, NodeError> {
        read_toml(&dir.join(STATE_FILE))
    }

    fn save(&self, dir: &Path) -> Result<(), NodeError> {
        let text = format!(
            "# Tally federation registers (tally federation); `publish` signs them as the directory.\n{}",
            toml::to_string(self).map_err(|e| NodeError::Usage(e.to_string()))?
        );
        write_atomic(&dir.join(STATE_FILE), text.as_bytes())
    }

    /// Adds an agency from its export file, with `roles`. The export must
    /// prove possession of its identity and TLS keys, and no other member
    /// may already hold any key it lists. An agency that is a member already
    /// is replaced only with `replace` (a new export with new keys under a
    /// member's id would otherwise take the member's place); the answer
    /// lists what changed.
    pub fn add_agency(
        dir: &Path,
        export: &Path,
        roles: &[String],
        replace: bool,
    ) -> Result<(AgencyId, Vec<String>), NodeError> {
        let mut federation = Self::load(dir)?;
        let e = AgencyExport::load(export)?;
        parse_roles(roles)?;
        let registration = e.verify(export)?;
        let tls_key = tally_envelope::sha256(&[registration.tls_public_key.as_ref()]);
        let kem_keys: Vec<_> = registration.kem_keys.iter().map(|c| c.unverified().public_key.clone()).collect();
        for other in federation.agencies.iter().filter(|m| m.id != e.id) {
            let clash = if other.identity_key == e.identity_key {
                Some("identity key")
            } else if other.tls_key == tls_key {
                Some("TLS key")
            } else if other.kem_public_keys().iter().any(|k| kem_keys.contains(k)) {
                Some("KEM key")
            } else {
                None
            };
            if let Some(key) = clash {
                return Err(NodeError::Refused(format!(
                    "{}: its {key} is already registered for agency `{}`; every agency needs keys of its own (was the export copied from another agency's?)",
                    export.display(),
                    other.id
                )));
            }
        }
        let member = Member {
            id: e.id.clone(),
            name: e.name,
            roles: roles.to_vec(),
            endpoints: e.endpoints,
            identity_key: e.identity_key,
            tls_key,
            kem_certificates: e.kem_certificates,
        };
        let mut changes = Vec::new();
        if let Some(old) = federation.agencies.iter().find(|m| m.id == member.id) {
            let short = |h: String| h[..16].to_owned();
            if old.roles != member.roles {
                changes.push(format!("roles {} -> {}", old.roles.join(","), member.roles.join(",")));
            }
            if old.identity_key != member.identity_key {
                let (a, b) = (short(old.identity_key.to_hex()), short(member.identity_key.to_hex()));
                changes.push(format!("identity key {a}… -> {b}…"));
            }
            if old.tls_key != member.tls_key {
                changes.push(format!(
                    "TLS key {}… -> {}…",
                    short(old.tls_key.to_hex()),
                    short(member.tls_key.to_hex())
                ));
            }
            if old.kem_certificates != member.kem_certificates {
                changes.push("KEM keys replaced".to_owned());
            }
            if old.endpoints != member.endpoints {
                changes.push(format!("endpoints {} -> {}", old.endpoints, member.endpoints));
            }
            if !replace {
                return Err(NodeError::Refused(format!(
                    "agency `{}` is a member already; this export would change: {}. If that is meant (and the export came from `{}` itself), give --replace",
                    member.id,
                    if changes.is_empty() { "nothing".to_owned() } else { changes.join("; ") },
                    member.id
                )));
            }
        }
        federation.agencies.retain(|m| m.id != member.id);
        federation.agencies.push(member);
        federation.save(dir)?;
        Ok((e.id, changes))
    }

    /// Registers (or replaces) a data category with the member agency that controls it.
    pub fn add_category(
        dir: &Path,
        name: &DataCategory,
        controller: &AgencyId,
        description: &str,
    ) -> Result<(), NodeError> {
        let mut federation = Self::load(dir)?;
        if !federation.agencies.iter().any(|m| &m.id == controller) {
            return Err(NodeError::Usage(format!(
                "`{controller}` is not a member of the federation; add it first (tally federation add-agency)"
            )));
        }
        text::<{ tally_wire::limits::MAX_NOTE_LEN }>("description", description)?;
        federation.categories.retain(|c| &c.name != name);
        federation.categories.push(CategoryEntry {
            name: name.clone(),
            controller: controller.clone(),
            description: description.to_owned(),
        });
        federation.save(dir)
    }

    /// Registers (or replaces) a purpose.
    pub fn add_purpose(dir: &Path, name: &Purpose, legal_basis: &str, description: &str) -> Result<(), NodeError> {
        let mut federation = Self::load(dir)?;
        text::<{ tally_wire::limits::MAX_LEGAL_BASIS_LEN }>("legal basis", legal_basis)?;
        text::<{ tally_wire::limits::MAX_NOTE_LEN }>("description", description)?;
        federation.purposes.retain(|p| &p.name != name);
        federation.purposes.push(PurposeEntry {
            name: name.clone(),
            legal_basis: legal_basis.to_owned(),
            description: description.to_owned(),
        });
        federation.save(dir)
    }

    /// Signs the registers as the directory with the next serial and writes it to `out`.
    pub fn publish(dir: &Path, out: &Path) -> Result<u64, NodeError> {
        let mut federation = Self::load(dir)?;
        let (_, key) = read_identity_key(&dir.join(KEY_FILE))
            .map_err(|source| NodeError::Key { path: dir.join(KEY_FILE), source })?;
        let state = dir.join(STATE_FILE);
        let agencies = federation
            .agencies
            .iter()
            .map(|m| {
                let certs = m
                    .kem_certificates
                    .iter()
                    .map(|h| {
                        let bytes = hex::decode(h).ok_or_else(|| NodeError::Malformed {
                            path: state.clone(),
                            message: format!("agency `{}`: a KEM certificate is not hex", m.id),
                        })?;
                        Signed::decode(&bytes).map_err(|e| NodeError::Malformed {
                            path: state.clone(),
                            message: format!("agency `{}`: KEM certificate: {e}", m.id),
                        })
                    })
                    .collect::<Result<Vec<_>, _>>()?;
                Ok(AgencyRecord {
                    id: m.id.clone(),
                    name: text("agency name", &m.name)?,
                    roles: parse_roles(&m.roles)?,
                    endpoints: m.endpoints.clone(),
                    identity_key: m.identity_key,
                    tls_key: m.tls_key,
                    kem_keys: BoundedVec::new(certs)
                        .map_err(|e| NodeError::Usage(format!("agency `{}`: {e}", m.id)))?,
                })
            })
            .collect::<Result<Vec<_>, NodeError>>()?;
        let purposes = federation
            .purposes
            .iter()
            .map(|p| {
                Ok(PurposeRecord {
                    purpose: p.name.clone(),
                    legal_basis: text("legal basis", &p.legal_basis)?,
                    description: text("description", &p.description)?,
                })
            })
            .collect::<Result<Vec<_>, NodeError>>()?;
        let categories = federation
            .categories
            .iter()
            .map(|c| {
                if !federation.agencies.iter().any(|m| m.id == c.controller) {
                    return Err(NodeError::Malformed {
                        path: state.clone(),
                        message: format!("category `{}`: its controller `{}` is not a member", c.name, c.controller),
                    });
                }
                Ok(CategoryRecord {
                    category: c.name.clone(),
                    controller: c.controller.clone(),
                    description: text("description", &c.description)?,
                })
            })
            .collect::<Result<Vec<_>, NodeError>>()?;
        federation.serial += 1;
        let directory = Directory {
            federation: text("federation name", &federation.name)?,
            serial: federation.serial,
            issued_at: Timestamp::from_system_time(SystemTime::now()),
            agencies: BoundedVec::new(agencies).map_err(|e| NodeError::Usage(e.to_string()))?,
            purposes: BoundedVec::new(purposes).map_err(|e| NodeError::Usage(e.to_string()))?,
            categories: BoundedVec::new(categories).map_err(|e| NodeError::Usage(e.to_string()))?,
        };
        let signed =
            key.sign_object(directory).map_err(|source| NodeError::Key { path: dir.join(KEY_FILE), source })?;
        write_atomic(out, &signed.encode())?;
        federation.save(dir)?;
        Ok(federation.serial)
    }

    /// The operator's public key file.
    pub fn public_key_path(dir: &Path) -> PathBuf {
        dir.join(PUBLIC_FILE)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn member(endpoints: &str) -> Result<Member, toml::de::Error> {
        toml::from_str(&format!(
            "id = \"tax\"\nname = \"Tax\"\nroles = [\"producer\"]\n{endpoints}\nidentity_key = \"{}\"\ntls_key = \"{}\"\nkem_certificates = []\n",
            "00".repeat(32),
            "00".repeat(32)
        ))
    }

    #[test]
    fn a_register_entry_lists_endpoints_or_one_endpoint_from_before_replicas() {
        let listed = member("endpoints = [\"a.example:1\", \"b.example:2\"]").expect("reads");
        assert_eq!(listed.endpoints.to_string(), "a.example:1, b.example:2");
        let legacy = member("endpoint = \"a.example:1\"").expect("reads");
        assert_eq!(legacy.endpoints.to_string(), "a.example:1");
        let written = toml::to_string(&legacy).expect("writes");
        assert!(written.contains("endpoints = [\"a.example:1\"]"), "written as a list: {written}");
    }

    #[test]
    fn a_register_entry_with_no_bad_or_repeated_endpoints_is_refused_with_why() {
        for (text, why) in [
            ("endpoints = []", "at least one"),
            ("endpoints = [\"a.example:1\", \"a.example:1\"]", "twice"),
            ("endpoint = \"A:1\"", "lowercase"),
        ] {
            let e = member(text).expect_err(text).to_string();
            assert!(e.contains(why), "{text}: {e}");
        }
    }
}
