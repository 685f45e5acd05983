//! A crash-proof pool of persistent `worker serve` processes.
//!
//! [`Pool`] starts N workers (by default `worker serve` from the directory of the running
//! executable; any argv through a [`Launch`], e.g. behind `ssh host` or `srun`), keeps them
//! for its whole life, and feeds them numbers over the [`shared`] protocol. Python's
//! `ProcessPoolExecutor` breaks for good when one worker dies (`BrokenProcessPool`) and
//! cannot stop a running task; this pool loses nothing and goes on.
//!
//! ```
//! use orchestrator::pool::Pool;
//! # fn main() -> Result<(), Box<dyn std::error::Error>> {
//! # let worker = orchestrator::pool::doc_worker();
//! let mut pool = Pool::builder().procs(2).worker(worker).start()?;
//! let results = pool.factor(&[12, 2139079, 1])?;
//! assert_eq!(results[0], Ok(vec![2, 2, 3]));
//! assert_eq!(results[1], Ok(vec![101, 21179]));
//! assert_eq!(results[2], Ok(vec![]));
//! # Ok(()) }
//! ```
//!
//! # How work flows
//! Three threads and two bounded queues: a **reader** cuts the input into chunks (about
//! 20 ms of work each: the size adapts to the measured speed) and blocks when the pool is
//! [`MAX_CHUNKS_QUEUED`] chunks ahead; the pool's **event loop** (one thread, mio over every
//! worker's pipes and pidfd; never a thread per worker) hands a chunk to whichever worker
//! has room — each holds at most `requests_per_worker` (2) requests, so its pipe never runs
//! dry and a faster worker simply comes back for more — and files the answers in a
//! **reorder buffer**; the **caller's thread** receives them in input order. The loop takes
//! a new chunk only while it is less than a window of chunks ahead of the oldest one not yet
//! delivered, and none while more than 32 MiB of finished output waits for the caller (which
//! bounds memory when single outputs are large, as in divisors mode), so the reorder buffer
//! and everything else stays bounded whatever the input size (a slow consumer of the output
//! holds the whole chain back: backpressure).
//!
//! # When a worker crashes
//! A worker that exits, is killed (SIGKILL, panic, abort), closes its output, or sends
//! anything that is not a valid frame of the conversation is killed (its whole process
//! group) and replaced at once. The answers it finished before dying are kept. The request
//! it was working on is sent again to another worker; if that request fails a second time
//! it is cut in halves, and so on down to single numbers, to corner an input that crashes
//! workers; a number whose worker has died `max_attempts` times (default 3) is reported as
//! failed ([`NumberFailure::WorkerDied`]). Requests it held but had not started are sent
//! elsewhere unchanged. Every input appears exactly once in the output, in order.
//!
//! A worker that cannot start — the program is missing, it fails the handshake (another
//! protocol version, or not a protocol peer at all), it says nothing for
//! `handshake_timeout` — is retried with back-off; after `max_start_failures` (3) failures
//! in a row its slot is given up. The run fails with [`PoolError::NoWorkers`] only when
//! every slot is given up, and with [`PoolError::WorkersKeepDying`] if workers die over
//! and over without any work being finished in between (so a broken worker build fails
//! the run clearly instead of respawning forever).
//!
//! # Timeouts
//! With a timeout, a worker whose current number has run longer than that is killed and
//! replaced, the number is reported as timed out ([`NumberFailure::TimedOut`]; it is not
//! retried), and the rest of its request goes to other workers. The protocol obliges a
//! worker to report finished numbers at least every
//! [`PROGRESS_INTERVAL_MS`](shared::PROGRESS_INTERVAL_MS), so the number in hand is known;
//! the kill comes within that interval (plus a few ms of scheduling) after the timeout.
//!
//! # Stopping and shutting down
//! [`Stopper::stop`] (the CLI calls it on Ctrl-C) ends the current run at once: the
//! finished results that are next in input order are delivered, workers holding work get
//! SIGTERM, `grace` to exit, then SIGKILL, and the run returns a [`RunSummary`] with
//! `stopped: true`. Dropping the [`Pool`] closes every worker's stdin (a worker exits at
//! the end of its input), waits up to `grace`, then TERM and KILL what is left. Workers are
//! started with `kill_on_parent_death`, so even a SIGKILLed orchestrator leaves none behind.

