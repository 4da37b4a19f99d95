//! The store: the log persists and checks itself, a commit's table writes
//! are atomic with its entries, and one failing commit does not fail the
//! commits grouped with it.

use std::sync::Arc;

use tally_envelope::IdentityKey;
use tally_receipt::{Log, LogStore, MemoryStore, log_origin};
use tally_store::{Error, Store};
use tally_wire::{AgencyId, Digest, GrantId, LogEntry, Outcome, PacketId, Purpose, Receipt, Timestamp};

fn agency(s: &str) -> AgencyId {
    AgencyId::new(s).expect("valid")
}

fn receipt(i: u8) -> Receipt {
    Receipt {
        packet_id: PacketId([i; 16]),
        header_digest: Digest([i; 32]),
        grant: GrantId([3; 32]),
        purpose: Purpose::new("social-security.eligibility").expect("valid"),
        category: tally_wire::DataCategory::new("income.annual").expect("valid"),
        payload_len: 1024,
        sender: agency("tax-bureau"),
        recipient: agency("social-security"),
        received_at: Timestamp::from_secs(1_800_000_000 + u64::from(i)),
        outcome: Outcome::Accepted { ciphertext_fingerprint: Digest([4; 32]), content_commitment: Digest([5; 32]) },
    }
}

fn entry(i: u8) -> LogEntry {
    LogEntry::ReceiptLogged(tally_wire::Encoded::new(receipt(i)).expect("encodes"))
}

fn open(path: &std::path::Path) -> Store {
    let key = IdentityKey::from_seed(&[2; 32]);
    Store::open(path, &log_origin(&agency("social-security")), &key.public_key()).expect("opens")
}

#[test]
fn the_log_persists_and_checks_itself_on_open() {
    let key = Arc::new(IdentityKey::from_seed(&[2; 32]));
    let public = key.public_key();
    let social = agency("social-security");
    let origin = log_origin(&social);
    let dir = tempfile::tempdir().expect("temp dir");
    let path = dir.path().join("tally.redb");
    let root100;
    {
        let log = Log::new(open(&path), &social, Arc::clone(&key));
        std::thread::scope(|s| {
            for t in 0..4u8 {
                let log = &log;
                s.spawn(move || {
                    for i in 0..25u8 {
                        log.append(&[entry(t * 25 + i)]).expect("appends");
                    }
                });
            }
        });
        assert_eq!(log.size().expect("size"), 100);
        root100 = log.checkpoint().expect("signs").0.root;
    }
    let store = Store::open(&path, &origin, &public).expect("reopens and verifies");
    assert_eq!(store.size().expect("size"), 100);
    let log = Log::new(store, &social, Arc::clone(&key));
    assert_eq!(log.root(100).expect("root"), root100);
    // Equal to an in-memory log of the same entries, in the same order.
    let mem = MemoryStore::new();
    for i in 0..100 {
        mem.append(vec![log.store().entry(i).expect("entry")]).expect("appends");
    }
    assert_eq!(Log::new(mem, &social, key).root(100).expect("root"), root100);
    // A store opened with the wrong key refuses its own checkpoint.
    drop(log);
    let stranger = IdentityKey::from_seed(&[8; 32]).public_key();
    assert!(matches!(Store::open(&path, &origin, &stranger), Err(Error::Inconsistent(_))));
}

#[test]
fn a_second_process_cannot_open_the_same_database() {
    let dir = tempfile::tempdir().expect("temp dir");
    let path = dir.path().join("tally.redb");
    let _first = open(&path);
    let key = IdentityKey::from_seed(&[2; 32]);
    let second = Store::open(&path, &log_origin(&agency("social-security")), &key.public_key());
    assert!(matches!(second, Err(Error::InUse { .. })), "{:?}", second.err());
}

/// Counts one packet of `i` bytes against grant `i`.
fn count(tx: &mut tally_store::Tx<'_>, i: u8) -> Result<(), Error> {
    tx.count_usage(&[(GrantId([i; 32]), None)], u64::from(i), Timestamp::from_secs(1_800_000_000))
}

/// A write that always fails: a grant chain must have a leaf.
fn failing(tx: &mut tally_store::Tx<'_>) -> Result<(), Error> {
    tx.put_grant_chain(&tally_wire::GrantChain::new(Vec::new()).expect("an empty chain encodes"))
}

