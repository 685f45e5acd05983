//! One running child: waiting (non-blocking, blocking, with a deadline), signalling its
//! process group, terminating it with escalation, and cleaning up on drop.
//!
//! # How exits are observed
//! Each child has a pidfd (Linux ≥ 5.3), which becomes readable when the child exits; waits
//! `poll` it, so no SIGCHLD handler is installed (a library must not own process-wide
//! signal state, the lesson of `wait-timeout`'s issues #34/#36/#44). Where `pidfd_open` is
//! unavailable, waits fall back to polling with back-off (1 ms doubling to 50 ms).
//!
//! # The group dies with its leader
//! A child started by [`Command::spawn`](crate::Command::spawn) leads its own process group.
//! When it is reaped, anything still left in that group — a background job it started, a
//! grandchild that ignored SIGTERM — is killed with SIGKILL and the child is marked
//! [`leaked`](Child::leaked). Signals only go to a group whose id is pinned: either its
//! leader is still unreaped (a zombie keeps its pid), or the group is known to have members
//! (a group id is not reused while it has members). A reaped pid is never signalled again.

use std::io;
use std::os::fd::{AsFd, BorrowedFd, OwnedFd};
use std::sync::{Mutex, MutexGuard};
use std::time::{Duration, Instant};

use crate::communicate::Communicate;
use crate::error::Error;
use crate::pipes::{PipeReader, PipeWriter};
use crate::status::ExitStatus;
use crate::sys::{self, Pid, Signal};

/// How a child relates to its process group.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum GroupRole {
    /// It leads its own group and the group is cleaned up when it is reaped.
    Leader,
    /// It leads a group that someone else (a pipeline) cleans up.
    SharedLeader,
    /// It joined group `pgid`.
    Member(Pid),
}

#[derive(Debug, Default)]
struct State {
    /// Set once the child is reaped; never cleared.
    status: Option<ExitStatus>,
    /// When we first saw it exit.
    exited_at: Option<Instant>,
    /// Something was left in its group after it exited.
    leaked: bool,
    /// Ownership given up: no kill on drop.
    detached: bool,
    /// During [`Child::terminate`]: until when the rest of the group may take to obey the
    /// SIGTERM after the leader has exited, before it gets SIGKILL.
    settle_until: Option<Instant>,
}

/// How [`Child::terminate`] ended the child.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Ending {
    /// It had already exited before we signalled it.
    AlreadyExited,
    /// SIGTERM to its group was enough: it (and its group) ended within the grace period.
    Terminated,
    /// The grace period ran out (or was zero) and SIGKILL was sent to the group.
    Killed,
}

/// The result of [`Child::terminate`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Termination {
    /// Its exit status.
    pub status: ExitStatus,
    /// Whether TERM sufficed or KILL was needed.
    pub ending: Ending,
    /// From the first signal to the child being reaped.
    pub took: Duration,
}

/// A running (or finished, not yet dropped) child process.
///
/// Waits and signals take `&self`, so a `Child` can be shared between threads (it is
/// `Send + Sync`); waits are idempotent (the status is cached after the first reap).
///
/// **Dropping** a `Child` that has not been waited for kills its process group with SIGKILL
/// and reaps it: a handle never leaves a child running unnoticed. Call [`Child::detach`] to
/// let it run on deliberately.
///
/// ```
/// use orchestrator::{Command, ExitStatus, Signal};
/// use std::io::Read;
/// use std::time::Duration;
/// # fn main() -> Result<(), Box<dyn std::error::Error>> {
/// // Poll without blocking, wait with a limit, signal the whole group.
/// let child = Command::new("sleep").arg("1000").spawn()?;
/// assert_eq!(child.pgid(), child.pid()); // it leads its own process group
/// assert_eq!(child.try_wait()?, None); // still running
/// assert_eq!(child.wait_timeout(Duration::from_millis(50))?, None);
/// child.signal(Signal::Term)?;
/// let status = child.wait()?;
/// assert_eq!(status, ExitStatus::Signal { signal: 15, core_dumped: false });
/// assert_eq!(child.try_wait()?, Some(status)); // cached: waits are idempotent
///
/// // A piped stream: take our end, read it to the end, then wait.
/// let mut child = Command::new("echo").arg("hi").stdout(orchestrator::Stdio::piped()).spawn()?;
/// let mut out = String::new();
/// child.take_stdout().expect("piped").read_to_string(&mut out)?;
/// assert!(child.wait()?.success());
/// assert_eq!(out, "hi\n");
///
/// // Dropped while running: its group is killed and it is reaped, nothing is left behind.
/// drop(Command::new("sleep").arg("1000").spawn()?);
/// # Ok(()) }
/// ```
#[derive(Debug)]
pub struct Child {
    pid: Pid,
    role: GroupRole,
    program: String,
    // Declared before the pidfd and state on purpose: fields drop in order, and the pipes
    // must close before Drop's kill-and-reap so a child blocked on one sees EOF/EPIPE.
    stdin: Option<PipeWriter>,
    stdout: Option<PipeReader>,
    stderr: Option<PipeReader>,
    pidfd: Option<OwnedFd>,
    state: Mutex<State>,
    started: Instant,
}

