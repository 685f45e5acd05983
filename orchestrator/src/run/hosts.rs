//! `run`'s jobs spread over hosts: their slots, ssh multiplexing, lost hosts.
//!
//! # Slots
//! Each sshlogin is a host with a number of slots (jobs at once): `N/` in the sshlogin; else the
//! `-j` given on the command line (per host, as in GNU parallel); else the host's core count,
//! asked once at start (`nproc` over ssh; this machine's for `:`); 1 if it cannot be told. A
//! job goes to the host with the most free slots, so jobs spread over every host.
//!
//! # Multiplexing
//! With [`HostsConfig::multiplex`], the orchestrator runs its own ssh ControlMaster per host
//! (one per [`SESSIONS_PER_MASTER`] slots) for the whole run, and jobs are sessions on it: the
//! connection cost is paid once per host instead of once per job. This is safe because jobs run
//! in [watched mode](crate::launch::watch): the remote side dies with its channel, and the
//! master closes a channel as soon as the job's local ssh dies. The masters start while the run
//! starts (that is also the reachability check); a host whose master cannot connect is left
//! out with a warning.
//!
//! # Lost hosts
//! ssh exits 255 when the connection fails or is lost (in watched mode a job killed by a
//! signal exits 128+N instead, so 255 is otherwise only a job's own `exit 255`). When a job on
//! a host ends with 255 and we did not stop it, the host becomes *suspect*: it gets no new job,
//! the job's result is held, and a check connects to it afresh (`ConnectTimeout`). If the check
//! succeeds, the host is cleared and held results are judged as usual (a job's own exit 255 is a
//! failure). If it fails, the host is **lost**: held jobs, and jobs still running there
//! (stopped now: their ssh may take the keep-alive time to notice), run again on other hosts,
//! without counting against `--retries`; the run goes on. A lost host is checked again after
//! 5 s, then 10, 20, 40 and every 60 s, and takes jobs again once it answers. If every host is
//! lost, the run stops.

use std::ffi::OsString;
use std::num::NonZeroU32;
use std::time::Duration;

use crossbeam_channel::Receiver;

use super::launcher::{Ended, HostEvent, Launch, LaunchFailed, Launcher, Verdict};
use crate::launch::{
    self, ControlDir, RemoteShell, SESSIONS_PER_MASTER, SshCommand, SshLogin, Target,
};
use crate::supervisor::Wake;

mod manager;

use manager::{Manager, Report, Startup};

/// What [`Hosts::start`] needs.
#[derive(Debug, Clone)]
pub struct HostsConfig {
    /// The hosts (`:` is this machine).
    pub logins: Vec<SshLogin>,
    /// The ssh command.
    pub ssh: SshCommand,
    /// Slots of a host whose sshlogin has no `N/` (`None`: its core count).
    pub default_slots: Option<NonZeroU32>,
    /// Run a ControlMaster per host and multiplex jobs over it.
    pub multiplex: bool,
    /// SIGTERM → SIGKILL grace for remote jobs (`--kill-after`).
    pub grace: Duration,
    /// How long a host may take to answer a connection or check.
    pub connect_within: Duration,
}

