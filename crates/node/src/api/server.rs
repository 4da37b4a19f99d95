//! The local API's server: routes and handlers on axum, over the node's
//! Unix socket (mode 0600) and, where configured, a loopback TCP address
//! that requires the bearer token (spec/api.md).

use std::sync::Arc;

use axum::Json;
use axum::body::Body;
use axum::extract::{Path, Query, Request, State};
use axum::http::{HeaderMap, StatusCode, header};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use futures_util::TryStreamExt;
use tally_grant::GrantDocument;
use tally_protocol::{ReceiverOutcome, RequesterOutcome};
use tally_wire::{GrantId, PacketId, Signed};

use super::*;
use super::{PROBLEM_JSON, Problem, ProblemCode};
use crate::sends::Payload;
use crate::{Node, NodeError, hex};

/// A handler's failure, answered as a problem document.
pub(crate) struct ApiError(Problem);

impl From<NodeError> for ApiError {
    fn from(e: NodeError) -> Self {
        Self(Problem::from(&e))
    }
}

impl From<Problem> for ApiError {
    fn from(p: Problem) -> Self {
        Self(p)
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let status = StatusCode::from_u16(self.0.status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
        let body = serde_json::to_vec(&self.0).unwrap_or_default();
        (status, [(header::CONTENT_TYPE, PROBLEM_JSON)], body).into_response()
    }
}

type Answer<T> = Result<Json<T>, ApiError>;

/// Runs `f` on a blocking thread: the node's storage waits on fsync and
/// locks, which must not hold up the runtime's workers (and QUIC with them).
async fn blocking<T: Send + 'static>(
    node: &Arc<Node>,
    f: impl FnOnce(&Node) -> Result<T, NodeError> + Send + 'static,
) -> Result<T, ApiError> {
    let node = Arc::clone(node);
    Ok(tokio::task::spawn_blocking(move || f(&node)).await.map_err(NodeError::from)??)
}

/// Every route of the API, as `(method, path)`; the OpenAPI document lists exactly these.
pub const ROUTES: &[(&str, &str)] = &[
    ("get", "/health"),
    ("get", "/metrics"),
    ("get", "/v1/status"),
    ("post", "/v1/sends"),
    ("get", "/v1/sends/{send_id}"),
    ("post", "/v1/resume"),
    ("post", "/v1/requests"),
    ("get", "/v1/grants"),
    ("post", "/v1/grants"),
    ("post", "/v1/grants/import"),
    ("post", "/v1/grants/show"),
    ("post", "/v1/grants/{grant}/revoke"),
    ("post", "/v1/revocations"),
    ("get", "/v1/inbox"),
    ("get", "/v1/inbox/{packet}/content"),
    ("get", "/v1/packets/{packet}/reveal"),
    ("post", "/v1/packets/import"),
    ("get", "/v1/receipts"),
    ("get", "/v1/receipts/{packet}/bundle"),
    ("post", "/v1/log/checkpoint"),
    ("get", "/v1/log/export"),
    ("post", "/v1/log/fetch"),
    ("post", "/v1/log/follow"),
    ("post", "/v1/sweep"),
    ("post", "/v1/directory/reload"),
    ("post", "/v1/directory/fetch"),
];

