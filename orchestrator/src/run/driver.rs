//! The run's loop: take inputs, start jobs while there is room, turn the supervisor, decide
//! retries, halts and shutdowns, hand results to the reports.

use std::collections::VecDeque;
use std::ffi::OsString;
use std::io;
use std::time::{Duration, Instant, SystemTime};

use super::input::{Feed, Inputs, Line, Next};
use super::launcher::{Ended, HostEvent, Launch, Launcher, Verdict};
use super::template::{Template, display_argv};
use super::{HaltWhen, Resume, RunConfig, RunEnv, RunResult};
use crate::command::{Command, Stdio};
use crate::error::SpawnErrorKind;
use crate::guardian::Guardian;
use crate::pipes::PipeWriter;
use crate::report::joblog::{Done, Joblog};
use crate::report::output::{Ending, OutputManager};
use crate::report::progress::{Progress, TICK};
use crate::report::{JobReport, JobStatus, NotStarted, Summary};
use crate::status::ExitStatus;
use crate::supervisor::{Event, SpawnFailure, Spec, Supervisor, UnitOutcome};
use crate::sys::{self, Signal};

/// fds a running job holds: its pidfd and our ends of its stdout and stderr pipes.
const FDS_PER_JOB: usize = 3;
/// fds kept free for the rest (spawning needs a few more for a moment, spill files...).
const FD_RESERVE: usize = 16;
/// Times one job is run again because its host was lost or its connection dropped, before its
/// last attempt is taken as its result (a job that brings its hosts down must not go round
/// forever).
const MAX_MOVES: u32 = 8;
/// Spawn attempts, with nothing running, before "out of resources" stops the run.
const MAX_EXHAUSTED_RETRIES: u32 = 8;

/// One job (the supervisor's payload).
#[derive(Debug)]
struct Job {
    seq: u64,
    line: Option<Line>,
    argv: Vec<OsString>,
    attempt: u32,
    launch: Option<Launch>,
    start: SystemTime,
    /// The report of the previous (failed) attempt, if this is a retry.
    last: Option<JobReport>,
    /// The write end of a remote job's lifeline (its ssh's stdin): dropped when it ends.
    lifeline: Option<PipeWriter>,
    /// Attempts that ended because their host was lost (they do not count against
    /// `--retries`).
    moves: u32,
    /// The hosts lost under it, in order.
    lost_hosts: Vec<String>,
    /// Being stopped because its host was declared lost: it runs again elsewhere.
    moving: bool,
}

impl Job {
    /// Where its latest attempt was launched (`:` before any launch: this machine).
    fn host(&self) -> String {
        self.launch.as_ref().map_or_else(
            || super::launcher::LOCAL_HOST.to_string(),
            |l| l.host.clone(),
        )
    }
}

pub(super) struct Driver {
    cfg: RunConfig,
    sup: Supervisor<Job>,
    out: OutputManager,
    progress: Progress,
    launcher: Box<dyn Launcher>,
    guardian: Option<Guardian>,
    joblog: Option<Joblog>,
    done: Option<Done>,
    input_name: Option<String>,
    summary: Summary,
    result: RunResult,
    /// Failed attempts waiting for another try.
    retry: VecDeque<Job>,
    /// Attempts that ended with ssh's 255, held until their host is checked.
    parked: Vec<(Job, UnitOutcome)>,
    /// Jobs that could not be spawned for lack of fds or processes (same attempt).
    requeue: VecDeque<Job>,
    accepting: bool,
    /// False once our stdout failed.
    accepting_output: bool,
    limit: usize,
    /// The concurrency the limits allow at best (`limit` drops below it after EMFILE/EAGAIN).
    limit_cap: usize,
    exhaustion_warned: bool,
    next_seq: u64,
    signals_seen: u32,
    pending_signals: Vec<Signal>,
    halt_now: bool,
    exhausted_tries: u32,
    spawn_retry_at: Option<Instant>,
    total: Option<u64>,
}

