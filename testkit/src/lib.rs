//! Test helpers shared by every crate's tests.
//!
//! * [`bin`] finds a binary of this workspace (`worker`, `orchestrator`, the test children in
//!   `testkit/src/bin`), building it once with cargo if it is not there yet.
//! * [`LeakGuard`] marks every process a test starts (through an environment variable that
//!   descendants inherit) and, at the end of the test, fails it if any marked process is still
//!   alive: the product promises that nothing outlives it.
//! * [`cluster`] starts a multi-host test cluster on this one machine (ssh hosts in network
//!   namespaces, Slurm) for the tests of launching beyond one machine.
#![forbid(unsafe_code)]

pub mod cluster;

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::{Mutex, OnceLock};
use std::time::{Duration, Instant};

/// Name of the environment variable [`LeakGuard`] uses to mark processes.
pub const MARK_VAR: &str = "TESTKIT_LEAK_MARK";

/// Package that owns each binary name, for the cargo-build fallback.
fn package_of(name: &str) -> &'static str {
    match name {
        "worker" => "worker",
        "orchestrator" => "orchestrator",
        _ => "testkit",
    }
}

/// The target directory of the running test binary: `target/<profile>/deps/<test>` -> `target/<profile>`.
fn profile_dir() -> PathBuf {
    let exe = std::env::current_exe().expect("the test binary knows its own path");
    let mut dir = exe
        .parent()
        .expect("the test binary lives in a directory")
        .to_path_buf();
    if dir.ends_with("deps") {
        dir.pop();
    }
    dir
}

/// Path of the workspace binary `name`, built with cargo (once per test process) if absent.
///
/// Looks next to the test binary (`target/<profile>/`), the way `wait-timeout`'s tests do,
/// and falls back to `cargo build -p <package> --bin <name>` in the same profile.
///
/// # Panics
/// If the binary cannot be found or built: a test cannot run without it.
pub fn bin(name: &str) -> PathBuf {
    static BUILT: OnceLock<Mutex<HashMap<String, PathBuf>>> = OnceLock::new();
    let built = BUILT.get_or_init(|| Mutex::new(HashMap::new()));
    let mut built = built.lock().unwrap_or_else(|e| e.into_inner());
    if let Some(p) = built.get(name) {
        return p.clone();
    }
    let path = profile_dir().join(name);
    if !path.exists() {
        let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".into());
        let mut cmd = Command::new(cargo);
        cmd.args(["build", "-q", "-p", package_of(name), "--bin", name]);
        if profile_dir().ends_with("release") {
            cmd.arg("--release");
        }
        let status = cmd.status().expect("cargo can be started");
        assert!(status.success(), "cargo build of `{name}` failed");
        assert!(
            path.exists(),
            "`{}` missing after cargo build",
            path.display()
        );
    }
    built.insert(name.to_string(), path.clone());
    path
}

/// Marks the processes a test starts and checks that none of them outlives the test.
///
/// Put [`LeakGuard::apply`] on every `Command` the test spawns (or set [`MARK_VAR`] to
/// [`LeakGuard::mark`] yourself). Every descendant inherits the variable, so at the end
/// [`LeakGuard::assert_none_left`] finds any survivor by scanning `/proc/*/environ`, kills it
/// by PID (never by name) and fails the test. Dropping the guard does the same check.
#[derive(Debug)]
pub struct LeakGuard {
    mark: String,
    checked: bool,
}

impl Default for LeakGuard {
    fn default() -> Self {
        Self::new()
    }
}

impl LeakGuard {
    /// A guard with a fresh, unique mark.
    pub fn new() -> Self {
        let mark = format!("{}-{:016x}", std::process::id(), fastrand::u64(..));
        Self {
            mark,
            checked: false,
        }
    }

    /// The value of [`MARK_VAR`] that marks this test's processes.
    pub fn mark(&self) -> &str {
        &self.mark
    }

    /// Adds the mark to `cmd`'s environment and returns it, for chaining.
    pub fn apply<'a>(&self, cmd: &'a mut Command) -> &'a mut Command {
        cmd.env(MARK_VAR, &self.mark)
    }

    /// PIDs of live (non-zombie) processes carrying this guard's mark.
    ///
    /// A process that is in the middle of `execve` (for example one that was spawned an
    /// instant ago) can be missed: the kernel publishes the new `/proc/PID/environ` only
    /// after the spawning parent has been released. Poll when a fresh process must be seen.
    pub fn survivors(&self) -> Vec<u32> {
        marked_processes(&format!("{MARK_VAR}={}", self.mark))
    }

    /// Waits up to `within` for marked processes to disappear; kills and reports survivors.
    ///
    /// # Panics
    /// If any marked process is still alive after `within`.
    pub fn assert_none_left_within(&mut self, within: Duration) {
        self.checked = true;
        let deadline = Instant::now() + within;
        loop {
            let left = self.survivors();
            if left.is_empty() {
                return;
            }
            if Instant::now() >= deadline {
                let desc: Vec<String> = left.iter().map(|p| describe(*p)).collect();
                for pid in &left {
                    let _ = Command::new("kill")
                        .args(["-KILL", &pid.to_string()])
                        .status();
                }
                panic!(
                    "{} process(es) outlived the test (killed now): {}",
                    left.len(),
                    desc.join("; ")
                );
            }
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    /// [`Self::assert_none_left_within`] with a 2 s allowance for processes being torn down.
    pub fn assert_none_left(&mut self) {
        self.assert_none_left_within(Duration::from_secs(2));
    }
}

impl Drop for LeakGuard {
    fn drop(&mut self) {
        if !self.checked && !std::thread::panicking() {
            self.assert_none_left();
        }
    }
}

fn describe(pid: u32) -> String {
    let cmdline = std::fs::read(format!("/proc/{pid}/cmdline")).unwrap_or_default();
    let args: Vec<String> = cmdline
        .split(|b| *b == 0)
        .filter(|s| !s.is_empty())
        .map(|s| String::from_utf8_lossy(s).into_owned())
        .collect();
    format!("pid {pid}: {}", args.join(" "))
}

fn is_zombie(pid: &str) -> bool {
    std::fs::read_to_string(Path::new("/proc").join(pid).join("stat"))
        .ok()
        .and_then(|s| {
            s.rsplit_once(')')
                .map(|(_, rest)| rest.trim_start().starts_with('Z'))
        })
        .unwrap_or(true)
}

fn marked_processes(needle: &str) -> Vec<u32> {
    let me = std::process::id();
    let mut out = Vec::new();
    let Ok(dir) = std::fs::read_dir("/proc") else {
        return out;
    };
    for entry in dir.flatten() {
        let name = entry.file_name();
        let Some(pid) = name.to_str().and_then(|s| s.parse::<u32>().ok()) else {
            continue;
        };
        if pid == me {
            continue;
        }
        let Ok(env) = std::fs::read(entry.path().join("environ")) else {
            continue;
        };
        if env.split(|b| *b == 0).any(|kv| kv == needle.as_bytes()) && !is_zombie(&pid.to_string())
        {
            out.push(pid);
        }
    }
    out
}
