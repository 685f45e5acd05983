//! `orchestrator demo`: the project's lessons, run for real, each with a measured number.
//!
//! Every figure printed is measured in this run; an estimate says so.

use std::io::{IsTerminal, Write};
use std::path::PathBuf;
use std::time::{Duration, Instant};

use serde_json::{Value, json};

use super::exit;
use crate::{Child, Command, Ending, Pipeline, Stdio};

const AFTER_HELP: &str = "\
Sections (each measured now, on this machine):
  1. 10 x `sleep 1`: one after another vs all at once.
  2. Random data through `openssl enc -des3 -pbkdf2` (password via the environment), then
     the chain enc | `openssl dgst -whirlpool` as kernel-pipe pipelines.
  3. communicate with a timeout on children that will not finish: TERM, grace, KILL, reap.
  4. The seed's numbers 2139079 1214759 1516637 1852285: divisors by the naive loop, serial
     vs threads vs worker processes, then by the worker's real algorithm.
  5. A bounded-queue pipeline of stages with backpressure; the worker pool surviving a
     killed worker.

Examples:
  orchestrator demo            # the tour, about 10 s
  orchestrator demo --json     # the measured numbers, for scripts";

/// Options of `orchestrator demo`.
#[derive(Debug, clap::Args)]
#[command(after_long_help = AFTER_HELP)]
pub struct Args {
    /// Print the measured numbers as one JSON object instead of the tour.
    #[arg(long)]
    pub json: bool,

    /// Internal: be one of the demo's worker processes — count divisors of these numbers by
    /// the naive loop `--naive-repeat` times and print the checksum.
    #[arg(long, hide = true, num_args = 1.., value_name = "N")]
    pub naive_divisors: Vec<u64>,

    /// Internal: repetitions for --naive-divisors.
    #[arg(long, hide = true, default_value_t = 1)]
    pub naive_repeat: usize,
}

/// The seed's numbers.
pub const SEED_NUMBERS: [u64; 4] = [2139079, 1214759, 1516637, 1852285];

/// The seed's `factorize(n)`: every i in 1..=n that divides n. O(n), on purpose.
pub fn naive_divisors(n: u64) -> Vec<u64> {
    (1..=n).filter(|i| n.is_multiple_of(*i)).collect()
}

struct Out {
    json: bool,
    color: bool,
}

impl Out {
    fn title(&self, n: usize, t: &str) {
        if self.json {
            return;
        }
        if self.color {
            println!("\n\x1b[1m{n}. {t}\x1b[0m");
        } else {
            println!("\n{n}. {t}");
        }
    }
    fn line(&self, s: &str) {
        if !self.json {
            println!("{}", wrap(s, "   ", "     "));
        }
    }
    fn lesson(&self, s: &str) {
        if self.json {
            return;
        }
        let text = wrap(s, "   → ", "     ");
        if self.color {
            println!("\x1b[32m{text}\x1b[0m");
        } else {
            println!("{text}");
        }
    }
}

/// Word-wraps `s` to 100 columns: `first` before the first line, `rest` before the others.
fn wrap(s: &str, first: &str, rest: &str) -> String {
    const WIDTH: usize = 100;
    let mut out = String::from(first);
    let mut col = first.chars().count();
    let mut at_start = true;
    for word in s.split(' ') {
        let w = word.chars().count();
        if !at_start && col + 1 + w > WIDTH {
            out.push('\n');
            out.push_str(rest);
            col = rest.chars().count();
        } else if !at_start {
            out.push(' ');
            col += 1;
        }
        out.push_str(word);
        col += w;
        at_start = false;
    }
    out
}

fn secs(d: Duration) -> f64 {
    d.as_secs_f64()
}

