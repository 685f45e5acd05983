//! Multi-host tests on one machine: ssh to network-namespace hosts and to 127.0.0.1, Slurm with
//! one slurmd per namespace host (see `testkit::cluster`). The cluster starts once; every case
//! runs against it; it is torn down at the end, also when a case fails. Where this machine
//! cannot host the cluster, the cases are skipped and the skip is printed and recorded.
//!
//! Cases that kill a launcher check, inside the host's network namespace, that nothing carrying
//! the test's mark survives: remote processes do not inherit the local mark, so the remote
//! command sets it explicitly (`env TESTKIT_LEAK_MARK=...`); srun propagates it by itself.

use std::ffi::{OsStr, OsString};
use std::io::{Read, Write};
use std::os::unix::ffi::OsStrExt;
use std::process::{Command, ExitCode, ExitStatus, Output, Stdio};
use std::time::{Duration, Instant};

use orchestrator::launch::{
    ArgvLauncher, LaunchExit, Launcher, SshCommand, SshLogin, read_hosts_file,
};
use testkit::LeakGuard;
use testkit::cluster::suite::{Case, Needs, run_suite};
use testkit::cluster::{Cluster, ClusterOptions, NsHost};

#[path = "cluster/factor.rs"]
mod factor;
#[path = "cluster/run.rs"]
mod run;

fn main() -> ExitCode {
    let cases = [
        case(
            "ssh_each_host_reports_its_own_hostname",
            Needs::Ssh,
            ssh_hostnames,
        ),
        case(
            "ssh_namespace_hosts_reach_each_other",
            Needs::Ssh,
            ssh_host_to_host,
        ),
        case(
            "ssh_cat_round_trips_10_mib_of_binary",
            Needs::Ssh,
            ssh_binary_round_trip,
        ),
        case(
            "ssh_sigkill_with_pdeathsig_leaves_no_remote_process",
            Needs::Ssh,
            ssh_kill_with_pdeathsig,
        ),
        case(
            "ssh_sigkill_without_pdeathsig_leaves_an_orphan",
            Needs::Ssh,
            ssh_kill_without_pdeathsig,
        ),
        case("srun_runs_on_each_node", Needs::Slurm, srun_hostnames),
        case(
            "srun_cat_round_trips_10_mib_of_binary",
            Needs::Slurm,
            srun_binary_round_trip,
        ),
        case("srun_sigkill_leaves_no_step", Needs::Slurm, srun_kill),
        case(
            "launcher_ssh_runs_on_each_host_of_a_hosts_file",
            Needs::Ssh,
            launcher_hosts_file,
        ),
        case(
            "launcher_ssh_carries_awkward_argv_unchanged",
            Needs::Ssh,
            launcher_ssh_argv,
        ),
        case(
            "launcher_ssh_passes_env_explicitly",
            Needs::Ssh,
            launcher_ssh_env,
        ),
        case(
            "launcher_ssh_exit_codes_and_255",
            Needs::Ssh,
            launcher_ssh_exits,
        ),
        case(
            "launcher_ssh_sigkill_leaves_no_remote_process",
            Needs::Ssh,
            launcher_ssh_kill,
        ),
        case(
            "launcher_srun_carries_argv_and_env_unchanged",
            Needs::Slurm,
            launcher_srun,
        ),
        case(
            "run_spreads_jobs_over_every_host",
            Needs::Ssh,
            run::run_spreads_jobs_over_every_host,
        ),
        case(
            "run_timeout_leaves_nothing_remote",
            Needs::Ssh,
            run::run_timeout_leaves_nothing_remote,
        ),
        case(
            "run_sigkill_leaves_nothing_remote",
            Needs::Ssh,
            run::run_sigkill_leaves_nothing_remote,
        ),
        case(
            "run_ctrl_c_stops_remote_jobs",
            Needs::Ssh,
            run::run_ctrl_c_stops_remote_jobs,
        ),
        case(
            "run_exit_255_is_the_jobs_own_failure",
            Needs::Ssh,
            run::run_exit_255_is_the_jobs_own_failure,
        ),
        case(
            "run_host_lost_sshd_killed",
            Needs::Ssh,
            run::run_host_lost_sshd_killed,
        ),
        case(
            "run_host_lost_link_down",
            Needs::Ssh,
            run::run_host_lost_link_down,
        ),
        case("run_over_slurm", Needs::Slurm, run::run_over_slurm),
        case(
            "run_srun_timeout_leaves_no_step",
            Needs::Slurm,
            run::run_srun_timeout_leaves_no_step,
        ),
        case(
            "hosts_check_reports_each_host",
            Needs::Ssh,
            run::hosts_check_reports_each_host,
        ),
        case(
            "hosts_check_through_slurm",
            Needs::Slurm,
            run::hosts_check_through_slurm,
        ),
        case(
            "factor_over_ssh_and_srun_matches_local",
            Needs::Ssh,
            factor::factor_over_ssh_and_srun_matches_local,
        ),
        case(
            "factor_sigkill_leaves_no_worker_on_any_host",
            Needs::Ssh,
            factor::factor_sigkill_leaves_no_worker_on_any_host,
        ),
        case(
            "factor_timeout_kills_the_remote_worker",
            Needs::Ssh,
            factor::factor_timeout_kills_the_remote_worker,
        ),
        case(
            "factor_host_lost_sshd_killed",
            Needs::Ssh,
            factor::factor_host_lost_sshd_killed,
        ),
        case(
            "factor_host_lost_link_down",
            Needs::Ssh,
            factor::factor_host_lost_link_down,
        ),
    ];
    run_suite("cluster", &ClusterOptions::default(), &cases)
}

