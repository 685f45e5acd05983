//! `orchestrator factor` end to end: output identical to `worker factor`, every input mode,
//! and the fault matrix (workers killed at random, garbage, failed handshakes, hangs,
//! mid-batch exits, Ctrl-C), with no worker left behind.

use std::io::{Read, Write};
use std::os::unix::process::CommandExt;
use std::process::{Child, Command, Output, Stdio};
use std::time::{Duration, Instant};

use testkit::LeakGuard;

fn orch(g: &LeakGuard) -> Command {
    let mut c = Command::new(testkit::bin("orchestrator"));
    g.apply(&mut c);
    c
}

/// `orchestrator factor --worker fake_worker` with `FAKE_WORKER=behaviour`.
fn orch_fake(g: &LeakGuard, behaviour: &str) -> Command {
    let mut c = orch(g);
    c.arg("factor")
        .arg("--worker")
        .arg(testkit::bin("fake_worker"))
        .env("FAKE_WORKER", behaviour);
    c
}

fn text(b: &[u8]) -> String {
    String::from_utf8_lossy(b).into_owned()
}

/// Runs `c` with `input` on stdin; returns its output.
fn run_with(c: &mut Command, input: &[u8]) -> Output {
    let mut child = c
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("starts");
    let mut stdin = child.stdin.take().expect("piped");
    let input = input.to_vec();
    let writer = std::thread::spawn(move || {
        let _ = stdin.write_all(&input);
    });
    let out = child.wait_with_output().expect("runs");
    writer.join().expect("writer");
    out
}

/// `worker factor` (or `worker divisors`) on the same input: the reference.
fn reference(mode: &str, input: &[u8]) -> Output {
    run_with(Command::new(testkit::bin("worker")).arg(mode), input)
}

fn numbers_text(ns: &[u128]) -> Vec<u8> {
    ns.iter()
        .map(|n| format!("{n}\n"))
        .collect::<String>()
        .into_bytes()
}

/// Live processes carrying the guard's mark that are workers (`... serve`).
fn worker_pids(g: &LeakGuard) -> Vec<u32> {
    g.survivors()
        .into_iter()
        .filter(|pid| {
            let cmdline = std::fs::read(format!("/proc/{pid}/cmdline")).unwrap_or_default();
            cmdline.split(|&b| b == 0).any(|a| a == b"serve")
        })
        .collect()
}

fn signal(pid: u32, sig: &str) {
    let _ = Command::new("kill")
        .args([&format!("-{sig}"), &pid.to_string()])
        .status();
}

#[test]
fn output_is_byte_identical_to_worker_factor_from_stdin_file_and_arguments() {
    let mut g = LeakGuard::new();
    let mut rng = fastrand::Rng::with_seed(7);
    let mut ns: Vec<u128> = (0..20_000).map(|_| u128::from(rng.u64(..))).collect();
    ns.extend([
        0,
        1,
        2,
        2139079,
        1214759,
        1516637,
        1852285,
        u128::from(u64::MAX),
    ]);
    ns.push(u128::MAX);
    ns.push((1u128 << 64) + 1);
    let mut input = numbers_text(&ns);
    input.extend_from_slice(b"abc -5 +007 1.5 340282366920938463463374607431768211456\n\t12");
    let want = reference("factor", &input);
    assert_eq!(want.status.code(), Some(1));

    // stdin
    let got = run_with(orch(&g).args(["factor", "--procs", "2"]), &input);
    assert_eq!(got.status.code(), Some(1), "{}", text(&got.stderr));
    assert!(
        got.stdout == want.stdout,
        "stdout differs from worker factor"
    );
    let messages = |s: &[u8]| -> Vec<String> {
        text(s)
            .lines()
            .map(|l| l.split_once(": ").map_or(l, |(_, m)| m).to_string())
            .collect()
    };
    assert_eq!(messages(&got.stderr), messages(&want.stderr));
    assert_eq!(messages(&got.stderr).len(), 4, "{}", text(&got.stderr));

    // --input FILE, and `--input -`
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("numbers.txt");
    std::fs::write(&file, &input).unwrap();
    let got = run_with(
        orch(&g).args(["factor", "-j", "3", "--input"]).arg(&file),
        b"",
    );
    assert_eq!(got.status.code(), Some(1));
    assert!(got.stdout == want.stdout);
    let got = run_with(orch(&g).args(["factor", "--input", "-"]), &input);
    assert!(got.stdout == want.stdout);

    // arguments, each taken whole as coreutils does
    let args = [
        "12",
        " 7",
        "abc",
        "",
        "1 2",
        "-5",
        "+007",
        "18446744073709551617",
    ];
    let want = Command::new(testkit::bin("worker"))
        .arg("factor")
        .args(args)
        .output()
        .unwrap();
    let got = orch(&g)
        .args(["factor", "--procs", "2"])
        .args(args)
        .stdin(Stdio::null())
        .output()
        .unwrap();
    assert_eq!(got.status.code(), Some(1));
    assert_eq!(text(&got.stdout), text(&want.stdout));
    assert_eq!(messages(&got.stderr), messages(&want.stderr));
    assert!(text(&got.stderr).starts_with("orchestrator: ‘abc’ is not a valid positive integer\n"));
    g.assert_none_left();
}

