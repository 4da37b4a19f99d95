//! Attacks of issue 13 against real `tally serve` processes on 127.0.0.1:
//! a malicious but legitimate member (its keys are in the directory)
//! driving QUIC and frames by hand ([`raw::RawPeer`]), or the CLI. Each
//! test is named after the attack and failed before its fix.

mod common;
#[path = "common/raw.rs"]
mod raw;

use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use common::*;
use raw::{RawPeer, first_frame, frames, reason_of, write};
use tally_wire::{
    BoundedBytes, BoundedVec, CloseCode, DataCategory, Direction, Frame, Grant, PacketId, PullRequest, Purpose, Quota,
    ReasonCode, Request, RequestId, Text, Timestamp,
};

const WAIT: Duration = Duration::from_secs(20);

fn runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_multi_thread().enable_all().build().expect("runtime")
}

/// The grant chain in a grant file (`tally grant issue --out`).
fn grant_file(path: &std::path::Path) -> tally_wire::GrantChain {
    tally_wire::decode_grant_chain(&std::fs::read(path).expect("grant file")).expect("a grant chain")
}

/// A federation of the tax bureau, the social-security bureau and a third
/// member, statistics, which turns hostile. Income data is the tax bureau's.
fn federation() -> Federation {
    Federation::new(&[
        ("tax-bureau", "producer,consumer"),
        ("social-security", "producer,consumer"),
        ("statistics", "producer,consumer"),
    ])
}

/// A root grant by `peer` to itself for income data, naming the tax bureau as its sender.
fn self_granted(peer: &RawPeer, direction: Direction) -> Grant {
    let now = Timestamp::from_system_time(std::time::SystemTime::now());
    Grant {
        issuer: peer.agency.clone(),
        grantee: peer.agency.clone(),
        senders: BoundedVec::new(vec![tally_wire::AgencyId::new("tax-bureau").expect("valid")]).expect("one"),
        purposes: BoundedVec::new(vec![Purpose::new("social-security.eligibility").expect("valid")]).expect("one"),
        categories: BoundedVec::new(vec![DataCategory::new("income.annual").expect("valid")]).expect("one"),
        not_before: Timestamp::from_secs(now.secs() - 60),
        not_after: Timestamp::from_secs(now.secs() + 86_400),
        quota: Quota::default(),
        retention_secs: 86_400,
        erase_on_revoke: false,
        direction,
        min_suite_level: tally_wire::SuiteLevel::CLASSICAL,
        delegation_depth: 0,
        parent: None,
        legal_basis: Text::new("none").expect("valid"),
        note: Text::default(),
        issued_at: now,
    }
}

fn status(dir: &std::path::Path) -> serde_json::Value {
    serde_json::from_str(&ok(&["status", "--dir", path(dir), "--json"])).expect("JSON")
}

