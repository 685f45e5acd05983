//! One worker as the event loop sees it: the process, its two pipes (non-blocking, watched
//! by mio), the bytes waiting to go out, the bytes received and not yet cut into frames, and
//! the requests it holds.

use std::collections::VecDeque;
use std::io::{self, Write};
use std::os::fd::{AsFd, AsRawFd, OwnedFd};
use std::time::Instant;

use mio::unix::SourceFd;
use mio::unix::pipe;
use mio::{Interest, Registry, Token};
use shared::frame::{HEADER_LEN, encode_frame_into};
use shared::{FrameError, MAX_FRAME_LEN, Request, RequestId};

use super::error::Lost;
use super::launch::Launch;
use super::work::{NumberResult, Piece, Segment};
use crate::child::Child;
use crate::command::Stdio;
use crate::pipes;
use crate::sys;

/// Token kinds: which of a worker's fds an event is about.
pub(crate) const OUT: usize = 0;
pub(crate) const IN: usize = 1;
pub(crate) const EXIT: usize = 2;

/// The mio token for fd `kind` of worker incarnation `generation`. Generations are never
/// reused, so an event for a worker already replaced is recognised and dropped.
pub(crate) fn token(generation: u64, kind: usize) -> Token {
    Token(((generation as usize) << 2) | kind)
}

/// The (generation, kind) of a token made by [`token`].
pub(crate) fn untoken(t: Token) -> (u64, usize) {
    ((t.0 >> 2) as u64, t.0 & 3)
}

/// Results received so far for a request.
#[derive(Debug)]
pub(crate) enum Partial {
    Text {
        segs: Vec<Segment>,
        /// `segs` as they were when `done` last advanced: (segments, bytes of the last one).
        /// Anything after that is the beginning of an unfinished line.
        committed: (usize, usize),
    },
    Numbers {
        results: Vec<NumberResult>,
        /// Divisors of the current number, until its last chunk.
        divisors: Vec<u128>,
    },
}

impl Partial {
    /// Drops the output of an unfinished input (a divisor line cut short).
    pub(crate) fn truncate_to_committed(&mut self) {
        if let Self::Text { segs, committed } = self {
            segs.truncate(committed.0);
            if let Some(Segment::Out(v)) = segs.last_mut() {
                v.truncate(committed.1);
            }
        }
    }
}

/// A request sent to a worker and not finished yet.
#[derive(Debug)]
pub(crate) struct InFlight {
    pub id: RequestId,
    pub piece: Piece,
    /// Inputs finished (their results received).
    pub done: u32,
    /// The input the worker said it is working on (>= `done`; the ones between are
    /// finished but their results have not arrived yet).
    pub in_hand: u32,
    /// Bad inputs so far (text requests).
    pub bad: u32,
    pub partial: Partial,
    /// When it became the request the worker is working on.
    pub began: Option<Instant>,
}

/// Where a worker is in its conversation.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Phase {
    /// Hello sent, waiting for the worker's, until the deadline.
    Handshake { deadline: Instant },
    /// Serving requests.
    Ready,
}

/// A running worker.
#[derive(Debug)]
pub(crate) struct Conn {
    pub generation: u64,
    pub child: Child,
    stdin: Option<pipe::Sender>,
    stdout: Option<pipe::Receiver>,
    /// Encoded frames not yet written, from `out_pos`.
    out: Vec<u8>,
    out_pos: usize,
    /// Bytes received, not yet taken as frames, from `in_pos`.
    inb: Vec<u8>,
    in_pos: usize,
    pub phase: Phase,
    pub in_flight: VecDeque<InFlight>,
    /// When the input in hand (of the first request) was first seen in hand: the request
    /// began, or a result or [`Working`](shared::Response::Working) frame moved it on.
    pub head_since: Instant,
    /// When bytes last came from the worker, or it was last given work while idle: a worker
    /// holding work reports at least every [`PROGRESS_INTERVAL_MS`](shared::PROGRESS_INTERVAL_MS),
    /// so long silence means it (or its host, or the link) is gone.
    pub heard: Instant,
    /// The worker's `software` (from its hello).
    pub software: String,
    /// Standard output reached end of file.
    pub eof: bool,
    /// Total inputs sent and not yet finished (for picking the least loaded worker).
    pub load: u64,
}