/// The API's routes on `node`. `token`, when given, is required as a
/// bearer token on every request (the TCP listener's router).
pub(crate) fn router(node: Arc<Node>, token: Option<Arc<str>>) -> axum::Router {
    let listener = if token.is_some() { Listener::Tcp } else { Listener::UnixSocket };
    let router = axum::Router::new()
        .route("/health", get(health))
        .route("/metrics", get(metrics))
        .route("/v1/status", get(status))
        .route("/v1/sends", post(send))
        .route("/v1/sends/{send_id}", get(send_state))
        .route("/v1/resume", post(resume))
        .route("/v1/requests", post(request))
        .route("/v1/grants", get(grants).post(issue_grant))
        .route("/v1/grants/import", post(import_grant))
        .route("/v1/grants/show", post(show_grant))
        .route("/v1/grants/{grant}/revoke", post(revoke))
        .route("/v1/revocations", post(import_revocation))
        .route("/v1/inbox", get(inbox))
        .route("/v1/inbox/{packet}/content", get(inbox_content))
        .route("/v1/packets/{packet}/reveal", get(reveal))
        .route("/v1/packets/import", post(import_packet))
        .route("/v1/receipts", get(receipts))
        .route("/v1/receipts/{packet}/bundle", get(receipt_bundle))
        .route("/v1/log/checkpoint", post(checkpoint))
        .route("/v1/log/export", get(log_export))
        .route("/v1/log/fetch", post(log_fetch))
        .route("/v1/log/follow", post(log_follow))
        .route("/v1/sweep", post(sweep))
        .route("/v1/directory/reload", post(reload_directory))
        .route("/v1/directory/fetch", post(fetch_directory))
        .fallback(|| async {
            ApiError(Problem::new(ProblemCode::NotFound, "no such route (see spec/api.openapi.json)"))
        })
        .with_state(node)
        .layer(axum::Extension(listener))
        .layer(axum::middleware::map_response(as_problem));
    match token {
        Some(token) => router.layer(axum::middleware::from_fn(move |request: Request, next: Next| {
            let token = Arc::clone(&token);
            async move { bearer(&token, request, next).await }
        })),
        None => router,
    }
}

/// Which listener a request came through.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Listener {
    /// `api.sock`: the node's own user.
    UnixSocket,
    /// The loopback TCP address, with the bearer token.
    Tcp,
}

/// Most bytes of an error body turned into a problem's detail.
const MAX_REJECTION: usize = 4096;

/// Every failure is a problem document: the rejections of axum's
/// extractors (a malformed query, path or JSON body) become one too.
async fn as_problem(response: Response) -> Response {
    let status = response.status();
    let is_problem =
        response.headers().get(header::CONTENT_TYPE).is_some_and(|v| v.as_bytes() == PROBLEM_JSON.as_bytes());
    if !(status.is_client_error() || status.is_server_error()) || is_problem {
        return response;
    }
    let detail = match axum::body::to_bytes(response.into_body(), MAX_REJECTION).await {
        Ok(bytes) => String::from_utf8_lossy(&bytes).into_owned(),
        Err(_) => status.to_string(),
    };
    let code = match status.as_u16() {
        404 | 405 => ProblemCode::NotFound,
        411 => ProblemCode::LengthRequired,
        401 => ProblemCode::Unauthorized,
        s if s >= 500 => ProblemCode::NodeFailed,
        _ => ProblemCode::BadRequest,
    };
    ApiError(Problem::new(code, detail)).into_response()
}

/// Lets a request through only with `Authorization: Bearer <token>`.
async fn bearer(token: &str, request: Request, next: Next) -> Response {
    let given = request.headers().get(header::AUTHORIZATION).and_then(|v| v.to_str().ok());
    let ok = given
        .and_then(|v| v.strip_prefix("Bearer "))
        .is_some_and(|t| subtle::ConstantTimeEq::ct_eq(t.as_bytes(), token.as_bytes()).into());
    if !ok {
        return ApiError(Problem::new(
            ProblemCode::Unauthorized,
            "this listener needs `Authorization: Bearer` with the token in the node's api.token file",
        ))
        .into_response();
    }
    next.run(request).await
}

async fn health(State(node): State<Arc<Node>>) -> Answer<Health> {
    Ok(Json(blocking(&node, Node::health).await?))
}

async fn metrics(State(node): State<Arc<Node>>) -> Response {
    let text = node.metrics_text();
    ([(header::CONTENT_TYPE, "application/openmetrics-text; version=1.0.0; charset=utf-8")], text).into_response()
}

async fn status(State(node): State<Arc<Node>>) -> Answer<Status> {
    Ok(Json(blocking(&node, Node::status).await?))
}

