//! Integer factorization of every u128: pure functions, no I/O.
//!
//! The pipeline for `n`:
//! 1. factors of 2 by shifting, then trial division by the primes below 4096 with
//!    multiply-by-inverse tests (`trial`), eight primes per test; a cofactor below 2^19 is
//!    finished by a compile-time smallest-factor table, and one below `4096^2` is prime;
//! 2. each remaining cofactor is tested for primality (deterministic Miller-Rabin below
//!    2^64, BPSW above: `prime`) and for being a perfect power;
//! 3. a composite is split, and both parts go back to step 2:
//!    - below 2^64: Pollard-Brent rho up to 40 bits (`rho`), the elliptic curve method
//!      above (`ecm`: a few cheap curves, then B1 chosen by size), both in Montgomery
//!      arithmetic (`mont64`);
//!    - above 2^64: a short rho walk and a few ECM curves (`mont128`) for a smaller factor
//!      (about 5% of the sieve's time), then the self-initialising quadratic sieve
//!      (`siqs`), whose time depends on the size of the number only: ~10 ms at 120 bits,
//!      ~20 ms at 128 on this project's machine.
//!
//! Every result is complete, prime and ascending: a split is only accepted when it is a
//! proper divisor, and every split method has fallbacks (rho after ECM; ECM and rho with
//! fresh curves and walks if the sieve ever gives up; trial division as the u64 last resort),
//! so no input panics, and none loops forever in practice: the randomised fallbacks end with
//! probability 1.
//!
//! Numbers below 2^64 are factored without heap allocation (only `out` grows, once).
//! All divisors of a factored number, ascending and streamed: [`for_each_divisor`].

mod arith;
mod divisors;
mod ecm;
mod mont128;
mod mont64;
mod monty;
mod prime;
mod rho;
mod siqs;
mod trial;

pub use divisors::{divisor_count, for_each_divisor};

use arith::perfect_power;
use mont64::Mont64;
use mont128::Mont128;
use trial::{TRIAL_LIMIT, Trial};

/// Prime factors of `n` in ascending order, with multiplicity (`12 -> [2, 2, 3]`).
/// `0` and `1` have no prime factors (as in coreutils `factor`).
///
/// ```
/// assert_eq!(worker::factor::factor(1_214_759), [7, 7, 13, 1907]);
/// assert_eq!(worker::factor::factor(1), []);
/// ```
pub fn factor(n: u128) -> Vec<u128> {
    let mut out = Vec::new();
    factor_into(n, &mut out);
    out
}

/// As [`factor`], into a caller-owned buffer (cleared first), so a hot loop allocates nothing
/// once the buffer has grown (numbers below 2^64 never allocate inside the engine).
pub fn factor_into(n: u128, out: &mut Vec<u128>) {
    out.clear();
    if n < 2 {
        return;
    }
    let tz = n.trailing_zeros();
    for _ in 0..tz {
        out.push(2);
    }
    let n = n >> tz;
    if n == 1 {
        return;
    }
    if n <= u32::MAX as u128 {
        if let Trial::Rest(m) = trial::trial_u32(n as u32, out) {
            factor_hard_u64(m, out);
        }
    } else if n <= u64::MAX as u128 {
        if let Trial::Rest(m) = trial::trial_u64(n as u64, 1, out) {
            factor_hard_u64(m, out);
        }
    } else if let Trial::Rest(m) = trial::trial_u128(n, out) {
        factor_hard_u128(m, out);
    }
    if !out.is_sorted() {
        out.sort_unstable();
    }
}

/// Whether `n` is prime (deterministic below 2^64, BPSW above).
pub fn is_prime(n: u128) -> bool {
    prime::is_prime_u128(n)
}

