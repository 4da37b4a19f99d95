//! Attacks on a node's state, each against the smallest real component
//! that shows it: node directories made with the library, redb, blobs and
//! key slots on disk, packets sealed and opened for real and handed to
//! the node's host as the transport hands them. The attacks over QUIC
//! against `tally serve` processes are in `tests/attacks.rs`.

mod audit;
mod bundles;
pub(crate) mod fixture;

use std::sync::Arc;

use tally_receipt::verify_reveal;
use tally_wire::{CloseCode, DeletionReason, ReasonCode, RevocationReason};

use self::fixture::*;
use crate::NodeError;
use crate::host::NodeHost;

fn stored(d: Delivery) -> tally_wire::ReceiptBundle {
    match d {
        Delivery::Stored(r) => r,
        Delivery::Denied(reason) => panic!("denied: {reason}"),
        Delivery::Closed(code) => panic!("closed: {code}"),
        Delivery::Again(_) => panic!("answered with an earlier receipt"),
    }
}

fn denied(d: Delivery) -> ReasonCode {
    match d {
        Delivery::Denied(reason) => reason,
        Delivery::Stored(_) => panic!("stored, expected a refusal"),
        Delivery::Closed(code) => panic!("closed ({code}), expected a signed refusal"),
        Delivery::Again(_) => panic!("answered with an earlier receipt"),
    }
}

fn exportable(state: &crate::state::NodeState, packet: &tally_wire::PacketId) -> bool {
    let record = state.store.inbox(packet).expect("readable").expect("stored");
    let Ok(Some(key)) = state.vault.key(record.grant, record.epoch) else { return false };
    // A small payload is kept in the database, a larger one in its blob file.
    let sealed = match state.store.inline_blob(packet).expect("readable") {
        Some(sealed) => sealed,
        None => std::fs::read(state.blob_path(packet)).expect("the blob is there"),
    };
    tally_store::open_blob(&key, packet, &record.grant, sealed.as_slice(), Vec::new()).is_ok()
}

#[tokio::test]
async fn a_delegate_cannot_revoke_the_root_grant_or_oblige_erasure() {
    // Issue 13 item 2: a delegate below the root "revoked" the root with
    // erasure; the grantee shredded the data and the grant kept working.
    let fed = Fixture::new(&["tax-bureau", "social-security", "municipality"]);
    let (tax, social) = (fed.open("tax-bureau"), fed.open("social-security"));
    let root = issue(&tax, &document("social-security", "income", "delegation_depth = 1\nerase_on_revoke = true"));
    social.keep_grant(root.clone(), false).expect("the grantee keeps the grant");
    let first = stored(deliver(&tax, &social, &root, "income.annual", b"41250", packet(1), false).await);
    let muni = fed.open("municipality");
    for revoker in [&muni, &social] {
        let now = revoker.now();
        let forged = tally_grant::revoke(
            &revoker.identity,
            &revoker.agency,
            leaf(&root),
            now,
            RevocationReason::BREACH,
            true,
            now,
        )
        .expect("signs");
        match social.keep_revocation(forged) {
            Err(NodeError::NotPermitted(why)) => assert!(why.contains("may not revoke"), "{why}"),
            other => panic!("a revocation by {} was not refused: {other:?}", revoker.agency),
        }
    }
    assert!(exportable(&social, &tally_receipt::bundled_receipt(&first.receipt).packet_id), "nothing was erased");
    assert!(social.store.revocations().expect("readable").is_empty(), "nothing was kept");
    let log = social.log_entries().expect("log");
    assert!(!log.iter().any(|(_, e)| matches!(e, tally_wire::LogEntry::Deletion(_))), "no deletion record");
    stored(deliver(&tax, &social, &root, "income.annual", b"38000", packet(2), false).await);
}

