//! The commands about the node itself: `init`, `serve`, `status`,
//! `resume`, `sweep`, `log` and `directory`.

use std::path::{Path, PathBuf};

use clap::Subcommand;
use tally_node::api::SendResult;
use tally_node::{InitOptions, init_agency};
use tally_wire::{AgencyId, IdentityPublicKey};

use crate::args::{LogFormat, NodeDir};
use crate::failure::{Failure, failed, usage};
use crate::files::{call, print_json, runtime, write_file};

#[derive(Subcommand)]
pub(crate) enum LogCommand {
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
    /// Follow another agency's log over the transport (needs the auditor role): fetch only the
    /// entries added since the checkpoint this node last verified, check them and keep them.
    Follow {
        #[command(flatten)]
        node: NodeDir,
        /// The agency whose log to follow.
        #[arg(long)]
        from: AgencyId,
    },
    /// Follow another agency's log (as `tally log follow`) and write all of it that this node
    /// has verified, for an audit (needs the auditor role).
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
pub(crate) enum DirectoryCommand {
    /// Show the directory the node uses (verified against its operator_key): serial, date,
    /// agencies with roles, endpoints and key fingerprints, purposes with their legal basis.
    Show {
        #[command(flatten)]
        node: NodeDir,
    },
    /// Fetch the directory from another agency over the transport, if it has a newer one.
    Fetch {
        #[command(flatten)]
        node: NodeDir,
        /// The agency to ask.
        #[arg(long)]
        from: AgencyId,
    },
}

/// `tally init`'s arguments.
#[derive(clap::Args)]
pub(crate) struct InitArgs {
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
    /// An endpoint peers dial (host:port); give one per replica, in the
    /// order senders should try them. Defaults to the listen address.
    #[arg(long = "endpoint", value_name = "HOST:PORT")]
    endpoints: Vec<tally_wire::Endpoint>,
    /// The operator's public key (hex), from `operator.pub`.
    #[arg(long)]
    operator_key: Option<IdentityPublicKey>,
    /// The directory file path, relative to the node directory.
    #[arg(long, default_value = "directory.tally")]
    directory: PathBuf,
    /// Make no X-Wing (post-quantum) KEM key, only the X25519 one: senders
    /// then seal to this agency with a classical suite, and grants that
    /// require post-quantum cannot send to it.
    #[arg(long)]
    classical_only: bool,
}

pub(crate) fn init(args: InitArgs, json: bool) -> Result<(), Failure> {
    let InitArgs { agency, dir, name, listen, endpoints, operator_key, directory, classical_only } = args;
    let dir = dir.as_path();
    let name = name.unwrap_or_else(|| agency.to_string());
    let needs_key = operator_key.is_none();
    let options = InitOptions { agency, name, listen, endpoints, operator_key, directory, xwing: !classical_only };
    let export = init_agency(dir, &options)?;
    if json {
        print_json(&serde_json::json!({ "dir": dir, "export": export, "operator_key_set": !needs_key }));
        return Ok(());
    }
    println!("Created the node directory {}.", dir.display());
    if classical_only {
        println!("Its KEM key is X25519 only (keys/kem.key): packets to it are not post-quantum.");
    } else {
        println!(
            "Its KEM keys are X-Wing (keys/xwing.key, post-quantum, preferred by senders) and X25519 (keys/kem.key)."
        );
    }
    println!("Hand {} to the federation operator (tally federation add-agency).", export.display());
    if needs_key {
        println!("Then set operator_key in {} before `tally serve`.", dir.join(tally_node::CONFIG_FILE).display());
    }
    Ok(())
}

pub(crate) fn serve(dir: &Path, format: LogFormat) -> Result<(), Failure> {
    let filter = tracing_subscriber::EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info"));
    // Colours only on a terminal: a log file or journald gets plain text.
    let ansi = std::io::IsTerminal::is_terminal(&std::io::stderr());
    let builder = tracing_subscriber::fmt().with_env_filter(filter).with_writer(std::io::stderr).with_ansi(ansi);
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
                let socket = dir.join(tally_node::api::SOCKET_FILE);
                println!("{} serving on {addr} (local API {})", node.agency(), socket.display());
                if let Some(api) = node.api_address() {
                    println!("local API and metrics also on http://{api} (bearer token in api.token; metrics at /metrics)");
                }
            }
        })
        .await
    })?;
    Ok(())
}

