//! `orchestrator run` as a library: many jobs from a template and an input, under a
//! concurrency limit, on the [`Supervisor`](crate::supervisor::Supervisor)'s single event
//! loop, with retries, halt policies and the reports of [`crate::report`].
//!
//! ```
//! use orchestrator::run::{Inputs, RunConfig, RunEnv, Template, run};
//! # fn main() -> Result<(), Box<dyn std::error::Error>> {
//! let mut cfg = RunConfig::new(Template::new(&["echo", "job", "{#}"], false));
//! cfg.procs = 4;
//! let result = run(cfg, Inputs::Count(8), RunEnv::stdio())?;
//! assert_eq!(result.summary.ok, 8);
//! # Ok(()) }
//! ```

use std::io::{self, Write};
use std::path::PathBuf;
use std::time::Duration;

use crate::communicate::{DEFAULT_DRAIN_TIMEOUT, DEFAULT_GRACE};
use crate::guardian::Guardian;
use crate::report::output::OutputOptions;
use crate::report::progress::Progress;
use crate::report::{JobStatus, Summary};
use crate::signal::ShutdownSignals;
use crate::sys::Signal;

mod driver;
pub mod halt;
pub mod hosts;
pub mod input;
pub mod launcher;
pub mod template;

pub use halt::{HaltOn, HaltPolicy, HaltWhen};
pub use hosts::{Hosts, HostsConfig};
pub use input::{Inputs, LineSource};
pub use launcher::{Ended, HostEvent, Launch, LaunchFailed, Launcher, Local, Through, Verdict};
pub use template::Template;

/// Which joblog records `--resume` skips.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Resume {
    /// Run everything (and start a new joblog).
    #[default]
    No,
    /// Skip jobs the joblog records, whatever their outcome (`--resume`).
    All,
    /// Skip jobs the joblog records as successful (`--resume-failed`).
    Failed,
}

/// What to run and how (the CLI's options, parsed).
#[derive(Debug, Clone)]
pub struct RunConfig {
    /// The command template.
    pub template: Template,
    /// Jobs at once (0: as many as the fd and process limits allow).
    pub procs: usize,
    /// Per-attempt time limit.
    pub timeout: Option<Duration>,
    /// SIGTERM → SIGKILL grace, at a timeout and at Ctrl-C.
    pub grace: Duration,
    /// How long to read a job's pipes after it exited before killing what holds them.
    pub drain_timeout: Duration,
    /// At most this many attempts per job (GNU parallel's `--retries`; 0 and 1 mean one).
    pub retries: u32,
    /// When to stop early.
    pub halt: HaltPolicy,
    /// How output is shown.
    pub output: OutputOptions,
    /// Where to write the joblog.
    pub joblog: Option<PathBuf>,
    /// Skip jobs the joblog records.
    pub resume: Resume,
    /// Children get SIGKILL if this process dies (Linux `PR_SET_PDEATHSIG`; forces
    /// fork+exec instead of posix_spawn).
    pub kill_on_parent_death: bool,
}

impl RunConfig {
    /// Defaults: as many jobs at once as CPUs, no timeout, 2 s grace, one attempt, grouped
    /// output, no joblog.
    pub fn new(template: Template) -> Self {
        Self {
            template,
            procs: std::thread::available_parallelism().map_or(1, |n| n.get()),
            timeout: None,
            grace: DEFAULT_GRACE,
            drain_timeout: DEFAULT_DRAIN_TIMEOUT,
            retries: 1,
            halt: HaltPolicy::default(),
            output: OutputOptions {
                memory_budget: crate::report::buffer::DEFAULT_MEMORY_BUDGET,
                ..OutputOptions::default()
            },
            joblog: None,
            resume: Resume::No,
            kill_on_parent_death: false,
        }
    }
}

/// Where a run's effects go: our stdout/stderr, signals, the launcher, the progress bar.
pub struct RunEnv {
    /// Shutdown signals to watch (`None`: Ctrl-C is not handled by the run).
    pub signals: Option<ShutdownSignals>,
    /// Turns job argvs into local spawns.
    pub launcher: Box<dyn Launcher>,
    /// Jobs' stdout (or JSON).
    pub stdout: Box<dyn Write>,
    /// Jobs' stderr, notes and the summary's neighbours.
    pub stderr: Box<dyn Write>,
    /// The progress bar (hidden unless the CLI decides otherwise).
    pub progress: Progress,
    /// Kills every job's group if this process dies (the CLI starts one).
    pub guardian: Option<Guardian>,
}

