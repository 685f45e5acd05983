//! The private network: a slot lock, a bridge, and one network namespace per host.
//!
//! Several harnesses may run at once on one machine (two checkouts running `make test`), so each
//! takes a *slot* S, held by an exclusive lock on `/tmp/orchestrator-testkit/slot-S.lock` for
//! its whole life (the kernel drops the lock when the process dies, however it dies). Slot S
//! owns, and only touches:
//! - the bridge `otkbrS` with address 10.77.S.1/24 (no route, no forwarding, no NAT),
//! - the namespaces `otkShI` with `eth0` = 10.77.S.(10+I)/24, linked by the veth `otkSvI`,
//! - its temp dirs under `/tmp/orchestrator-testkit/slot-S/`.
//!
//! A harness that was SIGKILLed leaves these behind; the next harness that takes slot S removes
//! them first (it holds the lock, so nobody else is using them). A slot whose subnet is already
//! used by an interface that is not ours is passed over.

use std::fs::{File, OpenOptions};
use std::net::Ipv4Addr;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;

use super::StartError;
use super::procs;

/// Number of slots, so at most this many harnesses at once.
pub(super) const SLOTS: u8 = 16;

/// Where slot locks and temp dirs live.
pub(super) fn base_dir() -> PathBuf {
    PathBuf::from("/tmp/orchestrator-testkit")
}

/// A held slot: the lock stays held while this value lives.
#[derive(Debug)]
pub(super) struct Slot {
    pub(super) index: u8,
    _lock: File,
}

impl Slot {
    /// The bridge's name.
    pub(super) fn bridge(&self) -> String {
        format!("otkbr{}", self.index)
    }

    /// The bridge's address, which the root namespace (slurmctld, the tests) uses.
    pub(super) fn gateway(&self) -> Ipv4Addr {
        Ipv4Addr::new(10, 77, self.index, 1)
    }

    /// Namespace name of host `i` (1-based).
    pub(super) fn netns(&self, i: usize) -> String {
        format!("otk{}h{i}", self.index)
    }

    /// Root-side veth name of host `i`.
    pub(super) fn veth(&self, i: usize) -> String {
        format!("otk{}v{i}", self.index)
    }

    /// Address of host `i`.
    pub(super) fn addr(&self, i: usize) -> Ipv4Addr {
        // Hosts are 1..=8 (checked by the options), so 10 + i fits.
        Ipv4Addr::new(10, 77, self.index, 10 + i as u8)
    }

    /// This slot's directory for temp dirs.
    pub(super) fn dir(&self) -> PathBuf {
        base_dir().join(format!("slot-{}", self.index))
    }
}

/// Takes the first free slot whose subnet nobody else uses, and clears what a dead harness left
/// in it.
pub(super) fn take_slot() -> Result<Slot, StartError> {
    let base = base_dir();
    std::fs::create_dir_all(&base)
        .map_err(|e| StartError::Unavailable(format!("cannot create {}: {e}", base.display())))?;
    let addrs = run_out("ip", &["-4", "-o", "addr", "show"])?;
    for index in 0..SLOTS {
        let path = base.join(format!("slot-{index}.lock"));
        let file = OpenOptions::new()
            .create(true)
            .truncate(false)
            .write(true)
            .open(&path)
            .map_err(|e| StartError::Unavailable(format!("cannot open {}: {e}", path.display())))?;
        if file.try_lock().is_err() {
            continue;
        }
        let slot = Slot { index, _lock: file };
        let prefix = format!("inet 10.77.{index}.");
        let foreign = addrs
            .lines()
            .any(|l| l.contains(&prefix) && !l.contains(&format!(" {} ", slot.bridge())));
        if foreign {
            continue;
        }
        clear_slot(&slot);
        return Ok(slot);
    }
    Err(StartError::Unavailable(format!(
        "all {SLOTS} harness slots are busy (10.77.0-{}.0/24 in use or locked)",
        SLOTS - 1
    )))
}