#[test]
fn a_commits_writes_are_stored_with_its_entries_or_not_at_all() {
    let dir = tempfile::tempdir().expect("temp dir");
    let store = open(&dir.path().join("tally.redb"));
    let range = store.commit(&[entry(1)], |tx| count(tx, 1)).expect("commits");
    assert_eq!(range, 0..1);
    assert_eq!(store.usage().expect("reads").len(), 1, "the entry and the write are both committed");

    let only_writes = store.commit(&[], |tx| count(tx, 2)).expect("commits");
    assert_eq!(only_writes, 1..1, "writes alone commit, adding no entry");
    assert_eq!(store.usage().expect("reads").len(), 2);

    // A write that fails takes its entries and its other writes with it.
    let failed = store.commit(&[entry(2)], |tx| {
        count(tx, 3)?;
        failing(tx)
    });
    assert!(matches!(failed, Err(Error::Inconsistent(_))), "{failed:?}");
    assert_eq!(store.size().expect("size"), 1, "its entries are not in the log");
    assert_eq!(store.usage().expect("reads").len(), 2, "and its other writes are not stored");
}

#[test]
fn one_commit_that_fails_does_not_fail_the_commits_grouped_with_it() {
    let dir = tempfile::tempdir().expect("temp dir");
    let store = open(&dir.path().join("tally.redb"));
    let results: Vec<(u8, Result<std::ops::Range<u64>, Error>)> = std::thread::scope(|s| {
        let handles: Vec<_> = (0..64u8)
            .map(|i| {
                let store = &store;
                s.spawn(move || {
                    let fail = i % 4 == 0;
                    let result = store.commit(&[entry(i)], move |tx| {
                        count(tx, i)?;
                        if fail { failing(tx) } else { Ok(()) }
                    });
                    (i, result)
                })
            })
            .collect();
        handles.into_iter().map(|h| h.join().expect("joins")).collect()
    });
    for (i, result) in &results {
        assert_eq!(result.is_err(), i % 4 == 0, "commit {i}: {result:?}");
    }
    assert_eq!(store.size().expect("size"), 48, "every commit that did not fail is in the log");
    assert_eq!(store.usage().expect("reads").len(), 48, "with its writes");
}

#[test]
fn every_receipt_is_indexed_by_packet_and_side_as_it_is_logged() {
    let dir = tempfile::tempdir().expect("temp dir");
    let store = open(&dir.path().join("tally.redb"));
    let key = IdentityKey::from_seed(&[2; 32]);
    let signed = |i| key.sign_object(receipt(i)).expect("signs");
    // Through a commit, beside other entries; and through the plain LogStore append.
    store
        .commit(&[entry(9), LogEntry::ReceiptIssued(signed(1)), LogEntry::ReceiptReceived(signed(2))], |_| Ok(()))
        .expect("commits");
    // Batch-signed receipts and peers' bundles are receipts too, on their sides.
    let bundle = |i| tally_wire::ReceiptBundle {
        receipt: tally_wire::BundledReceipt::Logged(tally_wire::Encoded::new(receipt(i)).expect("encodes")),
        index: 0,
        proof: tally_wire::BoundedVec::empty(),
        checkpoint: tally_wire::Text::new("").expect("empty"),
    };
    store.commit(&[LogEntry::BundleReceived(bundle(6))], |_| Ok(())).expect("commits");
    let bytes = tally_receipt::entry_bytes(&LogEntry::ReceiptIssued(signed(3))).expect("encodes");
    store.append(vec![bytes]).expect("appends");
    use tally_store::ReceiptSide::{Issued, Received};
    let of = |p: u8, side| store.receipt_indices_of(&PacketId([p; 16]), side).expect("reads");
    assert_eq!(of(9, Issued), vec![0], "a batch-signed receipt is one this node issued");
    assert_eq!(of(1, Issued), vec![1]);
    assert_eq!(of(2, Received), vec![2]);
    assert_eq!(of(2, Issued), Vec::<u64>::new(), "the other side");
    assert_eq!(of(6, Received), vec![3], "a peer's bundle is a receipt this node received");
    assert_eq!(of(3, Issued), vec![4]);
    assert_eq!(store.receipt_indices().expect("reads"), vec![0, 1, 2, 3, 4]);
    // A second receipt under an id already indexed (a peer may choose a pull
    // request id equal to a packet id) is added beside it, not over it.
    store.commit(&[LogEntry::ReceiptIssued(signed(1))], |_| Ok(())).expect("commits");
    assert_eq!(of(1, Issued), vec![1, 5]);
    // A commit that fails indexes nothing.
    let failed = store.commit(&[LogEntry::ReceiptIssued(signed(5))], failing);
    assert!(failed.is_err());
    assert_eq!(of(5, Issued), Vec::<u64>::new());
}

