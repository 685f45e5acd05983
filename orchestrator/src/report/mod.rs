//! What the user sees of a run: each job's output (grouped, line-buffered, tagged, in
//! order), its record (joblog TSV, JSON), the progress bar and the closing summary.
//!
//! Everything here writes; nothing here runs processes. stdout carries only what the jobs
//! print (or JSON records); notes, warnings, the progress bar and the summary go to stderr.

use std::ffi::OsString;
use std::fmt;
use std::time::{Duration, SystemTime};

use crate::communicate::TimedOut;
use crate::error::SpawnErrorKind;
use crate::status::ExitStatus;

pub mod buffer;
pub mod joblog;
pub mod json;
pub mod output;
pub mod progress;

/// How a job ended (its last attempt).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum JobStatus {
    /// Exit code 0 within its deadline.
    Ok,
    /// A non-zero exit code, or killed by a signal it did not get from us.
    Failed,
    /// Its deadline passed and it was stopped.
    TimedOut,
    /// It could not be started.
    NotStarted(NotStarted),
    /// Stopped by the run before it finished (Ctrl-C, or `--halt now`); not a failure of
    /// the job, and not recorded in the joblog (so `--resume` runs it again).
    Stopped,
}

/// Why a job could not start.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum NotStarted {
    /// The program does not exist.
    NotFound,
    /// The program exists but cannot be run (permission, a directory, not an executable).
    CannotExecute,
    /// Anything else: a bad input line, the argument list too long, out of resources.
    Other,
}

impl NotStarted {
    /// Classifies a spawn failure.
    pub fn from_spawn(kind: SpawnErrorKind) -> Self {
        match kind {
            SpawnErrorKind::NotFound => Self::NotFound,
            SpawnErrorKind::PermissionDenied
            | SpawnErrorKind::IsADirectory
            | SpawnErrorKind::NotExecutable => Self::CannotExecute,
            _ => Self::Other,
        }
    }

    /// The shell's exit code for it: 127 not found, 126 cannot execute, 255 otherwise.
    pub fn shell_code(self) -> i32 {
        match self {
            Self::NotFound => 127,
            Self::CannotExecute => 126,
            Self::Other => 255,
        }
    }
}

impl JobStatus {
    /// The word used in JSON and notes.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Ok => "ok",
            Self::Failed => "failed",
            Self::TimedOut => "timed_out",
            Self::NotStarted(_) => "not_started",
            Self::Stopped => "stopped",
        }
    }

    /// Counts as a failure for `--halt` and `--retries`.
    pub fn is_failure(self) -> bool {
        matches!(self, Self::Failed | Self::TimedOut | Self::NotStarted(_))
    }
}

/// Everything known about one finished job, for the joblog, JSON and notes.
#[derive(Debug, Clone)]
pub struct JobReport {
    /// Job number (1-based, input order).
    pub seq: u64,
    /// The input line (`None` for counted jobs).
    pub input: Option<Vec<u8>>,
    /// The job's command (before the launcher).
    pub argv: Vec<OsString>,
    /// Where it ran (`:` is this machine).
    pub host: String,
    /// When its last attempt started (wall clock).
    pub start: SystemTime,
    /// From start to exit of its last attempt.
    pub runtime: Duration,
    /// How its last attempt ended (`None`: it never started).
    pub exit: Option<ExitStatus>,
    /// Set if its last attempt timed out.
    pub timed_out: Option<TimedOut>,
    /// Something outlived it in its group, or held its pipes, and was killed.
    pub leaked: bool,
    /// Attempts made (1 unless retried).
    pub attempts: u32,
    /// The verdict.
    pub status: JobStatus,
    /// Why it could not start, if so.
    pub error: Option<String>,
    /// Bytes it wrote to stdout (last attempt).
    pub stdout_bytes: u64,
    /// Hosts lost while it ran there, in order (it was run again elsewhere each time).
    pub lost_hosts: Vec<String>,
}

/// Counts of a run, for the summary line and the exit code.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Summary {
    /// Jobs that succeeded.
    pub ok: u64,
    /// Jobs that failed.
    pub failed: u64,
    /// Jobs that timed out.
    pub timed_out: u64,
    /// Jobs whose program was not found.
    pub not_found: u64,
    /// Jobs whose program could not be executed.
    pub cannot_execute: u64,
    /// Jobs that could not start for another reason.
    pub not_started_other: u64,
    /// Jobs stopped by the run (Ctrl-C, `--halt now`).
    pub stopped: u64,
    /// Jobs skipped because the joblog records them (`--resume`).
    pub skipped: u64,
    /// Jobs that left processes behind (also counted in their own category).
    pub leaked: u64,
    /// Attempts that failed and were retried.
    pub retried: u64,
    /// Jobs never started because the run stopped early.
    pub not_run: u64,
    /// The run stopped before reading all of its input (so `not_run` is a lower bound).
    pub input_left: bool,
    /// Wall time of the run.
    pub wall: Duration,
}

impl Summary {
    /// Counts one finished job.
    pub fn add(&mut self, r: &JobReport) {
        match r.status {
            JobStatus::Ok => self.ok += 1,
            JobStatus::Failed => self.failed += 1,
            JobStatus::TimedOut => self.timed_out += 1,
            JobStatus::NotStarted(NotStarted::NotFound) => self.not_found += 1,
            JobStatus::NotStarted(NotStarted::CannotExecute) => self.cannot_execute += 1,
            JobStatus::NotStarted(NotStarted::Other) => self.not_started_other += 1,
            JobStatus::Stopped => self.stopped += 1,
        }
        if r.leaked {
            self.leaked += 1;
        }
    }

    /// Jobs that finished (any way) or were skipped.
    pub fn finished(&self) -> u64 {
        self.ok
            + self.failed
            + self.timed_out
            + self.not_found
            + self.cannot_execute
            + self.not_started_other
            + self.stopped
    }

    /// Jobs that count as failures.
    pub fn failures(&self) -> u64 {
        self.failed + self.timed_out + self.not_found + self.cannot_execute + self.not_started_other
    }
}

impl fmt::Display for Summary {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let jobs = self.finished();
        write!(
            f,
            "{jobs} job{}: {} ok, {} failed, {} timed out",
            if jobs == 1 { "" } else { "s" },
            self.ok,
            self.failed,
            self.timed_out
        )?;
        let extra = [
            (self.not_found, "not found"),
            (self.cannot_execute, "could not execute"),
            (self.not_started_other, "could not start"),
            (self.stopped, "stopped"),
            (self.skipped, "skipped (joblog)"),
            (self.not_run, "not run"),
            (self.leaked, "left processes behind"),
            (self.retried, "retried attempts"),
        ];
        for (n, what) in extra {
            if n > 0 {
                write!(f, ", {n} {what}")?;
            }
        }
        if self.input_left {
            f.write_str(", input left unread")?;
        }
        write!(f, "; wall {:.2}s", self.wall.as_secs_f64())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn summary_line_names_what_happened() {
        let mut s = Summary {
            ok: 7,
            failed: 1,
            timed_out: 1,
            wall: Duration::from_millis(1234),
            ..Summary::default()
        };
        assert_eq!(
            s.to_string(),
            "9 jobs: 7 ok, 1 failed, 1 timed out; wall 1.23s"
        );
        s.not_found = 2;
        s.not_run = 3;
        assert_eq!(
            s.to_string(),
            "11 jobs: 7 ok, 1 failed, 1 timed out, 2 not found, 3 not run; wall 1.23s"
        );
        assert_eq!(s.failures(), 4);
    }
}
