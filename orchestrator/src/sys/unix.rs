//! libc wrappers: one safe function per syscall, errors through [`check_err`].
//!
//! This is the only file of the crate with `unsafe` code. Every block carries a `SAFETY:`
//! comment. Process IDs are `i32` (`pid_t`) here and nowhere else is libc named.

use std::io;
use std::os::fd::{AsRawFd, BorrowedFd, FromRawFd, OwnedFd, RawFd};
use std::os::unix::process::ExitStatusExt;
use std::process::ExitStatus;
use std::time::Duration;

/// A process ID (`pid_t`).
pub type Pid = i32;

/// Signals the crate sends.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Signal {
    /// SIGTERM: please stop.
    Term,
    /// SIGKILL: stop now.
    Kill,
    /// SIGINT: interrupt (Ctrl-C).
    Int,
}

impl Signal {
    fn raw(self) -> libc::c_int {
        match self {
            Signal::Term => libc::SIGTERM,
            Signal::Kill => libc::SIGKILL,
            Signal::Int => libc::SIGINT,
        }
    }
}

/// Turns a libc return value of `-1` into the thread's `errno` as an [`io::Error`].
pub fn check_err<T: PartialEq + From<i8>>(ret: T) -> io::Result<T> {
    if ret == T::from(-1) {
        Err(io::Error::last_os_error())
    } else {
        Ok(ret)
    }
}

/// Sends `sig` to every process of group `pgid`. `Ok(false)` means the group is gone (ESRCH).
pub fn killpg(pgid: Pid, sig: Signal) -> io::Result<bool> {
    // SAFETY: killpg takes plain integers and has no memory-safety preconditions.
    match check_err(unsafe { libc::killpg(pgid, sig.raw()) }) {
        Ok(_) => Ok(true),
        Err(e) if e.raw_os_error() == Some(libc::ESRCH) => Ok(false),
        Err(e) => Err(e),
    }
}

/// Sends `sig` to process `pid`. `Ok(false)` means the process is gone (ESRCH).
///
/// Callers must only pass a PID they have not reaped yet, or the PID may have been reused.
pub fn kill(pid: Pid, sig: Signal) -> io::Result<bool> {
    // SAFETY: kill takes plain integers and has no memory-safety preconditions.
    match check_err(unsafe { libc::kill(pid, sig.raw()) }) {
        Ok(_) => Ok(true),
        Err(e) if e.raw_os_error() == Some(libc::ESRCH) => Ok(false),
        Err(e) => Err(e),
    }
}

/// Opens a pidfd for `pid` (Linux >= 5.3): readable (POLLIN) once the process has exited.
pub fn pidfd_open(pid: Pid) -> io::Result<OwnedFd> {
    // SAFETY: the raw syscall takes two integers; on success it returns a new fd we own.
    let fd = check_err(unsafe { libc::syscall(libc::SYS_pidfd_open, pid, 0) })?;
    // SAFETY: `fd` was just returned by the kernel and nothing else owns it.
    Ok(unsafe { OwnedFd::from_raw_fd(fd as RawFd) })
}

fn status_from_siginfo(info: &libc::siginfo_t) -> ExitStatus {
    // SAFETY: waitid filled `info` for a child event, so si_status is the valid union member.
    let status = unsafe { info.si_status() };
    let raw = match info.si_code {
        libc::CLD_EXITED => (status & 0xff) << 8,
        libc::CLD_DUMPED => (status & 0x7f) | 0x80,
        _ => status & 0x7f,
    };
    ExitStatus::from_raw(raw)
}

fn waitid(pid: Pid, flags: libc::c_int) -> io::Result<Option<ExitStatus>> {
    // SAFETY: siginfo_t is plain data; all-zero is a valid value.
    let mut info: libc::siginfo_t = unsafe { std::mem::zeroed() };
    loop {
        // SAFETY: `info` is a valid, writable siginfo_t for the duration of the call.
        let ret = unsafe {
            libc::waitid(
                libc::P_PID,
                pid as libc::id_t,
                &mut info,
                libc::WEXITED | flags,
            )
        };
        match check_err(ret) {
            Ok(_) => break,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
            Err(e) => return Err(e),
        }
    }
    // SAFETY: as above; with WNOHANG, si_pid stays 0 when no child changed state.
    if unsafe { info.si_pid() } == 0 {
        Ok(None)
    } else {
        Ok(Some(status_from_siginfo(&info)))
    }
}

/// Non-blocking: has child `pid` exited? Leaves it a zombie (WNOWAIT), so its PID stays
/// reserved and can still be signalled safely; reap it with [`reap`].
pub fn peek_exit(pid: Pid) -> io::Result<Option<ExitStatus>> {
    waitid(pid, libc::WNOHANG | libc::WNOWAIT)
}

/// Blocks until child `pid` exits, without reaping it (WNOWAIT).
pub fn wait_exit_no_reap(pid: Pid) -> io::Result<ExitStatus> {
    waitid(pid, libc::WNOWAIT).map(|s| s.expect("a blocking waitid returns a status"))
}

