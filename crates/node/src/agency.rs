//! An agency's node directory: keys, configuration and the export file
//! the federation operator receives (`tally init`).

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, SystemTime};

use serde::{Deserialize, Serialize};
use tally_envelope::{
    IdentityKey, IdentityVerifier, KemKey, read_identity_key, read_kem_key, write_identity_key, write_kem_key,
};
use tally_transport::TlsKey;
use tally_wire::{
    AgencyId, BoundedBytes, BoundedVec, Endpoint, Endpoints, IdentityPublicKey, Kem, KemKeyCertificate, Registration,
    Signature, Signed, Text, Timestamp, label,
};
use zeroize::Zeroizing;

use crate::config::{CONFIG_FILE, NodeConfig};
use crate::files::{read, read_toml, write_atomic, write_secret};
use crate::{NodeError, hex};

/// How long a KEM key made by `tally init` is certified for.
pub const KEM_KEY_VALIDITY: Duration = Duration::from_secs(2 * 365 * 24 * 3600);

/// How long a KEM certificate kept when the export is written again must
/// still be valid; one that expires sooner is made anew.
const KEPT_CERTIFICATE_MARGIN: Duration = Duration::from_secs(30 * 24 * 3600);

const IDENTITY_FILE: &str = "keys/identity.key";
const KEM_FILE: &str = "keys/kem.key";
/// The X-Wing KEM key (spec/keys.md); a node made before X-Wing has none.
const XWING_FILE: &str = "keys/xwing.key";
/// KEM keys replaced by `tally keys rotate`, kept to open what was sealed to them.
pub(crate) const RETIRED_DIR: &str = "keys/retired";
const TLS_FILE: &str = "keys/tls.pk8";
const STORAGE_FILE: &str = "keys/storage.key";

/// The file an agency hands to the federation operator: its public keys
/// and endpoints, and the proof that it holds the private keys (spec/keys.md,
/// "The agency export"): the canonical [`Registration`] built from these
/// fields, signed by the identity key and by the TLS key.
#[derive(Clone, Debug, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AgencyExport {
    /// Always `"tally-agency/3"`.
    pub format: String,
    /// The agency's id.
    pub id: AgencyId,
    /// Its display name.
    pub name: String,
    /// Where peers reach its node (`host:port`), one endpoint per replica, in the order senders try them.
    pub endpoints: Endpoints,
    /// Its Ed25519 identity public key.
    pub identity_key: IdentityPublicKey,
    /// Its TLS raw public key, the DER SubjectPublicKeyInfo, hex.
    pub tls_public_key: String,
    /// Its KEM key certificates, each the hex of a signed certificate's encoding.
    pub kem_certificates: Vec<String>,
    /// `Sign("tally/v1/sig/registration", registration)` by the identity key, hex.
    pub identity_signature: String,
    /// The same signature by the TLS key, hex.
    pub tls_signature: String,
}

/// The format line of an export file.
pub const EXPORT_FORMAT: &str = "tally-agency/3";

impl AgencyExport {
    /// Reads an export file.
    pub fn load(path: &Path) -> Result<Self, NodeError> {
        /// The format line alone, read first: another format has other fields.
        #[derive(Deserialize)]
        struct Format {
            format: String,
        }
        let export: Format = read_toml(path)?;
        if export.format != EXPORT_FORMAT {
            return Err(NodeError::Malformed {
                path: path.to_owned(),
                message: format!(
                    "format is `{}`, expected `{EXPORT_FORMAT}` (an export from an older `tally`: write it again from the node's keys with `tally keys export --name … --endpoint …`)",
                    export.format
                ),
            });
        }
        read_toml(path)
    }

    /// The KEM certificates, decoded (their signatures are checked by [`verify`](Self::verify)).
    pub fn certificates(&self, path: &Path) -> Result<Vec<Signed<KemKeyCertificate>>, NodeError> {
        self.kem_certificates
            .iter()
            .enumerate()
            .map(|(i, h)| {
                let bytes =
                    hex::decode(h).ok_or_else(|| malformed(path, format!("kem_certificates[{i}] is not hex")))?;
                Signed::decode(&bytes).map_err(|e| malformed(path, format!("kem_certificates[{i}]: {e}")))
            })
            .collect()
    }

