//! Proof of delivery in the sender's hands, with real `tally serve`
//! processes: every push, pull answer and signed rejection leaves the
//! sender a receipt bundle that `tally verify` accepts offline from the
//! sender's export; a recipient that shows the sender another history of
//! its log (restored from an old copy) is caught by the sender and by the
//! audit.

mod common;

use std::path::Path;
use std::sync::Arc;

use common::*;
use tally_node::api::{Client, PullOptions, SendOptions, SendQuery, SendResult};
use tally_wire::{AgencyId, ContentType, DataCategory, GrantId, Purpose};

fn runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_multi_thread().worker_threads(2).enable_all().build().expect("a runtime")
}

fn options(grant: &str, purpose: &str) -> SendOptions {
    SendOptions {
        to: AgencyId::new("social-security").expect("valid"),
        grant: grant.parse::<GrantId>().expect("a grant id"),
        purpose: Purpose::new(purpose).expect("valid"),
        category: DataCategory::new("income.annual").expect("valid"),
        content_type: ContentType::new("application/json").expect("valid"),
    }
}

/// `n` pushes at once through the sender's API; their answers.
fn push(runtime: &tokio::runtime::Runtime, dir: &Path, grant: &str, n: usize, len: usize) -> Vec<(String, SendResult)> {
    let client = Client::new(dir);
    runtime.block_on(async {
        let mut sends = tokio::task::JoinSet::new();
        for i in 0..n {
            let (client, options) = (client.clone(), options(grant, "social-security.eligibility"));
            sends.spawn(async move {
                let query = SendQuery { options, send_id: None, source: None };
                let payload = vec![(i % 251) as u8; len];
                client.send(&query, std::io::Cursor::new(payload), len as u64, Arc::default()).await
            });
        }
        let mut out = Vec::new();
        while let Some(answer) = sends.join_next().await {
            let answer = answer.expect("joins").expect("answered");
            out.push((answer.packet.to_hex(), answer.result));
        }
        out
    })
}

/// The sender's export of `packet`'s bundle, checked by `tally verify` with the directory alone.
fn verify_from_sender(fed: &Federation, sender: &Path, packet: &str) -> String {
    let out = fed.file(&format!("{packet}.bundle"));
    ok(&["receipts", "export", "--dir", path(sender), packet, "--out", path(&out)]);
    let operator = fed.dir("operator").join("operator.pub");
    ok(&["verify", path(&out), "--directory", path(&fed.file("directory.tally")), "--operator-key", path(&operator)])
}

fn metric(text: &str, name: &str) -> u64 {
    text.lines()
        .find_map(|l| l.strip_prefix(name).and_then(|v| v.trim().parse().ok()))
        .unwrap_or_else(|| panic!("{name} in {text}"))
}

