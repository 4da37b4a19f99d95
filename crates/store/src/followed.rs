//! The logs an auditor's node follows (spec/audit.md, "Following a log"):
//! per agency, the head it last verified (the checkpoint note and the
//! tree's frontier at it) and the entries up to it, fetched in parts.
//!
//! Entries beyond the head are written before the head moves, one part per
//! commit, and mean nothing until it does: a follow that breaks off, or
//! whose entries do not match the checkpoint, leaves the head where it was,
//! and the next follow writes those indexes again.

use redb::{ReadableDatabase, TableDefinition};
use serde::{Deserialize, Serialize};
use tally_receipt::Frontier;
use tally_wire::{AgencyId, Digest};

use crate::error::{Error, db};
use crate::tables::{decode, encode};
use crate::{Store, Tx};

/// The head of each followed log, by agency (a [`FollowedHead`], encoded).
pub(crate) const FOLLOWED: TableDefinition<&str, &[u8]> = TableDefinition::new("followed");
/// The entries of followed logs, by agency and index.
pub(crate) const FOLLOWED_ENTRIES: TableDefinition<(&str, u64), &[u8]> = TableDefinition::new("followed_entries");

/// What a follower keeps of a log at the last checkpoint it verified.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct FollowedHead {
    /// The checkpoint's note, as the agency signed it.
    pub note: String,
    /// The tree's frontier at the checkpoint's size (its root is the checkpoint's).
    pub frontier: Frontier,
}

/// How a head is stored.
#[derive(Serialize, Deserialize)]
struct Stored {
    note: String,
    size: u64,
    hashes: Vec<Digest>,
}

impl Store {
    /// The head of `agency`'s log as this node last verified it, if it follows it.
    pub fn followed(&self, agency: &AgencyId) -> Result<Option<FollowedHead>, Error> {
        let tx = self.database().begin_read().map_err(db)?;
        let table = tx.open_table(FOLLOWED).map_err(db)?;
        let Some(value) = table.get(agency.as_str()).map_err(db)? else { return Ok(None) };
        let stored: Stored = decode(value.value(), "followed head")?;
        let frontier = Frontier::from_parts(stored.size, stored.hashes)
            .ok_or_else(|| Error::Inconsistent(format!("the frontier kept of {agency}'s log does not fit its size")))?;
        Ok(Some(FollowedHead { note: stored.note, frontier }))
    }

    /// Entries of `agency`'s followed log from `start`, oldest first, in one
    /// read: up to `end` (exclusive, at most the head's size), or fewer once
    /// they hold `max_bytes` (at least one when `start < end`).
    pub fn followed_entries(
        &self,
        agency: &AgencyId,
        start: u64,
        end: u64,
        max_bytes: usize,
    ) -> Result<Vec<Vec<u8>>, Error> {
        let size = self.followed(agency)?.map_or(0, |h| h.frontier.size());
        let end = end.min(size);
        let tx = self.database().begin_read().map_err(db)?;
        let table = tx.open_table(FOLLOWED_ENTRIES).map_err(db)?;
        let (mut entries, mut bytes) = (Vec::new(), 0);
        let missing = |index: u64| Error::Inconsistent(format!("entry {index} of {agency}'s followed log is missing"));
        for row in table.range((agency.as_str(), start)..(agency.as_str(), end)).map_err(db)? {
            let (key, value) = row.map_err(db)?;
            if key.value().1 != start + entries.len() as u64 {
                return Err(missing(start + entries.len() as u64));
            }
            bytes += value.value().len();
            entries.push(value.value().to_vec());
            if bytes >= max_bytes {
                break;
            }
        }
        if entries.is_empty() && start < end {
            return Err(missing(start));
        }
        Ok(entries)
    }
}

impl Tx<'_> {
    /// Writes entries of `agency`'s followed log from index `start` (beyond its head until the head moves).
    pub fn put_followed_entries(&mut self, agency: &AgencyId, start: u64, entries: &[Vec<u8>]) -> Result<(), Error> {
        let mut table = self.tx.open_table(FOLLOWED_ENTRIES).map_err(db)?;
        for (index, entry) in (start..).zip(entries) {
            table.insert((agency.as_str(), index), entry.as_slice()).map_err(db)?;
        }
        Ok(())
    }

    /// Moves the head of `agency`'s followed log (its entries up to the head must be written).
    pub fn put_followed_head(&mut self, agency: &AgencyId, head: &FollowedHead) -> Result<(), Error> {
        let stored =
            Stored { note: head.note.clone(), size: head.frontier.size(), hashes: head.frontier.hashes().to_vec() };
        self.tx.open_table(FOLLOWED).map_err(db)?.insert(agency.as_str(), encode(&stored).as_slice()).map_err(db)?;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use tally_receipt::merkle::leaf_hash;

    use super::*;

    fn store(dir: &tempfile::TempDir) -> Store {
        let key = tally_envelope::IdentityKey::from_seed(&[1; 32]);
        let origin = tally_receipt::log_origin(&AgencyId::new("audit-office").expect("a name"));
        Store::open(&dir.path().join("tally.redb"), &origin, &key.public_key()).expect("opens")
    }

    #[test]
    fn entries_beyond_the_head_are_not_read_and_the_head_survives_a_reopen() {
        let dir = tempfile::tempdir().expect("a temporary directory");
        let tax = AgencyId::new("tax-bureau").expect("a name");
        let entries: Vec<Vec<u8>> = (0..5u8).map(|i| vec![i; 10]).collect();
        let mut frontier = Frontier::new();
        for e in &entries[..3] {
            frontier.push(leaf_hash(e));
        }
        let head = FollowedHead { note: "a note".into(), frontier };
        {
            let store = store(&dir);
            assert_eq!(store.followed(&tax).expect("reads"), None);
            let (written, kept) = (entries.clone(), head.clone());
            let agency = tax.clone();
            store
                .commit(&[], move |tx| {
                    tx.put_followed_entries(&agency, 0, &written)?;
                    tx.put_followed_head(&agency, &kept)
                })
                .expect("commits");
        }
        let store = store(&dir);
        assert_eq!(store.followed(&tax).expect("reads"), Some(head));
        assert_eq!(store.followed_entries(&tax, 0, 10, usize::MAX).expect("reads"), entries[..3].to_vec());
        assert_eq!(store.followed_entries(&tax, 1, 10, 1).expect("reads"), vec![entries[1].clone()], "one part");
        let other = AgencyId::new("statistics").expect("a name");
        assert!(store.followed_entries(&other, 0, 10, usize::MAX).expect("reads").is_empty());
    }
}
