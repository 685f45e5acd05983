//! `worker serve`: the protocol conversation, driven through real pipes.
//!
//! Every frame the worker writes is read by a thread and passed on a channel, so a missing
//! answer fails the test after [`HANG`] instead of blocking it; every byte of stdout must be
//! a frame (anything else ends the stream with an error and fails the test).

use std::io::Write;
use std::process::{Child, ChildStdin, Stdio};
use std::sync::mpsc::{Receiver, RecvTimeoutError};
use std::thread::JoinHandle;

use shared::frame::FrameReader;
use shared::{
    Batch, DIVISORS_PER_CHUNK, FACTORS_PER_FRAME, Hello, MAGIC, Mode, NumberError,
    PROTOCOL_VERSION, ProtocolErrorKind, Request, RequestId, Response, codec, write_frame,
};
use testkit::LeakGuard;

use crate::util::{HANG, drain, wait_within, worker_cmd};

/// A running `worker serve`.
struct Session {
    guard: LeakGuard,
    child: Child,
    stdin: Option<ChildStdin>,
    frames: Receiver<Result<Option<Vec<u8>>, String>>,
    stderr: JoinHandle<Vec<u8>>,
}

impl Session {
    fn start() -> Self {
        let guard = LeakGuard::new();
        let mut child = worker_cmd(&guard, &["serve"])
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("worker starts");
        let stdout = child.stdout.take().expect("piped");
        let (tx, frames) = std::sync::mpsc::channel();
        std::thread::spawn(move || {
            let mut r = FrameReader::new(std::io::BufReader::new(stdout));
            loop {
                let item = r
                    .read_raw()
                    .map(|b| b.map(<[u8]>::to_vec))
                    .map_err(|e| e.to_string());
                let done = !matches!(item, Ok(Some(_)));
                if tx.send(item).is_err() || done {
                    break;
                }
            }
        });
        let stderr = drain(child.stderr.take().expect("piped"));
        let stdin = child.stdin.take();
        Self {
            guard,
            child,
            stdin,
            frames,
            stderr,
        }
    }

    /// Started, with the handshake done and the worker's hello checked.
    fn ready() -> Self {
        let mut s = Self::start();
        s.send_hello(&Hello::new("e2e test"));
        let hello = s.hello();
        assert_eq!(hello.protocol_version, PROTOCOL_VERSION);
        s
    }

    fn send_raw(&mut self, bytes: &[u8]) {
        let stdin = self.stdin.as_mut().expect("stdin still open");
        stdin.write_all(bytes).expect("the worker reads its stdin");
        stdin.flush().expect("flush");
    }

    fn send_hello(&mut self, hello: &Hello) {
        let mut frame = Vec::new();
        write_frame(&mut frame, hello).expect("a hello encodes");
        self.send_raw(&frame);
    }

    fn send(&mut self, request: &Request) {
        let mut frame = Vec::new();
        write_frame(&mut frame, request).expect("a request encodes");
        self.send_raw(&frame);
    }

    /// A frame body as a length-prefixed frame.
    fn send_body(&mut self, body: &[u8]) {
        let mut frame = (body.len() as u32).to_le_bytes().to_vec();
        frame.extend_from_slice(body);
        self.send_raw(&frame);
    }

    fn close_stdin(&mut self) {
        self.stdin = None;
    }

    /// The next frame body, `None` at a clean end of stream.
    fn body(&self) -> Option<Vec<u8>> {
        match self.frames.recv_timeout(HANG) {
            Ok(Ok(body)) => body,
            Ok(Err(e)) => panic!("the worker's stdout is not a clean frame stream: {e}"),
            Err(RecvTimeoutError::Timeout) => panic!("no frame from the worker within {HANG:?}"),
            Err(RecvTimeoutError::Disconnected) => panic!("frame reader ended after the end"),
        }
    }

    fn hello(&self) -> Hello {
        let body = self.body().expect("a hello frame");
        let hello: Hello = codec::decode(&body).expect("the worker's first frame is a hello");
        assert_eq!(hello.magic, MAGIC);
        assert!(hello.software.starts_with("worker "), "{}", hello.software);
        assert_eq!(hello.pid, self.child.id());
        hello
    }

    fn response(&self) -> Response {
        let body = self.body().expect("a response frame");
        codec::decode(&body).expect("a decodable response")
    }

    /// Closes stdin, expects the end of the frame stream, and returns the exit code and
    /// stderr; fails on a hang, a panic or a leaked process.
    fn finish(mut self) -> (Option<i32>, String) {
        self.close_stdin();
        assert!(self.body().is_none(), "unexpected frame before the end");
        let code = wait_within(&mut self.child, HANG);
        let stderr = String::from_utf8(self.stderr.join().expect("stderr thread")).expect("utf-8");
        assert!(!stderr.contains("panicked"), "worker panicked: {stderr}");
        self.guard.assert_none_left();
        (code, stderr)
    }