/// Removes namespaces, links and temp dirs of this slot left by a harness that died.
pub(super) fn clear_slot(slot: &Slot) {
    let prefix = format!("otk{}h", slot.index);
    let names: Vec<String> = std::fs::read_dir("/run/netns")
        .map(|d| {
            d.flatten()
                .filter_map(|e| e.file_name().into_string().ok())
                .filter(|n| n.starts_with(&prefix))
                .collect()
        })
        .unwrap_or_default();
    for name in &names {
        let ns = Path::new("/run/netns").join(name);
        let left = procs::wait_until_empty(Duration::from_secs(2), || {
            let pids = procs::pids_in_netns(&ns);
            procs::kill_pids(&pids, "KILL");
            pids
        });
        if !left.is_empty() {
            eprintln!("testkit: stale namespace {name}: processes {left:?} survive SIGKILL");
        }
    }
    for i in 1..=8 {
        let veth = slot.veth(i);
        if Path::new("/sys/class/net").join(&veth).exists() {
            let _ = run_quiet("ip", &["link", "del", &veth]);
        }
    }
    for name in &names {
        let _ = run_quiet("ip", &["netns", "del", name]);
    }
    if Path::new("/sys/class/net").join(slot.bridge()).exists() {
        let _ = run_quiet("ip", &["link", "del", &slot.bridge()]);
    }
    if let Ok(dir) = std::fs::read_dir(slot.dir()) {
        for entry in dir.flatten() {
            let _ = std::fs::remove_dir_all(entry.path());
        }
    }
}

/// Creates the bridge. Failure here means the machine does not let us (no CAP_NET_ADMIN, no
/// bridge support): the tests that need it are skipped.
pub(super) fn create_bridge(slot: &Slot) -> Result<(), StartError> {
    let br = slot.bridge();
    let gw = format!("{}/24", slot.gateway());
    unavailable_on_error("ip", &["link", "add", &br, "type", "bridge"])?;
    unavailable_on_error("ip", &["link", "set", "dev", &br, "addrgenmode", "none"])?;
    unavailable_on_error("ip", &["addr", "add", &gw, "dev", &br])?;
    unavailable_on_error("ip", &["link", "set", &br, "up"])?;
    Ok(())
}

/// Creates namespace host `i`: veth into the bridge, address, links up; no IPv6 link-local
/// addresses (nothing but our IPv4 traffic on the bridge).
pub(super) fn create_host_netns(slot: &Slot, i: usize) -> Result<(), StartError> {
    let ns = slot.netns(i);
    let veth = slot.veth(i);
    let addr = format!("{}/24", slot.addr(i));
    unavailable_on_error("ip", &["netns", "add", &ns])?;
    unavailable_on_error(
        "ip",
        &[
            "link", "add", &veth, "type", "veth", "peer", "name", "eth0", "netns", &ns,
        ],
    )?;
    unavailable_on_error("ip", &["link", "set", "dev", &veth, "addrgenmode", "none"])?;
    unavailable_on_error(
        "ip",
        &["link", "set", &veth, "master", &slot.bridge(), "up"],
    )?;
    let inside: [&[&str]; 4] = [
        &["link", "set", "dev", "eth0", "addrgenmode", "none"],
        &["addr", "add", &addr, "dev", "eth0"],
        &["link", "set", "eth0", "up"],
        &["link", "set", "lo", "up"],
    ];
    for args in inside {
        let mut full = vec!["-n", ns.as_str()];
        full.extend_from_slice(args);
        unavailable_on_error("ip", &full)?;
    }
    Ok(())
}

/// Sets host `i`'s link up or down (to simulate a lost host).
pub(super) fn set_link(slot: &Slot, i: usize, up: bool) -> Result<(), String> {
    let state = if up { "up" } else { "down" };
    run_quiet("ip", &["link", "set", &slot.veth(i), state])
}

fn unavailable_on_error(program: &str, args: &[&str]) -> Result<(), StartError> {
    run_quiet(program, args).map_err(|e| {
        StartError::Unavailable(format!(
            "cannot create the test network (no permission for namespaces and bridges?): {e}"
        ))
    })
}

/// Runs a set-up command; the error names it and carries its stderr.
pub(super) fn run_quiet(program: &str, args: &[&str]) -> Result<(), String> {
    run_out(program, args).map(drop).map_err(|e| match e {
        StartError::Unavailable(m) | StartError::Failed(m) => m,
    })
}

fn run_out(program: &str, args: &[&str]) -> Result<String, StartError> {
    let shown = format!("`{program} {}`", args.join(" "));
    let out = Command::new(program)
        .args(args)
        .output()
        .map_err(|e| StartError::Unavailable(format!("cannot run {shown}: {e}")))?;
    if !out.status.success() {
        return Err(StartError::Unavailable(format!(
            "{shown} failed ({}): {}",
            out.status,
            String::from_utf8_lossy(&out.stderr).trim()
        )));
    }
    Ok(String::from_utf8_lossy(&out.stdout).into_owned())
}
