//! Asking a host what it has: reachable or not (and how long a command takes), its core count,
//! the tools the launchers need, whether `worker` is there and which protocol it speaks.
//!
//! Used by `orchestrator hosts check`, by `run` and `factor` to size hosts given without `N/`,
//! and by `run` to tell a lost host from a job that exited 255.

use std::ffi::{OsStr, OsString};
use std::time::{Duration, Instant};

use super::Launcher;
use super::ssh::{Control, RemoteShell};
use crate::command::{Command, Stdio};

/// Run by `sh` on the host; prints `key=value` lines. `$1` is the worker program to look for
/// (empty: don't look).
const SCRIPT: &str = concat!(
    "echo orchestrator-probe=1; ",
    "echo \"hostname=$(hostname 2>/dev/null || uname -n)\"; ",
    "echo \"nproc=$(nproc 2>/dev/null || getconf _NPROCESSORS_ONLN 2>/dev/null)\"; ",
    "for t in setsid setpriv; do command -v \"$t\" >/dev/null 2>&1 || echo \"missing=$t\"; done; ",
    "if [ -n \"$1\" ]; then echo \"worker=$(command -v \"$1\" 2>/dev/null)\"; fi"
);

/// What a probe found on a reachable host.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HostFacts {
    /// Its hostname.
    pub hostname: String,
    /// Its online CPU count, if it could be read.
    pub nproc: Option<u32>,
    /// Tools the launchers need that are missing (`setsid`, `setpriv`).
    pub missing_tools: Vec<String>,
    /// The worker program as the host resolves it (`Some("")`: not found; `None`: not asked).
    pub worker: Option<String>,
    /// Wall time of the probe: connection (unless multiplexed), login shell, script.
    pub latency: Duration,
}

/// Runs the probe script on `remote`'s host (over the master at `control`, if given), asking
/// for `worker` too if given; at most `within`.
///
/// # Errors
/// Why the host cannot be used: ssh's message (exit 255: connection refused, no route,
/// authentication), no answer in time, or an answer that is not the probe's.
pub fn probe(
    remote: &RemoteShell,
    control: Option<&std::path::Path>,
    worker: Option<&OsStr>,
    within: Duration,
) -> Result<HostFacts, String> {
    let control = control.map_or(Control::Own, Control::Client);
    let arg = worker.map_or_else(OsString::new, OsStr::to_os_string);
    let argv = remote
        .script_command(SCRIPT, &[arg], control)
        .map_err(|e| e.to_string())?;
    run_probe(&argv, &[], within)
}

/// [`probe`] through any launcher: here, over ssh (a connection of its own), or as a Slurm
/// step.
///
/// # Errors
/// As [`probe`].
pub fn probe_through(
    launcher: &Launcher,
    worker: Option<&OsStr>,
    within: Duration,
) -> Result<HostFacts, String> {
    match launcher {
        Launcher::RemoteShell(remote) => probe(remote, None, worker, within),
        _ => {
            let arg = worker.map_or_else(OsString::new, OsStr::to_os_string);
            let argv: Vec<OsString> =
                vec!["sh".into(), "-c".into(), SCRIPT.into(), "sh".into(), arg];
            let cmd = launcher
                .command_for(&argv, &[])
                .map_err(|e| e.to_string())?;
            run_probe(cmd.argv(), cmd.local_env(), within)
        }
    }
}

fn run_probe(
    argv: &[OsString],
    env: &[(OsString, OsString)],
    within: Duration,
) -> Result<HostFacts, String> {
    let input = (!env.is_empty()).then(|| (Vec::new(), env));
    let started = Instant::now();
    let out = run_captured(argv, input, within)?;
    let latency = started.elapsed();
    if !out.status.success() {
        return Err(failure_text(&out.status.to_string(), &out.stderr));
    }
    let text = String::from_utf8_lossy(&out.stdout);
    if !text.lines().any(|l| l == "orchestrator-probe=1") {
        return Err(format!(
            "the probe's output is not what it prints (a login script writing to stdout?): {:?}",
            text.chars().take(200).collect::<String>()
        ));
    }
    let mut facts = HostFacts {
        hostname: String::new(),
        nproc: None,
        missing_tools: Vec::new(),
        worker: None,
        latency,
    };
    for line in text.lines() {
        match line.split_once('=') {
            Some(("hostname", v)) => facts.hostname = v.to_string(),
            Some(("nproc", v)) => facts.nproc = v.trim().parse().ok().filter(|n| *n > 0),
            Some(("missing", v)) => facts.missing_tools.push(v.to_string()),
            Some(("worker", v)) => facts.worker = Some(v.to_string()),
            _ => {}
        }
    }
    Ok(facts)
}

