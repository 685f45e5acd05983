//! `orchestrator`: run many child processes well.
//!
//! Every child gets its own process group, so a timeout or Ctrl-C reaches its grandchildren;
//! completion means the child **exited**, not that its pipes reached end-of-file; whatever a
//! child leaves behind is killed and reported; a handle dropped early kills and reaps.
//!
//! Layers, bottom up (each usable on its own):
//! * [`sys`]: the only module with `unsafe` and libc (process groups, signals, pidfd, poll).
//! * [`Command`] → [`Child`]: one child — spawn, [`Child::try_wait`], [`Child::wait_timeout`],
//!   [`Child::terminate`] (TERM → grace → KILL on the group).
//! * [`Communicate`]: feed stdin and capture stdout/stderr at once under a deadline.
//! * [`Pipeline`]: stages joined by kernel pipes, one group, one deadline, SIGPIPE-aware status.
//! * [`supervisor`]: many children at once on one event loop (pidfds, pipes, signals, timers).
//! * [`run`] and [`report`]: `orchestrator run` as a library — templates, inputs, retries,
//!   halts, Ctrl-C; grouped/ordered output, joblog, JSON, progress. [`guardian`] kills every
//!   job's group if the orchestrator dies.
//! * [`pool::Pool`]: a crash-proof pool of persistent `worker serve` processes.
//! * [`cli`]: the `orchestrator` command line, a thin shell over the above.
//!
//! ```
//! use orchestrator::{Command, Stdio};
//! use std::time::Duration;
//! # fn main() -> Result<(), Box<dyn std::error::Error>> {
//! let child = Command::new("cat").stdin(Stdio::piped()).stdout(Stdio::piped()).spawn()?;
//! let out = child
//!     .communicate()
//!     .input(vec![b'x'; 1 << 20]) // 1 MiB in while reading 1 MiB out: no deadlock
//!     .timeout(Duration::from_secs(10))
//!     .run()?
//!     .check()?;
//! assert_eq!(out.stdout.len(), 1 << 20);
//! # Ok(()) }
//! ```
//!
//! Unix only (Linux is the target): process groups, signals and pidfds have no Windows
//! equivalent here.

#[cfg(not(unix))]
compile_error!("orchestrator supports Unix (Linux is the target) only");

pub mod chain;
pub mod child;
pub mod cli;
pub mod command;
pub mod communicate;
pub mod error;
pub mod guardian;
pub mod launch;
pub(crate) mod lifecycle;
pub mod pipeline;
pub mod pipes;
pub mod pool;
pub mod report;
pub mod run;
pub mod signal;
pub(crate) mod sink;
pub mod status;
pub mod supervisor;
pub mod sys;

pub use child::{Child, Ending, Termination};
pub use command::{Command, Stdio};
pub use communicate::{Cancel, Communicate, Outcome, TimedOut};
pub use error::{Error, ExitError, SpawnError, SpawnErrorKind};
pub use pipeline::{Pipeline, PipelineOutcome, PipelineSpawnError, RunningPipeline, StageOutcome};
pub use pool::{Pool, PoolError};
pub use status::ExitStatus;
pub use sys::Signal;
