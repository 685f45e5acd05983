//! The ssh command and the remote-shell launcher built on it.
//!
//! What a remote job looks like (`RemoteShell::command_for`):
//!
//! ```text
//! ssh [--ssh words...] -T -e none -o BatchMode=yes -o ControlMaster=no -o ControlPath=none \
//!     [-p PORT] [-l USER] -- HOST \
//!     'exec setpriv --pdeathsig KILL -- sh -c '\''[ "$PPID" = "$1" ] || exit 255; shift; exec "$@"'\'' \
//!          sh "$PPID" [env K=V...] ARG0 ARG1 ...'        (each word shell-quoted, "$PPID" not)
//! ```
//!
//! Why each piece (measured on this machine kind; see the project's CLUSTER notes):
//! - No `-t`/`-tt`: a pty corrupts binary data. `-T` also overrides a `RequestTTY` in the user's
//!   ssh config, and `-e none` makes sure no byte of stdin is taken for an escape sequence.
//! - `BatchMode=yes`: a host that wants a password fails at once instead of hanging on a prompt.
//! - `exec setpriv --pdeathsig KILL --`: killing the local ssh (timeout, `--halt`, Ctrl-C, our own
//!   death) closes the connection, the connection's sshd process exits, and the kernel kills the
//!   remote command. Without it the remote command keeps running, reparented to init.
//! - The parent check closes a race: setpriv can only ask for the signal once it runs, and if the
//!   connection's sshd is already gone by then (the local ssh was killed within the first
//!   milliseconds) the signal never comes. So the login shell passes its parent's PID (the
//!   sshd), and after `setpriv` a small `sh` checks that its parent is still that process,
//!   exiting otherwise, before it execs the job. (The multi-host tests hit this race under load
//!   before the check was added.) It costs one `sh` exec per launch.
//! - No multiplexing (`ControlPath=none`): with a ControlMaster the connection's sshd outlives the
//!   client, so the parent-death signal never fires. A multiplexed mode needs its own remote
//!   watchdog and is not offered here. Options given in `--ssh` come first and, by ssh's
//!   first-value-wins rule, override these; don't enable multiplexing there.
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

/// Runs jobs on one remote host through ssh and its login shell.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RemoteShell {
    ssh: SshCommand,
    host: RemoteHost,
    pdeathsig: bool,
}

impl RemoteShell {
    /// Jobs on `host` through `ssh`, wrapped in `setpriv --pdeathsig KILL`.
    pub fn new(ssh: SshCommand, host: RemoteHost) -> Self {
        Self {
            ssh,
            host,
            pdeathsig: true,
        }
    }

    /// Drops the `setpriv --pdeathsig KILL` wrapper, for hosts without util-linux's `setpriv`
    /// (non-Linux hosts). Then killing the local ssh no longer kills the remote command: it
    /// stops only when it next writes (SIGPIPE) or reads (EOF).
    pub fn without_pdeathsig(mut self) -> Self {
        self.pdeathsig = false;
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

    /// The local argv that runs `argv` with `env` added on the remote host.
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

        let mut out: Vec<OsString> = self.ssh.words.clone();
        out.extend(
            [
                "-T",
                "-e",
                "none",
                "-o",
                "BatchMode=yes",
                "-o",
                "ControlMaster=no",
                "-o",
                "ControlPath=none",
            ]
            .map(OsString::from),
        );
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
        out.push(OsString::from_vec(line));
        Ok(out)
    }
}

/// True if `program` names ssh (or rsh), which must not be used as an argv launcher.
pub(super) fn is_remote_shell_program(program: &OsStr) -> bool {
    let name = std::path::Path::new(program)
        .file_name()
        .map(OsStr::as_bytes)
        .unwrap_or_default();
    matches!(name, b"ssh" | b"rsh" | b"autossh" | b"mosh")
}
