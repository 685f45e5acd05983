//! Reading one output pipe without blocking: into a capture buffer with a cap, or handing
//! each chunk to the caller as it comes. Shared by [`Communicate`](crate::Communicate) and the
//! [`Supervisor`](crate::supervisor::Supervisor).

use std::io;
use std::os::fd::AsFd;

use crate::pipes::PipeReader;
use crate::sys;

/// Largest single read.
pub(crate) const IO_CHUNK: usize = 1 << 20;

/// One captured stream.
#[derive(Debug, Default, Clone)]
pub(crate) struct Captured {
    pub(crate) data: Vec<u8>,
    pub(crate) dropped: u64,
}

/// Where the bytes go.
#[derive(Debug)]
enum Mode {
    /// Kept, up to `cap` bytes; the rest is read and counted as dropped.
    Capture { cap: usize, out: Captured },
    /// Handed to the caller chunk by chunk.
    Deliver,
}

/// Our end of one output pipe, set non-blocking.
#[derive(Debug)]
pub(crate) struct Sink {
    reader: Option<PipeReader>,
    mode: Mode,
}

impl Sink {
    /// Captures into memory, keeping at most `cap` bytes (`None`: no cap).
    pub(crate) fn capture(reader: Option<PipeReader>, cap: Option<usize>) -> Self {
        Self::new(
            reader,
            Mode::Capture {
                cap: cap.unwrap_or(usize::MAX),
                out: Captured::default(),
            },
        )
    }

    /// Hands every chunk read to the `deliver` callback of [`Sink::service`].
    pub(crate) fn deliver(reader: Option<PipeReader>) -> Self {
        Self::new(reader, Mode::Deliver)
    }

    fn new(reader: Option<PipeReader>, mode: Mode) -> Self {
        if let Some(r) = &reader {
            let _ = sys::set_nonblocking(r.as_fd(), true);
        }
        Self { reader, mode }
    }

    /// The pipe, while it is open.
    pub(crate) fn reader(&self) -> Option<&PipeReader> {
        self.reader.as_ref()
    }

    /// True while the pipe is open.
    pub(crate) fn is_open(&self) -> bool {
        self.reader.is_some()
    }

    /// Stops reading: closes our end (whatever still holds the other end gets EPIPE).
    pub(crate) fn close(&mut self) -> Option<PipeReader> {
        self.reader.take()
    }

    /// What was captured (empty in deliver mode), leaving an empty capture behind.
    pub(crate) fn take_captured(&mut self) -> Captured {
        match &mut self.mode {
            Mode::Capture { out, .. } => std::mem::take(out),
            Mode::Deliver => Captured::default(),
        }
    }

    /// Reads everything available now (until the pipe would block). At end of file the
    /// reader is taken out of the sink and returned, so the caller can unregister it before
    /// it is closed. `scratch` is a reusable buffer for delivered or dropped bytes.
    ///
    /// # Errors
    /// A read error other than "would block"; the reader is closed then.
    pub(crate) fn service(
        &mut self,
        scratch: &mut Vec<u8>,
        deliver: &mut dyn FnMut(&[u8]),
    ) -> io::Result<Option<PipeReader>> {
        loop {
            let Some(r) = &self.reader else {
                return Ok(None);
            };
            let res = match &mut self.mode {
                Mode::Capture { cap, out } => {
                    let room = cap.saturating_sub(out.data.len());
                    if room > 0 {
                        if out.data.capacity() - out.data.len() < 64 * 1024 {
                            // Grow geometrically, but never past the cap.
                            let want = out.data.len().max(64 * 1024).min(room);
                            out.data.reserve(want);
                        }
                        let max = (out.data.capacity() - out.data.len())
                            .min(room)
                            .min(IO_CHUNK);
                        sys::read_into_spare(r.as_fd(), &mut out.data, max)
                    } else {
                        scratch.clear();
                        let n = sys::read_into_spare(r.as_fd(), scratch, IO_CHUNK);
                        if let Ok(n) = n {
                            out.dropped += n as u64;
                        }
                        n
                    }
                }
                Mode::Deliver => {
                    scratch.clear();
                    let n = sys::read_into_spare(r.as_fd(), scratch, 64 * 1024);
                    if let Ok(n) = n
                        && n > 0
                    {
                        deliver(&scratch[..n]);
                    }
                    n
                }
            };
            match res {
                Ok(0) => return Ok(self.reader.take()),
                Ok(_) => continue,
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => return Ok(None),
                Err(e) => {
                    self.reader = None;
                    return Err(e);
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Write;

    #[test]
    fn capture_keeps_up_to_the_cap_and_counts_the_rest() {
        let (r, mut w) = crate::pipes::pipe().unwrap();
        let mut s = Sink::capture(Some(r), Some(5));
        w.write_all(b"hello world").unwrap();
        drop(w);
        let mut scratch = Vec::new();
        let eof = s.service(&mut scratch, &mut |_| {}).unwrap();
        assert!(eof.is_some());
        assert!(!s.is_open());
        let c = s.take_captured();
        assert_eq!(c.data, b"hello");
        assert_eq!(c.dropped, 6);
    }

    #[test]
    fn deliver_hands_chunks_over_and_stops_when_the_pipe_is_empty() {
        let (r, mut w) = crate::pipes::pipe().unwrap();
        let mut s = Sink::deliver(Some(r));
        w.write_all(b"abc").unwrap();
        let mut got = Vec::new();
        let mut scratch = Vec::new();
        let eof = s
            .service(&mut scratch, &mut |d| got.extend_from_slice(d))
            .unwrap();
        assert!(eof.is_none(), "the writer is still open");
        assert_eq!(got, b"abc");
        drop(w);
        assert!(s.service(&mut scratch, &mut |_| {}).unwrap().is_some());
    }
}
