//! Unit tests of the launchers: argv shapes, errors, and the remote command line run through a
//! local shell exactly as sshd would run it.

use super::*;
use proptest::prelude::*;
use std::os::unix::ffi::OsStrExt;
use std::time::Duration;

/// What every remote command with the pdeathsig wrapper starts with.
const WRAP: &str = r#"exec setpriv --pdeathsig KILL -- sh -c '[ "$PPID" = "$1" ] || exit 255; shift; exec "$@"' sh "$PPID" "#;

fn os(words: &[&str]) -> Vec<OsString> {
    words.iter().map(OsString::from).collect()
}

fn ssh_launcher(login: &str) -> Launcher {
    let login: SshLogin = login.parse().expect("valid login in the test");
    Launcher::for_login(&login, &SshCommand::parse("ssh -F cfg").expect("valid"))
}

/// The remote command line (ssh's last argument) of a remote-shell launch.
fn remote_line(cmd: &LaunchCommand) -> Vec<u8> {
    cmd.argv()
        .last()
        .expect("ssh argv ends with the command")
        .as_bytes()
        .to_vec()
}

/// Runs a remote command line with a local shell, as sshd runs it with the login shell.
fn run_line(shell: &str, line: &[u8]) -> std::process::Output {
    Command::new(shell)
        .arg("-c")
        .arg(OsStr::from_bytes(line))
        .output()
        .expect("the shell starts")
}

fn nul_split(out: &[u8]) -> Vec<Vec<u8>> {
    let mut parts: Vec<Vec<u8>> = out.split(|b| *b == 0).map(<[u8]>::to_vec).collect();
    assert_eq!(parts.pop(), Some(Vec::new()), "output ends with NUL");
    parts
}

fn have(program: &str) -> bool {
    Command::new(program).arg("--version").output().is_ok()
}

#[test]
fn ssh_argv_has_safe_options_port_user_and_one_quoted_command() {
    let cmd = ssh_launcher("3/root@10.77.0.11:2222")
        .command_for(&os(&["worker", "serve", "a b"]), &[])
        .unwrap();
    let argv: Vec<String> = cmd
        .argv()
        .iter()
        .map(|a| a.to_string_lossy().into_owned())
        .collect();
    assert_eq!(
        argv,
        [
            "ssh",
            "-F",
            "cfg",
            "-T",
            "-e",
            "none",
            "-o",
            "BatchMode=yes",
            "-o",
            "ServerAliveInterval=5",
            "-o",
            "ServerAliveCountMax=3",
            "-o",
            "ConnectTimeout=10",
            "-o",
            "ControlMaster=no",
            "-o",
            "ControlPath=none",
            "-p",
            "2222",
            "-l",
            "root",
            "--",
            "10.77.0.11",
            &format!("{WRAP}worker serve 'a b'"),
        ]
    );
    assert!(cmd.local_env().is_empty());
    assert!(!argv.iter().any(|a| a == "-t" || a == "-tt"));
}

#[test]
fn watched_jobs_run_the_watch_script_with_the_grace_and_may_multiplex() {
    let login: SshLogin = "root@h1:2222".parse().unwrap();
    let ssh = SshCommand::parse("ssh -F cfg").unwrap();
    let plain = Launcher::for_login(&login, &ssh);
    let cmd = plain
        .job_command_for(&os(&["echo", "a b"]), &[], Duration::from_millis(1500))
        .unwrap();
    assert!(cmd.needs_lifeline());
    let line = String::from_utf8(remote_line(&cmd)).unwrap();
    let script = String::from_utf8(quote_arg(OsStr::new(watch::SCRIPT)).unwrap()).unwrap();
    assert_eq!(line, format!("exec sh -c {script} sh 1.500 echo 'a b'"));
    let argv: Vec<String> = cmd
        .argv()
        .iter()
        .map(|a| a.to_string_lossy().into())
        .collect();
    assert!(argv.contains(&"ControlPath=none".to_string()), "{argv:?}");

    let Launcher::RemoteShell(remote) = plain else {
        unreachable!()
    };
    let muxed = Launcher::RemoteShell(remote.with_control_path("/tmp/orch-ssh-x/m%1"));
    let cmd = muxed
        .job_command_for(&os(&["true"]), &[], Duration::ZERO)
        .unwrap();
    let argv: Vec<String> = cmd
        .argv()
        .iter()
        .map(|a| a.to_string_lossy().into())
        .collect();
    assert!(
        argv.contains(&"ControlPath=/tmp/orch-ssh-x/m%%1".to_string()),
        "{argv:?}"
    );
    assert!(argv.contains(&"ControlMaster=no".to_string()), "{argv:?}");
    assert!(
        String::from_utf8(remote_line(&cmd))
            .unwrap()
            .ends_with(" sh 0 true")
    );
    // Workers (exec mode) never multiplex, even with a master around.
    let worker = muxed.command_for(&os(&["worker", "serve"]), &[]).unwrap();
    assert!(!worker.needs_lifeline());
    assert!(worker.argv().iter().any(|a| a == "ControlPath=none"));
    // Local and argv launchers need no lifeline.
    let local = Launcher::Local
        .job_command_for(&os(&["true"]), &[], Duration::ZERO)
        .unwrap();
    assert!(!local.needs_lifeline());
    assert_eq!(local.argv(), os(&["true"]));
}