#[test]
fn divisors_mode_and_json() {
    let mut g = LeakGuard::new();
    let input = b"12 1852285 0 1 720720 18446744073709551615\n";
    let want = reference("divisors", input);
    let got = run_with(orch(&g).args(["factor", "--mode", "divisors"]), input);
    assert_eq!(got.status.code(), Some(0), "{}", text(&got.stderr));
    assert_eq!(text(&got.stdout), text(&want.stdout));

    let got = run_with(orch(&g).args(["factor", "--json"]), b"12 x\"y 1\n");
    assert_eq!(got.status.code(), Some(1));
    assert_eq!(
        text(&got.stdout),
        "{\"n\":12,\"factors\":[2,2,3]}\n\
         {\"input\":\"x\\\"y\",\"error\":\"‘x\\\"y’ is not a valid positive integer\"}\n\
         {\"n\":1,\"factors\":[]}\n"
    );
    for line in text(&got.stdout).lines() {
        serde_json::from_str::<serde_json::Value>(line).expect("each line is JSON");
    }
    let got = run_with(
        orch(&g).args([
            "factor",
            "--mode",
            "divisors",
            "--json",
            "--max-divisors",
            "10",
        ]),
        b"12 720720",
    );
    assert_eq!(got.status.code(), Some(1));
    assert_eq!(
        text(&got.stdout),
        "{\"n\":12,\"divisors\":[1,2,3,4,6,12]}\n\
         {\"n\":720720,\"error\":\"720720: divisor count 240 exceeds the cap of 10\"}\n"
    );
    g.assert_none_left();
}

