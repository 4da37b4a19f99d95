//! `tally serve`: the node with its control socket, metrics endpoint,
//! retention sweeper and directory watcher, until asked to stop.

use std::future::Future;
use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use tokio::net::UnixListener;

use crate::control::SOCKET_FILE;
use crate::{Node, NodeError};

/// Runs the node in `dir` until `stop` completes, then shuts down gracefully.
/// `ready` is called once the node listens.
/// Sets the process umask to 0077 first: nothing the node creates is readable by others.
pub async fn serve(dir: &Path, stop: impl Future<Output = ()>, ready: impl FnOnce(&Node)) -> Result<(), NodeError> {
    rustix::process::umask(rustix::fs::Mode::from_raw_mode(0o077));
    let node = Arc::new(Node::start(dir).await?);
    let socket = dir.join(SOCKET_FILE);
    let _ = std::fs::remove_file(&socket);
    let listener = UnixListener::bind(&socket).map_err(NodeError::file(&socket))?;
    #[cfg(unix)]
    std::fs::set_permissions(&socket, std::os::unix::fs::PermissionsExt::from_mode(0o600))
        .map_err(NodeError::file(&socket))?;
    let control = tokio::spawn(crate::control::serve(Arc::clone(&node), listener));
    let metrics = match node.state().config.metrics {
        Some(addr) if addr.ip().is_loopback() => {
            let listener = tokio::net::TcpListener::bind(addr)
                .await
                .map_err(|e| NodeError::Usage(format!("metrics address {addr}: {e}")))?;
            Some(tokio::spawn(crate::metrics::serve(listener, Arc::clone(node.state()))))
        }
        Some(addr) => {
            return Err(NodeError::Usage(format!(
                "metrics address {addr} is not a loopback address; metrics stay on localhost"
            )));
        }
        None => None,
    };
    let background = tokio::spawn(housekeeping(Arc::clone(&node)));
    ready(&node);
    stop.await;
    tracing::info!("shutting down");
    control.abort();
    background.abort();
    if let Some(m) = metrics {
        m.abort();
    }
    node.shutdown(Duration::from_secs(10)).await;
    let _ = std::fs::remove_file(&socket);
    Ok(())
}

/// Resumes unfinished sends once, then sweeps retention and watches the directory file.
async fn housekeeping(node: Arc<Node>) {
    match node.resume_sends().await {
        Ok(results) => {
            for (packet, result) in results {
                match result {
                    Ok(outcome) => tracing::info!(%packet, ?outcome, "unfinished send resumed"),
                    Err(e) => tracing::warn!(%packet, error = %e, "unfinished send could not be resumed"),
                }
            }
        }
        Err(e) => tracing::warn!(error = %e, "cannot read the outbox"),
    }
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