#[test]
fn a_member_cannot_pull_another_agencys_data_under_a_root_grant_it_signed_itself() {
    // Item 1: a member signed a root grant to itself naming the tax bureau as
    // sender, sent a pull request under it, and the tax bureau answered with its files.
    let fed = federation();
    let tax = fed.dir("tax-bureau");
    std::fs::create_dir_all(tax.join("served")).expect("dir");
    std::fs::write(tax.join("served/c42.json"), br#"{"citizen":42,"income":41250}"#).expect("writes");
    fed.append_config("tax-bureau", "\n[[pull]]\ncategory = \"income.annual\"\ndirectory = \"served\"\n");
    let stats = fed.dir("statistics");
    let _nodes = [serve(&tax), serve(&fed.dir("social-security")), serve(&stats)];
    // Its own node refuses to issue such a grant at all.
    let refused = fails(
        &[
            "grant",
            "issue",
            "--dir",
            path(&stats),
            "--grantee",
            "statistics",
            "--sender",
            "tax-bureau",
            "--purpose",
            "social-security.eligibility",
            "--category",
            "income.annual",
            "--direction",
            "pull",
            "--out",
            path(&fed.file("self.grant")),
        ],
        1,
    );
    assert!(refused.contains("statistics does not control category income.annual"), "{refused}");
    // So it crafts the grant and the request by hand.
    let rt = runtime();
    let peer = rt.block_on(async { RawPeer::new(&stats) });
    let chain = peer.sign(self_granted(&peer, Direction::Pull));
    let request = PullRequest {
        request_id: RequestId([5; 16]),
        requester: peer.agency.clone(),
        responder: tally_wire::AgencyId::new("tax-bureau").expect("valid"),
        grant: tally_grant::grant_id(&chain[0]),
        purpose: Purpose::new("social-security.eligibility").expect("valid"),
        category: DataCategory::new("income.annual").expect("valid"),
        query: BoundedBytes::new(b"c42.json".to_vec()).expect("short"),
        created_at: Timestamp::from_system_time(std::time::SystemTime::now()),
    };
    let request = peer.identity.sign_object(request).expect("signs");
    let answer = rt.block_on(async {
        let connection = peer.connect("tax-bureau").await.expect("connects");
        let (mut send, mut recv) = connection.open_bi().await.expect("stream");
        write(&mut send, &[Frame::Request(Request { request, grant_chain: chain })]).await;
        frames(&mut recv, WAIT).await
    });
    assert!(!answer.iter().any(|f| matches!(f, Frame::Offer(_))), "no packet was served: {answer:?}");
    assert_eq!(answer.first().and_then(reason_of), Some(ReasonCode::NOT_CONTROLLER), "{answer:?}");
}

#[test]
fn a_recipient_refuses_a_push_under_a_root_grant_its_issuer_may_not_issue() {
    // Item 1, the push side: the recipient checks the root's issuer controls the data.
    let fed = federation();
    let _nodes = [serve(&fed.dir("social-security"))];
    let rt = runtime();
    let peer = rt.block_on(async { RawPeer::new(&fed.dir("statistics")) });
    let mut grant = self_granted(&peer, Direction::Push);
    grant.grantee = tally_wire::AgencyId::new("social-security").expect("valid");
    grant.senders = BoundedVec::empty();
    let chain = peer.sign(grant);
    let (_, offer) = peer.seal("social-security", &chain, "income.annual", 5, PacketId([1; 16]));
    let answer = rt.block_on(async {
        let connection = peer.connect("social-security").await.expect("connects");
        let (mut send, mut recv) = connection.open_bi().await.expect("stream");
        write(&mut send, &[Frame::Offer(offer)]).await;
        first_frame(&mut recv, WAIT).await
    });
    assert_eq!(answer.as_ref().and_then(reason_of), Some(ReasonCode::NOT_CONTROLLER), "{answer:?}");
}

#[test]
fn a_pull_quota_holds_at_the_responder_when_the_grantee_forgets_its_usage() {
    // Item 4: a grantee that reset its own counters pulled twice under --max-packets 1.
    let fed = federation();
    let (tax, social) = (fed.dir("tax-bureau"), fed.dir("social-security"));
    std::fs::create_dir_all(tax.join("served")).expect("dir");
    std::fs::write(tax.join("served/c42.json"), b"41250").expect("writes");
    fed.append_config("tax-bureau", "\n[[pull]]\ncategory = \"income.annual\"\ndirectory = \"served\"\n");
    let _tax = serve(&tax);
    let g = {
        let _social = serve(&social);
        let g = grant_id(&issue_grant(&tax, &fed.file("g.grant"), &["--direction", "pull", "--max-packets", "1"]));
        let flow = ["--grant", &g, "--purpose", "social-security.eligibility", "--category", "income.annual"];
        let pulled =
            ok(&[&["request", "--dir", path(&social), "--to", "tax-bureau", "--query", "c42.json"][..], &flow]
                .concat());
        assert!(pulled.contains("answered with 1 packet"), "{pulled}");
        g
    };
    // The grantee forgets everything it counted (its database is gone) and takes the grant again.
    std::fs::remove_dir_all(social.join("data")).expect("removes");
    let _social = serve(&social);
    ok(&["grant", "import", "--dir", path(&social), path(&fed.file("g.grant"))]);
    let flow = ["--grant", &g, "--purpose", "social-security.eligibility", "--category", "income.annual"];
    let again = fails(
        &[&["request", "--dir", path(&social), "--to", "tax-bureau", "--query", "c42.json"][..], &flow].concat(),
        3,
    );
    assert!(again.contains("QUOTA_EXHAUSTED"), "{again}");
}

/// A pull request by `peer` to the tax bureau under `chain`.
fn pull_request(peer: &RawPeer, chain: &tally_wire::GrantChain, n: u8) -> Frame<'static> {
    let request = PullRequest {
        request_id: RequestId([n; 16]),
        requester: peer.agency.clone(),
        responder: tally_wire::AgencyId::new("tax-bureau").expect("valid"),
        grant: tally_grant::grant_id(&chain[0]),
        purpose: Purpose::new("social-security.eligibility").expect("valid"),
        category: DataCategory::new("income.annual").expect("valid"),
        query: BoundedBytes::new(b"c42.json".to_vec()).expect("short"),
        created_at: Timestamp::from_system_time(std::time::SystemTime::now()),
    };
    Frame::Request(Request { request: peer.identity.sign_object(request).expect("signs"), grant_chain: chain.clone() })
}

