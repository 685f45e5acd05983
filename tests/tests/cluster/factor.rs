//! `orchestrator factor` with its workers on the test cluster's hosts (ssh) and as Slurm steps:
//! output byte for byte as locally, frames unchanged, no worker left on any host after a kill
//! or a timeout, exactly-once output in order when a host is lost.
//!
//! Remote workers do not inherit the test's mark (ssh does not carry the environment), so the
//! hosts are searched for processes running the worker program (`/proc/PID/exe`).

use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use testkit::LeakGuard;
use testkit::cluster::{Cluster, NsHost};

use super::run::orch;
use super::{Output, run_bounded};

fn text(out: &[u8]) -> String {
    String::from_utf8_lossy(out).into_owned()
}

fn assert_ok(out: &Output, what: &str) {
    assert!(
        out.status.success(),
        "{what}: {}\nstderr: {}",
        out.status,
        text(&out.stderr)
    );
}

/// Processes in `host` running `program`.
fn running_in(cluster: &Cluster, host: &NsHost, program: &Path) -> Vec<u32> {
    let want = std::fs::canonicalize(program).unwrap_or_else(|_| program.to_path_buf());
    cluster
        .pids_in(host)
        .into_iter()
        .filter(|p| std::fs::read_link(format!("/proc/{p}/exe")).is_ok_and(|e| e == want))
        .collect()
}

/// Waits until no host runs `program`; fails naming the survivors (killed then by PID).
fn assert_none_running(cluster: &Cluster, program: &Path, within: Duration, what: &str) {
    let deadline = Instant::now() + within;
    loop {
        let left: Vec<(String, Vec<u32>)> = cluster
            .hosts()
            .iter()
            .map(|h| (h.hostname.clone(), running_in(cluster, h, program)))
            .filter(|(_, p)| !p.is_empty())
            .collect();
        if left.is_empty() {
            return;
        }
        if Instant::now() >= deadline {
            for (_, pids) in &left {
                for p in pids {
                    let _ = Command::new("kill")
                        .args(["-KILL", &p.to_string()])
                        .status();
                }
            }
            panic!("{what}: {} still running: {left:?}", program.display());
        }
        std::thread::sleep(Duration::from_millis(20));
    }
}

/// Waits until every host in `hosts` runs `program`.
fn wait_running_on(cluster: &Cluster, hosts: &[NsHost], program: &Path, within: Duration) {
    let deadline = Instant::now() + within;
    for h in hosts {
        while running_in(cluster, h, program).is_empty() {
            assert!(
                Instant::now() < deadline,
                "{} never ran on {}",
                program.display(),
                h.hostname
            );
            std::thread::sleep(Duration::from_millis(20));
        }
    }
}

/// A mix: small numbers, u64 and u128 semiprimes, and (for divisors) numbers with up to
/// 184,320 divisors, whose answers take several 1 MiB frames each.
fn mixed_input() -> Vec<u8> {
    let mut s = String::new();
    for n in 1..2000u64 {
        s.push_str(&format!("{n}\n"));
    }
    for n in [
        "4294967291", // a prime
        "18446743979220271189",
        "340282366920938463463374607431768211455",
        "170141183460469231731687303715884105727", // 2^127 - 1, prime
        "963761198400",
        "897612484786617600",
        "18401055938125660800",
        "not-a-number",
    ] {
        s.push_str(n);
        s.push('\n');
    }
    s.into_bytes()
}

fn factor(cluster: &Cluster, guard: &LeakGuard, args: &[&str], input: &[u8]) -> Output {
    let mut all = vec!["factor"];
    all.extend(args);
    run_bounded(
        &mut orch(cluster, guard, &all),
        input,
        Duration::from_secs(120),
    )
}

/// The same output as local workers, byte for byte, through ssh (3 hosts) and srun, in both
/// modes: the frames (up to 1 MiB each for the divisor lists) arrive unchanged.
pub(crate) fn factor_over_ssh_and_srun_matches_local(cluster: &Cluster) {
    let mut guard = LeakGuard::new();
    let input = mixed_input();
    let hosts = cluster.sshlogins(1).join(",");
    for mode in ["primes", "divisors"] {
        let local = factor(cluster, &guard, &["--procs", "2", "--mode", mode], &input);
        assert_eq!(local.status.code(), Some(1), "one input is not a number");
        assert!(local.stdout.len() > 10_000);
        let over_ssh = factor(cluster, &guard, &["-S", &hosts, "--mode", mode], &input);
        assert_eq!(
            over_ssh.status.code(),
            Some(1),
            "ssh: {}",
            text(&over_ssh.stderr)
        );
        assert!(
            over_ssh.stdout == local.stdout,
            "{mode}: output over ssh differs from the local one ({} vs {} bytes)",
            over_ssh.stdout.len(),
            local.stdout.len()
        );
        if cluster.slurm_unavailable().is_none() {
            let over_srun = factor(
                cluster,
                &guard,
                &["--slurm", "--procs", "3", "--mode", mode],
                &input,
            );
            assert_eq!(
                over_srun.status.code(),
                Some(1),
                "srun: {}",
                text(&over_srun.stderr)
            );
            assert!(
                over_srun.stdout == local.stdout,
                "{mode}: output through srun differs from the local one"
            );
        }
    }
    guard.assert_none_left();
    assert_none_running(
        cluster,
        &testkit::bin("worker"),
        Duration::from_secs(5),
        "after the runs",
    );
}