/// The result of a protocol handshake with a worker.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct WorkerHello {
    /// What the worker calls itself (`worker 0.1.0`).
    pub software: String,
    /// The protocol version it speaks.
    pub protocol_version: u32,
}

/// Starts `worker serve` through `launcher`, sends our hello, reads the worker's, and ends it
/// (end of input); at most `within`.
///
/// # Errors
/// Why no hello came back (the worker's stderr or ssh's message), or why it was refused
/// (`Ok` with another `protocol_version` is a mismatch: the caller compares).
pub fn handshake(
    launcher: &Launcher,
    worker: &OsStr,
    within: Duration,
) -> Result<WorkerHello, String> {
    let argv = [worker.to_os_string(), OsString::from("serve")];
    let cmd = launcher
        .command_for(&argv, &[])
        .map_err(|e| e.to_string())?;
    let hello = shared::Hello::new(format!("orchestrator {}", env!("CARGO_PKG_VERSION")));
    let frame = shared::frame::encode_frame(&hello).map_err(|e| e.to_string())?;
    let out = run_captured(cmd.argv(), Some((frame, cmd.local_env())), within)?;
    let mut reader = &out.stdout[..];
    let mut body = Vec::new();
    let got = shared::frame::read_body(&mut reader, &mut body);
    match got {
        Ok(true) => {}
        _ => {
            return Err(failure_text(
                &format!("no hello from the worker ({})", out.status),
                &out.stderr,
            ));
        }
    }
    match shared::Hello::from_body(&body) {
        Ok(h) => Ok(WorkerHello {
            software: h.software,
            protocol_version: h.protocol_version,
        }),
        Err(shared::HandshakeError::VersionMismatch {
            theirs,
            peer_software,
            ..
        }) => Ok(WorkerHello {
            software: peer_software.unwrap_or_else(|| "?".into()),
            protocol_version: theirs,
        }),
        Err(e) => Err(e.to_string()),
    }
}

/// Bytes for a command's stdin, and variables to set on it.
type Input<'a> = (Vec<u8>, &'a [(OsString, OsString)]);

/// Runs `argv` with stdin `input` (or /dev/null), capturing its output, killed after `within`.
fn run_captured(
    argv: &[OsString],
    input: Option<Input<'_>>,
    within: Duration,
) -> Result<crate::Outcome, String> {
    let mut cmd = Command::from_argv(argv).map_err(|e| e.to_string())?;
    cmd.stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .kill_on_parent_death(true);
    let data = match input {
        Some((data, env)) => {
            for (k, v) in env {
                cmd.env(k, v);
            }
            cmd.stdin(Stdio::piped());
            Some(data)
        }
        None => {
            cmd.stdin(Stdio::null());
            None
        }
    };
    let child = cmd
        .spawn()
        .map_err(|e| format!("cannot start {}: {e}", argv[0].to_string_lossy()))?;
    let mut comm = child
        .communicate()
        .timeout(within)
        .grace(Duration::ZERO)
        .capture_limit(1 << 20)
        .stderr_capture_limit(64 << 10);
    if let Some(d) = data {
        comm = comm.input(d);
    }
    let out = comm.run().map_err(|e| e.to_string())?;
    if out.timed_out.is_some() {
        return Err(failure_text(
            &format!("no answer within {}", humantime::format_duration(within)),
            &out.stderr,
        ));
    }
    Ok(out)
}

/// `what`, followed by the last lines of `stderr` if there are any.
fn failure_text(what: &str, stderr: &[u8]) -> String {
    let text = String::from_utf8_lossy(stderr);
    let lines: Vec<&str> = text
        .lines()
        .map(str::trim)
        .filter(|l| !l.is_empty())
        .collect();
    if lines.is_empty() {
        return what.to_string();
    }
    let tail = &lines[lines.len().saturating_sub(3)..];
    format!("{what}: {}", tail.join("; "))
}
