//! The tables, and the store's reads of them.

use redb::{ReadableDatabase, ReadableTable, TableDefinition};
use serde::Serialize;
use serde::de::DeserializeOwned;
use tally_grant::GrantUsage;
use tally_wire::{GrantChain, GrantId, PacketId, Revocation, Signed};

use crate::Store;
use crate::error::{Error, corrupt, db};
use crate::records::{InboxRecord, OutboxRecord, PendingErasure, SentRecord};

/// The log's entries, by index.
pub(crate) const ENTRIES: TableDefinition<u64, &[u8]> = TableDefinition::new("entries");
/// The log's perfect Merkle nodes, by level and index.
pub(crate) const NODES: TableDefinition<(u8, u64), &[u8]> = TableDefinition::new("nodes");
/// The log's signed checkpoints, by size.
pub(crate) const CHECKPOINTS: TableDefinition<u64, &str> = TableDefinition::new("checkpoints");
/// Where the receipts are in the log: keyed by packet (or request) id,
/// side ([`ReceiptSide`](crate::ReceiptSide) as a byte) and the entry's
/// index, so that every receipt under one id is kept (a peer may choose a
/// pull request id equal to a packet's: it adds an entry, it replaces none).
pub(crate) const RECEIPTS: TableDefinition<([u8; 16], u8, u64), ()> = TableDefinition::new("receipt_index");
/// Received packets, by packet id.
pub(crate) const INBOX: TableDefinition<[u8; 16], &[u8]> = TableDefinition::new("inbox");
/// The sealed payloads of small received packets, by packet id: the same
/// bytes as a blob file (records sealed under the grant's data key), kept
/// in the transaction that records the packet instead of a file of their own.
pub(crate) const INLINE_BLOBS: TableDefinition<[u8; 16], &[u8]> = TableDefinition::new("inline_blobs");
/// Grant chains this node holds (issued or received), by leaf grant id.
pub(crate) const GRANTS: TableDefinition<[u8; 32], &[u8]> = TableDefinition::new("grants");
/// Revocations, by their encoding; the value is [`ERASURE_PENDING`] while
/// an erasure it obliges waits for its effective time, else 0.
pub(crate) const REVOCATIONS: TableDefinition<&[u8], u8> = TableDefinition::new("revocations");
/// A revocation's erasure is still to happen.
pub(crate) const ERASURE_PENDING: u8 = 1;
/// Usage per grant.
pub(crate) const USAGE: TableDefinition<[u8; 32], &[u8]> = TableDefinition::new("usage");
/// Data keys, by grant and epoch.
pub(crate) const DATA_KEYS: TableDefinition<([u8; 32], u64), &[u8]> = TableDefinition::new("data_keys");
/// Sends not yet receipted, by packet id.
pub(crate) const OUTBOX: TableDefinition<[u8; 16], &[u8]> = TableDefinition::new("outbox");
/// Sends receipted: what the sender keeps to reveal the content later, by packet id.
pub(crate) const SENT: TableDefinition<[u8; 16], &[u8]> = TableDefinition::new("sent");
/// Erasures recorded in the log whose keys are not destroyed yet, by grant and epoch (the value is the reason).
pub(crate) const ERASURES: TableDefinition<([u8; 32], u64), u16> = TableDefinition::new("erasures");
/// Send ids (the idempotency keys of sends, spec/api.md "Sends"): the
/// packet that carries each, the latest when it was sealed anew.
pub(crate) const SEND_IDS: TableDefinition<&str, [u8; 16]> = TableDefinition::new("send_ids");
/// The send id of each packet sent under one.
pub(crate) const SEND_OF: TableDefinition<[u8; 16], &str> = TableDefinition::new("send_of");
/// Per peer: the head of its log this node holds, its size and signed
/// note (spec/receipts.md, "Checkpoints a sender sees").
pub(crate) const PEER_CHECKPOINTS: TableDefinition<&str, (u64, &str)> = TableDefinition::new("peer_checkpoints");
/// Per peer and size: the checkpoints of its log this node logged bundles
/// under and has not proven consistent with the head yet.
pub(crate) const PEER_PENDING: TableDefinition<(&str, u64), &str> = TableDefinition::new("peer_pending");
/// Fork evidence against peers' logs, by peer and the order found (JSON of `ForkEvidence`).
pub(crate) const FORKS: TableDefinition<(&str, u64), &str> = TableDefinition::new("forks");
/// Node facts: the newest directory serial seen.
pub(crate) const META: TableDefinition<&str, u64> = TableDefinition::new("meta");

