//! Feeding a child (or a pipeline) its input while capturing its output, under a deadline.
//!
//! # Design
//! One thread, one `ppoll` loop over: our end of the stdin pipe (non-blocking writes of up
//! to 1 MiB), our ends of every stdout/stderr pipe (non-blocking reads straight into the
//! capture buffers' spare capacity), and each child's pidfd. Writing and reading happen in
//! the same loop, so no amount of data in either direction can deadlock (the failure mode of
//! "write all of stdin, then read stdout"), and no helper thread is needed per child.
//!
//! # Completion is exit, not end-of-file
//! The loop ends when the children have **exited**. Pipes still open after that are held by
//! something the children left behind (`sleep 30 &`): they are drained for at most
//! [`Communicate::drain_timeout`], then the process group is killed and the outcome says
//! [`leaked`](Outcome::leaked). Python's `communicate()` instead waits for end-of-file and
//! hangs for as long as the grandchild lives (python/cpython#97000).
//!
//! # Deadline
//! At the deadline: SIGTERM (and SIGCONT) to the process group; the children get
//! [`Communicate::grace`] to exit, while their output is still read; then SIGKILL to the
//! group. A zero grace sends SIGKILL at once. Everything is reaped before returning, and the
//! outcome keeps the partial output and says whether TERM sufficed ([`Ending::Terminated`])
//! or KILL was needed ([`Ending::Killed`]).

use std::io::{self, Write};
use std::os::fd::AsFd;
use std::time::{Duration, Instant};

use serde::Serialize;

use crate::child::{Child, Ending};
use crate::error::{Error, ExitError};
use crate::lifecycle::{Lifecycle, StopCause};
use crate::pipes::{self, PipeReader, PipeWriter};
use crate::sink::{Captured, IO_CHUNK, Sink};
use crate::status::ExitStatus;
use crate::sys::{self, Pid, Signal};

/// Default time to keep reading pipes after the children exited (nextest's leak timeout).
pub const DEFAULT_DRAIN_TIMEOUT: Duration = Duration::from_millis(100);
/// Default grace between SIGTERM and SIGKILL.
pub const DEFAULT_GRACE: Duration = Duration::from_secs(2);

/// A set of children sharing one process group, with our ends of their pipes: a single
/// child, or the stages of a pipeline.
#[derive(Debug)]
pub(crate) struct Unit {
    // Pipes first: they must close before the children's Drop kills and reaps them.
    pub(crate) stdin: Option<PipeWriter>,
    pub(crate) stdout: Option<PipeReader>,
    /// One per child, in order.
    pub(crate) stderrs: Vec<Option<PipeReader>>,
    pub(crate) children: Vec<Child>,
    pub(crate) pgid: Pid,
}

impl Unit {
    pub(crate) fn single(mut child: Child) -> Self {
        let (stdin, stdout, stderr) = child.take_pipes();
        // The unit, not the child's reap, settles the group (grace included).
        child.group_managed_elsewhere();
        let pgid = child.pgid() as Pid;
        Self {
            stdin,
            stdout,
            stderrs: vec![stderr],
            children: vec![child],
            pgid,
        }
    }

    /// Pids of the children, in order.
    pub(crate) fn pids(&self) -> Vec<u32> {
        self.children.iter().map(Child::pid).collect()
    }

    /// Signals the whole group. Only called while at least one child is unreaped (a zombie
    /// leader pins the group id) or right after reaping when the group has members.
    pub(crate) fn signal_group(&self, sig: Signal) {
        let _ = sys::killpg(self.pgid, sig);
    }
}

impl Drop for Unit {
    fn drop(&mut self) {
        self.stdin = None;
        self.stdout = None;
        self.stderrs.clear();
        // An unreaped child pins the group id: kill the whole group (stragglers included)
        // before the children's own Drop reaps them.
        if self.children.iter().any(|c| c.status().is_none()) {
            self.signal_group(Signal::Kill);
        }
    }
}