#[test]
fn chaos_workers_killed_at_random_moments_lose_nothing() {
    let mut g = LeakGuard::new();
    let mut rng = fastrand::Rng::with_seed(2024);
    // Random u64 (a few µs each) mixed with small numbers: 100k inputs.
    let ns: Vec<u128> = (0..100_000)
        .map(|i| {
            if i % 3 == 0 {
                u128::from(rng.u64(..))
            } else {
                u128::from(rng.u32(..))
            }
        })
        .collect();
    let input = numbers_text(&ns);
    let want = reference("factor", &input);
    assert_eq!(want.status.code(), Some(0));

    let mut child = orch(&g)
        .args(["factor", "--procs", "3"])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    // Feed the input in slices over ~2.5 s, so the kills land all through the run.
    let mut stdin = child.stdin.take().unwrap();
    let feeder = std::thread::spawn(move || {
        for slice in input.chunks(input.len() / 100 + 1) {
            if stdin.write_all(slice).is_err() {
                return;
            }
            std::thread::sleep(Duration::from_millis(25));
        }
    });
    let mut stdout = child.stdout.take().unwrap();
    let reader = std::thread::spawn(move || {
        let mut v = Vec::new();
        stdout.read_to_end(&mut v).unwrap();
        v
    });
    let mut kills = 0;
    let start = Instant::now();
    while !feeder.is_finished() && start.elapsed() < Duration::from_secs(60) {
        std::thread::sleep(Duration::from_millis(rng.u64(40..160)));
        // Mostly kill a worker caught computing (it holds work, so that work must be
        // retried); else any worker (an idle loss must be survived too).
        let mut pids = worker_pids(&g);
        for _ in 0..30 {
            let busy: Vec<u32> = pids.iter().copied().filter(|p| is_running(*p)).collect();
            if !busy.is_empty() {
                pids = busy;
                break;
            }
            std::thread::sleep(Duration::from_millis(1));
        }
        if !pids.is_empty() {
            signal(pids[rng.usize(..pids.len())], "KILL");
            kills += 1;
        }
    }
    feeder.join().unwrap();
    let got = reader.join().unwrap();
    let mut stderr = String::new();
    child
        .stderr
        .take()
        .unwrap()
        .read_to_string(&mut stderr)
        .unwrap();
    let status = child.wait().unwrap();
    assert!(kills >= 10, "only {kills} kills");
    assert!(
        got == want.stdout,
        "output differs from the reference after {kills} kills"
    );
    assert_eq!(status.code(), Some(0), "{stderr}");
    let lost = stderr.matches("lost: killed by SIGKILL").count();
    assert!(
        lost >= 5,
        "{lost} losses reported for {kills} kills:\n{stderr}"
    );
    assert!(stderr.contains("worker(s) lost and replaced"), "{stderr}");
    let busy_losses = stderr
        .lines()
        .filter(|l| l.contains("lost: killed by SIGKILL") && !l.contains("(0 input(s) in hand"))
        .count();
    assert!(
        busy_losses >= 3,
        "only {busy_losses} kills hit a worker holding work:\n{stderr}"
    );
    g.assert_none_left();
}

/// The process is on a CPU or ready to run (state `R` in /proc/PID/stat).
fn is_running(pid: u32) -> bool {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).unwrap_or_default();
    // The state follows the command name, which is in parentheses and may hold spaces.
    stat.rsplit_once(')')
        .is_some_and(|(_, rest)| rest.trim_start().starts_with('R'))
}

#[test]
fn protocol_garbage_and_mid_batch_exits_are_survived() {
    for misbehaviour in ["garbage-on", "exit-on", "crash-on"] {
        let mut g = LeakGuard::new();
        let dir = tempfile::tempdir().unwrap();
        let ns: Vec<u128> = (5000..15_000).collect();
        let input = numbers_text(&ns);
        let behaviour = format!("{misbehaviour}=9999,once={}", dir.path().display());
        let got = run_with(orch_fake(&g, &behaviour).args(["--procs", "2"]), &input);
        let want = reference("factor", &input);
        let stderr = text(&got.stderr);
        assert_eq!(got.status.code(), Some(0), "{misbehaviour}: {stderr}");
        assert!(got.stdout == want.stdout, "{misbehaviour}: output differs");
        let expected = match misbehaviour {
            "garbage-on" => "lost: protocol error: frame header announces",
            "exit-on" => "lost: exit code 3",
            _ => "lost: killed by SIGABRT",
        };
        assert!(stderr.contains(expected), "{misbehaviour}: {stderr}");
        g.assert_none_left();
    }
}

