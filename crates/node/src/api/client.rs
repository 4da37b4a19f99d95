//! A client of a node's local API over its Unix socket: what the `tally`
//! command uses, and what a Rust agency system can use.

use std::path::{Path, PathBuf};

use bytes::Bytes;
use futures_util::TryStreamExt;
use http_body_util::{BodyExt, Full};
use hyper::body::Incoming;
use hyper::{Method, Request, header};
use hyper_util::rt::TokioIo;
use serde::Serialize;
use serde::de::DeserializeOwned;
use tokio::io::{AsyncRead, AsyncWrite, AsyncWriteExt};
use tokio::net::UnixStream;

use super::*;
use super::{Problem, SOCKET_FILE};
use crate::LogExport;

/// Why a call to the node failed.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ClientError {
    /// The node is not running, or its socket is not reachable.
    #[error("cannot reach the node at {}: {source}; start it with `tally serve --dir {}`", socket.display(), dir.display())]
    NotRunning {
        /// The API socket.
        socket: PathBuf,
        /// The node's directory.
        dir: PathBuf,
        /// The connection error.
        source: std::io::Error,
    },
    /// The node answered with a problem document.
    #[error("{0}")]
    Problem(Problem),
    /// The connection failed, or the answer is not what the API promises.
    #[error("the node's answer: {0}")]
    Protocol(String),
    /// A local file (a payload, an output) failed.
    #[error("{}: {source}", path.display())]
    File {
        /// The file.
        path: PathBuf,
        /// The I/O error.
        source: std::io::Error,
    },
}

fn protocol(e: impl std::fmt::Display) -> ClientError {
    ClientError::Protocol(e.to_string())
}

/// A node's local API, reached over `DIR/api.sock`.
///
/// A client keeps its connection to the node open between calls (HTTP/1.1
/// keep-alive), one request at a time on it. A call that finds the kept
/// connection in use by another clone opens one of its own, but one that
/// takes it while the answer before is still being read (a streamed
/// export) waits for that body to end. A connection the node closed is
/// opened anew on the next call.
#[derive(Clone, Debug)]
pub struct Client {
    dir: PathBuf,
    idle: std::sync::Arc<std::sync::Mutex<Option<hyper::client::conn::http1::SendRequest<Body>>>>,
}

/// Bytes read from a payload per body frame: large enough that a send costs
/// few system calls, small enough that memory stays flat.
const UPLOAD_CHUNK: usize = 256 << 10;

/// A request body.
type Body = http_body_util::combinators::BoxBody<Bytes, std::io::Error>;

fn full(bytes: impl Into<Bytes>) -> Body {
    Full::new(bytes.into()).map_err(|never| match never {}).boxed()
}

impl Client {
    /// The client of the node in `dir`.
    pub fn new(dir: &Path) -> Self {
        Self { dir: dir.to_owned(), idle: Default::default() }
    }

    /// Sends `method path` with `body` as it is and returns the status and
    /// body as they are, problem documents included (for scripts and tests).
    pub async fn raw(&self, method: Method, path: &str, body: Vec<u8>) -> Result<(u16, Vec<u8>), ClientError> {
        let response = self.exchange(Self::request(method, path, full(body), "application/json")?).await?;
        let status = response.status().as_u16();
        Ok((status, response.into_body().collect().await.map_err(protocol)?.to_bytes().to_vec()))
    }

    async fn exchange(&self, request: Request<Body>) -> Result<hyper::Response<Incoming>, ClientError> {
        let idle = self.idle.lock().unwrap_or_else(std::sync::PoisonError::into_inner).take();
        let (mut sender, reused) = match idle {
            // Ready once the answer before was read whole; an error if the node closed it.
            Some(mut sender) => match sender.ready().await {
                Ok(()) => (sender, true),
                Err(_) => (self.connect().await?, false),
            },
            None => (self.connect().await?, false),
        };
        let response = match sender.try_send_request(request).await {
            Ok(response) => response,
            // A kept connection the node closed before the request was written: on a new one.
            Err(mut e) if reused && e.message().is_some() => {
                let request = e.take_message().ok_or_else(|| protocol("the request was lost"))?;
                sender = self.connect().await?;
                sender.send_request(request).await.map_err(protocol)?
            }
            Err(e) => return Err(protocol(e.into_error())),
        };
        // Free for the next call once this response's body is read.
        *self.idle.lock().unwrap_or_else(std::sync::PoisonError::into_inner) = Some(sender);
        Ok(response)
    }

