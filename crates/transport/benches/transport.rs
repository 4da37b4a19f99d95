//! Transport benchmark over QUIC on 127.0.0.1: Tally against a raw quinn
//! stream with the same TLS profile, measured in the same run and reported
//! as ratios (these machines are shared and noisy). Run with
//! `cargo bench -p tally-transport`.
//!
//! Two processes: this one is the tax bureau (the sender); it re-executes
//! itself as the social-security bureau (the receiver), which runs a Tally
//! endpoint and, beside it, a raw quinn server with the same keys and TLS
//! configuration. The receiver's host keeps packets of up to 1 MiB and
//! their receipts in memory and counts the bytes of larger ones (the
//! transport is measured here, not a disk; tally-node measures storage).
//!
//! 1. Bulk: one large payload (1 GiB) pushed through Tally, against the same
//!    bytes written on one raw quinn stream. Peak RSS of both processes.
//! 2. Small: 1 KiB exchanges with receipts, 64 in flight, against raw quinn
//!    1 KiB request/response on fresh streams, 64 in flight; beside them the
//!    CPU floor of the exchange's cryptography, measured in this run.

use std::io::{self, BufRead, Write};
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::Instant;

use tally_protocol::SenderOutcome;
use tally_testkit::benchmarking;
use tally_transport::{Endpoint, KeyExchange, LocalAgency, Roster, TlsKey, TransportConfig};
use tally_wire::{AgencyId, BoundedVec, ChunkSize, Outcome};

#[path = "memory/mod.rs"]
mod memory;

use memory::*;

const CHILD: &str = "TALLY_BENCH_RECEIVER_DIR";

/// Peak resident set size of this process, in KiB (VmHWM).
fn peak_rss_kib() -> u64 {
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| {
            s.lines().find(|l| l.starts_with("VmHWM:")).and_then(|l| l.split_whitespace().nth(1)?.parse().ok())
        })
        .unwrap_or(0)
}

// ---------------------------------------------------------------- receiver process

fn read_key(dir: &Path, name: &str) -> TlsKey {
    TlsKey::from_pkcs8(&std::fs::read(dir.join(name)).expect("key file")).expect("key")
}

fn receiver_roster(dir: &Path) -> Arc<Roster> {
    let (tax_tls, social_tls) = (read_key(dir, "tax.tls"), read_key(dir, "social.tls"));
    let kem = social_kem();
    Arc::new(Roster::new(&directory(
        1,
        vec![
            record("tax-bureau", &tax_identity(), &tax_tls, None, "127.0.0.1:9"),
            record("social-security", &social_identity(), &social_tls, Some(&kem), "127.0.0.1:9"),
        ],
    )))
}

async fn receiver(dir: PathBuf) {
    let roster = receiver_roster(&dir);
    let host = Arc::new(MemoryHost::social_security());
    let local = LocalAgency {
        id: agency("social-security"),
        identity: Arc::new(social_identity()),
        tls_key: read_key(&dir, "social.tls"),
    };
    let config = TransportConfig::default();
    let any: SocketAddr = "127.0.0.1:0".parse().expect("address");
    let tally = Endpoint::bind(any, local, Arc::clone(&roster), Arc::new(Receiving(host)), config).expect("binds");
    // The baseline: plain quinn, same key, same TLS profile, same windows.
    let tls =
        tally_transport::tls_server_config(&read_key(&dir, "social.tls"), roster, config.key_exchange).expect("tls");
    let mut server = quinn::ServerConfig::with_crypto(Arc::new(
        quinn::crypto::rustls::QuicServerConfig::try_from(tls).expect("quic tls"),
    ));
    server.transport_config(Arc::new(config.quinn()));
    let raw = quinn::Endpoint::server(server, any).expect("binds");
    println!("tally {}", tally.local_addr().expect("bound"));
    println!("raw {}", raw.local_addr().expect("bound"));
    tokio::spawn(async move {
        while let Some(incoming) = raw.accept().await {
            tokio::spawn(async move {
                let Ok(connection) = incoming.await else { return };
                while let Ok((mut send, mut recv)) = connection.accept_bi().await {
                    tokio::spawn(async move {
                        let mut buf = vec![0u8; 256 * 1024];
                        let mut total = 0usize;
                        while let Ok(Some(n)) = recv.read(&mut buf).await {
                            total += n;
                        }
                        let _ = send.write_all(&buf[..total.min(1024)]).await;
                        let _ = send.finish();
                        let _ = send.stopped().await;
                    });
                }
            });
        }
    });
    // Each line from the parent asks for the peak RSS so far; the end of stdin ends the process.
    tokio::task::spawn_blocking(|| {
        let mut line = String::new();
        while io::stdin().lock().read_line(&mut line).map(|n| n > 0).unwrap_or(false) {
            println!("rss {}", peak_rss_kib());
            line.clear();
        }
    })
    .await
    .expect("joins");
}

