//! `tally serve`: the node with its local API (on the Unix socket, and on
//! a loopback TCP address where configured), retention sweeper and
//! directory watcher, until asked to stop.

use std::future::Future;
use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use crate::api::{SOCKET_FILE, TOKEN_FILE};
use crate::{Node, NodeError};

/// Runs the node in `dir` until `stop` completes, then shuts down gracefully.
/// `ready` is called once the node listens.
/// Sets the process umask to 0077 first: nothing the node creates is readable by others.
pub async fn serve(dir: &Path, stop: impl Future<Output = ()>, ready: impl FnOnce(&Node)) -> Result<(), NodeError> {
    rustix::process::umask(rustix::fs::Mode::from_raw_mode(0o077));
    let node = Arc::new(Node::start(dir).await?);
    let socket = dir.join(SOCKET_FILE);
    let _ = std::fs::remove_file(&socket);
    let listener = tokio::net::UnixListener::bind(&socket).map_err(NodeError::file(&socket))?;
    std::fs::set_permissions(&socket, std::os::unix::fs::PermissionsExt::from_mode(0o600))
        .map_err(NodeError::file(&socket))?;
    let local = axum::serve(listener, crate::api::server::router(Arc::clone(&node), None));
    let local = tokio::spawn(async move {
        if let Err(e) = local.await {
            tracing::error!(error = %e, "the local API stopped");
        }
    });
    let tcp = match node.state().config.api {
        Some(addr) if addr.ip().is_loopback() => {
            let token = api_token(dir)?;
            let listener = tokio::net::TcpListener::bind(addr)
                .await
                .map_err(|e| NodeError::Usage(format!("api address {addr}: {e}")))?;
            let server = axum::serve(listener, crate::api::server::router(Arc::clone(&node), Some(token)));
            Some(tokio::spawn(async move {
                if let Err(e) = server.await {
                    tracing::error!(error = %e, "the local API's TCP listener stopped");
                }
            }))
        }
        Some(addr) => {
            return Err(NodeError::Usage(format!(
                "api address {addr} is not a loopback address; the local API stays on this machine"
            )));
        }
        None => None,
    };
    let background = tokio::spawn(housekeeping(Arc::clone(&node)));
    let retries = tokio::spawn(retries(Arc::clone(&node)));
    let consistency = tokio::spawn(consistency(Arc::clone(&node)));
    let state = node.state();
    tracing::info!(agency = %state.agency, listen = %node.local_addr()?, api = %socket.display(),
        api_tcp = ?state.config.api, metrics = ?state.config.api.map(|a| format!("http://{a}/metrics")),
        serial = state.directory().serial(), "node started");
    ready(&node);
    stop.await;
    tracing::info!("shutting down");
    local.abort();
    background.abort();
    retries.abort();
    consistency.abort();
    if let Some(t) = tcp {
        t.abort();
    }
    node.shutdown(Duration::from_secs(10)).await;
    let _ = std::fs::remove_file(&socket);
    Ok(())
}

/// The TCP listener's bearer token: read from `api.token`, or made (32
/// random bytes, hex) and written with mode 0600 if the file is missing.
fn api_token(dir: &Path) -> Result<Arc<str>, NodeError> {
    let path = dir.join(TOKEN_FILE);
    if !path.exists() {
        let mut bytes = [0u8; 32];
        tally_envelope::at_rest::random_bytes(&mut bytes)?;
        crate::files::write_secret(&path, format!("{}\n", crate::hex::encode(&bytes)).as_bytes())?;
    }
    crate::files::check_secret(&path)?;
    let text = String::from_utf8(crate::files::read(&path)?)
        .map_err(|_| NodeError::Malformed { path: path.clone(), message: "the API token is not text".into() })?;
    let token = text.trim();
    if token.len() < 32 {
        return Err(NodeError::Malformed { path, message: "the API token is shorter than 32 characters".into() });
    }
    Ok(Arc::from(token))
}

/// Asks peers for the consistency proofs of checkpoints they showed this
/// node (woken by a new one, and every minute for those still unproven).
async fn consistency(node: Arc<Node>) {
    let mut retried = tokio::time::Instant::now();
    loop {
        let _ = tokio::time::timeout(Duration::from_secs(60), node.state().checkpoints.wake.notified()).await;
        // New checkpoints; and once a minute, whatever the traffic, also those whose proof failed before.
        let again = retried.elapsed() >= Duration::from_secs(60);
        if again {
            retried = tokio::time::Instant::now();
        }
        let mut written = Vec::new();
        // One question at a time, each made against the head as it is when asked.
        // A round asks at most 256; checkpoints seen meanwhile have woken the next one.
        let mut asked = std::collections::HashSet::new();
        while let Some(question) = (asked.len() < 256)
            .then(|| node.state().checkpoints.questions(again).into_iter().find(|q| !asked.contains(&q.note)))
            .flatten()
        {
            asked.insert(question.note.clone());
            let target = tally_wire::Fetch::Consistency { old_size: question.old_size, new_size: question.new_size };
            let answer = node.endpoint.fetch(&question.peer, target, crate::checkpoints::MAX_FETCHED_PROOF).await;
            let proof = answer.map_err(|e| e.to_string()).and_then(|b| crate::checkpoints::proof_from_bytes(&b));
            written.extend(crate::checkpoints::settle(node.state(), &question, proof));
        }
        // One durable write for the round.
        let state = Arc::clone(&node.state);
        if let Ok(Err(e)) = tokio::task::spawn_blocking(move || crate::checkpoints::save(&state, written)).await {
            tracing::warn!(error = %e, "cannot record peers' checkpoints");
        }
    }
}

/// Offers unfinished sends again as their retries fall due (at start, every one).
async fn retries(node: Arc<Node>) {
    let mut tick = tokio::time::interval(Duration::from_secs(1));
    loop {
        tick.tick().await;
        if let Err(e) = node.retry_due() {
            tracing::warn!(error = %e, "cannot read the outbox");
        }
    }
}

/// Sweeps retention and watches the directory file.
async fn housekeeping(node: Arc<Node>) {
    let mut tick = tokio::time::interval(node.state().config.sweep_interval);
    loop {
        tick.tick().await;
        let n = Arc::clone(&node);
        let result = tokio::task::spawn_blocking(move || {
            if let Err(e) = n.reload_directory() {
                tracing::warn!(error = %e, "the directory file was not taken");
            }
            n.sweep()
        })
        .await;
        match result {
            Ok(Ok(0)) => {}
            Ok(Ok(erased)) => tracing::info!(erased, "retention sweep"),
            Ok(Err(e)) => tracing::error!(error = %e, "retention sweep failed"),
            Err(e) => tracing::error!(error = %e, "retention sweep panicked"),
        }
    }
}
