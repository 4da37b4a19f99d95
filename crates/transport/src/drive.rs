//! Runs one side of an exchange (a `tally-protocol` state machine) on one
//! QUIC bidirectional stream.
//!
//! A reader task decodes the peer's frames (prefix checked before the
//! body is read, one frame buffered) into a channel of two; the driver
//! writes the machine's frames, serves its host requests and waits for a
//! frame or its deadline. Every write waits for QUIC flow control, and a
//! write the peer does not take within the idle timeout ends the
//! exchange: a stalled peer costs one frame of memory, not a payload.
//!
//! A frame's body is read only as its bytes arrive, each piece taken from
//! the connection's memory budget first ([`Budget`]): a prefix that
//! claims a 1 MiB body costs nothing until the bytes come, and bytes that
//! come faster than the node handles them wait in QUIC's flow control.

use std::collections::VecDeque;
use std::future::Future;
use std::time::{Duration, Instant};

use quinn::{RecvStream, SendStream};
use tally_protocol::{Exchange, Now};
use tally_wire::limits::MAX_FRAME_PREFIX;
use tally_wire::{AgencyId, Close, CloseCode, Frame, FramePrefix};
use tokio::sync::mpsc;
use tokio::task::JoinHandle;

use crate::connections::{Budget, Held};
use crate::error::{StreamFailure, TransportError};

/// The most body bytes asked of QUIC (and of the budget) at once.
const PIECE: usize = 64 * 1024;

/// The time as the protocol sees it: the monotonic clock for its
/// deadlines, the system clock for its receipts.
pub(crate) fn now() -> Now {
    Now::system()
}

/// How the peer's side of the stream failed.
#[derive(Debug)]
enum ReadFailure {
    Wire(tally_wire::Error),
    Stream(TransportError),
    Truncated,
}

/// One exchange's stream: our half to write, the peer's frames to read.
pub(crate) struct Stream {
    connection: quinn::Connection,
    peer: AgencyId,
    send: SendStream,
    frames: mpsc::Receiver<Result<(Frame<'static>, Held), ReadFailure>>,
    /// Whether any frame came from the peer on this stream.
    received: bool,
    /// A read failure found while draining arrived frames, reported by the next wait.
    pending: Option<ReadFailure>,
    reader: JoinHandle<()>,
    out: Vec<u8>,
    write_timeout: Duration,
}

/// Serves one side's host requests.
pub(crate) trait Serve<M: Exchange>: Send {
    /// Answers `request`; `None` for requests that need no answer.
    fn serve(
        &mut self,
        request: M::Request,
    ) -> impl Future<Output = Result<Option<M::Response>, TransportError>> + Send;
}

impl Stream {
    /// Starts reading `recv` in the background, within `budget`.
    pub(crate) fn new(
        connection: quinn::Connection,
        peer: AgencyId,
        (send, recv): (SendStream, RecvStream),
        budget: Budget,
        write_timeout: Duration,
    ) -> Self {
        let (tx, frames) = mpsc::channel(2);
        let reader = tokio::spawn(read_frames(recv, budget, tx));
        Self { connection, peer, send, frames, received: false, pending: None, reader, out: Vec::new(), write_timeout }
    }

    /// Whether the peer sent any frame on this stream.
    pub(crate) fn received_any(&self) -> bool {
        self.received
    }

    /// The connection the stream is on.
    pub(crate) fn connection(&self) -> &quinn::Connection {
        &self.connection
    }

    /// The next frame from the peer, waiting at most until `deadline`
    /// (`Ok(None)`: the deadline passed).
    pub(crate) async fn next_frame(
        &mut self,
        deadline: Option<Instant>,
    ) -> Result<Option<Frame<'static>>, TransportError> {
        Ok(self.next_held(deadline).await?.map(|(frame, _held)| frame))
    }

    /// The next frame with the budget its bytes hold, as [`Self::next_frame`].
    async fn next_held(&mut self, deadline: Option<Instant>) -> Result<Option<(Frame<'static>, Held)>, TransportError> {
        let received = if let Some(failure) = self.pending.take() {
            Some(Err(failure))
        } else {
            match deadline {
                Some(d) => match tokio::time::timeout_at(tokio::time::Instant::from_std(d), self.frames.recv()).await {
                    Ok(r) => r,
                    Err(_) => return Ok(None),
                },
                None => self.frames.recv().await,
            }
        };
        match received {
            Some(Ok(held)) => {
                self.received = true;
                Ok(Some(held))
            }
            Some(Err(ReadFailure::Wire(e))) => {
                let code = e.close_code();
                self.close(code, &e.to_string()).await;
                Err(TransportError::Frame { code, source: e })
            }
            Some(Err(ReadFailure::Stream(e))) => Err(self.stream_error(e)),
            Some(Err(ReadFailure::Truncated)) | None => Err(self.stream_error(TransportError::Truncated)),
        }
    }

    /// A frame that has already arrived, with its budget, without waiting.
    fn try_frame(&mut self) -> Option<(Frame<'static>, Held)> {
        if self.pending.is_some() {
            return None;
        }
        match self.frames.try_recv().ok()? {
            Ok(held) => {
                self.received = true;
                Some(held)
            }
            Err(failure) => {
                self.pending = Some(failure);
                None
            }
        }
    }

    /// Writes one frame, waiting for flow control at most the write timeout.
    pub(crate) async fn write(&mut self, frame: &Frame<'_>) -> Result<(), TransportError> {
        self.out.clear();
        frame.encode_into(&mut self.out).map_err(StreamFailure::Encode)?;
        match tokio::time::timeout(self.write_timeout, self.send.write_all(&self.out)).await {
            Ok(Ok(())) => Ok(()),
            Ok(Err(e)) => Err(self.stream_error(StreamFailure::Write(e))),
            Err(_) => {
                let _ = self.send.reset(quinn::VarInt::from_u32(u32::from(CloseCode::TIMEOUT.0)));
                Err(TransportError::Stalled(self.write_timeout))
            }
        }
    }

