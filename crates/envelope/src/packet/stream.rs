//! Whole packets over byte streams: the frames `Offer`, `Chunk`…, `Trailer`
//! written to or read from any `Write`/`Read`, one chunk in memory at a time.
//!
//! This is the packet "file" format (a frame stream, spec/wire.md), used
//! to store or move a packet outside an exchange, and by the benchmarks.

use std::io::{Read, Write};

use tally_wire::{Frame, FrameReader, GrantChain, KemKeyCertificate, KeyId, PacketHeader};

use super::{Opened, Opener, PacketSpec, Sealed, Sealer};
use crate::error::Error;
use crate::identity::{IdentityKey, IdentityVerifier};
use crate::kem_key::KemKey;

/// Seals `spec.payload_len` bytes from `payload` into a frame stream on `out`.
///
/// `payload` must hold exactly that many bytes ([`Error::PayloadLength`] otherwise).
pub fn write_packet(
    sender: &IdentityKey,
    recipient: &KemKeyCertificate,
    spec: PacketSpec,
    grant_chain: GrantChain,
    mut payload: impl Read,
    mut out: impl Write,
) -> Result<Sealed, Error> {
    let expected = spec.payload_len;
    let (mut sealer, offer) = Sealer::new(recipient, spec, grant_chain)?;
    out.write_all(&Frame::Offer(offer).encode()?)?;
    let mut buf = Vec::new();
    let mut read = 0u64;
    while let Some(len) = sealer.next_chunk_len() {
        buf.clear();
        buf.reserve(len + tally_wire::limits::CHUNK_TAG_LEN);
        let got = (&mut payload).take(len as u64).read_to_end(&mut buf)?;
        read += got as u64;
        if got != len {
            return Err(Error::PayloadLength { expected, got: read });
        }
        let chunk = sealer.seal_chunk(&mut buf)?;
        out.write_all(chunk.prefix()?.as_bytes())?;
        out.write_all(&chunk.data)?;
    }
    let mut probe = [0u8; 1];
    if payload.read(&mut probe)? != 0 {
        return Err(Error::PayloadLength { expected, got: read + 1 });
    }
    let sealed = sealer.finish(sender)?;
    out.write_all(&Frame::Trailer(sealed.trailer).encode()?)?;
    out.flush()?;
    Ok(sealed)
}

/// Opens a frame stream from `input` and writes the plaintext to `out`.
///
/// `sender_key` is given the header and returns the identity key of its
/// sender (from the directory). What has been written to `out` is
/// unverified until this returns `Ok`: write to a temporary place and
/// discard it on an error.
pub fn read_packet(
    recipient: &(impl KemKeys + ?Sized),
    sender_key: impl FnOnce(&PacketHeader) -> Result<IdentityVerifier, Error>,
    input: impl Read,
    mut out: impl Write,
) -> Result<Opened, Error> {
    let mut frames = FrameReader::new(input);
    let offer = match next(&mut frames)? {
        Frame::Offer(offer) => offer,
        other => return Err(unexpected(&other)),
    };
    let key_id = offer.header.value().recipient_key;
    let recipient = recipient.key(&key_id).ok_or(Error::UnknownRecipientKey(key_id))?;
    let sender = sender_key(offer.header.value())?;
    let mut opener = Opener::new(recipient, &offer, &sender)?;
    let mut buf = Vec::new();
    loop {
        match next(&mut frames)? {
            Frame::Chunk(chunk) => out.write_all(opener.open_chunk(&chunk, &mut buf)?)?,
            Frame::Trailer(trailer) => {
                let opened = opener.finish(&trailer)?;
                if frames.read_frame().map_err(read_error)?.is_some() {
                    return Err(Error::Wire(tally_wire::Error::TrailingBytes {
                        context: tally_wire::Context::Object("packet"),
                        offset: 0,
                        count: 1,
                    }));
                }
                out.flush()?;
                return Ok(opened);
            }
            other => return Err(unexpected(&other)),
        }
    }
}

/// The KEM keys a recipient holds, by id: one key, or several (an X25519
/// and an X-Wing key, and old keys kept after a rotation until every packet
/// sealed to them has arrived).
pub trait KemKeys {
    /// The key a packet naming `id` is opened with; `None` if none is held.
    fn key(&self, id: &KeyId) -> Option<&KemKey>;
}

/// A single key opens what is sealed to it; any other id gets
/// [`Error::WrongRecipientKey`] from the opener, naming both.
impl KemKeys for KemKey {
    fn key(&self, _id: &KeyId) -> Option<&KemKey> {
        Some(self)
    }
}

impl KemKeys for [std::sync::Arc<KemKey>] {
    fn key(&self, id: &KeyId) -> Option<&KemKey> {
        self.iter().map(AsRef::as_ref).find(|k| k.key_id() == id)
    }
}

fn next<'r, R: Read>(frames: &'r mut FrameReader<R>) -> Result<Frame<'r>, Error> {
    frames
        .read_frame()
        .map_err(read_error)?
        .ok_or(Error::Wire(tally_wire::Error::Truncated { context: tally_wire::Context::Object("packet"), offset: 0 }))
}

fn read_error(e: tally_wire::ReadError) -> Error {
    match e {
        tally_wire::ReadError::Io(e) => Error::Io(e),
        tally_wire::ReadError::Wire(e) => Error::Wire(e),
        _ => Error::Io(std::io::Error::other("frame reader failed")),
    }
}

fn unexpected(frame: &Frame<'_>) -> Error {
    Error::UnexpectedFrame(frame.frame_type())
}
