//! `orchestrator run` end to end: the built binary, real children, no process left behind.
//!
//! Time bounds here are hang detectors (generous upper limits), never benchmarks.

use std::io::Read;
use std::os::unix::process::CommandExt;
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use testkit::LeakGuard;

/// What a finished orchestrator left.
#[derive(Debug)]
struct Ran {
    code: Option<i32>,
    stdout: String,
    stderr: String,
    took: Duration,
}

/// `orchestrator run ARGS...` carrying the guard's mark.
fn orch(g: &LeakGuard, args: &[&str]) -> Command {
    let mut c = Command::new(testkit::bin("orchestrator"));
    g.apply(&mut c);
    c.arg("run").args(args);
    c
}

/// Spawns `c` with piped output and reads both streams on threads.
struct Running {
    child: Child,
    out: std::thread::JoinHandle<Vec<u8>>,
    err: std::thread::JoinHandle<Vec<u8>>,
    start: Instant,
}

fn start(c: Command, stdin: Option<&[u8]>) -> Running {
    let s = if stdin.is_some() {
        Stdio::piped()
    } else {
        Stdio::null()
    };
    start_with(c, s, stdin)
}

/// As [`start`], with `stdin` as the orchestrator's stdin (and `feed` written to it if piped).
fn start_with(mut c: Command, stdin: Stdio, feed: Option<&[u8]>) -> Running {
    c.stdout(Stdio::piped()).stderr(Stdio::piped()).stdin(stdin);
    let start = Instant::now();
    let mut child = c.spawn().expect("orchestrator starts");
    drop(c); // our copies of fds handed to the child close now
    let stdin = feed;
    if let Some(data) = stdin {
        let mut w = child.stdin.take().unwrap();
        let data = data.to_vec();
        std::thread::spawn(move || {
            use std::io::Write;
            let _ = w.write_all(&data);
        });
    }
    let mut o = child.stdout.take().unwrap();
    let mut e = child.stderr.take().unwrap();
    let out = std::thread::spawn(move || {
        let mut v = Vec::new();
        let _ = o.read_to_end(&mut v);
        v
    });
    let err = std::thread::spawn(move || {
        let mut v = Vec::new();
        let _ = e.read_to_end(&mut v);
        v
    });
    Running {
        child,
        out,
        err,
        start,
    }
}

impl Running {
    fn pid(&self) -> u32 {
        self.child.id()
    }

    /// Waits (at most `limit`: a hang detector) and collects the output.
    fn finish(mut self, limit: Duration) -> Ran {
        loop {
            if let Some(status) = self.child.try_wait().unwrap() {
                let took = self.start.elapsed();
                let stdout = String::from_utf8_lossy(&self.out.join().unwrap()).into_owned();
                let stderr = String::from_utf8_lossy(&self.err.join().unwrap()).into_owned();
                return Ran {
                    code: status.code(),
                    stdout,
                    stderr,
                    took,
                };
            }
            if self.start.elapsed() > limit {
                let _ = self.child.kill();
                let _ = self.child.wait();
                panic!("orchestrator still running after {limit:?}");
            }
            std::thread::sleep(Duration::from_millis(10));
        }
    }
}

fn run(c: Command) -> Ran {
    start(c, None).finish(Duration::from_secs(60))
}

fn run_stdin(c: Command, input: &[u8]) -> Ran {
    start(c, Some(input)).finish(Duration::from_secs(60))
}

fn write(dir: &Path, name: &str, text: &str) -> String {
    let p = dir.join(name);
    std::fs::write(&p, text).unwrap();
    p.display().to_string()
}

fn kill(sig: &str, pid: u32) {
    let ok = Command::new("kill")
        .args([sig, &pid.to_string()])
        .status()
        .unwrap()
        .success();
    assert!(ok, "kill {sig} {pid}");
}

/// Waits until `n` marked processes other than the orchestrator are alive (its guardian
/// process counts).
fn wait_for_children(g: &LeakGuard, orch_pid: u32, n: usize) {
    let t0 = Instant::now();
    loop {
        let kids = g.survivors().into_iter().filter(|p| *p != orch_pid).count();
        if kids >= n {
            return;
        }
        assert!(
            t0.elapsed() < Duration::from_secs(30),
            "only {kids} of {n} children started"
        );
        std::thread::sleep(Duration::from_millis(20));
    }
}

fn json_lines(s: &str) -> Vec<serde_json::Value> {
    s.lines()
        .map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("{e}: {l}")))
        .collect()
}

