//! The `tally` command: run a node, drive it, run a federation, audit.
//!
//! Commands that act on a running node (`send`, `request`, `grant`,
//! `inbox`, `receipts`, `log`) talk to it over its control socket; the
//! federation, `init`, `verify` and `audit` commands work on files alone.

#![forbid(unsafe_code)]

use std::io::{IsTerminal, Read, Write};
use std::path::{Path, PathBuf};
use std::process::ExitCode;

use clap::{Args, Parser, Subcommand, ValueEnum};
use serde_json::Value;
use tally_audit as audit;
use tally_grant::{GrantDocument, QuotaDocument, VerifiedChain};
use tally_node::control::{ControlRequest, call};
use tally_node::{Federation, InitOptions, LogExport, NodeConfig, NodeError, VerifiedDirectory, init_agency};
use tally_wire::{AgencyId, ContentType, DataCategory, Direction, GrantId, IdentityPublicKey, PacketId, Purpose};

#[derive(Parser)]
#[command(name = "tally", version, about = "Purpose-bound, receipted data exchange between agencies")]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Args, Clone)]
struct NodeDir {
    /// The node directory (made by `tally init`).
    #[arg(long, env = "TALLY_DIR", default_value = ".")]
    dir: PathBuf,
}

/// The flow a send or a pull request is for.
#[derive(Args, Clone)]
struct FlowArgs {
    /// The other agency: the recipient of a send, the responder of a request.
    #[arg(long)]
    to: AgencyId,
    /// The grant id (hex).
    #[arg(long)]
    grant: GrantId,
    /// The purpose.
    #[arg(long)]
    purpose: Purpose,
    /// The data category.
    #[arg(long)]
    category: DataCategory,
}