    /// The registration these fields describe: its encoding is what both signatures cover.
    fn registration(&self, path: &Path) -> Result<Registration, NodeError> {
        let spki =
            hex::decode(&self.tls_public_key).ok_or_else(|| malformed(path, "tls_public_key is not hex".into()))?;
        Ok(Registration {
            id: self.id.clone(),
            name: Text::new(&self.name).map_err(|e| malformed(path, format!("name: {e}")))?,
            endpoints: self.endpoints.clone(),
            identity_key: self.identity_key,
            tls_public_key: BoundedBytes::new(spki).map_err(|e| malformed(path, format!("tls_public_key: {e}")))?,
            kem_keys: BoundedVec::new(self.certificates(path)?)
                .map_err(|e| malformed(path, format!("kem_certificates: {e}")))?,
        })
    }

    /// Checks the export: both signatures over its registration, and every
    /// KEM certificate under its identity key, naming it. Returns the registration.
    pub fn verify(&self, path: &Path) -> Result<Registration, NodeError> {
        let registration = self.registration(path)?;
        let body = tally_wire::to_bytes(&registration);
        let refuse = |what: String| NodeError::Refused(format!("{}: {what}", path.display()));
        let signature = |field: &str, h: &str| {
            let bytes = hex::decode(h).and_then(|b| <[u8; 64]>::try_from(b).ok());
            bytes.map(Signature).ok_or_else(|| malformed(path, format!("{field} is not 64 bytes of hex")))
        };
        let identity = IdentityVerifier::new(&self.identity_key).map_err(|e| refuse(format!("identity_key: {e}")))?;
        identity
            .verify(label::REGISTRATION, &body, &signature("identity_signature", &self.identity_signature)?, "export")
            .map_err(|_| {
                refuse(
                    "identity_signature does not verify: the export was not made by the holder of its identity key"
                        .into(),
                )
            })?;
        let tls = IdentityVerifier::from_spki(registration.tls_public_key.as_ref())
            .map_err(|e| refuse(format!("tls_public_key: {e}")))?;
        tls.verify(label::REGISTRATION, &body, &signature("tls_signature", &self.tls_signature)?, "export").map_err(
            |_| refuse("tls_signature does not verify: the export was not made by the holder of its TLS key".into()),
        )?;
        for (i, cert) in registration.kem_keys.iter().enumerate() {
            let c = identity
                .verify_object(cert)
                .map_err(|_| refuse(format!("kem_certificates[{i}] is not signed by its identity key")))?;
            tally_envelope::verify_kem_certificate(cert, &identity, &self.id, c.not_before)
                .map_err(|e| refuse(format!("kem_certificates[{i}]: {e}")))?;
        }
        Ok(registration)
    }
}

fn malformed(path: &Path, message: String) -> NodeError {
    NodeError::Malformed { path: path.to_owned(), message }
}

/// What `tally init` needs.
#[derive(Clone, Debug)]
pub struct InitOptions {
    /// The agency's id.
    pub agency: AgencyId,
    /// Its display name.
    pub name: String,
    /// The address to listen on.
    pub listen: std::net::SocketAddr,
    /// The endpoints peers dial, one per replica, in the order they try
    /// them (none: the listen address).
    pub endpoints: Vec<Endpoint>,
    /// The operator's public key, if known.
    pub operator_key: Option<IdentityPublicKey>,
    /// Where the directory file will be.
    pub directory: PathBuf,
    /// Whether to make an X-Wing KEM key beside the X25519 one (senders
    /// then seal to it: post-quantum). `tally init` makes one unless told not to.
    pub xwing: bool,
}

