//! The bundles a node answers with: one checkpoint per group commit, the
//! same receipt to a resend (also after a restart), and what the sender
//! keeps of a peer's checkpoints.

use std::sync::Arc;

use tally_wire::{BundledReceipt, PacketId};

use super::fixture::*;
use super::stored;

fn verify(state: &crate::state::NodeState, bundle: &tally_wire::ReceiptBundle) -> tally_receipt::VerifiedReceipt {
    let directory = state.directory();
    tally_receipt::verify_bundle(bundle, |a| directory.agency(a).map(|r| r.identity_key)).expect("verifies offline")
}

fn packet(i: u8) -> PacketId {
    PacketId([i; 16])
}

#[tokio::test]
async fn receipts_committed_together_share_one_checkpoint_signature() {
    let fed = Fixture::new(&["tax-bureau", "social-security"]);
    let (tax, social) = (fed.open("tax-bureau"), fed.open("social-security"));
    let g = issue(&tax, &document("social-security", "income", ""));
    // 32 exchanges at once: their commits group, and each group's receipts share a checkpoint.
    let deliveries = (0..32u8).map(|i| {
        let (tax, social, g) = (Arc::clone(&tax), Arc::clone(&social), g.clone());
        tokio::spawn(
            async move { stored(deliver(&tax, &social, &g, "income.annual", b"41250", packet(i), false).await) },
        )
    });
    let mut bundles = Vec::new();
    for d in deliveries {
        bundles.push(d.await.expect("delivered"));
    }
    let mut notes: Vec<&str> = bundles.iter().map(|b| b.checkpoint.as_str()).collect();
    notes.sort_unstable();
    notes.dedup();
    for b in &bundles {
        assert!(matches!(b.receipt, BundledReceipt::Logged(_)), "batch-signed by default");
        let v = verify(&social, b);
        assert!(v.checkpoint.size > b.index);
    }
    assert!(notes.len() <= bundles.len());
    println!("32 receipts under {} checkpoint signature(s)", notes.len());
}

#[tokio::test]
async fn a_resend_after_a_crash_gets_the_same_receipt_never_a_second_one() {
    let fed = Fixture::new(&["tax-bureau", "social-security"]);
    let (tax, social) = (fed.open("tax-bureau"), fed.open("social-security"));
    let g = issue(&tax, &document("social-security", "income", ""));
    let first = stored(deliver(&tax, &social, &g, "income.annual", b"41250", packet(1), false).await);
    let size = social.log.size().expect("size");
    // The node stops after the commit (its answer never reached the sender) and starts again.
    drop(social);
    let social = fed.open("social-security");
    let Delivery::Again(again) = deliver(&tax, &social, &g, "income.annual", b"41250", packet(1), false).await else {
        panic!("the resend is answered with the stored receipt")
    };
    assert_eq!(again, first, "the same bundle: same receipt, same index, the same deterministic checkpoint");
    assert_eq!(social.log.size().expect("size"), size, "no second receipt was logged");
    // After more commits, the same receipt under a later checkpoint.
    stored(deliver(&tax, &social, &g, "income.annual", b"1", packet(2), false).await);
    let Delivery::Again(later) = deliver(&tax, &social, &g, "income.annual", b"41250", packet(1), false).await else {
        panic!("answered again")
    };
    assert_eq!((&later.receipt, later.index), (&first.receipt, first.index));
    assert!(verify(&social, &later).checkpoint.size > verify(&social, &first).checkpoint.size);
}

#[tokio::test]
async fn individual_signing_signs_each_receipt_and_still_bundles_it() {
    let fed = Fixture::new(&["tax-bureau", "social-security"]);
    fed.configure("social-security", "\n[receipts]\nsigning = \"individual\"\n");
    let (tax, social) = (fed.open("tax-bureau"), fed.open("social-security"));
    let g = issue(&tax, &document("social-security", "income", ""));
    let b = stored(deliver(&tax, &social, &g, "income.annual", b"41250", packet(1), false).await);
    assert!(matches!(b.receipt, BundledReceipt::Signed(_)));
    verify(&social, &b);
}

