//! `orchestrator run` and `orchestrator hosts check` on the test cluster: the built binary,
//! jobs over ssh (multiplexed and not) and Slurm, kills and timeouts, lost hosts.
//!
//! Remote jobs carry the test's mark explicitly (`env TESTKIT_LEAK_MARK=... CMD` in the job's
//! argv): a remote process does not inherit the local environment. srun passes it on by itself.

use std::collections::{BTreeMap, BTreeSet};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use testkit::LeakGuard;
use testkit::cluster::{Cluster, NsHost};

use super::{Output, run_bounded};

/// `orchestrator ARGS...` with the test cluster's ssh config, carrying the guard's mark.
pub(crate) fn orch(cluster: &Cluster, guard: &LeakGuard, args: &[&str]) -> Command {
    let mut cmd = Command::new(testkit::bin("orchestrator"));
    guard.apply(&mut cmd);
    cmd.envs(cluster.slurm_env());
    cmd.env(
        "ORCHESTRATOR_SSH",
        format!("ssh -F {}", cluster.ssh_config().display()),
    );
    cmd.args(args);
    cmd
}

/// `-S 'N/root@ADDR,...'` for every host.
fn all_hosts(cluster: &Cluster, slots: u32) -> String {
    cluster.sshlogins(slots).join(",")
}

fn text(out: &[u8]) -> String {
    String::from_utf8_lossy(out).into_owned()
}

fn json_lines(out: &[u8]) -> Vec<serde_json::Value> {
    text(out)
        .lines()
        .map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("bad JSON line {l:?}: {e}")))
        .collect()
}

/// What `hostname` says on each host, by the label the joblog uses (`root@ADDR`).
fn hostname_of(cluster: &Cluster) -> BTreeMap<String, String> {
    cluster
        .hosts()
        .iter()
        .map(|h| (h.ssh_target(), h.hostname.clone()))
        .collect()
}

fn mark_env(guard: &LeakGuard) -> String {
    format!("{}={}", testkit::MARK_VAR, guard.mark())
}

fn assert_code(out: &Output, want: i32, what: &str) {
    assert_eq!(
        out.status.code(),
        Some(want),
        "{what}: {}\nstdout: {}\nstderr: {}",
        out.status,
        text(&out.stdout),
        text(&out.stderr)
    );
}

/// Fails if anything marked is left on any host 6 s from now (the remote grace is short in
/// these tests, the sshd keep-alive 3 s).
fn assert_no_remote_left(cluster: &Cluster, guard: &LeakGuard, what: &str) {
    for host in cluster.hosts() {
        if let Err(left) = cluster.wait_none_marked(host, guard.mark(), Duration::from_secs(6)) {
            panic!("{what}: left on {}: {left:?}", host.hostname);
        }
    }
}

/// Every job's `hostname` is the host the joblog and JSON name, and every host got jobs; with
/// and without multiplexing.
pub(crate) fn run_spreads_jobs_over_every_host(cluster: &Cluster) {
    let names = hostname_of(cluster);
    for multiplex in [true, false] {
        let mut guard = LeakGuard::new();
        let dir = tempfile::tempdir().expect("temp dir");
        let joblog = dir.path().join("log.tsv");
        let hosts = all_hosts(cluster, 2);
        let log = joblog.to_string_lossy().into_owned();
        let mut args = vec![
            "run", "-S", &hosts, "--count", "12", "--json", "--joblog", &log,
        ];
        if !multiplex {
            args.push("--no-multiplex");
        }
        args.extend(["--", "sh", "-c", "sleep 0.3; hostname"]);
        let out = run_bounded(
            &mut orch(cluster, &guard, &args),
            b"",
            Duration::from_secs(60),
        );
        assert_code(&out, 0, "run over ssh");
        let jobs = json_lines(&out.stdout);
        assert_eq!(jobs.len(), 12, "{}", text(&out.stdout));
        let mut seen = BTreeSet::new();
        for j in &jobs {
            let host = j["host"].as_str().expect("host is a string");
            let want = names
                .get(host)
                .unwrap_or_else(|| panic!("unknown host {host} in {j}"));
            assert_eq!(
                j["stdout"].as_str(),
                Some(format!("{want}\n").as_str()),
                "{j}"
            );
            assert_eq!(j["status"], "ok");
            assert_eq!(j["lost_hosts"], serde_json::json!([]));
            seen.insert(host.to_string());
        }
        assert_eq!(seen.len(), names.len(), "not every host got jobs: {seen:?}");
        // The joblog's Host column names the same hosts.
        let log = std::fs::read_to_string(&joblog).expect("joblog written");
        let logged: BTreeSet<String> = log
            .lines()
            .skip(1)
            .map(|l| l.split('\t').nth(1).expect("a Host column").to_string())
            .collect();
        assert_eq!(logged, seen, "{log}");
        assert_eq!(log.lines().count(), 13);
        guard.assert_none_left();
    }
}

