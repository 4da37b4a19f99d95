//! What operators meet, driven through real `tally serve` processes and
//! the CLI only (issue: "Exactly once, and honest answers"): a send
//! interrupted and sent again is delivered once; a peer that is down is
//! visible and its sends are retried; grants show their state; the
//! directory and the federation can be listed; one behaviour with and
//! without `--json`; messages that say what to do; logs an operator can use.

mod common;

use std::io::Write;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use common::*;

fn json(out: &str) -> serde_json::Value {
    serde_json::from_str(out).unwrap_or_else(|e| panic!("not JSON ({e}): {out}"))
}

fn status(dir: &std::path::Path) -> serde_json::Value {
    json(&ok(&["status", "--dir", path(dir), "--json"]))
}

fn send_args<'a>(dir: &'a str, grant: &'a str, file: &'a str) -> Vec<&'a str> {
    vec![
        "send",
        "--dir",
        dir,
        "--to",
        "social-security",
        "--grant",
        grant,
        "--purpose",
        "social-security.eligibility",
        "--category",
        "income.annual",
        file,
    ]
}

fn interrupt(child: &Child) {
    let pid = rustix::process::Pid::from_child(child);
    rustix::process::kill_process(pid, rustix::process::Signal::INT).expect("SIGINT");
}

/// Waits until the node in `dir` is offering a send (it is in the outbox and running).
fn until_running(dir: &std::path::Path) {
    eventually("the send is under way", || {
        status(dir)["sends"].as_array().is_some_and(|s| s.iter().any(|u| u["running"] == true))
    });
}

fn two_agencies() -> Federation {
    let fed = Federation::new(&[("tax-bureau", "producer,consumer"), ("social-security", "producer,consumer")]);
    fed.append_config("tax-bureau", "\n[retry]\nfirst = \"500ms\"\nmax = \"1s\"\n");
    fed.append_config("social-security", "");
    fed
}

/// A grant from the (running) tax bureau's node to social security.
fn grant(fed: &Federation) -> String {
    grant_id(&issue_grant(&fed.dir("tax-bureau"), &fed.file("g.grant"), &[]))
}

#[test]
fn a_send_interrupted_with_ctrl_c_and_sent_again_is_delivered_once() {
    let fed = two_agencies();
    let (tax, social) = (fed.dir("tax-bureau"), fed.dir("social-security"));
    let _nodes = [serve(&tax), serve(&social)];
    let g = grant(&fed);
    let big = fed.file("big.bin");
    let data: Vec<u8> = (0..96u32 << 20).map(|i| (i.wrapping_mul(2_654_435_761) >> 24) as u8).collect();
    std::fs::write(&big, &data).expect("writes");
    drop(data);
    let t = path(&tax);
    let child = Command::new(TALLY)
        .args(send_args(t, &g, path(&big)))
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("tally send starts");
    until_running(&tax);
    interrupt(&child);
    let out = child.wait_with_output().expect("it ends");
    let said = format!("{}{}", text(&out.stdout), text(&out.stderr));
    // The send was under way: the command says the node goes on with it, and how to follow it.
    assert_eq!(out.status.code(), Some(130), "{said}");
    assert!(said.contains("goes on with the send in the background") && said.contains("tally status"), "{said}");

    // The same send again: it attaches to the first (or finds it finished), and says so.
    let again = json(&ok(&[&send_args(t, &g, path(&big))[..], &["--json"]].concat()));
    assert_eq!(again["result"], "delivered", "{again}");
    assert!(again["previously"] == "attached" || again["previously"] == "finished", "{again}");
    // And once more: finished; nothing is sent.
    let third = ok(&send_args(t, &g, path(&big)));
    assert!(third.contains("had finished before: nothing was sent again"), "{third}");

    // Exactly one packet at the recipient; nothing left unfinished.
    let listed = inbox(&social);
    assert_eq!(listed.len(), 1, "{listed:?}");
    assert_eq!(listed[0]["packet"], again["packet"]);
    assert_eq!(status(&tax)["unfinished_sends"], 0);
    // A send id given by hand is the idempotency key; reused for another payload, it is refused.
    std::fs::write(fed.file("small.bin"), b"other content").expect("writes");
    let small = fed.file("small.bin");
    let keyed = [&send_args(t, &g, path(&small))[..], &["--send-id", "batch-7"]].concat();
    let first = ok(&keyed);
    assert!(first.starts_with("Delivered"), "{first}");
    let second = ok(&keyed);
    assert!(second.contains("send id batch-7") && second.contains("had finished before"), "{second}");
    std::fs::write(fed.file("other.bin"), b"another payload entirely").expect("writes");
    let other = fed.file("other.bin");
    let reused = fails(&[&send_args(t, &g, path(&other))[..], &["--send-id", "batch-7"]].concat(), 1);
    assert!(reused.contains("send id batch-7 was used for another send"), "{reused}");
    assert_eq!(inbox(&social).len(), 2);
}

