//! Data keys: per grant and epoch, wrapped by the node's storage key and
//! destroyed when retention ends (crypto-shredding). A wrapped key lives
//! in a slot of `data/keys.slots`, which destruction overwrites: no copy
//! of it stays in the database's free pages, so the storage key cannot
//! bring it back.
//!
//! A grant's data key has *epochs*: a key takes new packets for the first
//! eighth of its retention period (at least one second), and is destroyed
//! when the full period has passed since it was made. A packet is
//! therefore kept for between 7/8 of the retention period and the period
//! itself, never longer.

use std::collections::{BTreeSet, HashMap};
use std::path::Path;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use redb::{ReadableDatabase, ReadableTable};
use tally_envelope::at_rest::{AtRestKey, TAG_LEN, random_bytes};
use tally_wire::{GrantId, Timestamp};
use zeroize::Zeroizing;

use crate::error::db;
use crate::keyslots::{KeySlots, WRAPPED};
use crate::records::DataKeyRecord;
use crate::tables::{DATA_KEYS, ERASURES, decode, encode};
use crate::{Error, Store};

/// A data key, unwrapped; zeroized when the last user drops it.
pub struct DataKey {
    bytes: Zeroizing<[u8; 32]>,
    epoch: u64,
}

impl std::fmt::Debug for DataKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("DataKey").field("epoch", &self.epoch).finish_non_exhaustive()
    }
}

impl DataKey {
    /// Its epoch.
    pub fn epoch(&self) -> u64 {
        self.epoch
    }

    pub(crate) fn bytes(&self) -> &[u8; 32] {
        &self.bytes
    }

    #[cfg(test)]
    pub(crate) fn for_tests(bytes: [u8; 32]) -> Self {
        Self { bytes: Zeroizing::new(bytes), epoch: 0 }
    }
}

/// The data keys, with the storage key that wraps them.
pub struct Vault {
    storage: AtRestKey,
    store: Store,
    slots: KeySlots,
    /// Unwrapped keys in use, by grant and epoch.
    open: Mutex<HashMap<(GrantId, u64), Arc<DataKey>>>,
}

fn wrap_aad(grant: &GrantId, epoch: u64) -> Vec<u8> {
    let mut aad = grant.0.to_vec();
    aad.extend_from_slice(&epoch.to_be_bytes());
    aad
}

impl Vault {
    /// The vault of `store`, under `storage_key`, its wrapped keys in the slot file at `slots`.
    pub fn open(storage_key: &[u8; 32], store: Store, slots: &Path) -> Result<Self, Error> {
        let storage = AtRestKey::new(storage_key)?;
        let mut used = BTreeSet::new();
        {
            let tx = store.database().begin_read().map_err(db)?;
            let table = tx.open_table(DATA_KEYS).map_err(db)?;
            for row in table.iter().map_err(db)? {
                let (k, v) = row.map_err(db)?;
                let slot = decode::<DataKeyRecord>(v.value(), "data key")?.slot;
                if !used.insert(slot) {
                    let (grant, epoch) = k.value();
                    return Err(Error::Inconsistent(format!(
                        "two data keys name slot {slot} (one is grant {}/{epoch})",
                        GrantId(grant)
                    )));
                }
            }
        }
        let slots = KeySlots::open(slots, &used)?;
        Ok(Self { storage, store, slots, open: Mutex::new(HashMap::new()) })
    }

    fn open_keys(&self) -> std::sync::MutexGuard<'_, HashMap<(GrantId, u64), Arc<DataKey>>> {
        // Each operation on the map is complete, so a poisoned lock is still usable.
        self.open.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    /// Wraps a 32-byte secret of the node's own (a sent packet's commitment
    /// key) under the storage key, bound to `context`: random nonce ‖ ciphertext ‖ tag.
    pub fn wrap_secret(&self, context: &[u8], secret: &[u8; 32]) -> Result<Vec<u8>, Error> {
        let mut nonce = [0u8; 12];
        random_bytes(&mut nonce)?;
        let mut sealed = secret.to_vec();
        self.storage.seal_append_tag(nonce, context, &mut sealed)?;
        let mut out = nonce.to_vec();
        out.extend_from_slice(&sealed);
        Ok(out)
    }

