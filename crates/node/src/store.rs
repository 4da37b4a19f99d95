//! The node's state in redb, beside its log (one database file,
//! `data/tally.redb`): received packets, grants, revocations, usage, data
//! keys and unfinished sends. Records are postcard-encoded.

use std::sync::Arc;

use redb::{Database, ReadableDatabase, ReadableTable, TableDefinition};
use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};
use tally_grant::GrantUsage;
use tally_wire::{
    AgencyId, ContentType, DataCategory, Evidence, GrantChain, GrantId, Offer, PacketId, Purpose, Receipt, Signed,
    Timestamp,
};

use crate::NodeError;

/// Received packets, by packet id.
pub(crate) const INBOX: TableDefinition<[u8; 16], &[u8]> = TableDefinition::new("inbox");
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
/// Node facts: the newest directory serial seen.
pub(crate) const META: TableDefinition<&str, u64> = TableDefinition::new("meta");

/// A packet this node received and stored.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct InboxRecord {
    /// The sender.
    pub sender: AgencyId,
    /// The grant it came under.
    pub grant: GrantId,
    /// Its purpose.
    pub purpose: Purpose,
    /// Its data category.
    pub category: DataCategory,
    /// Its media type.
    pub content_type: ContentType,
    /// Plaintext length.
    pub size: u64,
    /// The data key epoch its blob is encrypted under.
    pub epoch: u64,
    /// The receipt this node signed.
    pub receipt: Signed<Receipt>,
    /// When its data was destroyed, if it was.
    pub erased_at: Option<Timestamp>,
    /// The sender's signed header, encapsulated key and trailer: its proof of origin.
    pub evidence: Evidence,
    /// The content-commitment key, sealed under the packet's data key (destroyed with it).
    pub commitment_key: Vec<u8>,
}

/// A data key: wrapped under the storage key in a slot of the key slot
/// file (`keyslots`), destroyed when it is due.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub(crate) struct DataKeyRecord {
    /// The slot holding the wrapped key (nonce, AES-256-GCM ciphertext and tag).
    pub(crate) slot: u64,
    /// When it was made.
    pub(crate) created: Timestamp,
    /// When it must be destroyed.
    pub(crate) erase_at: Timestamp,
}

/// A send not yet receipted.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct OutboxRecord {
    /// The recipient.
    pub to: AgencyId,
    /// The offer, for a resend.
    pub offer: Offer,
    /// The file the payload came from, if it was a file.
    pub source: Option<String>,
    /// The content-commitment key, wrapped under the storage key.
    pub commitment_key: Vec<u8>,
}

/// A receipted send: what the sender keeps to reveal the content later
/// (the receipt is in the log).
#[derive(Clone, Debug, Serialize, Deserialize)]
pub(crate) struct SentRecord {
    /// The recipient.
    pub(crate) to: AgencyId,
    /// The header, encapsulated key and trailer as sent.
    pub(crate) evidence: Evidence,
    /// The content-commitment key, wrapped under the storage key.
    pub(crate) commitment_key: Vec<u8>,
}

pub(crate) fn encode<T: Serialize>(value: &T) -> Vec<u8> {
    tally_wire::to_bytes(value)
}

pub(crate) fn decode<T: Serialize + DeserializeOwned>(bytes: &[u8], what: &'static str) -> Result<T, NodeError> {
    tally_wire::from_bytes(bytes, what).map_err(|e| NodeError::Database(format!("a stored {what} is corrupt: {e}")))
}

/// The node's tables.
#[derive(Clone)]
pub(crate) struct Store {
    pub(crate) db: Arc<Database>,
}

impl Store {
    /// Creates the tables if they are missing.
    pub(crate) fn new(db: Arc<Database>) -> Result<Self, NodeError> {
        let tx = db.begin_write().map_err(NodeError::db)?;
        tx.open_table(INBOX).map_err(NodeError::db)?;
        tx.open_table(GRANTS).map_err(NodeError::db)?;
        tx.open_table(REVOCATIONS).map_err(NodeError::db)?;
        tx.open_table(USAGE).map_err(NodeError::db)?;
        tx.open_table(DATA_KEYS).map_err(NodeError::db)?;
        tx.open_table(OUTBOX).map_err(NodeError::db)?;
        tx.open_table(SENT).map_err(NodeError::db)?;
        tx.open_table(ERASURES).map_err(NodeError::db)?;
        tx.open_table(META).map_err(NodeError::db)?;
        tx.commit().map_err(NodeError::db)?;
        Ok(Self { db })
    }

    pub(crate) fn inbox(&self, packet: &PacketId) -> Result<Option<InboxRecord>, NodeError> {
        let tx = self.db.begin_read().map_err(NodeError::db)?;
        let table = tx.open_table(INBOX).map_err(NodeError::db)?;
        let value = table.get(packet.0).map_err(NodeError::db)?;
        value.map(|v| decode(v.value(), "inbox record")).transpose()
    }

    pub(crate) fn inbox_all(&self) -> Result<Vec<(PacketId, InboxRecord)>, NodeError> {
        self.all(INBOX, "inbox record", PacketId)
    }

