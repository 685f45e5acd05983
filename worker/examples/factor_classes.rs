//! Times the factorization engine on class files (one decimal number per line, as written by
//! `factor_inputs.py`), checks every result, and optionally times coreutils `factor` on the
//! same file in the same run.
//!
//! ```text
//! cargo run --release -p worker --example factor_classes -- [--runs K] [--limit N]
//!     [--latency] [--top K] [--print] [--divisors] [--coreutils] [--pari] [--no-check] FILE...
//! ```
//!
//! Per file it prints numbers/s (engine only: the numbers are parsed before timing), and with
//! per-number timing (automatic for files with numbers above 2^40, or `--latency`) the mean and
//! worst latency and the number that took longest. Every factorization is then checked: the
//! factors are ascending, prime, and multiply back to n. `--coreutils` also runs
//! `factor < FILE > /dev/null` (end to end, including process start and I/O) and prints the
//! ratio. `--pari` times PARI/GP's `factorint` on the same numbers (its own CPU-time clock,
//! `gettime`; `gp` must be on PATH) and prints the ratio. With `--runs K` each measurement is repeated K times and the median is reported.
//! `--print` only prints every factorization as coreutils `factor` does (`N: p1 p2 ...`), to
//! compare with it by `diff`.
//! `--top K` lists the K slowest numbers of the last run (with per-number timing).
//! `--divisors` times factoring plus streaming every divisor (ascending) to a visitor that
//! checks the order and counts, per number, and prints the divisor count and time of each.
//! Pin it for stable figures: `taskset -c 1 target/release/examples/factor_classes ...`.

use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use worker::factor::{divisor_count, factor_into, for_each_divisor, is_prime};

struct Options {
    runs: usize,
    limit: usize,
    latency: bool,
    divisors: bool,
    top: usize,
    print: bool,
    coreutils: bool,
    pari: bool,
    check: bool,
    files: Vec<String>,
}

fn parse_args() -> Result<Options, String> {
    let mut o = Options {
        runs: 1,
        limit: usize::MAX,
        latency: false,
        divisors: false,
        top: 0,
        print: false,
        coreutils: false,
        pari: false,
        check: true,
        files: Vec::new(),
    };
    let mut args = std::env::args().skip(1);
    while let Some(a) = args.next() {
        match a.as_str() {
            "--runs" => o.runs = number_arg(&a, args.next())?.max(1),
            "--limit" => o.limit = number_arg(&a, args.next())?,
            "--latency" => o.latency = true,
            "--divisors" => o.divisors = true,
            "--top" => o.top = number_arg(&a, args.next())?,
            "--print" => o.print = true,
            "--coreutils" => o.coreutils = true,
            "--pari" => o.pari = true,
            "--no-check" => o.check = false,
            "-h" | "--help" => return Err(String::new()),
            _ if a.starts_with("--") => return Err(format!("unknown option {a}")),
            _ => o.files.push(a),
        }
    }
    if o.files.is_empty() {
        return Err("no input file".into());
    }
    Ok(o)
}

fn number_arg(name: &str, v: Option<String>) -> Result<usize, String> {
    v.and_then(|s| s.parse().ok())
        .ok_or_else(|| format!("{name} needs a number"))
}

fn main() {
    let opts = match parse_args() {
        Ok(o) => o,
        Err(e) => {
            if !e.is_empty() {
                eprintln!("factor_classes: {e}");
            }
            eprintln!(
                "usage: factor_classes [--runs K] [--limit N] [--latency] [--top K] [--print] [--divisors] [--coreutils] [--pari] [--no-check] FILE..."
            );
            std::process::exit(2);
        }
    };
    for file in &opts.files {
        if let Err(e) = run_file(file, &opts) {
            eprintln!("factor_classes: {file}: {e}");
            std::process::exit(1);
        }
    }
}

