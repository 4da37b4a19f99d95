//! Sends as the node's users meet them (spec/api.md, "Sends"): each send
//! has a send id, its idempotency key; a second send under the same id
//! attaches to the first instead of sealing the payload again. Unfinished
//! sends are offered again by the node itself, with backoff and a limit
//! (what each peer did last is in `peers`).
//!
//! Attempts and errors are kept in memory: they
//! describe this run of the node. What a send is (its outbox record and
//! its send id) is durable before a byte of its payload leaves.

use std::collections::{HashMap, HashSet};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};

use tally_protocol::SenderOutcome;
use tally_wire::{AgencyId, LogEntry, PacketId, Receipt};
use tokio::io::AsyncRead;

use crate::NodeError;
use crate::api::{Pending, Previously, SendAnswer, SendId, SendOptions, SendResult};
use crate::node::Node;
use crate::state::lock;

/// The node's sends in flight, their retries, and its peers' reachability.
pub(crate) struct Sends {
    /// Packets being offered now (a send, an attached send, a retry).
    running: std::sync::Mutex<HashSet<PacketId>>,
    /// Bumped whenever a running send ends: a send attached to it waits on this.
    ended: tokio::sync::watch::Sender<u64>,
    /// One lock per send id being submitted, held from looking the id up
    /// to recording its packet: two sends under one id cannot both seal,
    /// and sends under different ids do not wait for each other (their
    /// outbox commits group).
    submitting: std::sync::Mutex<HashMap<SendId, Arc<tokio::sync::Mutex<()>>>>,
    /// Failed offers of unfinished packets.
    pub(crate) retries: std::sync::Mutex<HashMap<PacketId, crate::retry::Retry>>,
    /// What each peer did last.
    pub(crate) peers: std::sync::Mutex<HashMap<AgencyId, crate::peers::Peer>>,
}

impl Default for Sends {
    fn default() -> Self {
        Self {
            running: Default::default(),
            ended: tokio::sync::watch::Sender::new(0),
            submitting: Default::default(),
            retries: Default::default(),
            peers: Default::default(),
        }
    }
}

/// A send id locked for submitting; the id's lock is forgotten with the last holder.
struct Submitting<'a> {
    sends: &'a Sends,
    id: SendId,
    lock: Arc<tokio::sync::Mutex<()>>,
    _guard: tokio::sync::OwnedMutexGuard<()>,
}

impl Drop for Submitting<'_> {
    fn drop(&mut self) {
        let mut locks = lock(&self.sends.submitting);
        // The map's Arc, this one, and the guard's: nobody else waits for it.
        if Arc::strong_count(&self.lock) <= 3 {
            locks.remove(&self.id);
        }
    }
}

/// Marks a packet as being offered; unmarks it and wakes attached sends when dropped.
pub(crate) struct Running<'a> {
    sends: &'a Sends,
    packet: PacketId,
}

impl Drop for Running<'_> {
    fn drop(&mut self) {
        lock(&self.sends.running).remove(&self.packet);
        self.sends.ended.send_modify(|n| *n = n.wrapping_add(1));
    }
}

impl Sends {
    /// Marks `packet` as running, unless it is already.
    pub(crate) fn run(&self, packet: PacketId) -> Option<Running<'_>> {
        // Not `then_some`: a `Running` made for nothing would unmark the packet when dropped.
        let inserted = lock(&self.running).insert(packet);
        inserted.then(|| Running { sends: self, packet })
    }

    /// Locks send id `id` (see `submitting`).
    async fn submitting(&self, id: &SendId) -> Submitting<'_> {
        let lock = Arc::clone(lock(&self.submitting).entry(id.clone()).or_default());
        let guard = Arc::clone(&lock).lock_owned().await;
        Submitting { sends: self, id: id.clone(), lock, _guard: guard }
    }

    pub(crate) fn is_running(&self, packet: &PacketId) -> bool {
        lock(&self.running).contains(packet)
    }
}

