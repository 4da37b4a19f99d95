//! The decision vectors, `spec/vectors/grants/chains.json`: a federation,
//! signed grants and revocations, and one case per outcome. The file must
//! equal what this code generates, and every stored case must decide as it
//! says. Regenerate with `TALLY_BLESS=1 cargo test -p tally-grant --test vectors`.

mod support;

use std::collections::HashMap;
use std::path::PathBuf;

use serde_json::{Value, json};
use tally_envelope::{IdentityKey, IdentityVerifier};
use tally_grant::{Directory, Flow, GrantUsage, RevocationSet, Usage, decide, grant_id, revoke};
use tally_wire::{
    AgencyId, BoundedVec, DataCategory, Direction, GrantChain, GrantId, Purpose, Rate, Revocation, RevocationReason,
    Signed, SuiteId, SuiteLevel, Timestamp,
};

use support::*;
use tally_testkit::{blessing, check_golden, hex, unhex};

fn path() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../spec/vectors/grants/chains.json")
}

const SEEDS: [(&str, u8); 4] = [("tax-bureau", 1), ("social-security", 2), ("municipality", 3), ("statistics", 4)];

struct Case {
    name: &'static str,
    description: &'static str,
    chain: Vec<Signed<tally_wire::Grant>>,
    revocations: Vec<Signed<Revocation>>,
    usage: Vec<(GrantId, GrantUsage)>,
    flow: Flow,
}