fn case(name: &'static str, needs: Needs, run: fn(&Cluster)) -> Case {
    Case { name, needs, run }
}

// ---------------------------------------------------------------------------------------------
// Helpers

/// Runs `cmd` to completion with `input` on stdin, killing it and failing after `limit`.
fn run_bounded(cmd: &mut Command, input: &[u8], limit: Duration) -> Output {
    let mut child = cmd
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap_or_else(|e| panic!("cannot start {cmd:?}: {e}"));
    let mut stdin = child.stdin.take().expect("stdin is piped");
    let input = input.to_vec();
    let writer = std::thread::spawn(move || {
        // A broken pipe (the command exited early) shows up in the output check.
        let _ = stdin.write_all(&input);
    });
    let mut stdout = child.stdout.take().expect("stdout is piped");
    let reader = std::thread::spawn(move || {
        let mut buf = Vec::new();
        let _ = stdout.read_to_end(&mut buf);
        buf
    });
    let mut stderr = child.stderr.take().expect("stderr is piped");
    let err_reader = std::thread::spawn(move || {
        let mut buf = Vec::new();
        let _ = stderr.read_to_end(&mut buf);
        buf
    });
    let deadline = Instant::now() + limit;
    let status = loop {
        if let Some(status) = child.try_wait().expect("wait works") {
            break status;
        }
        if Instant::now() >= deadline {
            let _ = child.kill();
            let _ = child.wait();
            panic!("{cmd:?} still running after {limit:?}");
        }
        std::thread::sleep(Duration::from_millis(5));
    };
    let _ = writer.join();
    Output {
        status,
        stdout: reader.join().expect("reader thread"),
        stderr: err_reader.join().expect("reader thread"),
    }
}

fn run(cmd: &mut Command) -> Output {
    run_bounded(cmd, b"", Duration::from_secs(30))
}

fn stdout_line(out: &Output) -> String {
    String::from_utf8_lossy(&out.stdout).trim_end().to_string()
}

fn assert_ok(out: &Output, what: &str) {
    assert!(
        out.status.success(),
        "{what}: {}; stderr: {}",
        out.status,
        String::from_utf8_lossy(&out.stderr)
    );
}

