//! The `tally` command: run a node, drive it, run a federation, audit.
//!
//! Commands that act on a running node (`send`, `request`, `grant`,
//! `inbox`, `receipts`, `log`, `status`) reach it through its local API
//! (`tally_node::api`) and no other way; the federation, `init`, `verify`
//! and `audit` commands work on files alone, with the library crates.

#![forbid(unsafe_code)]

mod args;
mod failure;
mod federation;
mod files;
mod grant;
mod node;
mod packets;
mod send;
mod verify;

use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Parser, Subcommand};
use tally_wire::{AgencyId, ContentType, IdentityPublicKey, PacketId};

use crate::args::{FlowArgs, LogFormat, NodeDir, Output, ReportFormat, Trust};
use crate::failure::{Failure, usage};
use crate::node::{DirectoryCommand, LogCommand};
use crate::packets::{InboxCommand, ReceiptsCommand};

#[derive(Parser)]
#[command(name = "tally", version, about = "Purpose-bound, receipted data exchange between agencies")]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Create an agency's node directory: keys, tally.toml, and the export file for the operator.
    Init {
        /// The agency's id (lowercase, as registered in the directory).
        #[arg(long)]
        agency: AgencyId,
        /// Where to create the node directory.
        #[arg(long)]
        dir: PathBuf,
        /// The agency's display name.
        #[arg(long)]
        name: Option<String>,
        /// The UDP address to listen on.
        #[arg(long, default_value = "127.0.0.1:4433")]
        listen: std::net::SocketAddr,
        /// The endpoint peers dial (host:port); defaults to the listen address.
        #[arg(long)]
        endpoint: Option<String>,
        /// The operator's public key (hex), from `operator.pub`.
        #[arg(long)]
        operator_key: Option<IdentityPublicKey>,
        /// The directory file path, relative to the node directory.
        #[arg(long, default_value = "directory.tally")]
        directory: PathBuf,
    },
    /// The federation operator's tools.
    #[command(subcommand)]
    Federation(federation::FederationCommand),
    /// Run the node until interrupted (Ctrl-C or SIGTERM).
    Serve {
        #[command(flatten)]
        node: NodeDir,
        /// Log format on standard error.
        #[arg(long, value_enum, default_value = "human")]
        log_format: LogFormat,
    },
    /// The node's agency, address, directory serial and log size.
    Status {
        #[command(flatten)]
        node: NodeDir,
        #[command(flatten)]
        output: Output,
    },
    /// Offer again the sends a crash or a lost connection left without a receipt.
    Resume {
        #[command(flatten)]
        node: NodeDir,
        #[command(flatten)]
        output: Output,
    },
    /// Destroy received data past its retention now (the node also does this periodically).
    Sweep {
        #[command(flatten)]
        node: NodeDir,
    },
    /// Grants: issue, delegate, show, import, list, revoke.
    #[command(subcommand)]
    Grant(grant::GrantCommand),
    /// Send a file (or standard input, `-`) to an agency under a grant.
    Send {
        #[command(flatten)]
        node: NodeDir,
        #[command(flatten)]
        flow: FlowArgs,
        /// The payload's media type.
        #[arg(long, default_value = "application/octet-stream")]
        content_type: ContentType,
        /// The file to send, or `-` for standard input.
        file: PathBuf,
        #[command(flatten)]
        output: Output,
    },
    /// Ask an agency for data under a grant (pull); the answer lands in the inbox.
    Request {
        #[command(flatten)]
        node: NodeDir,
        #[command(flatten)]
        flow: FlowArgs,
        /// The query the responder's pull source gets.
        #[arg(long, default_value = "")]
        query: String,
        #[command(flatten)]
        output: Output,
    },
    /// Received packets.
    #[command(subcommand)]
    Inbox(InboxCommand),
    /// Receipts in the log.
    #[command(subcommand)]
    Receipts(ReceiptsCommand),
    /// Verify offline, with the directory only: a receipt bundle, or with
    /// --reveal a revealed packet against its plaintext.
    Verify {
        /// The bundle file (from `tally receipts export`).
        #[arg(required_unless_present = "reveal")]
        bundle: Option<PathBuf>,
        /// A reveal file (from `tally reveal`): checks that the plaintext is what was sent and receipted.
        #[arg(long, conflicts_with = "bundle", requires = "plaintext")]
        reveal: Option<PathBuf>,
        /// The plaintext the reveal is about.
        #[arg(long, requires = "reveal")]
        plaintext: Option<PathBuf>,
        #[command(flatten)]
        trust: Trust,
        #[command(flatten)]
        output: Output,
    },
    /// Reveal a packet's content to an auditor: writes its evidence of
    /// origin, its receipt and its commitment key, and for a packet this
    /// node received its plaintext (DESIGN.md, property 5).
    Reveal {
        #[command(flatten)]
        node: NodeDir,
        /// The packet id.
        packet: PacketId,
        /// Where to write the reveal file.
        #[arg(long)]
        out: PathBuf,
        /// Where to write the plaintext (a received packet; a sender gives its own copy of what it sent).
        #[arg(long)]
        plaintext: Option<PathBuf>,
    },
    /// The node's log: checkpoints and exports for auditors.
    #[command(subcommand)]
    Log(LogCommand),
    /// The federation directory the node uses.
    #[command(subcommand)]
    Directory(DirectoryCommand),
    /// Audit agencies' exported logs: consistency, matching receipts, grants.
    Audit {
        /// Log exports (from `tally log export`).
        #[arg(required = true)]
        logs: Vec<PathBuf>,
        /// Checkpoint notes kept from earlier audits (fork detection).
        #[arg(long = "earlier")]
        earlier: Vec<PathBuf>,
        #[command(flatten)]
        trust: Trust,
        /// Report format.
        #[arg(long, value_enum, default_value = "text")]
        format: ReportFormat,
        /// Write the report here instead of standard output.
        #[arg(long)]
        out: Option<PathBuf>,
    },
}