#[tokio::test]
async fn a_revocation_dated_ahead_changes_nothing_until_its_time() {
    // Issue 13 item 3: effective_at 30 days ahead erased at once, and new packets were still accepted.
    let fed = Fixture::new(&["tax-bureau", "social-security"]);
    let days = |n: u64| std::time::Duration::from_secs(n * 86_400);
    {
        let (tax, social) = (fed.open("tax-bureau"), fed.open("social-security"));
        let root = issue(&tax, &document("social-security", "income", "erase_on_revoke = true"));
        social.keep_grant(root.clone(), false).expect("kept");
        let first = stored(deliver(&tax, &social, &root, "income.annual", b"41250", packet(1), false).await);
        let now = tax.now();
        let later = now.checked_add(days(30)).expect("in range");
        let r = tally_grant::revoke(
            &tax.identity,
            &tax.agency,
            leaf(&root),
            later,
            RevocationReason::PURPOSE_ENDED,
            true,
            now,
        )
        .expect("signs");
        assert!(social.keep_revocation(r).expect("kept"), "a new revocation");
        assert_eq!(social.sweep().expect("sweeps"), 0, "nothing erased before effective_at");
        assert!(exportable(&social, &tally_receipt::bundled_receipt(&first.receipt).packet_id));
        stored(deliver(&tax, &social, &root, "income.annual", b"38000", packet(2), false).await);
    }
    // 31 days later (the node's clock moved with clock_offset_secs).
    for a in ["tax-bureau", "social-security"] {
        fed.configure(a, &format!("\nclock_offset_secs = {}\n", days(31).as_secs()));
    }
    let (tax, social) = (fed.open("tax-bureau"), fed.open("social-security"));
    let root = social.store.grants().expect("grants").into_iter().next().expect("one grant").1;
    assert_eq!(social.sweep().expect("sweeps"), 2, "both packets erased once the revocation took effect");
    assert!(!exportable(&social, &packet(1)) && !exportable(&social, &packet(2)));
    assert_eq!(
        denied(deliver(&tax, &social, &root, "income.annual", b"1", packet(3), false).await),
        ReasonCode::GRANT_REVOKED
    );
}

#[tokio::test]
async fn a_packet_id_counted_under_another_grant_still_counts_under_this_one() {
    // Issue 13 item 5: 6 of 6 packets went through a max_packets 2 grant, each
    // first offered (and abandoned) under another grant.
    let fed = Fixture::new(&["tax-bureau", "social-security"]);
    let (tax, social) = (fed.open("tax-bureau"), fed.open("social-security"));
    let other = issue(&tax, &document("social-security", "income", ""));
    let limited = issue(&tax, &document("social-security", "income", "[quota]\nmax_packets = 2"));
    let mut through = 0;
    for n in 1..=6 {
        let _ = deliver(&tax, &social, &other, "income.annual", b"x", packet(n), true).await;
        if let Delivery::Stored(_) = deliver(&tax, &social, &limited, "income.annual", b"x", packet(n), false).await {
            through += 1;
        }
    }
    assert_eq!(through, 2, "the quota of 2 holds");
    let usage = crate::state::lock(&social.policy).usage.of(&leaf(&other));
    assert_eq!(usage.packets, 0, "abandoned transfers gave their reservations back");
}

#[tokio::test]
async fn a_failed_transfer_gives_its_quota_back() {
    let fed = Fixture::new(&["tax-bureau", "social-security"]);
    let (tax, social) = (fed.open("tax-bureau"), fed.open("social-security"));
    let g = issue(&tax, &document("social-security", "income", "[quota]\nmax_packets = 1"));
    for n in 1..=3 {
        let _ = deliver(&tax, &social, &g, "income.annual", b"x", packet(n), true).await;
    }
    stored(deliver(&tax, &social, &g, "income.annual", b"x", packet(9), false).await);
    assert_eq!(
        denied(deliver(&tax, &social, &g, "income.annual", b"x", packet(10), false).await),
        ReasonCode::QUOTA_EXHAUSTED
    );
}

#[tokio::test]
async fn refusals_beyond_the_rate_are_closed_unsigned_and_unlogged() {
    // Issue 13 item 10: 3,000 refused offers were each signed and logged forever.
    let fed = Fixture::new(&["tax-bureau", "social-security"]);
    fed.configure("social-security", "\n[limits]\nrefusals_per_minute = 5\n");
    let (tax, social) = (fed.open("tax-bureau"), fed.open("social-security"));
    let g = issue(&tax, &document("social-security", "income", ""));
    let (mut signed, mut closed) = (0, 0);
    for n in 0..40 {
        match deliver(&tax, &social, &g, "health", b"x", packet(n), false).await {
            Delivery::Denied(ReasonCode::CATEGORY_NOT_COVERED) => signed += 1,
            Delivery::Closed(CloseCode::TOO_MANY_REFUSALS) => closed += 1,
            _ => panic!("expected a refusal"),
        }
    }
    assert_eq!((signed, closed), (5, 35));
}

