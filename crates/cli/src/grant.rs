//! `tally grant`: issue, delegate, show, import, list, revoke.

use std::path::PathBuf;

use clap::{Args, Subcommand, ValueEnum};
use tally_grant::{GrantDocument, QuotaDocument};
use tally_node::api::{Delivery, GrantIssue, RevokeReason, RevokeRequest};
use tally_wire::{AgencyId, DataCategory, Direction, GrantId, Purpose};

use crate::args::NodeDir;
use crate::failure::{Failure, failed, usage};
use crate::files::{call, print_json, read_file, read_text, unhex, write_file};

#[derive(Subcommand)]
pub(crate) enum GrantCommand {
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
    },
    /// Revoke a grant this node issued; writes the revocation file for the grantee.
    Revoke {
        #[command(flatten)]
        node: NodeDir,
        /// The grant id (or a unique prefix of it).
        grant: crate::args::IdPrefix,
        /// Why: unspecified, superseded, purpose-ended, key-compromise, legal-order, breach.
        #[arg(long, default_value = "unspecified")]
        reason: RevokeReason,
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

/// Which way data may flow under a grant.
#[derive(Clone, Copy, ValueEnum)]
pub(crate) enum DirectionArg {
    /// The issuer's side sends unasked.
    Push,
    /// The grantee asks.
    Pull,
    /// Both.
    Both,
}

impl From<DirectionArg> for Direction {
    fn from(d: DirectionArg) -> Self {
        match d {
            DirectionArg::Push => Self::Push,
            DirectionArg::Pull => Self::Pull,
            DirectionArg::Both => Self::Both,
        }
    }
}

#[derive(Args)]
pub(crate) struct IssueArgs {
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
    /// First invalid instant (RFC 3339), or a duration from now (`30days`);
    /// default 365 days for `issue`, the parent's end for `delegate`.
    #[arg(long)]
    valid_for: Option<String>,
    /// Which way data may flow.
    #[arg(long, value_enum, default_value = "both")]
    direction: DirectionArg,
    /// Require a post-quantum suite (X-Wing) for every packet under the grant:
    /// a recipient refuses a classical packet (SUITE_BELOW_GRANT_MINIMUM).
    /// A delegated grant requires it anyway when its parent does.
    #[arg(long)]
    post_quantum: bool,
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

/// The grant document the flags (or the document file) describe.
fn grant_document(args: &IssueArgs, valid_for: &str) -> Result<GrantDocument, Failure> {
    if let Some(file) = &args.file {
        return GrantDocument::from_toml(&read_text(file)?)
            .map_err(|e| usage(format!("{}: grant document: {e}", file.display())));
    }
    let grantee = args.grantee.clone().ok_or_else(|| usage("give --grantee (or --file with a grant document)"))?;
    if args.purpose.is_empty() || args.category.is_empty() {
        return Err(usage("give at least one --purpose and one --category"));
    }
    let now = std::time::SystemTime::now();
    let not_after = match humantime::parse_duration(valid_for) {
        Ok(d) => humantime::format_rfc3339_seconds(now + d).to_string(),
        Err(_) => valid_for.to_owned(),
    };
    Ok(GrantDocument {
        issuer: None,
        grantee: grantee.to_string(),
        senders: args.sender.iter().map(ToString::to_string).collect(),
        purposes: args.purpose.iter().map(ToString::to_string).collect(),
        categories: args.category.iter().map(ToString::to_string).collect(),
        not_before: humantime::format_rfc3339_seconds(now - std::time::Duration::from_secs(60)).to_string(),
        not_after,
        direction: args.direction.into(),
        // Without --post-quantum, a delegated grant keeps its parent's level (the node fills it in).
        min_suite_level: args.post_quantum.then(|| "post-quantum".into()),
        retention: args.retention.clone(),
        erase_on_revoke: args.erase_on_revoke,
        delegation_depth: args.delegation_depth,
        parent: args.parent.map(|p| p.to_hex()),
        quota: QuotaDocument { max_packets: args.max_packets, max_bytes: args.max_bytes, rate: None },
        legal_basis: args.legal_basis.clone(),
        note: String::new(),
        issued_at: None,
    })
}

pub(crate) fn run(command: GrantCommand, json: bool) -> Result<(), Failure> {
    match command {
        GrantCommand::Issue(args) | GrantCommand::Delegate(args) => {
            let valid_for = match (&args.valid_for, args.parent) {
                (Some(v), _) => v.clone(),
                (None, None) => "365days".to_owned(),
                // A delegated grant may be no wider than its parent: it ends when
                // the parent does unless told otherwise (a default measured from
                // now would end a few seconds after a parent issued just before).
                (None, Some(parent)) => {
                    let grants = call(&args.node.dir, |c| async move { c.grants().await })?;
                    grants.into_iter().find(|g| g.grant == parent).map(|g| g.not_after).ok_or_else(|| {
                        failed(format!("parent grant {parent} is not known to this node; import it first"))
                    })?
                }
            };
            let issue = GrantIssue { document: grant_document(&args, &valid_for)? };
            let issued = call(&args.node.dir, |c| async move { c.issue_grant(&issue).await })?;
            write_file(&args.out, &unhex(&issued.file)?)?;
            if json {
                print_json(&serde_json::json!({
                    "grant": issued.grant, "file": args.out, "delivered": issued.delivered,
                }));
            } else {
                println!("Issued grant {}; the grant file is {}.", issued.grant, args.out.display());
                print_deliveries(&issued.delivered, "tally grant import");
            }
        }
        GrantCommand::Show { node, file } => {
            let bytes = read_file(&file)?;
            let shown = call(&node.dir, |c| async move { c.show_grant(bytes).await })
                .map_err(|e| failed(format!("{}: {}", file.display(), e.message)))?;
            if json {
                print_json(&shown);
            } else {
                println!("# grant {} ({} in chain) — {}", shown.grant, shown.chain_depth, shown.verdict);
                println!("# state: {}", status_text(&shown.status));
                print!("{}", toml::to_string(&shown.document).map_err(|e| failed(e.to_string()))?);
            }
        }
        GrantCommand::Import { node, file } => {
            let bytes = read_file(&file)?;
            let kept = call(&node.dir, |c| async move { c.import_grant(bytes).await })?;
            if json {
                print_json(&kept);
            } else {
                println!("Kept grant {}.", kept.grant);
            }
        }
        GrantCommand::List { node } => {
            let grants = call(&node.dir, |c| async move { c.grants().await })?;
            if json {
                print_json(&grants);
                return Ok(());
            }
            if grants.is_empty() {
                println!("This node holds no grant (tally grant issue, tally grant import).");
            }
            for g in grants {
                let purposes: Vec<&str> = g.purposes.iter().map(|p| p.as_str()).collect();
                println!("{}  {} -> {}  {}", g.grant, g.issuer, g.grantee, purposes.join(","));
                println!("    {}; valid {} to {}", status_text(&g.status), g.not_before, g.not_after);
            }
        }
        GrantCommand::Revoke { node, grant, reason, erase, effective_at, out } => {
            let grant = crate::files::resolve_grant(&node.dir, &grant)?;
            let request = RevokeRequest { reason, erase, effective_at };
            let revoked = call(&node.dir, |c| async move { c.revoke(&grant, &request).await })?;
            write_file(&out, &unhex(&revoked.file)?)?;
            if json {
                print_json(&serde_json::json!({ "grant": grant, "file": out, "delivered": revoked.delivered }));
            } else {
                println!("Revoked grant {grant}; the revocation file is {}.", out.display());
                print_deliveries(&revoked.delivered, "tally grant import-revocation");
            }
        }
        GrantCommand::ImportRevocation { node, file } => {
            let bytes = read_file(&file)?;
            let kept = call(&node.dir, |c| async move { c.import_revocation(bytes).await })?;
            if json {
                print_json(&kept);
            } else if kept.new {
                println!("Kept the revocation.");
            } else {
                println!("This node held the revocation already.");
            }
        }
    }
    Ok(())
}

/// A grant's state in words: `revoked by X from T (reason, erased)`,
/// `active`, with its usage against each quota.
fn status_text(s: &tally_node::api::GrantStatus) -> String {
    let mut text = s.state.name().to_owned();
    if let Some(r) = &s.revocation {
        let erase = if r.erase { ", with erasure" } else { ", no erasure" };
        let when = if r.pending { "takes effect" } else { "from" };
        text.push_str(&format!(" (revocation by {} {when} {}, reason {}{erase})", r.by, r.effective_at, r.reason));
    }
    let u = &s.usage;
    let of = |n: u64, max: Option<u64>| max.map_or(format!("{n}"), |m| format!("{n} of {m}"));
    text.push_str(&format!("; used {} packets, {} bytes", of(u.packets, u.max_packets), of(u.bytes, u.max_bytes)));
    text
}

/// Reports, per agency, whether a grant or revocation reached it over the transport.
fn print_deliveries(delivered: &[Delivery], import: &str) {
    for d in delivered {
        match &d.error {
            None => println!("Handed to {} over the transport; it verified, kept and logged it.", d.agency),
            Some(e) => println!("Could not hand it to {} ({e}); give them the file ({import}).", d.agency),
        }
    }
}
