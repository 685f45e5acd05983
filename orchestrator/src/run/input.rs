//! Where jobs come from: a count, or lines streamed from a file or stdin in bounded memory.
//!
//! Lines are read on one helper thread into a bounded channel (1024 lines), so a slow or
//! blocking input (a terminal, a pipe) never stalls the event loop, and a million-line file
//! is never held in memory. The thread wakes the loop when a line lands in an empty channel.

use std::fs::File;
use std::io::{self, BufRead, BufReader, Read, Seek};
use std::thread::JoinHandle;

use crossbeam_channel::{Receiver, TryRecvError, bounded};

use crate::supervisor::Wake;

/// Longest line kept: longer lines become a job that fails with a clear error (the kernel
/// refuses arguments over 128 KiB anyway).
pub const MAX_LINE: usize = 1 << 20;

/// The inputs of a run.
#[derive(Debug)]
pub enum Inputs {
    /// `n` jobs without input.
    Count(u64),
    /// One job per line (or NUL-terminated record) of a file or stdin.
    Lines(LineSource),
}

/// A file or stdin to read job lines from.
pub struct LineSource {
    name: String,
    reader: Box<dyn Read + Send>,
    /// Re-readable regular file: its lines can be counted first (for the progress bar).
    file: Option<File>,
    separator: u8,
}

impl std::fmt::Debug for LineSource {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("LineSource")
            .field("name", &self.name)
            .field("separator", &self.separator)
            .finish()
    }
}

impl LineSource {
    /// Lines of the file at `path`, or of stdin if `path` is `-`.
    ///
    /// # Errors
    /// If the file cannot be opened (the error names it).
    pub fn open(path: &str, separator: u8) -> io::Result<Self> {
        if path == "-" {
            return Ok(Self::from_reader("stdin", io::stdin(), separator));
        }
        let f = File::open(path)
            .map_err(|e| io::Error::new(e.kind(), format!("cannot read `{path}`: {e}")))?;
        let meta = f.metadata()?;
        if meta.is_dir() {
            return Err(io::Error::new(
                io::ErrorKind::InvalidInput,
                format!("cannot read `{path}`: is a directory"),
            ));
        }
        let file = if meta.is_file() {
            f.try_clone().ok()
        } else {
            None
        };
        Ok(Self {
            name: path.to_string(),
            reader: Box::new(f),
            file,
            separator,
        })
    }

    /// Lines of any reader (`name` is used in messages).
    pub fn from_reader(name: &str, reader: impl Read + Send + 'static, separator: u8) -> Self {
        Self {
            name: name.to_string(),
            reader: Box::new(reader),
            file: None,
            separator,
        }
    }

    /// The name used in messages (`stdin` or the path).
    pub fn name(&self) -> &str {
        &self.name
    }
}

/// One input record.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Line {
    /// The bytes, without the separator (cut at [`MAX_LINE`] if `too_long`).
    pub bytes: Vec<u8>,
    /// Its line number (1-based).
    pub number: u64,
    /// The line was longer than [`MAX_LINE`].
    pub too_long: bool,
}

enum Msg {
    Total(u64),
    Line(Line),
    Failed(io::Error),
}

/// What [`Feed::poll_next`] found.
#[derive(Debug)]
pub enum Next {
    /// A job's input (`None` for counted jobs).
    Item(Option<Line>),
    /// Nothing yet: the reader thread will wake the loop.
    Pending,
    /// No more input.
    End,
    /// Reading failed (the message names the input); no more input.
    Failed(io::Error),
}

/// The running input: hands out one job input at a time.
#[derive(Debug)]
pub struct Feed {
    kind: FeedKind,
    total: Option<u64>,
    regular_file: bool,
}

#[derive(Debug)]
enum FeedKind {
    Count {
        left: u64,
    },
    Lines {
        rx: Receiver<Msg>,
        thread: Option<JoinHandle<()>>,
    },
}

impl std::fmt::Debug for Msg {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Msg::Total(n) => write!(f, "Total({n})"),
            Msg::Line(l) => write!(f, "Line({})", l.number),
            Msg::Failed(e) => write!(f, "Failed({e})"),
        }
    }
}