/// Creates a node directory at `dir`: keys (mode 0600), `tally.toml` and
/// `<agency>.agency.toml`, the export for the operator. Returns the export's path.
pub fn init_agency(dir: &Path, options: &InitOptions) -> Result<PathBuf, NodeError> {
    if dir.join(CONFIG_FILE).exists() {
        return Err(NodeError::Usage(format!(
            "{} already holds a node (its {CONFIG_FILE} exists); choose another --dir",
            dir.display()
        )));
    }
    // Checked before anything is written: a refused name or list leaves no half-made node.
    Text::<{ tally_wire::limits::MAX_DISPLAY_NAME_LEN }>::new(options.name.as_str())
        .map_err(|e| NodeError::Usage(format!("name: {e}")))?;
    let endpoints = match options.endpoints.as_slice() {
        [] => Endpoints::one(
            Endpoint::new(options.listen.to_string()).map_err(|e| NodeError::Usage(format!("endpoint: {e}")))?,
        ),
        listed => endpoints(listed.to_vec())?,
    };
    crate::files::create_private_dir(dir)?;
    let keys = dir.join("keys");
    crate::files::create_private_dir(&keys)?;
    let key_error = |path: PathBuf| move |source| NodeError::Key { path, source };
    let identity = IdentityKey::generate().map_err(key_error(dir.join(IDENTITY_FILE)))?;
    write_identity_key(&dir.join(IDENTITY_FILE), &options.agency, &identity)
        .map_err(key_error(dir.join(IDENTITY_FILE)))?;
    let mut kem_keys = vec![(KEM_FILE, KemKey::generate_for(Kem::X25519).map_err(key_error(dir.join(KEM_FILE)))?)];
    if options.xwing {
        kem_keys.push((XWING_FILE, KemKey::generate_for(Kem::XWing).map_err(key_error(dir.join(XWING_FILE)))?));
    }
    for (file, kem) in &kem_keys {
        write_kem_key(&dir.join(file), &options.agency, kem).map_err(key_error(dir.join(file)))?;
    }
    let tls = TlsKey::generate()?;
    write_secret(&dir.join(TLS_FILE), tls.pkcs8())?;
    let mut storage = Zeroizing::new([0u8; 32]);
    tally_envelope::at_rest::random_bytes(&mut *storage)?;
    write_secret(&dir.join(STORAGE_FILE), &*storage)?;

    let config = NodeConfig {
        agency: options.agency.clone(),
        listen: options.listen,
        directory: options.directory.clone(),
        operator_key: options.operator_key,
        api: None,
        sweep_interval: Duration::from_secs(10),
        clock_offset_secs: 0,
        pull_sources: Vec::new(),
        timeouts: crate::config::Timeouts::default(),
        limits: crate::config::Limits::default(),
        retry: Default::default(),
        receipts: Default::default(),
        tls: Default::default(),
    };
    write_atomic(&dir.join(CONFIG_FILE), config.render().as_bytes())?;

    let kem_keys: Vec<&KemKey> = kem_keys.iter().map(|(_, k)| k).collect();
    let listing = Listing { agency: &options.agency, name: &options.name, endpoints: &endpoints };
    write_export(dir, listing, &identity, &tls, &kem_keys, &[])
}

/// `listed` as an agency's endpoints, or why they cannot be (none, too many, one twice).
pub(crate) fn endpoints(listed: Vec<Endpoint>) -> Result<Endpoints, NodeError> {
    Endpoints::new(listed).map_err(|e| NodeError::Usage(format!("--endpoint: {e}")))
}

/// What an export says of its agency besides the keys.
#[derive(Clone, Copy)]
pub(crate) struct Listing<'a> {
    /// The agency's id.
    pub(crate) agency: &'a AgencyId,
    /// Its display name.
    pub(crate) name: &'a str,
    /// Where peers reach its node.
    pub(crate) endpoints: &'a Endpoints,
}

