//! Describing a child before it starts: program, arguments, environment, directory, stdio,
//! process group.

use std::ffi::{OsStr, OsString};
use std::fs::File;
use std::io;
use std::os::fd::OwnedFd;
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};

use crate::child::{Child, GroupRole};
use crate::error::{SpawnError, SpawnErrorKind};
use crate::pipes::{self, PipeReader, PipeWriter};
use crate::sys;

/// Where one of a child's standard streams goes.
#[derive(Debug, Default)]
pub struct Stdio(StdioKind);

#[derive(Debug, Default)]
enum StdioKind {
    #[default]
    Inherit,
    Null,
    Piped,
    Fd(OwnedFd),
    /// An fd already handed to an earlier child of this command.
    Consumed,
}

impl Stdio {
    /// The child shares the parent's stream (the default).
    pub fn inherit() -> Self {
        Self(StdioKind::Inherit)
    }
    /// `/dev/null`.
    pub fn null() -> Self {
        Self(StdioKind::Null)
    }
    /// A new pipe; the parent's end is on the [`Child`] (`take_stdin`, `take_stdout`, ...).
    pub fn piped() -> Self {
        Self(StdioKind::Piped)
    }
}

impl From<File> for Stdio {
    fn from(f: File) -> Self {
        Self(StdioKind::Fd(f.into()))
    }
}
impl From<OwnedFd> for Stdio {
    fn from(fd: OwnedFd) -> Self {
        Self(StdioKind::Fd(fd))
    }
}
impl From<PipeReader> for Stdio {
    fn from(p: PipeReader) -> Self {
        Self(StdioKind::Fd(p.into()))
    }
}
impl From<PipeWriter> for Stdio {
    fn from(p: PipeWriter) -> Self {
        Self(StdioKind::Fd(p.into()))
    }
}

/// Which process group a child joins.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Group {
    /// Its own new group, whose id is its pid (the default).
    New,
    /// An existing group (pipeline stages after the first).
    Join(sys::Pid),
}

/// A child process to start: the builder half of [`Child`].
///
/// Every child starts **in its own process group** by default, so that a timeout, Ctrl-C or
/// [`Child::terminate`] reaches its grandchildren too; its pipes are close-on-exec in every
/// other child; and the parent's copies of the fds handed to the child are closed as soon
/// as [`Command::spawn`] returns.
///
/// ```
/// use orchestrator::{Command, Stdio};
/// # fn main() -> Result<(), Box<dyn std::error::Error>> {
/// let child = Command::new("sh")
///     .args(["-c", "echo \"$GREETING, $1\"", "sh", "world"])
///     .env("GREETING", "hello")
///     .stdout(Stdio::piped())
///     .spawn()?;
/// let out = child.communicate().run()?;
/// assert!(out.status.success());
/// assert_eq!(out.stdout, b"hello, world\n");
/// # Ok(()) }
/// ```
#[derive(Debug)]
pub struct Command {
    program: OsString,
    args: Vec<OsString>,
    env: Vec<(OsString, Option<OsString>)>,
    env_clear: bool,
    cwd: Option<PathBuf>,
    stdin: Stdio,
    stdout: Stdio,
    stderr: Stdio,
    pub(crate) group: Group,
    kill_on_parent_death: bool,
}

impl Command {
    /// A command running `program` (looked up on `PATH` unless it contains a `/`).
    pub fn new(program: impl AsRef<OsStr>) -> Self {
        Self {
            program: program.as_ref().to_owned(),
            args: Vec::new(),
            env: Vec::new(),
            env_clear: false,
            cwd: None,
            stdin: Stdio::inherit(),
            stdout: Stdio::inherit(),
            stderr: Stdio::inherit(),
            group: Group::New,
            kill_on_parent_death: false,
        }
    }

    /// A command from an argv vector: `argv[0]` is the program.
    ///
    /// # Errors
    /// An empty `argv` gives an [`io::ErrorKind::InvalidInput`] error.
    pub fn from_argv<S: AsRef<OsStr>>(argv: &[S]) -> io::Result<Self> {
        let (program, rest) = argv
            .split_first()
            .ok_or_else(|| io::Error::new(io::ErrorKind::InvalidInput, "empty command"))?;
        let mut cmd = Self::new(program);
        cmd.args(rest);
        Ok(cmd)
    }

    /// Appends one argument (passed verbatim: no shell, no splitting).
    pub fn arg(&mut self, arg: impl AsRef<OsStr>) -> &mut Self {
        self.args.push(arg.as_ref().to_owned());
        self
    }

    /// Appends arguments.
    pub fn args<I, S>(&mut self, args: I) -> &mut Self
    where
        I: IntoIterator<Item = S>,
        S: AsRef<OsStr>,
    {
        self.args
            .extend(args.into_iter().map(|a| a.as_ref().to_owned()));
        self
    }