#[test]
fn the_watched_line_runs_the_job_through_a_local_shell() {
    if !have("setpriv") || !have("setsid") {
        eprintln!("util-linux setsid/setpriv missing: skipped");
        return;
    }
    let args: Vec<OsString> = vec![
        "printf".into(),
        "%s\\0".into(),
        "it's".into(),
        "$HOME".into(),
        OsStr::from_bytes(b"\xff").to_os_string(),
    ];
    let cmd = ssh_launcher("h")
        .job_command_for(&args, &[], Duration::from_secs(1))
        .unwrap();
    let mut child = Command::new("sh")
        .arg("-c")
        .arg(OsStr::from_bytes(&remote_line(&cmd)))
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let lifeline = child.stdin.take();
    let out = child.wait_with_output().unwrap();
    drop(lifeline);
    assert!(out.status.success());
    assert_eq!(
        nul_split(&out.stdout),
        args[2..]
            .iter()
            .map(|a| a.as_bytes().to_vec())
            .collect::<Vec<_>>()
    );
}

#[test]
fn ssh_without_user_or_port_leaves_them_to_ssh_config() {
    let cmd = ssh_launcher("h1").command_for(&os(&["true"]), &[]).unwrap();
    let argv = cmd.argv();
    assert!(!argv.iter().any(|a| a == "-p" || a == "-l"), "{argv:?}");
    assert_eq!(argv[argv.len() - 2], "h1");
    assert_eq!(argv[argv.len() - 3], "--");
}

