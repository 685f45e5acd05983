//! A stand-in for `worker serve` that speaks the protocol with a trivial factoriser (trial
//! division) and misbehaves on request, for testing the orchestrator's pool.
//!
//! Behaviour comes from the `FAKE_WORKER` environment variable (inherited from the process
//! that starts the pool), a comma-separated list of:
//!
//! * `hello=garbage`: writes a line of text instead of a hello, then waits for its input to end.
//! * `hello=version`: says hello with the next protocol version (and exits 1, as the real
//!   worker does on a mismatch).
//! * `hello=silent`: never says hello (waits for its input to end).
//! * `crash-on=N`: aborts (SIGABRT) when it reaches the number N (`crash-on=any`: any
//!   number, a broken worker build).
//! * `exit-on=N`: exits 3 when it reaches N, mid-request, without finishing it.
//! * `hang-on=N`: sleeps forever when it reaches N.
//! * `garbage-on=N`: writes a stray text line on stdout when it reaches N, then goes on.
//! * `slow-us=K`: spends K microseconds on every number.
//! * `once=DIR`: each misbehaviour above happens only once among all fake workers: the
//!   first to reach the number claims it by creating `DIR/<name>` (the others behave), so
//!   "the worker dies once" can be tested.
//! * `no-progress`: reports results only at the end of each request, and no `Working`
//!   frames (breaks the progress rule on purpose).
//!
//! Like the real worker, a clock thread sends `Working { id, index }` when the main thread
//! has sent nothing for a progress interval (it is stuck in one number).
//!
//! Text requests follow the real worker's format: `N: p1 p2 ...`, `N: d1 d2 ...` or JSON
//! lines; a bad input is `‘tok’ is not a valid positive integer`.
#![forbid(unsafe_code)]

use std::io::{self, BufWriter, Read, Write};
use std::sync::atomic::{AtomicBool, AtomicU32, AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, Instant};

use shared::frame::{FrameReader, FrameWriter};
use shared::{
    Batch, Hello, Mode, PROGRESS_INTERVAL_MS, PROTOCOL_VERSION, Request, Response, Split,
    TextBatch, TextError, TextFormat,
};

/// Stands for "any number" in a misbehaviour.
const ANY: u128 = u128::MAX;

#[derive(Default)]
struct Behaviour {
    hello: Option<String>,
    crash_on: Option<u128>,
    exit_on: Option<u128>,
    hang_on: Option<u128>,
    garbage_on: Option<u128>,
    slow: Option<Duration>,
    no_progress: bool,
    once: Option<std::path::PathBuf>,
}

fn behaviour() -> Behaviour {
    let spec = std::env::var("FAKE_WORKER").unwrap_or_default();
    let mut b = Behaviour::default();
    let mut once_dir = None;
    for item in spec.split(',').filter(|s| !s.is_empty()) {
        let (k, v) = item.split_once('=').unwrap_or((item, ""));
        let num = || {
            if v == "any" {
                Some(ANY)
            } else {
                v.parse::<u128>().ok()
            }
        };
        match k {
            "hello" => b.hello = Some(v.to_string()),
            "crash-on" => b.crash_on = num(),
            "exit-on" => b.exit_on = num(),
            "hang-on" => b.hang_on = num(),
            "garbage-on" => b.garbage_on = num(),
            "slow-us" => b.slow = v.parse().ok().map(Duration::from_micros),
            "once" => once_dir = Some(v.to_string()),
            "no-progress" => b.no_progress = true,
            _ => eprintln!("fake_worker: unknown FAKE_WORKER item {item:?}"),
        }
    }
    b.once = once_dir.map(std::path::PathBuf::from);
    b
}

fn factor(mut n: u128) -> Vec<u128> {
    let mut out = Vec::new();
    if n < 2 {
        return out;
    }
    for p in [2u128, 3, 5] {
        while n.is_multiple_of(p) {
            out.push(p);
            n /= p;
        }
    }
    let mut d = 7u128;
    let steps = [4u128, 2, 4, 2, 4, 6, 2, 6];
    let mut i = 0;
    while d * d <= n {
        while n.is_multiple_of(d) {
            out.push(d);
            n /= d;
        }
        d += steps[i];
        i = (i + 1) % 8;
    }
    if n > 1 {
        out.push(n);
    }
    out
}