    /// Expects an error response of `kind`, the end of output and a failure exit; returns
    /// stderr.
    fn expect_error(self, kind: ProtocolErrorKind) -> String {
        match self.response() {
            Response::Error(e) => {
                assert_eq!(e.kind, kind, "{}", e.message);
                assert!(!e.message.is_empty());
            }
            other => panic!("expected an error response, got {other:?}"),
        }
        let (code, stderr) = self.finish();
        assert_eq!(code, Some(1), "stderr: {stderr}");
        assert!(!stderr.is_empty());
        stderr
    }

    /// Collects a primes batch's answers up to its `BatchDone`.
    fn factors(&self, id: RequestId, count: usize) -> Vec<Vec<u128>> {
        let mut all = Vec::new();
        loop {
            match self.response() {
                Response::Factors {
                    id: got,
                    first,
                    factors,
                } => {
                    assert_eq!(got, id);
                    assert_eq!(first as usize, all.len(), "runs come in index order");
                    assert!(!factors.is_empty() && factors.len() <= FACTORS_PER_FRAME);
                    all.extend(factors);
                }
                Response::BatchDone { id: got } => {
                    assert_eq!(got, id);
                    assert_eq!(all.len(), count);
                    return all;
                }
                // A progress report from the worker's clock (a slow machine): fine.
                Response::Working { id: got, index } => {
                    assert_eq!(got, id);
                    assert!(index as usize >= all.len().saturating_sub(1));
                }
                other => panic!("unexpected {other:?}"),
            }
        }
    }

    /// Collects a divisors batch's answers up to its `BatchDone`: per number, its divisors
    /// or its error.
    fn divisors(&self, id: RequestId, count: usize) -> Vec<Result<Vec<u128>, NumberError>> {
        let mut all = Vec::new();
        let mut current: Option<Vec<u128>> = None;
        loop {
            match self.response() {
                Response::Divisors {
                    id: got,
                    index,
                    divisors,
                    last,
                } => {
                    assert_eq!(got, id);
                    assert_eq!(index as usize, all.len(), "numbers come in index order");
                    assert!(divisors.len() <= DIVISORS_PER_CHUNK);
                    let mut ds = current.take().unwrap_or_default();
                    if !last {
                        assert_eq!(
                            divisors.len(),
                            DIVISORS_PER_CHUNK,
                            "only the last chunk is short"
                        );
                    }
                    ds.extend(divisors);
                    if last {
                        all.push(Ok(ds));
                    } else {
                        current = Some(ds);
                    }
                }
                Response::NumberFailed {
                    id: got,
                    index,
                    error,
                } => {
                    assert_eq!(got, id);
                    assert!(current.is_none());
                    assert_eq!(index as usize, all.len());
                    all.push(Err(error));
                }
                Response::BatchDone { id: got } => {
                    assert_eq!(got, id);
                    assert!(current.is_none(), "a number's last chunk is missing");
                    assert_eq!(all.len(), count);
                    return all;
                }
                Response::Working { id: got, .. } => assert_eq!(got, id),
                other => panic!("unexpected {other:?}"),
            }
        }
    }
}

fn batch(id: u64, mode: Mode, numbers: Vec<u128>, divisor_cap: Option<u64>) -> Request {
    Request::Batch(Batch {
        id: RequestId(id),
        mode,
        numbers,
        divisor_cap,
    })
}

