//! The daemons of a test cluster: sshd (on loopback and in each namespace), munged, slurmctld
//! and one slurmd per namespace host; their configuration files and their start-up checks.
//!
//! Every daemon runs in the foreground (`-D`/`-F`), so its PID is the one we spawned, and under
//! `setpriv --pdeathsig KILL`, so it dies with the harness even when the harness is SIGKILLed
//! (the parent-death signal fires when the *thread* that spawned it ends: start the cluster
//! from the main thread).

use std::fs::File;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use super::{StartError, procs};

/// A daemon we started: killed by PID (with its descendants) and reaped at teardown.
#[derive(Debug)]
pub(super) struct Daemon {
    pub(super) name: String,
    pub(super) child: Child,
    pub(super) log: PathBuf,
}

impl Daemon {
    /// Spawns `cmd` with stdin from /dev/null and stdout+stderr appended to `log`.
    pub(super) fn spawn(name: &str, mut cmd: Command, log: &Path) -> Result<Self, StartError> {
        let out = File::options()
            .create(true)
            .append(true)
            .open(log)
            .map_err(|e| failed(format!("cannot open {}: {e}", log.display())))?;
        let err = out
            .try_clone()
            .map_err(|e| failed(format!("cannot dup log fd: {e}")))?;
        let child = cmd
            .stdin(Stdio::null())
            .stdout(out)
            .stderr(err)
            .spawn()
            .map_err(|e| failed(format!("cannot start {name} ({cmd:?}): {e}")))?;
        Ok(Self {
            name: name.to_string(),
            child,
            log: log.to_path_buf(),
        })
    }

    pub(super) fn pid(&self) -> u32 {
        self.child.id()
    }

    /// Fails if the daemon has exited, with the tail of its log.
    pub(super) fn check_alive(&mut self) -> Result<(), StartError> {
        match self.child.try_wait() {
            Ok(None) => Ok(()),
            Ok(Some(status)) => Err(failed(format!(
                "{} exited during start-up ({status}); its log ends:\n{}",
                self.name,
                log_tail(&self.log)
            ))),
            Err(e) => Err(failed(format!("cannot wait for {}: {e}", self.name))),
        }
    }

