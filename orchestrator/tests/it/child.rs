//! One child: spawn errors, waits, signals, terminate, drop.

use std::time::Duration;

use orchestrator::{Ending, ExitStatus, Signal, SpawnErrorKind};

use crate::helpers::*;

#[test]
fn spawn_errors_name_the_program_and_the_cause() {
    let g = LeakGuard::new();
    let err = cmd(&g, "no-such-program-4711", &[]).spawn().unwrap_err();
    assert_eq!(err.kind(), SpawnErrorKind::NotFound);
    assert_eq!(
        err.to_string(),
        "cannot start `no-such-program-4711`: no such file or directory"
    );

    let dir = tempfile::tempdir().unwrap();
    let err = cmd(&g, dir.path().to_str().unwrap(), &[])
        .spawn()
        .unwrap_err();
    assert_eq!(err.kind(), SpawnErrorKind::IsADirectory);
    assert!(err.to_string().ends_with(": is a directory"), "{err}");

    let file = dir.path().join("not-executable");
    std::fs::write(&file, "#!/bin/sh\necho hi\n").unwrap();
    let err = cmd(&g, file.to_str().unwrap(), &[]).spawn().unwrap_err();
    assert_eq!(err.kind(), SpawnErrorKind::PermissionDenied);
    assert!(err.to_string().contains("permission denied"), "{err}");

    let mut c = cmd(&g, "true", &[]);
    c.current_dir(dir.path().join("missing"));
    let err = c.spawn().unwrap_err();
    assert_eq!(err.kind(), SpawnErrorKind::BadWorkingDirectory);
}

#[test]
fn exit_codes_and_signals_are_told_apart() {
    let g = LeakGuard::new();
    let c = sh(&g, "exit 9").spawn().unwrap();
    assert_eq!(c.wait().unwrap(), ExitStatus::Code(9));
    let c = sh(&g, "kill -9 $$").spawn().unwrap();
    let st = c.wait().unwrap();
    assert_eq!(st.signal(), Some(9));
    assert_eq!(st.code(), None);
    assert_eq!(st.to_string(), "killed by SIGKILL");
}

#[test]
fn poll_wait_timeout_and_idempotent_waits() {
    let mut g = LeakGuard::new();
    let c = cmd(&g, "sleep", &["0.3"]).spawn().unwrap();
    assert_eq!(c.try_wait().unwrap(), None);
    let (r, took) = within(Duration::from_secs(5), || {
        c.wait_timeout(Duration::from_millis(50)).unwrap()
    });
    assert_eq!(r, None);
    assert!(took >= Duration::from_millis(50));
    assert_eq!(c.wait().unwrap(), ExitStatus::Code(0));
    // Waits are idempotent, and signalling a reaped child does nothing.
    assert_eq!(c.wait().unwrap(), ExitStatus::Code(0));
    assert_eq!(c.try_wait().unwrap(), Some(ExitStatus::Code(0)));
    c.signal(Signal::Kill).unwrap();
    assert_eq!(c.wait().unwrap(), ExitStatus::Code(0));
    g.assert_none_left();
}

#[test]
fn terminate_a_term_obeying_child() {
    let mut g = LeakGuard::new();
    let c = cmd(&g, "sleep", &["1000"]).spawn().unwrap();
    let (t, _) = within(Duration::from_secs(5), || {
        c.terminate(Duration::from_secs(5)).unwrap()
    });
    assert_eq!(t.ending, Ending::Terminated);
    assert_eq!(t.status.signal(), Some(15));
    g.assert_none_left();
}