impl Feed {
    /// Starts reading `inputs`; `wake` is called when a line arrives in an empty queue.
    /// With `count_first`, a regular file's lines are counted before streaming (one fast
    /// pass), so [`Feed::total`] is known early (for the progress bar's ETA).
    ///
    /// # Errors
    /// If the reader thread cannot be started.
    pub fn start(inputs: Inputs, wake: Option<Wake>, count_first: bool) -> io::Result<Self> {
        match inputs {
            Inputs::Count(n) => Ok(Self {
                kind: FeedKind::Count { left: n },
                total: Some(n),
                regular_file: false,
            }),
            Inputs::Lines(src) => {
                let regular_file = src.file.is_some();
                let (tx, rx) = bounded::<Msg>(1024);
                let thread = std::thread::Builder::new()
                    .name("orchestrator-input".into())
                    .spawn(move || {
                        read_lines(src, count_first, &tx, wake.as_ref());
                        // The end of input must wake the loop too, after it can be seen:
                        // drop the sender (disconnecting the channel), then wake.
                        drop(tx);
                        if let Some(w) = wake {
                            w.wake();
                        }
                    })?;
                Ok(Self {
                    kind: FeedKind::Lines {
                        rx,
                        thread: Some(thread),
                    },
                    total: None,
                    regular_file,
                })
            }
        }
    }

    /// Number of jobs, once known.
    pub fn total(&self) -> Option<u64> {
        self.total
    }

    /// Counts (and drops) the inputs left, for a run that stopped early: `(n, true)` if that
    /// reached the end of the input. A regular file is read to its end (that always ends);
    /// stdin or a pipe only as far as is available now (it may never end).
    pub fn drain_count(&mut self) -> (u64, bool) {
        let mut n = 0;
        if let FeedKind::Lines { rx, .. } = &self.kind
            && self.regular_file
        {
            while let Ok(msg) = rx.recv() {
                match msg {
                    Msg::Line(_) => n += 1,
                    Msg::Total(_) => {}
                    Msg::Failed(_) => return (n, false),
                }
            }
            return (n, true);
        }
        // Only what is queued now: an endless input (`yes |`) refills the queue as fast as it
        // is emptied.
        let queued = match &self.kind {
            FeedKind::Lines { rx, .. } => rx.len() + 1,
            FeedKind::Count { left } => return (*left, true),
        };
        for _ in 0..queued {
            match self.poll_next() {
                Next::Item(_) => n += 1,
                Next::End => return (n, true),
                Next::Pending | Next::Failed(_) => return (n, false),
            }
        }
        (n, false)
    }

    /// The next job's input, without blocking.
    pub fn poll_next(&mut self) -> Next {
        match &mut self.kind {
            FeedKind::Count { left } => {
                if *left == 0 {
                    Next::End
                } else {
                    *left -= 1;
                    Next::Item(None)
                }
            }
            FeedKind::Lines { rx, thread } => loop {
                match rx.try_recv() {
                    Ok(Msg::Total(n)) => self.total = Some(n),
                    Ok(Msg::Line(l)) => return Next::Item(Some(l)),
                    Ok(Msg::Failed(e)) => return Next::Failed(e),
                    Err(TryRecvError::Empty) => return Next::Pending,
                    Err(TryRecvError::Disconnected) => {
                        if let Some(t) = thread.take() {
                            let _ = t.join();
                        }
                        return Next::End;
                    }
                }
            },
        }
    }
}

fn send(tx: &crossbeam_channel::Sender<Msg>, msg: Msg, wake: Option<&Wake>) -> bool {
    if tx.send(msg).is_err() {
        return false; // the run stopped listening
    }
    // The loop may be asleep only if it found the queue empty: wake it when this message
    // landed in an empty queue.
    if tx.len() <= 1
        && let Some(w) = wake
    {
        w.wake();
    }
    true
}

fn read_lines(
    src: LineSource,
    count_first: bool,
    tx: &crossbeam_channel::Sender<Msg>,
    wake: Option<&Wake>,
) {
    let LineSource {
        name,
        reader,
        file,
        separator,
    } = src;
    let mut reader = reader;
    if count_first && let Some(mut f) = file {
        match count_records(&mut f, separator) {
            Ok(n) => {
                if f.rewind().is_ok() {
                    reader = Box::new(f);
                }
                if !send(tx, Msg::Total(n), wake) {
                    return;
                }
            }
            Err(e) => {
                let _ = send(
                    tx,
                    Msg::Failed(io::Error::new(e.kind(), format!("reading `{name}`: {e}"))),
                    wake,
                );
                return;
            }
        }
    }
    let mut r = BufReader::with_capacity(64 * 1024, reader);
    let mut number = 0u64;
    loop {
        number += 1;
        match read_record(&mut r, separator) {
            Ok(Some((bytes, too_long))) => {
                let line = Line {
                    bytes,
                    number,
                    too_long,
                };
                if !send(tx, Msg::Line(line), wake) {
                    return;
                }
            }
            Ok(None) => return,
            Err(e) => {
                let e = io::Error::new(e.kind(), format!("reading `{name}` line {number}: {e}"));
                let _ = send(tx, Msg::Failed(e), wake);
                return;
            }
        }
    }
}

