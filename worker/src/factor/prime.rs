//! Primality: deterministic Miller-Rabin for u64 (bases proven sufficient below 2^64,
//! run interleaved so the independent chains overlap), and Baillie-PSW (strong base-2
//! Miller-Rabin + strong Lucas with Selfridge's parameters) for u128. BPSW has no known
//! counterexample, and none exists below 2^64.

use super::arith::isqrt128;
use super::mont64::Mont64;
use super::mont128::Mont128;
use super::monty::Monty;
use super::trial::{INV64, NUM_PRIMES, PRIMES, TRIAL_LIMIT};

/// `(bound, bases)`: Miller-Rabin to these bases is deterministic for `n < bound` (Jaeschke
/// 1993 for the first; the others from the search records of Sinclair, Worley et al., as
/// published on miller-rabin.appspot.com). A base that is 0 mod n counts as a pass.
const BASE_SETS: [(u64, &[u64]); 6] = [
    (4_759_123_141, &[2, 7, 61]),
    (
        350_269_456_337,
        &[
            4230279247111683200,
            14694767155120705706,
            16641139526367750375,
        ],
    ),
    (
        55_245_642_489_451,
        &[
            2,
            141889084524735,
            1199124725622454117,
            11096072698276303650,
        ],
    ),
    (
        7_999_252_175_582_851,
        &[
            2,
            4130806001517,
            149795463772692060,
            186635894390467037,
            3967304179347715805,
        ],
    ),
    (
        585_226_005_592_931_977,
        &[
            2,
            123635709730000,
            9233062284813009,
            43835965440333360,
            761179012939631437,
            1263739024124850375,
        ],
    ),
    (
        u64::MAX,
        &[2, 325, 9375, 28178, 450775, 9780504, 1795265022],
    ),
];

/// Whether `n` is prime, for any u64.
pub fn is_prime_u64(n: u64) -> bool {
    if n < 2 {
        return false;
    }
    if n < 4 {
        return true;
    }
    if n & 1 == 0 {
        return false;
    }
    // Small divisors settle small n and cheaply reject most composites.
    for i in 1..NUM_PRIMES.min(64) {
        let p = PRIMES[i] as u64;
        if p * p > n {
            return true;
        }
        if n.wrapping_mul(INV64[i].inv) <= INV64[i].lim {
            return false;
        }
    }
    is_prime_u64_no_small(n)
}

/// Miller-Rabin only: for odd `n` with no prime factor below 300 (or any odd `n > 61`).
#[inline]
pub(crate) fn is_prime_u64_no_small(n: u64) -> bool {
    debug_assert!(n & 1 == 1 && n > 61);
    let m = Mont64::new(n);
    // The last set covers every u64 (bound u64::MAX itself is odd and composite).
    let bases = BASE_SETS
        .iter()
        .find(|(bound, _)| n < *bound)
        .map_or(BASE_SETS[5].1, |s| s.1);
    if bases[0] == 2 && bases.len() > 3 {
        // A base-2 pass first rejects nearly every composite at a fraction of the cost.
        miller_rabin_interleaved(&m, &bases[..1]) && miller_rabin_interleaved(&m, &bases[1..])
    } else {
        miller_rabin_interleaved(&m, bases)
    }
}

/// Strong probable-prime test to every base in `bases` at once (a base that is `0 mod n`
/// passes). Up to 7 bases.
fn miller_rabin_interleaved(m: &Mont64, bases: &[u64]) -> bool {
    let n = m.n();
    let nm1 = n - 1;
    let s = nm1.trailing_zeros();
    let d = nm1 >> s;
    let one = m.one_m();
    let minus_one = n - one;
    let k = bases.len();
    debug_assert!(k <= 7);
    let mut b = [0u64; 7];
    let mut x = [0u64; 7];
    for i in 0..k {
        b[i] = m.enter(bases[i]);
        x[i] = b[i];
    }
    // x = b^d, left to right over the bits of d below the top one, all bases in lockstep.
    let top = 63 - d.leading_zeros();
    for bit in (0..top).rev() {
        for xi in x.iter_mut().take(k) {
            *xi = m.mulm(*xi, *xi);
        }
        if (d >> bit) & 1 == 1 {
            for i in 0..k {
                x[i] = m.mulm(x[i], b[i]);
            }
        }
    }
    for i in 0..k {
        if b[i] == 0 {
            continue;
        }
        let mut y = x[i];
        if y == one || y == minus_one {
            continue;
        }
        let mut ok = false;
        for _ in 1..s {
            y = m.mulm(y, y);
            if y == minus_one {
                ok = true;
                break;
            }
            if y == one {
                break;
            }
        }
        if !ok {
            return false;
        }
    }
    true
}

