//! A federation of test nodes on 127.0.0.1: real keys, a real directory,
//! real QUIC endpoints. The host keeps packets and receipts in memory
//! (this file is a test host, not a node: the node's durable host is
//! `tally-node`); its policy is a switch the tests set.

#![allow(dead_code, unreachable_pub, missing_docs)]

use std::collections::HashMap;
use std::io;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::SystemTime;

use tally_envelope::{CommitmentKey, IdentityKey, IdentityVerifier, KemKey, PacketSpec, sha256};
use tally_transport::{
    Endpoint, Host, Inbox, LocalAgency, OfferContext, OfferDecision, Outgoing, Refusal, Roster, TlsKey, TransportConfig,
};
use tally_wire::{
    AgencyId, AgencyRecord, BoundedVec, ChunkSize, ContentType, DataCategory, Digest, Directory, Endpoint as Addr,
    Evidence, GrantChain, GrantId, PacketId, PullRequest, Purpose, ReasonCode, Receipt, ReceiptBundle, Roles, Signed,
    SuiteId, Text, Timestamp,
};

pub fn agency(s: &str) -> AgencyId {
    AgencyId::new(s).expect("valid")
}

/// What the test host decides.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Policy {
    Allow,
    Deny(ReasonCode),
}

#[derive(Default)]
pub struct State {
    /// Committed packets: plaintext and receipt bundle.
    pub stored: HashMap<PacketId, (Vec<u8>, ReceiptBundle)>,
    /// Receipt bundles this node issued or received, in order.
    pub log: Vec<ReceiptBundle>,
    pub decisions: usize,
    pub discards: usize,
    /// Plaintext bytes written to inboxes, committed or not.
    pub written: u64,
    /// Payloads served to pull requests.
    pub pull_answer: Vec<Vec<u8>>,
}

pub struct TestHost {
    pub agency: AgencyId,
    pub identity: Arc<IdentityKey>,
    pub kem: Arc<KemKey>,
    pub policy: Mutex<Policy>,
    pub state: Mutex<State>,
    pub directory: Mutex<Option<Arc<Roster>>>,
    /// Number of `Inbox::write` calls that hang forever from now on (a stalled consumer), if set.
    pub stall_writes: std::sync::atomic::AtomicBool,
    /// Microseconds each `Inbox::write` takes (a disk slower than the network), if not zero.
    pub write_delay_us: std::sync::atomic::AtomicU64,
    /// Number of `log_receipt` calls to make fail (a crash before logging).
    pub fail_logs: AtomicUsize,
    /// The receipts this node issues, in a log in memory, batch-signed.
    pub receipts: tally_receipt::Log<tally_receipt::MemoryStore>,
}

/// The receipt in a bundle.
pub fn receipt_of(bundle: &ReceiptBundle) -> &Receipt {
    tally_receipt::bundled_receipt(&bundle.receipt)
}

impl TestHost {
    pub fn state(&self) -> std::sync::MutexGuard<'_, State> {
        self.state.lock().expect("not poisoned")
    }

    /// Logs `receipt` batch-signed, alone in its batch, and returns its bundle.
    fn issue(&self, receipt: Receipt) -> io::Result<ReceiptBundle> {
        let mut bundles = self.receipts.issue_receipts_batched(vec![receipt]).map_err(io::Error::other)?;
        bundles.pop().ok_or_else(|| io::Error::other("no bundle"))
    }

    fn sender_key(&self, peer: &AgencyId) -> Option<IdentityVerifier> {
        let roster = self.directory.lock().expect("not poisoned").clone()?;
        IdentityVerifier::new(&roster.record(peer)?.identity_key).ok()
    }
}

pub struct MemoryInbox {
    host: Arc<TestHost>,
    data: Vec<u8>,
}

impl Inbox for MemoryInbox {
    async fn write(&mut self, plaintext: &[u8]) -> io::Result<()> {
        if self.host.stall_writes.load(Ordering::SeqCst) {
            std::future::pending::<()>().await;
        }
        let delay = self.host.write_delay_us.load(Ordering::SeqCst);
        if delay > 0 {
            tokio::time::sleep(std::time::Duration::from_micros(delay)).await;
        }
        self.data.extend_from_slice(plaintext);
        self.host.state().written += plaintext.len() as u64;
        Ok(())
    }

    async fn commit(self, receipt: Receipt, _: Evidence, _: CommitmentKey) -> io::Result<ReceiptBundle> {
        let bundle = self.host.issue(receipt)?;
        let mut state = self.host.state();
        state.stored.insert(receipt_of(&bundle).packet_id, (self.data, bundle.clone()));
        state.log.push(bundle.clone());
        Ok(bundle)
    }

