//! The control socket: how the `tally` command talks to a running node.
//!
//! A Unix socket `control.sock` in the node directory (mode 0600: only the
//! node's user may drive it). Each connection carries one request, a JSON
//! line; the node answers with JSON lines: zero or more
//! `{"progress": bytes, "total": bytes}`, then one `{"ok": value}` or
//! `{"error": "message"}`.

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use serde::{Deserialize, Serialize};
use serde_json::{Value, json};
use tally_grant::GrantDocument;
use tally_protocol::{ReceiverOutcome, RequesterOutcome, SenderOutcome};
use tally_wire::{AgencyId, ContentType, DataCategory, GrantId, PacketId, Purpose, Receipt, RevocationReason, Signed};
use tokio::io::{AsyncBufReadExt, AsyncWriteExt, BufReader};
use tokio::net::{UnixListener, UnixStream};

use crate::node::outcome_text;
use crate::{Node, NodeError, SendOptions, hex};

/// The socket's file name in the node directory.
pub const SOCKET_FILE: &str = "control.sock";

/// Most bytes of one request line.
const MAX_REQUEST: u64 = 1 << 20;

/// A request to a running node.
#[derive(Clone, Debug, Serialize, Deserialize)]
#[serde(tag = "op", rename_all = "kebab-case")]
#[allow(missing_docs)]
pub enum ControlRequest {
    /// The node's agency, address, directory serial and log size.
    Status,
    /// Send a file (absolute path).
    Send {
        to: AgencyId,
        grant: GrantId,
        purpose: Purpose,
        category: DataCategory,
        content_type: ContentType,
        path: PathBuf,
    },
    /// Pull from a peer.
    Request { to: AgencyId, grant: GrantId, purpose: Purpose, category: DataCategory, query: String },
    /// Issue a grant from a TOML document; the answer has the grant file's hex.
    GrantIssue { document: String },
    /// Keep a grant chain (hex of its encoding) another agency issued.
    GrantImport { chain: String },
    /// Revoke a grant this node issued (from `effective_at`, RFC 3339, or now); the answer has the revocation's hex.
    GrantRevoke { grant: GrantId, reason: String, erase: bool, effective_at: Option<String> },
    /// Keep a revocation (hex) another agency issued.
    RevocationImport { revocation: String },
    /// The grants this node holds.
    GrantList,
    /// Received packets.
    InboxList,
    /// Write a received packet's plaintext to a file (absolute path).
    InboxExport { packet: PacketId, out: PathBuf },
    /// The reveal of a packet (hex of its encoding), and for a received one its plaintext written to `plaintext`.
    Reveal { packet: PacketId, plaintext: Option<PathBuf> },
    /// The receipts in the log.
    ReceiptsList,
    /// A receipt bundle (text) for a packet this node received.
    ReceiptBundle { packet: PacketId },
    /// Sign a checkpoint now.
    Checkpoint,
    /// The whole log with a checkpoint, for an auditor.
    LogExport,
    /// Run the retention sweeper now.
    Sweep,
    /// Offer again the sends left without a receipt.
    Resume,
    /// Load the directory file again.
    ReloadDirectory,
    /// Fetch a newer directory from a peer over the transport.
    DirectoryFetch { from: AgencyId },
    /// Fetch a peer's whole log over the transport (this node must have the auditor role).
    LogFetch { from: AgencyId },
}

/// Parses a revocation reason name.
pub fn parse_reason(s: &str) -> Result<RevocationReason, NodeError> {
    Ok(match s {
        "unspecified" => RevocationReason::UNSPECIFIED,
        "superseded" => RevocationReason::SUPERSEDED,
        "purpose-ended" => RevocationReason::PURPOSE_ENDED,
        "key-compromise" => RevocationReason::KEY_COMPROMISE,
        "legal-order" => RevocationReason::LEGAL_ORDER,
        "breach" => RevocationReason::BREACH,
        other => {
            return Err(NodeError::Usage(format!(
                "unknown revocation reason `{other}`: use unspecified, superseded, purpose-ended, key-compromise, legal-order or breach"
            )));
        }
    })
}

fn receipt_json(r: &Signed<Receipt>) -> Value {
    let r = r.unverified();
    json!({
        "packet": r.packet_id,
        "sender": r.sender,
        "recipient": r.recipient,
        "grant": r.grant,
        "purpose": r.purpose,
        "outcome": outcome_text(&r.outcome),
        "at": tally_grant::rfc3339(r.received_at),
    })
}

/// A send's outcome as JSON: `delivered` with the receipt, or `refused` with the signed rejection.
pub fn sender_outcome_json(outcome: &SenderOutcome) -> Value {
    match outcome {
        SenderOutcome::Delivered(r) => json!({"result": "delivered", "receipt": receipt_json(r)}),
        SenderOutcome::Refused(r) => json!({"result": "refused", "receipt": receipt_json(r)}),
    }
}

fn decode_hex<T>(
    what: &str,
    text: &str,
    f: impl FnOnce(&[u8]) -> Result<T, tally_wire::Error>,
) -> Result<T, NodeError> {
    let bytes = hex::decode(text.trim()).ok_or_else(|| NodeError::Usage(format!("{what}: not hex")))?;
    f(&bytes).map_err(|e| NodeError::Usage(format!("{what}: {e}")))
}