    async fn connect(&self) -> Result<hyper::client::conn::http1::SendRequest<Body>, ClientError> {
        let socket = self.dir.join(SOCKET_FILE);
        let stream = UnixStream::connect(&socket).await.map_err(|source| ClientError::NotRunning {
            socket: socket.clone(),
            dir: self.dir.clone(),
            source,
        })?;
        let (sender, connection) =
            hyper::client::conn::http1::handshake(TokioIo::new(stream)).await.map_err(protocol)?;
        tokio::spawn(async move {
            let _ = connection.await;
        });
        Ok(sender)
    }

    async fn call(&self, request: Request<Body>) -> Result<hyper::Response<Incoming>, ClientError> {
        let response = self.exchange(request).await?;
        if response.status().is_success() {
            return Ok(response);
        }
        let status = response.status();
        let body = response.into_body().collect().await.map_err(protocol)?.to_bytes();
        Err(match serde_json::from_slice::<Problem>(&body) {
            Ok(problem) => ClientError::Problem(problem),
            Err(_) => ClientError::Protocol(format!("HTTP {status} without a problem document")),
        })
    }

    fn request(method: Method, path: &str, body: Body, content_type: &str) -> Result<Request<Body>, ClientError> {
        Request::builder()
            .method(method)
            .uri(path)
            .header(header::HOST, "tally-node")
            .header(header::CONTENT_TYPE, content_type)
            .body(body)
            .map_err(protocol)
    }

    async fn json<T: DeserializeOwned>(&self, request: Request<Body>) -> Result<T, ClientError> {
        let response = self.call(request).await?;
        let body = response.into_body().collect().await.map_err(protocol)?.to_bytes();
        serde_json::from_slice(&body).map_err(protocol)
    }

    async fn get<T: DeserializeOwned>(&self, path: &str) -> Result<T, ClientError> {
        self.json(Self::request(Method::GET, path, full(Bytes::new()), "application/json")?).await
    }

    async fn post<B: Serialize, T: DeserializeOwned>(&self, path: &str, body: &B) -> Result<T, ClientError> {
        let body = serde_json::to_vec(body).map_err(protocol)?;
        self.json(Self::request(Method::POST, path, full(body), "application/json")?).await
    }

    async fn post_bytes<T: DeserializeOwned>(&self, path: &str, body: Vec<u8>) -> Result<T, ClientError> {
        self.json(Self::request(Method::POST, path, full(body), "application/octet-stream")?).await
    }

    async fn text(&self, path: &str) -> Result<String, ClientError> {
        let response = self.call(Self::request(Method::GET, path, full(Bytes::new()), "text/plain")?).await?;
        let body = response.into_body().collect().await.map_err(protocol)?.to_bytes();
        String::from_utf8(body.to_vec()).map_err(protocol)
    }

    /// `GET /v1/status`.
    pub async fn status(&self) -> Result<Status, ClientError> {
        self.get("/v1/status").await
    }

    /// `GET /health`.
    pub async fn health(&self) -> Result<Health, ClientError> {
        self.get("/health").await
    }

    /// `GET /metrics`: the OpenMetrics text.
    pub async fn metrics(&self) -> Result<String, ClientError> {
        self.text("/metrics").await
    }