mod conn;
mod dispatch;
mod error;
mod input;
mod launch;
mod work;

use std::fmt;
use std::io;
use std::path::PathBuf;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU32, AtomicUsize, Ordering};
use std::thread::JoinHandle;
use std::time::Duration;

use crossbeam_channel::{Receiver, Sender};
use mio::{Poll, Waker};
use shared::Split;

use dispatch::{Config, Control, Dispatcher, Emit, RunSpec, WAKER};

pub use error::PoolError;
pub use input::{MAX_TOKEN_BYTES, TextInput};
pub use launch::{Launch, Launched, LocalWorker, Wrapped};
pub use shared::{Mode, NumberError, TextFormat};
pub use work::{NumberFailure, NumberResult, Segment};

/// Chunks the reader may have queued ahead of the loop.
pub const MAX_CHUNKS_QUEUED: usize = 4;

/// Inputs in the first chunks of a run, before the speed is known: one, so that numbers that
/// take seconds each are spread over the workers from the start (for fast numbers the target
/// jumps to thousands after the first answer, a few hundred microseconds later).
const INITIAL_TARGET: u32 = 1;

/// What happened in the pool, for logging (see [`PoolBuilder::on_event`]).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PoolEvent {
    /// A worker said hello and is serving.
    Started {
        /// Its slot.
        slot: usize,
        /// Its pid.
        pid: u32,
        /// What it calls itself (`worker 0.1.0`).
        software: String,
    },
    /// A worker could not be started (it will be retried unless [`PoolEvent::GaveUp`]
    /// follows).
    StartFailed {
        /// Its slot.
        slot: usize,
        /// Its pid, if it was running.
        pid: Option<u32>,
        /// Why, naming the worker's command.
        error: String,
    },
    /// A slot failed to start too many times in a row and is given up.
    GaveUp {
        /// The slot.
        slot: usize,
        /// Failures in a row.
        failures: u32,
        /// The last one.
        last_error: String,
    },
    /// A serving worker was lost (it died, hung past the timeout, or broke the protocol);
    /// it is being replaced and what it held is retried.
    Lost {
        /// Its slot.
        slot: usize,
        /// Its pid.
        pid: u32,
        /// How it ended.
        cause: String,
        /// Inputs it held that were not finished.
        inputs_in_hand: u32,
    },
}

/// A live worker (see [`Pool::workers`]).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct WorkerInfo {
    /// Its slot.
    pub slot: usize,
    /// Its pid (of the local process: `ssh`'s, for a remote worker).
    pub pid: u32,
    /// Handshake done.
    pub ready: bool,
    /// What it calls itself.
    pub software: String,
    /// Requests sent to it and not finished.
    pub requests_in_hand: usize,
}

/// What a run did.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct RunSummary {
    /// Inputs with an answer in the output (all of them unless the run was stopped).
    pub inputs: u64,
    /// Inputs that were not numbers (or were refused, e.g. over the divisor cap).
    pub bad: u64,
    /// Numbers given up on because their workers kept dying.
    pub failed: u64,
    /// Numbers that ran past the timeout.
    pub timed_out: u64,
    /// Workers that said hello during the run.
    pub workers_started: u64,
    /// Workers lost during the run (crashed, timed out, broke the protocol, went silent),
    /// whether or not they held work at the time.
    pub workers_lost: u64,
    /// Inputs sent again after a worker was lost.
    pub retried: u64,
    /// The run was ended by [`Stopper::stop`] before its input was done.
    pub stopped: bool,
}

/// What a text run computes and how it writes it.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct TextJob {
    /// Prime factors or all divisors.
    pub mode: Mode,
    /// `N: ...` lines (as coreutils `factor`) or JSON lines.
    pub format: TextFormat,
    /// Divisors mode: a number with more divisors than this is refused.
    pub divisor_cap: Option<u64>,
}

