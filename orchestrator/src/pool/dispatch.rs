//! The pool's thread: one mio event loop over every worker's pipes and pidfd, which starts
//! and replaces workers, hands out pieces, collects results, enforces the timeout, and puts
//! finished pieces back in input order. See the [module docs](super) for the rules it
//! implements.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU32, AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use crossbeam_channel::{Receiver, Sender, TryRecvError, TrySendError};
use mio::{Events, Poll, Token};
use shared::frame::{decode_body, encode_frame};
use shared::{
    Batch, Hello, Mode, PROGRESS_INTERVAL_MS, Request, RequestId, Response, Split, TextBatch,
    TextFormat,
};

use super::conn::{self, Conn, InFlight, Partial, Phase};
use super::error::{Lost, PoolError};
use super::launch::Launch;
use super::work::{
    Done, Items, Key, NumberFailure, Output, Piece, Segment, Shape, Tally, failure_output,
};
use super::{PoolEvent, RunSummary, WorkerInfo};

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

    // ---------------------------------------------------------------- workers

    /// Starts workers for empty slots whose time has come.
    fn maintain(&mut self, now: Instant) {
        for slot in 0..self.slots.len() {
            let s = &self.slots[slot];
            if s.conn.is_some() || s.given_up || s.respawn_at.is_none_or(|t| t > now) {
                continue;
            }
            let generation = self.next_generation;
            self.next_generation += 1;
            let spawned = Conn::spawn(
                slot,
                generation,
                self.launch.as_ref(),
                self.poll.registry(),
                &self.hello,
                now + self.cfg.handshake_timeout,
            );
            match spawned {
                Ok(c) => {
                    self.slots[slot].conn = Some(c);
                    self.slots[slot].respawn_at = None;
                }
                Err(lost) => self.start_failed(slot, None, lost),
            }
        }
        self.answer_ready_waiters();
    }

    fn start_failed(&mut self, slot: usize, pid: Option<u32>, lost: Lost) {
        let s = &mut self.slots[slot];
        s.failures += 1;
        self.start_failures += 1;
        let error = lost.to_string();
        self.last_start_error = format!("{}: {error}", self.launch.describe(slot));
        let failures = s.failures;
        if failures >= self.cfg.max_start_failures {
            s.given_up = true;
            s.respawn_at = None;
        } else {
            // 50 ms, 100 ms, 200 ms, ... between attempts.
            s.respawn_at =
                Some(Instant::now() + Duration::from_millis(50 << (failures - 1).min(6)));
        }
        self.event(PoolEvent::StartFailed {
            slot,
            pid,
            error: self.last_start_error.clone(),
        });
        if failures >= self.cfg.max_start_failures {
            self.event(PoolEvent::GaveUp {
                slot,
                failures,
                last_error: self.last_start_error.clone(),
            });
        }
    }

    fn answer_ready_waiters(&mut self) {
        if self.ready_waiters.is_empty() {
            return;
        }
        let settled = self
            .slots
            .iter()
            .all(|s| s.given_up || s.conn.as_ref().is_some_and(|c| c.phase == Phase::Ready));
        if !settled {
            return;
        }
        let failed = self.slots.iter().all(|s| s.given_up);
        for tx in std::mem::take(&mut self.ready_waiters) {
            let _ = tx.send(if failed {
                Err(self.no_workers())
            } else {
                Ok(())
            });
        }
    }

    fn no_workers(&self) -> PoolError {
        PoolError::NoWorkers {
            slots: self.slots.len(),
            failures: self.start_failures,
            last_error: self.last_start_error.clone(),
        }
    }

    fn conn_mut(&mut self, slot: usize) -> Option<&mut Conn> {
        self.slots[slot].conn.as_mut()
    }

    fn on_writable(&mut self, slot: usize) {
        let Some(c) = self.conn_mut(slot) else { return };
        if let Err(e) = c.flush() {
            self.drain_then_lose(slot, Lost::Io(format!("cannot write to it: {e}")));
        }
    }

    fn on_exit(&mut self, slot: usize) {
        // Whatever it wrote before exiting is still in the pipe: take it first.
        self.drain(slot);
        let Some(c) = self.conn_mut(slot) else { return };
        let lost = match c.child.try_wait() {
            Ok(Some(status)) => Lost::Exited(status),
            Ok(None) => return, // not yet: a spurious wake-up
            Err(e) => Lost::Io(e.to_string()),
        };
        self.lose(slot, lost);
    }

    /// Reads and handles everything the worker has written so far (before a loss).
    fn drain(&mut self, slot: usize) {
        for _ in 0..64 {
            let more = self
                .conn_mut(slot)
                .is_some_and(|c| !c.eof && c.fill().is_ok());
            self.take_frames(slot);
            let again = self.conn_mut(slot).is_some_and(|c| c.may_have_more());
            if !more || !again {
                break;
            }
        }
    }

    fn drain_then_lose(&mut self, slot: usize, lost: Lost) {
        self.drain(slot);
        if self.slots[slot].conn.is_some() {
            self.lose(slot, lost);
        }
    }

    fn on_readable(&mut self, slot: usize) {
        let Some(c) = self.conn_mut(slot) else { return };
        if let Err(e) = c.fill() {
            self.lose(slot, Lost::Io(format!("cannot read from it: {e}")));
            return;
        }
        self.take_frames(slot);
        let Some(c) = self.conn_mut(slot) else { return };
        if c.eof {
            let leftover = c.leftover();
            let prefix = String::from_utf8_lossy(c.leftover_prefix()).into_owned();
            // It closed its output: it has exited or is about to (give it a moment, to
            // report how it ended), or it is misbehaving.
            let status = c.child.wait_timeout(Duration::from_millis(100));
            let lost = match status {
                Ok(Some(status)) if leftover == 0 => Lost::Exited(status),
                Ok(Some(status)) => Lost::Protocol(format!(
                    "{status}, leaving {leftover} byte(s) that are not a whole frame ({prefix:?})"
                )),
                Ok(None) if leftover == 0 => Lost::ClosedOutput,
                Ok(None) => Lost::Protocol(format!(
                    "it closed its standard output after {leftover} byte(s) that are not a whole frame ({prefix:?})"
                )),
                Err(e) => Lost::Io(e.to_string()),
            };
            self.lose(slot, lost);
        }
    }

    /// Handles the complete frames received from `slot`.
    fn take_frames(&mut self, slot: usize) {
        loop {
            let Some(c) = self.conn_mut(slot) else { return };
            let phase = c.phase;
            let decoded = match c.next_frame() {
                Ok(None) => return,
                Err(e) => Err(Lost::Protocol(e.to_string())),
                Ok(Some(body)) => match phase {
                    Phase::Handshake { .. } => Hello::from_body(body)
                        .map(Ok)
                        .map_err(|e| Lost::Handshake(e.to_string())),
                    Phase::Ready => decode_body::<Response>(body)
                        .map(Err)
                        .map_err(|e| Lost::Protocol(error_chain(&e))),
                },
            };
            match decoded {
                Err(lost) => {
                    self.lose(slot, lost);
                    return;
                }
                Ok(Ok(hello)) => self.ready(slot, hello),
                Ok(Err(response)) => {
                    if let Err(violation) = self.on_response(slot, response) {
                        self.lose(slot, Lost::Protocol(violation));
                        return;
                    }
                }
            }
        }
    }

    fn ready(&mut self, slot: usize, hello: Hello) {
        let Some(c) = self.conn_mut(slot) else { return };
        c.phase = Phase::Ready;
        c.software = hello.software;
        let (pid, software) = (c.pid(), c.software.clone());
        self.slots[slot].failures = 0;
        if let Some(run) = &mut self.run {
            run.summary.workers_started += 1;
        }
        self.event(PoolEvent::Started {
            slot,
            pid,
            software,
        });
        self.answer_ready_waiters();
    }

    /// Takes worker `slot` out of service: kills what is left of it, re-queues or settles
    /// the pieces it held, and schedules its replacement.
    fn lose(&mut self, slot: usize, lost: Lost) {
        let Some(mut c) = self.slots[slot].conn.take() else {
            return;
        };
        c.deregister(self.poll.registry());
        // A broken pipe usually means the worker died: say how, if it did.
        let lost = match lost {
            Lost::Io(_) | Lost::ClosedOutput => {
                match c.child.wait_timeout(Duration::from_millis(100)) {
                    Ok(Some(status)) => Lost::Exited(status),
                    _ => lost,
                }
            }
            l => l,
        };
        // SIGKILL to its group (a no-op if it has exited), then reap.
        let _ = c.child.kill();
        let pid = c.pid();
        if matches!(c.phase, Phase::Handshake { .. }) || lost.is_start_failure() {
            self.start_failed(slot, Some(pid), lost);
            return;
        }
        let cause = lost.to_string();
        let held: u32 = c.in_flight.iter().map(|f| f.piece.len() - f.done).sum();
        self.slots[slot].respawn_at = Some(Instant::now());
        self.event(PoolEvent::Lost {
            slot,
            pid,
            cause: cause.clone(),
            inputs_in_hand: held,
        });
        let mut held = std::mem::take(&mut c.in_flight);
        drop(c);
        let Some(head) = held.pop_front() else {
            return;
        };
        let Some(run) = &mut self.run else { return };
        run.summary.workers_lost += 1;
        if !matches!(lost, Lost::TimedOut) {
            run.deaths_in_a_row += 1;
            run.last_death = format!("worker {slot} (pid {pid}): {cause}");
        }
        self.blame(head, &lost, &cause);
        for f in held {
            self.requeue(f.piece);
        }
    }

    /// Settles the request a lost worker was working on (see the module docs).
    fn blame(&mut self, mut head: InFlight, lost: &Lost, cause: &str) {
        let Some(run) = &mut self.run else { return };
        let (shape, split) = (run.spec.shape, run.spec.split);
        head.partial.truncate_to_committed();
        let done = head.done;
        let mut piece = head.piece;
        let mut tally = Tally::default();
        if done >= piece.len() {
            // Every result arrived; only the end of the request was missing.
            self.finish(Done {
                key: piece.key(),
                len: done,
                chunk_len: piece.chunk_len,
                output: head.partial.into_output(),
                tally: Tally {
                    bad: u64::from(head.bad),
                    ..Tally::default()
                },
            });
            return;
        }
        if done > 0 {
            let rest = piece.split_off(done, split);
            tally.bad = u64::from(head.bad);
            self.finish(Done {
                key: piece.key(),
                len: done,
                chunk_len: piece.chunk_len,
                output: head.partial.into_output(),
                tally,
            });
            piece = rest;
            piece.attempts = 0;
        }
        if matches!(lost, Lost::TimedOut) {
            // The input in hand has run past the timeout. Those before it are finished but
            // their results were lost with the worker: they go again, as does the rest.
            let after = self.cfg.timeout.unwrap_or_default();
            let unsent = head.in_hand.saturating_sub(done);
            if unsent > 0 {
                if unsent >= piece.len() {
                    // It hung after its last input: nothing to blame, all to redo.
                    self.requeue(piece);
                    return;
                }
                let rest = piece.split_off(unsent, split);
                self.requeue(std::mem::replace(&mut piece, rest));
            }
            let rest = (piece.len() > 1).then(|| piece.split_off(1, split));
            let text = piece.input_text(0, split);
            self.finish(Done {
                key: piece.key(),
                len: 1,
                chunk_len: piece.chunk_len,
                output: failure_output(
                    shape,
                    &text,
                    text.len() as u64,
                    NumberFailure::TimedOut { after },
                ),
                tally: Tally {
                    timed_out: 1,
                    ..Tally::default()
                },
            });
            if let Some(mut rest) = rest {
                rest.attempts = 0;
                self.requeue(rest);
            }
            return;
        }
        piece.attempts += 1;
        if piece.len() == 1 {
            if piece.attempts >= self.cfg.max_attempts {
                let text = piece.input_text(0, split);
                self.finish(Done {
                    key: piece.key(),
                    len: 1,
                    chunk_len: piece.chunk_len,
                    output: failure_output(
                        shape,
                        &text,
                        text.len() as u64,
                        NumberFailure::WorkerDied {
                            attempts: piece.attempts,
                            cause: cause.to_string(),
                        },
                    ),
                    tally: Tally {
                        failed: 1,
                        ..Tally::default()
                    },
                });
            } else {
                self.requeue(piece);
            }
        } else if piece.attempts >= 2 {
            // Failed twice: cut it in halves, to corner the input that kills workers.
            let mut second = piece.split_off(piece.len() / 2, split);
            piece.attempts = 1;
            second.attempts = 1;
            self.requeue(piece);
            self.requeue(second);
        } else {
            self.requeue(piece);
        }
    }

    fn requeue(&mut self, piece: Piece) {
        if let Some(run) = &mut self.run {
            run.summary.retried += u64::from(piece.len());
            run.retry.insert(piece.key(), piece);
        }
    }

    // ---------------------------------------------------------------- responses

    /// Applies one response of worker `slot`; `Err` describes a protocol violation.
    fn on_response(&mut self, slot: usize, response: Response) -> Result<(), String> {
        let now = Instant::now();
        let c = self.slots[slot].conn.as_mut().expect("caller checked");
        let Some(head) = c.in_flight.front_mut() else {
            return Err(match response {
                Response::Error(e) => format!("the worker reported: {}", e.message),
                r => format!("an answer ({}) with no request outstanding", kind(&r)),
            });
        };
        if let Response::Working { id, .. } = response
            && id < head.id
        {
            // A clock tick about a request that has just been finished: harmless.
            return Ok(());
        }
        if response.id() != Some(head.id) {
            return Err(match response {
                Response::Error(e) => format!("the worker reported: {}", e.message),
                r => format!(
                    "an answer ({}) for request {} while request {} is in hand",
                    kind(&r),
                    r.id().unwrap_or_default(),
                    head.id
                ),
            });
        }
        let len = head.piece.len();
        let in_hand_before = head.in_hand;
        match (response, &mut head.partial) {
            (Response::Working { index, .. }, _) => {
                // The clock thread that sends these reads the worker's position without
                // stopping it, so one may lag behind the results: only the future counts.
                if index > len {
                    return Err(format!(
                        "working on input {index} after {} of {len} were finished",
                        head.done
                    ));
                }
                head.in_hand = head.in_hand.max(index);
            }
            (
                Response::Text {
                    done,
                    bad,
                    text,
                    errors,
                    ..
                },
                Partial::Text { segs, committed },
            ) => {
                if done < head.done || done > len || bad < head.bad || bad > done.max(head.done + 1)
                {
                    return Err(format!(
                        "text part says {done} input(s) done ({bad} bad) after {} of {len}",
                        head.done
                    ));
                }
                let mut pos = 0usize;
                for e in errors {
                    let at = e.at as usize;
                    if at < pos || at > text.len() {
                        return Err(format!("message offset {at} out of order or range"));
                    }
                    push_out(segs, &text[pos..at]);
                    segs.push(Segment::Message(e.message));
                    pos = at;
                }
                if pos == 0 && segs.is_empty() {
                    segs.push(Segment::Out(text));
                } else {
                    push_out(segs, &text[pos..]);
                }
                if done > head.done {
                    let last = match segs.last() {
                        Some(Segment::Out(v)) => v.len(),
                        _ => 0,
                    };
                    *committed = (segs.len(), last);
                }
                head.done = done;
                head.bad = bad;
            }
            (Response::Factors { first, factors, .. }, Partial::Numbers { results, .. }) => {
                let n = factors.len() as u32;
                if first != head.done || head.done + n > len || self_mode(&self.run) != Mode::Primes
                {
                    return Err(format!(
                        "factors for {n} number(s) from index {first} after {} of {len}",
                        head.done
                    ));
                }
                results.extend(factors.into_iter().map(Ok));
                head.done += n;
            }
            (
                Response::Divisors {
                    index,
                    divisors,
                    last,
                    ..
                },
                Partial::Numbers {
                    results,
                    divisors: current,
                },
            ) => {
                if index != head.done || index >= len || self_mode(&self.run) != Mode::Divisors {
                    return Err(format!(
                        "divisors of index {index} after {} of {len}",
                        head.done
                    ));
                }
                current.extend(divisors);
                if last {
                    results.push(Ok(std::mem::take(current)));
                    head.done += 1;
                }
            }
            (
                Response::NumberFailed { index, error, .. },
                Partial::Numbers {
                    results,
                    divisors: current,
                },
            ) => {
                if index != head.done || index >= len {
                    return Err(format!(
                        "a failure for index {index} after {} of {len}",
                        head.done
                    ));
                }
                current.clear();
                results.push(Err(NumberFailure::Refused(error)));
                head.done += 1;
                head.bad += 1;
            }
            (Response::BatchDone { .. }, _) => {
                if head.done != len {
                    return Err(format!(
                        "request {} done after {} of {len} results",
                        head.id, head.done
                    ));
                }
                self.complete_head(slot, now);
                return Ok(());
            }
            (r, _) => return Err(format!("an unexpected answer ({})", kind(&r))),
        }
        head.in_hand = head.in_hand.max(head.done);
        if head.in_hand > in_hand_before {
            c.head_since = now;
        }
        Ok(())
    }

    fn complete_head(&mut self, slot: usize, now: Instant) {
        let c = self.slots[slot].conn.as_mut().expect("caller checked");
        let f = c.in_flight.pop_front().expect("caller checked");
        c.load -= u64::from(f.piece.len());
        c.head_since = now;
        if let Some(next) = c.in_flight.front_mut() {
            next.began = Some(now);
        }
        let len = f.piece.len();
        if let (Some(began), Some(run)) = (f.began, self.run.as_mut()) {
            run.deaths_in_a_row = 0;
            let per = now.duration_since(began).as_secs_f64() / f64::from(len.max(1));
            let smooth = run.per_item.map_or(per, |p| 0.6 * p + 0.4 * per);
            run.per_item = Some(smooth);
            let want = self.cfg.piece_time.as_secs_f64() / smooth.max(1e-9);
            let target = want.clamp(1.0, f64::from(MAX_PIECE_ITEMS)) as u32;
            run.spec.target.store(target, Ordering::Relaxed);
        }
        self.finish(Done {
            key: f.piece.key(),
            len,
            chunk_len: f.piece.chunk_len,
            output: f.partial.into_output(),
            tally: Tally {
                bad: u64::from(f.bad),
                ..Tally::default()
            },
        });
    }

    fn finish(&mut self, done: Done) {
        let Some(run) = &mut self.run else { return };
        run.spec
            .held_bytes
            .fetch_add(done.bytes(), Ordering::Relaxed);
        run.reorder.insert(done.key, done);
    }

    // ---------------------------------------------------------------- scheduling

    /// Hands out work, sends finished pieces on, and ends the run when it is complete.
    fn pump(&mut self) {
        let Some(run) = &self.run else { return };
        if run.spec.stop.load(Ordering::Relaxed) || self.stop.load(Ordering::Relaxed) {
            self.emit();
            self.end_run(Ok(()), true);
            return;
        }
        while let Some(slot) = self.pick_worker() {
            let Some(piece) = self.next_piece() else {
                break;
            };
            self.send(slot, piece);
        }
        self.emit();
        let Some(run) = &self.run else { return };
        let busy = self
            .slots
            .iter()
            .any(|s| s.conn.as_ref().is_some_and(|c| !c.in_flight.is_empty()));
        let pending = !run.retry.is_empty() || !run.input_done;
        if run.deaths_in_a_row > self.cfg.max_deaths_in_a_row {
            let e = PoolError::WorkersKeepDying {
                deaths: run.deaths_in_a_row,
                last_cause: run.last_death.clone(),
            };
            self.end_run(Err(e), false);
        } else if !busy && pending && self.slots.iter().all(|s| s.given_up) {
            let e = self.no_workers();
            self.end_run(Err(e), false);
        } else if !busy && !pending && run.reorder.is_empty() {
            self.end_run(Ok(()), false);
        }
    }

    /// The ready worker with room for another request and the least work in hand.
    fn pick_worker(&self) -> Option<usize> {
        let room = self.requests_per_worker();
        self.slots
            .iter()
            .enumerate()
            .filter_map(|(i, s)| Some((i, s.conn.as_ref()?)))
            .filter(|(_, c)| c.phase == Phase::Ready && c.in_flight.len() < room)
            .min_by_key(|(_, c)| (c.in_flight.len(), c.load))
            .map(|(i, _)| i)
    }

    /// Requests a worker may hold. A second one waiting in the pipe saves the round trip
    /// between requests, which matters for fast inputs; when single inputs take longer than
    /// [`SLOW_INPUT`] that saving is nothing, and a request queued behind a long one could
    /// hold up the end of the run while another worker sits idle, so only one is held.
    fn requests_per_worker(&self) -> usize {
        match self.run.as_ref().and_then(|r| r.per_item) {
            Some(per) if per > SLOW_INPUT.as_secs_f64() => 1,
            _ => self.cfg.in_flight,
        }
    }

    /// The next piece to hand out: retries first (they hold up the output), then new input
    /// while the reorder window has room.
    fn next_piece(&mut self) -> Option<Piece> {
        loop {
            let run = self.run.as_mut()?;
            if let Some((_, mut p)) = run.retry.pop_first() {
                recut(run, &mut p);
                return Some(p);
            }
            if run.input_done
                || run.next_seq >= run.next_emit.0 + self.cfg.window
                || run.spec.held_bytes.load(Ordering::Relaxed) > HELD_BYTES_BUDGET
            {
                return None;
            }
            let items = match run.spec.input.try_recv() {
                Ok(items) => items,
                Err(TryRecvError::Empty) => return None,
                Err(TryRecvError::Disconnected) => {
                    run.input_done = true;
                    return None;
                }
            };
            let len = items.len();
            if len == 0 {
                continue;
            }
            let piece = Piece {
                seq: run.next_seq,
                start: 0,
                chunk_len: len,
                items,
                attempts: 0,
            };
            run.next_seq += 1;
            if let Items::TooLong { prefix, len: bytes } = &piece.items {
                let output = too_long_output(run.spec.shape, prefix, *bytes);
                self.finish(Done {
                    key: piece.key(),
                    len: 1,
                    chunk_len: 1,
                    output,
                    tally: Tally {
                        bad: 1,
                        ..Tally::default()
                    },
                });
                continue;
            }
            let mut piece = piece;
            recut(run, &mut piece);
            return Some(piece);
        }
    }

    fn send(&mut self, slot: usize, mut piece: Piece) {
        let Some(run) = &self.run else { return };
        let id = RequestId(self.next_id);
        self.next_id += 1;
        let (mode, split, cap) = (run.spec.mode, run.spec.split, run.spec.divisor_cap);
        let format = match run.spec.shape {
            Shape::Text(f) => f,
            Shape::Numbers => TextFormat::Plain,
        };
        let (request, partial) = match &mut piece.items {
            Items::Numbers(v) => (
                Request::Batch(Batch {
                    id,
                    mode,
                    numbers: std::mem::take(v),
                    divisor_cap: cap,
                }),
                Partial::Numbers {
                    results: Vec::with_capacity(v.capacity()),
                    divisors: Vec::new(),
                },
            ),
            Items::Text { bytes, .. } => (
                Request::Text(TextBatch {
                    id,
                    mode,
                    format,
                    split,
                    divisor_cap: cap,
                    text: std::mem::take(bytes),
                }),
                Partial::Text {
                    segs: Vec::new(),
                    committed: (0, 0),
                },
            ),
            Items::TooLong { .. } => unreachable!("settled by next_piece"),
        };
        let c = self.slots[slot]
            .conn
            .as_mut()
            .expect("picked a live worker");
        let queued = c.queue(&request);
        // Take the inputs back for a retry.
        match (request, &mut piece.items) {
            (Request::Batch(b), Items::Numbers(v)) => *v = b.numbers,
            (Request::Text(t), Items::Text { bytes, .. }) => *bytes = t.text,
            _ => unreachable!("built above"),
        }
        if let Err(e) = queued {
            // Cannot happen: pieces are cut far below the frame limit. Keep the run going
            // by reporting the piece's inputs as failed rather than losing them.
            let cause = format!("cannot encode the request: {e}");
            self.fail_piece(piece, &cause);
            return;
        }
        let now = Instant::now();
        if c.in_flight.is_empty() {
            c.head_since = now;
        }
        let len = piece.len();
        c.load += u64::from(len);
        let began = c.in_flight.is_empty().then_some(now);
        c.in_flight.push_back(InFlight {
            id,
            piece,
            done: 0,
            in_hand: 0,
            bad: 0,
            partial,
            began,
        });
        if let Err(e) = c.flush() {
            self.drain_then_lose(slot, Lost::Io(format!("cannot write to it: {e}")));
        }
    }

    /// Reports every input of `piece` as failed (a bug path: it should not be reachable).
    fn fail_piece(&mut self, mut piece: Piece, cause: &str) {
        let Some(run) = &self.run else { return };
        let (shape, split) = (run.spec.shape, run.spec.split);
        loop {
            let rest = (piece.len() > 1).then(|| piece.split_off(1, split));
            let text = piece.input_text(0, split);
            self.finish(Done {
                key: piece.key(),
                len: 1,
                chunk_len: piece.chunk_len,
                output: failure_output(
                    shape,
                    &text,
                    text.len() as u64,
                    NumberFailure::WorkerDied {
                        attempts: 0,
                        cause: cause.to_string(),
                    },
                ),
                tally: Tally {
                    failed: 1,
                    ..Tally::default()
                },
            });
            match rest {
                Some(r) => piece = r,
                None => return,
            }
        }
    }

    /// Sends the finished pieces that are next in input order to the caller.
    fn emit(&mut self) {
        let Some(run) = &mut self.run else { return };
        while let Some(entry) = run.reorder.first_entry() {
            if *entry.key() != run.next_emit {
                break;
            }
            let done = entry.remove();
            let (next, len, tally) = (done.next_key(), done.len, done.tally);
            match run.spec.output.try_send(Emit::Piece(done)) {
                Ok(()) => {
                    run.next_emit = next;
                    let s = &mut run.summary;
                    s.inputs += u64::from(len);
                    s.bad += tally.bad;
                    s.failed += tally.failed;
                    s.timed_out += tally.timed_out;
                }
                Err(TrySendError::Full(Emit::Piece(done))) => {
                    run.reorder.insert(done.key, done);
                    break;
                }
                Err(_) => {
                    // The caller is gone: nobody wants the rest.
                    run.spec.stop.store(true, Ordering::Relaxed);
                    break;
                }
            }
        }
    }

    /// Ends the current run: `stopped` (a stop request) or an error stops the workers that
    /// hold work (TERM, grace, KILL for a stop; KILL for an error); pending work is dropped.
    fn end_run(&mut self, result: Result<(), PoolError>, stopped: bool) {
        let Some(mut run) = self.run.take() else {
            return;
        };
        let clean = result.is_ok() && !stopped;
        if !clean {
            let grace = if stopped {
                self.cfg.grace
            } else {
                Duration::ZERO
            };
            self.stop_busy(grace);
        }
        run.summary.stopped = stopped;
        let msg = Emit::End(result.map(|()| run.summary.clone()));
        // The caller drains the channel until it sees the end; block for room if need be.
        let _ = run.spec.output.send(msg);
    }

    /// Stops every worker that holds work: SIGTERM to their groups, up to `grace` for them
    /// to go, then SIGKILL. Their slots are refilled later.
    fn stop_busy(&mut self, grace: Duration) {
        let busy: Vec<usize> = (0..self.slots.len())
            .filter(|&i| {
                self.slots[i]
                    .conn
                    .as_ref()
                    .is_some_and(|c| !c.in_flight.is_empty())
            })
            .collect();
        self.stop_slots(&busy, grace);
        for i in busy {
            self.slots[i].respawn_at = Some(Instant::now());
        }
    }

    fn stop_slots(&mut self, which: &[usize], grace: Duration) {
        let mut conns: Vec<Conn> = which
            .iter()
            .filter_map(|&i| self.slots[i].conn.take())
            .collect();
        for c in &mut conns {
            c.deregister(self.poll.registry());
            if grace.is_zero() {
                let _ = c.child.signal(crate::Signal::Kill);
            } else {
                let _ = c.child.signal(crate::Signal::Term);
            }
        }
        let deadline = Instant::now() + grace;
        for c in &conns {
            if !matches!(c.child.wait_deadline(Some(deadline)), Ok(Some(_))) {
                let _ = c.child.kill();
            }
        }
    }

    /// At shutdown: close every worker's stdin (a worker ends when its input ends), give
    /// them the grace period, then TERM and KILL what is left.
    fn stop_all(&mut self) {
        self.end_run(Err(PoolError::Closed), true);
        let registry = self.poll.registry();
        for s in &mut self.slots {
            if let Some(c) = s.conn.as_mut() {
                c.close_stdin(registry);
            }
        }
        let deadline = Instant::now() + self.cfg.grace;
        for s in &self.slots {
            if let Some(c) = &s.conn {
                let _ = c.child.wait_deadline(Some(deadline));
            }
        }
        let all: Vec<usize> = (0..self.slots.len()).collect();
        self.stop_slots(&all, Duration::from_millis(500));
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
                _ => {}
            }
        }
    }
}