/// Carries out one request on `node`; `progress` reports bytes sent.
pub async fn handle(node: &Node, request: ControlRequest, progress: Arc<AtomicU64>) -> Result<Value, NodeError> {
    let to_json = |v: &dyn erased::Json| v.json();
    Ok(match request {
        ControlRequest::Status => json!({
            "agency": node.agency(),
            "listen": node.local_addr()?.to_string(),
            "directory_serial": node.state().directory().serial(),
            "log_size": node.state().log.size()?,
            "unfinished_sends": node.state().store.outbox()?.len(),
        }),
        ControlRequest::Send { to, grant, purpose, category, content_type, path } => {
            let options = SendOptions { to, grant, purpose, category, content_type };
            sender_outcome_json(&node.send_file(&options, &path, progress).await?)
        }
        ControlRequest::Request { to, grant, purpose, category, query } => {
            match node.request(&to, grant, purpose, category, query.as_bytes()).await? {
                RequesterOutcome::Refused(r) => json!({"result": "refused", "receipt": receipt_json(&r)}),
                RequesterOutcome::Answered(packets) => {
                    let packets: Vec<Value> = packets
                        .iter()
                        .map(|o| match o {
                            ReceiverOutcome::Received(r) | ReceiverOutcome::Resent(r) => receipt_json(r),
                            ReceiverOutcome::Rejected(r) => receipt_json(r),
                        })
                        .collect();
                    json!({"result": "answered", "packets": packets})
                }
            }
        }
        ControlRequest::GrantIssue { document } => {
            let doc =
                GrantDocument::from_toml(&document).map_err(|e| NodeError::Usage(format!("grant document: {e}")))?;
            let (id, _) = node.issue_grant(&doc)?;
            let chain =
                node.grant_chain(&id)?.ok_or_else(|| NodeError::Inconsistent("the issued grant is missing".into()))?;
            let delivered = node.deliver_grant(&id).await?;
            json!({"grant": id, "file": hex::encode(&tally_wire::encode_grant_chain(&chain)), "delivered": delivered})
        }
        ControlRequest::GrantImport { chain } => {
            let chain = decode_hex("grant file", &chain, tally_wire::decode_grant_chain)?;
            json!({"grant": node.import_grant(chain)?})
        }
        ControlRequest::GrantRevoke { grant, reason, erase, effective_at } => {
            let at = effective_at
                .map(|t| {
                    humantime::parse_rfc3339(&t).map(tally_wire::Timestamp::from_system_time).map_err(|e| {
                        NodeError::Usage(format!(
                            "--effective-at `{t}`: {e}; write a time such as 2027-01-01T00:00:00Z"
                        ))
                    })
                })
                .transpose()?;
            let r = node.revoke(grant, parse_reason(&reason)?, erase, at)?;
            let delivered = node.deliver_revocation(&r).await?;
            json!({"grant": grant, "file": hex::encode(&r.encode()), "delivered": delivered})
        }
        ControlRequest::RevocationImport { revocation } => {
            let r = decode_hex("revocation file", &revocation, Signed::decode)?;
            json!({"new": node.import_revocation(r)?})
        }
        ControlRequest::GrantList => {
            let grants: Vec<Value> = node
                .grants()?
                .iter()
                .map(|(id, chain)| {
                    let g = chain[0].unverified();
                    json!({
                        "grant": id,
                        "issuer": g.issuer,
                        "grantee": g.grantee,
                        "purposes": g.purposes.iter().collect::<Vec<_>>(),
                        "categories": g.categories.iter().collect::<Vec<_>>(),
                        "not_after": tally_grant::rfc3339(g.not_after),
                        "depth": chain.len(),
                    })
                })
                .collect();
            json!(grants)
        }
        ControlRequest::InboxList => to_json(&node.inbox()?),
        ControlRequest::Reveal { packet, plaintext } => {
            let mut file = plaintext.as_ref().map(|p| crate::files::create_private(p)).transpose()?;
            let (reveal, written) = node.reveal(&packet, file.as_mut().map(|f| f as &mut dyn std::io::Write))?;
            if let (Some(f), Some(p)) = (&file, &plaintext) {
                f.sync_all().map_err(NodeError::file(p))?;
            }
            if written.is_none()
                && let Some(p) = &plaintext
            {
                let _ = std::fs::remove_file(p);
            }
            let encoded = tally_wire::Encoded::new(reveal)?;
            json!({"packet": packet, "reveal": hex::encode(&encoded.encode()), "plaintext_bytes": written})
        }
        ControlRequest::InboxExport { packet, out } => {
            let file = crate::files::create_private(&out)?;
            let mut writer = std::io::BufWriter::new(file);
            let n = node.export_packet(&packet, &mut writer)?;
            std::io::Write::flush(&mut writer).map_err(NodeError::file(&out))?;
            json!({"packet": packet, "bytes": n, "out": out})
        }
        ControlRequest::ReceiptsList => to_json(&node.receipts()?),
        ControlRequest::ReceiptBundle { packet } => json!({"bundle": node.receipt_bundle(&packet)?}),
        ControlRequest::Checkpoint => json!({"checkpoint": node.checkpoint()?}),
        ControlRequest::LogExport => to_json(&node.export_log()?),
        ControlRequest::Sweep => json!({"erased": node.sweep()?}),
        ControlRequest::Resume => {
            let results: Vec<Value> = node
                .resume_sends()
                .await?
                .iter()
                .map(|(packet, r)| match r {
                    Ok(outcome) => json!({"packet": packet, "outcome": sender_outcome_json(outcome)}),
                    Err(e) => json!({"packet": packet, "error": e.to_string()}),
                })
                .collect();
            json!(results)
        }
        ControlRequest::ReloadDirectory => json!({"updated": node.reload_directory()?}),
        ControlRequest::DirectoryFetch { from } => json!({"serial": node.fetch_directory(&from).await?}),
        ControlRequest::LogFetch { from } => to_json(&node.fetch_log(&from).await?),
    })
}

