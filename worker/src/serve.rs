//! `worker serve`: the frame server the orchestrator talks to.
//!
//! Request frames come in on one stream, response frames go out on the other, following the
//! conversation in [`shared::protocol`]:
//!
//! 1. The first frame must be the peer's [`Hello`]. The worker always answers with its own
//!    hello first (even when it refuses the peer's, so the peer learns our version and pid).
//!    A version mismatch ends the conversation there ([`ServeError::Handshake`]); a first frame
//!    that is not a hello at all also gets a [`Response::Error`].
//! 2. Each [`Request::Batch`] is answered in index order ([`Response::Factors`] runs of at most
//!    [`FACTORS_PER_FRAME`], or [`Response::Divisors`] chunks of at most [`DIVISORS_PER_CHUNK`]
//!    / [`Response::NumberFailed`]), then [`Response::BatchDone`], then a flush. A
//!    [`Request::Text`] is answered with [`Response::Text`] parts (see the `text` module),
//!    then [`Response::BatchDone`]. A [`Request::Ping`] gets a [`Response::Pong`] and a flush.
//!    Requests are handled in order, so the peer may pipeline as many as it likes.
//!    While a request is in work, the progress rule holds (see the `clock` module): results
//!    are reported at least every [`shared::PROGRESS_INTERVAL_MS`], and a clock thread sends
//!    [`Response::Working`] while one number takes longer than that.
//! 3. A clean end of input between frames ends the server with `Ok(())`.
//! 4. A frame that cannot be read (truncated, oversized, undecodable, or a message out of
//!    place such as a second hello) gets a [`Response::Error`] when the output still works,
//!    and the server returns the error: the stream is out of sync and cannot be trusted.
//!
//! Memory stays bounded: the server holds one request frame, one response frame and the
//! current number's prime factors; divisors stream from the engine into chunk frames.
//! Responses go into the writer the caller gives (buffer it); flushes happen at the end of a
//! request, a pong or an error, and when a progress report is due.

use std::io::{Read, Write};
use std::sync::{Mutex, MutexGuard};

use shared::frame::{FrameReader, FrameWriter, decode_body};
use shared::{
    Batch, DIVISORS_PER_CHUNK, FACTORS_PER_FRAME, FrameError, HandshakeError, Hello, Mode,
    NumberError, ProtocolError, ProtocolErrorKind, Request, RequestId, Response,
};

use crate::clock::{self, Clock};
use crate::factor::{divisor_count, factor_into, for_each_divisor};

/// The `software` field of the worker's [`Hello`].
pub const SOFTWARE: &str = concat!("worker ", env!("CARGO_PKG_VERSION"));

