//! Launchers: turn a job's argv into the argv spawned on this machine.
//!
//! Jobs and workers run here, on ssh hosts, or as Slurm steps; in every case the orchestrator
//! spawns one local process and talks to it through its pipes, so timeouts, kills and the frame
//! protocol work the same way. A [`Launcher`] only decides *what* is spawned:
//!
//! | launcher | what is spawned | arguments | environment |
//! |---|---|---|---|
//! | [`Launcher::Local`] | the argv itself | as they are | set on the local process |
//! | [`Launcher::RemoteShell`] | `ssh ... HOST 'exec setpriv --pdeathsig KILL -- <parent check> ARGV'` (workers), or `ssh ... HOST 'exec sh -c <watcher> ARGV'` ([watched mode](watch), `run`'s jobs, may be multiplexed) | each one shell-quoted ([`quote_arg`]) | `env K=V` in the remote command |
//! | [`Launcher::Argv`] | `PREFIX... ARGV`, e.g. `srun -u -n1 --quiet ARGV` | as they are (srun execs argv) | `env K=V` after the prefix |
//!
//! Where the hosts come from: [`parse_sshlogins`] (`-S/--sshlogin`) and [`read_hosts_file`]
//! (`--hosts FILE`), in GNU parallel's `[N/][user@]host[:port]` format; [`Launcher::for_login`]
//! turns one into a launcher. The ssh command comes from `--ssh` or [`SSH_ENV_VAR`]
//! ([`SshCommand::resolve`]).
//!
//! # Exit status and completion
//! [`Launcher::interpret_exit`] reads the local process's status:
//! - ssh exits 255 both when the connection fails or is lost and when the remote command is
//!   killed by a signal (and when the remote command itself exits 255): that is
//!   [`LaunchExit::LostOrRemoteSignal`], to be treated as "the host may be gone".
//! - srun passes the task's exit code through (a task killed by signal N gives 128+N), **but after
//!   a cancel or time limit srun can exit 0** ("Timed out waiting for job step to complete" when
//!   the task ignored SIGTERM). So completion must be judged by the payload — for a worker, its
//!   final frame; for a job, what it wrote — never by srun's exit code alone.
//!
//! # Killing
//! Kill the local process (its process group). For ssh in exec mode, the `setpriv --pdeathsig
//! KILL` wrapper makes the remote command die with the connection; in watched mode, the remote
//! watcher kills the job's process group when the channel closes (which also works through a
//! ControlMaster, [`Master`]); for srun, SIGTERM or SIGKILL of srun ends the step within about
//! 100 ms. All are checked by the project's multi-host tests.
//!
//! [`probe`] asks a host for its core count, tools and worker; [`probe::handshake`] checks the
//! worker's protocol version.
//!
//! ```
//! use std::ffi::OsString;
//! use orchestrator::launch::{Launcher, SshCommand, SshLogin};
//! let login: SshLogin = "2/root@10.77.0.11:2222".parse()?;
//! let ssh = SshCommand::parse("ssh -F cfg")?;
//! let launcher = Launcher::for_login(&login, &ssh);
//! let argv: Vec<OsString> = vec!["echo".into(), "it's".into()];
//! let cmd = launcher.command_for(&argv, &[])?;
//! let remote = cmd.argv().last().unwrap().to_str().unwrap();
//! assert!(remote.starts_with("exec setpriv --pdeathsig KILL -- sh -c "));
//! assert!(remote.ends_with(r#" sh "$PPID" echo "it's""#));
//! assert_eq!(launcher.host_label(), "root@10.77.0.11:2222");
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```

mod mux;
pub mod probe;
mod quote;
mod ssh;
mod sshlogin;
pub mod watch;

use std::ffi::{OsStr, OsString};
use std::os::unix::ffi::{OsStrExt, OsStringExt};
use std::os::unix::process::ExitStatusExt;
use std::process::{Command, ExitStatus};

pub use mux::{ControlDir, Master, SESSIONS_PER_MASTER};
pub use quote::{QuoteError, quote_arg, quote_join};
pub use ssh::{RemoteShell, SSH_ENV_VAR, SshCommand};
pub use sshlogin::{
    Problem, RemoteHost, SshLogin, SshLoginError, Target, parse_hosts, parse_sshlogins,
    read_hosts_file,
};

/// How a job's argv becomes the local process that runs it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Launcher {
    /// Run here, as is.
    Local,
    /// Run on a remote host through ssh and its login shell (arguments are quoted).
    RemoteShell(RemoteShell),
    /// Run through a launcher program that execs argv directly, such as `srun`.
    Argv(ArgvLauncher),
}

impl Launcher {
    /// The launcher for one sshlogin: [`Launcher::Local`] for `:`, ssh otherwise.
    pub fn for_login(login: &SshLogin, ssh: &SshCommand) -> Self {
        match login.target() {
            Target::Local => Self::Local,
            Target::Remote(host) => Self::RemoteShell(RemoteShell::new(ssh.clone(), host.clone())),
        }
    }

    /// `srun -u -n1 --quiet` (the `--slurm` shorthand).
    pub fn slurm() -> Self {
        Self::Argv(ArgvLauncher::slurm())
    }

    /// The command that runs `argv` with the extra environment `env`.
    ///
    /// # Errors
    /// An empty argv; a NUL byte in an argument (ssh); an environment name that is empty, holds
    /// `=` or NUL, or starts with `-`; a program name that the launcher's shell or `env` would
    /// misread (starting with `-`, or holding `=` where `env` comes first).
    pub fn command_for(
        &self,
        argv: &[OsString],
        env: &[(OsString, OsString)],
    ) -> Result<LaunchCommand, LaunchError> {
        if argv.is_empty() {
            return Err(LaunchError::EmptyArgv);
        }
        match self {
            Self::Local => {
                for (key, _) in env {
                    check_env(key)?;
                }
                Ok(LaunchCommand {
                    argv: argv.to_vec(),
                    local_env: env.to_vec(),
                    lifeline: false,
                })
            }
            Self::RemoteShell(remote) => Ok(LaunchCommand {
                argv: remote.command_for(argv, env)?,
                local_env: Vec::new(),
                lifeline: false,
            }),
            Self::Argv(prefix) => Ok(LaunchCommand {
                argv: prefix.command_for(argv, env)?,
                local_env: Vec::new(),
                lifeline: false,
            }),
        }
    }

    /// The command for a job whose stdin is `/dev/null` (`orchestrator run`'s jobs): as
    /// [`Launcher::command_for`], except that on an ssh host it runs in
    /// [watched mode](watch): the local ssh's stdin must be a pipe held open (and never written)
    /// while the job runs ([`LaunchCommand::needs_lifeline`]); the job's group gets SIGTERM,
    /// then SIGKILL after `grace`, on the host as soon as that pipe or the connection closes.
    ///
    /// # Errors
    /// As [`Launcher::command_for`].
    pub fn job_command_for(
        &self,
        argv: &[OsString],
        env: &[(OsString, OsString)],
        grace: std::time::Duration,
    ) -> Result<LaunchCommand, LaunchError> {
        match self {
            Self::RemoteShell(remote) => {
                if argv.is_empty() {
                    return Err(LaunchError::EmptyArgv);
                }
                Ok(LaunchCommand {
                    argv: remote.watched_command_for(argv, env, grace)?,
                    local_env: Vec::new(),
                    lifeline: true,
                })
            }
            _ => self.command_for(argv, env),
        }
    }

    /// The host as the joblog and `--json` record it: `:` for this machine (as GNU parallel
    /// writes it), `[user@]host[:port]` for ssh, the launcher program's name (`srun`) otherwise.
    pub fn host_label(&self) -> String {
        match self {
            Self::Local => ":".to_string(),
            Self::RemoteShell(remote) => remote.host().to_string(),
            Self::Argv(prefix) => prefix.program_name(),
        }
    }

    /// What the local process's exit status means for this launcher (see the module docs).
    pub fn interpret_exit(&self, status: ExitStatus) -> LaunchExit {
        match (status.code(), status.signal()) {
            (Some(255), _) if matches!(self, Self::RemoteShell(_)) => {
                LaunchExit::LostOrRemoteSignal
            }
            (Some(code), _) => LaunchExit::Code(code),
            (None, Some(signal)) => LaunchExit::Signal(signal),
            // Neither a code nor a signal: only stopped/continued states, which `wait` without
            // WUNTRACED never reports. Keep the raw value rather than panic.
            (None, None) => LaunchExit::Code(status.into_raw()),
        }
    }
}

/// What a launched process's exit status means.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LaunchExit {
    /// Exited with this code. For srun, after a cancel, 0 does not prove success.
    Code(i32),
    /// The local process (the job, ssh or srun) was killed by this signal.
    Signal(i32),
    /// ssh exited 255: the connection failed or was lost, or the remote command was killed by a
    /// signal (or exited 255 itself).
    LostOrRemoteSignal,
}

impl std::fmt::Display for LaunchExit {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Self::Code(code) => write!(f, "exit code {code}"),
            Self::Signal(signal) => write!(f, "killed by signal {signal}"),
            Self::LostOrRemoteSignal => {
                f.write_str("ssh exit 255: connection lost or remote command killed by a signal")
            }
        }
    }
}

/// A launcher program that execs argv directly: `srun -u -n1 --quiet`, `nice -n 5`, ...
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ArgvLauncher {
    prefix: Vec<OsString>,
}

impl ArgvLauncher {
    /// `srun -u -n1 --quiet`: one task per job or worker, unbuffered (without `-u`, slurmstepd
    /// line-buffers output and an unterminated frame is never delivered), no status chatter.
    pub fn slurm() -> Self {
        Self {
            prefix: ["srun", "-u", "-n1", "--quiet"]
                .map(OsString::from)
                .to_vec(),
        }
    }

    /// Parses a `--launcher` value such as `srun -u -n1 --quiet` (split like a POSIX shell).
    ///
    /// ```
    /// use orchestrator::launch::ArgvLauncher;
    /// assert_eq!(ArgvLauncher::parse("srun -u -n1 --quiet")?, ArgvLauncher::slurm());
    /// assert!(ArgvLauncher::parse("ssh host").is_err()); // ssh needs quoting: use -S
    /// # Ok::<(), orchestrator::launch::LaunchError>(())
    /// ```
    ///
    /// # Errors
    /// Unbalanced quotes; an empty value; ssh (or rsh), which joins its arguments into a shell
    /// command line and so must be used through `-S/--sshlogin`.
    pub fn parse(value: &str) -> Result<Self, LaunchError> {
        let words = ssh::split_words(value, "--launcher")?;
        Self::new(words.into_iter().map(OsString::from).collect())
    }

    /// A launcher from ready-made words (`prefix[0]` is the program).
    ///
    /// # Errors
    /// As [`ArgvLauncher::parse`].
    pub fn new(prefix: Vec<OsString>) -> Result<Self, LaunchError> {
        let program = prefix.first().ok_or_else(|| LaunchError::EmptyCommand {
            what: "--launcher".into(),
        })?;
        if ssh::is_remote_shell_program(program) {
            return Err(LaunchError::RemoteShellAsArgv {
                value: display_words(&prefix),
            });
        }
        Ok(Self { prefix })
    }

    /// The prefix words.
    pub fn prefix(&self) -> &[OsString] {
        &self.prefix
    }

    fn program_name(&self) -> String {
        let program = std::path::Path::new(&self.prefix[0]);
        program
            .file_name()
            .unwrap_or(program.as_os_str())
            .to_string_lossy()
            .into_owned()
    }

    fn command_for(
        &self,
        argv: &[OsString],
        env: &[(OsString, OsString)],
    ) -> Result<Vec<OsString>, LaunchError> {
        let mut out = self.prefix.clone();
        // The variables go through `env` rather than srun's environment propagation, so they
        // arrive whatever `--export` the prefix (or the site's defaults) chose.
        out.extend(with_env(argv, env)?);
        Ok(out)
    }
}

