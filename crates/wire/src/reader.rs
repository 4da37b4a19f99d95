//! A frame reader over any [`Read`] that buffers at most one frame.

use std::io::{self, Read};

use crate::error::{Context, Error};
use crate::frame::{Frame, FramePrefix};
use crate::limits::MAX_FRAME_PREFIX;

/// Why [`FrameReader::read_frame`] failed.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ReadError {
    /// The underlying reader failed.
    #[error("reading a frame: {0}")]
    Io(#[from] io::Error),
    /// The bytes read are not a valid frame.
    #[error(transparent)]
    Wire(#[from] Error),
}

/// Reads frames one at a time from a byte stream.
///
/// The prefix is read first and checked (version, type, length against
/// the type's limit) before the body is read, so a peer cannot make the
/// reader allocate more than the largest frame body
/// ([`limits::frame::MAX`](crate::limits::frame::MAX)). The body buffer is
/// reused from frame to frame. Wrap unbuffered readers in a `BufReader`:
/// the prefix is read a byte at a time.
#[derive(Debug)]
pub struct FrameReader<R> {
    inner: R,
    buf: Vec<u8>,
}

impl<R: Read> FrameReader<R> {
    /// A reader of frames from `inner`.
    pub fn new(inner: R) -> Self {
        Self { inner, buf: Vec::new() }
    }

    /// How many bytes the body buffer holds: never more than the largest
    /// frame body read so far.
    pub fn buffered_capacity(&self) -> usize {
        self.buf.capacity()
    }

    /// The underlying reader.
    pub fn into_inner(self) -> R {
        self.inner
    }

    /// Reads the next frame. `Ok(None)` means the stream ended cleanly
    /// between frames; an end inside a frame is [`Error::Truncated`].
    pub fn read_frame(&mut self) -> Result<Option<Frame<'_>>, ReadError> {
        let mut prefix_buf = [0u8; MAX_FRAME_PREFIX];
        let mut have = 0;
        let prefix = loop {
            let n = read_some(&mut self.inner, &mut prefix_buf[have..have + 1])?;
            if n == 0 {
                if have == 0 {
                    return Ok(None);
                }
                return Err(Error::Truncated { context: Context::FrameHeader, offset: have }.into());
            }
            have += 1;
            if let Some(prefix) = FramePrefix::parse(&prefix_buf[..have])? {
                break prefix;
            }
        };
        // The buffer only grows, so bytes are zeroed once per growth, not per frame.
        if self.buf.len() < prefix.body_len {
            self.buf.resize(prefix.body_len, 0);
        }
        let body = &mut self.buf[..prefix.body_len];
        let mut filled = 0;
        while filled < body.len() {
            let n = read_some(&mut self.inner, &mut body[filled..])?;
            if n == 0 {
                let context = Context::Frame(prefix.frame_type);
                return Err(Error::Truncated { context, offset: filled }.into());
            }
            filled += n;
        }
        Ok(Some(Frame::decode_body(prefix.frame_type, &self.buf[..prefix.body_len])?))
    }
}

fn read_some<R: Read>(r: &mut R, buf: &mut [u8]) -> io::Result<usize> {
    loop {
        match r.read(buf) {
            Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
            other => return other,
        }
    }
}
