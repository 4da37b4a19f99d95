//! Helpers for tests that drive the `tally` binary: a federation made
//! with the CLI, `tally serve` processes, JSON listings.

#![allow(dead_code, unreachable_pub)]

use std::net::UdpSocket;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::time::{Duration, Instant};

pub const TALLY: &str = env!("CARGO_BIN_EXE_tally");

pub fn run(args: &[&str]) -> Output {
    Command::new(TALLY).args(args).output().expect("the tally binary runs")
}

pub fn text(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}

/// Runs a command that must succeed; returns its standard output.
pub fn ok(args: &[&str]) -> String {
    let out = run(args);
    assert!(out.status.success(), "tally {args:?} failed: {}{}", text(&out.stdout), text(&out.stderr));
    text(&out.stdout)
}

/// Runs a command that must fail with `code`; returns its standard output and error.
pub fn fails(args: &[&str], code: i32) -> String {
    let out = run(args);
    let all = format!("{}{}", text(&out.stdout), text(&out.stderr));
    assert_eq!(out.status.code(), Some(code), "tally {args:?}: {all}");
    all
}

pub fn path(p: &Path) -> &str {
    p.to_str().expect("UTF-8 temp path")
}

/// A `tally serve` process, killed when dropped.
pub struct Served(pub Child);

impl Drop for Served {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

pub fn serve(dir: &Path) -> Served {
    let log = std::fs::File::create(dir.join("serve.log")).expect("log file");
    let child = Command::new(TALLY)
        .args(["serve", "--dir", path(dir)])
        .stdout(Stdio::null())
        .stderr(log)
        .spawn()
        .expect("tally serve starts");
    let served = Served(child);
    wait_until_started(dir, Duration::from_secs(30));
    served
}

/// Waits up to `within` until the node in `dir` answers `tally status`
/// (panics with its log if it does not).
pub fn wait_until_started(dir: &Path, within: Duration) {
    let deadline = Instant::now() + within;
    while !run(&["status", "--dir", path(dir)]).status.success() {
        let log = std::fs::read_to_string(dir.join("serve.log")).unwrap_or_default();
        assert!(Instant::now() < deadline, "the node in {} did not start: {log}", dir.display());
        std::thread::sleep(Duration::from_millis(50));
    }
}

/// Waits up to 20 s for `condition`.
pub fn eventually(what: &str, mut condition: impl FnMut() -> bool) {
    let deadline = Instant::now() + Duration::from_secs(20);
    while !condition() {
        assert!(Instant::now() < deadline, "timed out waiting until {what}");
        std::thread::sleep(Duration::from_millis(100));
    }
}

/// A federation made with the CLI: operator, agencies, purposes, directory.
pub struct Federation {
    pub root: tempfile::TempDir,
    pub key: String,
}

impl Federation {
    pub fn new(agencies: &[(&str, &str)]) -> Self {
        // Income data is the tax bureau's to grant (spec/grants.md, "Controllers").
        let income: &[(&str, &str)] =
            if agencies.iter().any(|(a, _)| *a == "tax-bureau") { &[("income", "tax-bureau")] } else { &[] };
        Self::with_categories(agencies, income)
    }

    /// A federation whose directory registers `categories` (category, controller) too.
    pub fn with_categories(agencies: &[(&str, &str)], categories: &[(&str, &str)]) -> Self {
        Self::build(agencies, categories, &[])
    }

    /// [`new`](Self::new), with the agencies in `classical` made by
    /// `tally init --classical-only` (an X25519 KEM key, no X-Wing key).
    pub fn with_classical(agencies: &[(&str, &str)], classical: &[&str]) -> Self {
        let income: &[(&str, &str)] =
            if agencies.iter().any(|(a, _)| *a == "tax-bureau") { &[("income", "tax-bureau")] } else { &[] };
        Self::build(agencies, income, classical)
    }

    fn build(agencies: &[(&str, &str)], categories: &[(&str, &str)], classical: &[&str]) -> Self {
        let root = tempfile::tempdir().expect("temp dir");
        let op = root.path().join("operator");
        ok(&["federation", "init", "--dir", path(&op), "--name", "Test federation"]);
        let key = std::fs::read_to_string(op.join("operator.pub")).expect("operator.pub").trim().to_owned();
        for (agency, roles) in agencies {
            let dir = root.path().join(agency);
            let addr = UdpSocket::bind("127.0.0.1:0").expect("a free port").local_addr().expect("bound").to_string();
            let init = ["init", "--agency", agency, "--dir", path(&dir), "--listen", &addr, "--operator-key", &key];
            let only: &[&str] = if classical.contains(agency) { &["--classical-only"] } else { &[] };
            ok(&[&init[..], only].concat());
            let export = dir.join(format!("{agency}.agency.toml"));
            ok(&["federation", "add-agency", "--dir", path(&op), path(&export), "--roles", roles]);
        }
        ok(&[
            "federation",
            "add-purpose",
            "--dir",
            path(&op),
            "social-security.eligibility",
            "--legal-basis",
            "SSA s. 12",
        ]);
        ok(&["federation", "add-purpose", "--dir", path(&op), "tax.audit", "--legal-basis", "TAA s. 4"]);
        for (category, controller) in categories {
            ok(&["federation", "add-category", "--dir", path(&op), category, "--controller", controller]);
        }
        let directory = root.path().join("directory.tally");
        let published = ok(&["federation", "publish", "--dir", path(&op), "--out", path(&directory)]);
        assert!(published.contains("serial 1"), "{published}");
        for (agency, _) in agencies {
            std::fs::copy(&directory, root.path().join(agency).join("directory.tally")).expect("copies");
        }
        Self { root, key }
    }

    pub fn dir(&self, agency: &str) -> PathBuf {
        self.root.path().join(agency)
    }

    pub fn file(&self, name: &str) -> PathBuf {
        self.root.path().join(name)
    }

    pub fn append_config(&self, agency: &str, text: &str) {
        let config = self.dir(agency).join("tally.toml");
        let old = std::fs::read_to_string(&config).expect("config");
        std::fs::write(&config, old.replace("sweep_interval = \"10s\"", "sweep_interval = \"500ms\"") + text)
            .expect("writes");
    }
}

/// Issues, from the node in `issuer`, a grant to social-security for
/// `social-security.eligibility` / `income.annual` with `extra` flags;
/// writes the grant file to `out` and returns the command's output.
pub fn issue_grant(issuer: &Path, out: &Path, extra: &[&str]) -> String {
    let flow = [
        "grant",
        "issue",
        "--dir",
        path(issuer),
        "--grantee",
        "social-security",
        "--purpose",
        "social-security.eligibility",
        "--category",
        "income.annual",
        "--out",
        path(out),
    ];
    ok(&[&flow[..], extra].concat())
}

pub fn grant_id(stdout: &str) -> String {
    stdout.split_whitespace().nth(2).expect("`Issued grant ID;`").trim_end_matches(';').to_owned()
}

pub fn packet_id(stdout: &str) -> String {
    stdout.split_whitespace().nth(1).expect("`Delivered ID to`").to_owned()
}

pub fn inbox(dir: &Path) -> Vec<serde_json::Value> {
    let out = ok(&["inbox", "list", "--dir", path(dir), "--json"]);
    serde_json::from_str::<serde_json::Value>(&out).expect("JSON").as_array().cloned().expect("a list")
}