    /// Polls `ready` every 20 ms (checking the daemon is alive) until it holds or `within` ends.
    pub(super) fn wait_ready(
        &mut self,
        within: Duration,
        what: &str,
        mut ready: impl FnMut() -> bool,
    ) -> Result<(), StartError> {
        let deadline = Instant::now() + within;
        loop {
            self.check_alive()?;
            if ready() {
                return Ok(());
            }
            if Instant::now() >= deadline {
                return Err(failed(format!(
                    "{}: {what} not seen within {within:?}; its log ends:\n{}",
                    self.name,
                    log_tail(&self.log)
                )));
            }
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    /// SIGKILLs the daemon and everything below it, then reaps it.
    pub(super) fn kill(&mut self) {
        let mut pids = procs::descendants(self.pid());
        pids.push(self.pid());
        procs::kill_pids(&pids, "KILL");
        let _ = self.child.wait();
    }
}

fn failed(message: String) -> StartError {
    StartError::Failed(message)
}

/// The last lines of a log file, for error messages.
pub(super) fn log_tail(path: &Path) -> String {
    let text = std::fs::read_to_string(path).unwrap_or_default();
    let lines: Vec<&str> = text.lines().collect();
    let start = lines.len().saturating_sub(15);
    lines[start..].join("\n")
}

/// True once `path` contains `needle`.
pub(super) fn log_contains(path: &Path, needle: &str) -> bool {
    std::fs::read_to_string(path).is_ok_and(|t| t.contains(needle))
}

/// Runs a set-up step that must succeed (the tools are known to be there).
pub(super) fn run_step(cmd: &mut Command) -> Result<(), StartError> {
    let out = cmd
        .output()
        .map_err(|e| failed(format!("cannot run {cmd:?}: {e}")))?;
    if !out.status.success() {
        return Err(failed(format!(
            "{cmd:?} failed ({}): {}",
            out.status,
            String::from_utf8_lossy(&out.stderr).trim()
        )));
    }
    Ok(())
}

/// Keys for every sshd of the cluster (one host key shared by all) and the client.
pub(super) fn make_ssh_keys(dir: &Path) -> Result<(), StartError> {
    for name in ["host_ed25519", "id_ed25519"] {
        run_step(
            Command::new("ssh-keygen")
                .args([
                    "-q",
                    "-t",
                    "ed25519",
                    "-N",
                    "",
                    "-C",
                    "orchestrator-testkit",
                    "-f",
                ])
                .arg(dir.join(name)),
        )?;
    }
    std::fs::copy(dir.join("id_ed25519.pub"), dir.join("authorized_keys"))
        .map_err(|e| failed(format!("cannot write authorized_keys: {e}")))?;
    // sshd refuses to start without its privilege-separation directory.
    std::fs::create_dir_all("/run/sshd")
        .map_err(|e| failed(format!("cannot create /run/sshd: {e}")))?;
    Ok(())
}

/// An sshd config listening on `addr:port`.
///
/// `SetEnv SHLVL=1` keeps root's `.bashrc` (which runs `pyenv init`, ~90 ms, and more) from
/// running for every remote command: Debian's bash sources `.bashrc` for commands from sshd
/// only at shell level 1, and inherits SHLVL=1 as level 2. Measured here: 155 ms per new
/// connection with it, 310 ms without.
pub(super) fn sshd_config(dir: &Path, addr: &str, port: u16) -> String {
    let d = dir.display();
    format!(
        "Port {port}\n\
         ListenAddress {addr}\n\
         HostKey {d}/host_ed25519\n\
         PidFile none\n\
         AuthorizedKeysFile {d}/authorized_keys\n\
         PermitRootLogin prohibit-password\n\
         PubkeyAuthentication yes\n\
         PasswordAuthentication no\n\
         KbdInteractiveAuthentication no\n\
         UsePAM no\n\
         StrictModes no\n\
         UseDNS no\n\
         PrintMotd no\n\
         PrintLastLog no\n\
         MaxStartups 100:30:200\n\
         MaxSessions 100\n\
         KexAlgorithms curve25519-sha256\n\
         ClientAliveInterval 1\n\
         ClientAliveCountMax 3\n\
         SetEnv SHLVL=1\n\
         LogLevel INFO\n"
    )
}

/// The client config every test uses with `ssh -F`: our key, our known_hosts, batch mode, the
/// fast key exchange, no multiplexing. `hosts` are `(address, port)` of every sshd.
pub(super) fn ssh_client_config(dir: &Path, hosts: &[(String, u16)]) -> String {
    let d = dir.display();
    let mut cfg = String::new();
    for (addr, port) in hosts {
        cfg.push_str(&format!("Host {addr}\n  Port {port}\n"));
    }
    cfg.push_str(&format!(
        "Host *\n  User root\n  IdentityFile {d}/id_ed25519\n  IdentitiesOnly yes\n  \
         BatchMode yes\n  UserKnownHostsFile {d}/known_hosts\n  GlobalKnownHostsFile /dev/null\n  \
         StrictHostKeyChecking yes\n  CheckHostIP no\n  UpdateHostKeys no\n  LogLevel ERROR\n  \
         KexAlgorithms curve25519-sha256\n  ControlMaster no\n  ControlPath none\n  \
         ConnectTimeout 10\n"
    ));
    cfg
}

/// known_hosts lines for every sshd (all share the host key in `dir`).
pub(super) fn known_hosts(dir: &Path, hosts: &[(String, u16)]) -> Result<String, StartError> {
    let pubkey = std::fs::read_to_string(dir.join("host_ed25519.pub"))
        .map_err(|e| failed(format!("cannot read host key: {e}")))?;
    let key: Vec<&str> = pubkey.split_whitespace().take(2).collect();
    let key = key.join(" ");
    Ok(hosts
        .iter()
        .map(|(addr, port)| format!("[{addr}]:{port} {key}\n"))
        .collect())
}

/// Writes a 1 KiB munge key readable by root only.
pub(super) fn write_munge_key(path: &Path) -> Result<(), StartError> {
    use std::io::Read;
    use std::os::unix::fs::PermissionsExt;
    let mut key = vec![0u8; 1024];
    File::open("/dev/urandom")
        .and_then(|mut f| f.read_exact(&mut key))
        .map_err(|e| failed(format!("cannot read /dev/urandom: {e}")))?;
    std::fs::write(path, &key).map_err(|e| failed(format!("cannot write munge key: {e}")))?;
    std::fs::set_permissions(path, std::fs::Permissions::from_mode(0o600))
        .map_err(|e| failed(format!("cannot chmod munge key: {e}")))?;
    Ok(())
}

/// Node line data for slurm.conf.
pub(super) struct SlurmNode {
    pub(super) name: String,
    pub(super) addr: String,
}

/// slurm.conf for a cluster whose controller listens on `ctl_addr:ctl_port` and whose nodes are
/// the namespace hosts (slurmd on port `slurmd_port` inside each namespace).
///
/// `proctrack/linuxproc` rather than `proctrack/cgroup`: it needs no cgroup hierarchy, so the
/// harness touches nothing machine-wide and two harnesses cannot collide in `/sys/fs/cgroup`.
/// Its known weakness (an orphan that escapes the step survives a time-limit kill) does not
/// matter for tests that kill `srun` and check with `pgrep`.
pub(super) fn slurm_conf(
    dir: &Path,
    cluster: &str,
    ctl: (&str, &str, u16),
    slurmd_port: u16,
    nodes: &[SlurmNode],
) -> String {
    let d = dir.display();
    let (ctl_name, ctl_addr, ctl_port) = ctl;
    let mut conf = format!(
        "ClusterName={cluster}\n\
         SlurmctldHost={ctl_name}({ctl_addr})\n\
         SlurmctldPort={ctl_port}\n\
         SlurmdPort={slurmd_port}\n\
         SlurmUser=root\n\
         SlurmdUser=root\n\
         AuthType=auth/munge\n\
         AuthInfo=socket={d}/munge/munge.sock\n\
         CredType=cred/munge\n\
         StateSaveLocation={d}/slurm/state\n\
         SlurmdSpoolDir={d}/slurm/spool/%n\n\
         SlurmctldPidFile={d}/slurm/slurmctld.pid\n\
         SlurmdPidFile={d}/slurm/slurmd.%n.pid\n\
         SlurmctldLogFile={d}/slurm/slurmctld.log\n\
         SlurmdLogFile={d}/slurm/slurmd.%n.log\n\
         ProctrackType=proctrack/linuxproc\n\
         TaskPlugin=task/none\n\
         JobAcctGatherType=jobacct_gather/none\n\
         AccountingStorageType=accounting_storage/none\n\
         MpiDefault=none\n\
         MailProg=/bin/true\n\
         SelectType=select/cons_tres\n\
         SelectTypeParameters=CR_CPU\n\
         SlurmdParameters=config_overrides\n\
         ReturnToService=2\n\
         KillWait=2\n\
         MinJobAge=2\n\
         InactiveLimit=0\n"
    );
    for node in nodes {
        conf.push_str(&format!(
            "NodeName={n} NodeHostname={n} NodeAddr={a} CPUs=2 State=UNKNOWN\n",
            n = node.name,
            a = node.addr
        ));
    }
    conf.push_str("PartitionName=orch Nodes=ALL Default=YES MaxTime=INFINITE State=UP\n");
    conf
}

/// A free TCP port on `addr` (bound and released; a small race we accept and detect, since the
/// daemon then fails to start and says so).
pub(super) fn free_port(addr: &str) -> Result<u16, StartError> {
    std::net::TcpListener::bind((addr, 0))
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .map_err(|e| failed(format!("cannot find a free port on {addr}: {e}")))
}
