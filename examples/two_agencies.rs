//! The main job: a federation with a tax bureau, a social-security bureau
//! and an auditor; a grant that requires post-quantum sealing; real nodes
//! on 127.0.0.1 exchanging X-Wing packets over QUIC with the hybrid
//! X25519MLKEM768 key exchange; rejections; a revocation with erasure;
//! every receipt verified offline; and the audit.
//!
//! Run it with `cargo run --release --example two_agencies`. Everything
//! it makes stays in a fresh directory under the system's temp directory,
//! which it names at the end.

use std::io::Write;
use std::net::{SocketAddr, UdpSocket};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use tally_audit as audit;
use tally_grant::{GrantDocument, QuotaDocument};
use tally_node::{Federation, InitOptions, Node, NodeError, SendOptions, init_agency, load_directory};
use tally_protocol::{ReceiverOutcome, RequesterOutcome, SenderOutcome};
use tally_receipt::{bundle_from_text, bundled_receipt, verify_bundle};
use tally_wire::{
    AgencyId, ContentType, DataCategory, Direction, Outcome, PacketId, Purpose, RevocationReason, Timestamp,
};

type Result<T> = std::result::Result<T, Box<dyn std::error::Error>>;

/// The size of the large packet.
const LARGE: u64 = 300 << 20;

fn id(s: &str) -> AgencyId {
    AgencyId::new(s).expect("a valid agency id")
}

/// A free UDP port on 127.0.0.1 (asked of the OS, then released for the node).
fn free_port() -> Result<SocketAddr> {
    Ok(UdpSocket::bind("127.0.0.1:0")?.local_addr()?)
}

fn step(text: &str) {
    println!("\n== {text}");
}

/// Writes `len` bytes of synthetic yearly income records (CSV) to `path`.
fn write_income_file(path: &Path, len: u64) -> Result<()> {
    let mut out = std::io::BufWriter::new(std::fs::File::create(path)?);
    let mut written = 0u64;
    let mut n = 0u64;
    while written < len {
        let line = format!("citizen-{n:09},2025,{},{}\n", 18_000 + (n * 7919) % 90_000, n % 5);
        let take = (len - written).min(line.len() as u64) as usize;
        out.write_all(&line.as_bytes()[..take])?;
        written += take as u64;
        n += 1;
    }
    out.flush()?;
    Ok(())
}

fn describe(outcome: &Outcome) -> String {
    tally_node::outcome_text(outcome)
}