/// A payload reader that notes when the payload itself failed (an error,
/// or its end before the stated length), as opposed to the exchange.
struct Watched<R> {
    inner: R,
    read: u64,
    len: u64,
    failed: Arc<AtomicBool>,
}

impl<R: AsyncRead + Unpin> AsyncRead for Watched<R> {
    fn poll_read(
        mut self: std::pin::Pin<&mut Self>,
        cx: &mut std::task::Context<'_>,
        buf: &mut tokio::io::ReadBuf<'_>,
    ) -> std::task::Poll<std::io::Result<()>> {
        let (before, room) = (buf.filled().len(), buf.remaining());
        let poll = std::pin::Pin::new(&mut self.inner).poll_read(cx, buf);
        let n = (buf.filled().len() - before) as u64;
        self.read += n;
        match &poll {
            std::task::Poll::Ready(Err(_)) => self.failed.store(true, Ordering::Relaxed),
            std::task::Poll::Ready(Ok(())) if n == 0 && room > 0 && self.read < self.len => {
                self.failed.store(true, Ordering::Relaxed)
            }
            _ => {}
        }
        poll
    }
}

/// Where a send's payload comes from.
pub(crate) enum Payload<R> {
    /// A stream of `len` bytes (the API's request body); it cannot be read again.
    Stream(R, u64),
    /// A file the node reads itself (and again, should the packet have to be sealed anew).
    File(PathBuf),
}

/// The answer of a send that found its send id finished, attached to it, or made it.
fn answer(
    send_id: Option<&SendId>,
    packet: PacketId,
    outcome: &SenderOutcome,
    previously: Option<Previously>,
) -> SendAnswer {
    let (result, receipt) = match outcome {
        SenderOutcome::Delivered(b) => (SendResult::Delivered, Some(crate::api::ReceiptSummary::of_bundle(b))),
        SenderOutcome::Refused(b) => (SendResult::Refused, Some(crate::api::ReceiptSummary::of_bundle(b))),
        SenderOutcome::NotStored => (SendResult::Pending, None),
    };
    SendAnswer { send_id: send_id.cloned(), packet, result, receipt, previously, pending: None }
}

/// The answer to a send that had finished with receipt `r`.
fn answer_of_receipt(
    send_id: Option<&SendId>,
    packet: PacketId,
    r: &Receipt,
    previously: Option<Previously>,
) -> SendAnswer {
    let result = match r.outcome {
        tally_wire::Outcome::Accepted { .. } => SendResult::Delivered,
        tally_wire::Outcome::Rejected { .. } => SendResult::Refused,
    };
    let receipt = Some(crate::api::ReceiptSummary::of(r));
    SendAnswer { send_id: send_id.cloned(), packet, result, receipt, previously, pending: None }
}

impl Node {
    /// A send under `send_id` (spec/api.md, "Sends"): returns the receipt of
    /// a finished send under it, attaches to an unfinished one, or seals and
    /// sends the payload. A failed exchange keeps the send (the answer is
    /// pending, the node offers it again), unless its payload came from a
    /// stream and did not go out whole; a payload that ends early or fails
    /// cancels it, and nothing of it is kept. A stream this request did not
    /// send is read to its end, so that the client reads the answer.
    pub(crate) async fn submit<R: AsyncRead + Unpin + Send>(
        &self,
        send_id: &SendId,
        options: &SendOptions,
        payload: Payload<R>,
        progress: Arc<AtomicU64>,
    ) -> Result<SendAnswer, NodeError> {
        let mut payload = Some(payload);
        let result = self.submit_once(send_id, options, &mut payload, progress).await;
        if let Some(Payload::Stream(mut reader, _)) = payload {
            let _ = tokio::io::copy(&mut reader, &mut tokio::io::sink()).await;
        }
        result
    }