    /// `POST /v1/sends` with the payload in the body: streams `len` bytes
    /// of `payload` to the node, which seals and sends them; `progress`
    /// counts the bytes streamed. If the stream breaks off, the node
    /// cancels the send. (`query.source` must be `None`: see [`send_file`](Self::send_file).)
    pub async fn send(
        &self,
        query: &SendQuery,
        payload: impl AsyncRead + Unpin + Send + Sync + 'static,
        len: u64,
        progress: std::sync::Arc<std::sync::atomic::AtomicU64>,
    ) -> Result<SendAnswer, ClientError> {
        let payload = crate::counting::Counting::new(payload, progress);
        let query = serde_urlencoded::to_string(query).map_err(protocol)?;
        let stream =
            tokio_util::io::ReaderStream::with_capacity(payload, UPLOAD_CHUNK).map_ok(hyper::body::Frame::data);
        let body = http_body_util::StreamBody::new(stream).boxed();
        let mut request = Self::request(Method::POST, &format!("/v1/sends?{query}"), body, "application/octet-stream")?;
        request.headers_mut().insert(header::CONTENT_LENGTH, len.into());
        self.json(request).await
    }

    /// `POST /v1/sends` naming the payload's file (`query.source`, an
    /// absolute path): the node reads the file itself, and goes on with the
    /// send if this client goes away.
    pub async fn send_file(&self, query: &SendQuery) -> Result<SendAnswer, ClientError> {
        if query.source.is_none() {
            return Err(ClientError::Protocol("send_file needs the query's source file".into()));
        }
        let query = serde_urlencoded::to_string(query).map_err(protocol)?;
        let mut request =
            Self::request(Method::POST, &format!("/v1/sends?{query}"), full(Bytes::new()), "application/octet-stream")?;
        request.headers_mut().insert(header::CONTENT_LENGTH, 0u64.into());
        self.json(request).await
    }

    /// `GET /v1/sends/{send_id}`: how the send under `send_id` stands.
    pub async fn send_state(&self, send_id: &SendId) -> Result<SendAnswer, ClientError> {
        self.get(&format!("/v1/sends/{send_id}")).await
    }

    /// `POST /v1/packets/import`: streams a packet file to the node, which
    /// takes it as it takes an offer over QUIC.
    pub async fn import_packet(
        &self,
        file: impl AsyncRead + Unpin + Send + Sync + 'static,
    ) -> Result<PacketImported, ClientError> {
        let stream = tokio_util::io::ReaderStream::with_capacity(file, UPLOAD_CHUNK).map_ok(hyper::body::Frame::data);
        let body = http_body_util::StreamBody::new(stream).boxed();
        self.json(Self::request(Method::POST, "/v1/packets/import", body, "application/octet-stream")?).await
    }

    /// `POST /v1/resume`.
    pub async fn resume(&self) -> Result<Vec<Resumed>, ClientError> {
        self.post("/v1/resume", &()).await
    }

    /// `POST /v1/requests`.
    pub async fn request_pull(&self, options: &PullOptions) -> Result<PullAnswer, ClientError> {
        self.post("/v1/requests", options).await
    }

    /// `GET /v1/grants`.
    pub async fn grants(&self) -> Result<Vec<GrantSummary>, ClientError> {
        self.get("/v1/grants").await
    }

    /// `POST /v1/grants`.
    pub async fn issue_grant(&self, issue: &GrantIssue) -> Result<GrantIssued, ClientError> {
        self.post("/v1/grants", issue).await
    }

    /// `POST /v1/grants/import`: a grant file's bytes.
    pub async fn import_grant(&self, file: Vec<u8>) -> Result<GrantKept, ClientError> {
        self.post_bytes("/v1/grants/import", file).await
    }

    /// `POST /v1/grants/show`: a grant file's bytes, verified against the node's directory.
    pub async fn show_grant(&self, file: Vec<u8>) -> Result<GrantShown, ClientError> {
        self.post_bytes("/v1/grants/show", file).await
    }

    /// `POST /v1/grants/{grant}/revoke`.
    pub async fn revoke(&self, grant: &tally_wire::GrantId, request: &RevokeRequest) -> Result<Revoked, ClientError> {
        self.post(&format!("/v1/grants/{grant}/revoke"), request).await
    }