impl Driver {
    pub(super) fn new(cfg: RunConfig, env: RunEnv) -> io::Result<Self> {
        let RunEnv {
            signals,
            launcher,
            stdout,
            stderr,
            progress,
            guardian,
        } = env;
        let mut sup = Supervisor::new()?;
        if let Some(s) = signals {
            sup = sup.with_signals(s)?;
        }
        let mut result = RunResult::default();
        let mut out = OutputManager::new(cfg.output, stdout, stderr);
        let done = match (&cfg.joblog, cfg.resume) {
            (Some(path), Resume::All | Resume::Failed) => {
                let (done, bad) = Done::load(path, cfg.resume == Resume::Failed)?;
                if bad > 0 {
                    let w = format!(
                        "joblog `{}`: {bad} line(s) are not job records and were ignored",
                        path.display()
                    );
                    out.note(&format!("warning: {w}"));
                    result.warnings.push(w);
                }
                Some(done)
            }
            _ => None,
        };
        let joblog = match &cfg.joblog {
            Some(path) => Some(Joblog::open(path, cfg.resume != Resume::No)?),
            None => None,
        };
        let mut limit = if cfg.procs == 0 {
            usize::MAX
        } else {
            cfg.procs
        };
        if let Some(cap) = fd_capacity()
            && cap < limit
        {
            let w = format!(
                "only enough file descriptors (ulimit -n {}) for {cap} jobs at once; running \
                 at most {cap} at a time (raise the limit with `ulimit -n`)",
                sys::nofile_limit().unwrap_or(0)
            );
            if cfg.procs != 0 {
                out.note(&format!("warning: {w}"));
                result.warnings.push(w);
            }
            limit = cap;
        }
        Ok(Self {
            cfg,
            sup,
            out,
            progress,
            launcher,
            guardian,
            joblog,
            done,
            input_name: None,
            summary: Summary::default(),
            result,
            retry: VecDeque::new(),
            parked: Vec::new(),
            requeue: VecDeque::new(),
            accepting: true,
            accepting_output: true,
            limit,
            limit_cap: limit,
            exhaustion_warned: false,
            next_seq: 0,
            signals_seen: 0,
            pending_signals: Vec::new(),
            halt_now: false,
            exhausted_tries: 0,
            spawn_retry_at: None,
            total: None,
        })
    }

    pub(super) fn run(mut self, inputs: Inputs) -> io::Result<RunResult> {
        let started = Instant::now();
        if let Inputs::Lines(src) = &inputs {
            self.input_name = Some(src.name().to_string());
        }
        let wake = self.sup.waker()?;
        self.launcher.set_waker(self.sup.waker()?);
        let mut feed = Feed::start(inputs, Some(wake), self.progress.visible())?;
        let mut feed_done = false;
        let mut next_tick = Instant::now() + TICK;
        loop {
            if self.total.is_none()
                && let Some(t) = feed.total()
            {
                self.total = Some(t);
                self.progress
                    .set_total(t.saturating_sub(self.done.as_ref().map_or(0, Done::len)));
            }
            self.start_jobs(&mut feed, &mut feed_done);
            let queued =
                !self.retry.is_empty() || !self.requeue.is_empty() || !self.parked.is_empty();
            if self.sup.is_empty() && (!self.accepting || (feed_done && !queued)) {
                break;
            }
            self.flush();
            if let Some(e) = self.out.broken()
                && self.accepting_output
            {
                // Nobody reads our stdout any more (EPIPE), or it cannot be written (disk
                // full): stop as for a first Ctrl-C.
                if e.kind() == io::ErrorKind::BrokenPipe {
                    self.result.stdout_broken = true;
                } else {
                    let msg = format!("cannot write stdout: {e}");
                    self.result.fatal.get_or_insert(msg);
                }
                self.accepting_output = false;
                self.stop_starting();
                self.sup.stop_all(self.cfg.grace);
            }
            let mut until = self.spawn_retry_at;
            if self.progress.visible() {
                let now = Instant::now();
                if now >= next_tick {
                    self.progress.tick();
                    next_tick = now + TICK;
                }
                until = Some(until.map_or(next_tick, |u| u.min(next_tick)));
            }
            let sup = &mut self.sup;
            let mut finished: Vec<(Job, UnitOutcome)> = Vec::new();
            let out = &mut self.out;
            let signals = &mut self.pending_signals;
            sup.turn(until, &mut |ev| match ev {
                Event::Output {
                    job, stream, data, ..
                } => out.data(job.seq, stream, data),
                Event::Finished { job, outcome, .. } => finished.push((job, outcome)),
                Event::Signal(s) => signals.push(s),
                Event::Woken => {}
            })?;
            for (job, outcome) in finished {
                self.on_finished(job, outcome);
            }
            for event in self.launcher.events() {
                self.on_host_event(event);
            }
            for sig in std::mem::take(&mut self.pending_signals) {
                self.on_signal(sig);
            }
            if std::mem::take(&mut self.halt_now) {
                self.sup.stop_all(self.cfg.grace);
            }
            if let Some(e) = self.out.take_spill_failure() {
                self.warn(format!(
                    "cannot spill held output to a temporary file ({e}); keeping it in memory"
                ));
            }
        }
        // Held results whose host was never judged: take them as they are.
        for (job, outcome) in std::mem::take(&mut self.parked) {
            self.judge(job, outcome);
        }
        // Jobs that will not get another attempt: their last attempt is their result.
        for mut job in std::mem::take(&mut self.retry)
            .into_iter()
            .chain(std::mem::take(&mut self.requeue))
        {
            match job.last.take() {
                Some(report) => self.finalize(report),
                None => self.summary.not_run += 1,
            }
        }
        if !feed_done {
            match feed.total().or(self.total) {
                Some(total) => self.summary.not_run += total.saturating_sub(self.next_seq),
                None => {
                    let (n, ended) = feed.drain_count();
                    self.summary.not_run += n;
                    self.summary.input_left = !ended;
                }
            }
        }
        self.out.finish_all();
        self.flush();
        self.progress.finish();
        self.summary.wall = started.elapsed();
        self.result.summary = self.summary;
        Ok(self.result)
    }

