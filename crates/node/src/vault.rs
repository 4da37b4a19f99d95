//! Payloads at rest: encrypted under per-grant data keys, which are
//! wrapped by the node's storage key and destroyed when retention ends
//! (crypto-shredding). A wrapped key lives in a slot of `data/keys.slots`
//! ([`KeySlots`]), which destruction overwrites: no copy of it stays in
//! the database's free pages, so the storage key cannot bring it back.
//!
//! A grant's data key has *epochs*: a key takes new packets for the first
//! eighth of its retention period (at least one second), and is destroyed
//! when the full period has passed since it was made. A packet is
//! therefore kept for between 7/8 of the retention period and the period
//! itself, never longer.
//!
//! A blob is a sequence of records `u32 length (LE) ‖ AES-256-GCM
//! ciphertext and tag`, one per chunk written, under the packet's own key
//! `HKDF-SHA256(salt = packet id ‖ grant id, ikm = data key, info =
//! "tally-node/v1/blob")` (a data key serves many packets; each gets its
//! own key, so the counter nonces never repeat under one key), with nonce
//! `flag ‖ 0³ ‖ counter (u64 BE)` where `flag` is 1 on the last record
//! (empty plaintext), and associated data `packet id ‖ grant id`. A blob
//! cut short, reordered or moved to another packet does not open. The
//! packet's content-commitment key is sealed under the same packet key
//! with nonce `2 ‖ 0¹¹`, so it is destroyed with the data key.

use std::collections::HashMap;
use std::io::{Read, Write};
use std::sync::Mutex;
use std::time::Duration;

use redb::{ReadableDatabase, ReadableTable};
use ring::aead::{AES_256_GCM, Aad, LessSafeKey, Nonce, UnboundKey};
use ring::rand::{SecureRandom, SystemRandom};
use tally_wire::{GrantId, PacketId, Timestamp};
use zeroize::Zeroizing;

use crate::NodeError;
use crate::keyslots::{KeySlots, WRAPPED};
use crate::store::{DATA_KEYS, DataKeyRecord, Store, decode, encode};

const TAG: usize = 16;
/// The largest record a blob may hold (a wire chunk is at most 1 MiB).
const MAX_RECORD: usize = (1 << 20) + TAG;

/// A data key, unwrapped.
pub(crate) struct DataKey {
    bytes: Zeroizing<[u8; 32]>,
    /// Its epoch.
    pub(crate) epoch: u64,
}

impl DataKey {
    /// The key of one packet's blob: HKDF-SHA256 over the data key, salted with the packet and grant ids.
    fn packet_key(&self, packet: &PacketId, grant: &GrantId) -> Result<LessSafeKey, NodeError> {
        let salt = ring::hkdf::Salt::new(ring::hkdf::HKDF_SHA256, &blob_aad(packet, grant));
        let prk = salt.extract(&*self.bytes);
        let okm = prk
            .expand(&[b"tally-node/v1/blob"], &AES_256_GCM)
            .map_err(|_| NodeError::Database("cannot derive a packet key".into()))?;
        Ok(LessSafeKey::new(UnboundKey::from(okm)))
    }
}

/// The nonce of a packet's sealed commitment key, apart from every record nonce.
fn commitment_key_nonce() -> Nonce {
    let mut n = [0u8; 12];
    n[0] = 2;
    Nonce::assume_unique_for_key(n)
}

/// Seals a packet's content-commitment key under its packet key.
pub(crate) fn seal_commitment_key(
    key: &DataKey,
    packet: &PacketId,
    grant: &GrantId,
    commitment_key: &[u8; 32],
) -> Result<Vec<u8>, NodeError> {
    let mut sealed = commitment_key.to_vec();
    key.packet_key(packet, grant)?
        .seal_in_place_append_tag(commitment_key_nonce(), Aad::from(blob_aad(packet, grant)), &mut sealed)
        .map_err(|_| NodeError::Database("cannot seal a commitment key".into()))?;
    Ok(sealed)
}