fn cases(fed: &Federation) -> Vec<Case> {
    let r = fed.sign(root());
    let d = fed.sign(delegated(&r, "municipality"));
    let base = |name, description, chain: Vec<Signed<tally_wire::Grant>>, flow: Flow| Case {
        name,
        description,
        chain,
        revocations: vec![],
        usage: vec![],
        flow,
    };
    let mut out = vec![
        base(
            "allowed-root",
            "A root grant permits a flow for a sub-purpose and sub-category.",
            vec![r.clone()],
            flow(&r),
        ),
        base(
            "allowed-delegated",
            "A two-grant chain: the leaf is a delegation to the municipality.",
            vec![d.clone(), r.clone()],
            flow(&d),
        ),
        base("empty-chain", "No grants at all.", vec![], flow(&r)),
        base(
            "unknown-grant",
            "The chain's leaf is not the grant the flow names.",
            vec![r.clone()],
            Flow { grant: GrantId([0xee; 32]), ..flow(&r) },
        ),
        base("broken-chain", "A delegated grant without its parent.", vec![d.clone()], flow(&d)),
    ];
    let mut g = root();
    g.issuer = agency("outsider");
    let outsider = fed.sign(g);
    out.push(base(
        "unknown-issuer-key",
        "The root's issuer is not in the directory.",
        vec![outsider.clone()],
        flow(&outsider),
    ));
    let forged = fed.key("municipality").sign_object(root()).expect("signs");
    out.push(base(
        "bad-signature",
        "The root claims the tax bureau as issuer but the municipality signed it.",
        vec![forged.clone()],
        flow(&forged),
    ));
    let mut g = root();
    g.not_after = g.not_before;
    let malformed = fed.sign(g);
    out.push(base("malformed-grant", "An empty validity window.", vec![malformed.clone()], flow(&malformed)));
    let mut g = delegated(&r, "municipality");
    g.retention_secs += 1;
    let wide = fed.sign(g);
    out.push(base(
        "widened-delegation",
        "The delegation keeps data one second longer than its parent allows.",
        vec![wide.clone(), r.clone()],
        flow(&wide),
    ));
    let mut g = root();
    g.min_suite_level = SuiteLevel::POST_QUANTUM;
    let pq = fed.sign(g);
    out.push(base(
        "allowed-post-quantum",
        "A packet sealed with X-Wing (suite 0x0003) under a grant that requires post-quantum.",
        vec![pq.clone()],
        Flow { suite: Some(SuiteId::XWING_SHA256_AES256GCM), ..flow(&pq) },
    ));
    out.push(base(
        "suite-below-grant-minimum",
        "A packet sealed with DHKEM(X25519) (suite 0x0001) under a grant that requires post-quantum.",
        vec![pq.clone()],
        flow(&pq),
    ));
    out.push(base(
        "suite-unknown-to-the-auditor",
        "The same grant judged without a suite (an auditor holding only a receipt): min_suite_level is not checked.",
        vec![pq.clone()],
        Flow { suite: None, ..flow(&pq) },
    ));
    let mut g = delegated(&pq, "municipality");
    g.min_suite_level = SuiteLevel::CLASSICAL;
    let lowered = fed.sign(g);
    out.push(base(
        "widened-delegation-suite-level",
        "A delegation that lowers its parent's min_suite_level from post-quantum to classical, under an X-Wing packet.",
        vec![lowered.clone(), pq.clone()],
        Flow { suite: Some(SuiteId::XWING_SHA256_AES256GCM), ..flow(&lowered) },
    ));
    let at = Timestamp::from_secs(T0 + 500);
    let rev = revoke(
        fed.key("tax-bureau"),
        &agency("tax-bureau"),
        grant_id(&r),
        at,
        RevocationReason::PURPOSE_ENDED,
        true,
        at,
    )
    .expect("signs");
    out.push(Case {
        revocations: vec![rev],
        ..base(
            "revoked",
            "The tax bureau revoked the root; the delegated leaf falls with it.",
            vec![d.clone(), r.clone()],
            flow(&d),
        )
    });
    out.push(base(
        "not-yet-valid",
        "One nanosecond before not_before.",
        vec![r.clone()],
        Flow { at: Timestamp::new(T0 - 1, 999_999_999).expect("valid"), ..flow(&r) },
    ));
    out.push(base(
        "expired",
        "Exactly at not_after (exclusive).",
        vec![r.clone()],
        Flow { at: Timestamp::from_secs(T0 + 365 * 86_400), ..flow(&r) },
    ));
    out.push(base(
        "unregistered-purpose",
        "The purpose is not in the registry.",
        vec![r.clone()],
        Flow { purpose: purpose("social-security.unlisted"), ..flow(&r) },
    ));
    out.push(base(
        "wrong-recipient",
        "The statistics office is not the grantee.",
        vec![r.clone()],
        Flow { recipient: agency("statistics"), ..flow(&r) },
    ));
    out.push(base(
        "wrong-sender",
        "The municipality is not a permitted sender.",
        vec![r.clone()],
        Flow { sender: agency("municipality"), ..flow(&r) },
    ));
    let mut g = root();
    g.direction = Direction::Push;
    let push = fed.sign(g);
    out.push(base(
        "direction-not-granted",
        "A pull under a push-only grant.",
        vec![push.clone()],
        Flow { direction: Direction::Pull, ..flow(&push) },
    ));
    out.push(base(
        "purpose-not-covered",
        "social-securityx is not under social-security.",
        vec![r.clone()],
        Flow { purpose: purpose("social-securityx"), ..flow(&r) },
    ));
    out.push(base(
        "category-not-covered",
        "health is not under income.",
        vec![r.clone()],
        Flow { category: category("health"), ..flow(&r) },
    ));
    out.push(Case {
        usage: vec![(grant_id(&r), GrantUsage { packets: 100, bytes: 5000, window_start: 0, window_packets: 0 })],
        ..base("quota-exhausted", "All 100 packets of the root are used.", vec![r.clone()], flow(&r))
    });
    let mut g = root();
    g.issuer = agency("statistics");
    g.grantee = agency("statistics");
    g.senders = BoundedVec::new(vec![agency("tax-bureau")]).expect("small");
    let squatter = fed.sign(g);
    out.push(base(
        "not-controller",
        "The statistics office grants itself a pull of income data naming the tax bureau as sender; only the tax bureau controls income.",
        vec![squatter.clone()],
        Flow { sender: agency("tax-bureau"), direction: Direction::Pull, ..flow(&squatter) },
    ));
    out.push(base(
        "not-controller-subcategory",
        "The root is the tax bureau's for income, but income.benefits has a controller of its own.",
        vec![r.clone()],
        Flow { category: category("income.benefits.housing"), ..flow(&r) },
    ));
    let by_delegate = revoke(
        fed.key("social-security"),
        &agency("social-security"),
        grant_id(&r),
        at,
        RevocationReason::BREACH,
        true,
        at,
    )
    .expect("signs");
    out.push(Case {
        revocations: vec![by_delegate],
        ..base(
            "revocation-without-authority",
            "The root's grantee 'revokes' the root: only the issuer of a grant or of an ancestor may, so the flow is allowed.",
            vec![d.clone(), r.clone()],
            flow(&d),
        )
    });
    let backdated = revoke(
        fed.key("tax-bureau"),
        &agency("tax-bureau"),
        grant_id(&r),
        Timestamp::from_secs(T0),
        RevocationReason::PURPOSE_ENDED,
        true,
        Timestamp::from_secs(T0 + 2000),
    )
    .expect("signs");
    out.push(Case {
        revocations: vec![backdated],
        ..base(
            "revocation-backdated",
            "A revocation signed at T0+2000 with effective_at T0 takes effect at T0+2000: the flow at T0+1000 is allowed.",
            vec![r.clone()],
            flow(&r),
        )
    });
    let mut g = root();
    g.quota.rate = Some(Rate { packets: 10, period_secs: 3600 });
    let rated = fed.sign(g);
    let window = (T0 + 1000) / 3600 * 3600;
    out.push(Case {
        usage: vec![(
            grant_id(&rated),
            GrantUsage { packets: 10, bytes: 100, window_start: window, window_packets: 10 },
        )],
        ..base("rate-limited", "10 packets already in this hour's window.", vec![rated.clone()], flow(&rated))
    });
    // Cases with two faults each: the denial is the first check of spec/grants.md that fails.
    out.push(base(
        "order-chain-before-flow",
        "A forged root and a flow to an agency that is not the grantee: verification comes first (BadSignature).",
        vec![forged.clone()],
        Flow { recipient: agency("statistics"), ..flow(&forged) },
    ));
    let mut g = delegated(&forged, "municipality");
    g.retention_secs += 1;
    let wide_under_forged = fed.sign(g);
    out.push(base(
        "order-root-before-leaf",
        "A forged root and a widened leaf: the chain is checked from the root down (BadSignature on the root).",
        vec![wide_under_forged.clone(), forged.clone()],
        flow(&wide_under_forged),
    ));
    let rev_root = revoke(
        fed.key("tax-bureau"),
        &agency("tax-bureau"),
        grant_id(&r),
        at,
        RevocationReason::PURPOSE_ENDED,
        true,
        at,
    )
    .expect("signs");
    out.push(Case {
        revocations: vec![rev_root.clone()],
        ..base(
            "order-revoked-before-expired",
            "Revoked at T0+500 and the flow at not_after: Revoked comes before the window.",
            vec![r.clone()],
            Flow { at: Timestamp::from_secs(T0 + 365 * 86_400), ..flow(&r) },
        )
    });
    // Two grants of the chain revoked: the leaf is looked at first and named.
    let rev_leaf = revoke(
        fed.key("social-security"),
        &agency("social-security"),
        grant_id(&d),
        at,
        RevocationReason::PURPOSE_ENDED,
        false,
        at,
    )
    .expect("signs");
    out.push(Case {
        revocations: vec![rev_root.clone(), rev_leaf],
        ..base(
            "order-revoked-leaf-first",
            "The root and the delegated leaf both revoked at T0+500: the denial names the leaf (grants are looked at leaf first).",
            vec![d.clone(), r.clone()],
            Flow { at: Timestamp::from_secs(T0 + 1000), ..flow(&d) },
        )
    });
    // Both grants' packet quotas used up: the leaf's is checked first and named.
    out.push(Case {
        usage: vec![
            (grant_id(&d), GrantUsage { packets: 100, bytes: 100, window_start: 0, window_packets: 0 }),
            (grant_id(&r), GrantUsage { packets: 100, bytes: 100, window_start: 0, window_packets: 0 }),
        ],
        ..base(
            "order-quota-leaf-first",
            "The delegated leaf's and the root's packet quotas both used up: the denial names the leaf.",
            vec![d.clone(), r.clone()],
            flow(&d),
        )
    });
    out.push(base(
        "order-expired-before-unregistered",
        "At not_after, for an unregistered purpose: the window comes first (Expired).",
        vec![r.clone()],
        Flow { at: Timestamp::from_secs(T0 + 365 * 86_400), purpose: purpose("social-security.unlisted"), ..flow(&r) },
    ));
    out.push(base(
        "order-unregistered-before-recipient",
        "An unregistered purpose and a recipient that is not the grantee: UnregisteredPurpose.",
        vec![r.clone()],
        Flow { purpose: purpose("social-security.unlisted"), recipient: agency("statistics"), ..flow(&r) },
    ));
    out.push(base(
        "order-recipient-before-sender",
        "Neither the recipient nor the sender is the grant's: WrongRecipient.",
        vec![r.clone()],
        Flow { recipient: agency("statistics"), sender: agency("municipality"), ..flow(&r) },
    ));
    out.push(base(
        "order-purpose-before-category",
        "Neither the purpose nor the category is covered: PurposeNotCovered.",
        vec![r.clone()],
        Flow { purpose: purpose("social-securityx"), category: category("health"), ..flow(&r) },
    ));
    out.push(Case {
        usage: vec![(grant_id(&r), GrantUsage { packets: 100, bytes: 5000, window_start: 0, window_packets: 0 })],
        ..base(
            "order-category-before-quota",
            "A category the grant does not cover, and its packet quota used up: CategoryNotCovered.",
            vec![r.clone()],
            Flow { category: category("health"), ..flow(&r) },
        )
    });
    out.push(Case {
        usage: vec![(
            grant_id(&rated),
            GrantUsage { packets: 100, bytes: 100, window_start: window, window_packets: 10 },
        )],
        ..base(
            "order-packets-before-rate",
            "All 100 packets used and the hour's window full: the packet quota comes first (QuotaExhausted).",
            vec![rated.clone()],
            flow(&rated),
        )
    });
    out
}