/// Prime factors by trial division, for checking small numbers.
fn naive_factors(mut n: u128) -> Vec<u128> {
    let mut out = Vec::new();
    let mut d = 2;
    while n > 1 && d * d <= n {
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

fn check_divisors(n: u128, ds: &[u128]) {
    assert_eq!(ds.first(), Some(&1));
    assert_eq!(ds.last(), Some(&n));
    assert!(ds.windows(2).all(|w| w[0] < w[1]), "ascending");
    assert!(ds.iter().all(|&d| n.is_multiple_of(d)), "all divide {n}");
}

/// 2^10 3^6 5^4 7^3 11^2 13^2 17 19 23 29 31 37: 887 040 divisors (13.5 chunks).
const HUGE: u128 = 808_659_087_544_263_795_840_000;
const HUGE_COUNT: u64 = 887_040;

#[test]
fn handshake_then_clean_eof_exits_0() {
    let s = Session::ready();
    let (code, stderr) = s.finish();
    assert_eq!((code, stderr.as_str()), (Some(0), ""));
}

#[test]
fn eof_before_the_hello_exits_0_silently() {
    let s = Session::start();
    let (code, stderr) = s.finish();
    assert_eq!((code, stderr.as_str()), (Some(0), ""));
}

#[test]
fn version_mismatch_gets_our_hello_then_exit_1_naming_both_versions() {
    let mut s = Session::start();
    let mut theirs = Hello::new("orchestrator 9.9.9");
    theirs.protocol_version = PROTOCOL_VERSION + 1;
    s.send_hello(&theirs);
    assert_eq!(s.hello().protocol_version, PROTOCOL_VERSION);
    let (code, stderr) = s.finish();
    assert_eq!(code, Some(1));
    assert!(
        stderr.contains(&format!("version {}", PROTOCOL_VERSION + 1))
            && stderr.contains(&format!("version {PROTOCOL_VERSION}"))
            && stderr.contains("orchestrator 9.9.9"),
        "{stderr}"
    );
}

#[test]
fn a_first_frame_that_is_not_a_hello_is_refused() {
    let mut s = Session::start();
    s.send(&Request::Ping { id: RequestId(1) });
    s.hello();
    let stderr = s.expect_error(ProtocolErrorKind::Handshake);
    assert!(stderr.contains("not a protocol hello"), "{stderr}");
}

#[test]
fn text_instead_of_frames_is_refused_at_once() {
    let mut s = Session::start();
    // "hell" read as a length is 1.8 GB: refused before anything is allocated or awaited.
    s.send_raw(b"hello worker, please factor 12\n");
    s.hello();
    let stderr = s.expect_error(ProtocolErrorKind::MalformedFrame);
    assert!(stderr.contains("more than the maximum"), "{stderr}");
}

#[test]
fn primes_batch_with_u128_and_the_seed_numbers() {
    let mut s = Session::ready();
    let numbers = vec![
        0,
        1,
        12,
        2139079,
        1214759,
        1516637,
        1852285,
        u64::MAX as u128,
        1 << 64,
        u128::MAX,
        1 << 127,
    ];
    s.send(&batch(7, Mode::Primes, numbers.clone(), None));
    let got = s.factors(RequestId(7), numbers.len());
    let two = |k| vec![2u128; k];
    let want: Vec<Vec<u128>> = vec![
        vec![],
        vec![],
        vec![2, 2, 3],
        vec![101, 21179],
        vec![7, 7, 13, 1907],
        vec![19, 79823],
        vec![5, 271, 1367],
        vec![3, 5, 17, 257, 641, 65537, 6700417],
        two(64),
        vec![3, 5, 17, 257, 641, 65537, 274177, 6700417, 67280421310721],
        two(127),
    ];
    assert_eq!(got, want);
    let (code, stderr) = s.finish();
    assert_eq!((code, stderr.as_str()), (Some(0), ""));
}

#[test]
fn a_large_primes_batch_is_split_into_runs() {
    let mut s = Session::ready();
    let numbers: Vec<u128> = (0..10_000).collect();
    s.send(&batch(1, Mode::Primes, numbers.clone(), None));
    let got = s.factors(RequestId(1), numbers.len());
    for (n, factors) in numbers.iter().zip(&got) {
        assert_eq!(factors, &naive_factors(*n), "{n}");
    }
    assert_eq!(s.finish().0, Some(0));
}

#[test]
fn divisors_batch_with_u128() {
    let mut s = Session::ready();
    let numbers = vec![
        0,
        1,
        12,
        2139079,
        1214759,
        1516637,
        1852285,
        1 << 64,
        u128::MAX,
    ];
    s.send(&batch(2, Mode::Divisors, numbers.clone(), None));
    let got = s.divisors(RequestId(2), numbers.len());
    let got: Vec<Vec<u128>> = got.into_iter().map(|r| r.expect("no cap")).collect();
    assert_eq!(got[0], Vec::<u128>::new(), "0 lists no divisors");
    assert_eq!(got[1], [1]);
    assert_eq!(got[2], [1, 2, 3, 4, 6, 12]);
    assert_eq!(got[3], [1, 101, 21179, 2139079]);
    assert_eq!(
        got[4],
        [
            1, 7, 13, 49, 91, 637, 1907, 13349, 24791, 93443, 173537, 1214759
        ]
    );
    assert_eq!(got[5], [1, 19, 79823, 1516637]);
    assert_eq!(got[6], [1, 5, 271, 1355, 1367, 6835, 370457, 1852285]);
    assert_eq!(got[7], (0..=64).map(|k| 1u128 << k).collect::<Vec<_>>());
    assert_eq!(got[8].len(), 512); // 2^128 - 1 has 9 distinct primes
    check_divisors(u128::MAX, &got[8]);
    assert_eq!(s.finish().0, Some(0));
}

#[test]
fn divisors_over_the_cap_fail_alone_and_big_answers_come_in_chunks() {
    let mut s = Session::ready();
    s.send(&batch(
        3,
        Mode::Divisors,
        vec![12, HUGE, 7],
        Some(HUGE_COUNT - 1),
    ));
    let got = s.divisors(RequestId(3), 3);
    assert_eq!(got[0], Ok(vec![1, 2, 3, 4, 6, 12]));
    assert_eq!(
        got[1],
        Err(NumberError::DivisorCapExceeded {
            count: HUGE_COUNT,
            cap: HUGE_COUNT - 1
        })
    );
    assert_eq!(got[2], Ok(vec![1, 7]));

    // At the cap exactly, the answer is sent, in chunks of DIVISORS_PER_CHUNK.
    s.send(&batch(4, Mode::Divisors, vec![HUGE], Some(HUGE_COUNT)));
    let got = s.divisors(RequestId(4), 1);
    let ds = got[0].as_ref().expect("within the cap");
    assert_eq!(ds.len() as u64, HUGE_COUNT);
    check_divisors(HUGE, ds);
    assert_eq!(s.finish().0, Some(0));
}

#[test]
fn ping_gets_pong() {
    let mut s = Session::ready();
    s.send(&Request::Ping { id: RequestId(42) });
    assert_eq!(s.response(), Response::Pong { id: RequestId(42) });
    assert_eq!(s.finish().0, Some(0));
}

#[test]
fn pipelined_requests_are_answered_in_order() {
    let mut s = Session::start();
    // Everything is written before anything is read.
    s.send_hello(&Hello::new("e2e test"));
    s.send(&batch(1, Mode::Primes, vec![12, 13], None));
    s.send(&Request::Ping { id: RequestId(2) });
    s.send(&batch(3, Mode::Divisors, vec![6], None));
    s.send(&batch(4, Mode::Primes, vec![], None));
    s.send(&Request::Ping { id: RequestId(5) });
    s.close_stdin();
    s.hello();
    assert_eq!(s.factors(RequestId(1), 2), [vec![2, 2, 3], vec![13]]);
    assert_eq!(s.response(), Response::Pong { id: RequestId(2) });
    assert_eq!(s.divisors(RequestId(3), 1), [Ok(vec![1, 2, 3, 6])]);
    assert_eq!(s.factors(RequestId(4), 0), Vec::<Vec<u128>>::new());
    assert_eq!(s.response(), Response::Pong { id: RequestId(5) });
    let (code, stderr) = s.finish();
    assert_eq!((code, stderr.as_str()), (Some(0), ""));
}

#[test]
fn truncated_body_is_an_error() {
    let mut s = Session::ready();
    s.send_raw(&100u32.to_le_bytes());
    s.send_raw(&[0; 10]);
    s.close_stdin();
    let stderr = s.expect_error(ProtocolErrorKind::MalformedFrame);
    assert!(stderr.contains("10 of 100 bytes"), "{stderr}");
}

#[test]
fn truncated_header_is_an_error() {
    let mut s = Session::ready();
    s.send_raw(&[1, 0]);
    s.close_stdin();
    let stderr = s.expect_error(ProtocolErrorKind::MalformedFrame);
    assert!(stderr.contains("2 of 4 bytes"), "{stderr}");
}

#[test]
fn oversized_header_is_an_error_without_waiting_for_the_body() {
    let mut s = Session::ready();
    s.send_raw(&u32::MAX.to_le_bytes());
    // stdin stays open: the answer must not depend on EOF.
    match s.response() {
        Response::Error(e) => assert_eq!(e.kind, ProtocolErrorKind::MalformedFrame),
        other => panic!("expected an error, got {other:?}"),
    }
    let (code, stderr) = s.finish();
    assert_eq!(code, Some(1));
    assert!(stderr.contains("4294967295"), "{stderr}");
}

#[test]
fn undecodable_body_is_an_error() {
    let mut s = Session::ready();
    s.send_body(&[9, 1, 2, 3]); // no Request variant 9
    let stderr = s.expect_error(ProtocolErrorKind::MalformedFrame);
    assert!(stderr.contains("undecodable"), "{stderr}");
}

#[test]
fn a_second_hello_is_out_of_place() {
    let mut s = Session::ready();
    s.send_hello(&Hello::new("e2e test again"));
    let stderr = s.expect_error(ProtocolErrorKind::UnexpectedMessage);
    assert!(stderr.contains("second hello"), "{stderr}");
}

#[test]
fn answers_before_a_malformed_frame_are_kept() {
    let mut s = Session::ready();
    s.send(&Request::Ping { id: RequestId(1) });
    s.send_body(&[]);
    assert_eq!(s.response(), Response::Pong { id: RequestId(1) });
    s.expect_error(ProtocolErrorKind::MalformedFrame);
}