/// Opens what [`seal_commitment_key`] sealed.
pub(crate) fn open_commitment_key(
    key: &DataKey,
    packet: &PacketId,
    grant: &GrantId,
    sealed: &[u8],
) -> Result<Zeroizing<[u8; 32]>, NodeError> {
    let mut buf = Zeroizing::new(sealed.to_vec());
    let plain = key
        .packet_key(packet, grant)?
        .open_in_place(commitment_key_nonce(), Aad::from(blob_aad(packet, grant)), &mut buf)
        .map_err(|_| NodeError::Database(format!("packet {packet}: its sealed commitment key does not open")))?;
    let mut out = Zeroizing::new([0u8; 32]);
    if plain.len() != 32 {
        return Err(NodeError::Database(format!("packet {packet}: its sealed commitment key has the wrong length")));
    }
    out.copy_from_slice(plain);
    Ok(out)
}

/// The data keys, with the storage key that wraps them.
pub(crate) struct Vault {
    storage: LessSafeKey,
    store: Store,
    slots: KeySlots,
    /// Unwrapped keys in use, by grant and epoch.
    open: Mutex<HashMap<(GrantId, u64), std::sync::Arc<DataKey>>>,
}

fn wrap_aad(grant: &GrantId, epoch: u64) -> Vec<u8> {
    let mut aad = grant.0.to_vec();
    aad.extend_from_slice(&epoch.to_be_bytes());
    aad
}

impl Vault {
    /// The vault of `store`, its wrapped keys in the slot file at `slots`.
    pub(crate) fn new(storage_key: &[u8; 32], store: Store, slots: &std::path::Path) -> Result<Self, NodeError> {
        let storage = LessSafeKey::new(
            UnboundKey::new(&AES_256_GCM, storage_key).map_err(|_| NodeError::Database("bad storage key".into()))?,
        );
        let used = {
            let tx = store.db.begin_read().map_err(NodeError::db)?;
            let table = tx.open_table(DATA_KEYS).map_err(NodeError::db)?;
            let mut used = std::collections::BTreeSet::new();
            for row in table.iter().map_err(NodeError::db)? {
                let (k, v) = row.map_err(NodeError::db)?;
                let slot = decode::<DataKeyRecord>(v.value(), "data key")?.slot;
                if !used.insert(slot) {
                    let (grant, epoch) = k.value();
                    return Err(NodeError::Database(format!(
                        "two data keys name slot {slot} (one is grant {}/{epoch}): the key database is corrupt",
                        GrantId(grant)
                    )));
                }
            }
            used
        };
        let slots = KeySlots::open(slots, &used)?;
        Ok(Self { storage, store, slots, open: Mutex::new(HashMap::new()) })
    }

    /// Wraps a 32-byte secret of the node's own (a sent packet's commitment
    /// key) under the storage key, bound to `context`: random nonce ‖ ciphertext ‖ tag.
    pub(crate) fn wrap_secret(&self, context: &[u8], secret: &[u8; 32]) -> Result<Vec<u8>, NodeError> {
        let mut nonce = [0u8; 12];
        SystemRandom::new().fill(&mut nonce).map_err(|_| NodeError::Database("random generator failed".into()))?;
        let mut sealed = secret.to_vec();
        self.storage
            .seal_in_place_append_tag(Nonce::assume_unique_for_key(nonce), Aad::from(context), &mut sealed)
            .map_err(|_| NodeError::Database("cannot wrap a secret".into()))?;
        let mut out = nonce.to_vec();
        out.extend_from_slice(&sealed);
        Ok(out)
    }