fn divisors(primes: &[u128]) -> Vec<u128> {
    let mut ds = vec![1u128];
    let mut i = 0;
    while i < primes.len() {
        let p = primes[i];
        let mut k = 0;
        while i < primes.len() && primes[i] == p {
            k += 1;
            i += 1;
        }
        let base = ds.clone();
        let mut pk = 1u128;
        for _ in 0..k {
            pk *= p;
            ds.extend(base.iter().map(|d| d * pk));
        }
    }
    ds.sort_unstable();
    ds
}

type Out = Arc<Mutex<FrameWriter<BufWriter<io::Stdout>>>>;

/// What the clock thread needs to know.
#[derive(Default)]
struct State {
    busy: AtomicBool,
    id: AtomicU64,
    index: AtomicU32,
    /// Milliseconds since `epoch` of the last flush.
    last_flush: AtomicU64,
}

struct Server {
    b: Behaviour,
    out: Out,
    state: Arc<State>,
    epoch: Instant,
    last_flush: Instant,
}

fn lock(out: &Out) -> MutexGuard<'_, FrameWriter<BufWriter<io::Stdout>>> {
    out.lock().unwrap_or_else(|e| e.into_inner())
}

/// Sends `Working` whenever the main thread has been silent for a progress interval.
fn clock(out: Out, state: Arc<State>, epoch: Instant) {
    let interval = Duration::from_millis(PROGRESS_INTERVAL_MS);
    loop {
        std::thread::sleep(interval / 2);
        let now = epoch.elapsed().as_millis() as u64;
        if !state.busy.load(Ordering::SeqCst)
            || now - state.last_flush.load(Ordering::SeqCst) < PROGRESS_INTERVAL_MS
        {
            continue;
        }
        let mut w = lock(&out);
        // Checked again under the lock: the main thread clears `busy` before it takes the
        // lock to end a request, so no tick can follow the end of its request.
        if !state.busy.load(Ordering::SeqCst) {
            continue;
        }
        let working = Response::Working {
            id: shared::RequestId(state.id.load(Ordering::SeqCst)),
            index: state.index.load(Ordering::SeqCst),
        };
        if w.write(&working).is_err() || w.flush().is_err() {
            return;
        }
        state.last_flush.store(now, Ordering::SeqCst);
    }
}

impl Server {
    /// True if misbehaviour `name` on `n` is due (claiming it, with `once`).
    fn due(&self, name: &str, on: Option<u128>, n: u128) -> bool {
        if on != Some(n) && on != Some(ANY) {
            return false;
        }
        match &self.b.once {
            None => true,
            Some(dir) => std::fs::OpenOptions::new()
                .write(true)
                .create_new(true)
                .open(dir.join(name))
                .is_ok(),
        }
    }

    /// Called as work on input `index`, the number `n`, begins: misbehaves if asked to.
    fn reach(&mut self, index: usize, n: u128) {
        self.state.index.store(index as u32, Ordering::SeqCst);
        if self.due("crash", self.b.crash_on, n) {
            let _ = self.flush();
            std::process::abort();
        }
        if self.due("exit", self.b.exit_on, n) {
            let _ = self.flush();
            std::process::exit(3);
        }
        if self.due("hang", self.b.hang_on, n) {
            let _ = self.flush();
            loop {
                std::thread::sleep(Duration::from_secs(3600));
            }
        }
        if self.due("garbage", self.b.garbage_on, n) {
            let _ = self.flush();
            let mut w = lock(&self.out);
            let _ = w.get_mut().write_all(b"debug: a stray println\n");
            let _ = w.flush();
        }
        if let Some(d) = self.b.slow {
            std::thread::sleep(d);
        }
    }

    fn progress_due(&self) -> bool {
        !self.b.no_progress
            && self.last_flush.elapsed() >= Duration::from_millis(PROGRESS_INTERVAL_MS)
    }