#[tokio::test]
async fn a_sender_cannot_fill_the_recipients_disk_or_keep_data_past_its_limits() {
    // Issue 13 item 10: 100 MB pushed under a 100-year retention chosen by the grantor.
    let fed = Fixture::new(&["tax-bureau", "social-security"]);
    fed.configure("social-security", "\n[limits]\nmax_storage_per_sender = 1000\nmax_retention = \"1h\"\n");
    let (tax, social) = (fed.open("tax-bureau"), fed.open("social-security"));
    let g = issue(&tax, &document("social-security", "income", "retention = \"36500days\""));
    stored(deliver(&tax, &social, &g, "income.annual", &[1; 800], packet(1), false).await);
    let full = deliver(&tax, &social, &g, "income.annual", &[2; 800], packet(2), false).await;
    assert_eq!(denied(full), ReasonCode::STORAGE_LIMIT);
    let record = social.store.inbox(&packet(1)).expect("readable").expect("stored");
    let due = social
        .vault
        .due(social.now().checked_add(std::time::Duration::from_secs(3601)).expect("in range"))
        .expect("keys");
    assert!(due.contains(&(record.grant, record.epoch)), "destroyed after the node's own cap of an hour");
}

#[tokio::test]
async fn a_node_signs_no_rejection_naming_another_agency() {
    // Issue 13 item 11 (the host's side; the protocol closes such offers before).
    let fed = Fixture::new(&["tax-bureau", "social-security"]);
    let social = fed.open("social-security");
    let host = NodeHost(Arc::clone(&social));
    let receipt = tally_wire::Receipt {
        packet_id: packet(1),
        header_digest: tally_wire::Digest([0; 32]),
        grant: tally_wire::GrantId([0; 32]),
        purpose: tally_wire::Purpose::new("social-security.eligibility").expect("valid"),
        category: tally_wire::DataCategory::new("income").expect("valid"),
        payload_len: 1,
        sender: agency("tax-bureau"),
        recipient: agency("tax-bureau"),
        received_at: social.now(),
        outcome: tally_wire::Outcome::Rejected { reason: ReasonCode::WRONG_RECIPIENT },
    };
    assert!(tally_transport::Host::sign_rejection(&host, receipt).await.is_err());
    assert_eq!(social.log.size().expect("size"), 0, "nothing logged");
}

#[tokio::test]
async fn shredded_data_leaves_no_copy_of_its_key_in_any_file() {
    // Issue 13 item 13: the wrapped key was still in redb's free pages after a sweep.
    let fed = Fixture::new(&["tax-bureau", "social-security"]);
    let (tax, social) = (fed.open("tax-bureau"), fed.open("social-security"));
    let g = issue(&tax, &document("social-security", "income", ""));
    stored(deliver(&tax, &social, &g, "income.annual", b"secret income", packet(1), false).await);
    let record = social.store.inbox(&packet(1)).expect("readable").expect("stored");
    let (key, wrapped) = social.vault.exposed_key_bytes(record.grant, record.epoch).expect("the key exists");
    let contains = |needle: &[u8]| {
        files(&fed.dir("social-security"))
            .into_iter()
            .any(|f| std::fs::read(&f).is_ok_and(|bytes| bytes.windows(needle.len()).any(|w| w == needle)))
    };
    assert!(contains(&wrapped), "before erasure the wrapped key is on disk (the scan finds what it looks for)");
    social.record_erasure(vec![(record.grant, vec![record.epoch])], DeletionReason::OPERATOR, None).expect("records");
    social.finish_erasures().expect("erases");
    // Many more writes, as after the sweep in the attack, so redb reuses and frees pages.
    for n in 2..40 {
        stored(deliver(&tax, &social, &g, "income.annual", b"more", packet(n), false).await);
    }
    drop((tax, social));
    assert!(!contains(&wrapped), "the wrapped data key is in no file of the node directory");
    assert!(!contains(&key), "nor is the data key itself");
}

