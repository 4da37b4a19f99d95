//! Payload blobs and sealed commitment keys, under per-packet keys.
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

use std::io::{Read, Write};

use tally_envelope::at_rest::{AtRestKey, TAG_LEN};
use tally_wire::{GrantId, PacketId};
use zeroize::Zeroizing;

use crate::{DataKey, Error};

/// The largest record a blob may hold (a wire chunk is at most 1 MiB).
const MAX_RECORD: usize = (1 << 20) + TAG_LEN;

fn blob_aad(packet: &PacketId, grant: &GrantId) -> Vec<u8> {
    let mut aad = packet.0.to_vec();
    aad.extend_from_slice(&grant.0);
    aad
}

/// The key of one packet's blob.
fn packet_key(key: &DataKey, packet: &PacketId, grant: &GrantId) -> Result<AtRestKey, Error> {
    Ok(AtRestKey::derive(key.bytes(), &blob_aad(packet, grant), b"tally-node/v1/blob")?)
}

fn nonce(counter: u64, last: bool) -> [u8; 12] {
    let mut n = [0u8; 12];
    n[0] = u8::from(last);
    n[4..].copy_from_slice(&counter.to_be_bytes());
    n
}

/// The nonce of a packet's sealed commitment key, apart from every record nonce.
const COMMITMENT_KEY_NONCE: [u8; 12] = [2, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0];

/// Seals a packet's content-commitment key under its packet key.
pub fn seal_commitment_key(
    key: &DataKey,
    packet: &PacketId,
    grant: &GrantId,
    commitment_key: &[u8; 32],
) -> Result<Vec<u8>, Error> {
    let mut sealed = commitment_key.to_vec();
    packet_key(key, packet, grant)?.seal_append_tag(COMMITMENT_KEY_NONCE, &blob_aad(packet, grant), &mut sealed)?;
    Ok(sealed)
}

/// Opens what [`seal_commitment_key`] sealed.
pub fn open_commitment_key(
    key: &DataKey,
    packet: &PacketId,
    grant: &GrantId,
    sealed: &[u8],
) -> Result<Zeroizing<[u8; 32]>, Error> {
    let mut buf = Zeroizing::new(sealed.to_vec());
    let plain = packet_key(key, packet, grant)?
        .open(COMMITMENT_KEY_NONCE, &blob_aad(packet, grant), &mut buf)
        .map_err(|_| Error::Unwrap("a packet's sealed commitment key"))?;
    let plain: [u8; 32] = (&*plain).try_into().map_err(|_| Error::Unwrap("a packet's sealed commitment key"))?;
    Ok(Zeroizing::new(plain))
}

/// Encrypts a payload into blob records as it is written.
pub struct BlobSealer {
    key: AtRestKey,
    aad: Vec<u8>,
    counter: u64,
    buffer: Vec<u8>,
}

impl BlobSealer {
    /// A sealer for `packet`'s blob under `grant`'s data key `key`.
    pub fn new(key: &DataKey, packet: &PacketId, grant: &GrantId) -> Result<Self, Error> {
        Ok(Self { key: packet_key(key, packet, grant)?, aad: blob_aad(packet, grant), counter: 0, buffer: Vec::new() })
    }

    /// The record for the next piece of plaintext (borrowed until the next
    /// call); `last` for the closing record, whose plaintext is empty.
    pub fn record(&mut self, plaintext: &[u8], last: bool) -> Result<&[u8], Error> {
        let len = u32::try_from(plaintext.len() + TAG_LEN)
            .ok()
            .filter(|&l| l as usize <= MAX_RECORD)
            .ok_or_else(|| Error::Inconsistent(format!("a blob record of {} bytes", plaintext.len())))?;
        self.buffer.clear();
        self.buffer.extend_from_slice(&len.to_le_bytes());
        self.buffer.extend_from_slice(plaintext);
        let tag = self.key.seal_separate_tag(nonce(self.counter, last), &self.aad, &mut self.buffer[4..])?;
        self.buffer.extend_from_slice(&tag);
        self.counter += 1;
        Ok(&self.buffer)
    }
}

/// Decrypts a blob to `out`; fails if it was cut short or altered. Returns the plaintext length.
pub fn open_blob(
    key: &DataKey,
    packet: &PacketId,
    grant: &GrantId,
    mut blob: impl Read,
    mut out: impl Write,
) -> Result<u64, Error> {
    let aead = packet_key(key, packet, grant)?;
    let aad = blob_aad(packet, grant);
    let corrupt = |what: String| Error::Blob { packet: *packet, what };
    let mut counter = 0u64;
    let mut total = 0u64;
    let mut record = Vec::new();
    loop {
        let mut len = [0u8; 4];
        if let Err(e) = blob.read_exact(&mut len) {
            return Err(corrupt(format!("the blob ends before its last record ({e})")));
        }
        let len = u32::from_le_bytes(len) as usize;
        if !(TAG_LEN..=MAX_RECORD).contains(&len) {
            return Err(corrupt("a record has an impossible length".into()));
        }
        record.resize(len, 0);
        blob.read_exact(&mut record).map_err(|_| corrupt("the blob is cut inside a record".into()))?;
        let last = len == TAG_LEN;
        let plain = aead
            .open(nonce(counter, last), &aad, &mut record)
            .map_err(|_| corrupt("a record does not decrypt (altered, reordered, or its key was destroyed)".into()))?;
        if last {
            let mut rest = [0u8; 1];
            if blob.read(&mut rest).map_err(|e| corrupt(e.to_string()))? != 0 {
                return Err(corrupt("data after the last record".into()));
            }
            return Ok(total);
        }
        out.write_all(plain).map_err(|e| corrupt(format!("cannot write the plaintext: {e}")))?;
        total += plain.len() as u64;
        counter += 1;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn key() -> DataKey {
        DataKey::for_tests([9; 32])
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
        let first_two = 2 * 4 + 6 + 5 + 2 * TAG_LEN;
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