/// Receives the output of a text run, in input order.
pub trait TextSink {
    /// Bytes for standard output.
    ///
    /// # Errors
    /// A write error ends the run with [`PoolError::Output`].
    fn output(&mut self, bytes: &[u8]) -> io::Result<()>;

    /// A message about one input (no program name, no newline), in its place among the
    /// output: a bad input, a timed-out or failed number.
    ///
    /// # Errors
    /// As [`TextSink::output`].
    fn message(&mut self, message: &str) -> io::Result<()>;

    /// Called when no more output is ready right now (flush buffers here).
    ///
    /// # Errors
    /// As [`TextSink::output`].
    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }

    /// Inputs answered so far.
    fn progress(&mut self, _inputs_done: u64) {}
}

/// A [`TextSink`] that keeps everything in memory.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct Collect {
    /// The output bytes.
    pub out: Vec<u8>,
    /// The messages.
    pub messages: Vec<String>,
}

impl TextSink for Collect {
    fn output(&mut self, bytes: &[u8]) -> io::Result<()> {
        self.out.extend_from_slice(bytes);
        Ok(())
    }

    fn message(&mut self, message: &str) -> io::Result<()> {
        self.messages.push(message.to_string());
        Ok(())
    }
}

/// Stops the pool's current run from another thread (see the module docs). Cheap to
/// clone; `Send + Sync`.
///
/// ```
/// use orchestrator::pool::{Mode, Pool};
/// # fn main() -> Result<(), Box<dyn std::error::Error>> {
/// # let worker = orchestrator::pool::doc_worker();
/// let mut pool = Pool::builder().procs(2).worker(worker).start()?;
/// let stopper = pool.stopper(); // a Ctrl-C handler would hold this one
/// let mut next = 0;
/// // An endless input: the run ends only when it is stopped.
/// let summary = pool.run_numbers(Mode::Primes, None, 2u128.., |index, result| {
///     assert_eq!(index, next); // in input order, none skipped
///     next += 1;
///     assert!(result.is_ok());
///     if index == 1000 {
///         stopper.stop();
///     }
/// })?;
/// assert!(summary.stopped);
/// assert!(next > 1000);
/// # Ok(()) }
/// ```
#[derive(Debug, Clone)]
pub struct Stopper {
    flag: Arc<AtomicBool>,
    waker: Arc<Waker>,
}

impl Stopper {
    /// Ends the current run (and makes any later run end at once): finished results next in
    /// order are delivered, workers holding work are terminated (TERM, grace, KILL).
    pub fn stop(&self) {
        self.flag.store(true, Ordering::SeqCst);
        let _ = self.waker.wake();
    }

    /// True once [`Stopper::stop`] has been called.
    pub fn is_stopped(&self) -> bool {
        self.flag.load(Ordering::SeqCst)
    }
}

/// Settings for a [`Pool`]; [`PoolBuilder::start`] starts it.
pub struct PoolBuilder {
    procs: usize,
    launch: Option<Arc<dyn Launch>>,
    timeout: Option<Duration>,
    max_attempts: u32,
    handshake_timeout: Duration,
    in_flight: usize,
    max_start_failures: u32,
    grace: Duration,
    silence: Option<Duration>,
    on_event: Box<dyn FnMut(&PoolEvent) + Send>,
}

impl fmt::Debug for PoolBuilder {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("PoolBuilder")
            .field("procs", &self.procs)
            .field("launch", &self.launch)
            .field("timeout", &self.timeout)
            .field("max_attempts", &self.max_attempts)
            .field("handshake_timeout", &self.handshake_timeout)
            .field("in_flight", &self.in_flight)
            .field("max_start_failures", &self.max_start_failures)
            .field("grace", &self.grace)
            .field("silence", &self.silence)
            .finish_non_exhaustive()
    }
}

impl Default for PoolBuilder {
    fn default() -> Self {
        Self {
            procs: crate::cli::cpu_count(),
            launch: None,
            timeout: None,
            max_attempts: 3,
            handshake_timeout: Duration::from_secs(10),
            in_flight: 2,
            max_start_failures: 3,
            grace: Duration::from_secs(2),
            silence: None,
            on_event: Box::new(|_| {}),
        }
    }
}

