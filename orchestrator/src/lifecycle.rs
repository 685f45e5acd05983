//! The life of one unit (a child, or a pipeline's children sharing one process group) as a
//! pure state machine: deadline, TERM → grace → KILL, completion on exit, bounded drain, leak.
//!
//! It owns no fds and makes no system calls: a driver tells it what it observed (the children
//! exited, the pipes are still open, the time) and it answers with the signals to send to the
//! group and whether the unit is finished. Two drivers share it:
//! [`Communicate`](crate::Communicate) (one `ppoll` loop for one unit) and the
//! [`Supervisor`](crate::supervisor::Supervisor) (one epoll loop for many units), so both
//! follow the same rules:
//!
//! * **Completion is exit.** Once every child has exited, pipes still open are held by
//!   something the children left behind; they are drained for at most `drain_timeout`, then
//!   the unit is finished with `leaked` set (the driver kills the group).
//! * **Deadline.** At the deadline the group gets SIGTERM (and SIGCONT, so a stopped group can
//!   act on it); after `grace`, SIGKILL. A zero grace sends SIGKILL at once. While a timed-out
//!   unit's leader has exited but the grace is not over, the rest of the group gets what is
//!   left of the grace (or the drain window, whichever is longer) to close the pipes.
//! * **Stop requests** (Ctrl-C) follow the deadline's path but are not reported as timeouts;
//!   a kill request sends SIGKILL at once.

use std::time::{Duration, Instant};

use crate::sys::Signal;

/// Why the unit was (or is being) stopped.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum StopCause {
    /// Its deadline passed.
    Deadline,
    /// Someone asked it to stop (a shutdown signal, a halt policy).
    Request,
}

/// What the driver must do after [`Lifecycle::advance`].
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub(crate) struct Step {
    /// The deadline was reached on this step (the children were still running).
    pub(crate) deadline_hit: bool,
    /// Signals to send to the group now, in order.
    pub(crate) signals: Vec<Signal>,
    /// The unit is finished: stop reading. `Some(true)` if pipes were still held after the
    /// drain window (the driver kills the group and reports a leak).
    pub(crate) finished: Option<bool>,
}

/// See the module docs.
#[derive(Debug, Clone)]
pub(crate) struct Lifecycle {
    deadline: Option<Instant>,
    grace: Duration,
    drain_timeout: Duration,
    /// When the group was first signalled, and why.
    term_at: Option<(Instant, StopCause)>,
    /// When SIGKILL follows (`None` once sent, or before any stop).
    kill_at: Option<Instant>,
    killed: bool,
    exited_at: Option<Instant>,
}

impl Lifecycle {
    pub(crate) fn new(deadline: Option<Instant>, grace: Duration, drain_timeout: Duration) -> Self {
        Self {
            deadline,
            grace,
            drain_timeout,
            term_at: None,
            kill_at: None,
            killed: false,
            exited_at: None,
        }
    }

    /// Every child has exited (first call wins).
    pub(crate) fn exited(&mut self, now: Instant) {
        self.exited_at.get_or_insert(now);
    }

    /// When every child was seen to have exited.
    pub(crate) fn exited_at(&self) -> Option<Instant> {
        self.exited_at
    }

    /// When the group was first signalled (deadline or request), and why.
    pub(crate) fn stopped(&self) -> Option<(Instant, StopCause)> {
        self.term_at
    }

    /// True once SIGKILL has been sent to the group.
    pub(crate) fn killed(&self) -> bool {
        self.killed
    }

    /// Until when the pipes may stay open after the exit.
    fn drain_limit(&self, exited: Instant) -> Instant {
        match self.kill_at {
            Some(k) if !self.killed => k.max(exited + self.drain_timeout),
            _ => exited + self.drain_timeout,
        }
    }

    fn begin_stop(&mut self, now: Instant, grace: Duration, cause: StopCause, step: &mut Step) {
        self.term_at = Some((now, cause));
        if grace.is_zero() {
            step.signals.push(Signal::Kill);
            self.killed = true;
        } else {
            step.signals.push(Signal::Term);
            step.signals.push(Signal::Cont);
            self.kill_at = Some(now + grace);
        }
    }

    /// Moves the timers to `now`; `pipes_open` says whether any output pipe is still open.
    pub(crate) fn advance(&mut self, now: Instant, pipes_open: bool) -> Step {
        let mut step = Step::default();
        if self.exited_at.is_none() {
            if let Some(d) = self.deadline
                && self.term_at.is_none()
                && now >= d
            {
                step.deadline_hit = true;
                self.begin_stop(now, self.grace, StopCause::Deadline, &mut step);
            }
            if let Some(k) = self.kill_at
                && !self.killed
                && now >= k
            {
                step.signals.push(Signal::Kill);
                self.killed = true;
            }
        }
        if let Some(e) = self.exited_at {
            if !pipes_open {
                step.finished = Some(false);
            } else if now >= self.drain_limit(e) {
                step.finished = Some(true);
            }
        }
        step
    }

    /// The next instant at which [`Lifecycle::advance`] has something to do (`None`: only an
    /// exit or an end-of-file can move it on).
    pub(crate) fn next_wake(&self) -> Option<Instant> {
        if let Some(e) = self.exited_at {
            return Some(self.drain_limit(e));
        }
        let deadline = self.deadline.filter(|_| self.term_at.is_none());
        let kill = self.kill_at.filter(|_| !self.killed);
        match (deadline, kill) {
            (Some(a), Some(b)) => Some(a.min(b)),
            (a, b) => a.or(b),
        }
    }