#[derive(Args, Clone)]
struct Output {
    /// Print JSON instead of text.
    #[arg(long)]
    json: bool,
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
    Federation(FederationCommand),
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
    Grant(GrantCommand),
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

#[derive(Args, Clone)]
struct Trust {
    /// The signed federation directory.
    #[arg(long)]
    directory: PathBuf,
    /// The operator's public key (hex), or a file holding it.
    #[arg(long)]
    operator_key: String,
}

#[derive(Clone, Copy, ValueEnum)]
enum LogFormat {
    Human,
    Json,
}

#[derive(Clone, Copy, ValueEnum)]
enum ReportFormat {
    Text,
    Json,
    Html,
}

#[derive(Subcommand)]
enum FederationCommand {
    /// Create the operator's root key and empty registers.
    Init {
        /// The operator's directory.
        #[arg(long)]
        dir: PathBuf,
        /// The federation's name.
        #[arg(long)]
        name: String,
    },
    /// Add an agency from the export file its `tally init` wrote.
    AddAgency {
        #[arg(long)]
        dir: PathBuf,
        /// The agency's export file.
        export: PathBuf,
        /// Its roles: producer, consumer, auditor (comma-separated).
        #[arg(long, value_delimiter = ',', required = true)]
        roles: Vec<String>,
        /// Replace an agency that is a member already (its keys, roles, endpoint).
        #[arg(long)]
        replace: bool,
    },
    /// Register a data category with the member agency that controls it
    /// (only the controller may issue a root grant for it).
    AddCategory {
        #[arg(long)]
        dir: PathBuf,
        /// The category (`income`; it covers `income.annual` unless that is registered too).
        category: DataCategory,
        /// The agency that controls data of this category.
        #[arg(long)]
        controller: AgencyId,
        /// A description.
        #[arg(long, default_value = "")]
        description: String,
    },
    /// Register a purpose with its legal basis.
    AddPurpose {
        #[arg(long)]
        dir: PathBuf,
        /// The purpose (`social-security.eligibility`).
        purpose: Purpose,
        /// The legal basis.
        #[arg(long)]
        legal_basis: String,
        /// A description.
        #[arg(long, default_value = "")]
        description: String,
    },
    /// Sign the registers as the directory with the next serial.
    Publish {
        #[arg(long)]
        dir: PathBuf,
        /// Where to write the signed directory.
        #[arg(long)]
        out: PathBuf,
    },
}

#[derive(Subcommand)]
enum GrantCommand {
    /// Issue a grant (from a TOML document or flags); writes the grant file for the grantee.
    Issue(IssueArgs),
    /// Issue a delegated grant under one this node received (same flags, with --parent).
    Delegate(IssueArgs),
    /// Show a grant file, verified against the node's directory.
    Show {
        #[command(flatten)]
        node: NodeDir,
        /// The grant file.
        file: PathBuf,
        #[command(flatten)]
        output: Output,
    },
    /// Keep a grant file another agency issued.
    Import {
        #[command(flatten)]
        node: NodeDir,
        /// The grant file.
        file: PathBuf,
    },
    /// The grants the node holds.
    List {
        #[command(flatten)]
        node: NodeDir,
        #[command(flatten)]
        output: Output,
    },
    /// Revoke a grant this node issued; writes the revocation file for the grantee.
    Revoke {
        #[command(flatten)]
        node: NodeDir,
        /// The grant id.
        grant: GrantId,
        /// Why: unspecified, superseded, purpose-ended, key-compromise, legal-order, breach.
        #[arg(long, default_value = "unspecified")]
        reason: String,
        /// Oblige the grantee to erase what it received.
        #[arg(long)]
        erase: bool,
        /// When it takes effect (RFC 3339, such as 2027-01-01T00:00:00Z); now if absent.
        #[arg(long)]
        effective_at: Option<String>,
        /// Where to write the revocation file.
        #[arg(long)]
        out: PathBuf,
    },
    /// Keep a revocation file another agency issued (erasing if it obliges erasure).
    ImportRevocation {
        #[command(flatten)]
        node: NodeDir,
        /// The revocation file.
        file: PathBuf,
    },
}

#[derive(Args)]
struct IssueArgs {
    #[command(flatten)]
    node: NodeDir,
    /// A grant document (TOML, spec/grants.md); the flags below are ignored with it.
    #[arg(long)]
    file: Option<PathBuf>,
    /// Who may receive.
    #[arg(long)]
    grantee: Option<AgencyId>,
    /// Who may send (repeat); default the issuer.
    #[arg(long)]
    sender: Vec<AgencyId>,
    /// Permitted purposes (repeat).
    #[arg(long)]
    purpose: Vec<Purpose>,
    /// Permitted data categories (repeat).
    #[arg(long)]
    category: Vec<DataCategory>,
    /// First invalid instant (RFC 3339), or a duration from now (`30days`).
    #[arg(long, default_value = "365days")]
    valid_for: String,
    /// push, pull or both.
    #[arg(long, default_value = "both")]
    direction: String,
    /// How long the recipient may keep the data (`90days`).
    #[arg(long, default_value = "90days")]
    retention: String,
    /// Oblige erasure when revoked.
    #[arg(long)]
    erase_on_revoke: bool,
    /// Most packets.
    #[arg(long)]
    max_packets: Option<u64>,
    /// Most payload bytes.
    #[arg(long)]
    max_bytes: Option<u64>,
    /// Further delegation levels allowed.
    #[arg(long, default_value_t = 0)]
    delegation_depth: u8,
    /// The parent grant (for `delegate`).
    #[arg(long)]
    parent: Option<GrantId>,
    /// The legal basis.
    #[arg(long, default_value = "")]
    legal_basis: String,
    /// Where to write the grant file.
    #[arg(long)]
    out: PathBuf,
}

#[derive(Subcommand)]
enum InboxCommand {
    /// List received packets.
    List {
        #[command(flatten)]
        node: NodeDir,
        #[command(flatten)]
        output: Output,
    },
    /// Write a received packet's plaintext to a file.
    Export {
        #[command(flatten)]
        node: NodeDir,
        /// The packet id.
        packet: PacketId,
        /// Where to write it.
        #[arg(long)]
        out: PathBuf,
    },
}

#[derive(Subcommand)]
enum ReceiptsCommand {
    /// List the receipts in the log.
    List {
        #[command(flatten)]
        node: NodeDir,
        #[command(flatten)]
        output: Output,
    },
    /// Show the receipts (or rejections) the log holds for one packet or pull request.
    Show {
        #[command(flatten)]
        node: NodeDir,
        /// The packet (or pull request) id.
        packet: PacketId,
        #[command(flatten)]
        output: Output,
    },
    /// Write the receipt bundle of a packet this node received (for `tally verify`).
    Export {
        #[command(flatten)]
        node: NodeDir,
        /// The packet id.
        packet: PacketId,
        /// Write the bundle (receipt, inclusion proof, checkpoint).
        #[arg(long, required = true)]
        bundle: bool,
        /// Where to write it.
        #[arg(long)]
        out: PathBuf,
    },
}

#[derive(Subcommand)]
enum LogCommand {
    /// Sign a checkpoint of the log now and print it.
    Checkpoint {
        #[command(flatten)]
        node: NodeDir,
    },
    /// Export the whole log with a checkpoint, for an auditor.
    Export {
        #[command(flatten)]
        node: NodeDir,
        /// Where to write it.
        #[arg(long)]
        out: PathBuf,
    },
    /// Fetch another agency's whole log over the transport, for an audit (needs the auditor role).
    Fetch {
        #[command(flatten)]
        node: NodeDir,
        /// The agency whose log to fetch.
        #[arg(long)]
        from: AgencyId,
        /// Where to write it (a log export, as `tally log export` writes).
        #[arg(long)]
        out: PathBuf,
    },
}

#[derive(Subcommand)]
enum DirectoryCommand {
    /// Fetch the directory from another agency over the transport, if it has a newer one.
    Fetch {
        #[command(flatten)]
        node: NodeDir,
        /// The agency to ask.
        #[arg(long)]
        from: AgencyId,
    },
}

/// A failure: the message, and the exit code.
struct Failure(String, u8);

impl From<NodeError> for Failure {
    fn from(e: NodeError) -> Self {
        Self(e.to_string(), 1)
    }
}

fn usage(message: impl Into<String>) -> Failure {
    Failure(message.into(), 2)
}

fn main() -> ExitCode {
    // Nothing this process creates is readable by others: keys, the
    // database, blobs, exports, the control socket.
    rustix::process::umask(rustix::fs::Mode::from_raw_mode(0o077));
    let cli = Cli::parse();
    match run(cli) {
        Ok(()) => ExitCode::SUCCESS,
        Err(Failure(message, code)) => {
            eprintln!("error: {message}");
            ExitCode::from(code)
        }
    }
}

fn runtime() -> Result<tokio::runtime::Runtime, Failure> {
    tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .map_err(|e| Failure(format!("cannot start: {e}"), 1))
}

fn absolute(path: &Path) -> Result<PathBuf, Failure> {
    std::path::absolute(path).map_err(|e| usage(format!("{}: {e}", path.display())))
}

fn read_file(path: &Path) -> Result<Vec<u8>, Failure> {
    std::fs::read(path).map_err(|e| Failure(format!("{}: {e}", path.display()), 1))
}

/// Writes a file readable by its owner only (grants, receipts and logs are
/// the agency's business until it hands them over).
fn write_file(path: &Path, bytes: &[u8]) -> Result<(), Failure> {
    let mut options = std::fs::OpenOptions::new();
    options.write(true).create(true).truncate(true);
    std::os::unix::fs::OpenOptionsExt::mode(&mut options, 0o600);
    options.open(path).and_then(|mut f| f.write_all(bytes)).map_err(|e| Failure(format!("{}: {e}", path.display()), 1))
}

fn control(dir: &Path, request: ControlRequest) -> Result<Value, Failure> {
    Ok(runtime()?.block_on(call(dir, &request, |_, _| {}))?)
}

fn print_json(value: &Value) {
    println!("{}", serde_json::to_string_pretty(value).unwrap_or_default());
}

fn operator_key(text: &str) -> Result<IdentityPublicKey, Failure> {
    let text = if Path::new(text).is_file() {
        String::from_utf8_lossy(&read_file(Path::new(text))?).into_owned()
    } else {
        text.to_owned()
    };
    text.trim().parse().map_err(|e| usage(format!("--operator-key: {e}; give the hex key or the operator.pub file")))
}

fn load_directory(trust: &Trust) -> Result<VerifiedDirectory, Failure> {
    Ok(tally_node::load_directory(&trust.directory, &operator_key(&trust.operator_key)?)?)
}

fn run(cli: Cli) -> Result<(), Failure> {
    match cli.command {
        Command::Init { agency, dir, name, listen, endpoint, operator_key, directory } => {
            let endpoint =
                endpoint.map(tally_wire::Endpoint::new).transpose().map_err(|e| usage(format!("--endpoint: {e}")))?;
            let name = name.unwrap_or_else(|| agency.to_string());
            let export = init_agency(&dir, &InitOptions { agency, name, listen, endpoint, operator_key, directory })?;
            println!("Created the node directory {}.", dir.display());
            println!("Hand {} to the federation operator (tally federation add-agency).", export.display());
            if operator_key.is_none() {
                println!(
                    "Then set operator_key in {} before `tally serve`.",
                    dir.join(tally_node::CONFIG_FILE).display()
                );
            }
            Ok(())
        }
        Command::Federation(f) => federation(f),
        Command::Serve { node, log_format } => serve(&node.dir, log_format),
        Command::Status { node, output } => {
            let v = control(&node.dir, ControlRequest::Status)?;
            if output.json {
                print_json(&v);
            } else {
                println!(
                    "{} listening on {}, directory serial {}, {} log entries, {} unfinished sends",
                    v["agency"].as_str().unwrap_or("?"),
                    v["listen"].as_str().unwrap_or("?"),
                    v["directory_serial"],
                    v["log_size"],
                    v["unfinished_sends"]
                );
            }
            Ok(())
        }
        Command::Grant(g) => grant(g),
        Command::Resume { node, output } => {
            let v = control(&node.dir, ControlRequest::Resume)?;
            if output.json {
                print_json(&v);
                return Ok(());
            }
            let results = v.as_array().cloned().unwrap_or_default();
            println!("{} unfinished send(s)", results.len());
            for r in results {
                match r["error"].as_str() {
                    Some(e) => println!("  {}: {e}", r["packet"].as_str().unwrap_or("?")),
                    None => println!(
                        "  {}: {}",
                        r["packet"].as_str().unwrap_or("?"),
                        r["outcome"]["result"].as_str().unwrap_or("?")
                    ),
                }
            }
            Ok(())
        }
        Command::Sweep { node } => {
            let v = control(&node.dir, ControlRequest::Sweep)?;
            println!("{} packet(s) erased", v["erased"]);
            Ok(())
        }
        Command::Send { node, flow, content_type, file, output } => {
            send(&node.dir, flow, content_type, &file, output.json)
        }
        Command::Request { node, flow: FlowArgs { to, grant, purpose, category }, query, output } => {
            let v = control(&node.dir, ControlRequest::Request { to: to.clone(), grant, purpose, category, query })?;
            if output.json {
                print_json(&v);
                return Ok(());
            }
            if v["result"] == "refused" {
                return Err(Failure(
                    format!("{to} refused the request: {}", v["receipt"]["outcome"].as_str().unwrap_or("?")),
                    3,
                ));
            }
            let packets = v["packets"].as_array().cloned().unwrap_or_default();
            println!("{to} answered with {} packet(s):", packets.len());
            for p in packets {
                println!(
                    "  {}  {}  ({})",
                    p["packet"].as_str().unwrap_or("?"),
                    p["outcome"].as_str().unwrap_or("?"),
                    p["purpose"].as_str().unwrap_or("?")
                );
            }
            Ok(())
        }
        Command::Inbox(InboxCommand::List { node, output }) => {
            let v = control(&node.dir, ControlRequest::InboxList)?;
            if output.json {
                print_json(&v);
                return Ok(());
            }
            for p in v.as_array().cloned().unwrap_or_default() {
                println!(
                    "{}  from {:<18} {:>12} B  {}  {}{}",
                    p["packet"].as_str().unwrap_or("?"),
                    p["sender"].as_str().unwrap_or("?"),
                    p["size"],
                    p["purpose"].as_str().unwrap_or("?"),
                    p["received_at"].as_str().unwrap_or("?"),
                    p["erased_at"].as_str().map(|t| format!("  erased {t}")).unwrap_or_default()
                );
            }
            Ok(())
        }
        Command::Inbox(InboxCommand::Export { node, packet, out }) => {
            let out = absolute(&out)?;
            let v = control(&node.dir, ControlRequest::InboxExport { packet, out: out.clone() })?;
            println!("Wrote {} bytes of {packet} to {}.", v["bytes"], out.display());
            Ok(())
        }
        Command::Receipts(ReceiptsCommand::List { node, output }) => {
            let v = control(&node.dir, ControlRequest::ReceiptsList)?;
            if output.json {
                print_json(&v);
                return Ok(());
            }
            for r in v.as_array().cloned().unwrap_or_default() {
                println!(
                    "#{:<5} {:<8} {}  {} -> {}  {}  {}",
                    r["index"],
                    r["side"].as_str().unwrap_or("?"),
                    r["packet"].as_str().unwrap_or("?"),
                    r["sender"].as_str().unwrap_or("?"),
                    r["recipient"].as_str().unwrap_or("?"),
                    r["purpose"].as_str().unwrap_or("?"),
                    r["outcome"].as_str().unwrap_or("?")
                );
            }
            Ok(())
        }
        Command::Receipts(ReceiptsCommand::Show { node, packet, output }) => {
            let v = control(&node.dir, ControlRequest::ReceiptsList)?;
            let id = packet.to_string();
            let found: Vec<Value> =
                v.as_array().into_iter().flatten().filter(|r| r["packet"].as_str() == Some(&id)).cloned().collect();
            if found.is_empty() {
                return Err(Failure(
                    format!("no receipt for {packet} in this node's log (see tally receipts list)"),
                    1,
                ));
            }
            if output.json {
                print_json(&Value::Array(found));
                return Ok(());
            }
            for r in found {
                let field = |k: &str| r[k].as_str().unwrap_or("?").to_owned();
                let side = match r["side"].as_str() {
                    Some("issued") => "signed by this node (it received the packet)",
                    _ => "signed by the recipient (this node sent the packet)",
                };
                println!("receipt, log entry #{}, {side}", r["index"]);
                println!("  packet    {}", field("packet"));
                println!("  from      {}", field("sender"));
                println!("  to        {}", field("recipient"));
                println!("  grant     {}", field("grant"));
                println!("  purpose   {}", field("purpose"));
                println!("  outcome   {}", field("outcome"));
                println!("  at        {}", field("at"));
            }
            Ok(())
        }
        Command::Receipts(ReceiptsCommand::Export { node, packet, bundle: _, out }) => {
            let v = control(&node.dir, ControlRequest::ReceiptBundle { packet })?;
            write_file(&out, v["bundle"].as_str().unwrap_or_default().as_bytes())?;
            println!("Wrote the receipt bundle of {packet} to {}; check it with `tally verify`.", out.display());
            Ok(())
        }
        Command::Reveal { node, packet, out, plaintext } => {
            let plaintext = plaintext.as_deref().map(absolute).transpose()?;
            let v = control(&node.dir, ControlRequest::Reveal { packet, plaintext: plaintext.clone() })?;
            write_file(&out, format!("{}\n", v["reveal"].as_str().unwrap_or_default()).as_bytes())?;
            println!("Wrote the reveal of {packet} to {}.", out.display());
            match (v["plaintext_bytes"].as_u64(), &plaintext) {
                (Some(n), Some(p)) => println!("Wrote its plaintext ({n} bytes) to {}.", p.display()),
                (None, Some(_)) => println!(
                    "This node sent the packet and keeps no copy of it: give the auditor the file that was sent."
                ),
                _ => {}
            }
            println!("An auditor checks them with `tally verify --reveal {} --plaintext FILE`.", out.display());
            Ok(())
        }
        Command::Verify { bundle: None, reveal: Some(reveal), plaintext: Some(plaintext), trust, output } => {
            verify_reveal(&reveal, &plaintext, &trust, output.json)
        }
        Command::Verify { bundle: Some(bundle), trust, output, .. } => {
            let directory = load_directory(&trust)?;
            let text = String::from_utf8(read_file(&bundle)?)
                .map_err(|_| Failure(format!("{}: not UTF-8 text", bundle.display()), 1))?;
            let parsed =
                tally_receipt::bundle_from_text(&text).map_err(|e| Failure(format!("{}: {e}", bundle.display()), 1))?;
            let verified = tally_receipt::verify_bundle(&parsed, |a| directory.agency(a).map(|r| r.identity_key))
                .map_err(|e| Failure(format!("{}: does not verify: {e}", bundle.display()), 4))?;
            let r = &verified.receipt;
            if output.json {
                print_json(&serde_json::json!({
                    "verified": true, "packet": r.packet_id, "sender": r.sender, "recipient": r.recipient,
                    "grant": r.grant, "purpose": r.purpose, "outcome": tally_node::outcome_text(&r.outcome),
                    "at": tally_grant::rfc3339(r.received_at), "log_size": verified.checkpoint.size,
                }));
            } else {
                println!(
                    "Verified: {} received packet {} from {} for {} ({}) at {}, entry {} of its log of {} (checkpoint signed by {}).",
                    r.recipient,
                    r.packet_id,
                    r.sender,
                    r.purpose,
                    tally_node::outcome_text(&r.outcome),
                    tally_grant::rfc3339(r.received_at),
                    parsed.index,
                    verified.checkpoint.size,
                    r.recipient
                );
            }
            Ok(())
        }
        Command::Verify { .. } => Err(usage("give a bundle file, or --reveal FILE --plaintext FILE")),
        Command::Log(LogCommand::Checkpoint { node }) => {
            let v = control(&node.dir, ControlRequest::Checkpoint)?;
            print!("{}", v["checkpoint"].as_str().unwrap_or_default());
            Ok(())
        }
        Command::Log(LogCommand::Export { node, out }) => {
            let v = control(&node.dir, ControlRequest::LogExport)?;
            let text = serde_json::to_string_pretty(&v).map_err(|e| Failure(e.to_string(), 1))?;
            write_file(&out, text.as_bytes())?;
            println!(
                "Wrote {} log entries and a signed checkpoint to {}.",
                v["entries"].as_array().map_or(0, Vec::len),
                out.display()
            );
            Ok(())
        }
        Command::Log(LogCommand::Fetch { node, from, out }) => {
            let v = control(&node.dir, ControlRequest::LogFetch { from: from.clone() })?;
            let text = serde_json::to_string_pretty(&v).map_err(|e| Failure(e.to_string(), 1))?;
            write_file(&out, text.as_bytes())?;
            println!(
                "Fetched {} entries of {from}'s log and its signed checkpoint into {} (tally audit checks them).",
                v["entries"].as_array().map_or(0, Vec::len),
                out.display()
            );
            Ok(())
        }
        Command::Directory(DirectoryCommand::Fetch { node, from }) => {
            let v = control(&node.dir, ControlRequest::DirectoryFetch { from: from.clone() })?;
            match v["serial"].as_u64() {
                Some(serial) => println!("Fetched directory serial {serial} from {from}; the node uses it now."),
                None => println!("{from} has no newer directory than this node's."),
            }
            Ok(())
        }
        Command::Audit { logs, earlier, trust, format, out } => {
            let directory = load_directory(&trust)?;
            let exports = logs
                .iter()
                .map(|p| {
                    serde_json::from_slice::<LogExport>(&read_file(p)?)
                        .map_err(|e| Failure(format!("{}: not a log export: {e}", p.display()), 1))
                })
                .collect::<Result<Vec<_>, _>>()?;
            let earlier = earlier
                .iter()
                .map(|p| {
                    String::from_utf8(read_file(p)?).map_err(|_| Failure(format!("{}: not UTF-8", p.display()), 1))
                })
                .collect::<Result<Vec<_>, _>>()?;
            let report = audit::audit(&directory, &exports, &earlier);
            let text = match format {
                ReportFormat::Text => audit::render_text(&report),
                ReportFormat::Json => {
                    serde_json::to_string_pretty(&report).map_err(|e| Failure(e.to_string(), 1))? + "\n"
                }
                ReportFormat::Html => audit::render_html(&report),
            };
            match out {
                Some(path) => write_file(&path, text.as_bytes())?,
                None => print!("{text}"),
            }
            if report.findings.is_empty() {
                Ok(())
            } else {
                Err(Failure(format!("the audit found {} problem(s)", report.findings.len()), 5))
            }
        }
    }
}

/// `tally verify --reveal`: the plaintext is what the sender signed and the recipient receipted.
fn verify_reveal(reveal: &Path, plaintext: &Path, trust: &Trust, json: bool) -> Result<(), Failure> {
    let directory = load_directory(trust)?;
    let text = String::from_utf8(read_file(reveal)?)
        .map_err(|_| Failure(format!("{}: not a reveal file (hex text)", reveal.display()), 1))?;
    let bytes = tally_node::hex::decode(text.trim())
        .ok_or_else(|| Failure(format!("{}: not a reveal file (hex text)", reveal.display()), 1))?;
    let parsed = tally_wire::Encoded::<tally_wire::Reveal>::decode(&bytes)
        .map_err(|e| Failure(format!("{}: not a reveal: {e}", reveal.display()), 1))?;
    let value = parsed.value();
    let header = value.evidence.header.value();
    let key_of = |agency: &AgencyId| {
        let record = directory
            .agency(agency)
            .ok_or_else(|| Failure(format!("{agency} is not in the directory: the reveal cannot be checked"), 4))?;
        tally_envelope::IdentityVerifier::new(&record.identity_key).map_err(|e| Failure(e.to_string(), 4))
    };
    let (sender, recipient) = (key_of(&header.sender)?, key_of(&header.recipient)?);
    let file = std::fs::File::open(plaintext).map_err(|e| Failure(format!("{}: {e}", plaintext.display()), 1))?;
    let revealed = tally_envelope::verify_revealed(value, &sender, &recipient, std::io::BufReader::new(file))
        .map_err(|e| Failure(format!("{} with {}: does not verify: {e}", reveal.display(), plaintext.display()), 4))?;
    let h = &revealed.header;
    if json {
        print_json(&serde_json::json!({
            "verified": true, "packet": h.packet_id, "sender": h.sender, "recipient": h.recipient,
            "grant": h.grant, "purpose": h.purpose, "category": h.category, "bytes": h.payload_len,
            "content_commitment": revealed.digests.content_commitment,
        }));
    } else {
        println!(
            "Proven: {} sent, and {} received and receipted, exactly this content ({} bytes) as packet {} under grant {} for {} ({}).",
            h.sender, h.recipient, h.payload_len, h.packet_id, h.grant, h.purpose, h.category
        );
    }
    Ok(())
}

fn federation(command: FederationCommand) -> Result<(), Failure> {
    match command {
        FederationCommand::Init { dir, name } => {
            let key = Federation::init(&dir, &name)?;
            println!("Created federation `{name}` in {}.", dir.display());
            println!("Operator public key (agencies put it in tally.toml as operator_key): {key}");
        }
        FederationCommand::AddAgency { dir, export, roles, replace } => {
            let (id, changes) = Federation::add_agency(&dir, &export, &roles, replace)?;
            if replace && !changes.is_empty() {
                println!("Replaced agency `{id}`: {}. Publish a new directory to make it known.", changes.join("; "));
            } else {
                println!("Added agency `{id}` ({}). Publish a new directory to make it known.", roles.join(", "));
            }
        }
        FederationCommand::AddCategory { dir, category, controller, description } => {
            Federation::add_category(&dir, &category, &controller, &description)?;
            println!(
                "Registered category `{category}`, controlled by `{controller}`. Publish a new directory to make it known."
            );
        }
        FederationCommand::AddPurpose { dir, purpose, legal_basis, description } => {
            Federation::add_purpose(&dir, &purpose, &legal_basis, &description)?;
            println!("Registered purpose `{purpose}`. Publish a new directory to make it known.");
        }
        FederationCommand::Publish { dir, out } => {
            let serial = Federation::publish(&dir, &out)?;
            println!("Published directory serial {serial} to {}.", out.display());
        }
    }
    Ok(())
}

fn grant_document(args: &IssueArgs) -> Result<String, Failure> {
    if let Some(file) = &args.file {
        return String::from_utf8(read_file(file)?).map_err(|_| Failure(format!("{}: not UTF-8", file.display()), 1));
    }
    let grantee = args.grantee.clone().ok_or_else(|| usage("give --grantee (or --file with a grant document)"))?;
    if args.purpose.is_empty() || args.category.is_empty() {
        return Err(usage("give at least one --purpose and one --category"));
    }
    let now = std::time::SystemTime::now();
    let not_after = match humantime::parse_duration(&args.valid_for) {
        Ok(d) => humantime::format_rfc3339_seconds(now + d).to_string(),
        Err(_) => args.valid_for.clone(),
    };
    let direction: Direction = serde_json::from_value(Value::String(args.direction.clone()))
        .map_err(|_| usage(format!("--direction `{}`: use push, pull or both", args.direction)))?;
    let document = GrantDocument {
        issuer: None,
        grantee: grantee.to_string(),
        senders: args.sender.iter().map(ToString::to_string).collect(),
        purposes: args.purpose.iter().map(ToString::to_string).collect(),
        categories: args.category.iter().map(ToString::to_string).collect(),
        not_before: humantime::format_rfc3339_seconds(now - std::time::Duration::from_secs(60)).to_string(),
        not_after,
        direction,
        retention: args.retention.clone(),
        erase_on_revoke: args.erase_on_revoke,
        delegation_depth: args.delegation_depth,
        parent: args.parent.map(|p| p.to_hex()),
        quota: QuotaDocument { max_packets: args.max_packets, max_bytes: args.max_bytes, rate: None },
        legal_basis: args.legal_basis.clone(),
        note: String::new(),
        issued_at: None,
    };
    toml::to_string(&document).map_err(|e| Failure(e.to_string(), 1))
}

fn grant(command: GrantCommand) -> Result<(), Failure> {
    match command {
        GrantCommand::Issue(args) | GrantCommand::Delegate(args) => {
            let document = grant_document(&args)?;
            let v = control(&args.node.dir, ControlRequest::GrantIssue { document })?;
            let bytes = hex_decode(v["file"].as_str().unwrap_or_default())?;
            write_file(&args.out, &bytes)?;
            println!("Issued grant {}; the grant file is {}.", v["grant"].as_str().unwrap_or("?"), args.out.display());
            print_deliveries(&v["delivered"], "tally grant import");
        }
        GrantCommand::Show { node, file, output } => {
            let config = NodeConfig::load(&node.dir)?;
            let key = config.operator_key.ok_or_else(|| usage("operator_key is not set in tally.toml"))?;
            let directory = tally_node::load_directory(&node.dir.join(&config.directory), &key)?;
            let chain = tally_wire::decode_grant_chain(&read_file(&file)?)
                .map_err(|e| Failure(format!("{}: not a grant file: {e}", file.display()), 1))?;
            let verdict = match VerifiedChain::verify(&chain, &directory) {
                Ok(_) => "verified: every signature and link checks against the directory".to_owned(),
                Err(d) => format!("DOES NOT VERIFY: {d}"),
            };
            let leaf = chain.first().ok_or_else(|| Failure(format!("{}: an empty grant chain", file.display()), 1))?;
            let doc = GrantDocument::from_grant(leaf.unverified());
            if output.json {
                print_json(
                    &serde_json::json!({"grant": tally_grant::grant_id(leaf), "chain_depth": chain.len(), "verdict": verdict, "document": doc}),
                );
            } else {
                println!("# grant {} ({} in chain) — {verdict}", tally_grant::grant_id(leaf), chain.len());
                print!("{}", toml::to_string(&doc).map_err(|e| Failure(e.to_string(), 1))?);
            }
        }
        GrantCommand::Import { node, file } => {
            let v =
                control(&node.dir, ControlRequest::GrantImport { chain: tally_node::hex::encode(&read_file(&file)?) })?;
            println!("Kept grant {}.", v["grant"].as_str().unwrap_or("?"));
        }
        GrantCommand::List { node, output } => {
            let v = control(&node.dir, ControlRequest::GrantList)?;
            if output.json {
                print_json(&v);
                return Ok(());
            }
            for g in v.as_array().cloned().unwrap_or_default() {
                println!(
                    "{}  {} -> {}  {}  until {}",
                    g["grant"].as_str().unwrap_or("?"),
                    g["issuer"].as_str().unwrap_or("?"),
                    g["grantee"].as_str().unwrap_or("?"),
                    g["purposes"],
                    g["not_after"].as_str().unwrap_or("?")
                );
            }
        }
        GrantCommand::Revoke { node, grant, reason, erase, effective_at, out } => {
            let v = control(&node.dir, ControlRequest::GrantRevoke { grant, reason, erase, effective_at })?;
            write_file(&out, &hex_decode(v["file"].as_str().unwrap_or_default())?)?;
            println!("Revoked grant {grant}; the revocation file is {}.", out.display());
            print_deliveries(&v["delivered"], "tally grant import-revocation");
        }
        GrantCommand::ImportRevocation { node, file } => {
            control(
                &node.dir,
                ControlRequest::RevocationImport { revocation: tally_node::hex::encode(&read_file(&file)?) },
            )?;
            println!("Kept the revocation.");
        }
    }
    Ok(())
}

/// Reports, per agency, whether a grant or revocation reached it over the transport.
fn print_deliveries(delivered: &Value, import: &str) {
    for d in delivered.as_array().into_iter().flatten() {
        let agency = d["agency"].as_str().unwrap_or("?");
        match d["error"].as_str() {
            None => println!("Handed to {agency} over the transport; it verified, kept and logged it."),
            Some(e) => println!("Could not hand it to {agency} ({e}); give them the file ({import})."),
        }
    }
}

fn hex_decode(text: &str) -> Result<Vec<u8>, Failure> {
    tally_node::hex::decode(text).ok_or_else(|| Failure("the node answered with malformed hex".into(), 1))
}

fn send(dir: &Path, flow: FlowArgs, content_type: ContentType, file: &Path, json: bool) -> Result<(), Failure> {
    let FlowArgs { to, grant, purpose, category } = flow;
    // Standard input is spooled to a file in the node directory first: the node needs the length up front.
    let spool = if file == Path::new("-") {
        let spool_dir = dir.join("spool");
        std::fs::create_dir_all(&spool_dir).map_err(|e| Failure(format!("{}: {e}", spool_dir.display()), 1))?;
        let path = spool_dir.join(format!("stdin-{}", std::process::id()));
        let mut out = std::fs::File::create(&path).map_err(|e| Failure(format!("{}: {e}", path.display()), 1))?;
        let mut input = std::io::stdin().lock();
        let mut buf = vec![0u8; 1 << 16];
        loop {
            let n = input.read(&mut buf).map_err(|e| Failure(format!("standard input: {e}"), 1))?;
            if n == 0 {
                break;
            }
            out.write_all(&buf[..n]).map_err(|e| Failure(format!("{}: {e}", path.display()), 1))?;
        }
        Some(path)
    } else {
        None
    };
    let path = absolute(spool.as_deref().unwrap_or(file))?;
    if !path.is_file() {
        return Err(usage(format!("{}: no such file", file.display())));
    }
    let total = std::fs::metadata(&path).map(|m| m.len()).unwrap_or(0);
    let bar = (std::io::stderr().is_terminal() && total >= 8 << 20).then(|| {
        let bar = indicatif::ProgressBar::new(total);
        bar.set_style(
            indicatif::ProgressStyle::with_template("{bar:40} {bytes}/{total_bytes} {bytes_per_sec} ETA {eta}")
                .unwrap_or_else(|_| indicatif::ProgressStyle::default_bar()),
        );
        bar
    });
    let request = ControlRequest::Send { to: to.clone(), grant, purpose, category, content_type, path };
    let result = runtime()?.block_on(call(dir, &request, |done, _| {
        if let Some(bar) = &bar {
            bar.set_position(done);
        }
    }));
    if let Some(bar) = &bar {
        bar.finish_and_clear();
    }
    if let Some(spool) = spool {
        let _ = std::fs::remove_file(spool);
    }
    let v = result?;
    if json {
        print_json(&v);
    }
    let r = &v["receipt"];
    if v["result"] == "delivered" {
        if !json {
            println!(
                "Delivered {} to {to} ({} bytes); receipt signed by {} at {}, logged.",
                r["packet"].as_str().unwrap_or("?"),
                total,
                r["recipient"].as_str().unwrap_or("?"),
                r["at"].as_str().unwrap_or("?")
            );
        }
        return Ok(());
    }
    let outcome = r["outcome"].as_str().unwrap_or("?");
    Err(Failure(
        format!(
            "{to} refused {}: {outcome}; its signed rejection is in the log. Check the grant (tally grant list) and the purpose and category against it.",
            r["packet"].as_str().unwrap_or("?")
        ),
        3,
    ))
}

fn serve(dir: &Path, format: LogFormat) -> Result<(), Failure> {
    let filter = tracing_subscriber::EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info"));
    let builder = tracing_subscriber::fmt().with_env_filter(filter).with_writer(std::io::stderr);
    match format {
        LogFormat::Human => builder.init(),
        LogFormat::Json => builder.json().init(),
    }
    runtime()?.block_on(async {
        let stop = async {
            let mut term = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()).ok();
            tokio::select! {
                _ = tokio::signal::ctrl_c() => {}
                _ = async { match term.as_mut() { Some(t) => { t.recv().await; } None => std::future::pending().await } } => {}
            }
        };
        tally_node::serve(dir, stop, |node| {
            if let Ok(addr) = node.local_addr() {
                println!("{} serving on {addr} (control socket {})", node.agency(), dir.join(tally_node::control::SOCKET_FILE).display());
            }
        })
        .await
    })?;
    Ok(())
}
