//! The follower against a log in memory. The source here is a test double
//! standing in for the agency's node: it answers each fetch as
//! spec/protocol.md says (a few entries per answer, to make many parts),
//! from a `Log<MemoryStore>` signed with the agency's real identity key,
//! and can be made to lie. The transport path is tested in tests/audit.rs
//! and the command-line tests.

use std::sync::{Arc, Mutex};

use tally_receipt::{Log, LogStore, MemoryStore};
use tally_wire::{Encoded, LogEntry, Text, to_bytes};

use super::*;
use crate::state::NodeState;
use crate::tests::fixture::{Fixture, agency, document, issue};

/// The agency's side, in memory.
struct Agency {
    log: Mutex<Arc<Log<MemoryStore>>>,
    /// Entries per answer.
    per_answer: u64,
    /// An entry index and the bytes sent in its place.
    altered: Mutex<Option<(u64, Vec<u8>)>>,
    /// The entries asked for, as (start, end).
    asked: Mutex<Vec<(u64, u64)>>,
}

impl Agency {
    fn new(log: Log<MemoryStore>) -> Self {
        Self { log: Mutex::new(Arc::new(log)), per_answer: 3, altered: Mutex::new(None), asked: Mutex::new(Vec::new()) }
    }

    fn log(&self) -> Arc<Log<MemoryStore>> {
        Arc::clone(&self.log.lock().expect("lock"))
    }
}

impl LogSource for Agency {
    async fn checkpoint(&self) -> Result<Vec<u8>, NodeError> {
        let (_, note) = self.log().checkpoint()?;
        Ok(to_bytes(&Text::<MAX_CHECKPOINT_NOTE_LEN>::new(&note)?))
    }

    async fn consistency(&self, old_size: u64, new_size: u64) -> Result<Vec<u8>, NodeError> {
        Ok(self.log().consistency_proof(old_size, new_size)?.iter().flat_map(|d| d.0).collect())
    }

    async fn entries(&self, start: u64, end: u64) -> Result<Vec<u8>, NodeError> {
        self.asked.lock().expect("lock").push((start, end));
        let (log, altered) = (self.log(), self.altered.lock().expect("lock").clone());
        let mut out = Vec::new();
        for i in start..end.min(start + self.per_answer) {
            let body = match &altered {
                Some((at, bytes)) if *at == i => bytes.clone(),
                _ => log.store().entry(i).expect("an entry"),
            };
            out.extend_from_slice(&Encoded::<LogEntry>::from_body(body)?.encode());
        }
        Ok(out)
    }
}

struct World {
    _fixture: Fixture,
    tax: Arc<NodeState>,
    auditor: Arc<NodeState>,
    /// Two different entries.
    one: LogEntry,
    other: LogEntry,
}

impl World {
    fn new() -> Self {
        let fixture = Fixture::new(&["tax-bureau", "social-security", "audit-office"]);
        let (tax, auditor) = (fixture.open("tax-bureau"), fixture.open("audit-office"));
        let one = LogEntry::GrantIssued(issue(&tax, &document("social-security", "income", ""))[0].clone());
        let other = LogEntry::GrantIssued(
            issue(&tax, &document("social-security", "income", "retention = \"30days\"\n"))[0].clone(),
        );
        Self { _fixture: fixture, tax, auditor, one, other }
    }

    /// A log of the tax bureau's, signed with its key, of `entries`.
    fn log(&self, entries: &[LogEntry]) -> Log<MemoryStore> {
        let log = Log::new(MemoryStore::new(), &agency("tax-bureau"), Arc::clone(&self.tax.identity));
        log.append(entries).expect("appends");
        log
    }

    async fn follow(&self, source: &Agency) -> Result<Followed, NodeError> {
        follow(&self.auditor, &agency("tax-bureau"), &self.tax.identity.public_key(), source).await
    }

    fn head_size(&self) -> u64 {
        self.auditor.store.followed(&agency("tax-bureau")).expect("reads").map_or(0, |h| h.frontier.size())
    }
}

#[tokio::test]
async fn a_second_follow_fetches_only_the_entries_added_since_and_the_export_is_the_whole_log() {
    let w = World::new();
    let tax = Agency::new(w.log(&vec![w.one.clone(); 5]));
    let first = w.follow(&tax).await.expect("follows");
    assert_eq!((first.size, first.fetched), (5, 5));
    assert_eq!(*tax.asked.lock().expect("lock"), vec![(0, 5), (3, 5)], "in parts of three");
    tax.log().append(&vec![w.other.clone(); 7]).expect("appends");
    tax.asked.lock().expect("lock").clear();
    let second = w.follow(&tax).await.expect("follows");
    assert_eq!((second.size, second.fetched), (12, 7));
    assert_eq!(tax.asked.lock().expect("lock")[0], (5, 12), "from where the last follow ended");
    let unchanged = w.follow(&tax).await.expect("follows");
    assert_eq!((unchanged.size, unchanged.fetched), (12, 0), "nothing new, nothing fetched");

    let export = export(&w.auditor.store, &agency("tax-bureau"), &second).expect("exports");
    let log = tax.log();
    let entries: Vec<String> = (0..12).map(|i| crate::hex::encode(&log.store().entry(i).expect("entry"))).collect();
    assert_eq!(export.entries, entries, "every entry in its place");
    let directory = w.auditor.directory();
    let report = tally_audit::audit(&directory, &[export], &[first.checkpoint]);
    assert!(report.logs[0].verified, "the export matches the checkpoint it carries");
    assert_eq!(report.coverage.earlier_checked, 1, "and the first follow's checkpoint is a prefix of it");
}

