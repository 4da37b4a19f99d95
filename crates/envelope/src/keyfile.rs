//! Key files (spec/keys.md): a small TOML document per key, written with
//! mode 0600, refused on load if others can read it.
//!
//! ```toml
//! # Tally key file (spec/keys.md). Secret: readable by its owner only.
//! format = "tally-key/1"
//! kind = "identity-ed25519"        # or "kem-x25519", "kem-xwing"
//! agency = "tax-bureau"
//! public = "…64 hex digits…"       # 2432 for kem-xwing
//! key_id = "…64 hex digits…"       # KEM keys only
//! secret = "…64 hex digits…"       # an X-Wing key's is its seed
//! ```

use std::fs::OpenOptions;
use std::io::Write;
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};
use tally_wire::AgencyId;
use zeroize::Zeroizing;

use crate::error::Error;
use crate::identity::IdentityKey;
use crate::kem_key::KemKey;

/// The format line every key file starts with.
pub const FORMAT: &str = "tally-key/1";

/// What a key file holds.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum KeyKind {
    /// An Ed25519 identity key.
    #[serde(rename = "identity-ed25519")]
    Identity,
    /// An X25519 KEM key.
    #[serde(rename = "kem-x25519")]
    Kem,
    /// An X-Wing KEM key (its 32-byte seed).
    #[serde(rename = "kem-xwing")]
    KemXWing,
}

impl KeyKind {
    /// The KEM of a KEM key file; `None` for an identity key.
    pub fn kem(self) -> Option<tally_wire::Kem> {
        match self {
            Self::Identity => None,
            Self::Kem => Some(tally_wire::Kem::X25519),
            Self::KemXWing => Some(tally_wire::Kem::XWing),
        }
    }
}

#[derive(Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
struct Document {
    format: String,
    kind: KeyKind,
    agency: AgencyId,
    public: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    key_id: Option<String>,
    secret: Zeroizing<String>,
}

/// What a key file says about itself, without the secret.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct KeyFileInfo {
    /// The kind of key.
    pub kind: KeyKind,
    /// The agency it belongs to.
    pub agency: AgencyId,
    /// The public key, hex.
    pub public: String,
    /// The KEM key's id, hex.
    pub key_id: Option<String>,
}

/// Writes an identity key file at `path` (which must not exist), mode 0600.
pub fn write_identity_key(path: &Path, agency: &AgencyId, key: &IdentityKey) -> Result<(), Error> {
    let doc = Document {
        format: FORMAT.into(),
        kind: KeyKind::Identity,
        agency: agency.clone(),
        public: key.public_key().to_hex(),
        key_id: None,
        secret: Zeroizing::new(crate::hex(&*key.seed())),
    };
    write_document(path, &doc)
}

/// Writes a KEM key file at `path` (which must not exist), mode 0600.
pub fn write_kem_key(path: &Path, agency: &AgencyId, key: &KemKey) -> Result<(), Error> {
    let doc = Document {
        format: FORMAT.into(),
        kind: match key.kem() {
            tally_wire::Kem::X25519 => KeyKind::Kem,
            tally_wire::Kem::XWing => KeyKind::KemXWing,
        },
        agency: agency.clone(),
        public: crate::hex(key.public_key().as_bytes()),
        key_id: Some(key.key_id().to_hex()),
        secret: Zeroizing::new(crate::hex(&*key.secret_bytes())),
    };
    write_document(path, &doc)
}

/// Loads an identity key file; returns the agency and the key.
pub fn read_identity_key(path: &Path) -> Result<(AgencyId, IdentityKey), Error> {
    let (doc, seed) = read_document(path, KeyKind::Identity)?;
    let key = IdentityKey::from_seed(&seed);
    if key.public_key().to_hex() != doc.public {
        return Err(problem(
            path,
            "the public key does not match the secret key: the file is damaged; restore it from a backup",
        ));
    }
    Ok((doc.agency, key))
}

/// Loads a KEM key file, of either KEM; returns the agency and the key.
pub fn read_kem_key(path: &Path) -> Result<(AgencyId, KemKey), Error> {
    let (doc, secret) = read_document_any(path)?;
    let kem = doc.kind.kem().ok_or_else(|| {
        problem(path, format!("holds a {:?} key where a KEM key (Kem or KemXWing) is needed", doc.kind))
    })?;
    let key = KemKey::from_secret(kem, *secret);
    if crate::hex(key.public_key().as_bytes()) != doc.public
        || doc.key_id.as_deref() != Some(key.key_id().to_hex().as_str())
    {
        return Err(problem(
            path,
            "the public key or key id does not match the secret key: the file is damaged; restore it from a backup",
        ));
    }
    Ok((doc.agency, key))
}

/// Reads what a key file says about itself (kind, agency, public key), checking it as a load would.
pub fn inspect_key_file(path: &Path) -> Result<KeyFileInfo, Error> {
    let (doc, _) = read_document_any(path)?;
    match doc.kind {
        KeyKind::Identity => drop(read_identity_key(path)?),
        KeyKind::Kem | KeyKind::KemXWing => drop(read_kem_key(path)?),
    }
    Ok(KeyFileInfo { kind: doc.kind, agency: doc.agency, public: doc.public, key_id: doc.key_id })
}

fn problem(path: &Path, what: impl Into<String>) -> Error {
    Error::KeyFile { path: PathBuf::from(path), problem: what.into() }
}