#[test]
fn procs_runs_copies_at_once_and_count_defaults_to_procs() {
    let mut g = LeakGuard::new();
    let r = run(orch(
        &g,
        &["-j", "4", "--", "sh", "-c", "sleep 0.5; echo done"],
    ));
    assert_eq!(r.code, Some(0), "{r:?}");
    assert_eq!(r.stdout, "done\n".repeat(4));
    // Four half-second jobs at once: well under the 2 s they take one after another.
    assert!(r.took < Duration::from_millis(1900), "{:?}", r.took);
    assert!(
        r.stderr.contains("4 jobs: 4 ok, 0 failed, 0 timed out"),
        "{}",
        r.stderr
    );
    let r = run(orch(&g, &["-j", "2", "--count", "5", "--", "echo", "{#}"]));
    let mut lines: Vec<&str> = r.stdout.lines().collect();
    lines.sort();
    assert_eq!(lines, ["1", "2", "3", "4", "5"]);
    g.assert_none_left();
}

#[test]
fn hostile_input_lines_reach_the_command_verbatim_and_run_nothing() {
    let mut g = LeakGuard::new();
    let dir = tempfile::tempdir().unwrap();
    let lines = [
        "; touch x",
        "$(touch x)",
        "`touch x`",
        "a && touch x",
        "| touch x",
        "' \" quotes \" '",
        "  runs   of    spaces  ",
        "\ttab\\backslash *glob* ~tilde $HOME",
        "",
        "-n",
    ];
    let input = lines.join("\n") + "\n";
    let file = write(dir.path(), "in.txt", &input);
    // printf prints each argument between <> so splitting or expansion would show.
    for extra in [&[][..], &["--shell"][..]] {
        let mut args = vec!["-k", "-j", "4", "--args", &file];
        args.extend_from_slice(extra);
        if extra.is_empty() {
            args.extend_from_slice(&["--", "printf", "<%s>\\n", "pre{}post"]);
        } else {
            // Shell text; {} is inserted quoted: still one word.
            args.extend_from_slice(&["--", "printf '<%s>\\n' pre{}post"]);
        }
        let mut c = orch(&g, &args);
        c.current_dir(dir.path());
        let r = run(c);
        assert_eq!(r.code, Some(0), "{r:?}");
        let want: String = lines.iter().map(|l| format!("<pre{l}post>\n")).collect();
        assert_eq!(r.stdout, want, "with {extra:?}");
        assert!(
            !dir.path().join("x").exists(),
            "an input line ran a command"
        );
    }
    // Without `{}`, the line is the last argument, as is.
    let mut c = orch(&g, &["-k", "--args", "-", "--", "printf", "[%s]\\n"]);
    c.current_dir(dir.path());
    let r = run_stdin(c, input.as_bytes());
    let want: String = lines.iter().map(|l| format!("[{l}]\n")).collect();
    assert_eq!(r.stdout, want);
    assert!(!dir.path().join("x").exists());
    g.assert_none_left();
}

#[test]
fn nul_separated_input() {
    let mut g = LeakGuard::new();
    let r = run_stdin(
        orch(&g, &["-0", "-k", "-a", "-", "--", "printf", "<%s>"]),
        b"a\nb\0c d\0",
    );
    assert_eq!(r.stdout, "<a\nb><c d>");
    g.assert_none_left();
}

#[test]
fn joblog_and_resume_round_trip() {
    let mut g = LeakGuard::new();
    let dir = tempfile::tempdir().unwrap();
    let inputs = write(dir.path(), "in.txt", "1\n2\n3\n4\n5\n6\n");
    let log = dir.path().join("log.tsv").display().to_string();
    let ran = dir.path().join("ran.txt");
    let job = "echo \"$1\" >> ran.txt; [ \"$1\" != 3 ]";
    let base = |extra: &[&str]| {
        let mut a = vec!["-j", "1", "-a", &inputs, "--joblog", &log];
        a.extend_from_slice(extra);
        a.extend_from_slice(&["--", "sh", "-c", job, "sh"]);
        let mut c = orch(&g, &a);
        c.current_dir(dir.path());
        c
    };
    // Job 3 fails; halt soon stops the run there: 4..6 never start.
    let r = run(base(&["--halt", "soon,fail=1"]));
    assert_eq!(r.code, Some(1), "{r:?}");
    assert!(r.stderr.contains("3 not run"), "{}", r.stderr);
    let text = std::fs::read_to_string(&log).unwrap();
    let rows: Vec<Vec<&str>> = text.lines().map(|l| l.split('\t').collect()).collect();
    assert_eq!(
        rows[0],
        [
            "Seq",
            "Host",
            "Starttime",
            "JobRuntime",
            "Send",
            "Receive",
            "Exitval",
            "Signal",
            "Command"
        ]
    );
    assert_eq!(rows.len(), 4, "{text}");
    for (i, row) in rows[1..].iter().enumerate() {
        assert_eq!(row.len(), 9);
        assert_eq!(row[0], (i + 1).to_string());
        assert_eq!(row[1], ":");
        assert!(row[2].parse::<f64>().unwrap() > 1.6e9);
        assert!(row[3].trim().parse::<f64>().unwrap() >= 0.0);
        assert_eq!(row[6], if i == 2 { "1" } else { "0" });
        assert_eq!(row[7], "0");
        assert!(row[8].starts_with("sh -c "), "{}", row[8]);
    }
    // --resume runs only what the log does not record.
    let r = run(base(&["--resume"]));
    assert_eq!(r.code, Some(0), "{r:?}");
    assert!(r.stderr.contains("3 skipped"), "{}", r.stderr);
    assert_eq!(std::fs::read_to_string(&ran).unwrap(), "1\n2\n3\n4\n5\n6\n");
    // Nothing left to do.
    let r = run(base(&["--resume"]));
    assert_eq!(r.code, Some(0));
    assert!(r.stderr.contains("0 jobs"), "{}", r.stderr);
    // --resume-failed runs job 3 again (and it fails again).
    let r = run(base(&["--resume-failed"]));
    assert_eq!(r.code, Some(1));
    assert_eq!(
        std::fs::read_to_string(&ran).unwrap(),
        "1\n2\n3\n4\n5\n6\n3\n"
    );
    let text = std::fs::read_to_string(&log).unwrap();
    assert_eq!(text.matches("Seq\t").count(), 1);
    assert_eq!(text.lines().count(), 1 + 6 + 1);
    g.assert_none_left();
}

