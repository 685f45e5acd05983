//! What can go wrong with the pool as a whole, and why a single worker was lost.

use std::fmt;
use std::io;

use crate::status::ExitStatus;

/// A run (or the pool) could not go on.
///
/// A worker that dies, hangs or talks nonsense is *not* an error of the run: it is replaced
/// and its work retried (see the [module docs](super)). These are what is left when that
/// is no longer possible.
#[derive(Debug, thiserror::Error)]
pub enum PoolError {
    /// Every worker slot failed to start too many times in a row.
    #[error(
        "no worker could be started ({failures} failed start(s) on {slots} slot(s)); last error: {last_error}"
    )]
    NoWorkers {
        /// Slots in the pool.
        slots: usize,
        /// Failed starts, all slots together.
        failures: u32,
        /// What the last failure said.
        last_error: String,
    },
    /// Workers kept dying without any work being finished in between.
    #[error(
        "workers keep dying: {deaths} in a row died without any work being finished; last: {last_cause}"
    )]
    WorkersKeepDying {
        /// Deaths in a row.
        deaths: u32,
        /// How the last one ended.
        last_cause: String,
    },
    /// Writing the results failed (the reader of our output went away: `BrokenPipe`).
    #[error("cannot write the results")]
    Output(#[source] io::Error),
    /// Reading the input failed.
    #[error("cannot read the input")]
    Input(#[source] io::Error),
    /// The pool's event loop could not be set up (out of file descriptors?).
    #[error("cannot set up the pool")]
    Setup(#[source] io::Error),
    /// The pool's thread is gone (it panicked): a bug.
    #[error("the pool's thread is gone")]
    Closed,
}

/// How a worker was lost.
#[derive(Debug, Clone)]
pub(crate) enum Lost {
    /// The process could not be started.
    Spawn(String),
    /// It exited (or was killed by someone else).
    Exited(ExitStatus),
    /// It closed its standard output while still running (killed by us afterwards).
    ClosedOutput,
    /// Its hello was missing, malformed, or of another protocol version.
    Handshake(String),
    /// It did not say hello in time.
    HandshakeTimeout(std::time::Duration),
    /// It wrote something that breaks the protocol.
    Protocol(String),
    /// Talking to it failed.
    Io(String),
    /// Its number ran past the timeout: killed by us.
    TimedOut,
    /// It held work and sent nothing for this long (the protocol wants a frame every 20 ms):
    /// its host or the network to it is gone, or it hangs. Killed by us.
    Silent(std::time::Duration),
}

impl Lost {
    /// True for the failures of a worker that never became ready.
    pub(crate) fn is_start_failure(&self) -> bool {
        matches!(
            self,
            Self::Spawn(_) | Self::Handshake(_) | Self::HandshakeTimeout(_)
        )
    }
}

impl fmt::Display for Lost {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Spawn(e) => write!(f, "{e}"),
            Self::Exited(s) => write!(f, "{s}"),
            Self::ClosedOutput => f.write_str("it closed its standard output"),
            Self::Handshake(e) => write!(f, "handshake failed: {e}"),
            Self::HandshakeTimeout(d) => write!(
                f,
                "handshake failed: no hello within {}",
                humantime::format_duration(*d)
            ),
            Self::Protocol(e) => write!(f, "protocol error: {e}"),
            Self::Io(e) => write!(f, "{e}"),
            Self::TimedOut => f.write_str("killed: its number ran past the timeout"),
            Self::Silent(d) => write!(
                f,
                "killed: it held work and sent nothing for {} (host or network lost?)",
                humantime::format_duration(*d)
            ),
        }
    }
}
