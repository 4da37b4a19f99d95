//! Follow benchmark (spec/audit.md, "Following a log"): an auditor's
//! `tally serve` follows a tax bureau's `tally serve` over QUIC on
//! 127.0.0.1. The tax bureau's log is filled before its node starts, by
//! appending deletion records of 16 packets (about 300 bytes, the size of
//! a receipt entry) to its store: 10^6 entries, then 10^4 more. Reported:
//!
//! 1. the first follow (the whole log, in answers of at most 1 MiB) and
//!    the one after the 10^4 new entries: time and entries per second;
//! 2. the ceiling, measured in the same run: the tax bureau's store read
//!    whole in 1 MiB parts in this process (what the answering node reads
//!    per answer, without the transport and the follower's writes); each
//!    follow's rate is given as a ratio to it;
//! 3. the peak resident memory (VmHWM) of the auditor's node and of the
//!    tax bureau's after each follow.
//!
//! Run with `cargo bench -p tally-cli --bench follow`. Without `--bench`
//! (as `cargo test --benches` runs it) the log has 2,000 entries: a smoke
//! run of the same code.

#[path = "../tests/common/mod.rs"]
mod common;

use std::path::Path;
use std::sync::Arc;
use std::time::Instant;

use common::{Federation, Served, ok, path, serve};
use tally_receipt::Log;
use tally_store::Store;
use tally_testkit::benchmarking;
use tally_wire::{
    AgencyId, BoundedVec, DeletionReason, DeletionRecord, Encoded, GrantId, LogEntry, PacketId, Timestamp,
};

/// Peak resident set size of process `pid`, in MiB (VmHWM).
fn peak_rss_mib(pid: u32) -> u64 {
    std::fs::read_to_string(format!("/proc/{pid}/status"))
        .ok()
        .and_then(|s| {
            s.lines().find(|l| l.starts_with("VmHWM:")).and_then(|l| l.split_whitespace().nth(1)?.parse::<u64>().ok())
        })
        .map_or(0, |kib| kib / 1024)
}

fn tax() -> AgencyId {
    AgencyId::new("tax-bureau").expect("a name")
}

/// The tax bureau's store and log, opened with its keys (its node must be stopped).
fn open(dir: &Path) -> Log<Store> {
    let keys = tally_node::AgencyKeys::load(dir, &tax()).expect("the keys");
    let origin = tally_receipt::log_origin(&tax());
    let store =
        Store::open(&dir.join("data").join("tally.redb"), &origin, &keys.identity.public_key()).expect("the store");
    Log::new(store, &tax(), Arc::clone(&keys.identity))
}

/// Appends `count` entries to the tax bureau's log, numbered from `from`.
fn fill(dir: &Path, from: u64, count: u64) {
    let log = open(dir);
    let entry = |n: u64| {
        let packets = (0..16u64).map(|p| {
            let mut id = [0; 16];
            id[..8].copy_from_slice(&n.to_be_bytes());
            id[8..].copy_from_slice(&p.to_be_bytes());
            PacketId(id)
        });
        let record = DeletionRecord {
            agency: tax(),
            grant: GrantId([(n % 251) as u8; 32]),
            packets: BoundedVec::new(packets.collect()).expect("16 packets"),
            erased_at: Timestamp::new(1_700_000_000 + n, 0).expect("a time"),
            reason: DeletionReason::OPERATOR,
        };
        LogEntry::Deletion(Encoded::new(record).expect("encodes"))
    };
    let mut next = from;
    while next < from + count {
        let batch: Vec<LogEntry> = (next..(next + 10_000).min(from + count)).map(entry).collect();
        next += batch.len() as u64;
        log.append(&batch).expect("appends");
    }
}

/// The tax bureau's whole log read from its store in 1 MiB parts: entries per second.
fn ceiling(dir: &Path) -> f64 {
    let log = open(dir);
    let size = log.store().log_size().expect("size");
    let start = Instant::now();
    let mut next = 0;
    while next < size {
        let part = log.store().log_entries(next, size, tally_wire::limits::MAX_ENTRIES_ANSWER).expect("reads");
        next += part.len() as u64;
    }
    size as f64 / start.elapsed().as_secs_f64()
}

/// One follow: entries verified, entries fetched, seconds.
fn follow(audit: &Path) -> (u64, u64, f64) {
    let start = Instant::now();
    let out = ok(&["log", "follow", "--dir", path(audit), "--from", "tax-bureau", "--json"]);
    let secs = start.elapsed().as_secs_f64();
    let v: serde_json::Value = serde_json::from_str(&out).expect("JSON");
    (v["size"].as_u64().expect("a size"), v["fetched"].as_u64().expect("a count"), secs)
}

fn main() {
    let full = benchmarking();
    let (first, added) = if full { (1_000_000, 10_000) } else { (2_000, 20) };
    let fed = Federation::new(&[("tax-bureau", "producer,consumer"), ("audit-office", "auditor")]);
    let (tax_dir, audit) = (fed.dir("tax-bureau"), fed.dir("audit-office"));
    // The node makes its data directory and store, and stops.
    drop(serve(&tax_dir));
    let start = Instant::now();
    fill(&tax_dir, 0, first);
    println!("filled the tax bureau's log with {first} entries in {:.1} s", start.elapsed().as_secs_f64());
    let auditor = serve(&audit);
    let mut node: Served = serve(&tax_dir);
    let whole = follow(&audit);
    assert_eq!((whole.0, whole.1), (first, first), "the whole log is fetched");
    let after_whole = (peak_rss_mib(auditor.0.id()), peak_rss_mib(node.0.id()));
    drop(node);
    fill(&tax_dir, first, added);
    let read = ceiling(&tax_dir);
    node = serve(&tax_dir);
    let more = follow(&audit);
    assert_eq!((more.0, more.1), (first + added, added), "only the new entries are fetched");
    let after_more = (peak_rss_mib(auditor.0.id()), peak_rss_mib(node.0.id()));
    println!("ceiling: the store read in 1 MiB parts in one process: {read:.0} entries/s");
    for (what, (_, fetched, secs), (auditor_mib, tax_mib)) in
        [("first follow, the whole log", whole, after_whole), ("next follow, the new entries", more, after_more)]
    {
        let rate = fetched as f64 / secs;
        println!(
            "{what}: {fetched} entries in {secs:.2} s, {rate:.0} entries/s ({:.2} of the ceiling); peak RSS: auditor {auditor_mib} MiB, tax bureau {tax_mib} MiB",
            rate / read
        );
    }
    drop(node);
}