    fn flush(&mut self) {
        if let Some(g) = &mut self.guardian {
            g.flush();
            if let Some(e) = g.take_failure() {
                self.warn(format!(
                    "the guardian process is gone ({e}): jobs will not be killed if the \
                     orchestrator dies"
                ));
            }
        }
        let out = &mut self.out;
        if self.progress.visible() {
            if out.pending() {
                self.progress.suspend(|| out.flush());
            }
            let f = self.summary.failures();
            let note = if f > 0 {
                format!("{f} failed")
            } else {
                String::new()
            };
            self.progress.update(self.summary.finished(), &note);
        } else {
            out.flush();
        }
    }

    /// How many jobs `-k` may run ahead of the oldest one not printed yet.
    fn order_window(&self) -> u64 {
        (self.limit.min(1 << 20) as u64 * 4).max(1024)
    }

    fn warn(&mut self, w: String) {
        self.out.note(&format!("warning: {w}"));
        self.result.warnings.push(w);
    }

    fn stop_starting(&mut self) {
        self.accepting = false;
    }

    fn on_signal(&mut self, sig: Signal) {
        self.signals_seen += 1;
        if self.signals_seen == 1 {
            self.result.interrupted = Some(sig);
            self.stop_starting();
            self.sup.stop_all(self.cfg.grace);
            let n = self.sup.len();
            if n > 0 {
                self.out.note(&format!(
                    "{}: stopping {n} running job(s) (SIGTERM, SIGKILL after {}); press Ctrl-C \
                     again to kill them now",
                    sys::signal_name(sig.raw()),
                    humantime::format_duration(self.cfg.grace)
                ));
            }
        } else {
            self.sup.kill_all();
        }
    }

    /// Starts jobs while there is room, input and no reason to stop.
    fn start_jobs(&mut self, feed: &mut Feed, feed_done: &mut bool) {
        if let Some(at) = self.spawn_retry_at {
            if Instant::now() < at {
                return;
            }
            self.spawn_retry_at = None;
        }
        while self.accepting && self.sup.len() < self.limit && self.launcher.has_room() {
            let job = if let Some(j) = self.requeue.pop_front() {
                j
            } else if let Some(j) = self.retry.pop_front() {
                j
            } else if *feed_done {
                return;
            } else if self.cfg.output.keep_order
                && self.next_seq >= self.out.next_in_order() + self.order_window()
            {
                // In order mode, finished jobs wait for the oldest unfinished one: stop
                // running ahead of it, or their number (and held output) would grow without
                // bound behind one slow job.
                return;
            } else {
                match feed.poll_next() {
                    Next::Item(line) => {
                        self.next_seq += 1;
                        let seq = self.next_seq;
                        if self.done.as_ref().is_some_and(|d| d.contains(seq)) {
                            self.summary.skipped += 1;
                            self.out.skip(seq);
                            continue;
                        }
                        match self.new_job(seq, line) {
                            Some(j) => j,
                            None => continue,
                        }
                    }
                    Next::Pending => return,
                    Next::End => {
                        *feed_done = true;
                        return;
                    }
                    Next::Failed(e) => {
                        *feed_done = true;
                        self.result.fatal.get_or_insert(e.to_string());
                        self.stop_starting();
                        return;
                    }
                }
            };
            if !self.spawn(job) {
                return;
            }
        }
    }