    /// Opens what [`wrap_secret`](Self::wrap_secret) wrapped for `context`.
    pub(crate) fn unwrap_secret(&self, context: &[u8], wrapped: &[u8]) -> Result<Zeroizing<[u8; 32]>, NodeError> {
        let corrupt = || NodeError::Database("a wrapped secret does not open under the storage key".into());
        if wrapped.len() != 12 + 32 + TAG {
            return Err(corrupt());
        }
        let nonce: [u8; 12] = wrapped[..12].try_into().map_err(|_| corrupt())?;
        let mut buf = Zeroizing::new(wrapped[12..].to_vec());
        let plain = self
            .storage
            .open_in_place(Nonce::assume_unique_for_key(nonce), Aad::from(context), &mut buf)
            .map_err(|_| corrupt())?;
        let mut out = Zeroizing::new([0u8; 32]);
        out.copy_from_slice(plain);
        Ok(out)
    }

    /// The key new packets under `grant` are stored with at `now`: the
    /// newest epoch's while it takes packets, else a new one.
    pub(crate) fn key_for(
        &self,
        grant: GrantId,
        retention_secs: u64,
        now: Timestamp,
    ) -> Result<std::sync::Arc<DataKey>, NodeError> {
        let intake = Duration::from_secs((retention_secs / 8).max(1));
        let mut open = self.open.lock().map_err(|_| NodeError::Database("vault lock poisoned".into()))?;
        let tx = self.store.db.begin_write().map_err(NodeError::db)?;
        let newest = {
            let table = tx.open_table(DATA_KEYS).map_err(NodeError::db)?;
            let mut range = table.range((grant.0, 0)..=(grant.0, u64::MAX)).map_err(NodeError::db)?;
            match range.next_back() {
                Some(row) => {
                    let (k, v) = row.map_err(NodeError::db)?;
                    Some((k.value().1, decode::<DataKeyRecord>(v.value(), "data key")?))
                }
                None => None,
            }
        };
        let next_epoch = match &newest {
            Some((epoch, record)) if record.created.checked_add(intake).is_some_and(|end| now < end) => {
                if let Some(key) = open.get(&(grant, *epoch)) {
                    return Ok(std::sync::Arc::clone(key));
                }
                let key = std::sync::Arc::new(self.unwrap_key(&grant, *epoch, record)?);
                open.insert((grant, *epoch), std::sync::Arc::clone(&key));
                return Ok(key);
            }
            Some((epoch, _)) => epoch + 1,
            None => 0,
        };
        let mut bytes = Zeroizing::new([0u8; 32]);
        SystemRandom::new().fill(&mut *bytes).map_err(|_| NodeError::Database("random generator failed".into()))?;
        let mut nonce = [0u8; 12];
        SystemRandom::new().fill(&mut nonce).map_err(|_| NodeError::Database("random generator failed".into()))?;
        let mut sealed = bytes.to_vec();
        self.storage
            .seal_in_place_append_tag(
                Nonce::assume_unique_for_key(nonce),
                Aad::from(wrap_aad(&grant, next_epoch)),
                &mut sealed,
            )
            .map_err(|_| NodeError::Database("cannot wrap a data key".into()))?;
        let mut wrapped = [0u8; WRAPPED];
        wrapped[..12].copy_from_slice(&nonce);
        wrapped[12..].copy_from_slice(&sealed);
        // The key's slot is durable before the record naming it; a crash
        // between the two leaves a slot that the next start zeroes.
        let slot = self.slots.write(&wrapped)?;
        let erase_at = now.checked_add(Duration::from_secs(retention_secs)).unwrap_or(now);
        let record = DataKeyRecord { slot, created: now, erase_at };
        let recorded = tx
            .open_table(DATA_KEYS)
            .map_err(NodeError::db)
            .and_then(|mut t| {
                t.insert((grant.0, next_epoch), encode(&record).as_slice()).map(drop).map_err(NodeError::db)
            })
            .and_then(|()| tx.commit().map_err(NodeError::db));
        if let Err(e) = recorded {
            self.slots.release(slot)?;
            return Err(e);
        }
        let key = std::sync::Arc::new(DataKey { bytes, epoch: next_epoch });
        open.insert((grant, next_epoch), std::sync::Arc::clone(&key));
        Ok(key)
    }

