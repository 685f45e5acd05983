//! How the pool starts a worker: the argv of `worker serve`, and the seam where a remote
//! launcher (ssh, Slurm) wraps it.
//!
//! The pool asks a [`Launch`] for the argv of worker slot `i` each time it (re)starts that
//! slot, and then does the rest itself: stdin and stdout become pipes carrying frames, stderr
//! is inherited (a worker's log lines reach the user's terminal), the process gets its own
//! process group and `kill_on_parent_death`. A remote launcher only has to put its own words
//! in front of the worker's argv — `ssh -T host --`, `srun -u -n1 --quiet` — because the
//! frames travel through ssh's or srun's stdin/stdout unchanged:
//!
//! ```
//! use orchestrator::pool::{Launch, LocalWorker, Wrapped};
//! let local = LocalWorker::new("/opt/bin/worker");
//! assert_eq!(local.argv(0), ["/opt/bin/worker", "serve"]);
//! let hosts = ["node1", "node2"];
//! let ssh = Wrapped::new(local, move |slot| vec!["ssh".into(), "-T".into(), hosts[slot % 2].into(), "--".into()]);
//! assert_eq!(ssh.argv(3), ["ssh", "-T", "node2", "--", "/opt/bin/worker", "serve"]);
//! ```

use std::ffi::OsString;
use std::fmt;
use std::io;
use std::path::{Path, PathBuf};

use crate::command::Command;

/// Builds the command line of worker slot `slot` (0-based, below the pool's size). Called
/// again for every restart of the slot; implementations must be cheap and thread-safe.
pub trait Launch: fmt::Debug + Send + Sync {
    /// The full argv: program first.
    fn argv(&self, slot: usize) -> Vec<OsString>;

    /// The [`Command`] to spawn; the pool then sets stdio, group and parent-death kill.
    /// The default runs [`Launch::argv`] with the environment inherited.
    ///
    /// # Errors
    /// An empty argv gives [`io::ErrorKind::InvalidInput`].
    fn command(&self, slot: usize) -> io::Result<Command> {
        Command::from_argv(&self.argv(slot))
    }

    /// How to name slot `slot`'s worker in messages (default: its argv, joined by spaces).
    fn describe(&self, slot: usize) -> String {
        self.argv(slot)
            .iter()
            .map(|a| a.to_string_lossy().into_owned())
            .collect::<Vec<_>>()
            .join(" ")
    }
}

/// `PROGRAM serve` on this machine.
#[derive(Debug, Clone)]
pub struct LocalWorker {
    program: PathBuf,
}

impl LocalWorker {
    /// The worker program at `program` (looked up on `PATH` if it has no `/`).
    pub fn new(program: impl AsRef<Path>) -> Self {
        Self {
            program: program.as_ref().to_owned(),
        }
    }

    /// The `worker` binary in the same directory as the running executable, as installed by
    /// `cargo build` (`target/release/{orchestrator,worker}`).
    ///
    /// # Errors
    /// If the running executable's path is unknown, or no `worker` file is next to it (the
    /// message names the path looked at).
    pub fn next_to_current_exe() -> io::Result<Self> {
        let exe = std::env::current_exe()?;
        let dir = exe.parent().ok_or_else(|| {
            io::Error::new(io::ErrorKind::NotFound, "the executable has no directory")
        })?;
        let program = dir.join("worker");
        if !program.is_file() {
            return Err(io::Error::new(
                io::ErrorKind::NotFound,
                format!(
                    "no worker program at {} (build it with `cargo build`, or pass --worker PATH)",
                    program.display()
                ),
            ));
        }
        Ok(Self { program })
    }

    /// The program's path.
    pub fn program(&self) -> &Path {
        &self.program
    }
}

impl Launch for LocalWorker {
    fn argv(&self, _slot: usize) -> Vec<OsString> {
        vec![self.program.clone().into_os_string(), "serve".into()]
    }
}

