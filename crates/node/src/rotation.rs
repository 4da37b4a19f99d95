//! KEM key rotation (`tally keys rotate`; spec/keys.md, "Rotation").
//!
//! A new key replaces the current key of one KEM; the replaced key moves
//! to `keys/retired/`, where the node keeps loading it, so that packets a
//! sender sealed to it under the old directory still open; and the export
//! for the operator is written again with certificates of the current
//! keys. Senders use the new key once the operator publishes a directory
//! with it.

use std::path::{Path, PathBuf};

use tally_envelope::{KemKey, read_kem_key, write_kem_key};
use tally_wire::{Kem, KeyId};

use crate::agency::{AgencyExport, RETIRED_DIR, export_path, kem_file, write_export};
use crate::config::NodeConfig;
use crate::{AgencyKeys, NodeError};

/// What a rotation did.
#[derive(Clone, Debug)]
pub struct Rotated {
    /// The KEM rotated.
    pub kem: Kem,
    /// The new key's id.
    pub key: KeyId,
    /// The replaced key's id and where it is kept now; `None` if the node
    /// had no key of this KEM (a node made with `--classical-only` gaining an X-Wing key).
    pub retired: Option<(KeyId, PathBuf)>,
    /// The export written again, for the operator.
    pub export: PathBuf,
}

/// Replaces the node's current `kem` key in `dir` by a new one (the node
/// must not be running: it loads its keys at start). Safe to run again
/// after a crash: a retired key stays retired, and a missing current key
/// is made.
pub fn rotate_kem_key(dir: &Path, kem: Kem) -> Result<Rotated, NodeError> {
    let config = NodeConfig::load(dir)?;
    let agency = config.agency.clone();
    // Every key file checks out before anything moves.
    let keys = AgencyKeys::load(dir, &agency)?;
    let export = export_path(dir, &agency);
    let previous = AgencyExport::load(&export)?;
    let key_error = |path: PathBuf| move |source| NodeError::Key { path, source };

    let current = kem_file(dir, kem);
    let retired = if current.exists() {
        let (_, old) = read_kem_key(&current).map_err(key_error(current.clone()))?;
        let retired_dir = dir.join(RETIRED_DIR);
        crate::files::create_private_dir(&retired_dir)?;
        let kept = retired_dir.join(format!("{}.key", old.key_id()));
        std::fs::rename(&current, &kept).map_err(NodeError::file(&current))?;
        crate::files::sync_parent(&kept)?;
        crate::files::sync_parent(&current)?;
        Some((*old.key_id(), kept))
    } else {
        None
    };
    let new = KemKey::generate_for(kem).map_err(key_error(current.clone()))?;
    write_kem_key(&current, &agency, &new).map_err(key_error(current.clone()))?;

    // The export lists the current key of each KEM the node has.
    let mut listed: Vec<KemKey> = Vec::new();
    for k in [Kem::X25519, Kem::XWing] {
        let path = kem_file(dir, k);
        if path.exists() {
            listed.push(read_kem_key(&path).map_err(key_error(path))?.1);
        }
    }
    let listed: Vec<&KemKey> = listed.iter().collect();
    let export = write_export(dir, &agency, &previous.name, &previous.endpoint, &keys.identity, &keys.tls, &listed)?;
    Ok(Rotated { kem, key: *new.key_id(), retired, export })
}
