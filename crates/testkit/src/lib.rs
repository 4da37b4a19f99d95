//! `tally-testkit`: what Tally's tests and benchmarks share — golden-file
//! checking, hex for vector files, and a timing loop. A dev-dependency
//! only; nothing here is part of the protocol.
//!
//! ```
//! assert_eq!(tally_testkit::hex(&[0xab, 0x01]), "ab01");
//! assert_eq!(tally_testkit::unhex("ab01"), vec![0xab, 0x01]);
//! ```

#![forbid(unsafe_code)]

use std::path::Path;
use std::time::{Duration, Instant};

/// Lowercase hex.
pub fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

/// Decodes hex from a vector file; panics (failing the test) on bad hex.
pub fn unhex(s: &str) -> Vec<u8> {
    assert!(s.len().is_multiple_of(2), "odd-length hex in a vector file");
    (0..s.len()).step_by(2).map(|i| u8::from_str_radix(&s[i..i + 2], 16).expect("hex in a vector file")).collect()
}

/// Whether this run regenerates golden files (`TALLY_BLESS=1`).
pub fn blessing() -> bool {
    std::env::var_os("TALLY_BLESS").is_some()
}

/// Checks that the golden file at `path` holds exactly `text`, or, when
/// blessing, writes it. The failure message says how to regenerate.
pub fn check_golden(path: &Path, text: &str) {
    if blessing() {
        std::fs::create_dir_all(path.parent().expect("a golden file has a parent directory"))
            .expect("creates the directory");
        std::fs::write(path, text).expect("writes the golden file");
        return;
    }
    let on_disk = std::fs::read_to_string(path)
        .unwrap_or_else(|e| panic!("{}: {e}; run the test with TALLY_BLESS=1 to create it", path.display()));
    assert!(
        on_disk == text,
        "{} differs from what the code generates; if the change is deliberate, run the test with TALLY_BLESS=1",
        path.display()
    );
}

/// Seconds per call of `f`: the best of five samples of at least 0.3 s each.
pub fn time(mut f: impl FnMut()) -> f64 {
    let mut iters = 1u64;
    loop {
        let start = Instant::now();
        for _ in 0..iters {
            f();
        }
        if start.elapsed() >= Duration::from_millis(300) {
            break;
        }
        iters *= 2;
    }
    (0..5)
        .map(|_| {
            let start = Instant::now();
            for _ in 0..iters {
                f();
            }
            start.elapsed().as_secs_f64() / iters as f64
        })
        .fold(f64::INFINITY, f64::min)
}

/// Whether a benchmark binary was started by `cargo bench` (which passes
/// `--bench`) rather than by `cargo test --benches`, which should only
/// check that it runs.
pub fn benchmarking() -> bool {
    std::env::args().any(|a| a == "--bench")
}
