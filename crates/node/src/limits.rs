//! What one peer may cost this node (`[limits]` in `tally.toml`): signed
//! refusals per minute, payload files open at once, bytes stored, grant
//! chains kept. A legitimate member that turns hostile can use its share,
//! not the node (spec/protocol.md, "Refusals"; README, "Limits").

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use tally_wire::AgencyId;
use tokio::sync::{OwnedSemaphorePermit, Semaphore};

use crate::config::Limits;

/// A token bucket: `per_minute` tokens a minute, at most `per_minute` saved up.
#[derive(Debug)]
struct Bucket {
    tokens: f64,
    at: Instant,
}

/// The per-peer bounds of a running node, and what each peer uses of them.
pub(crate) struct PeerLimits {
    limits: Limits,
    refusals: Mutex<HashMap<AgencyId, Bucket>>,
    open_payloads: Arc<Semaphore>,
    open_per_peer: Mutex<HashMap<AgencyId, Arc<Semaphore>>>,
    /// Payload bytes stored (not erased) and being received, per sender.
    storage: Mutex<HashMap<AgencyId, Storage>>,
    /// Grant chains kept, by the issuer of their leaf.
    grants: Mutex<HashMap<AgencyId, usize>>,
    /// Pull-source commands running (each holds up to 64 MiB of output).
    commands: Arc<Semaphore>,
}

/// Most pull-source commands run at once.
const MAX_COMMANDS: usize = 4;

#[derive(Clone, Copy, Debug, Default)]
struct Storage {
    stored: u64,
    receiving: u64,
}

/// A payload file's place in the open-file budgets, until dropped.
#[derive(Debug)]
pub(crate) struct OpenPayload {
    _total: OwnedSemaphorePermit,
    _peer: OwnedSemaphorePermit,
}

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
}

impl PeerLimits {
    /// The limits of `limits`, with what the node already stores and keeps.
    pub(crate) fn new(
        limits: &Limits,
        stored: impl IntoIterator<Item = (AgencyId, u64)>,
        grants: impl IntoIterator<Item = AgencyId>,
    ) -> Self {
        let mut storage: HashMap<AgencyId, Storage> = HashMap::new();
        for (sender, bytes) in stored {
            storage.entry(sender).or_default().stored += bytes;
        }
        let mut by_issuer: HashMap<AgencyId, usize> = HashMap::new();
        for issuer in grants {
            *by_issuer.entry(issuer).or_default() += 1;
        }
        // Payload files take at most half the descriptors the process may
        // open beyond a reserve of 128 (the database, the local API,
        // sockets); one peer at most a quarter of them.
        let mut limits = limits.clone();
        let nofile = rustix::process::getrlimit(rustix::process::Resource::Nofile).current;
        if let Some(n) = nofile.and_then(|n| usize::try_from(n).ok()) {
            limits.max_open_payloads = limits.max_open_payloads.min((n.saturating_sub(128) / 2).max(4));
        }
        limits.max_open_payloads_per_peer =
            limits.max_open_payloads_per_peer.min((limits.max_open_payloads / 4).max(1));
        Self {
            open_payloads: Arc::new(Semaphore::new(limits.max_open_payloads.max(1))),
            commands: Arc::new(Semaphore::new(MAX_COMMANDS)),
            limits,
            refusals: Mutex::new(HashMap::new()),
            open_per_peer: Mutex::new(HashMap::new()),
            storage: Mutex::new(storage),
            grants: Mutex::new(by_issuer),
        }
    }

    /// The configured limits.
    pub(crate) fn limits(&self) -> &Limits {
        &self.limits
    }

    /// Whether `peer` may get one more signed refusal now (and counts it if so).
    /// A peer past its rate gets its offers closed without a signature.
    pub(crate) fn may_sign_refusal(&self, peer: &AgencyId) -> bool {
        let per_minute = f64::from(self.limits.refusals_per_minute.max(1));
        let now = Instant::now();
        let mut buckets = lock(&self.refusals);
        let bucket = buckets.entry(peer.clone()).or_insert(Bucket { tokens: per_minute, at: now });
        let refill = now.duration_since(bucket.at).as_secs_f64() * per_minute / 60.0;
        bucket.tokens = (bucket.tokens + refill).min(per_minute);
        bucket.at = now;
        if bucket.tokens >= 1.0 {
            bucket.tokens -= 1.0;
            true
        } else {
            false
        }
    }

    /// A place for one more open payload file of `peer`, waiting at most `wait`.
    pub(crate) async fn open_payload(&self, peer: &AgencyId, wait: Duration) -> Option<OpenPayload> {
        let per_peer = {
            let mut map = lock(&self.open_per_peer);
            let max = self.limits.max_open_payloads_per_peer.max(1);
            Arc::clone(map.entry(peer.clone()).or_insert_with(|| Arc::new(Semaphore::new(max))))
        };
        tokio::time::timeout(wait, async {
            let peer = per_peer.acquire_owned().await.ok()?;
            let total = Arc::clone(&self.open_payloads).acquire_owned().await.ok()?;
            Some(OpenPayload { _total: total, _peer: peer })
        })
        .await
        .ok()
        .flatten()
    }

