//! The node as the transport's [`Host`]: the policy decision on every
//! offer and request, durable storage before receipts, and the log.
//!
//! Refusals are signed only while the peer is within its refusal rate;
//! beyond it an offer or request is closed without a signed statement
//! (`TOO_MANY_REFUSALS`), so a hostile member cannot make this node sign
//! and log without end. Only receipts naming this node are signed.

use std::io;
use std::path::PathBuf;
use std::sync::Arc;

use tally_envelope::CommitmentKey;
use tally_grant::Flow;
use tally_transport::{Host, Inbox, OfferContext, OfferDecision, Outgoing, Refusal};
use tally_wire::{
    AgencyId, CloseCode, Direction, Evidence, Fetch, GrantChain, Notice, PacketId, PullRequest, ReasonCode, Receipt,
    ReceiptBundle, Signed,
};
use tokio::io::AsyncWriteExt;

use crate::limits::OpenPayload;
use crate::reservation::Reservation;
use tally_store::{BlobSealer, DataKey, seal_commitment_key};

use crate::state::{InboxRecordDraft, NodeState, lock};
use crate::{NodeError, hex};

/// The host of a node's endpoint.
pub struct NodeHost(pub(crate) Arc<NodeState>);

/// A node error at the host boundary, kept as the I/O error's source.
fn io_error(e: impl Into<NodeError>) -> io::Error {
    io::Error::other(e.into())
}

async fn blocking<T: Send + 'static>(f: impl FnOnce() -> Result<T, NodeError> + Send + 'static) -> io::Result<T> {
    tokio::task::spawn_blocking(f).await.map_err(io::Error::other)?.map_err(io_error)
}

/// Marks a packet as being received until dropped, then wakes offers of it that wait.
struct Receiving {
    state: Arc<NodeState>,
    packet: PacketId,
}

impl Drop for Receiving {
    fn drop(&mut self) {
        if let Some(waiting) = lock(&self.state.receiving).remove(&self.packet) {
            waiting.notify_waiters();
        }
    }
}

/// One incoming packet being written: encrypted under its grant's data key,
/// kept in memory while it fits in [`tally_store::MAX_INLINE_BLOB`] (then
/// stored in the database, in the transaction that records the packet), or
/// else written to a part file, opened when the records outgrow that.
pub struct NodeInbox {
    state: Arc<NodeState>,
    file: Option<tokio::fs::File>,
    /// The sealed records so far, while no part file is open.
    inline: Vec<u8>,
    /// The packet's place in the open-file budgets, taken when its offer was accepted.
    _permit: OpenPayload,
    part: PathBuf,
    key: Arc<DataKey>,
    sealer: BlobSealer,
    draft: InboxRecordDraft,
    packet: PacketId,
    chain: GrantChain,
    reservation: Reservation,
    _receiving: Receiving,
}

/// Writes a sealed `record`: into `inline` while it fits and no part file
/// is open, else into the part file at `part` (created, with what `inline`
/// held, when the records first outgrow it).
async fn write_record(
    file: &mut Option<tokio::fs::File>,
    inline: &mut Vec<u8>,
    part: &std::path::Path,
    record: &[u8],
) -> io::Result<()> {
    if file.is_none() && inline.len() + record.len() <= tally_store::MAX_INLINE_BLOB {
        inline.extend_from_slice(record);
        return Ok(());
    }
    let file = match file {
        Some(f) => f,
        None => {
            // Kept at once: a failed write below leaves a part file that `discard` removes.
            let created = file.insert(tokio::fs::File::from_std(crate::files::create_private(part).map_err(io_error)?));
            created.write_all(inline).await?;
            *inline = Vec::new();
            created
        }
    };
    file.write_all(record).await
}

impl Inbox for NodeInbox {
    async fn write(&mut self, plaintext: &[u8]) -> io::Result<()> {
        let record = self.sealer.record(plaintext, false).map_err(io_error)?;
        write_record(&mut self.file, &mut self.inline, &self.part, record).await?;
        self.draft.size += plaintext.len() as u64;
        Ok(())
    }