mod erased {
    /// Anything serializable, as JSON.
    pub(super) trait Json {
        fn json(&self) -> serde_json::Value;
    }

    impl<T: serde::Serialize> Json for T {
        fn json(&self) -> serde_json::Value {
            serde_json::to_value(self).unwrap_or_else(|e| serde_json::json!({"error": e.to_string()}))
        }
    }
}

/// Serves the control socket of `node` until the task is dropped.
pub(crate) async fn serve(node: Arc<Node>, listener: UnixListener) {
    loop {
        let stream = match listener.accept().await {
            Ok((stream, _)) => stream,
            Err(e) => {
                // Out of descriptors, most likely: wait rather than spin.
                tracing::warn!(error = %e, "the control socket cannot accept a connection");
                tokio::time::sleep(Duration::from_millis(100)).await;
                continue;
            }
        };
        let node = Arc::clone(&node);
        tokio::spawn(async move {
            if let Err(e) = serve_one(&node, stream).await {
                tracing::debug!(error = %e, "control connection ended");
            }
        });
    }
}

async fn serve_one(node: &Node, stream: UnixStream) -> std::io::Result<()> {
    let (read, mut write) = stream.into_split();
    let mut line = String::new();
    tokio::io::AsyncReadExt::take(BufReader::new(read), MAX_REQUEST).read_line(&mut line).await?;
    let request: ControlRequest = match serde_json::from_str(&line) {
        Ok(r) => r,
        Err(e) => {
            let answer = json!({"error": format!("malformed control request: {e}")});
            return write.write_all(format!("{answer}\n").as_bytes()).await;
        }
    };
    let total = match &request {
        ControlRequest::Send { path, .. } => std::fs::metadata(path).map(|m| m.len()).unwrap_or(0),
        _ => 0,
    };
    let progress = Arc::new(AtomicU64::new(0));
    let work = handle(node, request, Arc::clone(&progress));
    tokio::pin!(work);
    let mut ticker = tokio::time::interval(Duration::from_millis(200));
    let answer = loop {
        tokio::select! {
            result = &mut work => break result,
            _ = ticker.tick(), if total > 0 => {
                let line = json!({"progress": progress.load(Ordering::Relaxed), "total": total});
                write.write_all(format!("{line}\n").as_bytes()).await?;
            }
        }
    };
    let answer = match answer {
        Ok(v) => json!({"ok": v}),
        Err(e) => json!({"error": e.to_string()}),
    };
    write.write_all(format!("{answer}\n").as_bytes()).await
}

/// Sends `request` to the node in `dir` and returns its answer; `progress`
/// is called with (bytes, total) while a send runs.
pub async fn call(
    dir: &Path,
    request: &ControlRequest,
    mut progress: impl FnMut(u64, u64),
) -> Result<Value, NodeError> {
    let socket = dir.join(SOCKET_FILE);
    let stream = UnixStream::connect(&socket).await.map_err(|source| NodeError::NotRunning {
        socket: socket.clone(),
        dir: dir.to_owned(),
        source,
    })?;
    let (read, mut write) = stream.into_split();
    let line = serde_json::to_string(request).map_err(|e| NodeError::Usage(e.to_string()))?;
    write.write_all(format!("{line}\n").as_bytes()).await.map_err(NodeError::file(&socket))?;
    let mut lines = BufReader::new(read).lines();
    while let Some(line) = lines.next_line().await.map_err(NodeError::file(&socket))? {
        let value: Value = serde_json::from_str(&line).map_err(|e| NodeError::Malformed {
            path: socket.clone(),
            message: format!("bad answer from the node: {e}"),
        })?;
        if let Some(v) = value.get("ok") {
            return Ok(v.clone());
        }
        if let Some(e) = value.get("error") {
            return Err(NodeError::Refused(e.as_str().unwrap_or("unknown error").to_owned()));
        }
        if let (Some(p), Some(t)) = (value["progress"].as_u64(), value["total"].as_u64()) {
            progress(p, t);
        }
    }
    Err(NodeError::Refused("the node closed the control connection without an answer (see its log)".into()))
}