    /// Opens what [`wrap_secret`](Self::wrap_secret) wrapped for `context`.
    pub fn unwrap_secret(&self, context: &[u8], wrapped: &[u8]) -> Result<Zeroizing<[u8; 32]>, Error> {
        let corrupt = || Error::Unwrap("a wrapped secret");
        if wrapped.len() != 12 + 32 + TAG_LEN {
            return Err(corrupt());
        }
        let nonce: [u8; 12] = wrapped[..12].try_into().map_err(|_| corrupt())?;
        let mut buf = Zeroizing::new(wrapped[12..].to_vec());
        let plain = self.storage.open(nonce, context, &mut buf).map_err(|_| corrupt())?;
        let plain: [u8; 32] = (&*plain).try_into().map_err(|_| corrupt())?;
        Ok(Zeroizing::new(plain))
    }

    /// The key new packets under `grant` are stored with at `now`: the
    /// newest epoch's while it takes packets, else a new one (its slot
    /// written and its record committed before it is returned).
    pub fn key_for(&self, grant: GrantId, retention_secs: u64, now: Timestamp) -> Result<Arc<DataKey>, Error> {
        let intake = Duration::from_secs((retention_secs / 8).max(1));
        let mut open = self.open_keys();
        let newest = {
            let tx = self.store.database().begin_read().map_err(db)?;
            let table = tx.open_table(DATA_KEYS).map_err(db)?;
            let mut range = table.range((grant.0, 0)..=(grant.0, u64::MAX)).map_err(db)?;
            match range.next_back() {
                Some(row) => {
                    let (k, v) = row.map_err(db)?;
                    Some((k.value().1, decode::<DataKeyRecord>(v.value(), "data key")?))
                }
                None => None,
            }
        };
        let next_epoch = match &newest {
            Some((epoch, record)) if record.created.checked_add(intake).is_some_and(|end| now < end) => {
                if let Some(key) = open.get(&(grant, *epoch)) {
                    return Ok(Arc::clone(key));
                }
                let key = Arc::new(self.unwrap_key(&grant, *epoch, record)?);
                open.insert((grant, *epoch), Arc::clone(&key));
                return Ok(key);
            }
            Some((epoch, _)) => epoch + 1,
            None => 0,
        };
        let mut bytes = Zeroizing::new([0u8; 32]);
        random_bytes(&mut *bytes)?;
        let mut nonce = [0u8; 12];
        random_bytes(&mut nonce)?;
        let mut sealed = bytes.to_vec();
        self.storage.seal_append_tag(nonce, &wrap_aad(&grant, next_epoch), &mut sealed)?;
        let mut wrapped = [0u8; WRAPPED];
        wrapped[..12].copy_from_slice(&nonce);
        wrapped[12..].copy_from_slice(&sealed);
        // The key's slot is durable before the record naming it; a crash
        // between the two leaves a slot that the next start zeroes.
        let slot = self.slots.write(&wrapped)?;
        let erase_at = now.checked_add(Duration::from_secs(retention_secs)).unwrap_or(now);
        let record = encode(&DataKeyRecord { slot, created: now, erase_at });
        let recorded = self.store.commit(&[], move |tx| tx.put_data_key(&grant, next_epoch, &record));
        if let Err(e) = recorded {
            self.slots.release(slot)?;
            return Err(e);
        }
        let key = Arc::new(DataKey { bytes, epoch: next_epoch });
        open.insert((grant, next_epoch), Arc::clone(&key));
        Ok(key)
    }

    /// The key of `grant`'s `epoch`, if it still exists.
    pub fn key(&self, grant: GrantId, epoch: u64) -> Result<Option<Arc<DataKey>>, Error> {
        let mut open = self.open_keys();
        if let Some(key) = open.get(&(grant, epoch)) {
            return Ok(Some(Arc::clone(key)));
        }
        let Some(record) = self.record(grant, epoch)? else { return Ok(None) };
        let key = Arc::new(self.unwrap_key(&grant, epoch, &record)?);
        open.insert((grant, epoch), Arc::clone(&key));
        Ok(Some(key))
    }

