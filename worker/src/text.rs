//! Answers to [`Request::Text`](shared::Request::Text): the worker cuts, parses, factors and
//! formats, so the orchestrator only moves bytes.
//!
//! The output is what `worker factor` / `worker divisors` print for the same inputs (the
//! same parser, [`parse_number`], and the same digit formatter), or one JSON object per
//! line. It goes out in [`Response::Text`] parts: when the clock says a report is due
//! (see [`crate::clock`]), when [`FLUSH_AT`] bytes have piled up, and at the end; a divisor
//! line longer than that is sent in pieces, so memory stays bounded.

use std::io::Write;
use std::sync::Mutex;

use shared::frame::FrameWriter;
use shared::{FrameError, Mode, NumberError, Response, Split, TextBatch, TextError, TextFormat};

use crate::clock::{Clock, lock};
use crate::factor::{divisor_count, factor_into, for_each_divisor};
use crate::format::push_u128;
use crate::output::FLUSH_AT;
use crate::parse::{BadNumber, parse_number};

/// The bytes coreutils `factor` separates its standard input with.
#[inline]
fn is_delim(b: u8) -> bool {
    matches!(b, b' ' | b'\t' | b'\n')
}

/// Answers one text request: parts, then `BatchDone`, then a flush.
///
/// # Errors
/// A write error (the conversation is over).
pub(crate) fn answer<W: Write>(
    t: &TextBatch,
    writer: &Mutex<FrameWriter<W>>,
    clock: &Clock,
    primes: &mut Vec<u128>,
) -> Result<(), FrameError> {
    let mut a = Answer {
        t,
        writer,
        clock,
        primes,
        out: Vec::with_capacity(FLUSH_AT + 4096),
        errors: Vec::new(),
        done: 0,
        bad: 0,
    };
    let text = &t.text[..];
    match t.split {
        Split::Whitespace => {
            let mut i = 0;
            loop {
                while i < text.len() && is_delim(text[i]) {
                    i += 1;
                }
                if i == text.len() {
                    break;
                }
                let start = i;
                while i < text.len() && !is_delim(text[i]) {
                    i += 1;
                }
                a.input(&text[start..i])?;
            }
        }
        Split::Nul => {
            let mut items = text.split(|&b| b == 0);
            let mut next = items.next();
            while let Some(item) = next {
                next = items.next();
                // The text ends with a NUL: the empty slice after it is not an input.
                if next.is_none() && item.is_empty() {
                    break;
                }
                a.input(item)?;
            }
        }
    }
    a.part(false)?;
    clock.end();
    let mut w = lock(writer);
    w.write(&Response::BatchDone { id: t.id })?;
    w.flush()?;
    drop(w);
    clock.reported();
    Ok(())
}

struct Answer<'a, W> {
    t: &'a TextBatch,
    writer: &'a Mutex<FrameWriter<W>>,
    clock: &'a Clock,
    primes: &'a mut Vec<u128>,
    out: Vec<u8>,
    errors: Vec<TextError>,
    done: u32,
    bad: u32,
}

/// Up to 19 plain digits: always below 2^64, the common case, parsed without the checks.
#[inline]
fn fast_u64(tok: &[u8]) -> Option<u64> {
    if tok.is_empty() || tok.len() > 19 {
        return None;
    }
    let mut v = 0u64;
    for &b in tok {
        let d = b.wrapping_sub(b'0');
        if d > 9 {
            return None;
        }
        v = v * 10 + u64::from(d);
    }
    Some(v)
}

