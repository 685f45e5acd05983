//! Options shared by `run`, `factor` and `hosts check`: where jobs and workers run.

use std::path::PathBuf;

use crate::launch::{
    ArgvLauncher, Launcher, SshCommand, SshLogin, parse_sshlogins, read_hosts_file,
};

/// Where to run: hosts over ssh, or through a launcher such as srun.
#[derive(Debug, Clone, Default, clap::Args)]
pub struct RemoteArgs {
    /// Run on the hosts listed in FILE: one or more `[N/][user@]host[:port]` per line (GNU
    /// parallel's sshlogin format; N = slots on that host; `:` = this machine; `#` comments).
    /// Example: `--hosts nodes.txt`.
    #[arg(long = "hosts", value_name = "FILE", help_heading = "Hosts")]
    pub hosts: Vec<PathBuf>,

    /// Run on this host (repeatable; a comma-separated list works too): `[N/][user@]host[:port]`,
    /// `:` for this machine. Example: `-S 4/alice@node1,node2:2222 -S :`.
    #[arg(
        short = 'S',
        long = "sshlogin",
        value_name = "LOGIN",
        help_heading = "Hosts"
    )]
    pub sshlogin: Vec<String>,

    /// The ssh command and its options [default: $ORCHESTRATOR_SSH, else `ssh`]. Example:
    /// `--ssh 'ssh -F ./ssh_config -i key'`.
    #[arg(long, value_name = "COMMAND", help_heading = "Hosts")]
    pub ssh: Option<String>,

    /// Start every job or worker through this command, which execs its arguments (a Slurm
    /// step per job: `srun -u -n1 --quiet`). `-u` is required for srun: without it the
    /// output of a worker never arrives. Example: `--launcher 'srun -u -n1 --quiet -p short'`.
    #[arg(
        long,
        value_name = "COMMAND",
        conflicts_with_all = ["hosts", "sshlogin", "slurm"],
        help_heading = "Hosts"
    )]
    pub launcher: Option<String>,

    /// Shorthand for `--launcher 'srun -u -n1 --quiet'`: each job or worker is a Slurm step.
    #[arg(long, conflicts_with_all = ["hosts", "sshlogin"], help_heading = "Hosts")]
    pub slurm: bool,
}

/// Where the options say to run.
#[derive(Debug, Clone)]
pub enum Placement {
    /// Here (no host option given).
    Local,
    /// On these hosts, through this ssh command.
    Hosts(Vec<SshLogin>, SshCommand),
    /// Through one launcher (srun).
    Through(Launcher),
}

impl RemoteArgs {
    /// True if any host or launcher option was given.
    pub fn any(&self) -> bool {
        !self.hosts.is_empty() || !self.sshlogin.is_empty() || self.launcher.is_some() || self.slurm
    }

    /// Reads the hosts files and parses the logins.
    ///
    /// # Errors
    /// A message naming the bad file, line or entry.
    pub fn placement(&self) -> Result<Placement, String> {
        if self.slurm {
            return Ok(Placement::Through(Launcher::slurm()));
        }
        if let Some(l) = &self.launcher {
            let prefix = ArgvLauncher::parse(l).map_err(|e| e.to_string())?;
            if is_srun_without_u(prefix.prefix()) {
                return Err(format!(
                    "--launcher `{l}`: srun needs -u (--unbuffered), or a worker's frames never \
                     arrive (slurmstepd holds output until a newline)"
                ));
            }
            return Ok(Placement::Through(Launcher::Argv(prefix)));
        }
        let mut logins = Vec::new();
        for path in &self.hosts {
            logins.extend(read_hosts_file(path).map_err(|e| format!("--hosts: {e}"))?);
        }
        for value in &self.sshlogin {
            logins.extend(parse_sshlogins(value).map_err(|e| format!("-S: {e}"))?);
        }
        if logins.is_empty() {
            if self.ssh.is_some() {
                return Err("--ssh is given but no host (--hosts FILE or -S HOST)".into());
            }
            return Ok(Placement::Local);
        }
        let ssh = SshCommand::resolve(self.ssh.as_deref()).map_err(|e| e.to_string())?;
        Ok(Placement::Hosts(logins, ssh))
    }
}

/// `srun` without `-u`/`--unbuffered` among its options.
fn is_srun_without_u(prefix: &[std::ffi::OsString]) -> bool {
    let name = std::path::Path::new(&prefix[0])
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    if name != "srun" {
        return false;
    }
    !prefix[1..].iter().any(|w| {
        let w = w.to_string_lossy();
        // `-u`, `--unbuffered`, or a cluster of short options that starts with it (`-un1`).
        w == "--unbuffered" || (w.starts_with("-u") && !w.starts_with("--"))
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn args(sshlogin: &[&str]) -> RemoteArgs {
        RemoteArgs {
            sshlogin: sshlogin.iter().map(|s| s.to_string()).collect(),
            ..RemoteArgs::default()
        }
    }

    #[test]
    fn no_option_means_here() {
        assert!(matches!(
            RemoteArgs::default().placement(),
            Ok(Placement::Local)
        ));
        assert!(!RemoteArgs::default().any());
    }

    #[test]
    fn sshlogins_repeat_and_split_on_commas() {
        let Ok(Placement::Hosts(logins, ssh)) = args(&["2/h1,h2", ":"]).placement() else {
            panic!("hosts expected");
        };
        let shown: Vec<String> = logins.iter().map(|l| l.to_string()).collect();
        assert_eq!(shown, ["2/h1", "h2", ":"]);
        assert!(!ssh.words().is_empty());
    }

    #[test]
    fn bad_entries_and_files_are_named() {
        let e = args(&["h1,,h2"]).placement().unwrap_err();
        assert!(e.starts_with("-S: "), "{e}");
        let a = RemoteArgs {
            hosts: vec![PathBuf::from("/nonexistent/hosts.txt")],
            ..RemoteArgs::default()
        };
        let e = a.placement().unwrap_err();
        assert!(e.contains("/nonexistent/hosts.txt"), "{e}");
        let a = RemoteArgs {
            ssh: Some("ssh -F x".into()),
            ..RemoteArgs::default()
        };
        assert!(a.placement().unwrap_err().contains("no host"));
    }

    #[test]
    fn slurm_and_launchers() {
        let a = RemoteArgs {
            slurm: true,
            ..RemoteArgs::default()
        };
        let Ok(Placement::Through(l)) = a.placement() else {
            panic!()
        };
        assert_eq!(l, Launcher::slurm());
        for bad in ["srun -n1", "srun --quiet -N2"] {
            let a = RemoteArgs {
                launcher: Some(bad.into()),
                ..RemoteArgs::default()
            };
            assert!(a.placement().unwrap_err().contains("-u"), "{bad}");
        }
        for good in ["srun -u -n1", "srun --unbuffered", "srun -un1", "nice -n 5"] {
            let a = RemoteArgs {
                launcher: Some(good.into()),
                ..RemoteArgs::default()
            };
            assert!(a.placement().is_ok(), "{good}");
        }
        let a = RemoteArgs {
            launcher: Some("ssh host".into()),
            ..RemoteArgs::default()
        };
        assert!(a.placement().unwrap_err().contains("-S"));
    }
}
