//! What `worker factor`'s I/O path costs per number, without the factorization engine.
//!
//! Runs the same [`Filter`] as the binary (stdin streamed through the tokenizer, lines
//! formatted into one large buffer, written to a duplicate of fd 1), with a stand-in for
//! `factor_into`:
//!
//! * `identity`: every number is its own only "factor" (`N: N`): parse + format, nothing else.
//! * `table`: a smallest-prime-factor table for n < 2^22, so the output is the real one for
//!   small inputs (the seed numbers) at a cost of a few table reads; larger numbers fall back
//!   to the real engine.
//! * `engine`: the real engine, i.e. exactly `worker factor`.
//!
//! ```text
//! cargo build --release --example io_path
//! python3 -c 'import sys; s=[2139079,1214759,1516637,1852285]; sys.stdout.write("".join(f"{s[i%4]}\n" for i in range(10**7)))' > /tmp/seed10m.txt
//! time target/release/examples/io_path table < /tmp/seed10m.txt > /dev/null
//! time factor < /tmp/seed10m.txt > /dev/null
//! ```

use std::fs::File;
use std::io;
use std::os::fd::AsFd;

use shared::Mode;
use worker::filter::Filter;

const TABLE_BITS: u32 = 22;

/// Smallest prime factor of every n < 2^TABLE_BITS (0 for n < 2).
fn spf_table() -> Vec<u32> {
    let len = 1usize << TABLE_BITS;
    let mut spf = vec![0u32; len];
    for i in 2..len {
        if spf[i] == 0 {
            let p = i as u32;
            let mut j = i;
            while j < len {
                if spf[j] == 0 {
                    spf[j] = p;
                }
                j += i;
            }
        }
    }
    spf
}

fn main() -> io::Result<()> {
    let stand_in = std::env::args().nth(1).unwrap_or_else(|| "identity".into());
    let out = File::from(io::stdout().as_fd().try_clone_to_owned()?);
    let spf = if stand_in == "table" {
        spf_table()
    } else {
        Vec::new()
    };
    let factor_into = |n: u128, v: &mut Vec<u128>| match stand_in.as_str() {
        "identity" => {
            v.clear();
            v.push(n);
        }
        "table" if n < spf.len() as u128 => {
            v.clear();
            let mut m = n as usize;
            while m > 1 {
                let p = spf[m] as usize;
                v.push(p as u128);
                m /= p;
            }
        }
        _ => worker::factor::factor_into(n, v),
    };
    let mut filter = Filter::new(Mode::Primes, out, io::stderr(), factor_into);
    filter
        .run_stream(io::stdin().lock())
        .map_err(io::Error::other)?;
    let summary = filter.finish().map_err(io::Error::other)?;
    eprintln!("{} numbers ({} bad)", summary.printed, summary.bad);
    Ok(())
}
