//! The README's operator guide is executable: its `sh` blocks run, in
//! order, in one bash shell, in an empty directory, with the `tally` this
//! build made first on the PATH. A guide that drifts from the CLI fails here.

mod common;

use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use common::TALLY;

/// The `sh` blocks of the README's "Operator guide" section, in order.
fn guide_blocks() -> Vec<String> {
    let readme = std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/../../README.md")).expect("README.md");
    let start = readme.find("\n## Operator guide").expect("an operator guide");
    let rest = &readme[start + 1..];
    let section = &rest[..rest[3..].find("\n## ").map_or(rest.len(), |i| i + 3)];
    let mut blocks = Vec::new();
    let mut lines = section.lines();
    while let Some(line) = lines.next() {
        if line.trim_end() == "```sh" {
            let block: Vec<&str> = lines.by_ref().take_while(|l| l.trim_end() != "```").collect();
            blocks.push(block.join("\n"));
        }
    }
    blocks
}

#[test]
fn the_operator_guide_in_the_readme_runs_as_written() {
    let blocks = guide_blocks();
    assert!(blocks.len() >= 8, "the guide has its steps: {blocks:?}");
    let dir = tempfile::tempdir().expect("an empty directory");
    let script =
        format!("set -euo pipefail\ntrap 'kill $(jobs -p) 2>/dev/null || true' EXIT\nset -x\n{}\n", blocks.join("\n"));
    std::fs::write(dir.path().join("guide.sh"), &script).expect("writes");
    let bin = std::path::Path::new(TALLY).parent().expect("the binary's directory");
    let path = format!("{}:{}", bin.display(), std::env::var("PATH").unwrap_or_default());
    let mut child = Command::new("bash")
        .arg("guide.sh")
        .current_dir(dir.path())
        .env("PATH", path)
        .env_remove("TALLY_DIR")
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("bash runs");
    let deadline = Instant::now() + Duration::from_secs(180);
    while child.try_wait().expect("waits").is_none() {
        if Instant::now() > deadline {
            let _ = child.kill();
            break;
        }
        std::thread::sleep(Duration::from_millis(100));
    }
    let out = child.wait_with_output().expect("it ends");
    let (stdout, stderr) = (String::from_utf8_lossy(&out.stdout), String::from_utf8_lossy(&out.stderr));
    assert!(out.status.success(), "the guide failed ({:?}):\n{stdout}\n{stderr}", out.status);
    // What the guide promises happened.
    let d = dir.path();
    let sent = std::fs::read(d.join("income.json")).expect("the guide wrote income.json");
    assert_eq!(std::fs::read(d.join("received.json")).expect("the guide exported received.json"), sent);
    assert!(stdout.contains("had finished before: nothing was sent again"), "the second send says so: {stdout}");
    assert!(stdout.contains("PASS: no findings"), "the audit passes: {stdout}");
    assert!(stdout.contains("Verified: social-security received packet"), "{stdout}");
    assert!(std::fs::read_to_string(d.join("report.html")).is_ok_and(|h| h.contains("id=\"verdict\" class=\"pass\"")));
    assert!(stdout.contains("revoked (revocation by tax-bureau from"), "the grantee's list says revoked: {stdout}");
}
