//! Health and Prometheus-text metrics on a localhost HTTP endpoint.

use std::fmt::Write;
use std::sync::Arc;
use std::sync::atomic::Ordering;

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpListener;

use crate::state::NodeState;

/// The metrics in the Prometheus text exposition format.
pub(crate) fn render(state: &NodeState) -> String {
    let m = &state.metrics;
    let mut out = String::new();
    let mut counter = |name: &str, help: &str, value: u64| {
        let _ = writeln!(out, "# HELP {name} {help}\n# TYPE {name} counter\n{name} {value}");
    };
    counter("tally_packets_received_total", "Packets received and receipted.", m.received.load(Ordering::Relaxed));
    counter(
        "tally_bytes_received_total",
        "Plaintext bytes received and receipted.",
        m.received_bytes.load(Ordering::Relaxed),
    );
    counter(
        "tally_packets_sent_total",
        "Packets sent and receipted or refused by the peer.",
        m.sent.load(Ordering::Relaxed),
    );
    counter("tally_bytes_sent_total", "Plaintext bytes sent.", m.sent_bytes.load(Ordering::Relaxed));
    counter(
        "tally_packets_erased_total",
        "Packets erased by destroying their data key.",
        m.erased.load(Ordering::Relaxed),
    );
    let _ = writeln!(out, "# HELP tally_rejections_total Offers and requests this node refused, by reason.");
    let _ = writeln!(out, "# TYPE tally_rejections_total counter");
    if let Ok(r) = m.rejections.lock() {
        for (code, n) in r.iter() {
            let _ = writeln!(out, "tally_rejections_total{{reason=\"{}\"}} {n}", tally_wire::ReasonCode(*code));
        }
    }
    let size = state.log.size().unwrap_or(0);
    let _ = writeln!(
        out,
        "# HELP tally_log_entries Entries in the node's log.\n# TYPE tally_log_entries gauge\ntally_log_entries {size}"
    );
    out
}

/// Serves `GET /health` and `GET /metrics` on `listener` until the task is dropped.
pub(crate) async fn serve(listener: TcpListener, state: Arc<NodeState>) {
    loop {
        let Ok((mut stream, _)) = listener.accept().await else { continue };
        let state = Arc::clone(&state);
        tokio::spawn(async move {
            let mut request = [0u8; 1024];
            let Ok(Ok(n)) = tokio::time::timeout(std::time::Duration::from_secs(5), stream.read(&mut request)).await
            else {
                return;
            };
            let line = String::from_utf8_lossy(&request[..n]);
            let (status, body) = if line.starts_with("GET /metrics ") {
                ("200 OK", render(&state))
            } else if line.starts_with("GET /health ") {
                ("200 OK", "ok\n".to_owned())
            } else {
                ("404 Not Found", "GET /health or GET /metrics\n".to_owned())
            };
            let response = format!(
                "HTTP/1.1 {status}\r\ncontent-type: text/plain; version=0.0.4\r\ncontent-length: {}\r\nconnection: close\r\n\r\n{body}",
                body.len()
            );
            let _ = stream.write_all(response.as_bytes()).await;
        });
    }
}