/// Stops [`Communicate`] loops from another thread (a Ctrl-C handler, say).
///
/// [`Cancel::stop`] acts like the deadline passing: SIGTERM to the group, the grace, then
/// SIGKILL; [`Cancel::kill`] sends SIGKILL at once. Every loop given a clone reacts, however
/// many there are: the token is a pipe that turns readable for good.
///
/// ```
/// use orchestrator::{Cancel, Command, Stdio};
/// use std::time::Duration;
/// # fn main() -> Result<(), Box<dyn std::error::Error>> {
/// let cancel = Cancel::new()?;
/// let child = Command::new("sh")
///     .args(["-c", "echo working; exec sleep 1000"])
///     .stdout(Stdio::piped())
///     .spawn()?;
/// // Another thread (a Ctrl-C watcher, a UI) decides to stop it.
/// let stopper = cancel.clone();
/// let t = std::thread::spawn(move || {
///     std::thread::sleep(Duration::from_millis(100));
///     stopper.stop(); // SIGTERM to the group, SIGKILL after the grace
/// });
/// let out = child.communicate().cancel_on(&cancel).run()?;
/// t.join().unwrap();
/// assert!(out.cancelled);
/// assert!(out.timed_out.is_none()); // cancelled is not timed out
/// assert_eq!(out.stdout, b"working\n");
/// assert_eq!(cancel.level(), 1);
/// # Ok(()) }
/// ```
#[derive(Debug, Clone)]
pub struct Cancel(std::sync::Arc<CancelInner>);

#[derive(Debug)]
struct CancelInner {
    /// One pipe per level (stop, kill): a level's pipe turns readable for good when the level
    /// is reached, so a loop watches only the pipe of the next level it has not acted on.
    pipes: [(PipeReader, PipeWriter); 2],
    level: std::sync::atomic::AtomicU8,
}

impl Cancel {
    /// A new, untriggered token.
    ///
    /// # Errors
    /// If a pipe cannot be created (out of file descriptors).
    pub fn new() -> io::Result<Self> {
        let stop = pipes::pipe()?;
        let kill = pipes::pipe()?;
        sys::set_nonblocking(stop.1.as_fd(), true)?;
        sys::set_nonblocking(kill.1.as_fd(), true)?;
        Ok(Self(std::sync::Arc::new(CancelInner {
            pipes: [stop, kill],
            level: std::sync::atomic::AtomicU8::new(0),
        })))
    }

    fn raise(&self, level: u8) {
        use std::sync::atomic::Ordering;
        let before = self.0.level.fetch_max(level, Ordering::SeqCst);
        for l in before..level {
            // One byte that nobody reads: the pipe stays readable for every poller.
            let _ = (&self.0.pipes[usize::from(l)].1).write(&[1]);
        }
    }

    /// Stop gracefully: TERM, grace, KILL.
    pub fn stop(&self) {
        self.raise(1);
    }

    /// Stop now: KILL.
    pub fn kill(&self) {
        self.raise(2);
    }

    /// 0: not triggered, 1: stop, 2: kill.
    pub fn level(&self) -> u8 {
        self.0.level.load(std::sync::atomic::Ordering::SeqCst)
    }

    /// The fd that turns readable when the level after `acted_on` is reached.
    pub(crate) fn fd_after(&self, acted_on: u8) -> Option<std::os::fd::BorrowedFd<'_>> {
        self.0
            .pipes
            .get(usize::from(acted_on))
            .map(|(r, _)| r.as_fd())
    }
}

/// What to feed the child.
type Input = Box<dyn AsRef<[u8]> + Send>;

