//! The one place that names the serialization format (bincode 2 in serde mode).
//!
//! Everything else encodes and decodes through [`encode`], [`encode_into`], [`decode`] and
//! [`decode_prefix`], so swapping the format means editing this file only. Errors are our own
//! [`CodecError`], never bincode's types.
//!
//! # Configuration and why
//! `bincode::config::standard()`: little-endian, variable-length integers (a `u128` below 251
//! takes one byte, so batches of small numbers stay small), plus a decode *limit* of
//! [`DECODE_LIMIT`] bytes. bincode allocates a `String`/`Vec<u8>` of the claimed length before
//! reading it, so without a limit a 20-byte garbage frame claiming a 2^62-byte string would
//! abort the process. Every claim bincode makes is at most 16 bytes (a `u128`) per byte of
//! input, so 16 x [`MAX_FRAME_LEN`] never rejects a valid frame.
//! The protocol's own string fields go further and borrow from the frame (see
//! `protocol::text`), so they never allocate more than the frame holds.

use bincode::config::{Configuration, Limit, LittleEndian, Varint};
use serde::Serialize;
use serde::de::DeserializeOwned;

use crate::frame::MAX_FRAME_LEN;

/// Upper bound on what the decoder may claim (allocate or count) for one message.
pub const DECODE_LIMIT: usize = 16 * MAX_FRAME_LEN as usize;

type Config = Configuration<LittleEndian, Varint, Limit<DECODE_LIMIT>>;

fn config() -> Config {
    bincode::config::standard().with_limit::<DECODE_LIMIT>()
}

/// Why a message could not be encoded or decoded.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum CodecError {
    /// The serializer refused the value.
    #[error("cannot encode the message: {0}")]
    Encode(String),
    /// The bytes are not a valid encoding of the expected message type.
    #[error("cannot decode the message: {0}")]
    Decode(String),
    /// A message decoded but did not use every byte it was given.
    #[error("{extra} trailing byte(s) after a {used}-byte message")]
    TrailingBytes {
        /// Bytes the message used.
        used: usize,
        /// Bytes left over.
        extra: usize,
    },
}

/// Appends to an existing buffer, so a frame header and its body share one allocation.
struct Append<'a>(&'a mut Vec<u8>);

impl bincode::enc::write::Writer for Append<'_> {
    fn write(&mut self, bytes: &[u8]) -> Result<(), bincode::error::EncodeError> {
        self.0.extend_from_slice(bytes);
        Ok(())
    }
}

/// Encodes `msg` into a new buffer.
///
/// # Errors
/// [`CodecError::Encode`] if the serializer refuses the value (not possible for the
/// protocol's types, which contain no maps of unknown length or other unsupported shapes).
pub fn encode<T: Serialize + ?Sized>(msg: &T) -> Result<Vec<u8>, CodecError> {
    let mut out = Vec::new();
    encode_into(msg, &mut out)?;
    Ok(out)
}

/// Encodes `msg` and appends the bytes to `out`.
///
/// # Errors
/// As [`encode`]; on error `out` may hold a partial encoding after its original length.
pub fn encode_into<T: Serialize + ?Sized>(msg: &T, out: &mut Vec<u8>) -> Result<(), CodecError> {
    bincode::serde::encode_into_writer(msg, Append(out), config())
        .map_err(|e| CodecError::Encode(e.to_string()))
}

/// Decodes exactly one `T` from `bytes`, rejecting trailing bytes.
///
/// # Errors
/// [`CodecError::Decode`] for bytes that are not a `T`, [`CodecError::TrailingBytes`] when
/// `bytes` holds more than one message.
pub fn decode<T: DeserializeOwned>(bytes: &[u8]) -> Result<T, CodecError> {
    let (msg, used) = decode_prefix(bytes)?;
    if used != bytes.len() {
        return Err(CodecError::TrailingBytes {
            used,
            extra: bytes.len() - used,
        });
    }
    Ok(msg)
}

/// Decodes one `T` from the start of `bytes` and says how many bytes it used; the rest is
/// ignored. Used to read the stable prefix of a handshake from a peer of another version.
///
/// # Errors
/// [`CodecError::Decode`] for bytes that do not start with a `T`.
pub fn decode_prefix<T: DeserializeOwned>(bytes: &[u8]) -> Result<(T, usize), CodecError> {
    bincode::serde::decode_from_slice(bytes, config())
        .map_err(|e| CodecError::Decode(e.to_string()))
}
