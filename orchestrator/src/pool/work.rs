//! Units of work (pieces of an input chunk), what comes back for them, and how a piece is cut
//! when it has to be retried.
//!
//! The reader cuts the input into *chunks*, numbered in input order (`seq`). A chunk travels
//! to a worker whole, as one request, unless something goes wrong: then it is cut into
//! *pieces*. A piece is a run of the chunk's inputs `[start, start + len)`; its results are
//! filed in the reorder buffer under the key `(seq, start)`, and the piece that follows it in
//! the output is `(seq, start + len)`, or `(seq + 1, 0)` once the chunk is complete.

use std::time::Duration;

use shared::{NumberError, Split, TextFormat};

/// Where a piece's results go in the output order: (chunk seq, first input's index in it).
pub(crate) type Key = (u64, u32);

/// The inputs of a piece.
#[derive(Debug)]
pub(crate) enum Items {
    /// Numbers for a `Batch` request.
    Numbers(Vec<u128>),
    /// Text for a `Text` request holding `count` inputs (cut as the run's [`Split`] says).
    Text { bytes: Vec<u8>, count: u32 },
    /// One input the reader refused before any worker saw it (a token too long to hold).
    TooLong { prefix: Vec<u8>, len: u64 },
}

impl Items {
    pub(crate) fn len(&self) -> u32 {
        match self {
            Self::Numbers(v) => v.len() as u32,
            Self::Text { count, .. } => *count,
            Self::TooLong { .. } => 1,
        }
    }
}

/// A run of inputs of one chunk, with its retry history.
#[derive(Debug)]
pub(crate) struct Piece {
    pub seq: u64,
    pub start: u32,
    /// Inputs in the whole chunk (to find the key of what follows).
    pub chunk_len: u32,
    pub items: Items,
    /// Attempts that ended with the worker dying while this piece was the one in hand.
    pub attempts: u32,
}

impl Piece {
    pub(crate) fn len(&self) -> u32 {
        self.items.len()
    }

    pub(crate) fn key(&self) -> Key {
        (self.seq, self.start)
    }

    /// Cuts the piece after its first `k` inputs (0 < k < len): `self` keeps them, the rest
    /// is returned with the same attempt count.
    pub(crate) fn split_off(&mut self, k: u32, split: Split) -> Piece {
        debug_assert!(k > 0 && k < self.len());
        let items = match &mut self.items {
            Items::Numbers(v) => Items::Numbers(v.split_off(k as usize)),
            Items::Text { bytes, count } => {
                let at = token_start(bytes, k, split);
                let rest = bytes.split_off(at);
                let rest_count = *count - k;
                *count = k;
                Items::Text {
                    bytes: rest,
                    count: rest_count,
                }
            }
            Items::TooLong { .. } => unreachable!("a one-input piece is never cut"),
        };
        Piece {
            seq: self.seq,
            start: self.start + k,
            chunk_len: self.chunk_len,
            items,
            attempts: self.attempts,
        }
    }

    /// The text of input `k` (for messages): the token, or the number in decimal.
    pub(crate) fn input_text(&self, k: u32, split: Split) -> Vec<u8> {
        match &self.items {
            Items::Numbers(v) => v[k as usize].to_string().into_bytes(),
            Items::Text { bytes, .. } => {
                let mut at = token_start(bytes, k, split);
                if split == Split::Whitespace {
                    // The delimiters before a token belong to the piece but not to it.
                    while at < bytes.len() && is_delim(bytes[at]) {
                        at += 1;
                    }
                }
                let rest = &bytes[at..];
                let end = match split {
                    Split::Whitespace => rest.iter().position(|&b| is_delim(b)),
                    Split::Nul => rest.iter().position(|&b| b == 0),
                }
                .unwrap_or(rest.len());
                rest[..end].to_vec()
            }
            Items::TooLong { prefix, .. } => prefix.clone(),
        }
    }
}

/// The bytes coreutils `factor` separates its standard input with.
#[inline]
pub(crate) fn is_delim(b: u8) -> bool {
    matches!(b, b' ' | b'\t' | b'\n')
}

