//! KEM key rotation (`tally keys rotate`; spec/keys.md, "Rotation").
//!
//! A new key replaces the current key of one KEM; the replaced key moves
//! to `keys/retired/`, where the node keeps loading it, so that packets a
//! sender sealed to it under the old directory still open; and the export
//! for the operator is written again with certificates of the current
//! keys. Senders use the new key once the operator publishes a directory
//! with it.
//!
//! Each step is a file made durable or a rename, so a rotation that a
//! crash interrupted is finished by running it again: the new key is
//! written first to `<current>.new`, then the current key moves to
//! `keys/retired/`, then the new one takes its name, then the export is
//! written. A run that finds the current key missing from the export
//! only writes the export: the key is the one a rotation made.

use std::path::{Path, PathBuf};

use tally_envelope::{KemKey, read_kem_key, write_kem_key};
use tally_wire::{AgencyId, Endpoint, Endpoints, Kem, KemKeyCertificate, KeyId, Signed};

use crate::agency::{AgencyExport, Listing, RETIRED_DIR, export_path, kem_file, write_export};
use crate::config::NodeConfig;
use crate::files::sync_parent;
use crate::{AgencyKeys, NodeError};

/// What a rotation did.
#[derive(Clone, Debug)]
pub struct Rotated {
    /// The KEM rotated.
    pub kem: Kem,
    /// The new key's id.
    pub key: KeyId,
    /// The replaced key's id and where it is kept now; `None` if the node
    /// had no key of this KEM (a node made with `--classical-only` gaining
    /// an X-Wing key), or if this run only finished an interrupted rotation.
    pub retired: Option<(KeyId, PathBuf)>,
    /// The export written again, for the operator.
    pub export: PathBuf,
}

/// Where a rotation stages the new key of `current` before it takes the name.
pub(crate) fn staged(current: &Path) -> PathBuf {
    current.with_extension("key.new")
}

/// Replaces the node's current `kem` key in `dir` by a new one (the node
/// must not be running: it loads its keys at start), or finishes a
/// rotation a crash interrupted.
pub fn rotate_kem_key(dir: &Path, kem: Kem) -> Result<Rotated, NodeError> {
    let config = NodeConfig::load(dir)?;
    let agency = config.agency.clone();
    let export = export_path(dir, &agency);
    let previous = AgencyExport::load(&export)?;
    let key_error = |path: &Path| {
        let path = path.to_owned();
        move |source| NodeError::Key { path, source }
    };
    let current = kem_file(dir, kem);
    let staged = staged(&current);

    // A staged key that does not read back was never used: make it again.
    let new = match std::fs::metadata(&staged) {
        Ok(_) => match read_kem_key(&staged) {
            Ok((_, key)) => Some(key),
            Err(_) => {
                std::fs::remove_file(&staged).map_err(NodeError::file(&staged))?;
                None
            }
        },
        Err(_) => None,
    };
    let mut retired = None;
    let new_id = match new {
        Some(key) => *key.key_id(),
        None if current.exists() => {
            let (_, old) = read_kem_key(&current).map_err(key_error(&current))?;
            let listed = previous.certificates(&export)?.iter().any(|c| &c.unverified().key_id == old.key_id());
            if !listed {
                // The rotation finished but for the export: write it, and no new key.
                let export = finish(dir, &agency, &previous.name, &previous.endpoints, &[])?;
                return Ok(Rotated { kem, key: *old.key_id(), retired: None, export });
            }
            stage(&staged, &agency, kem)?
        }
        None => stage(&staged, &agency, kem)?,
    };
    if current.exists() {
        let (_, old) = read_kem_key(&current).map_err(key_error(&current))?;
        let retired_dir = dir.join(RETIRED_DIR);
        crate::files::create_private_dir(&retired_dir)?;
        let kept = retired_dir.join(format!("{}.key", old.key_id()));
        std::fs::rename(&current, &kept).map_err(NodeError::file(&current))?;
        sync_parent(&kept)?;
        sync_parent(&current)?;
        retired = Some((*old.key_id(), kept));
    }
    std::fs::rename(&staged, &current).map_err(NodeError::file(&staged))?;
    sync_parent(&current)?;
    let export = finish(dir, &agency, &previous.name, &previous.endpoints, &[])?;
    Ok(Rotated { kem, key: new_id, retired, export })
}

