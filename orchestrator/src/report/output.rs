//! Jobs' output on our stdout and stderr: grouped, line-buffered, tagged, in input order.
//!
//! * **Grouped** (default): a job's stdout and stderr are held until it finishes, then
//!   printed whole (stdout to stdout, stderr to stderr), so jobs never interleave.
//! * **Line-buffered** (`--line-buffer`): whole lines are printed as they come; a job's
//!   unfinished last line waits (up to 64 KiB, and a quarter of the memory budget for all
//!   jobs together) so lines of different jobs never mix.
//! * **Tagged** (`--tag`): every line starts with the job's input (or number) and a tab.
//! * **In order** (`-k`): jobs are printed in input order. Grouped, a finished job waits for
//!   the ones before it; line-buffered, the oldest unfinished job prints live and the others
//!   wait (as GNU parallel does).
//! * **JSON** (`--json`): one JSON line per job instead, its output inside.
//!
//! Held output lives in [`Buffered`] buffers: in memory up to a
//! run-wide budget (16 MiB), then spilled to unnamed temporary files — bounded memory, and a
//! job is never blocked on its pipe.

use std::collections::{BTreeMap, HashMap};
use std::io::{self, BufWriter, Write};

use super::JobReport;
use super::buffer::{Budget, Buffered};
use super::json;
use crate::supervisor::Stream;

/// A line longer than this is printed in pieces in line-buffered mode.
pub const MAX_PARTIAL_LINE: usize = 64 * 1024;

/// Grouped or line-buffered.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Mode {
    /// A job's output printed whole when it finishes.
    #[default]
    Group,
    /// Whole lines printed as they come.
    Line,
}

/// How jobs' output is shown.
#[derive(Debug, Clone, Copy, Default)]
pub struct OutputOptions {
    /// Grouped or line-buffered.
    pub mode: Mode,
    /// In input order.
    pub keep_order: bool,
    /// Prefix lines with the job's tag.
    pub tag: bool,
    /// One JSON record per job instead of raw output.
    pub json: bool,
    /// In-memory budget for held output (bytes).
    pub memory_budget: usize,
}

#[derive(Debug)]
struct StreamBuf {
    held: Buffered,
    partial: Vec<u8>,
    line_start: bool,
}

impl Default for StreamBuf {
    fn default() -> Self {
        Self {
            held: Buffered::default(),
            partial: Vec::new(),
            line_start: true,
        }
    }
}

#[derive(Debug, Default)]
struct JobOut {
    tag: Option<Vec<u8>>,
    streams: [StreamBuf; 2],
    /// Printing as it comes (line-buffered, in order, oldest unfinished job).
    live: bool,
}

/// What is printed after a job's output when it finishes.
#[derive(Debug, Default)]
pub struct Ending {
    /// The job's record (printed as JSON in JSON mode).
    pub report: Option<JobReport>,
    /// A note for stderr (`job 3 failed: exit code 1`), printed after its output.
    pub note: Option<String>,
}

/// Routes every job's output to our stdout and stderr (see the module docs).
pub struct OutputManager {
    opts: OutputOptions,
    budget: Budget,
    jobs: HashMap<u64, JobOut>,
    waiting: BTreeMap<u64, Ending>,
    next: u64,
    /// Bytes of unfinished lines held (line-buffered mode).
    partial_total: usize,
    out: BufWriter<Box<dyn Write>>,
    err: BufWriter<Box<dyn Write>>,
    broken: Option<io::Error>,
}

impl std::fmt::Debug for OutputManager {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("OutputManager")
            .field("opts", &self.opts)
            .field("jobs", &self.jobs.len())
            .field("waiting", &self.waiting.len())
            .field("next", &self.next)
            .finish()
    }
}

fn idx(s: Stream) -> usize {
    match s {
        Stream::Stdout => 0,
        Stream::Stderr => 1,
    }
}

impl OutputManager {
    /// Writes to `out` and `err` (normally our stdout and stderr). Job numbers start at 1.
    pub fn new(opts: OutputOptions, out: Box<dyn Write>, err: Box<dyn Write>) -> Self {
        Self {
            opts,
            budget: Budget::new(opts.memory_budget),
            jobs: HashMap::new(),
            waiting: BTreeMap::new(),
            next: 1,
            partial_total: 0,
            out: BufWriter::with_capacity(64 * 1024, out),
            err: BufWriter::with_capacity(16 * 1024, err),
            broken: None,
        }
    }