// ---------------------------------------------------------------- sender process

struct Bench {
    tally: Endpoint<Sending>,
    raw: quinn::Connection,
    to: AgencyId,
}

impl Bench {
    async fn tally_push(&self, len: u64, chunk_size: ChunkSize) -> f64 {
        let packet = self.tally.seal(&self.to, spec_chunked(len, chunk_size), BoundedVec::empty()).expect("seals");
        let start = Instant::now();
        let outcome = self.tally.send(packet, Zeros(len)).await.expect("exchange");
        let elapsed = start.elapsed().as_secs_f64();
        match outcome {
            SenderOutcome::Delivered(r) => {
                assert!(matches!(tally_receipt::bundled_receipt(&r.receipt).outcome, Outcome::Accepted { .. }));
            }
            SenderOutcome::Refused(r) => panic!("refused: {r:?}"),
            SenderOutcome::NotStored => panic!("a fresh send is stored or refused"),
        }
        elapsed
    }

    async fn raw_push(&self, len: u64) -> f64 {
        raw_push_on(&self.raw, len).await
    }
}

/// One push of `len` bytes on a new stream of `connection`, acknowledged.
async fn raw_push_on(connection: &quinn::Connection, len: u64) -> f64 {
    let buf = vec![0u8; 1 << 20];
    let start = Instant::now();
    let (mut send, mut recv) = connection.open_bi().await.expect("stream");
    let mut left = len;
    while left > 0 {
        let n = left.min(buf.len() as u64) as usize;
        send.write_all(&buf[..n]).await.expect("writes");
        left -= n as u64;
    }
    send.finish().expect("finishes");
    recv.read_to_end(1024).await.expect("ack");
    start.elapsed().as_secs_f64()
}

impl Bench {
    async fn tally_small(&self, count: usize, in_flight: usize) -> f64 {
        small_exchanges(&self.tally, &self.to, count, in_flight).await
    }

    async fn raw_small(&self, count: usize, in_flight: usize) -> f64 {
        let start = Instant::now();
        let tasks: Vec<_> = (0..in_flight)
            .map(|_| {
                let connection = self.raw.clone();
                tokio::spawn(async move {
                    let data = [0u8; 1024];
                    for _ in 0..count / in_flight {
                        let (mut send, mut recv) = connection.open_bi().await.expect("stream");
                        send.write_all(&data).await.expect("writes");
                        send.finish().expect("finishes");
                        let response = quinn::RecvStream::read_to_end(&mut recv, 1024).await.expect("response");
                        assert_eq!(response.len(), 1024);
                    }
                })
            })
            .collect();
        for t in tasks {
            t.await.expect("joins");
        }
        start.elapsed().as_secs_f64()
    }
}