/// Creates every table that is missing.
pub(crate) fn create(database: &redb::Database) -> Result<(), Error> {
    let tx = database.begin_write().map_err(db)?;
    tx.open_table(ENTRIES).map_err(db)?;
    tx.open_table(NODES).map_err(db)?;
    tx.open_table(CHECKPOINTS).map_err(db)?;
    tx.open_table(RECEIPTS).map_err(db)?;
    tx.open_table(INBOX).map_err(db)?;
    tx.open_table(INLINE_BLOBS).map_err(db)?;
    tx.open_table(GRANTS).map_err(db)?;
    tx.open_table(REVOCATIONS).map_err(db)?;
    tx.open_table(USAGE).map_err(db)?;
    tx.open_table(DATA_KEYS).map_err(db)?;
    tx.open_table(OUTBOX).map_err(db)?;
    tx.open_table(SENT).map_err(db)?;
    tx.open_table(ERASURES).map_err(db)?;
    tx.open_table(META).map_err(db)?;
    tx.open_table(SEND_IDS).map_err(db)?;
    tx.open_table(SEND_OF).map_err(db)?;
    tx.open_table(PEER_CHECKPOINTS).map_err(db)?;
    tx.open_table(PEER_PENDING).map_err(db)?;
    tx.open_table(FORKS).map_err(db)?;
    tx.open_table(crate::followed::FOLLOWED).map_err(db)?;
    tx.open_table(crate::followed::FOLLOWED_ENTRIES).map_err(db)?;
    tx.commit().map_err(db)
}

pub(crate) fn encode<T: Serialize>(value: &T) -> Vec<u8> {
    tally_wire::to_bytes(value)
}

pub(crate) fn decode<T: Serialize + DeserializeOwned>(bytes: &[u8], what: &'static str) -> Result<T, Error> {
    tally_wire::from_bytes(bytes, what).map_err(corrupt(what))
}

impl Store {
    /// The received packet `packet`.
    pub fn inbox(&self, packet: &PacketId) -> Result<Option<InboxRecord>, Error> {
        self.get(INBOX, packet.0, "inbox record")
    }

    /// The sealed payload of a received packet kept in the database (see
    /// [`Tx::put_inline_blob`](crate::Tx::put_inline_blob)); `None` if its
    /// payload is a blob file.
    pub fn inline_blob(&self, packet: &PacketId) -> Result<Option<Vec<u8>>, Error> {
        let tx = self.database().begin_read().map_err(db)?;
        let table = tx.open_table(INLINE_BLOBS).map_err(db)?;
        let value = table.get(packet.0).map_err(db)?;
        Ok(value.map(|v| v.value().to_vec()))
    }

    /// Calls `f` with every received packet in turn, reading one record at a
    /// time (the inbox is never held in memory whole); stops at `f`'s first error.
    pub fn for_each_inbox<E: From<Error>>(
        &self,
        mut f: impl FnMut(PacketId, InboxRecord) -> Result<(), E>,
    ) -> Result<(), E> {
        let tx = self.database().begin_read().map_err(db)?;
        let table = tx.open_table(INBOX).map_err(db)?;
        for row in table.iter().map_err(db)? {
            let (k, v) = row.map_err(db)?;
            f(PacketId(k.value()), decode(v.value(), "inbox record")?)?;
        }
        Ok(())
    }

    /// Every received packet.
    pub fn inbox_all(&self) -> Result<Vec<(PacketId, InboxRecord)>, Error> {
        self.all(INBOX, "inbox record", PacketId)
    }

    /// The grant chain whose leaf is `grant`.
    pub fn grant_chain(&self, grant: &GrantId) -> Result<Option<GrantChain>, Error> {
        self.get(GRANTS, grant.0, "grant chain")
    }

    /// Every grant chain kept, by leaf.
    pub fn grants(&self) -> Result<Vec<(GrantId, GrantChain)>, Error> {
        self.all(GRANTS, "grant chain", GrantId)
    }

    /// The unfinished send of `packet`, if it is one.
    pub fn outbox_entry(&self, packet: &PacketId) -> Result<Option<OutboxRecord>, Error> {
        self.get(OUTBOX, packet.0, "outbox record")
    }

    /// Every send not yet receipted.
    pub fn outbox(&self) -> Result<Vec<(PacketId, OutboxRecord)>, Error> {
        self.all(OUTBOX, "outbox record", PacketId)
    }

    /// Every revocation kept, and whether an erasure it obliges is still pending.
    pub fn revocations(&self) -> Result<Vec<(Signed<Revocation>, bool)>, Error> {
        let tx = self.database().begin_read().map_err(db)?;
        let table = tx.open_table(REVOCATIONS).map_err(db)?;
        let rows = table.iter().map_err(db)?;
        rows.map(|row| {
            let (k, v) = row.map_err(db)?;
            let r = Signed::decode(k.value()).map_err(corrupt("revocation"))?;
            Ok((r, v.value() == ERASURE_PENDING))
        })
        .collect()
    }

