//! `tally inbox`, `tally receipts` and `tally reveal`: what a node holds of its packets.

use std::path::PathBuf;

use clap::Subcommand;
use tally_node::api::Side;

use crate::args::{IdPrefix, NodeDir};
use crate::failure::{Failure, failed};
use crate::files::{absolute, call, print_json, resolve_packet, runtime, unhex, write_file};

#[derive(Subcommand)]
pub(crate) enum InboxCommand {
    /// List received packets.
    List {
        #[command(flatten)]
        node: NodeDir,
    },
    /// Write a received packet's plaintext to a file.
    Export {
        #[command(flatten)]
        node: NodeDir,
        /// The packet id (or a unique prefix of it).
        packet: IdPrefix,
        /// Where to write it; `-` for standard output.
        #[arg(long)]
        out: PathBuf,
    },
}

#[derive(Subcommand)]
pub(crate) enum ReceiptsCommand {
    /// List the receipts in the log.
    List {
        #[command(flatten)]
        node: NodeDir,
    },
    /// Show the receipts (or rejections) the log holds for one packet or pull request.
    Show {
        #[command(flatten)]
        node: NodeDir,
        /// The packet (or pull request) id, or a unique prefix of it.
        packet: IdPrefix,
    },
    /// Write the receipt bundle of a packet (receipt, inclusion proof and the
    /// recipient's signed checkpoint), from either side: the recipient's own,
    /// or the sender's proof of delivery. `tally verify` checks it offline.
    Export {
        #[command(flatten)]
        node: NodeDir,
        /// The packet id (or a unique prefix of it).
        packet: IdPrefix,
        /// Accepted for scripts written for earlier versions; the bundle is the only form written.
        #[arg(long, hide = true)]
        bundle: bool,
        /// Where to write it.
        #[arg(long)]
        out: PathBuf,
    },
}

/// Streams a received packet's plaintext into a private file at `out`.
/// The plaintext goes to a private temporary file beside `out`, renamed
/// onto `out` only once it is whole: a failed export leaves `out` as it was.
fn export_to(node: &NodeDir, packet: &tally_wire::PacketId, out: &std::path::Path) -> Result<u64, Failure> {
    let parent = out.parent().filter(|p| !p.as_os_str().is_empty()).unwrap_or(std::path::Path::new("."));
    let partial = tempfile::NamedTempFile::new_in(parent).map_err(crate::failure::file_error(parent))?;
    let n = runtime()?.block_on(async {
        let mut file =
            tokio::fs::File::from_std(partial.as_file().try_clone().map_err(crate::failure::file_error(out))?);
        let n = tally_node::api::Client::new(&node.dir).export_packet(packet, &mut file).await?;
        file.sync_all().await.map_err(crate::failure::file_error(out))?;
        Ok::<_, Failure>(n)
    })?;
    partial.persist(out).map_err(|e| crate::failure::file_error(out)(e.error))?;
    Ok(n)
}

pub(crate) fn inbox(command: InboxCommand, json: bool) -> Result<(), Failure> {
    match command {
        InboxCommand::List { node } => {
            let packets = call(&node.dir, |c| async move { c.inbox().await })?;
            if json {
                print_json(&packets);
                return Ok(());
            }
            for p in packets {
                let sealing = if p.suite.starts_with("XWING") { "X-Wing" } else { "X25519" };
                println!(
                    "{}  from {:<18} {:>12} B  {}  {sealing}  {}{}",
                    p.packet,
                    p.sender,
                    p.size,
                    p.purpose,
                    p.received_at,
                    p.erased_at.map(|t| format!("  erased {t}")).unwrap_or_default()
                );
            }
        }
        InboxCommand::Export { node, packet, out } => {
            let packet = resolve_packet(&node.dir, &packet)?;
            if out == std::path::Path::new("-") {
                let n = runtime()?.block_on(async {
                    let mut stdout = tokio::io::stdout();
                    tally_node::api::Client::new(&node.dir).export_packet(&packet, &mut stdout).await
                })?;
                eprintln!("Wrote {n} bytes of {packet} to standard output.");
                return Ok(());
            }
            let out = absolute(&out)?;
            let n = export_to(&node, &packet, &out)?;
            if json {
                print_json(&serde_json::json!({ "packet": packet, "bytes": n, "file": out }));
            } else {
                println!("Wrote {n} bytes of {packet} to {}.", out.display());
            }
        }
    }
    Ok(())
}