async fn sender() {
    let full = benchmarking();
    let dir = std::env::temp_dir().join(format!("tally-transport-bench-{}", std::process::id()));
    std::fs::create_dir_all(&dir).expect("temp dir");
    let (tax_tls, social_tls) = (TlsKey::generate().expect("random"), TlsKey::generate().expect("random"));
    std::fs::write(dir.join("tax.tls"), tax_tls.pkcs8()).expect("writes");
    std::fs::write(dir.join("social.tls"), social_tls.pkcs8()).expect("writes");

    let mut child = Command::new(std::env::current_exe().expect("self"))
        .env(CHILD, &dir)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .spawn()
        .expect("starts the receiver");
    let mut lines = io::BufReader::new(child.stdout.take().expect("piped")).lines();
    let mut next_addr = |what: &str| -> String {
        let line = lines.next().expect("a line").expect("reads");
        line.strip_prefix(what).expect("the receiver's address").trim().to_string()
    };
    let (tally_addr, raw_addr) = (next_addr("tally "), next_addr("raw "));

    let kem = social_kem();
    let roster = Arc::new(Roster::new(&directory(
        1,
        vec![
            record("tax-bureau", &tax_identity(), &tax_tls, None, "127.0.0.1:9"),
            record("social-security", &social_identity(), &social_tls, Some(&kem), &tally_addr),
        ],
    )));
    let raw_tls =
        tally_transport::tls_client_config(&tax_tls, Arc::clone(&roster), TransportConfig::default().key_exchange)
            .expect("tls");
    let handshake_configs: Vec<(&str, KeyExchange, quinn::ClientConfig)> =
        [("X25519MLKEM768", KeyExchange::HybridPreferred), ("X25519", KeyExchange::Classical)]
            .into_iter()
            .map(|(name, kx)| {
                let tls = tally_transport::tls_client_config(&tax_tls, Arc::clone(&roster), kx).expect("tls");
                let quic = quinn::crypto::rustls::QuicClientConfig::try_from(tls).expect("quic tls");
                (name, kx, quinn::ClientConfig::new(Arc::new(quic)))
            })
            .collect();
    let local = LocalAgency { id: agency("tax-bureau"), identity: Arc::new(tax_identity()), tls_key: tax_tls };
    let config = TransportConfig::default();
    let any: SocketAddr = "127.0.0.1:0".parse().expect("address");
    let tally = Endpoint::bind(any, local, roster, Arc::new(Sending(Mutex::new(Vec::new()))), config).expect("binds");
    let mut raw_endpoint = quinn::Endpoint::client(any).expect("binds");
    let mut raw_client = quinn::ClientConfig::new(Arc::new(
        quinn::crypto::rustls::QuicClientConfig::try_from(raw_tls).expect("quic tls"),
    ));
    raw_client.transport_config(Arc::new(config.quinn()));
    raw_endpoint.set_default_client_config(raw_client);
    let raw = raw_endpoint
        .connect(raw_addr.parse().expect("address"), "social-security")
        .expect("connects")
        .await
        .expect("handshake");
    let bench = Bench { tally, raw, to: agency("social-security") };

    // Handshakes, one after another, to the receiver's raw quinn endpoint (its
    // TLS the profile's, hybrid preferred): what a connection costs, with and
    // without the post-quantum group. The counts say which group each used.
    let handshakes = if full { 400 } else { 10 };
    let mut handshake_secs = Vec::new();
    for (name, kx, config) in &handshake_configs {
        let before = tally_transport::key_exchanges();
        let mut best = f64::INFINITY;
        for _ in 0..if full { 3 } else { 1 } {
            let start = Instant::now();
            for _ in 0..handshakes {
                let connection = raw_endpoint
                    .connect_with(config.clone(), raw_addr.parse().expect("address"), "social-security")
                    .expect("connects")
                    .await
                    .expect("handshake");
                connection.close(0u32.into(), b"");
            }
            best = best.min(start.elapsed().as_secs_f64() / handshakes as f64);
        }
        let after = tally_transport::key_exchanges();
        let used = match kx {
            KeyExchange::Classical => after.classical - before.classical,
            _ => after.hybrid - before.hybrid,
        };
        assert!(used >= handshakes as u64, "{name}: {used} key exchanges of that group for {handshakes} handshakes");
        handshake_secs.push((*name, best));
    }

    let bulk: u64 = if full { 1 << 30 } else { 16 << 20 };
    let rounds = if full { 3 } else { 1 };
    let mib = ChunkSize::new(1 << 20).expect("valid");
    // The same raw stream over a connection whose key exchange was X25519
    // alone: the group changes the handshake, not the bulk cipher.
    let classical = raw_endpoint
        .connect_with(handshake_configs[1].2.clone(), raw_addr.parse().expect("address"), "social-security")
        .expect("connects")
        .await
        .expect("handshake");
    let (mut best_raw, mut best_tally, mut best_mib) = (f64::INFINITY, f64::INFINITY, f64::INFINITY);
    let mut best_classical = f64::INFINITY;
    for _ in 0..rounds {
        best_raw = best_raw.min(bench.raw_push(bulk).await);
        best_classical = best_classical.min(raw_push_on(&classical, bulk).await);
        best_tally = best_tally.min(bench.tally_push(bulk, ChunkSize::DEFAULT).await);
        best_mib = best_mib.min(bench.tally_push(bulk, mib).await);
    }
    println!("TLS 1.3 handshakes over QUIC (raw public keys, client authenticated), one after another:");
    for (name, secs) in &handshake_secs {
        println!("  {name:<16} {:8.0}/s   {:6.0} us each", 1.0 / secs, secs * 1e6);
    }
    if let [(_, hybrid), (_, classical)] = handshake_secs[..] {
        println!("  the hybrid group's handshake takes {:.2}x the classical one's time", hybrid / classical);
    }
    let mut stdin = child.stdin.take().expect("piped");
    let mut child_rss = move || -> u64 {
        writeln!(stdin, "rss").expect("asks");
        let line = lines.next().expect("a line").expect("reads");
        line.strip_prefix("rss ").and_then(|v| v.trim().parse().ok()).unwrap_or(0)
    };
    let (sender_bulk_rss, receiver_bulk_rss) = (peak_rss_kib(), child_rss());
    let gbps = |s: f64| bulk as f64 / s / 1e9;
    println!("bulk push, {} MiB, best of {rounds}:", bulk >> 20);
    println!("  raw quinn stream   {:6.3} GB/s (connection's key exchange X25519MLKEM768)", gbps(best_raw));
    println!(
        "  ... X25519 alone   {:6.3} GB/s   hybrid / classical {:.2}",
        gbps(best_classical),
        best_classical / best_raw
    );
    println!(
        "  tally push         {:6.3} GB/s   ratio {:.2} (target >= 0.70)",
        gbps(best_tally),
        best_raw / best_tally
    );
    println!("  ... 1 MiB chunks   {:6.3} GB/s   ratio {:.2}", gbps(best_mib), best_raw / best_mib);
    println!(
        "  peak RSS after the bulk runs: sender {} MiB, receiver {} MiB (target < 64 MiB each)",
        sender_bulk_rss / 1024,
        receiver_bulk_rss / 1024
    );

    let (count, in_flight) = (if full { 20_000 } else { 640 }, 64);
    let raw_secs = bench.raw_small(count, in_flight).await;
    let tally_secs = bench.tally_small(count, in_flight).await;
    let (floor, parts) = crypto_floor(tally_wire::Kem::X25519);
    let rate = |s: f64| count as f64 / s;
    println!("1 KiB exchanges, {count} with {in_flight} in flight:");
    println!("  raw quinn request/response  {:8.0}/s", rate(raw_secs));
    println!(
        "  tally, receipted            {:8.0}/s   ratio {:.2} to raw (target >= 5000/s)",
        rate(tally_secs),
        raw_secs / tally_secs
    );
    println!(
        "  crypto CPU floor: {:.0} us per exchange = {:.0}/s on 2 cores; tally reaches {:.2} of it",
        floor * 1e6,
        2.0 / floor,
        rate(tally_secs) * floor / 2.0
    );
    for (name, secs) in parts {
        println!("    {name:<16} {:6.1} us", secs * 1e6);
    }

    bench.tally.shutdown(std::time::Duration::from_secs(5)).await;
    println!(
        "peak RSS at the end (the receiver holds every 1 KiB packet in memory): sender {} MiB, receiver {} MiB",
        peak_rss_kib() / 1024,
        child_rss() / 1024
    );
    drop(child_rss);
    let _ = child.wait();
    let _ = std::fs::remove_dir_all(&dir);
    io::stdout().flush().expect("flushes");
}

fn main() {
    let runtime = tokio::runtime::Builder::new_multi_thread().worker_threads(2).enable_all().build().expect("runtime");
    match std::env::var_os(CHILD) {
        Some(dir) => runtime.block_on(receiver(PathBuf::from(dir))),
        None => runtime.block_on(sender()),
    }
}