/// Factors an odd `m >= TRIAL_LIMIT^2` with no prime factor below [`TRIAL_LIMIT`].
fn factor_hard_u64(m: u64, out: &mut Vec<u128>) {
    // At most 5 factors of at least 4096 fit in a u64, so the stack stays tiny.
    let mut stack = [0u64; 8];
    stack[0] = m;
    let mut len = 1;
    while len > 0 {
        len -= 1;
        let x = stack[len];
        // Below TRIAL_LIMIT^2, having no factor below TRIAL_LIMIT means prime.
        if x < (TRIAL_LIMIT as u64).pow(2) || prime::is_prime_u64_no_small(x) {
            out.push(x as u128);
            continue;
        }
        if let Some((r, k)) = perfect_power(x as u128, TRIAL_LIMIT as u128) {
            // r has no small factors either; factor it once, repeat k times.
            let start = out.len();
            factor_hard_u64(r as u64, out);
            let end = out.len();
            for _ in 1..k {
                out.extend_from_within(start..end);
            }
            continue;
        }
        let d = split_u64(x);
        stack[len] = d;
        stack[len + 1] = x / d;
        len += 2;
    }
}

/// Below this many bits a u64 composite is split by rho; above, by ECM.
const RHO_MAX_BITS_U64: u32 = 40;
/// Above that, one curve at each of the first [`SMALL_LEVELS`] ECM levels comes first: the
/// factor sizes are unknown, and on random u64s most splits are of factors below 2^22
/// (measured instruction counts: 13% less on random u64, 4% more on 32+32-bit semiprimes).
const SMALL_LEVELS: usize = 3;
const SMALL_CURVES: u32 = 1;

/// ECM level (index into [`ecm::LEVELS`]) to start at for a u64 composite of `bits` bits
/// (balanced factors are the hard case: B1 follows the size of the smaller one).
fn ecm_level_u64(bits: u32) -> usize {
    match bits {
        0..=44 => 1,
        45..=48 => 2,
        49..=52 => 3,
        53..=58 => 4,
        59..=62 => 5,
        _ => 6,
    }
}

/// A proper divisor of the odd composite `x` (not a perfect power, no factor below
/// [`TRIAL_LIMIT`]).
fn split_u64(x: u64) -> u64 {
    let m = Mont64::new(x);
    let bits = 64 - x.leading_zeros();
    if bits <= RHO_MAX_BITS_U64
        && let Some(d) = rho::brent(&m, 1, 2, 1 << 22)
    {
        return d as u64;
    }
    let mut rng = arith::SplitMix::new(x);
    // The factor sizes are unknown: a few cheap curves first catch the small ones.
    let start = ecm_level_u64(bits);
    let levels = (0..start.min(SMALL_LEVELS))
        .map(|l| (l, SMALL_CURVES))
        .chain((start..=ecm::LEVELS.len().min(9)).map(|l| (l, 64)));
    for (level, curves) in levels {
        match ecm::ecm(&m, ecm::plan(level), curves, &mut rng) {
            ecm::Found::Factor(d) => return d as u64,
            // Several small factors found together: rho isolates the smallest.
            ecm::Found::AllAtOnce => {
                if let Some(d) = rho::brent(&m, 1, 2, 1 << 16) {
                    return d as u64;
                }
            }
            ecm::Found::Nothing => {}
        }
    }
    for c in 1..64u64 {
        if let Some(d) = rho::brent(&m, c, 2 + c, 1 << 40) {
            return d as u64;
        }
    }
    split_by_division(x as u128) as u64
}

/// Last-resort split that always succeeds on a composite: odd trial division up to the square
/// root. Only reached if every randomized method failed repeatedly (never observed).
fn split_by_division(x: u128) -> u128 {
    let r = arith::isqrt128(x);
    let mut d = TRIAL_LIMIT as u128 | 1;
    while d <= r {
        if x.is_multiple_of(d) {
            return d;
        }
        d += 2;
    }
    x
}

/// Factors an odd `m > TRIAL_LIMIT^2` with no prime factor below [`TRIAL_LIMIT`].
fn factor_hard_u128(m: u128, out: &mut Vec<u128>) {
    // At most 10 factors of at least 4096 fit in a u128.
    let mut stack = [0u128; 16];
    stack[0] = m;
    let mut len = 1;
    while len > 0 {
        len -= 1;
        let x = stack[len];
        if x <= u64::MAX as u128 {
            factor_hard_u64(x as u64, out);
            continue;
        }
        if prime::is_prime_u128_no_small(x) {
            out.push(x);
            continue;
        }
        if let Some((r, k)) = perfect_power(x, TRIAL_LIMIT as u128) {
            let start = out.len();
            factor_hard_u128(r, out);
            let end = out.len();
            for _ in 1..k {
                out.extend_from_within(start..end);
            }
            continue;
        }
        let d = split_u128(x);
        stack[len] = d;
        stack[len + 1] = x / d;
        len += 2;
    }
}

