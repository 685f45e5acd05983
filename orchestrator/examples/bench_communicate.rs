//! Benchmark: `communicate` N bytes through `cat` and back into this process.
//!
//! `bench_communicate --bytes N` prints the elapsed seconds (a float) on stdout: from spawn
//! to the last byte captured and `cat` reaped; building the input buffer is not timed (as
//! Python's anchor `subprocess.run(['cat'], input=data, capture_output=True)` is timed
//! in-process with its buffer built beforehand).

use std::time::Instant;

use orchestrator::{Command, Stdio};

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let mut bytes: usize = 1 << 30;
    let mut args = std::env::args().skip(1);
    while let Some(a) = args.next() {
        match a.as_str() {
            "--bytes" => bytes = args.next().ok_or("--bytes needs a value")?.parse()?,
            other => return Err(format!("unknown argument `{other}`").into()),
        }
    }
    let input = vec![b'x'; bytes];
    let start = Instant::now();
    let out = Command::new("cat")
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .spawn()?
        .communicate()
        .input(input)
        .run()?
        .check()?;
    let secs = start.elapsed().as_secs_f64();
    if out.stdout.len() != bytes {
        return Err(format!("got {} bytes back, sent {bytes}", out.stdout.len()).into());
    }
    println!("{secs:.6}");
    Ok(())
}
