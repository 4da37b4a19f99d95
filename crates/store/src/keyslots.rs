//! Wrapped data keys, each in a fixed slot of one file that is overwritten
//! in place when the key is destroyed (`data/keys.slots`).
//!
//! The database only records which slot holds a key: a database keeps old
//! pages around after a delete (redb's copy-on-write pages stay in the
//! file until reused), so a wrapped key stored there would outlive its
//! destruction. A slot here is 64 bytes, `"TKS1" ‖ wrapped key` (nonce,
//! ciphertext, tag: 60 bytes), and destroying the key writes 64 zero
//! bytes over it and fsyncs the file before the database forgets the slot.
//! A slot written but never recorded (a crash between the two) is zeroed
//! at the next start.

use std::collections::BTreeSet;
use std::fs::{File, OpenOptions};
use std::os::unix::fs::FileExt;
use std::path::{Path, PathBuf};
use std::sync::Mutex;

use crate::Error;

/// Bytes of one slot.
const SLOT: u64 = 64;
/// What marks a slot in use.
const MAGIC: &[u8; 4] = b"TKS1";
/// Bytes of a wrapped key: nonce, ciphertext and tag.
pub(crate) const WRAPPED: usize = 60;

/// The slot file and which of its slots are free.
pub(crate) struct KeySlots {
    file: File,
    path: PathBuf,
    state: Mutex<Slots>,
}

struct Slots {
    free: BTreeSet<u64>,
    end: u64,
}

impl KeySlots {
    /// Opens (or creates) the slot file; every slot not in `used` is zeroed and free.
    pub(crate) fn open(path: &Path, used: &BTreeSet<u64>) -> Result<Self, Error> {
        let mut options = OpenOptions::new();
        options.read(true).write(true).create(true).truncate(false);
        std::os::unix::fs::OpenOptionsExt::mode(&mut options, 0o600);
        let file = options.open(path).map_err(file_error(path))?;
        let len = file.metadata().map_err(file_error(path))?.len();
        let end = len / SLOT;
        let mut free = BTreeSet::new();
        let mut slot = [0u8; SLOT as usize];
        let mut zeroed = false;
        for i in 0..end {
            file.read_exact_at(&mut slot, i * SLOT).map_err(file_error(path))?;
            if used.contains(&i) {
                continue;
            }
            if slot != [0; SLOT as usize] {
                // Written by a key_for that crashed before its record was committed.
                file.write_all_at(&[0; SLOT as usize], i * SLOT).map_err(file_error(path))?;
                zeroed = true;
            }
            free.insert(i);
        }
        if zeroed {
            file.sync_data().map_err(file_error(path))?;
        }
        if let Some(missing) = used.iter().find(|&&i| i >= end) {
            return Err(Error::Inconsistent(format!(
                "{}: the database names key slot {missing}, but the file has {end} slots",
                path.display()
            )));
        }
        Ok(Self { file, path: path.to_owned(), state: Mutex::new(Slots { free, end }) })
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Slots> {
        self.state.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    /// Writes a wrapped key into a free slot and makes it durable; returns the slot.
    pub(crate) fn write(&self, wrapped: &[u8; WRAPPED]) -> Result<u64, Error> {
        let slot = {
            let mut state = self.lock();
            match state.free.pop_first() {
                Some(slot) => slot,
                None => {
                    state.end += 1;
                    state.end - 1
                }
            }
        };
        let mut bytes = [0u8; SLOT as usize];
        bytes[..4].copy_from_slice(MAGIC);
        bytes[4..].copy_from_slice(wrapped);
        let written = self.file.write_all_at(&bytes, slot * SLOT).and_then(|()| self.file.sync_data());
        if let Err(e) = written {
            self.lock().free.insert(slot);
            return Err(Error::File { path: self.path.clone(), source: e });
        }
        Ok(slot)
    }

    /// The wrapped key in `slot`; `None` if the slot was destroyed.
    pub(crate) fn read(&self, slot: u64) -> Result<Option<[u8; WRAPPED]>, Error> {
        let mut bytes = [0u8; SLOT as usize];
        self.file
            .read_exact_at(&mut bytes, slot * SLOT)
            .map_err(|source| Error::File { path: self.path.clone(), source })?;
        if &bytes[..4] != MAGIC {
            return Ok(None);
        }
        let mut wrapped = [0u8; WRAPPED];
        wrapped.copy_from_slice(&bytes[4..]);
        Ok(Some(wrapped))
    }

    /// Overwrites `slot` with zeros and makes that durable: the key it held
    /// is gone. The slot is not used again before the next start: until the
    /// record naming it is removed, a crash would destroy it once more.
    pub(crate) fn destroy(&self, slot: u64) -> Result<(), Error> {
        self.file
            .write_all_at(&[0; SLOT as usize], slot * SLOT)
            .and_then(|()| self.file.sync_data())
            .map_err(|source| Error::File { path: self.path.clone(), source })
    }

    /// Gives back a slot whose key was never recorded (its record failed to commit).
    pub(crate) fn release(&self, slot: u64) -> Result<(), Error> {
        self.destroy(slot)?;
        self.lock().free.insert(slot);
        Ok(())
    }
}

fn file_error(path: &Path) -> impl FnOnce(std::io::Error) -> Error + '_ {
    move |source| Error::File { path: path.to_owned(), source }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_destroyed_slot_leaves_no_byte_of_its_key_in_the_file() {
        let dir = tempfile::tempdir().expect("temp dir");
        let path = dir.path().join("keys.slots");
        let slots = KeySlots::open(&path, &BTreeSet::new()).expect("opens");
        let (a, b) = ([0xa5; WRAPPED], [0x5a; WRAPPED]);
        let (sa, sb) = (slots.write(&a).expect("writes"), slots.write(&b).expect("writes"));
        assert_eq!(slots.read(sa).expect("reads"), Some(a));
        slots.destroy(sa).expect("destroys");
        assert_eq!(slots.read(sa).expect("reads"), None);
        let file = std::fs::read(&path).expect("reads the file");
        assert!(!file.windows(8).any(|w| w == [0xa5; 8]), "the destroyed key's bytes are gone");
        assert!(file.windows(8).any(|w| w == [0x5a; 8]), "the other key is still there");
        assert_ne!(slots.write(&a).expect("writes"), sa, "a destroyed slot is not used again before a restart");
        let _ = sb;
    }

    #[test]
    fn a_slot_the_database_never_recorded_is_zeroed_at_open() {
        let dir = tempfile::tempdir().expect("temp dir");
        let path = dir.path().join("keys.slots");
        let slots = KeySlots::open(&path, &BTreeSet::new()).expect("opens");
        let kept = slots.write(&[1; WRAPPED]).expect("writes");
        let orphan = slots.write(&[2; WRAPPED]).expect("writes");
        drop(slots);
        let again = KeySlots::open(&path, &BTreeSet::from([kept])).expect("reopens");
        assert_eq!(again.read(kept).expect("reads"), Some([1; WRAPPED]));
        assert_eq!(again.read(orphan).expect("reads"), None, "an unrecorded key does not survive a restart");
        assert!(KeySlots::open(&path, &BTreeSet::from([99])).is_err(), "a record naming a missing slot");
    }
}