/// Writes a new key of `kem` at `staged`, durably; returns its id.
fn stage(staged: &Path, agency: &AgencyId, kem: Kem) -> Result<KeyId, NodeError> {
    let key_error = |source| NodeError::Key { path: staged.to_owned(), source };
    let new = KemKey::generate_for(kem).map_err(key_error)?;
    write_kem_key(staged, agency, &new).map_err(key_error)?;
    sync_parent(staged)?;
    Ok(*new.key_id())
}

/// Writes the export again: the current key of each KEM the node has,
/// with its certificate in `kept` if there is one, else certified from
/// now, with `name` and `endpoints`.
fn finish(
    dir: &Path,
    agency: &AgencyId,
    name: &str,
    endpoints: &Endpoints,
    kept: &[Signed<KemKeyCertificate>],
) -> Result<PathBuf, NodeError> {
    // Every key file checks out, the retired ones included, before the export names them.
    let keys = AgencyKeys::load(dir, agency)?;
    let mut listed: Vec<KemKey> = Vec::new();
    for k in [Kem::X25519, Kem::XWing] {
        let path = kem_file(dir, k);
        if path.exists() {
            listed.push(read_kem_key(&path).map_err(|source| NodeError::Key { path: path.clone(), source })?.1);
        }
    }
    let listed: Vec<&KemKey> = listed.iter().collect();
    write_export(dir, Listing { agency, name, endpoints }, &keys.identity, &keys.tls, &listed, kept)
}

