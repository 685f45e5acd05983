//! The supervisor: many children on one event loop, with the core's deadline, drain and leak
//! rules.

use std::time::{Duration, Instant};

use orchestrator::supervisor::{Event, Output, Spec, Stream, Supervisor};
use orchestrator::{Ending, ExitStatus, SpawnErrorKind};

use crate::helpers::{LeakGuard, cmd, sh, within};

fn secs(n: u64) -> Duration {
    Duration::from_secs(n)
}

#[test]
fn run_all_keeps_input_order_and_the_limit() {
    let g = LeakGuard::new();
    // Each job records how many jobs run alongside it through a shared directory.
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path().display().to_string();
    let specs = (0..12).map(|i| {
        let script = format!(
            "touch {d}/{i}; n=$(ls {d} | wc -l); sleep 0.05; rm {d}/{i}; echo \"$n\"; echo err{i} >&2"
        );
        Spec::new(sh(&g, &script))
            .stdout(Output::Capture(None))
            .stderr(Output::Capture(None))
    });
    let (results, _) = within(secs(20), || Supervisor::run_all(specs, 3).unwrap());
    assert_eq!(results.len(), 12);
    for (i, r) in results.iter().enumerate() {
        let o = r.as_ref().unwrap();
        assert!(o.success());
        let seen: usize = String::from_utf8_lossy(&o.stdout).trim().parse().unwrap();
        assert!((1..=3).contains(&seen), "job {i} saw {seen} running");
        assert_eq!(o.stderr, format!("err{i}\n").as_bytes());
        assert!(!o.leaked);
    }
}

#[test]
fn output_is_delivered_in_chunks_and_counted() {
    let g = LeakGuard::new();
    let mut sup = Supervisor::new().unwrap();
    sup.spawn(
        Spec::new(sh(&g, "head -c 300000 /dev/zero; echo oops >&2; exit 3")),
        7u32,
    )
    .unwrap();
    let mut out = 0usize;
    let mut err = Vec::new();
    let mut done = None;
    within(secs(20), || {
        while done.is_none() {
            sup.turn(None, &mut |ev| match ev {
                Event::Output {
                    job, stream, data, ..
                } => {
                    assert_eq!(*job, 7);
                    match stream {
                        Stream::Stdout => out += data.len(),
                        Stream::Stderr => err.extend_from_slice(data),
                    }
                }
                Event::Finished { job, outcome, .. } => done = Some((job, outcome)),
                _ => {}
            })
            .unwrap();
        }
    });
    let (job, o) = done.unwrap();
    assert_eq!(job, 7);
    assert_eq!(out, 300_000);
    assert_eq!(err, b"oops\n");
    assert_eq!(o.status, ExitStatus::Code(3));
    assert_eq!((o.stdout_bytes, o.stderr_bytes), (300_000, 5));
    assert!(sup.is_empty());
}

#[test]
fn a_term_ignoring_child_is_killed_after_the_grace() {
    let g = LeakGuard::new();
    let spec = Spec::new(sh(&g, "trap '' TERM; echo ready; sleep 1000"))
        .timeout(Some(Duration::from_millis(200)))
        .grace(Duration::from_millis(300))
        .stdout(Output::Capture(None));
    let (r, took) = within(secs(10), || Supervisor::run_all([spec], 1).unwrap());
    let o = r[0].as_ref().unwrap();
    let t = o.timed_out.expect("timed out");
    assert_eq!(t.ending, Ending::Killed);
    assert_eq!(o.status.signal(), Some(9));
    assert_eq!(o.stdout, b"ready\n");
    assert!(!o.success());
    assert!(took >= Duration::from_millis(500), "took {took:?}");
}

#[test]
fn completion_is_exit_and_a_grandchild_holding_the_pipe_is_a_reported_leak() {
    let g = LeakGuard::new();
    let spec = Spec::new(sh(&g, "sleep 1000 & echo hi"))
        .drain_timeout(Duration::from_millis(100))
        .stdout(Output::Capture(None));
    let (r, took) = within(secs(10), || Supervisor::run_all([spec], 1).unwrap());
    let o = r[0].as_ref().unwrap();
    assert_eq!(o.status, ExitStatus::Code(0));
    assert_eq!(o.stdout, b"hi\n");
    assert!(o.leaked);
    assert!(o.timed_out.is_none());
    assert!(took < secs(5));
}

