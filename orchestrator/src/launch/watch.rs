//! The remote watcher of watched mode: a job dies with its ssh *channel*, not with an sshd
//! process, so that the orchestrator may multiplex jobs over a ControlMaster and still leave
//! nothing behind on a host when it kills a job, times it out, or dies.
//!
//! # Why
//! Exec mode (`exec setpriv --pdeathsig KILL -- JOB`) kills the job when the connection's sshd
//! process exits. With a ControlMaster that process serves every session of the connection and
//! outlives each one, so the parent-death signal never fires: a timed-out job would run on. Each
//! session has its own channel, though, and the channel closes when its local `ssh` dies
//! (measured: the master closes it within 5 ms of a SIGKILL of the client) or when the whole
//! connection goes. So the job is tied to the channel: its stdin.
//!
//! # How
//! The orchestrator gives the local ssh a pipe as stdin, holds the write end open and never
//! writes to it (it is closed when the job's record is dropped, and by the kernel if the
//! orchestrator dies). On the host, `sh` runs [`SCRIPT`] as the session's command (sshd has made
//! it a session and process-group leader of its own) with `$1` = the grace in seconds and the
//! job's argv after it:
//!
//! ```sh
//! g=$1; shift
//! exec 3<&0 </dev/null                      # fd 3: the channel (the lifeline); jobs get /dev/null
//! setsid setpriv --pdeathsig KILL -- "$@" 3<&- &   # the job, leader of a new process group
//! j=$!
//! setsid sh -c 'WATCH' sh "$j" "$g" <&3 >/dev/null 2>&1 &   # the watcher, in a group of its own
//! w=$!
//! exec 3<&-
//! wait "$j"; s=$?                           # the job's status (128+N if killed by signal N)
//! kill -KILL -"$w" "$w" -"$j" 2>/dev/null    # the watcher, and what the job left in its group
//! exit "$s"
//! ```
//!
//! and the watcher (`WATCH`) reads its stdin (the channel) until end of file, then sends
//! SIGTERM and SIGCONT to the job's group, sleeps the grace, and sends SIGKILL:
//!
//! ```sh
//! while read -r _; do :; done
//! kill -TERM -"$1" 2>/dev/null || kill -TERM "$1"; kill -CONT -"$1"
//! [ "$2" = 0 ] || sleep "$2"
//! kill -KILL -"$1" 2>/dev/null || kill -KILL "$1"
//! ```
//!
//! Properties, each checked by the multi-host tests:
//! - **No race at the start.** End of file is sticky: a channel closed before the watcher began
//!   reading is seen at its first read. (Exec mode needs its parent check for the same race.)
//!   If the job has not yet made its own group when the watcher fires, the job itself is
//!   signalled (`|| kill "$1"`).
//! - **Grandchildren too.** The job's whole process group is signalled, as locally; and when the
//!   job exits, what it left in its group is killed at once (locally the orchestrator would
//!   drain for 100 ms first and report a leak; remotely nothing is reported).
//! - **The grace is the same as locally**: `--kill-after` (SIGKILL at once for 0). The local ssh
//!   exits as soon as it gets SIGTERM, so the local side reports the job finished while its
//!   remote process may still be in its grace.
//! - **Exit codes stay unambiguous**: the job's status comes back as its exit code, a signal
//!   death as 128+N, so ssh's 255 means a lost connection (or a job that exits 255 itself).
//! - **A `setpriv --pdeathsig KILL`** on the job (its parent is the session's `sh`) covers the
//!   case where that `sh` is killed by someone else.
//!
//! Costs: `sh`, `setsid`, `setpriv` and a second `sh` per job, about 3-15 ms on the test
//! machine, far below a new ssh connection (150-300 ms). Requirements on the host: a POSIX `sh`
//! as `sh`, util-linux's `setsid` and `setpriv` (Linux), and a POSIX login shell.
//!
//! Limits: a host whose network link is cut keeps running its jobs until its sshd notices the
//! connection is gone (`ClientAliveInterval` in its `sshd_config`; with the default of 0, not
//! until TCP keep-alive gives up, about two hours), because no end of file can reach it. A
//! process that leaves the job's group (`setsid`) is not reached, as locally.

use std::time::Duration;

/// The script run by the remote `sh -c` (on one line: some login shells refuse newlines inside
/// quotes).
pub const SCRIPT: &str = concat!(
    "g=$1; shift; ",
    "exec 3<&0 </dev/null; ",
    "setsid setpriv --pdeathsig KILL -- \"$@\" 3<&- & ",
    "j=$!; ",
    "setsid sh -c '",
    "while read -r _; do :; done; ",
    "kill -TERM -\"$1\" 2>/dev/null || kill -TERM \"$1\"; kill -CONT -\"$1\" 2>/dev/null; ",
    "[ \"$2\" = 0 ] || sleep \"$2\"; ",
    "kill -KILL -\"$1\" 2>/dev/null || kill -KILL \"$1\"",
    "' sh \"$j\" \"$g\" <&3 >/dev/null 2>&1 & ",
    "w=$!; ",
    "exec 3<&-; ",
    "wait \"$j\"; s=$?; ",
    "kill -KILL -\"$w\" \"$w\" -\"$j\" 2>/dev/null; ",
    "exit \"$s\""
);