    pub(crate) fn grant_chain(&self, grant: &GrantId) -> Result<Option<GrantChain>, NodeError> {
        let tx = self.db.begin_read().map_err(NodeError::db)?;
        let table = tx.open_table(GRANTS).map_err(NodeError::db)?;
        let value = table.get(grant.0).map_err(NodeError::db)?;
        value.map(|v| decode(v.value(), "grant chain")).transpose()
    }

    pub(crate) fn grants(&self) -> Result<Vec<(GrantId, GrantChain)>, NodeError> {
        self.all(GRANTS, "grant chain", GrantId)
    }

    pub(crate) fn outbox(&self) -> Result<Vec<(PacketId, OutboxRecord)>, NodeError> {
        self.all(OUTBOX, "outbox record", PacketId)
    }

    /// Every revocation kept, and whether an erasure it obliges is still pending.
    pub(crate) fn revocations(&self) -> Result<Vec<(Signed<tally_wire::Revocation>, bool)>, NodeError> {
        let tx = self.db.begin_read().map_err(NodeError::db)?;
        let table = tx.open_table(REVOCATIONS).map_err(NodeError::db)?;
        let rows = table.iter().map_err(NodeError::db)?;
        rows.map(|row| {
            let (k, v) = row.map_err(NodeError::db)?;
            let r = Signed::decode(k.value())
                .map_err(|e| NodeError::Database(format!("a stored revocation is corrupt: {e}")))?;
            Ok((r, v.value() == ERASURE_PENDING))
        })
        .collect()
    }

    pub(crate) fn usage(&self) -> Result<Vec<(GrantId, GrantUsage)>, NodeError> {
        self.all(USAGE, "usage", GrantId)
    }

    pub(crate) fn sent(&self, packet: &PacketId) -> Result<Option<SentRecord>, NodeError> {
        let tx = self.db.begin_read().map_err(NodeError::db)?;
        let table = tx.open_table(SENT).map_err(NodeError::db)?;
        let value = table.get(packet.0).map_err(NodeError::db)?;
        value.map(|v| decode(v.value(), "sent record")).transpose()
    }

    /// The erasures recorded but not finished: (grant, epoch, reason).
    pub(crate) fn pending_erasures(&self) -> Result<Vec<(GrantId, u64, u16)>, NodeError> {
        let tx = self.db.begin_read().map_err(NodeError::db)?;
        let table = tx.open_table(ERASURES).map_err(NodeError::db)?;
        let rows = table.iter().map_err(NodeError::db)?;
        rows.map(|row| {
            let (k, v) = row.map_err(NodeError::db)?;
            let (grant, epoch) = k.value();
            Ok((GrantId(grant), epoch, v.value()))
        })
        .collect()
    }

    pub(crate) fn meta(&self, key: &str) -> Result<Option<u64>, NodeError> {
        let tx = self.db.begin_read().map_err(NodeError::db)?;
        let table = tx.open_table(META).map_err(NodeError::db)?;
        Ok(table.get(key).map_err(NodeError::db)?.map(|v| v.value()))
    }

    pub(crate) fn set_meta(&self, key: &str, value: u64) -> Result<(), NodeError> {
        let tx = self.db.begin_write().map_err(NodeError::db)?;
        tx.open_table(META).map_err(NodeError::db)?.insert(key, value).map_err(NodeError::db)?;
        tx.commit().map_err(NodeError::db)
    }

    /// Writes in one transaction.
    pub(crate) fn write(
        &self,
        f: impl FnOnce(&redb::WriteTransaction) -> Result<(), redb::Error>,
    ) -> Result<(), NodeError> {
        let tx = self.db.begin_write().map_err(NodeError::db)?;
        f(&tx).map_err(NodeError::db)?;
        tx.commit().map_err(NodeError::db)
    }

    /// Counts one packet of `bytes` at `at` against each grant of `chain`
    /// (with its rate period) inside `tx`: read, counted, written, so that
    /// commits grouped in one transaction add up.
    pub(crate) fn count_usage(
        tx: &redb::WriteTransaction,
        chain: &[(GrantId, Option<u32>)],
        bytes: u64,
        at: Timestamp,
    ) -> Result<(), redb::Error> {
        let mut table = tx.open_table(USAGE)?;
        for (grant, period) in chain {
            let mut usage: GrantUsage = match table.get(grant.0)? {
                Some(v) => tally_wire::from_bytes(v.value(), "usage")
                    .map_err(|e| redb::Error::Corrupted(format!("the usage of grant {grant}: {e}")))?,
                None => GrantUsage::default(),
            };
            usage.count(bytes, at, *period);
            table.insert(grant.0, encode(&usage).as_slice())?;
        }
        Ok(())
    }

    fn all<const N: usize, K, V: Serialize + DeserializeOwned>(
        &self,
        table: TableDefinition<[u8; N], &[u8]>,
        what: &'static str,
        key: impl Fn([u8; N]) -> K,
    ) -> Result<Vec<(K, V)>, NodeError> {
        let tx = self.db.begin_read().map_err(NodeError::db)?;
        let table = tx.open_table(table).map_err(NodeError::db)?;
        let rows = table.iter().map_err(NodeError::db)?;
        rows.map(|row| {
            let (k, v) = row.map_err(NodeError::db)?;
            Ok((key(k.value()), decode(v.value(), what)?))
        })
        .collect()
    }
}