fn random_bytes(len: usize) -> Vec<u8> {
    let mut data = vec![0u8; len];
    fastrand::fill(&mut data);
    data
}

fn nul_split(out: &[u8]) -> Vec<Vec<u8>> {
    let mut parts: Vec<Vec<u8>> = out.split(|b| *b == 0).map(<[u8]>::to_vec).collect();
    assert_eq!(parts.pop(), Some(Vec::new()), "output must end with NUL");
    parts
}

fn ssh_command(cluster: &Cluster) -> SshCommand {
    SshCommand::from_words(cluster.ssh_command()).expect("the cluster's ssh command has words")
}

fn launcher_for(cluster: &Cluster, login: &str) -> Launcher {
    let login: SshLogin = login.parse().expect("the test's sshlogin parses");
    Launcher::for_login(&login, &ssh_command(cluster))
}

fn srun_on(cluster: &Cluster, host: &NsHost) -> Command {
    let mut cmd = cluster.slurm_cmd("srun");
    cmd.args(["-u", "-n1", "--quiet", "-w", &host.hostname]);
    cmd
}

/// Arguments no shell may touch: quotes, expansions, globs, blanks, newlines, non-UTF-8.
fn awkward_args(canary: &std::path::Path) -> Vec<OsString> {
    let mut args: Vec<OsString> = [
        "",
        " ",
        "two  spaces",
        "it's",
        "\"double\"",
        "$HOME",
        "${PATH}",
        "`id`",
        "; echo injected",
        "line\nbreak",
        "*",
        "~",
        "-n",
        "--",
        "a\\b",
        "ünïcödé ✓",
        "\t",
    ]
    .into_iter()
    .map(OsString::from)
    .collect();
    args.push(OsStr::from_bytes(b"\xff\xfe not utf-8 \x80").to_os_string());
    args.push(format!("$(touch {})", canary.display()).into());
    args.push("x".repeat(2000).into());
    args
}

// ---------------------------------------------------------------------------------------------
// Plain ssh and srun

fn ssh_hostnames(cluster: &Cluster) {
    let mut guard = LeakGuard::new();
    for host in cluster.hosts() {
        let out = run(guard.apply(&mut cluster.ssh(&host.ssh_target(), "hostname")));
        assert_ok(&out, &host.hostname);
        assert_eq!(stdout_line(&out), host.hostname);
    }
    let out = run(guard.apply(&mut cluster.ssh("root@127.0.0.1", "hostname")));
    assert_ok(&out, "loopback");
    assert_eq!(stdout_line(&out), cluster.loopback_hostname());
    guard.assert_none_left();
}

fn ssh_host_to_host(cluster: &Cluster) {
    let hosts = cluster.hosts();
    let (from, to) = (&hosts[0], &hosts[hosts.len() - 1]);
    let inner = format!(
        "ssh -F {} {} hostname",
        cluster.ssh_config().display(),
        to.ssh_target()
    );
    let mut guard = LeakGuard::new();
    let out = run(guard.apply(&mut cluster.ssh(&from.ssh_target(), &inner)));
    assert_ok(&out, "host to host");
    assert_eq!(stdout_line(&out), to.hostname);
    guard.assert_none_left();
}

fn ssh_binary_round_trip(cluster: &Cluster) {
    let data = random_bytes(10 << 20);
    let host = &cluster.hosts()[0];
    let mut guard = LeakGuard::new();
    let out = run_bounded(
        guard.apply(&mut cluster.ssh(&host.ssh_target(), "cat")),
        &data,
        Duration::from_secs(60),
    );
    assert_ok(&out, "ssh cat");
    assert_eq!(out.stdout.len(), data.len(), "byte count through ssh");
    assert!(out.stdout == data, "10 MiB came back changed through ssh");
    guard.assert_none_left();
}