fn keys(seeds: &[(String, Vec<u8>)]) -> HashMap<String, IdentityVerifier> {
    seeds
        .iter()
        .map(|(name, seed)| {
            let key = IdentityKey::from_seed(&seed[..].try_into().expect("32-byte seed"));
            (name.clone(), IdentityVerifier::new(&key.public_key()).expect("valid"))
        })
        .collect()
}

/// The directory of a vector file: identity keys, unregistered purposes, the category register.
struct Stored {
    keys: HashMap<String, IdentityVerifier>,
    unregistered: Vec<Purpose>,
    controllers: Vec<(DataCategory, AgencyId)>,
}

impl Directory for Stored {
    fn identity_key(&self, agency: &AgencyId) -> Option<IdentityVerifier> {
        self.keys.get(agency.as_str()).cloned()
    }
    fn purpose_registered(&self, purpose: &Purpose) -> bool {
        !self.unregistered.contains(purpose)
    }
    fn controller(&self, category: &DataCategory) -> Option<AgencyId> {
        controller_of(&self.controllers, category)
    }
}

fn outcome(case: &Case, dir: &impl Directory) -> Value {
    let mut revocations = RevocationSet::new();
    for r in &case.revocations {
        revocations.insert(r.clone(), dir).expect("valid revocation");
    }
    let mut usage = Usage::new();
    for (g, u) in &case.usage {
        usage.restore(*g, u.clone());
    }
    let chain: GrantChain = BoundedVec::new(case.chain.clone()).expect("small");
    match decide(&case.flow, &chain, &revocations, dir, &usage) {
        Ok(a) => json!({"allowed": {
            "retention_secs": a.retention_secs(),
            "erase_on_revoke": a.erase_on_revoke(),
            "expires": a.expires().secs(),
            "remaining_packets": a.remaining_packets(),
            "remaining_bytes": a.remaining_bytes(),
        }}),
        Err(d) => {
            // The grant the denial names, if it names one (normative: leaf first, grants.md "The decision").
            let debug = format!("{d:?}");
            let grant = debug.split("grant: GrantId(").nth(1).and_then(|s| s.split(')').next()).map(str::to_owned);
            json!({"denied": {
                "denial": debug.split([' ', '{', '(']).next().unwrap_or_default(),
                "grant": grant,
                "reason_code": d.reason_code().0,
                "message": d.to_string(),
            }})
        }
    }
}

