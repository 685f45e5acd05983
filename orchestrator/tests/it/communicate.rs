//! communicate: input and output at once, deadlines, leaks, caps.

use std::time::Duration;

use orchestrator::Ending;

use crate::helpers::*;

#[test]
fn round_trip_through_cat() {
    let mut g = LeakGuard::new();
    let c = cmd(&g, "cat", &[])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    let data: Vec<u8> = (0..3_000_000u32).map(|i| (i % 251) as u8).collect();
    let out = c.communicate().input(data.clone()).run().unwrap();
    assert!(out.status.success());
    assert_eq!(out.stdout, data);
    assert!(!out.leaked);
    assert_eq!(out.input_unwritten, 0);
    g.assert_none_left();
}

#[test]
fn one_gib_each_way_on_stdin_stdout_and_stderr_at_once() {
    let mut g = LeakGuard::new();
    // tee copies stdin to stdout and to stderr: 1 GiB in, 1 GiB out on each stream.
    let c = sh(&g, "exec tee /dev/fd/2")
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let gib = 1usize << 30;
    let (out, _) = within(Duration::from_secs(120), || {
        c.communicate()
            .input(vec![7u8; gib])
            .timeout(Duration::from_secs(110))
            .run()
            .unwrap()
    });
    assert!(out.timed_out.is_none(), "stalled: {:?}", out.timed_out);
    assert!(out.status.success());
    assert_eq!(out.stdout.len(), gib);
    assert_eq!(out.stderr.len(), gib);
    assert!(out.stdout.iter().all(|b| *b == 7));
    g.assert_none_left();
}

#[test]
fn empty_input_and_no_input() {
    let mut g = LeakGuard::new();
    let c = cmd(&g, "wc", &["-c"])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    let out = c.communicate().input(Vec::new()).run().unwrap();
    assert_eq!(String::from_utf8_lossy(&out.stdout).trim(), "0");
    let c = cmd(&g, "wc", &["-c"])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    let out = within(Duration::from_secs(10), || c.communicate().run().unwrap()).0;
    assert_eq!(String::from_utf8_lossy(&out.stdout).trim(), "0");
    g.assert_none_left();
}

#[test]
fn a_consumer_that_exits_early_is_not_an_error() {
    let mut g = LeakGuard::new();
    let c = cmd(&g, "head", &["-c", "1"])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    let out = within(Duration::from_secs(10), || {
        c.communicate().input(vec![b'z'; 50 << 20]).run().unwrap()
    })
    .0;
    assert!(out.status.success());
    assert_eq!(out.stdout, b"z");
    assert!(out.input_unwritten > 0);
    g.assert_none_left();
}

#[test]
fn timeout_with_grandchildren_returns_on_time_and_leaves_nothing() {
    let mut g = LeakGuard::new();
    // The case: `sleep 1000 & sleep 1000` with a 1 s timeout.
    let c = sh(&g, "sleep 1000 & sleep 1000")
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let (out, took) = within(Duration::from_secs(10), || {
        c.communicate()
            .timeout(Duration::from_secs(1))
            .grace(Duration::from_secs(2))
            .run()
            .unwrap()
    });
    assert!(took >= Duration::from_secs(1));
    let t = out.timed_out.expect("timed out");
    assert_eq!(t.ending, Ending::Terminated, "sleep obeys TERM");
    assert_eq!(out.status.signal(), Some(15));
    g.assert_none_left();
}

#[test]
fn timeout_on_a_term_ignoring_child_kills_after_the_grace() {
    let mut g = LeakGuard::new();
    let c = sh(&g, "trap '' TERM; echo partial; exec sleep 1000")
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    // The timeout leaves the shell ample time to set its trap first.
    let (out, took) = within(Duration::from_secs(10), || {
        c.communicate()
            .timeout(Duration::from_millis(800))
            .grace(Duration::from_millis(300))
            .run()
            .unwrap()
    });
    assert!(took >= Duration::from_millis(1100), "{took:?}");
    assert_eq!(out.timed_out.unwrap().ending, Ending::Killed);
    assert_eq!(out.stdout, b"partial\n");
    assert_eq!(out.status.signal(), Some(9));
    g.assert_none_left();
}