/// Writes `<agency>.agency.toml`, the export for the operator: each KEM
/// key in `kem_keys` with its certificate in `kept` if there is one, else
/// certified from now for [`KEM_KEY_VALIDITY`]; the registration signed by
/// the identity and the TLS key. Returns its path.
pub(crate) fn write_export(
    dir: &Path,
    listing: Listing<'_>,
    identity: &IdentityKey,
    tls: &TlsKey,
    kem_keys: &[&KemKey],
    kept: &[Signed<KemKeyCertificate>],
) -> Result<PathBuf, NodeError> {
    let Listing { agency, name, endpoints } = listing;
    let key_error = |path: PathBuf| move |source| NodeError::Key { path, source };
    let now = Timestamp::from_system_time(SystemTime::now());
    let until = now.checked_add(KEM_KEY_VALIDITY).unwrap_or(now);
    // A kept certificate must stay valid a while yet; else the key is certified anew.
    let keep_until = now.checked_add(KEPT_CERTIFICATE_MARGIN).unwrap_or(now);
    let certificates = kem_keys
        .iter()
        .map(|kem| {
            let same = |c: &&Signed<KemKeyCertificate>| {
                let c = c.unverified();
                c.agency == *agency
                    && c.key_id == *kem.key_id()
                    && &c.public_key == kem.public_key()
                    && c.not_after > keep_until
            };
            match kept.iter().find(same) {
                Some(c) => Ok(c.clone()),
                None => kem.certify(identity, agency.clone(), now, until).map_err(key_error(dir.join(IDENTITY_FILE))),
            }
        })
        .collect::<Result<Vec<_>, _>>()?;
    let registration = Registration {
        id: agency.clone(),
        name: Text::new(name).map_err(|e| NodeError::Usage(format!("name: {e}")))?,
        endpoints: endpoints.clone(),
        identity_key: identity.public_key(),
        tls_public_key: BoundedBytes::new(tls.spki().to_vec()).map_err(|e| NodeError::Usage(e.to_string()))?,
        kem_keys: BoundedVec::new(certificates).map_err(|e| NodeError::Usage(e.to_string()))?,
    };
    let body = tally_wire::to_bytes(&registration);
    let tls_signer = IdentityKey::from_pkcs8(tls.pkcs8()).map_err(key_error(dir.join(TLS_FILE)))?;
    let export = AgencyExport {
        format: EXPORT_FORMAT.into(),
        id: agency.clone(),
        name: name.to_owned(),
        endpoints: registration.endpoints.clone(),
        identity_key: identity.public_key(),
        tls_public_key: hex::encode(tls.spki()),
        kem_certificates: registration.kem_keys.iter().map(|c| hex::encode(&c.encode())).collect(),
        identity_signature: hex::encode(&identity.sign(label::REGISTRATION, &body).0),
        tls_signature: hex::encode(&tls_signer.sign(label::REGISTRATION, &body).0),
    };
    let path = export_path(dir, agency);
    let text = format!(
        "# Tally agency export (tally init, tally keys rotate): hand this file to the federation operator\n# (tally federation add-agency). It holds public keys only.\n{}",
        toml::to_string(&export).map_err(|e| NodeError::Usage(e.to_string()))?
    );
    write_atomic(&path, text.as_bytes())?;
    Ok(path)
}

/// Where `tally init` writes the agency's export.
pub(crate) fn export_path(dir: &Path, agency: &AgencyId) -> PathBuf {
    dir.join(format!("{agency}.agency.toml"))
}

/// The node directory's file of its current KEM key of `kem`.
pub(crate) fn kem_file(dir: &Path, kem: Kem) -> PathBuf {
    dir.join(match kem {
        Kem::X25519 => KEM_FILE,
        Kem::XWing => XWING_FILE,
    })
}

/// An agency's secret keys, loaded from its node directory.
pub struct AgencyKeys {
    /// The agency.
    pub agency: AgencyId,
    /// Its identity key.
    pub identity: Arc<IdentityKey>,
    /// Its KEM keys: X25519's, X-Wing's (if it has one), and retired ones.
    pub kem_keys: Vec<Arc<KemKey>>,
    /// Its TLS key.
    pub tls: TlsKey,
    /// The key that wraps the per-grant data keys of stored payloads.
    pub storage: Zeroizing<[u8; 32]>,
}

impl std::fmt::Debug for AgencyKeys {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("AgencyKeys").field("agency", &self.agency).finish_non_exhaustive()
    }
}

