//! A running node: its QUIC endpoint and the operations agencies use.

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::AtomicU64;
use std::time::Duration;

use tally_envelope::PacketSpec;
use tally_grant::{Flow, GrantDocument, issue_grant};
use tally_protocol::{RequesterOutcome, SenderOutcome};
use tally_transport::{Endpoint, LocalAgency};
use tally_wire::{
    AgencyId, BoundedBytes, ChunkSize, DataCategory, Direction, Grant, GrantId, PacketId, PullRequest, Purpose,
    RequestId, Revocation, RevocationReason, Signed,
};
use tokio::io::AsyncRead;

use tally_audit::LogExport;

use crate::NodeError;
use crate::api::SendOptions;
use crate::host::NodeHost;
use crate::state::NodeState;
use tally_store::OutboxRecord;

/// A node: the agency's keys, directory, storage and log, and its QUIC endpoint.
pub struct Node {
    pub(crate) state: Arc<NodeState>,
    pub(crate) endpoint: Endpoint<NodeHost>,
    /// Sends in flight, their retries, and the peers' reachability.
    pub(crate) sends: crate::sends::Sends,
    /// Held by a follow of another agency's log: one at a time per log,
    /// so that a slow agency holds up no follow of another.
    follows: std::sync::Mutex<std::collections::HashMap<AgencyId, Arc<tokio::sync::Mutex<()>>>>,
}

/// A packet sealed and recorded in the outbox, about to be sent.
pub(crate) struct Prepared<'a> {
    pub(crate) packet: tally_transport::Packet,
    pub(crate) id: PacketId,
    pub(crate) to: AgencyId,
    pub(crate) send_id: Option<crate::api::SendId>,
    /// Held while the packet is on its way: concurrent sends cannot pass a
    /// quota together; the receipt, when it comes, counts the packet durably.
    pub(crate) reservation: crate::reservation::Reservation,
    pub(crate) running: crate::sends::Running<'a>,
    /// Its payload comes from a stream (it cannot be read again).
    pub(crate) streamed: bool,
}

impl Node {
    /// Opens the node in `dir` and starts its QUIC listener. Must run inside a tokio runtime.
    pub async fn start(dir: &Path) -> Result<Self, NodeError> {
        let dir = dir.to_owned();
        let state = tokio::task::spawn_blocking(move || NodeState::open(&dir)).await??;
        let local = LocalAgency {
            id: state.agency.clone(),
            identity: Arc::clone(&state.identity),
            tls_key: tally_transport::TlsKey::from_pkcs8(state.keys.tls.pkcs8())?,
        };
        let endpoint = Endpoint::bind(
            state.config.listen,
            local,
            Arc::clone(&state.roster),
            Arc::new(NodeHost(Arc::clone(&state))),
            state.config.transport(),
        )?;
        Ok(Self { state, endpoint, sends: Default::default(), follows: Default::default() })
    }

    /// This agency.
    pub fn agency(&self) -> &AgencyId {
        &self.state.agency
    }

    /// The node's directory.
    pub fn dir(&self) -> &Path {
        &self.state.dir
    }

    /// The address the QUIC listener is bound to.
    pub fn local_addr(&self) -> Result<std::net::SocketAddr, NodeError> {
        Ok(self.endpoint.local_addr()?)
    }

    /// The loopback TCP address of the local API (and its `/metrics`), if configured.
    pub fn api_address(&self) -> Option<std::net::SocketAddr> {
        self.state.config.api
    }

    /// The policy's clock (the system clock plus the configured offset).
    pub fn now(&self) -> tally_wire::Timestamp {
        self.state.now()
    }

    /// Sends `len` bytes read from `payload` to `options.to`, after checking
    /// this node's own grants; `progress` counts plaintext bytes read.
    /// Returns the verified receipt or signed rejection, already logged.
    /// (The local API's sends go through send ids: spec/api.md, "Sends".)
    pub async fn send(
        &self,
        options: &SendOptions,
        payload: impl AsyncRead + Unpin + Send,
        len: u64,
        source: Option<PathBuf>,
        progress: Arc<AtomicU64>,
    ) -> Result<SenderOutcome, NodeError> {
        let prepared = self.prepare(options, len, source, None, None).await?;
        Ok(self.transmit(prepared, payload, len, progress).await?.1)
    }

