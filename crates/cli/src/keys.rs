//! `tally keys`: the node's KEM keys, and their rotation (spec/keys.md).

use std::path::{Path, PathBuf};

use clap::{Subcommand, ValueEnum};
use tally_envelope::{KeyKind, inspect_key_file};
use tally_wire::Kem;

use crate::args::NodeDir;
use crate::failure::{Failure, failed};
use crate::files::{call, print_json};

#[derive(Subcommand)]
pub(crate) enum KeysCommand {
    /// The node's KEM keys: the current X25519 and X-Wing keys, and retired ones.
    List {
        #[command(flatten)]
        node: NodeDir,
    },
    /// Replace the node's key of one KEM (the node must be stopped); the old
    /// key is kept to open what was sealed to it, and the export is written
    /// again for the operator.
    Rotate {
        #[command(flatten)]
        node: NodeDir,
        /// Which key: `xwing` (post-quantum) or `x25519`.
        #[arg(long, value_enum)]
        kem: KemArg,
    },
    /// Write the export for the operator again from the node's current
    /// keys, with a new name or endpoints (to list a replica, or after a
    /// move); what is not given is kept from the current export.
    Export {
        #[command(flatten)]
        node: NodeDir,
        /// The agency's display name.
        #[arg(long)]
        name: Option<String>,
        /// An endpoint peers dial (host:port); give one per replica, in the
        /// order senders should try them. Replaces the export's endpoints.
        #[arg(long = "endpoint", value_name = "HOST:PORT")]
        endpoints: Vec<tally_wire::Endpoint>,
    },
}

/// A KEM, as the command line names it.
#[derive(Clone, Copy, ValueEnum)]
pub(crate) enum KemArg {
    /// X-Wing (ML-KEM-768 with X25519): post-quantum.
    Xwing,
    /// DHKEM(X25519): classical.
    X25519,
}

impl From<KemArg> for Kem {
    fn from(k: KemArg) -> Self {
        match k {
            KemArg::Xwing => Self::XWing,
            KemArg::X25519 => Self::X25519,
        }
    }
}

/// The KEM key files of the node directory `dir`: current, then retired.
fn key_files(dir: &Path) -> Result<Vec<(PathBuf, bool)>, Failure> {
    let mut files: Vec<(PathBuf, bool)> = ["keys/xwing.key", "keys/kem.key"]
        .iter()
        .map(|f| dir.join(f))
        .filter(|p| p.exists())
        .map(|p| (p, false))
        .collect();
    let retired = dir.join("keys/retired");
    if let Ok(entries) = std::fs::read_dir(&retired) {
        let mut old: Vec<PathBuf> = entries
            .filter_map(|e| e.ok().map(|e| e.path()))
            .filter(|p| p.extension().is_some_and(|x| x == "key"))
            .collect();
        old.sort();
        files.extend(old.into_iter().map(|p| (p, true)));
    }
    Ok(files)
}

pub(crate) fn run(command: KeysCommand, json: bool) -> Result<(), Failure> {
    match command {
        KeysCommand::List { node } => {
            let mut listed = Vec::new();
            for (file, retired) in key_files(&node.dir)? {
                let info = inspect_key_file(&file).map_err(|e| failed(e.to_string()))?;
                let kem = match info.kind {
                    KeyKind::KemXWing => Kem::XWing,
                    KeyKind::Kem => Kem::X25519,
                    KeyKind::Identity => return Err(failed(format!("{}: an identity key", file.display()))),
                };
                listed.push((kem, info.key_id.unwrap_or_default(), file, retired));
            }
            if json {
                let keys: Vec<_> = listed
                    .iter()
                    .map(|(kem, id, file, retired)| {
                        serde_json::json!({ "kem": kem.name(), "key_id": id, "file": file, "retired": retired })
                    })
                    .collect();
                print_json(&keys);
                return Ok(());
            }
            for (kem, id, file, retired) in listed {
                let what = match (kem, retired) {
                    (_, true) => "retired: kept to open packets sealed to it",
                    (Kem::XWing, false) => "current, post-quantum: senders prefer it",
                    (Kem::X25519, false) => "current",
                };
                println!("{kem:<7} {id}  {}  ({what})", file.display());
            }
        }
        KeysCommand::Rotate { node, kem } => {
            if call(&node.dir, |c| async move { c.status().await }).is_ok() {
                return Err(failed(
                    "the node is running: stop it first (it loads its keys at start), rotate, then start it again",
                ));
            }
            let rotated = tally_node::rotate_kem_key(&node.dir, kem.into())?;
            if json {
                print_json(&serde_json::json!({
                    "kem": rotated.kem.name(), "key_id": rotated.key.to_hex(),
                    "retired": rotated.retired.as_ref().map(|(id, path)| serde_json::json!({ "key_id": id.to_hex(), "file": path })),
                    "export": rotated.export,
                }));
                return Ok(());
            }
            println!("New {} key {}.", rotated.kem, rotated.key);
            if let Some((id, path)) = &rotated.retired {
                println!("The old key {id} is kept in {} to open packets still sealed to it.", path.display());
            }
            println!(
                "Hand {} to the federation operator (tally federation add-agency --replace, then publish);",
                rotated.export.display()
            );
            println!("senders seal to the new key once they have that directory.");
        }
        KeysCommand::Export { node, name, endpoints } => {
            let export = tally_node::write_export_again(&node.dir, name, endpoints)?;
            if json {
                print_json(&serde_json::json!({ "export": export }));
                return Ok(());
            }
            println!(
                "Hand {} to the federation operator (tally federation add-agency --replace, then publish).",
                export.display()
            );
        }
    }
    Ok(())
}
