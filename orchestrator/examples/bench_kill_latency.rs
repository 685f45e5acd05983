//! Benchmark: latency from a deadline to the child being reaped, for a child that obeys
//! SIGTERM (`sleep`).
//!
//! `bench_kill_latency --runs N` prints the median latency in milliseconds on stdout, and
//! min / p90 / max on stderr. Each run starts `sleep 10`, sets a deadline 50 ms ahead, and
//! measures from the deadline to `communicate` returning with the child reaped and its
//! group empty (timer lateness + SIGTERM + exit + reap).

use std::time::{Duration, Instant};

use orchestrator::{Command, Ending};

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let mut runs: usize = 50;
    let mut args = std::env::args().skip(1);
    while let Some(a) = args.next() {
        match a.as_str() {
            "--runs" => runs = args.next().ok_or("--runs needs a value")?.parse()?,
            other => return Err(format!("unknown argument `{other}`").into()),
        }
    }
    let mut ms = Vec::with_capacity(runs);
    for _ in 0..runs {
        let child = Command::new("sleep").arg("10").spawn()?;
        let deadline = Instant::now() + Duration::from_millis(50);
        let out = child.communicate().deadline(deadline).run()?;
        let late = Instant::now().saturating_duration_since(deadline);
        let t = out.timed_out.ok_or("the child was not timed out")?;
        if t.ending != Ending::Terminated {
            return Err(format!("unexpected ending {:?}", t.ending).into());
        }
        ms.push(late.as_secs_f64() * 1000.0);
    }
    ms.sort_by(f64::total_cmp);
    let q = |p: f64| ms[((ms.len() - 1) as f64 * p).round() as usize];
    eprintln!(
        "kill latency over {runs} runs: min {:.3} ms, median {:.3} ms, p90 {:.3} ms, max {:.3} ms",
        q(0.0),
        q(0.5),
        q(0.9),
        q(1.0)
    );
    println!("{:.3}", q(0.5));
    Ok(())
}