#[test]
fn completion_is_exit_not_eof() {
    let mut g = LeakGuard::new();
    // The child exits at once; its background grandchild keeps stdout open for 30 s.
    // Python's communicate() waits the 30 s; we return after the drain window.
    let c = sh(&g, "sleep 30 & echo done")
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    let (out, _) = within(Duration::from_secs(5), || {
        c.communicate()
            .drain_timeout(Duration::from_millis(200))
            .run()
            .unwrap()
    });
    assert!(out.status.success());
    assert!(out.timed_out.is_none());
    assert!(out.leaked, "the grandchild held the pipe");
    assert_eq!(out.stdout, b"done\n");
    g.assert_none_left();
}

#[test]
fn capture_limit_bounds_memory_without_blocking_the_child() {
    let mut g = LeakGuard::new();
    let c = sh(&g, "head -c 5000000 /dev/zero; echo err >&2")
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let out = c.communicate().capture_limit(1000).run().unwrap();
    assert!(out.status.success());
    assert_eq!(out.stdout.len(), 1000);
    assert_eq!(out.stdout_dropped, 5_000_000 - 1000);
    assert_eq!(out.stderr, b"err\n");
    g.assert_none_left();
}

#[test]
fn check_turns_failures_into_typed_errors() {
    let g = LeakGuard::new();
    let c = sh(&g, "exit 4").spawn().unwrap();
    let err = c.communicate().run().unwrap().check().unwrap_err();
    assert_eq!(err.to_string(), "`sh` failed: exit code 4");
    let c = cmd(&g, "sleep", &["1000"]).spawn().unwrap();
    let err = c
        .communicate()
        .timeout(Duration::from_millis(50))
        .run()
        .unwrap()
        .check()
        .unwrap_err();
    assert!(err.to_string().contains("timed out"), "{err}");
}

#[test]
fn after_a_timeout_the_whole_group_gets_the_grace_then_kill() {
    let mut g = LeakGuard::new();
    // The leader obeys TERM at once; its grandchild ignores TERM and holds no pipe.
    let c = sh(
        &g,
        "sh -c \"trap '' TERM; exec sleep 1000\" >/dev/null 2>&1 & echo up; exec sleep 1000",
    )
    .stdout(Stdio::piped())
    .spawn()
    .unwrap();
    // The timeout leaves the grandchild ample time to set its trap first.
    let (out, took) = within(Duration::from_secs(10), || {
        c.communicate()
            .timeout(Duration::from_millis(1000))
            .grace(Duration::from_millis(400))
            .run()
            .unwrap()
    });
    assert_eq!(out.stdout, b"up\n");
    assert_eq!(out.status.signal(), Some(15), "the leader obeyed TERM");
    assert_eq!(
        out.timed_out.unwrap().ending,
        Ending::Killed,
        "the grandchild needed KILL"
    );
    assert!(
        took >= Duration::from_millis(700),
        "the grace was given: {took:?}"
    );
    g.assert_none_left();
}

#[test]
fn the_readme_library_example_holds() {
    let mut g = LeakGuard::new();
    let child = sh(&g, "echo started; sleep 30 & sleep 30")
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    let (out, took) = within(Duration::from_secs(10), || {
        child
            .communicate()
            .timeout(Duration::from_secs(1))
            .grace(Duration::from_secs(2))
            .run()
            .unwrap()
    });
    assert_eq!(out.stdout, b"started\n");
    assert_eq!(out.timed_out.map(|t| t.ending), Some(Ending::Terminated));
    assert!(
        took < Duration::from_secs(3),
        "returned at the timeout, not after 30 s"
    );
    g.assert_none_left();
}
