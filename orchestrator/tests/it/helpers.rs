//! Shared helpers: marked commands (for leak checks) and time bounds.

use std::time::{Duration, Instant};

pub use orchestrator::{Command, Stdio};
pub use testkit::LeakGuard;

/// A command whose process (and descendants) carry `guard`'s mark.
pub fn cmd(guard: &LeakGuard, program: &str, args: &[&str]) -> Command {
    let mut c = Command::new(program);
    c.args(args).env(testkit::MARK_VAR, guard.mark());
    c
}

/// `sh -c script` with the mark.
pub fn sh(guard: &LeakGuard, script: &str) -> Command {
    cmd(guard, "sh", &["-c", script])
}

/// Runs `f` and asserts it took at most `max` (a hang detector, not a benchmark).
pub fn within<T>(max: Duration, f: impl FnOnce() -> T) -> (T, Duration) {
    let t = Instant::now();
    let v = f();
    let took = t.elapsed();
    assert!(took <= max, "took {took:?}, more than the {max:?} allowed");
    (v, took)
}