#[test]
fn a_requester_that_reads_the_data_and_withholds_its_receipt_still_uses_the_quota() {
    // Item 4, a delegate's pull: statistics pulls under a grant the social-security
    // bureau delegated to it (the responder holds no copy of that chain), reads
    // every chunk, never sends its receipt, and asks again.
    let fed = federation();
    let (tax, social, stats) = (fed.dir("tax-bureau"), fed.dir("social-security"), fed.dir("statistics"));
    std::fs::create_dir_all(tax.join("served")).expect("dir");
    std::fs::write(tax.join("served/c42.json"), b"41250").expect("writes");
    fed.append_config("tax-bureau", "\n[[pull]]\ncategory = \"income.annual\"\ndirectory = \"served\"\n");
    let _nodes = [serve(&tax), serve(&social), serve(&stats)];
    let root = grant_id(&issue_grant(
        &tax,
        &fed.file("root.grant"),
        &["--direction", "pull", "--max-packets", "1", "--delegation-depth", "1"],
    ));
    // A second boundary between the parent and the delegation: a delegation
    // without --valid-for ends when its parent does, not 365 days from its own now.
    std::thread::sleep(Duration::from_millis(1100));
    ok(&[
        "grant",
        "delegate",
        "--dir",
        path(&social),
        "--parent",
        &root,
        "--grantee",
        "statistics",
        "--sender",
        "tax-bureau",
        "--purpose",
        "social-security.eligibility",
        "--category",
        "income.annual",
        "--direction",
        "pull",
        "--max-packets",
        "1",
        "--out",
        path(&fed.file("d.grant")),
    ]);
    let chain = grant_file(&fed.file("d.grant"));
    assert_eq!(chain.len(), 2, "the delegated grant and its root");
    let rt = runtime();
    let peer = rt.block_on(async { RawPeer::new(&stats) });
    let (first, second) = rt.block_on(async {
        let connection = peer.connect("tax-bureau").await.expect("connects");
        let (mut send, mut recv) = connection.open_bi().await.expect("stream");
        write(&mut send, &[pull_request(&peer, &chain, 1)]).await;
        let offer = first_frame(&mut recv, WAIT).await;
        let Some(Frame::Offer(offer)) = offer else { panic!("expected an offer, got {offer:?}") };
        let packet_id = offer.header.value().packet_id;
        write(&mut send, &[Frame::Accept(tally_wire::Accept { packet_id })]).await;
        let mut got = Vec::new();
        while let Some(f) = first_frame(&mut recv, Duration::from_secs(5)).await {
            let trailer = matches!(f, Frame::Trailer(_));
            got.push(f);
            if trailer {
                break;
            }
        }
        // Everything read; no receipt, and the stream dropped.
        drop((send, recv));
        let (mut send, mut recv) = connection.open_bi().await.expect("stream");
        write(&mut send, &[pull_request(&peer, &chain, 2)]).await;
        (got, first_frame(&mut recv, WAIT).await)
    });
    assert!(first.iter().any(|f| matches!(f, Frame::Trailer(_))), "the first answer was served in full: {first:?}");
    assert_eq!(second.as_ref().and_then(reason_of), Some(ReasonCode::QUOTA_EXHAUSTED), "{second:?}");
}