impl Child {
    pub(crate) fn from_std(
        child: std::process::Child,
        role: GroupRole,
        program: String,
        stdin: Option<PipeWriter>,
        stdout: Option<PipeReader>,
        stderr: Option<PipeReader>,
    ) -> Self {
        let pid = child.id() as Pid;
        // The std handle only carries the pid now (its stdio are None: we made the pipes).
        // Dropping a std Child neither kills nor reaps it.
        drop(child);
        let pidfd = sys::pidfd_open(pid).ok();
        Self {
            pid,
            role,
            program,
            stdin,
            stdout,
            stderr,
            pidfd,
            state: Mutex::new(State::default()),
            started: Instant::now(),
        }
    }

    /// Process id.
    pub fn pid(&self) -> u32 {
        self.pid as u32
    }

    /// Id of its process group (its own pid unless it joined a pipeline's group).
    pub fn pgid(&self) -> u32 {
        match self.role {
            GroupRole::Leader | GroupRole::SharedLeader => self.pid as u32,
            GroupRole::Member(g) => g as u32,
        }
    }

    /// The program, as given to [`Command::new`](crate::Command::new).
    pub fn program(&self) -> &str {
        &self.program
    }

    /// When it was started.
    pub fn started(&self) -> Instant {
        self.started
    }

    /// The parent's end of its stdin pipe, if it was [`Stdio::piped`](crate::Stdio::piped).
    /// Drop it to send end-of-file.
    pub fn take_stdin(&mut self) -> Option<PipeWriter> {
        self.stdin.take()
    }

    /// The parent's end of its stdout pipe, if piped.
    pub fn take_stdout(&mut self) -> Option<PipeReader> {
        self.stdout.take()
    }

    /// The parent's end of its stderr pipe, if piped.
    pub fn take_stderr(&mut self) -> Option<PipeReader> {
        self.stderr.take()
    }

    /// Hands the care of the child's process group to a [`Unit`](crate::communicate) that
    /// owns it: reaping the child then no longer kills what is left in the group.
    pub(crate) fn group_managed_elsewhere(&mut self) {
        if self.role == GroupRole::Leader {
            self.role = GroupRole::SharedLeader;
        }
    }

    pub(crate) fn take_pipes(
        &mut self,
    ) -> (Option<PipeWriter>, Option<PipeReader>, Option<PipeReader>) {
        (self.stdin.take(), self.stdout.take(), self.stderr.take())
    }

