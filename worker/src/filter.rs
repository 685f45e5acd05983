//! `worker factor` and `worker divisors`: numbers in, one line per number out.
//!
//! * [`Mode::Primes`]: exactly what coreutils `factor` prints, `N: p1 p2 ...` (prime factors
//!   ascending with multiplicity; `0:` and `1:` have none). `N` is the number's value, so
//!   `+007` prints as `7: 7`, as in coreutils.
//! * [`Mode::Divisors`]: `N: d1 d2 ...`, every divisor ascending (`12: 1 2 3 4 6 12`,
//!   `1: 1`). Every integer divides 0, so `0:` lists none (the protocol's `Divisors` answer
//!   for 0 is likewise empty). The divisors are written as the engine yields them and the
//!   buffer drains every [`FLUSH_AT`] bytes, so a u128 with 3e8
//!   divisors (a 12 GB line) needs no more memory than a small one.
//!
//! Input that is not a number gets `worker: ‘abc’ is not a valid positive integer` on the
//! error stream, and the numbers around it are still printed; the caller exits non-zero when
//! [`Summary::bad`] is not 0. Before a message is written, the lines before it are flushed,
//! so `2>&1` shows everything in input order.
//!
//! The factorization function is a parameter ([`Filter::new`]): the binary passes
//! [`crate::factor::factor_into`], and the I/O benchmark passes a stand-in to measure what
//! parsing and formatting cost on their own.

use std::io::{self, Read, Write};

use shared::Mode;

use crate::factor::for_each_divisor;
use crate::format::push_u128;
use crate::output::{FLUSH_AT, Output};
use crate::parse::{BadNumber, parse_number};
use crate::tokens::Tokens;

/// What a run printed.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Summary {
    /// Numbers printed.
    pub printed: u64,
    /// Inputs rejected (each reported on the error stream).
    pub bad: u64,
}

