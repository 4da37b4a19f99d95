//! The node's state in redb, beside its log (one database file,
//! `data/tally.redb`): received packets, grants, revocations, usage, data
//! keys and unfinished sends. Records are postcard-encoded.

use std::sync::Arc;

use redb::{Database, ReadableDatabase, ReadableTable, TableDefinition};
use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};
use tally_wire::{
    AgencyId, ContentType, DataCategory, GrantChain, GrantId, Offer, PacketId, Purpose, Receipt, Signed, Timestamp,
};

use crate::NodeError;

/// Received packets, by packet id.
pub(crate) const INBOX: TableDefinition<[u8; 16], &[u8]> = TableDefinition::new("inbox");
/// Grant chains this node holds (issued or received), by leaf grant id.
pub(crate) const GRANTS: TableDefinition<[u8; 32], &[u8]> = TableDefinition::new("grants");
/// Revocations, by their encoding.
pub(crate) const REVOCATIONS: TableDefinition<&[u8], u8> = TableDefinition::new("revocations");
/// Usage per grant.
pub(crate) const USAGE: TableDefinition<[u8; 32], &[u8]> = TableDefinition::new("usage");
/// Data keys, by grant and epoch.
pub(crate) const DATA_KEYS: TableDefinition<([u8; 32], u64), &[u8]> = TableDefinition::new("data_keys");
/// Sends not yet receipted, by packet id.
pub(crate) const OUTBOX: TableDefinition<[u8; 16], &[u8]> = TableDefinition::new("outbox");
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
}

/// A data key: wrapped under the storage key, destroyed when it is due.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub(crate) struct DataKeyRecord {
    /// Nonce (12 bytes) then AES-256-GCM ciphertext and tag of the 32-byte key.
    pub(crate) wrapped: Vec<u8>,
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

    pub(crate) fn revocations(&self) -> Result<Vec<Signed<tally_wire::Revocation>>, NodeError> {
        let tx = self.db.begin_read().map_err(NodeError::db)?;
        let table = tx.open_table(REVOCATIONS).map_err(NodeError::db)?;
        let rows = table.iter().map_err(NodeError::db)?;
        rows.map(|row| {
            let (k, _) = row.map_err(NodeError::db)?;
            Signed::decode(k.value()).map_err(|e| NodeError::Database(format!("a stored revocation is corrupt: {e}")))
        })
        .collect()
    }

    pub(crate) fn usage(&self) -> Result<Vec<(GrantId, tally_grant::GrantUsage)>, NodeError> {
        self.all(USAGE, "usage", GrantId)
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
