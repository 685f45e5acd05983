//! The pool's thread: one mio event loop over every worker's pipes and pidfd, which starts
//! and replaces workers, hands out pieces, collects results, enforces the timeout, and puts
//! finished pieces back in input order. See the [module docs](super) for the rules it
//! implements.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU32, AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use crossbeam_channel::{Receiver, Sender, TryRecvError};
use mio::{Events, Poll, Token};
use shared::frame::encode_frame;
use shared::{Hello, Mode, PROGRESS_INTERVAL_MS, Split};

use super::conn::{self, Conn, Phase};
use super::error::{Lost, PoolError};
use super::launch::Launch;
use super::work::{Done, Items, Key, Piece, Shape};
use super::{PoolEvent, RunSummary, WorkerInfo};

mod answers;
mod schedule;
mod workers;

/// The token of the waker (never a worker's: generations stay far below 2^62).
pub(crate) const WAKER: Token = Token(usize::MAX);

/// Most inputs in one request.
pub(crate) const MAX_PIECE_ITEMS: u32 = 32 * 1024;

/// Settings of the loop (from the builder).
#[derive(Debug, Clone)]
pub(crate) struct Config {
    pub procs: usize,
    pub timeout: Option<Duration>,
    pub max_attempts: u32,
    pub handshake_timeout: Duration,
    pub in_flight: usize,
    pub max_start_failures: u32,
    pub max_deaths_in_a_row: u32,
    pub grace: Duration,
    pub piece_time: Duration,
    pub window: u64,
    /// A worker holding work that sends nothing for this long is lost (`None`: never).
    pub silence: Option<Duration>,
}

/// Requests from the [`Pool`](super::Pool) handle to its thread.
pub(crate) enum Control {
    /// Answer once every slot has a ready worker or has been given up on.
    WaitReady(Sender<Result<(), PoolError>>),
    /// Start a run.
    Run(Box<RunSpec>),
    /// Describe the live workers.
    Workers(Sender<Vec<WorkerInfo>>),
    /// End the current run now (its caller cannot take more output).
    StopRun,
    /// Stop the workers and end the thread.
    Shutdown,
}

/// One run: where the inputs come from, where the results go.
pub(crate) struct RunSpec {
    pub mode: Mode,
    pub shape: Shape,
    pub split: Split,
    pub divisor_cap: Option<u64>,
    pub input: Receiver<Items>,
    pub output: Sender<Emit>,
    /// Inputs per chunk the reader should aim for (the loop adapts it).
    pub target: Arc<AtomicU32>,
    pub stop: Arc<AtomicBool>,
    /// Bytes of finished output not yet handled by the caller (reorder buffer and channel):
    /// added here when a piece is finished, taken off by the caller once it has handled it.
    pub held_bytes: Arc<AtomicUsize>,
}

/// No new input is taken while this much finished output waits to be handled: the window of
/// chunks bounds memory for ordinary output, this bounds it when single outputs are large
/// (divisors mode).
pub(crate) const HELD_BYTES_BUDGET: usize = 32 << 20;

/// What the loop sends to the caller of a run, in input order.
#[derive(Debug)]
pub(crate) enum Emit {
    Piece(Done),
    End(Result<RunSummary, PoolError>),
}

struct Slot {
    conn: Option<Conn>,
    /// Failed starts in a row.
    failures: u32,
    given_up: bool,
    respawn_at: Option<Instant>,
}

struct Run {
    spec: RunSpec,
    input_done: bool,
    next_seq: u64,
    retry: BTreeMap<Key, Piece>,
    reorder: BTreeMap<Key, Done>,
    next_emit: Key,
    summary: RunSummary,
    deaths_in_a_row: u32,
    last_death: String,
    /// Seconds per input, smoothed.
    per_item: Option<f64>,
}

