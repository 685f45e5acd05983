//! Many children at once, watched by **one event loop** on the calling thread.
//!
//! # Design
//! One `epoll` instance (through `mio`) watches, for every running child: its pidfd (readable
//! once it exits) and our ends of its stdout and stderr pipes; plus, when given, the
//! [`ShutdownSignals`] self-pipes and a [`Wake`] handle other threads can use. Timers (each
//! child's deadline, the SIGKILL after the grace, the drain window after an exit) live in a
//! binary heap whose earliest entry is the `epoll_wait` timeout. No thread is started per
//! child, nor at all: the caller's thread spawns, reads, signals and reaps. That keeps a run
//! of 1000 children at one thread and a few kilobytes per child.
//!
//! Each child follows the same per-unit state machine as [`Communicate`](crate::Communicate)
//! (`lifecycle.rs`): its own process group; at its deadline SIGTERM (and SIGCONT) to the
//! group, SIGKILL after the grace; completion when it **exits**, with its pipes drained for a
//! bounded window afterwards and whatever still holds them killed and reported as
//! [`leaked`](UnitOutcome::leaked). Where pidfds are missing (old kernels, or `pidfd_open`
//! hit the fd limit), a child's exit is polled on a timer instead (1 ms doubling to 50 ms).
//!
//! The caller drives the loop: [`Supervisor::spawn`] while it has room, then
//! [`Supervisor::turn`], which waits for the next event or timer and reports what happened
//! through a callback ([`Event`]). Children are spawned from the calling thread, so
//! [`Command::kill_on_parent_death`](crate::Command::kill_on_parent_death) ties them to a
//! thread that lives as long as the loop.
//!
//! ```
//! use orchestrator::Command;
//! use orchestrator::supervisor::{Output, Spec, Supervisor};
//! use std::time::Duration;
//! # fn main() -> Result<(), Box<dyn std::error::Error>> {
//! let specs = (0..6).map(|i| {
//!     let mut c = Command::new("sh");
//!     c.args(["-c", &format!("echo job {i}")]);
//!     Spec::new(c).timeout(Some(Duration::from_secs(10))).stdout(Output::Capture(None))
//! });
//! // At most 3 at once; results in input order.
//! let results = Supervisor::run_all(specs, 3)?;
//! assert_eq!(results.len(), 6);
//! assert_eq!(results[4].as_ref().unwrap().stdout, b"job 4\n");
//! # Ok(()) }
//! ```

use std::cmp::Reverse;
use std::collections::BinaryHeap;
use std::io;
use std::os::fd::AsRawFd;
use std::sync::Arc;
use std::time::{Duration, Instant};

use mio::unix::SourceFd;
use mio::{Events, Interest, Poll, Token};
use slab::Slab;

use crate::child::{Child, Ending};
use crate::command::Stdio;
use crate::communicate::TimedOut;
use crate::error::{SpawnError, SpawnErrorKind};
use crate::lifecycle::{Lifecycle, StopCause};
use crate::pipes::PipeReader;
use crate::signal::ShutdownSignals;
use crate::sink::Sink;
use crate::status::ExitStatus;
use crate::sys::Signal;

mod spec;

pub use spec::{Output, Spec, Stream, UnitOutcome};

const WAKER: Token = Token(usize::MAX);
/// Tokens `SIGNAL_BASE - i` are the shutdown signal pipes.
const SIGNAL_BASE: usize = usize::MAX - 1;
const KIND_PIDFD: usize = 0;
const KIND_STDOUT: usize = 1;
const KIND_STDERR: usize = 2;
const MAX_EXIT_POLL: Duration = Duration::from_millis(50);

/// Identifies a running child of a [`Supervisor`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct JobId {
    slot: usize,
    generation: u64,
}

/// What [`Supervisor::turn`] reports.
#[derive(Debug)]
pub enum Event<'a, T> {
    /// A chunk of a child's output ([`Output::Deliver`]).
    Output {
        /// Which child.
        id: JobId,
        /// Its payload.
        job: &'a mut T,
        /// Which stream.
        stream: Stream,
        /// The bytes, as read (not split at lines).
        data: &'a [u8],
    },
    /// A child is finished: exited, drained, reaped, its group empty.
    Finished {
        /// Which child.
        id: JobId,
        /// Its payload, handed back.
        job: T,
        /// How it ended.
        outcome: UnitOutcome,
    },
    /// A shutdown signal arrived (see [`Supervisor::with_signals`]).
    Signal(Signal),
    /// Another thread called [`Wake::wake`].
    Woken,
}