/// `tally send` of `file` from the node in `from` to the social-security
/// bureau for eligibility checks on annual income; its standard output.
fn send_income(from: &std::path::Path, grant: &str, file: &std::path::Path) -> String {
    ok(&[
        "send",
        "--dir",
        path(from),
        "--to",
        "social-security",
        "--grant",
        grant,
        "--purpose",
        "social-security.eligibility",
        "--category",
        "income.annual",
        path(file),
    ])
}

/// `tally serve` with at most `fds` open files.
fn serve_limited(dir: &std::path::Path, fds: u32) -> Served {
    let log = std::fs::File::create(dir.join("serve.log")).expect("log file");
    let child = Command::new("sh")
        .args(["-c", &format!("ulimit -n {fds} && exec \"$0\" serve --dir \"$1\""), TALLY, path(dir)])
        .stdout(Stdio::null())
        .stderr(log)
        .spawn()
        .expect("tally serve starts");
    let served = Served(child);
    eventually("the node starts", || run(&["status", "--dir", path(dir)]).status.success());
    served
}

#[test]
fn stalled_offers_do_not_exhaust_the_nodes_file_descriptors() {
    // Item 9: 1,010 offers accepted and then stalled exhausted the node's
    // descriptors; a legitimate send was refused and the control socket hung.
    let fed = federation();
    let (tax, social) = (fed.dir("tax-bureau"), fed.dir("social-security"));
    let _social = serve_limited(&social, 256);
    let _tax = serve(&tax);
    let g = grant_id(&issue_grant(&tax, &fed.file("g.grant"), &["--sender", "statistics", "--sender", "tax-bureau"]));
    let chain = grant_file(&fed.file("g.grant"));
    let rt = runtime();
    let peer = rt.block_on(async { RawPeer::new(&fed.dir("statistics")) });
    let connection = rt.block_on(peer.connect("social-security")).expect("connects");
    let mut held = Vec::new();
    let accepted = rt.block_on(async {
        let mut receivers = Vec::new();
        for n in 0..400u32 {
            let mut id = [0u8; 16];
            id[..4].copy_from_slice(&n.to_be_bytes());
            let (_, offer) = peer.seal("social-security", &chain, "income.annual", 1 << 20, PacketId(id));
            let (mut send, recv) = connection.open_bi().await.expect("stream");
            write(&mut send, &[Frame::Offer(offer)]).await;
            receivers.push(recv);
            held.push(send); // and never a chunk
        }
        let mut accepted = 0;
        for mut recv in receivers {
            if matches!(first_frame(&mut recv, Duration::from_millis(20)).await, Some(Frame::Accept(_))) {
                accepted += 1;
            }
        }
        accepted
    });
    // With 256 descriptors the node writes at most 64 payload files, 16 of them for one peer.
    assert!((1..=16).contains(&accepted), "one peer got {accepted} payload slots");
    // The node still answers its user and takes a legitimate send.
    std::fs::write(fed.file("income.bin"), vec![7u8; 100_000]).expect("writes");
    let sent = send_income(&tax, &g, &fed.file("income.bin"));
    assert!(sent.starts_with("Delivered"), "{sent}");
    assert!(status(&social)["agency"] == "social-security");
    let leftovers = std::fs::read_dir(social.join("data/blobs/incoming")).expect("dir").count();
    assert_eq!(leftovers, 0, "stalled offers opened no payload file");
    drop(held);
}

