//! Time and payload shape: [`Timestamp`] and [`ChunkSize`] (spec/wire.md).

use std::fmt;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use serde::{Deserialize, Deserializer, Serialize};

use crate::codec::{Detail, reject};
use crate::error::InvalidValue;
use crate::limits;

/// A point in time: seconds and nanoseconds since the Unix epoch, UTC.
///
/// On the wire: `secs` as a varint, then `nanos` as a varint below 10^9.
/// Timestamps order by time.
#[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Default, Serialize)]
pub struct Timestamp {
    secs: u64,
    nanos: u32,
}

impl Timestamp {
    /// The Unix epoch.
    pub const EPOCH: Self = Self { secs: 0, nanos: 0 };

    /// A timestamp from seconds and nanoseconds; `nanos` must be below 10^9.
    pub fn new(secs: u64, nanos: u32) -> Result<Self, InvalidValue> {
        if nanos >= 1_000_000_000 {
            return Err(InvalidValue::new("Timestamp", "nanos must be below 1000000000"));
        }
        Ok(Self { secs, nanos })
    }

    /// A timestamp at a whole second.
    pub const fn from_secs(secs: u64) -> Self {
        Self { secs, nanos: 0 }
    }

    /// The time as a [`SystemTime`]; times before the epoch become the epoch.
    pub fn from_system_time(t: SystemTime) -> Self {
        let d = t.duration_since(UNIX_EPOCH).unwrap_or_default();
        Self { secs: d.as_secs(), nanos: d.subsec_nanos() }
    }

    /// Whole seconds since the epoch.
    pub const fn secs(self) -> u64 {
        self.secs
    }

    /// Nanoseconds past the second.
    pub const fn nanos(self) -> u32 {
        self.nanos
    }

    /// The time since the epoch.
    pub const fn since_epoch(self) -> Duration {
        Duration::new(self.secs, self.nanos)
    }

    /// `self + d`, or `None` on overflow.
    pub fn checked_add(self, d: Duration) -> Option<Self> {
        let total = self.since_epoch().checked_add(d)?;
        Some(Self { secs: total.as_secs(), nanos: total.subsec_nanos() })
    }
}

impl fmt::Debug for Timestamp {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Timestamp({}.{:09})", self.secs, self.nanos)
    }
}

impl<'de> Deserialize<'de> for Timestamp {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        #[derive(Deserialize)]
        #[serde(rename = "Timestamp")]
        struct Raw {
            secs: u64,
            nanos: u32,
        }
        let raw = Raw::deserialize(d)?;
        Self::new(raw.secs, raw.nanos).map_err(|e| reject(Detail::Invalid(e)))
    }
}

/// The plaintext size of every chunk of a payload but the last, from
/// [`MIN_CHUNK_SIZE`](limits::MIN_CHUNK_SIZE) to
/// [`MAX_CHUNK_SIZE`](limits::MAX_CHUNK_SIZE) bytes. On the wire: a varint.
#[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize)]
#[serde(transparent)]
pub struct ChunkSize(u32);

impl ChunkSize {
    /// The default, 64 KiB.
    pub const DEFAULT: Self = Self(limits::DEFAULT_CHUNK_SIZE);

    /// A chunk size within the limits.
    pub fn new(size: u32) -> Result<Self, InvalidValue> {
        if !(limits::MIN_CHUNK_SIZE..=limits::MAX_CHUNK_SIZE).contains(&size) {
            return Err(InvalidValue::new("ChunkSize", "must be from 1024 to 1048576 bytes"));
        }
        Ok(Self(size))
    }

    /// The size in bytes.
    pub const fn get(self) -> u32 {
        self.0
    }
}

impl Default for ChunkSize {
    fn default() -> Self {
        Self::DEFAULT
    }
}

impl fmt::Debug for ChunkSize {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "ChunkSize({})", self.0)
    }
}

impl<'de> Deserialize<'de> for ChunkSize {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        Self::new(u32::deserialize(d)?).map_err(|e| reject(Detail::Invalid(e)))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn timestamp_boundaries() {
        assert!(Timestamp::new(0, 999_999_999).is_ok());
        assert!(Timestamp::new(0, 1_000_000_000).is_err());
        assert!(Timestamp::from_secs(5) < Timestamp::new(5, 1).expect("valid"));
        assert!(Timestamp::new(4, 999_999_999).expect("valid") < Timestamp::from_secs(5));
        assert_eq!(Timestamp::from_secs(u64::MAX).checked_add(Duration::from_secs(1)), None);
        let bad = postcard::to_allocvec(&(1u64, 1_000_000_000u32)).expect("serializes");
        assert!(postcard::from_bytes::<Timestamp>(&bad).is_err());
    }

    #[test]
    fn chunk_size_boundaries() {
        assert!(ChunkSize::new(1023).is_err());
        assert!(ChunkSize::new(1024).is_ok());
        assert!(ChunkSize::new(1 << 20).is_ok());
        assert!(ChunkSize::new((1 << 20) + 1).is_err());
        assert!(ChunkSize::new(0).is_err());
    }
}