/// Starts `orchestrator factor ARGS` reading a stdin we keep open (the workers wait for
/// numbers), in its own process group.
fn start_idle(cluster: &Cluster, guard: &LeakGuard, args: &[&str]) -> std::process::Child {
    let mut all = vec!["factor"];
    all.extend(args);
    let mut cmd = orch(cluster, guard, &all);
    cmd.stdin(Stdio::piped())
        .stdout(Stdio::null())
        .stderr(Stdio::null());
    std::os::unix::process::CommandExt::process_group(&mut cmd, 0);
    cmd.spawn().expect("orchestrator factor starts")
}

/// SIGKILL of the orchestrator: no worker is left on any host (ssh: the sshd of each worker's
/// connection exits and the parent-death signal kills the worker; srun: the step ends).
pub(crate) fn factor_sigkill_leaves_no_worker_on_any_host(cluster: &Cluster) {
    let worker = testkit::bin("worker");
    let hosts = cluster.sshlogins(2).join(",");
    let mut runs: Vec<Vec<&str>> = vec![vec!["-S", &hosts]];
    if cluster.slurm_unavailable().is_none() {
        runs.push(vec!["--slurm", "--procs", "6"]);
    }
    for args in runs {
        let mut guard = LeakGuard::new();
        let mut child = start_idle(cluster, &guard, &args);
        wait_running_on(cluster, cluster.hosts(), &worker, Duration::from_secs(30));
        child.kill().expect("SIGKILL");
        child.wait().expect("reaped");
        assert_none_running(
            cluster,
            &worker,
            Duration::from_secs(5),
            &format!("after SIGKILL of `orchestrator factor {}`", args.join(" ")),
        );
        guard.assert_none_left_within(Duration::from_secs(5));
    }
}

/// A script that runs the fake worker with `FAKE_WORKER=behaviour` (environment variables do
/// not travel over ssh; the hosts share this file system).
fn fake_worker_script(dir: &Path, behaviour: &str) -> PathBuf {
    use std::os::unix::fs::PermissionsExt;
    let path = dir.join(format!("fake-{}.sh", behaviour.replace(['=', ','], "_")));
    let mut f = std::fs::File::create(&path).expect("script");
    writeln!(
        f,
        "#!/bin/sh\nFAKE_WORKER='{behaviour}' exec '{}' \"$@\"",
        testkit::bin("fake_worker").display()
    )
    .expect("write script");
    drop(f);
    std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o755)).expect("chmod");
    path
}

/// A number that hangs its (fake) worker times out; the worker is killed on its host (not just
/// its local ssh), and the run goes on.
pub(crate) fn factor_timeout_kills_the_remote_worker(cluster: &Cluster) {
    let mut guard = LeakGuard::new();
    let dir = tempfile::tempdir().expect("temp dir");
    let script = fake_worker_script(dir.path(), "hang-on=77");
    let fake = testkit::bin("fake_worker");
    let host = &cluster.hosts()[0];
    let login = host.sshlogin(1);
    let worker = script.to_string_lossy().into_owned();
    let mut cmd = orch(
        cluster,
        &guard,
        &[
            "factor",
            "-S",
            &login,
            "--worker",
            &worker,
            "--timeout",
            "500ms",
        ],
    );
    cmd.stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    let mut child = cmd.spawn().expect("starts");
    let mut stdin = child.stdin.take().expect("piped");
    stdin.write_all(b"76 77\n").expect("write");
    // Wait for the timeout to strike: a fresh worker replaces the hung one.
    let deadline = Instant::now() + Duration::from_secs(30);
    let first = loop {
        let now = running_in(cluster, host, &fake);
        if !now.is_empty() {
            break now;
        }
        assert!(Instant::now() < deadline, "the fake worker never ran");
        std::thread::sleep(Duration::from_millis(20));
    };
    loop {
        let now = running_in(cluster, host, &fake);
        if !now.is_empty() && now.iter().all(|p| !first.contains(p)) {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "the hung worker {first:?} still runs on {}: {now:?}",
            host.hostname
        );
        std::thread::sleep(Duration::from_millis(20));
    }
    stdin.write_all(b"78\n").expect("write");
    drop(stdin);
    let out = child.wait_with_output().expect("runs");
    assert_eq!(out.status.code(), Some(124), "{}", text(&out.stderr));
    assert_eq!(text(&out.stdout), "76: 2 2 19\n78: 2 3 13\n");
    assert!(
        text(&out.stderr).contains("timed out"),
        "{}",
        text(&out.stderr)
    );
    assert_none_running(cluster, &fake, Duration::from_secs(5), "after the run");
    guard.assert_none_left();
}