    /// The pidfd, readable once the child has exited (None without pidfd support).
    pub(crate) fn pidfd(&self) -> Option<BorrowedFd<'_>> {
        self.pidfd.as_ref().map(|f| f.as_fd())
    }

    fn lock(&self) -> MutexGuard<'_, State> {
        // A panic while holding this lock leaves plain data behind; keep using it.
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }

    fn io_err(&self, what: &'static str, source: io::Error) -> Error {
        Error::Io {
            what,
            program: self.program.clone(),
            pid: self.pid,
            source,
        }
    }

    /// True if something was left in the child's process group after it exited (a
    /// background process, a grandchild holding its pipes) and had to be killed.
    pub fn leaked(&self) -> bool {
        self.lock().leaked
    }

    /// The cached exit status, if the child has been reaped.
    pub fn status(&self) -> Option<ExitStatus> {
        self.lock().status
    }

    /// When the child was first seen to have exited.
    pub fn exited_at(&self) -> Option<Instant> {
        self.lock().exited_at
    }

    /// Non-blocking: `Ok(None)` while it runs, its status once it has exited (reaping it,
    /// and killing what is left of its group if it leads one).
    ///
    /// # Errors
    /// [`Error::Io`] if `waitid` fails (e.g. someone else reaped the child).
    pub fn try_wait(&self) -> Result<Option<ExitStatus>, Error> {
        let mut st = self.lock();
        if let Some(s) = st.status {
            return Ok(Some(s));
        }
        let peeked = sys::peek_exit(self.pid).map_err(|e| self.io_err("waitid", e))?;
        if peeked.is_none() {
            return Ok(None);
        }
        self.reap_locked(&mut st).map(Some)
    }

    /// Reaps an exited child (the caller saw it exit) and settles its group.
    fn reap_locked(&self, st: &mut State) -> Result<ExitStatus, Error> {
        st.exited_at.get_or_insert_with(Instant::now);
        let status: ExitStatus = sys::reap(self.pid)
            .map_err(|e| self.io_err("waitid", e))?
            .into();
        st.status = Some(status);
        if self.role == GroupRole::Leader {
            // The leader is reaped, so its group id stays pinned only while the group has
            // members; if it has none, there is nothing to kill (see the module doc).
            let mut nap = Duration::from_millis(1);
            while sys::group_has_live_members(self.pid) {
                if st.settle_until.is_some_and(|t| Instant::now() < t) {
                    // Terminating: the rest of the group got the SIGTERM too; give it the
                    // grace period before SIGKILL.
                    std::thread::sleep(nap);
                    nap = (nap * 2).min(Duration::from_millis(10));
                    continue;
                }
                st.leaked = true;
                let _ = sys::killpg(self.pid, Signal::Kill);
                break;
            }
        }
        Ok(status)
    }

    /// Reaps a child that [`Child::peek_exited`] saw exit, without asking again (one
    /// `waitid` instead of two; it does not block since the child is a zombie), and settles
    /// its group as [`Child::try_wait`] does.
    pub(crate) fn reap_exited(&self) -> Result<ExitStatus, Error> {
        let mut st = self.lock();
        if let Some(s) = st.status {
            return Ok(s);
        }
        self.reap_locked(&mut st)
    }

    /// Non-blocking: has the child exited? Unlike [`Child::try_wait`] this does not reap it,
    /// so its pid and group id stay pinned (a zombie keeps both) while the caller drains
    /// pipes or signals the group.
    pub(crate) fn peek_exited(&self) -> Result<bool, Error> {
        let mut st = self.lock();
        if st.status.is_some() || st.exited_at.is_some() {
            return Ok(true);
        }
        let exited = sys::peek_exit(self.pid)
            .map_err(|e| self.io_err("waitid", e))?
            .is_some();
        if exited {
            st.exited_at = Some(Instant::now());
        }
        Ok(exited)
    }

    /// Blocks until the child exits; returns its status.
    ///
    /// # Errors
    /// [`Error::Io`] if waiting fails.
    pub fn wait(&self) -> Result<ExitStatus, Error> {
        loop {
            if let Some(s) = self.wait_deadline(None)? {
                return Ok(s);
            }
        }
    }

    /// Waits at most `timeout`: `Ok(None)` if the child is still running then.
    ///
    /// # Errors
    /// [`Error::Io`] if waiting fails.
    pub fn wait_timeout(&self, timeout: Duration) -> Result<Option<ExitStatus>, Error> {
        self.wait_deadline(Some(Instant::now() + timeout))
    }

    /// Waits until `deadline` (`None`: no limit): `Ok(None)` if still running then.
    ///
    /// # Errors
    /// [`Error::Io`] if waiting fails.
    pub fn wait_deadline(&self, deadline: Option<Instant>) -> Result<Option<ExitStatus>, Error> {
        let mut backoff = Duration::from_millis(1);
        loop {
            if let Some(s) = self.try_wait()? {
                return Ok(Some(s));
            }
            let remaining = match deadline {
                Some(d) => match d.checked_duration_since(Instant::now()) {
                    Some(r) if !r.is_zero() => Some(r),
                    _ => return Ok(None),
                },
                None => None,
            };
            match self.pidfd() {
                Some(fd) => {
                    let mut fds = [sys::PollFd::readable(fd)];
                    sys::poll(&mut fds, remaining).map_err(|e| self.io_err("poll", e))?;
                }
                None => {
                    let nap = remaining.map_or(backoff, |r| r.min(backoff));
                    std::thread::sleep(nap);
                    backoff = (backoff * 2).min(Duration::from_millis(50));
                }
            }
        }
    }

    /// Sends `signal` to the child's process group (or to the child alone if it joined a
    /// group it does not lead). Does nothing once the child has been reaped.
    ///
    /// # Errors
    /// [`Error::Io`] if the kernel refuses (EPERM).
    pub fn signal(&self, signal: Signal) -> Result<(), Error> {
        let st = self.lock();
        if st.status.is_some() {
            return Ok(());
        }
        // Holding the lock: the child cannot be reaped (by us) while we signal it, so its pid
        // (and group id) is still pinned.
        let r = match self.role {
            GroupRole::Leader | GroupRole::SharedLeader => sys::killpg(self.pid, signal),
            GroupRole::Member(_) => sys::kill(self.pid, signal),
        };
        r.map(|_| ()).map_err(|e| self.io_err("kill", e))
    }

    /// SIGKILL to the group, then reap. Idempotent.
    ///
    /// # Errors
    /// [`Error::Io`] if signalling or waiting fails.
    pub fn kill(&self) -> Result<ExitStatus, Error> {
        self.signal(Signal::Kill)?;
        self.wait()
    }

    /// Stops the child the polite way: SIGTERM to its process group, up to `grace` for it
    /// to exit, then SIGKILL to the group; reaps it. A zero `grace` sends SIGKILL at once.
    ///
    /// When it returns, the child is reaped and nothing is left in its group.
    ///
    /// ```
    /// use orchestrator::{Command, Ending};
    /// use std::time::Duration;
    /// # fn main() -> Result<(), Box<dyn std::error::Error>> {
    /// let child = Command::new("sleep").arg("1000").spawn()?;
    /// let t = child.terminate(Duration::from_secs(2))?;
    /// assert_eq!(t.ending, Ending::Terminated);
    /// assert_eq!(t.status.to_string(), "killed by SIGTERM");
    /// # Ok(()) }
    /// ```
    ///
    /// # Errors
    /// [`Error::Io`] if signalling or waiting fails.
    pub fn terminate(&self, grace: Duration) -> Result<Termination, Error> {
        let start = Instant::now();
        if let Some(status) = self.try_wait()? {
            return Ok(Termination {
                status,
                ending: Ending::AlreadyExited,
                took: Duration::ZERO,
            });
        }
        let mut ending = Ending::Terminated;
        self.lock().settle_until = Some(start + grace);
        if grace.is_zero() {
            self.signal(Signal::Kill)?;
            ending = Ending::Killed;
        } else {
            self.signal(Signal::Term)?;
            // SIGCONT too, so a stopped (Ctrl-Z) group can act on the TERM.
            let _ = self.signal(Signal::Cont);
        }
        let status = match self.wait_deadline(Some(start + grace))? {
            Some(s) => s,
            None => {
                self.signal(Signal::Kill)?;
                ending = Ending::Killed;
                self.wait()?
            }
        };
        if self.leaked() && ending == Ending::Terminated {
            // The leader obeyed, but something in its group outlived it and was killed.
            ending = Ending::Killed;
        }
        Ok(Termination {
            status,
            ending,
            took: start.elapsed(),
        })
    }

    /// Gives up ownership: the child keeps running after this handle is dropped, and
    /// nothing will reap it (it is re-parented to init when this process exits).
    pub fn detach(self) {
        self.lock().detached = true;
    }

    /// Starts a [`Communicate`]: feed stdin, capture stdout/stderr, with an optional deadline.
    pub fn communicate(self) -> Communicate {
        Communicate::new(crate::communicate::Unit::single(self))
    }
}

impl Drop for Child {
    fn drop(&mut self) {
        // Pipes first (see the field order), so a child blocked on them is released.
        self.stdin.take();
        self.stdout.take();
        self.stderr.take();
        let st = self.lock();
        if st.status.is_some() || st.detached {
            return;
        }
        drop(st);
        // Still running (or an unreaped zombie): kill its group and reap it.
        let _ = self.kill();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn child_is_send_and_sync() {
        fn assert_send_sync<T: Send + Sync>() {}
        assert_send_sync::<Child>();
    }
}