fn write_document(path: &Path, doc: &Document) -> Result<(), Error> {
    let body = toml::to_string(doc).map_err(|e| problem(path, format!("cannot encode: {e}")))?;
    let text = Zeroizing::new(format!("# Tally key file (spec/keys.md). Secret: readable by its owner only.\n{body}"));
    let mut options = OpenOptions::new();
    options.write(true).create_new(true);
    #[cfg(unix)]
    std::os::unix::fs::OpenOptionsExt::mode(&mut options, 0o600);
    let mut file = options.open(path).map_err(|e| match e.kind() {
        std::io::ErrorKind::AlreadyExists => {
            problem(path, "already exists; refusing to overwrite a key (move it away first)")
        }
        _ => problem(path, format!("cannot create: {e}")),
    })?;
    file.write_all(text.as_bytes())
        .and_then(|()| file.sync_all())
        .map_err(|e| problem(path, format!("cannot write: {e}")))?;
    Ok(())
}

fn read_document_any(path: &Path) -> Result<(Document, Zeroizing<[u8; 32]>), Error> {
    let file = std::fs::File::open(path).map_err(|e| problem(path, format!("cannot open: {e}")))?;
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        let mode = file.metadata().map_err(|e| problem(path, format!("cannot stat: {e}")))?.permissions().mode();
        if mode & 0o077 != 0 {
            return Err(problem(
                path,
                format!("permissions {:o} let others read a secret key; run `chmod 600` on it", mode & 0o777),
            ));
        }
    }
    let mut text = Zeroizing::new(String::new());
    std::io::Read::read_to_string(&mut std::io::Read::take(file, 64 * 1024), &mut text)
        .map_err(|e| problem(path, format!("cannot read: {e}")))?;
    let doc: Document = toml::from_str(&text).map_err(|e| problem(path, format!("not a valid key file: {e}")))?;
    if doc.format != FORMAT {
        return Err(problem(path, format!("format is {:?}; this version reads {FORMAT:?}", doc.format)));
    }
    let secret = Zeroizing::new(
        <[u8; 32]>::try_from(
            crate::unhex_checked(&doc.secret).ok_or_else(|| problem(path, "secret is not 64 lowercase hex digits"))?,
        )
        .map_err(|_| problem(path, "secret is not 64 lowercase hex digits"))?,
    );
    Ok((doc, secret))
}

fn read_document(path: &Path, kind: KeyKind) -> Result<(Document, Zeroizing<[u8; 32]>), Error> {
    let (doc, secret) = read_document_any(path)?;
    if doc.kind != kind {
        return Err(problem(path, format!("holds a {:?} key where a {kind:?} key is needed", doc.kind)));
    }
    Ok((doc, secret))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn temp(name: &str) -> PathBuf {
        let dir = std::env::temp_dir().join(format!("tally-keyfile-{}-{name}", std::process::id()));
        let _ = std::fs::remove_file(&dir);
        dir
    }

    #[test]
    fn identity_key_round_trips_with_mode_0600() {
        let path = temp("id");
        let agency = AgencyId::new("tax-bureau").expect("valid");
        let key = IdentityKey::from_seed(&[5; 32]);
        write_identity_key(&path, &agency, &key).expect("writes");
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            assert_eq!(std::fs::metadata(&path).expect("exists").permissions().mode() & 0o777, 0o600);
        }
        let (a, back) = read_identity_key(&path).expect("reads");
        assert_eq!(a, agency);
        assert_eq!(back.public_key(), key.public_key());
        let err = write_identity_key(&path, &agency, &key).expect_err("no overwrite");
        assert!(err.to_string().contains("refusing to overwrite"), "{err}");
        let err = read_kem_key(&path).expect_err("wrong kind");
        assert!(err.to_string().contains("where a KEM key (Kem or KemXWing) is needed"), "{err}");
        let info = inspect_key_file(&path).expect("inspects");
        assert_eq!(info.kind, KeyKind::Identity);
        std::fs::remove_file(&path).expect("cleanup");
    }

    #[test]
    fn kem_key_round_trips() {
        let path = temp("kem");
        let agency = AgencyId::new("tax-bureau").expect("valid");
        for kem in [tally_wire::Kem::X25519, tally_wire::Kem::XWing] {
            let key = KemKey::from_secret(kem, [6; 32]);
            write_kem_key(&path, &agency, &key).expect("writes");
            let (_, back) = read_kem_key(&path).expect("reads");
            assert_eq!((back.kem(), back.key_id()), (kem, key.key_id()));
            assert_eq!(inspect_key_file(&path).expect("inspects").kind.kem(), Some(kem));
            std::fs::remove_file(&path).expect("cleanup");
        }
    }

    #[cfg(unix)]
    #[test]
    fn malformed_and_exposed_files_are_named_errors() {
        use std::os::unix::fs::PermissionsExt;
        let path = temp("bad");
        std::fs::write(&path, "format = \"tally-key/1\"\nkind = \"identity-ed25519\"\n").expect("writes");
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o644)).expect("chmod");
        let err = read_identity_key(&path).expect_err("world-readable");
        assert!(err.to_string().contains("chmod 600"), "{err}");
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o600)).expect("chmod");
        let err = read_identity_key(&path).expect_err("missing fields");
        assert!(
            err.to_string().contains("not a valid key file") && err.to_string().contains(&path.display().to_string()),
            "{err}"
        );
        std::fs::write(
            &path,
            "format = \"tally-key/9\"\nkind = \"identity-ed25519\"\nagency = \"a\"\npublic = \"\"\nsecret = \"\"\n",
        )
        .expect("writes");
        let err = read_identity_key(&path).expect_err("wrong format");
        assert!(err.to_string().contains("tally-key/9"), "{err}");
        let err = read_identity_key(&temp("missing")).expect_err("missing file");
        assert!(err.to_string().contains("cannot open"), "{err}");
        std::fs::remove_file(&path).expect("cleanup");
    }
}