/// The loop's state.
pub(crate) struct Dispatcher {
    poll: Poll,
    ctl: Receiver<Control>,
    cfg: Config,
    launch: Arc<dyn Launch>,
    on_event: Box<dyn FnMut(&PoolEvent) + Send>,
    slots: Vec<Slot>,
    next_generation: u64,
    next_id: u64,
    run: Option<Run>,
    ready_waiters: Vec<Sender<Result<(), PoolError>>>,
    hello: Vec<u8>,
    start_failures: u32,
    last_start_error: String,
    /// Set by a [`Stopper`](super::Stopper): ends every run at once.
    stop: Arc<AtomicBool>,
}

impl Dispatcher {
    pub(crate) fn new(
        poll: Poll,
        ctl: Receiver<Control>,
        cfg: Config,
        launch: Arc<dyn Launch>,
        on_event: Box<dyn FnMut(&PoolEvent) + Send>,
        stop: Arc<AtomicBool>,
    ) -> Self {
        let hello = encode_frame(&Hello::new(concat!(
            "orchestrator ",
            env!("CARGO_PKG_VERSION")
        )))
        .expect("a hello always encodes");
        let slots = (0..cfg.procs)
            .map(|_| Slot {
                conn: None,
                failures: 0,
                given_up: false,
                respawn_at: Some(Instant::now()),
            })
            .collect();
        Self {
            poll,
            ctl,
            cfg,
            launch,
            on_event,
            slots,
            next_generation: 1,
            next_id: 1,
            run: None,
            ready_waiters: Vec::new(),
            hello,
            start_failures: 0,
            last_start_error: String::new(),
            stop,
        }
    }

    /// Runs until [`Control::Shutdown`] (or the handle is dropped), then stops every worker.
    pub(crate) fn run(mut self) {
        let mut events = Events::with_capacity(256);
        loop {
            let now = Instant::now();
            self.maintain(now);
            self.pump();
            let timeout = self.next_wakeup(Instant::now());
            if let Err(e) = self.poll.poll(&mut events, timeout)
                && e.kind() != std::io::ErrorKind::Interrupted
            {
                self.end_run(Err(PoolError::Setup(e)), false);
                break;
            }
            for ev in events.iter() {
                if ev.token() == WAKER {
                    continue;
                }
                let (generation, kind) = conn::untoken(ev.token());
                let Some(slot) = self.slot_of(generation) else {
                    continue; // a worker already replaced
                };
                match kind {
                    conn::OUT => self.on_readable(slot),
                    conn::IN => self.on_writable(slot),
                    _ => self.on_exit(slot),
                }
            }
            // A read that stopped early (large output) continues without a new event.
            for slot in 0..self.slots.len() {
                while self.slots[slot]
                    .conn
                    .as_ref()
                    .is_some_and(|c| c.may_have_more())
                {
                    self.on_readable(slot);
                }
            }
            if !self.on_control() {
                break;
            }
            self.check_deadlines(Instant::now());
        }
        self.stop_all();
    }

    fn slot_of(&self, generation: u64) -> Option<usize> {
        self.slots
            .iter()
            .position(|s| s.conn.as_ref().is_some_and(|c| c.generation == generation))
    }

    fn event(&mut self, e: PoolEvent) {
        (self.on_event)(&e);
    }

    /// Handles control messages; false on shutdown.
    fn on_control(&mut self) -> bool {
        loop {
            match self.ctl.try_recv() {
                Ok(Control::Shutdown) | Err(TryRecvError::Disconnected) => return false,
                Err(TryRecvError::Empty) => return true,
                Ok(Control::WaitReady(tx)) => self.ready_waiters.push(tx),
                Ok(Control::StopRun) => {
                    if let Some(run) = &self.run {
                        run.spec.stop.store(true, Ordering::Relaxed);
                    }
                }
                Ok(Control::Workers(tx)) => {
                    let infos = self
                        .slots
                        .iter()
                        .enumerate()
                        .filter_map(|(slot, s)| {
                            let c = s.conn.as_ref()?;
                            Some(WorkerInfo {
                                slot,
                                pid: c.pid(),
                                ready: c.phase == Phase::Ready,
                                software: c.software.clone(),
                                requests_in_hand: c.in_flight.len(),
                            })
                        })
                        .collect();
                    let _ = tx.send(infos);
                }
                Ok(Control::Run(spec)) => {
                    if self.run.is_some() {
                        let _ = spec.output.send(Emit::End(Err(PoolError::Closed)));
                        continue;
                    }
                    self.run = Some(Run {
                        spec: *spec,
                        input_done: false,
                        next_seq: 0,
                        retry: BTreeMap::new(),
                        reorder: BTreeMap::new(),
                        next_emit: (0, 0),
                        summary: RunSummary::default(),
                        deaths_in_a_row: 0,
                        last_death: String::new(),
                        per_item: None,
                    });
                }
            }
        }
    }