/// Spawns `launcher` (ssh or srun) whose remote process carries the guard's mark, waits until
/// that process shows up in `host`, then SIGKILLs the local launcher and reaps it.
fn kill_launcher_once_marked(
    cluster: &Cluster,
    guard: &LeakGuard,
    host: &NsHost,
    launcher: &mut Command,
) {
    let mut child = guard
        .apply(launcher)
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .spawn()
        .unwrap_or_else(|e| panic!("cannot start {launcher:?}: {e}"));
    let found = cluster.wait_marked(host, guard.mark(), Duration::from_secs(15));
    assert!(
        !found.is_empty(),
        "the marked process never appeared in {} ({launcher:?})",
        host.netns
    );
    child.kill().expect("SIGKILL to the local launcher");
    child.wait().expect("reap the launcher");
}

/// Fails (naming the survivors, which are then killed) if anything marked is left in `host`
/// 5 s from now.
fn assert_none_marked(cluster: &Cluster, host: &NsHost, guard: &LeakGuard, what: &str) {
    if let Err(left) = cluster.wait_none_marked(host, guard.mark(), Duration::from_secs(5)) {
        panic!("{what}: {left:?}");
    }
}

fn ssh_kill_with_pdeathsig(cluster: &Cluster) {
    let mut guard = LeakGuard::new();
    let host = &cluster.hosts()[1 % cluster.hosts().len()];
    // The mark goes on after setpriv, so the process carries it only once the parent-death
    // signal is set: killing ssh as soon as the mark shows cannot hit the moment before.
    let remote = format!(
        "exec setpriv --pdeathsig KILL -- env {}={} sleep 1000",
        testkit::MARK_VAR,
        guard.mark()
    );
    kill_launcher_once_marked(
        cluster,
        &guard,
        host,
        &mut cluster.ssh(&host.ssh_target(), &remote),
    );
    assert_none_marked(
        cluster,
        host,
        &guard,
        "remote process survived the killed ssh",
    );
    guard.assert_none_left();
}

/// The control case: without the pdeathsig wrapper the remote `sleep` outlives the killed ssh
/// client (the trap the launcher's wrapper exists for), and the namespace check sees it.
fn ssh_kill_without_pdeathsig(cluster: &Cluster) {
    let mut guard = LeakGuard::new();
    let host = &cluster.hosts()[0];
    let remote = format!("exec env {}={} sleep 1000", testkit::MARK_VAR, guard.mark());
    kill_launcher_once_marked(
        cluster,
        &guard,
        host,
        &mut cluster.ssh(&host.ssh_target(), &remote),
    );
    std::thread::sleep(Duration::from_millis(1500));
    let left = cluster.marked_in(host, guard.mark());
    assert_eq!(
        left.len(),
        1,
        "expected the orphaned sleep to survive in {}",
        host.netns
    );
    // Clean up the orphan by PID; then nothing of ours is left.
    let left = cluster.wait_none_marked(host, guard.mark(), Duration::ZERO);
    assert!(
        left.is_err(),
        "wait_none_marked reports (and kills) the orphan"
    );
    guard.assert_none_left();
}

fn srun_hostnames(cluster: &Cluster) {
    let mut guard = LeakGuard::new();
    for host in cluster.hosts() {
        let out = run(guard.apply(srun_on(cluster, host).arg("hostname")));
        assert_ok(&out, &host.hostname);
        assert_eq!(stdout_line(&out), host.hostname);
    }
    guard.assert_none_left();
}

fn srun_binary_round_trip(cluster: &Cluster) {
    let data = random_bytes(10 << 20);
    let host = &cluster.hosts()[cluster.hosts().len() - 1];
    let mut guard = LeakGuard::new();
    let out = run_bounded(
        guard.apply(srun_on(cluster, host).arg("cat")),
        &data,
        Duration::from_secs(60),
    );
    assert_ok(&out, "srun cat");
    assert_eq!(out.stdout.len(), data.len(), "byte count through srun -u");
    assert!(
        out.stdout == data,
        "10 MiB came back changed through srun -u"
    );
    guard.assert_none_left();
}