    /// The first error writing our stdout (e.g. EPIPE: the reader went away).
    pub fn broken(&self) -> Option<&io::Error> {
        self.broken.as_ref()
    }

    /// The first failure to spill held output to a file (for a warning), once.
    pub fn take_spill_failure(&mut self) -> Option<io::Error> {
        self.budget.take_spill_failure()
    }

    /// Bytes of held output in memory now.
    pub fn memory_used(&self) -> usize {
        self.budget.used()
    }

    /// Job `seq` starts (or starts again); `tag` prefixes its lines with `--tag`.
    pub fn begin(&mut self, seq: u64, tag: Option<Vec<u8>>) {
        let live = self.opts.keep_order && self.opts.mode == Mode::Line && !self.opts.json;
        let next = self.next;
        self.jobs.entry(seq).or_insert_with(|| JobOut {
            tag: if self.opts.tag { tag } else { None },
            live: live && seq == next,
            ..JobOut::default()
        });
    }

    /// A chunk of job `seq`'s output.
    pub fn data(&mut self, seq: u64, stream: Stream, data: &[u8]) {
        let Some(job) = self.jobs.get_mut(&seq) else {
            return;
        };
        let s = &mut job.streams[idx(stream)];
        let w: &mut dyn Write = match stream {
            Stream::Stdout => &mut self.out,
            Stream::Stderr => &mut self.err,
        };
        let tag = job.tag.as_deref();
        let res = if self.opts.json || (self.opts.mode == Mode::Group) {
            s.held.push(data, &mut self.budget);
            Ok(())
        } else if self.opts.keep_order {
            if job.live {
                write_tagged(w, tag, &mut s.line_start, data)
            } else {
                s.held.push(data, &mut self.budget);
                Ok(())
            }
        } else {
            // Line-buffered, any order: whole lines only.
            match data.iter().rposition(|&b| b == b'\n') {
                Some(last) => {
                    let mut r = Ok(());
                    if !s.partial.is_empty() {
                        r = write_tagged(w, tag, &mut s.line_start, &s.partial);
                        self.partial_total -= s.partial.len();
                        s.partial.clear();
                    }
                    let rest = &data[last + 1..];
                    self.partial_total += rest.len();
                    r.and_then(|_| write_tagged(w, tag, &mut s.line_start, &data[..=last]))
                        .map(|_| s.partial.extend_from_slice(rest))
                }
                None => {
                    s.partial.extend_from_slice(data);
                    self.partial_total += data.len();
                    // A long line, or too many unfinished lines held at once: print what there
                    // is (the line is cut) rather than hold it without bound.
                    if s.partial.len() > MAX_PARTIAL_LINE
                        || self.partial_total > self.opts.memory_budget / 4
                    {
                        let r = write_tagged(w, tag, &mut s.line_start, &s.partial);
                        self.partial_total -= s.partial.len();
                        s.partial.clear();
                        r
                    } else {
                        Ok(())
                    }
                }
            }
        };
        if let Err(e) = res
            && stream == Stream::Stdout
        {
            self.broken.get_or_insert(e);
        }
    }

    /// Forgets what job `seq` printed so far (an attempt that will be retried). Output
    /// already printed live stays printed.
    pub fn discard(&mut self, seq: u64) {
        if let Some(job) = self.jobs.get_mut(&seq) {
            for s in &mut job.streams {
                s.held.clear(&mut self.budget);
                self.partial_total -= s.partial.len();
                s.partial.clear();
            }
        }
    }

    /// Job `seq` is finished: print it now, or when its turn comes (`-k`).
    pub fn finish(&mut self, seq: u64, ending: Ending) {
        if !self.opts.keep_order {
            self.emit(seq, ending);
            return;
        }
        self.waiting.insert(seq, ending);
        self.advance();
    }

    /// Job `seq` will not run (`--resume` skipped it): in order mode, its turn passes.
    pub fn skip(&mut self, seq: u64) {
        if self.opts.keep_order {
            self.waiting.insert(seq, Ending::default());
            self.advance();
        }
    }

    /// The run is over: prints every job still waiting, in order.
    pub fn finish_all(&mut self) {
        let waiting = std::mem::take(&mut self.waiting);
        for (seq, ending) in waiting {
            self.emit(seq, ending);
        }
        let left: Vec<u64> = self.jobs.keys().copied().collect();
        for seq in left {
            self.emit(seq, Ending::default());
        }
    }