    /// A stream failure, reported as the connection's failure if the
    /// connection is what ended (with the reason QUIC or TLS gave).
    fn stream_error(&self, e: impl Into<TransportError>) -> TransportError {
        match self.connection.close_reason() {
            Some(reason) => TransportError::connection(&self.peer, reason),
            None => e.into(),
        }
    }

    /// Waits (at most the write timeout) until the peer has acknowledged
    /// everything written, so that closing the connection loses nothing.
    pub(crate) async fn flushed(&mut self) {
        let _ = self.send.finish();
        let _ = tokio::time::timeout(self.write_timeout, self.send.stopped()).await;
    }

    /// Sends a Close frame (best effort) and ends our half.
    pub(crate) async fn close(&mut self, code: CloseCode, reason: &str) {
        let _ = self.write(&Frame::Close(Close::new(code, reason))).await;
        let _ = self.send.finish();
    }

    /// Ends our half cleanly after the last frame.
    fn finish(&mut self) {
        let _ = self.send.finish();
    }
}

impl Drop for Stream {
    fn drop(&mut self) {
        self.reader.abort();
    }
}

async fn read_frames(
    mut recv: RecvStream,
    budget: Budget,
    tx: mpsc::Sender<Result<(Frame<'static>, Held), ReadFailure>>,
) {
    loop {
        let result = read_frame(&mut recv, &budget).await;
        let end = !matches!(result, Ok(Some(_)));
        let item = match result {
            Ok(Some(frame)) => Ok(frame),
            Ok(None) => Err(ReadFailure::Truncated),
            Err(e) => Err(e),
        };
        if tx.send(item).await.is_err() || end {
            return;
        }
    }
}

fn stream_failure(e: quinn::ReadError) -> ReadFailure {
    ReadFailure::Stream(StreamFailure::Read(e).into())
}

/// Reads one frame: the prefix byte by byte (checked as it arrives), then
/// the body as it arrives, each piece within the budget. `Ok(None)`: the
/// stream ended between frames.
async fn read_frame(recv: &mut RecvStream, budget: &Budget) -> Result<Option<(Frame<'static>, Held)>, ReadFailure> {
    let mut prefix = [0u8; MAX_FRAME_PREFIX];
    let mut have = 0;
    let parsed = loop {
        match recv.read_chunk(1, true).await.map_err(stream_failure)? {
            Some(chunk) if !chunk.bytes.is_empty() => prefix[have] = chunk.bytes[0],
            Some(_) => continue,
            None => return if have == 0 { Ok(None) } else { Err(ReadFailure::Truncated) },
        }
        have += 1;
        if let Some(p) = FramePrefix::parse(&prefix[..have]).map_err(ReadFailure::Wire)? {
            break p;
        }
    };
    let mut body = Vec::new();
    let mut held = Held::default();
    while body.len() < parsed.body_len {
        let want = (parsed.body_len - body.len()).min(PIECE);
        let taken = budget.take(want).await.ok_or(ReadFailure::Truncated)?;
        let chunk = recv.read_chunk(want, true).await.map_err(stream_failure)?.ok_or(ReadFailure::Truncated)?;
        held.keep(taken, chunk.bytes.len());
        body.extend_from_slice(&chunk.bytes);
    }
    let frame = Frame::decode_body(parsed.frame_type, &body).map_err(ReadFailure::Wire)?;
    Ok(Some((frame.into_owned(), held)))
}

/// Runs `machine` on `stream` until it has an outcome, serving its host
/// requests with `serve`.
///
/// A frame's bytes stay within the connection's budget until the host
/// request made of them is served: the budget of each frame handed to the
/// machine is kept in `held` and let go one per request served, all of it
/// once no request is left. While requests are being served, at most one
/// arrived frame is handed over per request, so the machine's queue of
/// requests (a chunk's plaintext waiting to be written) never grows: a
/// host that writes slower than the peer sends makes the peer wait for
/// flow control, not this node's memory grow.
pub(crate) async fn drive<M, S>(
    machine: &mut M,
    stream: &mut Stream,
    serve: &mut S,
) -> Result<M::Outcome, TransportError>
where
    M: Exchange + Send,
    M::Request: Send,
    S: Serve<M>,
{
    let mut held = VecDeque::new();
    loop {
        while let Some(frame) = machine.poll_transmit() {
            stream.write(&frame).await?;
        }
        if let Some(request) = machine.poll_request() {
            // A frame that arrived meanwhile (a rejection while chunks are
            // being read and sent) is handled before more work is done.
            if let Some((frame, budget)) = stream.try_frame() {
                machine.handle_frame(frame, now());
                held.push_back(budget);
            }
            match serve.serve(request).await {
                Ok(Some(response)) => machine.handle_host(response, now()),
                Ok(None) => {}
                Err(e) => {
                    stream.close(CloseCode::INTERNAL_ERROR, &e.to_string()).await;
                    return Err(e);
                }
            }
            held.pop_front();
            continue;
        }
        held.clear();
        if let Some(outcome) = machine.poll_outcome() {
            stream.finish();
            return outcome.map_err(TransportError::from);
        }
        match stream.next_held(machine.poll_timeout()).await? {
            Some((frame, budget)) => {
                machine.handle_frame(frame, now());
                held.push_back(budget);
            }
            None => machine.handle_timeout(Instant::now()),
        }
    }
}