impl PoolBuilder {
    /// Number of workers (default: the number of CPUs; at least 1).
    pub fn procs(mut self, n: usize) -> Self {
        self.procs = n.max(1);
        self
    }

    /// Runs `PATH serve` as the worker (default: `worker` next to the running executable).
    pub fn worker(mut self, path: impl Into<PathBuf>) -> Self {
        self.launch = Some(Arc::new(LocalWorker::new(path.into())));
        self
    }

    /// Starts workers with this launcher (ssh, Slurm...).
    pub fn launcher(mut self, launch: impl Launch + 'static) -> Self {
        self.launch = Some(Arc::new(launch));
        self
    }

    /// A worker that holds work and sends nothing for this long is lost: killed and replaced,
    /// its work retried elsewhere (default: never). A working worker reports at least every
    /// [`PROGRESS_INTERVAL_MS`](shared::PROGRESS_INTERVAL_MS), so this detects a worker whose
    /// host or network went away (its ssh would notice only after its keep-alive time) or that
    /// hangs. `orchestrator factor` sets 5 s for remote workers.
    pub fn silence_limit(mut self, limit: Option<Duration>) -> Self {
        self.silence = limit.filter(|d| !d.is_zero());
        self
    }

    /// Per-number time limit (default: none).
    pub fn timeout(mut self, t: Option<Duration>) -> Self {
        self.timeout = t.filter(|t| !t.is_zero());
        self
    }

    /// Attempts before a number whose worker keeps dying is reported as failed (default 3,
    /// at least 1).
    pub fn max_attempts(mut self, n: u32) -> Self {
        self.max_attempts = n.max(1);
        self
    }

    /// How long a new worker may take to say hello (default 10 s; ssh can be slow).
    pub fn handshake_timeout(mut self, t: Duration) -> Self {
        self.handshake_timeout = t;
        self
    }

    /// Requests a worker holds at once (default 2: one in work, one waiting in its pipe).
    pub fn requests_per_worker(mut self, n: usize) -> Self {
        self.in_flight = n.max(1);
        self
    }

    /// Failed starts in a row before a slot is given up (default 3).
    pub fn max_start_failures(mut self, n: u32) -> Self {
        self.max_start_failures = n.max(1);
        self
    }

    /// How long workers get to exit after SIGTERM or end of input (default 2 s).
    pub fn grace(mut self, t: Duration) -> Self {
        self.grace = t;
        self
    }

    /// Called on the pool's thread for every [`PoolEvent`] (default: nothing).
    pub fn on_event(mut self, f: impl FnMut(&PoolEvent) + Send + 'static) -> Self {
        self.on_event = Box::new(f);
        self
    }

    /// Starts the workers and waits until each has said hello (or its slot was given up).
    ///
    /// # Errors
    /// [`PoolError::NoWorkers`] if no worker could be started (the message names the
    /// command and why: not found, handshake failed, ...); [`PoolError::Setup`] if the
    /// event loop cannot be created.
    pub fn start(self) -> Result<Pool, PoolError> {
        let launch: Arc<dyn Launch> =
            match self.launch {
                Some(l) => l,
                None => Arc::new(LocalWorker::next_to_current_exe().map_err(|e| {
                    PoolError::NoWorkers {
                        slots: self.procs,
                        failures: 0,
                        last_error: e.to_string(),
                    }
                })?),
            };
        let poll = Poll::new().map_err(PoolError::Setup)?;
        let waker = Arc::new(Waker::new(poll.registry(), WAKER).map_err(PoolError::Setup)?);
        let cfg = Config {
            procs: self.procs,
            timeout: self.timeout,
            max_attempts: self.max_attempts,
            handshake_timeout: self.handshake_timeout,
            in_flight: self.in_flight,
            max_start_failures: self.max_start_failures,
            max_deaths_in_a_row: 20 + 4 * self.procs as u32,
            grace: self.grace,
            piece_time: Duration::from_millis(20),
            window: (4 * self.procs * self.in_flight + 8) as u64,
            silence: self.silence,
        };
        let window = cfg.window as usize;
        let stop = Arc::new(AtomicBool::new(false));
        let (ctl_tx, ctl_rx) = crossbeam_channel::unbounded();
        let dispatcher = Dispatcher::new(poll, ctl_rx, cfg, launch, self.on_event, stop.clone());
        let thread = std::thread::Builder::new()
            .name("orchestrator-pool".into())
            .spawn(move || dispatcher.run())
            .map_err(PoolError::Setup)?;
        let pool = Pool {
            ctl: ctl_tx,
            waker,
            thread: Some(thread),
            stop,
            window,
        };
        let (tx, rx) = crossbeam_channel::bounded(1);
        pool.control(Control::WaitReady(tx))?;
        rx.recv().map_err(|_| PoolError::Closed)??;
        Ok(pool)
    }
}