#[test]
fn keep_order_with_shuffled_durations() {
    let mut g = LeakGuard::new();
    // Job i sleeps (9 - i) / 20 s: they finish in reverse order.
    let input: String = (1..=8).map(|i| format!("{i}\n")).collect();
    let job = "sleep $(echo \"(9 - $1) / 20\" | bc -l); echo \"out $1\"; echo \"err $1\" >&2";
    let args = |k: bool| {
        let mut a = vec!["-j", "8", "-a", "-"];
        if k {
            a.push("-k");
        }
        a.extend_from_slice(&["--", "sh", "-c", job, "sh"]);
        a
    };
    let r = run_stdin(orch(&g, &args(true)), input.as_bytes());
    let want: String = (1..=8).map(|i| format!("out {i}\n")).collect();
    assert_eq!(r.stdout, want);
    let errs: Vec<&str> = r.stderr.lines().filter(|l| l.starts_with("err")).collect();
    let want_err: Vec<String> = (1..=8).map(|i| format!("err {i}")).collect();
    assert_eq!(errs, want_err);
    // One slow first job and many quick ones: -k runs a bounded window ahead of it, and
    // everything still comes out, in order.
    let r = run(orch(
        &g,
        &[
            "-k",
            "-j",
            "4",
            "--count",
            "1500",
            "--",
            "sh",
            "-c",
            "[ {#} = 1 ] && sleep 0.5; echo {#}",
        ],
    ));
    let want: String = (1..=1500).map(|i| format!("{i}\n")).collect();
    assert_eq!(r.stdout, want);
    // Without -k, completion order.
    let r = run_stdin(orch(&g, &args(false)), input.as_bytes());
    assert_ne!(r.stdout, want, "jobs should finish out of order");
    assert_eq!(r.stdout.lines().count(), 8);
    g.assert_none_left();
}

#[test]
fn stdout_and_stderr_are_kept_apart_and_grouped() {
    let mut g = LeakGuard::new();
    let r = run(orch(
        &g,
        &[
            "-j",
            "3",
            "--count",
            "3",
            "--",
            "sh",
            "-c",
            "echo o1; echo e1 >&2; sleep 0.1; echo o2; echo e2 >&2",
        ],
    ));
    assert_eq!(r.stdout, "o1\no2\n".repeat(3), "grouped per job");
    let errs: String = r
        .stderr
        .lines()
        .filter(|l| !l.starts_with("orchestrator"))
        .map(|l| format!("{l}\n"))
        .collect();
    assert_eq!(errs, "e1\ne2\n".repeat(3));
    g.assert_none_left();
}

