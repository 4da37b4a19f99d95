//! A federation of node directories in a temporary directory, made with
//! the library (the operator's tools and `init_agency`), and the node
//! states opened on them: real keys, redb, blobs and key slots, no network.
//! Packets are sealed and opened with `tally-envelope` and handed to the
//! node's host as the transport would hand them.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use tally_envelope::{Opener, PacketSpec, Sealer};
use tally_grant::{GrantDocument, grant_id};
use tally_transport::{Host, Inbox, OfferContext, OfferDecision};
use tally_wire::{
    AgencyId, BoundedVec, ChunkSize, ContentType, DataCategory, Direction, GrantChain, GrantId, Offer, Outcome,
    PacketId, Purpose, Receipt, SuiteId,
};

use crate::host::NodeHost;
use crate::state::NodeState;
use crate::{Federation, InitOptions, init_agency};

pub(crate) fn agency(s: &str) -> AgencyId {
    AgencyId::new(s).expect("valid agency id")
}

pub(crate) struct Fixture {
    pub(crate) root: tempfile::TempDir,
}

impl Fixture {
    /// Agencies (all producer and consumer), the purpose
    /// `social-security.eligibility`, and `income` controlled by the tax bureau.
    pub(crate) fn new(agencies: &[&str]) -> Self {
        let root = tempfile::tempdir().expect("temp dir");
        let op = root.path().join("operator");
        let operator = Federation::init(&op, "Test federation").expect("operator");
        for a in agencies {
            let dir = root.path().join(a);
            let options = InitOptions {
                agency: agency(a),
                name: (*a).to_owned(),
                listen: "127.0.0.1:9".parse().expect("address"),
                endpoints: Vec::new(),
                operator_key: Some(operator),
                directory: PathBuf::from("directory.tally"),
                xwing: true,
            };
            let export = init_agency(&dir, &options).expect("init");
            Federation::add_agency(&op, &export, &["producer".into(), "consumer".into()], false).expect("add agency");
        }
        let purpose = Purpose::new("social-security.eligibility").expect("valid");
        Federation::add_purpose(&op, &purpose, "SSA s. 12", "").expect("purpose");
        if agencies.contains(&"tax-bureau") {
            let income = DataCategory::new("income").expect("valid");
            Federation::add_category(&op, &income, &agency("tax-bureau"), "").expect("category");
        }
        let fixture = Self { root };
        fixture.publish();
        fixture
    }

    /// Publishes the registers as the next directory and gives it to every agency.
    pub(crate) fn publish(&self) {
        let op = self.root.path().join("operator");
        let file = self.root.path().join("directory.tally");
        Federation::publish(&op, &file).expect("publish");
        for entry in std::fs::read_dir(self.root.path()).expect("root").flatten() {
            if entry.path().join("tally.toml").exists() {
                std::fs::copy(&file, entry.path().join("directory.tally")).expect("copy");
            }
        }
    }

    pub(crate) fn dir(&self, a: &str) -> PathBuf {
        self.root.path().join(a)
    }

    /// Appends `text` to an agency's `tally.toml`.
    pub(crate) fn configure(&self, a: &str, text: &str) {
        let path = self.dir(a).join("tally.toml");
        let old = std::fs::read_to_string(&path).expect("config");
        std::fs::write(&path, old + text).expect("config");
    }

    pub(crate) fn open(&self, a: &str) -> Arc<NodeState> {
        NodeState::open(&self.dir(a)).expect("the node opens")
    }
}

/// A grant document: `issuer`'s grant to `grantee` for eligibility checks on `category`, pushes and pulls.
pub(crate) fn document(grantee: &str, category: &str, extra: &str) -> GrantDocument {
    let retention = if extra.contains("retention") { "" } else { "retention = \"90days\"\n" };
    let text = format!(
        "grantee = \"{grantee}\"\npurposes = [\"social-security.eligibility\"]\ncategories = [\"{category}\"]\n\
         not_before = \"2020-01-01T00:00:00Z\"\nnot_after = \"2100-01-01T00:00:00Z\"\ndirection = \"both\"\n\
         {retention}{extra}"
    );
    GrantDocument::from_toml(&text).expect("a valid grant document")
}

/// Issues `document` at `issuer`'s node and keeps it there; returns the chain.
pub(crate) fn issue(issuer: &NodeState, document: &GrantDocument) -> GrantChain {
    let signed = tally_grant::issue_grant(&issuer.identity, &issuer.agency, document, issuer.now()).expect("issues");
    let chain = BoundedVec::new(vec![signed]).expect("one grant");
    issuer.keep_grant(chain.clone(), true).expect("kept");
    chain
}

/// A packet from `sender` to `recipient` under `chain`, sealed: the offer, and the sealer.
pub(crate) fn seal(
    sender: &NodeState,
    recipient: &NodeState,
    chain: &GrantChain,
    category: &str,
    payload_len: u64,
    packet: PacketId,
) -> (Sealer, Offer) {
    let directory = sender.directory();
    let record = directory.agency(&recipient.agency).expect("listed");
    // The X25519 key (`tally init` certifies it first): these tests seal with fixed randomness.
    let cert = record.kem_keys[0].unverified().clone();
    let spec = PacketSpec {
        suite: SuiteId::X25519_SHA256_AES256GCM,
        sender: sender.agency.clone(),
        grant: grant_id(&chain[0]),
        purpose: Purpose::new("social-security.eligibility").expect("valid"),
        category: DataCategory::new(category).expect("valid"),
        content_type: ContentType::new("application/octet-stream").expect("valid"),
        created_at: sender.now(),
        payload_len,
        chunk_size: ChunkSize::DEFAULT,
    };
    Sealer::dangerous_new_deterministic(&cert, spec, chain.clone(), packet, tally_envelope::Ephemeral::X25519([7; 32]))
        .expect("seals")
}

