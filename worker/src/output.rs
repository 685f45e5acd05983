//! One large output buffer in front of a writer.
//!
//! Lines are built in place in [`Output::buf`] and written with one `write_all` whenever the
//! buffer passes [`FLUSH_AT`] bytes, or when the caller is about to block for input. `std`'s
//! `Stdout` is line-buffered (a `LineWriter`), which would scan every chunk for newlines and
//! hold back partial lines; the worker writes to a duplicate of fd 1 through this type
//! instead, so it decides exactly when the bytes leave.

use std::io::{self, Write};

/// Buffer size that triggers a write.
pub const FLUSH_AT: usize = 64 * 1024;

/// Room kept above [`FLUSH_AT`] so the longest prime-factor line never reallocates
/// (39 digits + `:` + at most 127 factors, whose digits sum to at most ~200).
const SLACK: usize = 4096;

/// A byte buffer that drains into `inner` in large writes.
#[derive(Debug)]
pub struct Output<W> {
    inner: W,
    /// Bytes not written yet. Append to it, then call [`Output::maybe_flush`].
    pub buf: Vec<u8>,
}

impl<W: Write> Output<W> {
    /// An empty buffer in front of `inner`.
    pub fn new(inner: W) -> Self {
        Self {
            inner,
            buf: Vec::with_capacity(FLUSH_AT + SLACK),
        }
    }

    /// Writes the buffer out if it has reached [`FLUSH_AT`] bytes.
    ///
    /// # Errors
    /// The writer's error; the unwritten bytes are dropped.
    #[inline]
    pub fn maybe_flush(&mut self) -> io::Result<()> {
        if self.buf.len() >= FLUSH_AT {
            self.flush()
        } else {
            Ok(())
        }
    }

    /// Writes out everything buffered and flushes the writer.
    ///
    /// # Errors
    /// The writer's error; the unwritten bytes are dropped.
    pub fn flush(&mut self) -> io::Result<()> {
        if !self.buf.is_empty() {
            let result = self.inner.write_all(&self.buf);
            self.buf.clear();
            result?;
        }
        self.inner.flush()
    }

    /// The writer (e.g. to inspect what a test wrote).
    pub fn get_ref(&self) -> &W {
        &self.inner
    }

    /// The writer, after the buffer has been flushed.
    ///
    /// # Errors
    /// As [`Output::flush`].
    pub fn into_inner(mut self) -> io::Result<W> {
        self.flush()?;
        Ok(self.inner)
    }
}