#[tokio::test]
async fn a_sender_keeps_a_peers_checkpoints_and_the_fork_two_of_them_show() {
    let fed = Fixture::new(&["tax-bureau", "social-security"]);
    let (tax, social) = (fed.open("tax-bureau"), fed.open("social-security"));
    let g = issue(&tax, &document("social-security", "income", ""));
    let b1 = stored(deliver(&tax, &social, &g, "income.annual", b"41250", packet(1), false).await);
    let peer = agency("social-security");
    crate::sent::log_receipt(&tax, b1.clone(), None).await.expect("logged");
    let head = tax.checkpoints.view(&peer).head.expect("the first checkpoint is the head");
    assert_eq!(head.size, verify(&social, &b1).checkpoint.size);
    // The same checkpoint again changes nothing; a newer one waits for its proof.
    let b2 = stored(deliver(&tax, &social, &g, "income.annual", b"2", packet(2), false).await);
    crate::sent::log_receipt(&tax, b2.clone(), None).await.expect("logged");
    let questions = tax.checkpoints.questions(false);
    let (old, new) = (head.size, verify(&social, &b2).checkpoint.size);
    assert_eq!(
        questions.iter().map(|q| (&q.peer, q.old_size, q.new_size)).collect::<Vec<_>>(),
        vec![(&peer, old, new)]
    );
    // The peer's honest proof moves the head forward.
    let proof = social.log.consistency_proof(old, new).expect("proves");
    let written = crate::checkpoints::settle(&tax, &questions[0], Ok(proof));
    crate::checkpoints::save(&tax, written.into_iter().collect()).expect("saves");
    assert_eq!(tax.checkpoints.view(&peer).head.map(|c| c.size), Some(new));
    assert!(tax.checkpoints.questions(true).is_empty());
    // A forged proof leaves a newer checkpoint unproven, and says why.
    let b3 = stored(deliver(&tax, &social, &g, "income.annual", b"3", packet(3), false).await);
    crate::sent::log_receipt(&tax, b3, None).await.expect("logged");
    let question = tax.checkpoints.questions(false).remove(0);
    assert!(crate::checkpoints::settle(&tax, &question, Ok(vec![tally_wire::Digest([7; 32])])).is_none());
    let view = tax.checkpoints.view(&peer);
    assert!(view.unproven.is_some_and(|(n, why)| n == 1 && why.contains("does not verify")), "unproven");
    assert!(tax.checkpoints.questions(false).is_empty(), "asked again only on the periodic round");
    assert_eq!(tax.checkpoints.questions(true).len(), 1);
    assert_eq!(view.forks, 0, "a bad proof is no evidence of a fork");
    // The peer signs another history of the same size as the head (a
    // restore from an old copy that grew again): the two notes are fork evidence.
    let head = tax.checkpoints.view(&peer).head.expect("a head");
    let other = tally_receipt::Log::new(tally_receipt::MemoryStore::new(), &peer, Arc::clone(&social.identity));
    let mut receipt = tally_receipt::bundled_receipt(&b1.receipt).clone();
    receipt.payload_len += 1;
    for _ in 1..head.size {
        other.issue_receipts_batched(vec![receipt.clone()]).expect("logs");
    }
    let forged = other.issue_receipts_batched(vec![receipt]).expect("logs").remove(0);
    assert_eq!(verify(&social, &forged).checkpoint.size, head.size, "it verifies: the peer signed it");
    crate::sent::log_receipt(&tax, forged, None).await.expect("logged");
    assert_eq!(tax.checkpoints.view(&peer).forks, 1);
    let kept = tax.store.forks().expect("reads");
    assert_eq!(kept.len(), 1, "kept in the store");
    let evidence: tally_receipt::ForkEvidence = serde_json::from_str(&kept[0].1).expect("evidence");
    let key = social.identity.public_key();
    evidence.verify(&tally_receipt::log_origin(&peer), &key).expect("anyone with the directory can check it");
    assert!(tax.metrics.render(0).contains("tally_peer_log_forks_total{peer=\"social-security\"} 1"));

    // A newer checkpoint of a log whose prefix was rewritten: the peer's
    // own consistency proof from the head's size shows another prefix.
    let head = tax.checkpoints.view(&peer).head.expect("a head");
    assert!(!head.size.is_power_of_two(), "a proof from {} carries the prefix's root", head.size);
    let rewritten = tally_receipt::Log::new(tally_receipt::MemoryStore::new(), &peer, Arc::clone(&social.identity));
    let mut receipt = tally_receipt::bundled_receipt(&b1.receipt).clone();
    receipt.payload_len += 2;
    for _ in 0..head.size + 2 {
        rewritten.issue_receipts_batched(vec![receipt.clone()]).expect("logs");
    }
    let newer = rewritten.issue_receipts_batched(vec![receipt]).expect("logs").remove(0);
    crate::sent::log_receipt(&tax, newer, None).await.expect("logged");
    let question = tax.checkpoints.questions(false).into_iter().find(|q| q.new_size == head.size + 3).expect("asked");
    let proof = rewritten.consistency_proof(question.old_size, question.new_size).expect("proves");
    let written = crate::checkpoints::settle(&tax, &question, Ok(proof));
    crate::checkpoints::save(&tax, written.into_iter().collect()).expect("saves");
    assert_eq!(tax.checkpoints.view(&peer).forks, 2, "a rewritten prefix is fork evidence");
    let kept = tax.store.forks().expect("reads");
    let evidence: tally_receipt::ForkEvidence = serde_json::from_str(&kept[1].1).expect("evidence");
    evidence.verify(&tally_receipt::log_origin(&peer), &key).expect("it holds on its own");
    assert_eq!(tax.checkpoints.view(&peer).head.map(|c| c.size), Some(head.size), "the head did not move");
}

#[tokio::test]
async fn an_offer_refused_before_gets_its_rejection_again() {
    let fed = Fixture::new(&["tax-bureau", "social-security"]);
    let (tax, social) = (fed.open("tax-bureau"), fed.open("social-security"));
    let g = issue(&tax, &document("social-security", "income", ""));
    let accepted = stored(deliver(&tax, &social, &g, "income.annual", b"41250", packet(1), false).await);
    let mut refusal = tally_receipt::bundled_receipt(&accepted.receipt).clone();
    refusal.packet_id = packet(2);
    refusal.outcome = tally_wire::Outcome::Rejected { reason: tally_wire::ReasonCode::STORAGE_LIMIT };
    let digest = refusal.header_digest;
    let host = crate::host::NodeHost(Arc::clone(&social));
    let signed = tally_transport::Host::sign_rejection(&host, refusal).await.expect("signs").expect("within the rate");
    let size = social.log.size().expect("size");
    let again = social.refused_bundle(&packet(2), &digest).expect("reads").expect("the earlier refusal");
    assert_eq!((&again.receipt, again.index), (&signed.receipt, signed.index), "the same rejection");
    assert_eq!(social.log.size().expect("size"), size, "nothing logged again");
    let other = tally_wire::Digest([0xee; 32]);
    assert!(social.refused_bundle(&packet(2), &other).expect("reads").is_none(), "another header is another offer");
    assert!(social.refused_bundle(&packet(1), &digest).expect("reads").is_none(), "an acceptance is no refusal");
}