    /// The key of `grant`'s `epoch`, if it still exists.
    pub(crate) fn key(&self, grant: GrantId, epoch: u64) -> Result<Option<std::sync::Arc<DataKey>>, NodeError> {
        let mut open = self.open.lock().map_err(|_| NodeError::Database("vault lock poisoned".into()))?;
        if let Some(key) = open.get(&(grant, epoch)) {
            return Ok(Some(std::sync::Arc::clone(key)));
        }
        let tx = self.store.db.begin_read().map_err(NodeError::db)?;
        let table = tx.open_table(DATA_KEYS).map_err(NodeError::db)?;
        let Some(v) = table.get((grant.0, epoch)).map_err(NodeError::db)? else { return Ok(None) };
        let record: DataKeyRecord = decode(v.value(), "data key")?;
        let key = std::sync::Arc::new(self.unwrap_key(&grant, epoch, &record)?);
        open.insert((grant, epoch), std::sync::Arc::clone(&key));
        Ok(Some(key))
    }

    fn unwrap_key(&self, grant: &GrantId, epoch: u64, record: &DataKeyRecord) -> Result<DataKey, NodeError> {
        let corrupt = || NodeError::Database(format!("data key {grant}/{epoch} does not unwrap under the storage key"));
        let wrapped = self.slots.read(record.slot)?.ok_or_else(|| {
            NodeError::Refused(format!("data key {grant}/{epoch} was destroyed (its slot is zeroed)"))
        })?;
        let nonce: [u8; 12] = wrapped[..12].try_into().map_err(|_| corrupt())?;
        let mut sealed = Zeroizing::new(wrapped[12..].to_vec());
        let plain = self
            .storage
            .open_in_place(Nonce::assume_unique_for_key(nonce), Aad::from(wrap_aad(grant, epoch)), &mut sealed)
            .map_err(|_| corrupt())?;
        let mut bytes = Zeroizing::new([0u8; 32]);
        bytes.copy_from_slice(plain);
        Ok(DataKey { bytes, epoch })
    }

    /// Whether the key of `grant`'s `epoch` exists and no erasure of it is pending.
    pub(crate) fn is_live(&self, grant: GrantId, epoch: u64) -> Result<bool, NodeError> {
        let tx = self.store.db.begin_read().map_err(NodeError::db)?;
        let keys = tx.open_table(DATA_KEYS).map_err(NodeError::db)?;
        let erasures = tx.open_table(crate::store::ERASURES).map_err(NodeError::db)?;
        Ok(keys.get((grant.0, epoch)).map_err(NodeError::db)?.is_some()
            && erasures.get((grant.0, epoch)).map_err(NodeError::db)?.is_none())
    }

    /// The keys due for destruction at `now`: (grant, epoch).
    pub(crate) fn due(&self, now: Timestamp) -> Result<Vec<(GrantId, u64)>, NodeError> {
        let tx = self.store.db.begin_read().map_err(NodeError::db)?;
        let table = tx.open_table(DATA_KEYS).map_err(NodeError::db)?;
        let mut due = Vec::new();
        for row in table.iter().map_err(NodeError::db)? {
            let (k, v) = row.map_err(NodeError::db)?;
            let record: DataKeyRecord = decode(v.value(), "data key")?;
            if record.erase_at <= now {
                let (grant, epoch) = k.value();
                due.push((GrantId(grant), epoch));
            }
        }
        Ok(due)
    }

    /// Every epoch of `grant`'s key.
    pub(crate) fn epochs(&self, grant: GrantId) -> Result<Vec<u64>, NodeError> {
        let tx = self.store.db.begin_read().map_err(NodeError::db)?;
        let table = tx.open_table(DATA_KEYS).map_err(NodeError::db)?;
        let range = table.range((grant.0, 0)..=(grant.0, u64::MAX)).map_err(NodeError::db)?;
        range.map(|row| Ok(row.map_err(NodeError::db)?.0.value().1)).collect()
    }