/// A timeout stops the remote job too (its whole group, TERM ignored: SIGKILL after the
/// grace), on every host, multiplexed or not.
pub(crate) fn run_timeout_leaves_nothing_remote(cluster: &Cluster) {
    for multiplex in [true, false] {
        let mut guard = LeakGuard::new();
        let hosts = all_hosts(cluster, 1);
        let mark = mark_env(&guard);
        let mut args = vec![
            "run",
            "-S",
            &hosts,
            "--count",
            "3",
            "--timeout",
            "1s",
            "--kill-after",
            "300ms",
        ];
        if !multiplex {
            args.push("--no-multiplex");
        }
        // A grandchild in the job's group, and TERM ignored by both.
        args.extend([
            "--",
            "env",
            &mark,
            "sh",
            "-c",
            "trap '' TERM; sleep 1000 & sleep 1000",
        ]);
        let started = Instant::now();
        let out = run_bounded(
            &mut orch(cluster, &guard, &args),
            b"",
            Duration::from_secs(60),
        );
        assert_code(&out, 124, "timeouts");
        assert!(
            text(&out.stderr).contains("3 timed out"),
            "{}",
            text(&out.stderr)
        );
        assert!(started.elapsed() < Duration::from_secs(20));
        assert_no_remote_left(cluster, &guard, "after the timeout");
        guard.assert_none_left();
    }
}

/// Starts `orchestrator ARGS` and waits until a marked process runs on every host in `on`.
fn start_and_wait_remote(
    cluster: &Cluster,
    guard: &LeakGuard,
    args: &[&str],
    on: &[NsHost],
) -> Child {
    let mut cmd = orch(cluster, guard, args);
    cmd.stdout(Stdio::null()).stderr(Stdio::piped());
    // In its own process group, as a user would run it.
    std::os::unix::process::CommandExt::process_group(&mut cmd, 0);
    let mut child = cmd.spawn().expect("orchestrator starts");
    for host in on {
        let found = cluster.wait_marked(host, guard.mark(), Duration::from_secs(30));
        if found.is_empty() {
            let _ = child.kill();
            let _ = child.wait();
            panic!("no job started on {}", host.hostname);
        }
    }
    child
}

/// SIGKILL of the orchestrator: its guardian kills the local ssh clients, the masters die with
/// their parent, the channels close, and the remote watchers kill every job.
pub(crate) fn run_sigkill_leaves_nothing_remote(cluster: &Cluster) {
    for multiplex in [true, false] {
        let mut guard = LeakGuard::new();
        let hosts = all_hosts(cluster, 2);
        let mark = mark_env(&guard);
        let mut args = vec!["run", "-S", &hosts, "--count", "6", "--kill-after", "300ms"];
        if !multiplex {
            args.push("--no-multiplex");
        }
        args.extend(["--", "env", &mark, "sleep", "1000"]);
        let mut child = start_and_wait_remote(cluster, &guard, &args, cluster.hosts());
        child.kill().expect("SIGKILL the orchestrator");
        child.wait().expect("reap it");
        assert_no_remote_left(cluster, &guard, "after SIGKILL of the orchestrator");
        guard.assert_none_left_within(Duration::from_secs(5));
    }
}