/// A child could not be started; the payload is handed back.
#[derive(Debug)]
pub struct SpawnFailure<T> {
    /// Why.
    pub error: SpawnError,
    /// The payload given to [`Supervisor::spawn`].
    pub job: T,
}

/// Wakes a [`Supervisor`] blocked in [`Supervisor::turn`] from another thread.
#[derive(Debug, Clone)]
pub struct Wake(Arc<mio::Waker>);

impl Wake {
    /// Makes the loop's current (or next) [`Supervisor::turn`] return with [`Event::Woken`].
    pub fn wake(&self) {
        // Fails only if the eventfd counter would overflow, i.e. a wake is already pending.
        let _ = self.0.wake();
    }
}

/// One running child.
#[derive(Debug)]
struct Running<T> {
    generation: u64,
    // Pipes before the child: they must close before the child's Drop kills and reaps.
    stdout: Sink,
    stderr: Sink,
    child: Child,
    life: Lifecycle,
    timeout: Option<Duration>,
    /// The instant a heap entry exists for (others for this unit are stale).
    scheduled: Option<Instant>,
    /// Without a pidfd: the next exit poll, and the interval after it.
    exit_poll: Option<(Instant, Duration)>,
    stdout_bytes: u64,
    stderr_bytes: u64,
    payload: T,
}

/// Runs many children at once on one event loop (see the module docs).
///
/// `T` is the caller's payload for each child, handed back in its [`Event`]s.
///
/// Driving the loop yourself: output arrives chunk by chunk as the children write it, and
/// each child is reported once, when it has exited, been drained and reaped.
///
/// ```
/// use orchestrator::Command;
/// use orchestrator::supervisor::{Event, Spec, Supervisor};
/// use std::time::Duration;
/// # fn main() -> Result<(), Box<dyn std::error::Error>> {
/// let mut sup: Supervisor<&str> = Supervisor::new()?;
/// let mut fast = Command::new("echo");
/// fast.arg("hello");
/// sup.spawn(Spec::new(fast), "fast").map_err(|f| f.error)?;
/// let mut sleeper = Command::new("sleep");
/// sleeper.arg("1000");
/// let slow = Spec::new(sleeper)
///     .timeout(Some(Duration::from_millis(100)))
///     .grace(Duration::from_millis(500));
/// sup.spawn(slow, "slow").map_err(|f| f.error)?;
///
/// let mut printed = Vec::new();
/// let mut finished = Vec::new();
/// while !sup.is_empty() {
///     sup.turn(None, &mut |event| match event {
///         Event::Output { job, data, .. } => printed.push((*job, data.to_vec())),
///         Event::Finished { job, outcome, .. } => finished.push((job, outcome)),
///         Event::Signal(_) | Event::Woken => {}
///     })?;
/// }
/// assert_eq!(printed, [("fast", b"hello\n".to_vec())]);
/// let outcome = |name| &finished.iter().find(|(n, _)| *n == name).unwrap().1;
/// assert!(outcome("fast").success());
/// assert!(outcome("slow").timed_out.is_some()); // SIGTERM at 100 ms; reaped, group empty
/// # Ok(()) }
/// ```
#[derive(Debug)]
pub struct Supervisor<T> {
    poll: Poll,
    events: Events,
    units: Slab<Running<T>>,
    timers: BinaryHeap<Reverse<(Instant, usize, u64)>>,
    generation: u64,
    scratch: Vec<u8>,
    signals: Option<ShutdownSignals>,
    waker: Option<Arc<mio::Waker>>,
}

impl<T> Supervisor<T> {
    /// A supervisor with nothing running.
    ///
    /// # Errors
    /// If the epoll instance cannot be created (out of fds).
    pub fn new() -> io::Result<Self> {
        Ok(Self {
            poll: Poll::new()?,
            events: Events::with_capacity(1024),
            units: Slab::new(),
            timers: BinaryHeap::new(),
            generation: 0,
            scratch: Vec::with_capacity(64 * 1024),
            signals: None,
            waker: None,
        })
    }