async fn send(
    State(node): State<Arc<Node>>,
    axum::Extension(listener): axum::Extension<Listener>,
    Query(query): Query<SendQuery>,
    headers: HeaderMap,
    body: Body,
) -> Answer<SendAnswer> {
    let len = headers
        .get(header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse::<u64>().ok())
        .ok_or_else(|| {
            Problem::new(
                ProblemCode::LengthRequired,
                "a send needs Content-Length: the packet header states the payload's length",
            )
        })?;
    let payload = match &query.source {
        Some(source) => {
            check_source(&node, source, listener).await?;
            if len != 0 {
                return Err(Problem::new(
                    ProblemCode::BadRequest,
                    "a send that names its source file has an empty body: the node reads the file itself",
                )
                .into());
            }
            Payload::File(source.clone())
        }
        None => Payload::Stream(
            tokio_util::io::StreamReader::new(body.into_data_stream().map_err(std::io::Error::other)),
            len,
        ),
    };
    let send_id = match query.send_id {
        Some(id) => id,
        None => SendId::random()?,
    };
    // The send runs in a task of its own: if the client goes away, a send
    // from a file goes on (and one from the body is cancelled, its body
    // having failed). The answer is the task's.
    let task = tokio::spawn(async move { node.submit(&send_id, &query.options, payload, Arc::default()).await });
    Ok(Json(task.await.map_err(NodeError::from)??))
}

async fn send_state(State(node): State<Arc<Node>>, Path(send_id): Path<String>) -> Answer<SendAnswer> {
    let send_id = SendId::try_from(send_id).map_err(|e| Problem::new(ProblemCode::BadRequest, e))?;
    Ok(Json(blocking(&node, move |n| n.send_state(&send_id)).await?))
}

/// The file a send names as its payload's source, which the node reads
/// itself (the body is then empty): only over the Unix socket (a TCP
/// client is not the node's user); the file is checked as it is opened
/// (an absolute path, no symbolic link in its last component, a regular
/// file, outside the node directory), here and at every later open.
async fn check_source(node: &Node, source: &std::path::Path, listener: Listener) -> Result<(), ApiError> {
    if listener == Listener::Tcp {
        let why = format!("source {}: a payload's source file is named only over the Unix socket", source.display());
        return Err(Problem::new(ProblemCode::BadRequest, why).into());
    }
    crate::files::open_source(node.dir(), source).await?;
    Ok(())
}

async fn import_packet(State(node): State<Arc<Node>>, body: Body) -> Answer<PacketImported> {
    let file = tokio_util::io::StreamReader::new(body.into_data_stream().map_err(std::io::Error::other));
    let (receipt, bundle) = node.import_packet(file).await?;
    let r = tally_receipt::bundled_receipt(&receipt.receipt);
    let result = match r.outcome {
        tally_wire::Outcome::Accepted { .. } => SendResult::Delivered,
        tally_wire::Outcome::Rejected { .. } => SendResult::Refused,
    };
    Ok(Json(PacketImported { result, receipt: ReceiptSummary::of(r), bundle }))
}

async fn resume(State(node): State<Arc<Node>>) -> Answer<Vec<Resumed>> {
    let results = node.resume_sends().await?;
    let mut out = Vec::new();
    for (packet, result) in results {
        out.push(match result {
            Ok((now, outcome)) => Resumed { packet, answer: Some(node.answer_for(now, &outcome)?), problem: None },
            Err(e) => Resumed { packet, answer: None, problem: Some(Problem::from(&e)) },
        });
    }
    Ok(Json(out))
}

async fn request(State(node): State<Arc<Node>>, Json(p): Json<PullOptions>) -> Answer<PullAnswer> {
    let answer = match node.request(&p.to, p.grant, p.purpose, p.category, p.query.as_bytes()).await? {
        RequesterOutcome::Refused(r) => PullAnswer {
            result: PullResult::Refused,
            refusal: Some(ReceiptSummary::of_bundle(&r)),
            packets: Vec::new(),
        },
        RequesterOutcome::Answered(packets) => PullAnswer {
            result: PullResult::Answered,
            refusal: None,
            packets: packets
                .iter()
                .map(|o| match o {
                    ReceiverOutcome::Received(r) | ReceiverOutcome::Resent(r) | ReceiverOutcome::Rejected(r) => {
                        ReceiptSummary::of_bundle(r)
                    }
                })
                .collect(),
        },
    };
    Ok(Json(answer))
}