fn srun_kill(cluster: &Cluster) {
    let mut guard = LeakGuard::new();
    let host = &cluster.hosts()[0];
    // srun propagates its environment, mark included, to the task.
    let mut srun = srun_on(cluster, host);
    srun.args(["sleep", "1000"]);
    kill_launcher_once_marked(cluster, &guard, host, &mut srun);
    assert_none_marked(cluster, host, &guard, "the step survived SIGKILL of srun");
    guard.assert_none_left();
}

// ---------------------------------------------------------------------------------------------
// The orchestrator's launchers, for real

fn launcher_hosts_file(cluster: &Cluster) {
    let logins = read_hosts_file(&cluster.hosts_file(2)).expect("the hosts file parses");
    assert_eq!(logins.len(), cluster.hosts().len());
    let ssh = ssh_command(cluster);
    let mut guard = LeakGuard::new();
    for (login, host) in logins.iter().zip(cluster.hosts()) {
        assert_eq!(login.slots().map(|n| n.get()), Some(2));
        let launcher = Launcher::for_login(login, &ssh);
        assert_eq!(launcher.host_label(), host.ssh_target());
        let cmd = launcher
            .command_for(&["hostname".into()], &[])
            .expect("builds");
        let out = run(guard.apply(&mut cmd.to_command()));
        assert_ok(&out, &launcher.host_label());
        assert_eq!(stdout_line(&out), host.hostname);
    }
    // With the port in the sshlogin (-p), and on the loopback sshd.
    let host = &cluster.hosts()[0];
    let with_port = format!("root@{}:{}", host.addr, host.ssh_port);
    let loopback = format!("root@127.0.0.1:{}", cluster.loopback_port());
    for (login, want) in [
        (with_port.as_str(), host.hostname.as_str()),
        (&loopback, cluster.loopback_hostname()),
    ] {
        let cmd = launcher_for(cluster, login)
            .command_for(&["hostname".into()], &[])
            .expect("builds");
        let out = run(guard.apply(&mut cmd.to_command()));
        assert_ok(&out, login);
        assert_eq!(stdout_line(&out), want, "{login}");
    }
    guard.assert_none_left();
}

fn launcher_ssh_argv(cluster: &Cluster) {
    let dir = tempfile::tempdir().expect("temp dir");
    let canary = dir.path().join("injected");
    let args = awkward_args(&canary);
    let mut argv: Vec<OsString> = vec!["printf".into(), "%s\\0".into()];
    argv.extend(args.iter().cloned());
    let mut guard = LeakGuard::new();
    for host in cluster.hosts() {
        let cmd = launcher_for(cluster, &host.ssh_target())
            .command_for(&argv, &[])
            .expect("builds");
        let out = run(guard.apply(&mut cmd.to_command()));
        assert_ok(&out, &host.hostname);
        let got = nul_split(&out.stdout);
        let want: Vec<Vec<u8>> = args.iter().map(|a| a.as_bytes().to_vec()).collect();
        assert_eq!(got, want, "argv changed on its way to {}", host.hostname);
    }
    assert!(
        !canary.exists(),
        "an argument was executed by the remote shell"
    );
    guard.assert_none_left();
}

fn launcher_ssh_env(cluster: &Cluster) {
    let value = OsStr::from_bytes(b"a 'b' \"c\" $d `e`\nf \xff").to_os_string();
    let env = vec![(OsString::from("ORCH_TEST_VALUE"), value.clone())];
    let host = &cluster.hosts()[0];
    let cmd = launcher_for(cluster, &host.ssh_target())
        .command_for(&["printenv".into(), "ORCH_TEST_VALUE".into()], &env)
        .expect("builds");
    let mut guard = LeakGuard::new();
    let out = run(guard.apply(&mut cmd.to_command()));
    assert_ok(&out, "printenv");
    let mut want = value.as_bytes().to_vec();
    want.push(b'\n');
    assert_eq!(out.stdout, want);
    guard.assert_none_left();
}