#[tokio::test]
async fn a_rewrite_before_the_last_verified_checkpoint_is_a_fork_and_its_evidence_is_kept() {
    let w = World::new();
    let tax = Agency::new(w.log(&vec![w.one.clone(); 7]));
    w.follow(&tax).await.expect("follows");
    // The agency now shows a log whose entry 5 is another, and which grew.
    let mut rewritten = vec![w.one.clone(); 5];
    rewritten.extend(vec![w.other.clone(); 6]);
    *tax.log.lock().expect("lock") = Arc::new(w.log(&rewritten));
    let e = w.follow(&tax).await.expect_err("a fork");
    let text = e.to_string();
    assert!(matches!(e, NodeError::Peer(_)), "{e:?}");
    assert!(text.contains("forked") && text.contains("of 11 entries is not consistent with the one of 7"), "{text}");
    assert!(text.contains("kept as fork evidence"), "{text}");
    assert_eq!(w.head_size(), 7, "the head stays at what was verified");
    let kept = w.auditor.store.forks().expect("reads");
    let evidence: ForkEvidence = serde_json::from_str(&kept[0].1).expect("evidence");
    let origin = log_origin(&agency("tax-bureau"));
    evidence.verify(&origin, &w.tax.identity.public_key()).expect("the evidence holds on its own");
    assert_eq!(w.auditor.checkpoints.view(&agency("tax-bureau")).forks, 1, "status counts it");
}

#[tokio::test]
async fn a_log_that_shrank_or_changed_at_its_size_is_a_fork() {
    let w = World::new();
    let tax = Agency::new(w.log(&vec![w.one.clone(); 6]));
    w.follow(&tax).await.expect("follows");
    *tax.log.lock().expect("lock") = Arc::new(w.log(&vec![w.one.clone(); 4]));
    let shrank = w.follow(&tax).await.expect_err("a fork").to_string();
    assert!(shrank.contains("a checkpoint of 4 entries, fewer than the 6 verified before"), "{shrank}");
    let mut changed = vec![w.one.clone(); 5];
    changed.push(w.other.clone());
    *tax.log.lock().expect("lock") = Arc::new(w.log(&changed));
    let other_root = w.follow(&tax).await.expect_err("a fork").to_string();
    assert!(other_root.contains("another root") && other_root.contains("kept as fork evidence"), "{other_root}");
    assert_eq!(w.head_size(), 6);
}

#[tokio::test]
async fn an_entry_altered_after_the_last_checkpoint_is_refused_and_the_next_honest_follow_goes_on() {
    let w = World::new();
    let tax = Agency::new(w.log(&vec![w.one.clone(); 5]));
    w.follow(&tax).await.expect("follows");
    tax.log().append(&vec![w.other.clone(); 7]).expect("appends");
    // The checkpoint and the proof are honest; entry 8 is sent altered.
    *tax.altered.lock().expect("lock") = Some((8, to_bytes(&w.one)));
    let e = w.follow(&tax).await.expect_err("refused").to_string();
    assert!(e.contains("the 7 entries it sent after the 5 verified before do not hash"), "{e}");
    assert!(e.contains("entries after the last verified checkpoint were dropped or altered"), "{e}");
    assert_eq!(w.head_size(), 5, "the head stays");
    assert!(w.auditor.store.forks().expect("reads").is_empty(), "no fork: its signed checkpoints agree");
    *tax.altered.lock().expect("lock") = None;
    let honest = w.follow(&tax).await.expect("follows");
    assert_eq!((honest.size, honest.fetched), (12, 7));
    let written = w.auditor.store.followed_entries(&agency("tax-bureau"), 8, 9, 1).expect("reads");
    assert_eq!(written, vec![to_bytes(&w.other)], "the altered entry written beyond the head was replaced");
}

#[tokio::test]
async fn a_checkpoint_not_signed_by_the_agency_is_refused() {
    let w = World::new();
    let tax = Agency::new(w.log(std::slice::from_ref(&w.one)));
    let e = follow(&w.auditor, &agency("tax-bureau"), &w.auditor.identity.public_key(), &tax)
        .await
        .expect_err("refused")
        .to_string();
    assert!(e.contains("does not verify under its identity key"), "{e}");
    assert_eq!(w.head_size(), 0);
}