    /// Decides a send against this node's own grants, seals its packet and
    /// records it in the outbox (with its send id, and in place of the
    /// packet it `replaces`, if it is sealed anew), durably, before any of
    /// its payload is read.
    pub(crate) async fn prepare(
        &self,
        options: &SendOptions,
        len: u64,
        source: Option<PathBuf>,
        send_id: Option<&crate::api::SendId>,
        replaces: Option<PacketId>,
    ) -> Result<Prepared<'_>, NodeError> {
        let state = &self.state;
        let chain = state.store.grant_chain(&options.grant)?.ok_or_else(|| {
            NodeError::Refused(format!(
                "grant {} is not known to this node; issue it (tally grant issue) or import it (tally grant import)",
                options.grant
            ))
        })?;
        let now = state.now();
        // X-Wing whenever the recipient lists an X-Wing key: the decision
        // checks the grant's least suite level against the suite sealed with.
        let suite = state.roster.suite_for(&options.to, now)?;
        let flow = Flow {
            grant: options.grant,
            sender: state.agency.clone(),
            recipient: options.to.clone(),
            purpose: options.purpose.clone(),
            category: options.category.clone(),
            bytes: len,
            direction: Direction::Push,
            suite: Some(suite),
            at: now,
        };
        let reservation = state
            .decide_and_reserve(&flow, &chain)
            .map_err(|denial| NodeError::Denied { context: "this node's policy refuses the send", denial })?;
        let spec = PacketSpec {
            suite,
            sender: state.agency.clone(),
            grant: options.grant,
            purpose: options.purpose.clone(),
            category: options.category.clone(),
            content_type: options.content_type.clone(),
            created_at: now,
            payload_len: len,
            chunk_size: ChunkSize::DEFAULT,
        };
        let packet = self.endpoint.seal(&options.to, spec, chain)?;
        let id = packet.offer().header.value().packet_id;
        let record = OutboxRecord {
            to: options.to.clone(),
            offer: packet.offer().clone(),
            source: source.map(|p| p.display().to_string()),
            commitment_key: state
                .vault
                .wrap_secret(&crate::sent::key_context(&id), packet.commitment_key().reveal())?,
        };
        let running =
            self.sends.run(id).ok_or_else(|| NodeError::Inconsistent(format!("packet {id} was sealed twice")))?;
        let streamed = record.source.is_none();
        let send_id = send_id.cloned();
        let key = send_id.clone();
        state
            .commit_async(&[], move |tx| {
                if let Some(old) = &replaces {
                    tx.remove_outbox(old)?;
                }
                tx.put_outbox(&id, &record)?;
                match &key {
                    Some(s) => tx.put_send_id(s.as_str(), &id),
                    None => Ok(()),
                }
            })
            .await?;
        Ok(Prepared { packet, id, to: options.to.clone(), send_id, reservation, running, streamed })
    }

    /// Sends a file.
    pub async fn send_file(
        &self,
        options: &SendOptions,
        path: &Path,
        progress: Arc<AtomicU64>,
    ) -> Result<SenderOutcome, NodeError> {
        if !crate::files::is_regular_file(path) {
            return Err(NodeError::Usage(format!("{}: not a regular file", path.display())));
        }
        let file = tokio::fs::File::open(path).await.map_err(NodeError::file(path))?;
        let len = file.metadata().await.map_err(NodeError::file(path))?.len();
        self.send(options, file, len, Some(path.to_owned()), progress).await
    }

    /// Sends a pull request and receives the answer into the inbox.
    pub async fn request(
        &self,
        to: &AgencyId,
        grant: GrantId,
        purpose: Purpose,
        category: DataCategory,
        query: &[u8],
    ) -> Result<RequesterOutcome, NodeError> {
        let state = &self.state;
        let chain = state.store.grant_chain(&grant)?.ok_or_else(|| {
            NodeError::Refused(format!("grant {grant} is not known to this node; import it first (tally grant import)"))
        })?;
        let mut id = [0u8; 16];
        tally_envelope::at_rest::random_bytes(&mut id)?;
        let request = PullRequest {
            request_id: RequestId(id),
            requester: state.agency.clone(),
            responder: to.clone(),
            grant,
            purpose,
            category,
            query: BoundedBytes::new(query.to_vec()).map_err(|e| NodeError::Usage(format!("query: {e}")))?,
            created_at: state.now(),
        };
        let signed =
            state.identity.sign_object(request).map_err(|source| NodeError::Key { path: state.dir.clone(), source })?;
        let result = self.endpoint.request(to, signed, chain).await.map_err(NodeError::from);
        self.sends.peer_result(to, &result, state.now());
        result
    }

    /// Issues a grant from a document, keeps and logs it. Returns its id and the signed grant.
    /// A delegated grant whose document names no `min_suite_level` gets its parent's.
    pub fn issue_grant(&self, document: &GrantDocument) -> Result<(GrantId, Signed<Grant>), NodeError> {
        let state = &self.state;
        let parents = match &document.parent {
            None => None,
            Some(hex) => {
                let parent: GrantId =
                    hex.parse().map_err(|e| NodeError::Usage(format!("grant: field `parent`: {e}")))?;
                Some(state.store.grant_chain(&parent)?.ok_or_else(|| {
                    NodeError::Refused(format!("parent grant {parent} is not known to this node; import it first"))
                })?)
            }
        };
        let mut document = document.clone();
        if let (None, Some(parents)) = (&document.min_suite_level, &parents) {
            document.min_suite_level = parents
                .first()
                .map(|p| p.unverified().min_suite_level)
                .filter(|l| *l != tally_wire::SuiteLevel::CLASSICAL)
                .map(tally_grant::suite_level_name);
        }
        let signed = issue_grant(&state.identity, &state.agency, &document, state.now())
            .map_err(|e| NodeError::Usage(format!("grant: {e}")))?;
        let mut chain = vec![signed.clone()];
        if let Some(parents) = parents {
            chain.extend(parents.into_inner());
        }
        let chain = tally_wire::BoundedVec::new(chain).map_err(|e| NodeError::Usage(format!("grant chain: {e}")))?;
        let id = state.keep_grant(chain, true)?;
        Ok((id, signed))
    }

    /// Keeps a grant chain another agency issued (verified against the directory) and logs it.
    pub fn import_grant(&self, chain: tally_wire::GrantChain) -> Result<GrantId, NodeError> {
        self.state.keep_grant(chain, false)
    }

    /// The grant chain of `grant`, if this node holds it.
    pub fn grant_chain(&self, grant: &GrantId) -> Result<Option<tally_wire::GrantChain>, NodeError> {
        Ok(self.state.store.grant_chain(grant)?)
    }

    /// Every grant chain this node holds.
    pub fn grants(&self) -> Result<Vec<(GrantId, tally_wire::GrantChain)>, NodeError> {
        Ok(self.state.store.grants()?)
    }

    /// Revokes a grant this node issued (or one delegated from it), from
    /// `effective_at` (now if `None`); logs the revocation and returns it for
    /// the agencies concerned. Nothing changes before `effective_at`.
    pub fn revoke(
        &self,
        grant: GrantId,
        reason: RevocationReason,
        erase: bool,
        effective_at: Option<tally_wire::Timestamp>,
    ) -> Result<Signed<Revocation>, NodeError> {
        let state = &self.state;
        let now = state.now();
        let at = effective_at.unwrap_or(now);
        let r = tally_grant::revoke(&state.identity, &state.agency, grant, at, reason, erase, now)
            .map_err(|source| NodeError::Key { path: state.dir.clone(), source })?;
        state.keep_revocation(r.clone())?;
        Ok(r)
    }

    /// Hands grant `grant` (with its chain) over the transport to every
    /// agency it names besides this one: its grantee and senders.
    pub async fn deliver_grant(&self, grant: &GrantId) -> Result<Vec<crate::Delivery>, NodeError> {
        let chain = self
            .state
            .store
            .grant_chain(grant)?
            .ok_or_else(|| NodeError::Usage(format!("grant {grant} is not known to this node")))?;
        let parties = chain.first().map(|g| crate::notice::grant_parties(g.unverified(), &self.state.agency));
        Ok(self.deliver(parties.unwrap_or_default(), tally_wire::Notice::Grant(chain)).await)
    }

    /// Hands `revocation` over the transport to every agency named by a
    /// grant this node holds under the revoked one.
    pub async fn deliver_revocation(&self, revocation: &Signed<Revocation>) -> Result<Vec<crate::Delivery>, NodeError> {
        let parties = crate::notice::revocation_parties(&self.state, &revocation.unverified().grant)?;
        Ok(self.deliver(parties, tally_wire::Notice::Revocation(revocation.clone())).await)
    }

    async fn deliver(&self, parties: Vec<AgencyId>, notice: tally_wire::Notice) -> Vec<crate::Delivery> {
        let mut deliveries = Vec::new();
        for agency in parties {
            let result = self.endpoint.notify(&agency, notice.clone()).await.map_err(NodeError::from);
            self.sends.peer_result(&agency, &result, self.state.now());
            let error = result.err().map(|e| e.to_string());
            if let Some(e) = &error {
                tracing::warn!(%agency, error = %e, "could not hand over a notice");
            }
            deliveries.push(crate::Delivery { agency, error });
        }
        deliveries
    }

    /// Fetches the directory from `from` if it has a newer one than this
    /// node's; checks the operator's signature, writes it over the
    /// directory file and uses it. Returns the new serial, or `None` if
    /// this node's is as new.
    pub async fn fetch_directory(&self, from: &AgencyId) -> Result<Option<u64>, NodeError> {
        let state = &self.state;
        let newer_than = state.directory().serial();
        let bytes = self
            .endpoint
            .fetch(from, tally_wire::Fetch::Directory { newer_than }, crate::MAX_FETCHED_DIRECTORY)
            .await?;
        if bytes.is_empty() {
            return Ok(None);
        }
        let refuse = |why: String| NodeError::Refused(format!("the directory {from} sent: {why}"));
        let signed = Signed::decode(&bytes).map_err(|e| refuse(e.to_string()))?;
        let fresh = crate::VerifiedDirectory::verify(&signed, &state.operator).map_err(|e| refuse(e.to_string()))?;
        if fresh.serial() <= newer_than {
            return Ok(None);
        }
        let serial = fresh.serial();
        crate::files::write_atomic(&state.dir.join(&state.config.directory), &bytes)?;
        state.adopt_directory(fresh)?;
        Ok(Some(serial))
    }

    /// Follows the log of `from` (it answers only if this agency has the
    /// auditor role): fetches, in parts, only the entries added since the
    /// checkpoint this node last verified of it, checks them against a
    /// checkpoint `from` signs now and that checkpoint against the last
    /// (spec/audit.md, "Following a log"), and keeps them. A fork, or
    /// entries that do not match the checkpoint, is a [`NodeError::Peer`]
    /// and leaves what was verified before as it was.
    pub async fn follow_log(&self, from: &AgencyId) -> Result<crate::Followed, NodeError> {
        let Some(key) = self.state.directory().agency(from).map(|a| a.identity_key) else {
            return Err(NodeError::NotFound(format!(
                "{from} is not in the directory: there is no log of it to follow"
            )));
        };
        let slot = {
            let mut follows = self.follows.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
            Arc::clone(follows.entry(from.clone()).or_default())
        };
        let _one = slot.lock().await;
        let source = Remote { endpoint: &self.endpoint, to: from };
        crate::follow::follow(&self.state, from, &key, &source).await
    }

    /// Follows the log of `from` ([`follow_log`](Self::follow_log)) and
    /// exports all of it that this node has verified, for an audit. The
    /// export is held in memory: at most [`MAX_FETCHED_LOG`](crate::MAX_FETCHED_LOG) bytes of entries.
    pub async fn fetch_log(&self, from: &AgencyId) -> Result<LogExport, NodeError> {
        let followed = self.follow_log(from).await?;
        let (store, agency) = (self.state.store.clone(), from.clone());
        tokio::task::spawn_blocking(move || crate::follow::export(&store, &agency, &followed)).await?
    }

    /// Keeps a revocation another agency issued (verified), logs it, and erases if it obliges erasure.
    pub fn import_revocation(&self, revocation: Signed<Revocation>) -> Result<bool, NodeError> {
        self.state.keep_revocation(revocation)
    }

    /// Destroys what is past its retention now; returns how many packets were erased.
    pub fn sweep(&self) -> Result<usize, NodeError> {
        self.state.sweep()
    }

    /// Loads the directory file again; true if a newer one was taken.
    pub fn reload_directory(&self) -> Result<bool, NodeError> {
        self.state.reload_directory()
    }

    /// The metrics, in the Prometheus text format.
    pub fn metrics_text(&self) -> String {
        if let Ok(unfinished) = self.unfinished() {
            let peers = self.peers(&unfinished);
            self.state.metrics.set_peers(&peers, |agency| self.sends.last_success_secs(agency));
        }
        self.state.metrics.set_checkpoints_signed(self.state.log.checkpoints_signed());
        self.state.metrics.render(self.state.log.size().unwrap_or(0))
    }

    pub(crate) fn state(&self) -> &Arc<NodeState> {
        &self.state
    }

    /// Stops: no new exchanges, those in flight finish for up to `deadline`.
    pub async fn shutdown(&self, deadline: Duration) {
        self.endpoint.shutdown(deadline).await;
    }
}

/// Another agency's log, read over the transport.
struct Remote<'a> {
    endpoint: &'a Endpoint<NodeHost>,
    to: &'a AgencyId,
}

impl crate::follow::LogSource for Remote<'_> {
    async fn checkpoint(&self) -> Result<Vec<u8>, NodeError> {
        let limit = crate::follow::MAX_CHECKPOINT_ANSWER;
        Ok(self.endpoint.fetch(self.to, tally_wire::Fetch::Checkpoint, limit).await?)
    }

    async fn consistency(&self, old_size: u64, new_size: u64) -> Result<Vec<u8>, NodeError> {
        let (fetch, limit) = (tally_wire::Fetch::Consistency { old_size, new_size }, crate::follow::MAX_PROOF_ANSWER);
        Ok(self.endpoint.fetch(self.to, fetch, limit).await?)
    }

    async fn entries(&self, start: u64, end: u64) -> Result<Vec<u8>, NodeError> {
        let (fetch, limit) = (tally_wire::Fetch::Entries { start, end }, crate::follow::MAX_ENTRIES_FETCHED);
        Ok(self.endpoint.fetch(self.to, fetch, limit).await?)
    }
}