/// A pool of persistent workers; see the [module docs](self).
///
/// One run at a time (the run methods take `&mut self`). `Send`, so it can live on any
/// thread; its workers belong to the pool's own thread, which lives as long as the pool.
///
/// ```
/// use orchestrator::pool::{Mode, NumberFailure, Pool};
/// use std::time::Duration;
/// # fn main() -> Result<(), Box<dyn std::error::Error>> {
/// # let worker = orchestrator::pool::doc_worker();
/// let mut pool = Pool::builder()
///     .procs(2)
///     .worker(worker) // `worker serve` is run from here (default: next to this program)
///     .timeout(Some(Duration::from_secs(10))) // per number
///     .start()?; // returns once every worker has said hello
/// assert_eq!(pool.workers()?.len(), 2);
///
/// // Divisors, with a cap on how many a number may have.
/// let d = pool.divisors(&[12, 720720], Some(100))?;
/// assert_eq!(d[0], Ok(vec![1, 2, 3, 4, 6, 12]));
/// assert!(matches!(d[1], Err(NumberFailure::Refused(_)))); // 720720 has 240 divisors
///
/// // Streaming: any number of inputs in bounded memory, results in input order.
/// let summary = pool.run_numbers(Mode::Primes, None, 1..=10_000u128, |index, result| {
///     let factors = result.expect("every number is factored");
///     assert_eq!(factors.iter().product::<u128>(), index as u128 + 1);
/// })?;
/// assert_eq!(summary.inputs, 10_000);
/// assert_eq!(summary.workers_lost, 0);
/// drop(pool); // closes the workers' input: they exit and are reaped
/// # Ok(()) }
/// ```
#[derive(Debug)]
pub struct Pool {
    ctl: Sender<Control>,
    waker: Arc<Waker>,
    thread: Option<JoinHandle<()>>,
    stop: Arc<AtomicBool>,
    window: usize,
}

impl Pool {
    /// Settings for a new pool.
    pub fn builder() -> PoolBuilder {
        PoolBuilder::default()
    }

    fn control(&self, c: Control) -> Result<(), PoolError> {
        self.ctl.send(c).map_err(|_| PoolError::Closed)?;
        let _ = self.waker.wake();
        Ok(())
    }

    /// A handle that stops the current run from another thread.
    pub fn stopper(&self) -> Stopper {
        Stopper {
            flag: self.stop.clone(),
            waker: self.waker.clone(),
        }
    }

    /// The live workers.
    ///
    /// # Errors
    /// [`PoolError::Closed`] if the pool's thread is gone.
    pub fn workers(&self) -> Result<Vec<WorkerInfo>, PoolError> {
        let (tx, rx) = crossbeam_channel::bounded(1);
        self.control(Control::Workers(tx))?;
        rx.recv().map_err(|_| PoolError::Closed)
    }

    /// The prime factors of each number (ascending, with multiplicity; none for 0 and 1),
    /// in order.
    ///
    /// # Errors
    /// See [`PoolError`]; per-number problems are in the results instead.
    pub fn factor(&mut self, numbers: &[u128]) -> Result<Vec<NumberResult>, PoolError> {
        let mut out = Vec::with_capacity(numbers.len());
        self.run_numbers(Mode::Primes, None, numbers.iter().copied(), |_, r| {
            out.push(r)
        })?;
        Ok(out)
    }