/// The command to spawn locally: argv, plus environment to set on the local process.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LaunchCommand {
    argv: Vec<OsString>,
    local_env: Vec<(OsString, OsString)>,
    lifeline: bool,
}

impl LaunchCommand {
    /// The full local argv, program first.
    pub fn argv(&self) -> &[OsString] {
        &self.argv
    }

    /// Variables to set on the local process (only [`Launcher::Local`] has any: the others carry
    /// them inside argv).
    pub fn local_env(&self) -> &[(OsString, OsString)] {
        &self.local_env
    }

    /// True for a [watched-mode](watch) command: its stdin must be a pipe whose write end is
    /// held open, unwritten, for as long as the job may run; closing it stops the job.
    pub fn needs_lifeline(&self) -> bool {
        self.lifeline
    }

    /// A `std::process::Command` with this argv and environment, ready for stdio and spawn.
    pub fn to_command(&self) -> Command {
        let mut cmd = Command::new(&self.argv[0]);
        cmd.args(&self.argv[1..]);
        cmd.envs(self.local_env.iter().map(|(k, v)| (k, v)));
        cmd
    }
}

/// A launcher that cannot be built or a job it cannot run.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum LaunchError {
    /// The job has no program.
    #[error("empty command: nothing to launch")]
    EmptyArgv,
    /// A `--ssh` or `--launcher` value with nothing in it.
    #[error("{what} is empty")]
    EmptyCommand {
        /// Which value.
        what: String,
    },
    /// A `--ssh` or `--launcher` value that cannot be split into words.
    #[error(
        "cannot split {origin} value `{value}` into words: unbalanced quotes or a trailing backslash"
    )]
    BadQuoting {
        /// `--ssh`, `--launcher` or the environment variable's name.
        origin: String,
        /// The value.
        value: String,
    },
    /// ssh given as an argv launcher.
    #[error(
        "`--launcher {value}`: ssh runs its arguments through the remote shell, so it cannot be an argv launcher; use -S/--sshlogin HOST (and --ssh 'ssh OPTIONS') instead"
    )]
    RemoteShellAsArgv {
        /// The launcher value.
        value: String,
    },
    /// An argument with a NUL byte.
    #[error(transparent)]
    Quote(#[from] QuoteError),
    /// A bad environment variable name.
    #[error(
        "environment variable name {name:?} is not valid (empty, or holds `=` or NUL, or starts with `-`)"
    )]
    BadEnvName {
        /// The name, lossily decoded.
        name: String,
    },
    /// A program name the launcher's shell or `env` would misread.
    #[error("program name {program:?} cannot be launched remotely: {reason}")]
    BadProgram {
        /// The program, lossily decoded.
        program: String,
        /// Why.
        reason: &'static str,
    },
}

