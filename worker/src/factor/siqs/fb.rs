//! The factor base: 2, the primes dividing the multiplier, and the odd primes `p` for which
//! `kN` is a square mod `p`, with the square roots and the data to test and divide fast.

use super::params::pow_mod;
use crate::factor::mont128::inverse_u128;

/// Factor base for one `kN`.
#[derive(Debug)]
pub(super) struct FactorBase {
    /// The primes, ascending; `primes[0] == 2`.
    pub primes: Vec<u32>,
    /// `sqrt(kN) mod p` (0 for primes dividing `kN`).
    pub sqrt: Vec<u32>,
    /// `round(log2 p)`.
    pub logp: Vec<u8>,
    /// `p` and `1 / p` as f32: `i mod p` for `i < 2^15`, four primes at a time (see
    /// [`super::sieve::Divider`]).
    pub pf: Vec<f32>,
    pub invf: Vec<f32>,
    /// `p^-1 mod 2^128` and `(2^128 - 1) / p`: exact division of `Q(x)` without dividing.
    pub inv: Vec<(u128, u128)>,
    /// `floor((2^64 - 1) / p) + 1`: `x mod p` for 32-bit `x` by two multiplications (Lemire).
    pub fastmod: Vec<u64>,
}

/// `x mod p` given `m = floor((2^64 - 1) / p) + 1` (exact for every u32 `x` and `p`).
#[inline(always)]
pub(super) fn fast_mod(x: u32, m: u64, p: u32) -> u32 {
    ((m.wrapping_mul(x as u64) as u128 * p as u128) >> 64) as u32
}

impl FactorBase {
    /// Number of primes.
    pub(super) fn len(&self) -> usize {
        self.primes.len()
    }

    /// The largest prime.
    pub(super) fn pmax(&self) -> u32 {
        *self.primes.last().unwrap_or(&2)
    }
}

/// Outcome of building the factor base.
pub(super) enum Built {
    Base(FactorBase),
    /// A factor-base candidate prime divides `n` itself.
    Factor(u128),
}

/// Builds a base of `size` primes for `kN`; stops early with a factor if a prime divides `n`.
pub(super) fn build(n: u128, k: u64, size: usize) -> Built {
    let mut fb = FactorBase {
        primes: Vec::with_capacity(size),
        sqrt: Vec::with_capacity(size),
        logp: Vec::with_capacity(size),
        pf: Vec::with_capacity(size),
        invf: Vec::with_capacity(size),
        inv: Vec::with_capacity(size),
        fastmod: Vec::with_capacity(size),
    };
    let push = |fb: &mut FactorBase, p: u32, r: u32| {
        fb.primes.push(p);
        fb.sqrt.push(r);
        fb.logp.push((p as f64).log2().round() as u8);
        fb.pf.push(p as f32);
        fb.invf.push(1.0 / p as f32);
        fb.inv
            .push((inverse_u128(p as u128), u128::MAX / p as u128));
        fb.fastmod.push(u64::MAX / p as u64 + 1);
    };
    push(&mut fb, 2, 1);
    let mut p: u32 = 3;
    while fb.primes.len() < size {
        if is_small_prime(p) {
            let np = (n % p as u128) as u64;
            if np == 0 {
                return Built::Factor(p as u128);
            }
            let knp = (k % p as u64) * np % p as u64;
            if knp == 0 {
                push(&mut fb, p, 0);
            } else if pow_mod(knp, (p as u64 - 1) / 2, p as u64) == 1 {
                push(&mut fb, p, sqrt_mod(knp, p as u64) as u32);
            }
        }
        p += 2;
        if p > 1 << 24 {
            break; // unreachable for the table's sizes
        }
    }
    Built::Base(fb)
}

fn is_small_prime(p: u32) -> bool {
    if p < 4 {
        return p >= 2;
    }
    if p.is_multiple_of(2) {
        return false;
    }
    let mut d = 3;
    while d * d <= p {
        if p.is_multiple_of(d) {
            return false;
        }
        d += 2;
    }
    true
}

/// Square root of the quadratic residue `a` modulo the odd prime `p < 2^32` (Tonelli-Shanks).
pub(super) fn sqrt_mod(a: u64, p: u64) -> u64 {
    let a = a % p;
    if a == 0 {
        return 0;
    }
    if p % 4 == 3 {
        return pow_mod(a, (p + 1) / 4, p);
    }
    let mut q = p - 1;
    let mut s = 0;
    while q.is_multiple_of(2) {
        q /= 2;
        s += 1;
    }
    let mut z = 2;
    while pow_mod(z, (p - 1) / 2, p) != p - 1 {
        z += 1;
    }
    let mut m = s;
    let mut c = pow_mod(z, q, p);
    let mut t = pow_mod(a, q, p);
    let mut r = pow_mod(a, q.div_ceil(2), p);
    while t != 1 {
        let mut i = 0;
        let mut tt = t;
        while tt != 1 {
            tt = tt * tt % p;
            i += 1;
        }
        let mut b = c;
        for _ in 0..(m - i - 1) {
            b = b * b % p;
        }
        m = i;
        c = b * b % p;
        t = t * c % p;
        r = r * b % p;
    }
    r
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fast_mod_is_exact() {
        for p in [2u32, 3, 7, 41, 97, 8191, 32749, 65521] {
            let m = u64::MAX / p as u64 + 1;
            for x in [
                0u32,
                1,
                p - 1,
                p,
                p + 1,
                12345,
                1 << 30,
                u32::MAX,
                u32::MAX - 1,
            ] {
                assert_eq!(fast_mod(x, m, p), x % p, "x={x} p={p}");
            }
        }
    }

    #[test]
    fn square_roots() {
        for p in [3u64, 5, 13, 17, 41, 97, 257, 65537, 1_000_003] {
            for a in 1..200u64 {
                if pow_mod(a % p, (p - 1) / 2, p) == 1 {
                    let r = sqrt_mod(a, p);
                    assert_eq!(r * r % p, a % p, "a={a} p={p}");
                }
            }
        }
    }

    #[test]
    fn base_has_roots() {
        let n = ((1u128 << 61) - 1) * 12_296_099_661_005_056_177;
        let Built::Base(fb) = build(n, 3, 200) else {
            panic!("no small factor expected")
        };
        assert_eq!(fb.len(), 200);
        for i in 1..fb.len() {
            let p = fb.primes[i] as u64;
            let knp = (3 * (n % p as u128) as u64) % p;
            let r = fb.sqrt[i] as u64;
            assert_eq!(r * r % p, knp);
            assert_eq!((p as u128).wrapping_mul(fb.inv[i].0), 1);
        }
    }
}
