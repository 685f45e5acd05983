//! The messages `orchestrator` and `worker serve` exchange, one per [frame](crate::frame).
//!
//! # Conversation
//! 1. **Handshake, once.** The orchestrator sends a [`Hello`]; the worker always answers with
//!    its own [`Hello`] (so the orchestrator learns the worker's version and pid even when they
//!    disagree). Each side checks the other's with [`Hello::from_body`]. On a version mismatch
//!    the worker writes a message naming both versions to stderr and exits with a non-zero
//!    status; the orchestrator reports [`HandshakeError::VersionMismatch`]. The first two
//!    fields of [`Hello`] (`magic`, `protocol_version`) never change, so a peer of any version
//!    can read them.
//! 2. **Requests.** The orchestrator sends [`Request`]s, each with a [`RequestId`] it chooses,
//!    and may send several before reading the answers (the worker handles them in order).
//!    Read responses on their own thread: if neither side reads, both pipes fill up.
//! 3. **Responses.** For a [`Request::Batch`] of `n` numbers the worker sends, in this order:
//!    the results for index 0, 1, ..., n-1, then [`Response::BatchDone`], then flushes.
//!    * [`Mode::Primes`]: [`Response::Factors`] frames, each covering a run of consecutive
//!      indexes (at most [`FACTORS_PER_FRAME`] numbers per frame).
//!    * [`Mode::Divisors`]: for each number, one or more [`Response::Divisors`] chunks in
//!      ascending order (at most [`DIVISORS_PER_CHUNK`] divisors each, the last one with
//!      `last: true`), or one [`Response::NumberFailed`] (e.g. more divisors than the batch's
//!      `divisor_cap`). A `u128` can have ~10^8 divisors; they are never put in one frame.
//!    * [`Request::Ping`] gets [`Response::Pong`].
//! 4. **End.** The orchestrator closes the worker's stdin; the worker finishes the request in
//!    hand and exits 0. A frame the worker cannot read gets a [`Response::Error`] (when stdout
//!    still works), a message on stderr and a non-zero exit: the stream is out of sync and the
//!    orchestrator should replace the worker.

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Serialize};

use crate::codec::{self, CodecError};

/// Version of this protocol; bumped on any change to the messages.
pub const PROTOCOL_VERSION: u32 = 1;

/// First four bytes of every [`Hello`] body: tells a protocol peer from a process writing text.
pub const MAGIC: [u8; 4] = *b"FCTR";

/// Most results one [`Response::Factors`] frame carries (a result encodes to at most ~130
/// bytes, so a frame stays under 1 MiB).
pub const FACTORS_PER_FRAME: usize = 4096;

/// Most divisors one [`Response::Divisors`] chunk carries (at most 17 bytes each: < 1.1 MiB).
pub const DIVISORS_PER_CHUNK: usize = 65536;

/// Identifies a request; chosen by the orchestrator, echoed in every response to it.
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Default, Serialize, Deserialize,
)]
#[serde(transparent)]
pub struct RequestId(pub u64);

impl fmt::Display for RequestId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "#{}", self.0)
    }
}

/// Deserializes a `String` field by borrowing from the frame when the codec allows it, so a
/// lying length prefix is checked against the bytes present before anything is allocated.
mod text {
    use serde::Deserializer;
    use serde::de::{Error, Visitor};
    use std::fmt;

    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<String, D::Error> {
        struct Text;
        impl Visitor<'_> for Text {
            type Value = String;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("a string")
            }
            fn visit_str<E: Error>(self, v: &str) -> Result<String, E> {
                Ok(v.to_owned())
            }
            fn visit_string<E: Error>(self, v: String) -> Result<String, E> {
                Ok(v)
            }
        }
        d.deserialize_str(Text)
    }
}

/// The first frame in each direction.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Hello {
    /// Always [`MAGIC`]. Stable across versions.
    pub magic: [u8; 4],
    /// The sender's [`PROTOCOL_VERSION`]. Stable across versions.
    pub protocol_version: u32,
    /// Free text naming the sender, e.g. `"worker 0.1.0"`.
    #[serde(deserialize_with = "text::deserialize")]
    pub software: String,
    /// The sender's process id.
    pub pid: u32,
}

