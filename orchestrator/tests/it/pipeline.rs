//! Pipelines: wiring, status precedence, deadlines, concurrency.

use std::time::Duration;

use orchestrator::{Ending, ExitStatus, Pipeline};

use crate::helpers::*;

#[test]
fn yes_into_head_succeeds_with_the_sigpipe_forgiven() {
    let mut g = LeakGuard::new();
    let mut last = cmd(&g, "head", &["-n", "1"]);
    last.stdout(Stdio::piped());
    let p = Pipeline::new([cmd(&g, "yes", &[]), last]).spawn().unwrap();
    let out = within(Duration::from_secs(10), || p.communicate().run().unwrap()).0;
    assert_eq!(out.stdout, b"y\n");
    assert!(out.success());
    assert!(out.stages[0].status.is_sigpipe());
    assert!(out.stages[0].forgiven_sigpipe);
    g.assert_none_left();
}

#[test]
fn the_rightmost_real_failure_wins() {
    let g = LeakGuard::new();
    let mut last = sh(&g, "exit 3");
    last.stdout(Stdio::piped());
    let p = Pipeline::new([cmd(&g, "false", &[]), cmd(&g, "cat", &[]), last])
        .spawn()
        .unwrap();
    let out = p.communicate().run().unwrap();
    assert_eq!(out.status, ExitStatus::Code(3));
    assert_eq!(out.failed_stage, Some(2));
    assert_eq!(out.stages[0].status, ExitStatus::Code(1));
}

#[test]
fn data_flows_between_stages_and_stderr_is_per_stage() {
    let mut g = LeakGuard::new();
    let mut first = sh(&g, "cat; echo one >&2");
    first.stdin(Stdio::piped()).stderr(Stdio::piped());
    let mut mid = cmd(&g, "tr", &["a-z", "A-Z"]);
    mid.stderr(Stdio::piped());
    let mut last = sh(&g, "cat; echo three >&2");
    last.stdout(Stdio::piped()).stderr(Stdio::piped());
    let p = Pipeline::new([first, mid, last]).spawn().unwrap();
    let out = p.communicate().input("abc\n").run().unwrap();
    assert!(out.success());
    assert_eq!(out.stdout, b"ABC\n");
    assert_eq!(out.stages[0].stderr, b"one\n");
    assert_eq!(out.stages[1].stderr, b"");
    assert_eq!(out.stages[2].stderr, b"three\n");
    let pids: Vec<u32> = out.stages.iter().map(|s| s.pid).collect();
    assert_eq!(pids.len(), 3);
    g.assert_none_left();
}

#[test]
fn a_stage_that_cannot_start_is_named_and_the_others_are_reaped() {
    let mut g = LeakGuard::new();
    let err = Pipeline::new([cmd(&g, "sleep", &["1000"]), cmd(&g, "no-such-prog-99", &[])])
        .spawn()
        .unwrap_err();
    assert_eq!(err.stage, 1);
    assert!(
        err.to_string()
            .contains("cannot start `no-such-prog-99`: no such file or directory"),
        "{err}"
    );
    g.assert_none_left();
}

#[test]
fn one_deadline_for_the_whole_pipeline_reports_the_running_stage() {
    let mut g = LeakGuard::new();
    let mut last = cmd(&g, "sleep", &["1000"]);
    last.stdout(Stdio::piped());
    let p = Pipeline::new([cmd(&g, "true", &[]), last]).spawn().unwrap();
    let (out, _) = within(Duration::from_secs(10), || {
        p.communicate()
            .timeout(Duration::from_millis(300))
            .run()
            .unwrap()
    });
    assert!(!out.success());
    assert_eq!(out.ending(), Some(Ending::Terminated));
    let running: Vec<usize> = out.stages_running_at_deadline().map(|(i, _)| i).collect();
    assert_eq!(running, vec![1]);
    g.assert_none_left();
}

