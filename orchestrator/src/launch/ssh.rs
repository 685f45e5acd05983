//! The ssh command and the remote-shell launcher built on it.
//!
//! What a remote command looks like: the ssh words, then the host and one quoted command line.
//! There are two shapes of remote command line:
//!
//! ```text
//! ssh [--ssh words...] -T -e none -o BatchMode=yes -o ServerAliveInterval=5 \
//!     -o ServerAliveCountMax=3 -o ConnectTimeout=10 -o ControlMaster=no -o ControlPath=none|PATH \
//!     [-p PORT] [-l USER] -- HOST 'REMOTE COMMAND LINE'
//!
//! exec mode (RemoteShell::command_for; workers, whose stdin carries data):
//!     exec setpriv --pdeathsig KILL -- sh -c '[ "$PPID" = "$1" ] || exit 255; shift; exec "$@"' \
//!          sh "$PPID" [env K=V...] ARG0 ARG1 ...        (each word shell-quoted, "$PPID" not)
//!
//! watched mode (RemoteShell::watched_command_for; `run`'s jobs, whose stdin is /dev/null):
//!     exec sh -c '<watch script>' sh GRACE [env K=V...] ARG0 ARG1 ...   (see `watch.rs`)
//! ```
//!
//! Why each piece (measured on this machine kind; see the project's CLUSTER notes):
//! - No `-t`/`-tt`: a pty corrupts binary data. `-T` also overrides a `RequestTTY` in the user's
//!   ssh config, and `-e none` makes sure no byte of stdin is taken for an escape sequence.
//! - `BatchMode=yes`: a host that wants a password fails at once instead of hanging on a prompt.
//! - `ServerAliveInterval=5`, `ServerAliveCountMax=3`: a connection whose host stopped answering
//!   (link down, machine frozen) ends with exit 255 after about 15 s instead of hanging until TCP
//!   gives up; `ConnectTimeout=10` does the same for a connection that cannot be made.
//! - Exec mode, `exec setpriv --pdeathsig KILL --`: killing the local ssh (timeout, `--halt`,
//!   Ctrl-C, our own death) closes the connection, the connection's sshd process exits, and the
//!   kernel kills the remote command. Without it the remote command keeps running, reparented to
//!   init. The parent check closes a race: setpriv can only ask for the signal once it runs, and
//!   if the connection's sshd is already gone by then (the local ssh was killed within the first
//!   milliseconds) the signal never comes. So the login shell passes its parent's PID (the
//!   sshd), and after `setpriv` a small `sh` checks that its parent is still that process,
//!   exiting otherwise, before it execs the job. (The multi-host tests hit this race under load
//!   before the check was added.) It costs one `sh` exec per launch. Exec mode never multiplexes
//!   (`ControlPath=none`): with a ControlMaster the connection's sshd outlives the client, so the
//!   parent-death signal would never fire.
//! - Watched mode ties the remote command to the ssh *channel* instead of the sshd process: the
//!   channel's stdin is a lifeline that the orchestrator holds open and never writes, and a
//!   remote watcher kills the job's process group (TERM, the grace, KILL) when it reaches end of
//!   file. The channel closes when the local ssh dies, with or without a ControlMaster, so this
//!   mode may multiplex (`with_control_path`).
//! - Options given in `--ssh` come first and, by ssh's first-value-wins rule, override these
//!   (e.g. `--ssh 'ssh -o ServerAliveInterval=1'`). Don't enable multiplexing there: the
//!   orchestrator runs its own ControlMaster when it is safe.
//! - Environment variables cannot ride along (sshd accepts only what `AcceptEnv` lists), so they
//!   go into the remote command as `env K=V`.

use std::ffi::{OsStr, OsString};
use std::os::unix::ffi::{OsStrExt, OsStringExt};

use super::quote::quote_join;
use super::sshlogin::RemoteHost;
use super::{LaunchError, with_env};

/// Run by `sh -c` after `setpriv`: `$1` is the PID the login shell saw as its parent.
const PARENT_CHECK: &str = r#"[ "$PPID" = "$1" ] || exit 255; shift; exec "$@""#;

/// Environment variable that sets the ssh command when `--ssh` is not given.
pub const SSH_ENV_VAR: &str = "ORCHESTRATOR_SSH";

/// The ssh program and its options, e.g. `ssh -F ./ssh_config` (from `--ssh`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SshCommand {
    words: Vec<OsString>,
}

impl Default for SshCommand {
    /// Plain `ssh`.
    fn default() -> Self {
        Self {
            words: vec![OsString::from("ssh")],
        }
    }
}

