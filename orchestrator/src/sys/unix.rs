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
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Signal {
    /// SIGTERM: please stop.
    Term,
    /// SIGKILL: stop now.
    Kill,
    /// SIGINT: interrupt (Ctrl-C).
    Int,
    /// SIGHUP: the terminal went away.
    Hup,
    /// SIGQUIT.
    Quit,
    /// SIGUSR1.
    Usr1,
    /// SIGUSR2.
    Usr2,
    /// SIGCONT: resume a stopped process.
    Cont,
}

impl Signal {
    /// The platform's signal number.
    pub fn raw(self) -> i32 {
        match self {
            Signal::Term => libc::SIGTERM,
            Signal::Kill => libc::SIGKILL,
            Signal::Int => libc::SIGINT,
            Signal::Hup => libc::SIGHUP,
            Signal::Quit => libc::SIGQUIT,
            Signal::Usr1 => libc::SIGUSR1,
            Signal::Usr2 => libc::SIGUSR2,
            Signal::Cont => libc::SIGCONT,
        }
    }

    /// The signal with this number, if the crate knows it.
    pub fn from_raw(n: i32) -> Option<Signal> {
        [
            Signal::Term,
            Signal::Kill,
            Signal::Int,
            Signal::Hup,
            Signal::Quit,
            Signal::Usr1,
            Signal::Usr2,
            Signal::Cont,
        ]
        .into_iter()
        .find(|s| s.raw() == n)
    }
}

/// The conventional name of signal number `n` (`SIGTERM`), or `SIG<n>` for one without a name.
pub fn signal_name(n: i32) -> String {
    let name = match n {
        libc::SIGHUP => "SIGHUP",
        libc::SIGINT => "SIGINT",
        libc::SIGQUIT => "SIGQUIT",
        libc::SIGILL => "SIGILL",
        libc::SIGTRAP => "SIGTRAP",
        libc::SIGABRT => "SIGABRT",
        libc::SIGBUS => "SIGBUS",
        libc::SIGFPE => "SIGFPE",
        libc::SIGKILL => "SIGKILL",
        libc::SIGUSR1 => "SIGUSR1",
        libc::SIGSEGV => "SIGSEGV",
        libc::SIGUSR2 => "SIGUSR2",
        libc::SIGPIPE => "SIGPIPE",
        libc::SIGALRM => "SIGALRM",
        libc::SIGTERM => "SIGTERM",
        libc::SIGCHLD => "SIGCHLD",
        libc::SIGCONT => "SIGCONT",
        libc::SIGSTOP => "SIGSTOP",
        libc::SIGTSTP => "SIGTSTP",
        libc::SIGTTIN => "SIGTTIN",
        libc::SIGTTOU => "SIGTTOU",
        libc::SIGXCPU => "SIGXCPU",
        libc::SIGXFSZ => "SIGXFSZ",
        libc::SIGSYS => "SIGSYS",
        _ => return format!("SIG{n}"),
    };
    name.to_string()
}

/// Signal number of SIGPIPE (a pipeline's upstream stage dies of it when downstream exits).
pub const SIGPIPE: i32 = libc::SIGPIPE;

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

/// Interest in, and readiness of, one fd for [`poll`].
#[derive(Debug, Clone, Copy)]
pub struct PollFd<'a> {
    fd: BorrowedFd<'a>,
    events: i16,
    revents: i16,
}

impl<'a> PollFd<'a> {
    /// Watch `fd` for readability (data, EOF or hang-up).
    pub fn readable(fd: BorrowedFd<'a>) -> Self {
        Self {
            fd,
            events: libc::POLLIN,
            revents: 0,
        }
    }

    /// Watch `fd` for writability (room in the pipe, or the reader gone).
    pub fn writable(fd: BorrowedFd<'a>) -> Self {
        Self {
            fd,
            events: libc::POLLOUT,
            revents: 0,
        }
    }

    /// True if the last [`poll`] found the fd ready in any way, errors and hang-ups included
    /// (the next read or write then tells which).
    pub fn is_ready(&self) -> bool {
        self.revents != 0
    }
}