async fn grants(State(node): State<Arc<Node>>) -> Answer<Vec<GrantSummary>> {
    let grants = blocking(&node, Node::grants).await?;
    Ok(Json(
        grants
            .iter()
            .filter_map(|(id, chain)| {
                let g = chain.first()?.unverified();
                Some(GrantSummary {
                    grant: *id,
                    issuer: g.issuer.clone(),
                    grantee: g.grantee.clone(),
                    purposes: g.purposes.iter().cloned().collect(),
                    categories: g.categories.iter().cloned().collect(),
                    not_before: tally_grant::rfc3339(g.not_before),
                    not_after: tally_grant::rfc3339(g.not_after),
                    depth: chain.len(),
                    status: node.grant_status(chain),
                })
            })
            .collect(),
    ))
}

async fn issue_grant(State(node): State<Arc<Node>>, Json(issue): Json<GrantIssue>) -> Answer<GrantIssued> {
    let document: GrantDocument = issue.document;
    let (id, chain) = blocking(&node, move |n| {
        let (id, _) = n.issue_grant(&document)?;
        let chain = n.grant_chain(&id)?.ok_or_else(|| NodeError::Inconsistent("the issued grant is missing".into()))?;
        Ok((id, chain))
    })
    .await?;
    let delivered = node.deliver_grant(&id).await?;
    Ok(Json(GrantIssued { grant: id, file: hex::encode(&tally_wire::encode_grant_chain(&chain)), delivered }))
}

async fn import_grant(State(node): State<Arc<Node>>, body: axum::body::Bytes) -> Answer<GrantKept> {
    let chain = tally_wire::decode_grant_chain(&body)
        .map_err(|e| Problem::new(ProblemCode::BadRequest, format!("not a grant file: {e}")))?;
    Ok(Json(GrantKept { grant: blocking(&node, move |n| n.import_grant(chain)).await? }))
}

async fn show_grant(State(node): State<Arc<Node>>, body: axum::body::Bytes) -> Answer<GrantShown> {
    let chain = tally_wire::decode_grant_chain(&body)
        .map_err(|e| Problem::new(ProblemCode::BadRequest, format!("not a grant file: {e}")))?;
    let leaf = chain.first().ok_or_else(|| Problem::new(ProblemCode::BadRequest, "an empty grant chain"))?;
    let (verified, verdict) = match node.verify_chain(&chain) {
        Ok(()) => (true, "verified: every signature and link checks against the directory".to_owned()),
        Err(d) => (false, format!("DOES NOT VERIFY: {d}")),
    };
    Ok(Json(GrantShown {
        grant: tally_grant::grant_id(leaf),
        chain_depth: chain.len(),
        verdict,
        verified,
        document: GrantDocument::from_grant(leaf.unverified()),
        status: node.grant_status(&chain),
    }))
}

async fn revoke(
    State(node): State<Arc<Node>>,
    Path(grant): Path<GrantId>,
    Json(r): Json<RevokeRequest>,
) -> Answer<Revoked> {
    let at = r
        .effective_at
        .map(|t| {
            humantime::parse_rfc3339(&t).map(tally_wire::Timestamp::from_system_time).map_err(|e| {
                Problem::new(
                    ProblemCode::BadRequest,
                    format!("effective_at `{t}`: {e}; write a time such as 2027-01-01T00:00:00Z"),
                )
            })
        })
        .transpose()?;
    let revocation = blocking(&node, move |n| n.revoke(grant, r.reason.code(), r.erase, at)).await?;
    let delivered = node.deliver_revocation(&revocation).await?;
    Ok(Json(Revoked { grant, file: hex::encode(&revocation.encode()), delivered }))
}

async fn import_revocation(State(node): State<Arc<Node>>, body: axum::body::Bytes) -> Answer<RevocationKept> {
    let revocation = Signed::decode(&body)
        .map_err(|e| Problem::new(ProblemCode::BadRequest, format!("not a revocation file: {e}")))?;
    Ok(Json(RevocationKept { new: blocking(&node, move |n| n.import_revocation(revocation)).await? }))
}

async fn inbox(State(node): State<Arc<Node>>) -> Answer<Vec<InboxEntry>> {
    Ok(Json(blocking(&node, Node::inbox).await?))
}