#[tokio::test]
async fn a_crash_between_the_deletion_record_and_the_keys_destruction_is_finished_at_start() {
    // Issue 13 item 14: the log said "deleted" while the data was still exportable.
    let fed = Fixture::new(&["tax-bureau", "social-security"]);
    let grant;
    {
        let (tax, social) = (fed.open("tax-bureau"), fed.open("social-security"));
        let g = issue(&tax, &document("social-security", "income", ""));
        grant = leaf(&g);
        stored(deliver(&tax, &social, &g, "income.annual", b"41250", packet(1), false).await);
        let record = social.store.inbox(&packet(1)).expect("readable").expect("stored");
        // Step one only: the deletion record is logged, then the node dies.
        social
            .record_erasure(vec![(record.grant, vec![record.epoch])], DeletionReason::RETENTION_ENDED, None)
            .expect("records");
        assert!(exportable(&social, &packet(1)), "the crash came before the key was destroyed");
    }
    let social = fed.open("social-security");
    assert!(social.store.pending_erasures().expect("readable").is_empty(), "finished at start");
    let record = social.store.inbox(&packet(1)).expect("readable").expect("stored");
    assert!(record.erased_at.is_some());
    assert!(social.vault.key(grant, record.epoch).expect("readable").is_none(), "the key is destroyed");
    let deletions = social
        .log_entries()
        .expect("log")
        .iter()
        .filter(|(_, e)| matches!(e, tally_wire::LogEntry::Deletion(_)))
        .count();
    assert_eq!(deletions, 1, "one deletion record, not a second one at restart");
}

#[tokio::test]
async fn both_sides_can_reveal_the_content_to_an_auditor() {
    // Issue 13 item 15: neither side could prove the content later.
    let fed = Fixture::new(&["tax-bureau", "social-security"]);
    let (tax, social) = (fed.open("tax-bureau"), fed.open("social-security"));
    let g = issue(&tax, &document("social-security", "income", ""));
    let payload = b"{\"citizen\":42,\"income\":41250}";
    let receipt = stored(deliver(&tax, &social, &g, "income.annual", payload, packet(1), false).await);
    let directory = social.directory();
    let key = |a: &tally_wire::AgencyId| directory.agency(a).map(|r| r.identity_key);
    let reveal = crate::sent::reveal(&social, &packet(1)).expect("the recipient reveals");
    let proven = verify_reveal(&reveal, key, &payload[..]).expect("proven");
    assert_eq!(proven.digests.packet_id, packet(1));
    assert!(verify_reveal(&reveal, key, &b"{\"citizen\":42,\"income\":1}"[..]).is_err());
    // The sender keeps its evidence when it logs the receipt (here, what the sealer gave it).
    let (evidence, k) =
        (reveal.evidence.clone(), tally_envelope::CommitmentKey::from_revealed(reveal.commitment_key.0));
    crate::sent::log_receipt(&tax, receipt, Some((evidence, k))).await.expect("logged");
    let sent = crate::sent::reveal(&tax, &packet(1)).expect("the sender reveals");
    verify_reveal(&sent, key, &payload[..]).expect("proven from the sender's side too");
}

#[tokio::test]
async fn a_member_cannot_flood_a_node_with_grants() {
    // Issue 13 item 10: 3,000 unsolicited grants were kept.
    let fed = Fixture::new(&["tax-bureau", "social-security"]);
    fed.configure("social-security", "\n[limits]\nmax_grants_per_issuer = 3\n");
    let (tax, social) = (fed.open("tax-bureau"), fed.open("social-security"));
    let mut kept = 0;
    for n in 0..10 {
        let chain = issue(&tax, &document("social-security", "income", &format!("note = \"grant {n}\"")));
        match social.keep_grant(chain, false) {
            Ok(_) => kept += 1,
            Err(NodeError::NotPermitted(why)) => assert!(why.contains("max_grants_per_issuer"), "{why}"),
            Err(other) => panic!("{other}"),
        }
    }
    assert_eq!(kept, 3);
    assert_eq!(social.store.grants().expect("grants").len(), 3, "only three stored");
}