/// Waits until one of `fds` is ready or `timeout` passes (`None`: no limit), with nanosecond
/// resolution (`ppoll`). Returns how many are ready; `Ok(0)` on timeout. EINTR is reported as
/// `Ok(0)` so callers re-check their deadline.
pub fn poll(fds: &mut [PollFd<'_>], timeout: Option<Duration>) -> io::Result<usize> {
    let mut raw: Vec<libc::pollfd> = fds
        .iter()
        .map(|p| libc::pollfd {
            fd: p.fd.as_raw_fd(),
            events: p.events,
            revents: 0,
        })
        .collect();
    let ts = timeout.map(|d| libc::timespec {
        tv_sec: d.as_secs().min(i64::MAX as u64 / 2) as libc::time_t,
        tv_nsec: d.subsec_nanos() as libc::c_long,
    });
    let ts_ptr = ts
        .as_ref()
        .map_or(std::ptr::null(), |t| t as *const libc::timespec);
    // SAFETY: `raw` is a valid array of `raw.len()` pollfds that outlives the call; `ts_ptr`
    // is null or points to a timespec that outlives the call; a null sigmask is allowed.
    let ret = unsafe {
        libc::ppoll(
            raw.as_mut_ptr(),
            raw.len() as libc::nfds_t,
            ts_ptr,
            std::ptr::null(),
        )
    };
    match check_err(ret) {
        Ok(n) => {
            for (p, r) in fds.iter_mut().zip(&raw) {
                p.revents = r.revents;
            }
            Ok(n as usize)
        }
        Err(e) if e.kind() == io::ErrorKind::Interrupted => {
            fds.iter_mut().for_each(|p| p.revents = 0);
            Ok(0)
        }
        Err(e) => Err(e),
    }
}

/// Reads from `fd` into the spare capacity of `buf` (at most `max` bytes), without zeroing it
/// first. Returns the bytes read; `Ok(0)` is end of file. EINTR is retried.
pub fn read_into_spare(fd: BorrowedFd<'_>, buf: &mut Vec<u8>, max: usize) -> io::Result<usize> {
    if buf.capacity() - buf.len() < max {
        buf.reserve(max);
    }
    let spare = buf.spare_capacity_mut();
    let len = spare.len().min(max);
    loop {
        // SAFETY: `spare` is writable memory of at least `len` bytes owned by `buf`; read(2)
        // writes at most `len` bytes into it.
        let n = unsafe { libc::read(fd.as_raw_fd(), spare.as_mut_ptr().cast(), len) };
        match check_err(n) {
            Ok(n) => {
                // SAFETY: the kernel initialised the first `n` (<= len) spare bytes.
                unsafe { buf.set_len(buf.len() + n as usize) };
                return Ok(n as usize);
            }
            Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
            Err(e) => return Err(e),
        }
    }
}

/// Sets a pipe's buffer size (Linux `F_SETPIPE_SZ`); larger pipes mean fewer wake-ups when
/// bulk data flows. Best effort: returns the new size, or an error the caller may ignore.
pub fn set_pipe_size(fd: BorrowedFd<'_>, bytes: usize) -> io::Result<usize> {
    #[cfg(target_os = "linux")]
    {
        let want = bytes.min(i32::MAX as usize) as libc::c_int;
        // SAFETY: fcntl F_SETPIPE_SZ on a valid borrowed fd with an integer argument.
        let got = check_err(unsafe { libc::fcntl(fd.as_raw_fd(), libc::F_SETPIPE_SZ, want) })?;
        Ok(got as usize)
    }
    #[cfg(not(target_os = "linux"))]
    {
        let _ = (fd, bytes);
        Err(io::Error::from(io::ErrorKind::Unsupported))
    }
}

/// True if process group `pgid` still has members (zombies included: a zombie stays in its
/// group until its parent reaps it). Only meaningful while the group id cannot have been
/// reused, i.e. while a member we have not reaped holds it, or right after reaping the last
/// member we know of.
pub fn group_exists(pgid: Pid) -> io::Result<bool> {
    // SAFETY: kill with signal 0 only checks permission and existence.
    match check_err(unsafe { libc::kill(-pgid, 0) }) {
        Ok(_) => Ok(true),
        Err(e) if e.raw_os_error() == Some(libc::ESRCH) => Ok(false),
        // EPERM: members exist but belong to someone else (a set-uid program): still members.
        Err(e) if e.raw_os_error() == Some(libc::EPERM) => Ok(true),
        Err(e) => Err(e),
    }
}

/// True if group `pgid` has a live (non-zombie) member. Cheap when the group is empty (one
/// `kill(-pgid, 0)`); otherwise confirmed with [`group_members`], because `kill` also counts
/// zombies, and an orphaned zombie can stay in the group until init gets round to reaping it
/// (seen here: over a second).
pub fn group_has_live_members(pgid: Pid) -> bool {
    group_exists(pgid).unwrap_or(false) && !group_members(pgid).is_empty()
}

/// Live (non-zombie) processes whose process group is `pgid`, from `/proc` (Linux). Costs a
/// scan of `/proc`: use it for diagnostics after [`group_exists`] said yes, not in a loop.
pub fn group_members(pgid: Pid) -> Vec<Pid> {
    let mut out = Vec::new();
    let Ok(dir) = std::fs::read_dir("/proc") else {
        return out;
    };
    for entry in dir.flatten() {
        let Some(pid) = entry
            .file_name()
            .to_str()
            .and_then(|s| s.parse::<Pid>().ok())
        else {
            continue;
        };
        let Ok(stat) = std::fs::read_to_string(entry.path().join("stat")) else {
            continue;
        };
        // Format: pid (comm) state ppid pgrp ... ; comm may contain spaces and parentheses.
        let Some((_, rest)) = stat.rsplit_once(')') else {
            continue;
        };
        let mut fields = rest.split_whitespace();
        let state = fields.next();
        let pgrp = fields.nth(1).and_then(|f| f.parse::<Pid>().ok());
        if pgrp == Some(pgid) && state != Some("Z") && state != Some("X") {
            out.push(pid);
        }
    }
    out
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

/// Makes `cmd`'s child ask the kernel, between fork and exec, to SIGKILL it when the thread
/// that forked it dies (Linux `PR_SET_PDEATHSIG`); `parent` is our pid, to close the race
/// where we died before the call.
///
/// Limits: it covers the direct child only (grandchildren are reached through the process
/// group kill), it fires when the *forking thread* exits, and a set-uid exec clears it. A
/// `pre_exec` hook also makes std fork+exec instead of `posix_spawn` (slower per child).
pub fn kill_child_on_parent_death(cmd: &mut std::process::Command, parent: Pid) {
    use std::os::unix::process::CommandExt as _;
    // SAFETY: the closure runs in the forked child before exec and only makes raw,
    // async-signal-safe syscalls (prctl, getppid, _exit); it allocates nothing.
    unsafe {
        cmd.pre_exec(move || child_set_parent_death_kill(parent));
    }
}

/// In a freshly forked child (from `CommandExt::pre_exec`): see
/// [`kill_child_on_parent_death`]. Async-signal-safe: only raw syscalls.
fn child_set_parent_death_kill(parent: Pid) -> io::Result<()> {
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

/// Forks the guardian process (see `guardian.rs`) and returns its pid and the write end of
/// its pipe. The guardian reads native-endian `i32` records from the pipe (`+pgid`: watch
/// this process group, `-pgid`: forget it); at end of file — this process exited or was
/// killed — it sends SIGKILL to every group still watched, then exits.
///
/// The child runs this program's code after `fork` without `exec`, which is sound only in
/// a single-threaded process: this fails (`Unsupported`) if more than one thread runs.
///
/// # Errors
/// The pipe or the fork fails, or the process has several threads.
pub fn spawn_guardian() -> io::Result<(Pid, OwnedFd)> {
    if thread_count() != Some(1) {
        return Err(io::Error::new(
            io::ErrorKind::Unsupported,
            "the guardian must be started while the process has a single thread",
        ));
    }
    let mut fds = [0 as libc::c_int; 2];
    // SAFETY: `fds` is a valid array of two c_ints for pipe2 to fill.
    check_err(unsafe { libc::pipe2(fds.as_mut_ptr(), libc::O_CLOEXEC) })?;
    // SAFETY: both fds were just created by the kernel and nothing else owns them.
    let (r, w) = unsafe { (OwnedFd::from_raw_fd(fds[0]), OwnedFd::from_raw_fd(fds[1])) };
    // SAFETY: the process has a single thread (checked above), so the child is a complete
    // copy in a consistent state and may run ordinary code (it allocates only a set).
    let pid = check_err(unsafe { libc::fork() })?;
    if pid == 0 {
        drop(w);
        guardian_main(r);
    }
    drop(r);
    Ok((pid, w))
}

/// The guardian's body, in the forked child. Never returns.
fn guardian_main(r: OwnedFd) -> ! {
    use std::os::fd::IntoRawFd;
    let keep = r.into_raw_fd();
    // SAFETY: plain syscalls on integers and a NUL-terminated literal path; they only change
    // this (child) process: its group, signal dispositions, directory and fd table.
    unsafe {
        libc::setpgid(0, 0); // out of the orchestrator's group: its Ctrl-C is not ours
        libc::signal(libc::SIGINT, libc::SIG_IGN);
        libc::signal(libc::SIGHUP, libc::SIG_IGN);
        libc::signal(libc::SIGQUIT, libc::SIG_IGN);
        libc::chdir(c"/".as_ptr());
        let null = libc::open(c"/dev/null".as_ptr(), libc::O_RDWR);
        if null >= 0 {
            libc::dup2(null, 0);
            libc::dup2(null, 1);
            libc::dup2(null, 2);
        }
        // Hold nothing of the orchestrator's (its stdout, its jobs' pipes): only our pipe.
        if keep > 3 {
            libc::close_range(3, (keep - 1) as libc::c_uint, 0);
        }
        libc::close_range((keep + 1) as libc::c_uint, libc::c_uint::MAX, 0);
    }
    let mut groups = std::collections::HashSet::<i32>::new();
    let mut buf = [0u8; 4096];
    let mut have = 0usize;
    loop {
        // SAFETY: `buf[have..]` is writable memory of the given length.
        let n = unsafe { libc::read(keep, buf[have..].as_mut_ptr().cast(), buf.len() - have) };
        if n < 0 {
            if io::Error::last_os_error().kind() == io::ErrorKind::Interrupted {
                continue;
            }
            break;
        }
        if n == 0 {
            break;
        }
        have += n as usize;
        let whole = have - have % 4;
        for rec in buf[..whole].chunks_exact(4) {
            let v = i32::from_ne_bytes([rec[0], rec[1], rec[2], rec[3]]);
            if v > 0 {
                groups.insert(v);
            } else if v < 0 {
                groups.remove(&-v);
            }
        }
        buf.copy_within(whole..have, 0);
        have -= whole;
        // Let records pile up in the pipe for a moment: a writer wakes a reader only if it
        // sleeps in read(), so this keeps the guardian to ~200 wake-ups a second however fast
        // jobs start, at the price of noticing the orchestrator's death up to 5 ms later.
        std::thread::sleep(std::time::Duration::from_millis(5));
    }
    for g in groups {
        // SAFETY: killpg takes plain integers.
        unsafe { libc::killpg(g, libc::SIGKILL) };
    }
    // SAFETY: _exit has no preconditions; it skips the parent's atexit handlers and buffers.
    unsafe { libc::_exit(0) }
}

/// The calling process's PID.
pub fn getpid() -> Pid {
    // SAFETY: getpid has no preconditions.
    unsafe { libc::getpid() }
}

/// The soft `RLIMIT_NOFILE`: how many fds this process may have open.
pub fn nofile_limit() -> io::Result<u64> {
    // SAFETY: rlimit is plain data; zero is valid.
    let mut lim: libc::rlimit = unsafe { std::mem::zeroed() };
    // SAFETY: `lim` is a valid, writable rlimit.
    check_err(unsafe { libc::getrlimit(libc::RLIMIT_NOFILE, &mut lim) })?;
    Ok(lim.rlim_cur as u64)
}

/// Number of fds this process has open now (from `/proc/self/fd`, Linux).
pub fn open_fd_count() -> Option<usize> {
    // The directory handle itself is one of the entries.
    Some(
        std::fs::read_dir("/proc/self/fd")
            .ok()?
            .count()
            .saturating_sub(1),
    )
}

/// Number of threads of this process (from `/proc/self/status`), for tests and reports.
pub fn thread_count() -> Option<usize> {
    let s = std::fs::read_to_string("/proc/self/status").ok()?;
    s.lines()
        .find_map(|l| l.strip_prefix("Threads:"))
        .and_then(|v| v.trim().parse().ok())
}

/// errno values the crate distinguishes.
pub mod errno {
    /// No such file or directory.
    pub const ENOENT: i32 = libc::ENOENT;
    /// Permission denied.
    pub const EACCES: i32 = libc::EACCES;
    /// Operation not permitted.
    pub const EPERM: i32 = libc::EPERM;
    /// Exec format error.
    pub const ENOEXEC: i32 = libc::ENOEXEC;
    /// Is a directory.
    pub const EISDIR: i32 = libc::EISDIR;
    /// Resource temporarily unavailable (fork: out of processes).
    pub const EAGAIN: i32 = libc::EAGAIN;
    /// Too many open files (this process).
    pub const EMFILE: i32 = libc::EMFILE;
    /// Too many open files (system).
    pub const ENFILE: i32 = libc::ENFILE;
    /// Broken pipe.
    pub const EPIPE: i32 = libc::EPIPE;
}