/// Ctrl-C (SIGINT to the orchestrator's group, as a terminal sends it) stops remote jobs.
pub(crate) fn run_ctrl_c_stops_remote_jobs(cluster: &Cluster) {
    let mut guard = LeakGuard::new();
    let hosts = all_hosts(cluster, 1);
    let mark = mark_env(&guard);
    let args = [
        "run",
        "-S",
        &hosts,
        "--count",
        "3",
        "--kill-after",
        "300ms",
        "--",
        "env",
        &mark,
        "sleep",
        "1000",
    ];
    let mut child = start_and_wait_remote(cluster, &guard, &args, cluster.hosts());
    let pgid = child.id();
    let _ = Command::new("kill")
        .args(["-INT", "--", &format!("-{pgid}")])
        .status();
    let deadline = Instant::now() + Duration::from_secs(20);
    let status = loop {
        if let Some(s) = child.try_wait().expect("wait") {
            break s;
        }
        assert!(Instant::now() < deadline, "still running after Ctrl-C");
        std::thread::sleep(Duration::from_millis(20));
    };
    assert_eq!(status.code(), Some(130));
    assert_no_remote_left(cluster, &guard, "after Ctrl-C");
    guard.assert_none_left();
}

/// A job that exits 255 by itself: the host is checked, answers, and the job is an ordinary
/// failure (retried by --retries), not a lost host.
pub(crate) fn run_exit_255_is_the_jobs_own_failure(cluster: &Cluster) {
    let mut guard = LeakGuard::new();
    let host = &cluster.hosts()[0];
    let login = host.sshlogin(1);
    let out = run_bounded(
        &mut orch(
            cluster,
            &guard,
            &[
                "run",
                "-S",
                &login,
                "--count",
                "2",
                "--retries",
                "2",
                "--json",
                "--",
                "sh",
                "-c",
                "exit 255",
            ],
        ),
        b"",
        Duration::from_secs(60),
    );
    assert_code(&out, 1, "exit 255");
    let jobs = json_lines(&out.stdout);
    assert_eq!(jobs.len(), 2);
    for j in &jobs {
        assert_eq!(j["exit_code"], 255, "{j}");
        assert_eq!(j["attempts"], 2, "{j}");
        assert_eq!(j["lost_hosts"], serde_json::json!([]), "{j}");
    }
    assert!(!text(&out.stderr).contains("lost"), "{}", text(&out.stderr));
    guard.assert_none_left();
}

/// Kills a host's sshd mid-run (every session included): its jobs die there (end of file on
/// their channel) and run again on the other hosts; the run completes; JSON and stderr say so.
pub(crate) fn run_host_lost_sshd_killed(cluster: &Cluster) {
    let victim = &cluster.hosts()[1];
    let out = run_with_host_lost(cluster, victim, &[], |c, h| {
        c.kill_sshd(h).expect("kill the host's sshd")
    });
    cluster
        .restart_sshd(victim)
        .expect("the host's sshd starts again");
    check_lost_run(cluster, victim, &out);
}

/// Takes a host's link down mid-run: ssh's keep-alive notices, the check cannot connect, the
/// jobs run elsewhere; on the host, sshd's client keep-alive ends the sessions and with them
/// the jobs, although the orchestrator cannot reach it.
pub(crate) fn run_host_lost_link_down(cluster: &Cluster) {
    let victim = &cluster.hosts()[2];
    // Notice a dead link in 2 s, give up connecting after 2 s.
    let ssh = format!(
        "ssh -F {} -o ServerAliveInterval=1 -o ServerAliveCountMax=2 -o ConnectTimeout=2",
        cluster.ssh_config().display()
    );
    let out = run_with_host_lost(cluster, victim, &["--ssh", &ssh], |c, h| {
        c.set_link(h, false).expect("link down")
    });
    cluster.set_link(victim, true).expect("link up again");
    check_lost_run(cluster, victim, &out);
}

