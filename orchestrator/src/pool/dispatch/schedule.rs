//! Handing out pieces, delivering results in input order, ending runs.

use std::sync::atomic::Ordering;
use std::time::{Duration, Instant};

use crossbeam_channel::{TryRecvError, TrySendError};
use shared::{Batch, Request, RequestId, TextBatch, TextFormat};

use super::super::conn::{Conn, InFlight, Partial, Phase};
use super::super::error::{Lost, PoolError};
use super::super::work::{
    Done, Items, NumberFailure, Output, Piece, Segment, Shape, Tally, failure_output,
};
use super::{Dispatcher, Emit, HELD_BYTES_BUDGET, Run};

impl Dispatcher {
    /// Hands out work, sends finished pieces on, and ends the run when it is complete.
    pub(super) fn pump(&mut self) {
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
    pub(super) fn pick_worker(&self) -> Option<usize> {
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
    pub(super) fn requests_per_worker(&self) -> usize {
        match self.run.as_ref().and_then(|r| r.per_item) {
            Some(per) if per > SLOW_INPUT.as_secs_f64() => 1,
            _ => self.cfg.in_flight,
        }
    }

    /// The next piece to hand out: retries first (they hold up the output), then new input
    /// while the reorder window has room.
    pub(super) fn next_piece(&mut self) -> Option<Piece> {
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

    pub(super) fn send(&mut self, slot: usize, mut piece: Piece) {
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
            c.heard = now;
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
    pub(super) fn fail_piece(&mut self, piece: Piece, cause: &str) {
        let mut next = Some(piece);
        while let Some(piece) = next {
            next = self.fail_first(
                piece,
                NumberFailure::WorkerDied {
                    attempts: 0,
                    cause: cause.to_string(),
                },
            );
        }
    }

    /// Finishes the first input of `piece` with `why` (counted as timed out or failed) and
    /// returns the rest of the piece, if any.
    pub(super) fn fail_first(&mut self, mut piece: Piece, why: NumberFailure) -> Option<Piece> {
        let run = self.run.as_ref()?;
        let (shape, split) = (run.spec.shape, run.spec.split);
        let rest = (piece.len() > 1).then(|| piece.split_off(1, split));
        let text = piece.input_text(0, split);
        let tally = match why {
            NumberFailure::TimedOut { .. } => Tally {
                timed_out: 1,
                ..Tally::default()
            },
            _ => Tally {
                failed: 1,
                ..Tally::default()
            },
        };
        self.finish(Done {
            key: piece.key(),
            len: 1,
            chunk_len: piece.chunk_len,
            output: failure_output(shape, &text, text.len() as u64, why),
            tally,
        });
        rest
    }

    /// Sends the finished pieces that are next in input order to the caller.
    pub(super) fn emit(&mut self) {
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
    pub(super) fn end_run(&mut self, result: Result<(), PoolError>, stopped: bool) {
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
    pub(super) fn stop_busy(&mut self, grace: Duration) {
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

    pub(super) fn stop_slots(&mut self, which: &[usize], grace: Duration) {
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
    pub(super) fn stop_all(&mut self) {
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

/// The output for an input the reader refused for its length.
fn too_long_output(shape: Shape, prefix: &[u8], len: u64) -> Output {
    let message = format!(
        "{} is too long to be a number this program accepts",
        super::super::work::quote(prefix, len)
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
