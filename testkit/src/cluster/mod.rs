//! A multi-host test cluster on one machine: a sshd on 127.0.0.1, network-namespace hosts with
//! their own hostname and sshd on a private bridge, and a Slurm cluster with one slurmd per
//! namespace host.
//!
//! ```text
//!  root namespace                                 namespace otkShI (I = 1..=hosts)
//!  ─────────────────────────────────────          ──────────────────────────────────
//!  sshd 127.0.0.1:<free port>                     hostname orch-hI (own UTS namespace)
//!  munged (socket in the temp dir)                eth0 10.77.S.(10+I)/24 ── veth ──┐
//!  slurmctld 10.77.S.1:<free port>, own UTS                                       │
//!  bridge otkbrS 10.77.S.1/24 ◄───────────────────────────────────────────────────┘
//!                                                 sshd 10.77.S.(10+I):2222
//!                                                 slurmd -N orch-hI (port 6818)
//! ```
//!
//! Only 127.0.0.1 and the bridge's subnet are ever addressed. All state lives in a temp dir;
//! nothing touches the system's sshd config, `/root/.ssh`, port 22 or the cgroup tree. Every
//! daemon is started in the foreground under `setpriv --pdeathsig KILL` and stopped by PID
//! (with its descendants); at teardown every process left in a namespace is killed by PID, and
//! the veths, namespaces and bridge are deleted. [`Cluster`]'s `Drop` tears down, so a test that
//! fails or panics still cleans up; a harness killed outright leaves the network behind, and the
//! next harness on the same slot removes it (see the notes in `net.rs`). The daemons die with it.
//!
//! Where the machine cannot host the cluster (not root, no namespaces, a package missing),
//! [`Cluster::start`] returns [`StartError::Unavailable`] with the reason, and the tests that
//! need it are skipped ([`suite::run_suite`] prints and records the skip). Slurm is optional
//! within a cluster: without its packages, the ssh hosts still come up and only the Slurm cases
//! skip.

mod daemons;
mod net;
pub mod procs;
pub mod suite;

use std::ffi::OsString;
use std::net::Ipv4Addr;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use daemons::{Daemon, SlurmNode};
pub use procs::ProcInfo;

/// Port every namespace host's sshd listens on (inside its own network namespace).
pub const NS_SSH_PORT: u16 = 2222;
/// Port every slurmd listens on (inside its own network namespace).
const SLURMD_PORT: u16 = 6818;
/// Environment variable that turns the cluster tests off (`0`, `off`, `skip`, `no`).
pub const ENABLE_VAR: &str = "ORCHESTRATOR_CLUSTER_TESTS";

/// What to start.
#[derive(Debug, Clone)]
pub struct ClusterOptions {
    /// Number of namespace hosts, 1..=8.
    pub hosts: usize,
    /// Start Slurm (munged, slurmctld, one slurmd per host) if its packages are installed.
    pub slurm: bool,
}

impl Default for ClusterOptions {
    /// Three hosts and Slurm.
    fn default() -> Self {
        Self {
            hosts: 3,
            slurm: true,
        }
    }
}

/// Why a cluster did not start.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum StartError {
    /// The machine cannot host it (permissions, packages, opted out): skip the tests, saying why.
    Unavailable(String),
    /// It should have started and did not: a failure, with the daemon's log.
    Failed(String),
}

impl std::fmt::Display for StartError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Self::Unavailable(why) => write!(f, "unavailable: {why}"),
            Self::Failed(why) => write!(f, "failed to start: {why}"),
        }
    }
}

/// One namespace host.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NsHost {
    /// 1-based index.
    pub index: usize,
    /// Its hostname (`orch-hI`), which is also its Slurm node name.
    pub hostname: String,
    /// Its network namespace's name (`ip netns exec NAME ...`).
    pub netns: String,
    /// Its address on the bridge.
    pub addr: Ipv4Addr,
    /// Its sshd's port.
    pub ssh_port: u16,
}

impl NsHost {
    /// `root@ADDR`, for `ssh -F <config>` (the config sets the port).
    pub fn ssh_target(&self) -> String {
        format!("root@{}", self.addr)
    }