/// Options for feeding input to and capturing output from a child or a pipeline; obtained
/// from [`Child::communicate`] or [`Pipeline::communicate`](crate::Pipeline), finished
/// with [`Communicate::run`].
///
/// ```
/// use orchestrator::{Command, Ending, Stdio};
/// use std::time::Duration;
/// # fn main() -> Result<(), Box<dyn std::error::Error>> {
/// // A child that never finishes: stopped at the deadline, its partial output kept.
/// let child = Command::new("sh")
///     .args(["-c", "echo started; exec sleep 1000"])
///     .stdout(Stdio::piped())
///     .spawn()?;
/// let out = child.communicate().timeout(Duration::from_millis(200)).run()?;
/// let t = out.timed_out.expect("it timed out");
/// assert_eq!(t.ending, Ending::Terminated); // SIGTERM was enough
/// assert_eq!(out.stdout, b"started\n");
/// # Ok(()) }
/// ```
#[must_use = "nothing happens until `run` is called"]
pub struct Communicate<K = Single> {
    kind: std::marker::PhantomData<K>,
    unit: Unit,
    input: Option<Input>,
    deadline: Option<Instant>,
    timeout: Option<Duration>,
    grace: Duration,
    capture_limit: Option<usize>,
    stderr_limit: Option<usize>,
    drain_timeout: Duration,
    cancel: Option<Cancel>,
}

/// Marker: [`Communicate`] on a single child, whose `run` gives an [`Outcome`].
#[derive(Debug, Clone, Copy)]
pub struct Single;

/// Marker: [`Communicate`] on a pipeline, whose `run` gives a
/// [`PipelineOutcome`](crate::PipelineOutcome).
#[derive(Debug, Clone, Copy)]
pub struct Chain;

impl<K> std::fmt::Debug for Communicate<K> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Communicate")
            .field("unit", &self.unit)
            .field(
                "input_len",
                &self.input.as_ref().map(|i| (**i).as_ref().len()),
            )
            .field("deadline", &self.deadline)
            .field("grace", &self.grace)
            .field("capture_limit", &self.capture_limit)
            .field("drain_timeout", &self.drain_timeout)
            .finish()
    }
}

impl<K> Communicate<K> {
    pub(crate) fn new(unit: Unit) -> Self {
        Self {
            kind: std::marker::PhantomData,
            unit,
            input: None,
            deadline: None,
            timeout: None,
            grace: DEFAULT_GRACE,
            capture_limit: None,
            stderr_limit: None,
            drain_timeout: DEFAULT_DRAIN_TIMEOUT,
            cancel: None,
        }
    }

    /// Bytes to write to the child's stdin (which must be piped); stdin is closed after them.
    /// If the child exits or closes stdin first, the rest is dropped and counted in
    /// [`Outcome::input_unwritten`]. Without input, a piped stdin is closed at once.
    pub fn input<T: AsRef<[u8]> + Send + 'static>(mut self, data: T) -> Self {
        self.input = Some(Box::new(data));
        self
    }

    /// Stop the child this long after `run` is called.
    pub fn timeout(mut self, d: Duration) -> Self {
        self.timeout = Some(d);
        self
    }

    /// Stop the child at this instant.
    pub fn deadline(mut self, at: Instant) -> Self {
        self.deadline = Some(at);
        self
    }

    /// Time between SIGTERM and SIGKILL at the deadline (default 2 s; zero: SIGKILL at once).
    pub fn grace(mut self, d: Duration) -> Self {
        self.grace = d;
        self
    }

    /// Keep at most this many bytes of each captured stream; the rest is read and dropped
    /// (counted in the outcome), so a chatty child can neither block nor exhaust memory.
    pub fn capture_limit(mut self, bytes: usize) -> Self {
        self.capture_limit = Some(bytes);
        self
    }

    /// A different limit for stderr (default: the [`Communicate::capture_limit`]).
    pub fn stderr_capture_limit(mut self, bytes: usize) -> Self {
        self.stderr_limit = Some(bytes);
        self
    }

    /// Stop early when `token` is triggered (see [`Cancel`]); the outcome then says
    /// `cancelled`.
    pub fn cancel_on(mut self, token: &Cancel) -> Self {
        self.cancel = Some(token.clone());
        self
    }

    /// How long to keep reading pipes after the children exited, before killing whatever
    /// still holds them (default 100 ms).
    pub fn drain_timeout(mut self, d: Duration) -> Self {
        self.drain_timeout = d;
        self
    }

    pub(crate) fn run_raw(mut self) -> Result<RawOutcome, Error> {
        let start = Instant::now();
        let deadline = match (self.deadline, self.timeout) {
            (Some(d), Some(t)) => Some(d.min(start + t)),
            (d, t) => d.or_else(|| t.map(|t| start + t)),
        };
        let limits = (self.capture_limit, self.stderr_limit.or(self.capture_limit));
        let mut ex = Exchange::new(&mut self.unit, self.input.take(), limits);
        ex.cancel = self.cancel.take();
        ex.run(
            start,
            deadline,
            self.grace,
            self.drain_timeout,
            self.timeout,
        )
    }
}

