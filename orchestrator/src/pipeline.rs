//! Pipelines: N stages connected by kernel pipes, one process group, one deadline.
//!
//! Data flows from stage to stage through pipes the kernel moves; it never passes through
//! this process. The caller feeds the first stage's stdin and reads the last stage's stdout
//! (each as configured on that stage's [`Command`]), and each stage's stderr if piped.
//!
//! # Exit status precedence (a SIGPIPE-aware pipefail)
//! Every stage's status is reported. The pipeline's status is decided from the right:
//! * a stage that exited 0 is *ok*;
//! * a stage killed by **SIGPIPE** is *ok* if the stage after it is ok — it was writing to a
//!   reader that had finished on purpose, as `yes` does in `yes | head -1`;
//! * the pipeline's status is that of the **rightmost stage that is not ok** (as bash's
//!   `pipefail` picks the rightmost failure), or success if every stage is ok.
//!
//! So `yes | head -1` succeeds, `false | cat` fails with `false`'s status, and
//! `cat big | head -c1 | false` fails with `false`'s status, not with `cat`'s SIGPIPE.

use std::time::{Duration, Instant};

use serde::Serialize;

use crate::child::{Ending, GroupRole};
use crate::command::Command;
use crate::communicate::{Chain, Communicate, TimedOut, Unit};
use crate::error::{Error, SpawnError};
use crate::pipes;
use crate::status::ExitStatus;
use crate::sys::Pid;

/// Stages to run connected by pipes.
///
/// ```
/// use orchestrator::{Command, Pipeline, Stdio};
/// # fn main() -> Result<(), Box<dyn std::error::Error>> {
/// let mut first = Command::new("tr");
/// first.args(["a-z", "A-Z"]).stdin(Stdio::piped());
/// let mut last = Command::new("rev");
/// last.stdout(Stdio::piped());
/// let out = Pipeline::new([first, last]).spawn()?.communicate().input("hello\n").run()?;
/// assert!(out.status.success());
/// assert_eq!(out.stdout, b"OLLEH\n");
/// # Ok(()) }
/// ```
#[derive(Debug)]
pub struct Pipeline {
    stages: Vec<Command>,
}

/// A stage could not be started; the stages before it were killed and reaped.
#[derive(Debug, Clone, thiserror::Error)]
#[error("stage {} of the pipeline: {source}", stage + 1)]
pub struct PipelineSpawnError {
    /// Index of the stage that failed (0-based).
    pub stage: usize,
    /// Why.
    #[source]
    pub source: SpawnError,
}

impl Pipeline {
    /// A pipeline of `stages`, in order. The first stage's stdin, the last stage's stdout and
    /// every stage's stderr are as configured on each [`Command`]; the stdin/stdout between
    /// stages are replaced by pipes.
    pub fn new(stages: impl IntoIterator<Item = Command>) -> Self {
        Self {
            stages: stages.into_iter().collect(),
        }
    }

    /// Number of stages.
    pub fn len(&self) -> usize {
        self.stages.len()
    }

    /// True if there are no stages.
    pub fn is_empty(&self) -> bool {
        self.stages.is_empty()
    }