    /// Writes a line to stderr (a warning or note), after what is already queued.
    pub fn note(&mut self, text: &str) {
        let _ = writeln!(self.err, "orchestrator: {text}");
    }

    /// In order mode: the job number printed next (every earlier one is printed).
    pub fn next_in_order(&self) -> u64 {
        self.next
    }

    /// True if bytes wait in our write buffers.
    pub fn pending(&self) -> bool {
        !self.out.buffer().is_empty() || !self.err.buffer().is_empty()
    }

    /// Pushes buffered bytes out to the real stdout and stderr.
    pub fn flush(&mut self) {
        if let Err(e) = self.out.flush() {
            self.broken.get_or_insert(e);
        }
        let _ = self.err.flush();
    }

    fn advance(&mut self) {
        while let Some(ending) = self.waiting.remove(&self.next) {
            let seq = self.next;
            self.emit(seq, ending);
            self.next += 1;
        }
        // Line-buffered in order: the oldest unfinished job now prints live.
        if self.opts.mode == Mode::Line
            && !self.opts.json
            && let Some(job) = self.jobs.get_mut(&self.next)
            && !job.live
        {
            job.live = true;
            let tag = job.tag.clone();
            for (i, s) in job.streams.iter_mut().enumerate() {
                let w: &mut dyn Write = if i == 0 { &mut self.out } else { &mut self.err };
                let line_start = &mut s.line_start;
                let r = s.held.drain_into(&mut self.budget, &mut |d| {
                    write_tagged(w, tag.as_deref(), line_start, d)
                });
                if let Err(e) = r
                    && i == 0
                {
                    self.broken.get_or_insert(e);
                }
            }
        }
    }

    fn emit(&mut self, seq: u64, ending: Ending) {
        let mut job = self.jobs.remove(&seq).unwrap_or_default();
        if self.opts.json {
            if let Some(r) = &ending.report {
                let [out, err] = &mut job.streams;
                if let Err(e) = json::write_job(
                    &mut self.out,
                    r,
                    &mut out.held,
                    &mut err.held,
                    &mut self.budget,
                ) {
                    self.broken.get_or_insert(e);
                }
            }
        } else {
            let tag = job.tag.clone();
            for (i, s) in job.streams.iter_mut().enumerate() {
                let w: &mut dyn Write = if i == 0 { &mut self.out } else { &mut self.err };
                let line_start = &mut s.line_start;
                let mut r = s.held.drain_into(&mut self.budget, &mut |d| {
                    write_tagged(w, tag.as_deref(), line_start, d)
                });
                if r.is_ok() && !s.partial.is_empty() {
                    r = write_tagged(w, tag.as_deref(), line_start, &s.partial);
                }
                if let Err(e) = r
                    && i == 0
                {
                    self.broken.get_or_insert(e);
                }
            }
        }
        for s in &mut job.streams {
            s.held.clear(&mut self.budget);
            self.partial_total -= s.partial.len();
        }
        if let Some(note) = ending.note {
            self.note(&note);
        }
    }
}