fn run_file(file: &str, opts: &Options) -> Result<(), String> {
    let text = std::fs::read_to_string(file).map_err(|e| e.to_string())?;
    let nums: Vec<u128> = text
        .split_whitespace()
        .take(opts.limit)
        .map(|w| {
            w.parse::<u128>()
                .map_err(|e| format!("bad number {w:?}: {e}"))
        })
        .collect::<Result<_, _>>()?;
    if nums.is_empty() {
        return Err("no numbers".into());
    }
    if opts.divisors {
        return run_divisors(&nums, opts);
    }
    if opts.print {
        use std::io::Write;
        let mut out = std::io::BufWriter::new(std::io::stdout().lock());
        let mut buf = Vec::new();
        for &n in &nums {
            factor_into(n, &mut buf);
            let line: String = buf.iter().map(|p| format!(" {p}")).collect();
            writeln!(out, "{n}:{line}").map_err(|e| e.to_string())?;
        }
        return out.flush().map_err(|e| e.to_string());
    }
    let latency = opts.latency || opts.top > 0 || nums.iter().any(|&n| n >= 1 << 40);
    let mut slowest: Vec<(Duration, u128)> = Vec::new();
    let name = std::path::Path::new(file)
        .file_name()
        .map_or(file.into(), |s| s.to_string_lossy().into_owned());

    let mut walls = Vec::new();
    let mut cpus = Vec::new();
    let mut worst = (Duration::ZERO, 0u128);
    let mut sum_lat = Duration::ZERO;
    let mut buf = Vec::with_capacity(128);
    let mut sink = 0u128;
    for _ in 0..opts.runs {
        let cpu0 = thread_cpu();
        let start = Instant::now();
        if latency {
            sum_lat = Duration::ZERO;
            slowest.clear();
            for &n in &nums {
                let t = Instant::now();
                factor_into(n, &mut buf);
                let dt = t.elapsed();
                sum_lat += dt;
                if dt > worst.0 {
                    worst = (dt, n);
                }
                if opts.top > 0 {
                    slowest.push((dt, n));
                }
                sink = sink.wrapping_add(buf.last().copied().unwrap_or(0));
            }
        } else {
            for &n in &nums {
                factor_into(n, &mut buf);
                sink = sink.wrapping_add(buf.last().copied().unwrap_or(0));
            }
        }
        walls.push(start.elapsed());
        cpus.push(thread_cpu().saturating_sub(cpu0));
    }
    std::hint::black_box(sink);
    let cpu = median(&mut cpus);
    let wall = median(&mut walls);
    let best = walls[0];
    let rate = nums.len() as f64 / wall.as_secs_f64();
    let cpu_rate = nums.len() as f64 / cpu.as_secs_f64();
    let mut line = format!(
        "{name}: {} numbers, engine {} /s (median of {} runs, {:.3} s; best run {} /s; by CPU time {} /s)",
        nums.len(),
        human(rate),
        opts.runs,
        wall.as_secs_f64(),
        human(nums.len() as f64 / best.as_secs_f64()),
        human(cpu_rate),
    );
    if latency {
        line += &format!(
            "; mean {}, worst {} (n = {})",
            dur(sum_lat / nums.len() as u32),
            dur(worst.0),
            worst.1
        );
    }
    println!("{line}");
    slowest.sort_unstable_by(|a, b| b.cmp(a));
    for (dt, n) in slowest.iter().take(opts.top) {
        println!("  slow: {n} in {}", dur(*dt));
    }

    // Check every result (untimed).
    if opts.check {
        for &n in &nums {
            factor_into(n, &mut buf);
            check(n, &buf)?;
        }
        println!("{name}: all {} factorizations checked", nums.len());
    }

    if opts.pari {
        let t = pari_time(&nums, opts.runs)?;
        let prate = nums.len() as f64 / t.as_secs_f64().max(1e-3);
        println!(
            "{name}: PARI/GP factorint {} /s by its CPU time (median of {} runs, {:.3} s); engine / PARI = {:.2}x by CPU time",
            human(prate),
            opts.runs,
            t.as_secs_f64(),
            cpu_rate / prate
        );
    }
    if opts.coreutils {
        let mut cw = Vec::new();
        let mut ccpu = Vec::new();
        for _ in 0..opts.runs {
            let input = std::fs::File::open(file).map_err(|e| e.to_string())?;
            let c0 = children_cpu();
            let start = Instant::now();
            let status = Command::new("factor")
                .stdin(input)
                .stdout(Stdio::null())
                .status()
                .map_err(|e| format!("coreutils factor: {e}"))?;
            cw.push(start.elapsed());
            ccpu.push(children_cpu().saturating_sub(c0));
            if !status.success() {
                return Err(format!("coreutils factor failed: {status}"));
            }
        }
        let c = median(&mut cw);
        let crate_ = nums.len() as f64 / c.as_secs_f64();
        // Child CPU time has 10 ms resolution: only meaningful for runs of a second or more.
        let ccpu = median(&mut ccpu);
        let cpu_part = if ccpu >= Duration::from_millis(500) {
            let ccpu_rate = nums.len() as f64 / ccpu.as_secs_f64();
            format!(
                "; by CPU time {} /s, engine / coreutils = {:.2}x by CPU time",
                human(ccpu_rate),
                cpu_rate / ccpu_rate
            )
        } else {
            String::new()
        };
        println!(
            "{name}: coreutils factor {} /s end to end (median {:.3} s; best run {} /s{cpu_part}); engine / coreutils = {:.2}x by wall time",
            human(crate_),
            c.as_secs_f64(),
            human(nums.len() as f64 / cw[0].as_secs_f64()),
            rate / crate_,
        );
    }
    Ok(())
}