pub(crate) fn receipts(command: ReceiptsCommand, json: bool) -> Result<(), Failure> {
    match command {
        ReceiptsCommand::List { node } => {
            let receipts = call(&node.dir, |c| async move { c.receipts().await })?;
            if json {
                print_json(&receipts);
                return Ok(());
            }
            for e in receipts {
                let r = &e.receipt;
                let side = match e.side {
                    Side::Issued => "issued",
                    Side::Received => "received",
                };
                println!(
                    "#{:<5} {:<8} {}  {} -> {}  {}  {}",
                    e.index, side, r.packet, r.sender, r.recipient, r.purpose, r.outcome
                );
            }
        }
        ReceiptsCommand::Show { node, packet } => {
            let packet = resolve_packet(&node.dir, &packet)?;
            let receipts = call(&node.dir, |c| async move { c.receipts().await })?;
            let found: Vec<_> = receipts.into_iter().filter(|e| e.receipt.packet == packet).collect();
            if found.is_empty() {
                return Err(failed(format!("no receipt for {packet} in this node's log (see tally receipts list)")));
            }
            if json {
                print_json(&found);
                return Ok(());
            }
            for e in found {
                let r = &e.receipt;
                let side = match e.side {
                    Side::Issued => "signed by this node (it received the packet)",
                    Side::Received => "signed by the recipient (this node sent the packet)",
                };
                println!("receipt, log entry #{}, {side}", e.index);
                let signing = if e.batch_signed {
                    "batch-signed (vouched for by the checkpoint's signature)"
                } else {
                    "signed on its own"
                };
                println!("  signing   {signing}");
                match &e.proof {
                    Some(p) => {
                        let checkpoint = match (p.checkpoint_size, p.checkpoint_root) {
                            (Some(size), Some(root)) => format!("under its checkpoint of {size} entries, root {root}"),
                            _ => "under the checkpoint this node signs when it is exported".to_owned(),
                        };
                        println!("  proof     entry #{} of {}'s log, {checkpoint}", p.index, p.log);
                    }
                    None => println!("  proof     none: the peer gave no bundle (an older node)"),
                }
                println!("  packet    {}", r.packet);
                println!("  from      {}", r.sender);
                println!("  to        {}", r.recipient);
                println!("  grant     {}", r.grant);
                println!("  purpose   {}", r.purpose);
                println!("  outcome   {}", r.outcome);
                println!("  at        {}", r.at);
            }
        }
        ReceiptsCommand::Export { node, packet, bundle: _, out } => {
            let packet = resolve_packet(&node.dir, &packet)?;
            let bundle = call(&node.dir, |c| async move { c.receipt_bundle(&packet).await })?;
            write_file(&out, bundle.as_bytes())?;
            if json {
                print_json(&serde_json::json!({ "packet": packet, "file": out }));
            } else {
                println!("Wrote the receipt bundle of {packet} to {}; check it with `tally verify`.", out.display());
            }
        }
    }
    Ok(())
}

/// `tally reveal`: the reveal file, and for a received packet its plaintext.
pub(crate) fn reveal(
    node: NodeDir,
    packet: IdPrefix,
    out: PathBuf,
    plaintext: Option<PathBuf>,
    json: bool,
) -> Result<(), Failure> {
    let packet = resolve_packet(&node.dir, &packet)?;
    let plaintext = plaintext.as_deref().map(absolute).transpose()?;
    let answer = call(&node.dir, |c| async move { c.reveal(&packet).await })?;
    let bytes = unhex(&answer.reveal)?;
    write_file(&out, format!("{}\n", tally_node::hex::encode(&bytes)).as_bytes())?;
    let written = match (&plaintext, answer.received) {
        (Some(p), true) => Some(export_to(&node, &packet, p)?),
        _ => None,
    };
    if json {
        print_json(&serde_json::json!({
            "packet": packet, "reveal": out, "received": answer.received,
            "plaintext": written.map(|_| plaintext.clone()), "plaintext_bytes": written,
        }));
        return Ok(());
    }
    println!("Wrote the reveal of {packet} to {}.", out.display());
    match (&plaintext, written) {
        (Some(p), Some(n)) => println!("Wrote its plaintext ({n} bytes) to {}.", p.display()),
        (Some(_), None) => {
            println!("This node sent the packet and keeps no copy of it: give the auditor the file that was sent.");
        }
        (None, _) => {}
    }
    println!("An auditor checks them with `tally verify --reveal {} --plaintext FILE`.", out.display());
    Ok(())
}