struct LostRun {
    out: Output,
    guard: LeakGuard,
}

fn run_with_host_lost(
    cluster: &Cluster,
    victim: &NsHost,
    extra: &[&str],
    lose: impl FnOnce(&Cluster, &NsHost),
) -> LostRun {
    let guard = LeakGuard::new();
    let hosts = all_hosts(cluster, 2);
    let mark = mark_env(&guard);
    let mut args = vec!["run", "-S", &hosts, "--count", "12", "--json"];
    args.extend(extra);
    args.extend([
        "--kill-after",
        "300ms",
        "--",
        "env",
        &mark,
        "sh",
        "-c",
        "sleep 3; hostname",
    ]);
    let mut cmd = orch(cluster, &guard, &args);
    let runner = std::thread::scope(|s| {
        let h = s.spawn(|| run_bounded(&mut cmd, b"", Duration::from_secs(120)));
        let found = cluster.wait_marked(victim, guard.mark(), Duration::from_secs(30));
        assert!(!found.is_empty(), "no job reached {}", victim.hostname);
        lose(cluster, victim);
        h.join().expect("runner thread")
    });
    LostRun { out: runner, guard }
}

fn check_lost_run(cluster: &Cluster, victim: &NsHost, run: &LostRun) {
    let out = &run.out;
    assert_code(out, 0, "run with a host lost");
    let names = hostname_of(cluster);
    let lost_label = victim.ssh_target();
    let jobs = json_lines(&out.stdout);
    assert_eq!(jobs.len(), 12, "{}", text(&out.stdout));
    let seqs: BTreeSet<u64> = jobs.iter().map(|j| j["seq"].as_u64().unwrap()).collect();
    assert_eq!(seqs, (1..=12).collect(), "every job exactly once");
    let mut moved = 0;
    for j in &jobs {
        assert_eq!(j["status"], "ok", "{j}");
        let host = j["host"].as_str().unwrap();
        assert_ne!(
            host, lost_label,
            "a job's last attempt on the lost host: {j}"
        );
        assert_eq!(
            j["stdout"].as_str(),
            Some(format!("{}\n", names[host]).as_str())
        );
        if j["lost_hosts"] == serde_json::json!([lost_label]) {
            moved += 1;
            assert_eq!(j["attempts"], 2, "{j}");
        }
    }
    assert!(moved >= 1, "no job was moved off the lost host");
    let err = text(&out.stderr);
    assert!(
        err.contains(&format!("host {lost_label} is lost")),
        "no note about the lost host: {err}"
    );
    assert!(err.contains("running it again on another host"), "{err}");
    // The jobs the lost host was running are gone there too.
    assert_no_remote_left(cluster, &run.guard, "on the lost host");
}

/// Each job a Slurm step: spread over the nodes, host `srun` in the JSON.
pub(crate) fn run_over_slurm(cluster: &Cluster) {
    let mut guard = LeakGuard::new();
    let n = cluster.hosts().len() * 2;
    let count = n.to_string();
    let out = run_bounded(
        &mut orch(
            cluster,
            &guard,
            &[
                "run",
                "--slurm",
                "-j",
                &count,
                "--count",
                &count,
                "--json",
                "--",
                "sh",
                "-c",
                "sleep 1; hostname",
            ],
        ),
        b"",
        Duration::from_secs(90),
    );
    assert_code(&out, 0, "run --slurm");
    let jobs = json_lines(&out.stdout);
    assert_eq!(jobs.len(), n);
    let nodes: BTreeSet<String> = cluster.hosts().iter().map(|h| h.hostname.clone()).collect();
    let mut seen = BTreeSet::new();
    for j in &jobs {
        assert_eq!(j["host"], "srun");
        let name = j["stdout"].as_str().unwrap().trim().to_string();
        assert!(nodes.contains(&name), "{name} is not a node");
        seen.insert(name);
    }
    // Every node has 2 CPUs: 6 steps at once need all three.
    assert_eq!(seen, nodes);
    guard.assert_none_left();
}

