//! The step between a job's argv and what is spawned on this machine.
//!
//! Every job passes through a [`Launcher`] before it is spawned. Locally the argv is run as
//! is ([`Local`], host `:` as in GNU parallel's joblog); an ssh or Slurm launcher rewrites it
//! (`ssh host -- cmd`, `srun -n1 cmd`) and names the host, which the joblog's `Host` column
//! and the JSON `host` field report.

use std::ffi::OsString;

/// What a launcher decided for one attempt of a job.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Launch {
    /// What to spawn here (`argv[0]` is the program).
    pub argv: Vec<OsString>,
    /// Where the job runs, for reports (`:` is this machine).
    pub host: String,
}

/// Turns a job's argv into what is spawned locally.
pub trait Launcher: std::fmt::Debug {
    /// The spawn for attempt `attempt` (1-based) of job `seq`, whose command is `argv`.
    fn prepare(&mut self, seq: u64, attempt: u32, argv: &[OsString]) -> Launch;

    /// That attempt is over (a launcher with per-host slots frees one here).
    fn finished(&mut self, _launch: &Launch) {}
}

/// Runs jobs on this machine, unchanged.
#[derive(Debug, Clone, Copy, Default)]
pub struct Local;

/// The host name [`Local`] reports (GNU parallel's joblog uses `:` for the local machine).
pub const LOCAL_HOST: &str = ":";

impl Launcher for Local {
    fn prepare(&mut self, _seq: u64, _attempt: u32, argv: &[OsString]) -> Launch {
        Launch {
            argv: argv.to_vec(),
            host: LOCAL_HOST.to_string(),
        }
    }
}
