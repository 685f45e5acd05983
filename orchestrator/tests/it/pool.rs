//! The worker pool against a fake worker that misbehaves on request (testkit's
//! `fake_worker`): crashes, hangs, garbage, failed handshakes, stops.

use std::ffi::OsString;
use std::io;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use orchestrator::pool::{
    Collect, Launch, Mode, NumberError, NumberFailure, Pool, PoolError, PoolEvent, TextFormat,
    TextInput, TextJob,
};

use crate::helpers::*;

/// Starts `fake_worker serve` with the leak mark and `FAKE_WORKER=behaviour`.
#[derive(Debug)]
struct Fake {
    mark: String,
    behaviour: String,
}

impl Launch for Fake {
    fn argv(&self, _slot: usize) -> Vec<OsString> {
        vec![testkit::bin("fake_worker").into(), "serve".into()]
    }

    fn command(&self, slot: usize) -> io::Result<Command> {
        let mut c = Command::from_argv(&self.argv(slot))?;
        c.env(testkit::MARK_VAR, &self.mark)
            .env("FAKE_WORKER", &self.behaviour);
        Ok(c)
    }
}

fn fake(g: &LeakGuard, behaviour: &str) -> Fake {
    Fake {
        mark: g.mark().to_string(),
        behaviour: behaviour.to_string(),
    }
}

/// Events seen by the pool, for assertions.
fn recorder() -> (
    Arc<Mutex<Vec<PoolEvent>>>,
    impl FnMut(&PoolEvent) + Send + 'static,
) {
    let events = Arc::new(Mutex::new(Vec::new()));
    let e = events.clone();
    (events, move |ev: &PoolEvent| {
        e.lock().unwrap().push(ev.clone())
    })
}

fn naive(mut n: u128) -> Vec<u128> {
    let mut out = Vec::new();
    let mut d = 2;
    while d * d <= n {
        while n.is_multiple_of(d) {
            out.push(d);
            n /= d;
        }
        d += 1;
    }
    if n > 1 {
        out.push(n);
    }
    out
}

fn lines(numbers: impl IntoIterator<Item = u128>) -> String {
    numbers
        .into_iter()
        .map(|n| {
            let mut s = format!("{n}:");
            for p in naive(n) {
                s.push_str(&format!(" {p}"));
            }
            s.push('\n');
            s
        })
        .collect()
}

fn text_input(s: String) -> TextInput {
    TextInput::Reader(Box::new(io::Cursor::new(s.into_bytes())))
}

#[test]
fn numbers_come_back_in_order() {
    let mut g = LeakGuard::new();
    let mut pool = Pool::builder()
        .procs(3)
        .launcher(fake(&g, ""))
        .start()
        .unwrap();
    let numbers: Vec<u128> = (0..5000u128).map(|i| i * 7919 + 1).collect();
    let got = pool.factor(&numbers).unwrap();
    assert_eq!(got.len(), numbers.len());
    for (n, r) in numbers.iter().zip(&got) {
        assert_eq!(r.as_ref().unwrap(), &naive(*n), "{n}");
    }
    let d = pool.divisors(&[12, 0, 1], Some(4)).unwrap();
    assert_eq!(
        d[0],
        Err(NumberFailure::Refused(NumberError::DivisorCapExceeded {
            count: 6,
            cap: 4
        }))
    );
    assert_eq!(d[1], Ok(vec![]));
    assert_eq!(d[2], Ok(vec![1]));
    assert_eq!(pool.workers().unwrap().len(), 3);
    drop(pool);
    g.assert_none_left();
}