    /// Every divisor of each number, ascending (none for 0), in order; a number with more
    /// than `cap` divisors gets [`NumberFailure::Refused`].
    ///
    /// # Errors
    /// See [`PoolError`].
    pub fn divisors(
        &mut self,
        numbers: &[u128],
        cap: Option<u64>,
    ) -> Result<Vec<NumberResult>, PoolError> {
        let mut out = Vec::with_capacity(numbers.len());
        self.run_numbers(Mode::Divisors, cap, numbers.iter().copied(), |_, r| {
            out.push(r)
        })?;
        Ok(out)
    }

    /// Streams `numbers` through the pool, calling `each(index, result)` in input order;
    /// memory stays bounded whatever the number of inputs.
    ///
    /// # Errors
    /// See [`PoolError`].
    pub fn run_numbers<I>(
        &mut self,
        mode: Mode,
        divisor_cap: Option<u64>,
        numbers: I,
        mut each: impl FnMut(u64, NumberResult),
    ) -> Result<RunSummary, PoolError>
    where
        I: IntoIterator<Item = u128>,
        I::IntoIter: Send,
    {
        let (feed, out_rx) =
            self.begin(mode, work::Shape::Numbers, Split::Whitespace, divisor_cap)?;
        let mut numbers = numbers.into_iter();
        std::thread::scope(|s| {
            s.spawn(move || {
                let feed = feed;
                loop {
                    let n = feed.target.load(Ordering::Relaxed).max(1) as usize;
                    let chunk: Vec<u128> = numbers.by_ref().take(n).collect();
                    if chunk.is_empty() {
                        return;
                    }
                    let sent = feed.tx.send(work::Items::Numbers(chunk)).is_ok();
                    let _ = feed.waker.wake();
                    if !sent {
                        return;
                    }
                }
            });
            let mut index = 0u64;
            self.receive(&out_rx, |done, _| {
                if let work::Output::Numbers(results) = done.output {
                    for r in results {
                        each(index, r);
                        index += 1;
                    }
                }
                Ok(())
            })
        })
    }

    /// Factors the numbers written in `input` (whitespace-separated, or one per argument)
    /// and passes the output to `sink` in input order: exactly what `worker factor` /
    /// `worker divisors` print, or JSON lines. Bad inputs get a [`TextSink::message`] (or a
    /// JSON error object) in their place; the rest is factored.
    ///
    /// The input is read on a thread of its own, which is left behind (blocked in `read`)
    /// if the run is stopped while it waits for input; it ends when its next read returns.
    ///
    /// ```
    /// use orchestrator::pool::{Collect, Pool, TextInput, TextJob};
    /// # fn main() -> Result<(), Box<dyn std::error::Error>> {
    /// # let worker = orchestrator::pool::doc_worker();
    /// let mut pool = Pool::builder().procs(2).worker(worker).start()?;
    /// let mut sink = Collect::default();
    /// let input = TextInput::Reader(Box::new(&b"12 abc\n2139079"[..]));
    /// let summary = pool.run_text(TextJob::default(), input, &mut sink)?;
    /// assert_eq!(sink.out, b"12: 2 2 3\n2139079: 101 21179\n");
    /// assert_eq!(sink.messages, ["‘abc’ is not a valid positive integer"]);
    /// assert_eq!((summary.inputs, summary.bad), (3, 1));
    /// # Ok(()) }
    /// ```
    ///
    /// # Errors
    /// [`PoolError::Output`] if the sink fails (the workers holding work are stopped),
    /// [`PoolError::Input`] if reading fails (after the output for what was read), and the
    /// pool-level errors of [`PoolError`].
    pub fn run_text(
        &mut self,
        job: TextJob,
        input: TextInput,
        sink: &mut dyn TextSink,
    ) -> Result<RunSummary, PoolError> {
        let split = match input {
            TextInput::Args(_) => Split::Nul,
            _ => Split::Whitespace,
        };
        let (feed, out_rx) = self.begin(
            job.mode,
            work::Shape::Text(job.format),
            split,
            job.divisor_cap,
        )?;
        let reader = std::thread::Builder::new()
            .name("orchestrator-reader".into())
            .spawn(move || input::read_text(input, feed))
            .map_err(PoolError::Setup)?;
        let mut answered = 0u64;
        let summary = self.receive(&out_rx, |done, idle| {
            if let work::Output::Text(segs) = done.output {
                for seg in segs {
                    match seg {
                        Segment::Out(bytes) => sink.output(&bytes)?,
                        Segment::Message(m) => sink.message(&m)?,
                    }
                }
            }
            answered += u64::from(done.len);
            if idle {
                sink.progress(answered);
                sink.flush()?;
            }
            Ok(())
        })?;
        sink.flush().map_err(PoolError::Output)?;
        if !summary.stopped && reader.is_finished() {
            match reader.join() {
                Ok(Err(e)) => return Err(PoolError::Input(e)),
                Ok(Ok(())) => {}
                Err(_) => return Err(PoolError::Input(io::Error::other("the reader panicked"))),
            }
        }
        Ok(summary)
    }