#[test]
fn line_buffer_prints_lines_as_they_come_and_never_mixes_them() {
    let mut g = LeakGuard::new();
    let input = "a\nb\n";
    let job = "if [ \"$1\" = a ]; then printf 'a1\\na'; sleep 0.6; echo 2; \
               else sleep 0.3; echo b1; fi";
    let mk = |extra: &[&str]| {
        let mut a = vec!["-j", "2", "-a", "-"];
        a.extend_from_slice(extra);
        a.extend_from_slice(&["--", "sh", "-c", job, "sh"]);
        orch(&g, &a)
    };
    let r = run_stdin(mk(&["--line-buffer"]), input.as_bytes());
    assert_eq!(r.stdout, "a1\nb1\na2\n");
    // Grouped (default): b finishes first and prints whole.
    let r = run_stdin(mk(&[]), input.as_bytes());
    assert_eq!(r.stdout, "b1\na1\na2\n");
    // Tagged.
    let r = run_stdin(mk(&["--line-buffer", "--tag"]), input.as_bytes());
    assert_eq!(r.stdout, "a\ta1\nb\tb1\na\ta2\n");
    // In order, line-buffered: the oldest job streams, the other waits.
    let r = run_stdin(mk(&["--line-buffer", "-k"]), input.as_bytes());
    assert_eq!(r.stdout, "a1\na2\nb1\n");
    g.assert_none_left();
}

#[test]
fn tag_uses_the_input_or_the_job_number() {
    let mut g = LeakGuard::new();
    let r = run_stdin(
        orch(&g, &["-k", "--tag", "-a", "-", "--", "printf", "x\\ny\\n"]),
        b"one\ntwo words\n",
    );
    assert_eq!(r.stdout, "one\tx\none\ty\ntwo words\tx\ntwo words\ty\n");
    let r = run(orch(
        &g,
        &["-k", "--tag", "--count", "2", "--", "echo", "hi"],
    ));
    assert_eq!(r.stdout, "1\thi\n2\thi\n");
    g.assert_none_left();
}

#[test]
fn timeout_on_a_term_ignoring_job_kills_after_the_grace() {
    let mut g = LeakGuard::new();
    let dir = tempfile::tempdir().unwrap();
    let log = dir.path().join("log").display().to_string();
    let r = run(orch(
        &g,
        &[
            "--timeout",
            "300ms",
            "--kill-after",
            "300ms",
            "--joblog",
            &log,
            "--json",
            "--count",
            "1",
            "--",
            "sh",
            "-c",
            "trap '' TERM; echo started; sleep 1000",
        ],
    ));
    assert_eq!(r.code, Some(124), "{r:?}");
    assert!(r.took >= Duration::from_millis(600), "{:?}", r.took);
    assert!(r.took < Duration::from_secs(20));
    let j = &json_lines(&r.stdout)[0];
    assert_eq!(j["timed_out"], true);
    assert_eq!(j["status"], "timed_out");
    assert_eq!(j["signal"], "SIGKILL");
    assert_eq!(j["stdout"], "started\n");
    let row = std::fs::read_to_string(&log).unwrap();
    let cols: Vec<&str> = row.lines().nth(1).unwrap().split('\t').collect();
    assert_eq!((cols[6], cols[7]), ("-1", "9"), "{row}");
    assert!(r.stderr.contains("timed out after 300ms"), "{}", r.stderr);
    g.assert_none_left();
}

#[test]
fn timeout_on_a_job_whose_grandchild_holds_the_pipe() {
    let mut g = LeakGuard::new();
    // The leader dies of the TERM; a grandchild in its group ignores TERM and keeps the
    // stdout pipe open: it is killed after the grace, not waited for.
    let r = run(orch(
        &g,
        &[
            "--timeout",
            "300ms",
            "--kill-after",
            "500ms",
            "--json",
            "--count",
            "1",
            "--",
            "sh",
            "-c",
            "(trap '' TERM; echo grandchild; exec sleep 1000) & sleep 1000",
        ],
    ));
    assert_eq!(r.code, Some(124), "{r:?}");
    assert!(r.took < Duration::from_secs(20), "{:?}", r.took);
    let j = &json_lines(&r.stdout)[0];
    assert_eq!(j["timed_out"], true);
    assert_eq!(j["leaked"], true);
    assert_eq!(j["stdout"], "grandchild\n");
    g.assert_none_left();
}

#[test]
fn a_grandchild_holding_the_pipe_after_a_normal_exit_is_reported_not_waited_for() {
    let mut g = LeakGuard::new();
    let r = run(orch(
        &g,
        &[
            "--json",
            "--count",
            "1",
            "--",
            "sh",
            "-c",
            "sleep 1000 & echo hi",
        ],
    ));
    assert_eq!(r.code, Some(0), "{r:?}");
    assert!(r.took < Duration::from_secs(10));
    let j = &json_lines(&r.stdout)[0];
    assert_eq!(j["leaked"], true);
    assert_eq!(j["status"], "ok");
    assert_eq!(j["stdout"], "hi\n");
    assert!(r.stderr.contains("left processes behind"), "{}", r.stderr);
    g.assert_none_left();
}

