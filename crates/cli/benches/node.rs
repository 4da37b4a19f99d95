//! Node benchmark: two real `tally serve` processes on 127.0.0.1, each with
//! its redb database and blob directory, driven through their local APIs
//! (HTTP over the Unix socket, payloads streamed). Run with `cargo bench -p tally-cli`.
//!
//! 1. Small: durable, receipted 1 KiB exchanges with 64 in flight (64
//!    concurrent `send` requests to the tax bureau's node): the payload is
//!    fsynced and recorded at the recipient before its receipt is signed,
//!    and the receipt is in the sender's log before the send returns.
//!    Beside it, in the same run and on the same cores, the transport alone:
//!    two endpoints in this process with the in-memory hosts of the
//!    transport benchmark (`crates/transport/benches/memory`).
//! 2. Bulk: a 1 GiB and then a 4 GiB file sent, streamed through the local
//!    API and stored encrypted at the recipient.
//! 3. Both node processes' peak resident memory (VmHWM) after each.
//!
//! The small exchanges run twice: with batch-signed receipts (the default:
//! one checkpoint signature per group commit) and with each receipt also
//! signed on its own (`[receipts] signing = "individual"`), and report
//! receipts per checkpoint signature (from the recipient's metrics) and the
//! CPU time of both node processes per exchange (from /proc).
//!
//! Without `--bench` (as `cargo test --benches` runs it) the counts are
//! small: a smoke run of the same code.

#[path = "../tests/common/mod.rs"]
mod common;
#[path = "../../transport/benches/memory/mod.rs"]
mod memory;

use std::net::SocketAddr;
use std::path::Path;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use common::{Federation, Served, grant_id, issue_grant, serve};
use memory::{MemoryHost, Receiving, Sending, agency, directory, record, social_identity, social_kem, tax_identity};
use tally_node::SendOptions;
use tally_node::api::{Client, SendResult};
use tally_testkit::benchmarking;
use tally_transport::{Endpoint, LocalAgency, Roster, TlsKey, TransportConfig};
use tally_wire::{AgencyId, ContentType, DataCategory, GrantId, Purpose};

/// Peak resident set size of process `pid`, in MiB (VmHWM).
fn peak_rss_mib(pid: u32) -> u64 {
    std::fs::read_to_string(format!("/proc/{pid}/status"))
        .ok()
        .and_then(|s| {
            s.lines().find(|l| l.starts_with("VmHWM:")).and_then(|l| l.split_whitespace().nth(1)?.parse::<u64>().ok())
        })
        .map_or(0, |kib| kib / 1024)
}

/// CPU time (user and system) process `pid` has used, in seconds.
fn cpu_secs(pid: u32) -> f64 {
    let ticks = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok().and_then(|s| {
        // The fields after the command name, which is in parentheses, by
        // position (some, such as the state and tpgid -1, are not numbers
        // of this type): utime and stime are the 12th and 13th.
        let mut fields = s.rsplit_once(')')?.1.split_whitespace().skip(11);
        let utime: u64 = fields.next()?.parse().ok()?;
        let stime: u64 = fields.next()?.parse().ok()?;
        Some(utime + stime)
    });
    // Linux reports these in USER_HZ, which is 100 on every architecture it runs on.
    ticks.map_or(0.0, |t| t as f64 / 100.0)
}

/// The value of the counter `name` in OpenMetrics `text`.
fn counter(text: &str, name: &str) -> f64 {
    text.lines().find_map(|l| l.strip_prefix(name)?.trim().parse().ok()).unwrap_or(0.0)
}

/// Receipts issued and checkpoints signed so far by the node in `dir`.
async fn signatures(dir: &Path) -> (f64, f64) {
    let metrics = Client::new(dir).metrics().await.expect("metrics");
    (counter(&metrics, "tally_receipts_issued_total "), counter(&metrics, "tally_checkpoints_signed_total "))
}

