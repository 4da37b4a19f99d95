//! Packets as files (spec/protocol.md, "Packets as files"): a packet
//! sealed to a file without a running node, for media where QUIC cannot
//! go, and a node that takes such a file as it takes an offer over QUIC,
//! answering with the receipt bundle to carry back.

use std::io::Write;
use std::path::Path;
use std::sync::Arc;

use tally_envelope::{PacketSpec, preferred_kem_certificate, suite_for, verify_kem_certificate};
use tally_grant::{Flow, RevocationSet, Usage, decide};
use tally_protocol::ReceiverOutcome;
use tally_receipt::bundle_to_text;
use tally_wire::{ChunkSize, Direction, GrantChain, ReceiptBundle};
use tokio::io::AsyncRead;

use crate::api::SendOptions;
use crate::{AgencyKeys, Node, NodeConfig, NodeError, load_directory};

/// Seals the file `payload` to `options.to` under the grant chain
/// `chain` (the leaf is the grant; `options.grant` is ignored), as the
/// agency whose node directory is `dir`, and writes the packet stream to
/// `out` (written to a temporary file beside it and renamed when whole).
/// Needs no running node: it reads the node's keys, configuration and
/// directory. The chain is checked against the directory and the grant
/// policy first (without the usage a running node counts; the recipient
/// decides again when it imports the packet). Returns the packet id.
pub fn seal_packet_file(
    dir: &Path,
    options: &SendOptions,
    chain: GrantChain,
    payload: &Path,
    out: &Path,
) -> Result<tally_wire::PacketId, NodeError> {
    let config = NodeConfig::load(dir)?;
    let operator = config.operator_key.ok_or_else(|| {
        NodeError::Usage(format!("{}: operator_key is not set", dir.join(crate::CONFIG_FILE).display()))
    })?;
    let keys = AgencyKeys::load(dir, &config.agency)?;
    let directory = load_directory(&dir.join(&config.directory), &operator)?;
    let leaf = chain.first().ok_or_else(|| NodeError::Usage("an empty grant chain".into()))?;
    let grant = tally_grant::grant_id(leaf);
    let file = std::fs::File::open(payload).map_err(NodeError::file(payload))?;
    let len = file.metadata().map_err(NodeError::file(payload))?.len();
    let now = config.now();
    let record = directory
        .agency(&options.to)
        .ok_or_else(|| NodeError::Usage(format!("agency `{}` is not in the directory", options.to)))?;
    let issuer = tally_envelope::IdentityVerifier::new(&record.identity_key)
        .map_err(|source| NodeError::Key { path: dir.join(&config.directory), source })?;
    let certificates: Vec<_> = record
        .kem_keys
        .iter()
        .filter_map(|c| verify_kem_certificate(c, &issuer, &options.to, now).ok())
        .cloned()
        .collect();
    // X-Wing whenever the recipient lists an X-Wing key (spec/envelope.md, "Choosing the suite").
    let certificate = preferred_kem_certificate(&certificates, now, None)
        .cloned()
        .ok_or_else(|| NodeError::Usage(format!("`{}` lists no KEM key valid now in the directory", options.to)))?;
    let suite = suite_for(certificate.public_key.kem());
    let flow = Flow {
        grant,
        sender: config.agency.clone(),
        recipient: options.to.clone(),
        purpose: options.purpose.clone(),
        category: options.category.clone(),
        bytes: len,
        direction: Direction::Push,
        suite: Some(suite),
        at: now,
    };
    decide(&flow, &chain, &RevocationSet::new(), &directory, &Usage::new())
        .map_err(|denial| NodeError::Denied { context: "the grant does not allow this packet", denial })?;
    let spec = PacketSpec {
        suite,
        sender: config.agency.clone(),
        grant,
        purpose: options.purpose.clone(),
        category: options.category.clone(),
        content_type: options.content_type.clone(),
        created_at: now,
        payload_len: len,
        chunk_size: ChunkSize::DEFAULT,
    };
    let mut name = out.as_os_str().to_owned();
    name.push(".partial");
    let partial = std::path::PathBuf::from(name);
    let mut options = std::fs::OpenOptions::new();
    options.write(true).create_new(true);
    std::os::unix::fs::OpenOptionsExt::mode(&mut options, 0o600);
    if out.exists() {
        return Err(NodeError::Usage(format!("{}: exists already; choose another file", out.display())));
    }
    let target = options.open(&partial).map_err(NodeError::file(&partial))?;
    let written = (|| {
        let mut writer = std::io::BufWriter::new(&target);
        let sealed = tally_envelope::write_packet(&keys.identity, &certificate, spec, chain, file, &mut writer)
            .map_err(|source| NodeError::Key { path: payload.to_owned(), source })?;
        writer.flush().map_err(NodeError::file(&partial))?;
        drop(writer);
        target.sync_all().map_err(NodeError::file(&partial))?;
        std::fs::rename(&partial, out).map_err(NodeError::file(out))?;
        Ok::<_, NodeError>(sealed)
    })();
    if written.is_err() {
        let _ = std::fs::remove_file(&partial);
    }
    Ok(written?.digests.packet_id)
}