    /// Builds job `seq`; a job that cannot even be described fails here (and `None`).
    fn new_job(&mut self, seq: u64, line: Option<Line>) -> Option<Job> {
        let mut job = Job {
            seq,
            line,
            argv: Vec::new(),
            attempt: 1,
            launch: None,
            start: SystemTime::now(),
            last: None,
            lifeline: None,
            moves: 0,
            lost_hosts: Vec::new(),
            moving: false,
        };
        let too_long = job.line.as_ref().is_some_and(|l| l.too_long);
        let built = if too_long {
            Err(format!(
                "the input line is longer than {} bytes",
                super::input::MAX_LINE
            ))
        } else {
            build(&self.cfg.template, seq, job.line.as_ref())
        };
        match built {
            Ok(argv) => {
                job.argv = argv;
                Some(job)
            }
            Err(e) => {
                let report = self.not_started(&job, NotStarted::Other, e);
                self.finalize(report);
                None
            }
        }
    }

    /// Spawns `job`; false if spawning must pause (out of resources).
    fn spawn(&mut self, mut job: Job) -> bool {
        let launch = match self.launcher.prepare(job.seq, job.attempt, &job.argv) {
            Ok(l) => l,
            Err(failed) => {
                let mut report = self.not_started(&job, NotStarted::Other, failed.error);
                report.host = failed.host;
                self.finalize(report);
                return true;
            }
        };
        let mut cmd = match Command::from_argv(&launch.argv) {
            Ok(c) => c,
            Err(e) => {
                self.launcher.finished(&launch, None);
                let report = self.not_started(&job, NotStarted::Other, e.to_string());
                self.finalize(report);
                return true;
            }
        };
        if launch.lifeline {
            // The remote side runs while this pipe is open (see launch::watch).
            match crate::pipes::pipe() {
                Ok((reader, writer)) => {
                    cmd.stdin(reader);
                    job.lifeline = Some(writer);
                }
                Err(e) => {
                    self.launcher.finished(&launch, None);
                    if is_exhaustion(&e) {
                        let error = crate::error::SpawnError::new(
                            launch.argv[0].to_string_lossy().into_owned(),
                            SpawnErrorKind::ResourceExhausted,
                            e,
                        );
                        self.on_exhausted(&error);
                        self.requeue.push_front(job);
                        return false;
                    }
                    let report = self.not_started(&job, NotStarted::Other, e.to_string());
                    self.finalize(report);
                    return true;
                }
            }
        } else {
            cmd.stdin(Stdio::null());
        }
        cmd.kill_on_parent_death(self.cfg.kill_on_parent_death);
        let spec = Spec::new(cmd)
            .timeout(self.cfg.timeout)
            .grace(self.cfg.grace)
            .drain_timeout(self.cfg.drain_timeout);
        let tag = self.cfg.output.tag.then(|| match &job.line {
            Some(l) => l.bytes.clone(),
            None => job.seq.to_string().into_bytes(),
        });
        self.out.begin(job.seq, tag);
        job.start = SystemTime::now();
        job.launch = Some(launch);
        match self.sup.spawn(spec, job) {
            Ok(id) => {
                self.exhausted_tries = 0;
                if let (Some(g), Some(pid)) = (&mut self.guardian, self.sup.pid(id)) {
                    g.watch(pid);
                }
                true
            }
            Err(SpawnFailure { error, mut job }) => {
                job.lifeline = None;
                if let Some(l) = job.launch.take() {
                    self.launcher.finished(&l, None);
                }
                if error.kind() == SpawnErrorKind::ResourceExhausted {
                    self.on_exhausted(&error);
                    self.requeue.push_front(job);
                    return false;
                }
                let why = spawn_error_text(&error);
                let kind = NotStarted::from_spawn(error.kind());
                let report = self.not_started(&job, kind, why);
                self.finalize(report);
                true
            }
        }
    }

