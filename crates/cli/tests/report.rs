//! The audit says exactly what it checked, and its HTML report is read
//! in a real headless browser (Debian's Chromium; `.ci/run` installs it):
//! the verdict is inside the first screen at 900 px wide, for a clean and
//! for a tampered audit, and nothing is wider than the page.

mod common;

use std::path::{Path, PathBuf};
use std::process::Command;

use common::*;

/// The Chromium binary: `TALLY_CHROMIUM`, or `chromium` on the PATH.
fn chromium() -> String {
    let bin = std::env::var("TALLY_CHROMIUM").unwrap_or_else(|_| "chromium".into());
    let found = Command::new(&bin).arg("--version").output().is_ok_and(|o| o.status.success());
    assert!(found, "this test needs Chromium: apt-get install -y chromium (or set TALLY_CHROMIUM)");
    bin
}

/// Runs headless Chromium on `page` at 900 × 600 with `extra` arguments;
/// returns its standard output.
fn browse(page: &Path, profile: &Path, extra: &[&str]) -> String {
    let out = Command::new(chromium())
        .args([
            "--headless",
            "--no-sandbox",
            "--disable-gpu",
            "--disable-quic",
            "--no-first-run",
            "--disable-background-networking",
            "--disable-component-update",
            "--disable-sync",
            "--hide-scrollbars",
            &format!("--user-data-dir={}", profile.display()),
            "--window-size=900,600",
        ])
        .args(extra)
        .arg(format!("file://{}", page.display()))
        .output()
        .expect("chromium runs");
    assert!(out.status.success(), "chromium failed: {}", text(&out.stderr));
    text(&out.stdout)
}

/// Where the verdict banner ends and how wide the page is, as Chromium laid it out.
fn layout(report: &Path, profile: &Path) -> (f64, f64, String) {
    // A copy of the report with a probe that writes the layout into the DOM.
    let probe = report.with_extension("probe.html");
    let html = std::fs::read_to_string(report).expect("report");
    let script = r#"<script>const v=document.getElementById('verdict').getBoundingClientRect();document.body.insertAdjacentHTML('beforeend','<pre id=probe>'+v.bottom+' '+document.documentElement.scrollWidth+' '+document.getElementById('verdict').innerText+'</pre>');</script>"#;
    std::fs::write(&probe, html.replace("</body>", &format!("{script}</body>"))).expect("writes");
    let dom = browse(&probe, profile, &["--dump-dom"]);
    let start = dom.find("<pre id=\"probe\">").expect("the probe ran") + "<pre id=\"probe\">".len();
    let line = &dom[start..start + dom[start..].find("</pre>").expect("the probe's end")];
    let mut parts = line.splitn(3, ' ');
    let bottom: f64 = parts.next().and_then(|p| p.parse().ok()).expect("the verdict's bottom");
    let width: f64 = parts.next().and_then(|p| p.parse().ok()).expect("the page's width");
    (bottom, width, parts.next().unwrap_or_default().to_owned())
}

fn screenshot(report: &Path, profile: &Path, out: &Path) {
    browse(report, profile, &[&format!("--screenshot={}", out.display())]);
    let png = std::fs::read(out).expect("a screenshot");
    assert!(png.starts_with(b"\x89PNG") && png.len() > 5_000, "a real screenshot at {}", out.display());
}

