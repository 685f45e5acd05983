//! Starting, replacing and stopping workers; settling what a lost worker held.

use std::time::{Duration, Instant};

use shared::frame::decode_body;
use shared::{Hello, Response};

use super::super::PoolEvent;
use super::super::conn::{Conn, InFlight, Phase};
use super::super::error::{Lost, PoolError};
use super::super::work::{Done, NumberFailure, Piece, Tally};
use super::{Dispatcher, error_chain};

impl Dispatcher {
    /// Starts workers for empty slots whose time has come.
    pub(super) fn maintain(&mut self, now: Instant) {
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

    pub(super) fn start_failed(&mut self, slot: usize, pid: Option<u32>, lost: Lost) {
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

    pub(super) fn answer_ready_waiters(&mut self) {
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

    pub(super) fn no_workers(&self) -> PoolError {
        PoolError::NoWorkers {
            slots: self.slots.len(),
            failures: self.start_failures,
            last_error: self.last_start_error.clone(),
        }
    }

    pub(super) fn conn_mut(&mut self, slot: usize) -> Option<&mut Conn> {
        self.slots[slot].conn.as_mut()
    }

    pub(super) fn on_writable(&mut self, slot: usize) {
        let Some(c) = self.conn_mut(slot) else { return };
        if let Err(e) = c.flush() {
            self.drain_then_lose(slot, Lost::Io(format!("cannot write to it: {e}")));
        }
    }

    pub(super) fn on_exit(&mut self, slot: usize) {
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
    pub(super) fn drain(&mut self, slot: usize) {
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

    pub(super) fn drain_then_lose(&mut self, slot: usize, lost: Lost) {
        self.drain(slot);
        if self.slots[slot].conn.is_some() {
            self.lose(slot, lost);
        }
    }

    pub(super) fn on_readable(&mut self, slot: usize) {
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
    pub(super) fn take_frames(&mut self, slot: usize) {
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

    pub(super) fn ready(&mut self, slot: usize, hello: Hello) {
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
    pub(super) fn lose(&mut self, slot: usize, lost: Lost) {
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
        // Every loss during a run counts (the event above was printed for each), also one
        // that held nothing; only one that held work can be blamed for it.
        let Some(run) = &mut self.run else { return };
        run.summary.workers_lost += 1;
        let Some(head) = held.pop_front() else {
            return;
        };
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
    pub(super) fn blame(&mut self, mut head: InFlight, lost: &Lost, cause: &str) {
        let Some(run) = &mut self.run else { return };
        let split = run.spec.split;
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
            if let Some(mut rest) = self.fail_first(piece, NumberFailure::TimedOut { after }) {
                rest.attempts = 0;
                self.requeue(rest);
            }
            return;
        }
        piece.attempts += 1;
        if piece.len() == 1 {
            if piece.attempts >= self.cfg.max_attempts {
                let attempts = piece.attempts;
                let why = NumberFailure::WorkerDied {
                    attempts,
                    cause: cause.to_string(),
                };
                self.fail_first(piece, why);
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

    pub(super) fn requeue(&mut self, piece: Piece) {
        if let Some(run) = &mut self.run {
            run.summary.retried += u64::from(piece.len());
            run.retry.insert(piece.key(), piece);
        }
    }
}
