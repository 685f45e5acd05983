//! The step between a job's argv and what is spawned on this machine.
//!
//! Every job passes through a [`Launcher`] before it is spawned. Locally the argv is run as
//! is ([`Local`], host `:` as in GNU parallel's joblog); an ssh or Slurm launcher rewrites it
//! (`ssh host 'exec sh -c ...'`, `srun -u -n1 cmd`) and names the host, which the joblog's
//! `Host` column and the JSON `host` field report. A launcher with hosts
//! ([`Hosts`](super::hosts::Hosts)) also hands out their slots, tells a lost host from a job
//! that failed, and reports hosts lost and back ([`HostEvent`]).

use std::ffi::OsString;

use crate::status::ExitStatus;
use crate::supervisor::Wake;

/// What a launcher decided for one attempt of a job.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Launch {
    /// What to spawn here (`argv[0]` is the program).
    pub argv: Vec<OsString>,
    /// Where the job runs, for reports (`:` is this machine).
    pub host: String,
    /// The launcher's own tag for this attempt (e.g. its host slot), handed back to it.
    pub token: usize,
    /// The process's stdin must be a pipe whose write end stays open, unwritten, while the job
    /// runs (ssh's [watched mode](crate::launch::watch)); otherwise stdin is `/dev/null`.
    pub lifeline: bool,
}

impl Launch {
    /// `argv` run here, unchanged.
    pub fn local(argv: &[OsString]) -> Self {
        Self {
            argv: argv.to_vec(),
            host: LOCAL_HOST.to_string(),
            token: 0,
            lifeline: false,
        }
    }
}

/// The launcher cannot run this job (e.g. an argument a remote shell cannot carry).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LaunchFailed {
    /// The host it was meant for.
    pub host: String,
    /// Why.
    pub error: String,
}

/// How an attempt ended, as far as its launcher is concerned.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Ended {
    /// The local process's status (ssh's, srun's or the job's own).
    pub status: ExitStatus,
    /// We stopped it (timeout, `--halt now`, Ctrl-C), so its status says nothing of the host.
    pub stopped_by_us: bool,
}

/// What the driver should make of an attempt that ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Verdict {
    /// The job's own outcome: judge it as usual (success, failure, retry).
    Done,
    /// It may have failed because its host is gone: hold its result until a
    /// [`HostEvent::Cleared`] (then judge it as usual) or [`HostEvent::Lost`] (then run it again
    /// elsewhere) names the token's host.
    HostSuspect,
    /// Its host is known to be lost: run it again elsewhere (its attempt does not count against
    /// `--retries`).
    HostLost,
}

/// Something that happened to a host, reported by [`Launcher::events`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum HostEvent {
    /// The host of `token` answered a check: the jobs held for it failed on their own.
    Cleared {
        /// Any token of the host (compare with [`Launcher::same_host`]).
        token: usize,
    },
    /// The connection to the host of `token` dropped, but the host answers again: its held
    /// jobs were cut off, not failed, and run again (anywhere).
    Dropped {
        /// Any token of the host.
        token: usize,
        /// Its name.
        host: String,
    },
    /// The host of `token` is lost: its held jobs, and those still running there, go to other
    /// hosts.
    Lost {
        /// Any token of the host.
        token: usize,
        /// Its name.
        host: String,
        /// Why it was declared lost.
        why: String,
    },
    /// A lost host answers again and takes jobs.
    Back {
        /// Its name.
        host: String,
    },
    /// Every host is lost: no job can run any more.
    AllLost,
}

/// Turns a job's argv into what is spawned locally.
pub trait Launcher: std::fmt::Debug {
    /// The spawn for attempt `attempt` (1-based) of job `seq`, whose command is `argv`. Called
    /// only when [`Launcher::has_room`] is true.
    ///
    /// # Errors
    /// The job cannot be run by this launcher (it then fails to start, with this reason).
    fn prepare(
        &mut self,
        seq: u64,
        attempt: u32,
        argv: &[OsString],
    ) -> Result<Launch, LaunchFailed>;

    /// That attempt is over (a launcher with per-host slots frees one here).
    fn finished(&mut self, _launch: &Launch, _ended: Option<Ended>) -> Verdict {
        Verdict::Done
    }

    /// True if a job can start now (a host has a free slot). Default: always.
    fn has_room(&self) -> bool {
        true
    }

    /// True if tokens `a` and `b` are on the same host.
    fn same_host(&self, a: usize, b: usize) -> bool {
        a == b
    }

    /// Host events since the last call.
    fn events(&mut self) -> Vec<HostEvent> {
        Vec::new()
    }

    /// Where to signal that [`Launcher::events`] has something (the run's event loop).
    fn set_waker(&mut self, _wake: Wake) {}
}

/// Runs jobs on this machine, unchanged.
#[derive(Debug, Clone, Copy, Default)]
pub struct Local;

/// The host name [`Local`] reports (GNU parallel's joblog uses `:` for the local machine).
pub const LOCAL_HOST: &str = ":";

impl Launcher for Local {
    fn prepare(
        &mut self,
        _seq: u64,
        _attempt: u32,
        argv: &[OsString],
    ) -> Result<Launch, LaunchFailed> {
        Ok(Launch::local(argv))
    }
}

/// Runs every job through one [`crate::launch::Launcher`] with no host slots: `srun` (each job
/// a Slurm step: Slurm places it), or a fixed prefix. Host reported: the launcher's
/// [`host_label`](crate::launch::Launcher::host_label) (`srun`).
#[derive(Debug, Clone)]
pub struct Through {
    launcher: crate::launch::Launcher,
    grace: std::time::Duration,
}

impl Through {
    /// Jobs through `launcher`; `grace` is what a remote watcher waits between SIGTERM and
    /// SIGKILL (ssh only).
    pub fn new(launcher: crate::launch::Launcher, grace: std::time::Duration) -> Self {
        Self { launcher, grace }
    }
}

impl Launcher for Through {
    fn prepare(
        &mut self,
        _seq: u64,
        _attempt: u32,
        argv: &[OsString],
    ) -> Result<Launch, LaunchFailed> {
        let host = self.launcher.host_label();
        match self.launcher.job_command_for(argv, &[], self.grace) {
            Ok(cmd) => Ok(Launch {
                lifeline: cmd.needs_lifeline(),
                argv: cmd.argv().to_vec(),
                host,
                token: 0,
            }),
            Err(e) => Err(LaunchFailed {
                host,
                error: e.to_string(),
            }),
        }
    }
}
