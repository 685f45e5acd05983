//! Tests of the factorization engine through its public API: naive oracles for small n,
//! coreutils `factor` on random u64s, u128s built from known primes, and divisor streaming.

use std::io::Write;
use std::process::{Command, Stdio};

use proptest::prelude::*;
use worker::factor::{divisor_count, factor, factor_into, for_each_divisor, is_prime};

fn naive_factor(mut n: u64) -> Vec<u128> {
    let mut v = Vec::new();
    let mut d = 2u64;
    while d * d <= n {
        while n.is_multiple_of(d) {
            v.push(d as u128);
            n /= d;
        }
        d += 1;
    }
    if n > 1 {
        v.push(n as u128);
    }
    v
}

fn naive_divisors(n: u64) -> Vec<u128> {
    let mut small = Vec::new();
    let mut large = Vec::new();
    let mut d = 1u64;
    while d * d <= n {
        if n.is_multiple_of(d) {
            small.push(d as u128);
            if d * d != n {
                large.push((n / d) as u128);
            }
        }
        d += 1;
    }
    small.extend(large.into_iter().rev());
    small
}

/// Ascending, every factor prime, product `n`.
fn assert_complete(n: u128, f: &[u128]) {
    assert!(f.is_sorted(), "{n}: not ascending: {f:?}");
    let mut prod: u128 = 1;
    for &p in f {
        assert!(is_prime(p), "{n}: factor {p} is not prime");
        prod = prod
            .checked_mul(p)
            .unwrap_or_else(|| panic!("{n}: product overflows: {f:?}"));
    }
    assert_eq!(prod, n, "{n}: factors {f:?} multiply to {prod}");
}

fn divisors_of(primes: &[u128]) -> Vec<u128> {
    let mut v = Vec::new();
    for_each_divisor(primes, |d| v.push(d));
    v
}

fn expand(pp: &[(u128, usize)]) -> Vec<u128> {
    pp.iter()
        .flat_map(|&(p, e)| std::iter::repeat_n(p, e))
        .collect()
}

/// Every divisor from the prime powers, by generating all products and sorting.
fn sorted_oracle(pp: &[(u128, usize)]) -> Vec<u128> {
    let mut ds = vec![1u128];
    for &(p, e) in pp {
        let base = ds.clone();
        let mut pk = 1;
        for _ in 0..e {
            pk *= p;
            ds.extend(base.iter().map(|d| d * pk));
        }
    }
    ds.sort_unstable();
    ds
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(2000))]

    #[test]
    fn matches_naive_below_2_32(n in 0u64..(1 << 32)) {
        prop_assert_eq!(factor(n as u128), naive_factor(n));
    }

    #[test]
    fn divisors_match_naive(n in 1u64..(1 << 24)) {
        let f = factor(n as u128);
        let ds = divisors_of(&f);
        prop_assert_eq!(ds.len() as u64, divisor_count(&f));
        prop_assert_eq!(ds, naive_divisors(n));
    }

    #[test]
    fn any_u64_is_complete(n: u64) {
        assert_complete(n as u128, &factor(n as u128));
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(200))]

    /// Products of two random u64: every shape of u128 factorization, including two large
    /// factors.
    #[test]
    fn products_of_two_u64_are_complete(a in 1u64.., b in 1u64..) {
        let n = a as u128 * b as u128;
        assert_complete(n, &factor(n));
    }

    #[test]
    fn any_u128_is_complete(n: u128) {
        assert_complete(n, &factor(n));
    }
}

#[test]
fn seed_numbers_and_their_divisors() {
    let cases: [(u128, &[u128], &[u128]); 4] = [
        (2139079, &[101, 21179], &[1, 101, 21179, 2139079]),
        (
            1214759,
            &[7, 7, 13, 1907],
            &[
                1, 7, 13, 49, 91, 637, 1907, 13349, 24791, 93443, 173537, 1214759,
            ],
        ),
        (1516637, &[19, 79823], &[1, 19, 79823, 1516637]),
        (
            1852285,
            &[5, 271, 1367],
            &[1, 5, 271, 1355, 1367, 6835, 370457, 1852285],
        ),
    ];
    for (n, primes, divisors) in cases {
        assert_eq!(factor(n), primes);
        assert_eq!(divisors_of(primes), divisors);
        assert_eq!(divisor_count(primes), divisors.len() as u64);
    }
}