#[test]
fn a_failed_handshake_is_a_clear_error() {
    let cases = [
        ("hello=version", "protocol version mismatch"),
        (
            "hello=garbage",
            "is the peer writing something other than frames?",
        ),
    ];
    for (behaviour, expected) in cases {
        let mut g = LeakGuard::new();
        let got = run_with(orch_fake(&g, behaviour).args(["--procs", "2", "12"]), b"");
        let stderr = text(&got.stderr);
        assert_eq!(got.status.code(), Some(125), "{stderr}");
        assert!(got.stdout.is_empty());
        assert!(stderr.contains("no worker could be started"), "{stderr}");
        assert!(stderr.contains(expected), "{behaviour}: {stderr}");
        assert!(
            stderr.contains("giving up after 3 failed starts"),
            "{stderr}"
        );
        g.assert_none_left();
    }
    let g = LeakGuard::new();
    let got = run_with(
        orch(&g).args(["factor", "--worker", "/no/such/worker", "12"]),
        b"",
    );
    assert_eq!(got.status.code(), Some(125));
    assert!(
        text(&got.stderr).contains("cannot start `/no/such/worker`: no such file or directory"),
        "{}",
        text(&got.stderr)
    );
}

#[test]
fn a_hanging_number_times_out_and_the_rest_is_factored() {
    let mut g = LeakGuard::new();
    let start = Instant::now();
    let got = run_with(
        orch_fake(&g, "hang-on=77").args(["--procs", "2", "--timeout", "300ms"]),
        b"75 76 77 78 79\n",
    );
    let took = start.elapsed();
    let stderr = text(&got.stderr);
    assert_eq!(got.status.code(), Some(124), "{stderr}");
    assert_eq!(
        text(&got.stdout),
        "75: 3 5 5\n76: 2 2 19\n78: 2 3 13\n79: 79\n"
    );
    assert!(
        stderr.contains(
            "orchestrator: ‘77’: timed out after 300ms; its worker was killed and replaced"
        ),
        "{stderr}"
    );
    assert!(
        took >= Duration::from_millis(300) && took < Duration::from_secs(10),
        "{took:?}"
    );
    g.assert_none_left();
}

#[test]
fn ctrl_c_stops_the_workers_and_exits_130() {
    let mut g = LeakGuard::new();
    let mut c = orch_fake(&g, "slow-us=3000");
    c.args(["--procs", "2"])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        // Its own process group: a background job of a non-interactive shell ignores SIGINT.
        .process_group(0);
    let mut child: Child = c.spawn().unwrap();
    let mut stdin = child.stdin.take().unwrap();
    // Enough work for minutes; the stdin stays open.
    let feeder = std::thread::spawn(move || {
        let input = numbers_text(&(1..200_000).collect::<Vec<u128>>());
        let _ = stdin.write_all(&input);
        std::thread::sleep(Duration::from_secs(30));
    });
    let mut stdout = child.stdout.take().unwrap();
    // Wait for the first output: the workers are busy.
    let mut first = [0u8; 1];
    stdout.read_exact(&mut first).unwrap();
    assert_eq!(worker_pids(&g).len(), 2);
    signal(child.id(), "INT");
    let start = Instant::now();
    let mut rest = Vec::new();
    stdout.read_to_end(&mut rest).unwrap();
    let status = child.wait().unwrap();
    let mut stderr = String::new();
    child
        .stderr
        .take()
        .unwrap()
        .read_to_string(&mut stderr)
        .unwrap();
    assert!(start.elapsed() < Duration::from_secs(10));
    assert_eq!(status.code(), Some(130), "{stderr}");
    assert!(stderr.contains("SIGINT received"), "{stderr}");
    assert!(
        stderr.contains("interrupted by SIGINT: the first"),
        "{stderr}"
    );
    // What was printed is a prefix of the answer, in order.
    let mut out = vec![first[0]];
    out.extend(rest);
    let lines: Vec<&str> = std::str::from_utf8(&out).unwrap().lines().collect();
    assert!(!lines.is_empty());
    for (i, line) in lines.iter().enumerate() {
        assert!(line.starts_with(&format!("{}:", i + 1)), "line {i}: {line}");
    }
    g.assert_none_left();
    drop(feeder);
}

