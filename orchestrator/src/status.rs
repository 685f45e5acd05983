//! How a child ended: an exit code or a signal, never confused.

use std::fmt;

use serde::{Deserialize, Serialize};

use crate::sys;

/// How a process ended.
///
/// Unlike a raw wait status, this tells an exit code from a signal at the type level, so a
/// caller cannot mistake "killed by SIGKILL" for "exit code 9".
///
/// ```
/// use orchestrator::ExitStatus;
/// let ok = ExitStatus::Code(0);
/// assert!(ok.success());
/// let killed = ExitStatus::Signal { signal: 9, core_dumped: false };
/// assert_eq!(killed.to_string(), "killed by SIGKILL");
/// assert_eq!(killed.code(), None);
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ExitStatus {
    /// The process called `exit(code)`.
    Code(i32),
    /// The process was killed by a signal.
    Signal {
        /// The signal number.
        signal: i32,
        /// Whether it left a core dump.
        core_dumped: bool,
    },
}

impl ExitStatus {
    /// True for exit code 0.
    pub fn success(&self) -> bool {
        matches!(self, Self::Code(0))
    }

    /// The exit code, if the process exited normally.
    pub fn code(&self) -> Option<i32> {
        match self {
            Self::Code(c) => Some(*c),
            Self::Signal { .. } => None,
        }
    }

    /// The signal that killed the process, if one did.
    pub fn signal(&self) -> Option<i32> {
        match self {
            Self::Signal { signal, .. } => Some(*signal),
            Self::Code(_) => None,
        }
    }

    /// True if the process was killed by SIGPIPE (it wrote to a pipe nobody reads any more).
    pub fn is_sigpipe(&self) -> bool {
        self.signal() == Some(sys::SIGPIPE)
    }

    /// The shell's convention: the exit code, or 128 + the signal number.
    pub fn shell_code(&self) -> i32 {
        match self {
            Self::Code(c) => *c,
            Self::Signal { signal, .. } => 128 + signal,
        }
    }
}

impl From<std::process::ExitStatus> for ExitStatus {
    fn from(s: std::process::ExitStatus) -> Self {
        use std::os::unix::process::ExitStatusExt;
        match (s.code(), s.signal()) {
            (Some(c), _) => Self::Code(c),
            (None, Some(signal)) => Self::Signal {
                signal,
                core_dumped: s.core_dumped(),
            },
            // Neither a code nor a signal: only for stopped/continued statuses, which a wait
            // for exit never returns. Report it as an unusual code rather than panicking.
            (None, None) => Self::Code(s.into_raw()),
        }
    }
}

impl fmt::Display for ExitStatus {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Code(c) => write!(f, "exit code {c}"),
            Self::Signal {
                signal,
                core_dumped,
            } => {
                write!(f, "killed by {}", sys::signal_name(*signal))?;
                if *core_dumped {
                    f.write_str(" (core dumped)")?;
                }
                Ok(())
            }
        }
    }
}