/// Byte offset where input `k` of `bytes` begins (for `k` = 0, 0; the delimiters before a
/// token belong to the piece before it).
fn token_start(bytes: &[u8], k: u32, split: Split) -> usize {
    if k == 0 {
        return 0;
    }
    let mut seen = 0u32;
    match split {
        Split::Nul => {
            for (i, &b) in bytes.iter().enumerate() {
                if b == 0 {
                    seen += 1;
                    if seen == k {
                        return i + 1;
                    }
                }
            }
        }
        Split::Whitespace => {
            let mut in_token = false;
            for (i, &b) in bytes.iter().enumerate() {
                if is_delim(b) {
                    if in_token {
                        seen += 1;
                        in_token = false;
                    }
                } else {
                    if !in_token && seen == k {
                        return i;
                    }
                    in_token = true;
                }
            }
        }
    }
    bytes.len()
}

/// A run of output for the text form of a run.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Segment {
    /// Bytes for standard output (result lines, or JSON lines).
    Out(Vec<u8>),
    /// A message about one input, for standard error: no program name, no newline.
    Message(String),
}

/// Why a number has no result.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum NumberFailure {
    /// It ran past the pool's timeout; its worker was killed and replaced.
    #[error("timed out after {}", humantime::format_duration(*after))]
    TimedOut {
        /// The timeout.
        after: Duration,
    },
    /// Its worker died every time it was tried.
    #[error("a worker died on it {attempts} times (last: {cause})")]
    WorkerDied {
        /// How many times.
        attempts: u32,
        /// How the last worker ended.
        cause: String,
    },
    /// The worker refused it (e.g. more divisors than the cap).
    #[error("{0}")]
    Refused(NumberError),
    /// Never produced for numbers; for a text input too long to hold in memory.
    #[error("too long to be a number this program accepts")]
    TooLong,
}

/// What a number came to: its prime factors (or divisors), or why there are none.
pub type NumberResult = Result<Vec<u128>, NumberFailure>;

/// What came back for a piece.
#[derive(Debug)]
pub(crate) enum Output {
    Text(Vec<Segment>),
    Numbers(Vec<NumberResult>),
}

/// Counts kept with each finished piece.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub(crate) struct Tally {
    /// Inputs that were not numbers or were refused (reported by the worker).
    pub bad: u64,
    /// Numbers given up on after their workers kept dying.
    pub failed: u64,
    /// Numbers that ran past the timeout.
    pub timed_out: u64,
}

/// A finished piece, waiting in the reorder buffer for its turn.
#[derive(Debug)]
pub(crate) struct Done {
    pub key: Key,
    pub len: u32,
    pub chunk_len: u32,
    pub output: Output,
    pub tally: Tally,
}

impl Done {
    /// Bytes of output it holds (for the memory budget).
    pub(crate) fn bytes(&self) -> usize {
        match &self.output {
            Output::Text(segs) => segs
                .iter()
                .map(|s| match s {
                    Segment::Out(v) => v.len(),
                    Segment::Message(m) => m.len(),
                })
                .sum(),
            Output::Numbers(results) => results
                .iter()
                .map(|r| r.as_ref().map_or(64, |v| 16 * v.len()))
                .sum(),
        }
    }

    /// The key of the piece that follows this one in the output.
    pub(crate) fn next_key(&self) -> Key {
        let end = self.key.1 + self.len;
        if end >= self.chunk_len {
            (self.key.0 + 1, 0)
        } else {
            (self.key.0, end)
        }
    }
}

/// How a run's results are shaped, for the results the pool makes up itself (timeouts,
/// failures, refused tokens).
#[derive(Debug, Clone, Copy)]
pub(crate) enum Shape {
    Numbers,
    Text(TextFormat),
}

/// `input` between ‘curly quotes’, at most 64 bytes of it, control bytes escaped, as
/// coreutils names an input in a message.
pub(crate) fn quote(input: &[u8], total_len: u64) -> String {
    const MAX: usize = 64;
    let shown = &input[..input.len().min(MAX)];
    let mut s = String::from("‘");
    for chunk in shown.utf8_chunks() {
        for c in chunk.valid().chars() {
            if c.is_control() {
                s.extend(c.escape_default());
            } else {
                s.push(c);
            }
        }
        for b in chunk.invalid() {
            s.push_str(&format!("\\{b:03o}"));
        }
    }
    if (shown.len() as u64) < total_len {
        s.push_str(&format!("…’ ({total_len} bytes)"));
    } else {
        s.push('’');
    }
    s
}