    /// Starts a run on the pool's thread: returns the feed for the reader and the receiver
    /// of results.
    fn begin(
        &mut self,
        mode: Mode,
        shape: work::Shape,
        split: Split,
        divisor_cap: Option<u64>,
    ) -> Result<(input::Feed, Receiving), PoolError> {
        let (in_tx, in_rx) = crossbeam_channel::bounded(MAX_CHUNKS_QUEUED);
        let (out_tx, out_rx) = crossbeam_channel::bounded(self.window);
        let target = Arc::new(AtomicU32::new(INITIAL_TARGET));
        // Per run: what a stopped run leaves unhandled is dropped with it.
        let held = Arc::new(AtomicUsize::new(0));
        self.control(Control::Run(Box::new(RunSpec {
            mode,
            shape,
            split,
            divisor_cap,
            input: in_rx,
            output: out_tx,
            target: target.clone(),
            stop: Arc::new(AtomicBool::new(false)),
            held_bytes: held.clone(),
        })))?;
        let feed = input::Feed {
            tx: in_tx,
            waker: self.waker.clone(),
            target,
        };
        Ok((feed, Receiving { rx: out_rx, held }))
    }

    /// Receives a run's pieces in order until its end; `handle(piece, idle)` gets each
    /// (`idle`: nothing else is waiting right now); its errors stop the run.
    fn receive(
        &self,
        receiving: &Receiving,
        mut handle: impl FnMut(work::Done, bool) -> io::Result<()>,
    ) -> Result<RunSummary, PoolError> {
        let rx = &receiving.rx;
        let mut failed: Option<io::Error> = None;
        loop {
            let Ok(emit) = rx.recv() else {
                return Err(PoolError::Closed);
            };
            match emit {
                Emit::Piece(done) => {
                    let bytes = done.bytes();
                    if failed.is_none()
                        && let Err(e) = handle(done, rx.is_empty())
                    {
                        failed = Some(e);
                        self.stop_run();
                    }
                    receiving.held.fetch_sub(bytes, Ordering::Relaxed);
                    // Room in the channel and in the budget: the loop may be waiting for it.
                    let _ = self.waker.wake();
                }
                Emit::End(result) => {
                    return match failed {
                        Some(e) => Err(PoolError::Output(e)),
                        None => result,
                    };
                }
            }
        }
    }

    fn stop_run(&self) {
        let _ = self.control(Control::StopRun);
    }
}

/// The caller's end of a run: results in order, and the count of bytes held for it.
struct Receiving {
    rx: Receiver<Emit>,
    held: Arc<AtomicUsize>,
}

impl Drop for Pool {
    fn drop(&mut self) {
        let _ = self.control(Control::Shutdown);
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

/// The `worker` binary of this workspace's build, for the examples in these docs (doc tests
/// run from a temporary directory, so "next to the executable" does not find it).
#[doc(hidden)]
pub fn doc_worker() -> PathBuf {
    let target = std::env::var_os("CARGO_TARGET_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from(concat!(env!("CARGO_MANIFEST_DIR"), "/../target")));
    let profile = if cfg!(debug_assertions) {
        "debug"
    } else {
        "release"
    };
    target.join(profile).join("worker")
}
