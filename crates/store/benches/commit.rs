//! The store's group commit, beside an fsync measured in the same run.
//! Run with `cargo bench -p tally-store`.

use std::time::{Duration, Instant};

use tally_envelope::IdentityKey;
use tally_receipt::{LogStore, log_origin};
use tally_store::Store;
use tally_wire::AgencyId;

fn main() {
    if !tally_testkit::benchmarking() {
        println!("store benchmarks: run with `cargo bench -p tally-store`");
        return;
    }
    let social = AgencyId::new("social-security").expect("valid");
    let key = IdentityKey::from_seed(&[2; 32]);
    let entry = vec![7u8; 300];
    let dir = tempfile::tempdir().expect("temp dir");
    let path = dir.path().join("bench.redb");
    // The ceiling: one fsynced 300-byte write per commit, from one writer.
    let fsync = {
        use std::io::Write;
        let mut file = std::fs::File::create(dir.path().join("fsync")).expect("creates");
        let start = Instant::now();
        let mut n = 0u32;
        while start.elapsed() < Duration::from_secs(1) {
            file.write_all(&entry).and_then(|()| file.sync_data()).expect("writes");
            n += 1;
        }
        f64::from(n) / start.elapsed().as_secs_f64()
    };
    // Durable appends on redb with group commit: 16 threads, one entry per append.
    let store = Store::open(&path, &log_origin(&social), &key.public_key()).expect("opens");
    let deadline = Instant::now() + Duration::from_secs(3);
    let start = Instant::now();
    std::thread::scope(|s| {
        for _ in 0..16 {
            s.spawn(|| {
                while Instant::now() < deadline {
                    store.append(vec![entry.clone()]).expect("appends");
                }
            });
        }
    });
    let rate = store.size().expect("size") as f64 / start.elapsed().as_secs_f64();
    println!(
        "durable appends, 16 writers, group commit: {rate:9.0}/s (each acknowledged after its fsynced commit)   one writer's fsyncs {fsync:7.0}/s   ratio {:.1}",
        rate / fsync
    );
}