#[test]
fn the_operator_refuses_keys_another_member_holds_and_exports_that_prove_no_key() {
    // Issue 13 item 7: a newcomer's export claimed the tax bureau's TLS key.
    let fed = Fixture::new(&["tax-bureau", "social-security"]);
    let op = fed.root.path().join("operator");
    let tax_export = fed.dir("tax-bureau").join("tax-bureau.agency.toml");
    // A copy of the tax bureau's key files under another name: every signature is good, the keys are taken.
    let mut copy = crate::AgencyExport::load(&tax_export).expect("export");
    let keys = crate::AgencyKeys::load(&fed.dir("tax-bureau"), &agency("tax-bureau")).expect("keys");
    copy.id = agency("copycat");
    let now = tally_wire::Timestamp::from_system_time(std::time::SystemTime::now());
    let until = now.checked_add(std::time::Duration::from_secs(86_400)).expect("in range");
    let cert = keys.kem_keys[0].certify(&keys.identity, copy.id.clone(), now, until).expect("certifies");
    copy.kem_certificates = vec![crate::hex::encode(&cert.encode())];
    let registration = tally_wire::Registration {
        id: copy.id.clone(),
        name: tally_wire::Text::new(&copy.name).expect("short"),
        endpoints: copy.endpoints.clone(),
        identity_key: copy.identity_key,
        tls_public_key: tally_wire::BoundedBytes::new(keys.tls.spki().to_vec()).expect("short"),
        kem_keys: tally_wire::BoundedVec::new(vec![cert]).expect("one"),
    };
    let body = tally_wire::to_bytes(&registration);
    let tls_signer = tally_envelope::IdentityKey::from_pkcs8(keys.tls.pkcs8()).expect("Ed25519");
    copy.identity_signature = crate::hex::encode(&keys.identity.sign(tally_wire::label::REGISTRATION, &body).0);
    copy.tls_signature = crate::hex::encode(&tls_signer.sign(tally_wire::label::REGISTRATION, &body).0);
    let path = fed.root.path().join("copycat.agency.toml");
    std::fs::write(&path, toml::to_string(&copy).expect("toml")).expect("writes");
    match crate::Federation::add_agency(&op, &path, &["producer".into()], false) {
        Err(NodeError::Refused(why)) => assert!(why.contains("already registered for agency `tax-bureau`"), "{why}"),
        other => panic!("a copy of another member's keys was taken: {other:?}"),
    }
    // An export whose TLS signature is not by the key it lists.
    let mut forged =
        crate::AgencyExport::load(&fed.dir("social-security").join("social-security.agency.toml")).expect("export");
    forged.tls_signature = copy.tls_signature.clone();
    let path = fed.root.path().join("forged.agency.toml");
    std::fs::write(&path, toml::to_string(&forged).expect("toml")).expect("writes");
    match crate::Federation::add_agency(&op, &path, &["producer".into()], false) {
        Err(NodeError::Refused(why)) => assert!(why.contains("tls_signature does not verify"), "{why}"),
        other => panic!("an export without proof of its TLS key was taken: {other:?}"),
    }
}

#[tokio::test]
async fn rejections_after_an_offer_was_accepted_count_against_the_same_rate() {
    // Issue 13 item 10, the other way in: a peer with a valid grant sends
    // packets that fail after acceptance (a bad chunk, a bad trailer).
    let fed = Fixture::new(&["tax-bureau", "social-security"]);
    fed.configure("social-security", "\n[limits]\nrefusals_per_minute = 2\n");
    let (tax, social) = (fed.open("tax-bureau"), fed.open("social-security"));
    let g = issue(&tax, &document("social-security", "income", ""));
    let host = NodeHost(Arc::clone(&social));
    let failed = |n: u8| tally_wire::Receipt {
        packet_id: packet(n),
        header_digest: tally_wire::Digest([n; 32]),
        grant: leaf(&g),
        purpose: tally_wire::Purpose::new("social-security.eligibility").expect("valid"),
        category: tally_wire::DataCategory::new("income.annual").expect("valid"),
        payload_len: 10,
        sender: agency("tax-bureau"),
        recipient: agency("social-security"),
        received_at: social.now(),
        outcome: tally_wire::Outcome::Rejected { reason: ReasonCode::DECRYPTION_FAILED },
    };
    let mut signed = 0;
    for n in 0..5 {
        if tally_transport::Host::sign_rejection(&host, failed(n)).await.expect("no storage error").is_some() {
            signed += 1;
        }
    }
    assert_eq!(signed, 2, "two signed, three closed unsigned");
    assert_eq!(social.log.size().expect("size"), 2);
}