/// Whether `n` is prime, for any u128 (BPSW above 2^64).
pub fn is_prime_u128(n: u128) -> bool {
    if n <= u64::MAX as u128 {
        return is_prime_u64(n as u64);
    }
    if n & 1 == 0 {
        return false;
    }
    if PRIMES[1..NUM_PRIMES.min(64)]
        .iter()
        .any(|&p| n.is_multiple_of(p as u128))
    {
        return false;
    }
    is_prime_u128_no_small(n)
}

/// BPSW for odd `n > 2^64` with no prime factor below 300.
pub(crate) fn is_prime_u128_no_small(n: u128) -> bool {
    debug_assert!(n & 1 == 1 && n > u64::MAX as u128);
    let m = Mont128::new(n);
    strong_probable_prime(&m, 2) && strong_lucas(&m)
}

/// Strong probable-prime (Miller-Rabin) test to base `a` (generic arithmetic).
pub(crate) fn strong_probable_prime<M: Monty>(m: &M, a: u64) -> bool {
    let n = m.modulus();
    let nm1 = n - 1;
    let s = nm1.trailing_zeros();
    let d = nm1 >> s;
    let b = m.residue(a as u128);
    if b == m.zero() {
        return true;
    }
    let one = m.one();
    let minus_one = m.neg(one);
    let mut y = m.pow(b, d);
    if y == one || y == minus_one {
        return true;
    }
    for _ in 1..s {
        y = m.sqr(y);
        if y == minus_one {
            return true;
        }
        if y == one {
            return false;
        }
    }
    false
}

/// Jacobi symbol `(a / n)` for odd `n > 0`.
pub(crate) fn jacobi(mut a: u128, mut n: u128) -> i32 {
    debug_assert!(n & 1 == 1);
    a %= n;
    let mut t = 1;
    while a != 0 {
        let z = a.trailing_zeros();
        a >>= z;
        // (2/n) = -1 exactly when n = 3 or 5 mod 8.
        if z & 1 == 1 && (n & 7 == 3 || n & 7 == 5) {
            t = -t;
        }
        // Reciprocity: flip when both are 3 mod 4.
        if a & 3 == 3 && n & 3 == 3 {
            t = -t;
        }
        core::mem::swap(&mut a, &mut n);
        a %= n;
    }
    if n == 1 { t } else { 0 }
}

/// Strong Lucas probable-prime test with Selfridge's method A parameters
/// (`D` = first of 5, -7, 9, -11, ... with `(D/n) = -1`, `P = 1`, `Q = (1 - D) / 4`).
/// For odd `n` above `TRIAL_LIMIT` that is not a perfect square (checked here).
pub(crate) fn strong_lucas<M: Monty>(m: &M) -> bool {
    let n = m.modulus();
    debug_assert!(n & 1 == 1 && n > TRIAL_LIMIT as u128);
    if n == u128::MAX {
        return false; // divisible by 3; keeps n + 1 below from overflowing
    }
    let r = isqrt128(n);
    if r * r == n {
        return false;
    }
    // Find D. With n not a square, a D with (D/n) = -1 exists; it is usually tiny.
    let mut d: i64 = 5;
    loop {
        let a = if d < 0 {
            n - (d.unsigned_abs() as u128 % n)
        } else {
            d as u128 % n
        };
        match jacobi(a, n) {
            -1 => break,
            0 if (d.unsigned_abs() as u128) < n => return false, // shares a factor with n
            _ => {}
        }
        d = if d > 0 { -(d + 2) } else { -d + 2 };
        if d.unsigned_abs() > 1 << 40 {
            return false; // unreachable for non-squares; keeps the loop bounded
        }
    }
    let q = (1 - d) / 4;
    let dm = m.residue_i64(d);
    let qm = m.residue_i64(q);

    let np1 = n + 1;
    let s = np1.trailing_zeros();
    let k = np1 >> s;
    // (U, V, Q^j) for j = 1, then binary ladder up to j = k.
    let mut u = m.one();
    let mut v = m.one(); // V_1 = P = 1
    let mut qk = qm;
    let top = 127 - k.leading_zeros();
    for bit in (0..top).rev() {
        u = m.mul(u, v);
        v = m.sub(m.sqr(v), m.add(qk, qk));
        qk = m.sqr(qk);
        if (k >> bit) & 1 == 1 {
            let u1 = m.half(m.add(u, v)); // (P U + V) / 2
            let v1 = m.half(m.add(m.mul(dm, u), v)); // (D U + P V) / 2
            u = u1;
            v = v1;
            qk = m.mul(qk, qm);
        }
    }
    let zero = m.zero();
    if u == zero || v == zero {
        return true;
    }
    for _ in 1..s {
        v = m.sub(m.sqr(v), m.add(qk, qk));
        qk = m.sqr(qk);
        if v == zero {
            return true;
        }
    }
    false
}