    /// Destroys the key of `grant`'s `epoch`: its slot is overwritten and
    /// fsynced, and the unwrapped copy forgotten (its bytes are zeroized when
    /// the last user drops it). The caller removes the record after this.
    /// Destroying a key already destroyed changes nothing.
    pub(crate) fn destroy(&self, grant: GrantId, epoch: u64) -> Result<(), NodeError> {
        if let Ok(mut open) = self.open.lock() {
            open.remove(&(grant, epoch));
        }
        let record = {
            let tx = self.store.db.begin_read().map_err(NodeError::db)?;
            let table = tx.open_table(DATA_KEYS).map_err(NodeError::db)?;
            let value = table.get((grant.0, epoch)).map_err(NodeError::db)?;
            value.map(|v| decode::<DataKeyRecord>(v.value(), "data key")).transpose()?
        };
        match record {
            Some(record) => self.slots.destroy(record.slot),
            None => Ok(()),
        }
    }

    /// The key's bytes, for the test that looks for them on disk after erasure.
    #[cfg(test)]
    pub(crate) fn exposed_key_bytes(&self, grant: GrantId, epoch: u64) -> Option<([u8; 32], [u8; WRAPPED])> {
        let key = self.key(grant, epoch).ok()??;
        let tx = self.store.db.begin_read().ok()?;
        let table = tx.open_table(DATA_KEYS).ok()?;
        let record: DataKeyRecord = decode(table.get((grant.0, epoch)).ok()??.value(), "data key").ok()?;
        Some((*key.bytes, self.slots.read(record.slot).ok()??))
    }
}

fn nonce(counter: u64, last: bool) -> Nonce {
    let mut n = [0u8; 12];
    n[0] = u8::from(last);
    n[4..].copy_from_slice(&counter.to_be_bytes());
    Nonce::assume_unique_for_key(n)
}

fn blob_aad(packet: &PacketId, grant: &GrantId) -> Vec<u8> {
    let mut aad = packet.0.to_vec();
    aad.extend_from_slice(&grant.0);
    aad
}

/// Encrypts a payload into blob records as it is written.
pub(crate) struct BlobSealer {
    key: LessSafeKey,
    aad: Vec<u8>,
    counter: u64,
    buffer: Vec<u8>,
}

impl BlobSealer {
    pub(crate) fn new(key: &DataKey, packet: &PacketId, grant: &GrantId) -> Result<Self, NodeError> {
        Ok(Self { key: key.packet_key(packet, grant)?, aad: blob_aad(packet, grant), counter: 0, buffer: Vec::new() })
    }

    /// The record for the next piece of plaintext (borrowed until the next call).
    pub(crate) fn record(&mut self, plaintext: &[u8], last: bool) -> Result<&[u8], NodeError> {
        self.buffer.clear();
        self.buffer.extend_from_slice(&((plaintext.len() + TAG) as u32).to_le_bytes());
        self.buffer.extend_from_slice(plaintext);
        let tag = self
            .key
            .seal_in_place_separate_tag(nonce(self.counter, last), Aad::from(&self.aad), &mut self.buffer[4..])
            .map_err(|_| NodeError::Database("blob encryption failed".into()))?;
        self.buffer.extend_from_slice(tag.as_ref());
        self.counter += 1;
        Ok(&self.buffer)
    }
}