/// A timeout kills srun here, and Slurm the step there.
pub(crate) fn run_srun_timeout_leaves_no_step(cluster: &Cluster) {
    let mut guard = LeakGuard::new();
    let out = run_bounded(
        &mut orch(
            cluster,
            &guard,
            &[
                "run",
                "--slurm",
                "-j",
                "3",
                "--count",
                "3",
                "--timeout",
                "1s",
                "--kill-after",
                "300ms",
                "--",
                "sh",
                "-c",
                "trap '' TERM; sleep 1000",
            ],
        ),
        b"",
        Duration::from_secs(60),
    );
    assert_code(&out, 124, "srun timeouts");
    assert_no_remote_left(cluster, &guard, "after the srun timeout");
    guard.assert_none_left_within(Duration::from_secs(10));
}

/// `hosts check`: each host's hostname, cores, worker and protocol; a host that does not answer
/// makes the exit code 1; Slurm is checked through a step.
pub(crate) fn hosts_check_reports_each_host(cluster: &Cluster) {
    let mut guard = LeakGuard::new();
    let bad = format!(
        "root@{}:{}",
        cluster.hosts()[0].addr,
        cluster.hosts()[0].ssh_port + 1
    );
    let hosts = format!("{},{bad}", all_hosts(cluster, 1));
    let out = run_bounded(
        &mut orch(cluster, &guard, &["hosts", "check", "-S", &hosts, "--json"]),
        b"",
        Duration::from_secs(60),
    );
    assert_code(&out, 1, "hosts check with a bad host");
    let rows = json_lines(&out.stdout);
    assert_eq!(rows.len(), cluster.hosts().len() + 1);
    let cores = std::thread::available_parallelism().map_or(1, |n| n.get());
    for (row, host) in rows.iter().zip(cluster.hosts()) {
        assert_eq!(row["host"], host.ssh_target().as_str(), "{row}");
        assert_eq!(row["usable"], true, "{row}");
        assert_eq!(row["hostname"], host.hostname.as_str());
        assert_eq!(row["cores"], cores as u64);
        assert_eq!(row["worker_protocol"], shared_protocol());
        assert!(row["latency_ms"].as_f64().unwrap() > 0.0);
    }
    let last = &rows[rows.len() - 1];
    assert_eq!(last["host"], bad.as_str());
    assert_eq!(last["reachable"], false);
    assert!(
        last["error"]
            .as_str()
            .unwrap()
            .contains("Connection refused"),
        "{last}"
    );
    // The table, for people.
    let out = run_bounded(
        &mut orch(
            cluster,
            &guard,
            &["hosts", "check", "-S", &all_hosts(cluster, 1)],
        ),
        b"",
        Duration::from_secs(60),
    );
    assert_code(&out, 0, "hosts check");
    let table = text(&out.stdout);
    for host in cluster.hosts() {
        let line = table
            .lines()
            .find(|l| l.starts_with(&host.ssh_target()))
            .unwrap_or_else(|| panic!("no line for {}: {table}", host.hostname));
        assert!(
            line.contains(" ok ") && line.contains(&host.hostname),
            "{line}"
        );
    }
    guard.assert_none_left();
}

/// `hosts check --slurm`: one step answers for the launcher.
pub(crate) fn hosts_check_through_slurm(cluster: &Cluster) {
    let mut guard = LeakGuard::new();
    let out = run_bounded(
        &mut orch(cluster, &guard, &["hosts", "check", "--slurm", "--json"]),
        b"",
        Duration::from_secs(60),
    );
    assert_code(&out, 0, "hosts check --slurm");
    let rows = json_lines(&out.stdout);
    assert_eq!(rows.len(), 1);
    assert_eq!(rows[0]["host"], "srun");
    assert_eq!(rows[0]["worker_protocol"], shared_protocol());
    guard.assert_none_left();
}

fn shared_protocol() -> u64 {
    u64::from(shared::PROTOCOL_VERSION)
}