impl Hello {
    /// This process's hello: current magic, version and pid.
    pub fn new(software: impl Into<String>) -> Self {
        Self {
            magic: MAGIC,
            protocol_version: PROTOCOL_VERSION,
            software: software.into(),
            pid: std::process::id(),
        }
    }

    /// Decodes and checks a peer's hello from a frame body.
    ///
    /// The magic and version are read first, from the stable prefix, so a peer of another
    /// version gets [`HandshakeError::VersionMismatch`] rather than a decoding error.
    ///
    /// # Errors
    /// [`HandshakeError::NotAHello`] if the body does not start with [`MAGIC`],
    /// [`HandshakeError::VersionMismatch`] if the versions differ,
    /// [`HandshakeError::Undecodable`] if the rest is malformed.
    ///
    /// # Example
    /// ```
    /// use shared::{codec, Hello, HandshakeError, PROTOCOL_VERSION};
    /// let mut theirs = Hello::new("worker 9.9.9");
    /// theirs.protocol_version = PROTOCOL_VERSION + 1;
    /// let err = Hello::from_body(&codec::encode(&theirs).unwrap()).unwrap_err();
    /// assert!(matches!(err, HandshakeError::VersionMismatch { .. }));
    /// assert!(err.to_string().contains(&format!("version {}", PROTOCOL_VERSION + 1)));
    /// ```
    pub fn from_body(body: &[u8]) -> Result<Self, HandshakeError> {
        let not_a_hello = || HandshakeError::NotAHello {
            first_bytes: body.iter().copied().take(16).collect(),
        };
        let ((magic, theirs), _) =
            codec::decode_prefix::<([u8; 4], u32)>(body).map_err(|_| not_a_hello())?;
        if magic != MAGIC {
            return Err(not_a_hello());
        }
        if theirs != PROTOCOL_VERSION {
            let peer_software = codec::decode_prefix::<SoftwarePrefix>(body)
                .ok()
                .map(|(p, _)| p.software);
            return Err(HandshakeError::VersionMismatch {
                ours: PROTOCOL_VERSION,
                theirs,
                peer_software,
            });
        }
        codec::decode(body).map_err(HandshakeError::Undecodable)
    }
}

/// The first three fields of a [`Hello`], readable from a peer of another version as long as
/// it keeps `software` third.
#[derive(Deserialize)]
struct SoftwarePrefix {
    #[serde(rename = "magic")]
    _magic: [u8; 4],
    #[serde(rename = "protocol_version")]
    _version: u32,
    #[serde(deserialize_with = "text::deserialize")]
    software: String,
}

/// Why a peer's hello was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum HandshakeError {
    /// The first frame does not start with [`MAGIC`]: not a peer of this protocol.
    #[error("the first frame is not a protocol hello (it starts with {first_bytes:02x?})")]
    NotAHello {
        /// Up to 16 bytes of the frame body, for diagnosis.
        first_bytes: Vec<u8>,
    },
    /// Both sides speak this protocol, in different versions.
    #[error(
        "protocol version mismatch: the peer{} speaks version {theirs}, this program speaks \
         version {ours}; build the orchestrator and the worker from the same source",
        peer_software.as_deref().map(|s| format!(" ({s})")).unwrap_or_default()
    )]
    VersionMismatch {
        /// Our [`PROTOCOL_VERSION`].
        ours: u32,
        /// The peer's.
        theirs: u32,
        /// The peer's `software` field, if it could be read.
        peer_software: Option<String>,
    },
    /// Magic and version are right but the rest of the hello is malformed.
    #[error("malformed hello")]
    Undecodable(#[source] CodecError),
}

/// What to compute for each number of a batch.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default, Serialize, Deserialize)]
pub enum Mode {
    /// Prime factors, ascending, with multiplicity (as coreutils `factor`).
    #[default]
    Primes,
    /// All divisors, ascending.
    Divisors,
}