/// Decrypts a blob to `out`; fails if it was cut short or altered.
pub(crate) fn open_blob(
    key: &DataKey,
    packet: &PacketId,
    grant: &GrantId,
    mut blob: impl Read,
    mut out: impl Write,
) -> Result<u64, NodeError> {
    let aead = key.packet_key(packet, grant)?;
    let aad = blob_aad(packet, grant);
    let corrupt = |what: &str| NodeError::Database(format!("stored packet {packet}: {what}"));
    let mut counter = 0u64;
    let mut total = 0u64;
    let mut record = Vec::new();
    loop {
        let mut len = [0u8; 4];
        if let Err(e) = blob.read_exact(&mut len) {
            return Err(corrupt(&format!("the blob ends before its last record ({e})")));
        }
        let len = u32::from_le_bytes(len) as usize;
        if !(TAG..=MAX_RECORD).contains(&len) {
            return Err(corrupt("a record has an impossible length"));
        }
        record.resize(len, 0);
        blob.read_exact(&mut record).map_err(|_| corrupt("the blob is cut inside a record"))?;
        let last = len == TAG;
        let plain = aead
            .open_in_place(nonce(counter, last), Aad::from(&aad), &mut record)
            .map_err(|_| corrupt("a record does not decrypt (altered, reordered, or its key was destroyed)"))?;
        if last {
            let mut rest = [0u8; 1];
            if blob.read(&mut rest).map_err(|e| corrupt(&e.to_string()))? != 0 {
                return Err(corrupt("data after the last record"));
            }
            return Ok(total);
        }
        out.write_all(plain).map_err(|e| corrupt(&format!("cannot write the plaintext: {e}")))?;
        total += plain.len() as u64;
        counter += 1;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn key() -> DataKey {
        DataKey { bytes: Zeroizing::new([9; 32]), epoch: 0 }
    }

    fn seal(parts: &[&[u8]]) -> Vec<u8> {
        let mut s = BlobSealer::new(&key(), &PacketId([1; 16]), &GrantId([2; 32])).expect("key");
        let mut blob = Vec::new();
        for p in parts {
            blob.extend_from_slice(s.record(p, false).expect("seals"));
        }
        blob.extend_from_slice(s.record(&[], true).expect("seals"));
        blob
    }

    #[test]
    fn a_blob_opens_to_what_was_written() {
        let blob = seal(&[b"hello ", b"world"]);
        let mut out = Vec::new();
        let n = open_blob(&key(), &PacketId([1; 16]), &GrantId([2; 32]), &blob[..], &mut out).expect("opens");
        assert_eq!((n, out.as_slice()), (11, &b"hello world"[..]));
    }

    #[test]
    fn two_packets_under_one_data_key_never_share_a_keystream() {
        // Each blob starts its nonces at 0; the per-packet key keeps them apart.
        let plain = [0u8; 64];
        let record = |packet: u8| {
            let mut s = BlobSealer::new(&key(), &PacketId([packet; 16]), &GrantId([2; 32])).expect("key");
            s.record(&plain, false).expect("seals").to_vec()
        };
        assert_ne!(record(1)[4..68], record(3)[4..68], "the same plaintext encrypts differently per packet");
    }

    #[test]
    fn a_sealed_commitment_key_opens_only_for_its_packet() {
        let sealed = seal_commitment_key(&key(), &PacketId([1; 16]), &GrantId([2; 32]), &[7; 32]).expect("seals");
        let opened = open_commitment_key(&key(), &PacketId([1; 16]), &GrantId([2; 32]), &sealed).expect("opens");
        assert_eq!(*opened, [7; 32]);
        assert!(open_commitment_key(&key(), &PacketId([3; 16]), &GrantId([2; 32]), &sealed).is_err());
    }

    #[test]
    fn a_cut_altered_or_moved_blob_does_not_open() {
        let blob = seal(&[b"hello ", b"world"]);
        let open = |b: &[u8], packet: [u8; 16]| open_blob(&key(), &PacketId(packet), &GrantId([2; 32]), b, Vec::new());
        // Cut before the last record: the end is missing.
        let first_two = 2 * 4 + 6 + 5 + 2 * TAG;
        assert!(open(&blob[..first_two], [1; 16]).is_err());
        let mut altered = blob.clone();
        altered[5] ^= 1;
        assert!(open(&altered, [1; 16]).is_err());
        assert!(open(&blob, [3; 16]).is_err(), "bound to its packet id");
        let mut extended = blob.clone();
        extended.push(0);
        assert!(open(&extended, [1; 16]).is_err());
        assert!(open(&blob, [1; 16]).is_ok());
    }
}