    async fn commit(
        mut self,
        receipt: Receipt,
        evidence: Evidence,
        commitment_key: CommitmentKey,
    ) -> io::Result<ReceiptBundle> {
        let last = self.sealer.record(&[], true).map_err(io_error)?;
        if let Err(e) = write_record(&mut self.file, &mut self.inline, &self.part, last).await {
            if self.file.take().is_some() {
                let _ = tokio::fs::remove_file(&self.part).await;
            }
            return Err(e);
        }
        let path = self.state.blob_path(&self.packet);
        // A small payload goes into the database with its record; a larger
        // one is made durable in its blob file first.
        let inline = match self.file.take() {
            None => Some(std::mem::take(&mut self.inline)),
            Some(mut file) => {
                let written = async {
                    file.flush().await?;
                    file.sync_all().await
                }
                .await;
                drop(file);
                if let Err(e) = match written {
                    Ok(()) => tokio::fs::rename(&self.part, &path).await,
                    Err(e) => Err(e),
                } {
                    let _ = tokio::fs::remove_file(&self.part).await;
                    return Err(e);
                }
                None
            }
        };
        let sealed_key = seal_commitment_key(&self.key, &self.packet, &self.draft.grant, commitment_key.reveal())
            .map_err(io_error)?;
        let Self { state, mut draft, chain, reservation, _receiving: receiving, .. } = self;
        let blob = inline.is_none().then(|| path.clone());
        draft.inline = inline;
        let stored = blocking(move || {
            if draft.inline.is_none() {
                crate::files::sync_parent(&path)?;
            }
            state.store_received(draft, receipt, evidence, sealed_key, &chain, reservation)
        })
        .await;
        if let (Err(_), Some(blob)) = (&stored, blob) {
            // Not stored, not receipted: the blob is no one's.
            let _ = tokio::fs::remove_file(&blob).await;
        }
        drop(receiving);
        stored
    }

    async fn discard(mut self) {
        if self.file.take().is_some() {
            let _ = tokio::fs::remove_file(&self.part).await;
        }
        // The reservation is given back as `self` drops.
    }
}

impl NodeHost {
    /// A denial for `reason`; whether it is signed is decided when it is (`sign_rejection`).
    fn deny(&self, reason: ReasonCode) -> OfferDecision<NodeInbox> {
        self.0.metrics.rejected(reason);
        OfferDecision::Deny(reason)
    }

    fn refuse(&self, reason: ReasonCode) -> Refusal {
        self.0.metrics.rejected(reason);
        Refusal::Signed(reason)
    }

    /// Waits until no exchange is receiving `packet`, then marks it as received here.
    async fn begin_receiving(&self, packet: PacketId) -> Result<Option<Receiving>, NodeError> {
        let state = &self.0;
        let deadline = tokio::time::Instant::now() + state.config.transport().exchange.idle_timeout * 2;
        loop {
            let waiting = {
                let mut receiving = lock(&state.receiving);
                match receiving.get(&packet) {
                    Some(notify) => Arc::clone(notify),
                    None => {
                        receiving.insert(packet, Arc::new(tokio::sync::Notify::new()));
                        return Ok(Some(Receiving { state: Arc::clone(state), packet }));
                    }
                }
            };
            let notified = waiting.notified();
            tokio::pin!(notified);
            notified.as_mut().enable();
            // The first exchange may have ended between the lookup and `enable`.
            if !lock(&state.receiving).contains_key(&packet) {
                continue;
            }
            if tokio::time::timeout_at(deadline, notified).await.is_err() {
                return Ok(None);
            }
        }
    }