    async fn submit_once<R: AsyncRead + Unpin + Send>(
        &self,
        send_id: &SendId,
        options: &SendOptions,
        payload: &mut Option<Payload<R>>,
        progress: Arc<AtomicU64>,
    ) -> Result<SendAnswer, NodeError> {
        let len = match payload {
            Some(Payload::Stream(_, len)) => *len,
            Some(Payload::File(path)) => file_len(path)?,
            None => return Err(NodeError::Inconsistent("a send without its payload".into())),
        };
        let mut waited = false;
        loop {
            let mut ended = self.sends.ended.subscribe();
            let guard = self.sends.submitting(send_id).await;
            if let Some(packet) = self.state.store.send_packet(send_id.as_str())? {
                // The outbox before the receipt: a send that finishes between
                // the two reads is then seen finished, never as cancelled.
                if let Some(record) = self.state.store.outbox_entry(&packet)? {
                    same_send(send_id, options, len, &record.to, record.offer.header.value())?;
                    let Some(running) = self.sends.run(packet) else {
                        drop(guard);
                        // Wait for the send under way to end, then look again.
                        let _ = ended.changed().await;
                        waited = true;
                        continue;
                    };
                    drop(guard);
                    match self.offer_again(packet, running).await {
                        // Cancelled or sealed anew meanwhile: look again, with this request's payload.
                        Err(NodeError::Cancelled(_) | NodeError::NotFound(_)) => continue,
                        result => return self.answer_of(send_id, packet, result, Some(Previously::Attached)),
                    }
                }
                if let Some(r) = self.sent_receipt(&packet)? {
                    same_receipted(send_id, options, len, &r)?;
                    // Finished before this send came, or while it waited for it.
                    let previously = if waited { Previously::Attached } else { Previously::Finished };
                    return Ok(answer_of_receipt(Some(send_id), packet, &r, Some(previously)));
                }
                // Known but neither unfinished nor receipted: it was cancelled; send anew.
            }
            let source = match payload {
                Some(Payload::File(path)) => Some(path.clone()),
                _ => None,
            };
            // Opened before anything is recorded: a file that cannot be read records nothing.
            let file = match &source {
                Some(path) => Some(crate::files::open_source(&self.state.dir, path).await?),
                None => None,
            };
            let prepared = self.prepare(options, len, source, Some(send_id), None).await?;
            drop(guard);
            let packet = prepared.id;
            let result = match (payload.take(), file) {
                (Some(Payload::Stream(reader, _)), _) => self.transmit(prepared, reader, len, progress).await,
                (_, Some(file)) => self.transmit(prepared, file, len, progress).await,
                _ => return Err(NodeError::Inconsistent("a send without its payload".into())),
            };
            return self.answer_of(send_id, packet, result, None);
        }
    }

    /// The answer for a send's result: a pending answer for a failed exchange.
    fn answer_of(
        &self,
        send_id: &SendId,
        packet: PacketId,
        result: Result<(PacketId, SenderOutcome), NodeError>,
        previously: Option<Previously>,
    ) -> Result<SendAnswer, NodeError> {
        match result {
            Ok((packet, outcome)) => Ok(answer(Some(send_id), packet, &outcome, previously)),
            Err(e @ NodeError::Transport(_)) => {
                let now_packet = self.state.store.send_packet(send_id.as_str())?.unwrap_or(packet);
                let retry = lock(&self.sends.retries).get(&now_packet).cloned();
                let to = self.state.store.outbox_entry(&now_packet)?.map(|r| r.to);
                let endpoint = to.as_ref().map(|to| self.endpoint_of(to)).unwrap_or_default();
                Ok(SendAnswer {
                    send_id: Some(send_id.clone()),
                    packet: now_packet,
                    result: SendResult::Pending,
                    receipt: None,
                    previously,
                    pending: Some(Pending {
                        endpoint,
                        error: e.to_string(),
                        attempts: retry.as_ref().map_or(1, |r| r.attempts),
                        next_try: retry.and_then(|r| r.next_try).map(|(_, at)| tally_grant::rfc3339(at)),
                    }),
                })
            }
            Err(e) => Err(e),
        }
    }

