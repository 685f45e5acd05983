//! ssh ControlMasters run by the orchestrator itself, so that `run`'s jobs on a host share one
//! connection instead of paying a new one each (measured on the test hosts: 150 ms for a new
//! connection, 10 ms for a session on a master).
//!
//! Multiplexing is only safe with [watched mode](super::watch): a job there dies with its ssh
//! channel, and the master closes a channel as soon as its client dies. Exec mode (workers)
//! never uses a master.
//!
//! A [`Master`] is `ssh -o ControlMaster=yes -o ControlPath=PATH -o ControlPersist=no -N HOST`,
//! started as a child of ours in its own process group, with the parent-death signal set (so it
//! dies with the thread that started it, and with the orchestrator), its stderr in a file next
//! to its socket for error messages. It is ready when its socket appears (ssh creates it after
//! authentication). Its socket lives in a private temporary directory ([`ControlDir`]).
//! Dropping a master kills it; that closes the connection, the host's sshd ends every session
//! on it, and each job's watcher sees end of file. If a master dies, its clients fall back to
//! connections of their own (`ControlMaster=no` with an unusable socket), so jobs still run.
//!
//! sshd allows `MaxSessions` (10 by default) sessions per connection: use one master per
//! [`SESSIONS_PER_MASTER`] slots.

use std::ffi::OsString;
use std::fs::File;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use super::ssh::{Control, RemoteShell};
use crate::child::Child;
use crate::command::{Command, Stdio};

/// Sessions one master carries at most (sshd's default `MaxSessions` is 10).
pub const SESSIONS_PER_MASTER: usize = 8;

/// Longest socket path we use: sockaddr_un holds 108 bytes, and ssh binds a temporary name
/// (the path plus 17 characters) first.
const MAX_SOCKET_PATH: usize = 90;

/// A private temporary directory for control sockets, removed when dropped.
#[derive(Debug)]
pub struct ControlDir {
    dir: tempfile::TempDir,
}

impl ControlDir {
    /// Creates one (mode 0700) in the system's temporary directory.
    ///
    /// # Errors
    /// If it cannot be created, or its path leaves no room for a socket name.
    pub fn new() -> std::io::Result<Self> {
        let dir = tempfile::Builder::new().prefix("orch-ssh-").tempdir()?;
        if dir.path().as_os_str().len() + 8 > MAX_SOCKET_PATH {
            return Err(std::io::Error::new(
                std::io::ErrorKind::InvalidInput,
                format!(
                    "the temporary directory {} is too long a path for ssh control sockets",
                    dir.path().display()
                ),
            ));
        }
        Ok(Self { dir })
    }

    /// The socket path for master `n`.
    pub fn socket(&self, n: usize) -> PathBuf {
        self.dir.path().join(format!("m{n}"))
    }
}

/// A running ssh ControlMaster (see the module docs).
#[derive(Debug)]
pub struct Master {
    child: Child,
    path: PathBuf,
    log: PathBuf,
}

impl Master {
    /// Starts a master for `remote`'s host listening at `path` and waits until it is ready.
    /// Call it from a thread that lives as long as the master should (parent-death signal).
    ///
    /// # Errors
    /// Why it is not ready within `within`: ssh's own message when it exited (connection
    /// refused, authentication failed, ...), or that it did not answer in time.
    pub fn start(remote: &RemoteShell, path: &Path, within: Duration) -> Result<Master, String> {
        let master = Self::spawn(remote, path)?;
        let deadline = Instant::now() + within;
        let mut nap = Duration::from_millis(2);
        loop {
            if master.poll_ready(Instant::now() >= deadline, within)? {
                return Ok(master);
            }
            std::thread::sleep(nap);
            nap = (nap * 2).min(Duration::from_millis(20));
        }
    }

    /// Starts a master without waiting; see [`Master::poll_ready`]. Call it from a thread
    /// that lives as long as the master should (parent-death signal).
    ///
    /// # Errors
    /// If ssh cannot be started.
    pub fn spawn(remote: &RemoteShell, path: &Path) -> Result<Master, String> {
        let _ = std::fs::remove_file(path);
        let log = path.with_extension("log");
        let err =
            File::create(&log).map_err(|e| format!("cannot create {}: {e}", log.display()))?;
        let argv: Vec<OsString> = remote.ssh_argv(Control::Master(path));
        let mut cmd = Command::from_argv(&argv).map_err(|e| e.to_string())?;
        cmd.stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(err)
            .kill_on_parent_death(true);
        let child = cmd.spawn().map_err(|e| format!("cannot start ssh: {e}"))?;
        Ok(Master {
            child,
            path: path.to_path_buf(),
            log,
        })
    }

    /// `Ok(true)` once the master listens, `Ok(false)` while it is still connecting.
    ///
    /// # Errors
    /// It exited (ssh's message), or `give_up` is set and it is not ready (`within` names the
    /// time it had).
    pub fn poll_ready(&self, give_up: bool, within: Duration) -> Result<bool, String> {
        match self.child.try_wait() {
            Ok(Some(status)) => {
                return Err(format!("ssh exited ({status}): {}", self.message()));
            }
            Ok(None) => {}
            Err(e) => return Err(e.to_string()),
        }
        if self.path.exists() {
            return Ok(true);
        }
        if give_up {
            let said = self.message();
            let said = if said.is_empty() {
                String::new()
            } else {
                format!(" ({said})")
            };
            return Err(format!(
                "no connection within {}{said}",
                humantime::format_duration(within)
            ));
        }
        Ok(false)
    }

    /// True while the master runs.
    pub fn is_alive(&self) -> bool {
        matches!(self.child.try_wait(), Ok(None))
    }

    /// Its control socket.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// What ssh wrote to its stderr so far (trimmed), for error messages.
    pub fn message(&self) -> String {
        let text = std::fs::read_to_string(&self.log).unwrap_or_default();
        text.lines()
            .map(str::trim)
            .filter(|l| !l.is_empty())
            .collect::<Vec<_>>()
            .join("; ")
    }
}

impl Drop for Master {
    fn drop(&mut self) {
        // SIGKILL to its group and reap (Child's Drop); then the socket and log go.
        let _ = self.child.kill();
        let _ = std::fs::remove_file(&self.path);
        let _ = std::fs::remove_file(&self.log);
    }
}
