//! `tally packet`: packets as files, for where QUIC cannot go
//! (spec/protocol.md, "Packets as files").

use std::path::PathBuf;

use clap::Subcommand;
use tally_node::api::SendResult;
use tally_wire::{AgencyId, ContentType, DataCategory, Purpose};

use crate::args::NodeDir;
use crate::failure::{Exit, Failure, file_error, usage};
use crate::files::{print_json, read_file, runtime, write_file};

#[derive(Subcommand)]
pub(crate) enum PacketCommand {
    /// Seal a file to an agency under a grant, as a packet file, without a running node.
    Seal {
        #[command(flatten)]
        node: NodeDir,
        /// The recipient.
        #[arg(long)]
        to: AgencyId,
        /// The grant file (from `tally grant issue`): its leaf is the grant.
        #[arg(long)]
        grant_file: PathBuf,
        /// The purpose.
        #[arg(long)]
        purpose: Purpose,
        /// The data category.
        #[arg(long)]
        category: DataCategory,
        /// The payload's media type.
        #[arg(long, default_value = "application/octet-stream")]
        content_type: ContentType,
        /// The file to seal.
        file: PathBuf,
        /// Where to write the packet file.
        #[arg(long)]
        out: PathBuf,
    },
    /// Take a packet file that came another way, as an offer over QUIC; write its receipt bundle to carry back.
    Import {
        #[command(flatten)]
        node: NodeDir,
        /// The packet file.
        file: PathBuf,
        /// Where to write the receipt bundle (for `tally verify`).
        #[arg(long)]
        out: PathBuf,
    },
}

pub(crate) fn run(command: PacketCommand, json: bool) -> Result<(), Failure> {
    match command {
        PacketCommand::Seal { node, to, grant_file, purpose, category, content_type, file, out } => {
            let chain = tally_wire::decode_grant_chain(&read_file(&grant_file)?)
                .map_err(|e| usage(format!("{}: not a grant file: {e}", grant_file.display())))?;
            let leaf = chain.first().map(tally_grant::grant_id).ok_or_else(|| usage("an empty grant file"))?;
            let options = tally_node::SendOptions { to: to.clone(), grant: leaf, purpose, category, content_type };
            let packet = tally_node::seal_packet_file(&node.dir, &options, chain, &file, &out)?;
            if json {
                print_json(&serde_json::json!({ "packet": packet, "to": to, "grant": leaf, "file": out }));
            } else {
                println!(
                    "Sealed {} to {to} as packet {packet} in {}; carry it there and run `tally packet import` on its node.",
                    file.display(),
                    out.display()
                );
            }
            Ok(())
        }
        PacketCommand::Import { node, file, out } => {
            let imported = runtime()?.block_on(async {
                let packet = tokio::fs::File::open(&file).await.map_err(file_error(&file))?;
                Ok::<_, Failure>(tally_node::api::Client::new(&node.dir).import_packet(packet).await?)
            })?;
            write_file(&out, imported.bundle.as_bytes())?;
            if json {
                print_json(&imported);
            }
            let r = &imported.receipt;
            if imported.result == SendResult::Refused {
                return Err(Failure::new(
                    Exit::Refused,
                    format!(
                        "refused packet {} from {}: {}; the signed rejection is in the log and its bundle in {}",
                        r.packet,
                        r.sender,
                        r.outcome,
                        out.display()
                    ),
                )
                .answered(json));
            }
            if !json {
                println!(
                    "Received packet {} from {} and receipted it; the receipt bundle for the sender is {} (tally verify checks it).",
                    r.packet,
                    r.sender,
                    out.display()
                );
            }
            Ok(())
        }
    }
}