    /// Out of fds or processes: hold at the concurrency reached, or wait and retry if
    /// nothing runs; give up (stop cleanly) if that keeps failing.
    fn on_exhausted(&mut self, error: &crate::error::SpawnError) {
        let running = self.sup.len();
        let cause = error.io_error();
        if running > 0 {
            if running < self.limit {
                self.limit = running;
                if !self.exhaustion_warned {
                    self.exhaustion_warned = true;
                    self.warn(format!(
                        "out of processes or file descriptors ({cause}) with {running} jobs \
                         running; running fewer at once until resources free up"
                    ));
                }
            }
            return;
        }
        self.exhausted_tries += 1;
        if self.exhausted_tries > MAX_EXHAUSTED_RETRIES {
            self.result.fatal.get_or_insert(format!(
                "cannot start any job: out of processes or file descriptors ({cause})"
            ));
            self.stop_starting();
            return;
        }
        let wait = Duration::from_millis(10) * (1 << self.exhausted_tries.min(6));
        self.spawn_retry_at = Some(Instant::now() + wait);
    }

    fn not_started(&self, job: &Job, kind: NotStarted, why: String) -> JobReport {
        let where_ = match (&job.line, &self.input_name) {
            (Some(l), Some(name)) => format!(" (line {} of {name})", l.number),
            _ => String::new(),
        };
        JobReport {
            seq: job.seq,
            input: job.line.as_ref().map(|l| l.bytes.clone()),
            argv: job.argv.clone(),
            host: job.host(),
            start: SystemTime::now(),
            runtime: Duration::ZERO,
            exit: None,
            timed_out: None,
            leaked: false,
            attempts: job.attempt,
            status: JobStatus::NotStarted(kind),
            error: Some(format!("{why}{where_}")),
            stdout_bytes: 0,
            lost_hosts: job.lost_hosts.clone(),
        }
    }

    fn on_finished(&mut self, mut job: Job, o: UnitOutcome) {
        // After running out of fds or processes, probe back up one job at a time: a
        // finished job freed what it held (a failed probe costs one failed pipe()).
        if self.limit < self.limit_cap {
            self.limit += 1;
        }
        if let Some(g) = &mut self.guardian {
            g.forget(o.pid);
        }
        job.lifeline = None;
        let verdict = match &job.launch {
            Some(l) => {
                let ended = Ended {
                    status: o.status,
                    stopped_by_us: o.stopped || o.timed_out.is_some(),
                };
                self.launcher.finished(l, Some(ended))
            }
            None => Verdict::Done,
        };
        if job.moving {
            let host = job
                .launch
                .as_ref()
                .map_or_else(String::new, |l| l.host.clone());
            self.move_job(job, &o, &host, true);
            return;
        }
        match verdict {
            Verdict::Done => self.judge(job, o),
            Verdict::HostSuspect => self.parked.push((job, o)),
            Verdict::HostLost => {
                let host = job
                    .launch
                    .as_ref()
                    .map_or_else(String::new, |l| l.host.clone());
                self.move_job(job, &o, &host, true);
            }
        }
    }

    /// The report of an attempt that ran.
    fn report_for(&self, job: &Job, o: &UnitOutcome) -> JobReport {
        let status = if o.stopped {
            JobStatus::Stopped
        } else if o.timed_out.is_some() {
            JobStatus::TimedOut
        } else if o.status.success() {
            JobStatus::Ok
        } else {
            JobStatus::Failed
        };
        JobReport {
            seq: job.seq,
            input: job.line.as_ref().map(|l| l.bytes.clone()),
            argv: job.argv.clone(),
            host: job.host(),
            start: job.start,
            runtime: o.runtime,
            exit: Some(o.status),
            timed_out: o.timed_out,
            // A multiplexed ssh's output pipes are also held by its ControlMaster until the
            // remote side is gone (the remote grace after a timeout): that is not a leak, and
            // the remote watcher kills what a job leaves in its group.
            leaked: o.leaked && !job.launch.as_ref().is_some_and(|l| l.lifeline),
            attempts: job.attempt,
            status,
            error: None,
            stdout_bytes: o.stdout_bytes,
            lost_hosts: job.lost_hosts.clone(),
        }
    }