    /// The answer for a packet's outcome, with its send id (for `tally resume`).
    pub(crate) fn answer_for(&self, packet: PacketId, outcome: &SenderOutcome) -> Result<SendAnswer, NodeError> {
        let send_id = self.state.store.send_id_of(&packet)?.and_then(|s| SendId::try_from(s).ok());
        Ok(answer(send_id.as_ref(), packet, outcome, None))
    }

    /// The state of the send under `send_id` (`GET /v1/sends/{send_id}`).
    pub fn send_state(&self, send_id: &SendId) -> Result<SendAnswer, NodeError> {
        let packet = self.state.store.send_packet(send_id.as_str())?.ok_or_else(|| {
            NodeError::NotFound(format!("no send under send id {send_id} on this node (never made, or cancelled)"))
        })?;
        if let Some(r) = self.sent_receipt(&packet)? {
            return Ok(answer_of_receipt(Some(send_id), packet, &r, None));
        }
        if let Some(record) = self.state.store.outbox_entry(&packet)? {
            let retry = lock(&self.sends.retries).get(&packet).cloned();
            return Ok(SendAnswer {
                send_id: Some(send_id.clone()),
                packet,
                result: SendResult::Pending,
                receipt: None,
                previously: None,
                pending: retry.map(|r| Pending {
                    endpoint: self.endpoint_of(&record.to),
                    error: r.last_error,
                    attempts: r.attempts,
                    next_try: r.next_try.map(|(_, at)| tally_grant::rfc3339(at)),
                }),
            });
        }
        Err(NodeError::NotFound(format!("the send under send id {send_id} was cancelled; nothing of it is kept")))
    }

    /// The receipt (or rejection) logged for a packet this node sent: in its
    /// bundle, or (logged by this node before receipts came in bundles) on its own.
    fn sent_receipt(&self, packet: &PacketId) -> Result<Option<Receipt>, NodeError> {
        let indices = self.state.store.receipt_indices_of(packet, tally_store::ReceiptSide::Received)?;
        let Some(index) = indices.last() else { return Ok(None) };
        match self.state.log_entry(*index)? {
            LogEntry::BundleReceived(b) => Ok(Some(tally_receipt::bundled_receipt(&b.receipt).clone())),
            LogEntry::ReceiptReceived(r) => Ok(Some(r.unverified().clone())),
            _ => {
                Err(NodeError::Inconsistent(format!("log entry {index} is indexed as a received receipt but is none")))
            }
        }
    }

    /// The outcome logged for a packet this node sent, with its bundle.
    pub(crate) fn sent_outcome(&self, packet: &PacketId) -> Result<Option<SenderOutcome>, NodeError> {
        let indices = self.state.store.receipt_indices_of(packet, tally_store::ReceiptSide::Received)?;
        let Some(index) = indices.last() else { return Ok(None) };
        let LogEntry::BundleReceived(b) = self.state.log_entry(*index)? else {
            return Err(NodeError::Refused(format!(
                "packet {packet} was receipted before receipts came in bundles: its receipt is in the log (tally receipts show), without a bundle"
            )));
        };
        Ok(Some(match tally_receipt::bundled_receipt(&b.receipt).outcome {
            tally_wire::Outcome::Accepted { .. } => SenderOutcome::Delivered(b),
            tally_wire::Outcome::Rejected { .. } => SenderOutcome::Refused(b),
        }))
    }

    /// Removes a cancelled send from the outbox, with its send id, durably;
    /// then forgets its retries.
    pub(crate) async fn forget_send(&self, packet: PacketId, send_id: Option<SendId>) -> Result<(), NodeError> {
        let state = Arc::clone(&self.state);
        tokio::task::spawn_blocking(move || {
            state.commit(&[], move |tx| {
                tx.remove_outbox(&packet)?;
                match &send_id {
                    Some(s) => tx.remove_send_id(s.as_str(), &packet),
                    None => Ok(()),
                }
            })
        })
        .await??;
        lock(&self.sends.retries).remove(&packet);
        Ok(())
    }