/// The node's peak resident memory, in KiB.
fn peak_rss_kib(pid: u32) -> u64 {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).expect("proc status");
    status
        .lines()
        .find_map(|l| l.strip_prefix("VmHWM:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
        .expect("VmHWM")
}

#[test]
fn frames_claiming_bodies_that_never_come_cost_no_memory() {
    // Item 8: 1,000 streams that each sent only a 6-byte prefix claiming a 1 MiB
    // chunk took a node from 10 MiB to 1,037 MiB, and three connections to 3 GiB.
    let fed = federation();
    let social = fed.dir("social-security");
    let node = serve(&social);
    let rt = runtime();
    let peer = rt.block_on(async { RawPeer::new(&fed.dir("statistics")) });
    let claimed = tally_wire::limits::frame::CHUNK;
    let mut prefix = vec![1u8, 0x04];
    let mut len = claimed as u64;
    loop {
        let byte = (len & 0x7f) as u8;
        len >>= 7;
        if len == 0 {
            prefix.push(byte);
            break;
        }
        prefix.push(byte | 0x80);
    }
    rt.block_on(async {
        let (mut streams, mut connections) = (Vec::new(), Vec::new());
        for _ in 0..3 {
            let connection = peer.connect("social-security").await.expect("connects");
            for _ in 0..340 {
                let (mut send, recv) = connection.open_bi().await.expect("stream");
                // The prefix, and the first 4 KiB of the body it claims.
                send.write_all(&prefix).await.expect("writes");
                send.write_all(&[0u8; 4096]).await.expect("writes");
                streams.push((send, recv));
            }
            connections.push(connection);
        }
        // The node has read every prefix by now (it allocated a body for each, before the fix).
        tokio::time::sleep(Duration::from_secs(3)).await;
        let peak = peak_rss_kib(node.0.id());
        assert!(peak < 200 * 1024, "the node peaked at {} MiB for 1,020 unfinished frames", peak / 1024);
        assert_eq!(status(&social)["agency"], "social-security", "and still answers");
        drop((streams, connections));
    });
}

#[test]
fn an_offer_addressed_to_another_agency_gets_no_signed_statement() {
    // Item 11: a node signed statements naming other agencies as recipient,
    // and the audit then blamed an honest log.
    let fed = federation();
    let (tax, social) = (fed.dir("tax-bureau"), fed.dir("social-security"));
    let _nodes = [serve(&tax), serve(&social)];
    issue_grant(&tax, &fed.file("g.grant"), &["--sender", "statistics"]);
    let chain = grant_file(&fed.file("g.grant"));
    let before = status(&social)["log_size"].as_u64().expect("size");
    let rt = runtime();
    let peer = rt.block_on(async { RawPeer::new(&fed.dir("statistics")) });
    // Sealed to the tax bureau, offered to the social-security bureau.
    let (_, offer) = peer.seal("tax-bureau", &chain, "income.annual", 5, PacketId([3; 16]));
    let answer = rt.block_on(async {
        let connection = peer.connect("social-security").await.expect("connects");
        let (mut send, mut recv) = connection.open_bi().await.expect("stream");
        write(&mut send, &[Frame::Offer(offer)]).await;
        frames(&mut recv, WAIT).await
    });
    assert!(!answer.iter().any(|f| matches!(f, Frame::Reject(_) | Frame::Receipt(_))), "nothing signed: {answer:?}");
    assert!(
        matches!(answer.last(), Some(Frame::Close(c)) if c.code == CloseCode::NOT_ADDRESSED_HERE),
        "closed as not addressed here: {answer:?}"
    );
    assert_eq!(status(&social)["log_size"].as_u64(), Some(before), "nothing logged");
}

#[test]
fn the_first_send_after_the_peer_was_killed_and_restarted_does_not_hang() {
    // Item 12: the first exchange after a peer restarted hung about 30 s on the dead cached connection.
    let fed = federation();
    let (tax, social) = (fed.dir("tax-bureau"), fed.dir("social-security"));
    let timeouts = "\n[timeouts]\nexchange_idle = \"60s\"\nconnection_idle = \"120s\"\n";
    fed.append_config("tax-bureau", timeouts);
    fed.append_config("social-security", timeouts);
    let _tax = serve(&tax);
    let mut social_node = serve(&social);
    let g = grant_id(&issue_grant(&tax, &fed.file("g.grant"), &[]));
    std::fs::write(fed.file("a.bin"), b"41250").expect("writes");
    let send = || send_income(&tax, &g, &fed.file("a.bin"));
    assert!(send().starts_with("Delivered"));
    // SIGKILL: no goodbye reaches the tax bureau's cached connection.
    social_node.0.kill().expect("kills");
    social_node.0.wait().expect("waits");
    let _social = serve(&social);
    let started = Instant::now();
    assert!(send().starts_with("Delivered"));
    let waited = started.elapsed();
    assert!(waited < Duration::from_secs(20), "the send waited {waited:?} (exchange idle timeout 60 s)");
}

#[test]
fn a_newcomer_cannot_register_another_agencys_tls_key() {
    // Item 7: a newcomer's export claimed the tax bureau's TLS key, `add-agency`
    // took it, and the tax bureau could no longer connect to anyone.
    let fed = Federation::new(&[("tax-bureau", "producer"), ("social-security", "consumer")]);
    let op = fed.dir("operator");
    let newcomer = fed.root.path().join("newcomer");
    let addr = "127.0.0.1:9";
    ok(&["init", "--agency", "newcomer", "--dir", path(&newcomer), "--listen", addr, "--operator-key", &fed.key]);
    let export = newcomer.join("newcomer.agency.toml");
    let victim = std::fs::read_to_string(fed.dir("tax-bureau").join("tax-bureau.agency.toml")).expect("export");
    let field = |text: &str, name: &str| {
        text.lines().find(|l| l.starts_with(&format!("{name} = "))).expect("the field").to_owned()
    };
    let mine = std::fs::read_to_string(&export).expect("export");
    let forged = mine.replace(&field(&mine, "tls_public_key"), &field(&victim, "tls_public_key"));
    std::fs::write(&export, forged).expect("writes");
    let refused = fails(&["federation", "add-agency", "--dir", path(&op), path(&export), "--roles", "producer"], 1);
    assert!(refused.contains("does not verify"), "{refused}");
    // Re-signing is not possible without the victim's key; copying its signature does not help either.
    let forged = mine
        .replace(&field(&mine, "tls_public_key"), &field(&victim, "tls_public_key"))
        .replace(&field(&mine, "tls_signature"), &field(&victim, "tls_signature"));
    std::fs::write(&export, forged).expect("writes");
    let refused = fails(&["federation", "add-agency", "--dir", path(&op), path(&export), "--roles", "producer"], 1);
    assert!(refused.contains("does not verify"), "{refused}");
    let members = std::fs::read_to_string(op.join("federation.toml")).expect("registers");
    assert!(!members.contains("newcomer"), "nothing was registered");
    // Nor can it take the tax bureau's name with keys of its own.
    let imposter = fed.root.path().join("imposter");
    ok(&["init", "--agency", "tax-bureau", "--dir", path(&imposter), "--listen", addr, "--operator-key", &fed.key]);
    let export = imposter.join("tax-bureau.agency.toml");
    let refused = fails(&["federation", "add-agency", "--dir", path(&op), path(&export), "--roles", "producer"], 1);
    assert!(refused.contains("is a member already") && refused.contains("identity key"), "{refused}");
    assert_eq!(std::fs::read_to_string(op.join("federation.toml")).expect("registers"), members, "unchanged");
}

#[test]
fn a_node_directory_is_readable_by_its_owner_only_and_a_readable_secret_stops_the_node() {
    // Item 17: tls.pk8 and storage.key were read without a mode check; the
    // database, blobs and exports were created 0644.
    use std::os::unix::fs::PermissionsExt;
    let fed = Federation::new(&[("tax-bureau", "producer"), ("social-security", "consumer")]);
    let (tax, social) = (fed.dir("tax-bureau"), fed.dir("social-security"));
    {
        let _nodes = [serve(&tax), serve(&social)];
        let g = grant_id(&issue_grant(&tax, &fed.file("g.grant"), &[]));
        std::fs::write(fed.file("a.bin"), b"41250").expect("writes");
        let sent = send_income(&tax, &g, &fed.file("a.bin"));
        let packet = packet_id(&sent);
        ok(&["inbox", "export", "--dir", path(&social), &packet, "--out", path(&social.join("out.bin"))]);
        ok(&["log", "export", "--dir", path(&social), "--out", path(&social.join("log.json"))]);
    }
    let mut checked = 0;
    let mut walk = vec![social.clone()];
    while let Some(dir) = walk.pop() {
        for entry in std::fs::read_dir(&dir).expect("readable").flatten() {
            let p = entry.path();
            if p.file_name().is_some_and(|n| n == "serve.log") {
                continue; // written by this test, not by the node
            }
            let mode = entry.metadata().expect("metadata").permissions().mode() & 0o777;
            assert_eq!(mode & 0o077, 0, "{} has mode {mode:o}", p.display());
            checked += 1;
            if p.is_dir() {
                walk.push(p);
            }
        }
    }
    assert!(checked > 10, "the walk saw the node's files ({checked})");
    for secret in ["keys/storage.key", "keys/tls.pk8"] {
        let file = social.join(secret);
        std::fs::set_permissions(&file, std::fs::Permissions::from_mode(0o644)).expect("chmod");
        let refused = fails(&["serve", "--dir", path(&social)], 1);
        assert!(
            refused.contains(secret.rsplit('/').next().expect("name")) && refused.contains("chmod 600"),
            "{refused}"
        );
        std::fs::set_permissions(&file, std::fs::Permissions::from_mode(0o600)).expect("chmod");
    }
}

#[test]
fn either_side_reveals_the_content_and_an_auditor_checks_it_offline() {
    // Item 15: neither side could prove the content later.
    let fed = federation();
    let (tax, social) = (fed.dir("tax-bureau"), fed.dir("social-security"));
    let _nodes = [serve(&tax), serve(&social)];
    let g = grant_id(&issue_grant(&tax, &fed.file("g.grant"), &[]));
    let payload = br#"{"citizen":42,"income":41250}"#;
    std::fs::write(fed.file("income.json"), payload).expect("writes");
    let sent = send_income(&tax, &g, &fed.file("income.json"));
    let packet = packet_id(&sent);
    let (directory, operator) = (fed.file("directory.tally"), fed.dir("operator").join("operator.pub"));
    let trust = ["--directory", path(&directory), "--operator-key", path(&operator)];
    // The recipient reveals what it holds: the evidence, and the plaintext.
    let revealed = ok(&[
        "reveal",
        "--dir",
        path(&social),
        &packet,
        "--out",
        path(&fed.file("r.reveal")),
        "--plaintext",
        path(&fed.file("revealed.json")),
    ]);
    assert!(revealed.contains("plaintext (29 bytes)"), "{revealed}");
    assert_eq!(std::fs::read(fed.file("revealed.json")).expect("plaintext"), payload);
    let proven = ok(&[
        &["verify", "--reveal", path(&fed.file("r.reveal")), "--plaintext", path(&fed.file("revealed.json"))][..],
        &trust,
    ]
    .concat());
    assert!(
        proven.starts_with(
            "Proven: tax-bureau sent, and social-security received and receipted, exactly this content (29 bytes)"
        ),
        "{proven}"
    );
    // The sender reveals its evidence; the plaintext is its own file.
    let from_sender = ok(&[
        "reveal",
        "--dir",
        path(&tax),
        &packet,
        "--out",
        path(&fed.file("s.reveal")),
        "--plaintext",
        path(&fed.file("none.json")),
    ]);
    assert!(from_sender.contains("keeps no copy"), "{from_sender}");
    ok(&[
        &["verify", "--reveal", path(&fed.file("s.reveal")), "--plaintext", path(&fed.file("income.json"))][..],
        &trust,
    ]
    .concat());
    // Any other content is refused.
    std::fs::write(fed.file("other.json"), br#"{"citizen":42,"income":99999}"#).expect("writes");
    let refused = fails(
        &[
            &["verify", "--reveal", path(&fed.file("s.reveal")), "--plaintext", path(&fed.file("other.json"))][..],
            &trust,
        ]
        .concat(),
        4,
    );
    assert!(refused.contains("does not verify"), "{refused}");
}