/// The grace as `sleep` takes it: whole seconds, or seconds with up to three decimals.
pub(crate) fn grace_arg(grace: Duration) -> String {
    let ms = grace.as_millis();
    if ms.is_multiple_of(1000) {
        (ms / 1000).to_string()
    } else {
        format!("{}.{:03}", ms / 1000, ms % 1000)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Write;
    use std::process::{Command, Stdio};
    use std::time::Instant;

    #[test]
    fn grace_is_written_as_sleep_reads_it() {
        assert_eq!(grace_arg(Duration::ZERO), "0");
        assert_eq!(grace_arg(Duration::from_secs(2)), "2");
        assert_eq!(grace_arg(Duration::from_millis(250)), "0.250");
        assert_eq!(grace_arg(Duration::from_millis(1500)), "1.500");
    }

    fn have(program: &str) -> bool {
        Command::new(program)
            .arg("--version")
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .status()
            .is_ok()
    }

    /// Runs the script locally as sshd would, with `lifeline` as its stdin.
    fn script(args: &[&str]) -> Command {
        let mut cmd = Command::new("sh");
        cmd.args(["-c", SCRIPT, "sh"]).args(args);
        cmd
    }

    #[test]
    fn the_job_status_comes_back_and_its_stdin_is_dev_null() {
        if !have("setpriv") || !have("setsid") {
            eprintln!("util-linux setsid/setpriv missing: skipped");
            return;
        }
        let mut child = script(&["1", "sh", "-c", "cat; echo out; echo err >&2; exit 7"])
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("sh starts");
        // Keep the lifeline open while the job runs: its own stdin must be /dev/null anyway
        // (cat ends at once).
        let lifeline = child.stdin.take();
        let out = child.wait_with_output().expect("waits");
        drop(lifeline);
        assert_eq!(out.status.code(), Some(7));
        assert_eq!(out.stdout, b"out\n");
        assert_eq!(out.stderr, b"err\n");
    }

    #[test]
    fn a_signal_death_is_128_plus_the_signal() {
        if !have("setpriv") || !have("setsid") {
            return;
        }
        let mut child = script(&["1", "sh", "-c", "kill -9 $$"])
            .stdin(Stdio::piped())
            .spawn()
            .expect("sh starts");
        let lifeline = child.stdin.take();
        let status = child.wait().expect("waits");
        drop(lifeline);
        assert_eq!(status.code(), Some(137));
    }

    #[test]
    fn end_of_file_on_the_lifeline_kills_the_job_group_after_the_grace() {
        if !have("setpriv") || !have("setsid") {
            return;
        }
        // The job ignores SIGTERM (so only the SIGKILL after the grace ends it) and starts a
        // grandchild in its group.
        let dir = tempfile::tempdir().expect("temp dir");
        let pidfile = dir.path().join("pids");
        let job = format!(
            "trap '' TERM; sleep 1000 & echo $! > {p}; echo $$ >> {p}; wait",
            p = pidfile.display()
        );
        let mut child = script(&["0.300", "sh", "-c", &job])
            .stdin(Stdio::piped())
            .stdout(Stdio::null())
            .spawn()
            .expect("sh starts");
        let mut lifeline = child.stdin.take().expect("piped");
        let deadline = Instant::now() + Duration::from_secs(10);
        let pids = loop {
            let text = std::fs::read_to_string(&pidfile).unwrap_or_default();
            let pids: Vec<u32> = text.lines().filter_map(|l| l.trim().parse().ok()).collect();
            if pids.len() == 2 {
                break pids;
            }
            assert!(Instant::now() < deadline, "the job never started");
            std::thread::sleep(Duration::from_millis(10));
        };
        // A line on the lifeline is ignored; end of file is what counts.
        lifeline.write_all(b"ignored\n").expect("write");
        std::thread::sleep(Duration::from_millis(100));
        assert!(
            pids.iter().all(|p| alive(*p)),
            "killed before the lifeline closed"
        );
        let closed = Instant::now();
        drop(lifeline);
        let status = child.wait().expect("waits");
        let took = closed.elapsed();
        assert!(took >= Duration::from_millis(250), "no grace: {took:?}");
        assert!(took < Duration::from_secs(5), "too slow: {took:?}");
        assert_eq!(
            status.code(),
            Some(137),
            "the job got SIGKILL after the grace"
        );
        let deadline = Instant::now() + Duration::from_secs(5);
        while pids.iter().any(|p| alive(*p)) {
            assert!(
                Instant::now() < deadline,
                "a job process survived: {pids:?}"
            );
            std::thread::sleep(Duration::from_millis(10));
        }
    }

    #[test]
    fn leftovers_in_the_job_group_die_when_the_job_exits() {
        if !have("setpriv") || !have("setsid") {
            return;
        }
        let dir = tempfile::tempdir().expect("temp dir");
        let pidfile = dir.path().join("pid");
        let job = format!("sleep 1000 >/dev/null & echo $! > {}", pidfile.display());
        let mut child = script(&["5", "sh", "-c", &job])
            .stdin(Stdio::piped())
            .spawn()
            .expect("sh starts");
        let lifeline = child.stdin.take();
        let started = Instant::now();
        let status = child.wait().expect("waits");
        assert!(status.success());
        assert!(
            started.elapsed() < Duration::from_secs(4),
            "waited for the grace"
        );
        let pid: u32 = std::fs::read_to_string(&pidfile)
            .expect("pid written")
            .trim()
            .parse()
            .expect("a pid");
        let deadline = Instant::now() + Duration::from_secs(5);
        while alive(pid) {
            assert!(Instant::now() < deadline, "the background sleep survived");
            std::thread::sleep(Duration::from_millis(10));
        }
        drop(lifeline);
    }

    /// True if `pid` exists and is not a zombie.
    fn alive(pid: u32) -> bool {
        std::fs::read_to_string(format!("/proc/{pid}/stat"))
            .map(|s| {
                let state = s.rsplit(')').next().unwrap_or("").split_whitespace().next();
                state != Some("Z")
            })
            .unwrap_or(false)
    }
}