/// The local reference for the host-loss runs: coreutils' format, one line per number.
fn fake_reference(numbers: &[u64]) -> Vec<u8> {
    let out = Command::new(testkit::bin("worker"))
        .arg("factor")
        .args(numbers.iter().map(u64::to_string))
        .output()
        .expect("worker factor runs");
    assert!(out.status.success());
    out.stdout
}

/// Loses `victim` while `orchestrator factor` runs slow (fake) workers on every host: the
/// output must still be exactly the reference, in order, each line once.
fn factor_with_host_lost(
    cluster: &Cluster,
    victim: &NsHost,
    ssh: Option<&str>,
    lose: impl FnOnce(&Cluster, &NsHost),
) {
    let mut guard = LeakGuard::new();
    let dir = tempfile::tempdir().expect("temp dir");
    // 3 ms a number: 2,400 numbers on 6 workers take about 1.2 s of work each.
    let script = fake_worker_script(dir.path(), "slow-us=3000");
    let fake = testkit::bin("fake_worker");
    let numbers: Vec<u64> = (0..2400u64).map(|i| i * 7919 + 12345).collect();
    let input: String = numbers.iter().map(|n| format!("{n}\n")).collect();
    let hosts = cluster.sshlogins(2).join(",");
    let worker = script.to_string_lossy().into_owned();
    let mut args = vec!["factor", "-S", &hosts, "--worker", &worker];
    if let Some(s) = ssh {
        args.extend(["--ssh", s]);
    }
    let mut cmd = orch(cluster, &guard, &args);
    let out = std::thread::scope(|s| {
        let runner = s.spawn(|| run_bounded(&mut cmd, input.as_bytes(), Duration::from_secs(120)));
        wait_running_on(
            cluster,
            std::slice::from_ref(victim),
            &fake,
            Duration::from_secs(30),
        );
        // Let it work a little first.
        std::thread::sleep(Duration::from_millis(300));
        lose(cluster, victim);
        runner.join().expect("runner")
    });
    assert_ok(&out, "factor with a host lost");
    let want = fake_reference(&numbers);
    if out.stdout != want {
        let got = text(&out.stdout);
        let want = text(&want);
        let first_diff = got
            .lines()
            .zip(want.lines())
            .position(|(a, b)| a != b)
            .unwrap_or(got.lines().count().min(want.lines().count()));
        panic!(
            "output differs from the reference at line {} ({} vs {} lines); stderr: {}",
            first_diff + 1,
            got.lines().count(),
            want.lines().count(),
            text(&out.stderr)
        );
    }
    let err = text(&out.stderr);
    assert!(
        err.contains(&format!("on {}", victim.ssh_target())),
        "{err}"
    );
    assert!(err.contains("lost"), "{err}");
    guard.assert_none_left();
    drop(dir);
}

/// sshd killed mid-run (sessions included): the victim's workers end at once (their ssh exits
/// 255), their numbers go to the others.
pub(crate) fn factor_host_lost_sshd_killed(cluster: &Cluster) {
    let victim = &cluster.hosts()[1];
    factor_with_host_lost(cluster, victim, None, |c, h| {
        c.kill_sshd(h).expect("kill sshd")
    });
    cluster.restart_sshd(victim).expect("sshd back");
    assert_none_running(
        cluster,
        &testkit::bin("fake_worker"),
        Duration::from_secs(5),
        "after the run",
    );
}

/// Link down mid-run: the victim's workers go silent (they owe a frame every 20 ms), the pool
/// declares them lost after 5 s, their numbers go to the others; restarts there fail
/// (ConnectTimeout) and the slots are given up.
pub(crate) fn factor_host_lost_link_down(cluster: &Cluster) {
    let victim = &cluster.hosts()[2];
    let ssh = format!(
        "ssh -F {} -o ConnectTimeout=2",
        cluster.ssh_config().display()
    );
    factor_with_host_lost(cluster, victim, Some(&ssh), |c, h| {
        c.set_link(h, false).expect("link down")
    });
    cluster.set_link(victim, true).expect("link up");
    // sshd's client keep-alive (3 s in the test cluster) ends the orphaned sessions there.
    assert_none_running(
        cluster,
        &testkit::bin("fake_worker"),
        Duration::from_secs(10),
        "on the host whose link went down",
    );
}