/// The output for one input the pool reports itself: `message` names the problem, and
/// `input` is the input (for the message or the JSON object).
pub(crate) fn failure_output(
    shape: Shape,
    input: &[u8],
    total_len: u64,
    failure: NumberFailure,
) -> Output {
    match shape {
        Shape::Numbers => Output::Numbers(vec![Err(failure)]),
        Shape::Text(TextFormat::Plain) => Output::Text(vec![Segment::Message(format!(
            "{}: {}",
            quote(input, total_len),
            plain_reason(&failure)
        ))]),
        Shape::Text(TextFormat::Json) => {
            let json = |s: &str| serde_json::Value::from(s).to_string();
            let mut line = format!(
                "{{\"input\":{},\"error\":{}",
                json(&String::from_utf8_lossy(input)),
                json(&failure.to_string())
            );
            if matches!(failure, NumberFailure::TimedOut { .. }) {
                line.push_str(",\"timed_out\":true");
            }
            line.push_str("}\n");
            Output::Text(vec![Segment::Out(line.into_bytes())])
        }
    }
}

fn plain_reason(f: &NumberFailure) -> String {
    match f {
        NumberFailure::TimedOut { .. } => {
            format!("{f}; its worker was killed and replaced")
        }
        NumberFailure::WorkerDied { .. } => format!("{f}; giving up on this number"),
        NumberFailure::Refused(e) => e.to_string(),
        NumberFailure::TooLong => f.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn text(s: &str) -> Piece {
        let count = s.split([' ', '\t', '\n']).filter(|t| !t.is_empty()).count() as u32;
        Piece {
            seq: 3,
            start: 10,
            chunk_len: 10 + count,
            items: Items::Text {
                bytes: s.as_bytes().to_vec(),
                count,
            },
            attempts: 1,
        }
    }

    #[test]
    fn text_pieces_cut_at_token_boundaries() {
        let mut p = text("  12\t\t7 abc\n\n99 ");
        assert_eq!(p.input_text(0, Split::Whitespace), b"12");
        assert_eq!(p.input_text(2, Split::Whitespace), b"abc");
        assert_eq!(p.input_text(3, Split::Whitespace), b"99");
        let rest = p.split_off(2, Split::Whitespace);
        assert_eq!(rest.key(), (3, 12));
        assert_eq!(rest.attempts, 1);
        let Items::Text { bytes, count } = &p.items else {
            panic!()
        };
        assert_eq!((bytes.as_slice(), *count), (&b"  12\t\t7 "[..], 2));
        let Items::Text { bytes, count } = &rest.items else {
            panic!()
        };
        assert_eq!((bytes.as_slice(), *count), (&b"abc\n\n99 "[..], 2));
    }

    #[test]
    fn nul_pieces_cut_after_each_nul() {
        let mut p = Piece {
            seq: 0,
            start: 0,
            chunk_len: 3,
            items: Items::Text {
                bytes: b" 12\0\0x y\0".to_vec(),
                count: 3,
            },
            attempts: 0,
        };
        assert_eq!(p.input_text(0, Split::Nul), b" 12");
        assert_eq!(p.input_text(1, Split::Nul), b"");
        assert_eq!(p.input_text(2, Split::Nul), b"x y");
        let rest = p.split_off(1, Split::Nul);
        let Items::Text { bytes, .. } = &rest.items else {
            panic!()
        };
        assert_eq!(bytes, b"\0x y\0");
    }

    #[test]
    fn done_pieces_chain_to_the_next_key() {
        let d = |start, len| Done {
            key: (5, start),
            len,
            chunk_len: 8,
            output: Output::Numbers(Vec::new()),
            tally: Tally::default(),
        };
        assert_eq!(d(0, 3).next_key(), (5, 3));
        assert_eq!(d(3, 5).next_key(), (6, 0));
    }

    #[test]
    fn failures_are_reported_in_the_runs_format() {
        let t = NumberFailure::TimedOut {
            after: Duration::from_millis(1500),
        };
        let Output::Text(segs) =
            failure_output(Shape::Text(TextFormat::Plain), b"123", 3, t.clone())
        else {
            panic!()
        };
        assert_eq!(
            segs,
            [Segment::Message(
                "‘123’: timed out after 1s 500ms; its worker was killed and replaced".into()
            )]
        );
        let Output::Text(segs) = failure_output(Shape::Text(TextFormat::Json), b"12\"3", 4, t)
        else {
            panic!()
        };
        assert_eq!(
            segs,
            [Segment::Out(
                b"{\"input\":\"12\\\"3\",\"error\":\"timed out after 1s 500ms\",\"timed_out\":true}\n"
                    .to_vec()
            )]
        );
        assert_eq!(quote(b"a\tb", 3), "‘a\\tb’");
        assert_eq!(
            quote(&[b'7'; 100], 100),
            format!("‘{}…’ (100 bytes)", "7".repeat(64))
        );
    }
}