/// An inbox record as a store made before receipts were bundled wrote it:
/// the same fields, the receipt a `Signed<Receipt>`.
#[derive(serde::Serialize)]
struct LegacyInboxRecord {
    sender: AgencyId,
    grant: GrantId,
    purpose: Purpose,
    category: tally_wire::DataCategory,
    content_type: tally_wire::ContentType,
    size: u64,
    epoch: u64,
    receipt: tally_wire::Signed<Receipt>,
    erased_at: Option<Timestamp>,
    evidence: tally_wire::Evidence,
    commitment_key: Vec<u8>,
}

#[test]
fn inbox_records_written_before_bundles_are_migrated_at_open() {
    let dir = tempfile::tempdir().expect("temp dir");
    let path = dir.path().join("tally.redb");
    drop(open(&path));
    let key = IdentityKey::from_seed(&[2; 32]);
    let signed = key.sign_object(receipt(1)).expect("signs");
    let header = tally_wire::PacketHeader {
        version: tally_wire::Version::V1,
        suite: tally_wire::SuiteId::X25519_SHA256_AES256GCM,
        packet_id: PacketId([1; 16]),
        sender: agency("tax-bureau"),
        recipient: agency("social-security"),
        recipient_key: tally_wire::KeyId([0x22; 32]),
        grant: GrantId([3; 32]),
        purpose: Purpose::new("social-security.eligibility").expect("valid"),
        category: tally_wire::DataCategory::new("income.annual").expect("valid"),
        content_type: tally_wire::ContentType::new("application/json").expect("valid"),
        created_at: Timestamp::from_secs(1_800_000_000),
        payload_len: 1024,
        chunk_size: tally_wire::ChunkSize::DEFAULT,
    };
    let legacy = LegacyInboxRecord {
        sender: agency("tax-bureau"),
        grant: GrantId([3; 32]),
        purpose: Purpose::new("social-security.eligibility").expect("valid"),
        category: tally_wire::DataCategory::new("income.annual").expect("valid"),
        content_type: tally_wire::ContentType::new("application/json").expect("valid"),
        size: 1024,
        epoch: 0,
        receipt: signed.clone(),
        erased_at: None,
        evidence: tally_wire::Evidence {
            header: tally_wire::Encoded::new(header).expect("encodes"),
            encapsulated_key: tally_wire::EncapsulatedKey::X25519(tally_wire::X25519PublicKey([7; 32])),
            trailer: tally_wire::Trailer {
                chunk_count: 1,
                content_commitment: Digest([5; 32]),
                signature: tally_wire::Signature([6; 64]),
            },
        },
        commitment_key: vec![9; 60],
    };
    {
        // The old store: its record, and no note that the migration ran.
        let database = redb::Database::create(&path).expect("opens");
        let tx = database.begin_write().expect("writes");
        {
            let mut inbox = tx.open_table(redb::TableDefinition::<[u8; 16], &[u8]>::new("inbox")).expect("table");
            inbox.insert([1; 16], tally_wire::to_bytes(&legacy).as_slice()).expect("inserts");
            let mut meta = tx.open_table(redb::TableDefinition::<&str, u64>::new("meta")).expect("table");
            meta.remove("inbox_receipts_bundled").expect("removes");
        }
        tx.commit().expect("commits");
    }
    let store = open(&path);
    let record = store.inbox(&PacketId([1; 16])).expect("decodes").expect("kept");
    assert_eq!(record.receipt, tally_wire::BundledReceipt::Signed(signed), "the same receipt, the same log entry");
    assert_eq!(record.size, 1024);
    assert_eq!(store.inbox_all().expect("decodes").len(), 1);
}