#[tokio::test]
async fn a_failed_commit_leaves_no_trace_in_memory_and_a_retry_stores_it() {
    // Issue 14, fix 1: state in memory changes only after its commit.
    let fed = Fixture::new(&["tax-bureau", "social-security"]);
    let (tax, social) = (fed.open("tax-bureau"), fed.open("social-security"));
    let g = issue(&tax, &document("social-security", "income", "erase_on_revoke = true"));

    // The failure is injected into the next commit: first let the committer
    // finish what it was handed without waiting (a checkpoint is written in
    // the group commit after its receipts), or that would take the failure.
    fn fail_next_commit(state: &crate::state::NodeState) {
        state.store.commit(&[], |_| Ok(())).expect("an empty commit");
        state.store.fail_commits(1);
    }

    // A grant whose commit fails is not kept, and a retry keeps it.
    fail_next_commit(&social);
    assert!(matches!(social.keep_grant(g.clone(), false), Err(NodeError::Store(_))));
    assert!(social.store.grant_chain(&leaf(&g)).expect("readable").is_none());
    social.keep_grant(g.clone(), false).expect("the retry keeps the grant");
    assert!(social.store.grant_chain(&leaf(&g)).expect("readable").is_some());

    // A packet whose commit fails gets no receipt and leaves its quota unused.
    let one = issue(&tax, &document("social-security", "income", "[quota]\nmax_packets = 1"));
    fail_next_commit(&social);
    let failed = deliver(&tax, &social, &one, "income.annual", b"x", packet(1), false).await;
    assert!(!matches!(failed, Delivery::Stored(_)), "a packet whose commit failed is not receipted");
    assert_eq!(social.store.usage().expect("readable").iter().filter(|(id, _)| *id == leaf(&one)).count(), 0);
    stored(deliver(&tax, &social, &one, "income.annual", b"x", packet(2), false).await);

    // A revocation whose commit fails is not in force and not "already known": the retry stores it.
    let now = tax.now();
    let revocation =
        tally_grant::revoke(&tax.identity, &tax.agency, leaf(&g), now, RevocationReason::PURPOSE_ENDED, false, now)
            .expect("signs");
    fail_next_commit(&social);
    assert!(matches!(social.keep_revocation(revocation.clone()), Err(NodeError::Store(_))));
    assert!(social.store.revocations().expect("readable").is_empty());
    stored(deliver(&tax, &social, &g, "income.annual", b"still granted", packet(3), false).await);
    assert!(social.keep_revocation(revocation).expect("the retry stores it"), "the retry is new, not already known");
    assert_eq!(social.store.revocations().expect("readable").len(), 1);
    assert_eq!(
        denied(deliver(&tax, &social, &g, "income.annual", b"revoked", packet(4), false).await),
        ReasonCode::GRANT_REVOKED
    );
}

#[tokio::test]
async fn a_pull_refusal_under_a_stored_packets_id_does_not_replace_its_receipt() {
    // A requester chooses its pull request's id; the refusal this node signs
    // for it is logged under that id. Chosen equal to a stored packet's id,
    // it must not become that packet's receipt, nor hide it from listings.
    let fed = Fixture::new(&["tax-bureau", "social-security"]);
    let (tax, social) = (fed.open("tax-bureau"), fed.open("social-security"));
    let g = issue(&tax, &document("social-security", "income", ""));
    let original = stored(deliver(&tax, &social, &g, "income.annual", b"41250", packet(1), false).await);
    let mut refusal = tally_receipt::bundled_receipt(&original.receipt).clone();
    refusal.outcome = tally_wire::Outcome::Rejected { reason: ReasonCode::DIRECTION_NOT_GRANTED };
    let host = NodeHost(Arc::clone(&social));
    let signed = tally_transport::Host::sign_rejection(&host, refusal).await.expect("signs").expect("within the rate");
    assert_eq!(tally_receipt::bundled_receipt(&signed.receipt).packet_id, packet(1));
    let (_, receipt) = social.stored_receipt(&packet(1)).expect("reads").expect("the packet is stored");
    assert_eq!(receipt, original.receipt, "the stored packet's receipt is still the one its bundle is made of");
    let issued = social.store.receipt_indices_of(&packet(1), tally_store::ReceiptSide::Issued).expect("reads");
    assert_eq!(issued.len(), 2, "both receipts are listed");
}