pub(crate) fn status(node: &NodeDir, wait: Option<std::time::Duration>, json: bool) -> Result<(), Failure> {
    let deadline = wait.map(|w| std::time::Instant::now() + w);
    let s = loop {
        match call(&node.dir, |c| async move { c.status().await }) {
            Err(_) if deadline.is_some_and(|d| std::time::Instant::now() < d) => {
                std::thread::sleep(std::time::Duration::from_millis(100));
            }
            result => break result?,
        }
    };
    if json {
        print_json(&s);
        return Ok(());
    }
    println!(
        "{} listening on {}, directory serial {}, {} log entries, {} unfinished send(s)",
        s.agency, s.listen, s.directory_serial, s.log_size, s.unfinished_sends
    );
    let policy = match s.tls.key_exchange {
        tally_node::KeyExchangeSetting::HybridPreferred => "X25519MLKEM768 (post-quantum) preferred, X25519 accepted",
        tally_node::KeyExchangeSetting::HybridRequired => "X25519MLKEM768 (post-quantum) required",
        tally_node::KeyExchangeSetting::Classical => "X25519 only (classical)",
    };
    println!(
        "  TLS key exchange: {policy}; completed since start: {} with X25519MLKEM768, {} with X25519",
        s.tls.hybrid, s.tls.classical
    );
    for u in &s.sends {
        let id = u.send_id.as_ref().map(|i| format!(" (send id {i})")).unwrap_or_default();
        let state = if u.running {
            "being offered now".to_owned()
        } else {
            match &u.next_try {
                Some(t) => format!("next try {t}"),
                None if u.attempts > 0 => "retry limit reached; `tally resume` offers it again".to_owned(),
                None => "waiting for its first retry".to_owned(),
            }
        };
        println!("  send {} to {}{id}: {} bytes, {} failed attempt(s), {state}", u.packet, u.to, u.size, u.attempts);
        if let Some(e) = &u.last_error {
            println!("      last error: {e}");
        }
    }
    for p in &s.peers {
        let reach = match p.reachable {
            Some(true) => "reachable",
            Some(false) => "NOT reachable",
            None => "not tried since start",
        };
        let last = p.last_success.as_deref().map(|t| format!(", last success {t}")).unwrap_or_default();
        println!("  peer {} at {}: {reach}{last}, {} unfinished send(s)", p.agency, p.endpoint, p.unfinished_sends);
        if let (Some(false), Some(e)) = (p.reachable, &p.last_error) {
            println!("      last error: {e}");
        }
        if let Some(c) = &p.checkpoint {
            println!(
                "      its log: checkpoint of {} entries, root {}, proven consistent with the earlier ones held",
                c.size, c.root
            );
        }
        if let Some(why) = &p.unproven_checkpoint {
            println!("      its log: a checkpoint not proven consistent yet ({why})");
        }
        if p.log_forks > 0 {
            println!(
                "      FORK: {} fork evidence(s) against its log: two of its checkpoints cannot both be honest",
                p.log_forks
            );
        }
    }
    Ok(())
}

