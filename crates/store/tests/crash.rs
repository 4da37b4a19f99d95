//! Crash test of the durable log (spec/receipts.md, "Storage"): a child
//! process appends continuously and is killed with SIGKILL at a random
//! moment; after each restart every append that had been reported durable
//! is present, the store opens (it verifies its latest checkpoint), and a
//! consistency proof from every checkpoint signed before the crash
//! verifies against the new tree.
//!
//! `TALLY_CRASH_ITERATIONS` sets the number of kills (default 5; the
//! closing note of the receipts issue reports a long run).

use std::io::{BufRead, BufReader};
use std::process::{Command, Stdio};
use std::sync::Arc;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use tally_envelope::IdentityKey;
use tally_receipt::merkle::verify_consistency;
use tally_receipt::{Log, LogStore, log_origin};
use tally_store::Store;
use tally_wire::{AgencyId, Digest};

const CHILD: &str = "TALLY_CRASH_CHILD_DB";

fn agency() -> AgencyId {
    AgencyId::new("social-security").expect("valid")
}

fn key() -> Arc<IdentityKey> {
    Arc::new(IdentityKey::from_seed(&[2; 32]))
}

/// Entry `i` of the test log: its content is a function of its index.
fn entry(i: u64) -> Vec<u8> {
    format!("entry {i}").into_bytes()
}

/// The child's body: append forever from four threads, report what is durable.
#[test]
#[ignore = "the crash test's child process, run by crash_and_restart_never_loses_a_durable_append"]
fn crash_child() {
    let Some(path) = std::env::var_os(CHILD) else { return };
    let key = key();
    let origin = log_origin(&agency());
    let store = Store::open(std::path::Path::new(&path), &origin, &key.public_key()).expect("opens");
    let log = Log::new(store, &agency(), Arc::clone(&key));
    let next = std::sync::Mutex::new(log.size().expect("size"));
    std::thread::scope(|s| {
        for _ in 0..4 {
            s.spawn(|| {
                loop {
                    // Indices are handed out under the lock so that entry i is at index i.
                    let mut n = next.lock().expect("lock");
                    let range = log.store().append(vec![entry(*n), entry(*n + 1)]).expect("appends");
                    assert_eq!(range.start, *n);
                    *n = range.end;
                    drop(n);
                    println!("durable {}", range.end);
                    if range.end.is_multiple_of(64) {
                        let (c, _) = log.checkpoint().expect("signs");
                        println!("checkpoint {} {}", c.size, c.root);
                    }
                }
            });
        }
    });
}

fn random_millis(lo: u64, hi: u64) -> u64 {
    let nanos = SystemTime::now().duration_since(UNIX_EPOCH).map_or(0, |d| d.subsec_nanos());
    lo + u64::from(nanos) % (hi - lo)
}

#[test]
fn crash_and_restart_never_loses_a_durable_append() {
    let iterations: u32 = std::env::var("TALLY_CRASH_ITERATIONS").ok().and_then(|v| v.parse().ok()).unwrap_or(5);
    let path = std::env::temp_dir().join(format!("tally-crash-{}.redb", std::process::id()));
    let _ = std::fs::remove_file(&path);
    let key = key();
    let origin = log_origin(&agency());
    let mut checkpoints: Vec<(u64, Digest)> = Vec::new();
    let mut durable = 0u64;
    for round in 0..iterations {
        let mut child = Command::new(std::env::current_exe().expect("test binary"))
            .args(["--ignored", "--exact", "crash_child", "--nocapture", "--test-threads=1"])
            .env(CHILD, &path)
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .expect("spawns the child");
        let stdout = child.stdout.take().expect("piped");
        let reader = std::thread::spawn(move || {
            let mut lines = Vec::new();
            for line in BufReader::new(stdout).lines() {
                match line {
                    Ok(l) => lines.push(l),
                    Err(_) => break,
                }
            }
            lines
        });
        std::thread::sleep(Duration::from_millis(random_millis(150, 600)));
        child.kill().expect("SIGKILL");
        child.wait().expect("reaped");
        for line in reader.join().expect("reader") {
            let words: Vec<&str> = line.split(' ').collect();
            match words.as_slice() {
                ["durable", n] => durable = durable.max(n.parse().expect("a number")),
                ["checkpoint", size, root] => {
                    checkpoints.push((size.parse().expect("a number"), root.parse().expect("a digest")));
                }
                _ => {}
            }
        }
        // Restart: the store checks its latest checkpoint against its tree.
        let store = Store::open(&path, &origin, &key.public_key()).expect("reopens after SIGKILL");
        let size = store.size().expect("size");
        assert!(size >= durable, "round {round}: {durable} appends were durable, the log has {size}");
        for i in (0..size).step_by(((size / 200).max(1)) as usize).chain(size.checked_sub(1)) {
            assert_eq!(store.entry(i).expect("present"), entry(i), "round {round}: entry {i}");
        }
        let log = Log::new(store, &agency(), Arc::clone(&key));
        let new_root = log.root(size).expect("root");
        for (old, old_root) in &checkpoints {
            let proof = log.consistency_proof(*old, size).expect("proof");
            assert!(verify_consistency(*old, size, old_root, &new_root, &proof), "round {round}: checkpoint at {old}");
        }
        durable = size;
    }
    assert!(durable > 0, "the child appended nothing");
    assert!(!checkpoints.is_empty(), "the child signed no checkpoint");
    println!("crash test: {iterations} kills, {durable} entries, {} checkpoints all consistent", checkpoints.len());
    let _ = std::fs::remove_file(&path);
}