#[test]
fn a_closed_stdout_ends_the_run_quietly() {
    let mut g = LeakGuard::new();
    let mut child = orch(&g)
        .args(["factor", "--procs", "2"])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut stdin = child.stdin.take().unwrap();
    let feeder = std::thread::spawn(move || {
        let input = numbers_text(&(1..2_000_000).collect::<Vec<u128>>());
        let _ = stdin.write_all(&input);
    });
    let mut stdout = child.stdout.take().unwrap();
    let mut some = [0u8; 100];
    stdout.read_exact(&mut some).unwrap();
    drop(stdout);
    let status = child.wait().unwrap();
    let mut stderr = String::new();
    child
        .stderr
        .take()
        .unwrap()
        .read_to_string(&mut stderr)
        .unwrap();
    assert_eq!(status.code(), Some(141), "{stderr}");
    assert_eq!(stderr, "");
    feeder.join().unwrap();
    g.assert_none_left();
}

#[test]
fn help_explains_every_option_with_examples_and_exit_codes() {
    let out = Command::new(testkit::bin("orchestrator"))
        .args(["factor", "--help"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(0));
    let help = text(&out.stdout);
    for needle in [
        "--procs",
        "--mode",
        "--timeout",
        "--json",
        "--input",
        "--worker",
        "--max-attempts",
        "--max-divisors",
        "Examples:",
        "seq 1000000 | orchestrator factor",
        "Exit codes:",
        "124  some number timed out",
        "130  interrupted",
    ] {
        assert!(help.contains(needle), "--help lacks {needle:?}:\n{help}");
    }
}

#[test]
fn a_sigkilled_orchestrator_leaves_no_worker_behind() {
    let mut g = LeakGuard::new();
    let mut child = orch_fake(&g, "slow-us=2000")
        .args(["--procs", "2"])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let mut stdin = child.stdin.take().unwrap();
    let feeder = std::thread::spawn(move || {
        let _ = stdin.write_all(&numbers_text(&(1..100_000).collect::<Vec<u128>>()));
    });
    let mut first = [0u8; 1];
    child
        .stdout
        .as_mut()
        .unwrap()
        .read_exact(&mut first)
        .unwrap();
    assert_eq!(worker_pids(&g).len(), 2);
    // No chance to clean up: the workers go because their parent-death signal fires.
    child.kill().unwrap();
    child.wait().unwrap();
    g.assert_none_left();
    drop(child);
    feeder.join().unwrap();
}

#[test]
fn bad_host_options_are_usage_errors_that_name_the_value() {
    let mut g = LeakGuard::new();
    let dir = tempfile::tempdir().unwrap();
    let missing = dir.path().join("no-such-hosts-file");
    let cases: [(&[&str], &str); 3] = [
        (
            &["-S", "0/h1"],
            "-S: bad sshlogin `0/h1`: slot count `0` is not a positive integer",
        ),
        (
            &["--hosts", missing.to_str().unwrap()],
            "cannot read hosts file",
        ),
        (&["--launcher", "srun -n1"], "srun needs -u"),
    ];
    for (opts, want) in cases {
        let out = orch(&g)
            .arg("factor")
            .args(opts)
            .arg("12")
            .stdin(Stdio::null())
            .output()
            .unwrap();
        let stderr = text(&out.stderr);
        assert_eq!(out.status.code(), Some(2), "{opts:?}: {stderr}");
        assert!(stderr.contains(want), "{opts:?}: {stderr}");
        assert!(out.stdout.is_empty(), "{opts:?}: nothing is factored");
    }
    // The reason a hosts file cannot be read is given, without `(os error N)`.
    let out = orch(&g)
        .args(["run", "--hosts", missing.to_str().unwrap(), "--", "true"])
        .output()
        .unwrap();
    let stderr = text(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{stderr}");
    assert!(
        stderr.contains("No such file or directory") && !stderr.contains("os error"),
        "{stderr}"
    );
    g.assert_none_left();
}