pub(crate) fn resume(node: &NodeDir, json: bool) -> Result<(), Failure> {
    let results = call(&node.dir, |c| async move { c.resume().await })?;
    if json {
        print_json(&results);
        return Ok(());
    }
    println!("{} unfinished send(s) offered again", results.len());
    for r in results {
        match (&r.answer, &r.problem) {
            (Some(a), _) => {
                let result = match a.result {
                    SendResult::Delivered => "delivered",
                    SendResult::Refused => "refused",
                    SendResult::Pending => "still pending",
                };
                // A packet the recipient never stored is sealed anew: the id in the receipts and the inbox is the new one.
                let anew =
                    if a.packet != r.packet { format!(" (sealed anew: was {})", r.packet) } else { String::new() };
                println!("  {}: {result}{anew}", a.packet);
            }
            (None, Some(p)) => println!("  {}: {}", r.packet, p.detail),
            (None, None) => println!("  {}: no answer", r.packet),
        }
    }
    Ok(())
}

pub(crate) fn sweep(node: &NodeDir, json: bool) -> Result<(), Failure> {
    let erased = call(&node.dir, |c| async move { c.sweep().await })?;
    if json {
        print_json(&erased);
    } else {
        println!("{} packet(s) erased", erased.erased);
    }
    Ok(())
}

pub(crate) fn log(command: LogCommand, json: bool) -> Result<(), Failure> {
    match command {
        LogCommand::Checkpoint { node } => {
            let c = call(&node.dir, |c| async move { c.checkpoint().await })?;
            if json {
                print_json(&c);
            } else {
                print!("{}", c.checkpoint);
            }
        }
        LogCommand::Export { node, out } => {
            let export = call(&node.dir, |c| async move { c.export_log().await })?;
            let text = serde_json::to_string_pretty(&export).map_err(|e| failed(e.to_string()))?;
            write_file(&out, text.as_bytes())?;
            if json {
                print_json(&serde_json::json!({ "entries": export.entries.len(), "file": out }));
            } else {
                println!("Wrote {} log entries and a signed checkpoint to {}.", export.entries.len(), out.display());
            }
        }
        LogCommand::Follow { node, from } => {
            let asked = from.clone();
            let followed = call(&node.dir, |c| async move { c.follow_log(&asked).await })?;
            if json {
                print_json(&followed);
            } else {
                println!(
                    "{from}'s log: {} entries verified and kept, {} of them fetched now; its checkpoint is consistent with the last one verified.",
                    followed.size, followed.fetched
                );
            }
        }
        LogCommand::Fetch { node, from, out } => {
            let asked = from.clone();
            let export = call(&node.dir, |c| async move { c.fetch_log(&asked).await })?;
            let text = serde_json::to_string_pretty(&export).map_err(|e| failed(e.to_string()))?;
            write_file(&out, text.as_bytes())?;
            if json {
                print_json(&serde_json::json!({ "from": from, "entries": export.entries.len(), "file": out }));
                return Ok(());
            }
            println!(
                "Fetched {} entries of {from}'s log and its signed checkpoint into {} (tally audit checks them).",
                export.entries.len(),
                out.display()
            );
        }
    }
    Ok(())
}

pub(crate) fn directory(command: DirectoryCommand, json: bool) -> Result<(), Failure> {
    match command {
        DirectoryCommand::Show { node } => {
            let config = tally_node::NodeConfig::load(&node.dir)?;
            let key = config.operator_key.ok_or_else(|| {
                usage(format!("{}: operator_key is not set", node.dir.join(tally_node::CONFIG_FILE).display()))
            })?;
            let directory = tally_node::load_directory(&node.dir.join(&config.directory), &key)?;
            crate::federation::show_directory(directory.directory(), json);
        }
        DirectoryCommand::Fetch { node, from } => {
            let asked = from.clone();
            let fetched = call(&node.dir, |c| async move { c.fetch_directory(&asked).await })?;
            if json {
                print_json(&fetched);
                return Ok(());
            }
            match fetched.serial {
                Some(serial) => println!("Fetched directory serial {serial} from {from}; the node uses it now."),
                None => println!("{from} has no newer directory than this node's."),
            }
        }
    }
    Ok(())
}