#[test]
fn stop_all_terms_every_group_and_kill_all_is_immediate() {
    let g = LeakGuard::new();
    let mut sup = Supervisor::new().unwrap();
    for i in 0..4 {
        let script = if i % 2 == 0 {
            "sleep 1000 & wait"
        } else {
            "trap '' TERM; sleep 1000"
        };
        sup.spawn(Spec::new(sh(&g, script)), i).unwrap();
    }
    std::thread::sleep(Duration::from_millis(100));
    sup.stop_all(secs(100));
    let mut finished = Vec::new();
    let t0 = Instant::now();
    // The TERM-obeying ones end; the others wait for the (long) grace.
    while finished.len() < 2 && t0.elapsed() < secs(10) {
        sup.turn(Some(Instant::now() + secs(1)), &mut |ev| {
            if let Event::Finished { job, outcome, .. } = ev {
                assert!(outcome.stopped);
                assert!(outcome.timed_out.is_none());
                finished.push(job);
            }
        })
        .unwrap();
    }
    finished.sort();
    assert_eq!(finished, vec![0, 2]);
    sup.kill_all();
    within(secs(10), || {
        while !sup.is_empty() {
            sup.turn(None, &mut |ev| {
                if let Event::Finished { outcome, .. } = ev {
                    assert_eq!(outcome.status.signal(), Some(9));
                }
            })
            .unwrap();
        }
    });
}

#[test]
fn a_spawn_failure_hands_the_payload_back() {
    let g = LeakGuard::new();
    let mut sup = Supervisor::<String>::new().unwrap();
    let err = sup
        .spawn(
            Spec::new(cmd(&g, "surely-not-a-program-xyz", &[])),
            "mine".to_string(),
        )
        .unwrap_err();
    assert_eq!(err.job, "mine");
    assert_eq!(err.error.kind(), SpawnErrorKind::NotFound);
    assert!(sup.is_empty());
}

#[test]
fn dropping_the_supervisor_kills_and_reaps_everything() {
    let mut g = LeakGuard::new();
    let mut sup = Supervisor::new().unwrap();
    for i in 0..5 {
        sup.spawn(Spec::new(sh(&g, "sleep 1000 & sleep 1000")), i)
            .unwrap();
    }
    std::thread::sleep(Duration::from_millis(100));
    drop(sup);
    g.assert_none_left();
}

#[test]
fn a_waker_interrupts_a_turn_from_another_thread() {
    let mut sup = Supervisor::<()>::new().unwrap();
    let w = sup.waker().unwrap();
    let t = std::thread::spawn(move || {
        std::thread::sleep(Duration::from_millis(50));
        w.wake();
    });
    let mut woken = false;
    within(secs(10), || {
        while !woken {
            sup.turn(None, &mut |ev| woken |= matches!(ev, Event::Woken))
                .unwrap();
        }
    });
    t.join().unwrap();
}

#[test]
fn the_end_of_a_line_input_wakes_a_waiting_loop() {
    use orchestrator::run::input::{Feed, Inputs, LineSource, Next};
    let mut sup = Supervisor::<()>::new().unwrap();
    let (r, mut w) = orchestrator::pipes::pipe().unwrap();
    let src = LineSource::from_reader("pipe", r, b'\n');
    let mut feed = Feed::start(Inputs::Lines(src), Some(sup.waker().unwrap()), false).unwrap();
    let writer = std::thread::spawn(move || {
        use std::io::Write;
        std::thread::sleep(Duration::from_millis(100));
        w.write_all(b"one\n").unwrap();
        std::thread::sleep(Duration::from_millis(100));
        drop(w); // end of input, while the loop sleeps
    });
    let t0 = Instant::now();
    let mut lines = 0;
    loop {
        match feed.poll_next() {
            Next::Item(_) => lines += 1,
            Next::End => break,
            Next::Failed(e) => panic!("{e}"),
            Next::Pending => {
                // Only the reader thread can end this wait early.
                sup.turn(Some(t0 + secs(10)), &mut |_| {}).unwrap();
                assert!(t0.elapsed() < secs(5), "the loop was not woken");
            }
        }
    }
    assert_eq!(lines, 1);
    writer.join().unwrap();
}