/// Another launcher's argv behind a per-slot prefix (`ssh host --`, `srun -u -n1`).
pub struct Wrapped<L> {
    inner: L,
    prefix: Box<dyn Fn(usize) -> Vec<OsString> + Send + Sync>,
}

impl<L: Launch> Wrapped<L> {
    /// Runs `inner`'s argv after `prefix(slot)`.
    pub fn new(inner: L, prefix: impl Fn(usize) -> Vec<OsString> + Send + Sync + 'static) -> Self {
        Self {
            inner,
            prefix: Box::new(prefix),
        }
    }
}

impl<L: Launch> fmt::Debug for Wrapped<L> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Wrapped")
            .field("inner", &self.inner)
            .field("prefix(0)", &(self.prefix)(0))
            .finish()
    }
}

impl<L: Launch> Launch for Wrapped<L> {
    fn argv(&self, slot: usize) -> Vec<OsString> {
        let mut argv = (self.prefix)(slot);
        argv.extend(self.inner.argv(slot));
        argv
    }
}

/// Workers started through the [`launch`](crate::launch) layer: slot `i` runs `worker serve`
/// (the argv of `worker`) through `launchers[i % launchers.len()]` — locally, over ssh, or
/// as a Slurm step. The frames travel through ssh's or srun's pipes unchanged.
///
/// ```
/// use orchestrator::launch::Launcher;
/// use orchestrator::pool::{Launch, LocalWorker, Launched};
/// let w = Launched::new(vec![Launcher::Local, Launcher::slurm()], LocalWorker::new("worker"))?;
/// assert_eq!(w.argv(0), ["worker", "serve"]);
/// assert_eq!(w.argv(1), ["srun", "-u", "-n1", "--quiet", "worker", "serve"]);
/// # Ok::<(), std::io::Error>(())
/// ```
#[derive(Debug, Clone)]
pub struct Launched<L> {
    launchers: Vec<crate::launch::Launcher>,
    worker: L,
}

impl<L: Launch> Launched<L> {
    /// `worker` through each of `launchers` in turn.
    ///
    /// # Errors
    /// [`io::ErrorKind::InvalidInput`] when `launchers` is empty.
    pub fn new(launchers: Vec<crate::launch::Launcher>, worker: L) -> io::Result<Self> {
        if launchers.is_empty() {
            return Err(io::Error::new(
                io::ErrorKind::InvalidInput,
                "no launcher for the workers",
            ));
        }
        Ok(Self { launchers, worker })
    }

    fn launch_command(&self, slot: usize) -> io::Result<crate::launch::LaunchCommand> {
        let launcher = &self.launchers[slot % self.launchers.len()];
        launcher
            .command_for(&self.worker.argv(slot), &[])
            .map_err(|e| io::Error::new(io::ErrorKind::InvalidInput, e))
    }
}

impl<L: Launch> Launch for Launched<L> {
    fn argv(&self, slot: usize) -> Vec<OsString> {
        self.launch_command(slot)
            .map(|c| c.argv().to_vec())
            .unwrap_or_else(|_| self.worker.argv(slot))
    }

    fn command(&self, slot: usize) -> io::Result<Command> {
        let lc = self.launch_command(slot)?;
        let mut cmd = Command::from_argv(lc.argv())?;
        for (k, v) in lc.local_env() {
            cmd.env(k, v);
        }
        Ok(cmd)
    }

    /// `PROGRAM serve on HOST` (the launcher's host label: `:`, `user@host`, `srun`).
    fn describe(&self, slot: usize) -> String {
        let launcher = &self.launchers[slot % self.launchers.len()];
        let worker: Vec<String> = self
            .worker
            .argv(slot)
            .iter()
            .map(|a| a.to_string_lossy().into_owned())
            .collect();
        match launcher {
            crate::launch::Launcher::Local => worker.join(" "),
            l => format!("{} on {}", worker.join(" "), l.host_label()),
        }
    }
}
