//! The node as the transport's [`Host`]: the policy decision on every
//! offer and request, durable storage before receipts, and the log.

use std::io;
use std::path::PathBuf;
use std::sync::Arc;
use std::sync::atomic::Ordering;

use tally_grant::{Authorization, Flow};
use tally_transport::{Host, Inbox, OfferContext, OfferDecision, Outgoing};
use tally_wire::{
    AgencyId, CloseCode, Direction, Fetch, GrantChain, LogEntry, Notice, PacketId, PullRequest, ReasonCode, Receipt,
    Signed,
};
use tokio::io::AsyncWriteExt;

use crate::state::{InboxRecordDraft, NodeState};
use crate::vault::BlobSealer;
use crate::{NodeError, hex};

/// The host of a node's endpoint.
pub struct NodeHost(pub(crate) Arc<NodeState>);

fn io_error(e: NodeError) -> io::Error {
    io::Error::other(e.to_string())
}

async fn blocking<T: Send + 'static>(f: impl FnOnce() -> Result<T, NodeError> + Send + 'static) -> io::Result<T> {
    tokio::task::spawn_blocking(f).await.map_err(io::Error::other)?.map_err(io_error)
}

/// Marks a packet as being received until dropped.
struct Receiving {
    state: Arc<NodeState>,
    packet: PacketId,
}

impl Drop for Receiving {
    fn drop(&mut self) {
        if let Ok(mut r) = self.state.receiving.lock() {
            r.remove(&self.packet);
        }
    }
}

/// One incoming packet being written: encrypted under its grant's data key into a part file.
pub struct NodeInbox {
    state: Arc<NodeState>,
    file: tokio::fs::File,
    part: PathBuf,
    sealer: BlobSealer,
    draft: InboxRecordDraft,
    packet: PacketId,
    chain: GrantChain,
    auth: Authorization,
    _receiving: Receiving,
}

impl Inbox for NodeInbox {
    async fn write(&mut self, plaintext: &[u8]) -> io::Result<()> {
        let record = self.sealer.record(plaintext, false).map_err(io_error)?;
        self.file.write_all(record).await?;
        self.draft.size += plaintext.len() as u64;
        Ok(())
    }

    async fn commit(mut self, receipt: Receipt) -> io::Result<Signed<Receipt>> {
        let last = self.sealer.record(&[], true).map_err(io_error)?;
        self.file.write_all(last).await?;
        self.file.flush().await?;
        self.file.sync_all().await?;
        drop(self.file);
        let path = self.state.blob_path(&self.packet);
        tokio::fs::rename(&self.part, &path).await?;
        let (state, draft, chain, auth, receiving) = (self.state, self.draft, self.chain, self.auth, self._receiving);
        let stored = blocking(move || {
            crate::files::sync_parent(&path)?;
            state.store_received(draft, receipt, &chain, &auth)
        })
        .await;
        drop(receiving);
        stored
    }

    async fn discard(self) {
        drop(self.file);
        let _ = tokio::fs::remove_file(&self.part).await;
    }
}

impl NodeHost {
    fn deny(&self, reason: ReasonCode) -> OfferDecision<NodeInbox> {
        self.0.metrics.rejected(reason);
        OfferDecision::Deny(reason)
    }

    async fn decide(&self, offer: &OfferContext<'_>) -> Result<OfferDecision<NodeInbox>, NodeError> {
        let state = &self.0;
        let h = offer.header;
        let packet = h.packet_id;
        // A packet offered again while its first exchange still runs (its
        // sender restarted) waits for that exchange to end: stored, it gets
        // its receipt; dropped, it is taken anew. Never two inboxes at once.
        let started = std::time::Instant::now();
        let receiving = loop {
            let known = {
                let state = Arc::clone(state);
                tokio::task::spawn_blocking(move || state.store.inbox(&packet))
                    .await
                    .map_err(|e| NodeError::Database(e.to_string()))??
            };
            if let Some(record) = known {
                return Ok(OfferDecision::AlreadyReceipted(record.receipt));
            }
            if state.receiving.lock().map_err(|_| NodeError::Database("lock poisoned".into()))?.insert(packet) {
                break Receiving { state: Arc::clone(state), packet };
            }
            if started.elapsed() > state.config.timeouts.transport().exchange.idle_timeout * 2 {
                return Ok(self.deny(ReasonCode::TEMPORARILY_UNAVAILABLE));
            }
            tokio::time::sleep(std::time::Duration::from_millis(50)).await;
        };
        if h.recipient != state.agency {
            return Ok(self.deny(ReasonCode::WRONG_RECIPIENT));
        }
        if &h.recipient_key != state.keys.kem.key_id() {
            return Ok(self.deny(ReasonCode::UNKNOWN_RECIPIENT_KEY));
        }
        let directory = state.directory();
        let Some(sender_key) = tally_grant::Directory::identity_key(&*directory, &h.sender) else {
            return Ok(self.deny(ReasonCode::UNKNOWN_ISSUER_KEY));
        };
        let now = state.now();
        let flow = Flow {
            grant: h.grant,
            sender: h.sender.clone(),
            recipient: state.agency.clone(),
            purpose: h.purpose.clone(),
            category: h.category.clone(),
            bytes: h.payload_len,
            direction: offer.direction,
            at: now,
        };
        let auth = match state.decide(&flow, offer.grant_chain) {
            Ok(auth) => auth,
            Err(denial) => {
                tracing::info!(packet = %packet, sender = %h.sender, %denial, "offer refused");
                return Ok(self.deny(denial.reason_code()));
            }
        };
        state.reserve(&auth, packet, h.payload_len, now);
        let (grant, retention) = (h.grant, auth.retention_secs);
        let key = {
            let state = Arc::clone(state);
            tokio::task::spawn_blocking(move || state.vault.key_for(grant, retention, now))
                .await
                .map_err(|e| NodeError::Database(e.to_string()))??
        };
        let sealer = BlobSealer::new(&key, &packet, &grant)?;
        let part = state.blobs.join("incoming").join(format!("{}.part", hex::encode(&packet.0)));
        let file = tokio::fs::File::create(&part).await.map_err(NodeError::file(&part))?;
        Ok(OfferDecision::Accept {
            kem_key: Arc::clone(&state.keys.kem),
            sender_key,
            inbox: NodeInbox {
                state: Arc::clone(state),
                file,
                part,
                sealer,
                draft: InboxRecordDraft {
                    sender: h.sender.clone(),
                    grant,
                    purpose: h.purpose.clone(),
                    category: h.category.clone(),
                    content_type: h.content_type.clone(),
                    size: 0,
                    epoch: key.epoch,
                },
                packet,
                chain: offer.grant_chain.clone(),
                auth,
                _receiving: receiving,
            },
        })
    }
}