impl Communicate<Single> {
    /// Runs the exchange to the end: the child exited (or was stopped at the deadline), its
    /// group is empty, it is reaped.
    ///
    /// # Errors
    /// [`Error::Io`] if a system call on the child fails. A timeout, a non-zero exit or
    /// a signal are not errors here: they are in the [`Outcome`] (see [`Outcome::check`]).
    pub fn run(self) -> Result<Outcome, Error> {
        let raw = self.run_raw()?;
        let mut stages = raw.stages;
        let stage = stages.pop().expect("a single-child unit has one stage");
        Ok(Outcome {
            program: stage.program,
            pid: stage.pid,
            status: stage.status,
            stdout: raw.stdout.data,
            stdout_dropped: raw.stdout.dropped,
            stderr: stage.stderr,
            stderr_dropped: stage.stderr_dropped,
            timed_out: raw.timed_out,
            leaked: raw.leaked,
            cancelled: raw.cancelled,
            input_unwritten: raw.input_unwritten,
            elapsed: raw.elapsed,
        })
    }
}

pub(crate) struct StageResult {
    pub(crate) program: String,
    pub(crate) pid: u32,
    pub(crate) status: ExitStatus,
    pub(crate) stderr: Vec<u8>,
    pub(crate) stderr_dropped: u64,
    pub(crate) running_at_deadline: bool,
}

pub(crate) struct RawOutcome {
    pub(crate) stages: Vec<StageResult>,
    pub(crate) stdout: Captured,
    pub(crate) timed_out: Option<TimedOut>,
    pub(crate) leaked: bool,
    pub(crate) cancelled: bool,
    pub(crate) input_unwritten: usize,
    pub(crate) elapsed: Duration,
}

struct Exchange<'u> {
    unit: &'u mut Unit,
    input: Option<Input>,
    input_pos: usize,
    stdin: Option<PipeWriter>,
    input_unwritten: usize,
    stdout: Sink,
    stderrs: Vec<Sink>,
    scratch: Vec<u8>,
    cancel: Option<Cancel>,
}

impl<'u> Exchange<'u> {
    fn new(unit: &'u mut Unit, input: Option<Input>, caps: (Option<usize>, Option<usize>)) -> Self {
        let stdin = unit.stdin.take();
        if let Some(w) = &stdin {
            let _ = sys::set_nonblocking(w.as_fd(), true);
            if input
                .as_ref()
                .is_some_and(|i| (**i).as_ref().len() > 64 * 1024)
            {
                pipes::enlarge(w);
            }
        }
        let stdout = Sink::capture(unit.stdout.take(), caps.0);
        if let Some(r) = stdout.reader()
            && input
                .as_ref()
                .is_some_and(|i| (**i).as_ref().len() > 64 * 1024)
        {
            // Bulk in usually means bulk out: fewer, larger transfers.
            pipes::enlarge(r);
        }
        let stderrs = unit
            .stderrs
            .iter_mut()
            .map(|e| Sink::capture(e.take(), caps.1))
            .collect();
        let mut ex = Self {
            unit,
            input,
            input_pos: 0,
            stdin,
            input_unwritten: 0,
            stdout,
            stderrs,
            scratch: Vec::new(),
            cancel: None,
        };
        if ex.input.is_none() {
            ex.stdin = None; // nothing to say: EOF at once
        }
        ex
    }