/// Size of one read from a worker.
const READ_CHUNK: usize = 256 * 1024;

impl Conn {
    /// Starts worker `slot`, registers its pipes and exit with `registry`, and queues our hello.
    pub(crate) fn spawn(
        slot: usize,
        generation: u64,
        launch: &dyn Launch,
        registry: &Registry,
        hello: &[u8],
        deadline: Instant,
    ) -> Result<Self, Lost> {
        let mut cmd = launch
            .command(slot)
            .map_err(|e| Lost::Spawn(format!("cannot build the worker's command: {e}")))?;
        cmd.stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .kill_on_parent_death(true);
        let mut child = cmd.spawn().map_err(|e| Lost::Spawn(e.to_string()))?;
        let io_lost = |what: &str, e: io::Error| Lost::Io(format!("{what}: {e}"));
        let (Some(w), Some(r)) = (child.take_stdin(), child.take_stdout()) else {
            unreachable!("both streams were asked to be pipes")
        };
        pipes::enlarge(&w);
        pipes::enlarge(&r);
        let mut stdin = pipe::Sender::from(OwnedFd::from(w));
        let mut stdout = pipe::Receiver::from(OwnedFd::from(r));
        stdin
            .set_nonblocking(true)
            .map_err(|e| io_lost("set_nonblocking", e))?;
        stdout
            .set_nonblocking(true)
            .map_err(|e| io_lost("set_nonblocking", e))?;
        registry
            .register(&mut stdout, token(generation, OUT), Interest::READABLE)
            .map_err(|e| io_lost("epoll register", e))?;
        registry
            .register(&mut stdin, token(generation, IN), Interest::WRITABLE)
            .map_err(|e| io_lost("epoll register", e))?;
        if let Some(fd) = child.pidfd() {
            let raw = fd.as_raw_fd();
            registry
                .register(
                    &mut SourceFd(&raw),
                    token(generation, EXIT),
                    Interest::READABLE,
                )
                .map_err(|e| io_lost("epoll register", e))?;
        }
        let mut conn = Self {
            generation,
            child,
            stdin: Some(stdin),
            stdout: Some(stdout),
            out: Vec::with_capacity(hello.len()),
            out_pos: 0,
            inb: Vec::new(),
            in_pos: 0,
            phase: Phase::Handshake { deadline },
            in_flight: VecDeque::new(),
            head_since: Instant::now(),
            heard: Instant::now(),
            software: String::new(),
            eof: false,
            load: 0,
        };
        conn.out.extend_from_slice(hello);
        conn.flush()
            .map_err(|e| io_lost("cannot send the hello", e))?;
        Ok(conn)
    }

    /// The worker's pid.
    pub(crate) fn pid(&self) -> u32 {
        self.child.pid()
    }

    /// Appends one request frame to the outgoing bytes (sent by [`Conn::flush`]).
    pub(crate) fn queue(&mut self, request: &Request) -> Result<(), FrameError> {
        encode_frame_into(request, &mut self.out)
    }

    /// Writes as much of the outgoing bytes as the pipe takes now. `Ok` also when the pipe
    /// is full (the rest goes on the next writable event).
    ///
    /// # Errors
    /// The write error, `BrokenPipe` when the worker closed its stdin (it is gone or going).
    pub(crate) fn flush(&mut self) -> io::Result<()> {
        let Some(stdin) = self.stdin.as_mut() else {
            return Ok(());
        };
        while self.out_pos < self.out.len() {
            match stdin.write(&self.out[self.out_pos..]) {
                Ok(0) => return Err(io::ErrorKind::WriteZero.into()),
                Ok(n) => self.out_pos += n,
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => return Ok(()),
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(e) => return Err(e),
            }
        }
        self.out.clear();
        self.out_pos = 0;
        if self.out.capacity() > 4 << 20 {
            self.out.shrink_to(1 << 20);
        }
        Ok(())
    }