    /// GNU parallel's sshlogin, `N/root@ADDR` (the port comes from the ssh config).
    pub fn sshlogin(&self, slots: u32) -> String {
        format!("{slots}/root@{}", self.addr)
    }

    /// `/run/netns/NAME`.
    pub fn netns_path(&self) -> PathBuf {
        Path::new("/run/netns").join(&self.netns)
    }
}

/// A running test cluster. Dropping it tears everything down.
#[derive(Debug)]
pub struct Cluster {
    slot: net::Slot,
    dir: PathBuf,
    hosts: Vec<NsHost>,
    loopback_port: u16,
    loopback_hostname: String,
    ssh_config: PathBuf,
    slurm_conf: Option<PathBuf>,
    slurm_unavailable: Option<String>,
    setup_time: Duration,
    inner: Mutex<Inner>,
}

#[derive(Debug)]
struct Inner {
    /// In start order; torn down in reverse.
    daemons: Vec<Daemon>,
    tempdir: Option<tempfile::TempDir>,
    torn_down: bool,
}

/// Programs the ssh part needs, with the package that brings each.
const SSH_TOOLS: &[(&str, &str)] = &[
    ("ip", "iproute2"),
    ("nsenter", "util-linux"),
    ("unshare", "util-linux"),
    ("setpriv", "util-linux"),
    ("sshd", "openssh-server"),
    ("ssh", "openssh-client"),
    ("ssh-keygen", "openssh-client"),
    ("kill", "procps"),
];
/// Programs the Slurm part needs.
const SLURM_TOOLS: &[(&str, &str)] = &[
    ("munged", "munge"),
    ("slurmctld", "slurmctld"),
    ("slurmd", "slurmd"),
    ("srun", "slurm-client"),
    ("sinfo", "slurm-client"),
];