/// Why the server stopped before a clean end of input.
#[derive(Debug, thiserror::Error)]
pub enum ServeError {
    /// The peer's hello was refused (wrong version, or not a hello).
    #[error("handshake failed")]
    Handshake(#[source] HandshakeError),
    /// A request frame was truncated, oversized or undecodable.
    #[error("malformed request frame")]
    Malformed(#[source] FrameError),
    /// A well-formed message arrived where the protocol does not allow it.
    #[error("unexpected message: {0}")]
    Unexpected(&'static str),
    /// Reading requests failed.
    #[error("cannot read requests")]
    Read(#[source] FrameError),
    /// Writing responses failed.
    #[error("cannot write responses")]
    Write(#[source] FrameError),
}

/// `err` and its sources, joined with `": "` (what a log line shows).
pub fn error_chain(err: &dyn std::error::Error) -> String {
    let mut s = err.to_string();
    let mut source = err.source();
    while let Some(e) = source {
        s.push_str(": ");
        s.push_str(&e.to_string());
        source = e.source();
    }
    s
}

/// Serves requests from `input` until it ends; see the [module docs](self).
///
/// # Errors
/// [`ServeError`]; a [`Response::Error`] has been sent already where the protocol allows.
///
/// # Example
/// ```
/// use shared::{frame::FrameReader, write_frame, Batch, Hello, Mode, Request, RequestId, Response};
/// # fn main() -> Result<(), Box<dyn std::error::Error>> {
/// let mut requests = Vec::new();
/// write_frame(&mut requests, &Hello::new("doc test"))?;
/// let batch = Batch { id: RequestId(1), mode: Mode::Primes, numbers: vec![12], divisor_cap: None };
/// write_frame(&mut requests, &Request::Batch(batch))?;
///
/// let mut responses = Vec::new();
/// worker::serve::serve(&requests[..], &mut responses)?;
///
/// let mut r = FrameReader::new(&responses[..]);
/// Hello::from_body(r.read_raw()?.expect("the worker's hello"))?;
/// assert_eq!(r.read()?, Some(Response::Factors { id: RequestId(1), first: 0, factors: vec![vec![2, 2, 3]] }));
/// assert_eq!(r.read()?, Some(Response::BatchDone { id: RequestId(1) }));
/// assert_eq!(r.read::<Response>()?, None);
/// # Ok(()) }
/// ```
pub fn serve<R: Read, W: Write + Send>(input: R, output: W) -> Result<(), ServeError> {
    let writer = Mutex::new(FrameWriter::new(output));
    let clock = Clock::new();
    std::thread::scope(|s| {
        let ticker = s.spawn(|| clock.run(&writer));
        let result = Server {
            reader: FrameReader::new(input),
            writer: &writer,
            clock: &clock,
            primes: Vec::with_capacity(128),
            lists: Vec::new(),
            chunk: Vec::new(),
        }
        .run();
        clock.stop();
        ticker.thread().unpark();
        result
    })
}

struct Server<'a, R, W> {
    reader: FrameReader<R>,
    /// Shared with the clock thread.
    writer: &'a Mutex<FrameWriter<W>>,
    clock: &'a Clock,
    /// The current number's prime factors.
    primes: Vec<u128>,
    /// Reused lists for [`Response::Factors`].
    lists: Vec<Vec<u128>>,
    /// Reused buffer for [`Response::Divisors`].
    chunk: Vec<u128>,
}

impl<R: Read, W: Write> Server<'_, R, W> {
    fn w(&self) -> MutexGuard<'_, FrameWriter<W>> {
        clock::lock(self.writer)
    }

    fn run(mut self) -> Result<(), ServeError> {
        if !self.handshake()? {
            return Ok(());
        }
        loop {
            let request = match self.reader.read_raw() {
                Ok(None) => return Ok(()),
                Ok(Some(body)) => match decode_body::<Request>(body) {
                    Ok(request) => request,
                    Err(e) => {
                        // A hello never decodes as a request (its first byte is `F`, not a
                        // variant index): tell "out of place" from "garbage".
                        let is_hello = !matches!(
                            Hello::from_body(body),
                            Err(HandshakeError::NotAHello { .. })
                        );
                        return Err(if is_hello {
                            self.refuse(
                                ProtocolErrorKind::UnexpectedMessage,
                                ServeError::Unexpected("a second hello after the handshake"),
                            )
                        } else {
                            self.refuse(ProtocolErrorKind::MalformedFrame, ServeError::Malformed(e))
                        });
                    }
                },
                Err(e) => return Err(self.read_failed(e)),
            };
            match request {
                Request::Ping { id } => {
                    self.send(&Response::Pong { id })?;
                    self.w().flush().map_err(ServeError::Write)?;
                }
                Request::Batch(batch) => {
                    self.clock.begin(batch.id);
                    self.batch(batch)?;
                }
                Request::Text(t) => {
                    self.clock.begin(t.id);
                    crate::text::answer(&t, self.writer, self.clock, &mut self.primes)
                        .map_err(ServeError::Write)?;
                }
            }
        }
    }

    /// Reads the peer's hello and answers with ours. `Ok(false)`: the input ended first.
    fn handshake(&mut self) -> Result<bool, ServeError> {
        let theirs = match self.reader.read_raw() {
            Ok(None) => return Ok(false),
            Ok(Some(body)) => Hello::from_body(body),
            Err(e) => {
                if e.is_malformed() {
                    // Best effort: the peer may be a protocol peer that sent a broken frame.
                    let _ = self.w().write(&Hello::new(SOFTWARE));
                }
                return Err(self.read_failed(e));
            }
        };
        self.w()
            .write(&Hello::new(SOFTWARE))
            .map_err(ServeError::Write)?;
        match theirs {
            Ok(_) => {
                self.w().flush().map_err(ServeError::Write)?;
                Ok(true)
            }
            Err(e @ HandshakeError::VersionMismatch { .. }) => {
                // Our hello tells the peer everything; a peer of another version may not
                // understand an Error response, so none is sent.
                let _ = self.w().flush();
                Err(ServeError::Handshake(e))
            }
            Err(e) => Err(self.refuse(ProtocolErrorKind::Handshake, ServeError::Handshake(e))),
        }
    }

    /// Turns a frame read error into the server's error, answering malformed frames.
    fn read_failed(&mut self, e: FrameError) -> ServeError {
        if e.is_malformed() {
            self.refuse(ProtocolErrorKind::MalformedFrame, ServeError::Malformed(e))
        } else {
            ServeError::Read(e)
        }
    }

    /// Sends a [`Response::Error`] describing `err` (ignoring write failures: the error being
    /// reported matters more) and returns `err`.
    fn refuse(&mut self, kind: ProtocolErrorKind, err: ServeError) -> ServeError {
        let message = error_chain(&err);
        let mut w = self.w();
        let _ = w.write(&Response::Error(ProtocolError { kind, message }));
        let _ = w.flush();
        err
    }

    fn send(&mut self, msg: &Response) -> Result<(), ServeError> {
        self.w().write(msg).map_err(ServeError::Write)
    }

    /// Flushes, as a progress report.
    fn report(&mut self) -> Result<(), ServeError> {
        self.w().flush().map_err(ServeError::Write)?;
        self.clock.reported();
        Ok(())
    }

    fn batch(&mut self, batch: Batch) -> Result<(), ServeError> {
        let Batch {
            id,
            mode,
            numbers,
            divisor_cap,
        } = batch;
        // A frame of at most 16 MiB holds fewer than 2^32 numbers, so indexes fit in a u32.
        if u32::try_from(numbers.len()).is_err() {
            return Err(self.refuse(
                ProtocolErrorKind::UnexpectedMessage,
                ServeError::Unexpected("a batch of 2^32 numbers or more"),
            ));
        }
        match mode {
            Mode::Primes => {
                let mut first = 0usize;
                while first < numbers.len() {
                    let end = numbers.len().min(first + FACTORS_PER_FRAME);
                    first += self.factors(id, first as u32, &numbers[first..end])?;
                    if self.clock.due() {
                        self.report()?;
                    }
                }
            }
            Mode::Divisors => {
                for (index, &n) in (0u32..).zip(&numbers) {
                    self.clock.at(index);
                    self.divisors(id, index, n, divisor_cap)?;
                    if self.clock.due() {
                        self.report()?;
                    }
                }
            }
        }
        self.clock.end();
        let mut w = self.w();
        w.write(&Response::BatchDone { id })
            .and_then(|()| w.flush())
            .map_err(ServeError::Write)?;
        drop(w);
        self.clock.reported();
        Ok(())
    }

    /// One [`Response::Factors`] frame for `run`, or for its first part if a progress report
    /// falls due before its end; returns how many numbers it covered (at least one). The
    /// factor lists' allocations are reused.
    fn factors(&mut self, id: RequestId, first: u32, run: &[u128]) -> Result<usize, ServeError> {
        let mut lists = std::mem::take(&mut self.lists);
        lists.resize_with(run.len(), Vec::new);
        let mut covered = 0;
        for (i, (&n, list)) in run.iter().zip(lists.iter_mut()).enumerate() {
            self.clock.at(first + i as u32);
            factor_into(n, list);
            covered = i + 1;
            if self.clock.due() {
                break;
            }
        }
        let rest = lists.split_off(covered);
        let response = Response::Factors {
            id,
            first,
            factors: lists,
        };
        let sent = self.send(&response);
        if let Response::Factors { mut factors, .. } = response {
            factors.extend(rest);
            self.lists = factors;
        }
        sent.map(|()| covered)
    }

    /// The [`Response::Divisors`] chunks (or one [`Response::NumberFailed`]) for `n`.
    fn divisors(
        &mut self,
        id: RequestId,
        index: u32,
        n: u128,
        cap: Option<u64>,
    ) -> Result<(), ServeError> {
        let mut chunk = std::mem::take(&mut self.chunk);
        chunk.clear();
        if n != 0 {
            factor_into(n, &mut self.primes);
            let count = divisor_count(&self.primes);
            if let Some(cap) = cap
                && count > cap
            {
                self.chunk = chunk;
                let error = NumberError::DivisorCapExceeded { count, cap };
                return self.send(&Response::NumberFailed { id, index, error });
            }
            // A full chunk is sent only when the next divisor arrives, so the final chunk
            // (`last: true`) is known without trusting the count.
            let mut failed = None;
            let writer = self.writer;
            for_each_divisor(&self.primes, |d| {
                if failed.is_some() {
                    return;
                }
                if chunk.len() == DIVISORS_PER_CHUNK {
                    let response = Response::Divisors {
                        id,
                        index,
                        divisors: std::mem::take(&mut chunk),
                        last: false,
                    };
                    if let Err(e) = clock::lock(writer).write(&response) {
                        failed = Some(e);
                    }
                    if let Response::Divisors { divisors, .. } = response {
                        chunk = divisors;
                        chunk.clear();
                    }
                }
                chunk.push(d);
            });
            if let Some(e) = failed {
                return Err(ServeError::Write(e));
            }
        }
        let response = Response::Divisors {
            id,
            index,
            divisors: chunk,
            last: true,
        };
        let sent = self.send(&response);
        if let Response::Divisors { divisors, .. } = response {
            self.chunk = divisors;
        }
        sent
    }
}