#[test]
fn an_interrupted_send_from_standard_input_is_cancelled_and_leaves_nothing() {
    let fed = two_agencies();
    let (tax, social) = (fed.dir("tax-bureau"), fed.dir("social-security"));
    let _nodes = [serve(&tax), serve(&social)];
    let g = grant(&fed);
    let t = path(&tax);
    let mut child = Command::new(TALLY)
        .args(send_args(t, &g, "-"))
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("tally send starts");
    {
        let mut stdin = child.stdin.take().expect("stdin");
        let chunk = vec![7u8; 1 << 20];
        for _ in 0..96 {
            stdin.write_all(&chunk).expect("writes");
        }
    }
    until_running(&tax);
    interrupt(&child);
    let out = child.wait_with_output().expect("it ends");
    let said = format!("{}{}", text(&out.stdout), text(&out.stderr));
    assert_eq!(out.status.code(), Some(130), "{said}");
    if said.contains("cancelled the send") {
        // Cancelled: nothing in the outbox, nothing at the recipient, now or a moment later.
        assert!(said.contains("nothing of it is kept"), "{said}");
        assert_eq!(status(&tax)["unfinished_sends"], 0, "{said}");
        std::thread::sleep(Duration::from_secs(1));
        assert_eq!(inbox(&social).len(), 0, "{said}");
        assert_eq!(status(&tax)["unfinished_sends"], 0, "{said}");
    } else {
        // The whole payload had reached the node: it goes on, and the packet arrives once.
        assert!(said.contains("goes on with the send"), "{said}");
        eventually("the send finishes", || status(&tax)["unfinished_sends"] == 0);
        assert_eq!(inbox(&social).len(), 1, "{said}");
    }
}

