//! The reader side of a run: cuts the input into chunks of about `target` inputs (the loop
//! adapts `target` so a chunk is ~20 ms of work) and sends them through a bounded channel,
//! so a fast producer is held back by a slow pool instead of filling memory.
//!
//! Text is cut only between inputs, never inside one: whitespace-separated tokens (spaces,
//! tabs, newlines: coreutils' `factor` delimiters) or NUL-terminated arguments. The reader
//! counts the inputs of each chunk; the worker counts them the same way and reports progress
//! against that count.
//!
//! Streaming: a chunk is sent as soon as it is full, or, when reading from a file
//! descriptor, as soon as no more input arrives within [`IDLE`] (so a person typing numbers
//! sees each answer at once); reading from a generic [`Read`], after every read.

use std::io::{self, Read};
use std::os::fd::{AsFd, OwnedFd};
use std::sync::Arc;
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::Duration;

use crossbeam_channel::Sender;
use mio::Waker;

use super::work::{Items, is_delim};
use crate::sys;

/// Largest chunk of text, unless one token alone is larger.
pub(crate) const MAX_CHUNK_BYTES: usize = 256 * 1024;

/// Longest token accepted: once the reader holds more than this of one token, it reports
/// the token (its first bytes and its length) instead of sending it to a worker. (A token
/// that ends within the same read, up to 128 KiB later, is still accepted.)
pub const MAX_TOKEN_BYTES: usize = 4 << 20;

/// How long the reader waits for more input before sending a part-filled chunk.
pub(crate) const IDLE: Duration = Duration::from_millis(1);

const READ_SIZE: usize = 128 * 1024;

/// Where the text of a run comes from.
pub enum TextInput {
    /// Each element is one input, taken whole as coreutils takes a command-line argument
    /// (it ends at its first NUL byte, if it has one).
    Args(Vec<Vec<u8>>),
    /// A file descriptor (standard input, a file, a pipe): whitespace-separated inputs,
    /// streamed as they arrive.
    Fd(OwnedFd),
    /// Any reader: whitespace-separated inputs.
    Reader(Box<dyn Read + Send>),
}

impl std::fmt::Debug for TextInput {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Self::Args(a) => f.debug_tuple("Args").field(&a.len()).finish(),
            Self::Fd(fd) => f.debug_tuple("Fd").field(fd).finish(),
            Self::Reader(_) => f.write_str("Reader(..)"),
        }
    }
}

/// Sends chunks, waking the loop after each.
pub(crate) struct Feed {
    pub tx: Sender<Items>,
    pub waker: Arc<Waker>,
    pub target: Arc<AtomicU32>,
}

impl Feed {
    fn target(&self) -> u32 {
        self.target.load(Ordering::Relaxed).max(1)
    }

    /// False once the run no longer wants input.
    fn send(&self, items: Items) -> bool {
        let ok = self.tx.send(items).is_ok();
        let _ = self.waker.wake();
        ok
    }
}

impl Drop for Feed {
    fn drop(&mut self) {
        // The channel closes when `tx` goes: wake the loop to see the end of input.
        let (tx, _) = crossbeam_channel::bounded(0);
        drop(std::mem::replace(&mut self.tx, tx));
        let _ = self.waker.wake();
    }
}

/// Reads `input` to the end (or until the run stops wanting it).
///
/// # Errors
/// The read error (the chunks before it have been sent).
pub(crate) fn read_text(input: TextInput, feed: Feed) -> io::Result<()> {
    match input {
        TextInput::Args(args) => {
            read_args(args, &feed);
            Ok(())
        }
        TextInput::Fd(fd) => {
            let mut file = std::fs::File::from(fd);
            let poll_fd = file.as_fd().try_clone_to_owned()?;
            read_tokens(&mut file, Some(poll_fd), &feed)
        }
        TextInput::Reader(mut r) => read_tokens(&mut r, None, &feed),
    }
}