#[test]
fn the_audit_says_what_it_checked_and_its_html_verdict_is_in_the_first_screen() {
    let fed = Federation::new(&[("tax-bureau", "producer,consumer"), ("social-security", "producer,consumer")]);
    let (tax, social) = (fed.dir("tax-bureau"), fed.dir("social-security"));
    fed.append_config("social-security", "");
    let _nodes = [serve(&tax), serve(&social)];
    let (t, s) = (path(&tax), path(&social));
    let g = grant_id(&issue_grant(&tax, &fed.file("g.grant"), &[]));
    std::fs::write(fed.file("a.json"), b"{}").expect("writes");
    let send = ["--to", "social-security", "--grant", &g, "--purpose", "social-security.eligibility"];
    let send = [&["send", "--dir", t][..], &send, &["--category", "income.annual"]].concat();
    ok(&[&send[..], &[path(&fed.file("a.json"))]].concat());
    // A checkpoint kept from an "earlier audit", then one more packet.
    std::fs::write(fed.file("earlier.note"), ok(&["log", "checkpoint", "--dir", t])).expect("writes");
    std::fs::write(fed.file("b.json"), b"{\"b\":1}").expect("writes");
    ok(&[&send[..], &[path(&fed.file("b.json"))]].concat());
    let (tax_log, social_log) = (fed.file("tax.json"), fed.file("social.json"));
    ok(&["log", "export", "--dir", t, "--out", path(&tax_log)]);
    ok(&["log", "export", "--dir", s, "--out", path(&social_log)]);
    let (directory, operator) = (fed.file("directory.tally"), fed.dir("operator").join("operator.pub"));
    let trust = ["--directory", path(&directory), "--operator-key", path(&operator)];

    // One log: the verdict first, and the receipts it could match in one log only.
    let one = ok(&[&["audit", path(&tax_log)][..], &trust].concat());
    let first = one.lines().next().expect("a first line");
    assert_eq!(first, "PASS: no findings", "{one}");
    assert!(
        one.lines().nth(1).is_some_and(|l| l.contains("directory serial 1") && l.contains("tax-bureau (")),
        "{one}"
    );
    assert!(one.contains("in one log only: 2"), "{one}");
    assert!(one.contains("the other side's log (social-security) was not audited"), "{one}");
    assert!(!one.contains("Every receipt is in both logs"), "{one}");

    // Earlier checkpoints: the good one is checked; one of another log and a non-note are reported unused.
    std::fs::write(fed.file("social.note"), ok(&["log", "checkpoint", "--dir", s])).expect("writes");
    std::fs::write(fed.file("junk.note"), "not a checkpoint\n").expect("writes");
    let notes = [fed.file("earlier.note"), fed.file("social.note"), fed.file("junk.note")];
    let earlier = ["--earlier", path(&notes[0]), "--earlier", path(&notes[1]), "--earlier", path(&notes[2])];
    let with = ok(&[&["audit", path(&tax_log)][..], &earlier, &trust].concat());
    assert!(with.contains("Earlier checkpoints checked: 1 (not used: 2)"), "{with}");
    assert!(
        with.contains("Earlier checkpoint #2 was not used: its origin") && with.contains("#3 was not used"),
        "{with}"
    );
    let raw = ok(&[&["audit", path(&tax_log)][..], &earlier, &trust, &["--format", "json"]].concat());
    assert!(
        raw.starts_with(
            "{\n  \"verdict\": \"PASS\",\n  \"finding_count\": 0,\n  \"directory_serial\": 1,\n  \"audited_at\": "
        ),
        "the JSON opens with the verdict: {raw}"
    );
    let json: serde_json::Value = serde_json::from_str(&raw).expect("JSON");
    assert_eq!((json["verdict"].as_str(), json["coverage"]["earlier_checked"].as_u64()), (Some("PASS"), Some(1)));

    // Both logs, clean; then with a receipt cut out of the recipient's log.
    let clean_html = fed.file("clean.html");
    ok(&[&["audit", path(&tax_log), path(&social_log), "--format", "html", "--out", path(&clean_html)][..], &trust]
        .concat());
    let mut export: serde_json::Value =
        serde_json::from_slice(&std::fs::read(&social_log).expect("log")).expect("JSON");
    export["entries"].as_array_mut().expect("entries").pop();
    let tampered_log = fed.file("tampered.json");
    std::fs::write(&tampered_log, export.to_string()).expect("writes");
    let tampered = fails(&[&["audit", path(&tax_log), path(&tampered_log)][..], &trust].concat(), 5);
    assert!(tampered.starts_with("FAIL: "), "{tampered}");
    let tampered_html = fed.file("tampered.html");
    fails(
        &[
            &["audit", path(&tax_log), path(&tampered_log), "--format", "html", "--out", path(&tampered_html)][..],
            &trust,
        ]
        .concat(),
        5,
    );
    let page = std::fs::read_to_string(&tampered_html).expect("report");
    assert!(
        page.contains("entries were dropped or altered") && page.contains("<code>log-mismatch</code>"),
        "plain words beside the code"
    );
    assert!(page.contains("Legend:") && page.contains("Grants in the logs") && page.contains("Deletion records"));

    // In Chromium at 900 px: the verdict is within the first 600 px, and no line is wider than the page.
    let profile = tempfile::tempdir().expect("a browser profile");
    // Kept in the target directory, to be looked at.
    let shots = PathBuf::from(env!("CARGO_TARGET_TMPDIR"));
    std::fs::create_dir_all(&shots).expect("dir");
    for (report, verdict) in [(&clean_html, "PASS"), (&tampered_html, "FAIL")] {
        let (bottom, width, shown) = layout(report, profile.path());
        assert!(shown.starts_with(verdict), "{report:?}: the banner says {shown}");
        assert!(bottom > 0.0 && bottom <= 600.0, "{report:?}: the verdict ends at {bottom} px, below the first screen");
        assert!(width <= 900.0, "{report:?}: the page is {width} px wide at a 900 px window");
        let png = shots.join(format!("audit-{}.png", verdict.to_lowercase()));
        screenshot(report, profile.path(), &png);
        println!("{verdict}: verdict ends at {bottom} px; screenshot {}", png.display());
    }
}