/// How long an import waits for the next bytes of a packet file before it gives up.
const IMPORT_IDLE: std::time::Duration = std::time::Duration::from_secs(30);

/// A spooled packet file, removed when dropped.
struct Spool(std::path::PathBuf);

impl Drop for Spool {
    fn drop(&mut self) {
        let _ = std::fs::remove_file(&self.0);
    }
}

impl Node {
    /// Takes a packet file that came another way than QUIC: the same
    /// decision, storage and receipt as an offer over QUIC. Returns the
    /// receipt (or signed rejection), already logged, and its bundle's
    /// text form, to carry back to the sender.
    ///
    /// A file has no TLS peer, so before the node decides anything, signs
    /// anything or spends any budget of the sender the header names, the
    /// whole packet is authenticated: spooled to a private file (waiting at
    /// most 30 s for each read), then opened to nowhere under the node's
    /// KEM key and the named sender's identity key from the directory. A
    /// file that does not open so is refused unsigned, and nothing of it is
    /// kept. Only then is it received as an offer (spec/protocol.md,
    /// "Packets as files").
    pub async fn import_packet(
        &self,
        mut file: impl AsyncRead + Unpin + Send,
    ) -> Result<(ReceiptBundle, String), NodeError> {
        let state = &self.state;
        let mut random = [0u8; 16];
        tally_envelope::at_rest::random_bytes(&mut random)?;
        let path = state.blobs.join("incoming").join(format!("import-{}.part", crate::hex::encode(&random)));
        let spool = Spool(path.clone());
        let limit = state.config.limits.max_storage_per_sender;
        {
            let mut options = tokio::fs::OpenOptions::new();
            options.write(true).create_new(true).mode(0o600);
            let mut out = options.open(&path).await.map_err(NodeError::file(&path))?;
            let mut buf = vec![0u8; 256 << 10];
            let mut total = 0u64;
            loop {
                let n = tokio::time::timeout(IMPORT_IDLE, tokio::io::AsyncReadExt::read(&mut file, &mut buf))
                    .await
                    .map_err(|_| NodeError::Usage(format!("the packet file stalled for {IMPORT_IDLE:?}")))?
                    .map_err(NodeError::file(&path))?;
                if n == 0 {
                    break;
                }
                total += n as u64;
                if total > limit.saturating_add(1 << 20) {
                    return Err(NodeError::Refused(format!(
                        "the packet file is larger than this node keeps for one sender ({limit} bytes)"
                    )));
                }
                tokio::io::AsyncWriteExt::write_all(&mut out, &buf[..n]).await.map_err(NodeError::file(&path))?;
            }
            // A tokio file hands writes to a blocking thread: they are in the
            // file for the read below only once flushed.
            tokio::io::AsyncWriteExt::flush(&mut out).await.map_err(NodeError::file(&path))?;
        }
        // The authentication pass: no host, no budget, no log.
        let checking = Arc::clone(state);
        let spooled = path.clone();
        tokio::task::spawn_blocking(move || {
            let directory = checking.directory();
            let input = std::io::BufReader::new(std::fs::File::open(&spooled).map_err(NodeError::file(&spooled))?);
            tally_envelope::read_packet(
                &checking.keys.kem_keys[..],
                |h| {
                    let record = directory
                        .agency(&h.sender)
                        .ok_or(tally_envelope::Error::BadSignature("the sender is not in the directory"))?;
                    tally_envelope::IdentityVerifier::new(&record.identity_key)
                },
                input,
                std::io::sink(),
            )
            .map(drop)
            .map_err(|e| {
                NodeError::Refused(format!(
                    "the packet file does not open as a packet for this agency from the sender it names ({e}); nothing of it is kept, and nothing is signed"
                ))
            })
        })
        .await??;
        let host = crate::NodeHost(Arc::clone(state));
        let config = state.config.transport().exchange;
        let packet = tokio::fs::File::open(&path).await.map_err(NodeError::file(&path))?;
        let outcome = tally_transport::receive_packet_file(&host, state.agency.clone(), config, packet).await?;
        drop(spool);
        let receipt = match outcome {
            ReceiverOutcome::Received(r) | ReceiverOutcome::Resent(r) | ReceiverOutcome::Rejected(r) => r,
        };
        let bundle = bundle_to_text(&receipt)?;
        Ok((receipt, bundle))
    }
}