fn read_args(args: Vec<Vec<u8>>, feed: &Feed) {
    let mut bytes = Vec::new();
    let mut count = 0u32;
    for mut arg in args {
        if let Some(nul) = arg.iter().position(|&b| b == 0) {
            arg.truncate(nul);
        }
        if arg.len() > MAX_TOKEN_BYTES {
            if count > 0
                && !feed.send(Items::Text {
                    bytes: std::mem::take(&mut bytes),
                    count,
                })
            {
                return;
            }
            count = 0;
            let len = arg.len() as u64;
            arg.truncate(64);
            if !feed.send(Items::TooLong { prefix: arg, len }) {
                return;
            }
            continue;
        }
        bytes.extend_from_slice(&arg);
        bytes.push(0);
        count += 1;
        if (count >= feed.target() || bytes.len() >= MAX_CHUNK_BYTES)
            && !feed.send(Items::Text {
                bytes: std::mem::take(&mut bytes),
                count,
            })
        {
            return;
        }
        if bytes.is_empty() {
            count = 0;
        }
    }
    if count > 0 {
        feed.send(Items::Text { bytes, count });
    }
}

/// Cuts whitespace-separated text into chunks.
struct Cutter {
    buf: Vec<u8>,
    /// Bytes of `buf` already scanned.
    scanned: usize,
    /// Complete tokens in `buf[..cut]`.
    count: u32,
    /// End of the last complete token's delimiter.
    cut: usize,
    in_token: bool,
}

impl Cutter {
    fn new() -> Self {
        Self {
            buf: Vec::with_capacity(READ_SIZE * 2),
            scanned: 0,
            count: 0,
            cut: 0,
            in_token: false,
        }
    }

    /// Scans the new bytes, sending every full chunk. False if the run stopped.
    fn scan(&mut self, feed: &Feed) -> bool {
        let mut target = feed.target();
        let mut i = self.scanned;
        while i < self.buf.len() {
            let delim = is_delim(self.buf[i]);
            if delim && self.in_token {
                self.in_token = false;
                self.count += 1;
                self.cut = i + 1;
                if self.count >= target || self.cut >= MAX_CHUNK_BYTES {
                    if !self.send_complete(feed) {
                        return false;
                    }
                    i = 0;
                    target = feed.target();
                    continue;
                }
            } else if !delim {
                self.in_token = true;
            }
            i += 1;
        }
        self.scanned = i;
        true
    }

    /// Sends the complete tokens (if any) and keeps the rest. False if the run stopped.
    fn send_complete(&mut self, feed: &Feed) -> bool {
        if self.count == 0 {
            return true;
        }
        let bytes = self.buf[..self.cut].to_vec();
        let ok = feed.send(Items::Text {
            bytes,
            count: self.count,
        });
        self.buf.drain(..self.cut);
        self.scanned -= self.cut.min(self.scanned);
        self.cut = 0;
        self.count = 0;
        ok
    }

    /// Bytes of the token being read (not yet complete).
    fn open_token_len(&self) -> usize {
        if self.in_token {
            self.buf.len() - self.cut
        } else {
            0
        }
    }
}

fn read_tokens<R: Read + ?Sized>(
    r: &mut R,
    poll_fd: Option<OwnedFd>,
    feed: &Feed,
) -> io::Result<()> {
    let mut c = Cutter::new();
    loop {
        let got = sys_read(r, &mut c.buf)?;
        if got == 0 {
            if !c.scan(feed) {
                return Ok(());
            }
            // End of input: a last token needs no delimiter after it.
            if c.in_token {
                c.count += 1;
                c.cut = c.buf.len();
                c.in_token = false;
            }
            c.send_complete(feed);
            return Ok(());
        }
        // scan() sets `scanned` to the end of the buffer.
        if !c.scan(feed) {
            return Ok(());
        }
        if c.open_token_len() > MAX_TOKEN_BYTES {
            if !c.send_complete(feed) || !skip_long_token(r, &mut c, feed)? {
                return Ok(());
            }
            continue;
        }
        if c.count > 0 {
            let more = match &poll_fd {
                Some(fd) => {
                    let mut fds = [sys::PollFd::readable(fd.as_fd())];
                    sys::poll(&mut fds, Some(IDLE))? > 0
                }
                None => false,
            };
            if !more && !c.send_complete(feed) {
                return Ok(());
            }
        }
    }
}