    // ---------------------------------------------------------------- time

    /// When the loop must wake up even if nothing happens.
    fn next_wakeup(&self, now: Instant) -> Option<Duration> {
        let mut next: Option<Instant> = None;
        let mut consider = |t: Instant| next = Some(next.map_or(t, |n| n.min(t)));
        for s in &self.slots {
            if let Some(t) = s.respawn_at
                && s.conn.is_none()
                && !s.given_up
            {
                consider(t);
            }
            let Some(c) = &s.conn else { continue };
            match c.phase {
                Phase::Handshake { deadline } => consider(deadline),
                Phase::Ready => {
                    if let Some(d) = self.head_deadline(c) {
                        consider(d);
                    }
                    if let Some(d) = self.silence_deadline(c) {
                        consider(d);
                    }
                }
            }
        }
        next.map(|t| t.saturating_duration_since(now))
    }

    /// When the request `c` is working on counts as timed out.
    fn head_deadline(&self, c: &Conn) -> Option<Instant> {
        let t = self.cfg.timeout?;
        if c.in_flight.is_empty() {
            return None;
        }
        // The worker reports progress at least every PROGRESS_INTERVAL_MS, so silence for
        // timeout + that interval (+ a margin for scheduling) means one number ran past it.
        Some(c.head_since + t + Duration::from_millis(PROGRESS_INTERVAL_MS + 30))
    }

    /// When a worker holding work has been silent too long (see [`Config::silence`]).
    fn silence_deadline(&self, c: &Conn) -> Option<Instant> {
        let limit = self.cfg.silence?;
        (!c.in_flight.is_empty()).then(|| c.heard + limit)
    }

    fn check_deadlines(&mut self, now: Instant) {
        for slot in 0..self.slots.len() {
            let Some(c) = &self.slots[slot].conn else {
                continue;
            };
            match c.phase {
                Phase::Handshake { deadline } if now >= deadline => {
                    self.lose(slot, Lost::HandshakeTimeout(self.cfg.handshake_timeout));
                }
                Phase::Ready if self.head_deadline(c).is_some_and(|d| now >= d) => {
                    // Results may be waiting in the pipe: they count as progress.
                    self.drain(slot);
                    let late = self.slots[slot]
                        .conn
                        .as_ref()
                        .and_then(|c| self.head_deadline(c))
                        .is_some_and(|d| Instant::now() >= d);
                    if late {
                        self.lose(slot, Lost::TimedOut);
                    }
                }
                Phase::Ready if self.silence_deadline(c).is_some_and(|d| now >= d) => {
                    self.drain(slot);
                    let silent = self.slots[slot]
                        .conn
                        .as_ref()
                        .and_then(|c| self.silence_deadline(c))
                        .is_some_and(|d| Instant::now() >= d);
                    if silent {
                        let limit = self.cfg.silence.unwrap_or_default();
                        self.lose(slot, Lost::Silent(limit));
                    }
                }
                _ => {}
            }
        }
    }
}

fn self_mode(run: &Option<Run>) -> Mode {
    run.as_ref().map_or(Mode::Primes, |r| r.spec.mode)
}

/// `err` and its sources, joined with `": "`.
pub(crate) fn error_chain(err: &dyn std::error::Error) -> String {
    let mut s = err.to_string();
    let mut source = err.source();
    while let Some(e) = source {
        s.push_str(": ");
        s.push_str(&e.to_string());
        source = e.source();
    }
    s
}
