//! Post-quantum protection between real `tally serve` processes on
//! 127.0.0.1 (issue 20): X-Wing packets over X25519MLKEM768 connections, a
//! grant that requires post-quantum sealing, and a node that requires the
//! hybrid key exchange.

mod common;
#[path = "common/raw.rs"]
mod raw;

use std::path::Path;
use std::time::Duration;

use common::*;
use raw::{RawPeer, first_frame, reason_of, write};
use tally_wire::{Frame, PacketId, ReasonCode};

fn status(dir: &Path) -> serde_json::Value {
    serde_json::from_str(&ok(&["status", "--dir", path(dir), "--json"])).expect("JSON")
}

fn strs(v: &[String]) -> Vec<&str> {
    v.iter().map(String::as_str).collect()
}

fn flow(grant: &str) -> [&str; 6] {
    ["--grant", grant, "--purpose", "social-security.eligibility", "--category", "income.annual"]
}

#[test]
fn two_nodes_exchange_xwing_packets_over_the_hybrid_key_exchange() {
    let fed = Federation::new(&[("tax-bureau", "producer,consumer"), ("social-security", "producer,consumer")]);
    let (tax, social) = (fed.dir("tax-bureau"), fed.dir("social-security"));
    let _nodes = [serve(&tax), serve(&social)];
    // `tally init` made an X-Wing key beside the X25519 key, and the directory lists both.
    let shown = ok(&["directory", "show", "--dir", path(&tax)]);
    assert_eq!(shown.matches("(X-Wing, post-quantum)").count(), 2, "{shown}");
    assert_eq!(shown.matches("(X25519)").count(), 2, "{shown}");

    let g = grant_id(&issue_grant(&tax, &fed.file("g.grant"), &["--post-quantum"]));
    let document = ok(&["grant", "show", "--dir", path(&social), path(&fed.file("g.grant"))]);
    assert!(document.contains("min_suite_level = \"post-quantum\""), "{document}");
    std::fs::write(fed.file("income.json"), br#"{"citizen":42,"income":41250}"#).expect("writes");
    let sent = ok(&[
        &["send", "--dir", path(&tax), "--to", "social-security"][..],
        &flow(&g),
        &[path(&fed.file("income.json"))],
    ]
    .concat());
    let listed = inbox(&social);
    assert_eq!(listed.len(), 1, "{sent}");
    assert_eq!(listed[0]["suite"], "XWING_SHA256_AES256GCM", "sealed with X-Wing: {listed:?}");
    ok(&["inbox", "export", "--dir", path(&social), &packet_id(&sent), "--out", path(&fed.file("out.json"))]);
    assert_eq!(std::fs::read(fed.file("out.json")).expect("exported"), br#"{"citizen":42,"income":41250}"#);

    // Every handshake of either node (the grant's notice, the send) used the hybrid group.
    for dir in [&tax, &social] {
        let tls = &status(dir)["tls"];
        assert_eq!(tls["key_exchange"], "hybrid-preferred", "{tls}");
        assert!(tls["hybrid"].as_u64().expect("a count") >= 1, "{tls}");
        assert_eq!(tls["classical"], 0, "{tls}");
    }
    let text = ok(&["status", "--dir", path(&social)]);
    assert!(text.contains("TLS key exchange: X25519MLKEM768 (post-quantum) preferred"), "{text}");
}

#[test]
fn a_grant_that_requires_post_quantum_sealing_sends_nothing_classical_and_its_recipient_refuses_it() {
    let fed = Federation::with_classical(
        &[
            ("tax-bureau", "producer,consumer"),
            ("social-security", "producer,consumer"),
            ("statistics", "producer,consumer"),
        ],
        &["statistics"],
    );
    let (tax, social, stats) = (fed.dir("tax-bureau"), fed.dir("social-security"), fed.dir("statistics"));
    let _nodes = [serve(&tax), serve(&social), serve(&stats)];
    std::fs::write(fed.file("income.json"), b"41250").expect("writes");
    let grant_to_statistics = |name: &str, extra: &[&str]| {
        let issue = [
            "grant",
            "issue",
            "--dir",
            path(&tax),
            "--grantee",
            "statistics",
            "--purpose",
            "social-security.eligibility",
            "--category",
            "income.annual",
            "--out",
        ];
        grant_id(&ok(&[&issue[..], &[path(&fed.file(name))], extra].concat()))
    };
    let payload = fed.file("income.json");
    let send = |grant: &str| -> Vec<String> {
        let args = [&["send", "--dir", path(&tax), "--to", "statistics"][..], &flow(grant), &[path(&payload)]].concat();
        args.into_iter().map(str::to_owned).collect()
    };

    // The statistics office has no X-Wing key: under a grant that requires
    // post-quantum, the tax bureau's node refuses to seal to it at all.
    let pq = grant_to_statistics("pq.grant", &["--post-quantum"]);
    let refused = fails(&strs(&send(&pq)), 1);
    assert!(
        refused.contains("suite X25519_SHA256_AES256GCM is below the grant's least suite level post-quantum"),
        "{refused}"
    );
    assert!(inbox(&stats).is_empty());
    // Under a grant without the requirement the packet goes, sealed classically.
    let classical = grant_to_statistics("classical.grant", &[]);
    ok(&strs(&send(&classical)));
    assert_eq!(inbox(&stats)[0]["suite"], "X25519_SHA256_AES256GCM");

    // A sender that seals to the recipient's X25519 key anyway, under a grant
    // that requires post-quantum: the recipient signs a rejection with its own reason.
    let g = issue_grant(&tax, &fed.file("social-pq.grant"), &["--post-quantum", "--delegation-depth", "1"]);
    // A delegation made without --post-quantum keeps its parent's requirement.
    let delegated = ok(&[
        "grant",
        "delegate",
        "--dir",
        path(&social),
        "--parent",
        &grant_id(&g),
        "--grantee",
        "statistics",
        "--sender",
        "tax-bureau",
        "--purpose",
        "social-security.eligibility",
        "--category",
        "income.annual",
        "--out",
        path(&fed.file("delegated.grant")),
    ]);
    let shown = ok(&["grant", "show", "--dir", path(&social), path(&fed.file("delegated.grant"))]);
    assert!(shown.contains("min_suite_level = \"post-quantum\""), "{delegated}{shown}");
    let chain = tally_wire::decode_grant_chain(&std::fs::read(fed.file("social-pq.grant")).expect("grant file"))
        .expect("a grant chain");
    assert!(g.contains("Issued grant"), "{g}");
    let rt = tokio::runtime::Builder::new_multi_thread().enable_all().build().expect("runtime");
    let peer = rt.block_on(async { RawPeer::new(&tax) });
    let (_, offer) = peer.seal("social-security", &chain, "income.annual", 5, PacketId([7; 16]));
    assert_eq!(offer.header.value().suite, tally_wire::SuiteId::X25519_SHA256_AES256GCM);
    let answer = rt.block_on(async {
        let connection = peer.connect("social-security").await.expect("connects");
        let (mut send, mut recv) = connection.open_bi().await.expect("stream");
        write(&mut send, &[Frame::Offer(offer)]).await;
        first_frame(&mut recv, Duration::from_secs(20)).await
    });
    assert_eq!(answer.as_ref().and_then(reason_of), Some(ReasonCode::SUITE_BELOW_GRANT_MINIMUM), "{answer:?}");
    assert!(inbox(&social).is_empty());
}

#[test]
fn a_node_that_requires_the_hybrid_key_exchange_refuses_a_classical_peer() {
    let fed = Federation::new(&[("tax-bureau", "producer,consumer"), ("social-security", "producer,consumer")]);
    let (tax, social) = (fed.dir("tax-bureau"), fed.dir("social-security"));
    fed.append_config("social-security", "\n[tls]\nkey_exchange = \"hybrid-required\"\n");
    fed.append_config("tax-bureau", "\n[tls]\nkey_exchange = \"classical\"\n");
    let _social = serve(&social);
    let g = {
        let _tax = serve(&tax);
        let issued = issue_grant(&tax, &fed.file("g.grant"), &[]);
        assert!(!issued.contains("Handed to social-security over the transport"), "{issued}");
        let g = grant_id(&issued);
        let payload = fed.file("income.json");
        std::fs::write(&payload, b"41250").expect("writes");
        let send =
            [&["send", "--dir", path(&tax), "--to", "social-security"][..], &flow(&g), &[path(&payload)]].concat();
        let pending = fails(&send, 75);
        assert!(pending.contains("The send is kept"), "{pending}");
        let peer = status(&tax)["peers"].as_array().expect("peers")[0].clone();
        assert_eq!(peer["reachable"], false, "{peer}");
        let tls = &status(&social)["tls"];
        assert_eq!(
            (tls["hybrid"].as_u64(), tls["classical"].as_u64()),
            (Some(0), Some(0)),
            "no handshake completed: {tls}"
        );
        g
    };
    // The tax bureau's node offers the hybrid group again: the kept send is delivered.
    let config = tax.join("tally.toml");
    let text = std::fs::read_to_string(&config).expect("config");
    std::fs::write(&config, text.replace("key_exchange = \"classical\"", "key_exchange = \"hybrid-preferred\""))
        .expect("writes");
    let _tax = serve(&tax);
    ok(&["resume", "--dir", path(&tax)]);
    eventually("the kept send is delivered", || inbox(&social).len() == 1);
    assert_eq!(inbox(&social)[0]["grant"], g.as_str());
    assert!(status(&social)["tls"]["hybrid"].as_u64().expect("a count") >= 1);
}

#[test]
fn a_rotated_xwing_key_still_opens_what_senders_seal_to_it_until_they_have_the_new_directory() {
    let fed = Federation::new(&[("tax-bureau", "producer,consumer"), ("social-security", "producer,consumer")]);
    let (tax, social) = (fed.dir("tax-bureau"), fed.dir("social-security"));
    let keys = |dir: &Path| -> Vec<serde_json::Value> {
        serde_json::from_str::<serde_json::Value>(&ok(&["keys", "list", "--dir", path(dir), "--json"]))
            .expect("JSON")
            .as_array()
            .cloned()
            .expect("a list")
    };
    let before = keys(&social);
    assert_eq!(before.len(), 2, "{before:?}");
    let old = before.iter().find(|k| k["kem"] == "X-Wing").expect("an X-Wing key")["key_id"].clone();
    let _tax = serve(&tax);
    let g = {
        let _social = serve(&social);
        let g = grant_id(&issue_grant(&tax, &fed.file("g.grant"), &["--post-quantum"]));
        let refused = fails(&["keys", "rotate", "--dir", path(&social), "--kem", "xwing"], 1);
        assert!(refused.contains("the node is running: stop it first"), "{refused}");
        g
    };

    let rotated = ok(&["keys", "rotate", "--dir", path(&social), "--kem", "xwing"]);
    assert!(rotated.contains("is kept in") && rotated.contains("add-agency --replace"), "{rotated}");
    let after = keys(&social);
    assert_eq!(after.len(), 3, "{after:?}");
    let retired: Vec<_> = after.iter().filter(|k| k["retired"] == true).collect();
    assert_eq!((retired.len(), &retired[0]["key_id"]), (1, &old), "the old key is retired, not gone");
    let new = after.iter().find(|k| k["kem"] == "X-Wing" && k["retired"] == false).expect("current")["key_id"].clone();
    assert_ne!(new, old);

    // The tax bureau still has the old directory: it seals to the retired key, which still opens.
    let _social = serve(&social);
    std::fs::write(fed.file("a.json"), b"41250").expect("writes");
    ok(&[&["send", "--dir", path(&tax), "--to", "social-security"][..], &flow(&g), &[path(&fed.file("a.json"))]]
        .concat());
    assert_eq!(inbox(&social).len(), 1);

    // The operator takes the new export; with the new directory, senders use the new key.
    let op = fed.dir("operator");
    let export = social.join("social-security.agency.toml");
    ok(&["federation", "add-agency", "--dir", path(&op), path(&export), "--roles", "producer,consumer", "--replace"]);
    ok(&["federation", "publish", "--dir", path(&op), "--out", path(&tax.join("directory.tally"))]);
    eventually("the tax bureau's node uses serial 2", || status(&tax)["directory_serial"] == 2);
    let listed: serde_json::Value =
        serde_json::from_str(&ok(&["directory", "show", "--dir", path(&tax), "--json"])).expect("JSON");
    let social_keys =
        listed["agencies"].as_array().expect("agencies").iter().find(|a| a["id"] == "social-security").expect("listed")
            ["kem_keys"]
            .clone();
    let ids: Vec<_> = social_keys.as_array().expect("keys").iter().map(|k| k["key_id"].clone()).collect();
    assert!(ids.contains(&new) && !ids.contains(&old), "{social_keys}");
    std::fs::write(fed.file("b.json"), b"41251").expect("writes");
    ok(&[&["send", "--dir", path(&tax), "--to", "social-security"][..], &flow(&g), &[path(&fed.file("b.json"))]]
        .concat());
    assert_eq!(inbox(&social).len(), 2);
    assert!(inbox(&social).iter().all(|p| p["suite"] == "XWING_SHA256_AES256GCM"));
}
