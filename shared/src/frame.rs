//! Length-prefixed frames over any byte stream.
//!
//! A frame is a 4-byte little-endian length `len` followed by `len` bytes of body (one message
//! encoded by [`codec`]). `len` is at most [`MAX_FRAME_LEN`]; it is checked before
//! anything is allocated or read, so a peer that writes text (`"this"` reads as a length of
//! 1.9 GB) gets [`FrameError::Oversized`] at once, and a lying header never costs more memory
//! than the body actually delivered.
//!
//! Reading distinguishes a clean end of stream *between* frames (`Ok(None)`, the normal way
//! for a conversation to end) from an end *inside* one ([`FrameError::TruncatedHeader`],
//! [`FrameError::TruncatedBody`]).

use std::io::{self, Read, Write};

use serde::Serialize;
use serde::de::DeserializeOwned;

use crate::codec::{self, CodecError};

/// Bytes in a frame header (the body length, u32 little-endian).
pub const HEADER_LEN: usize = 4;

/// Largest body a frame may carry: 16 MiB.
pub const MAX_FRAME_LEN: u32 = 16 * 1024 * 1024;

/// What went wrong reading or writing a frame.
#[derive(Debug, thiserror::Error)]
pub enum FrameError {
    /// The stream ended after 1 to 3 bytes of a header.
    #[error("stream ended inside a frame header ({got} of 4 bytes)")]
    TruncatedHeader {
        /// Header bytes received.
        got: usize,
    },
    /// The stream ended before the body was complete.
    #[error("stream ended inside a frame body ({got} of {expected} bytes)")]
    TruncatedBody {
        /// Body length the header announced.
        expected: u32,
        /// Body bytes received.
        got: usize,
    },
    /// The header announces more than [`MAX_FRAME_LEN`]; nothing was allocated for it.
    #[error(
        "frame header announces {len} bytes, more than the maximum {max} \
         (header bytes {header:02x?} = {text:?}; is the peer writing something other than frames?)",
        text = String::from_utf8_lossy(header)
    )]
    Oversized {
        /// The announced body length.
        len: u32,
        /// [`MAX_FRAME_LEN`].
        max: u32,
        /// The raw header, to recognise text written by mistake.
        header: [u8; 4],
    },
    /// A message to send encodes to more than [`MAX_FRAME_LEN`] bytes.
    #[error("message encodes to {len} bytes, more than the maximum frame of {max}")]
    TooLargeToSend {
        /// Encoded body length.
        len: usize,
        /// [`MAX_FRAME_LEN`].
        max: u32,
    },
    /// The body is not a valid message (including trailing bytes after one).
    #[error("undecodable frame body ({len} bytes)")]
    Undecodable {
        /// Body length.
        len: usize,
        /// What the codec said.
        #[source]
        source: CodecError,
    },
    /// The message could not be encoded.
    #[error("cannot encode a frame")]
    Encode(#[source] CodecError),
    /// The underlying stream failed.
    #[error("frame i/o failed")]
    Io(#[from] io::Error),
}

impl FrameError {
    /// True for errors caused by the bytes the peer sent (as opposed to our own I/O or
    /// encoding): after one of these the stream cannot be trusted to be in sync any more.
    pub fn is_malformed(&self) -> bool {
        matches!(
            self,
            Self::TruncatedHeader { .. }
                | Self::TruncatedBody { .. }
                | Self::Oversized { .. }
                | Self::Undecodable { .. }
        )
    }
}

/// Reads up to `buf.len()` bytes, retrying on `Interrupted`, stopping early only at EOF.
fn read_full<R: Read + ?Sized>(r: &mut R, buf: &mut [u8]) -> io::Result<usize> {
    let mut got = 0;
    while got < buf.len() {
        match r.read(&mut buf[got..]) {
            Ok(0) => break,
            Ok(n) => got += n,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(e) => return Err(e),
        }
    }
    Ok(got)
}

/// Reads one frame's body into `buf` (replacing its contents).
///
/// Returns `Ok(false)` on a clean end of stream before the first header byte, `Ok(true)`
/// when `buf` holds a complete body. Memory grows with the bytes actually received, never
/// with the length the header claims.
///
/// # Errors
/// [`FrameError::TruncatedHeader`], [`FrameError::Oversized`], [`FrameError::TruncatedBody`],
/// or [`FrameError::Io`].
pub fn read_body<R: Read + ?Sized>(r: &mut R, buf: &mut Vec<u8>) -> Result<bool, FrameError> {
    buf.clear();
    let mut header = [0u8; HEADER_LEN];
    match read_full(r, &mut header)? {
        0 => return Ok(false),
        HEADER_LEN => {}
        got => return Err(FrameError::TruncatedHeader { got }),
    }
    let len = u32::from_le_bytes(header);
    if len > MAX_FRAME_LEN {
        return Err(FrameError::Oversized {
            len,
            max: MAX_FRAME_LEN,
            header,
        });
    }
    // Reserve what a typical frame needs; a longer body grows the buffer as it arrives.
    buf.reserve((len as usize).min(1 << 20));
    let got = r.take(u64::from(len)).read_to_end(buf)?;
    if got < len as usize {
        return Err(FrameError::TruncatedBody { expected: len, got });
    }
    Ok(true)
}

/// Reads and decodes one frame: `Ok(None)` on a clean end of stream between frames.
///
/// # Errors
/// As [`read_body`], plus [`FrameError::Undecodable`].
///
/// # Example
/// ```
/// use shared::frame::{read_frame, write_frame};
/// # fn main() -> Result<(), shared::FrameError> {
/// let mut wire = Vec::new();
/// write_frame(&mut wire, &(7u32, u128::MAX))?;
/// let mut r = &wire[..];
/// assert_eq!(read_frame::<(u32, u128), _>(&mut r)?, Some((7, u128::MAX)));
/// assert_eq!(read_frame::<(u32, u128), _>(&mut r)?, None); // clean EOF
/// # Ok(()) }
/// ```
pub fn read_frame<T: DeserializeOwned, R: Read + ?Sized>(
    r: &mut R,
) -> Result<Option<T>, FrameError> {
    let mut buf = Vec::new();
    if !read_body(r, &mut buf)? {
        return Ok(None);
    }
    decode_body(&buf).map(Some)
}

/// Decodes a frame body read with [`read_body`].
///
/// # Errors
/// [`FrameError::Undecodable`].
pub fn decode_body<T: DeserializeOwned>(body: &[u8]) -> Result<T, FrameError> {
    codec::decode(body).map_err(|source| FrameError::Undecodable {
        len: body.len(),
        source,
    })
}

/// Appends the complete frame (header and body) for `msg` to `out`.
///
/// # Errors
/// [`FrameError::Encode`] or [`FrameError::TooLargeToSend`]; `out` is then left as it was.
pub fn encode_frame_into<T: Serialize + ?Sized>(
    msg: &T,
    out: &mut Vec<u8>,
) -> Result<(), FrameError> {
    let start = out.len();
    out.extend_from_slice(&[0; HEADER_LEN]);
    if let Err(e) = codec::encode_into(msg, out) {
        out.truncate(start);
        return Err(FrameError::Encode(e));
    }
    let len = out.len() - start - HEADER_LEN;
    match u32::try_from(len) {
        Ok(n) if n <= MAX_FRAME_LEN => {
            out[start..start + HEADER_LEN].copy_from_slice(&n.to_le_bytes());
            Ok(())
        }
        _ => {
            out.truncate(start);
            Err(FrameError::TooLargeToSend {
                len,
                max: MAX_FRAME_LEN,
            })
        }
    }
}

/// The complete frame (header and body) for `msg`.
///
/// # Errors
/// As [`encode_frame_into`].
pub fn encode_frame<T: Serialize + ?Sized>(msg: &T) -> Result<Vec<u8>, FrameError> {
    let mut out = Vec::new();
    encode_frame_into(msg, &mut out)?;
    Ok(out)
}

/// Encodes `msg` and writes it as one frame with a single `write_all` (no flush).
///
/// # Errors
/// As [`encode_frame_into`], plus [`FrameError::Io`].
pub fn write_frame<T: Serialize + ?Sized, W: Write + ?Sized>(
    w: &mut W,
    msg: &T,
) -> Result<(), FrameError> {
    w.write_all(&encode_frame(msg)?)?;
    Ok(())
}

/// A reader of frames that reuses one body buffer across frames.
#[derive(Debug)]
pub struct FrameReader<R> {
    inner: R,
    buf: Vec<u8>,
}

impl<R: Read> FrameReader<R> {
    /// Wraps `inner` (put a `BufReader` under it when it is a pipe).
    pub fn new(inner: R) -> Self {
        Self {
            inner,
            buf: Vec::new(),
        }
    }

    /// The next frame's raw body, `Ok(None)` on a clean end of stream.
    ///
    /// # Errors
    /// As [`read_body`].
    pub fn read_raw(&mut self) -> Result<Option<&[u8]>, FrameError> {
        if read_body(&mut self.inner, &mut self.buf)? {
            Ok(Some(&self.buf))
        } else {
            Ok(None)
        }
    }

    /// The next decoded frame, `Ok(None)` on a clean end of stream.
    ///
    /// # Errors
    /// As [`read_frame`].
    pub fn read<T: DeserializeOwned>(&mut self) -> Result<Option<T>, FrameError> {
        if read_body(&mut self.inner, &mut self.buf)? {
            decode_body(&self.buf).map(Some)
        } else {
            Ok(None)
        }
    }

    /// The wrapped reader.
    pub fn into_inner(self) -> R {
        self.inner
    }
}

/// A writer of frames that reuses one encoding buffer across frames.
#[derive(Debug)]
pub struct FrameWriter<W> {
    inner: W,
    buf: Vec<u8>,
}

impl<W: Write> FrameWriter<W> {
    /// Wraps `inner`. Frames are written with one `write_all` each; wrap a pipe in a
    /// `BufWriter` to coalesce small frames, and call [`FrameWriter::flush`] after a batch.
    pub fn new(inner: W) -> Self {
        Self {
            inner,
            buf: Vec::new(),
        }
    }

    /// Encodes and writes one frame.
    ///
    /// # Errors
    /// As [`write_frame`].
    pub fn write<T: Serialize + ?Sized>(&mut self, msg: &T) -> Result<(), FrameError> {
        self.buf.clear();
        encode_frame_into(msg, &mut self.buf)?;
        self.inner.write_all(&self.buf)?;
        Ok(())
    }

    /// Flushes the wrapped writer.
    ///
    /// # Errors
    /// [`FrameError::Io`].
    pub fn flush(&mut self) -> Result<(), FrameError> {
        self.inner.flush()?;
        Ok(())
    }

    /// The wrapped writer, mutably (e.g. to write test garbage).
    pub fn get_mut(&mut self) -> &mut W {
        &mut self.inner
    }

    /// The wrapped writer.
    pub fn into_inner(self) -> W {
        self.inner
    }
}
