//! Typed errors of the library: what failed, on which program, and why.

use std::fmt;
use std::io;
use std::sync::Arc;

use crate::status::ExitStatus;

/// An I/O error as people read it: `No such file or directory`, without `(os error 2)`.
pub(crate) fn io_reason(e: &io::Error) -> String {
    let s = e.to_string();
    match s.rfind(" (os error ") {
        Some(i) => s[..i].to_string(),
        None => s,
    }
}

/// Why a program could not be started.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SpawnErrorKind {
    /// No such file, or not found on `PATH`.
    NotFound,
    /// The file exists but may not be executed.
    PermissionDenied,
    /// The program names a directory.
    IsADirectory,
    /// The file is not in an executable format the kernel knows.
    NotExecutable,
    /// The working directory does not exist or is not a directory.
    BadWorkingDirectory,
    /// Out of processes or file descriptors (EAGAIN, EMFILE, ENFILE): retrying later may work.
    ResourceExhausted,
    /// Anything else.
    Other,
}

impl fmt::Display for SpawnErrorKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Self::NotFound => "no such file or directory",
            Self::PermissionDenied => "permission denied",
            Self::IsADirectory => "is a directory",
            Self::NotExecutable => "not an executable file",
            Self::BadWorkingDirectory => "working directory not usable",
            Self::ResourceExhausted => "out of processes or file descriptors",
            Self::Other => "spawn failed",
        })
    }
}

/// A program could not be started.
///
/// ```
/// use orchestrator::{Command, SpawnErrorKind};
/// let err = Command::new("surely-not-a-program-xyz").spawn().unwrap_err();
/// assert_eq!(err.kind(), SpawnErrorKind::NotFound);
/// assert_eq!(err.to_string(), "cannot start `surely-not-a-program-xyz`: no such file or directory");
/// ```
#[derive(Debug, Clone, thiserror::Error)]
#[error("cannot start `{program}`: {kind}")]
pub struct SpawnError {
    program: String,
    kind: SpawnErrorKind,
    #[source]
    source: Arc<io::Error>,
}

impl SpawnError {
    pub(crate) fn new(program: String, kind: SpawnErrorKind, source: io::Error) -> Self {
        Self {
            program,
            kind,
            source: Arc::new(source),
        }
    }

    /// The program as given.
    pub fn program(&self) -> &str {
        &self.program
    }

    /// Why it could not start.
    pub fn kind(&self) -> SpawnErrorKind {
        self.kind
    }

    /// The underlying OS error.
    pub fn io_error(&self) -> &io::Error {
        &self.source
    }
}

/// A process or pipeline ended in a way the caller asked to treat as an error
/// (see [`Outcome::check`](crate::Outcome::check)).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ExitError {
    /// It exited with a non-zero code.
    #[error("`{program}` failed: exit code {code}")]
    NonZeroExit {
        /// Program name.
        program: String,
        /// The exit code.
        code: i32,
    },
    /// It was killed by a signal it did not get from us.
    #[error("`{program}` was {status}")]
    Signaled {
        /// Program name.
        program: String,
        /// The status (always [`ExitStatus::Signal`]).
        status: ExitStatus,
    },
    /// It ran past its deadline and was stopped.
    #[error("`{program}` timed out after {after:?}")]
    TimedOut {
        /// Program name.
        program: String,
        /// The timeout.
        after: std::time::Duration,
    },
}

/// Errors of waiting, signalling and exchanging data with children.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// Starting a child failed.
    #[error(transparent)]
    Spawn(#[from] SpawnError),
    /// A system call on a running child failed (wait, signal, pipe I/O).
    #[error("{what} failed for `{program}` (pid {pid})")]
    Io {
        /// What we were doing.
        what: &'static str,
        /// Program name.
        program: String,
        /// Its pid.
        pid: i32,
        /// The OS error.
        #[source]
        source: io::Error,
    },
}