impl SshCommand {
    /// Splits a command line such as `ssh -F 'my cfg' -i key` the way a POSIX shell would.
    ///
    /// ```
    /// let ssh = orchestrator::launch::SshCommand::parse("ssh -F 'my cfg'")?;
    /// assert_eq!(ssh.words(), ["ssh", "-F", "my cfg"]);
    /// # Ok::<(), orchestrator::launch::LaunchError>(())
    /// ```
    ///
    /// # Errors
    /// Unbalanced quotes, or nothing at all.
    pub fn parse(value: &str) -> Result<Self, LaunchError> {
        let words = split_words(value, "--ssh")?;
        Ok(Self {
            words: words.into_iter().map(OsString::from).collect(),
        })
    }

    /// An ssh command from ready-made words (`words[0]` is the program).
    ///
    /// # Errors
    /// If `words` is empty.
    pub fn from_words<S: Into<OsString>>(
        words: impl IntoIterator<Item = S>,
    ) -> Result<Self, LaunchError> {
        let words: Vec<OsString> = words.into_iter().map(Into::into).collect();
        if words.is_empty() {
            return Err(LaunchError::EmptyCommand {
                what: "ssh command".into(),
            });
        }
        Ok(Self { words })
    }

    /// The ssh command to use: `flag` (the `--ssh` value) if given, else [`SSH_ENV_VAR`] if set
    /// and not empty, else `ssh`.
    ///
    /// # Errors
    /// As [`SshCommand::parse`], naming where the bad value came from.
    pub fn resolve(flag: Option<&str>) -> Result<Self, LaunchError> {
        Self::resolve_from(flag, std::env::var(SSH_ENV_VAR).ok().as_deref())
    }

    /// [`SshCommand::resolve`] with the environment variable's value passed in.
    ///
    /// # Errors
    /// As [`SshCommand::parse`], naming where the bad value came from.
    pub fn resolve_from(flag: Option<&str>, env_value: Option<&str>) -> Result<Self, LaunchError> {
        if let Some(value) = flag {
            return Self::parse(value);
        }
        match env_value {
            Some(value) if !value.trim().is_empty() => {
                let words = split_words(value, SSH_ENV_VAR)?;
                Ok(Self {
                    words: words.into_iter().map(OsString::from).collect(),
                })
            }
            _ => Ok(Self::default()),
        }
    }

    /// The words: program first, then its options.
    pub fn words(&self) -> &[OsString] {
        &self.words
    }
}

/// Splits a launcher or ssh command line into words; `origin` names it in errors.
pub(super) fn split_words(value: &str, origin: &str) -> Result<Vec<String>, LaunchError> {
    let words = shlex::split(value).ok_or_else(|| LaunchError::BadQuoting {
        origin: origin.to_string(),
        value: value.to_string(),
    })?;
    if words.is_empty() {
        return Err(LaunchError::EmptyCommand {
            what: origin.to_string(),
        });
    }
    Ok(words)
}

/// Options added after the `--ssh` words for every connection (see the module docs).
const BASE_OPTIONS: [&str; 12] = [
    "-T",
    "-e",
    "none",
    "-o",
    "BatchMode=yes",
    "-o",
    "ServerAliveInterval=5",
    "-o",
    "ServerAliveCountMax=3",
    "-o",
    "ConnectTimeout=10",
    "-o",
];

/// How an ssh invocation relates to a ControlMaster.
#[derive(Debug, Clone, Copy)]
pub(crate) enum Control<'a> {
    /// Its own connection (`ControlMaster=no`, `ControlPath=none`).
    Own,
    /// A session on the master listening at this path (falls back to its own connection if
    /// the master is gone).
    Client(&'a std::path::Path),
    /// The master itself, listening at this path.
    Master(&'a std::path::Path),
}

/// Runs jobs on one remote host through ssh and its login shell.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RemoteShell {
    ssh: SshCommand,
    host: RemoteHost,
    pdeathsig: bool,
    control_path: Option<std::path::PathBuf>,
}

impl RemoteShell {
    /// Jobs on `host` through `ssh`, each on its own connection.
    pub fn new(ssh: SshCommand, host: RemoteHost) -> Self {
        Self {
            ssh,
            host,
            pdeathsig: true,
            control_path: None,
        }
    }

    /// Drops the `setpriv --pdeathsig KILL` wrapper of exec mode, for hosts without
    /// util-linux's `setpriv` (non-Linux hosts). Then killing the local ssh no longer kills the
    /// remote command: it stops only when it next writes (SIGPIPE) or reads (EOF).
    pub fn without_pdeathsig(mut self) -> Self {
        self.pdeathsig = false;
        self
    }

    /// Watched-mode commands become sessions on the ControlMaster listening at `path` (see
    /// [`Master`](super::Master)); exec-mode commands keep their own connection.
    pub fn with_control_path(mut self, path: impl Into<std::path::PathBuf>) -> Self {
        self.control_path = Some(path.into());
        self
    }

    /// The host.
    pub fn host(&self) -> &RemoteHost {
        &self.host
    }

    /// The ssh command.
    pub fn ssh(&self) -> &SshCommand {
        &self.ssh
    }

    /// The ControlMaster socket watched-mode commands use, if any.
    pub fn control_path(&self) -> Option<&std::path::Path> {
        self.control_path.as_deref()
    }