impl<W: Write> Answer<'_, W> {
    fn input(&mut self, tok: &[u8]) -> Result<(), FrameError> {
        self.clock.at(self.done);
        let parsed = match fast_u64(tok) {
            Some(v) => Ok(u128::from(v)),
            None => parse_number(tok),
        };
        match parsed {
            Ok(n) => self.number(n)?,
            Err(bad) => self.bad_input(tok, &bad),
        }
        self.done += 1;
        if self.clock.due() {
            self.part(true)?;
        } else if self.out.len() >= FLUSH_AT {
            self.part(false)?;
        }
        Ok(())
    }

    fn bad_input(&mut self, tok: &[u8], bad: &BadNumber) {
        self.bad += 1;
        match self.t.format {
            TextFormat::Plain => self.errors.push(TextError {
                at: self.out.len() as u32,
                message: bad.to_string(),
            }),
            TextFormat::Json => {
                self.out.extend_from_slice(b"{\"input\":");
                json_string(&mut self.out, tok);
                self.out.extend_from_slice(b",\"error\":");
                json_string(&mut self.out, bad.to_string().as_bytes());
                self.out.extend_from_slice(b"}\n");
            }
        }
    }

    fn number(&mut self, n: u128) -> Result<(), FrameError> {
        let json = self.t.format == TextFormat::Json;
        let key: &[u8] = match self.t.mode {
            Mode::Primes => b"factors",
            Mode::Divisors => b"divisors",
        };
        if self.t.mode == Mode::Divisors && n != 0 {
            factor_into(n, self.primes);
            let count = divisor_count(self.primes);
            if let Some(cap) = self.t.divisor_cap
                && count > cap
            {
                self.refused(n, NumberError::DivisorCapExceeded { count, cap });
                return Ok(());
            }
        }
        let out = &mut self.out;
        if json {
            out.extend_from_slice(b"{\"n\":");
            push_u128(out, n);
            out.extend_from_slice(b",\"");
            out.extend_from_slice(key);
            out.extend_from_slice(b"\":[");
        } else {
            push_u128(out, n);
            out.push(b':');
        }
        let sep = if json { b',' } else { b' ' };
        match self.t.mode {
            Mode::Primes => {
                factor_into(n, self.primes);
                for (i, &p) in self.primes.iter().enumerate() {
                    if !json || i > 0 {
                        out.push(sep);
                    }
                    push_u128(out, p);
                }
            }
            Mode::Divisors if n == 0 => {}
            Mode::Divisors => {
                // Streamed: a line longer than FLUSH_AT goes out in pieces.
                let (t, writer, done, bad) = (self.t, self.writer, self.done, self.bad);
                let mut first = true;
                let mut failed = None;
                for_each_divisor(self.primes, |d| {
                    if failed.is_some() {
                        return;
                    }
                    if !json || !first {
                        out.push(sep);
                    }
                    first = false;
                    push_u128(out, d);
                    if out.len() >= FLUSH_AT {
                        let part = Response::Text {
                            id: t.id,
                            done,
                            bad,
                            text: std::mem::take(out),
                            errors: std::mem::take(&mut self.errors),
                        };
                        if let Err(e) = lock(writer).write(&part) {
                            failed = Some(e);
                        }
                        if let Response::Text { text, .. } = part {
                            *out = text;
                            out.clear();
                        }
                    }
                });
                if let Some(e) = failed {
                    return Err(e);
                }
            }
        }
        if json {
            out.extend_from_slice(b"]}\n");
        } else {
            out.push(b'\n');
        }
        Ok(())
    }

    fn refused(&mut self, n: u128, e: NumberError) {
        self.bad += 1;
        let mut num = Vec::new();
        push_u128(&mut num, n);
        let message = format!("{}: {e}", String::from_utf8_lossy(&num));
        match self.t.format {
            TextFormat::Plain => self.errors.push(TextError {
                at: self.out.len() as u32,
                message,
            }),
            TextFormat::Json => {
                self.out.extend_from_slice(b"{\"n\":");
                self.out.extend_from_slice(&num);
                self.out.extend_from_slice(b",\"error\":");
                json_string(&mut self.out, message.as_bytes());
                self.out.extend_from_slice(b"}\n");
            }
        }
    }

    /// Sends what has piled up (if anything, or if `flush`), flushing when `flush`.
    fn part(&mut self, flush: bool) -> Result<(), FrameError> {
        if self.out.is_empty() && self.errors.is_empty() && !flush {
            return Ok(());
        }
        let part = Response::Text {
            id: self.t.id,
            done: self.done,
            bad: self.bad,
            text: std::mem::take(&mut self.out),
            errors: std::mem::take(&mut self.errors),
        };
        let mut w = lock(self.writer);
        w.write(&part)?;
        if flush {
            w.flush()?;
            drop(w);
            self.clock.reported();
        }
        if let Response::Text { mut text, .. } = part {
            text.clear();
            self.out = text;
        }
        Ok(())
    }
}

