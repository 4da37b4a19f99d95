//! A simulated clock for the protocol tests: `at(secs)` is the same time on
//! both clocks for the same seconds, the monotonic one counted from a fixed
//! instant of this process, the wall one from the Unix epoch.

use std::sync::OnceLock;
use std::time::{Duration, Instant};

use tally_protocol::Now;
use tally_wire::Timestamp;

static BASE: OnceLock<Instant> = OnceLock::new();

/// The time `secs` seconds after the epoch, on both clocks.
pub(crate) fn at(secs: u64) -> Now {
    let base = *BASE.get_or_init(Instant::now);
    Now { instant: base + Duration::from_secs(secs), wall: Timestamp::from_secs(secs) }
}