/// One run of small exchanges between the nodes: its rate, the receipts
/// per checkpoint signature at the recipient, and the CPU time of both
/// node processes per exchange (µs).
async fn small_run(
    fed: &Federation,
    pids: [u32; 2],
    send: &SendOptions,
    count: usize,
    in_flight: usize,
) -> (f64, f64, f64) {
    let (tax, social) = (fed.dir("tax-bureau"), fed.dir("social-security"));
    let small = fed.file("record.bin");
    let (receipts, checkpoints) = signatures(&social).await;
    let cpu = cpu_secs(pids[0]) + cpu_secs(pids[1]);
    let secs = node_sends(&tax, send, &small, count, in_flight).await;
    let cpu = cpu_secs(pids[0]) + cpu_secs(pids[1]) - cpu;
    let (receipts_after, checkpoints_after) = signatures(&social).await;
    let per_signature = (receipts_after - receipts) / (checkpoints_after - checkpoints).max(1.0);
    (count as f64 / secs, per_signature, cpu * 1e6 / count as f64)
}

/// Sends the file at `file` `count` times from the node in `dir`, `in_flight` at a time; seconds taken.
async fn node_sends(dir: &Path, send: &SendOptions, file: &Path, count: usize, in_flight: usize) -> f64 {
    let start = Instant::now();
    let tasks: Vec<_> = (0..in_flight)
        .map(|_| {
            let (client, send, file) = (Client::new(dir), send.clone(), file.to_owned());
            tokio::spawn(async move {
                for _ in 0..count / in_flight {
                    let answer = send_file(&client, &send, &file).await;
                    assert_eq!(answer.result, SendResult::Delivered, "{answer:?}");
                }
            })
        })
        .collect();
    for t in tasks {
        t.await.expect("joins");
    }
    start.elapsed().as_secs_f64()
}

fn copy(key: &TlsKey) -> TlsKey {
    TlsKey::from_pkcs8(key.pkcs8()).expect("a key just made")
}

/// The transport alone: 1 KiB receipted exchanges between two endpoints in
/// this process, receiver and sender logs in memory; seconds taken.
async fn transport_sends(count: usize, in_flight: usize) -> f64 {
    let (tax_tls, social_tls) = (TlsKey::generate().expect("random"), TlsKey::generate().expect("random"));
    let any: SocketAddr = "127.0.0.1:0".parse().expect("address");
    let roster = |social_addr: &str| {
        Arc::new(Roster::new(&directory(
            1,
            vec![
                record("tax-bureau", &tax_identity(), &tax_tls, None, "127.0.0.1:9"),
                record("social-security", &social_identity(), &social_tls, Some(&social_kem()), social_addr),
            ],
        )))
    };
    let config = TransportConfig::default();
    let social = LocalAgency {
        id: agency("social-security"),
        identity: Arc::new(social_identity()),
        tls_key: copy(&social_tls),
    };
    let receiver = Endpoint::bind(
        any,
        social,
        roster("127.0.0.1:9"),
        Arc::new(Receiving(Arc::new(MemoryHost::social_security()))),
        config,
    )
    .expect("binds");
    let addr = receiver.local_addr().expect("bound").to_string();
    let tax = LocalAgency { id: agency("tax-bureau"), identity: Arc::new(tax_identity()), tls_key: copy(&tax_tls) };
    let sender =
        Endpoint::bind(any, tax, roster(&addr), Arc::new(Sending(Mutex::new(Vec::new()))), config).expect("binds");
    let secs = memory::small_exchanges(&sender, &agency("social-security"), count, in_flight).await;
    sender.shutdown(Duration::from_secs(5)).await;
    receiver.shutdown(Duration::from_secs(5)).await;
    secs
}

fn send_options(grant: GrantId) -> SendOptions {
    SendOptions {
        to: AgencyId::new("social-security").expect("valid"),
        grant,
        purpose: Purpose::new("social-security.eligibility").expect("valid"),
        category: DataCategory::new("income.annual").expect("valid"),
        content_type: ContentType::new("application/octet-stream").expect("valid"),
    }
}

/// Sends `file` through the node's local API as one send (the node reads
/// the file itself); each send gets a fresh send id from the node.
async fn send_file(client: &Client, send: &SendOptions, file: &Path) -> tally_node::api::SendAnswer {
    let query = tally_node::api::SendQuery { options: send.clone(), send_id: None, source: Some(file.to_owned()) };
    client.send_file(&query).await.expect("the node answers")
}

