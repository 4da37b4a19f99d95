//! [`Tx`]: the writes a caller makes in a commit, typed by table.

use redb::{ReadableTable, WriteTransaction};
use tally_grant::{GrantUsage, grant_id};
use tally_wire::{GrantChain, GrantId, PacketId, Revocation, Signed, Timestamp};

use crate::error::{Error, db};
use crate::records::{InboxRecord, OutboxRecord, SentRecord};
use crate::tables::{
    CHECKPOINTS, DATA_KEYS, ERASURE_PENDING, ERASURES, FORKS, GRANTS, INBOX, INLINE_BLOBS, META, OUTBOX,
    PEER_CHECKPOINTS, PEER_PENDING, REVOCATIONS, SEND_IDS, SEND_OF, SENT, USAGE, decode, encode,
};

/// One commit's writes to the node's tables, made in the transaction that
/// appends its log entries (see [`Store::commit`](crate::Store::commit)).
pub struct Tx<'a> {
    pub(crate) tx: &'a WriteTransaction,
}

impl<'a> Tx<'a> {
    pub(crate) fn new(tx: &'a WriteTransaction) -> Self {
        Self { tx }
    }

    /// Records a signed checkpoint of the node's own log.
    pub(crate) fn put_checkpoint(&mut self, size: u64, note: &str) -> Result<(), Error> {
        self.tx.open_table(CHECKPOINTS).map_err(db)?.insert(size, note).map_err(db)?;
        Ok(())
    }

    /// Records (or replaces) a received packet.
    pub fn put_inbox(&mut self, packet: &PacketId, record: &InboxRecord) -> Result<(), Error> {
        self.tx.open_table(INBOX).map_err(db)?.insert(packet.0, encode(record).as_slice()).map_err(db)?;
        Ok(())
    }

    /// Keeps a grant chain, under its leaf's id.
    pub fn put_grant_chain(&mut self, chain: &GrantChain) -> Result<(), Error> {
        let Some(leaf) = chain.first() else { return Err(Error::Inconsistent("an empty grant chain".into())) };
        let mut table = self.tx.open_table(GRANTS).map_err(db)?;
        table.insert(grant_id(leaf).0, encode(chain).as_slice()).map_err(db)?;
        Ok(())
    }

    /// Keeps a revocation; `erasure_pending` while an erasure it obliges waits.
    pub fn put_revocation(&mut self, revocation: &Signed<Revocation>, erasure_pending: bool) -> Result<(), Error> {
        let pending = if erasure_pending { ERASURE_PENDING } else { 0 };
        let bytes = revocation.encode();
        self.tx.open_table(REVOCATIONS).map_err(db)?.insert(bytes.as_slice(), pending).map_err(db)?;
        Ok(())
    }

    /// Records that the data key of `grant`'s `epoch` is to be destroyed, for `reason`.
    pub fn put_erasure(&mut self, grant: &GrantId, epoch: u64, reason: u16) -> Result<(), Error> {
        self.tx.open_table(ERASURES).map_err(db)?.insert((grant.0, epoch), reason).map_err(db)?;
        Ok(())
    }

    /// Forgets a data key whose slot was destroyed, and its pending erasure.
    pub fn finish_erasure(&mut self, grant: &GrantId, epoch: u64) -> Result<(), Error> {
        self.tx.open_table(DATA_KEYS).map_err(db)?.remove((grant.0, epoch)).map_err(db)?;
        self.tx.open_table(ERASURES).map_err(db)?.remove((grant.0, epoch)).map_err(db)?;
        Ok(())
    }

    /// Keeps a received packet's sealed payload in the database, for a
    /// payload small enough not to need a blob file of its own
    /// ([`crate::MAX_INLINE_BLOB`] bytes at most).
    pub fn put_inline_blob(&mut self, packet: &PacketId, sealed: &[u8]) -> Result<(), Error> {
        if sealed.len() > crate::MAX_INLINE_BLOB {
            return Err(Error::Inconsistent(format!(
                "an inline payload of {} bytes, over the limit of {}",
                sealed.len(),
                crate::MAX_INLINE_BLOB
            )));
        }
        self.tx.open_table(INLINE_BLOBS).map_err(db)?.insert(packet.0, sealed).map_err(db)?;
        Ok(())
    }

    /// Removes a received packet's sealed payload from the database, if it is there.
    pub fn remove_inline_blob(&mut self, packet: &PacketId) -> Result<(), Error> {
        self.tx.open_table(INLINE_BLOBS).map_err(db)?.remove(packet.0).map_err(db)?;
        Ok(())
    }

    /// Records a send not yet receipted.
    pub fn put_outbox(&mut self, packet: &PacketId, record: &OutboxRecord) -> Result<(), Error> {
        self.tx.open_table(OUTBOX).map_err(db)?.insert(packet.0, encode(record).as_slice()).map_err(db)?;
        Ok(())
    }

