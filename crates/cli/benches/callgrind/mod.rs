//! Instructions per 1 KiB exchange, counted by callgrind and split by
//! crate: `cargo bench -p tally-cli --bench node -- --callgrind` (needs
//! valgrind). Instruction counts repeat whatever else the machine runs, so
//! a change's effect shows through the noise of the wall-clock ratios.
//!
//! Both nodes run under `valgrind --tool=callgrind` with instrumentation off;
//! after a warm-up, instrumentation is switched on (`callgrind_control -i on`)
//! for `count` exchanges (8 in flight) and the counts are dumped
//! (`callgrind_control -d`). Startup and the warm-up are never counted.
//! What the kernel does for the nodes (fsync, UDP, futex) is not counted.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use crate::common::{Federation, TALLY, grant_id, issue_grant, path, wait_until_started};

/// A node under callgrind, killed when dropped.
struct Profiled {
    child: Child,
    out: PathBuf,
}

impl Drop for Profiled {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn profiled(dir: &Path) -> Profiled {
    let out = dir.join("callgrind.out");
    let log = std::fs::File::create(dir.join("serve.log")).expect("log file");
    let child = Command::new("valgrind")
        .args(["--tool=callgrind", "--instr-atstart=no", "--quiet"])
        .arg(format!("--callgrind-out-file={}", out.display()))
        .args([TALLY, "serve", "--dir", path(dir)])
        .stdout(Stdio::null())
        .stderr(log)
        .spawn()
        .expect("valgrind runs (install valgrind for --callgrind)");
    let node = Profiled { child, out };
    wait_until_started(dir, Duration::from_secs(300));
    node
}

fn control(node: &Profiled, args: &[&str]) {
    let pid = node.child.id().to_string();
    let out = Command::new("callgrind_control").args(args).arg(&pid).output().expect("callgrind_control runs");
    assert!(out.status.success(), "callgrind_control {args:?}: {}", String::from_utf8_lossy(&out.stderr));
}

/// The crate a symbol belongs to, from its path (or what a C symbol is).
fn crate_of(symbol: &str) -> String {
    let s = symbol.trim_start_matches(['<', '&', '*']).trim_start_matches("mut ").trim_start_matches("dyn ");
    if let Some((first, _)) = s.split_once("::") {
        return first.to_owned();
    }
    // ring's C and assembly: prefixed, or (its curve25519 code) not.
    if s.starts_with("ring_core") || ["x25519_", "ge_", "fe_", "sc_", "x25519_ge"].iter().any(|p| s.starts_with(p)) {
        return "ring".to_owned();
    }
    if s.starts_with("0x") {
        return "unknown".to_owned();
    }
    if ["malloc", "free", "realloc", "calloc", "_int_", "unlink_chunk", "tcache"].iter().any(|m| s.contains(m)) {
        return "malloc and free (libc)".to_owned();
    }
    if s.starts_with("__mem") || s.starts_with("mem") {
        return "memcpy and memset (libc)".to_owned();
    }
    "other C".to_owned()
}

/// Exclusive instruction counts per crate in a callgrind dump (all its parts).
fn by_crate(out: &Path) -> BTreeMap<String, u64> {
    let mut files: Vec<PathBuf> = std::fs::read_dir(out.parent().expect("in a dir"))
        .expect("readable")
        .flatten()
        .map(|e| e.path())
        .filter(|p| p.file_name().and_then(|n| n.to_str()).is_some_and(|n| n.starts_with("callgrind.out")))
        .collect();
    files.sort();
    let mut counts = BTreeMap::new();
    for file in files {
        let annotated = Command::new("callgrind_annotate")
            .args(["--inclusive=no", "--threshold=100", "--auto=no"])
            .arg(&file)
            .output()
            .expect("callgrind_annotate runs");
        for line in String::from_utf8_lossy(&annotated.stdout).lines() {
            // "  1,234,567 (12.3%)  file:function [object]"
            let line = line.trim_start();
            let Some((count, rest)) = line.split_once(' ') else { continue };
            let Ok(count) = count.replace(',', "").parse::<u64>() else { continue };
            let Some((_, function)) = rest.split_once(':') else { continue };
            let function = function.split(" [").next().unwrap_or(function);
            *counts.entry(crate_of(function)).or_insert(0) += count;
        }
    }
    counts
}

/// Counts both nodes' instructions over `count` 1 KiB exchanges; prints
/// them per exchange and per crate.
pub(crate) async fn instructions_per_exchange(count: usize) {
    let fed = Federation::new(&[("tax-bureau", "producer,consumer"), ("social-security", "producer,consumer")]);
    let (tax, social) = (fed.dir("tax-bureau"), fed.dir("social-security"));
    let nodes = [profiled(&tax), profiled(&social)];
    let grant = grant_id(&issue_grant(&tax, &fed.file("bench.grant"), &[]));
    let send = crate::send_options(grant.parse().expect("a grant id"));
    let small = fed.file("record.bin");
    std::fs::write(&small, [0x5a; 1024]).expect("writes");
    crate::node_sends(&tax, &send, &small, 32, 8).await;
    for node in &nodes {
        control(node, &["-i", "on"]);
    }
    crate::node_sends(&tax, &send, &small, count, 8).await;
    for node in &nodes {
        control(node, &["-d"]);
    }
    println!("instructions per 1 KiB exchange (callgrind, {count} exchanges, 8 in flight; user space only):");
    for (who, node) in ["sender", "recipient"].iter().zip(&nodes) {
        let counts = by_crate(&node.out);
        let total: u64 = counts.values().sum();
        let mut sorted: Vec<_> = counts.into_iter().collect();
        sorted.sort_by_key(|(_, n)| std::cmp::Reverse(*n));
        let top: Vec<String> =
            sorted.iter().take(12).map(|(name, n)| format!("{name} {:.0}k", *n as f64 / count as f64 / 1e3)).collect();
        println!("  {who}: {:.0}k in all; {}", total as f64 / count as f64 / 1e3, top.join(", "));
    }
}
