//! `worker factor` against GNU coreutils `factor`, byte for byte.
//!
//! Skipped, with a message, when `factor` is not installed. Only inputs coreutils answers
//! quickly are sent to it (it needs minutes for a u128 with two large factors). Numbers of
//! 2^127 and above are compared one per `factor` run: coreutils 9.1 prints those through
//! GMP/stdio and the others through its own buffer, so in one run their lines come out of
//! input order. The worker keeps input order.

use std::process::{Command, Stdio};
use std::time::Duration;

use crate::util::{first_difference, run_within};

/// Runs coreutils `factor` on `input`; `None` when it is not installed.
fn coreutils(input: &str) -> Option<String> {
    use std::io::Write;
    let mut child = match Command::new("factor")
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .spawn()
    {
        Ok(child) => child,
        Err(e) => {
            eprintln!("SKIP: coreutils `factor` cannot be started ({e}); nothing to compare with");
            return None;
        }
    };
    let mut stdin = child.stdin.take().expect("piped");
    let data = input.to_owned();
    let feeder = std::thread::spawn(move || stdin.write_all(data.as_bytes()));
    let out = child.wait_with_output().expect("factor runs");
    feeder
        .join()
        .expect("feeder")
        .expect("factor reads its input");
    assert!(out.status.success(), "coreutils factor failed on its input");
    Some(String::from_utf8(out.stdout).expect("factor prints ASCII"))
}

fn compare(input: &str, what: &str) {
    let Some(want) = coreutils(input) else { return };
    let ran = run_within(&["factor"], input.as_bytes(), Duration::from_secs(60));
    assert_eq!(ran.code, Some(0), "{what}: stderr {}", ran.stderr);
    assert!(
        ran.out() == want,
        "{what}: worker and coreutils differ at {}",
        first_difference(ran.out(), &want)
    );
}

#[test]
fn seeded_random_u64() {
    // Fixed seed: a failure reproduces. Half uniform over all of u64, half with a uniform
    // random bit length (so small and mid-sized numbers are well covered too).
    let mut rng = fastrand::Rng::with_seed(0x2139_0791_2147_5915);
    let mut input = String::new();
    for i in 0..4000 {
        let n = if i % 2 == 0 {
            rng.u64(..)
        } else {
            let bits = rng.u32(1..=64);
            rng.u64(..) >> (64 - bits)
        };
        input.push_str(&format!("{n}\n"));
    }
    compare(&input, "4000 seeded random u64");
}

#[test]
fn edges_and_odd_tokens() {
    let mut input =
        String::from("0 1 2 3 4 +7 007 +0 00 0000000000000000000000000000000000000042\n");
    for n in [
        u64::MAX as u128,
        u64::MAX as u128 - 1,
        u64::MAX as u128 + 1,
        1 << 100,
        3u128.pow(80),
        (u64::MAX as u128) * 2147483647, // (2^64 - 1) * (2^31 - 1)
        10u128.pow(38),
    ] {
        input.push_str(&format!("{n}\t"));
    }
    for p in [2u64, 3, 5, 65521, 4294967291, 18446744073709551557] {
        input.push_str(&format!("{p} "));
    }
    compare(&input, "edge cases");
    for n in [
        "170141183460469231731687303715884105728",
        "340282366920938463463374607431768211455",
    ] {
        compare(n, n); // >= 2^127: one per coreutils run (see the module docs)
    }
}