/// Writes `data`, starting each line with `tag` and a tab when there is a tag.
fn write_tagged(
    w: &mut dyn Write,
    tag: Option<&[u8]>,
    line_start: &mut bool,
    data: &[u8],
) -> io::Result<()> {
    if data.is_empty() {
        return Ok(());
    }
    let Some(tag) = tag else {
        *line_start = data.ends_with(b"\n");
        return w.write_all(data);
    };
    let mut rest = data;
    while !rest.is_empty() {
        if *line_start {
            w.write_all(tag)?;
            w.write_all(b"\t")?;
        }
        match rest.iter().position(|&b| b == b'\n') {
            Some(i) => {
                w.write_all(&rest[..=i])?;
                rest = &rest[i + 1..];
                *line_start = true;
            }
            None => {
                w.write_all(rest)?;
                *line_start = false;
                rest = &[];
            }
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::cell::RefCell;
    use std::rc::Rc;

    #[derive(Clone, Default)]
    struct Shared(Rc<RefCell<Vec<u8>>>);
    impl Write for Shared {
        fn write(&mut self, b: &[u8]) -> io::Result<usize> {
            self.0.borrow_mut().extend_from_slice(b);
            Ok(b.len())
        }
        fn flush(&mut self) -> io::Result<()> {
            Ok(())
        }
    }
    impl Shared {
        fn text(&self) -> String {
            String::from_utf8(self.0.borrow().clone()).unwrap()
        }
    }

    fn manager(opts: OutputOptions) -> (OutputManager, Shared, Shared) {
        let (o, e) = (Shared::default(), Shared::default());
        let opts = OutputOptions {
            memory_budget: 1 << 20,
            ..opts
        };
        let m = OutputManager::new(opts, Box::new(o.clone()), Box::new(e.clone()));
        (m, o, e)
    }

    #[test]
    fn grouped_output_is_printed_whole_when_the_job_ends() {
        let (mut m, o, e) = manager(OutputOptions::default());
        m.begin(1, None);
        m.begin(2, None);
        m.data(1, Stream::Stdout, b"one-a ");
        m.data(2, Stream::Stdout, b"two\n");
        m.data(1, Stream::Stderr, b"err1\n");
        m.data(1, Stream::Stdout, b"one-b\n");
        m.finish(2, Ending::default());
        m.finish(
            1,
            Ending {
                report: None,
                note: Some("job 1 failed".into()),
            },
        );
        m.flush();
        assert_eq!(o.text(), "two\none-a one-b\n");
        assert_eq!(e.text(), "err1\norchestrator: job 1 failed\n");
    }

    #[test]
    fn keep_order_waits_for_earlier_jobs() {
        let (mut m, o, _) = manager(OutputOptions {
            keep_order: true,
            ..Default::default()
        });
        for s in 1..=3 {
            m.begin(s, None);
            m.data(s, Stream::Stdout, format!("{s}\n").as_bytes());
        }
        m.finish(3, Ending::default());
        m.finish(2, Ending::default());
        m.flush();
        assert_eq!(o.text(), "");
        m.finish(1, Ending::default());
        m.flush();
        assert_eq!(o.text(), "1\n2\n3\n");
    }

    #[test]
    fn line_buffer_prints_whole_lines_tagged() {
        let (mut m, o, _) = manager(OutputOptions {
            mode: Mode::Line,
            tag: true,
            ..Default::default()
        });
        m.begin(1, Some(b"a".to_vec()));
        m.begin(2, Some(b"b".to_vec()));
        m.data(1, Stream::Stdout, b"x1\nx2-");
        m.data(2, Stream::Stdout, b"y1\n");
        m.flush();
        assert_eq!(o.text(), "a\tx1\nb\ty1\n");
        m.data(1, Stream::Stdout, b"end\nlast");
        m.finish(1, Ending::default());
        m.flush();
        assert_eq!(o.text(), "a\tx1\nb\ty1\na\tx2-end\na\tlast");
    }

    #[test]
    fn line_buffer_in_order_streams_the_oldest_job_and_holds_the_rest() {
        let (mut m, o, _) = manager(OutputOptions {
            mode: Mode::Line,
            keep_order: true,
            ..Default::default()
        });
        m.begin(1, None);
        m.begin(2, None);
        m.data(2, Stream::Stdout, b"second\n");
        m.data(1, Stream::Stdout, b"first ");
        m.flush();
        assert_eq!(o.text(), "first ");
        m.data(1, Stream::Stdout, b"done\n");
        m.finish(1, Ending::default());
        m.flush();
        assert_eq!(o.text(), "first done\nsecond\n");
        m.data(2, Stream::Stdout, b"more\n");
        m.flush();
        assert_eq!(o.text(), "first done\nsecond\nmore\n");
        m.finish(2, Ending::default());
    }

    #[test]
    fn discard_and_skip() {
        let (mut m, o, _) = manager(OutputOptions {
            keep_order: true,
            ..Default::default()
        });
        m.begin(1, None);
        m.data(1, Stream::Stdout, b"attempt 1\n");
        m.discard(1);
        m.data(1, Stream::Stdout, b"attempt 2\n");
        m.begin(3, None);
        m.data(3, Stream::Stdout, b"three\n");
        m.finish(3, Ending::default());
        m.skip(2);
        m.finish(1, Ending::default());
        m.flush();
        assert_eq!(o.text(), "attempt 2\nthree\n");
        assert_eq!(m.memory_used(), 0);
    }

    #[test]
    fn tags_cover_every_line_and_continue_across_chunks() {
        let mut out = Vec::new();
        let mut ls = true;
        write_tagged(&mut out, Some(b"t"), &mut ls, b"a\nb").unwrap();
        write_tagged(&mut out, Some(b"t"), &mut ls, b"c\n\nd\n").unwrap();
        assert_eq!(out, b"t\ta\nt\tbc\nt\t\nt\td\n");
    }
}