/// Runs `orchestrator demo` and returns the exit code.
pub fn execute(args: Args) -> i32 {
    if !args.naive_divisors.is_empty() {
        let mut sum = 0u64;
        for _ in 0..args.naive_repeat {
            for &n in &args.naive_divisors {
                sum = sum.wrapping_add(naive_divisors(n).len() as u64);
            }
        }
        println!("{sum}");
        return exit::OK;
    }
    let out = Out {
        json: args.json,
        color: std::io::stdout().is_terminal(),
    };
    if !out.json {
        println!("orchestrator demo: the lessons of running many processes, measured now.");
    }
    let start = Instant::now();
    let mut report = serde_json::Map::new();
    let mut ok = true;
    type Section = fn(&Out) -> Result<Value, String>;
    let sections: [(&str, Section); 5] = [
        ("sleeps", sleeps),
        ("openssl", openssl),
        ("timeouts", timeouts),
        ("seed_numbers", seed_numbers),
        ("bounded_queues", bounded_queues),
    ];
    for (name, f) in sections {
        match f(&out) {
            Ok(v) => {
                report.insert(name.into(), v);
            }
            Err(e) => {
                ok = false;
                eprintln!("orchestrator demo: {name}: {e}");
                report.insert(name.into(), json!({ "error": e }));
            }
        }
    }
    report.insert("total_seconds".into(), json!(secs(start.elapsed())));
    if out.json {
        println!("{}", Value::Object(report));
    } else {
        println!("\nDone in {:.1} s.", secs(start.elapsed()));
    }
    let _ = std::io::stdout().flush();
    if ok { exit::OK } else { exit::FAILED }
}

fn spawn(argv: &[&str]) -> Result<Child, String> {
    let mut c = Command::new(argv[0]);
    c.args(&argv[1..]).kill_on_parent_death(true);
    c.spawn().map_err(|e| e.to_string())
}

/// 1. Ten `sleep 1`: serial vs parallel.
fn sleeps(out: &Out) -> Result<Value, String> {
    out.title(1, "Ten `sleep 1`: one after another, then all at once");
    let serial_n = 3;
    let t = Instant::now();
    for _ in 0..serial_n {
        spawn(&["sleep", "1"])?.wait().map_err(|e| e.to_string())?;
    }
    let serial = t.elapsed();
    let serial_10 = serial.as_secs_f64() * 10.0 / serial_n as f64;
    out.line(&format!(
        "one after another: {serial_n} x sleep 1 took {:.3} s, so 10 would take ≈ {serial_10:.1} s (estimated)",
        secs(serial)
    ));
    let t = Instant::now();
    let kids = (0..10)
        .map(|_| spawn(&["sleep", "1"]))
        .collect::<Result<Vec<_>, _>>()?;
    for k in &kids {
        k.wait().map_err(|e| e.to_string())?;
    }
    let par = t.elapsed();
    out.line(&format!(
        "all at once:       10 x sleep 1 took {:.3} s ({:.0} ms over the ideal 1 s)",
        secs(par),
        (secs(par) - 1.0) * 1000.0
    ));
    out.lesson(&format!(
        "child processes run in parallel: {:.1}x faster, without any thread of ours per child",
        serial_10 / secs(par)
    ));
    Ok(json!({
        "serial_sleeps_measured": serial_n,
        "serial_seconds_measured": secs(serial),
        "serial_10_seconds_estimated": serial_10,
        "parallel_10_seconds": secs(par),
        "speedup": serial_10 / secs(par),
    }))
}

fn random_bytes(n: usize) -> Vec<u8> {
    let mut v = vec![0u8; n];
    fastrand::fill(&mut v);
    v
}

fn hex(b: &[u8]) -> String {
    b.iter().map(|x| format!("{x:02x}")).collect()
}

