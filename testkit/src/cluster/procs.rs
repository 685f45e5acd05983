//! Finding and killing processes by PID through `/proc`: by network namespace, by mark, by
//! parent. Everything is killed by PID, never by name.

use std::os::unix::fs::MetadataExt;
use std::path::Path;
use std::process::Command;
use std::time::{Duration, Instant};

/// One live process: PID and its command line (arguments joined by spaces, lossily decoded).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ProcInfo {
    /// Process id.
    pub pid: u32,
    /// Command line.
    pub cmdline: String,
}

impl std::fmt::Display for ProcInfo {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "pid {}: {}", self.pid, self.cmdline)
    }
}

/// PIDs of all live (non-zombie) processes, except this one.
fn all_pids() -> Vec<u32> {
    let me = std::process::id();
    let Ok(dir) = std::fs::read_dir("/proc") else {
        return Vec::new();
    };
    dir.flatten()
        .filter_map(|e| e.file_name().to_str()?.parse::<u32>().ok())
        .filter(|pid| *pid != me && !crate::is_zombie(&pid.to_string()))
        .collect()
}

/// The command line of `pid`, or an empty string if it is gone.
pub fn cmdline(pid: u32) -> String {
    let raw = std::fs::read(format!("/proc/{pid}/cmdline")).unwrap_or_default();
    raw.split(|b| *b == 0)
        .filter(|s| !s.is_empty())
        .map(|s| String::from_utf8_lossy(s).into_owned())
        .collect::<Vec<_>>()
        .join(" ")
}

/// Describes `pids` with their command lines.
pub fn describe(pids: &[u32]) -> Vec<ProcInfo> {
    pids.iter()
        .map(|&pid| ProcInfo {
            pid,
            cmdline: cmdline(pid),
        })
        .collect()
}

/// Live processes whose network namespace is the one bound at `netns_path`
/// (`/run/netns/NAME`): what `ip netns pids NAME` lists.
pub fn pids_in_netns(netns_path: &Path) -> Vec<u32> {
    let Ok(target) = std::fs::metadata(netns_path) else {
        return Vec::new();
    };
    all_pids()
        .into_iter()
        .filter(|pid| {
            std::fs::metadata(format!("/proc/{pid}/ns/net"))
                .is_ok_and(|m| m.ino() == target.ino() && m.dev() == target.dev())
        })
        .collect()
}

/// True if `pid`'s environment holds exactly `needle` (`NAME=value`).
pub fn environ_has(pid: u32, needle: &str) -> bool {
    std::fs::read(format!("/proc/{pid}/environ"))
        .is_ok_and(|env| env.split(|b| *b == 0).any(|kv| kv == needle.as_bytes()))
}

/// All live descendants of `pid` (children, grandchildren, ...), by the parent PIDs in
/// `/proc/*/stat`.
pub fn descendants(pid: u32) -> Vec<u32> {
    let parents: Vec<(u32, u32)> = all_pids()
        .into_iter()
        .filter_map(|p| Some((p, parent_of(p)?)))
        .collect();
    let mut found = Vec::new();
    let mut frontier = vec![pid];
    while let Some(parent) = frontier.pop() {
        for &(child, ppid) in &parents {
            if ppid == parent && !found.contains(&child) {
                found.push(child);
                frontier.push(child);
            }
        }
    }
    found
}

fn parent_of(pid: u32) -> Option<u32> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    // "pid (comm) state ppid ...": comm may hold spaces and parentheses, so split after the last ')'.
    let (_, rest) = stat.rsplit_once(')')?;
    rest.split_whitespace().nth(1)?.parse().ok()
}

/// Sends `signal` (a name such as `KILL` or `TERM`) to each PID with `kill(1)`. Errors (a
/// process already gone) are ignored: the callers check what is left afterwards.
pub fn kill_pids(pids: &[u32], signal: &str) {
    if pids.is_empty() {
        return;
    }
    let _ = Command::new("kill")
        .arg("-s")
        .arg(signal)
        .args(pids.iter().map(u32::to_string))
        .stderr(std::process::Stdio::null())
        .status();
}

/// Polls `probe` every 20 ms until it returns an empty list or `within` passes; returns what is
/// left (empty on success).
pub fn wait_until_empty(within: Duration, mut probe: impl FnMut() -> Vec<u32>) -> Vec<u32> {
    let deadline = Instant::now() + within;
    loop {
        let left = probe();
        if left.is_empty() || Instant::now() >= deadline {
            return left;
        }
        std::thread::sleep(Duration::from_millis(20));
    }
}