/// The tax bureau's grant to social-security with erasure on revocation, kept by the grantee.
fn erasable_grant(
    fed: &Fixture,
) -> (Arc<crate::state::NodeState>, Arc<crate::state::NodeState>, tally_wire::GrantChain) {
    let (tax, social) = (fed.open("tax-bureau"), fed.open("social-security"));
    let root = issue(&tax, &document("social-security", "income", "erase_on_revoke = true"));
    social.keep_grant(root.clone(), false).expect("kept");
    (tax, social, root)
}

/// `issuer`'s revocation of `root`, effective now, obliging erasure.
fn revoked_now_with_erasure(
    issuer: &crate::state::NodeState,
    root: &tally_wire::GrantChain,
) -> tally_wire::Signed<tally_wire::Revocation> {
    let now = issuer.now();
    tally_grant::revoke(&issuer.identity, &issuer.agency, leaf(root), now, RevocationReason::PURPOSE_ENDED, true, now)
        .expect("signs")
}

#[tokio::test]
async fn a_small_payload_is_kept_in_the_database_and_a_large_one_in_its_blob_file() {
    let fed = Fixture::new(&["tax-bureau", "social-security"]);
    let (tax, social, root) = erasable_grant(&fed);
    let small = vec![0x11; 1024];
    // Over tally_store::MAX_INLINE_BLOB once sealed, though under it in plaintext by a few bytes.
    let large: Vec<u8> = (0..tally_store::MAX_INLINE_BLOB).map(|i| i as u8).collect();
    stored(deliver(&tax, &social, &root, "income.annual", &small, packet(1), false).await);
    stored(deliver(&tax, &social, &root, "income.annual", &large, packet(2), false).await);
    let plaintext = |n: u8| {
        let record = social.store.inbox(&packet(n)).expect("readable").expect("stored");
        let key = social.vault.key(record.grant, record.epoch).expect("readable").expect("live");
        let sealed = match social.store.inline_blob(&packet(n)).expect("readable") {
            Some(sealed) => sealed,
            None => std::fs::read(social.blob_path(&packet(n))).expect("the blob file"),
        };
        let mut out = Vec::new();
        tally_store::open_blob(&key, &packet(n), &record.grant, sealed.as_slice(), &mut out).expect("opens");
        out
    };
    assert!(social.store.inline_blob(&packet(1)).expect("readable").is_some(), "1 KiB is kept inline");
    assert!(!social.blob_path(&packet(1)).exists(), "and has no blob file");
    assert!(social.store.inline_blob(&packet(2)).expect("readable").is_none(), "16 KiB sealed is over the limit");
    assert!(social.blob_path(&packet(2)).exists());
    assert_eq!(plaintext(1), small);
    assert_eq!(plaintext(2), large);
    // Erased: the inline payload goes with its key, in the same transaction.
    assert!(social.keep_revocation(revoked_now_with_erasure(&tax, &root)).expect("kept"));
    social.sweep().expect("sweeps");
    for n in [1, 2] {
        let record = social.store.inbox(&packet(n)).expect("readable").expect("stored");
        assert!(record.erased_at.is_some(), "packet {n} is erased");
    }
    assert!(social.store.inline_blob(&packet(1)).expect("readable").is_none(), "erased with the packet");
    assert!(!social.blob_path(&packet(2)).exists());
}

#[tokio::test]
async fn an_erased_key_with_no_packet_stored_still_gets_its_deletion_record() {
    let fed = Fixture::new(&["tax-bureau", "social-security"]);
    let (tax, social, root) = erasable_grant(&fed);
    // Accepted, so the grant's data key exists, then abandoned: nothing stored under it.
    let _ = deliver(&tax, &social, &root, "income.annual", b"41250", packet(1), true).await;
    assert!(social.store.inbox(&packet(1)).expect("readable").is_none());
    assert!(social.keep_revocation(revoked_now_with_erasure(&tax, &root)).expect("kept"));
    social.sweep().expect("sweeps");
    let deletions: Vec<_> = social
        .log_entries()
        .expect("log")
        .into_iter()
        .filter_map(|(_, e)| match e {
            tally_wire::LogEntry::Deletion(d) => Some(d),
            _ => None,
        })
        .collect();
    assert_eq!(deletions.len(), 1, "one deletion record for the grant, naming no packet");
    assert_eq!(deletions[0].value().grant, leaf(&root));
    assert!(deletions[0].value().packets.is_empty());
}