/// 2. openssl enc, then enc | dgst, as pipelines.
fn openssl(out: &Out) -> Result<Value, String> {
    out.title(
        2,
        "Piping data into children: openssl enc, then enc | dgst -whirlpool",
    );
    if std::process::Command::new("openssl")
        .arg("version")
        .output()
        .is_err()
    {
        out.line("skipped: openssl is not installed");
        return Ok(json!({ "skipped": "openssl is not installed" }));
    }
    // A password for this run only; it reaches openssl through the environment, never argv.
    let password = hex(&random_bytes(16));
    let enc = [
        "openssl",
        "enc",
        "-des3",
        "-pbkdf2",
        "-pass",
        "env:password",
    ];
    let dgst = [
        "openssl",
        "dgst",
        "-whirlpool",
        "-provider",
        "legacy",
        "-provider",
        "default",
    ];
    let inputs: Vec<Vec<u8>> = (0..3).map(|_| random_bytes(10)).collect();
    let mk = |argv: &[&str]| {
        let mut c = Command::new(argv[0]);
        c.args(&argv[1..])
            .env("password", &password)
            .stderr(Stdio::piped())
            .kill_on_parent_death(true);
        c
    };
    // a) One child each: data in through stdin, ciphertext out, all three at once.
    let t = Instant::now();
    let mut handles = Vec::new();
    for data in &inputs {
        let mut c = mk(&enc);
        c.stdin(Stdio::piped()).stdout(Stdio::piped());
        let child = c.spawn().map_err(|e| e.to_string())?;
        handles.push((data.clone(), child));
    }
    let mut cipher_lens = Vec::new();
    for (i, (data, child)) in handles.into_iter().enumerate() {
        let o = child
            .communicate()
            .input(data)
            .timeout(Duration::from_secs(10))
            .run()
            .map_err(|e| e.to_string())?
            .check()
            .map_err(|e| e.to_string())?;
        out.line(&format!(
            "input {}: 10 random bytes -> {} bytes of ciphertext ({}…)",
            i + 1,
            o.stdout.len(),
            hex(&o.stdout[..o.stdout.len().min(8)])
        ));
        cipher_lens.push(o.stdout.len());
    }
    let enc_time = t.elapsed();
    out.line(&format!(
        "3 encryptions at once: {:.1} ms",
        enc_time.as_secs_f64() * 1000.0
    ));
    // b) The chain: enc's stdout feeds dgst's stdin through a kernel pipe.
    let t = Instant::now();
    let mut running = Vec::new();
    for data in &inputs {
        let mut a = mk(&enc);
        a.stdin(Stdio::piped());
        let mut b = mk(&dgst);
        b.stdout(Stdio::piped());
        let p = Pipeline::new([a, b]).spawn().map_err(|e| e.to_string())?;
        running.push((data.clone(), p));
    }
    let mut digests = Vec::new();
    for (i, (data, p)) in running.into_iter().enumerate() {
        let o = p
            .communicate()
            .input(data)
            .timeout(Duration::from_secs(10))
            .run()
            .map_err(|e| e.to_string())?;
        if !o.success() {
            return Err(format!("the enc | dgst chain failed: {}", o.status));
        }
        let d = String::from_utf8_lossy(&o.stdout).trim().to_string();
        let short = d.rsplit(' ').next().unwrap_or(&d);
        out.line(&format!(
            "input {}: enc | dgst -whirlpool = {}…",
            i + 1,
            &short[..short.len().min(32)]
        ));
        digests.push(d);
    }
    let chain_time = t.elapsed();
    out.line(&format!(
        "3 two-stage pipelines at once: {:.1} ms",
        chain_time.as_secs_f64() * 1000.0
    ));
    out.lesson(
        "the ciphertext flowed from enc to dgst through a kernel pipe, never through us; the \
         password went through the environment, not argv",
    );
    Ok(json!({
        "ciphertext_bytes": cipher_lens,
        "encrypt_3_ms": enc_time.as_secs_f64() * 1000.0,
        "chain_3_ms": chain_time.as_secs_f64() * 1000.0,
        "digests": digests,
    }))
}

/// 3. communicate with a timeout: TERM, grace, KILL.
fn timeouts(out: &Out) -> Result<Value, String> {
    out.title(
        3,
        "Children that will not finish: deadline, SIGTERM, grace, SIGKILL, reap",
    );
    let mut cases = Vec::new();
    let scenarios: [(&str, &[&str], u64, u64); 3] = [
        ("obeys SIGTERM", &["sleep", "1000"], 300, 1000),
        (
            "ignores SIGTERM",
            &["sh", "-c", "trap '' TERM; exec sleep 1000"],
            300,
            300,
        ),
        (
            "`sleep 30 & sleep 30` (Python's trap)",
            &["sh", "-c", "sleep 30 & sleep 30; echo"],
            300,
            1000,
        ),
    ];
    for (what, argv, timeout_ms, grace_ms) in scenarios {
        let mut c = Command::new(argv[0]);
        c.args(&argv[1..])
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .kill_on_parent_death(true);
        let child = c.spawn().map_err(|e| e.to_string())?;
        let pgid = child.pgid();
        let t = Instant::now();
        let o = child
            .communicate()
            .timeout(Duration::from_millis(timeout_ms))
            .grace(Duration::from_millis(grace_ms))
            .run()
            .map_err(|e| e.to_string())?;
        let total = t.elapsed();
        let to = o.timed_out.ok_or("the child finished by itself")?;
        let left = crate::sys::group_members(pgid as i32).len();
        let how = match to.ending {
            Ending::Killed => format!("SIGTERM ignored, SIGKILL after the {grace_ms} ms grace"),
            _ => "SIGTERM sufficed".to_string(),
        };
        out.line(&format!(
            "{what}: timed out at {timeout_ms} ms; {how}; stopped and reaped {:.1} ms after the \
             deadline; returned after {:.0} ms; {left} process(es) left",
            to.stop_took.as_secs_f64() * 1000.0,
            total.as_secs_f64() * 1000.0
        ));
        cases.push(json!({
            "case": what,
            "timeout_ms": timeout_ms,
            "grace_ms": grace_ms,
            "ending": to.ending,
            "stop_ms": to.stop_took.as_secs_f64() * 1000.0,
            "returned_after_ms": total.as_secs_f64() * 1000.0,
            "processes_left": left,
        }));
    }
    out.lesson(
        "the whole process group is signalled, so grandchildren stop too; Python's \
         run(timeout=) leaves `sleep 30 & sleep 30` running, and kill()+communicate() waits 30 s",
    );
    Ok(json!({ "cases": cases }))
}