    /// Starts every stage, all in one new process group (the first stage's). The parent's
    /// copies of the pipes between stages are closed before this returns.
    ///
    /// # Errors
    /// [`PipelineSpawnError`] naming the stage that could not start; the stages already
    /// started are killed and reaped first. An empty pipeline is stage 0 "not found".
    pub fn spawn(self) -> Result<RunningPipeline, PipelineSpawnError> {
        let n = self.stages.len();
        if n == 0 {
            return Err(PipelineSpawnError {
                stage: 0,
                source: SpawnError::new(
                    String::new(),
                    crate::error::SpawnErrorKind::NotFound,
                    std::io::Error::new(std::io::ErrorKind::InvalidInput, "empty pipeline"),
                ),
            });
        }
        let mut children = Vec::with_capacity(n);
        let mut pgid: Option<Pid> = None;
        let mut next_stdin: Option<pipes::PipeReader> = None;
        let fail = |children: Vec<crate::Child>, pgid: Option<Pid>, stage, source| {
            // Dropping the unit kills the group and reaps the stages already started.
            if let Some(pgid) = pgid {
                drop(Unit {
                    stdin: None,
                    stdout: None,
                    stderrs: Vec::new(),
                    children,
                    pgid,
                });
            }
            PipelineSpawnError { stage, source }
        };
        for (i, mut cmd) in self.stages.into_iter().enumerate() {
            if let Some(r) = next_stdin.take() {
                cmd.stdin(r);
            }
            if i + 1 < n {
                match pipes::pipe() {
                    Ok((r, w)) => {
                        // Larger pipes between stages: fewer wake-ups and cross-CPU hand-offs
                        // when bulk data flows (pages are only used as data is in flight).
                        pipes::enlarge(&w);
                        cmd.stdout(w);
                        next_stdin = Some(r);
                    }
                    Err(e) => {
                        let program = cmd.get_program().to_string_lossy().into_owned();
                        let err = SpawnError::new(
                            program,
                            crate::error::SpawnErrorKind::ResourceExhausted,
                            e,
                        );
                        return Err(fail(children, pgid, i, err));
                    }
                }
            }
            let role = match pgid {
                None => GroupRole::SharedLeader,
                Some(g) => {
                    cmd.join_group(g);
                    GroupRole::Member(g)
                }
            };
            // `cmd` is consumed: our copies of this stage's pipe ends close now.
            match cmd.spawn_with_role(role) {
                Ok(child) => {
                    pgid.get_or_insert(child.pid() as Pid);
                    children.push(child);
                }
                Err(e) => return Err(fail(children, pgid, i, e)),
            }
        }
        let last = n - 1;
        let stdin = children[0].take_stdin();
        let stdout = children[last].take_stdout();
        let stderrs = children.iter_mut().map(|c| c.take_stderr()).collect();
        Ok(RunningPipeline {
            unit: Unit {
                stdin,
                stdout,
                stderrs,
                children,
                // Set by the first successful spawn above (n > 0).
                pgid: pgid.expect("the first stage started"),
            },
        })
    }
}

/// A started pipeline. Dropping it kills its process group and reaps every stage.
#[derive(Debug)]
pub struct RunningPipeline {
    unit: Unit,
}

impl RunningPipeline {
    /// Pids of the stages, in order.
    pub fn pids(&self) -> Vec<u32> {
        self.unit.pids()
    }

    /// The process group all stages share.
    pub fn pgid(&self) -> u32 {
        self.unit.pgid as u32
    }

    /// Feed the first stage, capture the last stage's stdout and every piped stderr, with an
    /// optional deadline for the whole pipeline.
    pub fn communicate(self) -> Communicate<Chain> {
        Communicate::new(self.unit)
    }

    /// Stops the whole pipeline: SIGTERM to its group, up to `grace`, then SIGKILL; reaps
    /// every stage. Output still in the pipes is discarded.
    ///
    /// # Errors
    /// [`Error::Io`] if a system call fails.
    pub fn terminate(self, grace: Duration) -> Result<PipelineOutcome, Error> {
        self.communicate()
            .deadline(Instant::now())
            .grace(grace)
            .run()
    }
}

impl Communicate<Chain> {
    /// Runs the pipeline to the end: every stage exited (or the group was stopped at the
    /// deadline) and was reaped, and nothing is left in the group.
    ///
    /// # Errors
    /// [`Error::Io`] if a system call on the stages fails. Failures of the stages are in
    /// the [`PipelineOutcome`].
    pub fn run(self) -> Result<PipelineOutcome, Error> {
        let raw = self.run_raw()?;
        let statuses: Vec<ExitStatus> = raw.stages.iter().map(|s| s.status).collect();
        let (status, failed_stage, forgiven) = precedence(&statuses);
        let stages = raw
            .stages
            .into_iter()
            .zip(forgiven)
            .map(|(s, forgiven_sigpipe)| StageOutcome {
                program: s.program,
                pid: s.pid,
                status: s.status,
                forgiven_sigpipe,
                stderr: s.stderr,
                stderr_dropped: s.stderr_dropped,
                running_at_deadline: s.running_at_deadline,
            })
            .collect();
        Ok(PipelineOutcome {
            status,
            failed_stage,
            stages,
            stdout: raw.stdout.data,
            stdout_dropped: raw.stdout.dropped,
            timed_out: raw.timed_out,
            leaked: raw.leaked,
            cancelled: raw.cancelled,
            input_unwritten: raw.input_unwritten,
            elapsed: raw.elapsed,
        })
    }
}