/// Reads into the spare room of `buf`; 0 at end of input. Retries on EINTR.
fn sys_read<R: Read + ?Sized>(r: &mut R, buf: &mut Vec<u8>) -> io::Result<usize> {
    let len = buf.len();
    buf.resize(len + READ_SIZE, 0);
    loop {
        match r.read(&mut buf[len..]) {
            Ok(n) => {
                buf.truncate(len + n);
                return Ok(n);
            }
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(e) => {
                buf.truncate(len);
                return Err(e);
            }
        }
    }
}

/// The cutter holds only the start of an over-long token: read and drop the rest of it,
/// then report it. Returns false if the run stopped.
fn skip_long_token<R: Read + ?Sized>(r: &mut R, c: &mut Cutter, feed: &Feed) -> io::Result<bool> {
    let prefix = c.buf[..c.buf.len().min(64)].to_vec();
    let mut len = 0u64;
    loop {
        if let Some(end) = c.buf.iter().position(|&b| is_delim(b)) {
            len += end as u64;
            c.buf.drain(..end);
            break;
        }
        len += c.buf.len() as u64;
        c.buf.clear();
        if sys_read(r, &mut c.buf)? == 0 {
            break;
        }
    }
    c.scanned = 0;
    c.cut = 0;
    c.count = 0;
    c.in_token = false;
    Ok(feed.send(Items::TooLong { prefix, len }))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crossbeam_channel::Receiver;

    fn feed(target: u32) -> (Feed, Receiver<Items>) {
        let poll = mio::Poll::new().unwrap();
        let waker = Arc::new(Waker::new(poll.registry(), mio::Token(0)).unwrap());
        let (tx, rx) = crossbeam_channel::unbounded();
        let f = Feed {
            tx,
            waker,
            target: Arc::new(AtomicU32::new(target)),
        };
        (f, rx)
    }

    fn chunks(rx: Receiver<Items>) -> Vec<(String, u32)> {
        rx.iter()
            .map(|i| match i {
                Items::Text { bytes, count } if bytes.len() > 100 => {
                    (format!("<{} bytes>", bytes.len()), count)
                }
                Items::Text { bytes, count } => (String::from_utf8(bytes).unwrap(), count),
                Items::TooLong { len, .. } => (format!("<too long: {len}>"), 1),
                Items::Numbers(_) => unreachable!(),
            })
            .collect()
    }

    #[test]
    fn text_is_cut_between_tokens_by_count() {
        let (f, rx) = feed(2);
        let input: Box<dyn Read + Send> = Box::new(&b" 1 22\t333\n\n4444 55555"[..]);
        read_text(TextInput::Reader(input), f).unwrap();
        assert_eq!(
            chunks(rx),
            [
                (" 1 22\t".into(), 2),
                ("333\n\n4444 ".into(), 2),
                ("55555".into(), 1)
            ]
        );
    }

    #[test]
    fn args_are_nul_terminated_and_cut_at_their_first_nul() {
        let (f, rx) = feed(2);
        let args = vec![b" 12".to_vec(), b"".to_vec(), b"7\x008".to_vec()];
        read_text(TextInput::Args(args), f).unwrap();
        assert_eq!(chunks(rx), [(" 12\0\0".into(), 2), ("7\0".into(), 1)]);
    }

    #[test]
    fn a_token_too_long_to_hold_is_reported_not_kept() {
        let (f, rx) = feed(100);
        let mut text = b"5 ".to_vec();
        let long = MAX_TOKEN_BYTES + READ_SIZE + 10;
        text.extend(std::iter::repeat_n(b'7', long));
        text.extend_from_slice(b"\n6\n");
        read_text(TextInput::Reader(Box::new(io::Cursor::new(text))), f).unwrap();
        assert_eq!(
            chunks(rx),
            [
                ("5 ".into(), 1),
                (format!("<too long: {long}>"), 1),
                ("\n6\n".into(), 1)
            ]
        );
    }
}
