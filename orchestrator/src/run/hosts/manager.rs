//! The thread that owns the ControlMasters and checks hosts, for [`Hosts`](super::Hosts).
//!
//! Masters are started with the parent-death signal, which fires when the *thread* that started
//! them ends; so one thread that lives as long as the [`Manager`] starts them all. Checks (a
//! fresh connection running the probe script) run on short-lived scoped threads, several at
//! once, and report back through a channel, waking the run's event loop.

use std::path::PathBuf;
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use crossbeam_channel::{Receiver, RecvTimeoutError, Sender};

use crate::launch::probe::probe;
use crate::launch::{ControlDir, Master, RemoteShell, SESSIONS_PER_MASTER};
use crate::supervisor::Wake;

/// First wait before a lost host is checked again; it doubles up to [`MAX_BACKOFF`].
const FIRST_BACKOFF: Duration = Duration::from_secs(5);
const MAX_BACKOFF: Duration = Duration::from_secs(60);

/// One host as [`Hosts::start`](super::Hosts::start) plans it.
#[derive(Debug)]
pub(super) struct Plan {
    /// `None`: this machine.
    pub(super) remote: Option<RemoteShell>,
    /// Slots if known (`N/` or `-j`); otherwise the host's core count is asked for.
    pub(super) fixed_slots: Option<usize>,
}

/// What start-up found for one host.
#[derive(Debug)]
pub(super) struct Startup {
    pub(super) slots: usize,
    /// The control socket of master `k` (serving slots `8k..8k+7`), if it runs.
    pub(super) sockets: Vec<PathBuf>,
    /// Why the host cannot be used.
    pub(super) error: Option<String>,
}

/// What the manager tells the launcher.
#[derive(Debug)]
pub(super) enum Report {
    /// The host's connection is fine: a job's 255 was its own exit code.
    Cleared(usize),
    /// A master of the host died (its connection dropped) but the host answers a new
    /// connection: the jobs that ended with 255 were cut off, not failed.
    Dropped(usize),
    /// The host does not answer.
    Lost(usize, String),
    /// A lost host answers again.
    Back(usize),
}

enum Request {
    Check(usize),
    SetWake(Wake),
}

/// The handle: dropping it stops the thread, which kills the masters.
#[derive(Debug)]
pub(super) struct Manager {
    tx: Option<Sender<Request>>,
    thread: Option<JoinHandle<()>>,
}

impl Manager {
    /// Starts the thread and waits for start-up (masters up, core counts known).
    pub(super) fn start(
        plan: Vec<Plan>,
        dir: Option<ControlDir>,
        within: Duration,
        out: Sender<Report>,
    ) -> Result<(Self, Vec<Startup>), String> {
        let (tx, rx) = crossbeam_channel::unbounded();
        let (started_tx, started_rx) = crossbeam_channel::bounded(1);
        let thread = std::thread::Builder::new()
            .name("orchestrator-hosts".into())
            .spawn(move || {
                let mut state = State::new(plan, dir, within, out);
                let startup = state.start_up();
                if started_tx.send(startup).is_err() {
                    return;
                }
                state.serve(&rx);
            })
            .map_err(|e| format!("cannot start the hosts thread: {e}"))?;
        let manager = Self {
            tx: Some(tx),
            thread: Some(thread),
        };
        let startup = started_rx
            .recv()
            .map_err(|_| "the hosts thread ended during start-up".to_string())?;
        Ok((manager, startup))
    }

    /// Checks host `h` (a suspect) and reports [`Report::Cleared`], [`Report::Dropped`] or
    /// [`Report::Lost`].
    pub(super) fn check(&self, h: usize) {
        if let Some(tx) = &self.tx {
            let _ = tx.send(Request::Check(h));
        }
    }

    /// Reports wake `wake` from now on.
    pub(super) fn set_waker(&self, wake: Wake) {
        if let Some(tx) = &self.tx {
            let _ = tx.send(Request::SetWake(wake));
        }
    }
}