    async fn discard(self) {
        self.host.state().discards += 1;
    }
}

/// The host trait on an `Arc` so that inboxes can reach it.
pub struct Shared(pub Arc<TestHost>);

impl Host for Shared {
    type Inbox = MemoryInbox;

    async fn decide_offer(&self, offer: OfferContext<'_>) -> OfferDecision<MemoryInbox> {
        let host = &self.0;
        let known = host.state().stored.get(&offer.header.packet_id).map(|(_, r)| r.clone());
        host.state().decisions += 1;
        if let Some(receipt) = known {
            return OfferDecision::AlreadyReceipted(receipt);
        }
        if let Policy::Deny(reason) = *host.policy.lock().expect("not poisoned") {
            return OfferDecision::Deny(reason);
        }
        let Some(sender_key) = host.sender_key(offer.peer) else {
            return OfferDecision::Deny(ReasonCode::UNKNOWN_ISSUER_KEY);
        };
        OfferDecision::Accept {
            kem_key: Arc::clone(&host.kem),
            sender_key,
            inbox: MemoryInbox { host: Arc::clone(host), data: Vec::new() },
        }
    }

    async fn sign_rejection(&self, receipt: Receipt) -> io::Result<Option<ReceiptBundle>> {
        let bundle = self.0.issue(receipt)?;
        self.0.state().log.push(bundle.clone());
        Ok(Some(bundle))
    }

    async fn log_receipt(&self, receipt: &ReceiptBundle, _: Option<(Evidence, CommitmentKey)>) -> io::Result<()> {
        if self.0.fail_logs.load(Ordering::SeqCst) > 0 {
            self.0.fail_logs.fetch_sub(1, Ordering::SeqCst);
            return Err(io::Error::other("the log is unavailable (test)"));
        }
        self.0.state().log.push(receipt.clone());
        Ok(())
    }

    async fn answer_request(
        &self,
        peer: &AgencyId,
        request: &Signed<PullRequest>,
        _grant_chain: &GrantChain,
    ) -> Result<Vec<Outgoing>, Refusal> {
        let key = self.0.sender_key(peer).ok_or(ReasonCode::UNKNOWN_ISSUER_KEY)?;
        let r = key.verify_object(request).map_err(|_| ReasonCode::BAD_SIGNATURE)?;
        if let Policy::Deny(reason) = *self.0.policy.lock().expect("not poisoned") {
            return Err(reason.into());
        }
        let answer = self.0.state().pull_answer.clone();
        Ok(answer
            .into_iter()
            .map(|payload| Outgoing {
                spec: spec(&self.0.agency, &r.purpose, &r.category, r.grant, payload.len()),
                grant_chain: BoundedVec::empty(),
                payload: Box::new(io::Cursor::new(payload)),
            })
            .collect())
    }
}

pub fn spec(sender: &AgencyId, purpose: &Purpose, category: &DataCategory, grant: GrantId, len: usize) -> PacketSpec {
    PacketSpec {
        suite: SuiteId::X25519_SHA256_AES256GCM,
        sender: sender.clone(),
        grant,
        purpose: purpose.clone(),
        category: category.clone(),
        content_type: ContentType::new("application/octet-stream").expect("valid"),
        created_at: Timestamp::from_system_time(SystemTime::now()),
        payload_len: len as u64,
        chunk_size: ChunkSize::DEFAULT,
    }
}

pub fn purpose() -> Purpose {
    Purpose::new("social-security.eligibility").expect("valid")
}

pub fn category() -> DataCategory {
    DataCategory::new("income.annual").expect("valid")
}

/// A push spec from `sender` under the test grant.
pub fn push_spec(sender: &AgencyId, len: usize) -> PacketSpec {
    spec(sender, &purpose(), &category(), GrantId([7; 32]), len)
}

pub struct Node {
    pub id: AgencyId,
    pub host: Arc<TestHost>,
    pub endpoint: Endpoint<Shared>,
    pub tls_digest: Digest,
    /// The node's keys, to start it again.
    pub member: Member,
}

/// Agency keys and the directory record built from them.
pub struct Member {
    pub id: AgencyId,
    pub identity: Arc<IdentityKey>,
    pub kem: Arc<KemKey>,
    pub tls: TlsKey,
}

impl Member {
    pub fn new(id: &str) -> Self {
        Self {
            id: agency(id),
            identity: Arc::new(IdentityKey::generate().expect("random")),
            kem: Arc::new(KemKey::generate().expect("random")),
            tls: TlsKey::generate().expect("random"),
        }
    }