    fn send(&mut self, r: &Response) -> io::Result<()> {
        lock(&self.out).write(r).map_err(io::Error::other)
    }

    fn flush(&mut self) -> io::Result<()> {
        self.last_flush = Instant::now();
        self.state
            .last_flush
            .store(self.epoch.elapsed().as_millis() as u64, Ordering::SeqCst);
        lock(&self.out).flush().map_err(io::Error::other)
    }

    fn batch(&mut self, batch: Batch) -> io::Result<()> {
        let id = batch.id;
        let mut run: Vec<Vec<u128>> = Vec::new();
        let mut first = 0u32;
        for (i, &n) in batch.numbers.iter().enumerate() {
            self.reach(i, n);
            let primes = factor(n);
            match batch.mode {
                Mode::Primes => run.push(primes),
                Mode::Divisors => {
                    let ds = if n == 0 {
                        Vec::new()
                    } else {
                        divisors(&primes)
                    };
                    if let Some(cap) = batch.divisor_cap
                        && ds.len() as u64 > cap
                    {
                        self.send(&Response::NumberFailed {
                            id,
                            index: i as u32,
                            error: shared::NumberError::DivisorCapExceeded {
                                count: ds.len() as u64,
                                cap,
                            },
                        })?;
                    } else {
                        self.send(&Response::Divisors {
                            id,
                            index: i as u32,
                            divisors: ds,
                            last: true,
                        })?;
                    }
                }
            }
            if self.progress_due() {
                if !run.is_empty() {
                    let factors = std::mem::take(&mut run);
                    let len = factors.len() as u32;
                    self.send(&Response::Factors { id, first, factors })?;
                    first += len;
                }
                self.flush()?;
            }
        }
        if !run.is_empty() {
            self.send(&Response::Factors {
                id,
                first,
                factors: run,
            })?;
        }
        self.state.busy.store(false, Ordering::SeqCst);
        self.send(&Response::BatchDone { id })?;
        self.flush()
    }

    fn text(&mut self, t: TextBatch) -> io::Result<()> {
        let id = t.id;
        let tokens: Vec<&[u8]> = match t.split {
            Split::Whitespace => t
                .text
                .split(|b| matches!(b, b' ' | b'\t' | b'\n'))
                .filter(|s| !s.is_empty())
                .collect(),
            Split::Nul => {
                let mut v: Vec<&[u8]> = t.text.split(|&b| b == 0).collect();
                v.pop(); // after the last NUL
                v
            }
        };
        let mut text = Vec::new();
        let mut errors = Vec::new();
        let (mut done, mut bad) = (0u32, 0u32);
        for (index, tok) in tokens.into_iter().enumerate() {
            let tok_for_parse = match t.split {
                Split::Nul => {
                    let start = tok.iter().position(|&b| b != b' ').unwrap_or(tok.len());
                    &tok[start..]
                }
                Split::Whitespace => tok,
            };
            match parse(tok_for_parse) {
                None => {
                    bad += 1;
                    let msg = format!(
                        "‘{}’ is not a valid positive integer",
                        String::from_utf8_lossy(tok)
                    );
                    match t.format {
                        TextFormat::Plain => errors.push(TextError {
                            at: text.len() as u32,
                            message: msg,
                        }),
                        TextFormat::Json => text.extend_from_slice(
                            format!(
                                "{{\"input\":{:?},\"error\":{:?}}}\n",
                                String::from_utf8_lossy(tok),
                                msg
                            )
                            .as_bytes(),
                        ),
                    }
                }
                Some(n) => {
                    self.reach(index, n);
                    let primes = factor(n);
                    let list = match t.mode {
                        Mode::Primes => primes,
                        Mode::Divisors if n == 0 => Vec::new(),
                        Mode::Divisors => divisors(&primes),
                    };
                    let line = match t.format {
                        TextFormat::Plain => {
                            let mut s = format!("{n}:");
                            for p in &list {
                                s.push_str(&format!(" {p}"));
                            }
                            s
                        }
                        TextFormat::Json => {
                            let key = match t.mode {
                                Mode::Primes => "factors",
                                Mode::Divisors => "divisors",
                            };
                            let items: Vec<String> = list.iter().map(|p| p.to_string()).collect();
                            format!("{{\"n\":{n},\"{key}\":[{}]}}", items.join(","))
                        }
                    };
                    text.extend_from_slice(line.as_bytes());
                    text.push(b'\n');
                }
            }
            done += 1;
            if self.progress_due() {
                let part = Response::Text {
                    id,
                    done,
                    bad,
                    text: std::mem::take(&mut text),
                    errors: std::mem::take(&mut errors),
                };
                self.send(&part)?;
                self.flush()?;
            }
        }
        self.send(&Response::Text {
            id,
            done,
            bad,
            text,
            errors,
        })?;
        self.state.busy.store(false, Ordering::SeqCst);
        self.send(&Response::BatchDone { id })?;
        self.flush()
    }
}