    /// Watches `signals` too: each delivery is reported as [`Event::Signal`].
    ///
    /// # Errors
    /// If the signal pipes cannot be registered.
    pub fn with_signals(mut self, signals: ShutdownSignals) -> io::Result<Self> {
        for (i, fd) in signals.fds().enumerate() {
            self.poll.registry().register(
                &mut SourceFd(&fd.as_raw_fd()),
                Token(SIGNAL_BASE - i),
                Interest::READABLE,
            )?;
        }
        self.signals = Some(signals);
        Ok(self)
    }

    /// A handle another thread can use to wake the loop.
    ///
    /// # Errors
    /// If the eventfd cannot be created.
    pub fn waker(&mut self) -> io::Result<Wake> {
        if self.waker.is_none() {
            self.waker = Some(Arc::new(mio::Waker::new(self.poll.registry(), WAKER)?));
        }
        Ok(Wake(Arc::clone(self.waker.as_ref().expect("just set"))))
    }

    /// Number of children running (started and not yet reported finished).
    pub fn len(&self) -> usize {
        self.units.len()
    }

    /// True if no child is running.
    pub fn is_empty(&self) -> bool {
        self.units.is_empty()
    }

    /// Starts a child in its own process group and begins watching it.
    ///
    /// # Errors
    /// A [`SpawnFailure`] with the cause and the payload back. Running out of file
    /// descriptors or processes is [`SpawnErrorKind::ResourceExhausted`]: the caller may try
    /// again once a running child has finished.
    pub fn spawn(&mut self, spec: Spec, payload: T) -> Result<JobId, SpawnFailure<T>> {
        let Spec {
            mut command,
            timeout,
            grace,
            drain_timeout,
            stdout,
            stderr,
        } = spec;
        command.stdout(stdio_for(stdout));
        command.stderr(stdio_for(stderr));
        let mut child = match command.spawn() {
            Ok(c) => c,
            Err(error) => {
                return Err(SpawnFailure {
                    error,
                    job: payload,
                });
            }
        };
        let (stdin, out, err) = child.take_pipes();
        drop(stdin); // a piped stdin gets end-of-file at once
        let sink = |r: Option<PipeReader>, o: Output| match o {
            Output::Capture(cap) => Sink::capture(r, cap),
            _ => Sink::deliver(r),
        };
        let stdout = sink(out, stdout);
        let stderr = sink(err, stderr);
        let slot = self.units.vacant_key();
        let registry = self.poll.registry();
        let mut registered: Vec<i32> = Vec::with_capacity(3);
        let mut reg = |fd: i32, kind: usize| {
            let r = registry.register(
                &mut SourceFd(&fd),
                Token(slot * 4 + kind),
                Interest::READABLE,
            );
            if r.is_ok() {
                registered.push(fd);
            }
            r
        };
        let mut result = Ok(());
        if let Some(p) = child.pidfd() {
            result = result.and_then(|_| reg(p.as_raw_fd(), KIND_PIDFD));
        }
        if let Some(r) = stdout.reader() {
            result = result.and_then(|_| reg(r.as_raw_fd(), KIND_STDOUT));
        }
        if let Some(r) = stderr.reader() {
            result = result.and_then(|_| reg(r.as_raw_fd(), KIND_STDERR));
        }
        if let Err(e) = result {
            for fd in registered {
                let _ = registry.deregister(&mut SourceFd(&fd));
            }
            let program = child.program().to_string();
            drop((stdout, stderr));
            drop(child); // kills and reaps it
            return Err(SpawnFailure {
                error: SpawnError::new(program, SpawnErrorKind::ResourceExhausted, e),
                job: payload,
            });
        }
        let started = child.started();
        let exit_poll = child
            .pidfd()
            .is_none()
            .then(|| (started + Duration::from_millis(1), Duration::from_millis(1)));
        self.generation += 1;
        let generation = self.generation;
        self.units.insert(Running {
            generation,
            stdout,
            stderr,
            child,
            life: Lifecycle::new(timeout.map(|t| started + t), grace, drain_timeout),
            timeout,
            scheduled: None,
            exit_poll,
            stdout_bytes: 0,
            stderr_bytes: 0,
            payload,
        });
        self.schedule(slot);
        Ok(JobId { slot, generation })
    }

    /// The payload of a running child.
    pub fn get_mut(&mut self, id: JobId) -> Option<&mut T> {
        self.units
            .get_mut(id.slot)
            .filter(|u| u.generation == id.generation)
            .map(|u| &mut u.payload)
    }