/// Checks an environment variable name for `env NAME=VALUE` (and for the local environment).
fn check_env(name: &OsStr) -> Result<(), LaunchError> {
    let bytes = name.as_bytes();
    if bytes.is_empty() || bytes.contains(&b'=') || bytes.contains(&0) || bytes[0] == b'-' {
        return Err(LaunchError::BadEnvName {
            name: name.to_string_lossy().into_owned(),
        });
    }
    Ok(())
}

/// Checks a program name for launchers that put words before it (`exec`, `env`, `srun`).
fn check_program(program: &OsStr, after_env: bool) -> Result<(), LaunchError> {
    let bad = |reason| {
        Err(LaunchError::BadProgram {
            program: program.to_string_lossy().into_owned(),
            reason,
        })
    };
    let bytes = program.as_bytes();
    if bytes.is_empty() {
        return bad("it is empty");
    }
    if bytes[0] == b'-' {
        return bad("it starts with `-` and would be read as an option");
    }
    if after_env && bytes.contains(&b'=') {
        return bad("it holds `=`, which `env` would take for a variable assignment");
    }
    Ok(())
}

/// `argv`, preceded by `env K=V...` when `env` is not empty; checks the program and the names.
fn with_env(argv: &[OsString], env: &[(OsString, OsString)]) -> Result<Vec<OsString>, LaunchError> {
    let program = argv.first().ok_or(LaunchError::EmptyArgv)?;
    check_program(program, !env.is_empty())?;
    let mut out = Vec::with_capacity(argv.len() + env.len() + 1);
    if !env.is_empty() {
        out.push(OsString::from("env"));
        for (key, value) in env {
            check_env(key)?;
            let mut pair = key.as_bytes().to_vec();
            pair.push(b'=');
            pair.extend_from_slice(value.as_bytes());
            out.push(OsString::from_vec(pair));
        }
    }
    out.extend(argv.iter().cloned());
    Ok(out)
}

fn display_words(words: &[OsString]) -> String {
    words
        .iter()
        .map(|w| w.to_string_lossy())
        .collect::<Vec<_>>()
        .join(" ")
}

#[cfg(test)]
mod tests;