impl Host for NodeHost {
    type Inbox = NodeInbox;

    async fn decide_offer(&self, offer: OfferContext<'_>) -> OfferDecision<NodeInbox> {
        match self.decide(&offer).await {
            Ok(decision) => decision,
            Err(e) => {
                tracing::error!(error = %e, "cannot take an offer");
                self.deny(ReasonCode::TEMPORARILY_UNAVAILABLE)
            }
        }
    }

    async fn sign_rejection(&self, receipt: Receipt) -> io::Result<Signed<Receipt>> {
        let state = Arc::clone(&self.0);
        blocking(move || {
            let signed = state
                .identity
                .sign_object(receipt)
                .map_err(|source| NodeError::Key { path: state.dir.clone(), source })?;
            state.log.append(&[LogEntry::ReceiptIssued(signed.clone())])?;
            Ok(signed)
        })
        .await
    }

    async fn log_receipt(&self, receipt: &Signed<Receipt>) -> io::Result<()> {
        let state = Arc::clone(&self.0);
        let receipt = receipt.clone();
        blocking(move || {
            let packet = receipt.unverified().packet_id;
            // The receipt in the log and the send off the outbox, at once.
            state.commit(&[LogEntry::ReceiptReceived(receipt)], move |tx| {
                tx.open_table(crate::store::OUTBOX)?.remove(packet.0)?;
                Ok(())
            })?;
            state.metrics.sent.fetch_add(1, Ordering::Relaxed);
            Ok(())
        })
        .await
    }

    async fn answer_request(
        &self,
        peer: &AgencyId,
        request: &Signed<PullRequest>,
        grant_chain: &GrantChain,
    ) -> Result<Vec<Outgoing>, ReasonCode> {
        let state = &self.0;
        let directory = state.directory();
        let key = tally_grant::Directory::identity_key(&*directory, peer).ok_or(ReasonCode::UNKNOWN_ISSUER_KEY)?;
        let r = key.verify_object(request).map_err(|_| ReasonCode::BAD_SIGNATURE)?;
        if &r.requester != peer {
            return Err(ReasonCode::SENDER_NOT_AUTHENTICATED_PEER);
        }
        if r.responder != state.agency {
            return Err(ReasonCode::WRONG_RECIPIENT);
        }
        let flow = Flow {
            grant: r.grant,
            sender: state.agency.clone(),
            recipient: peer.clone(),
            purpose: r.purpose.clone(),
            category: r.category.clone(),
            bytes: 0,
            direction: Direction::Pull,
            at: state.now(),
        };
        if let Err(denial) = state.decide(&flow, grant_chain) {
            tracing::info!(requester = %peer, %denial, "pull request refused");
            state.metrics.rejected(denial.reason_code());
            return Err(denial.reason_code());
        }
        crate::pull::answer(state, r, grant_chain).await.map_err(|e| {
            tracing::warn!(requester = %peer, error = %e, "cannot answer a pull request");
            ReasonCode::TEMPORARILY_UNAVAILABLE
        })
    }

    async fn keep_notice(&self, peer: &AgencyId, notice: Notice) -> Result<(), (CloseCode, String)> {
        let (state, peer) = (Arc::clone(&self.0), peer.clone());
        tokio::task::spawn_blocking(move || crate::notice::keep(&state, &peer, notice))
            .await
            .map_err(|e| (CloseCode::INTERNAL_ERROR, e.to_string()))?
    }

    async fn answer_fetch(
        &self,
        peer: &AgencyId,
        fetch: Fetch,
    ) -> Result<Box<dyn tokio::io::AsyncRead + Send + Unpin>, (CloseCode, String)> {
        let (state, peer) = (Arc::clone(&self.0), peer.clone());
        let bytes = tokio::task::spawn_blocking(move || crate::fetch::answer(&state, &peer, fetch))
            .await
            .map_err(|e| (CloseCode::INTERNAL_ERROR, e.to_string()))??;
        Ok(Box::new(io::Cursor::new(bytes)))
    }
}