#[test]
fn terminate_a_term_ignoring_child_escalates_to_kill() {
    let mut g = LeakGuard::new();
    // SIG_IGN survives exec, so `sleep` itself ignores TERM.
    let c = sh(&g, "trap '' TERM; echo ready; exec sleep 1000")
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    let mut c = c;
    let mut out = c.take_stdout().unwrap();
    let mut buf = [0u8; 6];
    std::io::Read::read_exact(&mut out, &mut buf).unwrap();
    let (t, took) = within(Duration::from_secs(5), || {
        c.terminate(Duration::from_millis(300)).unwrap()
    });
    assert_eq!(t.ending, Ending::Killed);
    assert_eq!(t.status.signal(), Some(9));
    assert!(took >= Duration::from_millis(300), "{took:?}");
    g.assert_none_left();
}

#[test]
fn zero_grace_kills_at_once() {
    let mut g = LeakGuard::new();
    let c = cmd(&g, "sleep", &["1000"]).spawn().unwrap();
    let t = c.terminate(Duration::ZERO).unwrap();
    assert_eq!(t.ending, Ending::Killed);
    assert_eq!(t.status.signal(), Some(9));
    g.assert_none_left();
}

#[test]
fn terminate_reaches_grandchildren() {
    let mut g = LeakGuard::new();
    let c = sh(&g, "sleep 1000 & sleep 1000 & wait").spawn().unwrap();
    std::thread::sleep(Duration::from_millis(100));
    let t = c.terminate(Duration::from_secs(5)).unwrap();
    assert_ne!(t.ending, Ending::AlreadyExited);
    g.assert_none_left();
}

#[test]
fn leftovers_are_killed_when_the_leader_is_reaped() {
    let mut g = LeakGuard::new();
    let c = sh(&g, "sleep 1000 >/dev/null 2>&1 & exit 3")
        .spawn()
        .unwrap();
    assert_eq!(c.wait().unwrap(), ExitStatus::Code(3));
    assert!(c.leaked(), "the background sleep was left behind");
    g.assert_none_left();
}

#[test]
fn dropping_a_handle_kills_and_reaps() {
    let mut g = LeakGuard::new();
    let c = sh(&g, "sleep 1000 & sleep 1000").spawn().unwrap();
    let pid = c.pid();
    drop(c);
    // Reaped: no zombie is left under our pid.
    assert!(!std::path::Path::new(&format!("/proc/{pid}")).exists());
    g.assert_none_left();
}

#[test]
fn detach_lets_it_run() {
    let mut g = LeakGuard::new();
    // Long enough that a loaded machine cannot end it before we look.
    let c = cmd(&g, "sleep", &["60"]).spawn().unwrap();
    let pid = c.pid();
    // Right after exec the kernel has not yet published the new environment in
    // /proc/PID/environ, so the guard may not see the mark for a moment: wait until it does.
    let (seen, _) = within(Duration::from_secs(10), || {
        loop {
            if g.survivors() == vec![pid] {
                break true;
            }
            std::thread::sleep(Duration::from_millis(5));
        }
    });
    assert!(seen);
    c.detach();
    std::thread::sleep(Duration::from_millis(50));
    assert_eq!(
        g.survivors(),
        vec![pid],
        "dropping a detached handle must not kill it"
    );
    // Nothing reaps it now; end it by pid (it stays a zombie until the test process exits,
    // which the guard does not count).
    let killed = std::process::Command::new("kill")
        .args(["-KILL", &pid.to_string()])
        .status()
        .unwrap();
    assert!(killed.success());
    g.assert_none_left();
}

#[test]
fn terminate_gives_the_rest_of_the_group_the_grace_too() {
    let mut g = LeakGuard::new();
    // Leader exits on TERM; a grandchild traps TERM and exits 0.2 s later, within the grace.
    let c = sh(
        &g,
        "sh -c \"trap 'sleep 0.2; exit 0' TERM; while :; do sleep 0.05; done\" & sleep 0.1; exec sleep 1000",
    )
    .spawn()
    .unwrap();
    std::thread::sleep(Duration::from_millis(300));
    let t = c.terminate(Duration::from_secs(5)).unwrap();
    assert_eq!(t.ending, Ending::Terminated, "{t:?}");
    assert!(!c.leaked());
    g.assert_none_left();
}