#[test]
fn a_peer_that_is_down_is_visible_and_its_send_is_retried_until_delivered() {
    let fed = two_agencies();
    let (tax, social) = (fed.dir("tax-bureau"), fed.dir("social-security"));
    let _tax = serve(&tax);
    let g = grant(&fed);
    let t = path(&tax);
    std::fs::write(fed.file("a.json"), br#"{"citizen":1}"#).expect("writes");
    let endpoint = status(&tax)["peers"][0]["endpoint"].as_str().expect("endpoint").to_owned();
    let down = fails(&send_args(t, &g, path(&fed.file("a.json"))), 75);
    assert!(down.contains(&format!("at {endpoint}")), "names the address it tried: {down}");
    assert!(down.contains("The send is kept") && down.contains("offers it again"), "{down}");

    // From standard input the payload cannot be read again: the send is cancelled, not kept.
    let mut piped = Command::new(TALLY)
        .args(send_args(t, &g, "-"))
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("tally send starts");
    piped.stdin.take().expect("stdin").write_all(b"{\"citizen\":2}").expect("writes");
    let out = piped.wait_with_output().expect("it ends");
    let said = text(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{said}");
    assert!(said.contains("cannot be read again") && said.contains("the send is cancelled"), "{said}");

    let s = status(&tax);
    assert_eq!(s["unfinished_sends"], 1, "only the file's send is kept: {s}");
    let send = &s["sends"][0];
    assert!(send["attempts"].as_u64() >= Some(1) && send["last_error"].is_string(), "{s}");
    let peer = &s["peers"][0];
    assert_eq!((peer["agency"].as_str(), &peer["reachable"]), (Some("social-security"), &serde_json::json!(false)));
    assert_eq!(peer["unfinished_sends"], 1);
    let text = ok(&["status", "--dir", t]);
    assert!(text.contains("peer social-security at") && text.contains("NOT reachable"), "{text}");
    let runtime = tokio::runtime::Runtime::new().expect("runtime");
    let client = tally_node::api::Client::new(&tax);
    let health = runtime.block_on(client.health()).expect("health");
    assert_eq!(health.status, "degraded");
    assert!(health.reasons[0].contains("social-security"), "{:?}", health.reasons);
    let metrics = runtime.block_on(client.metrics()).expect("metrics");
    assert!(metrics.contains("tally_peer_reachable{peer=\"social-security\"} 0"), "{metrics}");
    assert!(metrics.contains("tally_peer_unfinished_sends{peer=\"social-security\"} 1"), "{metrics}");

    // The peer comes back: the node delivers the send by itself, without `tally resume`.
    let _social = serve(&social);
    let started = Instant::now();
    eventually("the kept send is delivered", || status(&tax)["unfinished_sends"] == 0);
    println!("delivered {:?} after the peer came back", started.elapsed());
    assert_eq!(inbox(&social).len(), 1);
    assert_eq!(status(&tax)["peers"][0]["reachable"], true);
    assert_eq!(runtime.block_on(client.health()).expect("health").status, "ok");
    let metrics = runtime.block_on(client.metrics()).expect("metrics");
    assert!(metrics.contains("tally_peer_reachable{peer=\"social-security\"} 1"), "{metrics}");
    assert!(metrics.contains("tally_peer_last_success_seconds{peer=\"social-security\"}"), "{metrics}");
}

#[test]
fn grants_show_active_revoked_expired_not_yet_valid_and_exhausted_with_their_usage() {
    let fed = two_agencies();
    let (tax, social) = (fed.dir("tax-bureau"), fed.dir("social-security"));
    let _nodes = [serve(&tax), serve(&social)];
    let g = grant(&fed);
    let (t, s) = (path(&tax), path(&social));
    let state = |dir: &str, grant: &str| {
        let list = json(&ok(&["grant", "list", "--dir", dir, "--json"]));
        list.as_array().expect("a list").iter().find(|x| x["grant"] == grant).cloned().expect("listed")
    };
    assert_eq!(state(t, &g)["state"], "active");

    // Quota: one packet; after it the grant is exhausted, with its usage shown.
    let one = grant_id(&issue_grant(&tax, &fed.file("one.grant"), &["--max-packets", "1"]));
    std::fs::write(fed.file("a.json"), b"{}").expect("writes");
    ok(&send_args(t, &one, path(&fed.file("a.json"))));
    let exhausted = state(t, &one);
    assert_eq!(exhausted["state"], "quota-exhausted", "{exhausted}");
    assert_eq!(
        (exhausted["usage"]["packets"].as_u64(), exhausted["usage"]["max_packets"].as_u64()),
        (Some(1), Some(1))
    );
    let listed = ok(&["grant", "list", "--dir", t]);
    assert!(listed.contains("quota exhausted; used 1 of 1 packets"), "{listed}");

    // Expired: valid for 2 s.
    let brief = grant_id(&issue_grant(&tax, &fed.file("brief.grant"), &["--valid-for", "2s"]));
    std::thread::sleep(Duration::from_millis(2500));
    assert_eq!(state(t, &brief)["state"], "expired");

    // Not yet valid: a document whose window starts tomorrow.
    let tomorrow = humantime::format_rfc3339_seconds(std::time::SystemTime::now() + Duration::from_secs(86_400));
    let later = humantime::format_rfc3339_seconds(std::time::SystemTime::now() + Duration::from_secs(172_800));
    std::fs::write(
        fed.file("later.toml"),
        format!(
            "grantee = \"social-security\"\npurposes = [\"social-security.eligibility\"]\ncategories = [\"income.annual\"]\nnot_before = \"{tomorrow}\"\nnot_after = \"{later}\"\ndirection = \"both\"\nretention = \"30days\"\n"
        ),
    )
    .expect("writes");
    let pending = grant_id(&ok(&[
        "grant",
        "issue",
        "--dir",
        t,
        "--file",
        path(&fed.file("later.toml")),
        "--out",
        path(&fed.file("later.grant")),
    ]));
    assert_eq!(state(t, &pending)["state"], "not-yet-valid");

    // Revoked with erasure: both sides say so, when, by whom, why, and that it erases.
    ok(&[
        "grant",
        "revoke",
        "--dir",
        t,
        &g[..12],
        "--reason",
        "purpose-ended",
        "--erase",
        "--out",
        path(&fed.file("r")),
    ]);
    for dir in [t, s] {
        let revoked = state(dir, &g);
        assert_eq!(revoked["state"], "revoked", "{revoked}");
        let r = &revoked["revocation"];
        assert_eq!(
            (r["by"].as_str(), r["reason"].as_str(), r["erase"].as_bool()),
            (Some("tax-bureau"), Some("purpose-ended"), Some(true))
        );
        assert!(r["effective_at"].is_string());
        let listed = ok(&["grant", "list", "--dir", dir]);
        assert!(
            listed.contains("revoked (revocation by tax-bureau from") && listed.contains("with erasure"),
            "{listed}"
        );
    }
    let shown = ok(&["grant", "show", "--dir", t, path(&fed.file("g.grant"))]);
    assert!(shown.contains("# state: revoked"), "{shown}");
    let shown = json(&ok(&["grant", "show", "--dir", t, path(&fed.file("g.grant")), "--json"]));
    assert_eq!(shown["state"], "revoked");

    // A peer's rejection says what happened and what to do, with the code.
    let pull = [
        "request",
        "--dir",
        s,
        "--to",
        "tax-bureau",
        "--grant",
        &g,
        "--purpose",
        "social-security.eligibility",
        "--category",
        "income.annual",
    ];
    let refused = fails(&pull, 3);
    assert!(refused.contains("revoked by tax-bureau from"), "{refused}");
    assert!(refused.contains("ask the grantor for a new grant (GRANT_REVOKED)"), "{refused}");
}

#[test]
fn one_behaviour_with_and_without_json_and_messages_that_say_what_to_do() {
    let fed = two_agencies();
    let (tax, social) = (fed.dir("tax-bureau"), fed.dir("social-security"));
    std::fs::create_dir_all(tax.join("served")).expect("dir");
    std::fs::write(tax.join("served/c1.json"), br#"{"citizen":1}"#).expect("writes");
    fed.append_config("tax-bureau", "\n[[pull]]\ncategory = \"income.annual\"\ndirectory = \"served\"\n");
    let _nodes = [serve(&tax), serve(&social)];
    let g = grant(&fed);
    let (t, s) = (path(&tax), path(&social));
    let pull = |query: &str, purpose: &str, json: bool| {
        let mut args = vec![
            "request",
            "--dir",
            s,
            "--to",
            "tax-bureau",
            "--grant",
            &g,
            "--purpose",
            purpose,
            "--category",
            "income.annual",
            "--query",
            query,
        ];
        if json {
            args.push("--json");
        }
        run(&args)
    };
    // A signed rejection exits 3 with and without --json; with it, the answer is JSON.
    let text_out = pull("c1.json", "tax.audit", false);
    let json_out = pull("c1.json", "tax.audit", true);
    assert_eq!((text_out.status.code(), json_out.status.code()), (Some(3), Some(3)));
    assert_eq!(json(&text(&json_out.stdout))["result"], "refused");
    assert!(text(&text_out.stderr).contains("(PURPOSE_NOT_COVERED)"), "{}", text(&text_out.stderr));
    // A query that leaves the source directory is refused as such.
    let escape = pull("../../etc/passwd", "social-security.eligibility", false);
    let said = text(&escape.stderr);
    assert_eq!(escape.status.code(), Some(3), "{said}");
    assert!(said.contains("INVALID_QUERY") && said.contains("without `/` or `..`"), "{said}");
    // Nothing to serve is said on the requester's side.
    let nothing = pull("c2.json", "social-security.eligibility", false);
    assert_eq!(nothing.status.code(), Some(0));
    assert!(text(&nothing.stdout).contains("had nothing to serve for this query"), "{}", text(&nothing.stdout));
    // A local refusal with --json prints JSON too, and the same exit code.
    std::fs::write(fed.file("a.json"), b"{}").expect("writes");
    let a = fed.file("a.json");
    let mut local = send_args(t, &g, path(&a));
    local[8] = "tax.audit";
    let plain = run(&local);
    local.push("--json");
    let with_json = run(&local);
    assert_eq!(plain.status.code(), with_json.status.code());
    let error = json(&text(&with_json.stdout));
    assert!(error["error"]["message"].as_str().is_some_and(|m| m.contains("tax.audit")), "{error}");
    assert_eq!(error["error"]["exit"].as_i64().map(|e| e as i32), plain.status.code());

    // `grant issue --json` gives the id; a unique prefix names it; `-` is standard output.
    let issued = json(&ok(&[
        "grant",
        "issue",
        "--dir",
        t,
        "--grantee",
        "social-security",
        "--purpose",
        "social-security.eligibility",
        "--category",
        "income.annual",
        "--out",
        path(&fed.file("h.grant")),
        "--json",
    ]));
    let h = issued["grant"].as_str().expect("the id").to_owned();
    let sent = ok(&send_args(t, &h[..10], path(&fed.file("a.json"))));
    let packet = packet_id(&sent);
    let out = run(&["inbox", "export", "--dir", s, &packet[..8], "--out", "-"]);
    assert!(out.status.success(), "{}", text(&out.stderr));
    assert_eq!(out.stdout, b"{}");
    assert!(!std::path::Path::new("-").exists(), "no file named `-`");
    let none = fails(&["inbox", "export", "--dir", s, "ffffffff", "--out", "-"], 2);
    assert!(none.contains("no packet on this node starts with `ffffffff`"), "{none}");

    // Shell completions and the man page, from the same definitions as --help.
    let bash = ok(&["completions", "bash"]);
    assert!(bash.contains("complete") && bash.contains("tally") && bash.contains("--send-id"), "{bash}");
    let man = ok(&["man"]);
    assert!(man.starts_with(".ie") || man.contains(".TH tally"), "{man}");
}

/// The address the node in `dir` listens on, from its `tally.toml`.
fn listen_of(dir: &std::path::Path) -> String {
    let config = std::fs::read_to_string(dir.join("tally.toml")).expect("config");
    let line = config.lines().find_map(|l| l.strip_prefix("listen = ")).expect("a listen line");
    line.trim_matches('"').to_owned()
}

#[test]
fn an_agency_listed_at_two_endpoints_is_reached_at_whichever_runs_and_a_killed_one_is_failed_over() {
    let fed = two_agencies();
    let (tax, social, op) = (fed.dir("tax-bureau"), fed.dir("social-security"), fed.dir("operator"));
    let timeouts =
        "\n[timeouts]\nconnect = \"3s\"\nexchange_idle = \"2s\"\nconnection_idle = \"3s\"\nkeep_alive = \"1s\"\n";
    fed.append_config("tax-bureau", timeouts);
    // Social security lists a replica's endpoint before its own; nothing runs there yet.
    let own = listen_of(&social);
    let spare = std::net::UdpSocket::bind("127.0.0.1:0").expect("a free port").local_addr().expect("bound").to_string();
    let s = path(&social);
    let written = ok(&["keys", "export", "--dir", s, "--endpoint", &spare, "--endpoint", &own]);
    assert!(written.contains("social-security.agency.toml"), "{written}");
    let export = social.join("social-security.agency.toml");
    let replaced = ok(&[
        "federation",
        "add-agency",
        "--dir",
        path(&op),
        path(&export),
        "--roles",
        "producer,consumer",
        "--replace",
    ]);
    assert!(replaced.contains(&format!("endpoints {own} -> {spare}, {own}")), "{replaced}");
    assert!(!replaced.contains("KEM keys"), "the keys did not change: {replaced}");
    let directory = fed.file("directory.tally");
    ok(&["federation", "publish", "--dir", path(&op), "--out", path(&directory)]);
    for dir in [&tax, &social] {
        std::fs::copy(&directory, dir.join("directory.tally")).expect("copies");
    }
    let shown = ok(&["directory", "show", "--dir", path(&tax)]);
    assert!(shown.contains(&format!("endpoints {spare}, {own}")), "{shown}");

    let _tax = serve(&tax);
    let mut first = serve(&social);
    let g = grant(&fed);
    let t = path(&tax);
    std::fs::write(fed.file("a.json"), br#"{"citizen":1}"#).expect("writes");
    let sent = ok(&send_args(t, &g, path(&fed.file("a.json"))));
    assert!(sent.contains("Delivered"), "{sent}");
    let peer = status(&tax)["peers"][0].clone();
    assert_eq!(peer["endpoints"], serde_json::json!([spare, own]), "{peer}");
    assert_eq!(peer["endpoint"], own.as_str(), "the endpoint that answered is dialed first: {peer}");

    // The node is killed; its replica (the same keys and storage here) comes up at the other endpoint.
    first.0.kill().expect("SIGKILL");
    first.0.wait().expect("it ends");
    let config = std::fs::read_to_string(social.join("tally.toml")).expect("config");
    let moved = config.replace(&format!("listen = \"{own}\""), &format!("listen = \"{spare}\""));
    std::fs::write(social.join("tally.toml"), moved).expect("writes");
    let _replica = serve(&social);
    std::fs::write(fed.file("b.json"), br#"{"citizen":2}"#).expect("writes");
    // Over the dead connection or a new one, the send is delivered: now, or by the node's retries.
    let _ = run(&send_args(t, &g, path(&fed.file("b.json"))));
    eventually("the send is delivered", || status(&tax)["unfinished_sends"] == 0);
    assert_eq!(inbox(&social).len(), 2, "each packet once");
    assert_eq!(status(&tax)["peers"][0]["endpoint"], spare.as_str(), "the replica that answered is remembered");
}

#[test]
fn the_directory_and_the_federation_are_listed_and_an_agency_is_not_replaced_by_accident() {
    let fed = Federation::new(&[("tax-bureau", "producer,consumer"), ("social-security", "producer,consumer")]);
    let op = fed.dir("operator");
    let export = fed.dir("tax-bureau").join("tax-bureau.agency.toml");
    let again = fails(&["federation", "add-agency", "--dir", path(&op), path(&export), "--roles", "auditor"], 1);
    assert!(again.contains("is a member already") && again.contains("roles producer,consumer -> auditor"), "{again}");
    let replaced =
        ok(&["federation", "add-agency", "--dir", path(&op), path(&export), "--roles", "auditor", "--replace"]);
    assert!(replaced.contains("Replaced agency `tax-bureau`: roles producer,consumer -> auditor"), "{replaced}");
    let listed = ok(&["federation", "list", "--dir", path(&op)]);
    assert!(listed.contains("tax-bureau (tax-bureau): auditor") && listed.contains("identity key"), "{listed}");
    let listed = json(&ok(&["federation", "list", "--dir", path(&op), "--json"]));
    assert_eq!(listed["agency"].as_array().map(Vec::len), Some(2), "{listed}");

    let shown = ok(&["directory", "show", "--dir", path(&fed.dir("social-security"))]);
    assert!(
        shown.contains("serial 1") && shown.contains("social-security.eligibility: legal basis SSA s. 12"),
        "{shown}"
    );
    assert!(shown.contains("tax-bureau (tax-bureau): producer, consumer; endpoint 127.0.0.1:"), "{shown}");
    let shown = json(&ok(&["directory", "show", "--dir", path(&fed.dir("social-security")), "--json"]));
    assert_eq!(shown["serial"], 1);
    assert_eq!(shown["agencies"][0]["identity_key"].as_str().map(str::len), Some(64));
    assert_eq!(shown["purposes"][0]["legal_basis"], "SSA s. 12");
}

#[test]
fn a_bad_directory_file_gets_a_message_of_its_own_for_each_fault() {
    let fed = Federation::new(&[("tax-bureau", "producer,consumer")]);
    let good = std::fs::read(fed.file("directory.tally")).expect("directory");
    let bad = fed.file("bad.tally");
    let verify = |op_key: &str| {
        fails(&["verify", path(&fed.file("nothing.bundle")), "--directory", path(&bad), "--operator-key", op_key], 1)
    };
    std::fs::write(&bad, &good[..good.len() / 2]).expect("writes");
    assert!(verify(&fed.key).contains("cut short"), "{}", verify(&fed.key));
    let mut flipped = good.clone();
    let last = flipped.len() - 1;
    flipped[last] ^= 1;
    std::fs::write(&bad, &flipped).expect("writes");
    let said = verify(&fed.key);
    assert!(said.contains("altered or damaged") && said.contains("get a fresh copy"), "{said}");
    std::fs::write(&bad, b"").expect("writes");
    assert!(verify(&fed.key).contains("empty"), "{}", verify(&fed.key));
    std::fs::remove_file(&bad).expect("removes");
    assert!(verify(&fed.key).contains("there is no file here"), "{}", verify(&fed.key));
    std::fs::write(&bad, &good).expect("writes");
    let other = fed.file("other-operator");
    ok(&["federation", "init", "--dir", path(&other), "--name", "Another"]);
    let said = verify(path(&other.join("operator.pub")));
    assert!(said.contains("does not verify under the operator key given"), "{said}");
    assert!(said.contains("check the operator key against the operator's operator.pub"), "{said}");
}

#[test]
fn the_node_logs_each_packet_plainly_and_refuses_to_start_on_a_taken_port() {
    let fed = two_agencies();
    let (tax, social) = (fed.dir("tax-bureau"), fed.dir("social-security"));
    let taken = std::net::TcpListener::bind("127.0.0.1:0").expect("a port");
    let port = taken.local_addr().expect("addr").port();
    let config = tax.join("tally.toml");
    let plain = std::fs::read_to_string(&config).expect("config");
    std::fs::write(&config, format!("api = \"127.0.0.1:{port}\"\n{plain}")).expect("writes");
    let refused = Command::new(TALLY).args(["serve", "--dir", path(&tax)]).output().expect("runs");
    let said = text(&refused.stderr);
    assert!(!refused.status.success() && said.contains(&format!("127.0.0.1:{port}")), "{said}");
    assert!(!said.contains("node started"), "the port is checked before the node says it started: {said}");
    drop(taken);
    std::fs::write(&config, plain).expect("writes");

    let social_log = std::fs::File::create(social.join("serve.log")).expect("log");
    let _social = Served(
        Command::new(TALLY)
            .args(["serve", "--dir", path(&social), "--log-format", "json"])
            .stdout(Stdio::null())
            .stderr(social_log)
            .spawn()
            .expect("starts"),
    );
    let _tax = serve(&tax);
    eventually("social-security serves", || run(&["status", "--dir", path(&social)]).status.success());
    let g = grant(&fed);
    let second = fails(&["serve", "--dir", path(&tax)], 1);
    assert!(second.contains("a node already runs on this directory"), "{second}");
    std::fs::write(fed.file("a.json"), b"{\"x\":1}").expect("writes");
    let packet = packet_id(&ok(&send_args(path(&tax), &g, path(&fed.file("a.json")))));

    let tax_log = std::fs::read_to_string(tax.join("serve.log")).expect("log");
    assert!(!tax_log.contains('\u{1b}'), "no ANSI codes when stderr is not a terminal");
    let line = tax_log.lines().find(|l| l.contains("packet sent")).unwrap_or_else(|| panic!("{tax_log}"));
    for field in ["peer=social-security", &format!("packet={packet}"), &format!("grant={g}"), "bytes=7"] {
        assert!(line.contains(field), "{field} in {line}");
    }
    assert!(tax_log.contains("node started") && tax_log.contains("api.sock"), "{tax_log}");
    let social_log = std::fs::read_to_string(social.join("serve.log")).expect("log");
    let received = social_log
        .lines()
        .filter_map(|l| serde_json::from_str::<serde_json::Value>(l).ok())
        .find(|v| v["fields"]["message"] == "packet received and receipted")
        .unwrap_or_else(|| panic!("{social_log}"));
    let f = &received["fields"];
    assert_eq!(
        (f["peer"].as_str(), f["packet"].as_str(), f["bytes"].as_u64()),
        (Some("tax-bureau"), Some(&*packet), Some(7))
    );
    assert_eq!(f["grant"].as_str(), Some(&*g));
}