#[test]
fn every_exchange_leaves_the_sender_a_proof_of_delivery_that_verifies_offline() {
    let fed = Federation::new(&[("tax-bureau", "producer"), ("social-security", "consumer")]);
    let (tax, social) = (fed.dir("tax-bureau"), fed.dir("social-security"));
    std::fs::create_dir_all(tax.join("served")).expect("dir");
    for i in 0..256 {
        std::fs::write(tax.join(format!("served/c{i}.json")), format!("{{\"citizen\":{i}}}")).expect("writes");
    }
    fed.append_config("tax-bureau", "\n[[pull]]\ncategory = \"income.annual\"\ndirectory = \"served\"\n");
    // A small storage limit at the recipient, so that one large push is refused with a signed rejection.
    fed.append_config("social-security", "\n[limits]\nmax_storage_per_sender = \"1MiB\"\n");
    let _nodes = [serve(&tax), serve(&social)];
    let grant = grant_id(&issue_grant(&tax, &fed.file("g.grant"), &[]));
    let runtime = runtime();

    // Pushes in batches of 1, 2, 7 and 256 at once: their receipts come back batch-signed.
    let mut delivered = Vec::new();
    for n in [1, 2, 7, 256] {
        let answers = push(&runtime, &tax, &grant, n, 200);
        assert!(answers.iter().all(|(_, r)| *r == SendResult::Delivered), "{answers:?}");
        delivered.extend(answers.into_iter().map(|(p, _)| p));
    }
    // Pulls: the responder (tax) is each answer packet's sender and keeps its bundles.
    let social_api = Client::new(&social);
    let mut pulled = Vec::new();
    for n in [1, 2, 7, 256] {
        let answers = runtime.block_on(async {
            let mut pulls = tokio::task::JoinSet::new();
            for i in 0..n {
                let (client, options) = (social_api.clone(), options(&grant, "social-security.eligibility"));
                pulls.spawn(async move {
                    let pull = PullOptions {
                        to: AgencyId::new("tax-bureau").expect("valid"),
                        grant: options.grant,
                        purpose: options.purpose,
                        category: options.category,
                        query: format!("c{i}.json"),
                    };
                    client.request_pull(&pull).await
                });
            }
            let mut out = Vec::new();
            while let Some(a) = pulls.join_next().await {
                out.push(a.expect("joins").expect("answered"));
            }
            out
        });
        for a in answers {
            assert_eq!(a.packets.len(), 1, "{a:?}");
            pulled.push(a.packets[0].packet.to_hex());
        }
    }
    // Rejections: seven pushes at once over the recipient's storage limit, and a pull outside the grant.
    let refused = push(&runtime, &tax, &grant, 7, 2 << 20);
    assert!(refused.iter().all(|(_, r)| *r == SendResult::Refused), "{refused:?}");
    let outside = runtime.block_on(social_api.request_pull(&PullOptions {
        to: AgencyId::new("tax-bureau").expect("valid"),
        grant: grant.parse::<GrantId>().expect("id"),
        purpose: Purpose::new("tax.audit").expect("valid"),
        category: DataCategory::new("income.annual").expect("valid"),
        query: "c0.json".into(),
    }));
    let refusal = outside.expect("answered").refusal.expect("a signed refusal").packet.to_hex();

    for packet in &delivered {
        let verified = verify_from_sender(&fed, &tax, packet);
        assert!(verified.starts_with(&format!("Verified: social-security received packet {packet}")), "{verified}");
    }
    for packet in &pulled {
        let verified = verify_from_sender(&fed, &tax, packet);
        assert!(verified.starts_with(&format!("Verified: social-security received packet {packet}")), "{verified}");
    }
    for (packet, _) in &refused {
        let rejected = verify_from_sender(&fed, &tax, packet);
        assert!(rejected.starts_with("Verified: social-security ") && rejected.contains("STORAGE_LIMIT"), "{rejected}");
    }
    let refusal = verify_from_sender(&fed, &social, &refusal);
    assert!(refusal.starts_with("Verified: tax-bureau ") && refusal.contains("PURPOSE_NOT_COVERED"), "{refusal}");

    // The recipient signed fewer checkpoints than it issued receipts.
    let metrics = runtime.block_on(social_api.metrics()).expect("metrics");
    let (receipts, checkpoints) =
        (metric(&metrics, "tally_receipts_issued_total "), metric(&metrics, "tally_checkpoints_signed_total "));
    println!("social-security issued {receipts} receipts under {checkpoints} checkpoint signatures");
    assert_eq!(receipts, 266 + 266 + 7, "every push, pull answer and push over the limit");
    assert!(checkpoints < receipts, "{checkpoints} checkpoints for {receipts} receipts");
    // The sender holds the recipient's newest checkpoint, proven consistent with the earlier ones.
    eventually("the sender has proven the recipient's checkpoints consistent", || {
        let status: serde_json::Value =
            serde_json::from_str(&ok(&["status", "--dir", path(&tax), "--json"])).expect("JSON");
        let peer = &status["peers"][0];
        peer["log_forks"] == 0 && peer["unproven_checkpoint"].is_null() && peer["checkpoint"]["size"].as_u64().is_some()
    });

    // The logs audit clean: every bundle in the sender's log is a prefix of the recipient's log.
    let report = ok(&audit_args(&fed, &tax, &social).iter().map(String::as_str).collect::<Vec<_>>());
    assert!(report.starts_with("PASS: no findings"), "{report}");
    assert!(!report.contains("Not checked"), "{report}");
}

