//! Grant documents: what operators write, and the errors they get.

mod support;

use tally_grant::{DocumentError, GrantDocument, issue_grant};
use tally_wire::{Direction, Timestamp};

use support::*;

const REQUEST: &str = r#"
grantee = "social-security"
senders = ["tax-bureau"]
purposes = ["social-security.eligibility"]
categories = ["income"]
not_before = "2026-12-01T00:00:00Z"
not_after = "2027-12-01T00:00:00Z"
direction = "push"
retention = "90days"
erase_on_revoke = true
legal_basis = "Social Security Act s. 12(3)"

[quota]
max_packets = 10000
rate = { packets = 100, period_secs = 3600 }
"#;

fn with(line_from: &str, line_to: &str) -> String {
    assert!(REQUEST.contains(line_from), "{line_from}");
    REQUEST.replace(line_from, line_to)
}

fn error_of(text: &str) -> DocumentError {
    let doc = match GrantDocument::from_toml(text) {
        Ok(doc) => doc,
        Err(e) => return e,
    };
    doc.to_grant(&agency("tax-bureau"), Timestamp::from_secs(T0)).expect_err("invalid")
}

#[test]
fn a_request_becomes_a_signed_grant_and_reads_back() {
    let fed = Federation::new();
    let doc = GrantDocument::from_toml(REQUEST).expect("parses");
    let signed =
        issue_grant(fed.key("tax-bureau"), &agency("tax-bureau"), &doc, Timestamp::from_secs(T0)).expect("issues");
    let g = signed.unverified();
    assert_eq!(g.issuer, agency("tax-bureau"));
    assert_eq!(g.direction, Direction::Push);
    assert_eq!(g.retention_secs, 90 * 86_400);
    assert_eq!(g.not_before, Timestamp::from_secs(1_796_083_200));
    assert_eq!(g.quota.max_bytes, None, "omitted limits are unlimited");
    assert_eq!(g.issued_at, Timestamp::from_secs(T0));
    // The readable form goes back to the same grant.
    let shown = GrantDocument::from_grant(g);
    let toml = toml::to_string(&shown).expect("serializes");
    let again = GrantDocument::from_toml(&toml)
        .expect("parses")
        .to_grant(&agency("tax-bureau"), Timestamp::EPOCH)
        .expect("valid");
    assert_eq!(&again, g);
    let json = serde_json::to_string(&shown).expect("serializes");
    assert!(json.contains("\"not_before\":\"2026-12-01T00:00:00Z\""), "{json}");
}

#[test]
fn each_mistake_names_its_field() {
    let cases = [
        (with("grantee = \"social-security\"", "grantee = \"Social\""), "grantee"),
        (with("purposes = [\"social-security.eligibility\"]", "purposes = [\"social..security\"]"), "purposes"),
        (with("purposes = [\"social-security.eligibility\"]", "purposes = []"), "purposes"),
        (with("categories = [\"income\"]", "categories = []"), "categories"),
        (with("not_after = \"2027-12-01T00:00:00Z\"", "not_after = \"2026-11-30T00:00:00Z\""), "not_after"),
        (with("not_before = \"2026-12-01T00:00:00Z\"", "not_before = \"1 December 2026\""), "not_before"),
        (with("retention = \"90days\"", "retention = \"ninety days\""), "retention"),
        (with("max_packets = 10000", "max_packets = 0"), "quota.max_packets"),
        (
            with("rate = { packets = 100, period_secs = 3600 }", "rate = { packets = 0, period_secs = 3600 }"),
            "quota.rate",
        ),
        (with("senders = [\"tax-bureau\"]", "senders = [\"tax bureau\"]"), "senders"),
        (format!("issuer = \"statistics\"\n{REQUEST}"), "issuer"),
        (format!("parent = \"abc\"\n{REQUEST}"), "parent"),
    ];
    for (text, field) in cases {
        match error_of(&text) {
            DocumentError::Field { field: f, problem } => assert_eq!(f, field, "{problem}"),
            other => panic!("expected a field error for {field}, got {other}"),
        }
    }
}

#[test]
fn syntax_errors_and_unknown_fields_point_at_the_line() {
    let err = error_of(&with("direction = \"push\"", "direction = \"sideways\""));
    assert!(matches!(&err, DocumentError::Syntax(m) if m.contains("line 8")), "{err}");
    let err = error_of(&format!("{REQUEST}\nmaximum = 3\n"));
    assert!(matches!(&err, DocumentError::Syntax(m) if m.contains("maximum")), "{err}");
    let err = error_of("grantee = ");
    assert!(matches!(err, DocumentError::Syntax(_)));
}