fn main() -> ExitCode {
    // Nothing this process creates is readable by others: keys, the
    // database, blobs, exports, the API socket.
    rustix::process::umask(rustix::fs::Mode::from_raw_mode(0o077));
    let cli = Cli::parse();
    match run(cli) {
        Ok(()) => ExitCode::SUCCESS,
        Err(Failure { message, exit }) => {
            eprintln!("error: {message}");
            ExitCode::from(exit as u8)
        }
    }
}

fn run(cli: Cli) -> Result<(), Failure> {
    match cli.command {
        Command::Init { agency, dir, name, listen, endpoint, operator_key, directory } => {
            node::init(agency, &dir, name, listen, endpoint, operator_key, directory)
        }
        Command::Federation(f) => federation::run(f),
        Command::Serve { node, log_format } => node::serve(&node.dir, log_format),
        Command::Status { node, output } => node::status(&node, output.json),
        Command::Grant(g) => grant::run(g),
        Command::Resume { node, output } => node::resume(&node, output.json),
        Command::Sweep { node } => node::sweep(&node),
        Command::Send { node, flow, content_type, file, output } => {
            send::send(&node.dir, flow, content_type, &file, output.json)
        }
        Command::Request { node, flow, query, output } => send::request(&node.dir, flow, query, output.json),
        Command::Inbox(command) => packets::inbox(command),
        Command::Receipts(command) => packets::receipts(command),
        Command::Reveal { node, packet, out, plaintext } => packets::reveal(node, packet, out, plaintext),
        Command::Verify { bundle: None, reveal: Some(reveal), plaintext: Some(plaintext), trust, output } => {
            verify::reveal(&reveal, &plaintext, &trust, output.json)
        }
        Command::Verify { bundle: Some(bundle), trust, output, .. } => verify::bundle(&bundle, &trust, output.json),
        Command::Verify { .. } => Err(usage("give a bundle file, or --reveal FILE --plaintext FILE")),
        Command::Log(command) => node::log(command),
        Command::Directory(command) => node::directory(command),
        Command::Audit { logs, earlier, trust, format, out } => {
            verify::audit(&logs, &earlier, &trust, format, out.as_deref())
        }
    }
}