impl Drop for Manager {
    fn drop(&mut self) {
        // Closing the channel ends the thread's loop; it drops (kills) the masters.
        self.tx.take();
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

struct HostRt {
    plan: Plan,
    slots: usize,
    masters: Vec<Option<Master>>,
    /// When a lost host is checked again, and the wait after that.
    retry: Option<(Instant, Duration)>,
}

struct State {
    hosts: Vec<HostRt>,
    /// Declared after the hosts: the sockets' directory goes once the masters are gone.
    dir: Option<ControlDir>,
    within: Duration,
    out: Sender<Report>,
    wake: Option<Wake>,
}

impl State {
    fn new(
        plan: Vec<Plan>,
        dir: Option<ControlDir>,
        within: Duration,
        out: Sender<Report>,
    ) -> Self {
        let hosts = plan
            .into_iter()
            .map(|p| HostRt {
                slots: p.fixed_slots.unwrap_or(0),
                plan: p,
                masters: Vec::new(),
                retry: None,
            })
            .collect();
        Self {
            hosts,
            dir,
            within,
            out,
            wake: None,
        }
    }

    fn socket(&self, h: usize, k: usize) -> Option<PathBuf> {
        self.dir.as_ref().map(|d| d.socket(h * 1000 + k))
    }

    /// Starts masters `from..to` of every host in `hosts` at once and waits for them; returns
    /// the error of each host whose master `from` failed.
    fn start_masters(&mut self, want: &[(usize, usize, usize)]) -> Vec<(usize, String)> {
        let mut pending: Vec<(usize, usize, Master)> = Vec::new();
        let mut failed = Vec::new();
        for &(h, from, to) in want {
            let Some(remote) = self.hosts[h].plan.remote.clone() else {
                continue;
            };
            for k in from..to {
                let Some(path) = self.socket(h, k) else {
                    continue;
                };
                // A dead master's Drop removes its socket: drop it before reusing the path.
                if let Some(slot) = self.hosts[h].masters.get_mut(k) {
                    slot.take();
                }
                match Master::spawn(&remote, &path) {
                    Ok(m) => pending.push((h, k, m)),
                    Err(e) => {
                        if k == from {
                            failed.push((h, e));
                        }
                    }
                }
            }
        }
        let deadline = Instant::now() + self.within;
        let mut nap = Duration::from_millis(2);
        while !pending.is_empty() {
            let give_up = Instant::now() >= deadline;
            let mut still = Vec::new();
            for (h, k, m) in pending {
                match m.poll_ready(give_up, self.within) {
                    Ok(true) => {
                        let masters = &mut self.hosts[h].masters;
                        if masters.len() <= k {
                            masters.resize_with(k + 1, || None);
                        }
                        masters[k] = Some(m);
                    }
                    Ok(false) => still.push((h, k, m)),
                    Err(e) => {
                        if want.iter().any(|&(wh, from, _)| wh == h && from == k) {
                            failed.push((h, e));
                        }
                    }
                }
            }
            pending = still;
            if !pending.is_empty() {
                std::thread::sleep(nap);
                nap = (nap * 2).min(Duration::from_millis(20));
            }
        }
        failed
    }

    /// The control sockets of host `h`'s masters, by index. A master that is not running has
    /// no socket there, and ssh then makes a connection of its own.
    fn sockets(&self, h: usize) -> Vec<PathBuf> {
        let n = self.hosts[h].slots.div_ceil(SESSIONS_PER_MASTER);
        (0..n).filter_map(|k| self.socket(h, k)).collect()
    }

    fn start_up(&mut self) -> Vec<Startup> {
        let n = self.hosts.len();
        let mut errors: Vec<Option<String>> = vec![None; n];
        let multiplex = self.dir.is_some();
        // 1. One master per remote host: the reachability check.
        if multiplex {
            let want: Vec<(usize, usize, usize)> = (0..n)
                .filter(|&h| self.hosts[h].plan.remote.is_some())
                .map(|h| (h, 0, 1))
                .collect();
            for (h, e) in self.start_masters(&want) {
                errors[h] = Some(e);
            }
        }
        // 2. Core counts where the slots are not given.
        let local_cpus = std::thread::available_parallelism().map_or(1, |c| c.get());
        let mut asks = Vec::new();
        for (h, host) in self.hosts.iter_mut().enumerate() {
            if host.plan.fixed_slots.is_some() || errors[h].is_some() {
                continue;
            }
            match &host.plan.remote {
                None => host.slots = local_cpus,
                Some(remote) => {
                    let control = host
                        .masters
                        .first()
                        .and_then(Option::as_ref)
                        .map(|m| m.path().to_path_buf());
                    asks.push((h, remote.clone(), control));
                }
            }
        }
        let within = self.within;
        let answers: Vec<(usize, Result<crate::launch::probe::HostFacts, String>)> =
            std::thread::scope(|s| {
                let handles: Vec<_> = asks
                    .iter()
                    .map(|(h, remote, control)| {
                        let h = *h;
                        s.spawn(move || (h, probe(remote, control.as_deref(), None, within)))
                    })
                    .collect();
                handles
                    .into_iter()
                    .map(|j| j.join().unwrap_or((usize::MAX, Err("panicked".into()))))
                    .collect()
            });
        for (h, answer) in answers {
            let Some(host) = self.hosts.get_mut(h) else {
                continue;
            };
            match answer {
                Ok(facts) => host.slots = facts.nproc.map_or(1, |n| n as usize),
                Err(e) => errors[h] = Some(e),
            }
        }
        // 3. The other masters of hosts with more than one master's worth of slots.
        if multiplex {
            let want: Vec<(usize, usize, usize)> = (0..n)
                .filter(|&h| errors[h].is_none() && self.hosts[h].plan.remote.is_some())
                .map(|h| (h, 1, self.hosts[h].slots.div_ceil(SESSIONS_PER_MASTER)))
                .filter(|&(_, from, to)| to > from)
                .collect();
            // A failure here only costs speed: those slots' jobs connect on their own.
            let _ = self.start_masters(&want);
        }
        for (h, e) in errors.iter().enumerate() {
            if e.is_some() {
                self.lose(h);
            }
        }
        (0..n)
            .map(|h| Startup {
                slots: self.hosts[h].slots.max(1),
                sockets: if multiplex && self.hosts[h].plan.remote.is_some() {
                    self.sockets(h)
                } else {
                    Vec::new()
                },
                error: errors[h].take(),
            })
            .collect()
    }

    /// Host `h` is lost: kill its masters, check it again later.
    fn lose(&mut self, h: usize) {
        let host = &mut self.hosts[h];
        host.masters.clear();
        host.retry = Some((Instant::now() + FIRST_BACKOFF, FIRST_BACKOFF));
    }

    fn serve(&mut self, rx: &Receiver<Request>) {
        loop {
            let now = Instant::now();
            let next = self.hosts.iter().filter_map(|h| h.retry.map(|r| r.0)).min();
            let wait = next.map_or(Duration::from_secs(3600), |t| {
                t.saturating_duration_since(now)
            });
            let mut checks: Vec<usize> = Vec::new();
            match rx.recv_timeout(wait) {
                Ok(r) => self.take(r, &mut checks),
                Err(RecvTimeoutError::Timeout) => {}
                Err(RecvTimeoutError::Disconnected) => return,
            }
            while let Ok(r) = rx.try_recv() {
                self.take(r, &mut checks);
            }
            let now = Instant::now();
            let rechecks: Vec<usize> = (0..self.hosts.len())
                .filter(|&h| self.hosts[h].retry.is_some_and(|(t, _)| t <= now))
                .collect();
            checks.sort_unstable();
            checks.dedup();
            if checks.is_empty() && rechecks.is_empty() {
                continue;
            }
            // Multiplexed: a job's local ssh ends with 255 on its own only if its master went
            // (the connection dropped). Give a dying master a moment to be seen dead.
            let dropped: Vec<usize> = checks
                .iter()
                .copied()
                .filter(|&h| self.master_died(h))
                .collect();
            let mut reports = Vec::new();
            let mut probe_these: Vec<usize> = rechecks.clone();
            for &h in &checks {
                if self.dir.is_some() && !dropped.contains(&h) && !self.hosts[h].masters.is_empty()
                {
                    // The connection is up: the 255 was the job's own.
                    reports.push(Report::Cleared(h));
                } else {
                    probe_these.push(h);
                }
            }
            let answers = self.probe_all(&probe_these);
            let mut restart = Vec::new();
            for (h, ok) in answers {
                let was_lost = rechecks.contains(&h) && !checks.contains(&h);
                match (ok, was_lost) {
                    (Ok(()), false) => {
                        restart.push(h);
                        reports.push(if dropped.contains(&h) {
                            Report::Dropped(h)
                        } else {
                            Report::Cleared(h)
                        });
                    }
                    (Ok(()), true) => {
                        self.hosts[h].retry = None;
                        restart.push(h);
                        reports.push(Report::Back(h));
                    }
                    (Err(why), false) => {
                        self.lose(h);
                        reports.push(Report::Lost(h, why));
                    }
                    (Err(_), true) => {
                        let host = &mut self.hosts[h];
                        if let Some((_, backoff)) = host.retry {
                            let next = (backoff * 2).min(MAX_BACKOFF);
                            host.retry = Some((Instant::now() + next, next));
                        }
                    }
                }
            }
            // Masters that died (or were dropped with a lost host) come back.
            if self.dir.is_some() {
                let want: Vec<(usize, usize, usize)> = restart
                    .iter()
                    .map(|&h| (h, self.hosts[h].slots.div_ceil(SESSIONS_PER_MASTER)))
                    .flat_map(|(h, n)| (0..n).map(move |k| (h, k, k + 1)))
                    .filter(|&(h, k, _)| {
                        !matches!(self.hosts[h].masters.get(k), Some(Some(m)) if m.is_alive())
                    })
                    .collect();
                let _ = self.start_masters(&want);
            }
            for r in reports {
                let _ = self.out.send(r);
            }
            if let Some(w) = &self.wake {
                w.wake();
            }
        }
    }

    /// True if a master of host `h` is dead or dies within a short wait (its clients notice
    /// a moment before it is gone).
    fn master_died(&self, h: usize) -> bool {
        let masters = &self.hosts[h].masters;
        if masters.is_empty() {
            return false;
        }
        let deadline = Instant::now() + Duration::from_millis(500);
        loop {
            if masters
                .iter()
                .any(|m| m.as_ref().is_some_and(|m| !m.is_alive()))
            {
                return true;
            }
            if Instant::now() >= deadline {
                return false;
            }
            std::thread::sleep(Duration::from_millis(10));
        }
    }

    fn take(&mut self, r: Request, checks: &mut Vec<usize>) {
        match r {
            Request::Check(h) => checks.push(h),
            Request::SetWake(w) => {
                w.wake();
                self.wake = Some(w);
            }
        }
    }

    /// Connects afresh to each host in `hosts` at once.
    fn probe_all(&self, hosts: &[usize]) -> Vec<(usize, Result<(), String>)> {
        let within = self.within;
        std::thread::scope(|s| {
            let handles: Vec<_> = hosts
                .iter()
                .filter_map(|&h| self.hosts[h].plan.remote.as_ref().map(|r| (h, r)))
                .map(|(h, remote)| {
                    s.spawn(move || (h, probe(remote, None, None, within).map(|_| ())))
                })
                .collect();
            handles.into_iter().filter_map(|j| j.join().ok()).collect()
        })
    }
}