/// What came of offering a packet to a node's host.
#[allow(clippy::large_enum_variant, reason = "a test value")]
pub(crate) enum Delivery {
    /// Accepted and stored: the receipt's bundle.
    Stored(tally_wire::ReceiptBundle),
    /// Refused with a signed rejection, for this reason.
    Denied(tally_wire::ReasonCode),
    /// Closed without a signed statement.
    Closed(tally_wire::CloseCode),
    /// A receipt given before, in its bundle.
    Again(tally_wire::ReceiptBundle),
}

/// Offers `payload` from `sender` to `recipient`'s host under `chain` (as the
/// transport would: decide, write, commit). With `abandon`, the transfer
/// stops after the decision, as when a peer goes away mid-packet.
pub(crate) async fn deliver(
    sender: &NodeState,
    recipient: &Arc<NodeState>,
    chain: &GrantChain,
    category: &str,
    payload: &[u8],
    packet: PacketId,
    abandon: bool,
) -> Delivery {
    let (mut sealer, offer) = seal(sender, recipient, chain, category, payload.len() as u64, packet);
    let host = NodeHost(Arc::clone(recipient));
    let context = OfferContext {
        peer: &sender.agency,
        header: offer.header.value(),
        header_digest: tally_envelope::header_digest(&offer.header),
        grant_chain: &offer.grant_chain,
        direction: Direction::Push,
    };
    let (kem, sender_key, mut inbox) = match host.decide_offer(context).await {
        OfferDecision::Accept { kem_key, sender_key, inbox } => (kem_key, sender_key, inbox),
        OfferDecision::Deny(reason) => {
            // As the protocol does: the rejection is signed, or the exchange closed unsigned.
            let rejection = receipt(&offer, recipient.now(), Outcome::Rejected { reason });
            return match host.sign_rejection(rejection).await.expect("signs or declines") {
                Some(_) => Delivery::Denied(reason),
                None => Delivery::Closed(tally_wire::CloseCode::TOO_MANY_REFUSALS),
            };
        }
        OfferDecision::Close(code) => return Delivery::Closed(code),
        OfferDecision::AlreadyReceipted(bundle) => return Delivery::Again(bundle),
    };
    if abandon {
        inbox.discard().await;
        return Delivery::Denied(tally_wire::ReasonCode::TEMPORARILY_UNAVAILABLE);
    }
    let mut opener = Opener::new(&kem, &offer, &sender_key).expect("opens");
    let mut index = 0;
    let mut rest = payload;
    while let Some(len) = sealer.next_chunk_len() {
        let mut buf = rest[..len].to_vec();
        rest = &rest[len..];
        let chunk = sealer.seal_chunk(&mut buf).expect("seals");
        let mut out = Vec::new();
        let plain = opener.open_chunk(&chunk, &mut out).expect("opens").to_vec();
        inbox.write(&plain).await.expect("writes");
        index += 1;
    }
    let _ = index;
    let sealed = sealer.finish(&sender.identity).expect("finishes");
    let opened = opener.finish(&sealed.trailer).expect("verifies");
    let accepted = Outcome::Accepted {
        ciphertext_fingerprint: opened.digests.ciphertext_fingerprint,
        content_commitment: opened.digests.content_commitment,
    };
    let receipt = receipt(&offer, recipient.now(), accepted);
    Delivery::Stored(inbox.commit(receipt, opened.evidence, opened.commitment_key).await.expect("stored"))
}

/// The receipt of `offer` with `outcome`, as the protocol's receiver makes it.
fn receipt(offer: &Offer, at: tally_wire::Timestamp, outcome: Outcome) -> Receipt {
    let h = offer.header.value();
    Receipt {
        packet_id: h.packet_id,
        header_digest: tally_envelope::header_digest(&offer.header),
        grant: h.grant,
        purpose: h.purpose.clone(),
        category: h.category.clone(),
        payload_len: h.payload_len,
        sender: h.sender.clone(),
        recipient: h.recipient.clone(),
        received_at: at,
        outcome,
    }
}

/// Every file under `dir`, recursively.
pub(crate) fn files(dir: &Path) -> Vec<PathBuf> {
    let mut out = Vec::new();
    for entry in std::fs::read_dir(dir).expect("readable").flatten() {
        let path = entry.path();
        if path.is_dir() {
            out.extend(files(&path));
        } else {
            out.push(path);
        }
    }
    out
}

/// A packet id from one byte.
pub(crate) fn packet(n: u8) -> PacketId {
    PacketId([n; 16])
}

/// The id of a chain's leaf.
pub(crate) fn leaf(chain: &GrantChain) -> GrantId {
    grant_id(&chain[0])
}