    /// Sets an environment variable for the child (the rest of the environment is inherited
    /// unless [`Command::env_clear`] is called). This is the way to hand a child a secret:
    /// the environment is not visible to other users (`/proc/PID/environ` is private), argv is.
    pub fn env(&mut self, key: impl AsRef<OsStr>, value: impl AsRef<OsStr>) -> &mut Self {
        self.env
            .push((key.as_ref().to_owned(), Some(value.as_ref().to_owned())));
        self
    }

    /// Removes a variable from the child's environment.
    pub fn env_remove(&mut self, key: impl AsRef<OsStr>) -> &mut Self {
        self.env.push((key.as_ref().to_owned(), None));
        self
    }

    /// Starts the child with an empty environment plus what [`Command::env`] adds.
    pub fn env_clear(&mut self) -> &mut Self {
        self.env_clear = true;
        self.env.clear();
        self
    }

    /// Runs the child in `dir`.
    pub fn current_dir(&mut self, dir: impl AsRef<Path>) -> &mut Self {
        self.cwd = Some(dir.as_ref().to_owned());
        self
    }

    /// Where the child's stdin comes from (default: inherited).
    pub fn stdin(&mut self, s: impl Into<Stdio>) -> &mut Self {
        self.stdin = s.into();
        self
    }

    /// Where the child's stdout goes (default: inherited).
    pub fn stdout(&mut self, s: impl Into<Stdio>) -> &mut Self {
        self.stdout = s.into();
        self
    }

    /// Where the child's stderr goes (default: inherited).
    pub fn stderr(&mut self, s: impl Into<Stdio>) -> &mut Self {
        self.stderr = s.into();
        self
    }

    /// Linux: have the kernel SIGKILL the child if the thread that spawned it dies (for
    /// instance when the orchestrator itself is killed with SIGKILL). Off by default.
    ///
    /// Limits, all from `PR_SET_PDEATHSIG`: it covers the direct child only (its descendants
    /// are reached through the process-group kills); it fires when the **spawning thread**
    /// exits, so spawn from a thread that lives as long as the child should; a set-uid
    /// program clears it; and it forces `fork`+`exec` instead of the faster `posix_spawn`.
    pub fn kill_on_parent_death(&mut self, on: bool) -> &mut Self {
        self.kill_on_parent_death = on;
        self
    }

    pub(crate) fn join_group(&mut self, pgid: sys::Pid) -> &mut Self {
        self.group = Group::Join(pgid);
        self
    }

    /// The program, as given.
    pub fn get_program(&self) -> &OsStr {
        &self.program
    }

    /// The arguments after the program.
    pub fn get_args(&self) -> &[OsString] {
        &self.args
    }

    /// Program and arguments, lossily as text, for messages and reports.
    pub fn argv_lossy(&self) -> Vec<String> {
        std::iter::once(&self.program)
            .chain(&self.args)
            .map(|a| a.to_string_lossy().into_owned())
            .collect()
    }

    /// Starts the child in its own process group.
    ///
    /// The parent's copies of every fd handed to the child (a [`File`], a pipe end) are
    /// closed when this returns, so end-of-file arrives as soon as the child (and its
    /// descendants) close theirs. The command can be spawned again (for a retry) with the
    /// same settings, except that such an fd was given to the first child only.
    ///
    /// # Errors
    /// A [`SpawnError`] naming the program and the cause: not found, permission denied, is a
    /// directory, bad working directory, out of processes or fds; or
    /// [`SpawnErrorKind::Other`] if an fd given as stdio was already used by an earlier spawn.
    pub fn spawn(&mut self) -> Result<Child, SpawnError> {
        let role = match self.group {
            Group::New => GroupRole::Leader,
            Group::Join(pgid) => GroupRole::Member(pgid),
        };
        self.spawn_with_role(role)
    }