#[test]
fn retries_mean_at_most_n_tries_and_keep_the_last_attempts_output() {
    let mut g = LeakGuard::new();
    let dir = tempfile::tempdir().unwrap();
    // Fails on attempts 1 and 2, succeeds on attempt 3.
    let job = "n=$(cat count 2>/dev/null || echo 0); n=$((n + 1)); echo $n > count; \
               echo \"attempt $n\"; [ $n -ge 3 ]";
    let mk = |retries: &str| {
        let _ = std::fs::remove_file(dir.path().join("count"));
        let mut c = orch(
            &g,
            &[
                "--retries",
                retries,
                "--json",
                "--count",
                "1",
                "--",
                "sh",
                "-c",
                job,
            ],
        );
        c.current_dir(dir.path());
        c
    };
    let r = run(mk("3"));
    assert_eq!(r.code, Some(0), "{r:?}");
    let j = &json_lines(&r.stdout)[0];
    assert_eq!(j["attempts"], 3);
    assert_eq!(j["stdout"], "attempt 3\n");
    let r = run(mk("2"));
    assert_eq!(r.code, Some(1), "{r:?}");
    let j = &json_lines(&r.stdout)[0];
    assert_eq!(j["attempts"], 2);
    assert_eq!(j["exit_code"], 1);
    assert_eq!(j["stdout"], "attempt 2\n");
    assert!(r.stderr.contains("1 retried"), "{}", r.stderr);
    g.assert_none_left();
}

#[test]
fn halt_now_stops_running_jobs_and_halt_soon_lets_them_finish() {
    let mut g = LeakGuard::new();
    let input = "fail\nslow\nnever1\nnever2\n";
    let job = "if [ \"$1\" = fail ]; then sleep 0.2; exit 3; fi; sleep ${SLOW:-1000}; echo \"$1\"";
    let r = run_stdin(
        orch(
            &g,
            &[
                "-j",
                "2",
                "--halt",
                "now,fail=1",
                "-a",
                "-",
                "--",
                "sh",
                "-c",
                job,
                "sh",
            ],
        ),
        input.as_bytes(),
    );
    assert_eq!(r.code, Some(1), "{r:?}");
    assert!(r.took < Duration::from_secs(20));
    assert!(r.stderr.contains("1 stopped"), "{}", r.stderr);
    assert!(r.stderr.contains("2 not run"), "{}", r.stderr);
    assert_eq!(r.stdout, "");
    // soon: the slow job finishes; nothing new starts.
    let mut c = orch(
        &g,
        &[
            "-j",
            "2",
            "--halt",
            "soon,fail=1",
            "-a",
            "-",
            "--",
            "sh",
            "-c",
            job,
            "sh",
        ],
    );
    c.env("SLOW", "0.6");
    let r = run_stdin(c, input.as_bytes());
    assert_eq!(r.code, Some(1), "{r:?}");
    assert_eq!(r.stdout, "slow\n");
    assert!(r.stderr.contains("2 not run"), "{}", r.stderr);
    // success=1: the first success ends the run, with its exit code.
    let r = run_stdin(
        orch(
            &g,
            &[
                "-j",
                "1",
                "--halt",
                "now,success=1",
                "-a",
                "-",
                "--",
                "sh",
                "-c",
                "[ \"$1\" = b ]",
                "sh",
            ],
        ),
        b"a\nb\nc\n",
    );
    assert_eq!(r.code, Some(0), "{r:?}");
    assert!(r.stderr.contains("1 ok, 1 failed"), "{}", r.stderr);
    g.assert_none_left();
}

#[test]
fn json_has_one_object_per_job_with_every_field() {
    let mut g = LeakGuard::new();
    let r = run_stdin(
        orch(
            &g,
            &[
                "--json",
                "-k",
                "-a",
                "-",
                "--",
                "sh",
                "-c",
                "echo \"$1\"; exit $1",
                "sh",
            ],
        ),
        b"0\n3\n",
    );
    assert_eq!(r.code, Some(1), "{r:?}");
    let j = json_lines(&r.stdout);
    assert_eq!(j.len(), 2);
    for (i, v) in j.iter().enumerate() {
        for key in [
            "seq",
            "input",
            "argv",
            "host",
            "start",
            "duration",
            "exit_code",
            "signal",
            "timed_out",
            "leaked",
            "attempts",
            "status",
            "error",
            "lost_hosts",
            "stdout",
            "stderr",
        ] {
            assert!(v.get(key).is_some(), "no `{key}` in {v}");
        }
        assert_eq!(v["seq"], i as u64 + 1);
        assert_eq!(v["host"], ":");
        assert_eq!(v["attempts"], 1);
        assert_eq!(v["lost_hosts"], serde_json::json!([]));
        assert!(v["start"].as_f64().unwrap() > 1.6e9);
        assert!(v["duration"].as_f64().unwrap() >= 0.0);
        assert_eq!(v["argv"][0], "sh");
    }
    assert_eq!(j[0]["input"], "0");
    assert_eq!(j[0]["exit_code"], 0);
    assert_eq!(j[0]["status"], "ok");
    assert_eq!(j[0]["stdout"], "0\n");
    assert_eq!(j[1]["exit_code"], 3);
    assert_eq!(j[1]["status"], "failed");
    assert_eq!(j[1]["argv"][4], "3");
    g.assert_none_left();
}