fn flow_json(f: &Flow) -> Value {
    json!({
        "grant": f.grant.to_hex(),
        "sender": f.sender.as_str(),
        "recipient": f.recipient.as_str(),
        "purpose": f.purpose.as_str(),
        "category": f.category.as_str(),
        "bytes": f.bytes,
        "direction": f.direction,
        "suite": f.suite.map(|s| s.0),
        "at": {"secs": f.at.secs(), "nanos": f.at.nanos()},
    })
}

fn generate() -> Value {
    let mut fed = Federation::new();
    fed.unregistered.push(purpose("social-security.unlisted"));
    let seeds: Vec<(String, Vec<u8>)> = SEEDS.iter().map(|(n, s)| ((*n).to_owned(), vec![*s; 32])).collect();
    let dir =
        Stored { keys: keys(&seeds), unregistered: fed.unregistered.clone(), controllers: fed.controllers.clone() };
    let cases: Vec<Value> = cases(&fed)
        .iter()
        .map(|c| {
            json!({
                "name": c.name,
                "description": c.description,
                "chain": c.chain.iter().map(|g| hex(&g.encode())).collect::<Vec<_>>(),
                "revocations": c.revocations.iter().map(|r| hex(&r.encode())).collect::<Vec<_>>(),
                "usage": c.usage.iter().map(|(g, u)| json!({"grant": g.to_hex(), "usage": u})).collect::<Vec<_>>(),
                "flow": flow_json(&c.flow),
                "expected": outcome(c, &dir),
            })
        })
        .collect();
    json!({
        "description": "Decision cases (spec/grants.md). Identity keys are Ed25519 keys from the given seeds; 'outsider' is not in the directory. Purposes not listed in 'unregistered' are registered. 'categories' is the category register: the controller of a category is that of the longest registered category covering it.",
        "directory": SEEDS.iter().map(|(n, s)| json!({"agency": n, "seed": hex(&[*s; 32])})).collect::<Vec<_>>(),
        "unregistered": fed.unregistered.iter().map(|p| p.as_str()).collect::<Vec<_>>(),
        "categories": fed.controllers.iter().map(|(c, a)| json!({"category": c.as_str(), "controller": a.as_str()})).collect::<Vec<_>>(),
        "cases": cases,
    })
}