impl AgencyKeys {
    /// Loads the keys of the node directory `dir`, checking they belong to `agency`.
    pub fn load(dir: &Path, agency: &AgencyId) -> Result<Self, NodeError> {
        let key_error = |path: PathBuf| move |source| NodeError::Key { path, source };
        for file in [IDENTITY_FILE, TLS_FILE, STORAGE_FILE] {
            crate::files::check_secret(&dir.join(file))?;
        }
        let (owner, identity) =
            read_identity_key(&dir.join(IDENTITY_FILE)).map_err(key_error(dir.join(IDENTITY_FILE)))?;
        if owner != *agency {
            return Err(NodeError::Usage(format!(
                "{} belongs to `{owner}`, but this node is `{agency}`",
                dir.join(IDENTITY_FILE).display()
            )));
        }
        let current = dir.join(KEM_FILE);
        if !current.exists() && crate::rotation::staged(&current).exists() {
            return Err(NodeError::Usage(format!(
                "{} is missing and a new key is staged beside it: a key rotation was interrupted; run `tally keys rotate --kem x25519` again to finish it",
                current.display()
            )));
        }
        let mut kem_files = vec![current];
        if dir.join(XWING_FILE).exists() {
            kem_files.push(dir.join(XWING_FILE));
        }
        kem_files.extend(retired_key_files(dir)?);
        let mut kem_keys = Vec::with_capacity(kem_files.len());
        for path in kem_files {
            crate::files::check_secret(&path)?;
            let (who, kem) = read_kem_key(&path).map_err(key_error(path.clone()))?;
            if who != *agency {
                return Err(NodeError::Usage(format!(
                    "{} belongs to `{who}`, but this node is `{agency}`",
                    path.display()
                )));
            }
            kem_keys.push(Arc::new(kem));
        }
        let tls_der = Zeroizing::new(read(&dir.join(TLS_FILE))?);
        let tls = TlsKey::from_pkcs8(&tls_der).map_err(|e| malformed(&dir.join(TLS_FILE), e.to_string()))?;
        let storage_bytes = Zeroizing::new(read(&dir.join(STORAGE_FILE))?);
        if storage_bytes.len() != 32 {
            return Err(malformed(&dir.join(STORAGE_FILE), "a storage key is 32 bytes".into()));
        }
        let mut storage = Zeroizing::new([0u8; 32]);
        storage.copy_from_slice(&storage_bytes);
        Ok(Self { agency: agency.clone(), identity: Arc::new(identity), kem_keys, tls, storage })
    }

    /// The KEM key with this id, if the node holds it.
    pub fn kem_key(&self, id: &tally_wire::KeyId) -> Option<&Arc<KemKey>> {
        self.kem_keys.iter().find(|k| k.key_id() == id)
    }
}

/// The key files in `keys/retired`, in name order.
fn retired_key_files(dir: &Path) -> Result<Vec<PathBuf>, NodeError> {
    let retired = dir.join(RETIRED_DIR);
    let entries = match std::fs::read_dir(&retired) {
        Ok(entries) => entries,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(Vec::new()),
        Err(e) => return Err(NodeError::file(&retired)(e)),
    };
    let mut files = Vec::new();
    for entry in entries {
        let path = entry.map_err(NodeError::file(&retired))?.path();
        if path.extension().is_some_and(|e| e == "key") {
            files.push(path);
        }
    }
    files.sort();
    Ok(files)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn options(name: &str, endpoints: &[&str]) -> InitOptions {
        InitOptions {
            agency: AgencyId::new("tax-bureau").expect("valid"),
            name: name.into(),
            listen: "127.0.0.1:9".parse().expect("address"),
            endpoints: endpoints.iter().map(|e| Endpoint::new(*e).expect("valid")).collect(),
            operator_key: None,
            directory: PathBuf::from("directory.tally"),
            xwing: false,
        }
    }

    #[test]
    fn a_refused_name_or_endpoint_list_leaves_no_half_made_node() {
        let root = tempfile::tempdir().expect("temp dir");
        let dir = root.path().join("tax");
        for (bad, why) in [
            (options("Tax", &["a.example:1", "a.example:1"]), "twice"),
            (options(&"n".repeat(129), &[]), "name"),
            (options("Tax\u{1b}", &[]), "name"),
        ] {
            let e = init_agency(&dir, &bad).expect_err("refused");
            assert!(e.to_string().contains(why), "{e}");
            assert!(!dir.exists(), "nothing written for {bad:?}", bad = bad.name);
        }
        init_agency(&dir, &options("Tax", &["a.example:1", "b.example:2"])).expect("then it is made");
        let export =
            AgencyExport::load(&export_path(&dir, &AgencyId::new("tax-bureau").expect("valid"))).expect("loads");
        assert_eq!(export.endpoints.to_string(), "a.example:1, b.example:2");
    }
}
