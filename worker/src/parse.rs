//! What counts as a number, exactly as coreutils `factor` decides it.
//!
//! coreutils 9.1 (`print_factors` in `src/factor.c`) treats each input as a C string: it skips
//! leading spaces (`' '` only, not tabs), then one optional `+`, and then requires one or
//! more ASCII digits and nothing else up to the end of the string, i.e. up to the first NUL
//! byte (bytes after a NUL inside a stdin token are ignored). Leading zeros are allowed and
//! dropped, so `+007` prints as `7: 7`. Anything else (`-5`, `1.5`, `0x10`, `''`, `12 `) is
//! "not a valid positive integer".
//!
//! One difference, by design: coreutils hands numbers of 2^128 and above to GMP; this worker
//! works in `u128` and rejects them as [`BadKind::TooLarge`].
//!
//! [`NumberParser`] applies these rules incrementally, a piece at a time, so a token of any
//! length is checked in constant memory; [`parse_number`] is the one-shot form.

use std::fmt;

use crate::format::{QUOTE_MAX, quote};

/// Why an input is not a number.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BadKind {
    /// Not an optional `+` followed by decimal digits.
    Invalid,
    /// Valid digits, but 2^128 or more.
    TooLarge,
}

/// An input that is not a number this worker accepts, with enough of its text to name it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BadNumber {
    /// What is wrong with it.
    pub kind: BadKind,
    /// The first [`QUOTE_MAX`] bytes of the input (up to its first NUL).
    pub prefix: Vec<u8>,
    /// The input's full length in bytes (up to its first NUL).
    pub len: u64,
}

impl fmt::Display for BadNumber {
    /// `‘abc’ is not a valid positive integer`, as coreutils words it.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let q = quote(&self.prefix, self.len);
        match self.kind {
            BadKind::Invalid => write!(f, "{q} is not a valid positive integer"),
            BadKind::TooLarge => write!(
                f,
                "{q} is too large (the largest number accepted is 2^128 - 1 = {})",
                u128::MAX
            ),
        }
    }
}

impl std::error::Error for BadNumber {}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Phase {
    /// Skipping leading spaces; a `+` or a digit may come.
    Leading,
    /// After the `+`: a digit must come.
    Sign,
    /// In the digits.
    Digits,
}

/// Checks and converts one input fed in pieces (see the [module docs](self) for the rules).
///
/// ```
/// use worker::parse::NumberParser;
/// let mut p = NumberParser::new();
/// p.feed(b"+00");
/// p.feed(b"12");
/// assert_eq!(p.finish(), Ok(12));
/// ```
#[derive(Debug, Clone)]
pub struct NumberParser {
    phase: Phase,
    value: u128,
    invalid: bool,
    too_large: bool,
    /// A NUL was seen: the C string ended, the rest of the token is ignored.
    ended: bool,
    prefix: Vec<u8>,
    len: u64,
}

impl Default for NumberParser {
    fn default() -> Self {
        Self::new()
    }
}

impl NumberParser {
    /// A parser at the start of an input.
    pub fn new() -> Self {
        Self {
            phase: Phase::Leading,
            value: 0,
            invalid: false,
            too_large: false,
            ended: false,
            prefix: Vec::new(),
            len: 0,
        }
    }

    /// Consumes the next piece of the input.
    pub fn feed(&mut self, bytes: &[u8]) {
        if self.ended {
            return;
        }
        let bytes = match bytes.iter().position(|&b| b == 0) {
            Some(nul) => {
                self.ended = true;
                &bytes[..nul]
            }
            None => bytes,
        };
        self.len += bytes.len() as u64;
        let room = QUOTE_MAX.saturating_sub(self.prefix.len());
        self.prefix
            .extend_from_slice(&bytes[..bytes.len().min(room)]);
        for &b in bytes {
            if self.invalid {
                return;
            }
            match (self.phase, b) {
                (_, b'0'..=b'9') => {
                    self.phase = Phase::Digits;
                    self.push_digit(b - b'0');
                }
                (Phase::Leading, b' ') => {}
                (Phase::Leading, b'+') => self.phase = Phase::Sign,
                _ => self.invalid = true,
            }
        }
    }

    #[inline]
    fn push_digit(&mut self, d: u8) {
        match self
            .value
            .checked_mul(10)
            .and_then(|v| v.checked_add(u128::from(d)))
        {
            Some(v) => self.value = v,
            None => self.too_large = true,
        }
    }

    /// The number, or why the input is not one. Invalid characters win over size, as in
    /// coreutils: `99999999999999999999999999999999999999999x` is invalid, not too large.
    ///
    /// # Errors
    /// [`BadNumber`] naming the input.
    pub fn finish(self) -> Result<u128, BadNumber> {
        let kind = if self.invalid || self.phase != Phase::Digits {
            BadKind::Invalid
        } else if self.too_large {
            BadKind::TooLarge
        } else {
            return Ok(self.value);
        };
        Err(BadNumber {
            kind,
            prefix: self.prefix,
            len: self.len,
        })
    }
}