    /// An attempt's own outcome: final, or another try.
    fn judge(&mut self, mut job: Job, o: UnitOutcome) {
        let report = self.report_for(&job, &o);
        job.launch = None;
        let tries = job.attempt - job.moves;
        if report.status.is_failure() && tries < self.cfg.retries.max(1) && self.accepting {
            self.summary.retried += 1;
            self.out.discard(job.seq);
            job.attempt += 1;
            job.last = Some(report);
            self.retry.push_back(job);
            return;
        }
        self.finalize(report);
    }

    /// The attempt ended because `host` is lost: run the job again elsewhere (first in line),
    /// without counting it against `--retries`.
    fn move_job(&mut self, mut job: Job, o: &UnitOutcome, host: &str, lost: bool) {
        let mut report = self.report_for(&job, o);
        report.status = JobStatus::Failed;
        let what = if lost {
            "host {host} was lost"
        } else {
            "the connection to host {host} dropped"
        };
        let what = what.replace("{host}", host);
        report.error = Some(what.clone());
        job.launch = None;
        job.moving = false;
        if lost {
            job.lost_hosts.push(host.to_string());
        }
        report.lost_hosts = job.lost_hosts.clone();
        self.out.discard(job.seq);
        if !self.accepting || job.moves >= MAX_MOVES {
            self.finalize(report);
            return;
        }
        let where_ = if lost { "another host" } else { "any host" };
        self.out.note(&format!(
            "job {} (attempt {}): {what}; running it again on {where_}",
            job.seq, job.attempt
        ));
        self.summary.retried += 1;
        job.moves += 1;
        job.attempt += 1;
        job.last = Some(report);
        self.retry.push_front(job);
    }

    /// Takes the parked jobs (ended, held until their host is judged) that ran on the host of
    /// `token`; the others stay parked.
    fn take_parked_on(&mut self, token: usize) -> Vec<(Job, UnitOutcome)> {
        let launcher = &self.launcher;
        let (here, elsewhere) =
            std::mem::take(&mut self.parked)
                .into_iter()
                .partition(|(job, _)| {
                    job.launch
                        .as_ref()
                        .is_some_and(|l| launcher.same_host(l.token, token))
                });
        self.parked = elsewhere;
        here
    }

    fn on_host_event(&mut self, event: HostEvent) {
        match event {
            HostEvent::Cleared { token } => {
                for (job, o) in self.take_parked_on(token) {
                    self.judge(job, o);
                }
            }
            HostEvent::Dropped { token, host } => {
                let parked = self.take_parked_on(token);
                let held = parked.len();
                for (job, o) in parked {
                    self.move_job(job, &o, &host, false);
                }
                self.warn(format!(
                    "the connection to host {host} dropped (it answers again); {held} job(s) \
                     cut off there run again"
                ));
            }
            HostEvent::Lost { token, host, why } => {
                let launcher = &self.launcher;
                let running = self.sup.stop_where(Duration::ZERO, |job| {
                    let here = job
                        .launch
                        .as_ref()
                        .is_some_and(|l| launcher.same_host(l.token, token));
                    if here {
                        job.moving = true;
                    }
                    here
                });
                let parked = self.take_parked_on(token);
                let held = parked.len();
                for (job, o) in parked {
                    self.move_job(job, &o, &host, true);
                }
                self.warn(format!(
                    "host {host} is lost ({why}); {} of its jobs go to other hosts; it will be \
                     checked again from time to time",
                    held + running
                ));
            }
            HostEvent::Back { host } => {
                self.out
                    .note(&format!("host {host} answers again and takes jobs"));
            }
            HostEvent::AllLost => {
                self.result
                    .fatal
                    .get_or_insert_with(|| "every host is lost: no job can run".to_string());
                self.stop_starting();
            }
        }
    }