/// Applies the module's precedence rule: the pipeline status, the index of the stage it
/// comes from (None on success), and which stages had a SIGPIPE forgiven.
///
/// ```
/// use orchestrator::pipeline::precedence;
/// use orchestrator::ExitStatus;
/// let pipe = ExitStatus::Signal { signal: 13, core_dumped: false };
/// // yes | head -1
/// assert_eq!(precedence(&[pipe, ExitStatus::Code(0)]).0, ExitStatus::Code(0));
/// // cat | head -c1 | false
/// let (status, stage, _) = precedence(&[pipe, ExitStatus::Code(0), ExitStatus::Code(1)]);
/// assert_eq!((status, stage), (ExitStatus::Code(1), Some(2)));
/// ```
pub fn precedence(stages: &[ExitStatus]) -> (ExitStatus, Option<usize>, Vec<bool>) {
    let mut ok = vec![false; stages.len()];
    let mut forgiven = vec![false; stages.len()];
    let mut failed = None;
    for i in (0..stages.len()).rev() {
        let next_ok = ok.get(i + 1).copied().unwrap_or(false);
        if stages[i].success() {
            ok[i] = true;
        } else if stages[i].is_sigpipe() && next_ok {
            ok[i] = true;
            forgiven[i] = true;
        } else if failed.is_none() {
            failed = Some(i);
        }
    }
    match failed {
        Some(i) => (stages[i], Some(i), forgiven),
        None => (ExitStatus::Code(0), None, forgiven),
    }
}

/// One stage of a finished pipeline.
#[derive(Debug, Clone, Serialize)]
pub struct StageOutcome {
    /// The program.
    pub program: String,
    /// Its pid (reaped).
    pub pid: u32,
    /// How it ended.
    pub status: ExitStatus,
    /// It died of SIGPIPE after the stage downstream finished well: not a failure.
    pub forgiven_sigpipe: bool,
    /// Its captured stderr, if piped.
    #[serde(skip)]
    pub stderr: Vec<u8>,
    /// Bytes of stderr dropped past the capture limit.
    pub stderr_dropped: u64,
    /// It was still running when the deadline passed.
    pub running_at_deadline: bool,
}

/// What happened to a pipeline.
#[derive(Debug, Clone)]
pub struct PipelineOutcome {
    /// The pipeline's status under the precedence rule of the [module docs](self).
    pub status: ExitStatus,
    /// The stage `status` comes from, if it failed.
    pub failed_stage: Option<usize>,
    /// Every stage, in order.
    pub stages: Vec<StageOutcome>,
    /// The last stage's captured stdout, if piped.
    pub stdout: Vec<u8>,
    /// Bytes of stdout dropped past the capture limit.
    pub stdout_dropped: u64,
    /// Set if the deadline passed and the group was stopped.
    pub timed_out: Option<TimedOut>,
    /// Something outlived the stages in their group or held a pipe, and was killed.
    pub leaked: bool,
    /// Stopped early through a [`Cancel`](crate::Cancel) token.
    pub cancelled: bool,
    /// Input bytes the first stage did not take.
    pub input_unwritten: usize,
    /// From `run` to the end.
    pub elapsed: Duration,
}

impl PipelineOutcome {
    /// True if every stage is ok under the precedence rule, the deadline was not hit and it
    /// was not cancelled.
    pub fn success(&self) -> bool {
        self.status.success() && self.timed_out.is_none() && !self.cancelled
    }

    /// Stages still running when the deadline passed (for "timed out in stage 2: `cat`").
    pub fn stages_running_at_deadline(&self) -> impl Iterator<Item = (usize, &StageOutcome)> {
        self.stages
            .iter()
            .enumerate()
            .filter(|(_, s)| s.running_at_deadline)
    }

    /// Whether SIGTERM sufficed at the deadline.
    pub fn ending(&self) -> Option<Ending> {
        self.timed_out.map(|t| t.ending)
    }
}
