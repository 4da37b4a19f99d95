//! Crash test of the node: `tally serve` processes killed with SIGKILL at
//! random points of a transfer and of its receipt, 20 times; after each
//! restart the sender resumes its unfinished sends. Nothing receipted is
//! lost, nothing is delivered twice, and the two logs audit clean.
//!
//! The kill points are random; the seed is printed, and
//! `TALLY_CRASH_SEED=N` replays a run.

mod common;

use std::collections::HashMap;
use std::process::{Command, Stdio};
use std::time::{Duration, SystemTime};

use common::*;

/// A small xorshift generator: the test needs reproducible kill times, not good randomness.
struct Rng(u64);

impl Rng {
    fn below(&mut self, n: u64) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0 % n
    }
}

const ROUNDS: usize = 20;

fn payload(i: usize) -> Vec<u8> {
    // Every file has its own size, so the inbox shows which file each packet is.
    let len = (3 << 20) + i * 4099;
    (0..len).map(|j| (j as u32).wrapping_mul(2_654_435_761).wrapping_add(i as u32).to_le_bytes()[2]).collect()
}

#[test]
fn killed_nodes_lose_nothing_and_deliver_nothing_twice() {
    let seed = std::env::var("TALLY_CRASH_SEED").ok().and_then(|s| s.parse().ok()).unwrap_or_else(|| {
        SystemTime::now().duration_since(SystemTime::UNIX_EPOCH).map_or(1, |d| d.as_nanos() as u64) | 1
    });
    println!("TALLY_CRASH_SEED={seed}");
    let mut rng = Rng(seed);
    let fed = Federation::new(&[("tax-bureau", "producer"), ("social-security", "consumer")]);
    let (tax, social) = (fed.dir("tax-bureau"), fed.dir("social-security"));
    // Short timeouts, so that a connection to a killed peer is noticed within seconds.
    let timeouts = "\n[timeouts]\nexchange_idle = \"3s\"\nconnection_idle = \"3s\"\nkeep_alive = \"1s\"\n";
    fed.append_config("tax-bureau", timeouts);
    fed.append_config("social-security", timeouts);
    let mut tax_node = serve(&tax);
    let mut social_node = serve(&social);
    let (t, s) = (path(&tax).to_owned(), path(&social).to_owned());
    let grant = grant_id(&issue_grant(&tax, &fed.file("g.grant"), &[]));
    let send_args = |file: &str| {
        vec![
            "send".to_owned(),
            "--dir".into(),
            t.clone(),
            "--to".into(),
            "social-security".into(),
            "--grant".into(),
            grant.clone(),
            "--purpose".into(),
            "social-security.eligibility".into(),
            "--category".into(),
            "income.annual".into(),
            file.to_owned(),
        ]
    };
    let mut expected: HashMap<u64, Vec<u8>> = HashMap::new();
    let mut resent_by_hand = 0;
    for i in 0..ROUNDS {
        let data = payload(i);
        let file = fed.file(&format!("file-{i}.bin"));
        std::fs::write(&file, &data).expect("writes");
        expected.insert(data.len() as u64, data);
        let mut sending = Command::new(TALLY)
            .args(send_args(path(&file)))
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("tally send starts");
        std::thread::sleep(Duration::from_millis(rng.below(400)));
        // Kill the recipient on even rounds, the sender on odd ones, then restart it.
        if i % 2 == 0 {
            drop(social_node);
            let _ = sending.wait();
            social_node = serve(&social);
        } else {
            drop(tax_node);
            let _ = sending.wait();
            tax_node = serve(&tax);
        }
        // Resume until no unfinished send fails (a connection to the dead peer times out first).
        let mut tries = 0;
        loop {
            let resumed: serde_json::Value =
                serde_json::from_str(&ok(&["resume", "--dir", &t, "--json"])).expect("JSON");
            // What resume reports delivered is in the recipient's inbox under the id it prints
            // (a packet the recipient never stored is sealed anew, under a new id).
            for r in resumed.as_array().expect("list") {
                if r["answer"]["result"] == "delivered" {
                    let id = r["answer"]["packet"].as_str().expect("the delivered packet's id");
                    assert!(inbox(&social).iter().any(|p| p["packet"] == id), "{id} from {r}");
                }
            }
            if resumed.as_array().expect("list").iter().all(|r| r["problem"].is_null()) {
                break;
            }
            tries += 1;
            assert!(tries < 20, "unfinished sends keep failing: {resumed}");
            std::thread::sleep(Duration::from_millis(500));
        }
        let present = inbox(&social).iter().any(|p| p["size"].as_u64() == Some(data_len(i)));
        if !present {
            // The send never reached the sender's outbox (killed before it): the user sends again.
            ok(&send_args(path(&file)).iter().map(String::as_str).collect::<Vec<_>>());
            resent_by_hand += 1;
        }
    }
    println!("{resent_by_hand} of {ROUNDS} files were sent again by hand");

    // Zero lost, zero duplicated: every file exactly once, intact.
    let listed = inbox(&social);
    let mut sizes: Vec<u64> = listed.iter().map(|p| p["size"].as_u64().expect("size")).collect();
    sizes.sort_unstable();
    let mut want: Vec<u64> = expected.keys().copied().collect();
    want.sort_unstable();
    assert_eq!(sizes, want, "each file delivered exactly once");
    for p in &listed {
        let packet = p["packet"].as_str().expect("id");
        let out = fed.file(&format!("{packet}.out"));
        ok(&["inbox", "export", "--dir", &s, packet, "--out", path(&out)]);
        let got = std::fs::read(&out).expect("exported");
        assert!(expected[&(got.len() as u64)] == got, "packet {packet} is intact");
    }
    let resumed = ok(&["resume", "--dir", &t]);
    assert!(resumed.starts_with("0 unfinished"), "{resumed}");

    // One receipt per packet on each side, and the logs audit clean.
    let receipts: serde_json::Value =
        serde_json::from_str(&ok(&["receipts", "list", "--dir", &s, "--json"])).expect("JSON");
    let mut issued: Vec<&str> =
        receipts.as_array().expect("list").iter().filter_map(|r| r["packet"].as_str()).collect();
    let count = issued.len();
    issued.sort_unstable();
    issued.dedup();
    assert_eq!((count, issued.len()), (ROUNDS, ROUNDS), "one receipt per delivered packet");
    // The sender holds one proof of delivery per packet, each the recipient's
    // bundle of that one receipt (a resend after a crash got the same
    // receipt, under the same or a later checkpoint), verified offline.
    let held: serde_json::Value =
        serde_json::from_str(&ok(&["receipts", "list", "--dir", &t, "--json"])).expect("JSON");
    let mut proofs: Vec<&str> = held
        .as_array()
        .expect("list")
        .iter()
        .filter(|r| r["side"] == "received" && r["outcome"] == "accepted")
        .filter_map(|r| r["packet"].as_str())
        .collect();
    proofs.sort_unstable();
    assert_eq!(proofs, issued, "the sender's proofs are of exactly the packets the recipient receipted");
    for packet in &proofs {
        let out = fed.file(&format!("{packet}.bundle"));
        ok(&["receipts", "export", "--dir", &t, packet, "--out", path(&out)]);
        let directory = fed.file("directory.tally");
        let operator = fed.dir("operator").join("operator.pub");
        let verified = ok(&["verify", path(&out), "--directory", path(&directory), "--operator-key", path(&operator)]);
        assert!(verified.starts_with(&format!("Verified: social-security received packet {packet}")), "{verified}");
    }
    ok(&["log", "export", "--dir", &t, "--out", path(&fed.file("tax.json"))]);
    ok(&["log", "export", "--dir", &s, "--out", path(&fed.file("social.json"))]);
    let directory = fed.file("directory.tally");
    let operator = fed.dir("operator").join("operator.pub");
    let report = ok(&[
        "audit",
        path(&fed.file("tax.json")),
        path(&fed.file("social.json")),
        "--directory",
        path(&directory),
        "--operator-key",
        path(&operator),
    ]);
    assert!(report.contains("Findings: none") && report.contains(&format!("{ROUNDS} accepted")), "{report}");
    drop(tax_node);
    drop(social_node);
}

fn data_len(i: usize) -> u64 {
    ((3 << 20) + i * 4099) as u64
}