#[test]
fn text_runs_in_every_form() {
    let mut g = LeakGuard::new();
    let mut pool = Pool::builder()
        .procs(2)
        .launcher(fake(&g, ""))
        .start()
        .unwrap();
    // Whitespace-separated stdin, with a bad token in the middle.
    let mut sink = Collect::default();
    let s = pool
        .run_text(
            TextJob::default(),
            text_input("12\t7 abc\n\n  2139079 ".into()),
            &mut sink,
        )
        .unwrap();
    assert_eq!(sink.out, b"12: 2 2 3\n7: 7\n2139079: 101 21179\n");
    assert_eq!(sink.messages, ["‘abc’ is not a valid positive integer"]);
    assert_eq!((s.inputs, s.bad, s.failed, s.timed_out), (4, 1, 0, 0));

    // Arguments: each taken whole.
    let mut sink = Collect::default();
    let args = vec![b" 12".to_vec(), b"1 2".to_vec(), b"".to_vec()];
    let s = pool
        .run_text(TextJob::default(), TextInput::Args(args), &mut sink)
        .unwrap();
    assert_eq!(sink.out, b"12: 2 2 3\n");
    assert_eq!(sink.messages.len(), 2);
    assert_eq!(s.bad, 2);

    // Divisors, JSON.
    let mut sink = Collect::default();
    let job = TextJob {
        mode: Mode::Divisors,
        format: TextFormat::Json,
        divisor_cap: None,
    };
    pool.run_text(job, text_input("12 x".into()), &mut sink)
        .unwrap();
    assert_eq!(
        String::from_utf8(sink.out).unwrap(),
        "{\"n\":12,\"divisors\":[1,2,3,4,6,12]}\n{\"input\":\"x\",\"error\":\"‘x’ is not a valid positive integer\"}\n"
    );
    drop(pool);
    g.assert_none_left();
}

#[test]
fn a_large_streamed_run_keeps_input_order() {
    let mut g = LeakGuard::new();
    let mut pool = Pool::builder()
        .procs(2)
        .launcher(fake(&g, ""))
        .start()
        .unwrap();
    let numbers: Vec<u128> = (0..60_000u128).map(|i| (i * 104_729) % 1_000_003).collect();
    let text: String = numbers.iter().map(|n| format!("{n}\n")).collect();
    let mut sink = Collect::default();
    let s = pool
        .run_text(TextJob::default(), text_input(text), &mut sink)
        .unwrap();
    assert_eq!(String::from_utf8(sink.out).unwrap(), lines(numbers));
    assert_eq!(s.inputs, 60_000);
    drop(pool);
    g.assert_none_left();
}

#[test]
fn a_worker_that_crashes_once_is_replaced_and_nothing_is_lost() {
    for misbehaviour in ["crash-on", "exit-on", "garbage-on"] {
        let mut g = LeakGuard::new();
        let dir = tempfile::tempdir().unwrap();
        let (events, on_event) = recorder();
        let behaviour = format!("{misbehaviour}=4242,once={}", dir.path().display());
        let mut pool = Pool::builder()
            .procs(2)
            .launcher(fake(&g, &behaviour))
            .on_event(on_event)
            .start()
            .unwrap();
        let numbers: Vec<u128> = (4000..9000).collect();
        let text: String = numbers.iter().map(|n| format!("{n} ")).collect();
        let mut sink = Collect::default();
        let s = pool
            .run_text(TextJob::default(), text_input(text), &mut sink)
            .unwrap();
        assert_eq!(
            String::from_utf8(sink.out).unwrap(),
            lines(numbers),
            "{misbehaviour}"
        );
        assert!(sink.messages.is_empty(), "{:?}", sink.messages);
        assert_eq!(
            s.workers_lost,
            1,
            "{misbehaviour}: {s:?} {:?}",
            events.lock().unwrap()
        );
        assert!(s.retried > 0);
        let events = events.lock().unwrap().clone();
        let lost: Vec<_> = events
            .iter()
            .filter_map(|e| match e {
                PoolEvent::Lost { cause, .. } => Some(cause.clone()),
                _ => None,
            })
            .collect();
        assert_eq!(lost.len(), 1, "{events:?}");
        let expected = match misbehaviour {
            "crash-on" => "killed by SIGABRT",
            "exit-on" => "exit code 3",
            _ => "protocol error",
        };
        assert!(lost[0].contains(expected), "{misbehaviour}: {}", lost[0]);
        drop(pool);
        g.assert_none_left();
    }
}