/// The directory of this executable (where `worker` is installed next to us).
fn sibling(name: &str) -> Option<PathBuf> {
    let p = std::env::current_exe().ok()?.parent()?.join(name);
    p.exists().then_some(p)
}

/// 4. The seed's numbers: naive divisors, serial vs threads vs processes, then the worker.
fn seed_numbers(out: &Out) -> Result<Value, String> {
    out.title(
        4,
        "The seed's numbers: naive divisors, serial vs threads vs processes",
    );
    for n in SEED_NUMBERS {
        let d = naive_divisors(n);
        out.line(&format!(
            "{n}: {}",
            d.iter().map(u64::to_string).collect::<Vec<_>>().join(" ")
        ));
    }
    let repeat = 12; // each of the 4 numbers 12 times: 48 naive loops
    let workers = super::cpu_count().max(2);
    let checksum = |k: usize| -> u64 {
        (0..k)
            .flat_map(|_| SEED_NUMBERS)
            .map(|n| naive_divisors(n).len() as u64)
            .sum()
    };
    let t = Instant::now();
    let want = checksum(repeat);
    let serial = t.elapsed();
    // Threads: the tasks split over `workers` threads.
    let t = Instant::now();
    let per = repeat.div_ceil(workers);
    let got: u64 = std::thread::scope(|s| {
        let hs: Vec<_> = (0..workers)
            .map(|w| {
                let k = per.min(repeat.saturating_sub(w * per));
                s.spawn(move || checksum(k))
            })
            .collect();
        hs.into_iter().map(|h| h.join().unwrap_or(0)).sum()
    });
    let threads = t.elapsed();
    if got != want {
        return Err(format!("threads computed {got}, serial {want}"));
    }
    // Processes: copies of this program, each running the naive loop on its share.
    let me = std::env::current_exe().map_err(|e| e.to_string())?;
    let t = Instant::now();
    let mut kids = Vec::new();
    for w in 0..workers {
        let k = per.min(repeat.saturating_sub(w * per));
        let mut c = Command::new(&me);
        c.args(["demo", "--naive-repeat", &k.to_string(), "--naive-divisors"])
            .args(SEED_NUMBERS.map(|n| n.to_string()))
            .stdout(Stdio::piped())
            .kill_on_parent_death(true);
        kids.push(c.spawn().map_err(|e| e.to_string())?);
    }
    let mut got = 0u64;
    for k in kids {
        let o = k.communicate().run().map_err(|e| e.to_string())?;
        got += String::from_utf8_lossy(&o.stdout)
            .trim()
            .parse::<u64>()
            .map_err(|e| format!("a worker process answered badly: {e}"))?;
    }
    let procs = t.elapsed();
    if got != want {
        return Err(format!("processes computed {got}, serial {want}"));
    }
    let tasks = repeat * SEED_NUMBERS.len();
    out.line(&format!(
        "{tasks} naive loops: serial {:.0} ms; {workers} threads {:.0} ms ({:.2}x); {workers} processes {:.0} ms ({:.2}x)",
        serial.as_secs_f64() * 1000.0,
        threads.as_secs_f64() * 1000.0,
        secs(serial) / secs(threads),
        procs.as_secs_f64() * 1000.0,
        secs(serial) / secs(procs),
    ));
    out.lesson(
        "Rust threads run CPU-bound code in parallel (CPython's threads take turns under the \
         GIL: 1.0x there); processes add isolation — a crash or a hang kills one worker, not \
         the run — at the price of starting them",
    );
    let mut v = json!({
        "tasks": tasks,
        "workers": workers,
        "serial_ms": serial.as_secs_f64() * 1000.0,
        "threads_ms": threads.as_secs_f64() * 1000.0,
        "processes_ms": procs.as_secs_f64() * 1000.0,
        "threads_speedup": secs(serial) / secs(threads),
        "processes_speedup": secs(serial) / secs(procs),
    });
    // The worker's real algorithm on the same numbers.
    match sibling("worker") {
        Some(w) => {
            let mut c = Command::new(&w);
            c.arg("divisors")
                .args(SEED_NUMBERS.map(|n| n.to_string()))
                .stdout(Stdio::piped())
                .stderr(Stdio::piped());
            let t = Instant::now();
            let o = c
                .spawn()
                .map_err(|e| e.to_string())?
                .communicate()
                .timeout(Duration::from_secs(10))
                .run()
                .map_err(|e| e.to_string())?;
            let took = t.elapsed();
            if o.status.success() {
                let expected: String = SEED_NUMBERS
                    .iter()
                    .map(|&n| {
                        let d: Vec<String> = naive_divisors(n).iter().map(u64::to_string).collect();
                        format!("{n}: {}\n", d.join(" "))
                    })
                    .collect();
                let same = o.stdout == expected.as_bytes();
                out.line(&format!(
                    "`worker divisors` (from the prime factors) on the 4 numbers: {:.1} ms including \
                     its start-up; same lists as the naive loop: {}",
                    took.as_secs_f64() * 1000.0,
                    if same { "yes" } else { "NO" }
                ));
                v["worker_ms"] = json!(took.as_secs_f64() * 1000.0);
                v["worker_matches_naive"] = json!(same);
                if !same {
                    return Err("the worker's divisors differ from the naive loop's".into());
                }
            } else {
                out.line("`worker divisors` is not usable in this build");
            }
        }
        None => out.line("(the `worker` binary is not next to this program; build the workspace)"),
    }
    Ok(v)
}

