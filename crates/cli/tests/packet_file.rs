//! Packets as files (spec/protocol.md, "Packets as files"): the tax
//! bureau seals a packet to a file with its node stopped; the
//! social-security bureau's node imports it as it takes an offer over
//! QUIC and writes the receipt bundle, which travels back by file and
//! verifies offline. Importing again gives the same receipt; an altered
//! packet file is refused and stores nothing.

mod common;

use common::*;

#[test]
fn a_packet_travels_by_file_and_its_receipt_bundle_comes_back() {
    let fed = Federation::new(&[("tax-bureau", "producer,consumer"), ("social-security", "producer,consumer")]);
    let (tax, social) = (fed.dir("tax-bureau"), fed.dir("social-security"));
    let tax_node = serve(&tax);
    let _social = serve(&social);
    issue_grant(&tax, &fed.file("g.grant"), &[]);
    drop(tax_node);
    let (t, s) = (path(&tax), path(&social));
    let data: Vec<u8> = (0..300_000u32).map(|i| (i.wrapping_mul(2_654_435_761) >> 24) as u8).collect();
    std::fs::write(fed.file("data.bin"), &data).expect("writes");
    let seal = |file: &str, out: &str| {
        ok(&[
            "packet",
            "seal",
            "--dir",
            t,
            "--to",
            "social-security",
            "--grant-file",
            path(&fed.file("g.grant")),
            "--purpose",
            "social-security.eligibility",
            "--category",
            "income.annual",
            path(&fed.file(file)),
            "--out",
            path(&fed.file(out)),
        ])
    };
    // Sealed with the sender's node stopped.
    let sealed = seal("data.bin", "p.tally");
    assert!(sealed.contains("Sealed") && sealed.contains("as packet"), "{sealed}");

    let imported =
        ok(&["packet", "import", "--dir", s, path(&fed.file("p.tally")), "--out", path(&fed.file("r.bundle"))]);
    assert!(imported.contains("Received packet") && imported.contains("from tax-bureau"), "{imported}");
    let packet = imported.split_whitespace().nth(2).expect("the packet id").to_owned();
    let listed = inbox(&social);
    assert_eq!(listed.len(), 1);
    assert_eq!(listed[0]["packet"].as_str(), Some(packet.as_str()));
    ok(&["inbox", "export", "--dir", s, &packet, "--out", path(&fed.file("out.bin"))]);
    assert_eq!(std::fs::read(fed.file("out.bin")).expect("exported"), data);
    // The bundle is the sender's proof of delivery, checked with the directory alone.
    let verified = ok(&[
        "verify",
        path(&fed.file("r.bundle")),
        "--directory",
        path(&fed.file("directory.tally")),
        "--operator-key",
        path(&fed.dir("operator").join("operator.pub")),
    ]);
    assert!(
        verified.starts_with(&format!("Verified: social-security received packet {packet} from tax-bureau")),
        "{verified}"
    );

    // The same file again: the same receipt, nothing stored twice.
    let again = ok(&[
        "packet",
        "import",
        "--dir",
        s,
        path(&fed.file("p.tally")),
        "--out",
        path(&fed.file("r2.bundle")),
        "--json",
    ]);
    let again: serde_json::Value = serde_json::from_str(&again).expect("JSON");
    assert_eq!(again["receipt"]["packet"].as_str(), Some(packet.as_str()));
    assert_eq!(inbox(&social).len(), 1);

    // An altered packet file is refused, and nothing of it is kept.
    seal("data.bin", "q.tally");
    let mut bytes = std::fs::read(fed.file("q.tally")).expect("a packet file");
    let middle = bytes.len() / 2;
    bytes[middle] ^= 0x01;
    std::fs::write(fed.file("bad.tally"), &bytes).expect("writes");
    let log_size = || -> u64 {
        let status: serde_json::Value = serde_json::from_str(&ok(&["status", "--dir", s, "--json"])).expect("JSON");
        status["log_size"].as_u64().expect("a size")
    };
    let before = log_size();
    let bad = fails(
        &["packet", "import", "--dir", s, path(&fed.file("bad.tally")), "--out", path(&fed.file("bad.bundle"))],
        1,
    );
    assert!(bad.contains("does not open as a packet") && bad.contains("nothing is signed"), "{bad}");
    assert_eq!(inbox(&social).len(), 1, "nothing of the altered packet is stored");
    assert_eq!(log_size(), before, "no signed rejection is logged for a packet that does not authenticate");
    assert!(!fed.file("bad.bundle").exists());
    // A file that is not a packet at all gets a precise error, and nothing is signed either.
    std::fs::write(fed.file("junk.tally"), b"not a packet").expect("writes");
    let junk = fails(
        &["packet", "import", "--dir", s, path(&fed.file("junk.tally")), "--out", path(&fed.file("j.bundle"))],
        1,
    );
    assert!(junk.contains("does not open as a packet") && junk.contains("version"), "{junk}");
    assert_eq!(log_size(), before);
    // Sealing refuses to overwrite a file.
    let again = fails(
        &[
            "packet",
            "seal",
            "--dir",
            t,
            "--to",
            "social-security",
            "--grant-file",
            path(&fed.file("g.grant")),
            "--purpose",
            "social-security.eligibility",
            "--category",
            "income.annual",
            path(&fed.file("data.bin")),
            "--out",
            path(&fed.file("p.tally")),
        ],
        1,
    );
    assert!(again.contains("exists already"), "{again}");
}