    pub(crate) fn spawn_with_role(&mut self, role: GroupRole) -> Result<Child, SpawnError> {
        let program_text = self.program.to_string_lossy().into_owned();
        let fail = |e: io::Error, kind: Option<SpawnErrorKind>| {
            let kind = kind.unwrap_or_else(|| classify(&e, &self.program, self.cwd.as_deref()));
            SpawnError::new(program_text.clone(), kind, e)
        };
        let mut cmd = std::process::Command::new(&self.program);
        cmd.args(&self.args);
        if self.env_clear {
            cmd.env_clear();
        }
        for (k, v) in &self.env {
            match v {
                Some(v) => cmd.env(k, v),
                None => cmd.env_remove(k),
            };
        }
        if let Some(dir) = &self.cwd {
            cmd.current_dir(dir);
        }
        match self.group {
            Group::New => cmd.process_group(0),
            Group::Join(pgid) => cmd.process_group(pgid),
        };
        if self.kill_on_parent_death {
            sys::kill_child_on_parent_death(&mut cmd, sys::getpid());
        }
        let mut ours_in = None;
        let mut ours_out = None;
        let mut ours_err = None;
        let consumed = || {
            io::Error::new(
                io::ErrorKind::InvalidInput,
                "a file or pipe given as stdio was already handed to an earlier child",
            )
        };
        let stdin = match take_fd(&mut self.stdin) {
            StdioKind::Piped => {
                let (r, w) = pipes::pipe().map_err(|e| fail(e, None))?;
                ours_in = Some(w);
                r.into()
            }
            StdioKind::Consumed => return Err(fail(consumed(), Some(SpawnErrorKind::Other))),
            other => std_stdio(other),
        };
        let stdout = match take_fd(&mut self.stdout) {
            StdioKind::Piped => {
                let (r, w) = pipes::pipe().map_err(|e| fail(e, None))?;
                ours_out = Some(r);
                w.into()
            }
            StdioKind::Consumed => return Err(fail(consumed(), Some(SpawnErrorKind::Other))),
            other => std_stdio(other),
        };
        let stderr = match take_fd(&mut self.stderr) {
            StdioKind::Piped => {
                let (r, w) = pipes::pipe().map_err(|e| fail(e, None))?;
                ours_err = Some(r);
                w.into()
            }
            StdioKind::Consumed => return Err(fail(consumed(), Some(SpawnErrorKind::Other))),
            other => std_stdio(other),
        };
        cmd.stdin(stdin).stdout(stdout).stderr(stderr);
        let spawned = cmd.spawn();
        // Close the parent's copies of the child's ends now, not when `self` goes away.
        drop(cmd);
        let std_child = spawned.map_err(|e| fail(e, None))?;
        Ok(Child::from_std(
            std_child,
            role,
            program_text,
            ours_in,
            ours_out,
            ours_err,
        ))
    }
}

/// The stdio to use for this spawn: an fd is moved out (leaving `Consumed`), the rest copied.
fn take_fd(s: &mut Stdio) -> StdioKind {
    match &s.0 {
        StdioKind::Inherit => StdioKind::Inherit,
        StdioKind::Null => StdioKind::Null,
        StdioKind::Piped => StdioKind::Piped,
        StdioKind::Consumed => StdioKind::Consumed,
        StdioKind::Fd(_) => std::mem::replace(&mut s.0, StdioKind::Consumed),
    }
}

fn std_stdio(kind: StdioKind) -> std::process::Stdio {
    match kind {
        StdioKind::Inherit | StdioKind::Consumed => std::process::Stdio::inherit(),
        StdioKind::Null => std::process::Stdio::null(),
        StdioKind::Piped => std::process::Stdio::piped(),
        StdioKind::Fd(fd) => fd.into(),
    }
}

/// Turns the OS error of a failed spawn into a cause a person can act on.
fn classify(e: &io::Error, program: &OsStr, cwd: Option<&Path>) -> SpawnErrorKind {
    if let Some(dir) = cwd
        && !dir.is_dir()
    {
        return SpawnErrorKind::BadWorkingDirectory;
    }
    match e.raw_os_error() {
        Some(code) if code == libc_codes::ENOENT => SpawnErrorKind::NotFound,
        Some(code) if code == libc_codes::EACCES || code == libc_codes::EPERM => {
            // execve reports a directory as EACCES: say which it is.
            match resolve(program) {
                Some(p) if p.is_dir() => SpawnErrorKind::IsADirectory,
                _ => SpawnErrorKind::PermissionDenied,
            }
        }
        Some(code) if code == libc_codes::ENOEXEC => SpawnErrorKind::NotExecutable,
        Some(code) if code == libc_codes::EISDIR => SpawnErrorKind::IsADirectory,
        Some(code)
            if code == libc_codes::EAGAIN
                || code == libc_codes::EMFILE
                || code == libc_codes::ENFILE =>
        {
            SpawnErrorKind::ResourceExhausted
        }
        _ => SpawnErrorKind::Other,
    }
}

/// errno values, named here so this file stays free of libc.
mod libc_codes {
    pub use crate::sys::errno::*;
}

/// Where `program` would be found: itself if it has a `/`, else the first `PATH` entry that
/// has it.
fn resolve(program: &OsStr) -> Option<PathBuf> {
    let p = Path::new(program);
    if program.as_encoded_bytes().contains(&b'/') {
        return Some(p.to_owned());
    }
    let path = std::env::var_os("PATH")?;
    std::env::split_paths(&path)
        .map(|dir| dir.join(p))
        .find(|c| c.exists())
}