    /// The ssh words up to and including the host: `ssh [--ssh words] OPTIONS -- HOST`.
    pub(crate) fn ssh_argv(&self, control: Control<'_>) -> Vec<OsString> {
        let mut out: Vec<OsString> = self.ssh.words.clone();
        out.extend(BASE_OPTIONS.map(OsString::from));
        match control {
            Control::Own => {
                out.push("ControlMaster=no".into());
                out.extend(["-o", "ControlPath=none"].map(OsString::from));
            }
            Control::Client(path) => {
                out.push("ControlMaster=no".into());
                out.push("-o".into());
                out.push(control_path_option(path));
            }
            Control::Master(path) => {
                out.push("ControlMaster=yes".into());
                out.push("-o".into());
                out.push(control_path_option(path));
                out.extend(["-o", "ControlPersist=no", "-N"].map(OsString::from));
            }
        }
        if let Some(port) = self.host.port() {
            out.push("-p".into());
            out.push(port.to_string().into());
        }
        if let Some(user) = self.host.user() {
            out.push("-l".into());
            out.push(user.into());
        }
        out.push("--".into());
        out.push(self.host.host().into());
        out
    }

    /// Exec mode: the local argv that runs `argv` with `env` added on the remote host, its stdin
    /// and stdout connected to the local ssh's, on a connection of its own.
    pub(super) fn command_for(
        &self,
        argv: &[OsString],
        env: &[(OsString, OsString)],
    ) -> Result<Vec<OsString>, LaunchError> {
        let job = with_env(argv, env)?;
        let mut line = b"exec ".to_vec();
        if self.pdeathsig {
            let wrapper = [
                "setpriv",
                "--pdeathsig",
                "KILL",
                "--",
                "sh",
                "-c",
                PARENT_CHECK,
                "sh",
            ];
            line.extend(quote_join(&wrapper)?);
            // Expanded by the login shell: the PID of the sshd process serving this connection.
            line.extend_from_slice(br#" "$PPID" "#);
        }
        line.extend(quote_join(&job)?);
        let mut out = self.ssh_argv(Control::Own);
        out.push(OsString::from_vec(line));
        Ok(out)
    }

    /// Watched mode: the local argv that runs `argv` with `env` on the remote host with stdin
    /// `/dev/null`, killed there (its whole process group: SIGTERM, `grace`, SIGKILL) as soon
    /// as the ssh channel closes. The local ssh's stdin must be a pipe that stays open, unwritten,
    /// for as long as the job should run (see [`watch`](super::watch)). Multiplexed over the
    /// ControlMaster if [`RemoteShell::with_control_path`] was set.
    pub(super) fn watched_command_for(
        &self,
        argv: &[OsString],
        env: &[(OsString, OsString)],
        grace: std::time::Duration,
    ) -> Result<Vec<OsString>, LaunchError> {
        let job = with_env(argv, env)?;
        let mut line = b"exec ".to_vec();
        let grace = super::watch::grace_arg(grace);
        line.extend(quote_join(&[
            "sh",
            "-c",
            super::watch::SCRIPT,
            "sh",
            &grace,
        ])?);
        line.push(b' ');
        line.extend(quote_join(&job)?);
        let control = match &self.control_path {
            Some(path) => Control::Client(path),
            None => Control::Own,
        };
        let mut out = self.ssh_argv(control);
        out.push(OsString::from_vec(line));
        Ok(out)
    }

    /// The local argv that runs the POSIX `script` with `args` (`$1`...) on the host, through
    /// the ControlMaster if one is set: for probes.
    pub(crate) fn script_command(
        &self,
        script: &str,
        args: &[OsString],
        control: Control<'_>,
    ) -> Result<Vec<OsString>, LaunchError> {
        let mut words: Vec<OsString> = ["sh", "-c", script, "sh"].map(OsString::from).to_vec();
        words.extend(args.iter().cloned());
        let mut line = b"exec ".to_vec();
        line.extend(quote_join(&words)?);
        let mut out = self.ssh_argv(control);
        out.push(OsString::from_vec(line));
        Ok(out)
    }
}

/// `ControlPath=PATH`, with `%` doubled (ssh expands `%` tokens in it).
fn control_path_option(path: &std::path::Path) -> OsString {
    let mut bytes = b"ControlPath=".to_vec();
    for &b in path.as_os_str().as_bytes() {
        if b == b'%' {
            bytes.push(b'%');
        }
        bytes.push(b);
    }
    OsString::from_vec(bytes)
}

/// True if `program` names ssh (or rsh), which must not be used as an argv launcher.
pub(super) fn is_remote_shell_program(program: &OsStr) -> bool {
    let name = std::path::Path::new(program)
        .file_name()
        .map(OsStr::as_bytes)
        .unwrap_or_default();
    matches!(name, b"ssh" | b"rsh" | b"autossh" | b"mosh")
}