/// Why a run stopped early.
#[derive(Debug, thiserror::Error)]
pub enum FilterError {
    /// Writing the results failed (a full disk, or a reader that went away: `BrokenPipe`).
    #[error("cannot write to standard output")]
    Write(#[source] io::Error),
    /// Reading the numbers failed.
    #[error("cannot read standard input")]
    Read(#[source] io::Error),
}

/// Prints one line per number into an [`Output`]; see the [module docs](self).
#[derive(Debug)]
pub struct Filter<W, F, E> {
    out: Output<W>,
    errors: E,
    mode: Mode,
    factor_into: F,
    primes: Vec<u128>,
    summary: Summary,
    on_write_error: Option<fn(&io::Error)>,
}

impl<W, F, E> Filter<W, F, E>
where
    W: Write,
    F: FnMut(u128, &mut Vec<u128>),
    E: Write,
{
    /// A filter printing to `out`, with messages about bad input going to `errors`.
    /// `factor_into(n, v)` must replace `v`'s contents with `n`'s prime factors, ascending.
    pub fn new(mode: Mode, out: W, errors: E, factor_into: F) -> Self {
        Self {
            out: Output::new(out),
            errors,
            mode,
            factor_into,
            primes: Vec::with_capacity(128),
            summary: Summary::default(),
            on_write_error: None,
        }
    }

    /// Calls `hook` the moment a write fails inside a divisors line, before the error is
    /// returned. The engine's `for_each_divisor` cannot be stopped early, so without a hook
    /// the rest of the line is still generated (and dropped) after a failure: up to ~20 s
    /// for a u128 with 3e8 divisors behind `| head`. The binary's hook reports the error and
    /// exits the process.
    pub fn on_write_error(mut self, hook: fn(&io::Error)) -> Self {
        self.on_write_error = Some(hook);
        self
    }

    /// Prints `n`'s line.
    ///
    /// # Errors
    /// The output's write error.
    #[inline]
    pub fn number(&mut self, n: u128) -> io::Result<()> {
        self.summary.printed += 1;
        let buf = &mut self.out.buf;
        push_u128(buf, n);
        buf.push(b':');
        match self.mode {
            Mode::Primes => {
                (self.factor_into)(n, &mut self.primes);
                for &p in &self.primes {
                    buf.push(b' ');
                    push_u128(buf, p);
                }
            }
            Mode::Divisors if n == 0 => {}
            Mode::Divisors => {
                (self.factor_into)(n, &mut self.primes);
                let mut failed = None;
                let out = &mut self.out;
                let hook = self.on_write_error;
                for_each_divisor(&self.primes, |d| {
                    if failed.is_some() {
                        return;
                    }
                    out.buf.push(b' ');
                    push_u128(&mut out.buf, d);
                    if out.buf.len() >= FLUSH_AT
                        && let Err(e) = out.flush()
                    {
                        if let Some(hook) = hook {
                            hook(&e);
                        }
                        failed = Some(e);
                    }
                });
                if let Some(e) = failed {
                    return Err(e);
                }
            }
        }
        self.out.buf.push(b'\n');
        self.out.maybe_flush()
    }

    /// Reports a rejected input on the error stream, after flushing the lines before it.
    ///
    /// # Errors
    /// The output's write error (a failure to write the message itself is ignored: there is
    /// nowhere left to report it).
    pub fn bad(&mut self, bad: &BadNumber) -> io::Result<()> {
        self.summary.bad += 1;
        self.out.flush()?;
        let _ = writeln!(self.errors, "worker: {bad}");
        Ok(())
    }

    /// Prints the lines for command-line arguments (each one whole input, as coreutils
    /// treats its arguments: leading spaces are allowed, trailing ones are not).
    ///
    /// # Errors
    /// [`FilterError::Write`].
    pub fn run_args<A: AsRef<[u8]>>(&mut self, args: &[A]) -> Result<(), FilterError> {
        for arg in args {
            match parse_number(arg.as_ref()) {
                Ok(n) => self.number(n),
                Err(bad) => self.bad(&bad),
            }
            .map_err(FilterError::Write)?;
        }
        Ok(())
    }

    /// Prints the lines for the whitespace-separated numbers of `input`, streaming: the
    /// output is flushed before each blocking read, so a user typing numbers (or a program
    /// talking to the worker through pipes) gets each answer at once.
    ///
    /// # Errors
    /// [`FilterError::Read`] (after writing the lines already computed) or
    /// [`FilterError::Write`].
    pub fn run_stream<R: Read>(&mut self, input: R) -> Result<(), FilterError> {
        let mut tokens = Tokens::new(input);
        while !tokens.at_end() {
            while let Some(item) = tokens.next_buffered() {
                match item {
                    Ok(n) => self.number(n),
                    Err(bad) => self.bad(&bad),
                }
                .map_err(FilterError::Write)?;
            }
            self.out.flush().map_err(FilterError::Write)?;
            tokens.refill().map_err(FilterError::Read)?;
        }
        Ok(())
    }

    /// Writes out what is still buffered and returns the counts.
    ///
    /// # Errors
    /// [`FilterError::Write`].
    pub fn finish(mut self) -> Result<Summary, FilterError> {
        self.out.flush().map_err(FilterError::Write)?;
        Ok(self.summary)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::factor::factor_into;

    fn run(mode: Mode, stdin: &[u8]) -> (String, String, Summary) {
        let mut out = Vec::new();
        let mut err = Vec::new();
        let mut f = Filter::new(mode, &mut out, &mut err, factor_into);
        f.run_stream(stdin).expect("in-memory i/o cannot fail");
        let summary = f.finish().expect("in-memory i/o cannot fail");
        (
            String::from_utf8(out).expect("ascii"),
            String::from_utf8(err).expect("utf-8"),
            summary,
        )
    }

    #[test]
    fn factor_lines() {
        let (out, err, s) = run(Mode::Primes, b"0 1 +12 007\n\t2139079 abc 1214759");
        assert_eq!(
            out,
            "0:\n1:\n12: 2 2 3\n7: 7\n2139079: 101 21179\n1214759: 7 7 13 1907\n"
        );
        assert_eq!(err, "worker: ‘abc’ is not a valid positive integer\n");
        assert_eq!(s, Summary { printed: 6, bad: 1 });
    }

    #[test]
    fn divisor_lines() {
        let (out, _, _) = run(Mode::Divisors, b"0 1 12 1852285");
        assert_eq!(
            out,
            "0:\n1: 1\n12: 1 2 3 4 6 12\n1852285: 1 5 271 1355 1367 6835 370457 1852285\n"
        );
    }

    #[test]
    fn long_divisor_lines_stream_through_the_buffer() {
        // 2^10 * 3^10 * 5^4 * 7^3 has 11 * 11 * 5 * 4 = 2420 divisors, ~30 KB per line.
        let n: u128 = 1024 * 59049 * 625 * 343;
        let mut out = Vec::new();
        let mut f = Filter::new(Mode::Divisors, &mut out, io::sink(), factor_into);
        for _ in 0..40 {
            f.number(n).expect("in-memory i/o cannot fail");
        }
        f.finish().expect("in-memory i/o cannot fail");
        let text = String::from_utf8(out).expect("ascii");
        let first = text.lines().next().expect("a line");
        let ds: Vec<u128> = first
            .split_once(": ")
            .expect("a colon")
            .1
            .split(' ')
            .map(|d| d.parse().expect("a number"))
            .collect();
        assert_eq!(ds.len(), 2420);
        assert!(ds.windows(2).all(|w| w[0] < w[1]));
        assert!(ds.iter().all(|&d| n.is_multiple_of(d)));
        assert_eq!(text.lines().count(), 40);
        assert!(text.len() > 2 * FLUSH_AT);
    }

    /// A writer that fails once `room` bytes have been written.
    struct Full {
        room: usize,
    }

    impl Write for Full {
        fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
            if self.room == 0 {
                return Err(io::Error::from(io::ErrorKind::StorageFull));
            }
            let n = buf.len().min(self.room);
            self.room -= n;
            Ok(n)
        }
        fn flush(&mut self) -> io::Result<()> {
            Ok(())
        }
    }

    #[test]
    fn write_errors_stop_the_run() {
        let input = "12\n".repeat(100_000);
        let mut f = Filter::new(Mode::Primes, Full { room: 1000 }, io::sink(), factor_into);
        let err = f.run_stream(input.as_bytes()).unwrap_err();
        assert!(matches!(err, FilterError::Write(e) if e.kind() == io::ErrorKind::StorageFull));

        let mut f = Filter::new(Mode::Divisors, Full { room: 10 }, io::sink(), factor_into);
        let err = f.number(1024 * 59049 * 625 * 343 * 11 * 13).unwrap_err();
        assert_eq!(err.kind(), io::ErrorKind::StorageFull);
    }
}
