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
//! small: a smoke run of the same code. With `--callgrind`, it counts
//! instructions per exchange instead (`callgrind/mod.rs`).

#[path = "callgrind/mod.rs"]
mod callgrind;
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

/// What one run of small exchanges measured.
struct SmallRun {
    /// Exchanges per second.
    rate: f64,
    /// Receipts per checkpoint signature at the recipient.
    per_signature: f64,
    /// CPU time (user and system) per exchange of the sender's and the recipient's node process, µs.
    cpu: [f64; 2],
    /// Latency of an exchange, p50 and p99, ms.
    latency: [f64; 2],
}

/// One run of small exchanges between the nodes.
async fn small_run(fed: &Federation, pids: [u32; 2], send: &SendOptions, count: usize, in_flight: usize) -> SmallRun {
    let (tax, social) = (fed.dir("tax-bureau"), fed.dir("social-security"));
    let small = fed.file("record.bin");
    let (receipts, checkpoints) = signatures(&social).await;
    let before = pids.map(cpu_secs);
    let (secs, mut latencies) = node_sends(&tax, send, &small, count, in_flight).await;
    let after = pids.map(cpu_secs);
    let (receipts_after, checkpoints_after) = signatures(&social).await;
    SmallRun {
        rate: count as f64 / secs,
        per_signature: (receipts_after - receipts) / (checkpoints_after - checkpoints).max(1.0),
        cpu: [0, 1].map(|i| (after[i] - before[i]) * 1e6 / count as f64),
        latency: [50.0, 99.0].map(|p| percentile_ms(&mut latencies, p)),
    }
}

/// Sends the file at `file` `count` times from the node in `dir`,
/// `in_flight` at a time; returns the seconds taken and each send's latency
/// (from the request to the node until its answer, delivered), in seconds.
async fn node_sends(dir: &Path, send: &SendOptions, file: &Path, count: usize, in_flight: usize) -> (f64, Vec<f64>) {
    let start = Instant::now();
    let tasks: Vec<_> = (0..in_flight)
        .map(|_| {
            let (client, send, file) = (Client::new(dir), send.clone(), file.to_owned());
            tokio::spawn(async move {
                let mut latencies = Vec::with_capacity(count / in_flight);
                for _ in 0..count / in_flight {
                    let sent = Instant::now();
                    let answer = send_file(&client, &send, &file).await;
                    latencies.push(sent.elapsed().as_secs_f64());
                    assert_eq!(answer.result, SendResult::Delivered, "{answer:?}");
                }
                latencies
            })
        })
        .collect();
    let mut latencies = Vec::with_capacity(count);
    for t in tasks {
        latencies.extend(t.await.expect("joins"));
    }
    (start.elapsed().as_secs_f64(), latencies)
}

/// The `p`-th percentile (0 to 100) of `values`, in milliseconds.
fn percentile_ms(values: &mut [f64], p: f64) -> f64 {
    values.sort_by(f64::total_cmp);
    let rank = ((p / 100.0) * (values.len().saturating_sub(1)) as f64).round() as usize;
    values.get(rank).copied().unwrap_or(0.0) * 1e3
}

fn copy(key: &TlsKey) -> TlsKey {
    TlsKey::from_pkcs8(key.pkcs8()).expect("a key just made")
}

/// The transport alone, two endpoints in this process with receiver and
/// sender logs in memory: the seconds taken by `count` 1 KiB receipted
/// exchanges, `in_flight` at a time, and by one push of `bulk` bytes.
async fn transport_alone(count: usize, in_flight: usize, bulk: u64) -> (f64, f64) {
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
    let to = agency("social-security");
    let small = memory::small_exchanges(&sender, &to, count, in_flight).await;
    let start = Instant::now();
    let packet = sender.seal(&to, memory::spec(bulk), tally_wire::BoundedVec::empty()).expect("seals");
    let outcome = sender.send(packet, memory::Zeros(bulk)).await.expect("the push");
    assert!(matches!(outcome, tally_protocol::SenderOutcome::Delivered(_)), "{outcome:?}");
    let push = start.elapsed().as_secs_f64();
    sender.shutdown(Duration::from_secs(5)).await;
    receiver.shutdown(Duration::from_secs(5)).await;
    (small, push)
}