async fn run() {
    let full = benchmarking();
    let fed = Federation::new(&[("tax-bureau", "producer,consumer"), ("social-security", "producer,consumer")]);
    let (tax, social) = (fed.dir("tax-bureau"), fed.dir("social-security"));
    let mut nodes: [Served; 2] = [serve(&tax), serve(&social)];
    // The grant reaches the grantee over the transport as it is issued.
    let grant = grant_id(&issue_grant(&tax, &fed.file("bench.grant"), &[]));
    let grant: GrantId = grant.parse().expect("a grant id");

    let (count, in_flight) = (if full { 6_400 } else { 256 }, 64);
    let small = fed.file("record.bin");
    std::fs::write(&small, [0x5a; 1024]).expect("writes");
    let transport_secs = transport_sends(count, in_flight).await;
    let transport = count as f64 / transport_secs;
    let pids = [nodes[0].0.id(), nodes[1].0.id()];
    // A warm-up, so that both measured runs start from warm connections and caches.
    small_run(&fed, pids, &send_options(grant), count / 10, in_flight).await;
    let batched = small_run(&fed, pids, &send_options(grant), count, in_flight).await;
    // The recipient again, now signing each receipt on its own as well.
    drop(std::mem::replace(&mut nodes[1], Served(std::process::Command::new("true").spawn().expect("true"))));
    fed.append_config("social-security", "\n[receipts]\nsigning = \"individual\"\n");
    nodes[1] = serve(&social);
    let pids = [nodes[0].0.id(), nodes[1].0.id()];
    let individual = small_run(&fed, pids, &send_options(grant), count, in_flight).await;
    // And batch-signed again, on a restarted recipient as the individual run had.
    drop(std::mem::replace(&mut nodes[1], Served(std::process::Command::new("true").spawn().expect("true"))));
    let config = social.join("tally.toml");
    let text = std::fs::read_to_string(&config).expect("config");
    std::fs::write(&config, text.replace("signing = \"individual\"", "signing = \"batched\"")).expect("writes");
    nodes[1] = serve(&social);
    let pids = [nodes[0].0.id(), nodes[1].0.id()];
    let batched_again = small_run(&fed, pids, &send_options(grant), count, in_flight).await;
    println!("1 KiB exchanges, {count} with {in_flight} in flight:");
    println!("  transport, in-memory hosts (one process)   {transport:7.0}/s");
    for (what, (rate, per_signature, cpu)) in [
        ("batch-signed receipts", batched),
        ("each receipt also signed", individual),
        ("batch-signed, restarted", batched_again),
    ] {
        println!(
            "  two nodes, durable, {what:<26} {rate:7.0}/s   ratio {:.2} to the transport (target >= 3000/s); {per_signature:.1} receipts per checkpoint signature; CPU {cpu:.0} us per exchange (both nodes)",
            rate / transport
        );
    }
    println!("  peak RSS: sender {} MiB, recipient {} MiB", peak_rss_mib(pids[0]), peak_rss_mib(pids[1]));

    let sizes: &[u64] = if full { &[1 << 30, 4 << 30] } else { &[32 << 20] };
    for &bulk in sizes {
        let large = fed.file("large.bin");
        // A sparse file: reading it costs no disk, so the nodes are measured, not this machine's disk.
        std::fs::File::create(&large).and_then(|f| f.set_len(bulk)).expect("creates the file");
        let start = Instant::now();
        let answer = send_file(&Client::new(&tax), &send_options(grant), &large).await;
        let secs = start.elapsed().as_secs_f64();
        assert_eq!(answer.result, SendResult::Delivered, "{answer:?}");
        println!(
            "bulk send, {} MiB through the local API: {:.0} MiB/s ({secs:.1} s), stored encrypted and fsynced at the recipient",
            bulk >> 20,
            (bulk >> 20) as f64 / secs
        );
        // Peak so far: after the 4 GiB send it covers every send before it (target: under 64 MiB).
        println!("  peak RSS: sender {} MiB, recipient {} MiB", peak_rss_mib(pids[0]), peak_rss_mib(pids[1]));
        let _ = std::fs::remove_file(&large);
    }
    drop(nodes);
}

fn main() {
    let runtime = tokio::runtime::Builder::new_multi_thread().worker_threads(2).enable_all().build().expect("runtime");
    runtime.block_on(run());
}