fn exit_of(launcher: &Launcher, argv: &[&str]) -> (ExitStatus, LaunchExit) {
    let argv: Vec<OsString> = argv.iter().map(OsString::from).collect();
    let cmd = launcher.command_for(&argv, &[]).expect("builds");
    let mut guard = LeakGuard::new();
    let out = run(guard.apply(&mut cmd.to_command()));
    guard.assert_none_left();
    (out.status, launcher.interpret_exit(out.status))
}

fn launcher_ssh_exits(cluster: &Cluster) {
    let host = &cluster.hosts()[0];
    let launcher = launcher_for(cluster, &host.ssh_target());
    let (_, exit) = exit_of(&launcher, &["sh", "-c", "exit 42"]);
    assert_eq!(exit, LaunchExit::Code(42));
    let (_, exit) = exit_of(&launcher, &["true"]);
    assert_eq!(exit, LaunchExit::Code(0));
    // The remote command killed by a signal: ssh says 255.
    let (status, exit) = exit_of(&launcher, &["sh", "-c", "kill -9 $$"]);
    assert_eq!(status.code(), Some(255));
    assert_eq!(exit, LaunchExit::LostOrRemoteSignal);
    // No sshd on that port of our own host: connection refused, also 255.
    let refused = format!("root@{}:{}", host.addr, host.ssh_port + 1);
    let (status, exit) = exit_of(&launcher_for(cluster, &refused), &["true"]);
    assert_eq!(status.code(), Some(255));
    assert_eq!(exit, LaunchExit::LostOrRemoteSignal);
}

fn launcher_ssh_kill(cluster: &Cluster) {
    let mut guard = LeakGuard::new();
    let host = &cluster.hosts()[cluster.hosts().len() - 1];
    let env = vec![(
        OsString::from(testkit::MARK_VAR),
        OsString::from(guard.mark()),
    )];
    let cmd = launcher_for(cluster, &host.ssh_target())
        .command_for(&["sleep".into(), "1000".into()], &env)
        .expect("builds");
    kill_launcher_once_marked(cluster, &guard, host, &mut cmd.to_command());
    assert_none_marked(
        cluster,
        host,
        &guard,
        "the launcher's remote process survived SIGKILL of ssh",
    );
    guard.assert_none_left();
}

fn launcher_srun(cluster: &Cluster) {
    let dir = tempfile::tempdir().expect("temp dir");
    let canary = dir.path().join("injected");
    let args = awkward_args(&canary);
    let host = &cluster.hosts()[0];
    let launcher = Launcher::Argv(
        ArgvLauncher::parse(&format!("srun -u -n1 --quiet -w {}", host.hostname)).expect("parses"),
    );
    assert_eq!(launcher.host_label(), "srun");
    let mut argv: Vec<OsString> = vec!["printf".into(), "%s\\0".into()];
    argv.extend(args.iter().cloned());
    let mut guard = LeakGuard::new();
    let cmd = launcher.command_for(&argv, &[]).expect("builds");
    let out = run(guard.apply(cmd.to_command().envs(cluster.slurm_env())));
    assert_ok(&out, "srun printf");
    let want: Vec<Vec<u8>> = args.iter().map(|a| a.as_bytes().to_vec()).collect();
    assert_eq!(nul_split(&out.stdout), want, "argv changed through srun");
    assert!(!canary.exists());

    let value = OsStr::from_bytes(b"v w\nx \xff").to_os_string();
    let env = vec![(OsString::from("ORCH_TEST_VALUE"), value.clone())];
    let cmd = launcher
        .command_for(&["printenv".into(), "ORCH_TEST_VALUE".into()], &env)
        .expect("builds");
    let out = run(guard.apply(cmd.to_command().envs(cluster.slurm_env())));
    assert_ok(&out, "srun printenv");
    let mut want = value.as_bytes().to_vec();
    want.push(b'\n');
    assert_eq!(out.stdout, want);
    guard.assert_none_left();
}