    /// The pid of a running child.
    pub fn pid(&self, id: JobId) -> Option<u32> {
        self.units
            .get(id.slot)
            .filter(|u| u.generation == id.generation)
            .map(|u| u.child.pid())
    }

    /// Asks every running child to stop: SIGTERM (and SIGCONT) to each group now, SIGKILL
    /// after `grace` (zero: SIGKILL at once). Their outcomes say
    /// [`stopped`](UnitOutcome::stopped). Children already stopping keep the earlier SIGKILL.
    pub fn stop_all(&mut self, grace: Duration) {
        let now = Instant::now();
        let slots: Vec<usize> = self.units.iter().map(|(k, _)| k).collect();
        for slot in slots {
            let u = &mut self.units[slot];
            for sig in u.life.request_stop(now, grace) {
                let _ = u.child.signal(sig);
            }
            self.schedule(slot);
        }
    }

    /// Asks the running children whose payload `select` picks to stop, as
    /// [`Supervisor::stop_all`] does for all; returns how many were picked. `select` may update
    /// the payload (e.g. to remember why it was stopped).
    pub fn stop_where(&mut self, grace: Duration, mut select: impl FnMut(&mut T) -> bool) -> usize {
        let now = Instant::now();
        let slots: Vec<usize> = self.units.iter().map(|(k, _)| k).collect();
        let mut picked = 0;
        for slot in slots {
            let u = &mut self.units[slot];
            if !select(&mut u.payload) {
                continue;
            }
            picked += 1;
            for sig in u.life.request_stop(now, grace) {
                let _ = u.child.signal(sig);
            }
            self.schedule(slot);
        }
        picked
    }

    /// SIGKILL to every running child's group now (also to what a child that already exited
    /// left holding its pipes).
    pub fn kill_all(&mut self) {
        let now = Instant::now();
        let slots: Vec<usize> = self.units.iter().map(|(k, _)| k).collect();
        for slot in slots {
            let u = &mut self.units[slot];
            for sig in u.life.request_kill(now) {
                let _ = u.child.signal(sig);
            }
            self.schedule(slot);
        }
    }