/// Single inputs slower than this are "slow" (see `requests_per_worker`).
const SLOW_INPUT: Duration = Duration::from_millis(1);

/// Cuts `piece` down to the current target size if it is more than twice that (the inputs
/// turned out slower than when the reader cut it), putting the rest back in the queue, so a
/// chunk of slow numbers is spread over the workers instead of held by one.
fn recut(run: &mut Run, piece: &mut Piece) {
    let target = run.spec.target.load(Ordering::Relaxed).max(1);
    if run.per_item.is_some() && piece.len() > 2 * target {
        let rest = piece.split_off(target, run.spec.split);
        run.retry.insert(rest.key(), rest);
    }
}

fn self_mode(run: &Option<Run>) -> Mode {
    run.as_ref().map_or(Mode::Primes, |r| r.spec.mode)
}

/// Appends bytes to the last output segment, or starts one.
fn push_out(segs: &mut Vec<Segment>, bytes: &[u8]) {
    if bytes.is_empty() {
        return;
    }
    match segs.last_mut() {
        Some(Segment::Out(v)) => v.extend_from_slice(bytes),
        _ => segs.push(Segment::Out(bytes.to_vec())),
    }
}

impl Partial {
    pub(crate) fn into_output(self) -> Output {
        match self {
            Self::Text { segs, .. } => Output::Text(segs),
            Self::Numbers { results, .. } => Output::Numbers(results),
        }
    }
}