#[test]
fn exit_codes_are_distinct() {
    let mut g = LeakGuard::new();
    let dir = tempfile::tempdir().unwrap();
    let noexec = write(dir.path(), "noexec.sh", "#!/bin/sh\n");
    let code = |args: &[&str]| run(orch(&g, args)).code;
    assert_eq!(code(&["--count", "2", "--", "true"]), Some(0));
    assert_eq!(code(&["--count", "2", "--", "false"]), Some(1));
    assert_eq!(
        code(&["--timeout", "100ms", "--count", "1", "--", "sleep", "10"]),
        Some(124)
    );
    assert_eq!(code(&["--count", "1", "--", &noexec]), Some(126));
    let r = run(orch(
        &g,
        &["--count", "2", "--", "surely-not-a-program-xyz"],
    ));
    assert_eq!(r.code, Some(127));
    assert!(
        r.stderr
            .contains("cannot start `surely-not-a-program-xyz`: no such file or directory"),
        "{}",
        r.stderr
    );
    // Our stdout cannot be written (disk full): the run stops, says why, exits 125.
    let mut c = Command::new("sh");
    g.apply(&mut c);
    c.args([
        "-c",
        &format!(
            "exec {} run --count 3 -- echo hi > /dev/full",
            testkit::bin("orchestrator").display()
        ),
    ]);
    let r = run(c);
    assert_eq!(r.code, Some(125), "{r:?}");
    assert!(r.stderr.contains("cannot write stdout"), "{}", r.stderr);
    // Usage errors.
    assert_eq!(code(&["--halt", "sometimes", "--", "true"]), Some(2));
    assert_eq!(code(&["--args", "/surely/not/here", "--", "true"]), Some(2));
    assert_eq!(code(&["--", "echo", "{}"]), Some(2));
    assert_eq!(code(&["--resume", "--", "true"]), Some(2));
    assert_eq!(code(&["--timeout", "soon", "--", "true"]), Some(2));
    assert_eq!(code(&[]), Some(2));
    g.assert_none_left();
}

#[test]
fn help_documents_every_option_and_the_exit_codes() {
    let out = Command::new(testkit::bin("orchestrator"))
        .args(["run", "--help"])
        .output()
        .unwrap();
    let help = String::from_utf8_lossy(&out.stdout);
    for opt in [
        "--procs",
        "--count",
        "--args",
        "--null",
        "--shell",
        "--timeout",
        "--kill-after",
        "--retries",
        "--halt",
        "--line-buffer",
        "--tag",
        "--keep-order",
        "--joblog",
        "--resume",
        "--resume-failed",
        "--json",
        "--no-progress",
        "EXIT CODES",
        "124",
        "127",
        "130",
        "Example",
    ] {
        assert!(help.contains(opt), "--help lacks {opt}");
    }
}

#[test]
fn first_sigint_terms_every_group_and_exits_130() {
    let mut g = LeakGuard::new();
    let mut c = orch(
        &g,
        &[
            "-j",
            "4",
            "--count",
            "6",
            "--",
            "sh",
            "-c",
            "sleep 1000 & wait",
        ],
    );
    c.process_group(0); // a background job of a non-interactive shell would ignore SIGINT
    let r = start(c, None);
    let pid = r.pid();
    wait_for_children(&g, pid, 1 + 8); // the guardian, 4 shells, 4 sleeps
    kill("-INT", pid);
    let r = r.finish(Duration::from_secs(20));
    assert_eq!(r.code, Some(130), "{r:?}");
    assert!(r.stderr.contains("4 stopped"), "{}", r.stderr);
    assert!(r.stderr.contains("2 not run"), "{}", r.stderr);
    g.assert_none_left();
}

#[test]
fn second_sigint_kills_at_once_and_sigterm_exits_143() {
    let mut g = LeakGuard::new();
    let mut c = orch(
        &g,
        &[
            "-j",
            "2",
            "--count",
            "2",
            "--kill-after",
            "100s",
            "--",
            "sh",
            "-c",
            "trap '' TERM INT; sleep 1000",
        ],
    );
    c.process_group(0);
    let r = start(c, None);
    let pid = r.pid();
    wait_for_children(&g, pid, 1 + 2);
    kill("-INT", pid);
    std::thread::sleep(Duration::from_millis(300));
    kill("-INT", pid);
    let r = r.finish(Duration::from_secs(20));
    assert_eq!(r.code, Some(130), "{r:?}");
    assert!(r.took < Duration::from_secs(20));
    g.assert_none_left();

    let mut c = orch(&g, &["-j", "2", "--count", "2", "--", "sleep", "1000"]);
    c.process_group(0);
    let r = start(c, None);
    let pid = r.pid();
    wait_for_children(&g, pid, 1 + 2);
    kill("-TERM", pid);
    let r = r.finish(Duration::from_secs(20));
    assert_eq!(r.code, Some(143), "{r:?}");
    assert!(r.stderr.contains("2 stopped"), "{}", r.stderr);
    g.assert_none_left();
}