/// Exports both nodes' logs and returns the `tally audit` command line that audits them together.
fn audit_args(fed: &Federation, tax: &Path, social: &Path) -> Vec<String> {
    ok(&["log", "export", "--dir", path(tax), "--out", path(&fed.file("tax.json"))]);
    ok(&["log", "export", "--dir", path(social), "--out", path(&fed.file("social.json"))]);
    let operator = fed.dir("operator").join("operator.pub");
    [
        "audit",
        path(&fed.file("tax.json")),
        path(&fed.file("social.json")),
        "--directory",
        path(&fed.file("directory.tally")),
        "--operator-key",
        path(&operator),
    ]
    .map(str::to_owned)
    .to_vec()
}

/// Copies the regular files of directory `from` into `to`, recursively (a
/// stopped node's directory: its database, key slots and blobs).
fn copy_dir(from: &Path, to: &Path) {
    std::fs::create_dir_all(to).expect("creates");
    for entry in std::fs::read_dir(from).expect("reads") {
        let entry = entry.expect("an entry");
        let kind = entry.file_type().expect("a type");
        let target = to.join(entry.file_name());
        if kind.is_dir() {
            copy_dir(&entry.path(), &target);
        } else if kind.is_file() {
            std::fs::copy(entry.path(), &target).expect("copies");
        }
    }
}

fn peer_status(dir: &Path) -> serde_json::Value {
    let status: serde_json::Value = serde_json::from_str(&ok(&["status", "--dir", path(dir), "--json"])).expect("JSON");
    status["peers"][0].clone()
}

#[test]
fn a_recipient_restored_from_an_old_copy_is_caught_by_the_sender_and_by_the_audit() {
    let fed = Federation::new(&[("tax-bureau", "producer"), ("social-security", "consumer")]);
    let (tax, social) = (fed.dir("tax-bureau"), fed.dir("social-security"));
    fed.append_config("tax-bureau", "");
    let _tax_node = serve(&tax);
    let mut social_node = serve(&social);
    let grant = grant_id(&issue_grant(&tax, &fed.file("g.grant"), &[]));
    let runtime = runtime();
    push(&runtime, &tax, &grant, 1, 100);
    // The recipient's operator keeps a copy of its node directory.
    drop(social_node);
    let backup = fed.file("social-backup");
    copy_dir(&social, &backup);
    social_node = serve(&social);
    for _ in 0..4 {
        push(&runtime, &tax, &grant, 1, 100);
    }
    let size = || {
        let s: serde_json::Value =
            serde_json::from_str(&ok(&["status", "--dir", path(&social), "--json"])).expect("JSON");
        s["log_size"].as_u64().expect("size")
    };
    let before = size();
    eventually("the sender holds the recipient's newest checkpoint", || {
        peer_status(&tax)["checkpoint"]["size"].as_u64() == Some(before)
    });
    // The recipient is restored from the old copy: its log forgets four receipts and grows again.
    drop(social_node);
    std::fs::remove_dir_all(&social).expect("removes");
    copy_dir(&backup, &social);
    let _social_node = serve(&social);
    assert!(size() < before);
    let mut sent = 0;
    while peer_status(&tax)["log_forks"] == 0 {
        assert!(sent < 10, "the sender never noticed: {}", peer_status(&tax));
        push(&runtime, &tax, &grant, 1, 100);
        sent += 1;
    }
    let shown = ok(&["status", "--dir", path(&tax)]);
    assert!(shown.contains("FORK: 1 fork evidence(s) against its log"), "{shown}");
    let client = Client::new(&tax);
    let metrics = runtime.block_on(client.metrics()).expect("metrics");
    assert!(metrics.contains("tally_peer_log_forks_total{peer=\"social-security\"} 1"), "{metrics}");
    let health = runtime.block_on(client.health()).expect("health");
    assert_eq!(health.status, "degraded");
    assert!(health.reasons.iter().any(|r| r.contains("fork evidence")), "{health:?}");

    // The audit of both logs finds it too: the checkpoints in the sender's bundles are not the recipient's log.
    let found = fails(&audit_args(&fed, &tax, &social).iter().map(String::as_str).collect::<Vec<_>>(), 5);
    assert!(found.contains("[fork] social-security"), "{found}");
    assert!(found.contains("[missing-at-recipient] social-security"), "the receipts it forgot: {found}");
}