#[test]
fn a_number_that_always_kills_its_worker_is_reported_and_the_rest_is_done() {
    let mut g = LeakGuard::new();
    let mut pool = Pool::builder()
        .procs(2)
        .launcher(fake(&g, "crash-on=5000"))
        .max_attempts(3)
        .start()
        .unwrap();
    let numbers: Vec<u128> = (4000..6000).collect();
    let got = pool.factor(&numbers).unwrap();
    for (n, r) in numbers.iter().zip(&got) {
        if *n == 5000 {
            match r {
                Err(NumberFailure::WorkerDied { attempts, cause }) => {
                    assert_eq!(*attempts, 3);
                    assert!(cause.contains("SIGABRT"), "{cause}");
                }
                other => panic!("5000: {other:?}"),
            }
        } else {
            assert_eq!(r.as_ref().unwrap(), &naive(*n));
        }
    }
    // The same through text: the message names the input.
    let mut sink = Collect::default();
    let s = pool
        .run_text(
            TextJob::default(),
            text_input("4999 5000 5001".into()),
            &mut sink,
        )
        .unwrap();
    assert_eq!(sink.out, lines([4999, 5001]).into_bytes());
    assert_eq!(sink.messages.len(), 1);
    assert!(
        sink.messages[0]
            .starts_with("‘5000’: a worker died on it 3 times (last: killed by SIGABRT"),
        "{}",
        sink.messages[0]
    );
    assert_eq!(s.failed, 1);
    drop(pool);
    g.assert_none_left();
}

#[test]
fn a_hanging_number_times_out_and_the_run_goes_on() {
    let mut g = LeakGuard::new();
    let mut pool = Pool::builder()
        .procs(2)
        .launcher(fake(&g, "hang-on=77"))
        .timeout(Some(Duration::from_millis(300)))
        .start()
        .unwrap();
    let (result, took) = within(Duration::from_secs(20), || {
        let mut sink = Collect::default();
        let s = pool
            .run_text(
                TextJob::default(),
                text_input("76 77 78 77 79".into()),
                &mut sink,
            )
            .unwrap();
        (s, sink)
    });
    let (s, sink) = result;
    assert!(took >= Duration::from_millis(300), "{took:?}");
    assert_eq!(sink.out, lines([76, 78, 79]).into_bytes());
    assert_eq!(
        sink.messages,
        [
            "‘77’: timed out after 300ms; its worker was killed and replaced",
            "‘77’: timed out after 300ms; its worker was killed and replaced"
        ]
    );
    assert_eq!((s.timed_out, s.failed, s.inputs), (2, 0, 5));
    let got = pool.factor(&[77, 10]).unwrap();
    assert_eq!(
        got[0],
        Err(NumberFailure::TimedOut {
            after: Duration::from_millis(300)
        })
    );
    assert_eq!(got[1], Ok(vec![2, 5]));
    drop(pool);
    g.assert_none_left();
}

#[test]
fn workers_that_fail_the_handshake_fail_the_start_clearly() {
    // A short handshake timeout only where it is the point (a loaded machine may take
    // longer than that to start a process).
    let cases = [
        (
            "hello=garbage",
            "is the peer writing something other than frames?",
            20_000,
        ),
        ("hello=version", "protocol version mismatch", 20_000),
        ("hello=silent", "no hello within 300ms", 300),
    ];
    for (behaviour, expected, handshake_ms) in cases {
        let mut g = LeakGuard::new();
        let (events, on_event) = recorder();
        let (result, _) = within(Duration::from_secs(60), || {
            Pool::builder()
                .procs(2)
                .launcher(fake(&g, behaviour))
                .handshake_timeout(Duration::from_millis(handshake_ms))
                .on_event(on_event)
                .start()
        });
        let err = result.unwrap_err();
        let msg = err.to_string();
        assert!(
            matches!(err, PoolError::NoWorkers { failures: 6, .. }),
            "{msg}"
        );
        assert!(msg.contains(expected), "{behaviour}: {msg}");
        assert!(msg.contains("fake_worker serve"), "{msg}");
        let gave_up = events
            .lock()
            .unwrap()
            .iter()
            .filter(|e| matches!(e, PoolEvent::GaveUp { .. }))
            .count();
        assert_eq!(gave_up, 2);
        g.assert_none_left();
    }
}

#[test]
fn a_missing_worker_program_is_named() {
    let err = Pool::builder()
        .procs(1)
        .worker("/no/such/worker")
        .start()
        .unwrap_err();
    assert_eq!(
        err.to_string(),
        "no worker could be started (3 failed start(s) on 1 slot(s)); last error: \
         /no/such/worker serve: cannot start `/no/such/worker`: no such file or directory"
    );
}

