//! The wire protocol between `orchestrator` and `worker serve`.
//!
//! * [`protocol`]: the messages ([`Hello`], [`Request`], [`Response`]) and the conversation
//!   rules (handshake, batch ordering, divisor chunks, errors).
//! * [`frame`]: 4-byte little-endian length prefix + body, at most [`MAX_FRAME_LEN`] bytes,
//!   with typed [`FrameError`]s for truncated, oversized and undecodable frames.
//! * [`codec`]: the only module that knows the body format (bincode 2, serde mode).
//!
//! # Example: a handshake and a batch through an in-memory pipe
//! ```
//! use shared::{read_frame, write_frame, Batch, Hello, Mode, Request, RequestId, Response};
//! use shared::frame::FrameReader;
//! # fn main() -> Result<(), Box<dyn std::error::Error>> {
//! // Orchestrator side: say hello, then send one batch.
//! let mut to_worker = Vec::new();
//! write_frame(&mut to_worker, &Hello::new("orchestrator 0.1.0"))?;
//! let batch = Batch { id: RequestId(1), mode: Mode::Primes, numbers: vec![12, u128::MAX], divisor_cap: None };
//! write_frame(&mut to_worker, &Request::Batch(batch.clone()))?;
//!
//! // Worker side: check the hello, read the request, reach a clean end of stream.
//! let mut input = FrameReader::new(&to_worker[..]);
//! let hello = Hello::from_body(input.read_raw()?.expect("a hello frame"))?;
//! assert_eq!(hello.software, "orchestrator 0.1.0");
//! assert_eq!(input.read::<Request>()?, Some(Request::Batch(batch)));
//! assert_eq!(input.read::<Request>()?, None);
//!
//! // Responses round-trip the same way, u128 included.
//! let mut from_worker = Vec::new();
//! let factors = Response::Factors { id: RequestId(1), first: 0, factors: vec![vec![2, 2, 3], vec![3, 5, 17, 257, 641, 65537, 274177, 6700417, 67280421310721]] };
//! write_frame(&mut from_worker, &factors)?;
//! assert_eq!(read_frame::<Response, _>(&mut &from_worker[..])?, Some(factors));
//! # Ok(()) }
//! ```
#![forbid(unsafe_code)]

pub mod codec;
pub mod frame;
pub mod protocol;

pub use codec::CodecError;
pub use frame::{FrameError, MAX_FRAME_LEN, read_frame, write_frame};
pub use protocol::{
    Batch, DIVISORS_PER_CHUNK, FACTORS_PER_FRAME, HandshakeError, Hello, MAGIC, Mode, NumberError,
    PROGRESS_INTERVAL_MS, PROTOCOL_VERSION, ProtocolError, ProtocolErrorKind, Request, RequestId,
    Response, Split, TextBatch, TextError, TextFormat,
};