    fn input_len(&self) -> usize {
        self.input.as_ref().map_or(0, |i| (**i).as_ref().len())
    }

    /// Writes as much input as the pipe takes now.
    fn service_stdin(&mut self) {
        loop {
            let (Some(w), Some(input)) = (&mut self.stdin, &self.input) else {
                return;
            };
            let data = (**input).as_ref();
            if self.input_pos >= data.len() {
                self.stdin = None; // all written: EOF
                return;
            }
            let end = (self.input_pos + IO_CHUNK).min(data.len());
            match w.write(&data[self.input_pos..end]) {
                Ok(n) => self.input_pos += n,
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => return,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(_) => {
                    // EPIPE: the child closed its stdin (or exited). Not an error: it simply
                    // did not want the rest.
                    self.input_unwritten = data.len() - self.input_pos;
                    self.stdin = None;
                    return;
                }
            }
        }
    }

    fn pipes_open(&self) -> bool {
        self.stdout.is_open() || self.stderrs.iter().any(Sink::is_open)
    }

    fn service_outputs(&mut self, ready: &[bool]) {
        // `ready` follows the order of `poll_set`: stdout, then stderrs.
        let mut i = 0;
        if self.stdout.is_open() {
            if ready[i] {
                let _ = self.stdout.service(&mut self.scratch, &mut |_| {});
            }
            i += 1;
        }
        for s in &mut self.stderrs {
            if s.is_open() {
                if ready[i] {
                    let _ = s.service(&mut self.scratch, &mut |_| {});
                }
                i += 1;
            }
        }
    }

    /// Reads whatever is already buffered in the pipes, without waiting.
    fn drain_now(&mut self) {
        let _ = self.stdout.service(&mut self.scratch, &mut |_| {});
        for s in &mut self.stderrs {
            let _ = s.service(&mut self.scratch, &mut |_| {});
        }
    }

    fn all_exited(&self) -> Result<bool, Error> {
        for c in &self.unit.children {
            if !c.peek_exited()? {
                return Ok(false);
            }
        }
        Ok(true)
    }