#[test]
fn sigkill_of_the_orchestrator_takes_its_children_and_grandchildren_down() {
    let mut g = LeakGuard::new();
    // Each job is a shell with a background and a foreground grandchild.
    let mut c = orch(
        &g,
        &[
            "-j",
            "3",
            "--count",
            "3",
            "--",
            "sh",
            "-c",
            "sleep 1000 & sleep 1000",
        ],
    );
    c.process_group(0);
    let r = start(c, None);
    let pid = r.pid();
    wait_for_children(&g, pid, 1 + 3 * 3); // the guardian, 3 shells, 6 sleeps
    kill("-KILL", pid);
    let r = r.finish(Duration::from_secs(20));
    assert_eq!(r.code, None, "killed by a signal");
    // The guardian sees the orchestrator's end of its pipe close and kills every group.
    g.assert_none_left_within(Duration::from_secs(5));
}

#[test]
fn with_pdeathsig_alone_the_kernel_kills_the_direct_children() {
    let mut g = LeakGuard::new();
    let mut c = orch(
        &g,
        &[
            "--no-guardian",
            "--pdeathsig",
            "-j",
            "3",
            "--count",
            "3",
            "--",
            "sleep",
            "1000",
        ],
    );
    c.process_group(0);
    let r = start(c, None);
    let pid = r.pid();
    wait_for_children(&g, pid, 3);
    kill("-KILL", pid);
    let r = r.finish(Duration::from_secs(20));
    assert_eq!(r.code, None);
    g.assert_none_left_within(Duration::from_secs(5));
}

#[test]
fn out_of_file_descriptors_lowers_the_concurrency_and_finishes() {
    let mut g = LeakGuard::new();
    let bin = testkit::bin("orchestrator");
    // 64 fds cannot hold 100 jobs' pipes: the run says so and goes on with what fits.
    let script = format!(
        "ulimit -n 64; exec {} run -j 100 --count 150 -- sh -c 'sleep 0.05; echo x'",
        bin.display()
    );
    let mut c = Command::new("sh");
    g.apply(&mut c);
    c.args(["-c", &script]);
    let r = run(c);
    assert_eq!(r.code, Some(0), "{r:?}");
    assert_eq!(r.stdout, "x\n".repeat(150));
    assert!(r.stderr.contains("file descriptors"), "{}", r.stderr);
    assert!(r.stderr.contains("150 ok"), "{}", r.stderr);
    // Jobs whose output spills to temporary files need more fds still: the run never
    // hangs, and every byte arrives.
    let script = format!(
        "ulimit -n 40; exec {} run -j 50 --count 24 -- head -c 2000000 /dev/zero | wc -c",
        bin.display()
    );
    let mut c = Command::new("sh");
    g.apply(&mut c);
    c.args(["-c", &script]);
    let r = run(c);
    assert_eq!(r.code, Some(0), "{r:?}");
    assert_eq!(
        r.stdout.trim(),
        (24 * 2_000_000).to_string(),
        "{}",
        r.stderr
    );
    // In order, behind one slow job, finished jobs hold their spill files open: fds run out
    // at spawn time (EMFILE). The run lowers its concurrency, then goes back up.
    let script = format!(
        "ulimit -n 64; exec {} run -k -j 10 --count 60 -- \
         sh -c '[ {{#}} = 1 ] && sleep 1; head -c 1000000 /dev/zero' | wc -c",
        bin.display()
    );
    let mut c = Command::new("sh");
    g.apply(&mut c);
    c.args(["-c", &script]);
    let r = run(c);
    assert_eq!(r.code, Some(0), "{r:?}");
    assert_eq!(
        r.stdout.trim(),
        (60 * 1_000_000).to_string(),
        "{}",
        r.stderr
    );
    assert!(r.stderr.contains("running fewer at once"), "{}", r.stderr);
    assert!(r.stderr.contains("60 ok"), "{}", r.stderr);
    g.assert_none_left();
}