/// Writes the cases' grants, chains and revocations as fuzz corpus seeds.
fn seed_fuzz_corpus() {
    let corpus = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../fuzz/corpus");
    let write = |target: &str, name: String, bytes: Vec<u8>| {
        let dir = corpus.join(target);
        std::fs::create_dir_all(&dir).expect("creates corpus directory");
        std::fs::write(dir.join(name), bytes).expect("writes seed");
    };
    let mut fed = Federation::new();
    fed.unregistered.push(purpose("social-security.unlisted"));
    for c in cases(&fed) {
        for (i, g) in c.chain.iter().enumerate() {
            write("grant_verify", format!("vector-{}-{i}", c.name), g.encode());
        }
        let chain: GrantChain = BoundedVec::new(c.chain.clone()).expect("small");
        write("chain_verify", format!("vector-{}", c.name), tally_wire::encode_grant_chain(&chain));
        for (i, r) in c.revocations.iter().enumerate() {
            write("revocation_verify", format!("vector-{}-{i}", c.name), r.encode());
        }
    }
}

#[test]
fn vector_file_matches_the_code() {
    let text = serde_json::to_string_pretty(&generate()).expect("serializes") + "\n";
    check_golden(&path(), &text);
    if blessing() {
        seed_fuzz_corpus();
    }
}