/// Reads one record (without its separator), keeping at most [`MAX_LINE`] bytes.
/// `Ok(None)` at end of input; a last record without a separator still counts.
fn read_record(r: &mut impl BufRead, sep: u8) -> io::Result<Option<(Vec<u8>, bool)>> {
    let mut out = Vec::new();
    let mut too_long = false;
    let mut any = false;
    loop {
        let buf = match r.fill_buf() {
            Ok(b) => b,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
            Err(e) => return Err(e),
        };
        if buf.is_empty() {
            return Ok(any.then_some((out, too_long)));
        }
        any = true;
        let (chunk, found) = match buf.iter().position(|&b| b == sep) {
            Some(i) => (&buf[..i], Some(i)),
            None => (buf, None),
        };
        let room = MAX_LINE.saturating_sub(out.len());
        if chunk.len() > room {
            too_long = true;
        }
        out.extend_from_slice(&chunk[..chunk.len().min(room)]);
        let used = found.map_or(buf.len(), |i| i + 1);
        r.consume(used);
        if found.is_some() {
            return Ok(Some((out, too_long)));
        }
    }
}

fn count_records(f: &mut File, sep: u8) -> io::Result<u64> {
    let mut buf = vec![0u8; 256 * 1024];
    let mut n = 0u64;
    let mut last = sep;
    loop {
        let got = match f.read(&mut buf) {
            Ok(0) => break,
            Ok(g) => g,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
            Err(e) => return Err(e),
        };
        n += buf[..got].iter().filter(|&&b| b == sep).count() as u64;
        last = buf[got - 1];
    }
    if last != sep {
        n += 1; // a last record without a separator
    }
    Ok(n)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn drain(feed: &mut Feed) -> Vec<Option<Line>> {
        let mut out = Vec::new();
        let t0 = std::time::Instant::now();
        loop {
            match feed.poll_next() {
                Next::Item(l) => out.push(l),
                Next::Pending => {
                    assert!(t0.elapsed().as_secs() < 10, "input never ended");
                    std::thread::sleep(std::time::Duration::from_millis(1));
                }
                Next::End => return out,
                Next::Failed(e) => panic!("{e}"),
            }
        }
    }

    #[test]
    fn lines_are_verbatim_and_numbered() {
        let data = b"a b\n\n  x  \nlast".to_vec();
        let src = LineSource::from_reader("t", std::io::Cursor::new(data), b'\n');
        let mut feed = Feed::start(Inputs::Lines(src), None, false).unwrap();
        let got: Vec<(Vec<u8>, u64)> = drain(&mut feed)
            .into_iter()
            .map(|l| {
                let l = l.unwrap();
                (l.bytes, l.number)
            })
            .collect();
        assert_eq!(
            got,
            vec![
                (b"a b".to_vec(), 1),
                (b"".to_vec(), 2),
                (b"  x  ".to_vec(), 3),
                (b"last".to_vec(), 4)
            ]
        );
    }

    #[test]
    fn nul_separated_and_too_long_records() {
        let mut data = b"one\0two words\0".to_vec();
        data.extend(std::iter::repeat_n(b'z', MAX_LINE + 10));
        data.push(0);
        data.extend_from_slice(b"after\0");
        let src = LineSource::from_reader("t", std::io::Cursor::new(data), 0);
        let mut feed = Feed::start(Inputs::Lines(src), None, false).unwrap();
        let got: Vec<Line> = drain(&mut feed).into_iter().map(Option::unwrap).collect();
        assert_eq!(got.len(), 4);
        assert_eq!(got[1].bytes, b"two words");
        assert!(got[2].too_long);
        assert_eq!(got[2].bytes.len(), MAX_LINE);
        assert_eq!(got[3].bytes, b"after");
        assert!(!got[3].too_long);
    }

    #[test]
    fn a_regular_file_is_counted_first() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("in.txt");
        std::fs::write(&p, "1\n2\n3").unwrap();
        let src = LineSource::open(p.to_str().unwrap(), b'\n').unwrap();
        let mut feed = Feed::start(Inputs::Lines(src), None, true).unwrap();
        assert_eq!(drain(&mut feed).len(), 3);
        assert_eq!(feed.total(), Some(3));
        let e = LineSource::open("/surely/not/here", b'\n').unwrap_err();
        assert!(e.to_string().contains("/surely/not/here"), "{e}");
    }

    #[test]
    fn count_gives_n_empty_items() {
        let mut feed = Feed::start(Inputs::Count(3), None, false).unwrap();
        assert_eq!(drain(&mut feed), vec![None, None, None]);
        assert_eq!(feed.total(), Some(3));
    }
}