    async fn decide(&self, offer: &OfferContext<'_>) -> Result<OfferDecision<NodeInbox>, NodeError> {
        let state = &self.0;
        let h = offer.header;
        let packet = h.packet_id;
        // A packet offered again while its first exchange still runs (its
        // sender restarted) waits for that exchange to end: stored, it gets
        // its receipt; dropped, it is taken anew. Never two inboxes at once.
        let receiving = loop {
            // Reads of a few pages, on this task (no thread hand-off).
            let earlier = match state.store.inbox(&packet)? {
                Some(_) => state.stored_bundle(&packet)?,
                // Refused before, with this header: the same refusal again.
                None => state.refused_bundle(&packet, &offer.header_digest)?,
            };
            if let Some(bundle) = earlier {
                return Ok(OfferDecision::AlreadyReceipted(bundle));
            }
            match self.begin_receiving(packet).await? {
                Some(receiving) => {
                    // Stored by the exchange that just ended? Then its receipt.
                    if state.store.inbox(&packet)?.is_none() {
                        break receiving;
                    }
                }
                None => return Ok(self.deny(ReasonCode::TEMPORARILY_UNAVAILABLE)),
            }
        };
        let Some(kem_key) = state.keys.kem_key(&h.recipient_key).cloned() else {
            return Ok(self.deny(ReasonCode::UNKNOWN_RECIPIENT_KEY));
        };
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
            suite: Some(h.suite),
            at: now,
        };
        if let Some(leaf) = offer.grant_chain.first() {
            let issuer = &leaf.unverified().issuer;
            if !state.limits.may_keep_grant(issuer) && state.store.grant_chain(&tally_grant::grant_id(leaf))?.is_none()
            {
                tracing::info!(%packet, %issuer, "offer refused: too many grants kept from this issuer");
                return Ok(self.deny(ReasonCode::STORAGE_LIMIT));
            }
        }
        let mut reservation = match state.decide_and_reserve(&flow, offer.grant_chain) {
            Ok(reservation) => reservation,
            Err(denial) => {
                tracing::info!(%packet, sender = %h.sender, %denial, "offer refused");
                return Ok(self.deny(denial.reason_code()));
            }
        };
        if !reservation.with_storage(&h.sender) {
            tracing::info!(%packet, sender = %h.sender, "offer refused: the sender's storage limit is reached");
            return Ok(self.deny(ReasonCode::STORAGE_LIMIT));
        }
        // Within the open-file budgets from here: an accepted offer that
        // stalls holds its peer's share, not the node's.
        let wait = state.config.transport().exchange.idle_timeout;
        let Some(permit) = state.limits.open_payload(offer.peer, wait).await else {
            tracing::info!(%packet, sender = %h.sender, "offer refused: no room for another payload file");
            return Ok(self.deny(ReasonCode::TEMPORARILY_UNAVAILABLE));
        };
        let max_retention = state.config.limits.max_retention.as_secs();
        let (grant, retention) = (h.grant, reservation.auth().retention_secs().min(max_retention));
        let key = {
            let state = Arc::clone(state);
            tokio::task::spawn_blocking(move || state.vault.key_for(grant, retention, now)).await??
        };
        let sealer = BlobSealer::new(&key, &packet, &grant)?;
        let part = state.blobs.join("incoming").join(format!("{}.part", hex::encode(&packet.0)));
        Ok(OfferDecision::Accept {
            kem_key,
            sender_key,
            inbox: NodeInbox {
                state: Arc::clone(state),
                file: None,
                inline: Vec::new(),
                _permit: permit,
                part,
                draft: InboxRecordDraft {
                    sender: h.sender.clone(),
                    grant,
                    purpose: h.purpose.clone(),
                    category: h.category.clone(),
                    content_type: h.content_type.clone(),
                    size: 0,
                    epoch: key.epoch(),
                    inline: None,
                },
                key,
                sealer,
                packet,
                chain: offer.grant_chain.clone(),
                reservation,
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

    async fn sign_rejection(&self, receipt: Receipt) -> io::Result<Option<ReceiptBundle>> {
        let state = Arc::clone(&self.0);
        if receipt.recipient != state.agency {
            return Err(io::Error::other(format!(
                "a rejection naming {} is not this node's to sign",
                receipt.recipient
            )));
        }
        // Every signed refusal, before or after an offer was accepted, is
        // within the peer's rate; past it, the exchange is closed unsigned.
        if !state.limits.may_sign_refusal(&receipt.sender) {
            state.metrics.unsigned_refusals.inc();
            tracing::debug!(peer = %receipt.sender, "refusal not signed: the peer is past its refusal rate");
            return Ok(None);
        }
        blocking(move || {
            let r = receipt.clone();
            let issued = state.issue(receipt)?;
            let logged = state.commit(&[tally_receipt::bundled_entry(&issued)], |_| Ok(()))?;
            tracing::info!(peer = %r.sender, packet = %r.packet_id, grant = %r.grant, bytes = r.payload_len,
                outcome = %crate::outcome_text(&r.outcome), "packet refused");
            Ok(Some(state.bundle(issued, logged.end - 1)?))
        })
        .await
    }

    async fn log_receipt(&self, bundle: &ReceiptBundle, sealed: Option<(Evidence, CommitmentKey)>) -> io::Result<()> {
        crate::sent::log_receipt(&self.0, bundle.clone(), sealed).await.map_err(io_error)
    }

    async fn answer_request(
        &self,
        peer: &AgencyId,
        request: &Signed<PullRequest>,
        grant_chain: &GrantChain,
    ) -> Result<Vec<Outgoing>, Refusal> {
        let state = &self.0;
        let directory = state.directory();
        let key = tally_grant::Directory::identity_key(&*directory, peer)
            .ok_or_else(|| self.refuse(ReasonCode::UNKNOWN_ISSUER_KEY))?;
        let r = key.verify_object(request).map_err(|_| self.refuse(ReasonCode::BAD_SIGNATURE))?;
        if &r.requester != peer {
            return Err(self.refuse(ReasonCode::SENDER_NOT_AUTHENTICATED_PEER));
        }
        // The answer is sealed with the suite of the requester's keys: the
        // grant's least suite level is checked against it before anything is read.
        let suite = state.roster.suite_for(peer, state.now()).map_err(|e| {
            tracing::info!(requester = %peer, error = %e, "pull request refused: nothing can be sealed to the requester");
            self.refuse(ReasonCode::UNKNOWN_RECIPIENT_KEY)
        })?;
        let flow = |bytes| Flow {
            grant: r.grant,
            sender: state.agency.clone(),
            recipient: peer.clone(),
            purpose: r.purpose.clone(),
            category: r.category.clone(),
            bytes,
            direction: Direction::Pull,
            suite: Some(suite),
            at: state.now(),
        };
        // The request itself, before any source is read.
        if let Err(denial) = state.decide(&flow(0), grant_chain) {
            tracing::info!(requester = %peer, %denial, "pull request refused");
            return Err(self.refuse(denial.reason_code()));
        }
        // One open file (or command) at a time per answer, within the peer's share.
        let wait = state.config.transport().exchange.idle_timeout;
        let permit = state.limits.open_payload(peer, wait).await.ok_or_else(|| {
            tracing::info!(requester = %peer, "pull request refused: no room for another open source");
            self.refuse(ReasonCode::TEMPORARILY_UNAVAILABLE)
        })?;
        let answer = crate::pull::answer(state, r, grant_chain, suite).await.map_err(|e| match e {
            NodeError::InvalidQuery(why) => {
                tracing::info!(requester = %peer, %why, "pull request refused: its query is not one this node serves");
                self.refuse(ReasonCode::INVALID_QUERY)
            }
            e => {
                tracing::warn!(requester = %peer, error = %e, "cannot answer a pull request");
                self.refuse(ReasonCode::TEMPORARILY_UNAVAILABLE)
            }
        })?;
        // Every packet of the answer is decided and counted against the
        // quotas, durably, before the first is sent: a requester that reads
        // the data and never sends its receipt, or forgets its own usage,
        // still cannot pull past them (the count stays if a packet fails).
        let mut reservations = Vec::with_capacity(answer.len());
        for outgoing in &answer {
            let reservation =
                state.decide_and_reserve(&flow(outgoing.spec.payload_len), grant_chain).map_err(|denial| {
                    tracing::info!(requester = %peer, %denial, "pull answer refused");
                    self.refuse(denial.reason_code())
                })?;
            reservations.push(reservation);
        }
        let counting = Arc::clone(state);
        blocking(move || counting.count_durably(reservations)).await.map_err(|e| {
            tracing::error!(requester = %peer, error = %e, "cannot count a pull answer");
            self.refuse(ReasonCode::TEMPORARILY_UNAVAILABLE)
        })?;
        let permit = Arc::new(permit);
        Ok(answer
            .into_iter()
            .map(|mut outgoing| {
                outgoing.payload = Box::new(Permitted { inner: outgoing.payload, _permit: Arc::clone(&permit) });
                outgoing
            })
            .collect())
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
        tokio::task::spawn_blocking(move || crate::fetch::answer(&state, &peer, fetch))
            .await
            .map_err(|e| (CloseCode::INTERNAL_ERROR, e.to_string()))?
    }
}

/// A served packet's payload, holding its answer's place in the open-file
/// budgets until the whole answer is done.
struct Permitted {
    inner: Box<dyn tokio::io::AsyncRead + Send + Unpin>,
    _permit: Arc<OpenPayload>,
}

impl tokio::io::AsyncRead for Permitted {
    fn poll_read(
        mut self: std::pin::Pin<&mut Self>,
        cx: &mut std::task::Context<'_>,
        buf: &mut tokio::io::ReadBuf<'_>,
    ) -> std::task::Poll<io::Result<()>> {
        std::pin::Pin::new(&mut self.inner).poll_read(cx, buf)
    }
}