impl HostsConfig {
    /// `logins` through `ssh`, multiplexed, 2 s grace, 20 s to connect.
    pub fn new(logins: Vec<SshLogin>, ssh: SshCommand) -> Self {
        Self {
            logins,
            ssh,
            default_slots: None,
            multiplex: true,
            grace: crate::communicate::DEFAULT_GRACE,
            connect_within: Duration::from_secs(20),
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum State {
    Up,
    Suspect,
    Lost,
}

#[derive(Debug)]
struct Host {
    label: String,
    state: State,
    first_slot: usize,
    slots: usize,
    busy: usize,
    remote: bool,
}

#[derive(Debug)]
struct Slot {
    host: usize,
    busy: bool,
    launcher: launch::Launcher,
}

/// A [`Launcher`] over many hosts (see the module docs).
#[derive(Debug)]
pub struct Hosts {
    hosts: Vec<Host>,
    slots: Vec<Slot>,
    grace: Duration,
    manager: Manager,
    reports: Receiver<Report>,
    events: Vec<HostEvent>,
    cursor: usize,
    all_lost_told: bool,
}

impl Hosts {
    /// Connects to the hosts (masters, core counts where needed) and returns the launcher and
    /// warnings about hosts left out.
    ///
    /// # Errors
    /// No host can be used (each one's reason is in the message), or the control directory
    /// cannot be made.
    pub fn start(cfg: HostsConfig) -> Result<(Self, Vec<String>), String> {
        if cfg.logins.is_empty() {
            return Err("no hosts given".into());
        }
        let dir = if cfg.multiplex && cfg.logins.iter().any(|l| !l.is_local()) {
            Some(ControlDir::new().map_err(|e| format!("cannot make a control directory: {e}"))?)
        } else {
            None
        };
        let mut plan = Vec::with_capacity(cfg.logins.len());
        for login in &cfg.logins {
            let fixed = login
                .slots()
                .or(cfg.default_slots)
                .map(|n| n.get() as usize);
            let remote = match login.target() {
                Target::Local => None,
                Target::Remote(h) => Some(RemoteShell::new(cfg.ssh.clone(), h.clone())),
            };
            plan.push(manager::Plan {
                remote,
                fixed_slots: fixed,
            });
        }
        let (tx, reports) = crossbeam_channel::unbounded();
        let (manager, startup) = Manager::start(plan, dir, cfg.connect_within, tx)?;
        let mut hosts = Vec::new();
        let mut slots = Vec::new();
        let mut warnings = Vec::new();
        for (i, (login, up)) in cfg.logins.iter().zip(startup).enumerate() {
            let label = login.target().to_string();
            let Startup {
                slots: n,
                sockets,
                error,
            } = up;
            let state = match &error {
                Some(why) => {
                    warnings.push(format!("host {label} is not used: {why}"));
                    State::Lost
                }
                None => State::Up,
            };
            let first_slot = slots.len();
            for k in 0..n {
                let launcher = match login.target() {
                    Target::Local => launch::Launcher::Local,
                    Target::Remote(h) => {
                        let mut r = RemoteShell::new(cfg.ssh.clone(), h.clone());
                        if let Some(path) = sockets.get(k / SESSIONS_PER_MASTER) {
                            r = r.with_control_path(path);
                        }
                        launch::Launcher::RemoteShell(r)
                    }
                };
                slots.push(Slot {
                    host: i,
                    busy: false,
                    launcher,
                });
            }
            hosts.push(Host {
                label,
                state,
                first_slot,
                slots: n,
                busy: 0,
                remote: !login.is_local(),
            });
        }
        if hosts.iter().all(|h| h.state == State::Lost) {
            return Err(format!(
                "no host can be used: {}",
                warnings
                    .iter()
                    .map(|w| w.trim_start_matches("host "))
                    .collect::<Vec<_>>()
                    .join("; ")
            ));
        }
        Ok((
            Self {
                hosts,
                slots,
                grace: cfg.grace,
                manager,
                reports,
                events: Vec::new(),
                cursor: 0,
                all_lost_told: false,
            },
            warnings,
        ))
    }

    /// Slots on hosts that take jobs now.
    pub fn usable_slots(&self) -> usize {
        self.hosts
            .iter()
            .filter(|h| h.state == State::Up)
            .map(|h| h.slots)
            .sum()
    }

    /// Every host with its slot count and whether it takes jobs: for messages.
    pub fn describe(&self) -> Vec<(String, usize, bool)> {
        self.hosts
            .iter()
            .map(|h| (h.label.clone(), h.slots, h.state == State::Up))
            .collect()
    }

    /// The usable host with the most free slots (round-robin among equals).
    fn pick_host(&mut self) -> Option<usize> {
        let n = self.hosts.len();
        let mut best: Option<(usize, usize)> = None;
        for i in 0..n {
            let h = (self.cursor + i) % n;
            let host = &self.hosts[h];
            if host.state != State::Up || host.busy >= host.slots {
                continue;
            }
            let free = host.slots - host.busy;
            if best.is_none_or(|(_, f)| free > f) {
                best = Some((h, free));
            }
        }
        let (h, _) = best?;
        self.cursor = (h + 1) % n;
        Some(h)
    }

    fn check(&mut self, host: usize) {
        if self.hosts[host].state == State::Up {
            self.hosts[host].state = State::Suspect;
            self.manager.check(host);
        }
    }

    fn any_usable(&self) -> bool {
        self.hosts.iter().any(|h| h.state != State::Lost)
    }
}

impl Launcher for Hosts {
    fn prepare(
        &mut self,
        _seq: u64,
        _attempt: u32,
        argv: &[OsString],
    ) -> Result<Launch, LaunchFailed> {
        let h = self.pick_host().ok_or_else(|| LaunchFailed {
            host: "?".into(),
            error: "no host has a free slot".into(),
        })?;
        let host = &self.hosts[h];
        let token = (host.first_slot..host.first_slot + host.slots)
            .find(|&s| !self.slots[s].busy)
            .expect("a host with busy < slots has a free slot");
        let label = host.label.clone();
        let cmd = self.slots[token]
            .launcher
            .job_command_for(argv, &[], self.grace)
            .map_err(|e| LaunchFailed {
                host: label.clone(),
                error: e.to_string(),
            })?;
        self.slots[token].busy = true;
        self.hosts[h].busy += 1;
        Ok(Launch {
            argv: cmd.argv().to_vec(),
            host: label,
            token,
            lifeline: cmd.needs_lifeline(),
        })
    }

    fn finished(&mut self, launch: &Launch, ended: Option<Ended>) -> Verdict {
        let Some(slot) = self.slots.get_mut(launch.token) else {
            return Verdict::Done;
        };
        if slot.busy {
            slot.busy = false;
            self.hosts[slot.host].busy -= 1;
        }
        let h = slot.host;
        let lost_code = ended.is_some_and(|e| {
            !e.stopped_by_us && e.status.code() == Some(255) && self.hosts[h].remote
        });
        if !lost_code {
            return Verdict::Done;
        }
        match self.hosts[h].state {
            State::Lost => Verdict::HostLost,
            State::Up => {
                self.check(h);
                Verdict::HostSuspect
            }
            State::Suspect => Verdict::HostSuspect,
        }
    }

    fn has_room(&self) -> bool {
        self.hosts
            .iter()
            .any(|h| h.state == State::Up && h.busy < h.slots)
    }

    fn same_host(&self, a: usize, b: usize) -> bool {
        match (self.slots.get(a), self.slots.get(b)) {
            (Some(x), Some(y)) => x.host == y.host,
            _ => false,
        }
    }

    fn events(&mut self) -> Vec<HostEvent> {
        while let Ok(report) = self.reports.try_recv() {
            match report {
                Report::Cleared(h) => {
                    if self.hosts[h].state == State::Suspect {
                        self.hosts[h].state = State::Up;
                    }
                    self.events.push(HostEvent::Cleared {
                        token: self.hosts[h].first_slot,
                    });
                }
                Report::Dropped(h) => {
                    if self.hosts[h].state == State::Suspect {
                        self.hosts[h].state = State::Up;
                    }
                    self.events.push(HostEvent::Dropped {
                        token: self.hosts[h].first_slot,
                        host: self.hosts[h].label.clone(),
                    });
                }
                Report::Lost(h, why) => {
                    self.hosts[h].state = State::Lost;
                    self.events.push(HostEvent::Lost {
                        token: self.hosts[h].first_slot,
                        host: self.hosts[h].label.clone(),
                        why,
                    });
                }
                Report::Back(h) => {
                    if self.hosts[h].state == State::Lost {
                        self.hosts[h].state = State::Up;
                        self.events.push(HostEvent::Back {
                            host: self.hosts[h].label.clone(),
                        });
                    }
                }
            }
        }
        if !self.any_usable() && !self.all_lost_told {
            self.all_lost_told = true;
            self.events.push(HostEvent::AllLost);
        }
        std::mem::take(&mut self.events)
    }

    fn set_waker(&mut self, wake: Wake) {
        self.manager.set_waker(wake);
    }
}