    /// A job's final result: count it, log it, print it, check the halt policy.
    fn finalize(&mut self, report: JobReport) {
        self.summary.add(&report);
        if let Some(j) = &mut self.joblog
            && let Err(e) = j.record(&report)
        {
            self.joblog = None;
            self.out.note(&format!("error: {e}; stopping"));
            self.result.fatal.get_or_insert(e.to_string());
            self.stop_starting();
        }
        let note = note_for(&report);
        let seq = report.seq;
        let status = report.status;
        let json = self.cfg.output.json;
        self.out.finish(
            seq,
            Ending {
                report: json.then_some(report),
                note,
            },
        );
        let halt = self.cfg.halt;
        if status != JobStatus::Stopped
            && self.result.halted_by.is_none()
            && halt.triggered(self.summary.failures(), self.summary.ok)
        {
            self.result.halted_by = Some(status);
            self.stop_starting();
            let running = self.sup.len();
            let how = match halt.when {
                HaltWhen::Now if running > 0 => {
                    self.halt_now = true;
                    format!("; stopping {running} running job(s)")
                }
                _ if running > 0 => format!("; waiting for {running} running job(s)"),
                _ => String::new(),
            };
            self.out
                .note(&format!("--halt {halt}: starting no more jobs{how}"));
        }
    }
}

/// The job's argv, or why it cannot have one.
fn build(t: &Template, seq: u64, line: Option<&Line>) -> Result<Vec<OsString>, String> {
    t.argv(seq, line.map(|l| l.bytes.as_slice()))
        .map_err(|e| e.to_string())
}

/// "cannot start `x`: no such file or directory", with the OS error when it adds something.
fn spawn_error_text(e: &crate::error::SpawnError) -> String {
    match e.kind() {
        SpawnErrorKind::Other | SpawnErrorKind::ResourceExhausted => {
            format!("{e} ({})", e.io_error())
        }
        _ => e.to_string(),
    }
}

/// Out of fds or processes.
fn is_exhaustion(e: &io::Error) -> bool {
    use crate::sys::errno::{EAGAIN, EMFILE, ENFILE};
    e.raw_os_error()
        .is_some_and(|c| c == EMFILE || c == ENFILE || c == EAGAIN)
}

/// How many jobs the fd limit leaves room for, if it can be told.
fn fd_capacity() -> Option<usize> {
    let soft = usize::try_from(sys::nofile_limit().ok()?).ok()?;
    let open = sys::open_fd_count()?;
    let free = soft.saturating_sub(open + FD_RESERVE);
    Some((free / FDS_PER_JOB).max(1))
}

/// The stderr note for a job that did not simply succeed.
fn note_for(r: &JobReport) -> Option<String> {
    let mut cmd = display_argv(&r.argv);
    if cmd.chars().count() > 200 {
        cmd = cmd.chars().take(200).collect::<String>() + "...";
    }
    let what = match r.status {
        JobStatus::Ok | JobStatus::Stopped => None,
        JobStatus::Failed => Some(match r.exit {
            Some(ExitStatus::Code(c)) => format!("failed with exit code {c}"),
            Some(s) => format!("failed: {s}"),
            None => "failed".to_string(),
        }),
        JobStatus::TimedOut => {
            let t = r.timed_out.expect("a timed-out job has its timeout");
            let how = match t.ending {
                crate::Ending::Killed => "SIGKILL after the grace period",
                _ => "SIGTERM",
            };
            Some(format!(
                "timed out after {} (stopped with {how})",
                humantime::format_duration(t.after)
            ))
        }
        JobStatus::NotStarted(_) => {
            // The error names the program already.
            let why = r.error.as_deref().unwrap_or("could not start");
            return Some(format!("job {}: {why}", r.seq));
        }
    };
    let leak = r.leaked.then_some(
        "left processes behind (holding its output or in its process group); they were killed",
    );
    let text = match (what, leak) {
        (None, None) => return None,
        (Some(w), None) => w,
        (None, Some(l)) => l.to_string(),
        (Some(w), Some(l)) => format!("{w}, and {l}"),
    };
    let attempts = if r.attempts > 1 {
        format!(" (attempt {})", r.attempts)
    } else {
        String::new()
    };
    Some(format!("job {}{attempts} {text}: {cmd}", r.seq))
}