/// A proper divisor of the odd composite `x > 2^64` (not a perfect power, no small factor).
fn split_u128(x: u128) -> u128 {
    let m = Mont128::new(x);
    let bits = 128 - x.leading_zeros();
    // Probes for a smaller factor first, worth a few percent of the sieve's time (which
    // depends on the size of x only): rho for factors up to ~2^24, then a few ECM curves.
    let (rho_steps, curves) = probe_budget(bits);
    if let Some(d) = rho::brent(&m, 1, 3, rho_steps) {
        return d;
    }
    let mut rng = arith::SplitMix::new(x as u64 ^ (x >> 64) as u64);
    for (level, &count) in [6, 8].into_iter().zip(&curves) {
        match ecm::ecm(&m, ecm::plan(level), count, &mut rng) {
            ecm::Found::Factor(d) => return d,
            ecm::Found::AllAtOnce => {
                if let Some(d) = rho::brent(&m, 1, 3, 1 << 16) {
                    return d;
                }
            }
            ecm::Found::Nothing => {}
        }
    }
    // Two large factors: the quadratic sieve (milliseconds).
    if let Some(d) = siqs::factor(x) {
        return d;
    }
    // The sieve gives up only in pathological cases; ECM and rho, with ever new curves and
    // walks, then find a factor with probability 1.
    loop {
        if let ecm::Found::Factor(d) = ecm::ecm(&m, ecm::plan(ECM_FALLBACK_LEVEL), 100, &mut rng) {
            return d;
        }
        for c in 2..6 {
            if let Some(d) = rho::brent(&m, c, 5 + c, 1 << 26) {
                return d;
            }
        }
    }
}

/// Rho steps and ECM curves at levels 6 and 8 (B1 = 205, 500) tried before the sieve on a
/// composite of `bits` bits: about 5% of the sieve's time at that size (measured: the sieve
/// takes ~1 ms at 80 bits, ~3 ms at 100, ~10 ms at 120, ~18 ms at 128).
fn probe_budget(bits: u32) -> (u64, [u32; 2]) {
    match bits {
        0..=89 => (1 << 11, [0, 0]),
        90..=104 => (1 << 12, [2, 0]),
        105..=117 => (1 << 13, [4, 2]),
        _ => (1 << 13, [4, 8]),
    }
}

/// ECM level of the last-resort loop (B1 = 6000: the best single level for 60-64-bit factors).
const ECM_FALLBACK_LEVEL: usize = 12;

#[cfg(test)]
mod tests {
    use super::*;

    fn naive(mut n: u128) -> Vec<u128> {
        let mut v = Vec::new();
        let mut d = 2;
        while d * d <= n {
            while n.is_multiple_of(d) {
                v.push(d);
                n /= d;
            }
            d += 1;
        }
        if n > 1 {
            v.push(n);
        }
        v
    }

    #[test]
    fn small_numbers_match_naive() {
        for n in 0..20_000u128 {
            assert_eq!(factor(n), naive(n), "n={n}");
        }
    }

    #[test]
    fn seeds() {
        assert_eq!(factor(2139079), [101, 21179]);
        assert_eq!(factor(1214759), [7, 7, 13, 1907]);
        assert_eq!(factor(1516637), [19, 79823]);
        assert_eq!(factor(1852285), [5, 271, 1367]);
    }

    #[test]
    fn powers_and_edges() {
        assert_eq!(factor(0), []);
        assert_eq!(factor(1), []);
        assert_eq!(factor(2), [2]);
        assert_eq!(factor(1 << 64), [2; 64]);
        assert_eq!(
            factor(u128::MAX),
            [3, 5, 17, 257, 641, 65537, 274177, 6700417, 67280421310721]
        );
        let p = 4099u128;
        assert_eq!(factor(p.pow(10)), [p; 10]);
        let q = 1_000_003u128;
        assert_eq!(factor(q.pow(6)), [q; 6]);
        assert_eq!(factor(q * q * 4099), [4099, q, q]);
    }
}