#[test]
fn edge_cases() {
    assert_eq!(factor(0), []);
    assert_eq!(factor(1), []);
    assert_eq!(factor(2), [2]);
    assert_eq!(factor(3), [3]);
    assert_eq!(factor(4), [2, 2]);
    assert_eq!(
        factor(u64::MAX as u128),
        [3, 5, 17, 257, 641, 65537, 6700417]
    );
    assert_eq!(factor(1 << 64), [2; 64]);
    assert_eq!(factor(1 << 127), [2; 127]);
    assert_eq!(
        factor(u128::MAX),
        [3, 5, 17, 257, 641, 65537, 274177, 6700417, 67280421310721]
    );
    // Largest primes below 2^64 and 2^128, smallest above 2^64, and 2^127 - 1.
    for p in [
        18446744073709551557u128,
        340282366920938463463374607431768211297,
        18446744073709551629,
        (1 << 127) - 1,
    ] {
        assert_eq!(factor(p), [p]);
    }
    assert_eq!(factor(2 * ((1 << 127) - 1)), [2, (1 << 127) - 1]);
    // The buffer variant clears and reuses.
    let mut buf = vec![99, 98];
    factor_into(12, &mut buf);
    assert_eq!(buf, [2, 2, 3]);
    factor_into(1, &mut buf);
    assert!(buf.is_empty());
}

/// Primes of 40 to 64 bits (from sympy `nextprime`), for products with known factorizations.
const KNOWN_PRIMES: [u128; 21] = [
    804948253099,
    897691841113,
    884012530679,
    240699839850839,
    262273760246401,
    216802190936671,
    67462368009251219,
    62910877759987601,
    62990897134957699,
    877477028911442269,
    723129352390467679,
    705322003999082411,
    3167347656563353061,
    3404109295566639469,
    3379764852292828123,
    4898004855351610591,
    6782780175303583471,
    5396154357928470599,
    12296099661005056177,
    13018128892235147341,
    10659304036493048593,
];

#[test]
fn products_of_known_primes() {
    for &p in &KNOWN_PRIMES {
        assert_eq!(factor(p), [p]);
    }
    // Every pair, including the hard ones (two factors of 60-64 bits).
    for (i, &p) in KNOWN_PRIMES.iter().enumerate() {
        for &q in &KNOWN_PRIMES[i..] {
            let Some(n) = p.checked_mul(q) else { continue };
            let mut want = vec![p, q];
            want.sort_unstable();
            assert_eq!(factor(n), want, "{p} * {q}");
        }
    }
    // Triples of 40-bit primes.
    for &p in &KNOWN_PRIMES[..3] {
        for &q in &KNOWN_PRIMES[..3] {
            for &r in &KNOWN_PRIMES[..6] {
                let Some(n) = p.checked_mul(q).and_then(|x| x.checked_mul(r)) else {
                    continue;
                };
                let mut want = vec![p, q, r];
                want.sort_unstable();
                assert_eq!(factor(n), want, "{p} * {q} * {r}");
            }
        }
    }
}

#[test]
fn many_factors_just_above_the_trial_bound() {
    // Every ECM curve finds all of these at once; rho has to isolate them.
    assert_eq!(
        factor(8545689073429061113),
        [7, 163, 4357, 7129, 9161, 26321]
    );
    assert_eq!(factor(4099 * 4111 * 4127 * 4129), [4099, 4111, 4127, 4129]);
    let ten: [u128; 10] = [4099, 4111, 4127, 4129, 4133, 4139, 4153, 4157, 4159, 4177];
    assert_eq!(factor(ten.iter().product()), ten);
    // Three 41-bit primes: a 121-bit number the sieve splits into a prime and a semiprime.
    let three: [u128; 3] = [1099511627791, 1099511640127, 1099511652571];
    assert_eq!(factor(three.iter().product()), three);
}

#[test]
fn prime_powers() {
    for &p in &KNOWN_PRIMES {
        for k in 2..=3u32 {
            if let Some(n) = p.checked_pow(k) {
                assert_eq!(factor(n), vec![p; k as usize]);
            }
        }
    }
    assert_eq!(factor(3u128.pow(80)), [3; 80]);
    assert_eq!(factor(4099u128.pow(10)), [4099; 10]);
    let p = 804948253099u128;
    assert_eq!(factor(p * p * 4099 * 4099 * 3), [3, 4099, 4099, p, p]);
}