#[test]
fn stopping_a_run_delivers_what_is_done_and_stops_the_busy_workers() {
    let mut g = LeakGuard::new();
    let mut pool = Pool::builder()
        .procs(2)
        .launcher(fake(&g, "slow-us=2000"))
        .grace(Duration::from_millis(500))
        .start()
        .unwrap();
    let stopper = pool.stopper();
    let t = std::thread::spawn(move || {
        std::thread::sleep(Duration::from_millis(300));
        stopper.stop();
    });
    let numbers: Vec<u128> = (1..100_000).collect();
    let mut answered = Vec::new();
    let (s, took) = within(Duration::from_secs(10), || {
        pool.run_numbers(Mode::Primes, None, numbers.iter().copied(), |i, r| {
            answered.push((i, r))
        })
        .unwrap()
    });
    t.join().unwrap();
    assert!(s.stopped);
    assert!(took < Duration::from_secs(5), "{took:?}");
    assert!(!answered.is_empty() && answered.len() < numbers.len());
    for (k, (i, r)) in answered.iter().enumerate() {
        assert_eq!(*i, k as u64);
        assert_eq!(r.as_ref().unwrap(), &naive(numbers[k]));
    }
    assert_eq!(s.inputs as usize, answered.len());
    drop(pool);
    g.assert_none_left();
}

#[test]
fn workers_that_die_on_everything_fail_the_run_instead_of_respawning_forever() {
    let mut g = LeakGuard::new();
    let mut pool = Pool::builder()
        .procs(2)
        .launcher(fake(&g, "crash-on=any"))
        .start()
        .unwrap();
    let (result, _) = within(Duration::from_secs(60), || {
        pool.factor(&(1..1000).collect::<Vec<u128>>())
    });
    let err = result.unwrap_err();
    assert!(matches!(err, PoolError::WorkersKeepDying { .. }), "{err}");
    let msg = err.to_string();
    // 20 + 4 per worker in a row are tolerated (enough to corner a number that kills
    // workers by halving a chunk of 32768); two deaths may land in the same loop turn.
    let PoolError::WorkersKeepDying { deaths, .. } = err else {
        unreachable!()
    };
    assert!((29..=30).contains(&deaths), "{msg}");
    assert!(
        msg.contains("in a row died without any work being finished"),
        "{msg}"
    );
    assert!(msg.contains("killed by SIGABRT"), "{msg}");
    drop(pool);
    g.assert_none_left();
}

#[test]
fn a_worker_that_goes_silent_is_lost_and_its_work_goes_elsewhere() {
    // As when its host or the network to it goes away: the worker holds work and sends
    // nothing (SIGSTOP: not even the clock thread's progress frames).
    let mut g = LeakGuard::new();
    let (events, on_event) = recorder();
    let mut pool = Pool::builder()
        .procs(2)
        .launcher(fake(&g, "slow-us=2000"))
        .silence_limit(Some(Duration::from_millis(500)))
        .on_event(on_event)
        .start()
        .unwrap();
    let victim = pool.workers().unwrap()[0].pid;
    let numbers: Vec<u128> = (0..1500u128).map(|i| i * 7919 + 1).collect();
    let stopper = std::thread::spawn(move || {
        std::thread::sleep(Duration::from_millis(300));
        let ok = std::process::Command::new("kill")
            .args(["-STOP", &victim.to_string()])
            .status()
            .is_ok_and(|s| s.success());
        assert!(ok, "SIGSTOP to the worker");
    });
    let (got, _) = within(Duration::from_secs(60), || pool.factor(&numbers).unwrap());
    stopper.join().unwrap();
    assert_eq!(got.len(), numbers.len());
    for (n, r) in numbers.iter().zip(&got) {
        assert_eq!(r.as_ref().unwrap(), &naive(*n), "{n}");
    }
    let lost: Vec<PoolEvent> = events
        .lock()
        .unwrap()
        .iter()
        .filter(|e| matches!(e, PoolEvent::Lost { .. }))
        .cloned()
        .collect();
    assert_eq!(lost.len(), 1, "{lost:?}");
    let PoolEvent::Lost { pid, cause, .. } = &lost[0] else {
        unreachable!()
    };
    assert_eq!(*pid, victim);
    assert!(cause.contains("sent nothing for 500ms"), "{cause}");
    // Idle workers are not silent: a pause longer than the limit loses nobody.
    std::thread::sleep(Duration::from_millis(800));
    assert_eq!(
        pool.factor(&[12, 35]).unwrap(),
        [Ok(vec![2, 2, 3]), Ok(vec![5, 7])]
    );
    let lost_after = events
        .lock()
        .unwrap()
        .iter()
        .filter(|e| matches!(e, PoolEvent::Lost { .. }))
        .count();
    assert_eq!(lost_after, 1);
    drop(pool);
    g.assert_none_left();
}
