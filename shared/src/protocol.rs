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
//!
//!    For a [`Request::Text`] the worker does the parsing and formatting itself (so the
//!    orchestrator only cuts text and copies bytes): it sends [`Response::Text`] parts, each
//!    carrying the next bytes of output and the count of inputs finished so far, then
//!    [`Response::BatchDone`]. The concatenated parts are exactly what `worker factor` (or
//!    `worker divisors`) would print for the same text, or one JSON object per line.
//!
//!    **Progress.** While working on a [`Request::Batch`] or a [`Request::Text`], the worker
//!    sends a frame that tells how far it is at least every [`PROGRESS_INTERVAL_MS`]
//!    milliseconds: results (which count as progress), or, when it is busy with one long
//!    number, [`Response::Working`] naming the input in hand (sent by a clock thread, so it
//!    comes even while the computation is stuck). The orchestrator relies on this to know
//!    which input is taking long: the one named last, once it has been in hand for longer
//!    than the timeout.
//! 4. **End.** The orchestrator closes the worker's stdin; the worker finishes the request in
//!    hand and exits 0. A frame the worker cannot read gets a [`Response::Error`] (when stdout
//!    still works), a message on stderr and a non-zero exit: the stream is out of sync and the
//!    orchestrator should replace the worker.

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Serialize};

use crate::codec::{self, CodecError};

/// Version of this protocol; bumped on any change to the messages.
///
/// * 1: hello, batches, pings.
/// * 2: text requests ([`Request::Text`], [`Response::Text`]) and the progress rule
///   ([`PROGRESS_INTERVAL_MS`], [`Response::Working`]).
pub const PROTOCOL_VERSION: u32 = 2;

/// A worker in the middle of a request reports its progress (sends and flushes what it has
/// finished) at least this often; see the module docs.
pub const PROGRESS_INTERVAL_MS: u64 = 20;

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

/// Serializes a `Vec<u8>` as one byte string (a length and the raw bytes, not a sequence of
/// one-byte integers), and deserializes it from the frame's bytes, so a lying length is
/// checked against the bytes present before anything is allocated.
mod bytes {
    use serde::de::{Error, SeqAccess, Visitor};
    use serde::{Deserializer, Serializer};
    use std::fmt;

    pub fn serialize<S: Serializer>(v: &[u8], s: S) -> Result<S::Ok, S::Error> {
        s.serialize_bytes(v)
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Vec<u8>, D::Error> {
        struct Bytes;
        impl<'de> Visitor<'de> for Bytes {
            type Value = Vec<u8>;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("a byte string")
            }
            fn visit_bytes<E: Error>(self, v: &[u8]) -> Result<Vec<u8>, E> {
                Ok(v.to_vec())
            }
            fn visit_byte_buf<E: Error>(self, v: Vec<u8>) -> Result<Vec<u8>, E> {
                Ok(v)
            }
            fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Vec<u8>, A::Error> {
                let mut v = Vec::new();
                while let Some(b) = seq.next_element()? {
                    v.push(b);
                }
                Ok(v)
            }
        }
        d.deserialize_bytes(Bytes)
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

/// How the text of a [`TextBatch`] is cut into inputs.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default, Serialize, Deserialize)]
pub enum Split {
    /// Inputs are separated by spaces, tabs and newlines, as coreutils `factor` reads its
    /// standard input (empty inputs do not exist).
    #[default]
    Whitespace,
    /// Each input ends with a NUL byte and is taken whole, as `factor` takes a command-line
    /// argument (leading spaces allowed, anything else invalid; `""` is an input).
    Nul,
}

/// How the results of a [`TextBatch`] are written.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default, Serialize, Deserialize)]
pub enum TextFormat {
    /// `N: p1 p2 ...` lines, byte for byte what `worker factor` / `worker divisors` print;
    /// an input that is not a number gets a message in the `errors` of [`Response::Text`] instead.
    #[default]
    Plain,
    /// One JSON object per input and line: `{"n":12,"factors":[2,2,3]}`,
    /// `{"n":12,"divisors":[1,2,3,4,6,12]}`, or for a bad input
    /// `{"input":"abc","error":"‘abc’ is not a valid positive integer"}`.
    Json,
}

/// Numbers as text: the worker cuts, parses, factors and formats.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct TextBatch {
    /// Echoed in every response about this request.
    pub id: RequestId,
    /// What to compute.
    pub mode: Mode,
    /// How results are written.
    pub format: TextFormat,
    /// How `text` is cut into inputs.
    pub split: Split,
    /// As [`Batch::divisor_cap`]: a number with more divisors gets an error instead.
    pub divisor_cap: Option<u64>,
    /// The inputs.
    #[serde(with = "bytes")]
    pub text: Vec<u8>,
}

/// A message about one input of a [`TextBatch`] in [`TextFormat::Plain`].
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct TextError {
    /// Where the message belongs: a byte offset into the [`Response::Text`] part's `text`
    /// (the output of the inputs before it ends there).
    pub at: u32,
    /// The message, without a program name or newline:
    /// `‘abc’ is not a valid positive integer`.
    #[serde(deserialize_with = "text::deserialize")]
    pub message: String,
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
    /// Factor the numbers written in this text, and answer with text (protocol version 2).
    Text(TextBatch),
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
    /// The worker is busy with input `index` of request `id`: every input before it is
    /// finished, though its results may still be on the way (protocol version 2; see the
    /// progress rule in the module docs).
    Working {
        /// The request.
        id: RequestId,
        /// The input in hand.
        index: u32,
    },
    /// The next part of the answer to a [`Request::Text`] (protocol version 2).
    Text {
        /// The request.
        id: RequestId,
        /// Inputs finished so far in this request, counting this part (cumulative). The
        /// output of input `done` may have begun in `text` (a long divisor line is sent in
        /// pieces) but is complete only once `done` counts it.
        done: u32,
        /// Inputs so far (cumulative) that got no result line: not a number, or refused
        /// (divisor cap). In [`TextFormat::Json`] they have an error object in `text`.
        bad: u32,
        /// The next bytes of output.
        #[serde(with = "bytes")]
        text: Vec<u8>,
        /// Messages to put between the bytes of `text`, ascending by `at`
        /// ([`TextFormat::Plain`] only).
        errors: Vec<TextError>,
    },
}

impl Response {
    /// The request this response belongs to (`None` for [`Response::Error`]).
    pub fn id(&self) -> Option<RequestId> {
        match self {
            Self::Factors { id, .. }
            | Self::Divisors { id, .. }
            | Self::NumberFailed { id, .. }
            | Self::BatchDone { id }
            | Self::Pong { id }
            | Self::Working { id, .. }
            | Self::Text { id, .. } => Some(*id),
            Self::Error(_) => None,
        }
    }
}