    /// Waits for the next event or timer (at most until `until`; `None`: no limit but the
    /// children's own timers), handles it and reports through `on`. Returns after one round,
    /// possibly with nothing reported (a timer that only sent a signal, or `until`).
    ///
    /// # Errors
    /// If `epoll_wait` fails (EINTR is not a failure).
    pub fn turn(
        &mut self,
        until: Option<Instant>,
        on: &mut dyn FnMut(Event<'_, T>),
    ) -> io::Result<()> {
        let now = Instant::now();
        let next_timer = self.timers.peek().map(|Reverse((t, _, _))| *t);
        let wake = match (until, next_timer) {
            (Some(a), Some(b)) => Some(a.min(b)),
            (a, b) => a.or(b),
        };
        let timeout = wake.map(|w| w.saturating_duration_since(now));
        match self.poll.poll(&mut self.events, timeout) {
            Ok(()) => {}
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(e) => return Err(e),
        }
        let now = Instant::now();
        let events = std::mem::replace(&mut self.events, Events::with_capacity(0));
        for ev in events.iter() {
            self.dispatch(ev.token(), now, on);
        }
        self.events = events;
        self.run_timers(now, on);
        Ok(())
    }

    fn dispatch(&mut self, token: Token, now: Instant, on: &mut dyn FnMut(Event<'_, T>)) {
        if token == WAKER {
            on(Event::Woken);
            return;
        }
        if token.0 > SIGNAL_BASE - 8 {
            if let Some(s) = &self.signals {
                for sig in s.take() {
                    on(Event::Signal(sig));
                }
            }
            return;
        }
        let slot = token.0 / 4;
        if !self.units.contains(slot) {
            return; // finished earlier in this round
        }
        match token.0 % 4 {
            KIND_PIDFD => self.check_exit(slot, now, on),
            KIND_STDOUT => self.service(slot, Stream::Stdout, on),
            KIND_STDERR => self.service(slot, Stream::Stderr, on),
            _ => {}
        }
        let u = &self.units[slot];
        if u.life.exited_at().is_none() && !u.stdout.is_open() && !u.stderr.is_open() {
            // Both pipes closed: the child is most likely gone already (saves waiting for
            // its pidfd's event in another round).
            self.check_exit(slot, now, on);
        }
        self.advance(slot, now, on);
    }

    /// Has the child exited? If so, record it and read what its pipes already hold.
    fn check_exit(&mut self, slot: usize, now: Instant, on: &mut dyn FnMut(Event<'_, T>)) {
        let u = &mut self.units[slot];
        if u.life.exited_at().is_some() {
            return;
        }
        // An error here means the child is not ours to wait for any more; treat it as exited
        // so the unit finishes (the reap reports what it can).
        if u.child.peek_exited().unwrap_or(true) {
            u.life.exited(now);
            u.exit_poll = None;
            self.service(slot, Stream::Stdout, on);
            self.service(slot, Stream::Stderr, on);
        }
    }

    /// Reads what one of a child's pipes holds now, handing it to `on`.
    fn service(&mut self, slot: usize, stream: Stream, on: &mut dyn FnMut(Event<'_, T>)) {
        let generation = self.units[slot].generation;
        let Running {
            stdout,
            stderr,
            payload,
            stdout_bytes,
            stderr_bytes,
            ..
        } = &mut self.units[slot];
        let (sink, count) = match stream {
            Stream::Stdout => (stdout, stdout_bytes),
            Stream::Stderr => (stderr, stderr_bytes),
        };
        let id = JobId { slot, generation };
        let res = sink.service(&mut self.scratch, &mut |data| {
            *count += data.len() as u64;
            on(Event::Output {
                id,
                job: payload,
                stream,
                data,
            })
        });
        match res {
            Ok(Some(eof)) => {
                // Closing our only copy of the pipe end removes it from the epoll set (no
                // other process holds a copy: jobs get it close-on-exec, and `spawn` returns
                // after their exec); an explicit EPOLL_CTL_DEL would be one more syscall.
                drop(eof);
                // One pipe at end of file usually means the child is exiting: its other pipe
                // and its exit are likely ready too. Looking now saves epoll round trips.
                let other = match stream {
                    Stream::Stdout => Stream::Stderr,
                    Stream::Stderr => Stream::Stdout,
                };
                self.service(slot, other, on);
            }
            Ok(None) => {}
            Err(_) => {} // the sink closed itself; the fd is gone from epoll with it
        }
    }

    /// Applies the unit's state machine at `now`: signals, finish, next timer.
    fn advance(&mut self, slot: usize, now: Instant, on: &mut dyn FnMut(Event<'_, T>)) {
        let u = &mut self.units[slot];
        let pipes_open = u.stdout.is_open() || u.stderr.is_open();
        let step = u.life.advance(now, pipes_open);
        for sig in step.signals {
            let _ = u.child.signal(sig);
        }
        match step.finished {
            Some(leaked) => self.finish(slot, leaked, on),
            None => self.schedule(slot),
        }
    }

    fn schedule(&mut self, slot: usize) {
        let u = &mut self.units[slot];
        let poll = u
            .exit_poll
            .filter(|_| u.life.exited_at().is_none())
            .map(|(at, _)| at);
        let next = match (u.life.next_wake(), poll) {
            (Some(a), Some(b)) => Some(a.min(b)),
            (a, b) => a.or(b),
        };
        if next != u.scheduled {
            u.scheduled = next;
            if let Some(t) = next {
                self.timers.push(Reverse((t, slot, u.generation)));
            }
        }
        // Entries of finished children stay until their time comes (a job with a 1 h timeout
        // that took 1 ms leaves one for an hour): drop them once they outnumber the live ones,
        // so the heap stays proportional to the running children.
        if self.timers.len() > 2 * self.units.len() + 1024 {
            let units = &self.units;
            self.timers.retain(|Reverse((t, slot, generation))| {
                units
                    .get(*slot)
                    .is_some_and(|u| u.generation == *generation && u.scheduled == Some(*t))
            });
        }
    }

    fn run_timers(&mut self, now: Instant, on: &mut dyn FnMut(Event<'_, T>)) {
        while let Some(&Reverse((t, slot, generation))) = self.timers.peek() {
            if t > now {
                break;
            }
            self.timers.pop();
            let Some(u) = self.units.get_mut(slot) else {
                continue;
            };
            if u.generation != generation || u.scheduled != Some(t) {
                continue; // stale
            }
            u.scheduled = None;
            if let Some((at, every)) = u.exit_poll
                && at <= now
            {
                u.exit_poll = Some((now + every, (every * 2).min(MAX_EXIT_POLL)));
                self.check_exit(slot, now, on);
            }
            self.advance(slot, now, on);
        }
    }

    /// The unit is done: kill what holds its pipes (if anything), read the rest, reap it.
    fn finish(&mut self, slot: usize, leaked: bool, on: &mut dyn FnMut(Event<'_, T>)) {
        if leaked {
            // Its leader is unreaped, so the group id is still ours to signal.
            let _ = self.units[slot].child.signal(Signal::Kill);
        }
        self.service(slot, Stream::Stdout, on);
        self.service(slot, Stream::Stderr, on);
        let mut u = self.units.remove(slot);
        // The pipes and the pidfd leave the epoll set when they are closed (see `service`).
        drop(u.stdout.close());
        drop(u.stderr.close());
        let now = Instant::now();
        // The child has exited (that is what finishes a unit), so this does not block. It
        // fails only if someone else reaped our child (SIGCHLD ignored): no status then.
        let status = match u.life.exited_at() {
            Some(_) => u.child.reap_exited().unwrap_or(ExitStatus::Code(-1)),
            None => u.child.kill().unwrap_or(ExitStatus::Code(-1)),
        };
        let leaked = leaked || u.child.leaked();
        let stopped = u.life.stopped();
        let mut killed = u.life.killed();
        if leaked && stopped.is_some() {
            killed = true;
        }
        let timed_out = match stopped {
            Some((t, StopCause::Deadline)) => Some(TimedOut {
                after: u
                    .timeout
                    .unwrap_or_else(|| t.saturating_duration_since(u.child.started())),
                ending: if killed {
                    Ending::Killed
                } else {
                    Ending::Terminated
                },
                stop_took: now.saturating_duration_since(t),
            }),
            _ => None,
        };
        let started = u.child.started();
        let exited = u.life.exited_at().unwrap_or(now);
        let out = u.stdout.take_captured();
        let err = u.stderr.take_captured();
        let outcome = UnitOutcome {
            pid: u.child.pid(),
            status,
            started,
            runtime: exited.saturating_duration_since(started),
            timed_out,
            stopped: matches!(stopped, Some((_, StopCause::Request))),
            leaked,
            stdout: out.data,
            stdout_dropped: out.dropped,
            stderr: err.data,
            stderr_dropped: err.dropped,
            stdout_bytes: u.stdout_bytes,
            stderr_bytes: u.stderr_bytes,
        };
        let id = JobId {
            slot,
            generation: u.generation,
        };
        on(Event::Finished {
            id,
            job: u.payload,
            outcome,
        });
    }
}

impl Supervisor<usize> {
    /// Runs `specs` with at most `limit` at once (at least one) and returns their outcomes in
    /// input order: a parallel [`Communicate`](crate::Communicate) for many commands.
    ///
    /// # Errors
    /// If the event loop itself fails; a child that cannot start is an `Err` in its slot.
    pub fn run_all(
        specs: impl IntoIterator<Item = Spec>,
        limit: usize,
    ) -> io::Result<Vec<Result<UnitOutcome, SpawnError>>> {
        let mut sup = Supervisor::new()?;
        let mut results: Vec<Option<Result<UnitOutcome, SpawnError>>> = Vec::new();
        let mut specs = specs.into_iter();
        let limit = limit.max(1);
        loop {
            while sup.len() < limit {
                let Some(spec) = specs.next() else { break };
                let i = results.len();
                results.push(None);
                if let Err(f) = sup.spawn(spec, i) {
                    results[i] = Some(Err(f.error));
                }
            }
            if sup.is_empty() {
                break;
            }
            sup.turn(None, &mut |ev| {
                if let Event::Finished { job, outcome, .. } = ev {
                    results[job] = Some(Ok(outcome));
                }
            })?;
        }
        Ok(results
            .into_iter()
            .map(|r| r.expect("every spec got a result before the loop ended"))
            .collect())
    }
}

fn stdio_for(o: Output) -> Stdio {
    match o {
        Output::Deliver | Output::Capture(_) => Stdio::piped(),
        Output::Inherit => Stdio::inherit(),
        Output::Null => Stdio::null(),
    }
}