/// Writes the export again from the node's current keys (each KEM key
/// certified from now), with `name` and `endpoints` if given, else as the
/// current export has them (`tally keys export`): how an agency lists a new
/// replica, or moves its node. Returns the export's path.
pub fn write_export_again(dir: &Path, name: Option<String>, endpoints: Vec<Endpoint>) -> Result<PathBuf, NodeError> {
    let config = NodeConfig::load(dir)?;
    let path = export_path(dir, &config.agency);
    // Both given: the current export is not read (it may be from an older `tally`).
    let (name, endpoints, kept) = match (name, endpoints.is_empty()) {
        (Some(name), false) => (name, crate::agency::endpoints(endpoints)?, Vec::new()),
        (name, _) => {
            let previous = AgencyExport::load(&path)?;
            let endpoints =
                if endpoints.is_empty() { previous.endpoints.clone() } else { crate::agency::endpoints(endpoints)? };
            // Its certificates of the keys the node still has are kept: the keys did not change.
            let kept = previous.certificates(&path)?;
            (name.unwrap_or(previous.name), endpoints, kept)
        }
    };
    finish(dir, &config.agency, &name, &endpoints, &kept)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{InitOptions, init_agency};

    fn node() -> (tempfile::TempDir, PathBuf, AgencyId) {
        let root = tempfile::tempdir().expect("temp dir");
        let dir = root.path().join("tax");
        let agency = AgencyId::new("tax-bureau").expect("valid");
        let options = InitOptions {
            agency: agency.clone(),
            name: "Tax".into(),
            listen: "127.0.0.1:9".parse().expect("address"),
            endpoints: Vec::new(),
            operator_key: None,
            directory: PathBuf::from("directory.tally"),
            xwing: true,
        };
        init_agency(&dir, &options).expect("init");
        (root, dir, agency)
    }

    fn current(dir: &Path, kem: Kem) -> KeyId {
        *read_kem_key(&kem_file(dir, kem)).expect("reads").1.key_id()
    }

    fn exported(dir: &Path, agency: &AgencyId) -> Vec<KeyId> {
        let path = export_path(dir, agency);
        let export = AgencyExport::load(&path).expect("export");
        export.verify(&path).expect("the export verifies");
        export.certificates(&path).expect("decodes").iter().map(|c| c.unverified().key_id).collect()
    }

    fn held(dir: &Path, agency: &AgencyId) -> Vec<KeyId> {
        AgencyKeys::load(dir, agency).expect("loads").kem_keys.iter().map(|k| *k.key_id()).collect()
    }

    #[test]
    fn the_export_is_written_again_with_new_endpoints_and_the_same_keys() {
        let (_root, dir, agency) = node();
        let path = export_path(&dir, &agency);
        let before = AgencyExport::load(&path).expect("export");
        let listed = vec![
            Endpoint::new("tax-1.example:4433").expect("valid"),
            Endpoint::new("tax-2.example:4433").expect("valid"),
        ];
        write_export_again(&dir, None, listed.clone()).expect("writes");
        let after = AgencyExport::load(&path).expect("export");
        after.verify(&path).expect("the export verifies");
        assert_eq!(after.endpoints.to_vec(), listed);
        assert_eq!(after.kem_certificates, before.kem_certificates, "the same keys keep their certificates");
        assert_eq!(
            (after.name.as_str(), after.identity_key, &after.tls_public_key),
            ("Tax", before.identity_key, &before.tls_public_key)
        );
        let twice = write_export_again(&dir, None, vec![listed[0].clone(), listed[0].clone()]).expect_err("twice");
        assert!(twice.to_string().contains("lists an endpoint twice"), "{twice}");
    }

    #[test]
    fn an_export_from_before_replicas_is_refused_and_written_again_from_the_keys() {
        let (_root, dir, agency) = node();
        let path = export_path(&dir, &agency);
        let text = std::fs::read_to_string(&path).expect("export");
        let old = text
            .replace("tally-agency/3", "tally-agency/2")
            .replace("endpoints = [\"127.0.0.1:9\"]", "endpoint = \"127.0.0.1:9\"");
        std::fs::write(&path, old).expect("writes");
        let refused = AgencyExport::load(&path).expect_err("an older format");
        assert!(refused.to_string().contains("tally keys export --name"), "says what to do: {refused}");
        let refused = write_export_again(&dir, None, Vec::new()).expect_err("nothing to keep from");
        assert!(refused.to_string().contains("tally-agency/2"), "{refused}");
        let listed = vec![Endpoint::new("127.0.0.1:9").expect("valid")];
        write_export_again(&dir, Some("Tax".into()), listed).expect("both given: the old export is not read");
        AgencyExport::load(&path).expect("the current format").verify(&path).expect("verifies");
    }

    #[test]
    fn a_rotation_retires_the_old_key_and_exports_the_new_one() {
        let (_root, dir, agency) = node();
        for kem in [Kem::XWing, Kem::X25519] {
            let old = current(&dir, kem);
            let r = rotate_kem_key(&dir, kem).expect("rotates");
            assert_eq!((r.kem, r.retired.as_ref().map(|(id, _)| *id)), (kem, Some(old)));
            assert_eq!(current(&dir, kem), r.key);
            assert!(exported(&dir, &agency).contains(&r.key) && !exported(&dir, &agency).contains(&old));
            assert!(held(&dir, &agency).contains(&old), "the node keeps the retired key");
        }
        assert_eq!(held(&dir, &agency).len(), 4);
    }

    #[test]
    fn a_rotation_interrupted_at_any_step_is_finished_by_running_it_again() {
        let (_root, dir, agency) = node();
        // After the new key was staged: it becomes the current key.
        let old = current(&dir, Kem::XWing);
        let staged_id = stage(&staged(&kem_file(&dir, Kem::XWing)), &agency, Kem::XWing).expect("stages");
        let r = rotate_kem_key(&dir, Kem::XWing).expect("finishes");
        assert_eq!((r.key, r.retired.map(|(id, _)| id)), (staged_id, Some(old)));

        // After the current key was retired: the node refuses to start, saying why; a run finishes it.
        let old = current(&dir, Kem::X25519);
        let current_file = kem_file(&dir, Kem::X25519);
        let staged_id = stage(&staged(&current_file), &agency, Kem::X25519).expect("stages");
        std::fs::rename(&current_file, dir.join(RETIRED_DIR).join(format!("{old}.key"))).expect("retires");
        let refused = AgencyKeys::load(&dir, &agency).expect_err("a missing current key");
        assert!(refused.to_string().contains("a key rotation was interrupted"), "{refused}");
        let r = rotate_kem_key(&dir, Kem::X25519).expect("finishes");
        assert_eq!((r.key, r.retired), (staged_id, None));
        assert!(held(&dir, &agency).contains(&old) && exported(&dir, &agency).contains(&staged_id));

        // After the new key took its name, before the export: only the export is written.
        let before = std::fs::read(export_path(&dir, &agency)).expect("export");
        let r = rotate_kem_key(&dir, Kem::XWing).expect("rotates");
        std::fs::write(export_path(&dir, &agency), &before).expect("restores the old export");
        let again = rotate_kem_key(&dir, Kem::XWing).expect("finishes");
        assert_eq!((again.key, again.retired.is_none()), (r.key, true), "no second new key");
        assert!(exported(&dir, &agency).contains(&r.key));

        // A staged file torn by the crash is made again.
        let staged_file = staged(&kem_file(&dir, Kem::XWing));
        std::fs::write(&staged_file, b"format = \"tally-key/1\"\nkind =").expect("torn");
        let r = rotate_kem_key(&dir, Kem::XWing).expect("rotates");
        assert!(!staged_file.exists() && exported(&dir, &agency).contains(&r.key));
    }
}
