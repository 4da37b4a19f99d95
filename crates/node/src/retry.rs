//! Unfinished sends offered again (spec/api.md, "Sends"): by the node
//! itself when a retry is due, with backoff and a limit (`[retry]`), and
//! all at once by `tally resume`. A packet the recipient never stored is
//! sealed anew from its file under the same send id; one whose payload
//! came from a stream is cancelled.

use std::path::PathBuf;
use std::sync::Arc;
use std::time::{Duration, Instant};

use tally_protocol::SenderOutcome;
use tally_wire::{AgencyId, PacketId, Timestamp};

use crate::NodeError;
use crate::api::{SendId, SendOptions, UnfinishedSend};
use crate::node::Node;
use crate::sends::{Running, outcome_name};
use crate::state::lock;

/// The failed offers of one unfinished packet.
#[derive(Clone)]
pub(crate) struct Retry {
    /// Offers that failed so far.
    pub(crate) attempts: u32,
    /// Why the last one failed.
    pub(crate) last_error: String,
    /// When to offer it again; `None` once the limit is reached.
    pub(crate) next_try: Option<(Instant, Timestamp)>,
}

impl Node {
    /// Counts a failed offer of `packet` and schedules the next (backoff, then the limit).
    pub(crate) fn failed_offer(&self, packet: &PacketId, to: &AgencyId, e: &NodeError) {
        let policy = &self.state.config.retry;
        let header = self.state.store.outbox_entry(packet).ok().flatten().map(|r| r.offer.header.value().clone());
        let (grant, bytes) = header.map_or((None, None), |h| (Some(h.grant), Some(h.payload_len)));
        let mut retries = lock(&self.sends.retries);
        let attempts = retries.get(packet).map_or(0, |r| r.attempts) + 1;
        let next_try = (attempts < policy.attempts).then(|| {
            let wait = policy.first.saturating_mul(2u32.saturating_pow(attempts - 1)).min(policy.max);
            (Instant::now() + wait, self.state.now().checked_add(wait).unwrap_or(self.state.now()))
        });
        tracing::warn!(peer = %to, packet = %packet, grant = ?grant, bytes = ?bytes, attempts, error = %e,
            next_try = ?next_try.map(|(_, at)| tally_grant::rfc3339(at)), "send failed; kept for a retry");
        retries.insert(*packet, Retry { attempts, last_error: e.to_string(), next_try });
    }

    /// Offers an unfinished packet again: its receipt, if the recipient
    /// stored it; sealed anew from its file, if it did not; cancelled if it
    /// did not and it came from a stream that cannot be read again.
    ///
    /// `running` marks `packet`; its record is read again under it, so that
    /// a send that finished (or was sealed anew) meanwhile is not offered twice.
    pub(crate) async fn offer_again(
        &self,
        packet: PacketId,
        running: Running<'_>,
    ) -> Result<(PacketId, SenderOutcome), NodeError> {
        let Some(record) = self.state.store.outbox_entry(&packet)? else {
            return match self.sent_outcome(&packet)? {
                Some(outcome) => Ok((packet, outcome)),
                None => Err(NodeError::NotFound(format!(
                    "packet {packet} is no longer unfinished: it was sealed anew or cancelled meanwhile"
                ))),
            };
        };
        let result = self.endpoint.resend(&record.to, record.offer.clone()).await.map_err(NodeError::from);
        self.sends.peer_result(&record.to, &result, self.state.now());
        match result {
            Ok(SenderOutcome::NotStored) => {}
            Ok(outcome) => {
                lock(&self.sends.retries).remove(&packet);
                return Ok((packet, outcome));
            }
            Err(e) => {
                self.failed_offer(&packet, &record.to, &e);
                return Err(e);
            }
        }
        let send_id =
            self.state.store.send_id_of(&packet)?.map(SendId::try_from).transpose().map_err(NodeError::Inconsistent)?;
        let Some(path) = record.source.map(PathBuf::from) else {
            self.forget_send(packet, send_id).await?;
            return Err(NodeError::Cancelled(
                "the recipient never stored the packet, and its payload came from a stream that cannot be read again: the send is cancelled; send it again"
                    .into(),
            ));
        };
        // The recipient never stored it: seal it anew from its file, once,
        // under the same send id (the old packet leaves the outbox in the
        // commit that records the new one).
        let h = record.offer.header.value();
        let options = SendOptions {
            to: record.to.clone(),
            grant: h.grant,
            purpose: h.purpose.clone(),
            category: h.category.clone(),
            content_type: h.content_type.clone(),
        };
        // The old packet stays marked until the new one is recorded in its
        // place, and keeps its failed attempts (the backoff goes on). A send
        // that cannot be sealed anew (its file gone, its grant revoked or used
        // up) stays unfinished and is not offered again by itself: its error
        // shows in the status and the health.
        let resealed = async {
            let file = crate::files::open_source(&self.state.dir, &path).await?;
            let len = file.metadata().await.map_err(NodeError::file(&path))?.len();
            let prepared = self.prepare(&options, len, Some(path.clone()), send_id.as_ref(), Some(packet)).await?;
            Ok::<_, NodeError>((file, len, prepared))
        };
        let (file, len, prepared) = match resealed.await {
            Ok(resealed) => resealed,
            Err(e) => {
                self.gave_up(&packet, &record.to, &e);
                return Err(e);
            }
        };
        let carried = lock(&self.sends.retries).remove(&packet);
        if let Some(r) = carried {
            lock(&self.sends.retries).insert(prepared.id, r);
        }
        drop(running);
        self.transmit(prepared, file, len, Arc::default()).await
    }