/// A response's name, for messages.
fn kind(r: &Response) -> &'static str {
    match r {
        Response::Factors { .. } => "Factors",
        Response::Divisors { .. } => "Divisors",
        Response::NumberFailed { .. } => "NumberFailed",
        Response::BatchDone { .. } => "BatchDone",
        Response::Pong { .. } => "Pong",
        Response::Error(_) => "Error",
        Response::Text { .. } => "Text",
        Response::Working { .. } => "Working",
    }
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

/// The output for an input the reader refused for its length.
fn too_long_output(shape: Shape, prefix: &[u8], len: u64) -> Output {
    let message = format!(
        "{} is too long to be a number this program accepts",
        super::work::quote(prefix, len)
    );
    match shape {
        Shape::Numbers => Output::Numbers(vec![Err(NumberFailure::TooLong)]),
        Shape::Text(TextFormat::Plain) => Output::Text(vec![Segment::Message(message)]),
        Shape::Text(TextFormat::Json) => {
            let json = |s: &str| serde_json::Value::from(s).to_string();
            let line = format!(
                "{{\"input\":{},\"error\":{}}}\n",
                json(&String::from_utf8_lossy(prefix)),
                json(&message)
            );
            Output::Text(vec![Segment::Out(line.into_bytes())])
        }
    }
}