#[test]
fn terminate_stops_every_stage() {
    let mut g = LeakGuard::new();
    let dir = tempfile::tempdir().unwrap();
    let ready = dir.path().join("ready");
    let script = format!("trap '' TERM; touch '{}'; exec sleep 1000", ready.display());
    let p = Pipeline::new([sh(&g, &script), cmd(&g, "sleep", &["1000"])])
        .spawn()
        .unwrap();
    // Readiness handshake: TERM must arrive after the trap is set.
    within(Duration::from_secs(10), || {
        while !ready.exists() {
            std::thread::sleep(Duration::from_millis(5));
        }
    });
    let out = within(Duration::from_secs(10), || {
        p.terminate(Duration::from_millis(200)).unwrap()
    })
    .0;
    assert_eq!(out.ending(), Some(Ending::Killed));
    g.assert_none_left();
}

#[test]
fn dropping_a_running_pipeline_kills_it() {
    let mut g = LeakGuard::new();
    let p = Pipeline::new([sh(&g, "sleep 1000 & sleep 1000"), cmd(&g, "cat", &[])])
        .spawn()
        .unwrap();
    drop(p);
    g.assert_none_left();
}

#[test]
fn thirty_two_pipelines_from_several_threads_all_reach_eof() {
    let mut g = LeakGuard::new();
    let mark = g.mark().to_string();
    let handles: Vec<_> = (0..4)
        .map(|t| {
            let mark = mark.clone();
            std::thread::spawn(move || {
                for i in 0..8 {
                    let mut a = orchestrator::Command::new("cat");
                    a.stdin(Stdio::piped()).env(testkit::MARK_VAR, &mark);
                    let mut b = orchestrator::Command::new("cat");
                    b.env(testkit::MARK_VAR, &mark);
                    let mut c = orchestrator::Command::new("wc");
                    c.arg("-c")
                        .stdout(Stdio::piped())
                        .env(testkit::MARK_VAR, &mark);
                    let p = Pipeline::new([a, b, c]).spawn().unwrap();
                    let n = 100_000 * (t * 8 + i + 1);
                    let out = p
                        .communicate()
                        .input(vec![b'.'; n])
                        .timeout(Duration::from_secs(30))
                        .run()
                        .unwrap();
                    assert!(out.timed_out.is_none(), "pipeline {t}/{i} hung");
                    assert_eq!(String::from_utf8_lossy(&out.stdout).trim(), n.to_string());
                }
            })
        })
        .collect();
    for h in handles {
        h.join().unwrap();
    }
    g.assert_none_left();
}

#[test]
fn openssl_chain_matches_the_bash_pipeline() {
    if std::process::Command::new("openssl")
        .arg("version")
        .output()
        .is_err()
    {
        eprintln!("SKIPPED: openssl is not installed");
        return;
    }
    let mut g = LeakGuard::new();
    let data: Vec<u8> = (0..200_000u32)
        .map(|i| (i.wrapping_mul(2654435761) >> 24) as u8)
        .collect();
    let dir = tempfile::tempdir().unwrap();
    let f = dir.path().join("input");
    std::fs::write(&f, &data).unwrap();
    let enc = "openssl enc -des3 -pbkdf2 -nosalt -pass env:password";
    let dgst = "openssl dgst -whirlpool -provider legacy -provider default";
    let bash = std::process::Command::new("bash")
        .args(["-c", &format!("{enc} < '{}' | {dgst}", f.display())])
        .env("password", "s3cret")
        .env(testkit::MARK_VAR, g.mark())
        .output()
        .unwrap();
    assert!(
        bash.status.success(),
        "{}",
        String::from_utf8_lossy(&bash.stderr)
    );
    let mut a = Command::new("openssl");
    a.args(enc.split(' ').skip(1))
        .stdin(Stdio::piped())
        .env("password", "s3cret")
        .env(testkit::MARK_VAR, g.mark());
    let mut b = Command::new("openssl");
    b.args(dgst.split(' ').skip(1))
        .stdout(Stdio::piped())
        .env(testkit::MARK_VAR, g.mark());
    let out = Pipeline::new([a, b])
        .spawn()
        .unwrap()
        .communicate()
        .input(data)
        .run()
        .unwrap();
    assert!(out.success(), "{:?}", out.stages);
    assert_eq!(out.stdout, bash.stdout);
    g.assert_none_left();
}