    /// `POST /v1/revocations`: a revocation file's bytes.
    pub async fn import_revocation(&self, file: Vec<u8>) -> Result<RevocationKept, ClientError> {
        self.post_bytes("/v1/revocations", file).await
    }

    /// `GET /v1/inbox`.
    pub async fn inbox(&self) -> Result<Vec<InboxEntry>, ClientError> {
        self.get("/v1/inbox").await
    }

    /// `GET /v1/inbox/{packet}/content`, streamed into `out`; returns the bytes written.
    /// Fails if the node ends the body before its stated length.
    pub async fn export_packet(
        &self,
        packet: &tally_wire::PacketId,
        out: &mut (impl AsyncWrite + Unpin),
    ) -> Result<u64, ClientError> {
        let path = format!("/v1/inbox/{packet}/content");
        let response =
            self.call(Self::request(Method::GET, &path, full(Bytes::new()), "application/octet-stream")?).await?;
        let expected = response
            .headers()
            .get(header::CONTENT_LENGTH)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.parse::<u64>().ok());
        let mut body = response.into_body();
        let mut written = 0u64;
        while let Some(frame) = body.frame().await {
            let frame = frame.map_err(protocol)?;
            if let Ok(data) = frame.into_data() {
                out.write_all(&data).await.map_err(|e| protocol(format!("writing the plaintext: {e}")))?;
                written += data.len() as u64;
            }
        }
        out.flush().await.map_err(|e| protocol(format!("writing the plaintext: {e}")))?;
        match expected {
            Some(n) if n != written => {
                Err(ClientError::Protocol(format!("the node stopped after {written} of {n} bytes (see its log)")))
            }
            _ => Ok(written),
        }
    }

    /// `GET /v1/packets/{packet}/reveal`.
    pub async fn reveal(&self, packet: &tally_wire::PacketId) -> Result<RevealAnswer, ClientError> {
        self.get(&format!("/v1/packets/{packet}/reveal")).await
    }

    /// `GET /v1/receipts`.
    pub async fn receipts(&self) -> Result<Vec<ReceiptEntry>, ClientError> {
        self.get("/v1/receipts").await
    }

    /// `GET /v1/receipts/{packet}/bundle`: the bundle's text form.
    pub async fn receipt_bundle(&self, packet: &tally_wire::PacketId) -> Result<String, ClientError> {
        self.text(&format!("/v1/receipts/{packet}/bundle")).await
    }

    /// `POST /v1/log/checkpoint`.
    pub async fn checkpoint(&self) -> Result<CheckpointAnswer, ClientError> {
        self.post("/v1/log/checkpoint", &()).await
    }

    /// `GET /v1/log/export`.
    pub async fn export_log(&self) -> Result<LogExport, ClientError> {
        self.get("/v1/log/export").await
    }

    /// `POST /v1/log/fetch`.
    pub async fn fetch_log(&self, from: &tally_wire::AgencyId) -> Result<LogExport, ClientError> {
        self.post("/v1/log/fetch", &FetchFrom { from: from.clone() }).await
    }

    /// `POST /v1/log/follow`.
    pub async fn follow_log(&self, from: &tally_wire::AgencyId) -> Result<crate::Followed, ClientError> {
        self.post("/v1/log/follow", &FetchFrom { from: from.clone() }).await
    }

    /// `POST /v1/sweep`.
    pub async fn sweep(&self) -> Result<Erased, ClientError> {
        self.post("/v1/sweep", &()).await
    }

    /// `POST /v1/directory/reload`.
    pub async fn reload_directory(&self) -> Result<DirectoryReloaded, ClientError> {
        self.post("/v1/directory/reload", &()).await
    }

    /// `POST /v1/directory/fetch`.
    pub async fn fetch_directory(&self, from: &tally_wire::AgencyId) -> Result<DirectoryFetched, ClientError> {
        self.post("/v1/directory/fetch", &FetchFrom { from: from.clone() }).await
    }
}