#[test]
fn most_divisors_below_2_64() {
    let n = 18401055938125660800u128;
    let f = factor(n);
    assert_eq!(divisor_count(&f), 184_320);
    let pp = [
        (2, 7),
        (3, 4),
        (5, 2),
        (7, 2),
        (11, 1),
        (13, 1),
        (17, 1),
        (19, 1),
        (23, 1),
        (29, 1),
        (31, 1),
        (37, 1),
        (41, 1),
    ];
    assert_eq!(f, expand(&pp));
    assert_eq!(divisors_of(&f), sorted_oracle(&pp));
}

#[test]
fn divisors_above_the_direct_limit_match_sort_oracle() {
    // 552,960 divisors: more than the direct merge handles, so the chunked mode runs.
    let pp = [
        (2u128, 8),
        (3, 4),
        (5, 3),
        (7, 2),
        (11, 2),
        (13, 2),
        (17, 1),
        (19, 1),
        (23, 1),
        (29, 1),
        (31, 1),
        (37, 1),
        (41, 1),
        (43, 1),
    ];
    let primes = expand(&pp);
    let oracle = sorted_oracle(&pp);
    assert_eq!(divisor_count(&primes), oracle.len() as u64);
    assert_eq!(divisors_of(&primes), oracle);
}

#[test]
fn the_u128_with_most_divisors() {
    let n = 278282512406132373381723386382308832000u128;
    let f = factor(n);
    assert_eq!(divisor_count(&f), 318_504_960);
    assert_eq!(f.iter().product::<u128>(), n);
}

/// Streams all 318,504,960 divisors (minutes in a debug test build: the visitor closure is
/// compiled unoptimised here). Run with `cargo test --release -- --ignored`.
#[test]
#[ignore = "long: streams 3.2e8 divisors"]
fn stream_all_divisors_of_the_u128_with_most() {
    let n = 278282512406132373381723386382308832000u128;
    let f = factor(n);
    let mut count = 0u64;
    let mut last = 0u128;
    let mut ascending = true;
    for_each_divisor(&f, |d| {
        ascending &= d > last && n.is_multiple_of(d);
        last = d;
        count += 1;
    });
    assert!(ascending);
    assert_eq!(count, 318_504_960);
    assert_eq!(last, n);
}

/// Our rendering of `factor`'s output line.
fn line(n: u128, f: &[u128]) -> String {
    let mut s = format!("{n}:");
    for p in f {
        s.push_str(&format!(" {p}"));
    }
    s
}

#[test]
fn matches_coreutils_on_random_u64() {
    let Some(path) = which_factor() else {
        println!("SKIPPED matches_coreutils_on_random_u64: coreutils `factor` not found on PATH");
        return;
    };
    let mut rng = fastrand::Rng::with_seed(0x5eed_f00d);
    // Uniform bit lengths, so small, medium and hard 64-bit inputs all appear.
    let nums: Vec<u64> = (0..5000)
        .map(|_| {
            let bits = rng.u32(1..=64);
            let top = 1u64 << (bits - 1);
            top | (rng.u64(..) & (top - 1))
        })
        .collect();
    let input: String = nums.iter().map(|n| format!("{n}\n")).collect();
    let mut guard = testkit::LeakGuard::new();
    let mut child = guard
        .apply(&mut Command::new(path))
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .spawn()
        .expect("coreutils factor starts");
    let mut stdin = child.stdin.take().expect("piped stdin");
    let writer = std::thread::spawn(move || stdin.write_all(input.as_bytes()));
    let output = child.wait_with_output().expect("factor runs");
    writer
        .join()
        .expect("writer thread")
        .expect("write to factor");
    guard.assert_none_left();
    assert!(output.status.success());
    let theirs = String::from_utf8(output.stdout).expect("utf-8");
    let mut lines = theirs.lines();
    let mut buf = Vec::new();
    for &n in &nums {
        factor_into(n as u128, &mut buf);
        assert_eq!(
            Some(line(n as u128, &buf).as_str()),
            lines.next(),
            "n = {n}"
        );
    }
    assert_eq!(lines.next(), None);
}

fn which_factor() -> Option<std::path::PathBuf> {
    let path = std::env::var_os("PATH")?;
    std::env::split_paths(&path)
        .map(|d| d.join("factor"))
        .find(|p| p.is_file())
}
