//! Streaming numbers out of a byte stream (stdin), in bounded memory.
//!
//! Tokens are separated by spaces, tabs and newlines, the three delimiters coreutils
//! `factor` uses for its standard input (`DELIM "\n\t "`); any other byte, `\r` included,
//! is part of a token. Each token is then judged by [`crate::parse`].
//!
//! The reader keeps one fixed buffer ([`BUF_LEN`] bytes). [`Tokens::next_buffered`] hands out
//! the tokens that lie complete in it, without reading; the caller then flushes its output
//! (so an interactive or coprocess user sees every answer before the worker blocks for more
//! input) and calls [`Tokens::refill`]. A token of plain decimal digits short enough for a
//! `u64` takes a fast path; anything else goes through [`parse_number`]. A token longer than
//! the buffer (a megabyte of leading zeros is still a valid number) is checked piece by piece
//! by a [`NumberParser`], so memory stays bounded whatever the input.

use std::io::{self, Read};

use crate::parse::{BadNumber, NumberParser, parse_number};

/// Size of the input buffer.
pub const BUF_LEN: usize = 128 * 1024;

/// Byte classes for the scanner.
const OTHER: u8 = 0;
const DIGIT: u8 = 1;
const DELIM: u8 = 2;

static CLASS: [u8; 256] = {
    let mut t = [OTHER; 256];
    let mut d = b'0';
    while d <= b'9' {
        t[d as usize] = DIGIT;
        d += 1;
    }
    t[b' ' as usize] = DELIM;
    t[b'\t' as usize] = DELIM;
    t[b'\n' as usize] = DELIM;
    t
};

#[inline]
fn is_delim(b: u8) -> bool {
    CLASS[b as usize] == DELIM
}

/// Whitespace-separated numbers from a reader; see the [module docs](self).
///
/// ```
/// use worker::tokens::Tokens;
/// let mut t = Tokens::new(&b"12 +7\tabc\n"[..]);
/// let mut got = Vec::new();
/// while !t.at_end() {
///     while let Some(item) = t.next_buffered() {
///         got.push(item.map_err(|bad| bad.to_string()));
///     }
///     t.refill().unwrap();
/// }
/// assert_eq!(got, [Ok(12), Ok(7), Err("‘abc’ is not a valid positive integer".into())]);
/// ```
#[derive(Debug)]
pub struct Tokens<R> {
    src: R,
    buf: Box<[u8]>,
    /// Next unread byte.
    pos: usize,
    /// End of the valid data.
    end: usize,
    /// The source has reported end of input.
    eof: bool,
    /// A token that did not fit in the buffer, being parsed as it streams past.
    long: Option<NumberParser>,
}

impl<R: Read> Tokens<R> {
    /// Tokens of `src`, read [`BUF_LEN`] bytes at a time.
    pub fn new(src: R) -> Self {
        Self::with_capacity(src, BUF_LEN)
    }

    /// Tokens of `src` with a buffer of `capacity` bytes (at least 1; small sizes are for
    /// tests of the buffer-boundary logic).
    pub fn with_capacity(src: R, capacity: usize) -> Self {
        Self {
            src,
            buf: vec![0; capacity.max(1)].into_boxed_slice(),
            pos: 0,
            end: 0,
            eof: false,
            long: None,
        }
    }

    /// True once every token has been handed out.
    pub fn at_end(&self) -> bool {
        self.eof && self.pos == self.end && self.long.is_none()
    }

    /// The next token that is complete in the buffer, or `None` when more input is needed
    /// (or the input is exhausted: see [`Tokens::at_end`]).
    #[inline]
    pub fn next_buffered(&mut self) -> Option<Result<u128, BadNumber>> {
        if self.long.is_some() {
            return self.continue_long();
        }
        let end = self.end;
        let buf = &self.buf[..end];
        let mut i = self.pos;
        while i < end && is_delim(buf[i]) {
            i += 1;
        }
        if i == end {
            self.pos = end;
            return None;
        }
        let start = i;
        // Fast path: up to 19 digits (always < 2^64) followed by a delimiter.
        let mut v: u64 = 0;
        let stop = end.min(start + 19);
        while i < stop {
            let d = buf[i].wrapping_sub(b'0');
            if d > 9 {
                break;
            }
            v = v * 10 + u64::from(d);
            i += 1;
        }
        if i > start && i < end && is_delim(buf[i]) {
            self.pos = i;
            return Some(Ok(u128::from(v)));
        }
        // Slow path: find the token's end, then judge it whole.
        match buf[i..].iter().position(|&b| is_delim(b)) {
            Some(len) => {
                self.pos = i + len;
                Some(parse_number(&buf[start..i + len]))
            }
            None if self.eof => {
                self.pos = end;
                Some(parse_number(&buf[start..end]))
            }
            None => {
                // Incomplete: keep it for the next refill.
                self.pos = start;
                None
            }
        }
    }

    /// Feeds buffered bytes to the parser of a token longer than the buffer.
    #[cold]
    fn continue_long(&mut self) -> Option<Result<u128, BadNumber>> {
        let data = &self.buf[self.pos..self.end];
        let parser = self.long.as_mut()?;
        match data.iter().position(|&b| is_delim(b)) {
            Some(len) => {
                parser.feed(&data[..len]);
                self.pos += len;
            }
            None => {
                parser.feed(data);
                self.pos = self.end;
                if !self.eof {
                    return None;
                }
            }
        }
        self.long.take().map(NumberParser::finish)
    }