    /// Reads what the worker has written, until the pipe is empty (edge-triggered events
    /// need that). Sets [`Conn::eof`] at end of file.
    ///
    /// # Errors
    /// A read error other than `WouldBlock`.
    pub(crate) fn fill(&mut self) -> io::Result<()> {
        let Some(stdout) = self.stdout.as_mut() else {
            return Ok(());
        };
        // Drop what was consumed before reading more.
        if self.in_pos > 0 {
            self.inb.drain(..self.in_pos);
            self.in_pos = 0;
        }
        if self.inb.is_empty() && self.inb.capacity() > 4 * READ_CHUNK {
            self.inb = Vec::new();
        }
        loop {
            match sys::read_into_spare(stdout.as_fd(), &mut self.inb, READ_CHUNK) {
                Ok(0) => {
                    self.eof = true;
                    return Ok(());
                }
                Ok(_) => {
                    self.heard = Instant::now();
                    // Stop to let the caller take frames before the buffer grows further;
                    // it calls again while `may_have_more` (edge-triggered: no new event).
                    if self.inb.len() >= 4 * READ_CHUNK {
                        return Ok(());
                    }
                }
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => return Ok(()),
                Err(e) => return Err(e),
            }
        }
    }

    /// True if [`Conn::fill`] stopped early with data possibly left in the pipe.
    pub(crate) fn may_have_more(&self) -> bool {
        !self.eof && self.inb.len() >= 4 * READ_CHUNK
    }

    /// The next complete frame's body, if one has arrived.
    ///
    /// # Errors
    /// [`FrameError::Oversized`] for a header announcing more than [`MAX_FRAME_LEN`] (text
    /// written by mistake, usually), checked before the body is waited for.
    pub(crate) fn next_frame(&mut self) -> Result<Option<&[u8]>, FrameError> {
        let avail = &self.inb[self.in_pos..];
        if avail.len() < HEADER_LEN {
            return Ok(None);
        }
        let header: [u8; HEADER_LEN] = avail[..HEADER_LEN]
            .try_into()
            .expect("slice of HEADER_LEN bytes");
        let len = u32::from_le_bytes(header);
        if len > MAX_FRAME_LEN {
            return Err(FrameError::Oversized {
                len,
                max: MAX_FRAME_LEN,
                header,
            });
        }
        let end = HEADER_LEN + len as usize;
        if avail.len() < end {
            return Ok(None);
        }
        let start = self.in_pos + HEADER_LEN;
        self.in_pos += end;
        Ok(Some(&self.inb[start..start + len as usize]))
    }

    /// Bytes received that do not form a complete frame (after end of file: a truncated one).
    pub(crate) fn leftover(&self) -> usize {
        self.inb.len() - self.in_pos
    }

    /// The first bytes received and not yet taken, for messages about garbage.
    pub(crate) fn leftover_prefix(&self) -> &[u8] {
        let rest = &self.inb[self.in_pos..];
        &rest[..rest.len().min(32)]
    }

    /// Closes the worker's stdin: a worker ends when its input ends.
    pub(crate) fn close_stdin(&mut self, registry: &Registry) {
        if let Some(mut s) = self.stdin.take() {
            let _ = registry.deregister(&mut s);
        }
    }

    /// Stops watching the worker's fds (before it is dropped or replaced).
    pub(crate) fn deregister(&mut self, registry: &Registry) {
        self.close_stdin(registry);
        if let Some(mut s) = self.stdout.take() {
            let _ = registry.deregister(&mut s);
        }
        if let Some(fd) = self.child.pidfd() {
            let raw = fd.as_raw_fd();
            let _ = registry.deregister(&mut SourceFd(&raw));
        }
    }
}