    fn record(&self, grant: GrantId, epoch: u64) -> Result<Option<DataKeyRecord>, Error> {
        let tx = self.store.database().begin_read().map_err(db)?;
        let table = tx.open_table(DATA_KEYS).map_err(db)?;
        let value = table.get((grant.0, epoch)).map_err(db)?;
        value.map(|v| decode(v.value(), "data key")).transpose()
    }

    fn unwrap_key(&self, grant: &GrantId, epoch: u64, record: &DataKeyRecord) -> Result<DataKey, Error> {
        let corrupt = || Error::Unwrap("a data key");
        let wrapped = self.slots.read(record.slot)?.ok_or(Error::KeyDestroyed { grant: *grant, epoch })?;
        let nonce: [u8; 12] = wrapped[..12].try_into().map_err(|_| corrupt())?;
        let mut sealed = Zeroizing::new(wrapped[12..].to_vec());
        let plain = self.storage.open(nonce, &wrap_aad(grant, epoch), &mut sealed).map_err(|_| corrupt())?;
        let plain: [u8; 32] = (&*plain).try_into().map_err(|_| corrupt())?;
        Ok(DataKey { bytes: Zeroizing::new(plain), epoch })
    }

    /// Whether the key of `grant`'s `epoch` exists and no erasure of it is pending.
    pub fn is_live(&self, grant: GrantId, epoch: u64) -> Result<bool, Error> {
        let tx = self.store.database().begin_read().map_err(db)?;
        let keys = tx.open_table(DATA_KEYS).map_err(db)?;
        let erasures = tx.open_table(ERASURES).map_err(db)?;
        Ok(keys.get((grant.0, epoch)).map_err(db)?.is_some() && erasures.get((grant.0, epoch)).map_err(db)?.is_none())
    }

    /// The keys due for destruction at `now`: (grant, epoch).
    pub fn due(&self, now: Timestamp) -> Result<Vec<(GrantId, u64)>, Error> {
        let tx = self.store.database().begin_read().map_err(db)?;
        let table = tx.open_table(DATA_KEYS).map_err(db)?;
        let mut due = Vec::new();
        for row in table.iter().map_err(db)? {
            let (k, v) = row.map_err(db)?;
            let record: DataKeyRecord = decode(v.value(), "data key")?;
            if record.erase_at <= now {
                let (grant, epoch) = k.value();
                due.push((GrantId(grant), epoch));
            }
        }
        Ok(due)
    }

    /// Every epoch of `grant`'s key.
    pub fn epochs(&self, grant: GrantId) -> Result<Vec<u64>, Error> {
        let tx = self.store.database().begin_read().map_err(db)?;
        let table = tx.open_table(DATA_KEYS).map_err(db)?;
        let range = table.range((grant.0, 0)..=(grant.0, u64::MAX)).map_err(db)?;
        range.map(|row| Ok(row.map_err(db)?.0.value().1)).collect()
    }

    /// Destroys the key of `grant`'s `epoch`: its slot is overwritten and
    /// fsynced, and the unwrapped copy forgotten (its bytes are zeroized when
    /// the last user drops it). The caller then removes the record
    /// ([`Tx::finish_erasure`](crate::Tx::finish_erasure)). Destroying a key
    /// already destroyed changes nothing.
    pub fn destroy(&self, grant: GrantId, epoch: u64) -> Result<(), Error> {
        self.open_keys().remove(&(grant, epoch));
        match self.record(grant, epoch)? {
            Some(record) => self.slots.destroy(record.slot),
            None => Ok(()),
        }
    }

    /// The key's bytes and its slot's contents, for tests that look for them on disk after erasure.
    #[doc(hidden)]
    pub fn exposed_key_bytes(&self, grant: GrantId, epoch: u64) -> Option<([u8; 32], Vec<u8>)> {
        let key = self.key(grant, epoch).ok()??;
        let record = self.record(grant, epoch).ok()??;
        Some((*key.bytes, self.slots.read(record.slot).ok()??.to_vec()))
    }
}
