//! What the supervisor is asked to run, and what it reports back.

use std::time::{Duration, Instant};

use crate::command::Command;
use crate::communicate::{DEFAULT_DRAIN_TIMEOUT, DEFAULT_GRACE, TimedOut};
use crate::status::ExitStatus;

/// Where a supervised child's stdout or stderr goes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Output {
    /// Read by the event loop and handed over chunk by chunk as [`Event::Output`](super::Event).
    #[default]
    Deliver,
    /// Read by the event loop and kept, up to this many bytes (`None`: all of it); returned
    /// in [`UnitOutcome::stdout`] / [`UnitOutcome::stderr`].
    Capture(Option<usize>),
    /// Shared with this process.
    Inherit,
    /// `/dev/null`.
    Null,
}

/// Which output stream.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Stream {
    /// Standard output.
    Stdout,
    /// Standard error.
    Stderr,
}

/// One child to run under the [`Supervisor`](super::Supervisor): a [`Command`] plus its time
/// limits and where its output goes.
///
/// The command's stdin is used as configured on it (set [`Stdio::null`](crate::Stdio::null)
/// for jobs that must not read the terminal); a piped stdin is closed at once (end of file).
#[derive(Debug)]
pub struct Spec {
    pub(crate) command: Command,
    pub(crate) timeout: Option<Duration>,
    pub(crate) grace: Duration,
    pub(crate) drain_timeout: Duration,
    pub(crate) stdout: Output,
    pub(crate) stderr: Output,
}

impl Spec {
    /// Runs `command` with no timeout, the default grace (2 s) and drain window (100 ms), and
    /// both outputs [`Output::Deliver`]ed.
    pub fn new(command: Command) -> Self {
        Self {
            command,
            timeout: None,
            grace: DEFAULT_GRACE,
            drain_timeout: DEFAULT_DRAIN_TIMEOUT,
            stdout: Output::Deliver,
            stderr: Output::Deliver,
        }
    }

    /// Stop the child (TERM to its group, KILL after the grace) this long after it started.
    pub fn timeout(mut self, d: Option<Duration>) -> Self {
        self.timeout = d;
        self
    }

    /// Time between SIGTERM and SIGKILL (zero: SIGKILL at once).
    pub fn grace(mut self, d: Duration) -> Self {
        self.grace = d;
        self
    }

    /// How long to keep reading its pipes after it exited before killing what holds them.
    pub fn drain_timeout(mut self, d: Duration) -> Self {
        self.drain_timeout = d;
        self
    }

    /// Where its stdout goes.
    pub fn stdout(mut self, o: Output) -> Self {
        self.stdout = o;
        self
    }

    /// Where its stderr goes.
    pub fn stderr(mut self, o: Output) -> Self {
        self.stderr = o;
        self
    }

    /// The command.
    pub fn command(&self) -> &Command {
        &self.command
    }
}

/// How a supervised child ended.
#[derive(Debug, Clone)]
pub struct UnitOutcome {
    /// Its pid (reaped: do not signal it).
    pub pid: u32,
    /// How it ended.
    pub status: ExitStatus,
    /// When it was started.
    pub started: Instant,
    /// From start to its exit being observed (the drain after the exit is not included).
    pub runtime: Duration,
    /// Set if its deadline passed and it was stopped.
    pub timed_out: Option<TimedOut>,
    /// Set if it was stopped on request ([`Supervisor::stop_all`](super::Supervisor::stop_all)
    /// or [`Supervisor::kill_all`](super::Supervisor::kill_all)) before it exited.
    pub stopped: bool,
    /// Something outlived it in its process group or held its pipes after it exited, and was
    /// killed.
    pub leaked: bool,
    /// Captured stdout ([`Output::Capture`] only).
    pub stdout: Vec<u8>,
    /// Bytes of stdout read past the capture limit and dropped.
    pub stdout_dropped: u64,
    /// Captured stderr ([`Output::Capture`] only).
    pub stderr: Vec<u8>,
    /// Bytes of stderr read past the capture limit and dropped.
    pub stderr_dropped: u64,
    /// Bytes of stdout read from it, delivered or captured.
    pub stdout_bytes: u64,
    /// Bytes of stderr read from it, delivered or captured.
    pub stderr_bytes: u64,
}

impl UnitOutcome {
    /// True if it exited 0 within its deadline.
    pub fn success(&self) -> bool {
        self.timed_out.is_none() && self.status.success()
    }
}