#[test]
fn a_thousand_children_on_few_threads_and_little_memory() {
    let mut g = LeakGuard::new();
    let mut c = orch(
        &g,
        &["-j", "1000", "--count", "1000", "--", "sleep", "1000"],
    );
    c.process_group(0);
    let r = start(c, None);
    let pid = r.pid();
    wait_for_children(&g, pid, 1 + 1000);
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap();
    let field = |name: &str| -> u64 {
        status
            .lines()
            .find_map(|l| l.strip_prefix(name))
            .and_then(|v| v.split_whitespace().next())
            .and_then(|v| v.parse().ok())
            .unwrap()
    };
    let threads = field("Threads:");
    let rss_kib = field("VmRSS:");
    let cores = std::thread::available_parallelism().unwrap().get() as u64;
    kill("-TERM", pid);
    let r = r.finish(Duration::from_secs(60));
    assert_eq!(r.code, Some(143), "{}", r.stderr);
    assert!(threads <= cores + 4, "{threads} threads");
    assert!(rss_kib <= 64 * 1024, "{rss_kib} KiB resident");
    assert!(r.stderr.contains("1000 stopped"), "{}", r.stderr);
    g.assert_none_left_within(Duration::from_secs(10));
}

#[test]
fn progress_bar_only_on_a_terminal() {
    let mut g = LeakGuard::new();
    let bin = testkit::bin("orchestrator");
    // `script` gives the orchestrator a pseudo-terminal.
    let with_tty = |extra: &str| {
        let inner = format!(
            "{} run {extra} -j 2 --count 4 -- sh -c 'sleep 0.2; echo out'",
            bin.display()
        );
        let mut c = Command::new("script");
        g.apply(&mut c);
        c.args(["-qec", &inner, "/dev/null"]);
        run(c)
    };
    let r = with_tty("");
    assert_eq!(r.code, Some(0), "{r:?}");
    assert!(r.stdout.contains("4/4 jobs"), "{}", r.stdout);
    assert!(r.stdout.contains("ETA"), "{}", r.stdout);
    assert_eq!(r.stdout.matches("out\r\n").count(), 4);
    let r = with_tty("--no-progress");
    assert!(!r.stdout.contains("ETA"), "{}", r.stdout);
    // Not a terminal: no bar.
    let r = run(orch(&g, &["-j", "2", "--count", "4", "--", "true"]));
    assert!(!r.stderr.contains("ETA"), "{}", r.stderr);
    g.assert_none_left();
}

#[test]
fn a_closed_stdout_stops_the_run_cleanly() {
    let mut g = LeakGuard::new();
    let bin = testkit::bin("orchestrator");
    // `head -1` exits after one line: our next write fails with EPIPE.
    let script = format!(
        "{} run -j 2 --count 1000 -- sh -c 'echo line; sleep 0.01' | head -1; \
         echo \"rc=${{PIPESTATUS[0]}}\" >&2",
        bin.display()
    );
    let mut c = Command::new("bash");
    g.apply(&mut c);
    c.args(["-c", &script]);
    let r = run(c);
    assert_eq!(r.stdout, "line\n");
    assert!(r.stderr.contains("rc=141"), "{}", r.stderr);
    assert!(r.stderr.contains("not run"), "{}", r.stderr);
    g.assert_none_left();
}

#[test]
fn endless_input_is_read_in_bounded_memory() {
    let mut g = LeakGuard::new();
    // `yes` never ends: the reader must stop at its bounded queue, not slurp it all.
    let mut yes = Command::new("yes");
    g.apply(&mut yes);
    let mut yes = yes.stdout(Stdio::piped()).spawn().unwrap();
    let mut c = orch(
        &g,
        &["-j", "2", "-a", "-", "--", "sh", "-c", "sleep 1000", "sh"],
    );
    c.process_group(0);
    let r = start_with(c, Stdio::from(yes.stdout.take().unwrap()), None);
    let pid = r.pid();
    wait_for_children(&g, pid, 1 + 1 + 2); // yes, the guardian, 2 jobs
    std::thread::sleep(Duration::from_millis(500));
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap();
    let rss_kib: u64 = status
        .lines()
        .find_map(|l| l.strip_prefix("VmRSS:"))
        .and_then(|v| v.split_whitespace().next())
        .and_then(|v| v.parse().ok())
        .unwrap();
    kill("-INT", pid);
    let r = r.finish(Duration::from_secs(20));
    assert_eq!(r.code, Some(130), "{}", r.stderr);
    assert!(rss_kib < 32 * 1024, "{rss_kib} KiB resident");
    assert!(r.stderr.contains("2 stopped"), "{}", r.stderr);
    assert!(r.stderr.contains("input left unread"), "{}", r.stderr);
    // `yes` dies of SIGPIPE once the orchestrator is gone.
    let _ = yes.wait();
    g.assert_none_left_within(Duration::from_secs(5));
}