#[test]
fn stored_cases_decide_as_they_say() {
    if blessing() {
        return;
    }
    let doc: Value = serde_json::from_str(&std::fs::read_to_string(path()).expect("readable")).expect("JSON");
    let seeds: Vec<(String, Vec<u8>)> = doc["directory"]
        .as_array()
        .expect("directory")
        .iter()
        .map(|a| (a["agency"].as_str().expect("agency").to_owned(), unhex(a["seed"].as_str().expect("seed"))))
        .collect();
    let unregistered: Vec<Purpose> =
        doc["unregistered"].as_array().expect("list").iter().map(|p| purpose(p.as_str().expect("str"))).collect();
    let controllers: Vec<(DataCategory, AgencyId)> = doc["categories"]
        .as_array()
        .expect("categories")
        .iter()
        .map(|c| (category(c["category"].as_str().expect("str")), agency(c["controller"].as_str().expect("str"))))
        .collect();
    let dir = Stored { keys: keys(&seeds), unregistered, controllers };
    let mut denials = std::collections::BTreeSet::new();
    for c in doc["cases"].as_array().expect("cases") {
        let name = c["name"].as_str().expect("name");
        let f = &c["flow"];
        let case = Case {
            name: "stored",
            description: "",
            chain: c["chain"]
                .as_array()
                .expect("chain")
                .iter()
                .map(|h| Signed::decode(&unhex(h.as_str().expect("hex"))).expect("decodes"))
                .collect(),
            revocations: c["revocations"]
                .as_array()
                .expect("list")
                .iter()
                .map(|h| Signed::decode(&unhex(h.as_str().expect("hex"))).expect("decodes"))
                .collect(),
            usage: c["usage"]
                .as_array()
                .expect("list")
                .iter()
                .map(|u| {
                    (
                        u["grant"].as_str().expect("hex").parse().expect("id"),
                        serde_json::from_value(u["usage"].clone()).expect("usage"),
                    )
                })
                .collect(),
            flow: Flow {
                grant: f["grant"].as_str().expect("hex").parse().expect("id"),
                sender: agency(f["sender"].as_str().expect("str")),
                recipient: agency(f["recipient"].as_str().expect("str")),
                purpose: purpose(f["purpose"].as_str().expect("str")),
                category: category(f["category"].as_str().expect("str")),
                bytes: f["bytes"].as_u64().expect("u64"),
                direction: serde_json::from_value(f["direction"].clone()).expect("direction"),
                suite: f["suite"].as_u64().map(|s| SuiteId(u16::try_from(s).expect("u16"))),
                at: Timestamp::new(
                    f["at"]["secs"].as_u64().expect("u64"),
                    f["at"]["nanos"].as_u64().expect("u32") as u32,
                )
                .expect("valid"),
            },
        };
        assert_eq!(outcome(&case, &dir), c["expected"], "{name}");
        if let Some(d) = c["expected"]["denied"]["denial"].as_str() {
            denials.insert(d.to_owned());
        }
    }
    // One case for every denial a decodable chain can produce (ChainTooLong cannot be decoded: the wire refuses it).
    assert_eq!(denials.len(), 20, "{denials:?}");
}