fn parse(tok: &[u8]) -> Option<u128> {
    let digits = tok.strip_prefix(b"+").unwrap_or(tok);
    if digits.is_empty() || !digits.iter().all(u8::is_ascii_digit) {
        return None;
    }
    std::str::from_utf8(digits).ok()?.parse().ok()
}

fn wait_for_eof() {
    let mut sink = Vec::new();
    let _ = io::stdin().lock().read_to_end(&mut sink);
}

fn main() {
    if std::env::args().nth(1).as_deref() != Some("serve") {
        eprintln!("usage: fake_worker serve");
        std::process::exit(2);
    }
    let b = behaviour();
    let mut input = FrameReader::new(io::BufReader::new(io::stdin().lock()));
    match input.read_raw() {
        Ok(Some(body)) => {
            if let Err(e) = Hello::from_body(body) {
                eprintln!("fake_worker: bad hello: {e}");
                std::process::exit(1);
            }
        }
        _ => std::process::exit(1),
    }
    let epoch = Instant::now();
    let mut server = Server {
        out: Arc::new(Mutex::new(FrameWriter::new(BufWriter::new(io::stdout())))),
        b,
        state: Arc::new(State::default()),
        epoch,
        last_flush: epoch,
    };
    if !server.b.no_progress {
        let (out, state) = (server.out.clone(), server.state.clone());
        std::thread::spawn(move || clock(out, state, epoch));
    }
    match server.b.hello.as_deref() {
        Some("garbage") => {
            let mut w = lock(&server.out);
            let _ = w.get_mut().write_all(b"Hello! I am not a protocol peer.\n");
            let _ = w.flush();
            drop(w);
            wait_for_eof();
            return;
        }
        Some("silent") => {
            wait_for_eof();
            return;
        }
        Some("version") => {
            let mut h = Hello::new("fake_worker (from the future)");
            h.protocol_version = PROTOCOL_VERSION + 1;
            let mut w = lock(&server.out);
            let _ = w.write(&h);
            let _ = w.flush();
            drop(w);
            eprintln!("fake_worker: protocol version mismatch");
            std::process::exit(1);
        }
        _ => {}
    }
    if lock(&server.out).write(&Hello::new("fake_worker")).is_err() || server.flush().is_err() {
        std::process::exit(1);
    }
    loop {
        let request = match input.read::<Request>() {
            Ok(Some(r)) => r,
            Ok(None) => return,
            Err(e) => {
                eprintln!("fake_worker: {e}");
                std::process::exit(1);
            }
        };
        let _ = server.flush();
        let id = match &request {
            Request::Batch(b) => b.id,
            Request::Text(t) => t.id,
            Request::Ping { id } => *id,
        };
        server.state.id.store(id.0, Ordering::SeqCst);
        server.state.index.store(0, Ordering::SeqCst);
        server.state.busy.store(true, Ordering::SeqCst);
        let done = match request {
            Request::Batch(b) => server.batch(b),
            Request::Text(t) => server.text(t),
            Request::Ping { id } => server
                .send(&Response::Pong { id })
                .and_then(|()| server.flush()),
        };
        server.state.busy.store(false, Ordering::SeqCst);
        if done.is_err() {
            std::process::exit(1);
        }
    }
}