/// 5. Stages joined by bounded queues: backpressure instead of memory growth.
fn bounded_queues(out: &Out) -> Result<Value, String> {
    out.title(
        5,
        "Stages joined by bounded queues: backpressure, bounded memory",
    );
    let capacity = 8;
    let items = 400u64;
    let (tx1, rx1) = crossbeam_channel::bounded::<u64>(capacity);
    let (tx2, rx2) = crossbeam_channel::bounded::<(u64, usize)>(capacity);
    let t = Instant::now();
    let (blocked, max_depth, done) = std::thread::scope(|s| {
        // Stage 1: produces numbers much faster than stage 2 can handle them.
        let producer = s.spawn(move || {
            let mut blocked = 0u64;
            let mut max_depth = 0usize;
            for i in 0..items {
                let n = 200_000 + i;
                max_depth = max_depth.max(tx1.len());
                if let Err(crossbeam_channel::TrySendError::Full(n)) = tx1.try_send(n) {
                    blocked += 1;
                    // Full: wait for room (no busy loop, no unbounded buffer).
                    if tx1.send(n).is_err() {
                        break;
                    }
                }
            }
            // Dropping tx1 is the end-of-input signal.
            (blocked, max_depth)
        });
        // Stage 2: the slow stage (naive divisor counts).
        s.spawn(move || {
            for n in rx1.iter() {
                if tx2.send((n, naive_divisors(n).len())).is_err() {
                    break;
                }
            }
        });
        // Stage 3: collects.
        let done = rx2.iter().count();
        let (blocked, max_depth) = producer.join().unwrap_or((0, 0));
        (blocked, max_depth, done)
    });
    let took = t.elapsed();
    out.line(&format!(
        "{items} numbers through produce -> naive divisors -> collect, queues of {capacity}: \
         {done} done in {:.0} ms; the producer found its queue full {blocked} times and waited; \
         the queue never held more than {max_depth}",
        took.as_secs_f64() * 1000.0
    ));
    out.lesson(
        "a fast stage waits for a slow one instead of filling memory; closing the queue is \
         the end-of-input signal, so no stage busy-waits",
    );
    let mut v = json!({
        "items": items,
        "capacity": capacity,
        "done": done,
        "producer_blocked": blocked,
        "max_queue_depth": max_depth,
        "ms": took.as_secs_f64() * 1000.0,
    });
    v["pool_crash"] = pool_survives_a_killed_worker(out)?;
    Ok(v)
}