impl std::fmt::Debug for RunEnv {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RunEnv")
            .field("signals", &self.signals)
            .field("launcher", &self.launcher)
            .field("progress", &self.progress.visible())
            .field("guardian", &self.guardian)
            .finish()
    }
}

impl RunEnv {
    /// Our own stdout and stderr, local jobs, no signal handling, no progress bar.
    pub fn stdio() -> Self {
        Self {
            signals: None,
            launcher: Box::new(Local),
            stdout: Box::new(io::stdout()),
            stderr: Box::new(io::stderr()),
            progress: Progress::hidden(),
            guardian: None,
        }
    }
}

/// How a run ended.
#[derive(Debug, Clone, Default)]
pub struct RunResult {
    /// The counts.
    pub summary: Summary,
    /// The first shutdown signal received, if the run was interrupted.
    pub interrupted: Option<Signal>,
    /// The verdict of the job that triggered `--halt`, if one did.
    pub halted_by: Option<JobStatus>,
    /// Our stdout could not be written (the reader went away): the run stopped.
    pub stdout_broken: bool,
    /// A failure of the run itself (input unreadable, joblog unwritable, nothing could be
    /// started), after which it stopped.
    pub fatal: Option<String>,
    /// Warnings given along the way (also printed).
    pub warnings: Vec<String>,
}

/// Runs the jobs and returns how it went. Jobs' output and notes are written as they
/// finish; the summary line is the caller's to print (see [`Summary`]'s `Display`).
///
/// Runs on the calling thread (plus one input-reader thread for line inputs); with
/// [`RunConfig::kill_on_parent_death`], call it from a thread that lives until it returns.
///
/// ```
/// use orchestrator::run::{Inputs, LineSource, RunConfig, RunEnv, Template, run};
/// use std::io::Write;
/// use std::sync::{Arc, Mutex};
/// use std::time::Duration;
///
/// /// Collects what the run writes.
/// #[derive(Clone, Default)]
/// struct Shared(Arc<Mutex<Vec<u8>>>);
/// impl Write for Shared {
///     fn write(&mut self, b: &[u8]) -> std::io::Result<usize> {
///         self.0.lock().unwrap().extend_from_slice(b);
///         Ok(b.len())
///     }
///     fn flush(&mut self) -> std::io::Result<()> {
///         Ok(())
///     }
/// }
///
/// # fn main() -> Result<(), Box<dyn std::error::Error>> {
/// // One job per input line; `{}` is the line, passed as one argument (no shell).
/// let mut cfg = RunConfig::new(Template::new(&["printf", "%s!\\n", "{}"], false));
/// cfg.procs = 3;
/// cfg.timeout = Some(Duration::from_secs(10));
/// cfg.output.keep_order = true; // -k: output in input order
/// let lines = LineSource::from_reader("words", &b"one\ntwo words\n$(three)\n"[..], b'\n');
/// let (out, err) = (Shared::default(), Shared::default());
/// let env = RunEnv {
///     stdout: Box::new(out.clone()),
///     stderr: Box::new(err.clone()),
///     ..RunEnv::stdio()
/// };
/// let result = run(cfg, Inputs::Lines(lines), env)?;
/// assert_eq!(*out.0.lock().unwrap(), b"one!\ntwo words!\n$(three)!\n");
/// assert_eq!((result.summary.ok, result.summary.failed), (3, 0));
/// assert!(result.summary.to_string().starts_with("3 jobs: 3 ok"));
/// # Ok(()) }
/// ```
///
/// # Errors
/// Only if the run cannot begin: the joblog cannot be opened or read, the event loop
/// cannot be created. Everything after that is in the [`RunResult`].
pub fn run(cfg: RunConfig, inputs: Inputs, env: RunEnv) -> io::Result<RunResult> {
    driver::Driver::new(cfg, env)?.run(inputs)
}