/// The disk's fsynced write rate in the directory `dir`: `len` bytes
/// written in 1 MiB blocks to a new file, then fsynced; MiB/s.
fn disk_write_rate(dir: &Path, len: u64) -> f64 {
    use std::io::Write;
    let path = dir.join("disk-ceiling.bin");
    let block = vec![0x5au8; 1 << 20];
    let start = Instant::now();
    let mut file = std::fs::File::create(&path).expect("creates the file");
    for _ in 0..len >> 20 {
        file.write_all(&block).expect("writes");
    }
    file.sync_all().expect("fsyncs");
    let secs = start.elapsed().as_secs_f64();
    drop(file);
    let _ = std::fs::remove_file(&path);
    (len >> 20) as f64 / secs
}

/// Fan-in: `senders` agencies, each with its own node and grant, sending
/// `per_sender` 1 KiB exchanges (`in_flight` at a time each) at once into
/// one recipient's node. Returns exchanges per second and the latency of
/// every exchange, in seconds.
async fn fan_in(senders: usize, per_sender: usize, in_flight: usize) -> (f64, Vec<f64>) {
    let names: Vec<String> = (1..=senders).map(|i| format!("sender-{i:02}")).collect();
    let categories: Vec<String> = names.iter().map(|n| format!("{n}-records")).collect();
    let mut agencies = vec![("social-security", "producer,consumer")];
    agencies.extend(names.iter().map(|n| (n.as_str(), "producer")));
    let controllers: Vec<(&str, &str)> =
        categories.iter().map(String::as_str).zip(names.iter().map(String::as_str)).collect();
    let fed = Federation::with_categories(&agencies, &controllers);
    let _recipient = serve(&fed.dir("social-security"));
    let nodes: Vec<Served> = names.iter().map(|n| serve(&fed.dir(n))).collect();
    let small = fed.file("record.bin");
    std::fs::write(&small, [0x5a; 1024]).expect("writes");
    let mut options = Vec::new();
    for (name, category) in names.iter().zip(&categories) {
        let dir = fed.dir(name);
        let out = fed.file(&format!("{name}.grant"));
        let issued = common::ok(&[
            "grant",
            "issue",
            "--dir",
            common::path(&dir),
            "--grantee",
            "social-security",
            "--purpose",
            "social-security.eligibility",
            "--category",
            &format!("{category}.annual"),
            "--out",
            common::path(&out),
        ]);
        let grant: GrantId = grant_id(&issued).parse().expect("a grant id");
        let mut send = send_options(grant);
        send.category = DataCategory::new(format!("{category}.annual")).expect("valid");
        options.push((dir, send));
    }
    // A warm-up: every sender's connection open.
    for (dir, send) in &options {
        node_sends(dir, send, &small, in_flight, in_flight).await;
    }
    let start = Instant::now();
    let runs: Vec<_> = options
        .into_iter()
        .map(|(dir, send)| {
            let small = small.clone();
            tokio::spawn(async move { node_sends(&dir, &send, &small, per_sender, in_flight).await.1 })
        })
        .collect();
    let mut latencies = Vec::new();
    for run in runs {
        latencies.extend(run.await.expect("joins"));
    }
    let secs = start.elapsed().as_secs_f64();
    drop(nodes);
    ((senders * per_sender) as f64 / secs, latencies)
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
    let sizes: &[u64] = if full { &[1 << 30, 4 << 30] } else { &[32 << 20] };
    let (transport_secs, push_secs) = transport_alone(count, in_flight, sizes[0]).await;
    let transport = count as f64 / transport_secs;
    let push = (sizes[0] >> 20) as f64 / push_secs;
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
    // The crypto floor, measured in this run: what one exchange must sign,
    // verify, seal and open, on one core. A batch-signed receipt shares
    // its checkpoint's signature and verification with the others of its
    // group commit (as many as the recipient's metrics show per signature).
    // The nodes seal with X-Wing (`tally init` makes an X-Wing key, and senders prefer it).
    let (_, [(_, seal), (_, open), (_, sign), (_, verify)]) = memory::crypto_floor(tally_wire::Kem::XWing);
    let floor = |per_signature: f64| seal + open + (sign + verify) / per_signature.max(1.0);
    let of_floor = |rate: f64, per_signature: f64| rate * floor(per_signature) / 2.0;
    println!(
        "crypto floor of a 1 KiB X-Wing exchange, one core: seal + sign {:.0} us, open + verify {:.0} us, receipt sign {:.0} us, receipt verify {:.0} us: {:.0}/s on 2 cores with each receipt signed",
        seal * 1e6,
        open * 1e6,
        sign * 1e6,
        verify * 1e6,
        2.0 / floor(1.0)
    );
    // The in-memory transport's hosts hold X25519 keys: its floor is X25519's.
    let (x25519_floor, _) = memory::crypto_floor(tally_wire::Kem::X25519);
    println!("1 KiB exchanges, {count} with {in_flight} in flight:");
    println!(
        "  transport, in-memory hosts (one process, X25519 packets)   {transport:7.0}/s   ratio {:.2} to the X25519 crypto floor (target >= 0.7)",
        transport * x25519_floor / 2.0
    );
    for (what, run) in [
        ("batch-signed receipts", batched),
        ("each receipt also signed", individual),
        ("batch-signed, restarted", batched_again),
    ] {
        let SmallRun { rate, per_signature, cpu: [sender, recipient], latency: [p50, p99] } = run;
        println!(
            "  two nodes, durable, {what:<26} {rate:7.0}/s   ratio {:.2} to the crypto floor (target >= 0.6), {:.2} to the transport (target >= 3000/s); {per_signature:.1} receipts per checkpoint signature; CPU per exchange {sender:.0} us sender + {recipient:.0} us recipient; latency p50 {p50:.1} ms, p99 {p99:.1} ms",
            of_floor(rate, if what.starts_with("each") { 1.0 } else { per_signature }),
            rate / transport
        );
    }
    println!("  peak RSS: sender {} MiB, recipient {} MiB", peak_rss_mib(pids[0]), peak_rss_mib(pids[1]));

    println!("  transport alone, one push of {} MiB: {push:.0} MiB/s", sizes[0] >> 20);
    for &bulk in sizes {
        let disk = disk_write_rate(&social, bulk);
        let large = fed.file("large.bin");
        // A sparse file: reading it costs no disk, so the nodes are measured, not this machine's disk.
        std::fs::File::create(&large).and_then(|f| f.set_len(bulk)).expect("creates the file");
        let start = Instant::now();
        let answer = send_file(&Client::new(&tax), &send_options(grant), &large).await;
        let secs = start.elapsed().as_secs_f64();
        assert_eq!(answer.result, SendResult::Delivered, "{answer:?}");
        let rate = (bulk >> 20) as f64 / secs;
        println!(
            "bulk send, {} MiB through the local API: {rate:.0} MiB/s ({secs:.1} s), stored encrypted and fsynced at the recipient; ratio {:.2} to the transport's push (target >= 0.6), {:.2} to the disk's fsynced writes ({disk:.0} MiB/s, target >= 0.6)",
            bulk >> 20,
            rate / push,
            rate / disk,
        );
        // Peak so far: after the 4 GiB send it covers every send before it (target: under 64 MiB).
        println!("  peak RSS: sender {} MiB, recipient {} MiB", peak_rss_mib(pids[0]), peak_rss_mib(pids[1]));
        let _ = std::fs::remove_file(&large);
    }
    drop(nodes);

    let (senders, per_sender, each_in_flight) = if full { (16, 400, 4) } else { (4, 16, 2) };
    let (rate, mut latencies) = fan_in(senders, per_sender, each_in_flight).await;
    println!(
        "fan-in, {senders} sender nodes into one recipient, {each_in_flight} in flight each: {rate:.0}/s; latency of a 1 KiB exchange p50 {:.1} ms, p99 {:.1} ms",
        percentile_ms(&mut latencies, 50.0),
        percentile_ms(&mut latencies, 99.0)
    );
}

fn main() {
    let runtime = tokio::runtime::Builder::new_multi_thread().worker_threads(2).enable_all().build().expect("runtime");
    if std::env::args().any(|a| a == "--callgrind") {
        runtime.block_on(callgrind::instructions_per_exchange(400));
    } else {
        runtime.block_on(run());
    }
}