    /// The same agency with the same keys (a node restarted from its key files).
    pub fn twin(&self) -> Self {
        Self {
            id: self.id.clone(),
            identity: Arc::clone(&self.identity),
            kem: Arc::clone(&self.kem),
            tls: TlsKey::from_pkcs8(self.tls.pkcs8()).expect("its own key"),
        }
    }

    pub fn record(&self, endpoint: &str) -> AgencyRecord {
        let cert = self
            .kem
            .certify(&self.identity, self.id.clone(), Timestamp::from_secs(0), Timestamp::from_secs(u64::MAX / 2))
            .expect("certifies");
        AgencyRecord {
            id: self.id.clone(),
            name: Text::new(self.id.as_str()).expect("short"),
            roles: Roles(Roles::PRODUCER.0 | Roles::CONSUMER.0),
            endpoints: endpoints(&[endpoint]),
            identity_key: self.identity.public_key(),
            tls_key: self.tls.spki_digest(),
            kem_keys: BoundedVec::new(vec![cert]).expect("one"),
        }
    }
}

/// An agency's endpoints, in order.
pub fn endpoints(list: &[&str]) -> tally_wire::Endpoints {
    tally_wire::Endpoints::new(list.iter().map(|e| Addr::new(*e).expect("valid")).collect()).expect("distinct")
}

pub fn directory(serial: u64, records: Vec<AgencyRecord>) -> Directory {
    Directory {
        federation: Text::new("test federation").expect("short"),
        serial,
        issued_at: Timestamp::from_secs(0),
        agencies: BoundedVec::new(records).expect("few"),
        purposes: BoundedVec::empty(),
        categories: BoundedVec::empty(),
    }
}

/// Binds a node for `member` on 127.0.0.1 (an ephemeral port) with `roster`.
pub fn bind(member: Member, roster: &Arc<Roster>, config: TransportConfig) -> Node {
    bind_at(member, roster, config, "127.0.0.1:0")
}

/// Binds a node for `member` at `addr` with `roster`.
pub fn bind_at(member: Member, roster: &Arc<Roster>, config: TransportConfig, addr: &str) -> Node {
    let twin = member.twin();
    let host = Arc::new(TestHost {
        agency: member.id.clone(),
        identity: Arc::clone(&member.identity),
        kem: Arc::clone(&member.kem),
        policy: Mutex::new(Policy::Allow),
        state: Mutex::new(State::default()),
        directory: Mutex::new(Some(Arc::clone(roster))),
        stall_writes: false.into(),
        write_delay_us: 0.into(),
        fail_logs: AtomicUsize::new(0),
        receipts: tally_receipt::Log::new(tally_receipt::MemoryStore::new(), &member.id, Arc::clone(&member.identity)),
    });
    let tls_digest = member.tls.spki_digest();
    let local = LocalAgency { id: member.id.clone(), identity: member.identity, tls_key: member.tls };
    let endpoint = Endpoint::bind(
        addr.parse().expect("address"),
        local,
        Arc::clone(roster),
        Arc::new(Shared(Arc::clone(&host))),
        config,
    )
    .expect("binds");
    Node { id: twin.id.clone(), host, endpoint, tls_digest, member: twin }
}

/// Two agencies, tax-bureau (A) and social-security (B), that know each other.
pub fn pair(config: TransportConfig) -> (Node, Node, Arc<Roster>) {
    let (a, b) = (Member::new("tax-bureau"), Member::new("social-security"));
    let placeholder = directory(1, vec![a.record("127.0.0.1:9"), b.record("127.0.0.1:9")]);
    let roster = Arc::new(Roster::new(&placeholder));
    let (ra, rb) = (a.record("127.0.0.1:9"), b.record("127.0.0.1:9"));
    let a = bind(a, &roster, config);
    let b = bind(b, &roster, config);
    let at = |r: AgencyRecord, n: &Node| AgencyRecord {
        endpoints: endpoints(&[&n.endpoint.local_addr().expect("bound").to_string()]),
        ..r
    };
    assert!(roster.update(&directory(2, vec![at(ra, &a), at(rb, &b)])));
    (a, b, roster)
}

/// A deterministic payload of `len` bytes.
pub fn payload(len: usize) -> Vec<u8> {
    (0..len).map(|i| (i as u32).wrapping_mul(2_654_435_761).to_le_bytes()[1]).collect()
}

pub fn digest_of(bytes: &[u8]) -> Digest {
    sha256(&[bytes])
}

/// Waits (up to 20 s) until `condition` holds; panics with `what` if it never does.
pub async fn eventually(what: &str, mut condition: impl FnMut() -> bool) {
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(20);
    while !condition() {
        assert!(std::time::Instant::now() < deadline, "timed out waiting until {what}");
        tokio::time::sleep(std::time::Duration::from_millis(10)).await;
    }
}