/// Factor and stream all divisors of each number, timed (median of the runs).
fn run_divisors(nums: &[u128], opts: &Options) -> Result<(), String> {
    let mut buf = Vec::with_capacity(128);
    for &n in nums {
        let mut times = Vec::new();
        let mut count = 0u64;
        for _ in 0..opts.runs {
            let start = Instant::now();
            factor_into(n, &mut buf);
            count = 0;
            let mut last = 0u128;
            let mut ordered = true;
            for_each_divisor(&buf, |d| {
                ordered &= d > last;
                last = d;
                count += 1;
            });
            times.push(start.elapsed());
            if !ordered || last != n || count != divisor_count(&buf) {
                return Err(format!("{n}: divisors out of order or incomplete"));
            }
        }
        println!(
            "{n}: {count} divisors, factor + all divisors in {} (median of {} runs)",
            dur(median(&mut times)),
            opts.runs
        );
    }
    Ok(())
}

/// Median CPU time PARI/GP's `factorint` takes on `nums` (its `gettime` clock), or an error.
fn pari_time(nums: &[u128], runs: usize) -> Result<Duration, String> {
    use std::io::Write;
    let list: Vec<String> = nums.iter().map(|n| n.to_string()).collect();
    let script = format!(
        "v=[{}];\nfor(r=1,{runs},gettime();for(i=1,#v,factorint(v[i]));print(gettime()));\nquit\n",
        list.join(",")
    );
    let mut child = Command::new("gp")
        .args(["-q", "-f", "--default", "parisize=64000000"])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .spawn()
        .map_err(|e| format!("gp: {e}"))?;
    let mut stdin = child.stdin.take().ok_or("gp: no stdin")?;
    let writer = std::thread::spawn(move || stdin.write_all(script.as_bytes()));
    let out = child.wait_with_output().map_err(|e| format!("gp: {e}"))?;
    writer
        .join()
        .map_err(|_| "gp: writer thread panicked".to_string())?
        .map_err(|e| format!("gp: {e}"))?;
    let mut ms: Vec<Duration> = String::from_utf8_lossy(&out.stdout)
        .lines()
        .filter_map(|l| l.trim().parse::<u64>().ok())
        .map(Duration::from_millis)
        .collect();
    if ms.is_empty() {
        return Err(format!("gp printed no timings (status {})", out.status));
    }
    Ok(median(&mut ms))
}

fn check(n: u128, f: &[u128]) -> Result<(), String> {
    if !f.is_sorted() {
        return Err(format!("{n}: factors not ascending: {f:?}"));
    }
    let mut prod: u128 = 1;
    for &p in f {
        if !is_prime(p) {
            return Err(format!("{n}: factor {p} is not prime"));
        }
        prod = prod
            .checked_mul(p)
            .ok_or_else(|| format!("{n}: product overflows: {f:?}"))?;
    }
    if prod != n.max(1) || (n < 2 && !f.is_empty()) {
        return Err(format!("{n}: factors {f:?} multiply to {prod}"));
    }
    Ok(())
}

/// CPU time of this thread so far (`/proc/thread-self/schedstat`, nanoseconds): unlike wall
/// time it does not grow while other processes hold the CPU.
fn thread_cpu() -> Duration {
    std::fs::read_to_string("/proc/thread-self/schedstat")
        .ok()
        .and_then(|s| s.split_whitespace().next()?.parse().ok())
        .map_or(Duration::ZERO, Duration::from_nanos)
}

/// User + system CPU time of waited-for children (`/proc/self/stat` fields 16-17, in clock
/// ticks of 10 ms).
fn children_cpu() -> Duration {
    let Ok(stat) = std::fs::read_to_string("/proc/self/stat") else {
        return Duration::ZERO;
    };
    // Fields after the parenthesised command name; cutime and cstime are fields 16 and 17.
    let rest = stat.rsplit_once(')').map_or("", |(_, r)| r);
    let f: Vec<&str> = rest.split_whitespace().collect();
    // rest starts at field 3 (the state): field k is f[k - 3].
    let field = |k: usize| {
        f.get(k - 3)
            .and_then(|x| x.parse::<u64>().ok())
            .unwrap_or(0)
    };
    Duration::from_millis((field(16) + field(17)) * 10)
}

fn median(v: &mut [Duration]) -> Duration {
    v.sort_unstable();
    v[v.len() / 2]
}

fn human(x: f64) -> String {
    if x >= 1e6 {
        format!("{:.2} M", x / 1e6)
    } else if x >= 1e3 {
        format!("{:.2} k", x / 1e3)
    } else {
        format!("{x:.2}")
    }
}

fn dur(d: Duration) -> String {
    let ns = d.as_nanos();
    if ns >= 1_000_000 {
        format!("{:.2} ms", ns as f64 / 1e6)
    } else if ns >= 1_000 {
        format!("{:.2} us", ns as f64 / 1e3)
    } else {
        format!("{ns} ns")
    }
}
