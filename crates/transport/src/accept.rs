//! The serving side of an endpoint: connections peers open to it, and the
//! exchanges they start on them (spec/transport.md, "Streams").

use std::sync::Arc;
use std::sync::atomic::Ordering;

use tally_protocol::{Answerer, AnswererOutcome, Receiver, ReceiverOutcome, Responder, ResponderOutcome};
use tally_wire::{AgencyId, CloseCode, Frame};

use crate::connections::Refused;
use crate::drive::{Stream, drive, now};
use crate::host::Host;
use crate::inner::{Inner, close_code};
use crate::serve::{AnswerServe, ReceiveServe, RespondServe};
use crate::tls;

/// Accepts connections until the endpoint closes; while it shuts down, or
/// holds as many connections as it may, new ones are refused.
pub(crate) async fn accept_connections<H: Host>(inner: Arc<Inner<H>>) {
    while let Some(incoming) = inner.quinn.accept().await {
        if inner.shutting_down.load(Ordering::SeqCst) || !inner.live.has_room() {
            incoming.refuse();
            continue;
        }
        tokio::spawn(serve_connection(Arc::clone(&inner), incoming));
    }
}

/// Re-checks the open connections whenever the roster gets a newer directory.
pub(crate) async fn watch_directory<H: Host>(
    inner: std::sync::Weak<Inner<H>>,
    mut serials: tokio::sync::watch::Receiver<u64>,
) {
    while serials.changed().await.is_ok() {
        let Some(inner) = inner.upgrade() else { return };
        inner.recheck_connections().await;
    }
}

async fn serve_connection<H: Host>(inner: Arc<Inner<H>>, incoming: quinn::Incoming) {
    let Ok(connection) = incoming.await else { return };
    // The handshake verified the key is in the roster; this names the agency.
    let Some(peer) = tls::authenticated_agency(&connection, &inner.roster) else {
        connection.close(close_code(CloseCode::SENDER_MISMATCH), b"unknown TLS key");
        return;
    };
    let budget = match inner.live.accepted(&peer, &connection) {
        Ok(budget) => budget,
        Err(Refused::TooMany) => {
            connection.close(close_code(CloseCode::TOO_MANY_CONNECTIONS), b"too many connections from this agency");
            return;
        }
    };
    while let Ok(streams) = connection.accept_bi().await {
        let stream =
            Stream::new(connection.clone(), peer.clone(), streams, budget.clone(), inner.config.exchange.idle_timeout);
        tokio::spawn(serve_exchange(Arc::clone(&inner), peer.clone(), stream));
    }
    inner.live.remove(&connection);
}

/// One exchange a peer opened: its first frame says push (an offer), pull
/// (a request), or a notice or fetch.
async fn serve_exchange<H: Host>(inner: Arc<Inner<H>>, peer: AgencyId, mut stream: Stream) {
    let Ok(_guard) = inner.start_exchange() else {
        stream.close(CloseCode::SHUTTING_DOWN, "shutting down").await;
        return;
    };
    let config = inner.config.exchange;
    let deadline = std::time::Instant::now().checked_add(config.idle_timeout);
    let frame = match stream.next_frame(deadline).await {
        Ok(Some(frame)) => frame,
        Ok(None) => return stream.close(CloseCode::TIMEOUT, "no first frame").await,
        Err(_) => return,
    };
    match frame {
        Frame::Offer(_) => {
            let mut receiver = Receiver::new(inner.local.clone(), peer.clone(), config, now());
            receiver.handle_frame(frame, now());
            let mut serve = ReceiveServe::new(&*inner.host, peer, tally_wire::Direction::Push);
            let _: Result<ReceiverOutcome, _> = drive(&mut receiver, &mut stream, &mut serve).await;
            stream.flushed().await;
        }
        Frame::Request(_) => {
            let mut responder = Responder::new(inner.local.clone(), peer.clone(), config, now());
            responder.handle_frame(frame, now());
            let mut serve = RespondServe::new(&inner, peer);
            let _: Result<ResponderOutcome, _> = drive(&mut responder, &mut stream, &mut serve).await;
            stream.flushed().await;
        }
        Frame::Notice(_) | Frame::Fetch(_) => {
            let mut answerer = Answerer::new(peer.clone(), config, now());
            answerer.handle_frame(frame, now());
            let mut serve = AnswerServe { host: &*inner.host, peer, answer: None };
            let _: Result<AnswererOutcome, _> = drive(&mut answerer, &mut stream, &mut serve).await;
            stream.flushed().await;
        }
        other => {
            let reason =
                format!("an exchange starts with an offer, a request, a notice or a fetch, not {}", other.frame_type());
            stream.close(CloseCode::UNEXPECTED_FRAME, &reason).await;
        }
    }
}