    /// The durable usage of every grant counted.
    pub fn usage(&self) -> Result<Vec<(GrantId, GrantUsage)>, Error> {
        self.all(USAGE, "usage", GrantId)
    }

    /// What this node kept of a receipted send.
    pub fn sent(&self, packet: &PacketId) -> Result<Option<SentRecord>, Error> {
        self.get(SENT, packet.0, "sent record")
    }

    /// The erasures recorded but not finished.
    pub fn pending_erasures(&self) -> Result<Vec<PendingErasure>, Error> {
        let tx = self.database().begin_read().map_err(db)?;
        let table = tx.open_table(ERASURES).map_err(db)?;
        let rows = table.iter().map_err(db)?;
        rows.map(|row| {
            let (k, v) = row.map_err(db)?;
            let (grant, epoch) = k.value();
            Ok(PendingErasure { grant: GrantId(grant), epoch, reason: v.value() })
        })
        .collect()
    }

    /// The packet that carries send id `send_id`, if one was sealed under it.
    pub fn send_packet(&self, send_id: &str) -> Result<Option<PacketId>, Error> {
        let tx = self.database().begin_read().map_err(db)?;
        let table = tx.open_table(SEND_IDS).map_err(db)?;
        Ok(table.get(send_id).map_err(db)?.map(|v| PacketId(v.value())))
    }

    /// The send id packet `packet` was sent under, if any.
    pub fn send_id_of(&self, packet: &PacketId) -> Result<Option<String>, Error> {
        let tx = self.database().begin_read().map_err(db)?;
        let table = tx.open_table(SEND_OF).map_err(db)?;
        Ok(table.get(packet.0).map_err(db)?.map(|v| v.value().to_owned()))
    }

    /// Every peer's head checkpoint held (peer, signed note).
    pub fn peer_checkpoints(&self) -> Result<Vec<(String, String)>, Error> {
        let tx = self.database().begin_read().map_err(db)?;
        let table = tx.open_table(PEER_CHECKPOINTS).map_err(db)?;
        let rows = table.iter().map_err(db)?;
        rows.map(|row| row.map(|(k, v)| (k.value().to_owned(), v.value().1.to_owned())).map_err(db)).collect()
    }

    /// Every peer's pending checkpoints (peer, signed note), smallest first per peer.
    pub fn peer_pending(&self) -> Result<Vec<(String, String)>, Error> {
        let tx = self.database().begin_read().map_err(db)?;
        let table = tx.open_table(PEER_PENDING).map_err(db)?;
        let rows = table.iter().map_err(db)?;
        rows.map(|row| row.map(|(k, v)| (k.value().0.to_owned(), v.value().to_owned())).map_err(db)).collect()
    }

    /// Every fork evidence kept (peer, evidence as JSON), in the order found per peer.
    pub fn forks(&self) -> Result<Vec<(String, String)>, Error> {
        let tx = self.database().begin_read().map_err(db)?;
        let table = tx.open_table(FORKS).map_err(db)?;
        let rows = table.iter().map_err(db)?;
        rows.map(|row| row.map(|(k, v)| (k.value().0.to_owned(), v.value().to_owned())).map_err(db)).collect()
    }

    /// A node fact (such as the newest directory serial seen).
    pub fn meta(&self, key: &str) -> Result<Option<u64>, Error> {
        let tx = self.database().begin_read().map_err(db)?;
        let table = tx.open_table(META).map_err(db)?;
        Ok(table.get(key).map_err(db)?.map(|v| v.value()))
    }

    fn get<const N: usize, V: Serialize + DeserializeOwned>(
        &self,
        table: TableDefinition<[u8; N], &[u8]>,
        key: [u8; N],
        what: &'static str,
    ) -> Result<Option<V>, Error> {
        let tx = self.database().begin_read().map_err(db)?;
        let table = tx.open_table(table).map_err(db)?;
        let value = table.get(key).map_err(db)?;
        value.map(|v| decode(v.value(), what)).transpose()
    }

    fn all<const N: usize, K, V: Serialize + DeserializeOwned>(
        &self,
        table: TableDefinition<[u8; N], &[u8]>,
        what: &'static str,
        key: impl Fn([u8; N]) -> K,
    ) -> Result<Vec<(K, V)>, Error> {
        let tx = self.database().begin_read().map_err(db)?;
        let table = tx.open_table(table).map_err(db)?;
        let rows = table.iter().map_err(db)?;
        rows.map(|row| {
            let (k, v) = row.map_err(db)?;
            Ok((key(k.value()), decode(v.value(), what)?))
        })
        .collect()
    }
}