    /// Forgets a send (receipted, or to be sealed anew).
    pub fn remove_outbox(&mut self, packet: &PacketId) -> Result<(), Error> {
        self.tx.open_table(OUTBOX).map_err(db)?.remove(packet.0).map_err(db)?;
        Ok(())
    }

    /// Records that send id `send_id` is carried by `packet` (replacing the
    /// packet it named before, when a send is sealed anew).
    pub fn put_send_id(&mut self, send_id: &str, packet: &PacketId) -> Result<(), Error> {
        self.tx.open_table(SEND_IDS).map_err(db)?.insert(send_id, packet.0).map_err(db)?;
        self.tx.open_table(SEND_OF).map_err(db)?.insert(packet.0, send_id).map_err(db)?;
        Ok(())
    }

    /// Forgets send id `send_id` (a cancelled send), and that `packet` carried it.
    pub fn remove_send_id(&mut self, send_id: &str, packet: &PacketId) -> Result<(), Error> {
        self.tx.open_table(SEND_IDS).map_err(db)?.remove(send_id).map_err(db)?;
        self.tx.open_table(SEND_OF).map_err(db)?.remove(packet.0).map_err(db)?;
        Ok(())
    }

    /// Keeps what a receipted send needs to be revealed later.
    pub fn put_sent(&mut self, packet: &PacketId, record: &SentRecord) -> Result<(), Error> {
        self.tx.open_table(SENT).map_err(db)?.insert(packet.0, encode(record).as_slice()).map_err(db)?;
        Ok(())
    }

    /// Counts one packet of `bytes` at `at` against each grant of `chain`
    /// (with its rate period): read, counted, written, so that commits
    /// grouped in one transaction add up.
    pub fn count_usage(&mut self, chain: &[(GrantId, Option<u32>)], bytes: u64, at: Timestamp) -> Result<(), Error> {
        let mut table = self.tx.open_table(USAGE).map_err(db)?;
        for (grant, period) in chain {
            let mut usage: GrantUsage = match table.get(grant.0).map_err(db)? {
                Some(v) => decode(v.value(), "usage")?,
                None => GrantUsage::default(),
            };
            usage.count(bytes, at, *period);
            table.insert(grant.0, encode(&usage).as_slice()).map_err(db)?;
        }
        Ok(())
    }

    /// Records `note`, of `size` entries, as the head of `peer`'s log,
    /// unless a larger head is recorded already (heads only move forward).
    pub fn put_peer_checkpoint(&mut self, peer: &str, size: u64, note: &str) -> Result<(), Error> {
        let mut table = self.tx.open_table(PEER_CHECKPOINTS).map_err(db)?;
        let larger = table.get(peer).map_err(db)?.is_some_and(|v| v.value().0 > size);
        if !larger {
            table.insert(peer, (size, note)).map_err(db)?;
        }
        Ok(())
    }

    /// Records `note`, of `size` entries, as a pending checkpoint of `peer`'s log.
    pub fn put_peer_pending(&mut self, peer: &str, size: u64, note: &str) -> Result<(), Error> {
        self.tx.open_table(PEER_PENDING).map_err(db)?.insert((peer, size), note).map_err(db)?;
        Ok(())
    }

    /// Lets go of `peer`'s pending checkpoint of `size` entries.
    pub fn remove_peer_pending(&mut self, peer: &str, size: u64) -> Result<(), Error> {
        self.tx.open_table(PEER_PENDING).map_err(db)?.remove((peer, size)).map_err(db)?;
        Ok(())
    }

    /// Keeps fork evidence (as JSON) against `peer`'s log, after any kept before.
    pub fn put_fork(&mut self, peer: &str, evidence: &str) -> Result<(), Error> {
        let mut table = self.tx.open_table(FORKS).map_err(db)?;
        let next = table.range((peer, 0)..=(peer, u64::MAX)).map_err(db)?.count() as u64;
        table.insert((peer, next), evidence).map_err(db)?;
        Ok(())
    }

    /// Sets a node fact.
    pub fn set_meta(&mut self, key: &str, value: u64) -> Result<(), Error> {
        self.tx.open_table(META).map_err(db)?.insert(key, value).map_err(db)?;
        Ok(())
    }
}

impl Tx<'_> {
    /// Records a data key's slot (its record, encoded by the vault).
    pub(crate) fn put_data_key(&mut self, grant: &GrantId, epoch: u64, record: &[u8]) -> Result<(), Error> {
        self.tx.open_table(DATA_KEYS).map_err(db)?.insert((grant.0, epoch), record).map_err(db)?;
        Ok(())
    }
}