/// Appends `bytes` (read as UTF-8, invalid sequences replaced) as a JSON string.
fn json_string(out: &mut Vec<u8>, bytes: &[u8]) {
    out.push(b'"');
    for c in String::from_utf8_lossy(bytes).chars() {
        match c {
            '"' => out.extend_from_slice(b"\\\""),
            '\\' => out.extend_from_slice(b"\\\\"),
            '\n' => out.extend_from_slice(b"\\n"),
            '\t' => out.extend_from_slice(b"\\t"),
            '\r' => out.extend_from_slice(b"\\r"),
            c if (c as u32) < 0x20 => {
                out.extend_from_slice(format!("\\u{:04x}", c as u32).as_bytes());
            }
            c => {
                let mut utf8 = [0u8; 4];
                out.extend_from_slice(c.encode_utf8(&mut utf8).as_bytes());
            }
        }
    }
    out.push(b'"');
}

#[cfg(test)]
mod tests {
    use super::*;
    use shared::RequestId;
    use shared::frame::FrameReader;

    fn run(
        mode: Mode,
        format: TextFormat,
        split: Split,
        text: &[u8],
    ) -> (Vec<u8>, Vec<TextError>, u32, u32) {
        let t = TextBatch {
            id: RequestId(7),
            mode,
            format,
            split,
            divisor_cap: Some(100),
            text: text.to_vec(),
        };
        let writer = Mutex::new(FrameWriter::new(Vec::new()));
        let clock = Clock::new();
        clock.begin(t.id);
        answer(&t, &writer, &clock, &mut Vec::new()).unwrap();
        let bytes = writer.into_inner().unwrap().into_inner();
        let mut r = FrameReader::new(&bytes[..]);
        let (mut out, mut errors, mut done, mut bad) = (Vec::new(), Vec::new(), 0, 0);
        loop {
            match r.read::<Response>().unwrap().unwrap() {
                Response::Text {
                    id,
                    done: d,
                    bad: b,
                    text,
                    errors: e,
                } => {
                    assert_eq!(id, RequestId(7));
                    for mut e in e {
                        e.at += out.len() as u32;
                        errors.push(e);
                    }
                    out.extend(text);
                    (done, bad) = (d, b);
                }
                Response::BatchDone { id } => {
                    assert_eq!(id, RequestId(7));
                    return (out, errors, done, bad);
                }
                other => panic!("{other:?}"),
            }
        }
    }

    #[test]
    fn plain_text_is_worker_factor_output() {
        let (out, errors, done, bad) = run(
            Mode::Primes,
            TextFormat::Plain,
            Split::Whitespace,
            b" 12\t+007 abc\n\n1 0 340282366920938463463374607431768211455\n",
        );
        assert_eq!(
            String::from_utf8(out).unwrap(),
            "12: 2 2 3\n7: 7\n1:\n0:\n340282366920938463463374607431768211455: 3 5 17 257 641 65537 274177 6700417 67280421310721\n"
        );
        assert_eq!(errors.len(), 1);
        assert_eq!(errors[0].at, 15);
        assert_eq!(errors[0].message, "‘abc’ is not a valid positive integer");
        assert_eq!((done, bad), (6, 1));
    }

    #[test]
    fn arguments_are_taken_whole() {
        let (out, errors, done, bad) = run(
            Mode::Primes,
            TextFormat::Plain,
            Split::Nul,
            b" 12\x001 2\x00\x00",
        );
        assert_eq!(out, b"12: 2 2 3\n");
        assert_eq!(errors.len(), 2);
        assert_eq!(errors[1].message, "‘’ is not a valid positive integer");
        assert_eq!((done, bad), (3, 2));
    }

    #[test]
    fn json_and_divisors() {
        let (out, _, done, bad) = run(
            Mode::Divisors,
            TextFormat::Json,
            Split::Whitespace,
            b"12 0 1 x\"y 720720",
        );
        assert_eq!(
            String::from_utf8(out).unwrap(),
            "{\"n\":12,\"divisors\":[1,2,3,4,6,12]}\n{\"n\":0,\"divisors\":[]}\n{\"n\":1,\"divisors\":[1]}\n\
             {\"input\":\"x\\\"y\",\"error\":\"‘x\\\"y’ is not a valid positive integer\"}\n\
             {\"n\":720720,\"error\":\"720720: divisor count 240 exceeds the cap of 100\"}\n"
        );
        assert_eq!((done, bad), (5, 2));
        let (out, _, _, _) = run(Mode::Primes, TextFormat::Json, Split::Whitespace, b"12 1");
        assert_eq!(
            out,
            b"{\"n\":12,\"factors\":[2,2,3]}\n{\"n\":1,\"factors\":[]}\n"
        );
    }
}
