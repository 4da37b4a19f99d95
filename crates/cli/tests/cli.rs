//! The `tally` command end to end: three real nodes (two agencies and an
//! auditor) as separate processes on 127.0.0.1, driven only through the
//! CLI; and the messages of the errors a user can cause.

mod common;

use common::*;

#[test]
fn three_nodes_grant_send_pull_reject_retention_revoke_audit() {
    let fed = Federation::new(&[
        ("tax-bureau", "producer,consumer"),
        ("social-security", "producer,consumer"),
        ("audit-office", "auditor"),
    ]);
    let (tax, social) = (fed.dir("tax-bureau"), fed.dir("social-security"));
    std::fs::create_dir_all(tax.join("served")).expect("dir");
    std::fs::write(tax.join("served/c42.json"), br#"{"citizen":42,"income":41250}"#).expect("writes");
    fed.append_config("tax-bureau", "\n[[pull]]\ncategory = \"income.annual\"\ndirectory = \"served\"\n");
    fed.append_config("social-security", "");
    let _nodes = [serve(&tax), serve(&social), serve(&fed.dir("audit-office"))];
    let (t, s) = (path(&tax), path(&social));
    let directory = fed.file("directory.tally");
    let operator = fed.dir("operator").join("operator.pub");

    // Grant: handed to the grantee over the transport (a notice), and written as a file.
    let issued = issue_grant(&tax, &fed.file("g1.grant"), &["--erase-on-revoke", "--max-packets", "100"]);
    let g = grant_id(&issued);
    assert!(issued.contains("Handed to social-security over the transport"), "{issued}");
    assert!(ok(&["grant", "list", "--dir", s]).contains(&g), "the grantee holds the grant without importing a file");
    let shown = ok(&["grant", "show", "--dir", s, path(&fed.file("g1.grant"))]);
    assert!(shown.contains("verified") && shown.contains("grantee = \"social-security\""), "{shown}");
    ok(&["grant", "import", "--dir", s, path(&fed.file("g1.grant"))]);

    // Push a file; it arrives intact, and its receipt verifies offline.
    let payload: Vec<u8> = (0..200_000u32).map(|i| (i.wrapping_mul(2_654_435_761) >> 24) as u8).collect();
    std::fs::write(fed.file("income.bin"), &payload).expect("writes");
    let common = ["--grant", &g, "--purpose", "social-security.eligibility", "--category", "income.annual"];
    let sent =
        ok(&[&["send", "--dir", t, "--to", "social-security"][..], &common, &[path(&fed.file("income.bin"))]].concat());
    let packet = packet_id(&sent);
    let listed = inbox(&social);
    assert_eq!(listed.len(), 1);
    assert_eq!((listed[0]["packet"].as_str(), listed[0]["size"].as_u64()), (Some(packet.as_str()), Some(200_000)));
    ok(&["inbox", "export", "--dir", s, &packet, "--out", path(&fed.file("out.bin"))]);
    assert_eq!(std::fs::read(fed.file("out.bin")).expect("exported"), payload);
    ok(&["receipts", "export", "--dir", s, &packet, "--out", path(&fed.file("r.bundle"))]);
    let verified = ok(&[
        "verify",
        path(&fed.file("r.bundle")),
        "--directory",
        path(&directory),
        "--operator-key",
        path(&operator),
    ]);
    assert!(verified.starts_with("Verified: social-security received packet"), "{verified}");
    // The sender's proof of delivery: the bundle the recipient answered with, from the sender's own log.
    ok(&["receipts", "export", "--dir", t, &packet, "--out", path(&fed.file("delivered.bundle"))]);
    let delivered = ok(&[
        "verify",
        path(&fed.file("delivered.bundle")),
        "--directory",
        path(&directory),
        "--operator-key",
        path(&operator),
    ]);
    assert!(delivered.starts_with(&format!("Verified: social-security received packet {packet}")), "{delivered}");
    let at_sender = ok(&["receipts", "show", "--dir", t, &packet]);
    assert!(
        at_sender.contains("signed by the recipient")
            && at_sender.contains("batch-signed")
            && at_sender.contains("of social-security's log, under its checkpoint of"),
        "{at_sender}"
    );
    let shown = ok(&["receipts", "show", "--dir", s, &packet]);
    assert!(
        shown.contains("signed by this node") && shown.contains("outcome   accepted") && shown.contains(&g),
        "{shown}"
    );
    let none = fails(&["receipts", "show", "--dir", s, "00000000000000000000000000000000"], 1);
    assert!(none.contains("no receipt for 00000000000000000000000000000000"), "{none}");
    let sender_side = ok(&["receipts", "list", "--dir", t, "--json"]);
    assert!(sender_side.contains(&packet) && sender_side.contains("\"received\""), "{sender_side}");

    // Pull one file.
    let pulled = ok(&[&["request", "--dir", s, "--to", "tax-bureau", "--query", "c42.json"][..], &common].concat());
    assert!(pulled.contains("answered with 1 packet"), "{pulled}");
    assert_eq!(inbox(&social).len(), 2);

    // Outside the grant: the responder refuses with a signed rejection; the sender's own node refuses a push.
    let outside = ["--grant", &g, "--purpose", "tax.audit", "--category", "income.annual"];
    let refused = fails(&[&["request", "--dir", s, "--to", "tax-bureau"][..], &outside].concat(), 3);
    assert!(refused.contains("PURPOSE_NOT_COVERED"), "{refused}");
    let local = fails(
        &[&["send", "--dir", t, "--to", "social-security"][..], &outside, &[path(&fed.file("income.bin"))]].concat(),
        1,
    );
    assert!(local.contains("purpose tax.audit is not covered"), "{local}");
    let unknown =
        fails(&[&["send", "--dir", t, "--to", "nobody"][..], &common, &[path(&fed.file("income.bin"))]].concat(), 1);
    assert!(unknown.contains("nobody"), "{unknown}");

    // Retention: a grant whose data may be kept 2 s; the sweeper shreds it.
    let short = grant_id(&issue_grant(&tax, &fed.file("g2.grant"), &["--retention", "2s"]));
    let brief = packet_id(&ok(&[
        "send",
        "--dir",
        t,
        "--to",
        "social-security",
        "--grant",
        &short,
        "--purpose",
        "social-security.eligibility",
        "--category",
        "income.annual",
        path(&fed.file("income.bin")),
    ]));
    eventually("the short-retention packet is erased", || {
        inbox(&social).iter().any(|p| p["packet"].as_str() == Some(&brief) && p["erased_at"].is_string())
    });
    let gone = fails(&["inbox", "export", "--dir", s, &brief, "--out", path(&fed.file("gone.bin"))], 1);
    assert!(gone.contains("erased"), "{gone}");
    assert!(inbox(&social).iter().filter(|p| p["erased_at"].is_string()).count() == 1, "only the short grant's packet");

    // Revocation with erasure: the grantee erases; a pull is refused as revoked.
    let revoked = ok(&[
        "grant",
        "revoke",
        "--dir",
        t,
        &g,
        "--reason",
        "purpose-ended",
        "--erase",
        "--out",
        path(&fed.file("rev.bin")),
    ]);
    assert!(revoked.contains("Handed to social-security over the transport"), "{revoked}");
    assert!(inbox(&social).iter().all(|p| p["erased_at"].is_string()), "everything under the revoked grant is erased");
    let revoked = fails(&[&["request", "--dir", s, "--to", "tax-bureau"][..], &common].concat(), 3);
    assert!(revoked.contains("GRANT_REVOKED"), "{revoked}");

    // The auditor fetches both logs over the transport; an agency without the auditor role may not.
    let a = path(&fed.dir("audit-office")).to_owned();
    let fetched = ok(&["log", "fetch", "--dir", &a, "--from", "tax-bureau", "--out", path(&fed.file("tax.json"))]);
    assert!(fetched.contains("Fetched") && fetched.contains("tax-bureau's log"), "{fetched}");
    ok(&["log", "fetch", "--dir", &a, "--from", "social-security", "--out", path(&fed.file("social.json"))]);
    let not_auditor =
        fails(&["log", "fetch", "--dir", s, "--from", "tax-bureau", "--out", path(&fed.file("no.json"))], 1);
    assert!(not_auditor.contains("NOT_PERMITTED") && not_auditor.contains("no auditor role"), "{not_auditor}");
    // The fetched log is the agency's own export (same entries; each export signs a fresh checkpoint).
    ok(&["log", "export", "--dir", t, "--out", path(&fed.file("tax-local.json"))]);
    let entries = |f: &str| {
        let v: serde_json::Value = serde_json::from_slice(&std::fs::read(fed.file(f)).expect("export")).expect("JSON");
        v["entries"].clone()
    };
    let (local, remote) = (entries("tax-local.json"), entries("tax.json"));
    let n = remote.as_array().expect("entries").len();
    assert!(n > 0 && local.as_array().expect("entries")[..n] == remote.as_array().expect("entries")[..], "a prefix");

    // The audit of both logs finds nothing; with an entry deleted, it finds it.
    let trust = ["--directory", path(&directory), "--operator-key", path(&operator)];
    let clean = ok(&[&["audit", path(&fed.file("tax.json")), path(&fed.file("social.json"))][..], &trust].concat());
    assert!(clean.contains("Findings: none"), "{clean}");
    assert_eq!(clean.matches("Deletion in social-security's log").count(), 2, "{clean}");
    ok(&[
        &[
            "audit",
            path(&fed.file("tax.json")),
            path(&fed.file("social.json")),
            "--format",
            "html",
            "--out",
            path(&fed.file("a.html")),
        ][..],
        &trust,
    ]
    .concat());
    assert!(std::fs::read_to_string(fed.file("a.html")).expect("report").contains("<svg"));

    let mut export: serde_json::Value =
        serde_json::from_slice(&std::fs::read(fed.file("social.json")).expect("export")).expect("JSON");
    let entries = export["entries"].as_array_mut().expect("entries");
    let position = entries
        .iter()
        .position(|e| {
            let bytes = tally_node::hex::decode(e.as_str().expect("hex")).expect("hex");
            matches!(tally_wire::from_bytes::<tally_wire::LogEntry>(&bytes, "entry"), Ok(tally_wire::LogEntry::ReceiptLogged(r)) if r.value().packet_id.to_hex() == packet)
        })
        .expect("the receipt of the first packet is in the recipient's log");
    entries.remove(position);
    std::fs::write(fed.file("tampered.json"), export.to_string()).expect("writes");
    let found =
        fails(&[&["audit", path(&fed.file("tax.json")), path(&fed.file("tampered.json"))][..], &trust].concat(), 5);
    assert!(found.contains("[log-mismatch] social-security"), "{found}");
    assert!(found.contains("[missing-at-recipient] social-security") && found.contains(&packet), "{found}");

    // A newer directory reaches one node as a file; the other fetches it from that node over the transport.
    let op = fed.dir("operator");
    ok(&["federation", "add-purpose", "--dir", path(&op), "health.screening", "--legal-basis", "HA s. 3"]);
    ok(&["federation", "publish", "--dir", path(&op), "--out", path(&tax.join("directory.tally"))]);
    eventually("the tax bureau's node uses serial 2", || {
        ok(&["status", "--dir", t, "--json"]).contains("\"directory_serial\": 2")
    });
    let got = ok(&["directory", "fetch", "--dir", s, "--from", "tax-bureau"]);
    assert!(got.contains("Fetched directory serial 2"), "{got}");
    assert!(ok(&["status", "--dir", s, "--json"]).contains("\"directory_serial\": 2"));
    let again = ok(&["directory", "fetch", "--dir", s, "--from", "tax-bureau"]);
    assert!(again.contains("no newer directory"), "{again}");
}

#[test]
fn errors_a_user_can_cause_are_one_clear_message() {
    let fed = Federation::new(&[("tax-bureau", "producer"), ("social-security", "consumer")]);
    let op = fed.dir("operator");
    let tax = fed.dir("tax-bureau");

    // A peer whose node is down: the grant is issued, and the message says it did not reach it and what to do.
    {
        let _tax = serve(&tax);
        let issued = issue_grant(&tax, &fed.file("g.grant"), &[]);
        assert!(
            issued.contains("Could not hand it to social-security")
                && issued.contains("is the peer's node running")
                && issued.contains("tally grant import"),
            "{issued}"
        );
    }

    let missing = fails(
        &["federation", "add-agency", "--dir", path(&op), path(&fed.file("nope.toml")), "--roles", "producer"],
        1,
    );
    assert!(missing.contains("nope.toml") && missing.contains("No such file"), "{missing}");

    let bad_role = fails(
        &["federation", "add-agency", "--dir", path(&op), path(&tax.join("tax-bureau.agency.toml")), "--roles", "boss"],
        1,
    );
    assert!(bad_role.contains("unknown role `boss`"), "{bad_role}");

    let not_running = fails(&["status", "--dir", path(&tax)], 1);
    assert!(not_running.contains("cannot reach the node") && not_running.contains("tally serve"), "{not_running}");

    let invalid_purpose = fails(
        &[
            "send",
            "--dir",
            path(&tax),
            "--to",
            "x",
            "--grant",
            &"00".repeat(32),
            "--purpose",
            "Not A Purpose",
            "--category",
            "c",
            "f",
        ],
        2,
    );
    assert!(invalid_purpose.contains("--purpose"), "{invalid_purpose}");

    let config = tax.join("tally.toml");
    let good = std::fs::read_to_string(&config).expect("config");
    std::fs::write(&config, good.replace("listen = ", "listen = 12\nlisten_again = ")).expect("writes");
    let malformed = fails(&["serve", "--dir", path(&tax)], 1);
    assert!(malformed.contains("tally.toml") && malformed.contains("line "), "{malformed}");

    std::fs::write(&config, good.replace(&format!("operator_key = \"{}\"", fed.key), "")).expect("writes");
    let no_operator = fails(&["serve", "--dir", path(&tax)], 1);
    assert!(no_operator.contains("operator_key is not set"), "{no_operator}");

    std::fs::write(&config, good.replace("agency = \"tax-bureau\"", "agency = \"nobody\"")).expect("writes");
    let wrong_agency = fails(&["serve", "--dir", path(&tax)], 1);
    assert!(wrong_agency.contains("nobody"), "{wrong_agency}");
}

#[test]
fn a_send_from_standard_input_arrives_whole_and_leaves_nothing_in_the_node_directory() {
    let fed = Federation::new(&[("tax-bureau", "producer,consumer"), ("social-security", "producer,consumer")]);
    let (tax, social) = (fed.dir("tax-bureau"), fed.dir("social-security"));
    let _nodes = [serve(&tax), serve(&social)];
    let g = grant_id(&issue_grant(&tax, &fed.file("g.grant"), &[]));
    let payload: Vec<u8> = (0..300_000u32).map(|i| (i % 251) as u8).collect();
    let mut child = std::process::Command::new(TALLY)
        .args(["send", "--dir", path(&tax), "--to", "social-security", "--grant", &g])
        .args(["--purpose", "social-security.eligibility", "--category", "income.annual", "-"])
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .spawn()
        .expect("tally send starts");
    std::io::Write::write_all(&mut child.stdin.take().expect("piped"), &payload).expect("writes standard input");
    let out = child.wait_with_output().expect("tally send ends");
    assert!(out.status.success(), "{}", text(&out.stdout));
    let packet = packet_id(&text(&out.stdout));
    ok(&["inbox", "export", "--dir", path(&social), &packet, "--out", path(&fed.file("in.bin"))]);
    assert_eq!(std::fs::read(fed.file("in.bin")).expect("exported"), payload);
    fn names(dir: &std::path::Path, out: &mut Vec<String>) {
        for entry in std::fs::read_dir(dir).expect("readable").flatten() {
            out.push(entry.file_name().to_string_lossy().into_owned());
            if entry.path().is_dir() {
                names(&entry.path(), out);
            }
        }
    }
    let mut all = Vec::new();
    names(&tax, &mut all);
    assert!(
        !all.iter().any(|n| n == "spool" || n.starts_with("stdin")),
        "nothing was spooled into the node directory: {all:?}"
    );
}