    /// Sends the payload of a prepared packet; keeps the send for a retry
    /// if the exchange fails, cancels it if the payload does.
    pub(crate) async fn transmit(
        &self,
        prepared: crate::node::Prepared<'_>,
        payload: impl AsyncRead + Unpin + Send,
        len: u64,
        progress: Arc<AtomicU64>,
    ) -> Result<(PacketId, SenderOutcome), NodeError> {
        let crate::node::Prepared { packet, id, to, send_id, reservation, running, streamed } = prepared;
        let failed = Arc::new(AtomicBool::new(false));
        let watched = Watched { inner: payload, read: 0, len, failed: Arc::clone(&failed) };
        let result = self.endpoint.send(packet, crate::counting::Counting::new(watched, Arc::clone(&progress))).await;
        drop(reservation);
        let result = result.map_err(NodeError::from);
        // A stream that did not go out whole cannot have been stored, and cannot be read again.
        let unsendable = streamed && progress.load(Ordering::Relaxed) < len;
        match &result {
            Err(e) if failed.load(Ordering::Relaxed) || unsendable => {
                let why = if failed.load(Ordering::Relaxed) {
                    format!("the payload failed before its end ({e})")
                } else {
                    format!(
                        "could not deliver it to {to} at {} ({e}), and its payload came from a stream that cannot be read again",
                        self.endpoint_of(&to)
                    )
                };
                tracing::warn!(peer = %to, packet = %id, error = %e, "send cancelled: {why}");
                self.forget_send(id, send_id.clone()).await?;
                self.sends.peer_result(&to, &result, self.state.now());
                drop(running);
                return Err(NodeError::Cancelled(format!(
                    "{why}: the send is cancelled, and nothing of it is kept; send it again"
                )));
            }
            Err(e) => self.failed_offer(&id, &to, e),
            Ok(outcome) => {
                lock(&self.sends.retries).remove(&id);
                if !matches!(outcome, SenderOutcome::NotStored) {
                    self.state.metrics.sent_bytes.inc_by(len);
                }
            }
        }
        self.sends.peer_result(&to, &result, self.state.now());
        drop(running);
        result.map(|outcome| (id, outcome))
    }
}

/// Refuses a send id reused for another flow or another payload length.
fn same_send(
    send_id: &SendId,
    options: &SendOptions,
    len: u64,
    to: &AgencyId,
    h: &tally_wire::PacketHeader,
) -> Result<(), NodeError> {
    let same = *to == options.to
        && h.grant == options.grant
        && h.purpose == options.purpose
        && h.category == options.category
        && h.content_type == options.content_type
        && h.payload_len == len;
    if same {
        return Ok(());
    }
    Err(reused(send_id, to, &h.grant, h.payload_len))
}

/// The same for a receipted send, against its receipt.
fn same_receipted(send_id: &SendId, options: &SendOptions, len: u64, r: &Receipt) -> Result<(), NodeError> {
    let same = r.recipient == options.to
        && r.grant == options.grant
        && r.purpose == options.purpose
        && r.category == options.category
        && r.payload_len == len;
    if same {
        return Ok(());
    }
    Err(reused(send_id, &r.recipient, &r.grant, r.payload_len))
}

fn reused(send_id: &SendId, to: &AgencyId, grant: &tally_wire::GrantId, len: u64) -> NodeError {
    NodeError::Refused(format!(
        "send id {send_id} was used for another send (to {to} under grant {grant}, {len} bytes): give this send an id of its own"
    ))
}

/// An outcome's name for the log.
pub(crate) fn outcome_name(outcome: &SenderOutcome) -> &'static str {
    match outcome {
        SenderOutcome::Delivered(_) => "delivered",
        SenderOutcome::Refused(_) => "refused",
        SenderOutcome::NotStored => "not stored",
    }
}

fn file_len(path: &Path) -> Result<u64, NodeError> {
    if !crate::files::is_regular_file(path) {
        return Err(NodeError::Usage(format!("{}: not a regular file", path.display())));
    }
    Ok(std::fs::metadata(path).map_err(NodeError::file(path))?.len())
}