impl fmt::Display for Mode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Self::Primes => "primes",
            Self::Divisors => "divisors",
        })
    }
}

impl FromStr for Mode {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        match s {
            "primes" => Ok(Self::Primes),
            "divisors" => Ok(Self::Divisors),
            _ => Err(format!(
                "unknown mode `{s}` (expected `primes` or `divisors`)"
            )),
        }
    }
}

/// A batch of numbers to factor.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Batch {
    /// Echoed in every response about this batch.
    pub id: RequestId,
    /// What to compute.
    pub mode: Mode,
    /// The numbers; results refer to them by index.
    pub numbers: Vec<u128>,
    /// In [`Mode::Divisors`], a number with more divisors than this gets
    /// [`NumberError::DivisorCapExceeded`] instead of its divisors. `None`: no cap.
    pub divisor_cap: Option<u64>,
}

/// Orchestrator -> worker, after the handshake.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub enum Request {
    /// Factor these numbers.
    Batch(Batch),
    /// Answer [`Response::Pong`] (a liveness check).
    Ping {
        /// Echoed in the pong.
        id: RequestId,
    },
}

/// Why one number of a batch has no result.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, thiserror::Error)]
pub enum NumberError {
    /// The number has more divisors than the batch's `divisor_cap`.
    #[error("divisor count {count} exceeds the cap of {cap}")]
    DivisorCapExceeded {
        /// How many divisors the number has.
        count: u64,
        /// The batch's cap.
        cap: u64,
    },
}

/// What kind of protocol violation a [`ProtocolError`] reports.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum ProtocolErrorKind {
    /// A frame was truncated, oversized or undecodable.
    MalformedFrame,
    /// A well-formed message arrived where it is not allowed (e.g. a second hello).
    UnexpectedMessage,
    /// The handshake failed.
    Handshake,
}

/// The worker could not follow the conversation; it exits after sending this.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, thiserror::Error)]
#[error("{message}")]
pub struct ProtocolError {
    /// What went wrong, for matching.
    pub kind: ProtocolErrorKind,
    /// What went wrong, for people.
    #[serde(deserialize_with = "text::deserialize")]
    pub message: String,
}

/// Worker -> orchestrator, after the handshake.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub enum Response {
    /// Prime factors of `numbers[first]`, `numbers[first + 1]`, ...: `factors[i]` belongs to
    /// index `first + i`, ascending with multiplicity, empty for 0 and 1.
    Factors {
        /// The batch.
        id: RequestId,
        /// Index of the first number covered.
        first: u32,
        /// One list of prime factors per number.
        factors: Vec<Vec<u128>>,
    },
    /// The next run of divisors of `numbers[index]`, ascending, continuing the previous
    /// chunk. 0 has no divisors listed (one empty chunk).
    Divisors {
        /// The batch.
        id: RequestId,
        /// Index of the number in the batch.
        index: u32,
        /// At most [`DIVISORS_PER_CHUNK`] divisors.
        divisors: Vec<u128>,
        /// True on the number's final chunk.
        last: bool,
    },
    /// `numbers[index]` has no result.
    NumberFailed {
        /// The batch.
        id: RequestId,
        /// Index of the number in the batch.
        index: u32,
        /// Why.
        error: NumberError,
    },
    /// Every result of the batch has been sent.
    BatchDone {
        /// The batch.
        id: RequestId,
    },
    /// Answer to [`Request::Ping`].
    Pong {
        /// The ping's id.
        id: RequestId,
    },
    /// A protocol violation; the worker exits after sending it.
    Error(ProtocolError),
}

impl Response {
    /// The request this response belongs to (`None` for [`Response::Error`]).
    pub fn id(&self) -> Option<RequestId> {
        match self {
            Self::Factors { id, .. }
            | Self::Divisors { id, .. }
            | Self::NumberFailed { id, .. }
            | Self::BatchDone { id }
            | Self::Pong { id } => Some(*id),
            Self::Error(_) => None,
        }
    }
}