    /// A place for one more pull-source command, waiting for one.
    pub(crate) async fn command(&self) -> Option<OwnedSemaphorePermit> {
        Arc::clone(&self.commands).acquire_owned().await.ok()
    }

    /// Reserves room for `bytes` more from `sender`; `false` if its storage limit would be passed.
    pub(crate) fn reserve_storage(&self, sender: &AgencyId, bytes: u64) -> bool {
        let mut storage = lock(&self.storage);
        let s = storage.entry(sender.clone()).or_default();
        let after = s.stored.saturating_add(s.receiving).saturating_add(bytes);
        if after > self.limits.max_storage_per_sender {
            return false;
        }
        s.receiving += bytes;
        true
    }

    /// A reservation of `bytes` from `sender` ends: stored (`kept`) or not.
    pub(crate) fn end_storage(&self, sender: &AgencyId, bytes: u64, kept: bool) {
        let mut storage = lock(&self.storage);
        let s = storage.entry(sender.clone()).or_default();
        s.receiving = s.receiving.saturating_sub(bytes);
        if kept {
            s.stored = s.stored.saturating_add(bytes);
        }
    }

    /// `bytes` from `sender` were erased.
    pub(crate) fn erased(&self, sender: &AgencyId, bytes: u64) {
        let mut storage = lock(&self.storage);
        let s = storage.entry(sender.clone()).or_default();
        s.stored = s.stored.saturating_sub(bytes);
    }

    /// Whether one more grant chain whose leaf `issuer` issued may be kept.
    pub(crate) fn may_keep_grant(&self, issuer: &AgencyId) -> bool {
        lock(&self.grants).get(issuer).copied().unwrap_or(0) < self.limits.max_grants_per_issuer
    }

    /// One more grant chain whose leaf `issuer` issued is kept.
    pub(crate) fn kept_grant(&self, issuer: &AgencyId) {
        *lock(&self.grants).entry(issuer.clone()).or_default() += 1;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn limits() -> Limits {
        Limits {
            refusals_per_minute: 3,
            max_storage_per_sender: 100,
            max_grants_per_issuer: 2,
            max_open_payloads: 8,
            max_open_payloads_per_peer: 1,
            ..Limits::default()
        }
    }

    fn agency(s: &str) -> AgencyId {
        AgencyId::new(s).expect("valid")
    }

    #[test]
    fn refusals_beyond_the_rate_are_not_signed() {
        let l = PeerLimits::new(&limits(), [], []);
        let (a, b) = (agency("a"), agency("b"));
        assert_eq!((0..5).filter(|_| l.may_sign_refusal(&a)).count(), 3, "a burst of the minute's rate");
        assert!(l.may_sign_refusal(&b), "another peer has its own bucket");
    }

    #[test]
    fn storage_per_sender_counts_what_is_stored_and_being_received() {
        let l = PeerLimits::new(&limits(), [(agency("a"), 40)], []);
        let a = agency("a");
        assert!(l.reserve_storage(&a, 50));
        assert!(!l.reserve_storage(&a, 11), "40 stored + 50 receiving + 11 > 100");
        l.end_storage(&a, 50, false);
        assert!(l.reserve_storage(&a, 60), "a failed transfer gives its room back");
        l.end_storage(&a, 60, true);
        assert!(!l.reserve_storage(&a, 1), "100 stored");
        l.erased(&a, 30);
        assert!(l.reserve_storage(&a, 30), "erasure frees room");
    }

    #[test]
    fn grants_per_issuer_are_bounded() {
        let l = PeerLimits::new(&limits(), [], [agency("a")]);
        assert!(l.may_keep_grant(&agency("a")));
        l.kept_grant(&agency("a"));
        assert!(!l.may_keep_grant(&agency("a")), "two kept");
        assert!(l.may_keep_grant(&agency("b")));
    }

    #[tokio::test]
    async fn open_payload_files_are_bounded_per_peer_and_in_total() {
        let l = PeerLimits::new(&limits(), [], []);
        let wait = Duration::from_millis(50);
        let first = l.open_payload(&agency("a"), wait).await.expect("room");
        assert!(l.open_payload(&agency("a"), wait).await.is_none(), "one per peer");
        let mut others = Vec::new();
        for peer in ["b", "c", "d", "e", "f", "g", "h"] {
            others.push(l.open_payload(&agency(peer), wait).await.expect("room for another peer"));
        }
        assert!(l.open_payload(&agency("i"), wait).await.is_none(), "eight in total");
        drop((first, others));
        assert!(l.open_payload(&agency("a"), wait).await.is_some());
    }
}
