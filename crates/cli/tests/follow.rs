//! An auditor follows agencies' logs through real `tally serve`
//! processes (spec/audit.md, "Following a log"): each follow fetches only
//! what was added, and an agency whose node is restored from a backup,
//! so that its log is rewritten after what the auditor verified, is
//! caught as a fork with evidence that holds on its own.

mod common;

use common::*;

fn json(out: &str) -> serde_json::Value {
    serde_json::from_str(out).unwrap_or_else(|e| panic!("not JSON ({e}): {out}"))
}

fn send(fed: &Federation, grant: &str, name: &str, content: &[u8]) {
    let file = fed.file(name);
    std::fs::write(&file, content).expect("writes");
    let tax = fed.dir("tax-bureau");
    let sent = ok(&[
        "send",
        "--dir",
        path(&tax),
        "--to",
        "social-security",
        "--grant",
        grant,
        "--purpose",
        "social-security.eligibility",
        "--category",
        "income.annual",
        path(&file),
    ]);
    assert!(sent.contains("Delivered"), "{sent}");
}

fn copy_dir(from: &std::path::Path, to: &std::path::Path) {
    std::fs::create_dir_all(to).expect("creates");
    for entry in std::fs::read_dir(from).expect("reads").flatten() {
        let target = to.join(entry.file_name());
        if entry.file_type().expect("a type").is_dir() {
            copy_dir(&entry.path(), &target);
        } else {
            std::fs::copy(entry.path(), &target).expect("copies");
        }
    }
}

#[test]
fn an_auditor_follows_a_log_incrementally_and_a_node_restored_from_a_backup_is_a_fork() {
    let fed = Federation::new(&[
        ("tax-bureau", "producer,consumer"),
        ("social-security", "producer,consumer"),
        ("audit-office", "auditor"),
    ]);
    let (tax, social, audit) = (fed.dir("tax-bureau"), fed.dir("social-security"), fed.dir("audit-office"));
    let a = path(&audit).to_owned();
    let follow = || json(&ok(&["log", "follow", "--dir", &a, "--from", "tax-bureau", "--json"]));
    let _others = [serve(&social), serve(&audit)];
    let mut node = serve(&tax);
    let g = grant_id(&issue_grant(&tax, &fed.file("g.grant"), &[]));
    send(&fed, &g, "a.json", br#"{"citizen":1}"#);

    let first = follow();
    let size = first["size"].as_u64().expect("a size");
    assert!(size > 0 && first["fetched"] == size, "the first follow fetches the whole log: {first}");
    let again = ok(&["log", "follow", "--dir", &a, "--from", "tax-bureau"]);
    assert!(again.contains(&format!("{size} entries verified and kept, 0 of them fetched now")), "{again}");

    // The tax bureau's operator takes a backup (the node stopped), and the node goes on.
    drop(node);
    copy_dir(&tax.join("data"), &fed.file("backup"));
    node = serve(&tax);
    send(&fed, &g, "b.json", br#"{"citizen":2}"#);
    let second = follow();
    let grown = second["size"].as_u64().expect("a size");
    assert!(grown > size, "{second}");
    assert_eq!(second["fetched"].as_u64(), Some(grown - size), "only the entries added: {second}");

    // The node is restored from the backup and sends something else: its log now
    // differs from the one the auditor verified, at the size it verified.
    drop(node);
    std::fs::remove_dir_all(tax.join("data")).expect("removes");
    copy_dir(&fed.file("backup"), &tax.join("data"));
    let _restored = serve(&tax);
    send(&fed, &g, "c.json", br#"{"citizen":3}"#);
    let forked = fails(&["log", "follow", "--dir", &a, "--from", "tax-bureau"], 1);
    assert!(forked.contains("tax-bureau's log forked"), "{forked}");
    assert!(forked.contains("another root") && forked.contains("kept as fork evidence"), "{forked}");
    let status = json(&ok(&["status", "--dir", &a, "--json"]));
    let peers = status["peers"].as_array().expect("peers");
    let shown = peers.iter().find(|p| p["agency"] == "tax-bureau").expect("the tax bureau");
    assert_eq!(shown["log_forks"], 1, "{shown}");
    // A fetch follows first, so it refuses the forked log too.
    let fetched = fails(&["log", "fetch", "--dir", &a, "--from", "tax-bureau", "--out", path(&fed.file("t.json"))], 1);
    assert!(fetched.contains("forked") && !fed.file("t.json").exists(), "{fetched}");
}