    fn run(
        &mut self,
        start: Instant,
        deadline: Option<Instant>,
        grace: Duration,
        drain_timeout: Duration,
        timeout: Option<Duration>,
    ) -> Result<RawOutcome, Error> {
        let mut life = Lifecycle::new(deadline, grace, drain_timeout);
        let mut running_at_deadline: Vec<bool> = vec![false; self.unit.children.len()];
        let mut backoff = Duration::from_millis(1);
        let has_pidfds = self.unit.children.iter().all(|c| c.pidfd().is_some());

        let mut cancel_acted = 0u8;
        self.service_stdin();
        let mut leaked = loop {
            let now = Instant::now();
            let level = self.cancel.as_ref().map_or(0, Cancel::level);
            if level > cancel_acted {
                let signals = if level >= 2 {
                    life.request_kill(now)
                } else {
                    life.request_stop(now, grace)
                };
                for (i, c) in self.unit.children.iter().enumerate() {
                    running_at_deadline[i] |= !c.peek_exited()?;
                }
                for sig in signals {
                    self.unit.signal_group(sig);
                }
                cancel_acted = level;
            }
            if life.exited_at().is_none() && self.all_exited()? {
                life.exited(now);
                // The children are gone: nobody will read the rest of the input.
                if self.stdin.is_some() {
                    self.input_unwritten = self.input_len() - self.input_pos;
                    self.stdin = None;
                }
            }
            let step = life.advance(now, self.pipes_open());
            if step.deadline_hit {
                for (i, c) in self.unit.children.iter().enumerate() {
                    running_at_deadline[i] = !c.peek_exited()?;
                }
            }
            for sig in step.signals {
                self.unit.signal_group(sig);
            }
            if let Some(leaked) = step.finished {
                break leaked;
            }
            // Sleep until something happens or the next time limit.
            let mut wait = life.next_wake().map(|w| w.saturating_duration_since(now));
            let running = life.exited_at().is_none();
            if !has_pidfds && running {
                wait = Some(wait.map_or(backoff, |w| w.min(backoff)));
                backoff = (backoff * 2).min(Duration::from_millis(50));
            }
            self.poll_once(wait, running, cancel_acted)?;
        };
        let term_at = life.stopped().map(|(t, _)| t);
        let cancelled = life
            .stopped()
            .is_some_and(|(_, cause)| cause == StopCause::Request);
        let mut killed = life.killed();

        // Settle the group. If pipes are still held, something in (or escaped from) the group
        // holds them: kill the group while our unreaped leader still pins its id.
        if leaked {
            self.unit.signal_group(Signal::Kill);
            killed = killed || term_at.is_some();
        }
        self.drain_now();
        let mut stages = Vec::with_capacity(self.unit.children.len());
        for c in &self.unit.children {
            let status = c.wait()?;
            leaked |= c.leaked();
            stages.push(status);
        }
        // All our children are reaped. A group that still has members was left behind; if
        // we are in a grace period, give them the rest of it first.
        if let Some(t) = term_at
            && !killed
        {
            let limit = Some(t + grace);
            let mut nap = Duration::from_millis(1);
            while sys::group_has_live_members(self.unit.pgid) {
                if limit.is_some_and(|l| Instant::now() >= l) {
                    self.unit.signal_group(Signal::Kill);
                    killed = true;
                    break;
                }
                std::thread::sleep(nap);
                nap = (nap * 2).min(Duration::from_millis(10));
            }
        } else if sys::group_has_live_members(self.unit.pgid) {
            leaked = true;
            self.unit.signal_group(Signal::Kill);
        }
        self.drain_now();
        // Close whatever is still open: an escaped process may hold it, we no longer wait.
        self.stdout.close();

        let timed_out = term_at.filter(|_| !cancelled).map(|t| TimedOut {
            after: timeout.unwrap_or_else(|| t.saturating_duration_since(start)),
            ending: if killed {
                Ending::Killed
            } else {
                Ending::Terminated
            },
            stop_took: Instant::now().saturating_duration_since(t),
        });
        let stdout = self.stdout.take_captured();
        let results = self
            .unit
            .children
            .iter()
            .zip(stages)
            .zip(self.stderrs.iter_mut())
            .zip(running_at_deadline)
            .map(|(((c, status), sink), running)| {
                sink.close();
                let err = sink.take_captured();
                StageResult {
                    program: c.program().to_string(),
                    pid: c.pid(),
                    status,
                    stderr: err.data,
                    stderr_dropped: err.dropped,
                    running_at_deadline: running,
                }
            })
            .collect();
        Ok(RawOutcome {
            stages: results,
            stdout,
            timed_out,
            leaked,
            cancelled,
            input_unwritten: self.input_unwritten,
            elapsed: start.elapsed(),
        })
    }

