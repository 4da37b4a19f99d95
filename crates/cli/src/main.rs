//! The `tally` command: run a node, drive it, run a federation, audit.
//!
//! Commands that act on a running node (`send`, `request`, `grant`,
//! `inbox`, `receipts`, `log`, `status`) reach it through its local API
//! (`tally_node::api`) and no other way; the federation, `init`, `verify`
//! and `audit` commands work on files alone, with the library crates.

#![forbid(unsafe_code)]

mod advice;
mod args;
mod failure;
mod federation;
mod files;
mod grant;
mod keys;
mod node;
mod packet;
mod packets;
mod send;
mod verify;

use std::path::PathBuf;
use std::process::ExitCode;

use clap::{CommandFactory, Parser, Subcommand};
use tally_node::api::SendId;
use tally_wire::ContentType;

use crate::args::IdPrefix;

use crate::args::{FlowArgs, LogFormat, NodeDir, ReportFormat, Trust};
use crate::failure::{Failure, usage};
use crate::node::{DirectoryCommand, LogCommand};
use crate::packets::{InboxCommand, ReceiptsCommand};

#[derive(Parser)]
#[command(name = "tally", version, about = "Purpose-bound, receipted data exchange between agencies")]
struct Cli {
    /// Print the result as JSON on standard output (failures too, as
    /// `{"error": …}`); the exit code is the same as without it.
    #[arg(long, global = true)]
    json: bool,
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Create an agency's node directory: keys, tally.toml, and the export file for the operator.
    Init(node::InitArgs),
    /// The federation operator's tools.
    #[command(subcommand)]
    Federation(federation::FederationCommand),
    /// The node's KEM keys: list them, rotate one.
    #[command(subcommand)]
    Keys(keys::KeysCommand),
    /// Run the node until interrupted (Ctrl-C or SIGTERM).
    Serve {
        #[command(flatten)]
        node: NodeDir,
        /// Log format on standard error.
        #[arg(long, value_enum, default_value = "human")]
        log_format: LogFormat,
    },
    /// The node's agency, address, directory serial, log size, unfinished sends and peers.
    Status {
        #[command(flatten)]
        node: NodeDir,
        /// Wait up to this long (`10s`) for the node to answer, as after `tally serve &`.
        #[arg(long)]
        wait: Option<humantime::Duration>,
    },
    /// Offer again the sends a crash or a lost connection left without a receipt.
    Resume {
        #[command(flatten)]
        node: NodeDir,
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
        /// The send's idempotency key (1 to 64 of A-Z a-z 0-9 . _ : -); by
        /// default derived from the flow and the payload's digest, so that
        /// sending the same file again attaches to the first send.
        #[arg(long)]
        send_id: Option<SendId>,
        /// The file to send, or `-` for standard input.
        file: PathBuf,
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
    },
    /// Received packets.
    #[command(subcommand)]
    Inbox(InboxCommand),
    /// Packets as files: seal one without a running node, import one that came another way.
    #[command(subcommand)]
    Packet(packet::PacketCommand),
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
    },
    /// Reveal a packet's content to an auditor: writes its evidence of
    /// origin, its receipt and its commitment key, and for a packet this
    /// node received its plaintext (DESIGN.md, property 5).
    Reveal {
        #[command(flatten)]
        node: NodeDir,
        /// The packet id (or a unique prefix of it).
        packet: IdPrefix,
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
    /// Print a shell completion script (bash, zsh, fish, elvish, powershell).
    Completions {
        /// The shell.
        shell: clap_complete::Shell,
    },
    /// Print the manual page (roff), made from the same definitions as `--help`.
    Man,
}

fn main() -> ExitCode {
    // Nothing this process creates is readable by others: keys, the
    // database, blobs, exports, the API socket.
    rustix::process::umask(rustix::fs::Mode::from_raw_mode(0o077));
    let cli = Cli::parse();
    let json = cli.json;
    match run(cli) {
        Ok(()) => ExitCode::SUCCESS,
        Err(Failure { message, exit, answered }) => {
            eprintln!("error: {message}");
            if json && !answered {
                files::print_json(&serde_json::json!({ "error": { "message": message, "exit": exit as u8 } }));
            }
            ExitCode::from(exit as u8)
        }
    }
}

fn run(cli: Cli) -> Result<(), Failure> {
    let json = cli.json;
    match cli.command {
        Command::Init(args) => node::init(args, json),
        Command::Federation(f) => federation::run(f, json),
        Command::Keys(k) => keys::run(k, json),
        Command::Serve { node, log_format } => node::serve(&node.dir, log_format),
        Command::Status { node, wait } => node::status(&node, wait.map(Into::into), json),
        Command::Grant(g) => grant::run(g, json),
        Command::Resume { node } => node::resume(&node, json),
        Command::Sweep { node } => node::sweep(&node, json),
        Command::Send { node, flow, content_type, send_id, file } => {
            send::send(&node.dir, flow, content_type, send_id, &file, json)
        }
        Command::Request { node, flow, query } => send::request(&node.dir, flow, query, json),
        Command::Inbox(command) => packets::inbox(command, json),
        Command::Packet(command) => packet::run(command, json),
        Command::Receipts(command) => packets::receipts(command, json),
        Command::Reveal { node, packet, out, plaintext } => packets::reveal(node, packet, out, plaintext, json),
        Command::Verify { bundle: None, reveal: Some(reveal), plaintext: Some(plaintext), trust } => {
            verify::reveal(&reveal, &plaintext, &trust, json)
        }
        Command::Verify { bundle: Some(bundle), trust, .. } => verify::bundle(&bundle, &trust, json),
        Command::Verify { .. } => Err(usage("give a bundle file, or --reveal FILE --plaintext FILE")),
        Command::Log(command) => node::log(command, json),
        Command::Directory(command) => node::directory(command, json),
        Command::Audit { logs, earlier, trust, format, out } => {
            let format = if json { ReportFormat::Json } else { format };
            verify::audit(&logs, &earlier, &trust, format, out.as_deref())
        }
        Command::Completions { shell } => {
            clap_complete::generate(shell, &mut Cli::command(), "tally", &mut std::io::stdout());
            Ok(())
        }
        Command::Man => clap_mangen::Man::new(Cli::command())
            .render(&mut std::io::stdout())
            .map_err(|e| failure::failed(format!("standard output: {e}"))),
    }
}