/// Parses one whole input (a command-line argument or a stdin token).
///
/// ```
/// use worker::parse::{parse_number, BadKind};
/// assert_eq!(parse_number(b" +007"), Ok(7));
/// assert_eq!(parse_number(b"12\0junk"), Ok(12)); // a C string ends at NUL
/// assert_eq!(parse_number(b"-5").unwrap_err().kind, BadKind::Invalid);
/// assert_eq!(parse_number(b"340282366920938463463374607431768211456").unwrap_err().kind, BadKind::TooLarge);
/// ```
///
/// # Errors
/// [`BadNumber`] naming the input.
pub fn parse_number(input: &[u8]) -> Result<u128, BadNumber> {
    let mut p = NumberParser::new();
    p.feed(input);
    p.finish()
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn kind(s: &[u8]) -> Option<BadKind> {
        parse_number(s).err().map(|e| e.kind)
    }

    #[test]
    fn coreutils_cases() {
        // Every case below was checked against coreutils 9.1 `factor` on this machine.
        assert_eq!(parse_number(b"0"), Ok(0));
        assert_eq!(parse_number(b"+0"), Ok(0));
        assert_eq!(parse_number(b"00"), Ok(0));
        assert_eq!(parse_number(b"+7"), Ok(7));
        assert_eq!(parse_number(b"007"), Ok(7));
        assert_eq!(parse_number(b"  12"), Ok(12));
        assert_eq!(parse_number(b" +12"), Ok(12));
        assert_eq!(parse_number(b"12\0abc"), Ok(12));
        for bad in [
            &b""[..],
            b"abc",
            b"-5",
            b"1.5",
            b"12 ",
            b"\t12",
            b"+ 12",
            b"  ",
            b"+",
            b"++5",
            b"0x10",
            b"\0",
            b"\r5",
            b"5\r\x0b6",
            "٣".as_bytes(),
        ] {
            assert_eq!(kind(bad), Some(BadKind::Invalid), "{bad:?}");
        }
    }

    #[test]
    fn limits() {
        assert_eq!(
            parse_number(b"340282366920938463463374607431768211455"),
            Ok(u128::MAX)
        );
        let zeros = format!("+{}{}", "0".repeat(5000), u128::MAX);
        assert_eq!(parse_number(zeros.as_bytes()), Ok(u128::MAX));
        assert_eq!(
            kind(b"340282366920938463463374607431768211456"),
            Some(BadKind::TooLarge)
        );
        assert_eq!(
            kind(b"3402823669209384634633746074317682114560000x"),
            Some(BadKind::Invalid)
        );
    }

    #[test]
    fn messages_name_the_input() {
        let e = parse_number(b"abc").unwrap_err();
        assert_eq!(e.to_string(), "‘abc’ is not a valid positive integer");
        let e = parse_number(b"1e999").unwrap_err();
        assert!(e.to_string().contains("‘1e999’"));
        let big = "9".repeat(100);
        let e = parse_number(big.as_bytes()).unwrap_err();
        assert!(e.to_string().contains("too large"), "{e}");
        assert!(e.to_string().contains("(100 bytes)"), "{e}");
    }

    proptest! {
        #[test]
        fn any_u128_round_trips(n in any::<u128>(), zeros in 0usize..5, plus in any::<bool>()) {
            let s = format!("{}{}{n}", if plus { "+" } else { "" }, "0".repeat(zeros));
            prop_assert_eq!(parse_number(s.as_bytes()), Ok(n));
        }

        #[test]
        fn feeding_in_pieces_changes_nothing(s in proptest::collection::vec(any::<u8>(), 0..60), cut in 0usize..60) {
            let cut = cut.min(s.len());
            let mut p = NumberParser::new();
            p.feed(&s[..cut]);
            p.feed(&s[cut..]);
            prop_assert_eq!(p.finish(), parse_number(&s));
        }

        #[test]
        fn agrees_with_a_reference(s in "[ +0-9a\\-]{0,45}") {
            // Reference: skip spaces, one optional '+', then a non-empty run of digits only.
            let t = s.trim_start_matches(' ');
            let t = t.strip_prefix('+').unwrap_or(t);
            let expect = if !t.is_empty() && t.bytes().all(|b| b.is_ascii_digit()) {
                t.parse::<u128>().map_err(|_| BadKind::TooLarge)
            } else {
                Err(BadKind::Invalid)
            };
            prop_assert_eq!(parse_number(s.as_bytes()).map_err(|e| e.kind), expect);
        }
    }
}