    /// One `ppoll` over stdin, the output pipes and (while they run) the pidfds, then
    /// services what is ready.
    fn poll_once(
        &mut self,
        wait: Option<Duration>,
        watch_exits: bool,
        cancel_acted: u8,
    ) -> Result<(), Error> {
        let mut fds = Vec::with_capacity(3 + self.stderrs.len() + self.unit.children.len());
        let stdin_watched = self.stdin.is_some();
        if let Some(w) = &self.stdin {
            fds.push(sys::PollFd::writable(w.as_fd()));
        }
        let mut n_outputs = 0;
        if let Some(r) = self.stdout.reader() {
            fds.push(sys::PollFd::readable(r.as_fd()));
            n_outputs += 1;
        }
        for s in &self.stderrs {
            if let Some(r) = s.reader() {
                fds.push(sys::PollFd::readable(r.as_fd()));
                n_outputs += 1;
            }
        }
        if let Some(fd) = self
            .cancel
            .as_ref()
            .filter(|_| watch_exits)
            .and_then(|c| c.fd_after(cancel_acted))
        {
            fds.push(sys::PollFd::readable(fd));
        }
        if watch_exits {
            for c in &self.unit.children {
                if let Some(p) = c.pidfd() {
                    fds.push(sys::PollFd::readable(p));
                }
            }
        }
        let n = sys::poll(&mut fds, wait).map_err(|e| Error::Io {
            what: "poll",
            program: self
                .unit
                .children
                .first()
                .map(|c| c.program().to_string())
                .unwrap_or_default(),
            pid: self.unit.pgid,
            source: e,
        })?;
        if n == 0 {
            return Ok(());
        }
        let off = usize::from(stdin_watched);
        let stdin_ready = stdin_watched && fds[0].is_ready();
        let ready: Vec<bool> = fds[off..off + n_outputs]
            .iter()
            .map(|f| f.is_ready())
            .collect();
        drop(fds);
        if stdin_ready {
            self.service_stdin();
        }
        self.service_outputs(&ready);
        Ok(())
    }
}

/// How a run that hit its deadline was stopped.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub struct TimedOut {
    /// The timeout that expired.
    pub after: Duration,
    /// Whether SIGTERM sufficed or SIGKILL was needed.
    pub ending: Ending,
    /// From the first signal to the group being empty and every child reaped.
    pub stop_took: Duration,
}

/// What happened to a child run through [`Communicate::run`].
#[derive(Debug, Clone)]
pub struct Outcome {
    /// The program.
    pub program: String,
    /// Its pid (already reaped: do not signal it).
    pub pid: u32,
    /// How it ended.
    pub status: ExitStatus,
    /// Captured stdout (empty if stdout was not piped).
    pub stdout: Vec<u8>,
    /// Bytes of stdout read past the capture limit and dropped.
    pub stdout_dropped: u64,
    /// Captured stderr (empty if stderr was not piped).
    pub stderr: Vec<u8>,
    /// Bytes of stderr read past the capture limit and dropped.
    pub stderr_dropped: u64,
    /// Set if the deadline passed and the child was stopped.
    pub timed_out: Option<TimedOut>,
    /// Something outlived the child in its process group or held its pipes after it exited,
    /// and was killed.
    pub leaked: bool,
    /// Stopped early through a [`Cancel`] token.
    pub cancelled: bool,
    /// Input bytes not written because the child stopped reading.
    pub input_unwritten: usize,
    /// From `run` to the end.
    pub elapsed: Duration,
}

impl Outcome {
    /// `Ok(self)` if the child exited 0 within its deadline; otherwise a typed error:
    /// [`ExitError::TimedOut`], [`ExitError::NonZeroExit`] or [`ExitError::Signaled`].
    ///
    /// # Errors
    /// As above.
    pub fn check(self) -> Result<Self, ExitError> {
        if let Some(t) = self.timed_out {
            return Err(ExitError::TimedOut {
                program: self.program,
                after: t.after,
            });
        }
        match self.status {
            ExitStatus::Code(0) => Ok(self),
            ExitStatus::Code(code) => Err(ExitError::NonZeroExit {
                program: self.program,
                code,
            }),
            status @ ExitStatus::Signal { .. } => Err(ExitError::Signaled {
                program: self.program,
                status,
            }),
        }
    }
}