/// 5b. The worker pool loses a worker to SIGKILL mid-run and loses no number.
fn pool_survives_a_killed_worker(out: &Out) -> Result<Value, String> {
    use crate::pool::{Pool, PoolEvent};
    use std::sync::{Arc, Mutex};

    let Some(worker) = sibling("worker") else {
        out.line("(the `worker` binary is not next to this program: pool part skipped)");
        return Ok(json!({ "skipped": "worker binary not found" }));
    };
    let pids = Arc::new(Mutex::new(Vec::<u32>::new()));
    let seen = Arc::clone(&pids);
    let mut pool = Pool::builder()
        .procs(2)
        .worker(worker)
        .on_event(move |e| {
            if let PoolEvent::Started { pid, .. } = e {
                seen.lock().unwrap_or_else(|e| e.into_inner()).push(*pid);
            }
        })
        .start()
        .map_err(|e| e.to_string())?;
    // 40,000 products of two 24-to-32-bit numbers: enough work to be mid-run at the kill.
    let count = 40_000u64;
    let numbers: Vec<u128> = (0..count)
        .map(|i| u128::from((1u64 << 24) + i * 7919) * u128::from((1u64 << 31) + i * 104_729))
        .collect();
    let mut killed: Option<u32> = None;
    let mut wrong = 0u64;
    let mut next = 0u64;
    let t = Instant::now();
    let summary = pool
        .run_numbers(
            crate::pool::Mode::Primes,
            None,
            numbers.clone(),
            |index, result| {
                if index != next {
                    wrong += 1; // out of order or duplicated
                }
                next = index + 1;
                let ok = result.is_ok_and(|f| {
                    f.iter().product::<u128>() == numbers[index as usize]
                        && f.windows(2).all(|w| w[0] <= w[1])
                });
                if !ok {
                    wrong += 1;
                }
                if index == count / 4 && killed.is_none() {
                    let pid = pids
                        .lock()
                        .unwrap_or_else(|e| e.into_inner())
                        .first()
                        .copied();
                    if let Some(pid) = pid {
                        // SIGKILL one worker in the middle of the run.
                        let _ = crate::sys::kill(pid as i32, crate::Signal::Kill);
                        killed = Some(pid);
                    }
                }
            },
        )
        .map_err(|e| e.to_string())?;
    let took = t.elapsed();
    let pid = killed.ok_or("no worker was running to kill")?;
    out.line(&format!(
        "pool of 2 workers, {count} numbers: SIGKILLed worker pid {pid} a quarter of the way in; it was replaced ({} lost, {} numbers retried) and all {} answers came back once, in order, each checked (product = the number): {} wrong, in {:.0} ms",
        summary.workers_lost,
        summary.retried,
        next,
        wrong,
        took.as_secs_f64() * 1000.0
    ));
    out.lesson(
        "a dead worker costs a retry, not the run (Python's ProcessPoolExecutor raises BrokenProcessPool and stays broken)",
    );
    if wrong > 0 || next != count {
        return Err(format!(
            "the pool returned {next} of {count} answers, {wrong} wrong"
        ));
    }
    Ok(json!({
        "numbers": count,
        "killed_pid": pid,
        "workers_lost": summary.workers_lost,
        "retried": summary.retried,
        "answers": next,
        "wrong": wrong,
        "ms": took.as_secs_f64() * 1000.0,
    }))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn wrapping_keeps_every_word_and_the_width() {
        let s = "word ".repeat(60);
        let w = wrap(s.trim(), "   ", "     ");
        assert!(w.lines().all(|l| l.chars().count() <= 100));
        assert_eq!(w.split_whitespace().count(), 60);
        assert!(w.lines().skip(1).all(|l| l.starts_with("     ")));
    }

    #[test]
    fn naive_divisors_of_the_seed_numbers() {
        assert_eq!(naive_divisors(2139079), vec![1, 101, 21179, 2139079]);
        assert_eq!(
            naive_divisors(1214759),
            vec![
                1, 7, 13, 49, 91, 637, 1907, 13349, 24791, 93443, 173537, 1214759
            ]
        );
        assert_eq!(naive_divisors(1516637), vec![1, 19, 79823, 1516637]);
        assert_eq!(
            naive_divisors(1852285),
            vec![1, 5, 271, 1355, 1367, 6835, 370457, 1852285]
        );
    }
}
