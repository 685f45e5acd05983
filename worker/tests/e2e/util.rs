//! Running the built `worker` under a leak guard and a hang detector.

use std::ffi::OsStr;
use std::io::{Read, Write};
use std::process::{Child, Command, Stdio};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use testkit::LeakGuard;

/// Loose bound on any single worker run: a hang detector, not a performance check.
pub const HANG: Duration = Duration::from_secs(10);

/// What a finished run left behind.
#[derive(Debug)]
pub struct Ran {
    /// Exit code (`None`: killed by a signal).
    pub code: Option<i32>,
    /// Everything written to stdout.
    pub stdout: Vec<u8>,
    /// Everything written to stderr.
    pub stderr: String,
}

impl Ran {
    /// stdout as text (the worker's lines are ASCII).
    pub fn out(&self) -> &str {
        std::str::from_utf8(&self.stdout).expect("worker output is ASCII")
    }
}

/// A `worker` command with `args`, marked by `guard`.
pub fn worker_cmd<S: AsRef<OsStr>>(guard: &LeakGuard, args: &[S]) -> Command {
    let mut cmd = Command::new(testkit::bin("worker"));
    cmd.args(args);
    guard.apply(&mut cmd);
    cmd
}

/// Reads `r` to the end on a thread.
pub fn drain<R: Read + Send + 'static>(mut r: R) -> JoinHandle<Vec<u8>> {
    std::thread::spawn(move || {
        let mut v = Vec::new();
        let _ = r.read_to_end(&mut v);
        v
    })
}

/// Waits for `child` until `within` has passed; kills it and panics if it is still running.
pub fn wait_within(child: &mut Child, within: Duration) -> Option<i32> {
    let deadline = Instant::now() + within;
    loop {
        if let Some(status) = child.try_wait().expect("try_wait works") {
            return status.code();
        }
        if Instant::now() >= deadline {
            let _ = child.kill();
            let _ = child.wait();
            panic!("worker still running after {within:?}: hung");
        }
        std::thread::sleep(Duration::from_millis(5));
    }
}

/// Runs `worker args...` with `stdin` as its input, within `within`.
pub fn run_within<S: AsRef<OsStr>>(args: &[S], stdin: &[u8], within: Duration) -> Ran {
    let mut guard = LeakGuard::new();
    let mut child = worker_cmd(&guard, args)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("worker starts");
    let mut input = child.stdin.take().expect("piped stdin");
    let data = stdin.to_vec();
    // The worker may stop reading (an error, or it has no use for stdin): ignore EPIPE.
    let feeder = std::thread::spawn(move || {
        let _ = input.write_all(&data);
    });
    let out = drain(child.stdout.take().expect("piped stdout"));
    let err = drain(child.stderr.take().expect("piped stderr"));
    let code = wait_within(&mut child, within);
    feeder.join().expect("feeder thread");
    let ran = Ran {
        code,
        stdout: out.join().expect("stdout thread"),
        stderr: String::from_utf8(err.join().expect("stderr thread")).expect("stderr is UTF-8"),
    };
    guard.assert_none_left();
    assert!(
        !ran.stderr.contains("panicked"),
        "worker panicked: {}",
        ran.stderr
    );
    ran
}

/// [`run_within`] with the [`HANG`] bound.
pub fn run<S: AsRef<OsStr>>(args: &[S], stdin: &[u8]) -> Ran {
    run_within(args, stdin, HANG)
}

/// First line where `got` and `want` differ, for a readable failure message.
pub fn first_difference(got: &str, want: &str) -> String {
    for (i, (g, w)) in got.lines().zip(want.lines()).enumerate() {
        if g != w {
            return format!("line {}: got {g:?}, want {w:?}", i + 1);
        }
    }
    format!(
        "{} lines against {} (or a trailing-byte difference)",
        got.lines().count(),
        want.lines().count()
    )
}