#[test]
fn ssh_env_goes_into_the_remote_command() {
    let env = vec![(OsString::from("SECRET"), OsString::from("it's $x"))];
    let cmd = ssh_launcher("h1").command_for(&os(&["job"]), &env).unwrap();
    let want = format!(r#"{WRAP}env "SECRET=it's "'$x' job"#);
    assert_eq!(String::from_utf8(remote_line(&cmd)).unwrap(), want);
}

#[test]
fn without_pdeathsig_the_command_is_exec_alone() {
    let host = RemoteHost::new(None, "h", None).unwrap();
    let launcher =
        Launcher::RemoteShell(RemoteShell::new(SshCommand::default(), host).without_pdeathsig());
    let cmd = launcher.command_for(&os(&["sleep", "5"]), &[]).unwrap();
    assert_eq!(cmd.argv()[0], "ssh");
    assert_eq!(remote_line(&cmd), b"exec sleep 5");
}

#[test]
fn remote_line_gives_back_the_argv_and_env_through_sh_and_bash() {
    if !have("setpriv") {
        eprintln!("setpriv not installed: skipping the local run of the remote command line");
        return;
    }
    let args: Vec<OsString> = [
        &b"printf"[..],
        b"%s\\0",
        b"",
        b"it's",
        b"$HOME `id` $(id)",
        b"line\nbreak",
        b"\xff\xfe",
        b"*",
        b"-x",
    ]
    .iter()
    .map(|b| OsStr::from_bytes(b).to_os_string())
    .collect();
    let cmd = ssh_launcher("h").command_for(&args, &[]).unwrap();
    for shell in ["sh", "bash"] {
        let out = run_line(shell, &remote_line(&cmd));
        assert!(out.status.success(), "{shell}: {out:?}");
        let want: Vec<Vec<u8>> = args[2..].iter().map(|a| a.as_bytes().to_vec()).collect();
        assert_eq!(nul_split(&out.stdout), want, "{shell}");
    }

    let value = OsStr::from_bytes(b"a 'b' \"c\" $d\ne\xff").to_os_string();
    let env = vec![(OsString::from("ORCH_T"), value.clone())];
    let argv = os(&["sh", "-c", r#"printf '%s\0' "$ORCH_T""#]);
    let cmd = ssh_launcher("h").command_for(&argv, &env).unwrap();
    let out = run_line("sh", &remote_line(&cmd));
    assert_eq!(nul_split(&out.stdout), [value.as_bytes().to_vec()]);
}

#[test]
fn parent_check_refuses_to_start_the_job_once_the_parent_is_gone() {
    if !have("setpriv") {
        eprintln!("setpriv not installed: skipping");
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let canary = dir.path().join("ran");
    let argv = vec![OsString::from("touch"), canary.clone().into_os_string()];
    let line = remote_line(&ssh_launcher("h").command_for(&argv, &[]).unwrap());

    // Run as the login shell would: the job runs.
    let out = run_line("sh", &line);
    assert!(out.status.success(), "{out:?}");
    assert!(canary.exists(), "the job did not run with its parent alive");
    std::fs::remove_file(&canary).unwrap();

    // In a background subshell whose shell has exited, "$PPID" still names the shell's parent
    // (POSIX keeps PPID in subshells) while the real parent is gone: just like a connection
    // whose sshd died before setpriv ran. The job must not start.
    let mut script = b"(sleep 0.2; ".to_vec();
    script.extend_from_slice(&line);
    script.extend_from_slice(b") >/dev/null 2>&1 & exit 0");
    let out = run_line("sh", &script);
    assert!(out.status.success());
    std::thread::sleep(std::time::Duration::from_millis(800));
    assert!(
        !canary.exists(),
        "the job started although its parent was gone"
    );
}

#[test]
fn local_keeps_argv_and_sets_env_on_the_process() {
    let env = vec![(OsString::from("K"), OsString::from("v"))];
    let cmd = Launcher::Local
        .command_for(&os(&["sh", "-c", "printf %s \"$K\""]), &env)
        .unwrap();
    assert_eq!(cmd.argv(), os(&["sh", "-c", "printf %s \"$K\""]));
    let out = cmd.to_command().output().unwrap();
    assert_eq!(out.stdout, b"v");
    assert_eq!(Launcher::Local.host_label(), ":");
}

#[test]
fn slurm_execs_argv_after_its_prefix_with_env_through_env() {
    let launcher = Launcher::slurm();
    let cmd = launcher.command_for(&os(&["worker", "a b"]), &[]).unwrap();
    assert_eq!(
        cmd.argv(),
        os(&["srun", "-u", "-n1", "--quiet", "worker", "a b"])
    );
    let env = vec![(OsString::from("K"), OsString::from("v w"))];
    let cmd = launcher.command_for(&os(&["worker"]), &env).unwrap();
    assert_eq!(
        cmd.argv(),
        os(&["srun", "-u", "-n1", "--quiet", "env", "K=v w", "worker"])
    );
    assert!(cmd.local_env().is_empty());
    assert_eq!(launcher.host_label(), "srun");
}

#[test]
fn argv_launcher_parsing_and_its_errors() {
    let l = ArgvLauncher::parse("/usr/bin/srun -u -n1 --quiet --partition 'my part'").unwrap();
    assert_eq!(l.prefix().last().unwrap(), "my part");
    assert_eq!(Launcher::Argv(l).host_label(), "srun");

    let err = ArgvLauncher::parse("ssh -p 2222 host").unwrap_err();
    assert!(
        matches!(err, LaunchError::RemoteShellAsArgv { .. }),
        "{err}"
    );
    assert!(err.to_string().contains("-S/--sshlogin"), "{err}");
    assert!(ArgvLauncher::parse("/usr/bin/ssh host").is_err());

    let err = ArgvLauncher::parse("srun 'unbalanced").unwrap_err();
    assert!(err.to_string().contains("`srun 'unbalanced`"), "{err}");
    let err = ArgvLauncher::parse("   ").unwrap_err();
    assert_eq!(err.to_string(), "--launcher is empty");
}

#[test]
fn ssh_command_from_flag_env_or_default() {
    let ssh = SshCommand::resolve_from(Some("ssh -F 'a b'"), Some("ignored")).unwrap();
    assert_eq!(ssh.words(), os(&["ssh", "-F", "a b"]));
    let ssh = SshCommand::resolve_from(None, Some("ssh -i key")).unwrap();
    assert_eq!(ssh.words(), os(&["ssh", "-i", "key"]));
    assert_eq!(
        SshCommand::resolve_from(None, Some(" ")).unwrap(),
        SshCommand::default()
    );
    assert_eq!(
        SshCommand::resolve_from(None, None).unwrap(),
        SshCommand::default()
    );
    let err = SshCommand::resolve_from(None, Some("ssh \"x")).unwrap_err();
    assert!(err.to_string().contains(SSH_ENV_VAR), "{err}");
    assert!(SshCommand::from_words(Vec::<OsString>::new()).is_err());
}

#[test]
fn bad_jobs_are_refused_with_reasons() {
    let ssh = ssh_launcher("h");
    assert_eq!(ssh.command_for(&[], &[]), Err(LaunchError::EmptyArgv));
    assert_eq!(
        Launcher::Local.command_for(&[], &[]),
        Err(LaunchError::EmptyArgv)
    );

    let nul = vec![
        OsString::from("echo"),
        OsStr::from_bytes(b"a\0b").to_os_string(),
    ];
    assert!(matches!(
        ssh.command_for(&nul, &[]),
        Err(LaunchError::Quote(_))
    ));

    for name in ["", "A=B", "-x"] {
        let env = vec![(OsString::from(name), OsString::from("v"))];
        for launcher in [ssh.clone(), Launcher::slurm(), Launcher::Local] {
            let err = launcher.command_for(&os(&["true"]), &env).unwrap_err();
            assert!(
                matches!(err, LaunchError::BadEnvName { .. }),
                "{name:?}: {err}"
            );
        }
    }

    let err = ssh.command_for(&os(&["-rf"]), &[]).unwrap_err();
    assert!(err.to_string().contains("starts with `-`"), "{err}");
    let env = vec![(OsString::from("K"), OsString::from("v"))];
    let err = Launcher::slurm()
        .command_for(&os(&["a=b"]), &env)
        .unwrap_err();
    assert!(err.to_string().contains("holds `=`"), "{err}");
    assert!(ssh.command_for(&os(&["a=b"]), &env).is_err());
    // Without `env` in front, `=` in the program is harmless.
    assert!(ssh.command_for(&os(&["a=b"]), &[]).is_ok());
}

#[test]
fn exit_statuses_are_interpreted_per_launcher() {
    let exited = |code: i32| ExitStatus::from_raw(code << 8);
    let killed = |signal: i32| ExitStatus::from_raw(signal);
    let ssh = ssh_launcher("h");
    assert_eq!(
        ssh.interpret_exit(exited(255)),
        LaunchExit::LostOrRemoteSignal
    );
    assert_eq!(ssh.interpret_exit(exited(42)), LaunchExit::Code(42));
    assert_eq!(ssh.interpret_exit(killed(9)), LaunchExit::Signal(9));
    assert_eq!(
        Launcher::Local.interpret_exit(exited(255)),
        LaunchExit::Code(255)
    );
    assert_eq!(
        Launcher::slurm().interpret_exit(exited(137)),
        LaunchExit::Code(137)
    );
    assert!(
        LaunchExit::LostOrRemoteSignal
            .to_string()
            .contains("connection lost")
    );
}

#[test]
fn launcher_for_local_login_is_local() {
    let login: SshLogin = "4/:".parse().unwrap();
    assert_eq!(
        Launcher::for_login(&login, &SshCommand::default()),
        Launcher::Local
    );
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(64))]
    /// For any argv, the remote command line that ssh would carry, parsed by `sh -c` as sshd's
    /// login shell would, execs exactly that argv.
    #[test]
    fn any_argv_survives_the_remote_command_line(
        args in prop::collection::vec(prop::collection::vec(1u8..=255, 0..20), 0..5)
    ) {
        prop_assume!(have("setpriv"));
        let mut argv = os(&["printf", "%s\\0", "first"]);
        argv.extend(args.iter().map(|a| OsStr::from_bytes(a).to_os_string()));
        let cmd = ssh_launcher("u@h:22").command_for(&argv, &[]).unwrap();
        let out = run_line("sh", &remote_line(&cmd));
        prop_assert!(out.status.success());
        let mut want = vec![b"first".to_vec()];
        want.extend(args.iter().cloned());
        prop_assert_eq!(nul_split(&out.stdout), want);
    }
}