/// Reaps child `pid` (blocking) and returns its status. After this the PID may be reused:
/// never signal it again.
pub fn reap(pid: Pid) -> io::Result<ExitStatus> {
    waitid(pid, 0).map(|s| s.expect("a blocking waitid returns a status"))
}

/// Non-blocking reap of child `pid`: `Ok(None)` while it runs.
pub fn try_reap(pid: Pid) -> io::Result<Option<ExitStatus>> {
    waitid(pid, libc::WNOHANG)
}

/// Waits for `fd` to become readable for at most `timeout` (`None`: forever).
/// Returns `true` if it is readable (or hung up).
pub fn poll_readable(fd: BorrowedFd<'_>, timeout: Option<Duration>) -> io::Result<bool> {
    let mut pfd = libc::pollfd {
        fd: fd.as_raw_fd(),
        events: libc::POLLIN,
        revents: 0,
    };
    let ms = timeout_ms(timeout);
    // SAFETY: `pfd` is one valid pollfd and we pass a length of 1.
    let n = check_err(unsafe { libc::poll(&mut pfd, 1, ms) })?;
    Ok(n > 0)
}

/// Rounds a timeout up to whole milliseconds for `poll` (`-1` = forever).
pub fn timeout_ms(timeout: Option<Duration>) -> libc::c_int {
    match timeout {
        None => -1,
        Some(d) => {
            let ms = d.as_nanos().div_ceil(1_000_000);
            ms.min(libc::c_int::MAX as u128) as libc::c_int
        }
    }
}

/// Sets or clears `O_NONBLOCK` on `fd`.
pub fn set_nonblocking(fd: BorrowedFd<'_>, on: bool) -> io::Result<()> {
    let raw = fd.as_raw_fd();
    // SAFETY: fcntl F_GETFL on a valid borrowed fd.
    let flags = check_err(unsafe { libc::fcntl(raw, libc::F_GETFL) })?;
    let new = if on {
        flags | libc::O_NONBLOCK
    } else {
        flags & !libc::O_NONBLOCK
    };
    if new != flags {
        // SAFETY: fcntl F_SETFL on a valid borrowed fd with flags derived from F_GETFL.
        check_err(unsafe { libc::fcntl(raw, libc::F_SETFL, new) })?;
    }
    Ok(())
}

/// Raises the soft `RLIMIT_NOFILE` to the hard limit (as Go's runtime does at start) and
/// returns the new soft limit.
pub fn raise_nofile_limit() -> io::Result<u64> {
    // SAFETY: rlimit is plain data; zero is valid.
    let mut lim: libc::rlimit = unsafe { std::mem::zeroed() };
    // SAFETY: `lim` is a valid, writable rlimit.
    check_err(unsafe { libc::getrlimit(libc::RLIMIT_NOFILE, &mut lim) })?;
    if lim.rlim_cur < lim.rlim_max {
        lim.rlim_cur = lim.rlim_max;
        // SAFETY: `lim` is a valid rlimit with cur <= max.
        check_err(unsafe { libc::setrlimit(libc::RLIMIT_NOFILE, &lim) })?;
    }
    Ok(lim.rlim_cur as u64)
}

/// In a freshly forked child (from `CommandExt::pre_exec`): ask the kernel to SIGKILL this
/// process when the thread that forked it dies (Linux `PR_SET_PDEATHSIG`), and close the race
/// where the parent died before the call. Async-signal-safe: only raw syscalls.
///
/// Limits: it covers the direct child only (grandchildren are reached through the process
/// group kill), it fires when the *forking thread* exits, and a set-uid exec clears it.
pub fn child_set_parent_death_kill(parent: Pid) -> io::Result<()> {
    #[cfg(target_os = "linux")]
    {
        // SAFETY: prctl with PR_SET_PDEATHSIG takes an integer signal number.
        check_err(unsafe {
            libc::prctl(
                libc::PR_SET_PDEATHSIG,
                libc::SIGKILL as libc::c_ulong,
                0,
                0,
                0,
            )
        })?;
        // SAFETY: getppid has no preconditions.
        if unsafe { libc::getppid() } != parent {
            // The parent is already gone: behave as if the signal had been delivered.
            // SAFETY: _exit has no preconditions and never returns.
            unsafe { libc::_exit(137) };
        }
    }
    #[cfg(not(target_os = "linux"))]
    let _ = parent;
    Ok(())
}

/// The calling process's PID.
pub fn getpid() -> Pid {
    // SAFETY: getpid has no preconditions.
    unsafe { libc::getpid() }
}

/// Number of threads of this process (from `/proc/self/status`), for tests and reports.
pub fn thread_count() -> Option<usize> {
    let s = std::fs::read_to_string("/proc/self/status").ok()?;
    s.lines()
        .find_map(|l| l.strip_prefix("Threads:"))
        .and_then(|v| v.trim().parse().ok())
}