/// Streams a received packet's plaintext: decrypted on a blocking thread
/// into a small pipe, so that memory stays flat whatever the payload's size.
async fn inbox_content(State(node): State<Arc<Node>>, Path(packet): Path<PacketId>) -> Result<Response, ApiError> {
    let stored = blocking(&node, move |n| n.open_packet(&packet)).await?;
    let size = stored.size();
    let (reader, writer) = tokio::io::duplex(1 << 18);
    let handle = tokio::runtime::Handle::current();
    tokio::task::spawn_blocking(move || {
        let mut out = Stalling { handle, pipe: writer };
        if let Err(e) = stored.write_to(&mut out) {
            // The client sees the body end before Content-Length: a failed transfer.
            tracing::warn!(%packet, error = %e, "the packet's export stopped");
        }
    });
    let body = Body::from_stream(tokio_util::io::ReaderStream::with_capacity(reader, 1 << 18));
    Ok((
        [(header::CONTENT_TYPE, "application/octet-stream".to_owned()), (header::CONTENT_LENGTH, size.to_string())],
        body,
    )
        .into_response())
}

/// How long an export waits for a client that reads nothing before it gives up.
const EXPORT_STALL: std::time::Duration = std::time::Duration::from_secs(60);

/// The blocking side of an export's pipe: a client that stops reading
/// ends the export after [`EXPORT_STALL`] instead of holding its thread.
struct Stalling {
    handle: tokio::runtime::Handle,
    pipe: tokio::io::DuplexStream,
}

impl std::io::Write for Stalling {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        use tokio::io::AsyncWriteExt;
        let written = self.handle.block_on(tokio::time::timeout(EXPORT_STALL, self.pipe.write(buf)));
        written.map_err(|_| std::io::Error::new(std::io::ErrorKind::TimedOut, "the client stopped reading"))?
    }

    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

async fn reveal(State(node): State<Arc<Node>>, Path(packet): Path<PacketId>) -> Answer<RevealAnswer> {
    let (reveal, received) = blocking(&node, move |n| n.reveal(&packet)).await?;
    let encoded = tally_wire::Encoded::new(reveal).map_err(NodeError::from)?;
    Ok(Json(RevealAnswer { packet, reveal: hex::encode(&encoded.encode()), received }))
}

async fn receipts(State(node): State<Arc<Node>>) -> Answer<Vec<ReceiptEntry>> {
    Ok(Json(blocking(&node, Node::receipts).await?))
}

async fn receipt_bundle(State(node): State<Arc<Node>>, Path(packet): Path<PacketId>) -> Result<Response, ApiError> {
    let text = blocking(&node, move |n| n.receipt_bundle(&packet)).await?;
    Ok(([(header::CONTENT_TYPE, "text/plain; charset=utf-8")], text).into_response())
}

async fn checkpoint(State(node): State<Arc<Node>>) -> Answer<CheckpointAnswer> {
    Ok(Json(CheckpointAnswer { checkpoint: blocking(&node, Node::checkpoint).await? }))
}

async fn log_export(State(node): State<Arc<Node>>) -> Answer<crate::LogExport> {
    Ok(Json(blocking(&node, Node::export_log).await?))
}

async fn log_fetch(State(node): State<Arc<Node>>, Json(f): Json<FetchFrom>) -> Answer<crate::LogExport> {
    Ok(Json(node.fetch_log(&f.from).await?))
}

async fn log_follow(State(node): State<Arc<Node>>, Json(f): Json<FetchFrom>) -> Answer<crate::Followed> {
    Ok(Json(node.follow_log(&f.from).await?))
}

async fn sweep(State(node): State<Arc<Node>>) -> Answer<Erased> {
    Ok(Json(Erased { erased: blocking(&node, Node::sweep).await? }))
}

async fn reload_directory(State(node): State<Arc<Node>>) -> Answer<DirectoryReloaded> {
    Ok(Json(DirectoryReloaded { updated: blocking(&node, Node::reload_directory).await? }))
}

async fn fetch_directory(State(node): State<Arc<Node>>, Json(f): Json<FetchFrom>) -> Answer<DirectoryFetched> {
    Ok(Json(DirectoryFetched { serial: node.fetch_directory(&f.from).await? }))
}