#[tokio::main]
async fn main() -> Result<()> {
    let root = std::env::temp_dir().join(format!("tally-two-agencies-{}", std::process::id()));
    std::fs::create_dir_all(&root)?;
    let operator = root.join("operator");
    let (tax, social, auditor) = (id("tax-bureau"), id("social-security"), id("audit-office"));
    let eligibility = Purpose::new("social-security.eligibility")?;
    let tax_audit = Purpose::new("tax.audit")?;
    let income = DataCategory::new("income.annual")?;

    step("1. The operator sets up the federation");
    let operator_key = Federation::init(&operator, "Example federation")?;
    println!("operator key {operator_key}");
    let mut dirs: Vec<(AgencyId, PathBuf, SocketAddr, &[&str])> = Vec::new();
    for (agency, roles) in
        [(&tax, &["producer", "consumer"][..]), (&social, &["producer", "consumer"][..]), (&auditor, &["auditor"][..])]
    {
        let dir = root.join(agency.as_str());
        let listen = free_port()?;
        let export = init_agency(
            &dir,
            &InitOptions {
                agency: agency.clone(),
                name: agency.to_string(),
                listen,
                endpoints: Vec::new(),
                operator_key: Some(operator_key),
                directory: PathBuf::from("directory.tally"),
                xwing: true,
            },
        )?;
        let roles: Vec<String> = roles.iter().map(|r| (*r).to_owned()).collect();
        Federation::add_agency(&operator, &export, &roles, false)?;
        println!("agency {agency:<16} keys in {}, roles {}", dir.display(), roles.join(","));
        dirs.push((agency.clone(), dir, listen, &[]));
    }
    Federation::add_purpose(
        &operator,
        &eligibility,
        "Social Security Act s. 12 (means test)",
        "Checking eligibility for benefits",
    )?;
    Federation::add_purpose(&operator, &tax_audit, "Tax Administration Act s. 4", "Auditing tax returns")?;
    // Income data is the tax bureau's: only it may grant it (spec/grants.md, "Controllers").
    let income_register = DataCategory::new("income")?;
    Federation::add_category(&operator, &income_register, &tax, "Income as assessed for tax")?;
    let directory_file = root.join("directory.tally");
    let serial = Federation::publish(&operator, &directory_file)?;
    for (_, dir, _, _) in &dirs {
        std::fs::copy(&directory_file, dir.join("directory.tally"))?;
    }
    println!("published directory serial {serial}: 3 agencies, 2 purposes, income data controlled by {tax}");
    let directory = load_directory(&directory_file, &operator_key)?;

    // The tax bureau serves yearly income files to pull requests.
    let tax_dir = root.join(tax.as_str());
    let served = tax_dir.join("served/income");
    std::fs::create_dir_all(&served)?;
    std::fs::write(served.join("citizen-000000042.json"), br#"{"citizen":"000000042","year":2025,"income":41250}"#)?;
    std::fs::OpenOptions::new()
        .append(true)
        .open(tax_dir.join("tally.toml"))?
        .write_all(b"\n[[pull]]\ncategory = \"income.annual\"\ndirectory = \"served/income\"\n")?;

    step("2. Both agencies start their nodes on 127.0.0.1");
    let tax_node = Node::start(&tax_dir).await?;
    let social_node = Node::start(&root.join(social.as_str())).await?;
    println!("{tax} on {}, {social} on {}", tax_node.local_addr()?, social_node.local_addr()?);

    step("3. The tax bureau grants the social-security bureau income data for eligibility checks");
    let now = std::time::SystemTime::now();
    let document = GrantDocument {
        issuer: None,
        grantee: social.to_string(),
        senders: Vec::new(),
        purposes: vec![eligibility.to_string()],
        categories: vec![income.to_string()],
        not_before: tally_grant::rfc3339(Timestamp::from_secs(
            Timestamp::from_system_time(now).since_epoch().as_secs() - 60,
        )),
        not_after: tally_grant::rfc3339(Timestamp::from_secs(
            Timestamp::from_system_time(now).since_epoch().as_secs() + 30 * 24 * 3600,
        )),
        direction: Direction::Both,
        // Records kept for decades: every packet under the grant is sealed with X-Wing.
        min_suite_level: Some("post-quantum".into()),
        retention: "90days".into(),
        erase_on_revoke: true,
        delegation_depth: 0,
        parent: None,
        quota: QuotaDocument { max_packets: Some(1000), max_bytes: Some(2 << 30), rate: None },
        legal_basis: "Social Security Act s. 12".into(),
        note: "yearly income for the means test".into(),
        issued_at: None,
    };
    let (grant, _) = tax_node.issue_grant(&document)?;
    println!("grant {grant}: push and pull, quota 1000 packets / 2 GiB, retention 90 days, erase on revoke,");
    println!("  every packet under it sealed post-quantum (min_suite_level = post-quantum: X-Wing)");
    for d in tax_node.deliver_grant(&grant).await? {
        match d.error {
            None => println!("handed to {} over QUIC: verified, kept and logged on both sides", d.agency),
            Some(e) => return Err(format!("{} did not take the grant: {e}", d.agency).into()),
        }
    }

    step("4. The tax bureau sends packets");
    let options = SendOptions {
        to: social.clone(),
        grant,
        purpose: eligibility.clone(),
        category: income.clone(),
        content_type: ContentType::new("application/json")?,
    };
    let mut delivered: Vec<PacketId> = Vec::new();
    for (i, record) in
        [r#"{"citizen":"000000007","income":23800}"#, r#"{"citizen":"000000019","income":61020}"#].iter().enumerate()
    {
        let outcome = tax_node.send(&options, record.as_bytes(), record.len() as u64, None, Arc::default()).await?;
        if let SenderOutcome::Delivered(r) = &outcome {
            println!(
                "record {}: delivered {}, receipt signed by {}",
                i + 1,
                bundled_receipt(&r.receipt).packet_id,
                bundled_receipt(&r.receipt).recipient
            );
            delivered.push(bundled_receipt(&r.receipt).packet_id);
        }
    }
    // Which suite sealed them, and which TLS key exchange carried them.
    for entry in social_node.inbox()?.iter().filter(|e| delivered.contains(&e.packet)) {
        println!("  {} is sealed with {} (X-Wing: ML-KEM-768 with X25519)", entry.packet, entry.suite);
    }
    let tls = tally_transport::key_exchanges();
    println!(
        "  over QUIC with TLS 1.3 key exchange X25519MLKEM768 (post-quantum hybrid): {} key exchanges completed (each connection counts on both sides), {} with X25519 alone",
        tls.hybrid, tls.classical
    );
    let large = root.join("income-2025.csv");
    write_income_file(&large, LARGE)?;
    let progress = Arc::new(AtomicU64::new(0));
    let on_terminal = std::io::IsTerminal::is_terminal(&std::io::stderr());
    let watcher = {
        let progress = Arc::clone(&progress);
        tokio::spawn(async move {
            let start = Instant::now();
            loop {
                tokio::time::sleep(Duration::from_millis(500)).await;
                let done = progress.load(Ordering::Relaxed);
                let rate = done as f64 / start.elapsed().as_secs_f64() / (1 << 20) as f64;
                if on_terminal {
                    eprint!("\r  sending income-2025.csv: {:>4} / {} MiB, {rate:.0} MiB/s   ", done >> 20, LARGE >> 20);
                }
            }
        })
    };
    let started = Instant::now();
    let csv = SendOptions { content_type: ContentType::new("text/csv")?, ..options.clone() };
    let outcome = tax_node.send_file(&csv, &large, progress).await;
    watcher.abort();
    if on_terminal {
        eprintln!();
    }
    if let SenderOutcome::Delivered(r) = outcome? {
        let secs = started.elapsed().as_secs_f64();
        println!(
            "income-2025.csv ({} MiB): delivered {} in {secs:.1} s ({:.0} MiB/s), stored encrypted and receipted",
            LARGE >> 20,
            bundled_receipt(&r.receipt).packet_id,
            (LARGE >> 20) as f64 / secs
        );
        delivered.push(bundled_receipt(&r.receipt).packet_id);
    }

    step("5. The social-security bureau pulls a record, then asks outside the grant");
    match social_node.request(&tax, grant, eligibility.clone(), income.clone(), b"citizen-000000042.json").await? {
        RequesterOutcome::Answered(packets) => {
            for p in &packets {
                if let ReceiverOutcome::Received(r) = p {
                    println!("pulled {} from {tax}, receipted", bundled_receipt(&r.receipt).packet_id);
                    delivered.push(bundled_receipt(&r.receipt).packet_id);
                }
            }
        }
        RequesterOutcome::Refused(r) => {
            println!("unexpected refusal: {}", describe(&bundled_receipt(&r.receipt).outcome))
        }
    }
    if let RequesterOutcome::Refused(r) =
        social_node.request(&tax, grant, tax_audit.clone(), income.clone(), b"").await?
    {
        println!(
            "pull for `{tax_audit}` refused by {tax} with a signed rejection: {}",
            describe(&bundled_receipt(&r.receipt).outcome)
        );
    }
    match tax_node
        .send(&SendOptions { purpose: tax_audit.clone(), ..options.clone() }, &b"{}"[..], 2, None, Arc::default())
        .await
    {
        Err(why @ (NodeError::Refused(_) | NodeError::Denied { .. })) => {
            println!("push for `{tax_audit}` refused by the tax bureau's own node: {why}")
        }
        other => println!("unexpected: {other:?}"),
    }

    step(
        "6. The tax bureau exports its proof of delivery of every packet; each verifies offline, with the directory only",
    );
    for packet in &delivered {
        // The sender's copy: the bundle the social-security bureau answered with, kept in the tax bureau's log.
        let text = tax_node.receipt_bundle(packet)?;
        let bundle = bundle_from_text(&text)?;
        let verified = verify_bundle(&bundle, |a| directory.agency(a).map(|r| r.identity_key))?;
        let signing = match bundle.receipt {
            tally_wire::BundledReceipt::Logged(_) => "batch-signed",
            tally_wire::BundledReceipt::Signed(_) => "signed on its own",
        };
        println!(
            "bundle for {packet}: {} by {} ({signing}), entry {} of {}'s log of {} — verified",
            describe(&verified.receipt.outcome),
            verified.receipt.recipient,
            bundle.index,
            verified.receipt.recipient,
            verified.checkpoint.size
        );
        std::fs::write(root.join(format!("receipt-{packet}.bundle")), text)?;
    }

    step("7. The tax bureau revokes the grant, with erasure");
    let revocation = tax_node.revoke(grant, RevocationReason::PURPOSE_ENDED, true, None)?;
    std::fs::write(root.join("revocation.bin"), revocation.encode())?;
    for d in tax_node.deliver_revocation(&revocation).await? {
        if let Some(e) = d.error {
            return Err(format!("{} did not take the revocation: {e}", d.agency).into());
        }
        println!("the revocation was handed to {} over QUIC", d.agency);
    }
    let erased = social_node.inbox()?.iter().filter(|p| p.erased_at.is_some()).count();
    println!(
        "the social-security bureau took the revocation: {erased} packets erased (data keys destroyed, deletion record logged)"
    );
    if let RequesterOutcome::Refused(r) =
        social_node.request(&tax, grant, eligibility.clone(), income.clone(), b"").await?
    {
        println!(
            "a pull after revocation is refused with a signed rejection: {}",
            describe(&bundled_receipt(&r.receipt).outcome)
        );
    }

    step("8. The auditor fetches both logs over QUIC and checks them");
    let auditor_node = Node::start(&root.join(auditor.as_str())).await?;
    let exports = [auditor_node.fetch_log(&tax).await?, auditor_node.fetch_log(&social).await?];
    for e in &exports {
        std::fs::write(root.join(format!("{}.log.json", e.agency)), serde_json::to_vec_pretty(e)?)?;
    }
    let report = audit::audit(&directory, &exports, &[]);
    print!("{}", audit::render_text(&report));
    let html = root.join("audit.html");
    std::fs::write(&html, audit::render_html(&report))?;

    tax_node.shutdown(Duration::from_secs(5)).await;
    social_node.shutdown(Duration::from_secs(5)).await;
    auditor_node.shutdown(Duration::from_secs(5)).await;
    std::fs::remove_file(&large)?;

    step("What happened");
    println!(
        "{} packets went from {tax} to {social} under grant {grant}, each stored encrypted before its receipt was signed;",
        delivered.len()
    );
    println!("two flows outside the grant were refused, one with a signed rejection; after the revocation the");
    println!(
        "received data was crypto-shredded and further pulls were refused; the audit found {} problem(s).",
        report.findings.len()
    );
    println!("\nFiles: {}", root.display());
    println!("  operator/            the federation's registers and root key; directory.tally, the signed directory");
    println!("  {tax}/, {social}/, {auditor}/   node directories (tally.toml, keys/, data/tally.redb, data/blobs/)");
    println!(
        "  receipt-*.bundle     receipt bundles: `tally verify FILE --directory directory.tally --operator-key operator/operator.pub`"
    );
    println!(
        "  *.log.json           the logs the auditor fetched: `tally audit *.log.json --directory directory.tally --operator-key operator/operator.pub`"
    );
    println!("  audit.html           the audit report with a flow diagram");
    if !report.findings.is_empty() {
        return Err("the audit found problems".into());
    }
    Ok(())
}