impl Cluster {
    /// Starts a cluster. Call it from the thread that will outlive the cluster (the main
    /// thread): the daemons' parent-death signal is tied to that thread.
    ///
    /// # Errors
    /// [`StartError::Unavailable`] when this machine cannot host it (the caller skips, printing
    /// the reason); [`StartError::Failed`] when something that should work did not.
    pub fn start(opts: &ClusterOptions) -> Result<Cluster, StartError> {
        let t0 = Instant::now();
        if !(1..=8).contains(&opts.hosts) {
            return Err(StartError::Failed(format!(
                "hosts must be 1..=8, not {}",
                opts.hosts
            )));
        }
        if let Ok(v) = std::env::var(ENABLE_VAR)
            && matches!(v.as_str(), "0" | "off" | "skip" | "no" | "false")
        {
            return Err(StartError::Unavailable(format!(
                "turned off by {ENABLE_VAR}={v}"
            )));
        }
        check_root()?;
        if let Some(missing) = missing_tool(SSH_TOOLS) {
            return Err(StartError::Unavailable(missing));
        }
        let slurm_unavailable = if !opts.slurm {
            Some("Slurm not requested".to_string())
        } else {
            missing_tool(SLURM_TOOLS)
        };

        let slot = net::take_slot()?;
        std::fs::create_dir_all(slot.dir())
            .map_err(|e| StartError::Unavailable(format!("cannot create slot dir: {e}")))?;
        let tempdir = tempfile::Builder::new()
            .prefix("run-")
            .tempdir_in(slot.dir())
            .map_err(|e| StartError::Unavailable(format!("cannot create a temp dir: {e}")))?;
        let dir = tempdir.path().to_path_buf();
        let hosts: Vec<NsHost> = (1..=opts.hosts)
            .map(|i| NsHost {
                index: i,
                hostname: format!("orch-h{i}"),
                netns: slot.netns(i),
                addr: slot.addr(i),
                ssh_port: NS_SSH_PORT,
            })
            .collect();
        let loopback_hostname = std::fs::read_to_string("/proc/sys/kernel/hostname")
            .map(|h| h.trim().to_string())
            .unwrap_or_default();

        // From here on, `cluster`'s Drop cleans up whatever was made, on every error path.
        let mut cluster = Cluster {
            dir: dir.clone(),
            ssh_config: dir.join("ssh_config"),
            hosts,
            loopback_port: 0,
            loopback_hostname,
            slurm_conf: None,
            slurm_unavailable,
            setup_time: Duration::ZERO,
            inner: Mutex::new(Inner {
                daemons: Vec::new(),
                tempdir: Some(tempdir),
                torn_down: false,
            }),
            slot,
        };
        net::create_bridge(&cluster.slot)?;
        for host in &cluster.hosts {
            net::create_host_netns(&cluster.slot, host.index)?;
        }
        cluster.start_ssh()?;
        if cluster.slurm_unavailable.is_none() {
            cluster.start_slurm()?;
        }
        cluster.setup_time = t0.elapsed();
        Ok(cluster)
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Inner> {
        self.inner.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Spawns a daemon and waits until `ready(pid)` holds; then records it for teardown. A
    /// daemon that does not get ready is killed here. (Until it is recorded, a harness killed by
    /// a signal still takes it along through the parent-death signal.)
    fn start_daemon(
        &self,
        name: &str,
        cmd: Command,
        log: &Path,
        what: &str,
        mut ready: impl FnMut(u32) -> bool,
    ) -> Result<u32, StartError> {
        let mut daemon = Daemon::spawn(name, cmd, log)?;
        let pid = daemon.pid();
        if let Err(e) = daemon.wait_ready(Duration::from_secs(20), what, || ready(pid)) {
            daemon.kill();
            return Err(e);
        }
        self.lock().daemons.push(daemon);
        Ok(pid)
    }

    fn start_ssh(&mut self) -> Result<(), StartError> {
        let dir = self.dir.clone();
        daemons::make_ssh_keys(&dir)?;
        let sshd = which("sshd").unwrap_or_else(|| PathBuf::from("/usr/sbin/sshd"));
        for host in self.hosts.clone() {
            // The anchor holds the host's UTS namespace (its hostname), which sshd and slurmd join.
            let mut anchor = Command::new("nsenter");
            anchor
                .arg(format!("--net={}", host.netns_path().display()))
                .args(["--", "unshare", "--uts", "--", "sh", "-c"])
                .arg(r#"hostname "$1" && exec setpriv --pdeathsig KILL -- sleep infinity"#)
                .args(["sh", &host.hostname]);
            let log = dir.join(format!("anchor-{}.log", host.hostname));
            let anchor_pid = self.start_daemon(
                &format!("anchor of {}", host.hostname),
                anchor,
                &log,
                "the hostname set",
                |pid| {
                    std::fs::read_to_string(format!("/proc/{pid}/comm"))
                        .is_ok_and(|c| c.trim() == "sleep")
                },
            )?;
            let cfg = dir.join(format!("sshd-{}.config", host.hostname));
            write(
                &cfg,
                &daemons::sshd_config(&dir, &host.addr.to_string(), host.ssh_port),
            )?;
            self.start_host_sshd(&host, anchor_pid)?;
        }
        self.start_loopback_sshd(&sshd)?;

        let mut endpoints: Vec<(String, u16)> = self
            .hosts
            .iter()
            .map(|h| (h.addr.to_string(), h.ssh_port))
            .collect();
        endpoints.push(("127.0.0.1".to_string(), self.loopback_port));
        write(
            &dir.join("known_hosts"),
            &daemons::known_hosts(&dir, &endpoints)?,
        )?;
        write(
            &self.ssh_config,
            &daemons::ssh_client_config(&dir, &endpoints),
        )?;
        Ok(())
    }

    /// Starts `host`'s sshd (its config is in the temp dir) and waits until it listens.
    fn start_host_sshd(&self, host: &NsHost, anchor_pid: u32) -> Result<(), StartError> {
        let sshd = which("sshd").unwrap_or_else(|| PathBuf::from("/usr/sbin/sshd"));
        let cfg = self.dir.join(format!("sshd-{}.config", host.hostname));
        // A log per start: "Server listening" must come from this one.
        let n = self.lock().daemons.len();
        let log = self.dir.join(format!("sshd-{}-{n}.log", host.hostname));
        let mut cmd = self.in_host_cmd(host, anchor_pid);
        cmd.args(["setpriv", "--pdeathsig", "KILL", "--"])
            .arg(&sshd)
            .args(["-D", "-f"])
            .arg(&cfg)
            .arg("-E")
            .arg(&log);
        let log2 = log.clone();
        self.start_daemon(
            &format!("sshd of {}", host.hostname),
            cmd,
            &log,
            "`Server listening`",
            |_| daemons::log_contains(&log2, "Server listening on"),
        )?;
        Ok(())
    }

    /// Kills `host`'s sshd and every ssh session it serves (by PID), as when sshd dies or is
    /// stopped on a machine: open connections drop, new ones are refused. The host's other
    /// processes keep running. [`Cluster::restart_sshd`] brings it back.
    ///
    /// # Errors
    /// If the host's sshd is not running.
    pub fn kill_sshd(&self, host: &NsHost) -> Result<(), String> {
        let name = format!("sshd of {}", host.hostname);
        let daemon = {
            let mut inner = self.lock();
            let i = inner
                .daemons
                .iter()
                .position(|d| d.name == name)
                .ok_or_else(|| format!("{name} is not running"))?;
            inner.daemons.remove(i)
        };
        let mut daemon = daemon;
        daemon.kill();
        // The per-connection sshd processes (they left the listener's process tree when it
        // re-exec'd them, so look in the namespace).
        let sessions: Vec<u32> = self
            .pids_in(host)
            .into_iter()
            .filter(|&p| {
                std::fs::read_to_string(format!("/proc/{p}/comm")).is_ok_and(|c| c.trim() == "sshd")
            })
            .collect();
        procs::kill_pids(&sessions, "KILL");
        Ok(())
    }

    /// Starts `host`'s sshd again after [`Cluster::kill_sshd`].
    ///
    /// # Errors
    /// If it does not come up.
    pub fn restart_sshd(&self, host: &NsHost) -> Result<(), String> {
        let anchor = self.anchor_pid(host);
        self.start_host_sshd(host, anchor)
            .map_err(|e| e.to_string())
    }

    fn start_loopback_sshd(&mut self, sshd: &Path) -> Result<(), StartError> {
        let mut last_error = None;
        for attempt in 0..3 {
            let port = daemons::free_port("127.0.0.1")?;
            let cfg = self.dir.join(format!("sshd-loopback-{attempt}.config"));
            write(&cfg, &daemons::sshd_config(&self.dir, "127.0.0.1", port))?;
            let log = self.dir.join(format!("sshd-loopback-{attempt}.log"));
            let mut cmd = Command::new("setpriv");
            cmd.args(["--pdeathsig", "KILL", "--"])
                .arg(sshd)
                .args(["-D", "-f"])
                .arg(&cfg)
                .arg("-E")
                .arg(&log);
            let log2 = log.clone();
            match self.start_daemon("loopback sshd", cmd, &log, "`Server listening`", |_| {
                daemons::log_contains(&log2, "Server listening on")
            }) {
                Ok(_) => {
                    self.loopback_port = port;
                    return Ok(());
                }
                // Another process took the port between our probe and sshd's bind: try another.
                Err(e) => last_error = Some(e),
            }
        }
        Err(last_error.unwrap_or_else(|| StartError::Failed("loopback sshd".into())))
    }

    fn start_slurm(&mut self) -> Result<(), StartError> {
        let dir = self.dir.clone();
        for sub in ["munge", "slurm/state", "slurm/spool"] {
            std::fs::create_dir_all(dir.join(sub))
                .map_err(|e| StartError::Failed(format!("cannot create {sub}: {e}")))?;
        }
        let key = dir.join("munge/munge.key");
        daemons::write_munge_key(&key)?;
        let sock = dir.join("munge/munge.sock");
        let mut munged = Command::new("setpriv");
        munged
            .args(["--pdeathsig", "KILL", "--", "munged", "-F", "-f"])
            .arg(format!("--key-file={}", key.display()))
            .arg(format!("--socket={}", sock.display()))
            .arg(format!(
                "--pid-file={}",
                dir.join("munge/munged.pid").display()
            ))
            .arg(format!(
                "--log-file={}",
                dir.join("munge/munged.log").display()
            ))
            .arg(format!("--seed-file={}", dir.join("munge/seed").display()));
        let sock2 = sock.clone();
        self.start_daemon(
            "munged",
            munged,
            &dir.join("munge/stderr.log"),
            "its socket",
            |_| sock2.exists(),
        )?;

        let gateway = self.slot.gateway().to_string();
        let ctl_port = daemons::free_port("0.0.0.0")?;
        let ctl_name = format!("otkctl{}", self.slot.index);
        let nodes: Vec<SlurmNode> = self
            .hosts
            .iter()
            .map(|h| SlurmNode {
                name: h.hostname.clone(),
                addr: h.addr.to_string(),
            })
            .collect();
        let conf = dir.join("slurm/slurm.conf");
        write(
            &conf,
            &daemons::slurm_conf(
                &dir,
                &format!("otk{}", self.slot.index),
                (&ctl_name, &gateway, ctl_port),
                SLURMD_PORT,
                &nodes,
            ),
        )?;
        // slurmctld only runs on the host named in SlurmctldHost: give it that hostname in a
        // UTS namespace of its own rather than depend on the machine's name.
        let mut ctld = Command::new("unshare");
        ctld.args(["--uts", "--", "sh", "-c"])
            .arg(r#"hostname "$1" && exec setpriv --pdeathsig KILL -- slurmctld -D -c -f "$2""#)
            .arg("sh")
            .arg(&ctl_name)
            .arg(&conf);
        let ctl_log = dir.join("slurm/slurmctld.log");
        self.start_daemon(
            "slurmctld",
            ctld,
            &dir.join("slurm/slurmctld.stderr"),
            "`Running as primary controller`",
            |_| daemons::log_contains(&ctl_log, "Running as primary controller"),
        )?;
        for host in self.hosts.clone() {
            std::fs::create_dir_all(dir.join("slurm/spool").join(&host.hostname))
                .map_err(|e| StartError::Failed(format!("cannot create spool dir: {e}")))?;
            let anchor = self.anchor_pid(&host);
            let mut cmd = self.in_host_cmd(&host, anchor);
            cmd.args(["setpriv", "--pdeathsig", "KILL", "--", "slurmd", "-D", "-N"])
                .arg(&host.hostname)
                .arg("-f")
                .arg(&conf);
            let log = dir.join(format!("slurm/slurmd-{}.stderr", host.hostname));
            let node_log = dir.join(format!("slurm/slurmd.{}.log", host.hostname));
            self.start_daemon(
                &format!("slurmd of {}", host.hostname),
                cmd,
                &log,
                "`slurmd started`",
                |_| daemons::log_contains(&node_log, "slurmd started"),
            )?;
        }
        self.slurm_conf = Some(conf);
        self.wait_nodes_idle(Duration::from_secs(20))
    }

    fn wait_nodes_idle(&self, within: Duration) -> Result<(), StartError> {
        let deadline = Instant::now() + within;
        let mut last = String::new();
        while Instant::now() < deadline {
            let out = self
                .slurm_cmd("sinfo")
                .args(["-h", "-N", "-o", "%N %t"])
                .output();
            if let Ok(out) = out {
                last = String::from_utf8_lossy(&out.stdout).into_owned();
                let idle = last.lines().filter(|l| l.ends_with(" idle")).count();
                if idle == self.hosts.len() {
                    return Ok(());
                }
            }
            std::thread::sleep(Duration::from_millis(100));
        }
        Err(StartError::Failed(format!(
            "Slurm nodes not idle within {within:?}; sinfo says:\n{last}\nslurmctld log ends:\n{}",
            daemons::log_tail(&self.dir.join("slurm/slurmctld.log"))
        )))
    }

    /// `nsenter` into host's network namespace and its anchor's UTS namespace, ready for the
    /// program's words. (`nsenter`, not `ip netns exec`: the latter remounts /sys.)
    fn in_host_cmd(&self, host: &NsHost, anchor_pid: u32) -> Command {
        let mut cmd = Command::new("nsenter");
        cmd.arg(format!("--net={}", host.netns_path().display()))
            .arg(format!("--uts=/proc/{anchor_pid}/ns/uts"))
            .arg("--");
        cmd
    }

    fn anchor_pid(&self, host: &NsHost) -> u32 {
        let name = format!("anchor of {}", host.hostname);
        self.lock()
            .daemons
            .iter()
            .find(|d| d.name == name)
            .map_or(0, Daemon::pid)
    }

    /// A command that runs inside `host` (its network and UTS namespaces): e.g.
    /// `cluster.exec_in(host).args(["pgrep", "-f", mark])`. Note that the PID namespace is shared,
    /// so `pgrep` sees every process; use [`Cluster::marked_in`] to look at one host.
    pub fn exec_in(&self, host: &NsHost) -> Command {
        self.in_host_cmd(host, self.anchor_pid(host))
    }

    /// The namespace hosts.
    pub fn hosts(&self) -> &[NsHost] {
        &self.hosts
    }

    /// The loopback sshd's port (on 127.0.0.1).
    pub fn loopback_port(&self) -> u16 {
        self.loopback_port
    }

    /// This machine's hostname, which `ssh 127.0.0.1 hostname` returns.
    pub fn loopback_hostname(&self) -> &str {
        &self.loopback_hostname
    }

    /// The ssh client config: `ssh -F <this> root@ADDR` reaches every host with no prompt.
    pub fn ssh_config(&self) -> &Path {
        &self.ssh_config
    }

    /// `["ssh", "-F", <config>]`.
    pub fn ssh_command(&self) -> Vec<OsString> {
        vec!["ssh".into(), "-F".into(), self.ssh_config.clone().into()]
    }

    /// `ssh -F <config> <target> <remote command>` as a ready `Command`.
    pub fn ssh(&self, target: &str, remote: &str) -> Command {
        let mut cmd = Command::new("ssh");
        cmd.arg("-F").arg(&self.ssh_config).arg(target).arg(remote);
        cmd
    }

    /// Every namespace host's sshlogin with `slots` slots (`N/root@ADDR`).
    pub fn sshlogins(&self, slots: u32) -> Vec<String> {
        self.hosts.iter().map(|h| h.sshlogin(slots)).collect()
    }

    /// Writes a `--hosts` file with every namespace host's sshlogin, and returns its path.
    ///
    /// # Panics
    /// If the temp dir cannot be written (the cluster is unusable then).
    pub fn hosts_file(&self, slots: u32) -> PathBuf {
        let path = self.dir.join(format!("hosts-{slots}.txt"));
        let text = format!("# test cluster\n{}\n", self.sshlogins(slots).join("\n"));
        std::fs::write(&path, text).expect("the cluster's temp dir is writable");
        path
    }

    /// `Some(reason)` if Slurm is not running in this cluster.
    pub fn slurm_unavailable(&self) -> Option<&str> {
        self.slurm_unavailable.as_deref()
    }

    /// The environment that Slurm commands need (`SLURM_CONF`); empty without Slurm.
    pub fn slurm_env(&self) -> Vec<(OsString, OsString)> {
        self.slurm_conf
            .iter()
            .map(|c| (OsString::from("SLURM_CONF"), c.clone().into_os_string()))
            .collect()
    }

    /// A Slurm client command (`srun`, `sinfo`, `scancel`, ...) with [`Cluster::slurm_env`] set.
    pub fn slurm_cmd(&self, program: &str) -> Command {
        let mut cmd = Command::new(program);
        cmd.envs(self.slurm_env());
        cmd
    }

    /// Live processes in `host`'s network namespace (what `ip netns pids` lists).
    pub fn pids_in(&self, host: &NsHost) -> Vec<u32> {
        procs::pids_in_netns(&host.netns_path())
    }

    /// Live processes in `host` whose environment carries `TESTKIT_LEAK_MARK=mark`: remote
    /// processes do not inherit a local mark, so tests pass it explicitly (`env
    /// TESTKIT_LEAK_MARK=mark CMD` in the remote command; srun propagates it by itself).
    pub fn marked_in(&self, host: &NsHost, mark: &str) -> Vec<u32> {
        let needle = format!("{}={mark}", crate::MARK_VAR);
        self.pids_in(host)
            .into_iter()
            .filter(|&pid| procs::environ_has(pid, &needle))
            .collect()
    }

    /// Waits up to `within` until no process in `host` carries `mark`.
    ///
    /// # Errors
    /// The survivors (which are then killed by PID).
    pub fn wait_none_marked(
        &self,
        host: &NsHost,
        mark: &str,
        within: Duration,
    ) -> Result<(), Vec<ProcInfo>> {
        let left = procs::wait_until_empty(within, || self.marked_in(host, mark));
        if left.is_empty() {
            return Ok(());
        }
        let described = procs::describe(&left);
        procs::kill_pids(&left, "KILL");
        Err(described)
    }

    /// Waits up to `within` until some process in `host` carries `mark`; returns their PIDs.
    pub fn wait_marked(&self, host: &NsHost, mark: &str, within: Duration) -> Vec<u32> {
        let deadline = Instant::now() + within;
        loop {
            let found = self.marked_in(host, mark);
            if !found.is_empty() || Instant::now() >= deadline {
                return found;
            }
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    /// Takes `host`'s link down (`up = false`) or up again: the host is unreachable but its
    /// processes keep running, as when a machine drops off the network.
    ///
    /// # Errors
    /// `ip`'s message.
    pub fn set_link(&self, host: &NsHost, up: bool) -> Result<(), String> {
        net::set_link(&self.slot, host.index, up)
    }

    /// How long [`Cluster::start`] took.
    pub fn setup_time(&self) -> Duration {
        self.setup_time
    }

    /// A one-line description for logs.
    pub fn describe(&self) -> String {
        let hosts: Vec<String> = self
            .hosts
            .iter()
            .map(|h| format!("{}={}", h.hostname, h.addr))
            .collect();
        format!(
            "slot {}, hosts {}, loopback sshd 127.0.0.1:{}, slurm {}, dir {}",
            self.slot.index,
            hosts.join(" "),
            self.loopback_port,
            self.slurm_unavailable
                .as_deref()
                .map_or("up".to_string(), |why| format!("off ({why})")),
            self.dir.display()
        )
    }

    /// Stops everything by PID and deletes the network and the temp dir. Idempotent; `Drop`
    /// calls it. Problems are printed, not raised: teardown must always run to the end.
    pub fn teardown(&self) {
        let mut inner = self.lock();
        if inner.torn_down {
            return;
        }
        inner.torn_down = true;
        while let Some(mut daemon) = inner.daemons.pop() {
            daemon.kill();
        }
        for host in &self.hosts {
            let path = host.netns_path();
            let left = procs::wait_until_empty(Duration::from_secs(3), || {
                let pids = procs::pids_in_netns(&path);
                procs::kill_pids(&pids, "KILL");
                pids
            });
            if !left.is_empty() {
                eprintln!(
                    "testkit: processes left in {} after SIGKILL: {:?}",
                    host.netns,
                    procs::describe(&left)
                );
            }
        }
        if let Some(dir) = inner.tempdir.take()
            && let Err(e) = dir.close()
        {
            eprintln!("testkit: cannot remove the cluster's temp dir: {e}");
        }
        // Deletes the veths, the namespaces and the bridge.
        net::clear_slot(&self.slot);
    }
}

impl Drop for Cluster {
    fn drop(&mut self) {
        self.teardown();
    }
}

fn write(path: &Path, text: &str) -> Result<(), StartError> {
    std::fs::write(path, text)
        .map_err(|e| StartError::Failed(format!("cannot write {}: {e}", path.display())))
}

fn check_root() -> Result<(), StartError> {
    let status = std::fs::read_to_string("/proc/self/status").unwrap_or_default();
    let euid = status
        .lines()
        .find_map(|l| l.strip_prefix("Uid:"))
        .and_then(|l| l.split_whitespace().nth(1))
        .unwrap_or("?");
    if euid != "0" {
        return Err(StartError::Unavailable(format!(
            "needs root to create network namespaces and a bridge (effective uid {euid})"
        )));
    }
    Ok(())
}

/// The first missing program, as a reason naming its package.
fn missing_tool(tools: &[(&str, &str)]) -> Option<String> {
    tools
        .iter()
        .find(|(p, _)| which(p).is_none())
        .map(|(p, pkg)| format!("`{p}` not found (apt-get install {pkg}; .ci/run installs it)"))
}

/// Looks `program` up in PATH and the sbin directories (which root's PATH may lack).
fn which(program: &str) -> Option<PathBuf> {
    let path = std::env::var_os("PATH").unwrap_or_default();
    std::env::split_paths(&path)
        .chain(["/usr/sbin", "/sbin", "/usr/bin", "/bin"].map(PathBuf::from))
        .map(|d| d.join(program))
        .find(|p| p.is_file())
}