    /// Reads more input into the buffer (blocking). Call it when [`Tokens::next_buffered`]
    /// returns `None` and [`Tokens::at_end`] is false.
    ///
    /// # Errors
    /// The reader's error (`Interrupted` is retried).
    pub fn refill(&mut self) -> io::Result<()> {
        if self.eof {
            return Ok(());
        }
        // Keep an incomplete token, moved to the front.
        self.buf.copy_within(self.pos..self.end, 0);
        self.end -= self.pos;
        self.pos = 0;
        if self.end == self.buf.len() {
            // One token fills the whole buffer: switch to parsing it as it streams.
            let mut parser = NumberParser::new();
            parser.feed(&self.buf[..self.end]);
            self.long = Some(parser);
            self.end = 0;
        }
        loop {
            match self.src.read(&mut self.buf[self.end..]) {
                Ok(0) => {
                    self.eof = true;
                    return Ok(());
                }
                Ok(n) => {
                    self.end += n;
                    return Ok(());
                }
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(e) => return Err(e),
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::parse::BadKind;
    use proptest::prelude::*;

    /// A reader that returns at most `step` bytes per call, to exercise every boundary.
    struct Trickle<'a> {
        data: &'a [u8],
        step: usize,
    }

    impl Read for Trickle<'_> {
        fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
            let n = self.data.len().min(self.step).min(buf.len());
            buf[..n].copy_from_slice(&self.data[..n]);
            self.data = &self.data[n..];
            Ok(n)
        }
    }

    fn all(data: &[u8], cap: usize, step: usize) -> Vec<Result<u128, BadKind>> {
        let mut t = Tokens::with_capacity(Trickle { data, step }, cap);
        let mut out = Vec::new();
        while !t.at_end() {
            while let Some(item) = t.next_buffered() {
                out.push(item.map_err(|e| e.kind));
            }
            t.refill().expect("in-memory reads cannot fail");
        }
        out
    }

    /// The reference: split on the three delimiters, judge each token whole.
    fn reference(data: &[u8]) -> Vec<Result<u128, BadKind>> {
        data.split(|&b| is_delim(b))
            .filter(|t| !t.is_empty())
            .map(|t| parse_number(t).map_err(|e| e.kind))
            .collect()
    }

    #[test]
    fn delimiters_are_space_tab_newline_only() {
        let got = all(b"  +7\t007\n\n12x 5\r 6\x0b7 \n", BUF_LEN, usize::MAX);
        assert_eq!(
            got,
            [
                Ok(7),
                Ok(7),
                Err(BadKind::Invalid),
                Err(BadKind::Invalid),
                Err(BadKind::Invalid)
            ]
        );
    }

    #[test]
    fn last_token_without_newline() {
        assert_eq!(all(b"1 2 30", 4, 3), [Ok(1), Ok(2), Ok(30)]);
        assert_eq!(all(b"", 4, 3), []);
        assert_eq!(all(b" \n\t", 4, 3), []);
    }

    #[test]
    fn tokens_longer_than_the_buffer() {
        let mut data = b"5 +".to_vec();
        data.extend(std::iter::repeat_n(b'0', 10_000));
        data.extend(b"340282366920938463463374607431768211455 9");
        let got = all(&data, 16, 7);
        assert_eq!(got, [Ok(5), Ok(u128::MAX), Ok(9)]);
        let mut bad = vec![b'1'; 10_000];
        bad.push(b'x');
        let mut t = Tokens::with_capacity(&bad[..], 64);
        t.refill().unwrap();
        assert!(t.next_buffered().is_none());
        let item = loop {
            t.refill().unwrap();
            if let Some(item) = t.next_buffered() {
                break item;
            }
        };
        let err = item.unwrap_err();
        assert_eq!(err.kind, BadKind::Invalid);
        assert_eq!(err.len, 10_001);
        assert!(t.next_buffered().is_none());
        t.refill().unwrap();
        assert!(t.at_end());
    }

    #[test]
    fn nul_ends_a_token_like_a_c_string() {
        assert_eq!(
            all(b"12\0abc 7\n\0\n", BUF_LEN, 5),
            [Ok(12), Ok(7), Err(BadKind::Invalid)]
        );
    }

    proptest! {
        #[test]
        fn same_as_splitting(
            data in proptest::collection::vec(
                prop_oneof![Just(b' '), Just(b'\n'), Just(b'\t'), Just(b'+'), Just(b'x'), Just(0u8), b'0'..=b'9'],
                0..300),
            cap in 1usize..40,
            step in 1usize..50,
        ) {
            prop_assert_eq!(all(&data, cap, step), reference(&data));
        }

        #[test]
        fn long_numbers(ns in proptest::collection::vec(any::<u128>(), 0..40), cap in 8usize..64) {
            let text: String = ns.iter().map(|n| format!("{n}\n")).collect();
            let expect: Vec<_> = ns.iter().map(|&n| Ok(n)).collect();
            prop_assert_eq!(all(text.as_bytes(), cap, 13), expect);
        }
    }
}
