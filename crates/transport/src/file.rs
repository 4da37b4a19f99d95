//! Packets as files (spec/protocol.md, "Packets as files"): a packet
//! stream that came another way than QUIC (removable media, a mail
//! gateway) is received by the host exactly as an offer over QUIC would
//! be: the same decision, the same storage, the same receipt.
//!
//! There is no TLS peer here. The offer's header names the sender, and
//! the packet is accepted only once the sender's trailer signature, over
//! the header and the ciphertext, verifies under the sender's identity key
//! from the directory (spec/envelope.md): a file cannot claim another
//! agency's packet.

use tally_protocol::{Receiver, ReceiverOutcome};
use tally_wire::{AgencyId, Direction, Frame, FramePrefix, limits::MAX_FRAME_PREFIX};
use tokio::io::{AsyncRead, AsyncReadExt};

use crate::drive::Serve;
use crate::drive::now;
use crate::serve::ReceiveServe;
use crate::{Host, TransportError};

/// Receives the packet stream read from `file` (an `Offer`, its `Chunk`
/// frames and its `Trailer`) as agency `local`, with `host`
/// deciding and storing it. Returns the receipt or signed rejection, as an
/// offer over QUIC would get.
pub async fn receive_packet_file<H: Host>(
    host: &H,
    local: AgencyId,
    config: tally_protocol::Config,
    mut file: impl AsyncRead + Unpin,
) -> Result<ReceiverOutcome, TransportError> {
    let first = read_frame(&mut file).await?.ok_or(TransportError::Truncated)?;
    let Frame::Offer(offer) = &first else {
        return Err(TransportError::Host(std::io::Error::other(format!(
            "a packet file starts with an offer, not {}",
            first.frame_type()
        ))));
    };
    let sender = offer.header.value().sender.clone();
    let mut receiver = Receiver::new(local, sender.clone(), config, now());
    receiver.handle_frame(first, now());
    let mut serve = ReceiveServe::new(host, sender, Direction::Push);
    loop {
        // The frames a receiver sends (accept, receipt, rejection) have no
        // one to go to: the outcome carries the receipt.
        while receiver.poll_transmit().is_some() {}
        if let Some(request) = receiver.poll_request() {
            if let Some(response) = Serve::<Receiver>::serve(&mut serve, request).await? {
                receiver.handle_host(response, now());
            }
            continue;
        }
        // The outcome may come before the end of the file: a packet already
        // receipted, or refused at its offer, is answered at once, and the
        // rest of the file is not read.
        if let Some(outcome) = receiver.poll_outcome() {
            return outcome.map_err(TransportError::from);
        }
        match read_frame(&mut file).await? {
            Some(frame) => receiver.handle_frame(frame, now()),
            None => return Err(TransportError::Truncated),
        }
    }
}

/// One frame from `file`: the prefix checked byte by byte, then the body
/// (within the frame type's limit, checked before it is read). `None` at
/// the end of the file between frames.
async fn read_frame(file: &mut (impl AsyncRead + Unpin)) -> Result<Option<Frame<'static>>, TransportError> {
    let io = TransportError::Host;
    let mut prefix = [0u8; MAX_FRAME_PREFIX];
    let mut have = 0;
    let parsed = loop {
        let mut byte = [0u8; 1];
        if file.read(&mut byte).await.map_err(io)? == 0 {
            return if have == 0 { Ok(None) } else { Err(TransportError::Truncated) };
        }
        prefix[have] = byte[0];
        have += 1;
        if let Some(p) = FramePrefix::parse(&prefix[..have]).map_err(frame_error)? {
            break p;
        }
    };
    let mut body = vec![0u8; parsed.body_len];
    file.read_exact(&mut body).await.map_err(|e| match e.kind() {
        std::io::ErrorKind::UnexpectedEof => TransportError::Truncated,
        _ => io(e),
    })?;
    let frame = Frame::decode_body(parsed.frame_type, &body).map_err(frame_error)?;
    Ok(Some(frame.into_owned()))
}

fn frame_error(source: tally_wire::Error) -> TransportError {
    TransportError::Frame { code: tally_wire::CloseCode::MALFORMED_FRAME, source }
}
