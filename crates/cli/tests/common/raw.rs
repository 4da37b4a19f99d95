//! A raw peer: a member agency's keys driving QUIC and frames by hand, to
//! attack a real `tally serve` the way a malicious but legitimate member
//! would (its TLS key is in the directory; everything else it chooses).

// Each test binary that includes this module uses part of it.
#![allow(dead_code)]

use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use tally_envelope::{IdentityKey, PacketSpec, Sealer, read_identity_key};
use tally_transport::{Roster, TlsKey, tls_client_config};
use tally_wire::{
    AgencyId, BoundedVec, ChunkSize, ContentType, DataCategory, Directory, Frame, FrameReader, Grant, GrantChain,
    Offer, PacketId, Purpose, Signed, SuiteId, Timestamp,
};

pub(crate) struct RawPeer {
    pub(crate) agency: AgencyId,
    pub(crate) identity: IdentityKey,
    pub(crate) directory: Directory,
    endpoint: quinn::Endpoint,
    client: quinn::ClientConfig,
}

impl RawPeer {
    /// The peer of the node directory `dir` (its keys and directory file).
    pub(crate) fn new(dir: &Path) -> Self {
        let (agency, identity) = read_identity_key(&dir.join("keys/identity.key")).expect("identity key");
        let tls = TlsKey::from_pkcs8(&std::fs::read(dir.join("keys/tls.pk8")).expect("tls key")).expect("tls key");
        let signed: Signed<Directory> =
            Signed::decode(&std::fs::read(dir.join("directory.tally")).expect("directory")).expect("directory");
        let directory = signed.unverified().clone();
        let roster = Arc::new(Roster::new(&directory));
        let crypto = tls_client_config(&tls, roster, tally_transport::KeyExchange::default()).expect("tls");
        let mut client = quinn::ClientConfig::new(Arc::new(
            quinn::crypto::rustls::QuicClientConfig::try_from(crypto).expect("quic"),
        ));
        let mut transport = quinn::TransportConfig::default();
        transport.max_concurrent_bidi_streams(4096u32.into()).max_idle_timeout(None);
        client.transport_config(Arc::new(transport));
        let endpoint = quinn::Endpoint::client("127.0.0.1:0".parse().expect("address")).expect("binds");
        Self { agency, identity, directory, endpoint, client }
    }

    /// A new connection to `to`'s node.
    pub(crate) async fn connect(&self, to: &str) -> Result<quinn::Connection, quinn::ConnectionError> {
        let record = self.directory.agencies.iter().find(|a| a.id.as_str() == to).expect("listed");
        let addr = record.endpoints.first().as_str().parse().expect("an address");
        self.endpoint.connect_with(self.client.clone(), addr, to).expect("connects").await
    }

    /// Signs `grant` as this agency.
    pub(crate) fn sign(&self, grant: Grant) -> GrantChain {
        BoundedVec::new(vec![self.identity.sign_object(grant).expect("signs")]).expect("one")
    }

    /// A packet to `to` of `len` bytes under `chain`, with id `packet`.
    pub(crate) fn seal(
        &self,
        to: &str,
        chain: &GrantChain,
        category: &str,
        len: u64,
        packet: PacketId,
    ) -> (Sealer, Offer) {
        let record = self.directory.agencies.iter().find(|a| a.id.as_str() == to).expect("listed");
        // The X25519 key (`tally init` certifies it first): these packets are sealed with fixed randomness.
        let cert = record.kem_keys[0].unverified().clone();
        let spec = PacketSpec {
            suite: SuiteId::X25519_SHA256_AES256GCM,
            sender: self.agency.clone(),
            grant: tally_grant::grant_id(&chain[0]),
            purpose: Purpose::new("social-security.eligibility").expect("valid"),
            category: DataCategory::new(category).expect("valid"),
            content_type: ContentType::new("application/octet-stream").expect("valid"),
            created_at: Timestamp::from_system_time(std::time::SystemTime::now()),
            payload_len: len,
            chunk_size: ChunkSize::DEFAULT,
        };
        Sealer::dangerous_new_deterministic(
            &cert,
            spec,
            chain.clone(),
            packet,
            tally_envelope::Ephemeral::X25519([9; 32]),
        )
        .expect("seals")
    }
}

/// The reason code of a signed rejection frame; `None` for any other frame.
pub(crate) fn reason_of(frame: &Frame<'_>) -> Option<tally_wire::ReasonCode> {
    match frame {
        Frame::Reject(r) => match tally_receipt::bundled_receipt(&r.bundle.receipt).outcome {
            tally_wire::Outcome::Rejected { reason } => Some(reason),
            tally_wire::Outcome::Accepted { .. } => None,
        },
        _ => None,
    }
}

/// Writes frames on a stream.
pub(crate) async fn write(send: &mut quinn::SendStream, frames: &[Frame<'_>]) {
    for f in frames {
        send.write_all(&f.encode().expect("encodes")).await.expect("writes");
    }
}

/// The frames the peer sent until it finished the stream (or `wait` passed).
pub(crate) async fn frames(recv: &mut quinn::RecvStream, wait: Duration) -> Vec<Frame<'static>> {
    let bytes =
        tokio::time::timeout(wait, recv.read_to_end(8 << 20)).await.ok().and_then(Result::ok).unwrap_or_default();
    let mut reader = FrameReader::new(std::io::BufReader::new(&bytes[..]));
    let mut out = Vec::new();
    while let Ok(Some(f)) = reader.read_frame() {
        out.push(f.into_owned());
    }
    out
}

/// The first frame the peer sends on a stream, within `wait`.
pub(crate) async fn first_frame(recv: &mut quinn::RecvStream, wait: Duration) -> Option<Frame<'static>> {
    let mut prefix = Vec::new();
    let read = async {
        loop {
            let mut byte = [0u8; 1];
            recv.read_exact(&mut byte).await.ok()?;
            prefix.push(byte[0]);
            if let Some(p) = tally_wire::FramePrefix::parse(&prefix).ok()? {
                let mut body = vec![0u8; p.body_len];
                recv.read_exact(&mut body).await.ok()?;
                return Frame::decode_body(p.frame_type, &body).ok().map(Frame::into_owned);
            }
        }
    };
    tokio::time::timeout(wait, read).await.ok().flatten()
}