#[cfg(test)]
mod tests {
    use super::*;

    fn naive(n: u64) -> bool {
        n >= 2
            && (2..)
                .take_while(|d| d * d <= n)
                .all(|d| !n.is_multiple_of(d))
    }

    #[test]
    fn agrees_with_naive_below_100k() {
        for n in 0..100_000u64 {
            assert_eq!(is_prime_u64(n), naive(n), "n={n}");
        }
    }

    #[test]
    fn known_pseudoprimes_are_rejected() {
        // Strong pseudoprimes to base 2, to several bases, Carmichael numbers.
        for n in [
            2047u64,
            3277,
            4033,
            4681,
            8321,
            3_215_031_751,
            2_152_302_898_747,
            3_474_749_660_383,
            341_550_071_728_321,
            3_825_123_056_546_413_051,
            561,
            1105,
            1729,
            2465,
            2821,
            6601,
        ] {
            assert!(!is_prime_u64(n), "{n}");
        }
        // Strong Lucas pseudoprimes pass the Lucas part alone, but not BPSW.
        for n in [
            5459u64, 5777, 10877, 16109, 18971, 22499, 24569, 25199, 40309, 58519,
        ] {
            let m = Mont64::new(n);
            assert!(strong_lucas(&m), "{n} is a strong Lucas pseudoprime");
            assert!(!is_prime_u64(n));
        }
    }

    #[test]
    fn bpsw_agrees_with_miller_rabin_on_u64() {
        let mut rng = super::super::arith::SplitMix::new(7);
        for _ in 0..20_000 {
            let n = rng.next_u64() | 1;
            if n < 1 << 20 {
                continue;
            }
            let m = Mont64::new(n);
            let bpsw = strong_probable_prime(&m, 2) && strong_lucas(&m);
            assert_eq!(bpsw, is_prime_u64(n), "n={n}");
        }
    }

    #[test]
    fn every_base_set_agrees_with_bpsw() {
        let mut rng = super::super::arith::SplitMix::new(11);
        let bounds = [
            1u64 << 20,
            4_759_123_141,
            350_269_456_337,
            55_245_642_489_451,
            7_999_252_175_582_851,
            585_226_005_592_931_977,
            u64::MAX,
        ];
        for w in bounds.windows(2) {
            let (lo, hi) = (w[0], w[1]);
            let mut primes = 0;
            for _ in 0..5000 {
                let n = (lo + rng.next_u64() % (hi - lo)) | 1;
                let m = Mont64::new(n);
                let bpsw = strong_probable_prime(&m, 2) && strong_lucas(&m);
                assert_eq!(bpsw, is_prime_u64(n), "n={n}");
                primes += bpsw as u32;
            }
            assert!(primes > 20, "range {lo}..{hi}: too few primes sampled");
        }
    }

    #[test]
    fn large_primes() {
        assert!(is_prime_u64(u64::MAX - 58)); // 2^64 - 59
        assert!(!is_prime_u64(u64::MAX));
        assert!(is_prime_u128((1u128 << 127) - 1));
        assert!(is_prime_u128((1u128 << 64) + 13));
        assert!(is_prime_u128(u128::MAX - 158)); // 2^128 - 159
        assert!(!is_prime_u128(u128::MAX));
        assert!(!is_prime_u128(((1u128 << 61) - 1) * ((1u128 << 61) - 1)));
        assert!(!is_prime_u128(((1u128 << 61) - 1) * ((1u128 << 67) - 1)));
        // Product of two primes near 2^64.
        let p = u64::MAX as u128 - 58;
        assert!(!is_prime_u128(p * ((1u128 << 61) - 1)));
    }
}