    /// Records that `packet` cannot be offered again by the node itself.
    fn gave_up(&self, packet: &PacketId, to: &AgencyId, e: &NodeError) {
        tracing::warn!(peer = %to, packet = %packet, error = %e, "unfinished send cannot be sealed anew; not retried by itself");
        let mut retries = lock(&self.sends.retries);
        let attempts = retries.get(packet).map_or(0, |r| r.attempts) + 1;
        retries.insert(*packet, Retry { attempts, last_error: e.to_string(), next_try: None });
    }

    /// Offers again every unfinished send that is not running now, whatever
    /// its retries (`tally resume`). Returns, per packet, the outcome.
    pub async fn resume_sends(
        &self,
    ) -> Result<Vec<(PacketId, Result<(PacketId, SenderOutcome), NodeError>)>, NodeError> {
        let mut results = Vec::new();
        for (id, _) in self.state.store.outbox()? {
            let Some(running) = self.sends.run(id) else { continue };
            match self.offer_again(id, running).await {
                Err(NodeError::NotFound(_)) => {}
                result => results.push((id, result)),
            }
        }
        Ok(results)
    }

    /// Starts an offer of every unfinished send whose retry is due (or that
    /// has not been offered since the node started), each in its own task.
    pub(crate) fn retry_due(self: &Arc<Self>) -> Result<(), NodeError> {
        let now = Instant::now();
        for (id, _) in self.state.store.outbox()? {
            let due = match lock(&self.sends.retries).get(&id) {
                None => true,
                Some(r) => r.next_try.is_some_and(|(at, _)| at <= now),
            };
            if !due || self.sends.is_running(&id) {
                continue;
            }
            let node = Arc::clone(self);
            tokio::spawn(async move {
                let Some(running) = node.sends.run(id) else { return };
                match node.offer_again(id, running).await {
                    Ok((packet, outcome)) => {
                        tracing::info!(%packet, outcome = outcome_name(&outcome), "unfinished send offered again")
                    }
                    Err(NodeError::Transport(_) | NodeError::NotFound(_)) => {}
                    Err(e) => tracing::warn!(packet = %id, error = %e, "unfinished send could not be offered again"),
                }
            });
        }
        Ok(())
    }

    /// The unfinished sends, for the status.
    pub(crate) fn unfinished(&self) -> Result<Vec<UnfinishedSend>, NodeError> {
        let retries = lock(&self.sends.retries).clone();
        let mut out = Vec::new();
        for (packet, record) in self.state.store.outbox()? {
            let retry = retries.get(&packet);
            let running = self.sends.is_running(&packet);
            out.push(UnfinishedSend {
                send_id: self.state.store.send_id_of(&packet)?.and_then(|s| SendId::try_from(s).ok()),
                packet,
                to: record.to.clone(),
                size: record.offer.header.value().payload_len,
                running,
                attempts: retry.map_or(0, |r| r.attempts),
                last_error: retry.map(|r| r.last_error.clone()),
                next_try: if running {
                    None
                } else {
                    retry.and_then(|r| r.next_try).map(|(_, at)| tally_grant::rfc3339(at))
                },
            });
        }
        Ok(out)
    }
}

/// How the node offers unfinished sends again (`[retry]` in tally.toml).
#[derive(Clone, Debug, serde::Serialize, serde::Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct RetryPolicy {
    /// The wait after the first failed offer; it doubles with each (default 2 s).
    #[serde(with = "crate::config::humantime_serde_str")]
    pub first: Duration,
    /// The longest wait between two offers (default 5 min).
    #[serde(with = "crate::config::humantime_serde_str")]
    pub max: Duration,
    /// Failed offers after which the node stops by itself (default 100); `tally resume` still offers it.
    pub attempts: u32,
}

impl Default for RetryPolicy {
    fn default() -> Self {
        Self { first: Duration::from_secs(2), max: Duration::from_secs(300), attempts: 100 }
    }
}