    /// Asks the unit to stop now, with `grace` before SIGKILL, as if its deadline had passed
    /// (but it is not a timeout). A unit already stopping keeps the earlier SIGKILL time.
    /// Returns the signals to send.
    pub(crate) fn request_stop(&mut self, now: Instant, grace: Duration) -> Vec<Signal> {
        let mut step = Step::default();
        if self.exited_at.is_some() || self.killed {
            return step.signals;
        }
        match self.term_at {
            None => self.begin_stop(now, grace, StopCause::Request, &mut step),
            Some(_) => {
                let k = now + grace;
                if self.kill_at.is_none_or(|old| k < old) {
                    self.kill_at = Some(k);
                }
            }
        }
        step.signals
    }

    /// Asks the unit to die now: SIGKILL to the group (also during the drain, to free the
    /// pipes of what was left behind). Returns the signals to send.
    pub(crate) fn request_kill(&mut self, now: Instant) -> Vec<Signal> {
        if self.killed {
            return Vec::new();
        }
        if self.term_at.is_none() && self.exited_at.is_none() {
            self.term_at = Some((now, StopCause::Request));
        }
        self.killed = true;
        vec![Signal::Kill]
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ms(n: u64) -> Duration {
        Duration::from_millis(n)
    }

    #[test]
    fn exit_with_closed_pipes_finishes_at_once() {
        let t0 = Instant::now();
        let mut l = Lifecycle::new(None, ms(100), ms(50));
        assert_eq!(l.advance(t0, true), Step::default());
        assert_eq!(l.next_wake(), None);
        l.exited(t0);
        assert_eq!(l.advance(t0, false).finished, Some(false));
    }

    #[test]
    fn pipes_held_after_exit_are_a_leak_after_the_drain_window() {
        let t0 = Instant::now();
        let mut l = Lifecycle::new(None, ms(100), ms(50));
        l.exited(t0);
        assert_eq!(l.advance(t0 + ms(10), true).finished, None);
        assert_eq!(l.next_wake(), Some(t0 + ms(50)));
        assert_eq!(l.advance(t0 + ms(50), true).finished, Some(true));
    }

    #[test]
    fn deadline_sends_term_then_kill_after_the_grace() {
        let t0 = Instant::now();
        let mut l = Lifecycle::new(Some(t0 + ms(100)), ms(200), ms(50));
        assert_eq!(l.next_wake(), Some(t0 + ms(100)));
        let s = l.advance(t0 + ms(100), true);
        assert!(s.deadline_hit);
        assert_eq!(s.signals, vec![Signal::Term, Signal::Cont]);
        assert_eq!(l.next_wake(), Some(t0 + ms(300)));
        assert!(l.advance(t0 + ms(200), true).signals.is_empty());
        let s = l.advance(t0 + ms(300), true);
        assert_eq!(s.signals, vec![Signal::Kill]);
        assert!(l.killed());
        assert_eq!(l.stopped().map(|s| s.1), Some(StopCause::Deadline));
    }

    #[test]
    fn zero_grace_kills_at_once() {
        let t0 = Instant::now();
        let mut l = Lifecycle::new(Some(t0), Duration::ZERO, ms(50));
        assert_eq!(l.advance(t0, true).signals, vec![Signal::Kill]);
        assert_eq!(l.next_wake(), None);
    }

    #[test]
    fn after_a_term_the_group_gets_the_rest_of_the_grace_to_close_the_pipes() {
        let t0 = Instant::now();
        let mut l = Lifecycle::new(Some(t0), ms(500), ms(50));
        l.advance(t0, true);
        l.exited(t0 + ms(10));
        assert_eq!(l.next_wake(), Some(t0 + ms(500)));
        assert_eq!(l.advance(t0 + ms(100), true).finished, None);
        assert_eq!(l.advance(t0 + ms(500), true).finished, Some(true));
    }

    #[test]
    fn stop_requests_are_not_timeouts_and_a_kill_request_is_immediate() {
        let t0 = Instant::now();
        let mut l = Lifecycle::new(Some(t0 + ms(1000)), ms(500), ms(50));
        assert_eq!(
            l.request_stop(t0, ms(100)),
            vec![Signal::Term, Signal::Cont]
        );
        assert_eq!(l.stopped().map(|s| s.1), Some(StopCause::Request));
        assert_eq!(l.next_wake(), Some(t0 + ms(100)));
        // A second stop does not re-signal; a kill request does, once.
        assert!(l.request_stop(t0 + ms(10), ms(100)).is_empty());
        assert_eq!(l.request_kill(t0 + ms(20)), vec![Signal::Kill]);
        assert!(l.request_kill(t0 + ms(30)).is_empty());
        assert_eq!(l.next_wake(), None);
    }

    #[test]
    fn a_kill_request_during_the_drain_shortens_it() {
        let t0 = Instant::now();
        let mut l = Lifecycle::new(Some(t0), ms(500), ms(50));
        l.advance(t0, true);
        l.exited(t0 + ms(10));
        assert_eq!(l.request_kill(t0 + ms(20)), vec![Signal::Kill]);
        assert_eq!(l.next_wake(), Some(t0 + ms(60)));
    }
}
